//! The account pool: one live grammers client per active account, started at
//! boot from the store (concurrently, bounded), reconnecting with backoff,
//! stopped on logout or reset. Each account's update stream feeds its event
//! log. Terminal errors (the session was revoked, the user deactivated) mark
//! the account at once, shred its keys and stop its client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grammers_client::Client;
use grammers_client::update::Update;
use grammers_mtsender::UpdatesConfiguration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use super::backend::Backend;
use super::client::LiveClient;
use super::errors::{self, AccountImpact};
use super::session::{SessionStore, StoredSession};
use crate::events::{EventKind, EventLog, MessageView, NewEventData, Sender};
use crate::store::Db;
use crate::store::accounts::{self, AccountState};

/// How many stored sessions are loaded and connected at once at boot.
const RESTORE_CONCURRENCY: usize = 64;
/// Backoff after a transient failure: doubles from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// How an account's live client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Starting,
    Connected,
    /// Backing off after a transient error.
    Retrying,
    /// Stopped for good: revoked or deactivated.
    Ended(AccountState),
}

struct Running {
    client: Client,
    session: Arc<StoredSession>,
    liveness: watch::Receiver<Liveness>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Every live account of the process. Cheap to clone.
#[derive(Clone)]
pub struct AccountPool {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    sessions: SessionStore,
    backend: Backend,
    events: EventLog,
    running: Mutex<HashMap<i64, Running>>,
    /// Names of the users each account has seen (chat lists, history,
    /// updates that carried them), by Bot API id: short updates carry only
    /// the sender's id, and a pushed message should still say who wrote it.
    names: Mutex<HashMap<i64, HashMap<i64, String>>>,
}

/// At most this many names are remembered per account.
const NAMES_PER_ACCOUNT: usize = 2048;

impl AccountPool {
    pub fn new(db: Db, sessions: SessionStore, backend: Backend, events: EventLog) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                sessions,
                backend,
                events,
                running: Mutex::new(HashMap::new()),
                names: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Remembers who `id` is for this account (empty names are ignored).
    pub fn remember_names<'a>(
        &self,
        account_id: i64,
        named: impl IntoIterator<Item = (i64, &'a str)>,
    ) {
        self.inner.remember_names(account_id, named);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.inner.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts (or restarts) the live client of an account on its session.
    pub async fn start(&self, account_id: i64, session: Arc<StoredSession>) {
        self.stop(account_id).await;
        let live = LiveClient::start(Arc::clone(&session), self.inner.backend.api_id());
        let client = live.client.clone();
        let stored = Arc::clone(&session);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (live_tx, live_rx) = watch::channel(Liveness::Starting);
        let span = info_span!("account", account_id);
        let task = tokio::spawn(
            run_account(
                Arc::clone(&self.inner),
                account_id,
                session,
                live,
                stop_rx,
                live_tx,
            )
            .instrument(span),
        );
        self.lock().insert(
            account_id,
            Running {
                client,
                session: stored,
                liveness: live_rx,
                stop: stop_tx,
                task,
            },
        );
    }

    /// Stops an account's client and waits for it (its session is flushed
    /// and closed). Does nothing if it is not running.
    pub async fn stop(&self, account_id: i64) {
        self.inner
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&account_id);
        let running = self.lock().remove(&account_id);
        if let Some(r) = running {
            let _ = r.stop.send(true);
            let mut task = r.task;
            if tokio::time::timeout(Duration::from_secs(10), &mut task)
                .await
                .is_err()
            {
                warn!(account_id, "account task did not stop in time: aborted");
                task.abort();
            }
        }
    }

    /// The live client of an account, if it is running.
    pub fn client(&self, account_id: i64) -> Option<Client> {
        self.lock().get(&account_id).map(|r| r.client.clone())
    }

    /// The session of a running account (its peer cache, its home DC).
    pub fn session(&self, account_id: i64) -> Option<Arc<StoredSession>> {
        self.lock().get(&account_id).map(|r| Arc::clone(&r.session))
    }

    /// How an account's client stands, if it is running.
    pub fn liveness(&self, account_id: i64) -> Option<Liveness> {
        self.lock().get(&account_id).map(|r| *r.liveness.borrow())
    }

    /// A receiver of an account's liveness changes, if it is running.
    pub fn watch_liveness(&self, account_id: i64) -> Option<watch::Receiver<Liveness>> {
        self.lock().get(&account_id).map(|r| r.liveness.clone())
    }

    /// How many accounts have a client.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts every active account with a stored session, a bounded number
    /// at a time. Returns (started, failed to load).
    pub async fn restore_all(&self) -> (usize, usize) {
        let ids = match accounts::active_with_session(self.inner.db.pool()).await {
            Ok(ids) => ids,
            Err(e) => {
                warn!(error = %e, "cannot list the accounts to restore");
                return (0, 0);
            }
        };
        let mut started = 0;
        let mut failed = 0;
        for chunk in ids.chunks(RESTORE_CONCURRENCY) {
            let mut loads = tokio::task::JoinSet::new();
            for &id in chunk {
                let sessions = self.inner.sessions.clone();
                loads.spawn(async move { (id, sessions.load(id).await) });
            }
            while let Some(joined) = loads.join_next().await {
                match joined {
                    Ok((id, Ok(Some(session)))) => {
                        self.start(id, session).await;
                        started += 1;
                    }
                    Ok((id, Ok(None))) => debug!(account_id = id, "no stored session"),
                    Ok((id, Err(e))) => {
                        warn!(account_id = id, error = %e, "cannot load the stored session");
                        failed += 1;
                    }
                    Err(e) => {
                        warn!(error = %e, "a session load task failed");
                        failed += 1;
                    }
                }
            }
        }
        info!(started, failed, "accounts restored");
        (started, failed)
    }

    /// Stops every client, flushing every session (at shutdown).
    pub async fn shutdown(&self) {
        let ids: Vec<i64> = self.lock().keys().copied().collect();
        let stops = ids.into_iter().map(|id| {
            let pool = self.clone();
            async move { pool.stop(id).await }
        });
        for stop in stops {
            stop.await;
        }
    }
}

pub(crate) fn view(m: &grammers_client::message::Message) -> MessageView {
    MessageView {
        id: m.id(),
        chat_id: m.peer_id().bot_api_dialog_id_unchecked(),
        // Short updates carry the sender's id but not the user: the pool
        // fills the name in from what the account has seen (`name_senders`).
        sender: m.sender_id().map(|id| Sender {
            id: id.bot_api_dialog_id_unchecked(),
            name: m.sender().and_then(|p| p.name()).unwrap_or("").to_string(),
        }),
        date: m.date().as_second(),
        text: m.text().to_string(),
        edit_date: m.edit_date().map(|d| d.as_second()),
        reply_to_id: m.reply_to_message_id(),
        media_kind: m.media().map(|media| media_kind(&media).to_string()),
        outgoing: m.outgoing(),
    }
}

fn media_kind(media: &grammers_client::media::Media) -> &'static str {
    use grammers_client::media::Media as M;
    match media {
        M::Photo(_) => "photo",
        M::Document(_) => "document",
        M::Sticker(_) => "sticker",
        M::Contact(_) => "contact",
        M::Poll(_) => "poll",
        M::Geo(_) | M::GeoLive(_) | M::Venue(_) => "location",
        M::Dice(_) => "dice",
        M::WebPage(_) => "web_page",
        _ => "other",
    }
}

impl Inner {
    fn remember_names<'a>(&self, account_id: i64, named: impl IntoIterator<Item = (i64, &'a str)>) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let known = names.entry(account_id).or_default();
        for (id, name) in named {
            remember(known, id, name);
        }
    }

    /// Fills senders' names the update did not carry, and remembers the
    /// ones it did.
    fn name_senders(&self, account_id: i64, events: &mut [NewEventData]) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let known = names.entry(account_id).or_default();
        for sender in events
            .iter_mut()
            .filter_map(|e| e.message.as_mut()?.sender.as_mut())
        {
            if !sender.name.is_empty() {
                remember(known, sender.id, &sender.name);
            } else if let Some(name) = known.get(&sender.id) {
                sender.name.clone_from(name);
            }
        }
    }
}

/// Adds or updates one name, within [`NAMES_PER_ACCOUNT`].
fn remember(known: &mut HashMap<i64, String>, id: i64, name: &str) {
    if name.is_empty() || known.get(&id).is_some_and(|n| n == name) {
        return;
    }
    if known.len() < NAMES_PER_ACCOUNT || known.contains_key(&id) {
        known.insert(id, name.to_owned());
    }
}

fn to_event(update: &Update) -> Vec<NewEventData> {
    match update {
        Update::NewMessage(m) => vec![NewEventData {
            kind: EventKind::MessageNew,
            chat_id: m.peer_id().bot_api_dialog_id_unchecked(),
            message_id: m.id(),
            message: Some(view(m)),
        }],
        Update::MessageEdited(m) => vec![NewEventData {
            kind: EventKind::MessageEdited,
            chat_id: m.peer_id().bot_api_dialog_id_unchecked(),
            message_id: m.id(),
            message: Some(view(m)),
        }],
        Update::MessageDeleted(d) => {
            // Private and group deletions do not say the chat (ids are
            // unique per account there): chat_id 0 means "not known".
            let chat_id = d.channel_id().map(|c| -1_000_000_000_000 - c).unwrap_or(0);
            d.messages()
                .iter()
                .map(|&id| NewEventData {
                    kind: EventKind::MessageDeleted,
                    chat_id,
                    message_id: id,
                    message: None,
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

async fn run_account(
    inner: Arc<Inner>,
    account_id: i64,
    session: Arc<StoredSession>,
    mut live: LiveClient,
    mut stop: watch::Receiver<bool>,
    liveness: watch::Sender<Liveness>,
) {
    let Some(updates) = live.updates.take() else {
        return;
    };
    let client = live.client.clone();
    let mut stream = match client
        .stream_updates(updates, UpdatesConfiguration { catch_up: true })
        .await
    {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot start the update stream");
            live.stop().await;
            let _ = session.close().await;
            return;
        }
    };
    // Ask once so a dead session is found at start, not at the first update.
    let mut backoff = BACKOFF_FIRST;
    let mut first = Some(super::calls::invoke(
        &client,
        &grammers_tl_types::functions::updates::GetState {},
    ));
    loop {
        let next = async {
            if let Some(probe) = first.take() {
                return probe.await.map(|_| None);
            }
            stream.next().await.map(Some)
        };
        let outcome = tokio::select! {
            _ = stop.changed() => break,
            outcome = next => outcome,
        };
        match outcome {
            Ok(update) => {
                backoff = BACKOFF_FIRST;
                liveness.send_if_modified(|l| {
                    let changed = *l != Liveness::Connected;
                    *l = Liveness::Connected;
                    changed
                });
                let Some(update) = update else { continue };
                let mut events = to_event(&update);
                inner.name_senders(account_id, &mut events);
                match inner.events.append(account_id, &events).await {
                    Ok(cursors) => crate::metrics::events_appended(cursors.len()),
                    Err(e) => warn!(error = %e, "cannot record an event"),
                }
            }
            Err(e) => {
                let mapped = errors::map(&e);
                let ended = match mapped.account {
                    AccountImpact::Revoked => Some(AccountState::Revoked),
                    AccountImpact::Deactivated => Some(AccountState::Deactivated),
                    AccountImpact::None => None,
                };
                if let Some(state) = ended {
                    warn!(telegram_error = %mapped.telegram_error, "the session ended on Telegram's side");
                    if let Err(e) =
                        accounts::set_state(inner.db.pool(), account_id, state, crate::store::now())
                            .await
                    {
                        warn!(error = %e, "cannot mark the account");
                    }
                    if let Err(e) = session.shred().await {
                        warn!(error = %e, "cannot shred the session");
                    }
                    liveness.send_replace(Liveness::Ended(state));
                    live.stop().await;
                    return;
                }
                debug!(telegram_error = %mapped.telegram_error, ?backoff, "transient error: backing off");
                liveness.send_replace(Liveness::Retrying);
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    stream.sync_update_state().await.ok();
    drop(stream);
    live.stop().await;
    if let Err(e) = session.close().await {
        warn!(error = %e, "cannot flush the session");
    }
}
