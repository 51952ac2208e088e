//! grammers' `Session`, persisted through the vault and the store.
//!
//! A [`StoredSession`] keeps the whole session in memory, so the getters
//! grammers calls on every request (`home_dc_id`, `dc_option`) and the peer
//! lookups are a mutex away. Persistence is split three ways, as the schema is:
//!
//! - **auth material** (home DC, per-DC auth keys, the self user) is sealed
//!   and written at once, but only when it changes; grammers re-announces
//!   the same DC option on every connect, which costs nothing;
//! - **update state** (pts/qts/date/seq, channel pts) and the **peer cache**
//!   are marked dirty and written in one batch by a background flusher a
//!   moment later ([`SessionOptions::flush_interval`]), on [`StoredSession::flush`]
//!   and on [`StoredSession::close`]. Any number of changes in between cost
//!   one transaction, writing only what changed.
//!
//! A session is created unbound ([`SessionStore::create`]), e.g. for a login
//! flow, and lives in memory only until [`StoredSession::bind`] ties it to an
//! account row and writes it. It answers `peer(PeerId::self_user())` with the
//! user cached with `is_self = Some(true)` (grammers' `MemorySession` does not,
//! which delays updates), and it can be seeded with DC options that carry
//! pre-shared auth keys (how tests and the demo reach tgsim).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::Duration;

use grammers_session::types::{
    ChannelKind, ChannelState, DcOption, PeerAuth, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use grammers_session::{BoxFuture, Session, SessionData};
use tokio::sync::Notify;
use zeroize::{Zeroize, Zeroizing};

use crate::store::sessions::{self, UpdateStateRow};
use crate::store::{self, Db, StoreError};
use crate::vault::{Aad, Vault, VaultError};

/// Errors of the session store.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("the stored session of account {account_id} is corrupt: {reason}")]
    Corrupt {
        account_id: i64,
        reason: &'static str,
    },
    #[error("the session's in-memory state is poisoned by an earlier panic")]
    Poisoned,
}

/// Tuning of the persistence.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// How long after the first change the background flusher writes the
    /// batched update state and peers.
    pub flush_interval: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_millis(1000),
        }
    }
}

/// Where a new session connects first.
#[derive(Clone)]
pub struct SessionSeed {
    home_dc: i32,
    dc_options: Vec<DcOption>,
    known_dc_fallback: bool,
}

impl SessionSeed {
    /// Telegram's statically known data centres, home DC 2; keys are made by
    /// the usual handshake.
    pub fn telegram() -> Self {
        Self {
            home_dc: SessionData::default().home_dc,
            dc_options: Vec::new(),
            known_dc_fallback: true,
        }
    }

    /// Only these data centres, e.g. tgsim's, each with its pre-shared
    /// `auth_key`. A DC not listed is unknown: nothing falls back to
    /// Telegram's real addresses.
    pub fn custom(home_dc: i32, dc_options: Vec<DcOption>) -> Self {
        Self {
            home_dc,
            dc_options,
            known_dc_fallback: false,
        }
    }
}

impl fmt::Debug for SessionSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSeed")
            .field("home_dc", &self.home_dc)
            .field(
                "dc_ids",
                &self.dc_options.iter().map(|o| o.id).collect::<Vec<_>>(),
            )
            .field("known_dc_fallback", &self.known_dc_fallback)
            .finish()
    }
}

/// Writes made to the database so far, to check that batching works.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Sealed auth material rows written.
    pub auth_writes: u64,
    /// Batches (one transaction each) of update state and peers written.
    pub batches: u64,
    /// Peer rows written, over all batches.
    pub peer_rows: u64,
}

/// Opens and creates [`StoredSession`]s. Cheap to clone.
#[derive(Clone)]
pub struct SessionStore {
    db: Db,
    vault: Arc<Vault>,
    options: SessionOptions,
}

impl SessionStore {
    pub fn new(db: Db, vault: Arc<Vault>, options: SessionOptions) -> Self {
        Self { db, vault, options }
    }

    /// A new session that is not bound to an account yet: it lives in memory
    /// until [`StoredSession::bind`].
    pub fn create(&self, seed: SessionSeed) -> Arc<StoredSession> {
        let mut state = State {
            account_id: None,
            home_dc: seed.home_dc,
            dc_options: HashMap::new(),
            known_dc_fallback: seed.known_dc_fallback,
            self_user: None,
            peers: HashMap::new(),
            updates: UpdateStateRow::default(),
            channels: HashMap::new(),
            dirty: Dirty::default(),
            auth_version: 1,
        };
        for option in seed.dc_options {
            state.dc_options.insert(option.id, option);
        }
        StoredSession::new(self.clone(), state)
    }

    /// The stored session of an account, or `None` if it has none (never
    /// logged in, logged out or reset). A peer row that does not open is
    /// skipped with a warning (it is only a cache); auth material that does
    /// not open is an error.
    pub async fn load(&self, account_id: i64) -> Result<Option<Arc<StoredSession>>, SessionError> {
        let Some(sealed_auth) = sessions::get_auth(self.db.pool(), account_id).await? else {
            return Ok(None);
        };
        let auth = self
            .vault
            .open(&Aad::account_auth(account_id), &sealed_auth)?;
        let auth = codec::decode_auth(&auth)
            .map_err(|reason| SessionError::Corrupt { account_id, reason })?;
        let updates = sessions::get_update_state(self.db.pool(), account_id)
            .await?
            .unwrap_or_default();
        let channels = sessions::get_channel_states(self.db.pool(), account_id)
            .await?
            .into_iter()
            .collect();
        let mut peers = HashMap::new();
        for (peer_id, sealed) in sessions::get_peers(self.db.pool(), account_id).await? {
            let info = self
                .vault
                .open(&Aad::account_peer(account_id, peer_id), &sealed)
                .map_err(SessionError::from)
                .and_then(|plain| {
                    codec::decode_peer(&plain)
                        .map_err(|reason| SessionError::Corrupt { account_id, reason })
                });
            match info {
                Ok(info) if info.id().bot_api_dialog_id() == Some(peer_id) => {
                    peers.insert(info.id(), info);
                }
                Ok(_) => tracing::warn!(account_id, peer_id, "skipping peer row with wrong id"),
                Err(e) => {
                    tracing::warn!(account_id, peer_id, error = %e, "skipping unreadable peer row")
                }
            }
        }
        let state = State {
            account_id: Some(account_id),
            home_dc: auth.home_dc,
            dc_options: auth.dc_options.into_iter().map(|o| (o.id, o)).collect(),
            known_dc_fallback: auth.known_dc_fallback,
            self_user: auth.self_user,
            peers,
            updates,
            channels,
            dirty: Dirty::default(),
            auth_version: 0,
        };
        let session = StoredSession::new(self.clone(), state);
        session.start_flusher();
        Ok(Some(session))
    }
}

/// What changed since the last batch.
#[derive(Default)]
struct Dirty {
    updates: bool,
    channels: HashSet<i64>,
    /// The channel list was replaced: write all, delete the others.
    channels_replaced: bool,
    peers: HashSet<PeerId>,
}

impl Dirty {
    fn is_empty(&self) -> bool {
        !self.updates
            && self.channels.is_empty()
            && !self.channels_replaced
            && self.peers.is_empty()
    }

    fn merge(&mut self, other: Dirty) {
        self.updates |= other.updates;
        self.channels.extend(other.channels);
        self.channels_replaced |= other.channels_replaced;
        self.peers.extend(other.peers);
    }
}

struct State {
    account_id: Option<i64>,
    home_dc: i32,
    dc_options: HashMap<i32, DcOption>,
    known_dc_fallback: bool,
    self_user: Option<PeerInfo>,
    peers: HashMap<PeerId, PeerInfo>,
    updates: UpdateStateRow,
    channels: HashMap<i64, i32>,
    dirty: Dirty,
    /// Bumped on every change of the auth material; compared with the
    /// version last written.
    auth_version: u64,
}

impl Drop for State {
    fn drop(&mut self) {
        for option in self.dc_options.values_mut() {
            if let Some(key) = option.auth_key.as_mut() {
                key.zeroize();
            }
        }
    }
}

/// A batch taken out of the state for writing.
struct Batch {
    account_id: i64,
    dirty: Dirty,
    updates: Option<UpdateStateRow>,
    channels: Vec<(i64, i32)>,
    all_channels: Option<Vec<i64>>,
    peers: Vec<PeerInfo>,
}

/// One account's grammers session; hand it to grammers as `Arc<StoredSession>`.
pub struct StoredSession {
    store: SessionStore,
    state: Mutex<State>,
    /// Serialises writers so that what is written last is the newest state.
    write_lock: tokio::sync::Mutex<u64>,
    wake_flusher: Arc<Notify>,
    flusher_started: AtomicBool,
    closed: AtomicBool,
    auth_writes: AtomicU64,
    batches: AtomicU64,
    peer_rows: AtomicU64,
}

static KNOWN_DC_OPTIONS: LazyLock<HashMap<i32, DcOption>> =
    LazyLock::new(|| SessionData::default().dc_options);

impl StoredSession {
    fn new(store: SessionStore, state: State) -> Arc<Self> {
        Arc::new(Self {
            store,
            state: Mutex::new(state),
            write_lock: tokio::sync::Mutex::new(0),
            wake_flusher: Arc::new(Notify::new()),
            flusher_started: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            auth_writes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            peer_rows: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        self.state.lock().map_err(|_| SessionError::Poisoned)
    }

    /// The account this session is stored under, if bound.
    pub fn account_id(&self) -> Option<i64> {
        self.lock().ok().and_then(|s| s.account_id)
    }

    /// The logged-in user, as cached with `is_self = Some(true)`.
    pub fn self_user(&self) -> Option<PeerInfo> {
        self.lock().ok().and_then(|s| s.self_user.clone())
    }

    /// Writes counted since this session was created or loaded.
    pub fn write_stats(&self) -> WriteStats {
        WriteStats {
            auth_writes: self.auth_writes.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            peer_rows: self.peer_rows.load(Ordering::Relaxed),
        }
    }

    /// Ties an unbound session to an existing account row and writes all of
    /// it now (auth material, update state, peers). From then on changes are
    /// persisted as described in the module docs.
    pub async fn bind(self: &Arc<Self>, account_id: i64) -> Result<(), SessionError> {
        {
            let mut state = self.lock()?;
            state.account_id = Some(account_id);
            state.auth_version += 1;
            state.dirty.updates = true;
            state.dirty.channels_replaced = true;
            let peers: Vec<PeerId> = state.peers.keys().copied().collect();
            state.dirty.peers.extend(peers);
        }
        self.flush().await?;
        self.start_flusher();
        Ok(())
    }

    /// Writes whatever changed and is not written yet. Returns once it is in
    /// the database.
    pub async fn flush(&self) -> Result<(), SessionError> {
        let mut written_version = self.write_lock.lock().await;
        self.write_auth_locked(&mut written_version).await?;
        let Some(batch) = self.take_batch()? else {
            return Ok(());
        };
        match self.write_batch(&batch).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.lock()?.dirty.merge(batch.dirty);
                Err(e)
            }
        }
    }

    /// Flushes and stops the background flusher. Call it on shutdown; after
    /// it, changes are written only by an explicit [`StoredSession::flush`].
    pub async fn close(&self) -> Result<(), SessionError> {
        self.closed.store(true, Ordering::Release);
        self.wake_flusher.notify_one();
        self.flush().await
    }

    /// Deletes the stored session (auth material, update state, peers) and
    /// unbinds this one, so nothing it learns later is written again. Used
    /// when a session is revoked or reset.
    pub async fn shred(&self) -> Result<(), SessionError> {
        let _writer = self.write_lock.lock().await;
        let account_id = {
            let mut state = self.lock()?;
            state.dirty = Dirty::default();
            state.account_id.take()
        };
        if let Some(account_id) = account_id {
            let mut tx = self.store.db.begin_write().await?;
            sessions::delete_session(&mut tx, account_id).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        self.wake_flusher.notify_one();
        Ok(())
    }

    fn start_flusher(self: &Arc<Self>) {
        if self.flusher_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime: session changes are written on flush() only");
            return;
        };
        let weak = Arc::downgrade(self);
        let wake = Arc::clone(&self.wake_flusher);
        let interval = self.store.options.flush_interval;
        runtime.spawn(run_flusher(weak, wake, interval));
    }

    fn mark_dirty(&self) {
        self.wake_flusher.notify_one();
    }

    async fn write_auth(&self) -> Result<(), SessionError> {
        let mut written_version = self.write_lock.lock().await;
        self.write_auth_locked(&mut written_version).await
    }

    async fn write_auth_locked(&self, written_version: &mut u64) -> Result<(), SessionError> {
        let (account_id, version, plaintext) = {
            let state = self.lock()?;
            let Some(account_id) = state.account_id else {
                return Ok(());
            };
            if state.auth_version == *written_version {
                return Ok(());
            }
            (account_id, state.auth_version, codec::encode_auth(&state))
        };
        let sealed = self
            .store
            .vault
            .seal(&Aad::account_auth(account_id), &plaintext)?;
        sessions::put_auth(self.store.db.pool(), account_id, &sealed, store::now()).await?;
        *written_version = version;
        self.auth_writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn take_batch(&self) -> Result<Option<Batch>, SessionError> {
        let mut state = self.lock()?;
        let Some(account_id) = state.account_id else {
            return Ok(None);
        };
        if state.dirty.is_empty() {
            return Ok(None);
        }
        let dirty = std::mem::take(&mut state.dirty);
        let updates = dirty.updates.then_some(state.updates);
        let channels: Vec<(i64, i32)> = if dirty.channels_replaced {
            state.channels.iter().map(|(&id, &pts)| (id, pts)).collect()
        } else {
            dirty
                .channels
                .iter()
                .filter_map(|id| state.channels.get(id).map(|&pts| (*id, pts)))
                .collect()
        };
        let all_channels = dirty
            .channels_replaced
            .then(|| state.channels.keys().copied().collect());
        let peers = dirty
            .peers
            .iter()
            .filter_map(|id| state.peers.get(id).cloned())
            .collect();
        Ok(Some(Batch {
            account_id,
            dirty,
            updates,
            channels,
            all_channels,
            peers,
        }))
    }

    async fn write_batch(&self, batch: &Batch) -> Result<(), SessionError> {
        let vault = &self.store.vault;
        let mut sealed_peers = Vec::with_capacity(batch.peers.len());
        for peer in &batch.peers {
            let Some(peer_id) = peer.id().bot_api_dialog_id() else {
                continue;
            };
            let plain = codec::encode_peer(peer);
            let sealed = vault.seal(&Aad::account_peer(batch.account_id, peer_id), &plain)?;
            sealed_peers.push((peer_id, sealed));
        }
        let now = store::now();
        let mut tx = self.store.db.begin_write().await?;
        if let Some(updates) = &batch.updates {
            sessions::put_update_state(&mut *tx, batch.account_id, updates, now).await?;
        }
        for (channel_id, pts) in &batch.channels {
            sessions::put_channel_state(&mut *tx, batch.account_id, *channel_id, *pts).await?;
        }
        if let Some(keep) = &batch.all_channels {
            sessions::delete_channel_states_except(&mut tx, batch.account_id, keep).await?;
        }
        for (peer_id, sealed) in &sealed_peers {
            sessions::put_peer(&mut *tx, batch.account_id, *peer_id, sealed, now).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.peer_rows
            .fetch_add(sealed_peers.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Caches a peer in memory; returns (peer changed, self user changed).
    fn cache_in_memory(state: &mut State, peer: PeerInfo) -> (bool, bool) {
        let id = peer.id();
        let mut self_changed = false;
        if let PeerInfo::User {
            is_self: Some(true),
            ..
        } = &peer
        {
            let mut merged = match &state.self_user {
                Some(old) if old.id() == id => old.clone(),
                _ => peer.clone(),
            };
            merged.extend_info(&peer);
            if state.self_user.as_ref() != Some(&merged) {
                state.self_user = Some(merged);
                state.auth_version += 1;
                self_changed = true;
            }
        }
        let peer_changed = match state.peers.get_mut(&id) {
            Some(existing) => {
                let before = existing.clone();
                existing.extend_info(&peer);
                *existing != before
            }
            None => {
                state.peers.insert(id, peer);
                true
            }
        };
        if peer_changed {
            state.dirty.peers.insert(id);
        }
        (peer_changed, self_changed)
    }
}

impl Drop for StoredSession {
    fn drop(&mut self) {
        // Let the flusher see that the session is gone and exit.
        self.wake_flusher.notify_one();
    }
}

async fn run_flusher(session: Weak<StoredSession>, wake: Arc<Notify>, interval: Duration) {
    loop {
        wake.notified().await;
        tokio::time::sleep(interval).await;
        let Some(session) = session.upgrade() else {
            return;
        };
        if session.closed.load(Ordering::Acquire) || session.account_id().is_none() {
            return;
        }
        if let Err(e) = session.flush().await {
            tracing::warn!(account_id = ?session.account_id(), error = %e, "session flush failed; retrying");
            session.wake_flusher.notify_one();
        }
    }
}

impl Session for StoredSession {
    type Error = SessionError;

    fn home_dc_id(&self) -> Result<i32, SessionError> {
        Ok(self.lock()?.home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            let changed = {
                let mut state = self.lock()?;
                let changed = state.home_dc != dc_id;
                if changed {
                    state.home_dc = dc_id;
                    state.auth_version += 1;
                }
                changed
            };
            if changed {
                self.write_auth().await?;
            }
            Ok(())
        })
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, SessionError> {
        let state = self.lock()?;
        Ok(state.dc_options.get(&dc_id).cloned().or_else(|| {
            state
                .known_dc_fallback
                .then(|| KNOWN_DC_OPTIONS.get(&dc_id).cloned())
                .flatten()
        }))
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<(), SessionError>> {
        let dc_option = dc_option.clone();
        Box::pin(async move {
            let changed = {
                let mut state = self.lock()?;
                let changed = state.dc_options.get(&dc_option.id) != Some(&dc_option);
                if changed {
                    state.dc_options.insert(dc_option.id, dc_option);
                    state.auth_version += 1;
                }
                changed
            };
            if changed {
                self.write_auth().await?;
            }
            Ok(())
        })
    }

    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>, SessionError>> {
        Box::pin(async move {
            let state = self.lock()?;
            if peer == PeerId::self_user() {
                return Ok(state.self_user.clone());
            }
            Ok(state.peers.get(&peer).cloned())
        })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<(), SessionError>> {
        self.cache_peers(vec![peer])
    }

    fn cache_peers(&self, peers: Vec<PeerInfo>) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            let (any_changed, self_changed) = {
                let mut state = self.lock()?;
                let mut any = false;
                let mut me = false;
                for peer in peers {
                    let (changed, self_changed) = Self::cache_in_memory(&mut state, peer);
                    any |= changed;
                    me |= self_changed;
                }
                (any, me)
            };
            if self_changed {
                self.write_auth().await?;
            }
            if any_changed {
                self.mark_dirty();
            }
            Ok(())
        })
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState, SessionError>> {
        Box::pin(async move {
            let state = self.lock()?;
            let mut channels: Vec<ChannelState> = state
                .channels
                .iter()
                .map(|(&id, &pts)| ChannelState { id, pts })
                .collect();
            channels.sort_by_key(|c| c.id);
            Ok(UpdatesState {
                pts: state.updates.pts,
                qts: state.updates.qts,
                date: state.updates.date,
                seq: state.updates.seq,
                channels,
            })
        })
    }

    fn set_update_state(&self, update: UpdateState) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            {
                let mut state = self.lock()?;
                match update {
                    UpdateState::All(all) => {
                        state.updates = UpdateStateRow {
                            pts: all.pts,
                            qts: all.qts,
                            date: all.date,
                            seq: all.seq,
                        };
                        state.channels = all.channels.iter().map(|c| (c.id, c.pts)).collect();
                        state.dirty.updates = true;
                        state.dirty.channels_replaced = true;
                    }
                    UpdateState::Primary { pts, date, seq } => {
                        state.updates.pts = pts;
                        state.updates.date = date;
                        state.updates.seq = seq;
                        state.dirty.updates = true;
                    }
                    UpdateState::Secondary { qts } => {
                        state.updates.qts = qts;
                        state.dirty.updates = true;
                    }
                    UpdateState::Channel { id, pts } => {
                        state.channels.insert(id, pts);
                        state.dirty.channels.insert(id);
                    }
                }
            }
            self.mark_dirty();
            Ok(())
        })
    }
}

/// Binary forms of the auth material and of a peer, before sealing. Little
/// endian, each with a leading version byte.
mod codec {
    use super::*;

    const AUTH_VERSION: u8 = 1;
    const PEER_VERSION: u8 = 1;

    pub(super) struct Auth {
        pub home_dc: i32,
        pub dc_options: Vec<DcOption>,
        pub known_dc_fallback: bool,
        pub self_user: Option<PeerInfo>,
    }

    pub(super) fn encode_auth(state: &State) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(16 + state.dc_options.len() * 300));
        out.push(AUTH_VERSION);
        out.push(u8::from(state.known_dc_fallback));
        out.extend_from_slice(&state.home_dc.to_le_bytes());
        let mut ids: Vec<i32> = state.dc_options.keys().copied().collect();
        ids.sort_unstable();
        out.extend_from_slice(&(ids.len() as u16).to_le_bytes());
        for id in ids {
            let option = &state.dc_options[&id];
            out.extend_from_slice(&option.id.to_le_bytes());
            out.extend_from_slice(&option.ipv4.ip().octets());
            out.extend_from_slice(&option.ipv4.port().to_le_bytes());
            out.extend_from_slice(&option.ipv6.ip().octets());
            out.extend_from_slice(&option.ipv6.port().to_le_bytes());
            match &option.auth_key {
                Some(key) => {
                    out.push(1);
                    out.extend_from_slice(key);
                }
                None => out.push(0),
            }
        }
        match &state.self_user {
            Some(user) => {
                out.push(1);
                out.extend_from_slice(&encode_peer(user));
            }
            None => out.push(0),
        }
        out
    }

    pub(super) fn decode_auth(bytes: &[u8]) -> Result<Auth, &'static str> {
        let mut r = Reader(bytes);
        if r.u8()? != AUTH_VERSION {
            return Err("unknown auth material version");
        }
        let known_dc_fallback = r.u8()? != 0;
        let home_dc = r.i32()?;
        let count = r.u16()?;
        let mut dc_options = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let id = r.i32()?;
            let v4: [u8; 4] = r.array()?;
            let v4_port = r.u16()?;
            let v6: [u8; 16] = r.array()?;
            let v6_port = r.u16()?;
            let auth_key = match r.u8()? {
                0 => None,
                1 => Some(r.array::<256>()?),
                _ => return Err("bad auth key flag"),
            };
            dc_options.push(DcOption {
                id,
                ipv4: SocketAddrV4::new(Ipv4Addr::from(v4), v4_port),
                ipv6: SocketAddrV6::new(Ipv6Addr::from(v6), v6_port, 0, 0),
                auth_key,
            });
        }
        let self_user = match r.u8()? {
            0 => None,
            1 => Some(decode_peer(r.rest())?),
            _ => return Err("bad self user flag"),
        };
        Ok(Auth {
            home_dc,
            dc_options,
            known_dc_fallback,
            self_user,
        })
    }

    fn option_bool(value: Option<bool>) -> u8 {
        match value {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        }
    }

    fn read_option_bool(byte: u8) -> Result<Option<bool>, &'static str> {
        match byte {
            0 => Ok(None),
            1 => Ok(Some(false)),
            2 => Ok(Some(true)),
            _ => Err("bad flag"),
        }
    }

    pub(super) fn encode_peer(peer: &PeerInfo) -> Vec<u8> {
        let mut out = Vec::with_capacity(20);
        out.push(PEER_VERSION);
        let (kind, id, auth, a, b) = match peer {
            PeerInfo::User {
                id,
                auth,
                bot,
                is_self,
            } => (1u8, *id, *auth, option_bool(*bot), option_bool(*is_self)),
            PeerInfo::Chat { id } => (2, *id, None, 0, 0),
            PeerInfo::Channel { id, auth, kind } => {
                let kind = match kind {
                    None => 0,
                    Some(ChannelKind::Broadcast) => 1,
                    Some(ChannelKind::Megagroup) => 2,
                    Some(ChannelKind::Gigagroup) => 3,
                    Some(ChannelKind::Community) => 4,
                };
                (3, *id, *auth, kind, 0)
            }
        };
        out.push(kind);
        out.extend_from_slice(&id.to_le_bytes());
        match auth {
            Some(auth) => {
                out.push(1);
                out.extend_from_slice(&auth.hash().to_le_bytes());
            }
            None => out.push(0),
        }
        out.push(a);
        out.push(b);
        out
    }

    pub(super) fn decode_peer(bytes: &[u8]) -> Result<PeerInfo, &'static str> {
        let mut r = Reader(bytes);
        if r.u8()? != PEER_VERSION {
            return Err("unknown peer version");
        }
        let kind = r.u8()?;
        let id = r.i64()?;
        let auth = match r.u8()? {
            0 => None,
            1 => Some(PeerAuth::from_hash(r.i64()?)),
            _ => return Err("bad peer auth flag"),
        };
        let a = r.u8()?;
        let b = r.u8()?;
        let info = match kind {
            1 if PeerId::user(id).is_some() => PeerInfo::User {
                id,
                auth,
                bot: read_option_bool(a)?,
                is_self: read_option_bool(b)?,
            },
            2 if PeerId::chat(id).is_some() => PeerInfo::Chat { id },
            3 if PeerId::channel(id).is_some() => PeerInfo::Channel {
                id,
                auth,
                kind: match a {
                    0 => None,
                    1 => Some(ChannelKind::Broadcast),
                    2 => Some(ChannelKind::Megagroup),
                    3 => Some(ChannelKind::Gigagroup),
                    4 => Some(ChannelKind::Community),
                    _ => return Err("bad channel kind"),
                },
            },
            _ => return Err("bad peer kind or id"),
        };
        Ok(info)
    }

    struct Reader<'a>(&'a [u8]);

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
            if self.0.len() < n {
                return Err("truncated");
            }
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            Ok(head)
        }

        fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
            let mut out = [0u8; N];
            out.copy_from_slice(self.take(N)?);
            Ok(out)
        }

        fn u8(&mut self) -> Result<u8, &'static str> {
            Ok(self.take(1)?[0])
        }

        fn u16(&mut self) -> Result<u16, &'static str> {
            Ok(u16::from_le_bytes(self.array()?))
        }

        fn i32(&mut self) -> Result<i32, &'static str> {
            Ok(i32::from_le_bytes(self.array()?))
        }

        fn i64(&mut self) -> Result<i64, &'static str> {
            Ok(i64::from_le_bytes(self.array()?))
        }

        fn rest(&mut self) -> &'a [u8] {
            std::mem::take(&mut self.0)
        }
    }
}
