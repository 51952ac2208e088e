//! Webhooks through the API and the page, without deliveries: bad input,
//! other accounts' webhooks, the limit, the audit, the page's forms; and
//! the webhooks table on both databases.

use serde_json::json;
use tgdesk::store::accounts::{self, AccountState, LoginProfile};
use tgdesk::store::events::{self, NewEvent};
use tgdesk::store::webhooks;

use crate::helpers::{TestDb, sim_user, spawn_app};
use crate::login_support::{code_of, csrf_of, form, login_csrf, page};
use crate::logs::{self, Binary, ExternalSim, block_on};
use crate::webhooks::{Answer, acknowledged, api_login, call, receiver, register};

backend_tests!(webhook_rows_keep_their_delivery_state);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_are_400_and_another_accounts_webhook_is_404() {
    let app = spawn_app().await;
    sim_user(&app, "+999671000061", "Ada");
    sim_user(&app, "+999671000062", "Bob");
    let (ada, _) = api_login(&app, "+999671000061").await;
    let (bob, _) = api_login(&app, "+999671000062").await;

    for url in [
        "ftp://example.com/x",
        "example.com/hook",
        "",
        "javascript:alert(1)",
        "http://",
    ] {
        let (status, error) = call(
            &app,
            &ada,
            "POST",
            "/api/v1/webhooks",
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(
            (status, &error["error"]),
            (400, &json!("invalid_url")),
            "{url}: {error}"
        );
        assert!(error["message"].is_string());
    }
    for body in [
        json!({ "url": 5 }),
        json!({}),
        json!({ "url": "https://e.com", "secret": "mine" }),
    ] {
        let (status, error) =
            call(&app, &ada, "POST", "/api/v1/webhooks", Some(body.clone())).await;
        assert!([400, 422].contains(&status), "{body}: {status} {error}");
        assert!(error["error"].is_string(), "our error format: {error}");
    }
    let (status, _) = call(&app, "", "GET", "/api/v1/webhooks", None).await;
    assert_eq!(status, 401);

    let (id, _) = register(
        &app,
        &ada,
        "https://hooks.example.com/tgdesk?key=receiver-own",
    )
    .await;
    let path = format!("/api/v1/webhooks/{id}");
    for method in ["GET", "DELETE"] {
        let (status, error) = call(&app, &bob, method, &path, None).await;
        assert_eq!(
            (status, &error["error"]),
            (404, &json!("not_found")),
            "{method}"
        );
    }
    let (status, _) = call(
        &app,
        &bob,
        "PATCH",
        &path,
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(status, 404);
    let (_, list) = call(&app, &bob, "GET", "/api/v1/webhooks", None).await;
    assert_eq!(list["webhooks"], json!([]));
    let (status, _) = call(&app, &ada, "GET", "/api/v1/webhooks/not-a-number", None).await;
    assert_eq!(status, 404);

    // At most ten per account.
    for n in 1..10 {
        register(&app, &ada, &format!("https://hooks.example.com/{n}")).await;
    }
    let (status, error) = call(
        &app,
        &ada,
        "POST",
        "/api/v1/webhooks",
        Some(json!({ "url": "https://e.com/11" })),
    )
    .await;
    assert_eq!(
        (status, &error["error"]),
        (409, &json!("too_many_webhooks")),
        "{error}"
    );

    // Deleting is audited, with the host only.
    let (status, _) = call(&app, &ada, "DELETE", &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&app, &ada, "GET", &path, None).await;
    assert_eq!(status, 404);
    let audit = tgdesk::store::audit::list(
        app.state.db.pool(),
        &tgdesk::store::audit::AuditFilter {
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .expect("audit");
    let target = format!("webhook:{id}");
    for action in ["webhook_create", "webhook_delete"] {
        let entry = audit
            .iter()
            .find(|e| e.action == action && e.target.as_deref() == Some(&target))
            .unwrap_or_else(|| panic!("{action} is audited"));
        assert_eq!(entry.detail.as_deref(), Some("hooks.example.com"));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_adds_a_webhook_shows_its_secret_once_and_deletes_it() {
    let app = spawn_app().await;
    let uid = sim_user(&app, "+999671000071", "Ada");
    let csrf = login_csrf(&app).await;
    form(
        &app,
        "/login/phone",
        &[("csrf", &csrf), ("phone", "+999671000071")],
    )
    .await;
    let code = code_of(&app, "+999671000071");
    let (status, location, _) =
        form(&app, "/login/code", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/chats")));
    let (_, _, chats) = page(&app, "/chats").await;
    assert!(
        chats.contains("href=\"/webhooks\""),
        "linked from the chats page"
    );

    let (status, _, empty) = page(&app, "/webhooks").await;
    assert_eq!(status, 200, "{empty}");
    assert!(empty.contains("id=\"no-webhooks\""));
    let csrf = csrf_of(&empty);

    let (status, _, refused) = form(
        &app,
        "/webhooks",
        &[("csrf", "forged"), ("url", "https://e.com")],
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, _, bad) = form(
        &app,
        "/webhooks",
        &[("csrf", &csrf), ("url", "ftp://e.com/<b>")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(bad.contains("id=\"webhook-error\""), "{bad}");
    assert!(
        bad.contains("ftp://e.com/&#60;b&#62;") || bad.contains("ftp://e.com/&lt;b&gt;"),
        "escaped: {bad}"
    );

    let response = app
        .client
        .post(app.url("/webhooks"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("url", "https://hooks.example.com/in"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let added = response.text().await.expect("body");
    let marker = "id=\"secret\" type=\"text\" readonly value=\"";
    let start = added.find(marker).expect("the secret is shown") + marker.len();
    let secret = &added[start..start + 49];
    assert!(secret.starts_with("whsec_"), "the secret is shown");

    let (_, _, listed) = page(&app, "/webhooks").await;
    assert!(listed.contains("https://hooks.example.com/in"));
    assert!(listed.contains("delivering"));
    assert!(!listed.contains(secret), "shown once only");
    let account = tgdesk::store::accounts::get_by_telegram_id(app.state.db.pool(), uid)
        .await
        .expect("account")
        .expect("logged in");
    let id = app.state.webhooks.list(account.id).await.expect("list")[0]
        .webhook
        .id;

    // Paused, then resumed, from the page.
    let enabled = format!("/webhooks/{id}/enabled");
    let (status, _, _) = form(&app, &enabled, &[("csrf", "forged"), ("enabled", "false")]).await;
    assert_eq!(status, 403);
    let (status, location, _) =
        form(&app, &enabled, &[("csrf", &csrf), ("enabled", "false")]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/webhooks?m=paused"))
    );
    assert!(!app.state.webhooks.is_running(id));
    let (_, _, paused) = page(&app, "/webhooks?m=paused").await;
    assert!(
        paused.contains(">paused") && paused.contains(">Resume</button>"),
        "{paused}"
    );
    let (status, location, _) = form(&app, &enabled, &[("csrf", &csrf), ("enabled", "true")]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/webhooks?m=resumed"))
    );
    assert!(app.state.webhooks.is_running(id));

    let (status, _, _) = form(
        &app,
        &format!("/webhooks/{id}/delete"),
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, location, _) =
        form(&app, &format!("/webhooks/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/webhooks?m=deleted"))
    );
    let (_, _, after) = page(&app, "/webhooks?m=deleted").await;
    assert!(
        after.contains("id=\"no-webhooks\"") && after.contains("id=\"notice\""),
        "{after}"
    );
    app.stop().await;
}

async fn webhook_rows_keep_their_delivery_state(t: &TestDb) {
    let pool = t.db.pool();
    let account = accounts::upsert_login(
        pool,
        &LoginProfile {
            telegram_user_id: 42,
            display_name: "Ada",
            username: None,
            phone_masked: None,
            home_dc: Some(1),
        },
        1,
    )
    .await
    .expect("account")
    .id;
    let hook = webhooks::insert(&t.db, account, "https://e.com/h", 5, 10, |id| {
        Ok::<_, std::io::Error>(format!("sealed for {id}").into_bytes())
    })
    .await
    .expect("insert");
    let id = hook.id;
    assert_eq!(hook.secret_sealed, format!("sealed for {id}").into_bytes());
    assert_eq!(
        (hook.delivered_cursor, hook.attempts, hook.created_at),
        (5, 0, 10)
    );
    assert_eq!((hook.failing_since, hook.disabled_at), (None, None));

    // A sealing failure stores nothing.
    let failed = webhooks::insert(&t.db, account, "https://e.com/x", 0, 10, |_| {
        Err(std::io::Error::other("no key"))
    })
    .await;
    assert!(failed.is_err());
    assert_eq!(
        webhooks::count_for_account(pool, account)
            .await
            .expect("count"),
        1
    );

    // Failures count up from the first; a success clears them and the
    // cursor never moves back.
    assert!(
        webhooks::record_failure(pool, id, "HTTP 500", 20)
            .await
            .expect("fail")
    );
    assert!(
        webhooks::record_failure(pool, id, "HTTP 502", 25)
            .await
            .expect("fail")
    );
    let row = webhooks::get(pool, id).await.expect("get").expect("row");
    assert_eq!((row.attempts, row.failing_since), (2, Some(20)));
    assert_eq!(
        (row.last_error.as_deref(), row.last_error_at),
        (Some("HTTP 502"), Some(25))
    );
    assert!(webhooks::record_success(pool, id, 7, 30).await.expect("ok"));
    assert!(webhooks::record_success(pool, id, 6, 31).await.expect("ok"));
    let row = webhooks::get(pool, id).await.expect("get").expect("row");
    assert_eq!(
        (row.delivered_cursor, row.attempts, row.failing_since),
        (7, 0, None)
    );
    assert_eq!(
        (row.last_success_at, row.last_error.as_deref()),
        (Some(31), Some("HTTP 502"))
    );
    assert!(
        webhooks::record_gave_up(pool, id, 9, "gave up", 40)
            .await
            .expect("gave up")
    );
    let row = webhooks::get(pool, id).await.expect("get").expect("row");
    assert_eq!((row.delivered_cursor, row.failing_since), (9, Some(40)));

    // Pending: the account's events after the cursor.
    let batch: Vec<NewEvent<'_>> = (1..=12)
        .map(|n| NewEvent {
            kind: "message_new",
            chat_id: 1,
            message_id: Some(n),
            payload: b"x",
        })
        .collect();
    events::append(&t.db, account, &batch, 50, |_, e| {
        Ok::<_, std::io::Error>(e.payload.to_vec())
    })
    .await
    .expect("events");
    assert_eq!(
        webhooks::pending(pool, account, 9).await.expect("pending"),
        3
    );

    // Deliverable: enabled, of an active account.
    let deliverable = |t: &TestDb| {
        let pool = t.db.pool().clone();
        async move {
            let listed: Vec<i64> = webhooks::list_deliverable(&pool)
                .await
                .expect("list")
                .iter()
                .map(|h| h.id)
                .collect();
            let one = webhooks::is_deliverable(&pool, id).await.expect("one");
            assert_eq!(listed.contains(&id), one);
            one
        }
    };
    assert!(deliverable(t).await);
    let paused = webhooks::set_disabled(pool, account, id, Some(60))
        .await
        .expect("pause");
    assert_eq!(paused.and_then(|h| h.disabled_at), Some(60));
    assert!(!deliverable(t).await);
    webhooks::set_disabled(pool, account, id, None)
        .await
        .expect("resume");
    assert!(deliverable(t).await);
    accounts::set_state(pool, account, AccountState::Reset, 70)
        .await
        .expect("reset");
    assert!(!deliverable(t).await);

    assert!(webhooks::delete(pool, id).await.expect("delete"));
    assert!(!webhooks::delete(pool, id).await.expect("delete"));
    assert!(webhooks::get(pool, id).await.expect("get").is_none());
    assert!(
        !webhooks::record_success(pool, id, 10, 80)
            .await
            .expect("gone")
    );
}

/// The real binary at `debug`, in both log formats, while a webhook is
/// added, fails, retries, delivers, is refused a bad URL and is deleted:
/// its secret, and the path and query of the receiver's URL (where a
/// receiver keeps its own token), appear nowhere in what it writes.
#[test]
fn webhook_secrets_and_receiver_urls_stay_out_of_the_logs() {
    for format in ["human", "json"] {
        let sim = ExternalSim::start();
        let (ada, bob) = ("+999671000081", "+999671000082");
        let ada_id = sim.account(ada, "Ada", None);
        let bob_id = sim.account(bob, "Bob", None);
        let binary = Binary::serve(
            &sim,
            &[
                ("TGDESK_LOG", "debug"),
                ("TGDESK_LOG_FORMAT", format),
                ("TGDESK_WEBHOOK_BACKOFF_MS", "10"),
            ],
        );
        let http = reqwest::Client::new();
        let secret = block_on(async {
            let token = logs::api_login(&http, &binary.base, &sim, ada, None).await;
            logs::connected(&http, &binary.base, &token).await;
            let hook = receiver().await;
            hook.script(vec![Answer::Status(500); 2], Answer::Status(200));
            let url = format!("{}/recv-own-path?key=recv-own-query", hook.url);
            let created: serde_json::Value = http
                .post(binary.url("/api/v1/webhooks"))
                .bearer_auth(&token)
                .json(&json!({ "url": url }))
                .send()
                .await
                .expect("POST")
                .json()
                .await
                .expect("json");
            let bad = http
                .post(binary.url("/api/v1/webhooks"))
                .bearer_auth(&token)
                .json(&json!({ "url": "ftp://recv-bad-host/recv-own-path" }))
                .send()
                .await
                .expect("POST");
            assert_eq!(bad.status(), 400);
            sim.sim
                .world()
                .post_message(tgsim::world::NewMessage {
                    from_user_id: bob_id,
                    to_user_id: Some(ada_id),
                    chat_id: None,
                    text: "hello".into(),
                    reply_to: None,
                })
                .expect("posted");
            hook.wait_until("the message, after two failures", acknowledged(1))
                .await;
            let id = created["id"].as_i64().expect("id");
            let deleted = http
                .delete(binary.url(&format!("/api/v1/webhooks/{id}")))
                .bearer_auth(&token)
                .send()
                .await
                .expect("DELETE");
            assert_eq!(deleted.status(), 204);
            created["secret"].as_str().expect("secret").to_owned()
        });
        let written: String = binary
            .stop()
            .into_iter()
            .map(|(_, line)| line + "\n")
            .collect();
        assert!(
            written.contains("webhook"),
            "the webhook's work is logged at all"
        );
        for needle in [
            secret.as_str(),
            &secret["whsec_".len()..],
            "recv-own-path",
            "recv-own-query",
        ] {
            // Not printed on failure: the secret must not reach test output either.
            assert!(
                !written.contains(needle),
                "a webhook secret or the receiver's own path/query was logged ({format} format)"
            );
        }
    }
}
