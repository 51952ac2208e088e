//! What a world starts with: a [`WorldSpec`] (JSON for `tgsim --world FILE`)
//! lists users, chats and messages by key, and can ask for generated
//! accounts. Building it is deterministic: ids are assigned in order, salts,
//! access hashes and generated text come from the seed, and dates are offsets
//! before an anchor (the world's start unless the spec fixes it).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::messages::{Draft, store};
use super::model::{
    Account, Channel, Chat, Conv, DialogBox, Log, Peer, State, TwoFa, mix, normalize_phone,
    valid_username,
};
use super::srp;

/// A whole world, serialisable as JSON. Every field is optional:
///
/// ```json
/// {
///   "seed": 7,
///   "anchor_date": 1735689600,
///   "users": [
///     {"key": "ana", "first_name": "Ana", "phone": "+9996610001", "username": "ana_sim",
///      "password": "secret", "password_hint": "the usual", "home_dc": 1},
///     {"key": "ben", "first_name": "Ben", "last_name": "Ng"}
///   ],
///   "chats": [
///     {"key": "team", "kind": "group", "title": "Team", "creator": "ana", "members": ["ben"]},
///     {"key": "news", "kind": "channel", "title": "News", "username": "news_sim", "creator": "ben",
///      "members": ["ana"]}
///   ],
///   "messages": [
///     {"from": "ben", "to": "ana", "text": "Hi!", "ago_secs": 3600},
///     {"from": "ana", "to": "ben", "text": "Hello", "ago_secs": 3500, "reply_to": 0},
///     {"from": "ana", "chat": "team", "text": "Standup?", "ago_secs": 60, "edited_ago_secs": 30}
///   ],
///   "generate": {"accounts": 100, "chats_per_account": 10, "messages_per_chat": 20}
/// }
/// ```
///
/// Users with a `phone` are accounts; `ago_secs` counts back from
/// `anchor_date` (default: when the world is built); `reply_to` is an index
/// into `messages`; `generate` adds accounts `+999661NNNNN` with their own
/// contacts and chats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldSpec {
    /// Drives salts, access hashes and generated content.
    pub seed: u64,
    /// Unix time the scripted history is relative to; `None` = when the world starts.
    pub anchor_date: Option<i64>,
    pub users: Vec<UserSpec>,
    pub chats: Vec<ChatSpec>,
    pub messages: Vec<MessageSpec>,
    /// Generated accounts, each with its own contacts, chats and history.
    pub generate: Option<GenerateSpec>,
}

/// A user; with a `phone` it is an account that can log in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// How chats and messages refer to this user.
    pub key: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// 2FA cloud password (accounts only).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_hint: Option<String>,
    /// Defaults to DC 1.
    #[serde(default)]
    pub home_dc: Option<i32>,
    #[serde(default)]
    pub about: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// A basic group.
    Group,
    /// A megagroup (a channel whose members all write).
    Supergroup,
    /// A broadcast channel (only the creator posts).
    Channel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSpec {
    pub key: String,
    pub kind: ChatKind,
    pub title: String,
    #[serde(default)]
    pub username: Option<String>,
    /// User key; the creator is always a member.
    pub creator: String,
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// User key of the sender.
    pub from: String,
    /// User key of the recipient of a private message…
    #[serde(default)]
    pub to: Option<String>,
    /// …or chat key of a group or channel.
    #[serde(default)]
    pub chat: Option<String>,
    pub text: String,
    /// Seconds before the anchor.
    pub ago_secs: u32,
    /// Index (in `messages`) of an older message of the same chat this one answers.
    #[serde(default)]
    pub reply_to: Option<usize>,
    /// When set, the message shows as edited this many seconds before the anchor.
    #[serde(default)]
    pub edited_ago_secs: Option<u32>,
}

/// Generated accounts (`seeded`): phones `+999661NNNNN`, DC 1, no password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    pub accounts: usize,
    pub chats_per_account: usize,
    pub messages_per_chat: usize,
}

impl WorldSpec {
    /// No users at all: tests create what they need.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in demo world (see `demo.rs`).
    pub fn demo() -> Self {
        super::demo::spec()
    }

    /// A generated world for benchmarks: `accounts` accounts, each with
    /// `chats_per_account` chats of `messages_per_chat` messages.
    pub fn seeded(
        seed: u64,
        accounts: usize,
        chats_per_account: usize,
        messages_per_chat: usize,
    ) -> Self {
        Self {
            seed,
            anchor_date: Some(1_735_689_600),
            generate: Some(GenerateSpec {
                accounts,
                chats_per_account,
                messages_per_chat,
            }),
            ..Self::default()
        }
    }

    /// Parses and validates a spec from JSON.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let spec: Self = serde_json::from_str(json).map_err(|e| format!("world spec: {e}"))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks every reference and value; [`super::World::new`] skips (and logs)
    /// what this would reject.
    pub fn validate(&self) -> Result<(), String> {
        let mut users = HashMap::new();
        let mut phones = HashMap::new();
        for (i, u) in self.users.iter().enumerate() {
            if users.insert(u.key.as_str(), i).is_some() {
                return Err(format!("user key {:?} appears twice", u.key));
            }
            if u.first_name.trim().is_empty() {
                return Err(format!("user {:?} has no first_name", u.key));
            }
            if let Some(name) = &u.username
                && !valid_username(name)
            {
                return Err(format!("user {:?}: invalid username {name:?}", u.key));
            }
            if let Some(phone) = &u.phone {
                let p = normalize_phone(phone)
                    .ok_or_else(|| format!("user {:?}: invalid phone {phone:?}", u.key))?;
                if phones.insert(p, i).is_some() {
                    return Err(format!("phone {phone:?} appears twice"));
                }
            } else if u.password.is_some() {
                return Err(format!("user {:?} has a password but no phone", u.key));
            }
        }
        let mut chats = HashMap::new();
        for c in &self.chats {
            if chats.insert(c.key.as_str(), c.kind).is_some() {
                return Err(format!("chat key {:?} appears twice", c.key));
            }
            for m in std::iter::once(&c.creator).chain(&c.members) {
                if !users.contains_key(m.as_str()) {
                    return Err(format!("chat {:?}: unknown user {m:?}", c.key));
                }
            }
        }
        for (i, m) in self.messages.iter().enumerate() {
            if !users.contains_key(m.from.as_str()) {
                return Err(format!("message {i}: unknown sender {:?}", m.from));
            }
            match (&m.to, &m.chat) {
                (Some(to), None) if users.contains_key(to.as_str()) => {}
                (None, Some(chat)) if chats.contains_key(chat.as_str()) => {}
                _ => return Err(format!("message {i}: needs one known `to` or `chat`")),
            }
            if let Some(r) = m.reply_to {
                let same = self
                    .messages
                    .get(r)
                    .is_some_and(|o| o.chat == m.chat && (o.chat.is_some() || same_pair(o, m)));
                if !same || r == i {
                    return Err(format!("message {i}: reply_to {r} is not in the same chat"));
                }
            }
        }
        Ok(())
    }
}

fn same_pair(a: &MessageSpec, b: &MessageSpec) -> bool {
    let pa = (Some(&a.from), a.to.as_ref());
    (pa == (Some(&b.from), b.to.as_ref())) || (pa == (b.to.as_ref(), Some(&b.from)))
}

/// Salts for a user's cloud password: derived from the seed, so every build
/// of the same spec reuses the memoised verifier.
pub(crate) fn salts(seed: u64, user: i64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = super::model::SeedRng::new(seed ^ mix(user as u64));
    (rng.bytes(40), rng.bytes(16))
}

pub(crate) fn two_fa(seed: u64, user: i64, password: &str, hint: Option<String>) -> TwoFa {
    let (salt1, salt2) = salts(seed, user);
    let verifier = srp::verifier(password, &salt1, &salt2);
    TwoFa {
        hint,
        salt1,
        salt2,
        verifier,
        srp: None,
    }
}

/// Adds a user; returns its id. Invalid or taken phones and usernames are dropped with a warning.
pub(crate) fn add_user(st: &mut State, u: &UserSpec) -> i64 {
    let id = st.alloc_user_id();
    let phone = u.phone.as_deref().and_then(|p| {
        let norm = normalize_phone(p).filter(|n| !st.phones.contains_key(n));
        if norm.is_none() {
            warn!(phone = p, "world spec: invalid or duplicate phone dropped");
        }
        norm
    });
    let username = u.username.clone().filter(|n| {
        let ok = valid_username(n) && !st.usernames.contains_key(&n.to_ascii_lowercase());
        if !ok {
            warn!(
                username = n,
                "world spec: invalid or duplicate username dropped"
            );
        }
        ok
    });
    let account = phone.as_ref().map(|_| {
        let home = u.home_dc.unwrap_or(1);
        let home_dc = if (1..=st.dc_count).contains(&home) {
            home
        } else {
            warn!(home, "world spec: home_dc out of range, using DC 1");
            1
        };
        Account {
            home_dc,
            password: u
                .password
                .as_deref()
                .map(|pw| two_fa(st.seed, id, pw, u.password_hint.clone())),
        }
    });
    if let Some(p) = &phone {
        st.phones.insert(p.clone(), id);
    }
    if let Some(n) = &username {
        st.usernames.insert(n.to_ascii_lowercase(), Peer::User(id));
    }
    st.users.insert(
        id,
        super::model::User {
            id,
            first_name: u.first_name.clone().into(),
            last_name: u.last_name.clone().map(Into::into),
            username,
            phone,
            about: u.about.clone().map(Into::into),
            account,
        },
    );
    id
}

/// Creates a group or channel with these members; returns its peer.
pub(crate) fn add_chat(
    st: &mut State,
    kind: ChatKind,
    title: super::model::Str,
    username: Option<String>,
    creator: i64,
    members: &[i64],
    date: i32,
) -> Peer {
    let mut all = vec![creator];
    for m in members {
        if !all.contains(m) {
            all.push(*m);
        }
    }
    let peer = if kind == ChatKind::Group {
        let id = st.next_chat_id;
        st.next_chat_id += 1;
        st.chats.insert(
            id,
            Chat {
                id,
                title,
                creator,
                members: all.clone(),
                date,
            },
        );
        Peer::Chat(id)
    } else {
        let id = st.next_channel_id;
        st.next_channel_id += 1;
        st.channels.insert(
            id,
            Channel {
                id,
                title,
                username: None,
                broadcast: kind == ChatKind::Channel,
                creator,
                members: all.iter().copied().collect(),
                date,
                pts: 1,
                ids: Vec::new(),
                slots: Vec::new(),
                log: Log::default(),
                last_event_date: date,
            },
        );
        Peer::Channel(id)
    };
    if let (Peer::Channel(id), Some(name)) = (peer, username) {
        let lower = name.to_ascii_lowercase();
        if valid_username(&name) && !st.usernames.contains_key(&lower) {
            st.usernames.insert(lower, peer);
            if let Some(ch) = st.channels.get_mut(&id) {
                ch.username = Some(name);
            }
        } else {
            warn!(
                username = name,
                "world spec: invalid or duplicate username dropped"
            );
        }
    }
    for m in all {
        let mb = st.mailbox(m);
        match peer {
            Peer::Channel(id) => {
                mb.channels.entry(id).or_default();
            }
            _ => {
                mb.dialogs.entry(peer).or_insert_with(|| DialogBox {
                    created: date,
                    ..DialogBox::default()
                });
            }
        }
    }
    peer
}

/// Builds the world a spec describes.
pub(crate) fn build(spec: &WorldSpec, dc_count: i32) -> State {
    let mut st = State::new(spec.seed, dc_count);
    let anchor = spec
        .anchor_date
        .map_or_else(|| st.now(), |a| a.clamp(0, i64::from(i32::MAX)) as i32);
    let mut users: HashMap<&str, i64> = HashMap::new();
    for u in &spec.users {
        if users.contains_key(u.key.as_str()) {
            warn!(key = u.key, "world spec: duplicate user key skipped");
            continue;
        }
        let id = add_user(&mut st, u);
        users.insert(&u.key, id);
    }
    let oldest = spec.messages.iter().map(|m| m.ago_secs).max().unwrap_or(0);
    let chat_date = anchor
        .saturating_sub(i32::try_from(oldest).unwrap_or(i32::MAX))
        .saturating_sub(86_400);
    let mut chats: HashMap<&str, Peer> = HashMap::new();
    for c in &spec.chats {
        let Some(&creator) = users.get(c.creator.as_str()) else {
            warn!(
                chat = c.key,
                "world spec: chat with unknown creator skipped"
            );
            continue;
        };
        let members: Vec<i64> = c
            .members
            .iter()
            .filter_map(|m| users.get(m.as_str()).copied())
            .collect();
        let peer = add_chat(
            &mut st,
            c.kind,
            c.title.clone().into(),
            c.username.clone(),
            creator,
            &members,
            chat_date,
        );
        chats.insert(&c.key, peer);
    }
    // Oldest first, so ids grow with dates as they do on Telegram.
    let mut order: Vec<usize> = (0..spec.messages.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(spec.messages[i].ago_secs));
    let mut lids = HashMap::new();
    for i in order {
        let m = &spec.messages[i];
        let Some(&from) = users.get(m.from.as_str()) else {
            continue;
        };
        let conv = match (&m.to, &m.chat) {
            (Some(to), None) => users.get(to.as_str()).map(|&to| Conv::Private(from, to)),
            (None, Some(chat)) => chats.get(chat.as_str()).and_then(|p| match p {
                Peer::Chat(id) if st.can_see(from, *p) => Some(Conv::Chat(*id)),
                Peer::Channel(id) if st.can_see(from, *p) => Some(Conv::Channel(*id)),
                _ => None,
            }),
            _ => None,
        };
        let Some(conv) = conv else {
            warn!(
                index = i,
                "world spec: message with an unknown chat skipped"
            );
            continue;
        };
        let date = anchor.saturating_sub(i32::try_from(m.ago_secs).unwrap_or(i32::MAX));
        let reply_to =
            m.reply_to
                .and_then(|r| lids.get(&r).copied())
                .filter(|r: &super::model::Lid| {
                    st.msg(*r)
                        .is_some_and(|o| o.conv.peer_for(from) == conv.peer_for(from))
                });
        let lid = store(
            &mut st,
            Draft {
                conv,
                from,
                text: m.text.clone().into(),
                reply_to,
                entities: None,
                date,
            },
        );
        if let (Some(edited), Some(msg)) = (m.edited_ago_secs, st.msgs.get_mut(lid as usize)) {
            let edit = anchor.saturating_sub(i32::try_from(edited).unwrap_or(i32::MAX));
            msg.edit_date = Some(edit.max(date));
        }
        lids.insert(i, lid);
    }
    if let Some(g) = spec.generate {
        super::generate::run(&mut st, g, anchor);
    }
    settle(&mut st);
    st
}

/// After building history: pts start after it (nothing before is replayable),
/// peers have read everything sent to them, and a few incoming messages per
/// dialog stay unread.
fn settle(st: &mut State) {
    let seed = st.seed;
    let mut unread_plan: Vec<(i64, Peer, i32)> = Vec::new();
    for (&owner, mb) in &st.boxes {
        for (&peer, d) in &mb.dialogs {
            let keep_unread = (mix(seed ^ mix(owner as u64) ^ mix(peer_hash(peer))) % 4) as usize;
            unread_plan.push((owner, peer, mark_for(st, owner, &d.ids, owner, keep_unread)));
        }
        for &channel in mb.channels.keys() {
            let keep_unread = (mix(seed ^ mix(owner as u64) ^ mix(channel as u64)) % 6) as usize;
            let ids = st
                .channels
                .get(&channel)
                .map(|c| c.ids.as_slice())
                .unwrap_or(&[]);
            unread_plan.push((
                owner,
                Peer::Channel(channel),
                mark_for(st, owner, ids, channel, keep_unread),
            ));
        }
    }
    for (owner, peer, inbox) in unread_plan {
        let last_date = st.boxes.get(&owner).map_or(0, |mb| {
            mb.slots
                .iter()
                .rev()
                .find_map(|l| st.msg(*l))
                .map_or(0, |m| m.date)
        });
        let top = match peer {
            Peer::Channel(id) => st.channels.get(&id).and_then(|c| c.ids.last().copied()),
            _ => st
                .boxes
                .get(&owner)
                .and_then(|b| b.dialogs.get(&peer))
                .and_then(|d| d.ids.last().copied()),
        }
        .unwrap_or(0);
        let mb = st.mailbox(owner);
        mb.date = mb.date.max(last_date);
        let marks = match peer {
            Peer::Channel(id) => mb.channels.entry(id).or_default(),
            _ => &mut mb.dialogs.entry(peer).or_default().marks,
        };
        marks.inbox = inbox;
        marks.outbox = top;
    }
    for mb in st.boxes.values_mut() {
        mb.pts = 1 + i32::try_from(mb.slots.len()).unwrap_or(i32::MAX - 1);
        mb.log.base_pts = mb.pts;
    }
    for ch in st.channels.values_mut() {
        ch.pts = 1 + i32::try_from(ch.slots.len()).unwrap_or(i32::MAX - 1);
        ch.log.base_pts = ch.pts;
    }
    let last_dates: Vec<(i64, i32)> = st
        .channels
        .values()
        .map(|c| {
            let date = c
                .ids
                .last()
                .and_then(|id| st.lid_of(c.id, *id))
                .and_then(|l| st.msg(l))
                .map_or(c.date, |m| m.date);
            (c.id, date)
        })
        .collect();
    for (id, date) in last_dates {
        if let Some(ch) = st.channels.get_mut(&id) {
            ch.last_event_date = date;
        }
    }
}

fn peer_hash(peer: Peer) -> u64 {
    match peer {
        Peer::User(id) => id as u64,
        Peer::Chat(id) => (id as u64) ^ (1 << 62),
        Peer::Channel(id) => (id as u64) ^ (1 << 63),
    }
}

/// The read mark that leaves the newest `keep_unread` incoming messages unread.
fn mark_for(st: &State, viewer: i64, ids: &[i32], owner: i64, keep_unread: usize) -> i32 {
    let mut incoming = 0;
    for id in ids.iter().rev() {
        let from = st
            .lid_of(owner, *id)
            .and_then(|l| st.msg(l))
            .map(|m| m.from);
        if from != Some(viewer) {
            if incoming == keep_unread {
                return *id;
            }
            incoming += 1;
        }
    }
    0
}
