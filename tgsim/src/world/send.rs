//! The client-side writes: messages.sendMessage, messages.readHistory,
//! channels.readHistory, messages.deleteMessages and channels.deleteMessages,
//! answered with the shapes Telegram answers them with
//! (`updateShortSentMessage`, `updates`, `messages.affectedMessages`).

use std::collections::BTreeMap;

use grammers_tl_types as tl;

use super::auth::me;
use super::dialogs;
use super::history::check_visible;
use super::messages::{Draft, check_text, deliver, entities, remove, reply_target};
use super::model::{Conv, EventKind, Lid, Peer, State};
use super::tl_build::{self, Refs};
use super::updates::record;
use super::users::{input_channel, input_peer};
use crate::rpc::{Call, Reply, RpcErr};

fn affected(pts: i32, pts_count: i32) -> Reply {
    let a: tl::enums::messages::AffectedMessages =
        tl::types::messages::AffectedMessages { pts, pts_count }.into();
    Ok(tl_build::serialize(&a))
}

/// The reply to a sendMessage that created (or, for a retry, had created) `lid`.
fn sent_reply(st: &State, user: i64, lid: Lid, random_id: i64, pts: i32, pts_count: i32) -> Reply {
    let m = st.msg(lid).ok_or_else(|| RpcErr::new(500, "INTERNAL"))?;
    let (conv, date) = (m.conv, m.date);
    let owner = match conv {
        Conv::Channel(id) => id,
        _ => user,
    };
    let local = m
        .local_id(owner)
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
    let updates: tl::enums::Updates = match conv {
        Conv::Private(..) => tl::types::UpdateShortSentMessage {
            out: true,
            id: local,
            pts,
            pts_count,
            date,
            media: None,
            entities: None,
            ttl_period: None,
        }
        .into(),
        _ => {
            let message = tl_build::message(st, user, lid, local)
                .ok_or_else(|| RpcErr::new(500, "INTERNAL"))?;
            let mut refs = Refs::default();
            refs.msg(st, user, lid);
            let new: tl::enums::Update = match conv {
                Conv::Channel(_) => tl::types::UpdateNewChannelMessage {
                    message,
                    pts,
                    pts_count,
                }
                .into(),
                _ => tl::types::UpdateNewMessage {
                    message,
                    pts,
                    pts_count,
                }
                .into(),
            };
            tl::types::Updates {
                updates: vec![
                    tl::types::UpdateMessageId {
                        id: local,
                        random_id,
                    }
                    .into(),
                    new,
                ],
                users: refs.users(st, user),
                chats: refs.chats(st, user),
                date,
                seq: 0,
            }
            .into()
        }
    };
    Ok(tl_build::serialize(&updates))
}

pub(crate) fn send_message(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::messages::SendMessage,
) -> Reply {
    let user = me(st, call)?;
    let peer = input_peer(st, user, &req.peer)?;
    check_visible(st, user, peer)?;
    if req.schedule_date.is_some() || req.schedule_repeat_period.is_some() {
        return Err(RpcErr::bad_request("SCHEDULED_MESSAGES_NOT_SIMULATED"));
    }
    check_text(&req.message).map_err(RpcErr::bad_request)?;
    let conv = match peer {
        Peer::User(other) => Conv::Private(user, other),
        Peer::Chat(id) => Conv::Chat(id),
        Peer::Channel(id) => {
            if st
                .channels
                .get(&id)
                .is_some_and(|c| c.broadcast && c.creator != user)
            {
                return Err(RpcErr::new(403, "CHAT_WRITE_FORBIDDEN"));
            }
            Conv::Channel(id)
        }
    };
    if let Some(&lid) = st.random_ids.get(&(user, req.random_id)) {
        // A retry of a message already sent: answer again, create nothing.
        let pts = match conv {
            Conv::Channel(id) => st.channels.get(&id).map_or(0, |c| c.pts),
            _ => st.mailbox(user).pts,
        };
        return sent_reply(st, user, lid, req.random_id, pts, 0);
    }
    let draft = Draft {
        conv,
        from: user,
        reply_to: reply_target(st, conv, user, req.reply_to.as_ref()),
        entities: entities(st, user, req.entities),
        text: req.message.into(),
        date: st.now(),
    };
    let (lid, pts_by_owner) = deliver(st, draft, Some(call.auth_key_id));
    st.random_ids.insert((user, req.random_id), lid);
    let owner = match conv {
        Conv::Channel(id) => id,
        _ => user,
    };
    let pts = pts_by_owner
        .iter()
        .find(|(o, _)| *o == owner)
        .map_or(0, |(_, p)| *p);
    sent_reply(st, user, lid, req.random_id, pts, 1)
}

pub(crate) fn read_history(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::messages::ReadHistory,
) -> Reply {
    let user = me(st, call)?;
    let peer = input_peer(st, user, &req.peer)?;
    if matches!(peer, Peer::Channel(_)) {
        return Err(RpcErr::bad_request("PEER_ID_INVALID"));
    }
    check_visible(st, user, peer)?;
    let (ids, _) = st.timeline(user, peer);
    let top = ids.last().copied().unwrap_or(0);
    let max_id = if req.max_id <= 0 || req.max_id > top {
        top
    } else {
        req.max_id
    };
    let old = st
        .boxes
        .get(&user)
        .and_then(|b| b.dialogs.get(&peer))
        .map_or(0, |d| d.marks.inbox);
    if max_id <= old {
        let pts = st.mailbox(user).pts;
        return affected(pts, 0);
    }
    // Which senders now see their messages read, and up to which of their ids.
    let mut outbox: BTreeMap<i64, i32> = BTreeMap::new();
    let (ids, _) = st.timeline(user, peer);
    let start = ids.partition_point(|id| *id <= old);
    for id in ids[start..].iter().take_while(|id| **id <= max_id) {
        let Some(m) = st.lid_of(user, *id).and_then(|lid| st.msg(lid)) else {
            continue;
        };
        if m.from == user {
            continue;
        }
        if let Some(theirs) = m.local_id(m.from) {
            let e = outbox.entry(m.from).or_insert(0);
            *e = (*e).max(theirs);
        }
    }
    if let Some(d) = st.mailbox(user).dialogs.get_mut(&peer) {
        d.marks.inbox = max_id;
    }
    let date = st.now();
    let pts = record(st, user, 1, date, EventKind::ReadInbox(peer, max_id));
    let still_unread_count = dialogs::unread(st, user, peer);
    let update: tl::enums::Updates = tl::types::UpdateShort {
        update: tl::types::UpdateReadHistoryInbox {
            folder_id: None,
            peer: peer.to_tl(),
            top_msg_id: None,
            max_id,
            still_unread_count,
            pts,
            pts_count: 1,
        }
        .into(),
        date,
    }
    .into();
    st.push_to_user(user, Some(call.auth_key_id), &update);

    for (sender, their_max) in outbox {
        let their_peer = match peer {
            Peer::User(_) => Peer::User(user),
            other => other,
        };
        let advanced = st
            .mailbox(sender)
            .dialogs
            .get_mut(&their_peer)
            .filter(|d| d.marks.outbox < their_max)
            .map(|d| d.marks.outbox = their_max)
            .is_some();
        if !advanced {
            continue;
        }
        let pts = record(
            st,
            sender,
            1,
            date,
            EventKind::ReadOutbox(their_peer, their_max),
        );
        let update: tl::enums::Updates = tl::types::UpdateShort {
            update: tl::types::UpdateReadHistoryOutbox {
                peer: their_peer.to_tl(),
                max_id: their_max,
                pts,
                pts_count: 1,
            }
            .into(),
            date,
        }
        .into();
        st.push_to_user(sender, None, &update);
    }
    affected(pts, 1)
}

pub(crate) fn read_channel_history(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::channels::ReadHistory,
) -> Reply {
    let user = me(st, call)?;
    let channel_id = input_channel(st, user, &req.channel)?;
    check_visible(st, user, Peer::Channel(channel_id))?;
    let (top, pts, broadcast) = st.channels.get(&channel_id).map_or((0, 0, true), |c| {
        (c.ids.last().copied().unwrap_or(0), c.pts, c.broadcast)
    });
    let max_id = if req.max_id <= 0 || req.max_id > top {
        top
    } else {
        req.max_id
    };
    let marks = st.mailbox(user).channels.entry(channel_id).or_default();
    if max_id <= marks.inbox {
        return Ok(tl_build::serialize(&true));
    }
    let old = marks.inbox;
    marks.inbox = max_id;
    let date = st.now();
    let still_unread_count = dialogs::unread(st, user, Peer::Channel(channel_id));
    let update: tl::enums::Updates = tl::types::UpdateShort {
        update: tl::types::UpdateReadChannelInbox {
            folder_id: None,
            channel_id,
            max_id,
            still_unread_count,
            pts,
        }
        .into(),
        date,
    }
    .into();
    st.push_to_user(user, Some(call.auth_key_id), &update);
    if !broadcast {
        // Authors of the messages just read see them read.
        let mut authors: Vec<i64> = st.channels.get(&channel_id).map_or_else(Vec::new, |c| {
            let start = c.ids.partition_point(|id| *id <= old);
            c.ids[start..]
                .iter()
                .take_while(|id| **id <= max_id)
                .filter_map(|id| st.lid_of(channel_id, *id))
                .filter_map(|lid| st.msg(lid))
                .map(|m| m.from)
                .filter(|from| *from != user)
                .collect()
        });
        authors.sort_unstable();
        authors.dedup();
        for author in authors {
            let marks = st.mailbox(author).channels.entry(channel_id).or_default();
            if marks.outbox >= max_id {
                continue;
            }
            marks.outbox = max_id;
            let update: tl::enums::Updates = tl::types::UpdateShort {
                update: tl::types::UpdateReadChannelOutbox { channel_id, max_id }.into(),
                date,
            }
            .into();
            st.push_to_user(author, None, &update);
        }
    }
    Ok(tl_build::serialize(&true))
}

pub(crate) fn delete_messages(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::messages::DeleteMessages,
) -> Reply {
    let user = me(st, call)?;
    if req.id.len() > 200 {
        return Err(RpcErr::bad_request("LIMIT_INVALID"));
    }
    let lids: Vec<Lid> = req
        .id
        .iter()
        .filter_map(|id| st.lid_of(user, *id))
        .collect();
    let only_for = (!req.revoke).then_some(user);
    let result = remove(st, &lids, only_for, Some((user, call.auth_key_id)));
    match result.get(&user) {
        Some(&(pts, count)) => affected(pts, count),
        None => {
            let pts = st.mailbox(user).pts;
            affected(pts, 0)
        }
    }
}

pub(crate) fn delete_channel_messages(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::channels::DeleteMessages,
) -> Reply {
    let user = me(st, call)?;
    let channel_id = input_channel(st, user, &req.channel)?;
    check_visible(st, user, Peer::Channel(channel_id))?;
    if req.id.len() > 200 {
        return Err(RpcErr::bad_request("LIMIT_INVALID"));
    }
    let creator = st.channels.get(&channel_id).map(|c| c.creator);
    let mut lids = Vec::with_capacity(req.id.len());
    for id in &req.id {
        let Some(lid) = st.lid_of(channel_id, *id) else {
            continue;
        };
        let author = st.msg(lid).map(|m| m.from);
        if author != Some(user) && creator != Some(user) {
            return Err(RpcErr::new(403, "MESSAGE_DELETE_FORBIDDEN"));
        }
        lids.push(lid);
    }
    let result = remove(st, &lids, None, Some((user, call.auth_key_id)));
    match result.get(&channel_id) {
        Some(&(pts, count)) => affected(pts, count),
        None => affected(st.channels.get(&channel_id).map_or(0, |c| c.pts), 0),
    }
}
