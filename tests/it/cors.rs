//! CORS (`TGDESK_CORS_ORIGINS`): the bearer-token JSON API answers browsers
//! on the listed origins, never with credentials; other origins, a service
//! with CORS off, and the cookie routes (pages, their event stream, the
//! login pages) get no CORS header at all.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const ALLOWED: &str = "https://crm.example.com";
const OTHER: &str = "https://evil.example.net";

async fn preflight(
    app: &TestApp,
    path: &str,
    origin: &str,
    method: &str,
) -> (StatusCode, HeaderMap) {
    let r = app
        .client
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("OPTIONS");
    (r.status(), r.headers().clone())
}

async fn get_from(app: &TestApp, path: &str, origin: &str) -> (StatusCode, HeaderMap) {
    let r = app
        .client
        .get(app.url(path))
        .header("origin", origin)
        .send()
        .await
        .expect("GET");
    (r.status(), r.headers().clone())
}

fn allow_origin(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_listed_origins_without_credentials() {
    let app = spawn_app_with(&[(
        "TGDESK_CORS_ORIGINS",
        &format!("{ALLOWED},http://localhost:3000"),
    )])
    .await;

    let (status, headers) = preflight(&app, "/api/v1/chats", ALLOWED, "GET").await;
    assert!(status.is_success(), "{status}");
    assert_eq!(allow_origin(&headers), Some(ALLOWED));
    let allowed_headers = headers
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    assert!(headers.get("access-control-allow-credentials").is_none());

    // The login API is token-based too (the flow id is the caller's).
    let (_, headers) = preflight(&app, "/api/v1/login/phone", ALLOWED, "POST").await;
    assert_eq!(allow_origin(&headers), Some(ALLOWED));

    // A simple request: even the 401 is readable by the page, so it can say why.
    let (status, headers) = get_from(&app, "/api/v1/me", ALLOWED).await;
    assert_eq!(status, 401);
    assert_eq!(allow_origin(&headers), Some(ALLOWED));
    assert!(headers.get("access-control-allow-credentials").is_none());
    let exposed = headers
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");

    // Another origin gets nothing it could use.
    let (_, headers) = preflight(&app, "/api/v1/chats", OTHER, "GET").await;
    assert_eq!(allow_origin(&headers), None);
    let (_, headers) = get_from(&app, "/api/v1/me", OTHER).await;
    assert_eq!(allow_origin(&headers), None);

    // Cookie routes never answer CORS, even to a listed origin.
    for path in ["/login", "/chats", "/chats/events", "/"] {
        let (_, headers) = get_from(&app, path, ALLOWED).await;
        assert_eq!(allow_origin(&headers), None, "{path}");
        let (_, headers) = preflight(&app, path, ALLOWED, "POST").await;
        assert_eq!(allow_origin(&headers), None, "{path}");
    }
    let (_, headers) = preflight(&app, "/login/phone", ALLOWED, "POST").await;
    assert_eq!(allow_origin(&headers), None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_star_allows_any_origin() {
    let app = spawn_app().await;
    let (_, headers) = preflight(&app, "/api/v1/chats", ALLOWED, "GET").await;
    assert_eq!(allow_origin(&headers), None);
    let (_, headers) = get_from(&app, "/api/v1/me", ALLOWED).await;
    assert_eq!(allow_origin(&headers), None);
    app.stop().await;

    let app = spawn_app_with(&[("TGDESK_CORS_ORIGINS", "*")]).await;
    let (_, headers) = get_from(&app, "/api/v1/me", OTHER).await;
    assert_eq!(allow_origin(&headers), Some("*"));
    assert!(headers.get("access-control-allow-credentials").is_none());
    let (_, headers) = get_from(&app, "/login", OTHER).await;
    assert_eq!(allow_origin(&headers), None);
    app.stop().await;
}
