//! The dialog list: every private chat, basic group and channel of an
//! account, newest activity first, paged with Telegram's
//! `offset_date`/`offset_peer` cursor, and unread counters.

use grammers_tl_types as tl;

use super::auth::me;
use super::model::{Lid, Peer, ReadMarks, State};
use super::tl_build::{self, Refs};
use super::updates;
use super::users::input_peer;
use crate::rpc::{Call, Reply, RpcErr};

/// One row of the dialog list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub peer: Peer,
    /// Local (or channel) id of the newest message; 0 when there is none.
    pub top: i32,
    pub top_lid: Option<Lid>,
    /// Date the list is ordered by: the top message's, else when the dialog appeared.
    pub date: i32,
}

impl Row {
    fn key(&self) -> (i32, Peer) {
        (self.date, self.peer)
    }
}

fn row(st: &State, user: i64, peer: Peer) -> Option<Row> {
    let (ids, owner) = st.timeline(user, peer);
    let top = ids.last().copied().unwrap_or(0);
    let top_lid = st.lid_of(owner, top);
    let created = match peer {
        Peer::Channel(id) => st.channels.get(&id)?.date,
        _ => st
            .boxes
            .get(&user)
            .and_then(|b| b.dialogs.get(&peer))
            .map_or(0, |d| d.created),
    };
    let date = top_lid.and_then(|l| st.msg(l)).map_or(created, |m| m.date);
    Some(Row {
        peer,
        top,
        top_lid,
        date,
    })
}

/// All dialogs of `user`, newest first. Private chats without messages are
/// not dialogs (Telegram drops them); groups and channels always are.
pub(crate) fn rows(st: &State, user: i64) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    if let Some(mb) = st.boxes.get(&user) {
        for (peer, d) in &mb.dialogs {
            let keep = match peer {
                Peer::User(_) => !d.ids.is_empty(),
                Peer::Chat(id) => st.chats.get(id).is_some_and(|c| c.members.contains(&user)),
                Peer::Channel(_) => false,
            };
            if keep {
                rows.extend(row(st, user, *peer));
            }
        }
        // Every member's box remembers its channels (for read marks).
        for id in mb.channels.keys() {
            if st
                .channels
                .get(id)
                .is_some_and(|c| c.members.contains(&user))
            {
                rows.extend(row(st, user, Peer::Channel(*id)));
            }
        }
    }
    rows.sort_unstable_by_key(|r| std::cmp::Reverse(r.key()));
    rows
}

fn marks(st: &State, user: i64, peer: Peer) -> ReadMarks {
    let Some(mb) = st.boxes.get(&user) else {
        return ReadMarks::default();
    };
    match peer {
        Peer::Channel(id) => mb.channels.get(&id).copied().unwrap_or_default(),
        _ => mb.dialogs.get(&peer).map(|d| d.marks).unwrap_or_default(),
    }
}

/// Incoming messages newer than the read mark.
pub(crate) fn unread(st: &State, user: i64, peer: Peer) -> i32 {
    let inbox = marks(st, user, peer).inbox;
    let (ids, owner) = st.timeline(user, peer);
    let start = ids.partition_point(|id| *id <= inbox);
    let n = ids[start..]
        .iter()
        .filter_map(|id| st.lid_of(owner, *id))
        .filter_map(|lid| st.msg(lid))
        .filter(|m| m.from != user)
        .count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub(crate) fn total_unread(st: &State, user: i64) -> i32 {
    rows(st, user)
        .iter()
        .map(|r| unread(st, user, r.peer))
        .fold(0i32, i32::saturating_add)
}

pub(crate) fn dialog_for(st: &State, user: i64, peer: Peer) -> tl::enums::Dialog {
    let top = row(st, user, peer).map_or(0, |r| r.top);
    let pts = match peer {
        Peer::Channel(id) => st.channels.get(&id).map(|c| c.pts),
        _ => None,
    };
    tl_build::dialog(
        peer,
        top,
        marks(st, user, peer),
        unread(st, user, peer),
        pts,
    )
}

/// Renders rows as (dialogs, messages, chats, users).
type Rendered = (
    Vec<tl::enums::Dialog>,
    Vec<tl::enums::Message>,
    Vec<tl::enums::Chat>,
    Vec<tl::enums::User>,
);

fn render(st: &State, user: i64, rows: &[Row]) -> Rendered {
    let mut refs = Refs::default();
    let mut dialogs = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    for r in rows {
        refs.peer(r.peer);
        dialogs.push(dialog_for(st, user, r.peer));
        if let Some(lid) = r.top_lid
            && let Some(m) = tl_build::message(st, user, lid, r.top)
        {
            refs.msg(st, user, lid);
            messages.push(m);
        }
    }
    (
        dialogs,
        messages,
        refs.chats(st, user),
        refs.users(st, user),
    )
}

/// Telegram's page size rules: 1..=100, and 0 means "a default amount".
pub(crate) fn page_limit(limit: i32) -> usize {
    match limit {
        i32::MIN..=0 => 20,
        1..=100 => limit as usize,
        _ => 100,
    }
}

pub(crate) fn get_dialogs(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::messages::GetDialogs,
) -> Reply {
    let user = me(st, call)?;
    let all = if req.folder_id.is_some_and(|f| f != 0) {
        // Nothing is archived in the simulated world.
        Vec::new()
    } else {
        rows(st, user)
    };
    let cursor_peer = match &req.offset_peer {
        tl::enums::InputPeer::Empty => None,
        p => input_peer(st, user, p).ok(),
    };
    // The cursor is the last dialog of the previous page. Clients send the
    // date of the last *message* they saw, which belongs to another dialog
    // when the last one is empty: then the dialog's own position counts.
    let cursor_row = cursor_peer.and_then(|p| all.iter().find(|r| r.peer == p));
    let cursor = match (req.offset_date, cursor_row) {
        (0, None) => None,
        (date, Some(r)) if date == 0 || r.top == 0 || r.top == req.offset_id => {
            Some((r.date, Some(r.peer)))
        }
        (date, _) => Some((date, cursor_peer)),
    };
    let start = match cursor {
        None => 0,
        Some((date, peer)) => all
            .iter()
            .position(|r| r.date < date || (r.date == date && peer.is_some_and(|p| r.peer < p)))
            .unwrap_or(all.len()),
    };
    let limit = page_limit(req.limit);
    let page: Vec<Row> = all.iter().skip(start).take(limit).copied().collect();
    let (dialogs, messages, chats, users) = render(st, user, &page);
    let reply: tl::enums::messages::Dialogs = if start == 0 && page.len() == all.len() {
        tl::types::messages::Dialogs {
            dialogs,
            messages,
            chats,
            users,
        }
        .into()
    } else {
        tl::types::messages::DialogsSlice {
            count: i32::try_from(all.len()).unwrap_or(i32::MAX),
            dialogs,
            messages,
            chats,
            users,
        }
        .into()
    };
    Ok(tl_build::serialize(&reply))
}

pub(crate) fn get_peer_dialogs(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::messages::GetPeerDialogs,
) -> Reply {
    let user = me(st, call)?;
    if req.peers.len() > 100 {
        return Err(RpcErr::bad_request("LIMIT_INVALID"));
    }
    let mut rows_out = Vec::new();
    for p in &req.peers {
        let tl::enums::InputDialogPeer::Peer(p) = p else {
            continue;
        };
        let peer = input_peer(st, user, &p.peer)?;
        if !st.can_see(user, peer) {
            return Err(RpcErr::bad_request(match peer {
                Peer::Channel(_) => "CHANNEL_PRIVATE",
                _ => "PEER_ID_INVALID",
            }));
        }
        rows_out.extend(row(st, user, peer));
    }
    let (dialogs, messages, chats, users) = render(st, user, &rows_out);
    let state = updates::state(st, user);
    let reply: tl::enums::messages::PeerDialogs = tl::types::messages::PeerDialogs {
        dialogs,
        messages,
        chats,
        users,
        state: state.into(),
    }
    .into();
    Ok(tl_build::serialize(&reply))
}
