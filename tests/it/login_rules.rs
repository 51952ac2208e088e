//! The rules of logging in over the JSON API, against tgsim over real HTTP:
//! each Telegram error of the table (status, code, what the flow does
//! next), wrong and expired codes, the tries per flow, the limits per
//! address and per phone, and the allowlist.

use std::time::Duration;

use serde_json::json;
use tgdesk::store::accounts;
use tgdesk::store::audit::{self, AuditFilter};
use tgdesk::store::login_attempts::{self, LoginAttemptFilter};

use crate::helpers::{spawn_app, spawn_app_with};
use crate::login_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_password_challenge_is_retried_once() {
    let app = spawn_app().await;
    let phone = "+999665000004";
    add_account(&app, phone, 1, true);
    let flow = api_start_phone(&app, phone).await;
    api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, phone) }),
    )
    .await;

    fault(&app, "auth.checkPassword", "SRP_ID_INVALID", 1);
    let (status, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/password"),
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["next"], "done");
    assert_eq!(calls(&app, "auth.checkPassword"), 2);

    // Twice in a row: the retry is not repeated; the person is asked again.
    let phone = "+999665000005";
    add_account(&app, phone, 1, true);
    let flow = api_start_phone(&app, phone).await;
    api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, phone) }),
    )
    .await;
    fault(&app, "auth.checkPassword", "SRP_ID_INVALID", 2);
    let (status, _, again) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/password"),
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"], "password_retry");
    let (status, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/password"),
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_code_may_be_retried_and_the_fifth_ends_the_flow() {
    let app = spawn_app().await;
    let phone = "+999665000006";
    add_account(&app, phone, 1, false);
    let flow = api_start_phone(&app, phone).await;
    let right = code_of(&app, phone);
    let wrong = if right == "11111" { "22222" } else { "11111" };

    // Stay: a wrong code keeps the flow.
    let (status, _, body) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": wrong }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("code_invalid"))
    );
    let (_, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(state["state"], "awaiting_code");
    // Not digits, or nothing: refused before Telegram is asked.
    let before = calls(&app, "auth.signIn");
    for (code, error) in [("", "code_required"), ("12a45", "code_invalid")] {
        let (status, _, body) = api_post(
            &app,
            &format!("/api/v1/login/{flow}/code"),
            json!({ "code": code }),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{code:?}"
        );
    }
    assert_eq!(calls(&app, "auth.signIn"), before);

    for _ in 0..3 {
        let (status, _, body) = api_post(
            &app,
            &format!("/api/v1/login/{flow}/code"),
            json!({ "code": wrong }),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("code_invalid"))
        );
    }
    let (status, _, body) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": wrong }),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "too_many_attempts");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("Start again")
    );
    // Over: even the right code no longer works.
    let (status, _, body) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": right }),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "login_expired");
    let (status, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(status, 200);
    assert_eq!(state["state"], "failed");
    assert_eq!(state["error"], "too_many_attempts");
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_sends_the_person_back_to_the_phone_step() {
    let app = spawn_app().await;
    let phone = "+999665000007";
    add_account(&app, phone, 1, false);
    let flow = api_start_phone(&app, phone).await;
    let code = code_of(&app, phone);
    app.sim.world().expire_codes(Some(phone));
    let (status, _, body) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "code_expired");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("number again")
    );
    let (_, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(state["state"], "failed");
    assert_eq!(state["error"], "code_expired");

    // A new flow for the same number works.
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
/// Each Telegram error of the table, through the API: status, code, and
/// what the flow does next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_errors_of_sending_a_code_map_to_their_status_and_code() {
    // Many codes for one number: the limits would step in first.
    let app = spawn_app_with(&[("TGDESK_LOGIN_LIMITS", "off")]).await;
    let phone = "+999665000009";
    add_account(&app, phone, 1, false);
    let cases: [(&str, u16, &str, Option<&str>); 7] = [
        ("PHONE_NUMBER_INVALID", 400, "phone_number_invalid", None),
        ("PHONE_NUMBER_BANNED", 403, "phone_number_banned", None),
        ("PHONE_NUMBER_FLOOD", 429, "phone_number_flood", None),
        ("FLOOD_WAIT_42", 429, "flood_wait", Some("42")),
        ("AUTH_RESTART", 503, "telegram_unavailable", None),
        ("RPC_CALL_FAIL", 503, "telegram_unavailable", None),
        ("NETWORK_MIGRATE_2", 503, "telegram_unavailable", None),
    ];
    for (error, status, code, retry_after) in cases {
        fault(&app, "auth.sendCode", error, 1);
        let (got, got_retry, body) =
            api_post(&app, "/api/v1/login/phone", json!({ "phone": phone })).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{error}: {body}"
        );
        assert_eq!(got_retry.as_deref(), retry_after, "{error}");
        assert!(!body["message"].as_str().expect("message").is_empty());
        assert_ne!(
            got, 401,
            "{error}: a 401 is only about the caller's credentials"
        );
    }
    // An unknown number: Telegram's own answer, no fault needed.
    let (status, _, body) = api_post(
        &app,
        "/api/v1/login/phone",
        json!({ "phone": "+999665009999" }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("phone_number_unoccupied"))
    );
    // Not a phone number at all: refused before Telegram is asked.
    let before = calls(&app, "auth.sendCode");
    for typed in ["07700 900123", "+44 abc", "", "+12"] {
        let (status, _, body) =
            api_post(&app, "/api/v1/login/phone", json!({ "phone": typed })).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("phone_number_invalid")),
            "{typed}"
        );
    }
    assert_eq!(calls(&app, "auth.sendCode"), before);
    // Malformed bodies get our error format.
    let response = app
        .client
        .post(app.url("/api/v1/login/phone"))
        .header("content-type", "application/json")
        .body("{\"phone\":")
        .send()
        .await
        .expect("post");
    let (status, _, body) = read_json(response).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, _, body) = api_post(&app, "/api/v1/login/phone", json!({ "tel": phone })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_body"))
    );

    // Every error was recorded with its Telegram name.
    let attempts = login_attempts::list(
        app.state.db.pool(),
        &LoginAttemptFilter {
            limit: 100,
            ..LoginAttemptFilter::default()
        },
    )
    .await
    .expect("attempts");
    let names: Vec<&str> = attempts
        .iter()
        .filter_map(|a| a.telegram_error.as_deref())
        .collect();
    for name in [
        "PHONE_NUMBER_INVALID",
        "PHONE_NUMBER_BANNED",
        "FLOOD_WAIT_42",
        "AUTH_RESTART",
        "PHONE_NUMBER_UNOCCUPIED",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_errors_of_signing_in_keep_or_end_the_flow_as_the_table_says() {
    let app = spawn_app().await;
    let phone = "+999665000010";
    add_account(&app, phone, 1, false);
    let flow = api_start_phone(&app, phone).await;
    let code = code_of(&app, phone);
    // Stay: flood wait (with Retry-After), Telegram unavailable, a stray migration.
    for (error, status, expected, retry) in [
        ("FLOOD_WAIT_7", 429, "flood_wait", Some("7")),
        ("RPC_CALL_FAIL", 503, "telegram_unavailable", None),
        ("USER_MIGRATE_2", 503, "telegram_unavailable", None),
    ] {
        fault(&app, "auth.signIn", error, 1);
        let (got, got_retry, body) = api_post(
            &app,
            &format!("/api/v1/login/{flow}/code"),
            json!({ "code": code }),
        )
        .await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(expected)),
            "{error}: {body}"
        );
        assert_eq!(got_retry.as_deref(), retry, "{error}");
        let (_, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
        assert_eq!(state["state"], "awaiting_code", "{error}");
    }
    let (status, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code }),
    )
    .await;
    assert_eq!(
        (status, done["next"].as_str()),
        (200, Some("done")),
        "{done}"
    );

    // AUTH_RESTART on sign-in: Telegram wants the login started over.
    let phone = "+999665000011";
    add_account(&app, phone, 1, false);
    let flow = api_start_phone(&app, phone).await;
    fault(&app, "auth.signIn", "AUTH_RESTART", 1);
    let (status, _, body) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, phone) }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("telegram_unavailable"))
    );
    let (_, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(state["state"], "failed");
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_qr_token_fails_the_flow_and_a_new_qr_can_start() {
    let app = spawn_app().await;
    let uid = add_account(&app, "+999665000016", 1, false);
    let (_, _, started) = api_post(&app, "/api/v1/login/qr", json!({})).await;
    let flow = started["flow_id"].as_str().expect("flow");
    // The scan arrives, but Telegram says the token expired meanwhile.
    fault(&app, "auth.exportLoginToken", "AUTH_TOKEN_EXPIRED", 1);
    app.sim
        .world()
        .accept_qr(&token_of(started["qr_url"].as_str().expect("url")), uid)
        .expect("scanned");
    let state = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
            if state["state"] == "failed" {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the flow fails");
    assert_eq!(state["error"], "qr_expired");
    let (status, _, again) = api_post(&app, "/api/v1/login/qr", json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["next"], "scan");
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_limited_per_phone_and_per_address() {
    let app = spawn_app_with(&[("TGDESK_LOGIN_LIMITS", "phone=2/1h,address=4/1h")]).await;
    let phone = "+999665000019";
    add_account(&app, phone, 1, false);
    for _ in 0..2 {
        api_start_phone(&app, phone).await;
    }
    let sent = calls(&app, "auth.sendCode");
    let (status, retry_after, body) =
        api_post(&app, "/api/v1/login/phone", json!({ "phone": phone })).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "rate_limited");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("this number")
    );
    let secs: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!((3500..=3600).contains(&secs), "{secs}");
    assert_eq!(calls(&app, "auth.sendCode"), sent, "Telegram was not asked");

    // Another number from the same address: allowed until the address limit.
    let other = "+999665000020";
    add_account(&app, other, 1, false);
    let flow = api_start_phone(&app, other).await;
    // A resend counts against the number and the address.
    let (status, _, _) = api_post(&app, &format!("/api/v1/login/{flow}/resend"), json!({})).await;
    assert_eq!(status, 200);
    let (status, _, body) = api_post(&app, "/api/v1/login/qr", json!({})).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("your network")
    );

    let attempts = login_attempts::list(
        app.state.db.pool(),
        &LoginAttemptFilter {
            outcome: Some("rate_limited"),
            limit: 10,
            ..LoginAttemptFilter::default()
        },
    )
    .await
    .expect("attempts");
    assert_eq!(attempts.len(), 2);
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_limits_can_be_turned_off() {
    let app = spawn_app_with(&[("TGDESK_LOGIN_LIMITS", "off")]).await;
    let phone = "+999665000021";
    add_account(&app, phone, 1, false);
    for _ in 0..8 {
        api_start_phone(&app, phone).await;
    }
    assert_eq!(calls(&app, "auth.sendCode"), 8);
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_refuses_others_before_a_code_is_sent() {
    let app = spawn_app_with(&[("TGDESK_LOGIN_ALLOWLIST", "+999665000022")]).await;
    add_account(&app, "+999665000022", 1, false);
    add_account(&app, "+999665000023", 1, false);
    let (status, _, body) = api_post(
        &app,
        "/api/v1/login/phone",
        json!({ "phone": "+999665000023" }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "not_allowed");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("allowlist")
    );
    assert_eq!(calls(&app, "auth.sendCode"), 0);
    api_start_phone(&app, "+999665000022").await;
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
    assert_eq!(entries[0].outcome, "not_allowed");
    assert!(
        !entries[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("665000023")
    );
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_by_user_id_refuses_at_completion_and_logs_the_session_out() {
    // Only a user id is listed, so a number cannot be judged before login.
    let app = spawn_app_with(&[("TGDESK_LOGIN_ALLOWLIST", "424242424242")]).await;
    let refused_phone = "+999665000025";
    add_account(&app, refused_phone, 1, false);

    let flow = api_start_phone(&app, refused_phone).await;
    let (status, _, body) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        json!({ "code": code_of(&app, refused_phone) }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "not_allowed");
    assert_eq!(
        calls(&app, "auth.logOut"),
        1,
        "the new authorisation was ended"
    );
    assert!(
        accounts::list(app.state.db.pool())
            .await
            .expect("list")
            .is_empty()
    );
    let (_, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    assert_eq!(state["state"], "failed");
    assert_eq!(state["error"], "not_allowed");
    app.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_lets_listed_user_ids_in_by_qr() {
    // User ids are given by the simulator in order; learn the next one first.
    let probe = spawn_app().await;
    let uid = add_account(&probe, "+999665000026", 1, false);
    probe.stop().await;
    let app = spawn_app_with(&[("TGDESK_LOGIN_ALLOWLIST", &uid.to_string())]).await;
    let again = add_account(&app, "+999665000026", 1, false);
    assert_eq!(
        again, uid,
        "the simulator numbers users the same way each time"
    );
    let (_, _, started) = api_post(&app, "/api/v1/login/qr", json!({})).await;
    let flow = started["flow_id"].as_str().expect("flow");
    app.sim
        .world()
        .accept_qr(&token_of(started["qr_url"].as_str().expect("url")), uid)
        .expect("scanned");
    let done = api_wait_state(&app, flow, "done").await;
    assert_eq!(done["account"]["telegram_id"], uid);
    app.stop().await;
}
