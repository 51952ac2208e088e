//! Reading the world: dialogs and their paging, history paging both ways,
//! messages by id, users, usernames and per-viewer access hashes.

use std::collections::HashSet;

use grammers_tl_types as tl;
use tgsim::world::{ChatKind, NewChat, WorldSpec};

use crate::{
    Fx, assert_err, dialog, get_dialogs, get_history, msg, msg_id, unpack_dialogs, unpack_messages,
};

fn peer_key(p: &tl::enums::Peer) -> (u8, i64) {
    match p {
        tl::enums::Peer::User(u) => (0, u.user_id),
        tl::enums::Peer::Chat(c) => (1, c.chat_id),
        tl::enums::Peer::Channel(c) => (2, c.channel_id),
    }
}

/// The InputPeer for a dialog's peer, with the hash the page showed.
fn input_peer(
    peer: &tl::enums::Peer,
    users: &[tl::enums::User],
    chats: &[tl::enums::Chat],
) -> tl::enums::InputPeer {
    match peer {
        tl::enums::Peer::User(u) => {
            let hash = users
                .iter()
                .find_map(|x| match x {
                    tl::enums::User::User(x) if x.id == u.user_id => x.access_hash,
                    _ => None,
                })
                .expect("the page carries the dialog's user");
            tl::types::InputPeerUser {
                user_id: u.user_id,
                access_hash: hash,
            }
            .into()
        }
        tl::enums::Peer::Chat(c) => tl::types::InputPeerChat { chat_id: c.chat_id }.into(),
        tl::enums::Peer::Channel(c) => {
            let hash = chats
                .iter()
                .find_map(|x| match x {
                    tl::enums::Chat::Channel(x) if x.id == c.channel_id => x.access_hash,
                    _ => None,
                })
                .expect("the page carries the dialog's channel");
            tl::types::InputPeerChannel {
                channel_id: c.channel_id,
                access_hash: hash,
            }
            .into()
        }
    }
}

#[test]
fn the_demo_world_has_what_the_demo_needs() {
    let fx = Fx::new(WorldSpec::demo());
    let accounts = fx.world.accounts();
    assert_eq!(accounts.len(), 3);
    assert_eq!(accounts.iter().filter(|a| a.has_password).count(), 1);
    assert!(accounts.iter().any(|a| a.home_dc == 2));
    assert!(
        fx.world.messages_count() >= 250,
        "{}",
        fx.world.messages_count()
    );
    let key = fx.key();
    fx.login(1, key, "+9996610001");
    let (dialogs, messages, chats, _) = unpack_dialogs(fx.dialogs(1, key, 100));
    assert!(dialogs.len() >= 20, "{}", dialogs.len());
    assert!(chats.iter().any(|c| matches!(c, tl::enums::Chat::Chat(_))));
    assert!(
        chats
            .iter()
            .any(|c| matches!(c, tl::enums::Chat::Channel(c) if c.broadcast))
    );
    assert!(
        chats
            .iter()
            .any(|c| matches!(c, tl::enums::Chat::Channel(c) if c.megagroup))
    );
    assert!(dialogs.iter().any(|d| dialog(d).unread_count > 0));
    let dates: Vec<i32> = messages.iter().map(|m| msg(m).date).collect();
    assert!(
        dates.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {dates:?}"
    );
}

#[test]
fn dialog_pages_have_no_gaps_and_no_duplicates() {
    let fx = Fx::new(WorldSpec::demo());
    let key = fx.key();
    fx.login(1, key, "+9996610001");
    let (all, ..) = unpack_dialogs(fx.dialogs(1, key, 100));
    let expected: Vec<(u8, i64)> = all.iter().map(|d| peer_key(&dialog(d).peer)).collect();

    // Page the way grammers does: offsets from the last dialog of each page.
    let mut seen = Vec::new();
    let mut req = get_dialogs(0, 0, tl::enums::InputPeer::Empty, 5);
    loop {
        let page = fx.call(1, key, &req).unwrap();
        let count = match &page {
            tl::enums::messages::Dialogs::Slice(s) => Some(s.count),
            _ => None,
        };
        let (dialogs, messages, chats, users) = unpack_dialogs(page);
        if let Some(count) = count {
            assert_eq!(count as usize, expected.len());
        }
        if dialogs.is_empty() {
            break;
        }
        assert!(dialogs.len() <= 5);
        seen.extend(dialogs.iter().map(|d| peer_key(&dialog(d).peer)));
        let last = dialog(dialogs.last().unwrap());
        let top = messages
            .iter()
            .find(|m| {
                msg_id(m) == last.top_message && peer_key(&msg(m).peer_id) == peer_key(&last.peer)
            })
            .expect("the page carries each dialog's top message");
        req.offset_date = msg(top).date;
        req.offset_id = last.top_message;
        req.offset_peer = input_peer(&last.peer, &users, &chats);
        if count.is_none() {
            break;
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

/// Two accounts with `n` messages between them, returning (fx, key of a, peer b for a, ids newest first).
fn chat_with(n: usize) -> (Fx, i64, tl::enums::InputPeer, Vec<i32>) {
    let fx = Fx::empty();
    let a = fx.account("+9996610001", "A");
    let b = fx.account("+9996610002", "B");
    for i in 0..n {
        if i % 2 == 0 {
            fx.post(a, b, &format!("a{i}"))
        } else {
            fx.post(b, a, &format!("b{i}"))
        };
    }
    let key = fx.key();
    fx.login(1, key, "+9996610001");
    let peer = fx.input_user_peer(1, key, b);
    let (messages, count) = unpack_messages(fx.call(1, key, &get_history(peer.clone())).unwrap());
    assert_eq!(count, None, "a whole history fits in messages.messages");
    let ids: Vec<i32> = messages.iter().map(msg_id).collect();
    assert_eq!(ids.len(), n);
    (fx, key, peer, ids)
}

#[test]
fn history_pages_backwards_without_gaps() {
    let (fx, key, peer, ids) = chat_with(30);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    let mut req = get_history(peer);
    req.limit = 7;
    let mut seen = Vec::new();
    loop {
        let (page, count) = unpack_messages(fx.call(1, key, &req).unwrap());
        assert_eq!(count, Some(30));
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(msg_id));
        req.offset_id = msg_id(page.last().unwrap());
    }
    assert_eq!(seen, ids);
}

#[test]
fn history_pages_forwards_with_add_offset_and_min_id() {
    let (fx, key, peer, ids) = chat_with(30);
    let oldest_first: Vec<i32> = ids.iter().rev().copied().collect();
    // Newer than X: offset_id = X, add_offset = -limit includes X itself (offsets doc).
    let x = oldest_first[10];
    let mut req = get_history(peer.clone());
    req.offset_id = x;
    req.add_offset = -5;
    req.limit = 5;
    let (page, _) = unpack_messages(fx.call(1, key, &req).unwrap());
    let got: Vec<i32> = page.iter().map(msg_id).collect();
    assert_eq!(
        got,
        oldest_first[10..15]
            .iter()
            .rev()
            .copied()
            .collect::<Vec<_>>()
    );

    // Walk forwards the way grammers' reverse iterator does.
    let mut seen = Vec::new();
    let mut req = get_history(peer.clone());
    req.limit = 6;
    loop {
        req.add_offset = -req.limit;
        req.min_id = req.offset_id;
        if req.offset_id == 0 {
            req.offset_id = 1;
            req.add_offset = -req.limit + 1;
        }
        let (page, _) = unpack_messages(fx.call(1, key, &req).unwrap());
        if page.is_empty() {
            break;
        }
        let mut page: Vec<i32> = page.iter().map(msg_id).collect();
        page.reverse();
        req.offset_id = *page.last().unwrap();
        seen.extend(page);
    }
    assert_eq!(seen, oldest_first);

    // min_id and max_id bound the window, exclusively.
    let mut req = get_history(peer);
    req.min_id = oldest_first[3];
    req.max_id = oldest_first[8];
    let (page, count) = unpack_messages(fx.call(1, key, &req).unwrap());
    assert_eq!(count, Some(30));
    let got: Vec<i32> = page.iter().map(msg_id).collect();
    assert_eq!(
        got,
        oldest_first[4..8].iter().rev().copied().collect::<Vec<_>>()
    );
}

#[test]
fn history_by_date_and_around_a_message() {
    let (fx, key, peer, ids) = chat_with(12);
    let mut req = get_history(peer.clone());
    req.offset_id = ids[5];
    req.add_offset = -3;
    req.limit = 6;
    let (page, _) = unpack_messages(fx.call(1, key, &req).unwrap());
    assert_eq!(
        page.iter().map(msg_id).collect::<Vec<_>>(),
        ids[3..9].to_vec()
    );
    // offset_date: strictly older than the date (all share "now" here, so nothing is older).
    let date =
        msg(&unpack_messages(fx.call(1, key, &get_history(peer.clone())).unwrap()).0[0]).date;
    let mut req = get_history(peer);
    req.offset_date = date + 1;
    let (page, _) = unpack_messages(fx.call(1, key, &req).unwrap());
    assert_eq!(page.len(), 12);
}

#[test]
fn channel_history_comes_with_the_channel_pts() {
    let fx = Fx::empty();
    let a = fx.account("+9996610001", "A");
    let ch = fx
        .world
        .create_chat(NewChat {
            kind: ChatKind::Supergroup,
            title: "Team".into(),
            username: Some("team_sim".into()),
            creator_user_id: a,
            member_user_ids: vec![],
        })
        .unwrap();
    for i in 0..5 {
        fx.post_in(a, ch, &format!("m{i}"));
    }
    let key = fx.key();
    fx.login(1, key, "+9996610001");
    let input = fx.channel_input(1, key, ch);
    let peer: tl::enums::InputPeer = tl::types::InputPeerChannel {
        channel_id: ch,
        access_hash: input.access_hash,
    }
    .into();
    let tl::enums::messages::Messages::ChannelMessages(m) =
        fx.call(1, key, &get_history(peer)).unwrap()
    else {
        panic!("expected messages.channelMessages");
    };
    assert_eq!((m.count, m.messages.len()), (5, 5));
    assert_eq!(m.pts, 6);
    assert_eq!(msg_id(&m.messages[0]), 5);
}

#[test]
fn messages_by_id_and_missing_ones_as_empty() {
    let (fx, key, _, ids) = chat_with(3);
    let req = tl::functions::messages::GetMessages {
        id: vec![
            tl::types::InputMessageId { id: ids[0] }.into(),
            tl::types::InputMessageId { id: 99_999 }.into(),
        ],
    };
    let (got, _) = unpack_messages(fx.call(1, key, &req).unwrap());
    assert_eq!(msg(&got[0]).message, "a2");
    assert!(matches!(got[1], tl::enums::Message::Empty(_)));
}

#[test]
fn users_resolve_with_the_viewers_access_hash() {
    let fx = Fx::new(WorldSpec::demo());
    let (ka, kb) = (fx.key(), fx.key());
    fx.login(1, ka, "+9996610001");
    fx.login(1, kb, "+9996610001");
    let dmitri_for_alice = {
        let tl::enums::contacts::ResolvedPeer::Peer(r) = fx
            .call(
                1,
                ka,
                &tl::functions::contacts::ResolveUsername {
                    username: "dmitri_ivanov".into(),
                    referer: None,
                },
            )
            .unwrap();
        let tl::enums::User::User(u) = &r.users[0] else {
            panic!()
        };
        (u.id, u.access_hash.unwrap())
    };
    // Same account, another key: same hash. Another account: a different one.
    assert_eq!(
        fx.hash_seen(1, kb, dmitri_for_alice.0),
        Some(dmitri_for_alice.1)
    );
    let carol_key = fx.key();
    fx.login(2, carol_key, "+9996620003");
    let tl::enums::contacts::ResolvedPeer::Peer(r) = fx
        .call(
            2,
            carol_key,
            &tl::functions::contacts::ResolveUsername {
                username: "dmitri_ivanov".into(),
                referer: None,
            },
        )
        .unwrap();
    let tl::enums::User::User(for_carol) = &r.users[0] else {
        panic!()
    };
    assert_eq!(for_carol.id, dmitri_for_alice.0);
    assert_ne!(for_carol.access_hash, Some(dmitri_for_alice.1));

    let by_hash = |hash| {
        fx.call(
            1,
            ka,
            &tl::functions::users::GetUsers {
                id: vec![
                    tl::enums::InputUser::UserSelf,
                    tl::types::InputUser {
                        user_id: dmitri_for_alice.0,
                        access_hash: hash,
                    }
                    .into(),
                ],
            },
        )
        .unwrap()
    };
    assert_eq!(by_hash(dmitri_for_alice.1).len(), 2);
    assert_eq!(
        by_hash(dmitri_for_alice.1 ^ 1).len(),
        1,
        "a wrong hash is left out"
    );
    let wrong: tl::enums::InputPeer = tl::types::InputPeerUser {
        user_id: dmitri_for_alice.0,
        access_hash: dmitri_for_alice.1 ^ 1,
    }
    .into();
    assert_err(fx.call(1, ka, &get_history(wrong)), 400, "PEER_ID_INVALID");

    let tl::enums::users::UserFull::Full(full) = fx
        .call(
            1,
            ka,
            &tl::functions::users::GetFullUser {
                id: tl::enums::InputUser::UserSelf,
            },
        )
        .unwrap();
    let tl::enums::UserFull::Full(f) = full.full_user;
    assert_eq!(f.id, fx.world.user_id_by_phone("+9996610001").unwrap());

    let tl::enums::contacts::ResolvedPeer::Peer(news) = fx
        .call(
            1,
            ka,
            &tl::functions::contacts::ResolveUsername {
                username: "@Company_News_Demo".into(),
                referer: None,
            },
        )
        .unwrap();
    assert!(matches!(news.peer, tl::enums::Peer::Channel(_)));
    assert_err(
        fx.call(
            1,
            ka,
            &tl::functions::contacts::ResolveUsername {
                username: "nobody_here".into(),
                referer: None,
            },
        ),
        400,
        "USERNAME_NOT_OCCUPIED",
    );
    assert_err(
        fx.call(
            1,
            ka,
            &tl::functions::contacts::ResolveUsername {
                username: "x".into(),
                referer: None,
            },
        ),
        400,
        "USERNAME_INVALID",
    );
}

#[test]
fn peer_dialogs_and_private_chats_of_other_accounts() {
    let fx = Fx::new(WorldSpec::demo());
    let ka = fx.key();
    fx.login(1, ka, "+9996610001");
    let (dialogs, _, chats, users) = unpack_dialogs(fx.dialogs(1, ka, 3));
    let peers: Vec<tl::enums::InputDialogPeer> = dialogs
        .iter()
        .map(|d| {
            tl::types::InputDialogPeer {
                peer: input_peer(&dialog(d).peer, &users, &chats),
            }
            .into()
        })
        .collect();
    let tl::enums::messages::PeerDialogs::Dialogs(pd) = fx
        .call(1, ka, &tl::functions::messages::GetPeerDialogs { peers })
        .unwrap();
    assert_eq!(pd.dialogs.len(), 3);
    let tl::enums::updates::State::State(state) = pd.state;
    assert_eq!(state.pts, fx.state(1, ka).pts);
    // A basic group Alice is not in.
    let outsider = fx
        .world
        .create_chat(NewChat {
            kind: ChatKind::Group,
            title: "Secret".into(),
            username: None,
            creator_user_id: fx.world.user_id_by_phone("+9996620003").unwrap(),
            member_user_ids: vec![],
        })
        .unwrap();
    assert_err(
        fx.call(
            1,
            ka,
            &get_history(tl::types::InputPeerChat { chat_id: outsider }.into()),
        ),
        400,
        "CHAT_ID_INVALID",
    );
}

#[test]
fn dialog_paging_copes_with_empty_groups_at_page_ends() {
    let fx = Fx::empty();
    let a = fx.account("+9996610001", "A");
    let mut expected = 0;
    for i in 0..4 {
        let other = fx.account(&format!("+99966100{:02}", 10 + i), "Other");
        fx.post(other, a, "hi");
        fx.world.advance_clock(10);
        fx.world
            .create_chat(NewChat {
                kind: if i % 2 == 0 {
                    ChatKind::Group
                } else {
                    ChatKind::Supergroup
                },
                title: format!("Empty {i}"),
                username: None,
                creator_user_id: a,
                member_user_ids: vec![other],
            })
            .unwrap();
        fx.world.advance_clock(10);
        expected += 2;
    }
    let key = fx.key();
    fx.login(1, key, "+9996610001");
    // grammers' DialogIter: offset_date/offset_id from the last dialog that has
    // a message, offset_peer from the last dialog of the page.
    let mut req = get_dialogs(0, 0, tl::enums::InputPeer::Empty, 3);
    let mut seen = Vec::new();
    for _ in 0..10 {
        let page = fx.call(1, key, &req).unwrap();
        let last_chunk = matches!(page, tl::enums::messages::Dialogs::Dialogs(_));
        let (dialogs, messages, chats, users) = unpack_dialogs(page);
        if dialogs.is_empty() {
            break;
        }
        seen.extend(dialogs.iter().map(|d| peer_key(&dialog(d).peer)));
        if last_chunk || dialogs.len() < 3 {
            break;
        }
        if let Some(top) = dialogs.iter().rev().find_map(|d| {
            let d = dialog(d);
            messages.iter().find(|m| {
                msg_id(m) == d.top_message && peer_key(&msg(m).peer_id) == peer_key(&d.peer)
            })
        }) {
            req.offset_date = msg(top).date;
            req.offset_id = msg_id(top);
        }
        req.offset_peer = input_peer(&dialog(dialogs.last().unwrap()).peer, &users, &chats);
    }
    assert_eq!(seen.len(), expected, "{seen:?}");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), expected);
}
