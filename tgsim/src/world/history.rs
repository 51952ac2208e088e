//! Reading messages: messages.getHistory with Telegram's pagination
//! (<https://core.telegram.org/api/offsets>: the window starts at
//! `offsetFromID(offset_id) + add_offset`, newest first, then `min_id`/`max_id`
//! filter it), and messages.getMessages / channels.getMessages by id.

use grammers_tl_types as tl;

use super::auth::me;
use super::dialogs::page_limit;
use super::model::{Peer, State};
use super::tl_build::{self, Refs};
use super::users::{input_channel, input_peer};
use crate::rpc::{Call, Reply, RpcErr};

const LOOKUP_CAP: usize = 200;

/// Checks that `user` may read `peer`, with Telegram's error names.
pub(crate) fn check_visible(st: &State, user: i64, peer: Peer) -> Result<(), RpcErr> {
    if st.can_see(user, peer) {
        return Ok(());
    }
    Err(RpcErr::bad_request(match peer {
        Peer::Channel(_) => "CHANNEL_PRIVATE",
        Peer::Chat(_) => "CHAT_ID_INVALID",
        Peer::User(_) => "PEER_ID_INVALID",
    }))
}

/// Which local ids a getHistory request selects, newest first.
pub(crate) struct Window {
    pub ids: Vec<i32>,
    /// True when the page is the whole history, unfiltered.
    pub complete: bool,
}

pub(crate) fn window(
    st: &State,
    ids: &[i32],
    owner: i64,
    req: &tl::functions::messages::GetHistory,
) -> Window {
    let total = ids.len() as i64;
    // offsetFromID: how many results come before the window, newest first.
    let pos = if req.offset_id != 0 {
        (ids.len() - ids.partition_point(|id| *id < req.offset_id)) as i64
    } else if req.offset_date != 0 {
        ids.iter()
            .filter_map(|id| st.lid_of(owner, *id))
            .filter_map(|lid| st.msg(lid))
            .filter(|m| m.date >= req.offset_date)
            .count() as i64
    } else {
        0
    };
    let limit = page_limit(req.limit) as i64;
    let start = pos + i64::from(req.add_offset);
    let from = start.clamp(0, total);
    let to = (start + limit).clamp(0, total);
    let selected: Vec<i32> = (from..to)
        .map(|i| ids[(total - 1 - i) as usize])
        .filter(|id| *id > req.min_id && (req.max_id == 0 || *id < req.max_id))
        .collect();
    let complete = from == 0 && to == total && req.min_id == 0 && req.max_id == 0;
    Window {
        ids: selected,
        complete,
    }
}

pub(crate) fn get_history(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::messages::GetHistory,
) -> Reply {
    let user = me(st, call)?;
    let peer = input_peer(st, user, &req.peer)?;
    check_visible(st, user, peer)?;
    let (ids, owner) = st.timeline(user, peer);
    let total = i32::try_from(ids.len()).unwrap_or(i32::MAX);
    let w = window(st, ids, owner, &req);
    let mut refs = Refs::default();
    refs.peer(peer);
    let mut messages = Vec::with_capacity(w.ids.len());
    for id in &w.ids {
        if let Some(lid) = st.lid_of(owner, *id)
            && let Some(m) = tl_build::message(st, user, lid, *id)
        {
            refs.msg(st, user, lid);
            messages.push(m);
        }
    }
    let users = refs.users(st, user);
    let chats = refs.chats(st, user);
    let reply: tl::enums::messages::Messages = match peer {
        Peer::Channel(id) => tl::types::messages::ChannelMessages {
            inexact: false,
            pts: st.channels.get(&id).map_or(0, |c| c.pts),
            count: total,
            offset_id_offset: None,
            messages,
            topics: Vec::new(),
            chats,
            users,
        }
        .into(),
        _ if w.complete => tl::types::messages::Messages {
            messages,
            topics: Vec::new(),
            chats,
            users,
        }
        .into(),
        _ => tl::types::messages::MessagesSlice {
            inexact: false,
            count: total,
            next_rate: None,
            offset_id_offset: None,
            search_flood: None,
            messages,
            topics: Vec::new(),
            chats,
            users,
        }
        .into(),
    };
    Ok(tl_build::serialize(&reply))
}

/// Messages by id in `owner`'s numbering; missing ones come back as `messageEmpty`.
fn by_ids(
    st: &State,
    user: i64,
    owner: i64,
    ids: &[tl::enums::InputMessage],
) -> (Vec<tl::enums::Message>, Refs) {
    let mut refs = Refs::default();
    let mut out = Vec::with_capacity(ids.len());
    for input in ids {
        let wanted = match input {
            tl::enums::InputMessage::Id(m) => Some(m.id),
            tl::enums::InputMessage::ReplyTo(m) => st
                .lid_of(owner, m.id)
                .and_then(|lid| st.msg(lid))
                .and_then(|msg| msg.reply_to)
                .and_then(|r| st.msg(r))
                .and_then(|r| r.local_id(owner)),
            tl::enums::InputMessage::Pinned | tl::enums::InputMessage::CallbackQuery(_) => None,
        };
        let found = wanted.and_then(|id| {
            let lid = st.lid_of(owner, id)?;
            let m = tl_build::message(st, user, lid, id)?;
            refs.msg(st, user, lid);
            Some(m)
        });
        out.push(found.unwrap_or_else(|| {
            tl::types::MessageEmpty {
                id: wanted.unwrap_or(0),
                peer_id: None,
            }
            .into()
        }));
    }
    (out, refs)
}

pub(crate) fn get_messages(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::messages::GetMessages,
) -> Reply {
    let user = me(st, call)?;
    if req.id.len() > LOOKUP_CAP {
        return Err(RpcErr::bad_request("LIMIT_INVALID"));
    }
    let (messages, refs) = by_ids(st, user, user, &req.id);
    let reply: tl::enums::messages::Messages = tl::types::messages::Messages {
        messages,
        topics: Vec::new(),
        chats: refs.chats(st, user),
        users: refs.users(st, user),
    }
    .into();
    Ok(tl_build::serialize(&reply))
}

pub(crate) fn get_channel_messages(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::channels::GetMessages,
) -> Reply {
    let user = me(st, call)?;
    if req.id.len() > LOOKUP_CAP {
        return Err(RpcErr::bad_request("LIMIT_INVALID"));
    }
    let channel = input_channel(st, user, &req.channel)?;
    check_visible(st, user, Peer::Channel(channel))?;
    let (messages, mut refs) = by_ids(st, user, channel, &req.id);
    refs.peer(Peer::Channel(channel));
    let (pts, count) = st.channels.get(&channel).map_or((0, 0), |c| {
        (c.pts, i32::try_from(c.ids.len()).unwrap_or(i32::MAX))
    });
    let reply: tl::enums::messages::Messages = tl::types::messages::ChannelMessages {
        inexact: false,
        pts,
        count,
        offset_id_offset: None,
        messages,
        topics: Vec::new(),
        chats: refs.chats(st, user),
        users: refs.users(st, user),
    }
    .into();
    Ok(tl_build::serialize(&reply))
}
