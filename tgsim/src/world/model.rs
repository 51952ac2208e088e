//! The world's data, shaped the way Telegram keeps it: every account has its
//! own message box (private chats and basic groups, ids and `pts` per
//! account), every channel has its own ids and `pts`, and a message shared by
//! several boxes is stored once with the local id it has in each box.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use grammers_tl_types as tl;
use num_bigint::BigUint;

use super::auth::AuthState;

/// Text that is usually a constant from the demo or seeded tables.
pub(crate) type Str = Cow<'static, str>;

/// Index of a message in [`State::msgs`].
pub(crate) type Lid = u32;

/// Marks a freed slot in a box or channel.
pub(crate) const GONE: Lid = Lid::MAX;

pub(crate) const USER_ID_BASE: i64 = 1_000_000;
pub(crate) const CHAT_ID_BASE: i64 = 2_000_000;
pub(crate) const CHANNEL_ID_BASE: i64 = 1_500_000_000;

/// How many events a box or channel keeps for getDifference; older gaps are "too long".
pub(crate) const LOG_CAP: usize = 1_500;

/// A peer as the server sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Peer {
    User(i64),
    Chat(i64),
    Channel(i64),
}

impl Peer {
    pub(crate) fn to_tl(self) -> tl::enums::Peer {
        match self {
            Peer::User(user_id) => tl::types::PeerUser { user_id }.into(),
            Peer::Chat(chat_id) => tl::types::PeerChat { chat_id }.into(),
            Peer::Channel(channel_id) => tl::types::PeerChannel { channel_id }.into(),
        }
    }
}

/// Where a message lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conv {
    /// A private chat between two users (the same user twice for Saved Messages).
    Private(i64, i64),
    Chat(i64),
    Channel(i64),
}

impl Conv {
    /// The peer of the conversation as `viewer` sees it.
    pub(crate) fn peer_for(self, viewer: i64) -> Peer {
        match self {
            Conv::Private(a, b) => Peer::User(if viewer == a { b } else { a }),
            Conv::Chat(id) => Peer::Chat(id),
            Conv::Channel(id) => Peer::Channel(id),
        }
    }
}

/// One message, stored once however many boxes hold it.
#[derive(Debug)]
pub(crate) struct Msg {
    pub conv: Conv,
    pub from: i64,
    pub date: i32,
    pub text: Str,
    pub reply_to: Option<Lid>,
    pub edit_date: Option<i32>,
    pub entities: Option<Box<[tl::enums::MessageEntity]>>,
    /// (owner, local id): owner is a user id for boxes, the channel id for channels.
    pub copies: Box<[(i64, i32)]>,
}

impl Msg {
    pub(crate) fn local_id(&self, owner: i64) -> Option<i32> {
        self.copies
            .iter()
            .find(|(o, _)| *o == owner)
            .map(|(_, id)| *id)
    }
}

#[derive(Debug)]
pub(crate) struct User {
    pub id: i64,
    pub first_name: Str,
    pub last_name: Option<Str>,
    pub username: Option<String>,
    /// Digits only, as Telegram shows it.
    pub phone: Option<String>,
    pub about: Option<Str>,
    /// Present for users who can log in.
    pub account: Option<Account>,
}

#[derive(Debug)]
pub(crate) struct Account {
    pub home_dc: i32,
    pub password: Option<TwoFa>,
}

/// A cloud password, kept the way Telegram keeps it: salts and the SRP verifier.
#[derive(Debug)]
pub(crate) struct TwoFa {
    pub hint: Option<String>,
    pub salt1: Vec<u8>,
    pub salt2: Vec<u8>,
    pub verifier: Arc<BigUint>,
    /// The latest `account.getPassword` challenge.
    pub srp: Option<SrpSession>,
}

#[derive(Debug)]
pub(crate) struct SrpSession {
    pub srp_id: i64,
    pub b: BigUint,
    pub g_b: Vec<u8>,
}

/// A basic group.
#[derive(Debug)]
pub(crate) struct Chat {
    pub id: i64,
    pub title: Str,
    pub creator: i64,
    pub members: Vec<i64>,
    pub date: i32,
}

/// A supergroup (megagroup) or broadcast channel.
#[derive(Debug)]
pub(crate) struct Channel {
    pub id: i64,
    pub title: Str,
    pub username: Option<String>,
    pub broadcast: bool,
    pub creator: i64,
    pub members: BTreeSet<i64>,
    pub date: i32,
    pub pts: i32,
    /// Message ids of live messages, ascending.
    pub ids: Vec<i32>,
    /// `slots[id - 1]` is the message with that id, or [`GONE`].
    pub slots: Vec<Lid>,
    pub log: Log<ChannelEvent>,
    pub last_event_date: i32,
}

/// One account's (or user's) message box: private chats and basic groups.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    pub pts: i32,
    pub date: i32,
    pub slots: Vec<Lid>,
    pub dialogs: HashMap<Peer, DialogBox>,
    pub channels: HashMap<i64, ReadMarks>,
    pub log: Log<Event>,
}

#[derive(Debug, Default)]
pub(crate) struct DialogBox {
    /// Local ids of live messages, ascending.
    pub ids: Vec<i32>,
    pub marks: ReadMarks,
    /// When the dialog appeared (orders dialogs without messages).
    pub created: i32,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ReadMarks {
    pub inbox: i32,
    pub outbox: i32,
}

/// A bounded event log: events after `base_pts` can be replayed.
#[derive(Debug)]
pub(crate) struct Log<T> {
    pub events: VecDeque<T>,
    pub base_pts: i32,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Self {
            events: VecDeque::new(),
            base_pts: 0,
        }
    }
}

pub(crate) trait HasPts {
    fn pts(&self) -> i32;
}

impl<T: HasPts> Log<T> {
    pub(crate) fn push(&mut self, event: T) {
        self.events.push_back(event);
        while self.events.len() > LOG_CAP {
            if let Some(old) = self.events.pop_front() {
                self.base_pts = old.pts();
            }
        }
    }

    /// Events with pts above `pts`, oldest first.
    pub(crate) fn after(&self, pts: i32) -> impl Iterator<Item = &T> {
        let start = self.events.partition_point(|e| e.pts() <= pts);
        self.events.range(start..)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub pts: i32,
    pub count: i32,
    pub date: i32,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub(crate) enum EventKind {
    New(i32),
    Edit(i32),
    Delete(Vec<i32>),
    ReadInbox(Peer, i32),
    ReadOutbox(Peer, i32),
}

impl HasPts for Event {
    fn pts(&self) -> i32 {
        self.pts
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ChannelEvent {
    pub pts: i32,
    pub count: i32,
    pub kind: ChannelEventKind,
}

#[derive(Debug, Clone)]
pub(crate) enum ChannelEventKind {
    New(i32),
    Edit(i32),
    Delete(Vec<i32>),
}

impl HasPts for ChannelEvent {
    fn pts(&self) -> i32 {
        self.pts
    }
}

/// Everything behind the world's lock.
pub(crate) struct State {
    pub seed: u64,
    pub dc_count: i32,
    /// Added to the real clock; lets tests expire codes and tokens without sleeping.
    pub clock_offset: i64,
    pub users: HashMap<i64, User>,
    pub phones: HashMap<String, i64>,
    /// Lower-cased username → peer.
    pub usernames: HashMap<String, Peer>,
    pub chats: HashMap<i64, Chat>,
    pub channels: HashMap<i64, Channel>,
    pub msgs: Vec<Msg>,
    pub boxes: HashMap<i64, Mailbox>,
    /// (sender, random_id) → the message it created, for sendMessage retries.
    pub random_ids: HashMap<(i64, i64), Lid>,
    pub next_user_id: i64,
    pub next_chat_id: i64,
    pub next_channel_id: i64,
    pub auth: AuthState,
    /// Serialized updates to hand to the hub before the lock is released.
    pub outbox: Vec<(i64, Vec<u8>)>,
}

impl State {
    pub(crate) fn new(seed: u64, dc_count: i32) -> Self {
        Self {
            seed,
            dc_count: dc_count.max(1),
            clock_offset: 0,
            users: HashMap::new(),
            phones: HashMap::new(),
            usernames: HashMap::new(),
            chats: HashMap::new(),
            channels: HashMap::new(),
            msgs: Vec::new(),
            boxes: HashMap::new(),
            random_ids: HashMap::new(),
            next_user_id: USER_ID_BASE + 1,
            next_chat_id: CHAT_ID_BASE + 1,
            next_channel_id: CHANNEL_ID_BASE + 1,
            auth: AuthState::default(),
            outbox: Vec::new(),
        }
    }

    /// The world's "now" in unix seconds.
    pub(crate) fn now(&self) -> i32 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        (real + self.clock_offset).clamp(0, i32::MAX as i64) as i32
    }

    /// The access hash `viewer` sees for `peer`: stable, different per viewer,
    /// like Telegram's.
    pub(crate) fn access_hash(&self, viewer: i64, peer: Peer) -> i64 {
        let (kind, id) = match peer {
            Peer::User(id) => (1u64, id),
            Peer::Chat(id) => (2, id),
            Peer::Channel(id) => (3, id),
        };
        mix(self.seed ^ mix(viewer as u64) ^ mix((id as u64) ^ (kind << 60))) as i64
    }

    pub(crate) fn mailbox(&mut self, user: i64) -> &mut Mailbox {
        self.boxes.entry(user).or_insert_with(|| Mailbox {
            pts: 1,
            ..Mailbox::default()
        })
    }

    pub(crate) fn is_account(&self, user: i64) -> bool {
        self.users.get(&user).is_some_and(|u| u.account.is_some())
    }

    /// Whether `viewer` may read `peer` at all.
    pub(crate) fn can_see(&self, viewer: i64, peer: Peer) -> bool {
        match peer {
            Peer::User(id) => self.users.contains_key(&id),
            Peer::Chat(id) => self
                .chats
                .get(&id)
                .is_some_and(|c| c.members.contains(&viewer)),
            Peer::Channel(id) => self
                .channels
                .get(&id)
                .is_some_and(|c| c.members.contains(&viewer)),
        }
    }

    /// Local ids of `viewer`'s live messages with `peer`, ascending, and the
    /// owner whose slots they index.
    pub(crate) fn timeline(&self, viewer: i64, peer: Peer) -> (&[i32], i64) {
        match peer {
            Peer::Channel(id) => (self.channels.get(&id).map_or(&[][..], |c| &c.ids[..]), id),
            _ => (
                self.boxes
                    .get(&viewer)
                    .and_then(|b| b.dialogs.get(&peer))
                    .map_or(&[][..], |d| &d.ids[..]),
                viewer,
            ),
        }
    }

    /// The message behind a local id in a box (owner = user) or channel (owner = channel id).
    pub(crate) fn lid_of(&self, owner: i64, local: i32) -> Option<Lid> {
        let slots = if owner >= CHANNEL_ID_BASE {
            &self.channels.get(&owner)?.slots
        } else {
            &self.boxes.get(&owner)?.slots
        };
        let idx = usize::try_from(local.checked_sub(1)?).ok()?;
        slots.get(idx).copied().filter(|l| *l != GONE)
    }

    pub(crate) fn msg(&self, lid: Lid) -> Option<&Msg> {
        self.msgs.get(lid as usize)
    }

    /// Queues a serialized `Updates` for every home-DC key of `user`, except `skip`.
    pub(crate) fn push_to_user(
        &mut self,
        user: i64,
        skip: Option<i64>,
        updates: &tl::enums::Updates,
    ) {
        let keys = self.auth.push_keys(user, self.home_dc(user));
        if keys.is_empty() {
            return;
        }
        let bytes = tl::Serializable::to_bytes(updates);
        for key in keys {
            if Some(key) != skip {
                self.outbox.push((key, bytes.clone()));
            }
        }
    }

    pub(crate) fn home_dc(&self, user: i64) -> i32 {
        self.users
            .get(&user)
            .and_then(|u| u.account.as_ref())
            .map_or(1, |a| a.home_dc)
    }

    pub(crate) fn alloc_user_id(&mut self) -> i64 {
        let id = self.next_user_id;
        self.next_user_id += 1;
        id
    }
}

/// SplitMix64's finaliser: a cheap, well-spread deterministic hash.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A deterministic generator for seeded worlds.
pub(crate) struct SeedRng(u64);

impl SeedRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(mix(seed ^ 0x5eed))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// Telegram shows phones as digits only; accepts `+`, spaces, dashes and brackets on input.
pub(crate) fn normalize_phone(phone: &str) -> Option<String> {
    let mut digits = String::with_capacity(phone.len());
    for c in phone.trim().trim_start_matches('+').chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return None,
        }
    }
    (5..=15).contains(&digits.len()).then_some(digits)
}

/// Telegram's username rules: 5–32 characters, letters, digits and underscores,
/// starting with a letter.
pub(crate) fn valid_username(name: &str) -> bool {
    (5..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.ends_with('_')
}
