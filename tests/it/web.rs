//! The router skeleton over real HTTP: health, readiness, static files,
//! pages, our error format, and graceful shutdown.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tgdesk::web::error::Error;
use tgdesk::web::json::Json;
use tokio::sync::{Notify, oneshot};

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"status": "ok"})
    );
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_ready_when_database_and_vault_work() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"], json!({"database": "ok", "vault": "ok"}));
    app.stop().await;
}

#[tokio::test]
async fn readyz_says_why_it_is_not_ready() {
    let app = spawn_app().await;
    app.state.db.close().await;
    let response = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "not_ready");
    assert_eq!(body["checks"]["database"], "failed");
    assert_eq!(body["checks"]["vault"], "ok");
    let message = body["message"].as_str().expect("message");
    assert!(message.starts_with("database unreachable"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn the_home_page_is_plain_html_with_protective_headers() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/")).send().await.expect("get");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("default-src 'self'")
    );
    let html = response.text().await.expect("body");
    assert!(
        html.contains("<meta name=\"viewport\""),
        "readable on a phone"
    );
    assert!(html.contains("tgdesk"));
    let css = format!("/static/{}/app.css", tgdesk::web::assets::version());
    assert!(html.contains(&css), "links the current stylesheet");
    app.stop().await;
}

#[tokio::test]
async fn static_files_are_versioned_and_cached_for_a_year() {
    let app = spawn_app().await;
    let version = tgdesk::web::assets::version();
    let css = app
        .client
        .get(app.url(&format!("/static/{version}/app.css")))
        .send()
        .await
        .expect("get");
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(css.text().await.expect("body").contains("--accent"));

    let js = app
        .client
        .get(app.url(&format!("/static/{version}/app.js")))
        .send()
        .await
        .expect("get");
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );

    // A page cached from an older release still gets its styles, uncached.
    let old = app
        .client
        .get(app.url("/static/0123456789ab/app.css"))
        .send()
        .await
        .expect("get");
    assert_eq!(old.status(), 200);
    assert_eq!(old.headers()["cache-control"], "no-cache");

    let missing = app
        .client
        .get(app.url(&format!("/static/{version}/nope.css")))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_as_json_under_api_and_html_elsewhere() {
    let app = spawn_app().await;
    let api = app
        .client
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .expect("get");
    assert_eq!(api.status(), 404);
    assert_eq!(
        api.json::<Value>().await.expect("json"),
        json!({"error": "not_found", "message": "There is nothing at /api/v1/nothing."})
    );

    let page = app
        .client
        .get(app.url("/nothing"))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 404);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.expect("body");
    assert!(html.contains("Not Found"));
    assert!(html.contains("There is nothing at /nothing."));

    let wrong_method = app
        .client
        .post(app.url("/healthz"))
        .send()
        .await
        .expect("post");
    assert_eq!(wrong_method.status(), 405);
    app.stop().await;
}

#[tokio::test]
async fn text_from_the_request_is_escaped_in_pages() {
    let app = spawn_app().await;
    // `&` and `'` stay raw in a URL path; the page must escape them.
    let page = app
        .client
        .get(app.url("/x&y'onmouseover=alert(1)"))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 404);
    let html = page.text().await.expect("body");
    let message = html
        .split("There is nothing at ")
        .nth(1)
        .and_then(|rest| rest.split(".</p>").next())
        .expect("message in page");
    assert!(!message.contains('&') || message.contains("&#38;") || message.contains("&amp;"));
    assert!(!message.contains('\''), "quote escaped: {message}");
    assert!(message.contains("onmouseover=alert(1)"), "{message}");
    assert!(!html.contains("y'onmouseover"), "{html}");
    app.stop().await;
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Greeting {
    name: String,
}

/// A router with test-only routes, served by tgdesk's own `serve`.
async fn serve_test_router(
    router: Router,
) -> (
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(tgdesk::app::serve(listener, router, async {
        let _ = rx.await;
    }));
    (base, tx, server)
}

#[tokio::test]
async fn json_bodies_that_do_not_parse_get_our_error_format() {
    let router = Router::new().route(
        "/api/echo",
        post(|Json(greeting): Json<Greeting>| async move { Json(greeting) }),
    );
    let (base, stop, server) = serve_test_router(router).await;
    let client = reqwest::Client::new();
    let url = format!("{base}/api/echo");

    let ok = client
        .post(&url)
        .json(&json!({"name": "Ann"}))
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.json::<Value>().await.expect("json"),
        json!({"name": "Ann"})
    );

    let cases = [
        (Some("application/json"), "{not json", 400, "invalid_json"),
        (
            Some("application/json"),
            "{\"nom\": 1}",
            422,
            "invalid_body",
        ),
        (
            Some("text/plain"),
            "{\"name\": \"Ann\"}",
            415,
            "unsupported_media_type",
        ),
        (None, "{\"name\": \"Ann\"}", 415, "unsupported_media_type"),
    ];
    for (content_type, body, status, code) in cases {
        let mut request = client.post(&url).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("post");
        assert_eq!(response.status(), status, "{body}");
        let json: Value = response.json().await.expect("error is JSON");
        assert_eq!(json["error"], code, "{body}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
}

#[tokio::test]
async fn internal_errors_are_generic_and_limits_say_when_to_retry() {
    let router = Router::new()
        .route(
            "/api/boom",
            get(|| async {
                Err::<(), _>(Error::internal(std::io::Error::other(
                    "connection to db.internal:5432 refused",
                )))
            }),
        )
        .route(
            "/api/slow-down",
            get(|| async {
                Err::<(), _>(Error::too_many_requests(
                    "flood_wait",
                    "Telegram asks to wait 30 seconds.",
                    30,
                ))
            }),
        )
        .layer(axum::middleware::from_fn(
            tgdesk::web::error::log_internal_errors,
        ));
    let (base, stop, server) = serve_test_router(router).await;
    let client = reqwest::Client::new();

    let boom = client
        .get(format!("{base}/api/boom"))
        .send()
        .await
        .expect("get");
    assert_eq!(boom.status(), 500);
    let body = boom.text().await.expect("body");
    assert!(
        !body.contains("db.internal"),
        "causes are logged, not sent: {body}"
    );
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["error"], "internal");

    let slow = client
        .get(format!("{base}/api/slow-down"))
        .send()
        .await
        .expect("get");
    assert_eq!(slow.status(), 429);
    assert_eq!(slow.headers()["retry-after"], "30");
    assert_eq!(
        slow.json::<Value>().await.expect("json"),
        json!({"error": "flood_wait", "message": "Telegram asks to wait 30 seconds."})
    );
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let router = {
        let started = Arc::clone(&started);
        let release = Arc::clone(&release);
        Router::new().route(
            "/slow",
            get(move || {
                let started = Arc::clone(&started);
                let release = Arc::clone(&release);
                async move {
                    started.notify_one();
                    release.notified().await;
                    "finished"
                }
            }),
        )
    };
    let (base, stop, server) = serve_test_router(router).await;
    let request = tokio::spawn(async move {
        reqwest::get(format!("{base}/slow"))
            .await
            .expect("get")
            .text()
            .await
            .expect("body")
    });
    started.notified().await;
    let _ = stop.send(());
    assert!(!server.is_finished(), "the server waits for the request");
    release.notify_one();
    assert_eq!(request.await.expect("request"), "finished");
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server stops after the request")
        .expect("join")
        .expect("serve");
}
