//! The grammers session store, at the store level: what is written, when,
//! and what a restart finds. (The end-to-end login against tgsim lives with
//! the Telegram tests.)

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use grammers_session::Session as _;
use grammers_session::types::{
    ChannelKind, ChannelState, DcOption, PeerAuth, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use tgdesk::store::accounts::{self, LoginProfile};
use tgdesk::store::sessions;
use tgdesk::telegram::session::{SessionOptions, SessionSeed, SessionStore, StoredSession};
use tgdesk::vault::{Aad, Vault, VaultKey};

use crate::helpers::{TestDb, vault_with};

backend_tests!(
    a_bound_session_survives_a_restart,
    update_state_and_peers_are_batched,
    the_background_flusher_writes_without_an_explicit_flush,
    auth_material_is_written_only_when_it_changes,
    auth_keys_are_sealed_at_rest,
    an_unbound_session_writes_nothing_and_shred_stops_writes,
    a_peer_row_that_does_not_open_is_skipped,
);

fn key_bytes(seed: u8) -> [u8; 256] {
    let mut key = [0u8; 256];
    for (i, b) in key.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8).wrapping_mul(7) ^ 0x5a;
    }
    key
}

fn dc(id: i32, key: Option<[u8; 256]>) -> DcOption {
    DcOption {
        id,
        ipv4: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 20_000 + id as u16),
        ipv6: SocketAddrV6::new(Ipv6Addr::LOCALHOST, 20_000 + id as u16, 0, 0),
        auth_key: key,
    }
}

fn sim_seed() -> SessionSeed {
    SessionSeed::custom(
        2,
        vec![dc(1, Some(key_bytes(1))), dc(2, Some(key_bytes(2)))],
    )
}

fn me() -> PeerInfo {
    PeerInfo::User {
        id: 1_000,
        auth: Some(PeerAuth::from_hash(77)),
        bot: Some(false),
        is_self: Some(true),
    }
}

fn user(id: i64) -> PeerInfo {
    PeerInfo::User {
        id,
        auth: Some(PeerAuth::from_hash(id * 3)),
        bot: Some(false),
        is_self: Some(false),
    }
}

fn store(db: &tgdesk::store::Db, vault: &Arc<Vault>, flush: Duration) -> SessionStore {
    SessionStore::new(
        db.clone(),
        Arc::clone(vault),
        SessionOptions {
            flush_interval: flush,
        },
    )
}

async fn account(t: &TestDb, telegram_user_id: i64) -> i64 {
    accounts::upsert_login(
        t.db.pool(),
        &LoginProfile {
            telegram_user_id,
            display_name: "Ann",
            username: None,
            phone_masked: None,
            home_dc: Some(2),
        },
        1,
    )
    .await
    .expect("account")
    .id
}

fn new_vault() -> Arc<Vault> {
    Arc::new(vault_with(&[&VaultKey::generate().expect("key")]))
}

const HOUR: Duration = Duration::from_secs(3600);

async fn a_bound_session_survives_a_restart(t: &TestDb) {
    let vault = new_vault();
    let account_id = account(t, 1_000).await;
    let session = store(&t.db, &vault, HOUR).create(sim_seed());
    // What a login does: learn the self user and the update state...
    session.cache_peer(me()).await.expect("self");
    session
        .cache_peers(vec![
            user(2_000),
            PeerInfo::Chat { id: 300 },
            PeerInfo::Channel {
                id: 400,
                auth: Some(PeerAuth::from_hash(44)),
                kind: Some(ChannelKind::Megagroup),
            },
        ])
        .await
        .expect("peers");
    session
        .set_update_state(UpdateState::All(UpdatesState {
            pts: 10,
            qts: 1,
            date: 1_700_000_000,
            seq: 2,
            channels: vec![ChannelState { id: 400, pts: 5 }],
        }))
        .await
        .expect("state");
    // ...then bind it to the account and keep going.
    session.bind(account_id).await.expect("bind");
    session
        .set_update_state(UpdateState::Primary {
            pts: 11,
            date: 1_700_000_100,
            seq: 3,
        })
        .await
        .expect("state");
    session
        .set_update_state(UpdateState::Channel { id: 400, pts: 6 })
        .await
        .expect("channel");
    session.set_home_dc_id(1).await.expect("home");
    session.close().await.expect("close");
    drop(session);

    // A restart: a new pool, a new store, nothing in memory.
    let db = t.reopen().await;
    let loaded = store(&db, &vault, HOUR)
        .load(account_id)
        .await
        .expect("load")
        .expect("a stored session");
    assert_eq!(loaded.account_id(), Some(account_id));
    assert_eq!(loaded.home_dc_id().expect("home"), 1);
    assert_eq!(
        loaded.dc_option(1).expect("dc"),
        Some(dc(1, Some(key_bytes(1))))
    );
    assert_eq!(
        loaded.dc_option(2).expect("dc"),
        Some(dc(2, Some(key_bytes(2))))
    );
    assert_eq!(
        loaded.dc_option(4).expect("dc"),
        None,
        "a simulator session never falls back to Telegram's addresses"
    );
    assert_eq!(
        loaded.peer(PeerId::self_user()).await.expect("self"),
        Some(me()),
        "peer(self_user) answers with the is_self user"
    );
    assert_eq!(loaded.self_user(), Some(me()));
    assert_eq!(
        loaded.peer(user(2_000).id()).await.expect("peer"),
        Some(user(2_000))
    );
    assert_eq!(
        loaded
            .peer(PeerId::channel(400).expect("id"))
            .await
            .expect("peer"),
        Some(PeerInfo::Channel {
            id: 400,
            auth: Some(PeerAuth::from_hash(44)),
            kind: Some(ChannelKind::Megagroup),
        })
    );
    assert_eq!(
        loaded
            .peer(PeerId::chat(300).expect("id"))
            .await
            .expect("peer"),
        Some(PeerInfo::Chat { id: 300 })
    );
    assert_eq!(
        loaded.updates_state().await.expect("state"),
        UpdatesState {
            pts: 11,
            qts: 1,
            date: 1_700_000_100,
            seq: 3,
            channels: vec![ChannelState { id: 400, pts: 6 }],
        }
    );
    assert_eq!(
        loaded.write_stats().auth_writes,
        0,
        "loading writes nothing"
    );
    // grammers takes it as its erased session type.
    let _erased = grammers_session::storages::erase(Arc::clone(&loaded));
    loaded.close().await.expect("close");
    db.close().await;
}

async fn update_state_and_peers_are_batched(t: &TestDb) {
    let vault = new_vault();
    let account_id = account(t, 1_000).await;
    let session = store(&t.db, &vault, HOUR).create(sim_seed());
    session.cache_peer(me()).await.expect("self");
    session.bind(account_id).await.expect("bind");
    let after_bind = session.write_stats();

    for pts in 1..=1_000 {
        session
            .set_update_state(UpdateState::Primary {
                pts,
                date: 1_700_000_000 + pts,
                seq: pts,
            })
            .await
            .expect("state");
        if pts % 10 == 0 {
            // The same 100 peers come back again and again (dialogs, updates).
            session
                .cache_peers((0..100).map(|i| user(5_000 + i)).collect())
                .await
                .expect("peers");
        }
    }
    session.flush().await.expect("flush");
    let stats = session.write_stats();
    assert_eq!(
        stats.batches - after_bind.batches,
        1,
        "1,000 changes, one write"
    );
    assert_eq!(
        stats.peer_rows - after_bind.peer_rows,
        100,
        "each new peer written once"
    );
    assert_eq!(
        stats.auth_writes, after_bind.auth_writes,
        "the auth material is not rewritten per update"
    );
    let stored = sessions::get_update_state(t.db.pool(), account_id)
        .await
        .expect("get")
        .expect("state");
    assert_eq!(stored.pts, 1_000);
    assert_eq!(
        sessions::get_peers(t.db.pool(), account_id)
            .await
            .expect("peers")
            .len(),
        101
    );

    session.flush().await.expect("nothing to do");
    assert_eq!(session.write_stats(), stats, "a clean flush writes nothing");
    session.close().await.expect("close");
}

async fn the_background_flusher_writes_without_an_explicit_flush(t: &TestDb) {
    let vault = new_vault();
    let account_id = account(t, 1_000).await;
    let session = store(&t.db, &vault, Duration::from_millis(20)).create(sim_seed());
    session.bind(account_id).await.expect("bind");
    session
        .set_update_state(UpdateState::Primary {
            pts: 77,
            date: 1,
            seq: 1,
        })
        .await
        .expect("state");
    let written = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let stored = sessions::get_update_state(t.db.pool(), account_id)
                .await
                .expect("get");
            if stored.map(|s| s.pts) == Some(77) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(written.is_ok(), "the flusher wrote the change on its own");
    session.close().await.expect("close");
}

async fn auth_material_is_written_only_when_it_changes(t: &TestDb) {
    let vault = new_vault();
    let account_id = account(t, 1_000).await;
    let session = store(&t.db, &vault, HOUR).create(sim_seed());
    session.cache_peer(me()).await.expect("self");
    session.bind(account_id).await.expect("bind");
    let base = session.write_stats().auth_writes;
    assert_eq!(base, 1, "bind writes the auth material once");

    // grammers re-announces the same DC option on every connect.
    for _ in 0..5 {
        session
            .set_dc_option(&dc(2, Some(key_bytes(2))))
            .await
            .expect("same");
        session.set_home_dc_id(2).await.expect("same home");
        session.cache_peer(me()).await.expect("same self");
    }
    assert_eq!(session.write_stats().auth_writes, base);

    session
        .set_dc_option(&dc(4, Some(key_bytes(4))))
        .await
        .expect("new key");
    assert_eq!(session.write_stats().auth_writes, base + 1);
    session.set_home_dc_id(4).await.expect("migrate");
    assert_eq!(session.write_stats().auth_writes, base + 2);
    // A later sighting of the self user without its access hash keeps it.
    session
        .cache_peer(PeerInfo::User {
            id: 1_000,
            auth: None,
            bot: None,
            is_self: Some(true),
        })
        .await
        .expect("self again");
    assert_eq!(session.write_stats().auth_writes, base + 2);
    assert_eq!(
        session.peer(PeerId::self_user()).await.expect("self"),
        Some(me())
    );
    session.close().await.expect("close");

    let reloaded = store(&t.db, &vault, HOUR)
        .load(account_id)
        .await
        .expect("load")
        .expect("session");
    assert_eq!(reloaded.home_dc_id().expect("home"), 4);
    assert_eq!(
        reloaded.dc_option(4).expect("dc").and_then(|o| o.auth_key),
        Some(key_bytes(4))
    );
    reloaded.close().await.expect("close");
}

async fn auth_keys_are_sealed_at_rest(t: &TestDb) {
    let vault = new_vault();
    let account_id = account(t, 1_000).await;
    let session = store(&t.db, &vault, HOUR).create(sim_seed());
    session.cache_peer(me()).await.expect("self");
    session.cache_peer(user(2_000)).await.expect("peer");
    session.bind(account_id).await.expect("bind");
    session.close().await.expect("close");

    let key = key_bytes(2);
    let contains_key = |bytes: &[u8]| bytes.windows(32).any(|w| w == &key[100..132]);
    let auth = sessions::get_auth(t.db.pool(), account_id)
        .await
        .expect("get")
        .expect("auth");
    assert!(
        !contains_key(&auth),
        "the stored auth row holds no key bytes"
    );
    vault
        .open(&Aad::account_auth(account_id), &auth)
        .expect("it opens with the vault");
    for (_, sealed) in sessions::get_peers(t.db.pool(), account_id)
        .await
        .expect("peers")
    {
        // The access hash of user 2000 is 6000: not in clear either.
        assert!(!sealed.windows(8).any(|w| w == 6_000i64.to_le_bytes()));
    }
    // And nowhere in the SQLite files, WAL included.
    for file in t.sqlite_files() {
        let bytes = std::fs::read(&file).expect("read db file");
        assert!(!contains_key(&bytes), "{} holds key bytes", file.display());
    }
}

async fn an_unbound_session_writes_nothing_and_shred_stops_writes(t: &TestDb) {
    let vault = new_vault();
    let account_id = account(t, 1_000).await;
    let sessions_store = store(&t.db, &vault, Duration::from_millis(10));
    let session: Arc<StoredSession> = sessions_store.create(sim_seed());
    session.cache_peer(me()).await.expect("self");
    session
        .set_update_state(UpdateState::Primary {
            pts: 5,
            date: 1,
            seq: 1,
        })
        .await
        .expect("state");
    session.flush().await.expect("flush");
    assert_eq!(session.account_id(), None);
    assert_eq!(session.write_stats().auth_writes, 0);
    assert_eq!(
        sessions::get_auth(t.db.pool(), account_id)
            .await
            .expect("get"),
        None
    );

    session.bind(account_id).await.expect("bind");
    assert!(
        sessions::get_auth(t.db.pool(), account_id)
            .await
            .expect("get")
            .is_some()
    );
    session.shred().await.expect("shred");
    assert_eq!(session.account_id(), None);
    session
        .set_update_state(UpdateState::Primary {
            pts: 6,
            date: 1,
            seq: 1,
        })
        .await
        .expect("state");
    session.set_home_dc_id(4).await.expect("home");
    session.flush().await.expect("flush");
    assert!(
        sessions_store
            .load(account_id)
            .await
            .expect("load")
            .is_none(),
        "a shredded session stays gone"
    );
    assert_eq!(
        sessions::get_update_state(t.db.pool(), account_id)
            .await
            .expect("get"),
        None
    );
}

async fn a_peer_row_that_does_not_open_is_skipped(t: &TestDb) {
    let vault = new_vault();
    let account_id = account(t, 1_000).await;
    let session = store(&t.db, &vault, HOUR).create(sim_seed());
    session.cache_peer(user(2_000)).await.expect("peer");
    session.bind(account_id).await.expect("bind");
    session.close().await.expect("close");
    // A row sealed for another row (copied) must not open.
    let (_, sealed) = sessions::get_peers(t.db.pool(), account_id)
        .await
        .expect("peers")
        .remove(0);
    sessions::put_peer(t.db.pool(), account_id, 3_000, &sealed, 1)
        .await
        .expect("copy");

    let loaded = store(&t.db, &vault, HOUR)
        .load(account_id)
        .await
        .expect("load")
        .expect("session");
    assert_eq!(
        loaded.peer(user(2_000).id()).await.expect("peer"),
        Some(user(2_000))
    );
    assert_eq!(loaded.peer(user(3_000).id()).await.expect("peer"), None);
    loaded.close().await.expect("close");
}

#[tokio::test]
async fn a_telegram_seed_falls_back_to_the_known_data_centres() {
    let t = TestDb::sqlite().await;
    let sessions_store = store(&t.db, &new_vault(), HOUR);
    let telegram = sessions_store.create(SessionSeed::telegram());
    assert_eq!(telegram.home_dc_id().expect("home"), 2);
    let dc4 = telegram.dc_option(4).expect("dc").expect("known");
    assert_eq!(dc4.auth_key, None);
    assert_eq!(
        telegram.peer(PeerId::self_user()).await.expect("self"),
        None
    );
    let sim = sessions_store.create(sim_seed());
    assert_eq!(sim.dc_option(4).expect("dc"), None);
    assert_eq!(
        format!("{:?}", sim_seed()),
        "SessionSeed { home_dc: 2, dc_ids: [1, 2], known_dc_fallback: false }",
        "Debug shows no key bytes"
    );
}

#[tokio::test]
async fn loading_an_account_without_a_session_finds_none() {
    let t = TestDb::sqlite().await;
    let id = account(&t, 5).await;
    assert!(
        store(&t.db, &new_vault(), HOUR)
            .load(id)
            .await
            .expect("load")
            .is_none()
    );
}
