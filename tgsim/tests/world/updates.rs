//! Writes and their update sequences: sendMessage results and pushes with
//! consecutive pts, random_id dedupe, groups and channels, getDifference
//! replay / slice / too long, channel difference, read receipts, edits and
//! deletions.

use grammers_tl_types as tl;
use tgsim::world::{ChatKind, DeleteMessages, EditMessage, NewChat, NewMessage};

use crate::{
    Fx, assert_err, get_difference, get_history, msg, msg_id, send_message, unpack_messages,
};

struct Two {
    fx: Fx,
    a: i64,
    b: i64,
    ka: i64,
    kb: i64,
}

fn two() -> Two {
    let fx = Fx::empty();
    let a = fx.account("+9996610001", "Alice");
    let b = fx.account("+9996610002", "Bob");
    fx.post(b, a, "hello"); // so each side has seen the other
    let (ka, kb) = (fx.key(), fx.key());
    fx.login(1, ka, "+9996610001");
    fx.login(1, kb, "+9996610002");
    Two { fx, a, b, ka, kb }
}

fn short_message(u: &tl::enums::Updates) -> &tl::types::UpdateShortMessage {
    match u {
        tl::enums::Updates::UpdateShortMessage(m) => m,
        other => panic!("expected updateShortMessage, got {other:?}"),
    }
}

#[test]
fn send_message_advances_pts_by_one_on_both_sides_and_pushes() {
    let t = two();
    let fx = &t.fx;
    let ka2 = fx.key();
    fx.login(1, ka2, "+9996610001");
    let (mut own, mut other_device, mut bob) =
        (fx.connect(t.ka), fx.connect(ka2), fx.connect(t.kb));
    let (pa, pb) = (fx.state(1, t.ka).pts, fx.state(1, t.kb).pts);

    let peer = fx.input_user_peer(1, t.ka, t.b);
    for i in 1..=3 {
        let sent = fx
            .call(
                1,
                t.ka,
                &send_message(peer.clone(), &format!("m{i}"), 100 + i),
            )
            .unwrap();
        let tl::enums::Updates::UpdateShortSentMessage(s) = sent else {
            panic!("a private message answers updateShortSentMessage");
        };
        assert!(s.out);
        assert_eq!((s.pts, s.pts_count), (pa + i as i32, 1));
    }
    assert!(
        own.drain().is_empty(),
        "the sending key gets the result, not a push"
    );
    let pushed = other_device.drain();
    assert_eq!(pushed.len(), 3);
    for (i, u) in pushed.iter().enumerate() {
        let m = short_message(u);
        assert!(m.out);
        assert_eq!((m.user_id, m.pts, m.pts_count), (t.b, pa + 1 + i as i32, 1));
    }
    let pushed = bob.drain();
    assert_eq!(pushed.len(), 3);
    for (i, u) in pushed.iter().enumerate() {
        let m = short_message(u);
        assert!(!m.out);
        assert_eq!(
            (m.user_id, m.pts, m.message.as_str()),
            (t.a, pb + 1 + i as i32, format!("m{}", i + 1).as_str())
        );
    }
    assert_eq!(fx.state(1, t.kb).pts, pb + 3);
}

#[test]
fn a_retried_random_id_creates_nothing() {
    let t = two();
    let fx = &t.fx;
    let peer = fx.input_user_peer(1, t.ka, t.b);
    let first = fx
        .call(1, t.ka, &send_message(peer.clone(), "once", 42))
        .unwrap();
    let again = fx
        .call(1, t.ka, &send_message(peer.clone(), "once", 42))
        .unwrap();
    let (
        tl::enums::Updates::UpdateShortSentMessage(x),
        tl::enums::Updates::UpdateShortSentMessage(y),
    ) = (first, again)
    else {
        panic!("expected updateShortSentMessage twice");
    };
    assert_eq!(x.id, y.id);
    assert_eq!((y.pts, y.pts_count), (x.pts, 0));
    let (history, _) = unpack_messages(fx.call(1, t.ka, &get_history(peer)).unwrap());
    assert_eq!(history.len(), 2);
}

#[test]
fn group_and_channel_messages_answer_updates_with_message_id() {
    let t = two();
    let fx = &t.fx;
    let group = fx
        .world
        .create_chat(NewChat {
            kind: ChatKind::Group,
            title: "G".into(),
            username: None,
            creator_user_id: t.a,
            member_user_ids: vec![t.b],
        })
        .unwrap();
    let mut bob = fx.connect(t.kb);
    let pa = fx.state(1, t.ka).pts;
    let sent = fx
        .call(
            1,
            t.ka,
            &send_message(
                tl::types::InputPeerChat { chat_id: group }.into(),
                "hi group",
                7,
            ),
        )
        .unwrap();
    let tl::enums::Updates::Updates(u) = sent else {
        panic!("expected updates")
    };
    assert!(matches!(&u.updates[0], tl::enums::Update::MessageId(m) if m.random_id == 7));
    let tl::enums::Update::NewMessage(new) = &u.updates[1] else {
        panic!("expected updateNewMessage")
    };
    assert_eq!((new.pts, new.pts_count), (pa + 1, 1));
    assert!(
        u.chats
            .iter()
            .any(|c| matches!(c, tl::enums::Chat::Chat(c) if c.id == group))
    );
    let pushed = bob.drain();
    assert!(
        matches!(&pushed[..], [tl::enums::Updates::UpdateShortChatMessage(m)] if m.chat_id == group && m.from_id == t.a && !m.out)
    );

    let channel = fx
        .world
        .create_chat(NewChat {
            kind: ChatKind::Supergroup,
            title: "S".into(),
            username: None,
            creator_user_id: t.b,
            member_user_ids: vec![t.a],
        })
        .unwrap();
    let input = fx.channel_input(1, t.ka, channel);
    let peer: tl::enums::InputPeer = tl::types::InputPeerChannel {
        channel_id: channel,
        access_hash: input.access_hash,
    }
    .into();
    for (i, rid) in [8i64, 9].into_iter().enumerate() {
        let tl::enums::Updates::Updates(u) = fx
            .call(1, t.ka, &send_message(peer.clone(), "hi channel", rid))
            .unwrap()
        else {
            panic!("expected updates");
        };
        let tl::enums::Update::NewChannelMessage(new) = &u.updates[1] else {
            panic!("expected updateNewChannelMessage")
        };
        assert_eq!(
            (new.pts, new.pts_count, msg_id(&new.message)),
            (2 + i as i32, 1, 1 + i as i32)
        );
    }
    let pushed = bob.drain();
    assert_eq!(pushed.len(), 2);
    assert!(pushed.iter().all(|u| matches!(u, tl::enums::Updates::Updates(u) if matches!(u.updates[0], tl::enums::Update::NewChannelMessage(_)))));

    // Only the creator posts in a broadcast channel.
    let news = fx
        .world
        .create_chat(NewChat {
            kind: ChatKind::Channel,
            title: "N".into(),
            username: None,
            creator_user_id: t.b,
            member_user_ids: vec![t.a],
        })
        .unwrap();
    let input = fx.channel_input(1, t.ka, news);
    let peer: tl::enums::InputPeer = tl::types::InputPeerChannel {
        channel_id: news,
        access_hash: input.access_hash,
    }
    .into();
    assert_err(
        fx.call(1, t.ka, &send_message(peer, "nope", 10)),
        403,
        "CHAT_WRITE_FORBIDDEN",
    );
}

#[test]
fn get_difference_replays_slices_and_gives_up_when_too_long() {
    let t = two();
    let fx = &t.fx;
    let s = fx.state(1, t.kb);
    assert!(matches!(
        fx.call(1, t.kb, &get_difference(s.pts, s.date)).unwrap(),
        tl::enums::updates::Difference::Empty(_)
    ));
    for i in 0..5 {
        fx.post(t.a, t.b, &format!("while away {i}"));
    }
    let tl::enums::updates::Difference::Difference(d) =
        fx.call(1, t.kb, &get_difference(s.pts, s.date)).unwrap()
    else {
        panic!("expected a full difference");
    };
    assert_eq!(d.new_messages.len(), 5);
    assert!(d.users.iter().any(|u| crate::user_id_of(u) == t.a));
    let tl::enums::updates::State::State(end) = d.state;
    assert_eq!(end.pts, s.pts + 5);

    for i in 0..150 {
        fx.post(t.a, t.b, &format!("flood {i}"));
    }
    let tl::enums::updates::Difference::Slice(slice) = fx
        .call(1, t.kb, &get_difference(end.pts, end.date))
        .unwrap()
    else {
        panic!("expected a slice");
    };
    assert_eq!(slice.new_messages.len(), 100);
    let tl::enums::updates::State::State(mid) = slice.intermediate_state;
    assert_eq!(mid.pts, end.pts + 100);
    let tl::enums::updates::Difference::Difference(rest) = fx
        .call(1, t.kb, &get_difference(mid.pts, mid.date))
        .unwrap()
    else {
        panic!("expected the rest");
    };
    assert_eq!(rest.new_messages.len(), 50);

    let mut limited = get_difference(end.pts, end.date);
    limited.pts_total_limit = Some(10);
    assert!(matches!(
        fx.call(1, t.kb, &limited).unwrap(),
        tl::enums::updates::Difference::TooLong(tl::types::updates::DifferenceTooLong { pts }) if pts == mid.pts + 50
    ));
    // A client ahead of the server is reset.
    assert!(matches!(
        fx.call(1, t.kb, &get_difference(mid.pts + 1_000, 1))
            .unwrap(),
        tl::enums::updates::Difference::TooLong(_)
    ));
}

#[test]
fn the_initial_history_is_not_replayable() {
    let fx = Fx::new(tgsim::world::WorldSpec::demo());
    let key = fx.key();
    fx.login(1, key, "+9996610001");
    let s = fx.state(1, key);
    assert!(s.pts > 50, "pts reflect the seeded history");
    assert!(matches!(
        fx.call(1, key, &get_difference(1, 1)).unwrap(),
        tl::enums::updates::Difference::TooLong(tl::types::updates::DifferenceTooLong { pts }) if pts == s.pts
    ));
}

#[test]
fn channel_news_is_fetched_with_get_channel_difference() {
    let t = two();
    let fx = &t.fx;
    let channel = fx
        .world
        .create_chat(NewChat {
            kind: ChatKind::Channel,
            title: "News".into(),
            username: None,
            creator_user_id: t.a,
            member_user_ids: vec![t.b],
        })
        .unwrap();
    fx.post_in(t.a, channel, "first");
    let input = fx.channel_input(1, t.kb, channel);
    let s = fx.state(1, t.kb);
    let chan_diff = |pts| tl::functions::updates::GetChannelDifference {
        force: false,
        channel: input.clone().into(),
        filter: tl::enums::ChannelMessagesFilter::Empty,
        pts,
        limit: 100,
    };
    let pts0 = 2;
    assert!(matches!(
        fx.call(1, t.kb, &chan_diff(pts0)).unwrap(),
        tl::enums::updates::ChannelDifference::Empty(e) if e.pts == pts0 && e.r#final
    ));
    for i in 0..3 {
        fx.post_in(t.a, channel, &format!("news {i}"));
    }
    // The account difference tells the client which channel to ask.
    let tl::enums::updates::Difference::Difference(d) =
        fx.call(1, t.kb, &get_difference(s.pts, s.date)).unwrap()
    else {
        panic!("expected a difference naming the channel");
    };
    assert!(
        d.other_updates
            .iter()
            .any(|u| matches!(u, tl::enums::Update::ChannelTooLong(c) if c.channel_id == channel))
    );
    let tl::enums::updates::ChannelDifference::Difference(cd) =
        fx.call(1, t.kb, &chan_diff(pts0)).unwrap()
    else {
        panic!("expected a channel difference");
    };
    assert_eq!(
        (cd.new_messages.len(), cd.pts, cd.r#final),
        (3, pts0 + 3, true)
    );
    assert!(
        cd.new_messages
            .iter()
            .all(|m| msg(m).post && msg(m).from_id.is_none())
    );
    let mut small = chan_diff(pts0);
    small.limit = 2;
    let tl::enums::updates::ChannelDifference::Difference(part) = fx.call(1, t.kb, &small).unwrap()
    else {
        panic!("expected a partial channel difference");
    };
    assert_eq!(
        (part.new_messages.len(), part.pts, part.r#final),
        (2, pts0 + 2, false)
    );
    assert!(matches!(
        fx.call(1, t.kb, &chan_diff(pts0 + 5_000)).unwrap(),
        tl::enums::updates::ChannelDifference::TooLong(_)
    ));
}

#[test]
fn read_history_moves_marks_and_tells_the_sender() {
    let t = two();
    let fx = &t.fx;
    fx.post(t.a, t.b, "one");
    fx.post(t.a, t.b, "two");
    let mut alice = fx.connect(t.ka);
    let peer = fx.input_user_peer(1, t.kb, t.a);
    let unread = |key, user| {
        let (dialogs, ..) = crate::unpack_dialogs(fx.dialogs(1, key, 100));
        dialogs
            .iter()
            .map(crate::dialog)
            .find(|d| matches!(&d.peer, tl::enums::Peer::User(u) if u.user_id == user))
            .map(|d| (d.unread_count, d.read_outbox_max_id))
            .unwrap()
    };
    assert!(unread(t.kb, t.a).0 >= 2);
    let pb = fx.state(1, t.kb).pts;
    let tl::enums::messages::AffectedMessages::Messages(aff) = fx
        .call(
            1,
            t.kb,
            &tl::functions::messages::ReadHistory {
                peer: peer.clone(),
                max_id: 0,
            },
        )
        .unwrap();
    assert_eq!((aff.pts, aff.pts_count), (pb + 1, 1));
    assert_eq!(unread(t.kb, t.a).0, 0);
    let pushed = alice.drain();
    let [tl::enums::Updates::UpdateShort(u)] = pushed.as_slice() else {
        panic!("{pushed:?}")
    };
    let tl::enums::Update::ReadHistoryOutbox(out) = &u.update else {
        panic!("{u:?}")
    };
    assert_eq!(unread(t.ka, t.b).1, out.max_id);
    // Reading again changes nothing.
    let tl::enums::messages::AffectedMessages::Messages(again) = fx
        .call(
            1,
            t.kb,
            &tl::functions::messages::ReadHistory { peer, max_id: 0 },
        )
        .unwrap();
    assert_eq!((again.pts, again.pts_count), (pb + 1, 0));
}

#[test]
fn edits_and_deletions_reach_every_side_and_history() {
    let t = two();
    let fx = &t.fx;
    let id = fx.post(t.a, t.b, "typo");
    let reply = fx
        .world
        .post_message(NewMessage {
            from_user_id: t.b,
            to_user_id: Some(t.a),
            chat_id: None,
            text: "re".into(),
            reply_to: Some(fx.post(t.b, t.a, "x")),
        })
        .unwrap();
    let mut bob = fx.connect(t.kb);
    fx.world
        .edit_message(EditMessage {
            user_id: t.a,
            to_user_id: Some(t.b),
            chat_id: None,
            message_id: id,
            text: "fixed".into(),
        })
        .unwrap();
    // Only the author edits.
    let alice_peer = fx.input_user_peer(1, t.ka, t.b);
    let (alices, _) = unpack_messages(fx.call(1, t.ka, &get_history(alice_peer)).unwrap());
    let re_for_alice = alices
        .iter()
        .map(msg)
        .find(|m| m.message == "re")
        .unwrap()
        .id;
    assert!(
        fx.world
            .edit_message(EditMessage {
                user_id: t.a,
                to_user_id: Some(t.b),
                chat_id: None,
                message_id: re_for_alice,
                text: "no".into()
            })
            .unwrap_err()
            .contains("author")
    );
    let _ = reply;
    assert!(
        fx.world
            .edit_message(EditMessage {
                user_id: t.a,
                to_user_id: Some(t.b),
                chat_id: None,
                message_id: 9_999,
                text: "no".into()
            })
            .is_err()
    );
    let pushed = bob.drain();
    let tl::enums::Updates::Updates(u) = &pushed[0] else {
        panic!("{pushed:?}")
    };
    let tl::enums::Update::EditMessage(edit) = &u.updates[0] else {
        panic!("{u:?}")
    };
    assert_eq!(msg(&edit.message).message, "fixed");
    assert!(msg(&edit.message).edit_date.is_some());

    let peer = fx.input_user_peer(1, t.kb, t.a);
    let (history, _) = unpack_messages(fx.call(1, t.kb, &get_history(peer.clone())).unwrap());
    let replied = history.iter().map(msg).find(|m| m.message == "re").unwrap();
    assert!(replied.reply_to.is_some());
    let bobs_copy = history
        .iter()
        .map(msg)
        .find(|m| m.message == "fixed")
        .unwrap()
        .id;

    let before = fx.state(1, t.kb).pts;
    fx.world
        .delete_messages(DeleteMessages {
            user_id: t.a,
            to_user_id: Some(t.b),
            chat_id: None,
            message_ids: vec![id],
            revoke: true,
        })
        .unwrap();
    let pushed = bob.drain();
    let tl::enums::Updates::UpdateShort(u) = pushed.last().unwrap() else {
        panic!("{pushed:?}")
    };
    let tl::enums::Update::DeleteMessages(del) = &u.update else {
        panic!("{u:?}")
    };
    assert_eq!(
        (del.messages.clone(), del.pts, del.pts_count),
        (vec![bobs_copy], before + 1, 1)
    );
    let (history, _) = unpack_messages(fx.call(1, t.kb, &get_history(peer)).unwrap());
    assert!(history.iter().all(|m| msg(m).message != "fixed"));

    // Deleting through the API answers affectedMessages with the caller's pts.
    let pa = fx.state(1, t.ka).pts;
    let theirs = fx.post(t.a, t.b, "oops");
    let tl::enums::messages::AffectedMessages::Messages(aff) = fx
        .call(
            1,
            t.ka,
            &tl::functions::messages::DeleteMessages {
                revoke: true,
                id: vec![theirs],
            },
        )
        .unwrap();
    assert_eq!((aff.pts, aff.pts_count), (pa + 2, 1));
}

#[test]
fn control_posts_check_their_arguments() {
    let t = two();
    let w = &t.fx.world;
    let post = |m: NewMessage| w.post_message(m);
    assert!(
        post(NewMessage {
            from_user_id: t.a,
            to_user_id: None,
            chat_id: None,
            text: "x".into(),
            reply_to: None
        })
        .is_err()
    );
    assert!(
        post(NewMessage {
            from_user_id: t.a,
            to_user_id: Some(t.b),
            chat_id: Some(1),
            text: "x".into(),
            reply_to: None
        })
        .is_err()
    );
    assert!(
        post(NewMessage {
            from_user_id: t.a,
            to_user_id: Some(t.b),
            chat_id: None,
            text: "  ".into(),
            reply_to: None
        })
        .is_err()
    );
    assert!(
        post(NewMessage {
            from_user_id: t.a,
            to_user_id: Some(777),
            chat_id: None,
            text: "x".into(),
            reply_to: None
        })
        .is_err()
    );
    assert!(
        post(NewMessage {
            from_user_id: t.a,
            to_user_id: None,
            chat_id: Some(5),
            text: "x".into(),
            reply_to: None
        })
        .is_err()
    );
    assert!(
        post(NewMessage {
            from_user_id: t.a,
            to_user_id: Some(t.b),
            chat_id: None,
            text: "x".into(),
            reply_to: Some(12_345)
        })
        .is_err()
    );
    assert!(
        post(NewMessage {
            from_user_id: t.a,
            to_user_id: Some(t.b),
            chat_id: None,
            text: "x".repeat(4097),
            reply_to: None
        })
        .is_err()
    );
}
