//! The MTProto layer against an unmodified grammers client and against
//! hostile bytes.

mod common;

use std::time::Duration;

use grammers_mtsender::InvocationError;
use grammers_tl_types as tl;
use rand::{Rng, RngCore, SeedableRng};
use tgsim::transport::Codec;
use tgsim::{FaultSpec, WorldSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grammers_connects_with_a_preshared_key_and_pings() {
    let sim = common::start(WorldSpec::empty()).await;
    let c = common::client(&sim, 1);

    let pong = c
        .client
        .invoke(&tl::functions::Ping { ping_id: 42 })
        .await
        .expect("ping answers");
    let tl::enums::Pong::Pong(pong) = pong;
    assert_eq!(pong.ping_id, 42);

    let stats = sim.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.calls.get("help.getConfig"), Some(&1), "{stats:?}");
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_points_every_dc_back_at_the_simulator() {
    let sim = common::start(WorldSpec::empty()).await;
    let c = common::client(&sim, 1);
    let tl::enums::Config::Config(config) = c
        .client
        .invoke(&tl::functions::help::GetConfig {})
        .await
        .expect("config");
    assert_eq!(config.this_dc, 1);
    let mut listed: Vec<(i32, String)> = config
        .dc_options
        .iter()
        .map(|tl::enums::DcOption::Option(o)| (o.id, format!("{}:{}", o.ip_address, o.port)))
        .collect();
    listed.sort();
    let expected: Vec<(i32, String)> = sim
        .dcs()
        .iter()
        .map(|d| (d.id, d.addr.to_string()))
        .collect();
    assert_eq!(listed, expected);

    // A call on the second DC opens a second connection with that DC's key.
    c.client
        .invoke_in_dc(2, &tl::functions::Ping { ping_id: 1 })
        .await
        .expect("ping on dc 2");
    assert_eq!(sim.stats().connections, 2);
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_auth_key_gets_transport_error_404() {
    let sim = common::start(WorldSpec::empty()).await;
    let addr = sim.dc_addr(1).expect("dc 1");
    let mut s = TcpStream::connect(addr).await.expect("connects");
    // A well-formed Full frame with an auth_key_id nobody registered.
    let mut payload = vec![0u8; 8 + 16 + 64];
    rand::rng().fill_bytes(&mut payload);
    let mut codec = Codec::Full {
        recv_seq: 0,
        send_seq: 0,
    };
    s.write_all(&codec.encode(&payload)).await.expect("writes");
    let mut answer = [0u8; 4];
    s.read_exact(&mut answer).await.expect("answers");
    assert_eq!(i32::from_le_bytes(answer), -404);
    // ...and closes.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("closes")
        .expect("reads");
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_works_only_on_the_dc_it_was_registered_for() {
    let sim = common::start(WorldSpec::empty()).await;
    let session = common::session_for(&sim, 1);
    // Swap DC 2's address for DC 1's: DC 1 must refuse DC 2's key.
    let mut opt2 = grammers_session::Session::dc_option(&*session, 2)
        .expect("session")
        .expect("dc 2");
    let grammers_session::types::DcOption {
        ipv4: v4_1,
        ipv6: v6_1,
        ..
    } = grammers_session::Session::dc_option(&*session, 1)
        .expect("session")
        .expect("dc 1");
    opt2.ipv4 = v4_1;
    opt2.ipv6 = v6_1;
    grammers_session::Session::set_dc_option(&*session, &opt2)
        .await
        .expect("set");
    let c = common::client_on(session);
    let err = c
        .client
        .invoke_in_dc(2, &tl::functions::Ping { ping_id: 1 })
        .await
        .expect_err("dc 1 does not know dc 2's key");
    assert!(
        !matches!(err, InvocationError::Rpc(_)),
        "a transport-level refusal, not an rpc answer: {err:?}"
    );
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_flood_wait_reaches_the_caller_then_clears() {
    let sim = common::start(WorldSpec::empty()).await;
    let c = common::client(&sim, 1);
    c.client
        .invoke(&tl::functions::Ping { ping_id: 1 })
        .await
        .expect("connected");
    sim.faults()
        .inject(FaultSpec {
            method: "help.getNearestDc".into(),
            error: Some("FLOOD_WAIT_30".into()),
            count: Some(1),
            delay_ms: None,
        })
        .expect("fault");
    let err = c
        .client
        .invoke(&tl::functions::help::GetNearestDc {})
        .await
        .expect_err("flood wait");
    match err {
        InvocationError::Rpc(rpc) => {
            assert_eq!(rpc.code, 420);
            assert_eq!(rpc.name, "FLOOD_WAIT");
            assert_eq!(rpc.value, Some(30));
        }
        other => panic!("expected an rpc error, got {other:?}"),
    }
    // The fault was for one call only: the next one reaches the world.
    let second = c.client.invoke(&tl::functions::help::GetNearestDc {}).await;
    assert!(
        !matches!(&second, Err(InvocationError::Rpc(r)) if r.name == "FLOOD_WAIT"),
        "{second:?}"
    );
    assert_eq!(sim.stats().calls.get("help.getNearestDc"), Some(&2));
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_method_does_not_hold_up_other_calls() {
    let sim = common::start(WorldSpec::empty()).await;
    let c = common::client(&sim, 1);
    c.client
        .invoke(&tl::functions::Ping { ping_id: 1 })
        .await
        .expect("connected");
    sim.faults()
        .inject(FaultSpec {
            method: "help.getNearestDc".into(),
            error: None,
            count: Some(1),
            delay_ms: Some(60_000),
        })
        .expect("fault");
    let slow_client = c.client.clone();
    let slow = tokio::spawn(async move {
        slow_client
            .invoke(&tl::functions::help::GetNearestDc {})
            .await
    });
    common::wait_for("the delayed call to arrive", || {
        sim.stats().calls.get("help.getNearestDc") == Some(&1)
    })
    .await;
    c.client
        .invoke(&tl::functions::Ping { ping_id: 2 })
        .await
        .expect("ping answers while the other call is delayed");
    assert!(!slow.is_finished(), "the delayed call is still waiting");
    slow.abort();
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_all_drops_every_connection_and_clients_come_back() {
    let sim = common::start(WorldSpec::empty()).await;
    let a = common::client(&sim, 1);
    let b = common::client(&sim, 1);
    for c in [&a, &b] {
        c.client
            .invoke(&tl::functions::Ping { ping_id: 1 })
            .await
            .expect("connected");
    }
    assert_eq!(sim.stats().connections, 2);
    sim.disconnect_all();
    common::wait_for("connections to drop", || sim.stats().connections == 0).await;

    // grammers reconnects on the next call.
    let mut answered = false;
    for _ in 0..3 {
        if a.client
            .invoke(&tl::functions::Ping { ping_id: 2 })
            .await
            .is_ok()
        {
            answered = true;
            break;
        }
    }
    assert!(answered, "the client reconnected");
    a.quit().await;
    b.quit().await;
}

/// Bounded fuzzing of the frame decoder: random streams must end in an error
/// or a frame, never a panic or a hang. `TGSIM_FUZZ_SECS` runs it longer.
#[tokio::test]
async fn the_frame_decoder_survives_random_bytes() {
    let secs: u64 = std::env::var("TGSIM_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut cases = 0u64;
    while std::time::Instant::now() < deadline || cases < 2_000 {
        let len = rng.random_range(0..600);
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        // Bias some cases towards each transport's tag.
        match cases % 4 {
            1 if len > 0 => bytes[0] = 0xef,
            2 if len > 3 => bytes[..4].copy_from_slice(&[0xee; 4]),
            3 if len > 3 => bytes[..4].copy_from_slice(&(len as i32).to_le_bytes()),
            _ => {}
        }
        let mut rd = &bytes[..];
        if let Ok((mut codec, pending)) = Codec::detect(&mut rd).await {
            let mut pending = pending;
            for _ in 0..4 {
                if codec.read_frame(&mut rd, pending.take()).await.is_err() {
                    break;
                }
            }
        }
        cases += 1;
    }
    assert!(cases >= 2_000);
}

/// Garbage on the wire closes that connection only: the simulator keeps
/// serving well-behaved clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_connections_never_take_the_simulator_down() {
    let sim = common::start(WorldSpec::empty()).await;
    let good = common::client(&sim, 1);
    good.client
        .invoke(&tl::functions::Ping { ping_id: 1 })
        .await
        .expect("connected");

    let addr = sim.dc_addr(1).expect("dc 1");
    let key = sim.new_auth_key(1).expect("key");
    let key_id = tgsim::crypto::auth_key_id(&key);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for case in 0..200u32 {
        let mut s = TcpStream::connect(addr).await.expect("connects");
        let mut bytes = vec![0u8; rng.random_range(1..2048)];
        rng.fill_bytes(&mut bytes);
        if case % 2 == 0 {
            // A correctly framed message under a registered key, with a
            // corrupt body: passes the transport, fails the crypto.
            let mut payload = key_id.to_le_bytes().to_vec();
            payload.extend_from_slice(&bytes[..bytes.len() / 16 * 16]);
            payload.extend_from_slice(&[0u8; 16 + 32]);
            let mut codec = Codec::Full {
                recv_seq: 0,
                send_seq: 0,
            };
            bytes = codec.encode(&payload);
        }
        let _ = s.write_all(&bytes).await;
        let _ = s.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
    }
    let pong = good
        .client
        .invoke(&tl::functions::Ping { ping_id: 2 })
        .await
        .expect("still served");
    let tl::enums::Pong::Pong(pong) = pong;
    assert_eq!(pong.ping_id, 2);
    common::wait_for("garbage connections to close", || {
        sim.stats().connections == 1
    })
    .await;
    good.quit().await;
}

/// One simulator holds a thousand concurrent grammers connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_simulator_holds_a_thousand_connections() {
    let sim = common::start(WorldSpec::empty()).await;
    let mut clients = Vec::new();
    for _ in 0..1000 {
        clients.push(common::client(&sim, 1));
    }
    let mut calls = tokio::task::JoinSet::new();
    for (i, c) in clients.iter().enumerate() {
        let client = c.client.clone();
        calls.spawn(async move {
            client
                .invoke(&tl::functions::Ping { ping_id: i as i64 })
                .await
                .map(|_| ())
        });
    }
    let mut ok = 0;
    while let Some(r) = calls.join_next().await {
        if matches!(r, Ok(Ok(()))) {
            ok += 1;
        }
    }
    assert_eq!(ok, 1000);
    assert_eq!(sim.stats().connections, 1000);
    for c in clients {
        c.handle.quit();
    }
    common::wait_for("connections to close", || sim.stats().connections == 0).await;
}

/// Speaks MTProto by hand over Intermediate and Abridged framing: the first
/// message (salt 0) gets new_session_created and bad_server_salt; the resent
/// one, with the given salt, gets its pong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intermediate_and_abridged_transports_work_too() {
    use grammers_crypto::{AuthKey, DequeBuffer, decrypt_data_v2, encrypt_data_v2};
    use grammers_tl_types::{Deserializable, Serializable};

    let sim = common::start(WorldSpec::empty()).await;
    let addr = sim.dc_addr(1).expect("dc 1");
    for (tag, mut codec) in [
        (vec![0xee; 4], Codec::Intermediate { padded: false }),
        (vec![0xef], Codec::Abridged),
    ] {
        let raw = sim.new_auth_key(1).expect("key");
        let key = AuthKey::from_bytes(raw);
        let session_id: i64 = rand::random();
        let mut s = TcpStream::connect(addr).await.expect("connects");
        s.write_all(&tag).await.expect("tag");
        let mut msg_id = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64)
            << 32;

        let mut send = |salt: i64, msg_id: i64, body: &[u8]| {
            let mut plain = Vec::new();
            plain.extend_from_slice(&salt.to_le_bytes());
            plain.extend_from_slice(&session_id.to_le_bytes());
            plain.extend_from_slice(&msg_id.to_le_bytes());
            plain.extend_from_slice(&1i32.to_le_bytes());
            plain.extend_from_slice(&(body.len() as i32).to_le_bytes());
            plain.extend_from_slice(body);
            let mut buf = DequeBuffer::with_capacity(plain.len(), 64);
            buf.extend(plain);
            encrypt_data_v2(&mut buf, &key);
            codec.encode(buf.as_ref())
        };
        let ping = tl::functions::Ping { ping_id: 77 }.to_bytes();
        s.write_all(&send(0, msg_id, &ping)).await.expect("write");

        // Read answers until the bad_server_salt names the salt to use.
        let mut rd_codec = match &tag[..] {
            [0xef] => Codec::Abridged,
            _ => Codec::Intermediate { padded: false },
        };
        let mut read_body = async |s: &mut TcpStream| -> Vec<u8> {
            let mut frame = rd_codec.read_frame(s, None).await.expect("frame");
            let plain = decrypt_data_v2(&mut frame, &key).expect("opens");
            assert_eq!(
                &plain[8..16],
                &session_id.to_le_bytes(),
                "session id echoed"
            );
            let len = i32::from_le_bytes(plain[28..32].try_into().expect("4 bytes")) as usize;
            plain[32..32 + len].to_vec()
        };
        let mut salt = None;
        for _ in 0..2 {
            let body = read_body(&mut s).await;
            if let Ok(tl::enums::BadMsgNotification::BadServerSalt(b)) =
                tl::enums::BadMsgNotification::from_bytes(&body)
            {
                assert_eq!(b.bad_msg_id, msg_id);
                salt = Some(b.new_server_salt);
            }
        }
        let salt = salt.expect("a bad_server_salt with the salt to use");
        msg_id += 4;
        s.write_all(&send(salt, msg_id, &ping))
            .await
            .expect("write");
        let body = read_body(&mut s).await;
        let tl::enums::Pong::Pong(pong) = tl::enums::Pong::from_bytes(&body).expect("pong");
        assert_eq!((pong.msg_id, pong.ping_id), (msg_id, 77));
    }
}
