//! Logging in over the JSON API, against tgsim over real HTTP: by phone and
//! code, with a 2FA password, by QR code (with a data-centre migration and
//! a password after the scan), cancelling, a restart, and the token a login
//! hands out. `login_rules` has the errors, the limits and the allowlist.

use std::time::Duration;

use serde_json::json;
use tgdesk::store::accounts;
use tgdesk::store::audit::{self, AuditFilter};
use tgdesk::store::login_attempts::{self, LoginAttemptFilter};
use tgdesk::store::tokens;
use tgdesk::telegram::pool::Liveness;
use tgdesk::vault::Aad;

use crate::helpers::{TestApp, spawn_app};
use crate::login_support::*;

async fn wait_connected(app: &TestApp, account_id: i64) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if app.state.pool.liveness(account_id) == Some(Liveness::Connected) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the account's live client connects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_and_code_log_in_and_return_a_token_shown_once() {
    let app = spawn_app().await;
    let phone = "+999665000001";
    let uid = add_account(&app, phone, 1, false);

    let (status, _, started) = api_post(
        &app,
        "/api/v1/login/phone",
        json!({ "phone": "+999 665 000-001" }),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["next"], "code");
    assert_eq!(started["code_type"], "sms");
    let expires_in = started["expires_in"].as_u64().expect("expires_in");
    assert!((590..=600).contains(&expires_in), "{expires_in}");
    let flow = started["flow_id"].as_str().expect("flow_id");

    let (status, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(status, 200);
    assert_eq!(state["state"], "awaiting_code");
    assert_eq!(state["code_type"], "sms");

    let code = code_of(&app, phone);
    let (status, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["next"], "done");
    assert_eq!(done["account"]["telegram_id"], uid);
    assert_eq!(done["account"]["name"], "Ada Lovelace");
    assert_eq!(done["account"]["username"], "ada0001");
    let account_id = done["account"]["id"].as_i64().expect("id");
    let token = done["token"].as_str().expect("token");
    assert!(token.starts_with("tgd_") && token.len() >= 50, "{token}");

    // The token is stored only as a hash, under its prefix.
    let rows = tokens::list_for_account(app.state.db.pool(), account_id)
        .await
        .expect("tokens");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].prefix, &token[4..16]);
    assert_ne!(rows[0].hash, token.as_bytes());
    assert_eq!(rows[0].hash, tgdesk::auth::tokens::hash(token));

    // The account: masked phone shown, full phone sealed to its row.
    let account = accounts::get(app.state.db.pool(), account_id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.telegram_user_id, uid);
    assert_eq!(account.phone_masked.as_deref(), Some("+999 •••• •00 01"));
    let sealed = account.phone_sealed.expect("sealed phone");
    let opened = app
        .state
        .vault
        .open(&Aad::account_phone(account_id), &sealed)
        .expect("opens");
    assert_eq!(opened.as_slice(), phone.as_bytes());

    // The session is bound and the live client runs.
    wait_connected(&app, account_id).await;
    let stored = app
        .state
        .sessions
        .load(account_id)
        .await
        .expect("load")
        .expect("a stored session");
    assert!(stored.self_user().is_some());

    // The result was handed out once; the flow now only says it is done.
    let (status, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(status, 200);
    assert_eq!(state["state"], "done");
    assert!(state.get("token").is_none(), "{state}");

    // Records: the attempts and the audit entry.
    let attempts = login_attempts::list(
        app.state.db.pool(),
        &LoginAttemptFilter {
            limit: 10,
            ..LoginAttemptFilter::default()
        },
    )
    .await
    .expect("attempts");
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["success", "code_sent"]);
    assert!(
        attempts
            .iter()
            .all(|a| a.phone_masked.as_deref() == Some("+999 •••• •00 01"))
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.address.as_deref() == Some("127.0.0.1"))
    );
    assert_eq!(attempts[0].account_id, Some(account_id));
    let entries = audit::list(
        app.state.db.pool(),
        &AuditFilter {
            action: Some("login"),
            limit: 10,
            ..AuditFilter::default()
        },
    )
    .await
    .expect("audit");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, format!("account:{account_id}"));
    assert_eq!(entries[0].outcome, "ok");
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_gets_the_code_in_the_app_and_logging_in_again_reattaches_the_account() {
    let app = spawn_app().await;
    let phone = "+999665000002";
    add_account(&app, phone, 1, false);
    let mut account_ids = Vec::new();
    for expected_type in ["sms", "app"] {
        let (status, _, started) =
            api_post(&app, "/api/v1/login/phone", json!({ "phone": phone })).await;
        assert_eq!(status, 200, "{started}");
        assert_eq!(started["code_type"], expected_type);
        let flow = started["flow_id"].as_str().expect("flow");
        let (status, _, done) = api_post(
            &app,
            &format!("/api/v1/login/{flow}/code"),
            json!({ "code": code_of(&app, phone) }),
        )
        .await;
        assert_eq!(status, 200, "{done}");
        account_ids.push(done["account"]["id"].as_i64().expect("id"));
    }
    assert_eq!(
        account_ids[0], account_ids[1],
        "the same account, re-attached"
    );
    wait_connected(&app, account_ids[0]).await;
    assert_eq!(app.state.pool.len(), 1);
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_passwords_are_asked_with_their_hint_and_a_wrong_one_may_be_retried() {
    let app = spawn_app().await;
    let phone = "+999665000003";
    add_account(&app, phone, 1, true);
    let flow = api_start_phone(&app, phone).await;
    let (status, _, next) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, phone) }),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next, json!({ "next": "password", "hint": HINT }));
    let (_, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(state["state"], "awaiting_password");
    assert_eq!(state["hint"], HINT);

    let (status, _, wrong) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/password"),
        json!({ "password": "not it" }),
    )
    .await;
    assert_eq!(status, 400, "{wrong}");
    assert_eq!(wrong["error"], "password_invalid");
    assert!(wrong["message"].as_str().expect("message").contains("hint"));

    // A code where a password is expected is the wrong step, not a 500.
    let (status, _, step) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": "12345" }),
    )
    .await;
    assert_eq!(status, 409, "{step}");
    assert_eq!(step["error"], "wrong_step");

    let (status, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/password"),
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["next"], "done");
    assert!(done["token"].as_str().is_some());

    let attempts = login_attempts::list(
        app.state.db.pool(),
        &LoginAttemptFilter {
            limit: 10,
            ..LoginAttemptFilter::default()
        },
    )
    .await
    .expect("attempts");
    let seen: Vec<(&str, &str, Option<&str>)> = attempts
        .iter()
        .rev()
        .map(|a| {
            (
                a.method.as_str(),
                a.outcome.as_str(),
                a.telegram_error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("phone", "code_sent", None),
            ("phone", "password_needed", Some("SESSION_PASSWORD_NEEDED")),
            (
                "password",
                "password_invalid",
                Some("PASSWORD_HASH_INVALID")
            ),
            ("phone", "wrong_step", None),
            ("password", "success", None),
        ]
    );
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_a_code_sends_a_new_one() {
    let app = spawn_app().await;
    let phone = "+999665000008";
    add_account(&app, phone, 1, false);
    let flow = api_start_phone(&app, phone).await;
    let (status, _, body) =
        api_post(&app, &format!("/api/v1/login/{flow}/resend"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["next"], "code");
    assert_eq!(calls(&app, "auth.resendCode"), 1);
    let (status, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, phone) }),
    )
    .await;
    assert_eq!((status, done["next"].as_str()), (200, Some("done")));
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_homed_on_another_data_centre_logs_in() {
    let app = spawn_app().await;
    let phone = "+999665000012";
    let uid = add_account(&app, phone, 2, true);
    let flow = api_start_phone(&app, phone).await;
    let (_, _, next) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, phone) }),
    )
    .await;
    assert_eq!(next["next"], "password", "{next}");
    let (status, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/password"),
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["account"]["telegram_id"], uid);
    let account = accounts::get_by_telegram_id(app.state.db.pool(), uid)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.home_dc, Some(2));
    wait_connected(&app, account.id).await;
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_completes_once_the_code_is_scanned() {
    let app = spawn_app().await;
    let uid = add_account(&app, "+999665000013", 1, false);
    let (status, _, started) = api_post(&app, "/api/v1/login/qr", json!({})).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["next"], "scan");
    let qr_url = started["qr_url"].as_str().expect("qr_url");
    assert!(qr_url.starts_with("tg://login?token="), "{qr_url}");
    let expires_at = started["expires_at"].as_i64().expect("expires_at");
    assert!(expires_at > tgdesk::store::now());
    let flow = started["flow_id"].as_str().expect("flow");

    let state = api_wait_state(&app, flow, "awaiting_scan").await;
    assert_eq!(state["qr_url"], qr_url);

    app.sim
        .world()
        .accept_qr(&token_of(qr_url), uid)
        .expect("scanned");
    let done = api_wait_state(&app, flow, "done").await;
    assert_eq!(done["account"]["telegram_id"], uid);
    let token = done["token"].as_str().expect("the token, once");
    assert!(token.starts_with("tgd_"));
    // Asked again: done, without the token.
    let (status, again) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(status, 200);
    assert_eq!(again["state"], "done");
    assert_eq!(again["account"]["telegram_id"], uid);
    assert!(again.get("token").is_none(), "{again}");
    let account_id = done["account"]["id"].as_i64().expect("id");
    wait_connected(&app, account_id).await;
    let attempts = login_attempts::list(
        app.state.db.pool(),
        &LoginAttemptFilter {
            limit: 10,
            ..LoginAttemptFilter::default()
        },
    )
    .await
    .expect("attempts");
    let outcomes: Vec<(&str, &str)> = attempts
        .iter()
        .map(|a| (a.method.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(outcomes, [("qr", "success"), ("qr", "qr_shown")]);
    assert_eq!(
        attempts[0].phone_masked.as_deref(),
        Some("+999 •••• •00 13")
    );
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_survives_dc_migration() {
    let app = spawn_app().await;
    let uid = add_account(&app, "+999665000014", 2, false);
    let (_, _, started) = api_post(&app, "/api/v1/login/qr", json!({})).await;
    let flow = started["flow_id"].as_str().expect("flow");
    let qr_url = started["qr_url"].as_str().expect("qr_url");
    app.sim
        .world()
        .accept_qr(&token_of(qr_url), uid)
        .expect("scanned");
    let done = api_wait_state(&app, flow, "done").await;
    assert_eq!(done["account"]["telegram_id"], uid);
    assert!(
        calls(&app, "auth.importLoginToken") >= 1,
        "migrated to DC 2"
    );
    let account_id = done["account"]["id"].as_i64().expect("id");
    let account = accounts::get(app.state.db.pool(), account_id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.home_dc, Some(2));
    wait_connected(&app, account_id).await;
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_asks_for_the_password_after_the_scan() {
    let app = spawn_app().await;
    let uid = add_account(&app, "+999665000015", 1, true);
    let (_, _, started) = api_post(&app, "/api/v1/login/qr", json!({})).await;
    let flow = started["flow_id"].as_str().expect("flow");
    app.sim
        .world()
        .accept_qr(&token_of(started["qr_url"].as_str().expect("url")), uid)
        .expect("scanned");
    let state = api_wait_state(&app, flow, "awaiting_password").await;
    assert_eq!(state["hint"], HINT);
    let (status, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/password"),
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["next"], "done");
    assert_eq!(done["account"]["telegram_id"], uid);
    assert!(done["token"].as_str().is_some());
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_flow_is_gone_and_unknown_flows_are_404_not_500() {
    let app = spawn_app().await;
    let phone = "+999665000017";
    add_account(&app, phone, 1, false);
    let flow = api_start_phone(&app, phone).await;
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/login/{flow}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    assert!(app.state.flows.is_empty());
    let (status, _, body) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, phone) }),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "login_expired");
    for path in [
        "/api/v1/login/AAAAAAAAAAAAAAAAAAAAAA",
        "/api/v1/login/not-a-flow",
        "/api/v1/login/%00%ff",
    ] {
        let (status, body) = api_get(&app, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"], "login_expired");
        assert!(
            body["message"]
                .as_str()
                .expect("message")
                .contains("Start again")
        );
    }
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_that_outlives_a_restart_answers_start_again() {
    let app = spawn_app().await;
    let phone = "+999665000018";
    add_account(&app, phone, 1, false);
    let flow = api_start_phone(&app, phone).await;
    let code = code_of(&app, phone);
    let app = app.restart().await;
    let (status, _, body) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code }),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "login_expired");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("restarted"),
        "{body}"
    );
    let (status, _) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(status, 404);
    // Starting again works.
    let flow = api_start_phone(&app, phone).await;
    let (status, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, phone) }),
    )
    .await;
    assert_eq!((status, done["next"].as_str()), (200, Some("done")));
    app.stop().await;
}
/// A program authenticates with the token a login returned; anything else
/// is a 401 with `WWW-Authenticate`, and a revoked token stops working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_from_a_login_authenticate_programs() {
    use axum::Router;
    use axum::routing::get;
    use tgdesk::auth::tokens::ApiClient;

    let app = spawn_app().await;
    let phone = "+999665000027";
    add_account(&app, phone, 1, false);
    let flow = api_start_phone(&app, phone).await;
    let (_, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, phone) }),
    )
    .await;
    let token = done["token"].as_str().expect("token").to_owned();
    let account_id = done["account"]["id"].as_i64().expect("id");

    // A route that needs a program's token, on the app's own state.
    let router = Router::new()
        .route(
            "/whoami",
            get(|client: ApiClient| async move {
                axum::Json(json!({ "account_id": client.account.map(|a| a.id) }))
            }),
        )
        .with_state(app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(tgdesk::app::serve(listener, router, std::future::pending()));

    let http = reqwest::Client::new();
    let whoami = |auth: Option<String>| {
        let mut request = http.get(format!("{base}/whoami"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let response = whoami(Some(format!("Bearer {token}"))).await.expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("json"),
        json!({ "account_id": account_id })
    );
    let row = tokens::list_for_account(app.state.db.pool(), account_id)
        .await
        .expect("tokens")
        .remove(0);
    assert!(row.last_used_at.is_some(), "use is recorded");

    let mut tampered = token.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for auth in [
        None,
        Some("Basic dXNlcjpwYXNz".to_owned()),
        Some("Bearer nonsense".to_owned()),
        Some(format!("Bearer {tampered}")),
        Some(format!(
            "Bearer {}",
            token.replace(&token[4..16], "000000000000")
        )),
    ] {
        let response = whoami(auth.clone()).await.expect("get");
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"tgdesk\""
        );
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"], "unauthorized");
    }
    // Revoked behind the service's back (SQL, the CLI): refused once the
    // verified-token cache lapses, within its TTL.
    tokens::revoke(app.state.db.pool(), row.id, tgdesk::store::now())
        .await
        .expect("revoke");
    let deadline = std::time::Instant::now() + 3 * tgdesk::auth::tokens::CACHE_TTL;
    loop {
        let response = whoami(Some(format!("Bearer {token}"))).await.expect("get");
        if response.status() == 401 {
            break;
        }
        assert_eq!(response.status(), 200);
        assert!(
            std::time::Instant::now() < deadline,
            "a token revoked in the database still works after the cache TTL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.abort();
    app.stop().await;
}
