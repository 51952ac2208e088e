//! Chat export over real HTTP against tgsim: the whole history streamed as
//! one JSON document, paged politely, FLOOD_WAIT honoured before and during
//! the stream, clear errors, and the chat page's download button.

use std::time::{Duration, Instant};

use serde_json::Value;
use tgsim::FaultSpec;

use crate::helpers::{TestApp, sim_say, sim_user, spawn_app, spawn_app_with};
use crate::login_support::{code_of, fault, form, login_csrf, page};
use crate::openapi::{api_login, get_json};

/// More than two pages of 100.
const HISTORY: usize = 250;

/// Ada, logged in over the API, and Bob, who wrote her `HISTORY` messages
/// ("message 0" first). Returns the app, Ada's token and Bob's chat id.
async fn chat_with_history(
    settings: &[(&'static str, &str)],
    phones: (&str, &str),
) -> (TestApp, String, i64) {
    let app = spawn_app_with(settings).await;
    let ada = sim_user(&app, phones.0, "Ada");
    let bob = sim_user(&app, phones.1, "Bob");
    for i in 0..HISTORY {
        sim_say(&app, bob, ada, &format!("message {i}"));
    }
    let token = api_login(&app, phones.0).await;
    (app, token, bob)
}

async fn export(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("GET")
}

fn history_calls(app: &TestApp) -> u64 {
    app.sim
        .stats()
        .calls
        .get("messages.getHistory")
        .copied()
        .unwrap_or(0)
}

/// The texts of an export's messages, oldest first.
fn texts_oldest_first(doc: &Value) -> Vec<String> {
    let messages = doc["messages"].as_array().expect("messages");
    let ids: Vec<i64> = messages
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, each message once: {ids:?}"
    );
    messages
        .iter()
        .rev()
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect()
}

fn all_texts() -> Vec<String> {
    (0..HISTORY).map(|i| format!("message {i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_streams_every_message_exactly_once_in_order() {
    let (app, token, bob) = chat_with_history(&[], ("+999667200001", "+999667200002")).await;
    let calls = history_calls(&app);

    let r = export(
        &app,
        &token,
        &format!("/api/v1/chats/{bob}/export?format=json"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()[reqwest::header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"chat-{bob}.json\"").as_str()
    );
    assert!(
        r.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    let doc: Value = r.json().await.expect("the export is JSON");
    assert_eq!(doc["complete"], true, "{}", doc["error"]);
    assert_eq!(doc["chat"]["id"], bob);
    assert_eq!(doc["chat"]["title"], "Bob");
    assert_eq!(doc["order"], "newest_first");
    assert_eq!(texts_oldest_first(&doc), all_texts());
    let newest = &doc["messages"][0];
    assert_eq!(newest["sender"]["id"], bob);
    assert_eq!(newest["chat_id"], bob);

    // Paged: Telegram was asked for at most 100 at a time.
    let asked = history_calls(&app) - calls;
    assert_eq!(asked, 3, "250 messages in pages of 100");

    // The same message shape as the history endpoint.
    let (_, page) = get_json(&app, &token, &format!("/api/v1/chats/{bob}/messages")).await;
    assert_eq!(page["messages"][0], doc["messages"][0]);

    // Without a format it is JSON too.
    let r = export(&app, &token, &format!("/api/v1/chats/{bob}/export")).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["messages"].as_array().map(Vec::len), Some(HISTORY));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_flood_wait_is_slept_and_the_export_completes() {
    let (app, token, bob) = chat_with_history(&[], ("+999667200011", "+999667200012")).await;
    fault(&app, "messages.getHistory", "FLOOD_WAIT_1", 1);

    let started = Instant::now();
    let r = export(&app, &token, &format!("/api/v1/chats/{bob}/export")).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.expect("json");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the wait was slept"
    );
    assert_eq!(doc["complete"], true, "{}", doc["error"]);
    assert_eq!(texts_oldest_first(&doc), all_texts());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_flood_wait_before_the_export_starts_is_a_429() {
    let (app, token, bob) = chat_with_history(&[], ("+999667200021", "+999667200022")).await;
    fault(&app, "messages.getHistory", "FLOOD_WAIT_600", 1);

    let r = export(&app, &token, &format!("/api/v1/chats/{bob}/export")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()[reqwest::header::RETRY_AFTER], "600");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "flood_wait");
    app.stop().await;
}

/// The first history call goes through; the next one gets `error`.
fn fault_on_second_page(app: &TestApp, error: &str) {
    app.sim
        .faults()
        .inject(FaultSpec {
            method: "messages.getHistory".into(),
            error: None,
            count: Some(1),
            delay_ms: Some(1),
        })
        .expect("fault");
    fault(app, "messages.getHistory", error, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_flood_wait_mid_stream_ends_the_document_with_an_error() {
    let (app, token, bob) = chat_with_history(&[], ("+999667200031", "+999667200032")).await;
    fault_on_second_page(&app, "FLOOD_WAIT_600");

    let r = export(&app, &token, &format!("/api/v1/chats/{bob}/export")).await;
    assert_eq!(r.status(), 200, "the stream had started");
    let doc: Value = r.json().await.expect("still valid JSON");
    assert_eq!(doc["complete"], false);
    assert_eq!(doc["error"]["error"], "flood_wait");
    assert!(doc["error"]["message"].is_string());
    assert_eq!(doc["messages"].as_array().map(Vec::len), Some(100));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_wait_mid_stream_is_waited_out_and_the_export_goes_on() {
    // Nothing is slept before a read: any wait before the start is a 429,
    // while one during the stream is waited out.
    let (app, token, bob) = chat_with_history(
        &[("TGDESK_FLOOD_SLEEP_SECS", "0")],
        ("+999667200041", "+999667200042"),
    )
    .await;
    fault(&app, "messages.getHistory", "FLOOD_WAIT_1", 1);
    let r = export(&app, &token, &format!("/api/v1/chats/{bob}/export")).await;
    assert_eq!(r.status(), 429);

    fault_on_second_page(&app, "FLOOD_WAIT_1");
    let started = Instant::now();
    let r = export(&app, &token, &format!("/api/v1/chats/{bob}/export")).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.expect("json");
    assert!(started.elapsed() >= Duration::from_secs(1), "waited");
    assert_eq!(doc["complete"], true, "{}", doc["error"]);
    assert_eq!(texts_oldest_first(&doc), all_texts());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_exports_answer_clear_errors() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667200051", "Ada");
    let bob = sim_user(&app, "+999667200052", "Bob");
    sim_say(&app, bob, ada, "hello");
    let token = api_login(&app, "+999667200051").await;

    for (path, status, code) in [
        (
            format!("/api/v1/chats/{bob}/export?format=csv"),
            400,
            "invalid_format",
        ),
        ("/api/v1/chats/424242/export".to_owned(), 404, "not_found"),
        ("/api/v1/chats/abc/export".to_owned(), 404, "not_found"),
    ] {
        let r = export(&app, &token, &path).await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert!(
            r.headers()
                .get(reqwest::header::CONTENT_DISPOSITION)
                .is_none()
        );
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"], code, "{path}: {body}");
    }
    let r = app
        .client
        .get(app.url(&format!("/api/v1/chats/{bob}/export")))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401, "a token is needed");
    app.stop().await;
}

/// Logs in through the pages; the client keeps the session cookie.
async fn page_log_in(app: &TestApp, phone: &str) {
    let csrf = login_csrf(app).await;
    let (status, _, body) = form(app, "/login/phone", &[("csrf", &csrf), ("phone", phone)]).await;
    assert_eq!(status, 303, "{body}");
    let code = code_of(app, phone);
    let (status, location, body) =
        form(app, "/login/code", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/chats")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_page_download_button_exports_with_the_web_session() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667200061", "Ada");
    let bob = sim_user(&app, "+999667200062", "Bob");
    for i in 0..3 {
        sim_say(&app, bob, ada, &format!("note {i}"));
    }

    // Without a session: sent to log in, nothing exported.
    let r = app
        .client
        .get(app.url(&format!("/chats/{bob}/export")))
        .send()
        .await
        .expect("GET");
    assert!(r.status().is_redirection(), "{}", r.status());

    page_log_in(&app, "+999667200061").await;
    let href = format!("/chats/{bob}/export");
    let body = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, _, body) = page(&app, &format!("/chats?chat={bob}")).await;
            if body.contains("note 2") {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the chat shows");
    assert!(body.contains(&format!("href=\"{href}\"")), "{body}");

    let r = app.client.get(app.url(&href)).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()[reqwest::header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"chat-{bob}.json\"").as_str()
    );
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["complete"], true);
    let texts: Vec<&str> = doc["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .rev()
        .map(|m| m["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["note 0", "note 1", "note 2"]);

    let (status, _, body) = page(&app, "/chats/424242/export").await;
    assert_eq!(status, 404, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supergroup_exports_whole_with_its_own_message_ids() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667200071", "Ada");
    let bob = sim_user(&app, "+999667200072", "Bob");
    let group = app
        .sim
        .world()
        .create_chat(tgsim::world::NewChat {
            kind: tgsim::world::ChatKind::Supergroup,
            title: "Team room".into(),
            username: None,
            creator_user_id: bob,
            member_user_ids: vec![ada],
        })
        .expect("group");
    for i in 0..150 {
        app.sim
            .world()
            .post_message(tgsim::world::NewMessage {
                from_user_id: if i % 2 == 0 { bob } else { ada },
                to_user_id: None,
                chat_id: Some(group),
                text: format!("team {i}"),
                reply_to: None,
            })
            .expect("posted");
    }
    let token = api_login(&app, "+999667200071").await;
    let (_, chats) = get_json(&app, &token, "/api/v1/chats").await;
    let chat = chats["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .find(|c| c["title"] == "Team room")
        .expect("the group is listed");
    let chat_id = chat["id"].as_i64().expect("id");
    assert!(chat_id < 0, "groups have negative ids");

    let r = export(&app, &token, &format!("/api/v1/chats/{chat_id}/export")).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["complete"], true, "{}", doc["error"]);
    assert_eq!(doc["chat"]["id"], chat_id);
    let texts = texts_oldest_first(&doc);
    let expected: Vec<String> = (0..150).map(|i| format!("team {i}")).collect();
    assert_eq!(texts, expected);
    let outgoing = doc["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["outgoing"] == true)
        .count();
    assert_eq!(outgoing, 75, "Ada's own messages are marked outgoing");
    app.stop().await;
}
