//! Reading an account's chat list and history through its live client, with
//! a short-lived cache so that repeated reads of the same list or page cost
//! no Telegram call, and FLOOD_WAIT handled as the design says: short waits
//! are slept, long ones become 429 with Retry-After.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grammers_client::Client;
use grammers_client::peer::Peer;
use grammers_mtsender::InvocationError;
use grammers_session::Session as _;
use grammers_session::types::PeerId;
use serde::Serialize;

use super::errors::{self, Mapped};
use super::pool::{AccountPool, view};
use crate::events::MessageView;

/// Reads are cached this long by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15);
/// At most this many pages of history are cached per account.
const HISTORY_CACHE_PAGES: usize = 64;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("this account is not connected to Telegram")]
    NotLive,
    #[error("no chat {0} in this account's chat list")]
    UnknownChat(i64),
    #[error("{}", .0.message)]
    Telegram(Mapped),
}

/// A chat as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatView {
    /// Bot API dialog id: users positive, groups negative, channels -100….
    pub id: i64,
    /// user | group | channel
    pub kind: &'static str,
    pub title: String,
    pub username: Option<String>,
    pub unread_count: i32,
    pub last_message: Option<MessageView>,
}

/// Which page of a chat's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HistoryPage {
    pub chat_id: i64,
    pub limit: usize,
    /// Messages older than this id (newest first).
    pub before_id: Option<i32>,
    /// Messages newer than this id (oldest first).
    pub after_id: Option<i32>,
}

struct Cached<T> {
    at: Instant,
    value: Arc<T>,
}

#[derive(Default)]
struct AccountCache {
    chats: Option<Cached<Vec<ChatView>>>,
    pages: HashMap<HistoryPage, Cached<Vec<MessageView>>>,
}

/// Cached reads over the account pool. Cheap to clone.
#[derive(Clone)]
pub struct ChatReader {
    pool: AccountPool,
    ttl: Duration,
    flood_sleep: Duration,
    cache: Arc<Mutex<HashMap<i64, AccountCache>>>,
}

fn kind(peer: &Peer) -> &'static str {
    match peer {
        Peer::User(_) => "user",
        Peer::Group(_) => "group",
        _ => "channel",
    }
}

impl ChatReader {
    pub fn new(pool: AccountPool, ttl: Duration, flood_sleep: Duration) -> Self {
        Self {
            pool,
            ttl,
            flood_sleep,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, AccountCache>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets what is cached for an account (after it changed on purpose,
    /// or when it logs out).
    pub fn invalidate(&self, account_id: i64) {
        self.lock().remove(&account_id);
    }

    fn client(&self, account_id: i64) -> Result<Client, ReadError> {
        self.pool.client(account_id).ok_or(ReadError::NotLive)
    }

    /// Runs a Telegram read, sleeping through a short FLOOD_WAIT once.
    async fn call<T, F, Fut>(&self, mut f: F) -> Result<T, ReadError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, InvocationError>>,
    {
        match f().await {
            Ok(v) => Ok(v),
            Err(InvocationError::Rpc(rpc))
                if rpc.name == "FLOOD_WAIT"
                    && Duration::from_secs(u64::from(rpc.value.unwrap_or(u32::MAX)))
                        <= self.flood_sleep =>
            {
                let secs = u64::from(rpc.value.unwrap_or(0));
                tracing::info!(seconds = secs, "FLOOD_WAIT: sleeping before one retry");
                super::calls::slept(secs);
                tokio::time::sleep(Duration::from_secs(secs)).await;
                f().await.map_err(|e| ReadError::Telegram(errors::map(&e)))
            }
            Err(e) => Err(ReadError::Telegram(errors::map(&e))),
        }
    }

    /// The account's whole chat list, newest activity first (cached).
    #[tracing::instrument(name = "chat_list", skip(self))]
    pub async fn chats(&self, account_id: i64) -> Result<Arc<Vec<ChatView>>, ReadError> {
        if let Some(c) = self
            .lock()
            .get(&account_id)
            .and_then(|a| a.chats.as_ref())
            .filter(|c| c.at.elapsed() < self.ttl)
        {
            return Ok(Arc::clone(&c.value));
        }
        let client = self.client(account_id)?;
        let list = self
            .call(|| {
                let client = client.clone();
                super::calls::observe("messages.getDialogs", async move {
                    let mut dialogs = client.iter_dialogs();
                    let mut out = Vec::new();
                    while let Some(d) = dialogs.next().await? {
                        let unread_count = match &d.raw {
                            grammers_tl_types::enums::Dialog::Dialog(x) => x.unread_count,
                            _ => 0,
                        };
                        out.push(ChatView {
                            id: d.peer_id().bot_api_dialog_id_unchecked(),
                            kind: kind(d.peer()),
                            title: d.peer().name().unwrap_or("").to_string(),
                            username: d.peer().username().map(str::to_string),
                            unread_count,
                            last_message: d.last_message.as_ref().map(view),
                        });
                    }
                    Ok(out)
                })
            })
            .await?;
        self.pool.remember_names(
            account_id,
            list.iter()
                .filter(|c| c.kind == "user")
                .map(|c| (c.id, c.title.as_str()))
                .chain(list.iter().filter_map(|c| {
                    let s = c.last_message.as_ref()?.sender.as_ref()?;
                    Some((s.id, s.name.as_str()))
                })),
        );
        let value = Arc::new(list);
        self.lock().entry(account_id).or_default().chats = Some(Cached {
            at: Instant::now(),
            value: Arc::clone(&value),
        });
        Ok(value)
    }

    /// One page of a chat's history (cached).
    #[tracing::instrument(name = "chat_history", skip(self, page), fields(chat_id = page.chat_id))]
    pub async fn history(
        &self,
        account_id: i64,
        page: HistoryPage,
    ) -> Result<Arc<Vec<MessageView>>, ReadError> {
        if let Some(c) = self
            .lock()
            .get(&account_id)
            .and_then(|a| a.pages.get(&page))
            .filter(|c| c.at.elapsed() < self.ttl)
        {
            return Ok(Arc::clone(&c.value));
        }
        let value = Arc::new(self.history_uncached(account_id, page).await?);
        let mut cache = self.lock();
        let entry = cache.entry(account_id).or_default();
        if entry.pages.len() >= HISTORY_CACHE_PAGES {
            let ttl = self.ttl;
            entry.pages.retain(|_, c| c.at.elapsed() < ttl);
            if entry.pages.len() >= HISTORY_CACHE_PAGES {
                entry.pages.clear();
            }
        }
        entry.pages.insert(
            page,
            Cached {
                at: Instant::now(),
                value: Arc::clone(&value),
            },
        );
        Ok(value)
    }

    /// One page of a chat's history straight from Telegram, not cached: an
    /// export reads each page once, so keeping pages would only hold memory
    /// and crowd out the pages people are viewing. A short FLOOD_WAIT is
    /// slept once, as for every read; a longer one is the caller's to handle.
    pub async fn history_uncached(
        &self,
        account_id: i64,
        page: HistoryPage,
    ) -> Result<Vec<MessageView>, ReadError> {
        let client = self.client(account_id)?;
        let peer_id = PeerId::from_bot_api_dialog_id(page.chat_id)
            .ok_or(ReadError::UnknownChat(page.chat_id))?;
        // The peer's access hash comes from the session's cache, filled by
        // the chat list: read the list first if this chat is not known yet.
        let session = self.pool.session(account_id).ok_or(ReadError::NotLive)?;
        let mut peer_ref = session.peer_ref(peer_id).await.ok().flatten();
        if peer_ref.is_none() {
            let chats = self.chats(account_id).await?;
            if chats.iter().any(|c| c.id == page.chat_id) {
                peer_ref = session.peer_ref(peer_id).await.ok().flatten();
            }
        }
        let peer_ref = peer_ref.ok_or(ReadError::UnknownChat(page.chat_id))?;
        let messages = self
            .call(|| {
                let client = client.clone();
                super::calls::observe("messages.getHistory", async move {
                    let mut iter = client.iter_messages(peer_ref).limit(page.limit);
                    if let Some(after) = page.after_id {
                        iter = iter.offset_id(after).reverse(true);
                    } else if let Some(before) = page.before_id {
                        iter = iter.offset_id(before);
                    }
                    let mut out = Vec::with_capacity(page.limit);
                    while let Some(m) = iter.next().await? {
                        out.push(view(&m));
                    }
                    Ok(out)
                })
            })
            .await?;
        self.pool.remember_names(
            account_id,
            messages.iter().filter_map(|m| {
                let s = m.sender.as_ref()?;
                Some((s.id, s.name.as_str()))
            }),
        );
        Ok(messages)
    }
}
