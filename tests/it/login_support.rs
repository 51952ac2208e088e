//! What the login tests share: accounts in the simulated world, the API and
//! page steps as a client performs them, and reading a page's form token.

use std::time::Duration;

use serde_json::{Value, json};
use tgsim::FaultSpec;
use tgsim::world::NewAccount;

use crate::helpers::TestApp;

/// The password of every 2FA account made here.
pub const PASSWORD: &str = "correct horse battery";
pub const HINT: &str = "the usual one";

/// A Telegram account in the simulator; `password` adds 2FA.
pub fn add_account(app: &TestApp, phone: &str, home_dc: i32, password: bool) -> i64 {
    app.sim
        .world()
        .create_account(NewAccount {
            phone: phone.into(),
            first_name: "Ada".into(),
            last_name: Some("Lovelace".into()),
            username: Some(format!("ada{}", &phone[phone.len() - 4..])),
            password: password.then(|| PASSWORD.into()),
            password_hint: password.then(|| HINT.into()),
            home_dc: Some(home_dc),
        })
        .expect("account")
}

/// The last login code the simulator "sent" to `phone`.
pub fn code_of(app: &TestApp, phone: &str) -> String {
    app.sim.world().last_code(phone).expect("a code was sent")
}

/// How often the simulator was asked `method`.
pub fn calls(app: &TestApp, method: &str) -> u64 {
    app.sim.stats().calls.get(method).copied().unwrap_or(0)
}

/// POST JSON to the API; (status, Retry-After, body).
pub async fn api_post(app: &TestApp, path: &str, body: Value) -> (u16, Option<String>, Value) {
    let response = app
        .client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .expect("post");
    read_json(response).await
}

pub async fn api_get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).send().await.expect("get");
    let (status, _, body) = read_json(response).await;
    (status, body)
}

pub async fn read_json(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, retry_after, body)
}

/// Starts a phone login over the API; returns the flow id.
pub async fn api_start_phone(app: &TestApp, phone: &str) -> String {
    let (status, _, body) = api_post(app, "/api/v1/login/phone", json!({ "phone": phone })).await;
    assert_eq!(status, 200, "{body}");
    body["flow_id"].as_str().expect("flow_id").to_owned()
}

/// Polls `GET /api/v1/login/{id}` until its state is `want` (or it fails).
pub async fn api_wait_state(app: &TestApp, flow: &str, want: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let (status, body) = api_get(app, &format!("/api/v1/login/{flow}")).await;
            assert_eq!(status, 200, "{body}");
            if body["state"] == want {
                return body;
            }
            assert!(
                body["state"] != "failed" && body["state"] != "expired",
                "the flow ended: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the flow never reached {want}"))
}

/// The token bytes of a `tg://login?token=…` URL.
pub fn token_of(qr_url: &str) -> Vec<u8> {
    let token = qr_url
        .strip_prefix("tg://login?token=")
        .expect("a tg://login URL");
    tgsim::control::decode_token(token).expect("a base64url token")
}

/// The value of `<input name="csrf" value="…">` on a page.
pub fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("the page has a form token") + marker.len();
    let end = page[start..].find('"').expect("closing quote") + start;
    page[start..end].to_owned()
}

/// GET a page; (status, Location, body).
pub async fn page(app: &TestApp, path: &str) -> (u16, Option<String>, String) {
    let response = app.client.get(app.url(path)).send().await.expect("get");
    read_page(response).await
}

/// POST a form; (status, Location, body).
pub async fn form(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let response = app
        .client
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .expect("post");
    read_page(response).await
}

pub async fn read_page(response: reqwest::Response) -> (u16, Option<String>, String) {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, location, response.text().await.expect("body"))
}

/// The login form token of a fresh login page.
pub async fn login_csrf(app: &TestApp) -> String {
    let (status, _, body) = page(app, "/login").await;
    assert_eq!(status, 200, "{body}");
    csrf_of(&body)
}

/// The next `count` calls of `method` get Telegram error `error`.
pub fn fault(app: &TestApp, method: &str, error: &str, count: u32) {
    app.sim
        .faults()
        .inject(FaultSpec {
            method: method.into(),
            error: Some(error.into()),
            count: Some(count),
            delay_ms: None,
        })
        .expect("fault");
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}
