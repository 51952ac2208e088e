//! What the admin features keep in the database, on SQLite and PostgreSQL:
//! web sessions ended by a reset, the reset and pending-logout marks, the
//! session parts a pending logout keeps, failed logins in the audit log, and
//! the filters of the admin page.

use tgdesk::store::accounts::{self, AccountState, LoginProfile};
use tgdesk::store::audit::{self, AuditFilter, NewAuditEntry};
use tgdesk::store::login_attempts::{self, LoginAttemptFilter, LoginMethod, NewLoginAttempt};
use tgdesk::store::sessions::{self, UpdateStateRow};
use tgdesk::store::web_sessions::{self, WebSession};

use crate::helpers::TestDb;

backend_tests!(
    sessions_ended_by_a_reset_say_why_until_the_next_login,
    reset_and_pending_logout_marks_are_kept_until_the_next_login,
    a_pending_logout_keeps_only_the_auth_key,
    failed_logins_are_audited_and_phones_filter_by_any_part,
);

async fn new_account(t: &TestDb, telegram_user_id: i64, now: i64) -> i64 {
    accounts::upsert_login(
        t.db.pool(),
        &LoginProfile {
            telegram_user_id,
            display_name: "Ann",
            username: None,
            phone_masked: Some("+44 •••• ••01 23"),
            home_dc: Some(2),
        },
        now,
    )
    .await
    .expect("account")
    .id
}

fn web_session(byte: u8, account_id: i64) -> WebSession {
    WebSession {
        id_hash: vec![byte; 32],
        account_id,
        csrf_secret: vec![9; 32],
        created_at: 100,
        expires_at: 10_000,
        last_seen_at: 100,
        user_agent: None,
        address: Some("192.0.2.1".into()),
    }
}

async fn sessions_ended_by_a_reset_say_why_until_the_next_login(t: &TestDb) {
    let a = new_account(t, 1, 100).await;
    let b = new_account(t, 2, 100).await;
    for (byte, account) in [(1, a), (2, a), (3, b)] {
        web_sessions::insert(t.db.pool(), &web_session(byte, account))
            .await
            .expect("insert");
    }
    let mut tx = t.db.begin_write().await.expect("tx");
    assert!(
        accounts::mark_reset(&mut *tx, a, Some("admin:7"), 200)
            .await
            .expect("reset")
    );
    let ended = web_sessions::end_for_account(&mut *tx, a, 200)
        .await
        .expect("end");
    tx.commit().await.expect("commit");
    assert_eq!(ended, 2);

    // Still found while the account is reset, so its browser can be told.
    let found = web_sessions::get_live(t.db.pool(), &[1; 32], 300)
        .await
        .expect("get");
    assert_eq!(found.map(|s| s.account_id), Some(a));
    // But it counts for nothing.
    let counts = web_sessions::count_live_per_account(t.db.pool(), 300)
        .await
        .expect("count");
    assert_eq!(counts, [(b, 1)]);
    assert!(
        web_sessions::list_for_account(t.db.pool(), a, 300)
            .await
            .expect("list")
            .is_empty()
    );
    // Ending again ends nothing more.
    assert_eq!(
        web_sessions::end_for_account(t.db.pool(), a, 250)
            .await
            .expect("end"),
        0
    );

    // After a new login, the ended sessions let nobody in.
    new_account(t, 1, 400).await;
    for byte in [1, 2] {
        assert!(
            web_sessions::get_live(t.db.pool(), &[byte; 32], 500)
                .await
                .expect("get")
                .is_none(),
            "an ended session never rides on a new login"
        );
    }
    assert!(
        web_sessions::get_live(t.db.pool(), &[3; 32], 500)
            .await
            .expect("get")
            .is_some()
    );
}

async fn reset_and_pending_logout_marks_are_kept_until_the_next_login(t: &TestDb) {
    let a = new_account(t, 1, 100).await;
    accounts::mark_reset(t.db.pool(), a, Some("cli"), 200)
        .await
        .expect("reset");
    accounts::mark_remote_logout_pending(t.db.pool(), a, 210)
        .await
        .expect("pending");
    accounts::mark_remote_logout_pending(t.db.pool(), a, 300)
        .await
        .expect("pending again");
    // A second reset keeps the time of the first.
    accounts::mark_reset(t.db.pool(), a, Some("admin:5"), 400)
        .await
        .expect("reset again");
    let account = accounts::get(t.db.pool(), a)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.state, AccountState::Reset);
    assert_eq!(
        accounts::reset_by(t.db.pool(), a)
            .await
            .expect("by")
            .as_deref(),
        Some("admin:5")
    );
    assert_eq!(account.state_changed_at, Some(200));
    assert_eq!(
        account.remote_logout_pending_since,
        Some(210),
        "the earliest"
    );
    let pending = accounts::remote_logout_pending(t.db.pool())
        .await
        .expect("pending");
    assert_eq!(pending.iter().map(|p| p.id).collect::<Vec<_>>(), [a]);

    // The staff member's own logout is not an admin's reset.
    let b = new_account(t, 2, 100).await;
    accounts::mark_reset(t.db.pool(), b, None, 200)
        .await
        .expect("logout");
    let by = accounts::reset_by(t.db.pool(), b).await.expect("by");
    let b = accounts::get(t.db.pool(), b)
        .await
        .expect("get")
        .expect("account");
    assert_eq!((b.state, by), (AccountState::Reset, None));

    new_account(t, 1, 500).await;
    let again = accounts::get(t.db.pool(), a)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(again.state, AccountState::Active);
    assert_eq!(accounts::reset_by(t.db.pool(), a).await.expect("by"), None);
    assert_eq!(again.remote_logout_pending_since, None);
    assert!(
        !accounts::mark_reset(t.db.pool(), 9_999, None, 1)
            .await
            .expect("no such account")
    );
}

async fn a_pending_logout_keeps_only_the_auth_key(t: &TestDb) {
    let a = new_account(t, 1, 100).await;
    sessions::put_auth(t.db.pool(), a, b"sealed auth", 100)
        .await
        .expect("auth");
    sessions::put_update_state(
        t.db.pool(),
        a,
        &UpdateStateRow {
            pts: 1,
            qts: 2,
            date: 3,
            seq: 4,
        },
        100,
    )
    .await
    .expect("state");
    let mut tx = t.db.begin_write().await.expect("tx");
    accounts::forget_session_cache(&mut tx, a)
        .await
        .expect("forget");
    tx.commit().await.expect("commit");
    assert_eq!(
        sessions::get_auth(t.db.pool(), a).await.expect("auth"),
        Some(b"sealed auth".to_vec())
    );
    assert_eq!(
        sessions::get_update_state(t.db.pool(), a)
            .await
            .expect("state"),
        None
    );
}

async fn failed_logins_are_audited_and_phones_filter_by_any_part(t: &TestDb) {
    let attempts = [
        ("+44 •••• ••01 23", "code_sent", None),
        (
            "+44 •••• ••01 23",
            "code_invalid",
            Some("PHONE_CODE_INVALID"),
        ),
        ("+1 •••• ••26 71", "success", None),
        ("+1 •••• ••26 71", "rate_limited", None),
    ];
    for (i, (phone, outcome, error)) in attempts.into_iter().enumerate() {
        login_attempts::record(
            t.db.pool(),
            &NewLoginAttempt {
                phone_masked: Some(phone),
                address: Some("192.0.2.1"),
                method: LoginMethod::Phone,
                outcome,
                telegram_error: error,
                account_id: None,
            },
            100 + i as i64,
        )
        .await
        .expect("record");
    }
    let audited = audit::list(
        t.db.pool(),
        &AuditFilter {
            action: Some("login"),
            limit: 10,
            ..AuditFilter::default()
        },
    )
    .await
    .expect("audit");
    let outcomes: Vec<&str> = audited.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["rate_limited", "code_invalid"], "failures only");
    assert_eq!(audited[1].actor, "anonymous");
    assert_eq!(audited[1].at, 101);
    assert_eq!(
        audited[1].detail.as_deref(),
        Some(
            "method=phone phone=+44 •••• ••01 23 address=192.0.2.1 telegram_error=PHONE_CODE_INVALID"
        )
    );

    let by_phone = |part: &'static str| async move {
        login_attempts::list(
            t.db.pool(),
            &LoginAttemptFilter {
                phone_contains: Some(part),
                limit: 10,
                ..LoginAttemptFilter::default()
            },
        )
        .await
        .expect("list")
        .len()
    };
    assert_eq!(by_phone("0123").await, 2, "digits across the mask's spaces");
    assert_eq!(by_phone("+1").await, 2);
    assert_eq!(
        by_phone("+44 •••• ••01 23").await,
        2,
        "a whole mask as shown"
    );
    assert_eq!(by_phone("%").await, 0, "LIKE wildcards are taken literally");
    assert_eq!(by_phone("_").await, 0);

    audit::record(
        t.db.pool(),
        &NewAuditEntry {
            actor: "cli",
            action: "account_reset",
            target: Some("account:7"),
            outcome: "ok",
            detail: None,
        },
        200,
    )
    .await
    .expect("record");
    let about = audit::list(
        t.db.pool(),
        &AuditFilter {
            target: Some("account:7"),
            limit: 10,
            ..AuditFilter::default()
        },
    )
    .await
    .expect("audit");
    assert_eq!(about.len(), 1);
    assert_eq!(about[0].action, "account_reset");
}
