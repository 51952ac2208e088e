//! Writing messages: one code path stores a message in every box (or the
//! channel) it belongs to, appends the `pts` events and pushes the updates
//! Telegram would push. Used by messages.sendMessage and the control API
//! (post, edit, delete) alike.

use std::collections::BTreeMap;

use grammers_tl_types as tl;
use serde::{Deserialize, Serialize};

use super::model::{ChannelEventKind, Conv, DialogBox, EventKind, Lid, Msg, Peer, State, Str};
use super::tl_build::{self, Refs};
use super::updates::{record, record_channel};

/// Telegram's limit on a text message.
pub(crate) const MAX_TEXT: usize = 4096;

/// A message posted through the control API, e.g. "another user writes to the account".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    pub from_user_id: i64,
    /// The recipient of a private message…
    #[serde(default)]
    pub to_user_id: Option<i64>,
    /// …or the basic group or channel to post in.
    #[serde(default)]
    pub chat_id: Option<i64>,
    pub text: String,
    /// Id (in the sender's numbering) of the message this one replies to.
    #[serde(default)]
    pub reply_to: Option<i32>,
}

/// An edit by the message's author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditMessage {
    /// The author.
    pub user_id: i64,
    #[serde(default)]
    pub to_user_id: Option<i64>,
    #[serde(default)]
    pub chat_id: Option<i64>,
    /// In the author's numbering.
    pub message_id: i32,
    pub text: String,
}

/// A deletion, for everyone (`revoke`, the default) or only for `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMessages {
    pub user_id: i64,
    #[serde(default)]
    pub to_user_id: Option<i64>,
    #[serde(default)]
    pub chat_id: Option<i64>,
    /// In `user_id`'s numbering.
    pub message_ids: Vec<i32>,
    #[serde(default = "revoke_default")]
    pub revoke: bool,
}

fn revoke_default() -> bool {
    true
}

/// A message about to be stored.
pub(crate) struct Draft {
    pub conv: Conv,
    pub from: i64,
    pub text: Str,
    pub reply_to: Option<Lid>,
    pub entities: Option<Box<[tl::enums::MessageEntity]>>,
    pub date: i32,
}

/// Who gets a message: the boxes of a private chat or group, or a channel.
pub(crate) fn owners(st: &State, conv: Conv) -> Vec<i64> {
    match conv {
        Conv::Private(a, b) if a == b => vec![a],
        Conv::Private(a, b) => vec![a, b],
        Conv::Chat(id) => st
            .chats
            .get(&id)
            .map(|c| c.members.clone())
            .unwrap_or_default(),
        Conv::Channel(id) => vec![id],
    }
}

/// Stores a message without events or pushes (building a world's history).
pub(crate) fn store(st: &mut State, d: Draft) -> Lid {
    let lid = Lid::try_from(st.msgs.len()).unwrap_or(super::model::GONE - 1);
    let mut copies = Vec::new();
    for owner in owners(st, d.conv) {
        if let Conv::Channel(id) = d.conv {
            let Some(ch) = st.channels.get_mut(&id) else {
                continue;
            };
            ch.slots.push(lid);
            let local = i32::try_from(ch.slots.len()).unwrap_or(i32::MAX);
            ch.ids.push(local);
            copies.push((owner, local));
        } else {
            let peer = d.conv.peer_for(owner);
            let mb = st.mailbox(owner);
            mb.slots.push(lid);
            let local = i32::try_from(mb.slots.len()).unwrap_or(i32::MAX);
            mb.dialogs
                .entry(peer)
                .or_insert_with(|| DialogBox {
                    created: d.date,
                    ..DialogBox::default()
                })
                .ids
                .push(local);
            copies.push((owner, local));
        }
    }
    st.msgs.push(Msg {
        conv: d.conv,
        from: d.from,
        date: d.date,
        text: d.text,
        reply_to: d.reply_to,
        edit_date: None,
        entities: d.entities,
        copies: copies.into_boxed_slice(),
    });
    lid
}

fn updates_of(
    st: &State,
    viewer: i64,
    update: tl::enums::Update,
    refs: &Refs,
    date: i32,
) -> tl::enums::Updates {
    tl::types::Updates {
        updates: vec![update],
        users: refs.users(st, viewer),
        chats: refs.chats(st, viewer),
        date,
        seq: 0,
    }
    .into()
}

/// Stores a new message, records it in every box's (or the channel's) update
/// sequence and pushes it live. `skip` is the sender's own key, which gets the
/// RPC result instead of a push. Returns the message and the pts per owner.
pub(crate) fn deliver(st: &mut State, d: Draft, skip: Option<i64>) -> (Lid, Vec<(i64, i32)>) {
    let (conv, from, date) = (d.conv, d.from, d.date);
    let lid = store(st, d);
    let copies: Vec<(i64, i32)> = st.msg(lid).map(|m| m.copies.to_vec()).unwrap_or_default();
    let mut pts_by_owner = Vec::with_capacity(copies.len());
    if let Conv::Channel(channel_id) = conv {
        let Some(&(_, local)) = copies.first() else {
            return (lid, pts_by_owner);
        };
        let pts = record_channel(st, channel_id, 1, date, ChannelEventKind::New(local));
        pts_by_owner.push((channel_id, pts));
        let members: Vec<i64> = st
            .channels
            .get(&channel_id)
            .map(|c| c.members.iter().copied().collect())
            .unwrap_or_default();
        let mut refs = Refs::default();
        refs.msg(st, from, lid);
        for member in members {
            if st.auth.push_keys(member, st.home_dc(member)).is_empty() {
                continue;
            }
            let Some(message) = tl_build::message(st, member, lid, local) else {
                continue;
            };
            let update = tl::types::UpdateNewChannelMessage {
                message,
                pts,
                pts_count: 1,
            }
            .into();
            let updates = updates_of(st, member, update, &refs, date);
            st.push_to_user(member, skip.filter(|_| member == from), &updates);
        }
        return (lid, pts_by_owner);
    }
    for (owner, local) in copies {
        let pts = record(st, owner, 1, date, EventKind::New(local));
        pts_by_owner.push((owner, pts));
        if st.auth.push_keys(owner, st.home_dc(owner)).is_empty() {
            continue;
        }
        let Some(m) = st.msg(lid) else { continue };
        let reply_to = tl_build::reply_header(st, m.reply_to, owner);
        let entities = m.entities.as_ref().map(|e| e.to_vec());
        let updates: tl::enums::Updates = match conv {
            Conv::Chat(chat_id) => tl::types::UpdateShortChatMessage {
                out: owner == from,
                mentioned: false,
                media_unread: false,
                silent: false,
                id: local,
                from_id: from,
                chat_id,
                message: m.text.to_string(),
                pts,
                pts_count: 1,
                date,
                fwd_from: None,
                via_bot_id: None,
                reply_to,
                entities,
                ttl_period: None,
            }
            .into(),
            _ => {
                let Peer::User(user_id) = conv.peer_for(owner) else {
                    continue;
                };
                tl::types::UpdateShortMessage {
                    out: owner == from,
                    mentioned: false,
                    media_unread: false,
                    silent: false,
                    id: local,
                    user_id,
                    message: m.text.to_string(),
                    pts,
                    pts_count: 1,
                    date,
                    fwd_from: None,
                    via_bot_id: None,
                    reply_to,
                    entities,
                    ttl_period: None,
                }
                .into()
            }
        };
        st.push_to_user(owner, skip.filter(|_| owner == from), &updates);
    }
    (lid, pts_by_owner)
}

/// Where a control operation acts: a private chat with `to_user_id`, or a group or channel.
fn control_conv(st: &State, user: i64, to: Option<i64>, chat: Option<i64>) -> Result<Conv, String> {
    if !st.users.contains_key(&user) {
        return Err(format!("no user {user}"));
    }
    match (to, chat) {
        (Some(to), None) if st.users.contains_key(&to) => Ok(Conv::Private(user, to)),
        (Some(to), None) => Err(format!("no user {to}")),
        (None, Some(id)) if st.chats.contains_key(&id) => {
            if st.can_see(user, Peer::Chat(id)) {
                Ok(Conv::Chat(id))
            } else {
                Err(format!("user {user} is not a member of chat {id}"))
            }
        }
        (None, Some(id)) if st.channels.contains_key(&id) => {
            if st.can_see(user, Peer::Channel(id)) {
                Ok(Conv::Channel(id))
            } else {
                Err(format!("user {user} is not a member of channel {id}"))
            }
        }
        (None, Some(id)) => Err(format!("no chat or channel {id}")),
        _ => Err("give exactly one of to_user_id and chat_id".into()),
    }
}

fn owner_of(conv: Conv, user: i64) -> i64 {
    match conv {
        Conv::Channel(id) => id,
        _ => user,
    }
}

/// The message `id` (in `user`'s numbering) of a conversation.
fn find(st: &State, conv: Conv, user: i64, id: i32) -> Option<Lid> {
    let lid = st.lid_of(owner_of(conv, user), id)?;
    let m = st.msg(lid)?;
    let same = match (m.conv, conv) {
        (Conv::Private(a, b), Conv::Private(c, d)) => (a == c && b == d) || (a == d && b == c),
        (x, y) => x == y,
    };
    same.then_some(lid)
}

pub(crate) fn check_text(text: &str) -> Result<(), &'static str> {
    if text.trim().is_empty() {
        Err("MESSAGE_EMPTY")
    } else if text.chars().count() > MAX_TEXT {
        Err("MESSAGE_TOO_LONG")
    } else {
        Ok(())
    }
}

pub(crate) fn post(st: &mut State, m: NewMessage) -> Result<i32, String> {
    let conv = control_conv(st, m.from_user_id, m.to_user_id, m.chat_id)?;
    if let Conv::Channel(id) = conv
        && st
            .channels
            .get(&id)
            .is_some_and(|c| c.broadcast && c.creator != m.from_user_id)
    {
        return Err(format!("only the creator may post in channel {id}"));
    }
    check_text(&m.text).map_err(str::to_owned)?;
    let reply_to = match m.reply_to {
        Some(id) => Some(
            find(st, conv, m.from_user_id, id)
                .ok_or_else(|| format!("no message {id} to reply to"))?,
        ),
        None => None,
    };
    let date = st.now();
    let draft = Draft {
        conv,
        from: m.from_user_id,
        text: m.text.into(),
        reply_to,
        entities: None,
        date,
    };
    let (lid, _) = deliver(st, draft, None);
    st.msg(lid)
        .and_then(|msg| msg.local_id(owner_of(conv, m.from_user_id)))
        .ok_or_else(|| "the message was not stored".to_owned())
}

pub(crate) fn edit(st: &mut State, e: EditMessage) -> Result<(), String> {
    let conv = control_conv(st, e.user_id, e.to_user_id, e.chat_id)?;
    check_text(&e.text).map_err(str::to_owned)?;
    let lid = find(st, conv, e.user_id, e.message_id)
        .ok_or_else(|| format!("no message {} in that chat", e.message_id))?;
    let now = st.now();
    let copies = {
        let m = st
            .msgs
            .get_mut(lid as usize)
            .ok_or_else(|| "no such message".to_owned())?;
        if m.from != e.user_id {
            return Err("only the author can edit a message".into());
        }
        m.text = e.text.into();
        m.edit_date = Some(now);
        m.copies.to_vec()
    };
    let mut refs = Refs::default();
    refs.msg(st, e.user_id, lid);
    if let Conv::Channel(channel_id) = conv {
        let local = copies.first().map_or(0, |c| c.1);
        let pts = record_channel(st, channel_id, 1, now, ChannelEventKind::Edit(local));
        let members: Vec<i64> = st
            .channels
            .get(&channel_id)
            .map(|c| c.members.iter().copied().collect())
            .unwrap_or_default();
        for member in members {
            if let Some(message) = tl_build::message(st, member, lid, local) {
                let update = tl::types::UpdateEditChannelMessage {
                    message,
                    pts,
                    pts_count: 1,
                }
                .into();
                let updates = updates_of(st, member, update, &refs, now);
                st.push_to_user(member, None, &updates);
            }
        }
        return Ok(());
    }
    for (owner, local) in copies {
        let pts = record(st, owner, 1, now, EventKind::Edit(local));
        let mut refs = Refs::default();
        refs.msg(st, owner, lid);
        if let Some(message) = tl_build::message(st, owner, lid, local) {
            let update = tl::types::UpdateEditMessage {
                message,
                pts,
                pts_count: 1,
            }
            .into();
            let updates = updates_of(st, owner, update, &refs, now);
            st.push_to_user(owner, None, &updates);
        }
    }
    Ok(())
}

/// Removes messages (by logical id) for everyone, or only from `only_for`'s
/// box; records and pushes the deletions. `skip` is the caller's key.
/// Returns the pts each owner ended at and how many ids it lost.
pub(crate) fn remove(
    st: &mut State,
    lids: &[Lid],
    only_for: Option<i64>,
    skip: Option<(i64, i64)>,
) -> BTreeMap<i64, (i32, i32)> {
    let now = st.now();
    let mut per_owner: BTreeMap<i64, Vec<i32>> = BTreeMap::new();
    for &lid in lids {
        let Some(m) = st.msgs.get_mut(lid as usize) else {
            continue;
        };
        type Copies = Vec<(i64, i32)>;
        let (gone, kept): (Copies, Copies) = m
            .copies
            .iter()
            .partition(|(o, _)| only_for.is_none_or(|u| *o == u));
        m.copies = kept.into_boxed_slice();
        for (owner, local) in gone {
            per_owner.entry(owner).or_default().push(local);
        }
    }
    let mut result = BTreeMap::new();
    for (owner, mut locals) in per_owner {
        locals.sort_unstable();
        let count = i32::try_from(locals.len()).unwrap_or(i32::MAX);
        let skip_key = skip.filter(|(u, _)| *u == owner).map(|(_, k)| k);
        let update: tl::enums::Update = if let Some(ch) = st.channels.get_mut(&owner) {
            for &local in &locals {
                if let Some(slot) = usize::try_from(local - 1)
                    .ok()
                    .and_then(|i| ch.slots.get_mut(i))
                {
                    *slot = super::model::GONE;
                }
            }
            ch.ids.retain(|id| locals.binary_search(id).is_err());
            let pts = record_channel(
                st,
                owner,
                count,
                now,
                ChannelEventKind::Delete(locals.clone()),
            );
            result.insert(owner, (pts, count));
            tl::types::UpdateDeleteChannelMessages {
                channel_id: owner,
                messages: locals,
                pts,
                pts_count: count,
            }
            .into()
        } else {
            let mb = st.mailbox(owner);
            for &local in &locals {
                if let Some(slot) = usize::try_from(local - 1)
                    .ok()
                    .and_then(|i| mb.slots.get_mut(i))
                {
                    *slot = super::model::GONE;
                }
            }
            for d in mb.dialogs.values_mut() {
                d.ids.retain(|id| locals.binary_search(id).is_err());
            }
            let pts = record(st, owner, count, now, EventKind::Delete(locals.clone()));
            result.insert(owner, (pts, count));
            tl::types::UpdateDeleteMessages {
                messages: locals,
                pts,
                pts_count: count,
            }
            .into()
        };
        let updates: tl::enums::Updates = tl::types::UpdateShort { update, date: now }.into();
        if st.channels.contains_key(&owner) {
            let members: Vec<i64> = st
                .channels
                .get(&owner)
                .map(|c| c.members.iter().copied().collect())
                .unwrap_or_default();
            for member in members {
                let skip_key = skip.filter(|(u, _)| *u == member).map(|(_, k)| k);
                st.push_to_user(member, skip_key, &updates);
            }
        } else {
            st.push_to_user(owner, skip_key, &updates);
        }
    }
    result
}

pub(crate) fn delete(st: &mut State, d: DeleteMessages) -> Result<(), String> {
    let conv = control_conv(st, d.user_id, d.to_user_id, d.chat_id)?;
    let mut lids = Vec::with_capacity(d.message_ids.len());
    for id in &d.message_ids {
        let lid = find(st, conv, d.user_id, *id)
            .ok_or_else(|| format!("no message {id} in that chat"))?;
        lids.push(lid);
    }
    let only_for = match conv {
        Conv::Channel(_) => None,
        _ if d.revoke => None,
        _ => Some(d.user_id),
    };
    remove(st, &lids, only_for, None);
    Ok(())
}

/// A reply header target from a request, if it names a message of the same chat.
pub(crate) fn reply_target(
    st: &State,
    conv: Conv,
    user: i64,
    reply: Option<&tl::enums::InputReplyTo>,
) -> Option<Lid> {
    match reply? {
        tl::enums::InputReplyTo::Message(m) => find(st, conv, user, m.reply_to_msg_id),
        _ => None,
    }
}

/// Entities as stored: input mention-names become `messageEntityMentionName`.
pub(crate) fn entities(
    st: &State,
    user: i64,
    entities: Option<Vec<tl::enums::MessageEntity>>,
) -> Option<Box<[tl::enums::MessageEntity]>> {
    let out: Vec<tl::enums::MessageEntity> = entities?
        .into_iter()
        .filter_map(|e| match e {
            tl::enums::MessageEntity::InputMessageEntityMentionName(m) => {
                let user_id = super::users::input_user(st, user, &m.user_id).ok()?;
                Some(
                    tl::types::MessageEntityMentionName {
                        offset: m.offset,
                        length: m.length,
                        user_id,
                    }
                    .into(),
                )
            }
            other => Some(other),
        })
        .take(100)
        .collect();
    (!out.is_empty()).then(|| out.into_boxed_slice())
}
