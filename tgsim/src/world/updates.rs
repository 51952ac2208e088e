//! Update sequences: every change to a box or channel is an event with
//! `pts = previous + pts_count`, kept in a bounded log. `updates.getState`,
//! `updates.getDifference` and `updates.getChannelDifference` replay the logs
//! the way Telegram does (empty / full / slice / too long).

use grammers_tl_types as tl;

use super::auth::me;
use super::dialogs;
use super::model::{ChannelEvent, ChannelEventKind, Event, EventKind, Peer, State};
use super::tl_build::{self, Refs};
use super::users::input_channel;
use crate::rpc::{Call, Reply, RpcErr};

/// At most this many events per `updates.differenceSlice`.
pub(crate) const DIFF_SLICE: usize = 100;
/// A gap of more pts than this is answered with `differenceTooLong`.
pub(crate) const TOO_LONG: i32 = 1_000;
/// Channel difference page size when the client sends no limit.
const CHANNEL_DIFF_LIMIT: i32 = 100;
/// Seconds the client may wait before polling a channel again.
const CHANNEL_TIMEOUT: i32 = 30;

/// Appends an event to `user`'s box; returns its pts.
pub(crate) fn record(st: &mut State, user: i64, count: i32, date: i32, kind: EventKind) -> i32 {
    let mb = st.mailbox(user);
    mb.pts += count;
    mb.date = mb.date.max(date);
    let pts = mb.pts;
    mb.log.push(Event {
        pts,
        count,
        date,
        kind,
    });
    pts
}

/// Appends an event to a channel; returns its pts.
pub(crate) fn record_channel(
    st: &mut State,
    channel: i64,
    count: i32,
    date: i32,
    kind: ChannelEventKind,
) -> i32 {
    let Some(ch) = st.channels.get_mut(&channel) else {
        return 0;
    };
    ch.pts += count;
    ch.last_event_date = ch.last_event_date.max(date);
    let pts = ch.pts;
    ch.log.push(ChannelEvent { pts, count, kind });
    pts
}

/// The account's `updates.state`; `date` is the server's now.
pub(crate) fn state(st: &mut State, user: i64) -> tl::types::updates::State {
    let date = st.now();
    let pts = st.mailbox(user).pts;
    tl::types::updates::State {
        pts,
        qts: 0,
        date,
        seq: 0,
        unread_count: dialogs::total_unread(st, user),
    }
}

pub(crate) fn get_state(st: &mut State, call: &Call<'_>) -> Reply {
    let user = me(st, call)?;
    let state: tl::enums::updates::State = state(st, user).into();
    Ok(tl_build::serialize(&state))
}

fn edit_update(
    st: &State,
    user: i64,
    local: i32,
    pts: i32,
    count: i32,
) -> Option<tl::enums::Update> {
    let lid = st.lid_of(user, local)?;
    let message = tl_build::message(st, user, lid, local)?;
    Some(
        tl::types::UpdateEditMessage {
            message,
            pts,
            pts_count: count,
        }
        .into(),
    )
}

pub(crate) fn get_difference(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::updates::GetDifference,
) -> Reply {
    let user = me(st, call)?;
    let now = st.now();
    let (current, base) = {
        let mb = st.mailbox(user);
        (mb.pts, mb.log.base_pts)
    };
    let gap = i64::from(current) - i64::from(req.pts);
    let too_long_at = req.pts_total_limit.filter(|l| *l > 0).unwrap_or(TOO_LONG);
    if req.pts <= 0 || gap < 0 || req.pts < base || gap > i64::from(too_long_at) {
        let diff: tl::enums::updates::Difference =
            tl::types::updates::DifferenceTooLong { pts: current }.into();
        return Ok(tl_build::serialize(&diff));
    }

    let mut refs = Refs::default();
    let mut new_messages = Vec::new();
    let mut other_updates = Vec::new();
    let max_span = req.pts_limit.filter(|l| *l > 0).unwrap_or(i32::MAX);
    let mut reached = req.pts;
    let events: Vec<Event> = st
        .boxes
        .get(&user)
        .map(|mb| {
            mb.log
                .after(req.pts)
                .take(DIFF_SLICE)
                .take_while(|e| e.pts - req.pts <= max_span || e.pts - e.count <= req.pts)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for e in &events {
        reached = e.pts;
        match &e.kind {
            EventKind::New(local) => {
                if let Some(lid) = st.lid_of(user, *local)
                    && let Some(m) = tl_build::message(st, user, lid, *local)
                {
                    refs.msg(st, user, lid);
                    new_messages.push(m);
                }
            }
            EventKind::Edit(local) => {
                if let Some(u) = edit_update(st, user, *local, e.pts, e.count) {
                    if let Some(lid) = st.lid_of(user, *local) {
                        refs.msg(st, user, lid);
                    }
                    other_updates.push(u);
                }
            }
            EventKind::Delete(ids) => other_updates.push(
                tl::types::UpdateDeleteMessages {
                    messages: ids.clone(),
                    pts: e.pts,
                    pts_count: e.count,
                }
                .into(),
            ),
            EventKind::ReadInbox(peer, max_id) => {
                refs.peer(*peer);
                other_updates.push(
                    tl::types::UpdateReadHistoryInbox {
                        folder_id: None,
                        peer: peer.to_tl(),
                        top_msg_id: None,
                        max_id: *max_id,
                        still_unread_count: dialogs::unread(st, user, *peer),
                        pts: e.pts,
                        pts_count: e.count,
                    }
                    .into(),
                );
            }
            EventKind::ReadOutbox(peer, max_id) => {
                refs.peer(*peer);
                other_updates.push(
                    tl::types::UpdateReadHistoryOutbox {
                        peer: peer.to_tl(),
                        max_id: *max_id,
                        pts: e.pts,
                        pts_count: e.count,
                    }
                    .into(),
                );
            }
        }
    }

    let complete = reached >= current;
    if complete {
        // Channels with news since the client's date: it must ask each one.
        let mut news: Vec<i64> = st
            .boxes
            .get(&user)
            .map(|mb| mb.channels.keys().copied().collect::<Vec<i64>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|id| {
                st.channels
                    .get(id)
                    .is_some_and(|c| c.members.contains(&user) && c.last_event_date >= req.date)
            })
            .collect();
        news.sort_unstable();
        for channel_id in news {
            refs.peer(Peer::Channel(channel_id));
            other_updates.push(
                tl::types::UpdateChannelTooLong {
                    channel_id,
                    pts: None,
                }
                .into(),
            );
        }
        if events.is_empty() && other_updates.is_empty() {
            let diff: tl::enums::updates::Difference =
                tl::types::updates::DifferenceEmpty { date: now, seq: 0 }.into();
            return Ok(tl_build::serialize(&diff));
        }
    }

    let users = refs.users(st, user);
    let chats = refs.chats(st, user);
    let mut state = state(st, user);
    let diff: tl::enums::updates::Difference = if complete {
        tl::types::updates::Difference {
            new_messages,
            new_encrypted_messages: Vec::new(),
            other_updates,
            chats,
            users,
            state: state.into(),
        }
        .into()
    } else {
        state.pts = reached;
        state.date = events.last().map_or(now, |e| e.date);
        tl::types::updates::DifferenceSlice {
            new_messages,
            new_encrypted_messages: Vec::new(),
            other_updates,
            chats,
            users,
            intermediate_state: state.into(),
        }
        .into()
    };
    Ok(tl_build::serialize(&diff))
}

pub(crate) fn get_channel_difference(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::updates::GetChannelDifference,
) -> Reply {
    let user = me(st, call)?;
    let channel_id = input_channel(st, user, &req.channel)?;
    let Some(ch) = st.channels.get(&channel_id) else {
        return Err(RpcErr::bad_request("CHANNEL_INVALID"));
    };
    if !ch.members.contains(&user) {
        return Err(RpcErr::bad_request("CHANNEL_PRIVATE"));
    }
    if req.pts <= 0 {
        return Err(RpcErr::bad_request("PERSISTENT_TIMESTAMP_INVALID"));
    }
    let limit = if req.limit <= 0 {
        CHANNEL_DIFF_LIMIT
    } else {
        req.limit.min(100_000)
    };
    let current = ch.pts;
    if req.pts == current {
        let diff: tl::enums::updates::ChannelDifference =
            tl::types::updates::ChannelDifferenceEmpty {
                r#final: true,
                pts: current,
                timeout: Some(CHANNEL_TIMEOUT),
            }
            .into();
        return Ok(tl_build::serialize(&diff));
    }
    if req.pts > current || req.pts < ch.log.base_pts || current - req.pts > TOO_LONG {
        return channel_too_long(st, user, channel_id, limit);
    }

    let events: Vec<ChannelEvent> = ch
        .log
        .after(req.pts)
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .cloned()
        .collect();
    let mut refs = Refs::default();
    refs.peer(Peer::Channel(channel_id));
    let mut new_messages = Vec::new();
    let mut other_updates = Vec::new();
    let mut reached = req.pts;
    for e in &events {
        reached = e.pts;
        match &e.kind {
            ChannelEventKind::New(id) | ChannelEventKind::Edit(id) => {
                let Some(lid) = st.lid_of(channel_id, *id) else {
                    continue;
                };
                let Some(message) = tl_build::message(st, user, lid, *id) else {
                    continue;
                };
                refs.msg(st, user, lid);
                if matches!(e.kind, ChannelEventKind::New(_)) {
                    new_messages.push(message);
                } else {
                    other_updates.push(
                        tl::types::UpdateEditChannelMessage {
                            message,
                            pts: e.pts,
                            pts_count: e.count,
                        }
                        .into(),
                    );
                }
            }
            ChannelEventKind::Delete(ids) => other_updates.push(
                tl::types::UpdateDeleteChannelMessages {
                    channel_id,
                    messages: ids.clone(),
                    pts: e.pts,
                    pts_count: e.count,
                }
                .into(),
            ),
        }
    }
    let diff: tl::enums::updates::ChannelDifference = tl::types::updates::ChannelDifference {
        r#final: reached >= current,
        pts: reached,
        timeout: Some(CHANNEL_TIMEOUT),
        new_messages,
        other_updates,
        chats: refs.chats(st, user),
        users: refs.users(st, user),
    }
    .into();
    Ok(tl_build::serialize(&diff))
}

/// The gap is too big to replay: hand over the dialog and its latest messages.
fn channel_too_long(st: &State, user: i64, channel_id: i64, limit: i32) -> Reply {
    let Some(ch) = st.channels.get(&channel_id) else {
        return Err(RpcErr::bad_request("CHANNEL_INVALID"));
    };
    let mut refs = Refs::default();
    refs.peer(Peer::Channel(channel_id));
    let take = usize::try_from(limit).unwrap_or(0);
    let mut messages = Vec::new();
    for &id in ch.ids.iter().rev().take(take) {
        if let Some(lid) = st.lid_of(channel_id, id)
            && let Some(m) = tl_build::message(st, user, lid, id)
        {
            refs.msg(st, user, lid);
            messages.push(m);
        }
    }
    let dialog = dialogs::dialog_for(st, user, Peer::Channel(channel_id));
    let diff: tl::enums::updates::ChannelDifference =
        tl::types::updates::ChannelDifferenceTooLong {
            r#final: true,
            timeout: Some(CHANNEL_TIMEOUT),
            dialog,
            messages,
            chats: refs.chats(st, user),
            users: refs.users(st, user),
        }
        .into();
    Ok(tl_build::serialize(&diff))
}
