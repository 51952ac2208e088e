//! Hostile input never panics the world, specs round-trip as JSON and are
//! validated, and generated worlds are deterministic and cheap.

use std::time::Instant;

use grammers_tl_types::{self as tl, Identifiable, Serializable};
use tgsim::world::{MessageSpec, UserSpec, WorldSpec};

use crate::{Fx, assert_err, get_history};

#[test]
fn malformed_and_unknown_requests_get_clear_errors() {
    let fx = Fx::new(WorldSpec::demo());
    let key = fx.key();
    fx.login(1, key, "+9996610001");
    assert_err(fx.raw(1, key, &[]), 400, "INPUT_FETCH_ERROR");
    assert_err(fx.raw(1, key, &[1, 2]), 400, "INPUT_FETCH_ERROR");
    assert_err(
        fx.raw(1, key, &0xdead_beef_u32.to_le_bytes()),
        400,
        "INPUT_METHOD_INVALID",
    );
    let search = tl::functions::messages::GetSearchCounters {
        peer: tl::enums::InputPeer::PeerSelf,
        saved_peer_id: None,
        top_msg_id: None,
        filters: vec![],
    };
    assert_err(
        fx.raw(1, key, &search.to_bytes()),
        400,
        "METHOD_NOT_SIMULATED",
    );
    // A truncated request.
    let body = get_history(tl::enums::InputPeer::PeerSelf).to_bytes();
    assert_err(
        fx.raw(1, key, &body[..body.len() - 3]),
        400,
        "INPUT_FETCH_ERROR",
    );
    // A peer nested thousands of times, which would recurse in the decoder.
    let mut body = tl::functions::messages::GetHistory::CONSTRUCTOR_ID
        .to_le_bytes()
        .to_vec();
    for _ in 0..100_000 {
        body.extend(tl::types::InputPeerUserFromMessage::CONSTRUCTOR_ID.to_le_bytes());
    }
    assert_err(fx.raw(1, key, &body), 400, "INPUT_FETCH_ERROR");
}

#[test]
fn random_bodies_never_panic() {
    let fx = Fx::new(WorldSpec::demo());
    let key = fx.key();
    fx.login(1, key, "+9996610001");
    let ids = [
        tl::functions::auth::SendCode::CONSTRUCTOR_ID,
        tl::functions::auth::SignIn::CONSTRUCTOR_ID,
        tl::functions::auth::CheckPassword::CONSTRUCTOR_ID,
        tl::functions::auth::ImportLoginToken::CONSTRUCTOR_ID,
        tl::functions::messages::GetDialogs::CONSTRUCTOR_ID,
        tl::functions::messages::GetHistory::CONSTRUCTOR_ID,
        tl::functions::messages::SendMessage::CONSTRUCTOR_ID,
        tl::functions::messages::ReadHistory::CONSTRUCTOR_ID,
        tl::functions::messages::GetPeerDialogs::CONSTRUCTOR_ID,
        tl::functions::updates::GetDifference::CONSTRUCTOR_ID,
        tl::functions::updates::GetChannelDifference::CONSTRUCTOR_ID,
        tl::functions::users::GetUsers::CONSTRUCTOR_ID,
    ];
    // A small deterministic generator: reproducible failures.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..20_000 {
        let mut body = ids[i % ids.len()].to_le_bytes().to_vec();
        let len = (next() % 96) as usize;
        for _ in 0..len {
            // Mostly small values, sometimes constructor-like words.
            let b = if next() % 4 == 0 {
                next() as u8
            } else {
                (next() % 3) as u8
            };
            body.push(b);
        }
        if let Err(e) = fx.raw(1, key, &body) {
            assert_ne!(e.code, 500, "body {body:02x?} crashed a handler");
        }
    }
}

#[test]
fn specs_round_trip_as_json_and_are_validated() {
    let demo = WorldSpec::demo();
    demo.validate().unwrap();
    let json = serde_json::to_string(&demo).unwrap();
    assert_eq!(WorldSpec::from_json(&json).unwrap(), demo);
    assert_eq!(WorldSpec::from_json(r#"{"seed": 3, "generate": {"accounts": 2, "chats_per_account": 1, "messages_per_chat": 1}}"#).unwrap().seed, 3);
    assert!(
        WorldSpec::from_json(r#"{"sede": 3}"#).is_err(),
        "unknown fields are errors"
    );

    let mut bad = WorldSpec::empty();
    bad.users.push(UserSpec {
        key: "a".into(),
        first_name: "A".into(),
        ..UserSpec::default()
    });
    bad.messages.push(MessageSpec {
        from: "a".into(),
        to: Some("ghost".into()),
        chat: None,
        text: "hi".into(),
        ago_secs: 1,
        reply_to: None,
        edited_ago_secs: None,
    });
    assert!(bad.validate().unwrap_err().contains("message 0"));
    // World::new still builds what it can.
    let fx = Fx::new(bad);
    assert_eq!(fx.world.users_count(), 1);
    assert_eq!(fx.world.messages_count(), 0);
}

#[test]
fn seeded_worlds_are_deterministic_and_cheap() {
    let started = Instant::now();
    let big = Fx::new(WorldSpec::seeded(7, 1_000, 10, 10));
    let took = started.elapsed();
    eprintln!("seeded(7, 1000, 10, 10) built in {took:?}");
    assert_eq!(big.world.accounts().len(), 1_000);
    assert_eq!(big.world.messages_count(), 1_000 * 10 * 10);
    // < 1 s is the budget for optimised builds; debug builds get slack.
    let budget = if cfg!(debug_assertions) { 10.0 } else { 1.0 };
    assert!(took.as_secs_f64() < budget, "building took {took:?}");

    let (x, y) = (
        Fx::new(WorldSpec::seeded(9, 20, 12, 8)),
        Fx::new(WorldSpec::seeded(9, 20, 12, 8)),
    );
    assert_eq!(x.world.accounts(), y.world.accounts());
    let phone = &x.world.accounts()[3].phone;
    let (kx, ky) = (x.key(), y.key());
    x.login(1, kx, phone);
    y.login(1, ky, phone);
    let dx = serde_json::to_string(&format!("{:?}", x.dialogs(1, kx, 100))).unwrap();
    let dy = serde_json::to_string(&format!("{:?}", y.dialogs(1, ky, 100))).unwrap();
    assert_eq!(dx, dy, "same seed, same dialogs, hashes and texts");
    let z = Fx::new(WorldSpec::seeded(10, 20, 12, 8));
    let kz = z.key();
    z.login(1, kz, phone);
    assert_ne!(dx, format!("{:?}", z.dialogs(1, kz, 100)));
}

#[test]
fn the_documented_spec_example_builds() {
    let json = r#"{
      "seed": 7,
      "anchor_date": 1735689600,
      "users": [
        {"key": "ana", "first_name": "Ana", "phone": "+9996610001", "username": "ana_sim",
         "password": "secret", "password_hint": "the usual", "home_dc": 1},
        {"key": "ben", "first_name": "Ben", "last_name": "Ng"}
      ],
      "chats": [
        {"key": "team", "kind": "group", "title": "Team", "creator": "ana", "members": ["ben"]},
        {"key": "news", "kind": "channel", "title": "News", "username": "news_sim", "creator": "ben",
         "members": ["ana"]}
      ],
      "messages": [
        {"from": "ben", "to": "ana", "text": "Hi!", "ago_secs": 3600},
        {"from": "ana", "to": "ben", "text": "Hello", "ago_secs": 3500, "reply_to": 0},
        {"from": "ana", "chat": "team", "text": "Standup?", "ago_secs": 60, "edited_ago_secs": 30}
      ],
      "generate": {"accounts": 3, "chats_per_account": 2, "messages_per_chat": 2}
    }"#;
    let fx = Fx::new(WorldSpec::from_json(json).unwrap());
    assert_eq!(fx.world.accounts().len(), 4);
    assert_eq!(fx.world.messages_count(), 3 + 3 * 2 * 2);
    assert!(fx.world.accounts()[0].has_password);
    assert!(fx.world.chat_id_by_username("news_sim").is_some());
}
