//! Each account's event log: new, edited and deleted messages as Telegram
//! pushed them, with a monotonically increasing cursor per account. Long-poll,
//! SSE and webhooks all read from here, so a poll costs no Telegram call.
//! Payloads are sealed by the vault, bound to `(account, cursor)`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::store::events::{self, NewEvent};
use crate::store::{Db, StoreError};
use crate::vault::{Aad, Vault, VaultError};

/// Errors of the event log.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("a stored event of account {account_id} is unreadable: {reason}")]
    Corrupt { account_id: i64, reason: String },
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    MessageNew,
    MessageEdited,
    MessageDeleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageNew => "message_new",
            EventKind::MessageEdited => "message_edited",
            EventKind::MessageDeleted => "message_deleted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "message_new" => Some(EventKind::MessageNew),
            "message_edited" => Some(EventKind::MessageEdited),
            "message_deleted" => Some(EventKind::MessageDeleted),
            _ => None,
        }
    }
}

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub id: i64,
    pub name: String,
}

/// A message as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: i32,
    /// Bot API dialog id: users positive, groups negative, channels -100….
    pub chat_id: i64,
    pub sender: Option<Sender>,
    /// Unix seconds.
    pub date: i64,
    pub text: String,
    pub edit_date: Option<i64>,
    pub reply_to_id: Option<i32>,
    pub media_kind: Option<String>,
    pub outgoing: bool,
}

/// An event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEventData {
    pub kind: EventKind,
    pub chat_id: i64,
    pub message_id: i32,
    /// The message, for new and edited ones.
    pub message: Option<MessageView>,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub cursor: i64,
    pub kind: EventKind,
    pub chat_id: i64,
    pub message_id: Option<i64>,
    pub message: Option<MessageView>,
    pub created_at: i64,
}

/// The event logs of every account, with wake-ups for waiting readers.
#[derive(Clone)]
pub struct EventLog {
    db: Db,
    vault: Arc<Vault>,
    watchers: Arc<Mutex<HashMap<i64, watch::Sender<i64>>>>,
    /// Each account's newest cursor, once known: a reader already up to
    /// date is answered without touching the database. Only this process
    /// appends, so it stays exact (updated before readers are woken).
    newest: Arc<Mutex<HashMap<i64, i64>>>,
    closing: Arc<watch::Sender<bool>>,
}

impl EventLog {
    pub fn new(db: Db, vault: Arc<Vault>) -> Self {
        Self {
            db,
            vault,
            watchers: Arc::new(Mutex::new(HashMap::new())),
            newest: Arc::new(Mutex::new(HashMap::new())),
            closing: Arc::new(watch::channel(false).0),
        }
    }

    /// Ends every wait at once (long polls answer what they have, streams
    /// end), so a graceful shutdown is not held up by waiting readers.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether [`EventLog::close`] was called.
    pub fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    fn watcher(&self, account_id: i64) -> watch::Sender<i64> {
        self.watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(account_id)
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// Appends events and wakes every reader waiting on this account.
    pub async fn append(
        &self,
        account_id: i64,
        new: &[NewEventData],
    ) -> Result<Vec<i64>, EventError> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let payloads: Vec<Vec<u8>> = new
            .iter()
            .map(|e| serde_json::to_vec(&e.message).unwrap_or_else(|_| b"null".to_vec()))
            .collect();
        let rows: Vec<NewEvent<'_>> = new
            .iter()
            .zip(&payloads)
            .map(|(e, p)| NewEvent {
                kind: e.kind.as_str(),
                chat_id: e.chat_id,
                message_id: Some(i64::from(e.message_id)),
                payload: p,
            })
            .collect();
        let vault = Arc::clone(&self.vault);
        let cursors = events::append(
            &self.db,
            account_id,
            &rows,
            crate::store::now(),
            |cursor, e| vault.seal(&Aad::event(account_id, cursor), e.payload),
        )
        .await?;
        if let Some(&last) = cursors.last() {
            self.note_newest(account_id, last);
            self.watcher(account_id).send_replace(last);
        }
        Ok(cursors)
    }

    fn note_newest(&self, account_id: i64, cursor: i64) -> i64 {
        let mut newest = self.newest.lock().unwrap_or_else(|e| e.into_inner());
        let entry = newest.entry(account_id).or_insert(cursor);
        *entry = (*entry).max(cursor);
        *entry
    }

    /// Up to `limit` events after `since`, oldest first.
    pub async fn read(
        &self,
        account_id: i64,
        since: i64,
        limit: i64,
    ) -> Result<Vec<Event>, EventError> {
        if since >= self.latest(account_id).await? {
            return Ok(Vec::new());
        }
        let rows = events::list_since(self.db.pool(), account_id, since, limit).await?;
        rows.into_iter()
            .map(|row| {
                let plain = self
                    .vault
                    .open(&Aad::event(account_id, row.cursor), &row.payload)?;
                let message: Option<MessageView> =
                    serde_json::from_slice(&plain).map_err(|e| EventError::Corrupt {
                        account_id,
                        reason: e.to_string(),
                    })?;
                let kind = EventKind::parse(&row.kind).ok_or_else(|| EventError::Corrupt {
                    account_id,
                    reason: format!("unknown kind {:?}", row.kind),
                })?;
                Ok(Event {
                    cursor: row.cursor,
                    kind,
                    chat_id: row.chat_id,
                    message_id: row.message_id,
                    message,
                    created_at: row.created_at,
                })
            })
            .collect()
    }

    /// The newest cursor of an account (0 before its first event).
    pub async fn latest(&self, account_id: i64) -> Result<i64, EventError> {
        let known = self
            .newest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account_id)
            .copied();
        if let Some(known) = known {
            return Ok(known);
        }
        let stored = events::latest_cursor(self.db.pool(), account_id)
            .await?
            .unwrap_or(0);
        Ok(self.note_newest(account_id, stored))
    }

    /// Events after `since`, waiting up to `timeout` for the first one
    /// (a long poll). Returns an empty list on timeout.
    pub async fn wait(
        &self,
        account_id: i64,
        since: i64,
        limit: i64,
        timeout: Duration,
    ) -> Result<Vec<Event>, EventError> {
        let mut rx = self.watcher(account_id).subscribe();
        let mut closing = self.closing.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Mark the current value seen before reading, so an append that
            // lands between the read and the wait still wakes us.
            rx.borrow_and_update();
            let found = self.read(account_id, since, limit).await?;
            if !found.is_empty() || tokio::time::Instant::now() >= deadline || *closing.borrow() {
                return Ok(found);
            }
            tokio::select! {
                changed = tokio::time::timeout_at(deadline, rx.changed()) => {
                    if changed.is_err() {
                        return Ok(Vec::new());
                    }
                }
                _ = closing.wait_for(|c| *c) => return Ok(Vec::new()),
            }
        }
    }

    /// Applies the retention: events older than `max_age` go, and each
    /// account keeps at most `max_per_account`. Returns how many went.
    pub async fn prune(&self, max_age: Duration, max_per_account: u64) -> Result<u64, EventError> {
        let before = crate::store::now() - max_age.as_secs() as i64;
        let mut pruned = events::prune_older_than(self.db.pool(), before).await?;
        let keep = i64::try_from(max_per_account).unwrap_or(i64::MAX);
        for account in crate::store::accounts::list(self.db.pool()).await? {
            if account.last_event_cursor > keep {
                pruned += events::prune_to_count(self.db.pool(), account.id, keep).await?;
            }
        }
        Ok(pruned)
    }

    /// A receiver that changes whenever the account's log grows (for SSE).
    pub fn subscribe(&self, account_id: i64) -> watch::Receiver<i64> {
        self.watcher(account_id).subscribe()
    }
}
