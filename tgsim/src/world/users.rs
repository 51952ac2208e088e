//! Peers: resolving `InputPeer`/`InputUser`/`InputChannel` (access hashes
//! checked per viewer, like Telegram), and the methods that describe users and
//! chats: users.getUsers, users.getFullUser, contacts.resolveUsername,
//! messages.getChats, channels.getChannels, help.getNearestDc.

use grammers_tl_types as tl;

use super::auth::me;
use super::model::{Peer, State};
use super::tl_build::{self, Refs};
use crate::rpc::{Call, Reply, RpcErr};

/// Most ids a single lookup may name.
const LOOKUP_CAP: usize = 200;

fn user_ok(st: &State, viewer: i64, id: i64, hash: i64) -> bool {
    st.users.contains_key(&id) && (id == viewer || hash == st.access_hash(viewer, Peer::User(id)))
}

fn channel_ok(st: &State, viewer: i64, id: i64, hash: i64) -> bool {
    st.channels.contains_key(&id) && hash == st.access_hash(viewer, Peer::Channel(id))
}

pub(crate) fn input_peer(
    st: &State,
    viewer: i64,
    p: &tl::enums::InputPeer,
) -> Result<Peer, RpcErr> {
    use tl::enums::InputPeer as P;
    let invalid = || RpcErr::bad_request("PEER_ID_INVALID");
    match p {
        P::Empty => Err(invalid()),
        P::PeerSelf => Ok(Peer::User(viewer)),
        P::Chat(c) if st.chats.contains_key(&c.chat_id) => Ok(Peer::Chat(c.chat_id)),
        P::Chat(_) => Err(RpcErr::bad_request("CHAT_ID_INVALID")),
        P::User(u) if user_ok(st, viewer, u.user_id, u.access_hash) => Ok(Peer::User(u.user_id)),
        P::User(_) => Err(invalid()),
        P::Channel(c) if channel_ok(st, viewer, c.channel_id, c.access_hash) => {
            Ok(Peer::Channel(c.channel_id))
        }
        P::Channel(_) => Err(RpcErr::bad_request("CHANNEL_INVALID")),
        P::UserFromMessage(m) => {
            input_peer(st, viewer, &m.peer)?;
            if st.users.contains_key(&m.user_id) {
                Ok(Peer::User(m.user_id))
            } else {
                Err(invalid())
            }
        }
        P::ChannelFromMessage(m) => {
            input_peer(st, viewer, &m.peer)?;
            if st.channels.contains_key(&m.channel_id) {
                Ok(Peer::Channel(m.channel_id))
            } else {
                Err(RpcErr::bad_request("CHANNEL_INVALID"))
            }
        }
    }
}

pub(crate) fn input_user(st: &State, viewer: i64, u: &tl::enums::InputUser) -> Result<i64, RpcErr> {
    use tl::enums::InputUser as U;
    let invalid = || RpcErr::bad_request("USER_ID_INVALID");
    match u {
        U::Empty => Err(invalid()),
        U::UserSelf => Ok(viewer),
        U::User(u) if user_ok(st, viewer, u.user_id, u.access_hash) => Ok(u.user_id),
        U::User(_) => Err(invalid()),
        U::FromMessage(m) => {
            input_peer(st, viewer, &m.peer)?;
            if st.users.contains_key(&m.user_id) {
                Ok(m.user_id)
            } else {
                Err(invalid())
            }
        }
    }
}

pub(crate) fn input_channel(
    st: &State,
    viewer: i64,
    c: &tl::enums::InputChannel,
) -> Result<i64, RpcErr> {
    use tl::enums::InputChannel as C;
    let invalid = || RpcErr::bad_request("CHANNEL_INVALID");
    match c {
        C::Empty => Err(invalid()),
        C::Channel(c) if channel_ok(st, viewer, c.channel_id, c.access_hash) => Ok(c.channel_id),
        C::Channel(_) => Err(invalid()),
        C::FromMessage(m) => {
            input_peer(st, viewer, &m.peer)?;
            if st.channels.contains_key(&m.channel_id) {
                Ok(m.channel_id)
            } else {
                Err(invalid())
            }
        }
    }
}

pub(crate) fn get_users(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::users::GetUsers,
) -> Reply {
    let viewer = me(st, call)?;
    if req.id.len() > LOOKUP_CAP {
        return Err(RpcErr::bad_request("LIMIT_INVALID"));
    }
    // Like Telegram, users that cannot be resolved are simply left out.
    let users: Vec<tl::enums::User> = req
        .id
        .iter()
        .filter_map(|u| input_user(st, viewer, u).ok())
        .filter_map(|id| st.users.get(&id))
        .map(|u| tl_build::user(st, viewer, u))
        .collect();
    Ok(tl_build::serialize(&users))
}

pub(crate) fn get_full_user(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::users::GetFullUser,
) -> Reply {
    let viewer = me(st, call)?;
    let id = input_user(st, viewer, &req.id)?;
    let u = st
        .users
        .get(&id)
        .ok_or_else(|| RpcErr::bad_request("USER_ID_INVALID"))?;
    let full: tl::enums::users::UserFull = tl::types::users::UserFull {
        full_user: tl_build::user_full(st, viewer, u),
        chats: Vec::new(),
        users: vec![tl_build::user(st, viewer, u)],
    }
    .into();
    Ok(tl_build::serialize(&full))
}

pub(crate) fn resolve_username(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::contacts::ResolveUsername,
) -> Reply {
    let viewer = me(st, call)?;
    let name = req
        .username
        .trim()
        .trim_start_matches('@')
        .to_ascii_lowercase();
    if !super::model::valid_username(&name) {
        return Err(RpcErr::bad_request("USERNAME_INVALID"));
    }
    let peer = *st
        .usernames
        .get(&name)
        .ok_or_else(|| RpcErr::bad_request("USERNAME_NOT_OCCUPIED"))?;
    let mut refs = Refs::default();
    refs.peer(peer);
    let resolved: tl::enums::contacts::ResolvedPeer = tl::types::contacts::ResolvedPeer {
        peer: peer.to_tl(),
        chats: refs.chats(st, viewer),
        users: refs.users(st, viewer),
    }
    .into();
    Ok(tl_build::serialize(&resolved))
}

pub(crate) fn get_chats(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::messages::GetChats,
) -> Reply {
    let viewer = me(st, call)?;
    if req.id.len() > LOOKUP_CAP {
        return Err(RpcErr::bad_request("LIMIT_INVALID"));
    }
    let mut refs = Refs::default();
    for id in &req.id {
        if !st.chats.contains_key(id) {
            return Err(RpcErr::bad_request("CHAT_ID_INVALID"));
        }
        refs.peer(Peer::Chat(*id));
    }
    let chats: tl::enums::messages::Chats = tl::types::messages::Chats {
        chats: refs.chats(st, viewer),
    }
    .into();
    Ok(tl_build::serialize(&chats))
}

pub(crate) fn get_channels(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::channels::GetChannels,
) -> Reply {
    let viewer = me(st, call)?;
    if req.id.len() > LOOKUP_CAP {
        return Err(RpcErr::bad_request("LIMIT_INVALID"));
    }
    let mut refs = Refs::default();
    for c in &req.id {
        refs.peer(Peer::Channel(input_channel(st, viewer, c)?));
    }
    let chats: tl::enums::messages::Chats = tl::types::messages::Chats {
        chats: refs.chats(st, viewer),
    }
    .into();
    Ok(tl_build::serialize(&chats))
}

pub(crate) fn get_nearest_dc(call: &Call<'_>) -> Reply {
    let dc: tl::enums::NearestDc = tl::types::NearestDc {
        country: "ZZ".into(),
        this_dc: call.dc_id,
        nearest_dc: call.dc_id,
    }
    .into();
    Ok(tl_build::serialize(&dc))
}
