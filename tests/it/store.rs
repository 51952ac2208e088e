//! The storage suite: every table group, on SQLite and on PostgreSQL.

use tgdesk::store::accounts::{self, AccountState, LoginProfile};
use tgdesk::store::events::{self, NewEvent};
use tgdesk::store::login_attempts::{self, LoginAttemptFilter, LoginMethod, NewLoginAttempt};
use tgdesk::store::sessions::{self, UpdateStateRow};
use tgdesk::store::tokens::{self, NewToken, TokenRole};
use tgdesk::store::web_sessions::{self, WebSession};
use tgdesk::store::{admins, audit};

use crate::helpers::TestDb;

backend_tests!(
    migrations_are_idempotent,
    login_creates_then_reattaches_the_same_account,
    account_state_changes_and_active_list,
    remote_logout_pending_is_set_and_cleared,
    session_parts_are_stored_apart_and_shredded_together,
    foreign_keys_are_enforced,
    deleting_an_account_cascades,
    web_sessions_expire_and_end_per_account,
    api_tokens_are_found_by_prefix_and_revoked,
    admin_grants_are_idempotent,
    login_attempts_filter_and_count,
    audit_log_lists_newest_first_with_filters,
    event_cursors_increase_and_never_go_back,
    concurrent_appends_get_distinct_contiguous_cursors,
    failed_seal_rolls_back_the_whole_append,
);

fn profile(telegram_user_id: i64, name: &'static str) -> LoginProfile<'static> {
    LoginProfile {
        telegram_user_id,
        display_name: name,
        username: Some("ann"),
        phone_masked: Some("+44 •••• ••01 23"),
        home_dc: Some(2),
    }
}

async fn new_account(t: &TestDb, telegram_user_id: i64) -> i64 {
    accounts::upsert_login(t.db.pool(), &profile(telegram_user_id, "Ann"), 1_000)
        .await
        .expect("upsert")
        .id
}

async fn migrations_are_idempotent(t: &TestDb) {
    t.db.migrate().await.expect("second migrate");
    let db2 = t.reopen().await;
    db2.migrate().await.expect("migrate from another pool");
    assert_eq!(t.db.known_migrations()[0].0, 1);
    t.db.ping().await.expect("ping");
}

async fn login_creates_then_reattaches_the_same_account(t: &TestDb) {
    let first = accounts::upsert_login(t.db.pool(), &profile(42, "Ann"), 1_000)
        .await
        .expect("insert");
    assert_eq!(first.state, AccountState::Active);
    assert_eq!(first.created_at, 1_000);
    assert_eq!(first.logged_in_at, Some(1_000));
    assert_eq!(first.phone_masked.as_deref(), Some("+44 •••• ••01 23"));

    accounts::set_state(t.db.pool(), first.id, AccountState::Reset, 1_500)
        .await
        .expect("reset");
    let again = accounts::upsert_login(
        t.db.pool(),
        &LoginProfile {
            telegram_user_id: 42,
            display_name: "Ann B",
            username: None,
            phone_masked: None,
            home_dc: Some(4),
        },
        2_000,
    )
    .await
    .expect("re-attach");
    assert_eq!(again.id, first.id, "same Telegram user, same account");
    assert_eq!(again.state, AccountState::Active);
    assert_eq!(again.display_name, "Ann B");
    assert_eq!(again.username, None);
    assert_eq!(
        again.phone_masked.as_deref(),
        Some("+44 •••• ••01 23"),
        "kept when not given"
    );
    assert_eq!(again.home_dc, Some(4));
    assert_eq!(again.created_at, 1_000);
    assert_eq!(again.logged_in_at, Some(2_000));
    assert_eq!(again.state_changed_at, Some(2_000));

    let by_tg = accounts::get_by_telegram_id(t.db.pool(), 42)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(by_tg, again);
    assert!(
        accounts::get(t.db.pool(), 9_999)
            .await
            .expect("get")
            .is_none()
    );

    assert!(
        accounts::set_phone_sealed(t.db.pool(), first.id, Some(b"\x01sealed"))
            .await
            .expect("phone")
    );
    let stored = accounts::get(t.db.pool(), first.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.phone_sealed.as_deref(), Some(&b"\x01sealed"[..]));
    let debug = format!("{stored:?}");
    assert!(
        !debug.contains("sealed"),
        "Debug hides the sealed phone: {debug}"
    );
}

async fn account_state_changes_and_active_list(t: &TestDb) {
    let a = new_account(t, 1).await;
    let b = new_account(t, 2).await;
    let c = new_account(t, 3).await;
    for id in [a, b, c] {
        sessions::put_auth(t.db.pool(), id, b"auth", 1)
            .await
            .expect("auth");
    }
    assert!(
        accounts::set_state(t.db.pool(), b, AccountState::Revoked, 5)
            .await
            .expect("revoke")
    );
    assert!(
        !accounts::set_state(t.db.pool(), 777, AccountState::Revoked, 5)
            .await
            .expect("missing")
    );
    let mut conn = t.db.pool().acquire().await.expect("conn");
    sessions::delete_session(&mut conn, c).await.expect("shred");
    drop(conn);
    assert_eq!(
        accounts::active_with_session(t.db.pool())
            .await
            .expect("active"),
        [a]
    );
    let all = accounts::list(t.db.pool()).await.expect("list");
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].state, AccountState::Revoked);
    assert_eq!(all[1].state_changed_at, Some(5));

    accounts::touch_last_seen(t.db.pool(), a, 77)
        .await
        .expect("touch");
    accounts::update_profile(t.db.pool(), a, "Renamed", Some("renamed"))
        .await
        .expect("profile");
    let a_row = accounts::get(t.db.pool(), a)
        .await
        .expect("get")
        .expect("a");
    assert_eq!(a_row.last_seen_at, Some(77));
    assert_eq!(a_row.display_name, "Renamed");
}

async fn remote_logout_pending_is_set_and_cleared(t: &TestDb) {
    let a = new_account(t, 1).await;
    accounts::set_remote_logout_pending(t.db.pool(), a, Some(50))
        .await
        .expect("set");
    let pending = accounts::remote_logout_pending(t.db.pool())
        .await
        .expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].remote_logout_pending_since, Some(50));
    // A new login clears it.
    accounts::upsert_login(t.db.pool(), &profile(1, "Ann"), 60)
        .await
        .expect("login");
    assert!(
        accounts::remote_logout_pending(t.db.pool())
            .await
            .expect("list")
            .is_empty()
    );
}

async fn session_parts_are_stored_apart_and_shredded_together(t: &TestDb) {
    let a = new_account(t, 1).await;
    assert_eq!(sessions::get_auth(t.db.pool(), a).await.expect("get"), None);
    sessions::put_auth(t.db.pool(), a, b"one", 1)
        .await
        .expect("put");
    sessions::put_auth(t.db.pool(), a, b"two", 2)
        .await
        .expect("replace");
    assert_eq!(
        sessions::get_auth(t.db.pool(), a)
            .await
            .expect("get")
            .as_deref(),
        Some(&b"two"[..])
    );

    let state = UpdateStateRow {
        pts: 10,
        qts: 2,
        date: 1_700_000_000,
        seq: 3,
    };
    sessions::put_update_state(t.db.pool(), a, &state, 5)
        .await
        .expect("state");
    let newer = UpdateStateRow { pts: 11, ..state };
    sessions::put_update_state(t.db.pool(), a, &newer, 6)
        .await
        .expect("state");
    assert_eq!(
        sessions::get_update_state(t.db.pool(), a)
            .await
            .expect("get"),
        Some(newer)
    );

    for (channel, pts) in [(100, 1), (200, 2), (100, 5)] {
        sessions::put_channel_state(t.db.pool(), a, channel, pts)
            .await
            .expect("channel");
    }
    assert_eq!(
        sessions::get_channel_states(t.db.pool(), a)
            .await
            .expect("channels"),
        [(100, 5), (200, 2)]
    );
    let mut conn = t.db.pool().acquire().await.expect("conn");
    sessions::delete_channel_states_except(&mut conn, a, &[200])
        .await
        .expect("prune");
    drop(conn);
    assert_eq!(
        sessions::get_channel_states(t.db.pool(), a)
            .await
            .expect("channels"),
        [(200, 2)]
    );

    sessions::put_peer(t.db.pool(), a, -1_000_000_000_123, b"chan", 1)
        .await
        .expect("peer");
    sessions::put_peer(t.db.pool(), a, 555, b"user", 1)
        .await
        .expect("peer");
    sessions::put_peer(t.db.pool(), a, 555, b"user2", 2)
        .await
        .expect("peer");
    assert_eq!(
        sessions::get_peers(t.db.pool(), a).await.expect("peers"),
        [
            (-1_000_000_000_123, b"chan".to_vec()),
            (555, b"user2".to_vec())
        ]
    );

    let mut conn = t.db.pool().acquire().await.expect("conn");
    assert!(sessions::delete_session(&mut conn, a).await.expect("shred"));
    assert!(!sessions::delete_session(&mut conn, a).await.expect("again"));
    drop(conn);
    assert_eq!(sessions::get_auth(t.db.pool(), a).await.expect("get"), None);
    assert_eq!(
        sessions::get_update_state(t.db.pool(), a)
            .await
            .expect("get"),
        None
    );
    assert!(
        sessions::get_peers(t.db.pool(), a)
            .await
            .expect("peers")
            .is_empty()
    );
    assert!(
        sessions::get_channel_states(t.db.pool(), a)
            .await
            .expect("channels")
            .is_empty()
    );
    assert!(
        accounts::get(t.db.pool(), a).await.expect("get").is_some(),
        "the account itself stays"
    );
}

async fn foreign_keys_are_enforced(t: &TestDb) {
    let err = sessions::put_auth(t.db.pool(), 12_345, b"orphan", 1).await;
    assert!(err.is_err(), "auth for a missing account must be refused");
    let err = tokens::insert(
        t.db.pool(),
        &NewToken {
            account_id: None,
            name: "staff without account",
            prefix: "tgd_x",
            hash: b"h",
            role: TokenRole::Staff,
        },
        1,
    )
    .await;
    assert!(err.is_err(), "a staff token needs an account");
}

async fn deleting_an_account_cascades(t: &TestDb) {
    let a = new_account(t, 1).await;
    sessions::put_auth(t.db.pool(), a, b"auth", 1)
        .await
        .expect("auth");
    sessions::put_peer(t.db.pool(), a, 5, b"p", 1)
        .await
        .expect("peer");
    events::append(
        &t.db,
        a,
        &[NewEvent {
            kind: "message_new",
            chat_id: 5,
            message_id: Some(1),
            payload: b"x",
        }],
        1,
        |_, e| Ok::<_, std::convert::Infallible>(e.payload.to_vec()),
    )
    .await
    .expect("event");
    sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(a)
        .execute(t.db.pool())
        .await
        .expect("delete");
    assert_eq!(sessions::get_auth(t.db.pool(), a).await.expect("get"), None);
    assert!(
        sessions::get_peers(t.db.pool(), a)
            .await
            .expect("get")
            .is_empty()
    );
    assert!(
        events::list_since(t.db.pool(), a, 0, 10)
            .await
            .expect("events")
            .is_empty()
    );
}

fn web_session(id: u8, account_id: i64, expires_at: i64) -> WebSession {
    WebSession {
        id_hash: vec![id; 32],
        account_id,
        csrf_secret: vec![9; 32],
        created_at: 100,
        expires_at,
        last_seen_at: 100,
        user_agent: Some("Firefox".into()),
        address: Some("192.0.2.1".into()),
    }
}

async fn web_sessions_expire_and_end_per_account(t: &TestDb) {
    let a = new_account(t, 1).await;
    let b = new_account(t, 2).await;
    web_sessions::insert(t.db.pool(), &web_session(1, a, 1_000))
        .await
        .expect("insert");
    web_sessions::insert(t.db.pool(), &web_session(2, a, 1_000))
        .await
        .expect("insert");
    web_sessions::insert(t.db.pool(), &web_session(3, b, 200))
        .await
        .expect("insert");

    let live = web_sessions::get_live(t.db.pool(), &[1; 32], 500)
        .await
        .expect("get")
        .expect("live");
    assert_eq!(live.account_id, a);
    assert_eq!(live.user_agent.as_deref(), Some("Firefox"));
    assert!(!format!("{live:?}").contains("9, 9"), "Debug hides secrets");
    assert!(
        web_sessions::get_live(t.db.pool(), &[3; 32], 500)
            .await
            .expect("get")
            .is_none(),
        "expired"
    );

    web_sessions::touch(t.db.pool(), &[1; 32], 600, Some(5_000))
        .await
        .expect("touch");
    let touched = web_sessions::get_live(t.db.pool(), &[1; 32], 4_000)
        .await
        .expect("get")
        .expect("extended");
    assert_eq!(touched.last_seen_at, 600);
    assert_eq!(
        web_sessions::list_for_account(t.db.pool(), a, 500)
            .await
            .expect("list")
            .len(),
        2
    );

    assert!(
        web_sessions::delete(t.db.pool(), &[2; 32])
            .await
            .expect("logout")
    );
    assert!(
        !web_sessions::delete(t.db.pool(), &[2; 32])
            .await
            .expect("again")
    );
    assert_eq!(
        web_sessions::delete_for_account(t.db.pool(), a)
            .await
            .expect("end all"),
        1
    );
    assert_eq!(
        web_sessions::delete_expired(t.db.pool(), 500)
            .await
            .expect("expire"),
        1
    );
}

async fn api_tokens_are_found_by_prefix_and_revoked(t: &TestDb) {
    let a = new_account(t, 1).await;
    let staff = tokens::insert(
        t.db.pool(),
        &NewToken {
            account_id: Some(a),
            name: "crm sync",
            prefix: "tgd_abc123",
            hash: &[7; 32],
            role: TokenRole::Staff,
        },
        10,
    )
    .await
    .expect("insert");
    let admin = tokens::insert(
        t.db.pool(),
        &NewToken {
            account_id: None,
            name: "ops",
            prefix: "tgd_adm999",
            hash: &[8; 32],
            role: TokenRole::Admin,
        },
        11,
    )
    .await
    .expect("admin token without account");
    assert_eq!(admin.role, TokenRole::Admin);

    let found = tokens::get_by_prefix(t.db.pool(), "tgd_abc123")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(found.id, staff.id);
    assert_eq!(found.hash, vec![7; 32]);
    assert!(
        !format!("{found:?}").contains("7, 7"),
        "Debug hides the hash"
    );

    let duplicate = tokens::insert(
        t.db.pool(),
        &NewToken {
            account_id: Some(a),
            name: "dup",
            prefix: "tgd_abc123",
            hash: &[1; 32],
            role: TokenRole::Staff,
        },
        12,
    )
    .await;
    assert!(duplicate.is_err(), "prefixes are unique");

    tokens::touch_last_used(t.db.pool(), staff.id, 20)
        .await
        .expect("touch");
    assert!(
        tokens::revoke(t.db.pool(), staff.id, 30)
            .await
            .expect("revoke")
    );
    assert!(
        !tokens::revoke(t.db.pool(), staff.id, 31)
            .await
            .expect("twice")
    );
    let revoked = tokens::get(t.db.pool(), staff.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(revoked.last_used_at, Some(20));
    assert_eq!(revoked.revoked_at, Some(30));

    tokens::insert(
        t.db.pool(),
        &NewToken {
            account_id: Some(a),
            name: "second",
            prefix: "tgd_def456",
            hash: &[2; 32],
            role: TokenRole::Staff,
        },
        40,
    )
    .await
    .expect("insert");
    assert_eq!(
        tokens::revoke_for_account(t.db.pool(), a, 50)
            .await
            .expect("revoke all"),
        1
    );
    let listed = tokens::list_for_account(t.db.pool(), a)
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, "second", "newest first");
    assert_eq!(tokens::list_all(t.db.pool()).await.expect("all").len(), 3);
}

async fn admin_grants_are_idempotent(t: &TestDb) {
    assert!(!admins::is_admin(t.db.pool(), 7).await.expect("check"));
    assert!(
        admins::grant(t.db.pool(), 7, "cli", 1)
            .await
            .expect("grant")
    );
    assert!(
        !admins::grant(t.db.pool(), 7, "cli", 2)
            .await
            .expect("again")
    );
    assert!(admins::is_admin(t.db.pool(), 7).await.expect("check"));
    let list = admins::list(t.db.pool()).await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].granted_at, 1);
    assert!(admins::revoke(t.db.pool(), 7).await.expect("revoke"));
    assert!(!admins::revoke(t.db.pool(), 7).await.expect("again"));
}

async fn login_attempts_filter_and_count(t: &TestDb) {
    let attempts = [
        (
            100,
            "+44 •••• ••01 23",
            "192.0.2.1",
            LoginMethod::Phone,
            "code_sent",
            None,
        ),
        (
            110,
            "+44 •••• ••01 23",
            "192.0.2.1",
            LoginMethod::Phone,
            "code_invalid",
            Some("PHONE_CODE_INVALID"),
        ),
        (
            120,
            "+1 •••• ••26 71",
            "192.0.2.9",
            LoginMethod::Phone,
            "code_sent",
            None,
        ),
        (
            130,
            "+1 •••• ••26 71",
            "192.0.2.1",
            LoginMethod::Password,
            "success",
            None,
        ),
    ];
    for (at, phone, address, method, outcome, error) in attempts {
        login_attempts::record(
            t.db.pool(),
            &NewLoginAttempt {
                phone_masked: Some(phone),
                address: Some(address),
                method,
                outcome,
                telegram_error: error,
                account_id: None,
            },
            at,
        )
        .await
        .expect("record");
    }
    let all = login_attempts::list(
        t.db.pool(),
        &LoginAttemptFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .expect("list");
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].outcome, "success", "newest first");
    assert_eq!(all[0].method, LoginMethod::Password);
    assert_eq!(all[2].telegram_error.as_deref(), Some("PHONE_CODE_INVALID"));

    let sent = login_attempts::list(
        t.db.pool(),
        &LoginAttemptFilter {
            outcome: Some("code_sent"),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .expect("filter");
    assert_eq!(sent.len(), 2);
    let one_phone_one_address = login_attempts::list(
        t.db.pool(),
        &LoginAttemptFilter {
            phone_masked: Some("+44 •••• ••01 23"),
            address: Some("192.0.2.1"),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .expect("filter");
    assert_eq!(one_phone_one_address.len(), 2);
    let page = login_attempts::list(
        t.db.pool(),
        &LoginAttemptFilter {
            before_id: Some(all[1].id),
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .expect("page");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, all[2].id);

    assert_eq!(
        login_attempts::count_from_address_since(t.db.pool(), "192.0.2.1", "code_sent", 100)
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        login_attempts::prune(t.db.pool(), 115)
            .await
            .expect("prune"),
        2
    );
}

async fn audit_log_lists_newest_first_with_filters(t: &TestDb) {
    for (i, action) in ["login", "account_reset", "login"].iter().enumerate() {
        audit::record(
            t.db.pool(),
            &audit::NewAuditEntry {
                actor: if i == 1 { "admin-token:1" } else { "account:1" },
                action,
                target: Some("account:1"),
                outcome: "ok",
                detail: None,
            },
            100 + i as i64,
        )
        .await
        .expect("record");
    }
    let all = audit::list(
        t.db.pool(),
        &audit::AuditFilter {
            limit: 50,
            ..Default::default()
        },
    )
    .await
    .expect("list");
    assert_eq!(
        all.iter().map(|e| e.at).collect::<Vec<_>>(),
        [102, 101, 100]
    );
    let resets = audit::list(
        t.db.pool(),
        &audit::AuditFilter {
            action: Some("account_reset"),
            limit: 50,
            ..Default::default()
        },
    )
    .await
    .expect("filter");
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].actor, "admin-token:1");
    let older = audit::list(
        t.db.pool(),
        &audit::AuditFilter {
            actor: Some("account:1"),
            before_id: Some(all[0].id),
            limit: 50,
            ..Default::default()
        },
    )
    .await
    .expect("page");
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].at, 100);
}

fn plain(_cursor: i64, event: &NewEvent<'_>) -> Result<Vec<u8>, std::convert::Infallible> {
    Ok(event.payload.to_vec())
}

async fn event_cursors_increase_and_never_go_back(t: &TestDb) {
    let a = new_account(t, 1).await;
    let b = new_account(t, 2).await;
    assert_eq!(
        events::latest_cursor(t.db.pool(), a).await.expect("latest"),
        Some(0)
    );
    let batch = [
        NewEvent {
            kind: "message_new",
            chat_id: 10,
            message_id: Some(1),
            payload: b"one",
        },
        NewEvent {
            kind: "message_edited",
            chat_id: 10,
            message_id: Some(1),
            payload: b"two",
        },
    ];
    assert_eq!(
        events::append(&t.db, a, &batch, 100, plain)
            .await
            .expect("append"),
        [1, 2]
    );
    assert_eq!(
        events::append(&t.db, b, &batch[..1], 100, plain)
            .await
            .expect("append"),
        [1]
    );
    assert_eq!(
        events::append(&t.db, a, &batch[..1], 200, plain)
            .await
            .expect("append"),
        [3]
    );

    let since_1 = events::list_since(t.db.pool(), a, 1, 10)
        .await
        .expect("list");
    assert_eq!(since_1.iter().map(|e| e.cursor).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(since_1[0].kind, "message_edited");
    assert_eq!(since_1[0].payload, b"two");
    assert_eq!(since_1[0].message_id, Some(1));
    assert_eq!(
        events::list_since(t.db.pool(), a, 0, 1)
            .await
            .expect("limit")
            .len(),
        1
    );

    assert_eq!(
        events::prune_to_count(t.db.pool(), a, 1)
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        events::prune_older_than(t.db.pool(), 150)
            .await
            .expect("age"),
        1
    );
    assert!(
        events::list_since(t.db.pool(), b, 0, 10)
            .await
            .expect("b")
            .is_empty()
    );
    // Pruning everything does not reset the cursor.
    assert_eq!(
        events::append(&t.db, b, &batch[..1], 300, plain)
            .await
            .expect("append"),
        [2]
    );
    assert_eq!(
        events::latest_cursor(t.db.pool(), a).await.expect("latest"),
        Some(3)
    );
    assert!(
        events::append(&t.db, 999, &batch, 1, plain).await.is_err(),
        "no such account"
    );
}

async fn concurrent_appends_get_distinct_contiguous_cursors(t: &TestDb) {
    let a = new_account(t, 1).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            let mut cursors = Vec::new();
            for _ in 0..10 {
                let event = NewEvent {
                    kind: "message_new",
                    chat_id: 1,
                    message_id: None,
                    payload: b"x",
                };
                cursors.extend(
                    events::append(&db, a, &[event], 1, plain)
                        .await
                        .expect("append"),
                );
            }
            cursors
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all.sort_unstable();
    assert_eq!(all, (1..=40).collect::<Vec<i64>>());
}

async fn failed_seal_rolls_back_the_whole_append(t: &TestDb) {
    let a = new_account(t, 1).await;
    let batch = [
        NewEvent {
            kind: "message_new",
            chat_id: 1,
            message_id: Some(1),
            payload: b"ok",
        },
        NewEvent {
            kind: "message_new",
            chat_id: 1,
            message_id: Some(2),
            payload: b"fails",
        },
    ];
    let err = events::append(&t.db, a, &batch, 1, |_, e| {
        if e.payload == b"fails" {
            Err(std::io::Error::other("seal failed"))
        } else {
            Ok(e.payload.to_vec())
        }
    })
    .await
    .expect_err("must fail");
    assert!(err.to_string().contains("seal failed"), "{err}");
    assert!(
        events::list_since(t.db.pool(), a, 0, 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        events::latest_cursor(t.db.pool(), a).await.expect("latest"),
        Some(0)
    );
}
