//! The JSON API for programs after login, over real HTTP against tgsim: the
//! account and its session, tokens, chats and history, long-poll updates and
//! SSE — where a poll costs no Telegram call.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, api_login, sim_say, sim_user, spawn_app, telegram_calls};

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits until the account's live client is connected (the login started it).
async fn connected(app: &TestApp, token: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, s) = get(app, token, "/api/v1/session").await;
            if s["connection"] == "connected" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the account connects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_session_and_tokens() {
    let app = spawn_app().await;
    let uid = sim_user(&app, "+999668000001", "Ada");
    let (token, _) = api_login(&app, "+999668000001").await;
    connected(&app, &token).await;

    let (status, me) = get(&app, &token, "/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["telegram_id"], uid);
    assert_eq!(me["name"], "Ada");
    assert_eq!(me["state"], "active");
    assert!(
        !me.to_string().contains("999668000001"),
        "no full phone: {me}"
    );

    let (_, session) = get(&app, &token, "/api/v1/session").await;
    assert_eq!(session["state"], "active");
    assert_eq!(session["home_dc"], 1);

    // A second token, listed, then revoked: it stops working.
    let created = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&token)
        .json(&json!({ "name": "crm sync" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    let second = created["token"].as_str().expect("shown once").to_string();
    let (status, _) = get(&app, &second, "/api/v1/me").await;
    assert_eq!(status, 200);
    let (_, list) = get(&app, &token, "/api/v1/tokens").await;
    let listed = list["tokens"].as_array().expect("tokens");
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|t| t.get("token").is_none()),
        "never shown again"
    );
    let id = created["id"].as_i64().expect("id");
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    let (status, err) = get(&app, &second, "/api/v1/me").await;
    assert_eq!(status, 401);
    assert!(err["error"].is_string());

    // Bad input: our error format with the right status.
    let r = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&token)
        .json(&json!({ "name": "" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 400);
    let r = app
        .client
        .delete(app.url("/api/v1/tokens/nope"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_and_messages_page_and_repeat_reads_are_free() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999668000002", "Ada");
    let mut others = Vec::new();
    for i in 0..5 {
        let u = sim_user(&app, &format!("+99966800010{i}"), &format!("Friend {i}"));
        for j in 0..3 {
            sim_say(&app, u, ada, &format!("friend {i} says {j}"));
        }
        others.push(u);
    }
    let (token, _) = api_login(&app, "+999668000002").await;
    connected(&app, &token).await;

    let (status, first) = get(&app, &token, "/api/v1/chats?limit=3").await;
    assert_eq!(status, 200, "{first}");
    let chats = first["chats"].as_array().expect("chats");
    assert_eq!(chats.len(), 3);
    assert_eq!(chats[0]["title"], "Friend 4", "newest activity first");
    assert_eq!(chats[0]["kind"], "user");
    assert_eq!(chats[0]["unread_count"], 3);
    assert_eq!(chats[0]["last_message"]["text"], "friend 4 says 2");
    let cursor = first["next_cursor"].as_str().expect("more");
    let (_, second) = get(
        &app,
        &token,
        &format!("/api/v1/chats?limit=3&cursor={cursor}"),
    )
    .await;
    let rest = second["chats"].as_array().expect("chats");
    assert_eq!(rest.len(), 2);
    assert!(second["next_cursor"].is_null());

    let before = telegram_calls(&app);
    for _ in 0..5 {
        let (status, _) = get(&app, &token, "/api/v1/chats?limit=3").await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        telegram_calls(&app),
        before,
        "repeated chat list reads cost no Telegram call"
    );

    let chat = others[0];
    let (status, page) = get(
        &app,
        &token,
        &format!("/api/v1/chats/{chat}/messages?limit=2"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let msgs = page["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["text"], "friend 0 says 2");
    assert_eq!(msgs[0]["sender"]["id"], chat);
    let oldest = msgs[1]["id"].as_i64().expect("id");
    let (_, older) = get(
        &app,
        &token,
        &format!("/api/v1/chats/{chat}/messages?limit=2&before_id={oldest}"),
    )
    .await;
    let older = older["messages"].as_array().expect("messages");
    assert_eq!(older.len(), 1);
    assert_eq!(older[0]["text"], "friend 0 says 0");

    for (path, status) in [
        ("/api/v1/chats?limit=0".to_string(), 400),
        ("/api/v1/chats?limit=abc".to_string(), 400),
        ("/api/v1/chats?cursor=zz".to_string(), 400),
        ("/api/v1/chats/123456789/messages".to_string(), 404),
        ("/api/v1/chats/abc/messages".to_string(), 404),
        (
            format!("/api/v1/chats/{chat}/messages?before_id=5&after_id=1"),
            400,
        ),
    ] {
        let (got, body) = get(&app, &token, &path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let r = app
        .client
        .get(app.url("/api/v1/chats"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401, "no token");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_returns_when_a_message_arrives_and_polls_are_free() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999668000003", "Ada");
    let bob = sim_user(&app, "+999668000004", "Bob");
    let (token, _) = api_login(&app, "+999668000003").await;
    connected(&app, &token).await;

    let (status, empty) = get(&app, &token, "/api/v1/updates?timeout=0").await;
    assert_eq!(status, 200);
    let since = empty["next"].as_i64().expect("next");

    let poller = {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/updates?since={since}&timeout=30"));
        let token = token.clone();
        tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("GET")
                .json::<Value>()
                .await
                .expect("json")
        })
    };
    // Let the poll reach the server before the message exists.
    tokio::time::sleep(Duration::from_millis(50)).await;
    sim_say(&app, bob, ada, "are you there?");
    let got = tokio::time::timeout(Duration::from_secs(10), poller)
        .await
        .expect("the long poll returns when the message arrives")
        .expect("task");
    let events = got["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{got}");
    assert_eq!(events[0]["kind"], "message_new");
    assert_eq!(events[0]["message"]["text"], "are you there?");
    assert_eq!(got["next"], events[0]["cursor"]);

    let before = telegram_calls(&app);
    for _ in 0..10 {
        let (status, again) = get(&app, &token, &format!("/api/v1/updates?since={since}")).await;
        assert_eq!(status, 200);
        assert_eq!(again["events"].as_array().map(Vec::len), Some(1));
    }
    assert_eq!(
        telegram_calls(&app),
        before,
        "polls are served from the event log"
    );

    let (status, err) = get(&app, &token, "/api/v1/updates?timeout=61").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_timeout"))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_message_names_its_sender_once_the_account_has_seen_them() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999668000010", "Ada");
    let bob = sim_user(&app, "+999668000011", "Bob");
    sim_say(&app, bob, ada, "hello before the login");
    let (token, _) = api_login(&app, "+999668000010").await;
    connected(&app, &token).await;
    let (status, list) = get(&app, &token, "/api/v1/chats").await;
    assert_eq!(status, 200);
    assert!(list["chats"][0]["title"] == "Bob", "{list}");
    let (_, empty) = get(&app, &token, "/api/v1/updates?timeout=0").await;
    let since = empty["next"].as_i64().expect("next");

    // Telegram pushes this as a short update: the sender's id only.
    sim_say(&app, bob, ada, "pushed");
    let (status, got) = get(
        &app,
        &token,
        &format!("/api/v1/updates?since={since}&timeout=10"),
    )
    .await;
    assert_eq!(status, 200);
    let sender = &got["events"][0]["message"]["sender"];
    assert_eq!(sender["id"], bob, "{got}");
    assert_eq!(sender["name"], "Bob", "{got}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_again_logs_the_replaced_session_out_of_telegram() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999668000012", "Ada");
    let sessions = |app: &TestApp| {
        app.sim
            .world()
            .accounts()
            .iter()
            .find(|a| a.user_id == ada)
            .map(|a| a.sessions)
    };
    let (first, _) = api_login(&app, "+999668000012").await;
    connected(&app, &first).await;
    assert_eq!(sessions(&app), Some(1));
    let (second, _) = api_login(&app, "+999668000012").await;
    connected(&app, &second).await;
    assert_eq!(
        sessions(&app),
        Some(1),
        "Telegram lists one tgdesk session, not one per login"
    );
    assert_eq!(app.sim.stats().calls.get("auth.logOut"), Some(&1));
    let (status, _) = get(&app, &second, "/api/v1/chats").await;
    assert_eq!(status, 200, "the new session works");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poller_learns_at_once_that_the_session_was_revoked() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999668000005", "Ada");
    let (token, _) = api_login(&app, "+999668000005").await;
    connected(&app, &token).await;
    let poller = {
        let client = app.client.clone();
        let url = app.url("/api/v1/updates?timeout=60");
        let token = token.clone();
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
    tokio::time::sleep(Duration::from_millis(50)).await;
    app.sim.world().revoke(ada).expect("revoked");
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), poller)
        .await
        .expect("not a hang")
        .expect("task");
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "session_ended");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_events_and_resumes_from_last_event_id() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999668000006", "Ada");
    let bob = sim_user(&app, "+999668000007", "Bob");
    let (token, _) = api_login(&app, "+999668000006").await;
    connected(&app, &token).await;

    let mut stream = app
        .client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(stream.status(), 200);
    assert!(
        stream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    sim_say(&app, bob, ada, "first");
    sim_say(&app, bob, ada, "second");
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while text.matches("data:").count() < 2 {
            let chunk = stream.chunk().await.expect("chunk").expect("open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("two events arrive");
    assert!(text.contains("event: message_new"), "{text}");
    assert!(
        text.contains("\"first\"") && text.contains("\"second\""),
        "{text}"
    );
    let first_id: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("an id line");
    drop(stream);

    // Resuming after the first event replays the second only.
    let mut resumed = app
        .client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&token)
        .header("Last-Event-ID", first_id.to_string())
        .send()
        .await
        .expect("GET");
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !text.contains("data:") {
            let chunk = resumed.chunk().await.expect("chunk").expect("open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the second event is replayed");
    assert!(
        text.contains("\"second\"") && !text.contains("\"first\""),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_says_session_ended_and_closes_when_the_session_is_revoked() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999668000009", "Ada");
    let (token, _) = api_login(&app, "+999668000009").await;
    connected(&app, &token).await;
    let mut stream = app
        .client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(stream.status(), 200);
    app.sim.world().revoke(ada).expect("revoked");
    let text = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        // The stream ends (None) after its last event: not a hang.
        while let Some(chunk) = stream.chunk().await.expect("chunk") {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
    .await
    .expect("the stream ends instead of idling");
    assert!(text.contains("event: session_ended"), "{text}");
    assert!(text.contains("\"error\":\"session_ended\""), "{text}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_session_logs_out_of_telegram_and_wipes_it() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999668000008", "Ada");
    let (token, _) = api_login(&app, "+999668000008").await;
    connected(&app, &token).await;
    let r = app
        .client
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["telegram"], "logged_out");
    assert_eq!(app.sim.stats().calls.get("auth.logOut"), Some(&1));
    assert_eq!(
        app.sim
            .world()
            .accounts()
            .iter()
            .find(|a| a.user_id == ada)
            .map(|a| a.sessions),
        Some(0),
        "no authorisation left on Telegram"
    );
    let (status, _) = get(&app, &token, "/api/v1/me").await;
    assert!(matches!(status, 401 | 403), "the token is gone: {status}");
    app.stop().await;
}
