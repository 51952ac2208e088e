//! Codes, passwords, tokens, session cookies and full phone numbers never
//! appear in a page, an API answer (but the one that hands out a token) or
//! a log line, checked over full logins by page and by API.

use std::sync::{Arc, Mutex};

use crate::helpers::spawn_app;
use crate::login_support::*;

/// Captures every log line of the process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `needle` occurs in `hay` as a token of its own (not inside a
/// longer run of letters and digits).
fn occurs_alone(hay: &str, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = hay.as_bytes();
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = start.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(end).copied();
        let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
        if !alnum(before) && !alnum(after) {
            let lo = start.saturating_sub(80);
            let hi = (end + 80).min(hay.len());
            found.push(String::from_utf8_lossy(&bytes[lo..hi]).into_owned());
        }
        from = end;
    }
    found
}

/// Codes, passwords, tokens, session cookies and full phone numbers appear
/// in no page, no API answer (but the one that hands out the token) and no
/// log line, at the most verbose level.
///
/// The logins run in a process of their own ([`secrets_probe`]): there the
/// capture is the global subscriber and sees every thread, with no other
/// test's logging racing for it.
#[test]
fn secrets_appear_in_no_page_answer_or_log() {
    let exe = std::env::current_exe().expect("the test binary");
    let output = std::process::Command::new(exe)
        .args([
            "login_secrets::secrets_probe",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env("TGDESK_SECRETS_PROBE", "1")
        .env_remove("TEST_LOG")
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the probe failed:\n{stdout}\n{stderr}"
    );
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "run in a process of its own by secrets_appear_in_no_page_answer_or_log"]
async fn secrets_probe() {
    assert!(
        std::env::var_os("TGDESK_SECRETS_PROBE").is_some(),
        "run through secrets_appear_in_no_page_answer_or_log"
    );
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let app = spawn_app().await;
    let phone = "+999666000010";
    let digits = &phone[1..];
    add_account(&app, phone, 1, true);
    let mut bodies = Vec::new();

    // Pages: phone, code, password, chats.
    let csrf = login_csrf(&app).await;
    let (_, _, b) = form(&app, "/login/phone", &[("csrf", &csrf), ("phone", phone)]).await;
    bodies.push(b);
    let (_, _, b) = page(&app, "/login/code").await;
    bodies.push(b);
    let page_code = code_of(&app, phone);
    let (_, _, b) = form(
        &app,
        "/login/code",
        &[("csrf", &csrf), ("code", &page_code)],
    )
    .await;
    bodies.push(b);
    let (_, _, b) = form(
        &app,
        "/login/password",
        &[("csrf", &csrf), ("password", "wrong guess")],
    )
    .await;
    bodies.push(b);
    let response = app
        .client
        .post(app.url("/login/password"))
        .form(&[("csrf", csrf.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    let session = set_cookies(&response)
        .into_iter()
        .find_map(|c| {
            c.strip_prefix("tgdesk_session=")
                .and_then(|rest| rest.split(';').next())
                .map(str::to_owned)
        })
        .expect("session cookie");
    bodies.push(response.text().await.expect("body"));
    let (_, _, b) = page(&app, "/chats").await;
    bodies.push(b);

    // The API: phone, code, password; the token is in the last answer only.
    let (_, _, started) = api_post(
        &app,
        "/api/v1/login/phone",
        serde_json::json!({ "phone": phone }),
    )
    .await;
    bodies.push(started.to_string());
    let flow = started["flow_id"].as_str().expect("flow").to_owned();
    let api_code = code_of(&app, phone);
    let (_, _, next) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/code"),
        serde_json::json!({ "code": api_code }),
    )
    .await;
    bodies.push(next.to_string());
    let (_, _, done) = api_post(
        &app,
        &format!("/api/v1/login/{flow}/password"),
        serde_json::json!({ "password": PASSWORD }),
    )
    .await;
    let token = done["token"].as_str().expect("token").to_owned();
    let (_, state) = api_get(&app, &format!("/api/v1/login/{flow}")).await;
    bodies.push(state.to_string());
    app.stop().await;

    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(logs.contains("staff logged in"), "the capture works");
    for body in &bodies {
        for secret in [PASSWORD, "wrong guess", digits, &token, &session] {
            assert!(!body.contains(secret), "{secret:?} in a response: {body}");
        }
        for code in [&page_code, &api_code] {
            assert!(
                occurs_alone(body, code).is_empty(),
                "code {code} in a response: {body}"
            );
        }
    }
    for secret in [PASSWORD, "wrong guess", digits, &token, &session] {
        let found = occurs_alone(&logs, secret);
        assert!(found.is_empty(), "{secret:?} in the logs: {found:?}");
    }
    for code in [&page_code, &api_code] {
        // Five digits can be a port number; a code is never logged as a value.
        let found: Vec<String> = occurs_alone(&logs, code)
            .into_iter()
            .filter(|context| !context.contains(&format!(":{code}")))
            .collect();
        assert!(found.is_empty(), "code {code} in the logs: {found:?}");
    }
}
