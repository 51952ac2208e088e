//! Resetting a session through the admin API against tgsim: while the
//! account is live and a client long-polls, while Telegram is out of reach
//! (then the retry), and twice; what the staff member meets next; the audit
//! entries of each.

use std::time::Duration;

use serde_json::Value;
use tgdesk::admin::reset::{ResetContext, retry_pending_logouts};
use tgdesk::store::{accounts, sessions};
use tgsim::FaultSpec;

use crate::admin::{
    admin_token, api_login, audit_of, browser, call, get_page, telegram_sessions, wait_connected,
    web_login,
};
use crate::helpers::{sim_user, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_ends_a_live_account_and_its_long_poll_at_once() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999670000011", "Ada");
    let (staff_token, account_id) = api_login(&app, "+999670000011").await;
    let staff = browser();
    web_login(&app, &staff, "+999670000011", false).await;
    let other_browser = browser();
    web_login(&app, &other_browser, "+999670000011", false).await;
    wait_connected(&app, account_id).await;
    let admin = admin_token(&app).await;

    let poller = {
        let client = app.client.clone();
        let url = app.url("/api/v1/updates?timeout=60");
        let token = staff_token.clone();
        tokio::spawn(async move {
            let r = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("GET");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        })
    };
    // The poll is waiting once the event log has a reader for the account.
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Each login is an authorisation of its own; the account's is the last.
    let authorisations = telegram_sessions(&app, ada);
    let path = format!("/api/v1/admin/accounts/{account_id}/reset");
    let (status, body) = call(&app, reqwest::Method::POST, &path, Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["telegram"], "logged_out", "{body}");
    assert_eq!(body["already_reset"], false);
    assert_eq!(body["api_tokens_revoked"], 1);
    assert_eq!(body["web_sessions_ended"], 2);
    assert_eq!(body["account"]["state"], "reset");
    assert_eq!(body["account"]["connection"], "offline");

    let (status, polled) = tokio::time::timeout(Duration::from_secs(5), poller)
        .await
        .expect("the long poll ends promptly, not at its timeout")
        .expect("task");
    assert_eq!(status, 409, "{polled}");
    assert_eq!(polled["error"], "session_ended");

    // Telegram: logged out. Here: nothing stored, nothing works.
    assert_eq!(telegram_sessions(&app, ada), authorisations - 1);
    assert!(
        sessions::get_auth(app.state.db.pool(), account_id)
            .await
            .expect("auth")
            .is_none()
    );
    let (status, body) = call(&app, reqwest::Method::GET, "/api/v1/me", Some(&staff_token)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "account_reset");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("administrator reset"),
        "{body}"
    );

    // The staff member's next page says so and offers to log in again.
    let (status, location, _) = get_page(&app, &staff, "/chats").await;
    assert_eq!((status, location.as_str()), (303, "/login?m=reset"));
    let (_, _, login) = get_page(&app, &staff, &location).await;
    assert!(
        login.contains("An administrator reset your session"),
        "{login}"
    );
    assert!(login.contains("action=\"/login/phone\""));
    // Once told, the old cookie is simply gone.
    let (_, location, _) = get_page(&app, &staff, "/chats").await;
    assert_eq!(location, "/login");

    let entries = audit_of(&app, "account_reset").await;
    assert_eq!(entries.len(), 1);
    assert!(entries[0].actor.starts_with("admin-token:"), "{entries:?}");
    assert_eq!(
        entries[0].target.as_deref(),
        Some(&*format!("account:{account_id}"))
    );
    assert_eq!(entries[0].outcome, "ok");
    assert!(
        !format!("{entries:?}").contains("999670000011"),
        "no full phone"
    );

    // After a new login, a browser that kept its old cookie is not let in.
    let fresh = browser();
    web_login(&app, &fresh, "+999670000011", false).await;
    let (status, _, _) = get_page(&app, &fresh, "/chats").await;
    assert_eq!(status, 200);
    let (status, location, _) = get_page(&app, &other_browser, "/chats").await;
    assert_eq!((status, location.as_str()), (303, "/login"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resetting_twice_is_harmless_and_says_so() {
    let app = spawn_app().await;
    sim_user(&app, "+999670000021", "Ada");
    let (_, account_id) = api_login(&app, "+999670000021").await;
    wait_connected(&app, account_id).await;
    let admin = admin_token(&app).await;
    let path = format!("/api/v1/admin/accounts/{account_id}/reset");

    let (status, first) = call(&app, reqwest::Method::POST, &path, Some(&admin)).await;
    assert_eq!(
        (status, first["telegram"].as_str()),
        (200, Some("logged_out"))
    );
    let (status, second) = call(&app, reqwest::Method::POST, &path, Some(&admin)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["already_reset"], true);
    assert_eq!(second["telegram"], "nothing_stored");
    assert!(
        second["message"]
            .as_str()
            .expect("message")
            .contains("already reset"),
        "{second}"
    );
    assert_eq!(app.sim.stats().calls.get("auth.logOut"), Some(&1));

    let outcomes: Vec<String> = audit_of(&app, "account_reset")
        .await
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert_eq!(outcomes, ["already_reset", "ok"]);

    for missing in [
        "/api/v1/admin/accounts/999/reset",
        "/api/v1/admin/accounts/x/reset",
    ] {
        let (status, body) = call(&app, reqwest::Method::POST, missing, Some(&admin)).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"], "not_found");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_while_telegram_is_unreachable_wipes_here_and_retries_later() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999670000031", "Ada");
    let (staff_token, account_id) = api_login(&app, "+999670000031").await;
    wait_connected(&app, account_id).await;
    let admin = admin_token(&app).await;

    // auth.logOut is never answered and the connections drop: Telegram is
    // out of reach for the reset.
    app.sim
        .faults()
        .inject(FaultSpec {
            method: "auth.logOut".into(),
            error: None,
            count: None,
            delay_ms: Some(600_000),
        })
        .expect("fault");
    let reset = {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/admin/accounts/{account_id}/reset"));
        let admin = admin.clone();
        tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(admin)
                .send()
                .await
                .expect("POST");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        })
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while !app.sim.stats().calls.contains_key("auth.logOut") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the reset asks Telegram");
    app.sim.disconnect_all();
    let (status, body) = tokio::time::timeout(Duration::from_secs(15), reset)
        .await
        .expect("the reset answers")
        .expect("task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["telegram"], "pending", "{body}");
    assert_eq!(body["remote_logout_pending"], true);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("Settings → Devices"),
        "{body}"
    );

    // Wiped here (the token is dead) but the auth key alone is kept.
    let (status, _) = call(&app, reqwest::Method::GET, "/api/v1/me", Some(&staff_token)).await;
    assert_eq!(status, 403);
    assert!(
        sessions::get_auth(app.state.db.pool(), account_id)
            .await
            .expect("auth")
            .is_some(),
        "kept for the retry"
    );
    assert!(
        sessions::get_peers(app.state.db.pool(), account_id)
            .await
            .expect("peers")
            .is_empty()
    );
    assert_eq!(telegram_sessions(&app, ada), 1, "Telegram still has it");
    let entries = audit_of(&app, "account_reset").await;
    assert_eq!(entries[0].outcome, "remote_logout_pending");
    let (_, list) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/admin/accounts",
        Some(&admin),
    )
    .await;
    assert!(
        list["accounts"][0]["remote_logout_pending_since"].is_i64(),
        "{list}"
    );

    // While Telegram is still away the retry keeps it pending...
    let ctx = ResetContext::from(&app.state);
    let retried = tokio::time::timeout(Duration::from_secs(30), async {
        let retry = tokio::spawn({
            let state = app.state.clone();
            async move { retry_pending_logouts(&ResetContext::from(&state)).await }
        });
        tokio::time::timeout(Duration::from_secs(10), async {
            while app.sim.stats().calls.get("auth.logOut").copied() < Some(2) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the retry asks Telegram");
        app.sim.disconnect_all();
        retry.await.expect("task").expect("retry")
    })
    .await
    .expect("the retry gives up in time");
    assert_eq!((retried.done, retried.pending), (0, 1));

    // ...and once Telegram is back, the retry logs it out and shreds the key.
    app.sim.faults().clear();
    let retried = retry_pending_logouts(&ctx).await.expect("retry");
    assert_eq!((retried.done, retried.pending), (1, 0));
    assert_eq!(telegram_sessions(&app, ada), 0);
    let account = accounts::get(app.state.db.pool(), account_id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.remote_logout_pending_since, None);
    assert!(
        sessions::get_auth(app.state.db.pool(), account_id)
            .await
            .expect("auth")
            .is_none()
    );
    let done = audit_of(&app, "remote_logout").await;
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].actor.as_str(), done[0].outcome.as_str()),
        ("system", "ok")
    );
    // Nothing left to retry.
    let retried = retry_pending_logouts(&ctx).await.expect("retry");
    assert_eq!((retried.done, retried.pending), (0, 0));
    app.stop().await;
}
