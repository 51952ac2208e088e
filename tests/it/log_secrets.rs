//! Everything the real `tgdesk serve` writes, in both log formats at
//! `debug`, holds none of the secrets that passed through it: auth keys
//! (hex or base64, whole or in part), login codes, two-step passwords (the
//! right one and a wrong guess), QR login tokens, API tokens (staff, extra,
//! admin), session cookies, form tokens and full phone numbers — over logins
//! by phone, code and password and by QR through the API, a login through the
//! pages, chat list and history, a long poll, token creation, an admin reset
//! and a logout.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::login_support::{csrf_of, set_cookies, token_of};
use crate::logs::{Binary, ExternalSim, block_on, connected};

const PASSWORD: &str = "Tr0ub4dor&3 staple";
const WRONG_PASSWORD: &str = "wrong guess 1234";

/// Occurrences of `needle` not inside a longer run of letters and digits,
/// with some context.
fn occurrences(hay: &str, needle: &str) -> Vec<String> {
    let bytes = hay.as_bytes();
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let (start, end) = (from + i, from + i + needle.len());
        if !alnum(start.checked_sub(1).and_then(|j| bytes.get(j))) && !alnum(bytes.get(end)) {
            let context = &bytes[start.saturating_sub(80)..(end + 80).min(hay.len())];
            found.push(String::from_utf8_lossy(context).into_owned());
        }
        from = end;
    }
    found
}

/// The forms an auth key could be logged in: hex (either case) and base64
/// of the whole key, and hex of each 16-byte piece.
fn key_forms(hex_key: &str) -> Vec<String> {
    let bytes = hex::decode(hex_key).expect("hex key");
    let mut forms = vec![
        hex_key.to_ascii_lowercase(),
        hex_key.to_ascii_uppercase(),
        base64::engine::general_purpose::STANDARD.encode(&bytes),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
    ];
    for piece in bytes.chunks(16) {
        forms.push(hex::encode(piece));
        forms.push(hex::encode_upper(piece));
        forms.push(format!("{piece:?}"));
    }
    forms
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(http: &reqwest::Client, url: String, token: Option<&str>) -> (u16, Value) {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// What passed through the service in one run.
struct Secrets {
    plain: Vec<String>,
    codes: Vec<String>,
}

/// Runs every flow against a fresh binary logging in `format`; returns
/// everything it (and the admin command) wrote, and the secrets used.
fn run_flows(format: &str) -> (String, Secrets) {
    let sim = ExternalSim::start();
    let (phone_a, phone_b, phone_c) = ("+999667300001", "+999667300002", "+999667300003");
    let uid_a = sim.account(phone_a, "Ada", Some(PASSWORD));
    let uid_b = sim.account(phone_b, "Bob", None);
    sim.account(phone_c, "Cy", None);
    let binary = Binary::serve(
        &sim,
        &[("TGDESK_LOG", "debug"), ("TGDESK_LOG_FORMAT", format)],
    );
    let admin = binary.run(&["admin", "token", "create", "--name", "secrets scan"]);
    let admin_token = String::from_utf8_lossy(&admin.stdout)
        .lines()
        .last()
        .expect("the admin token")
        .trim()
        .to_owned();
    let mut admin_logs = String::from_utf8_lossy(&admin.stderr).into_owned();
    let http = reqwest::Client::new();
    let url = |path: &str| binary.url(path);

    let (tokens, qr_token, browser) = block_on(async {
        // A browser logs in through the pages: phone, code, then its chats.
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let login = browser.get(url("/login")).send().await.expect("GET");
        let csrf = csrf_of(&login.text().await.expect("page"));
        let r = browser
            .post(url("/login/phone"))
            .form(&[("csrf", csrf.as_str()), ("phone", phone_c)])
            .send()
            .await
            .expect("POST");
        assert!(r.status().is_redirection(), "{}", r.status());
        let r = browser
            .post(url("/login/code"))
            .form(&[("csrf", csrf.as_str()), ("code", &sim.code(phone_c))])
            .send()
            .await
            .expect("POST");
        assert!(r.status().is_redirection(), "{}", r.status());
        let cookie = set_cookies(&r)
            .into_iter()
            .find_map(|c| {
                c.strip_prefix("tgdesk_session=")
                    .and_then(|rest| rest.split(';').next())
                    .map(str::to_owned)
            })
            .expect("a session cookie");
        let chats = browser.get(url("/chats")).send().await.expect("GET");
        assert_eq!(chats.status(), 200);

        // Phone, a wrong code, the code, a wrong password, the password.
        let (status, started) = post(
            &http,
            url("/api/v1/login/phone"),
            None,
            json!({ "phone": phone_a }),
        )
        .await;
        assert_eq!(status, 200, "{started}");
        let flow = started["flow_id"].as_str().expect("flow").to_owned();
        let code = sim.code(phone_a);
        let wrong = if code == "24680" { "13579" } else { "24680" };
        let (status, _) = post(
            &http,
            url(&format!("/api/v1/login/{flow}/code")),
            None,
            json!({ "code": wrong }),
        )
        .await;
        assert_eq!(status, 400);
        let (_, next) = post(
            &http,
            url(&format!("/api/v1/login/{flow}/code")),
            None,
            json!({ "code": code }),
        )
        .await;
        assert_eq!(next["next"], "password", "{next}");
        let (status, _) = post(
            &http,
            url(&format!("/api/v1/login/{flow}/password")),
            None,
            json!({ "password": WRONG_PASSWORD }),
        )
        .await;
        assert_eq!(status, 400);
        let (_, done) = post(
            &http,
            url(&format!("/api/v1/login/{flow}/password")),
            None,
            json!({ "password": PASSWORD }),
        )
        .await;
        let token_a = done["token"].as_str().expect("token").to_owned();

        // QR: shown, scanned on another device, completed by the status poll.
        let (_, qr) = post(&http, url("/api/v1/login/qr"), None, json!({})).await;
        let qr_flow = qr["flow_id"].as_str().expect("flow").to_owned();
        let qr_url = qr["qr_url"].as_str().expect("qr_url").to_owned();
        sim.sim
            .world()
            .accept_qr(&token_of(&qr_url), uid_b)
            .expect("scanned");
        let token_b = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let (_, state) = get(&http, url(&format!("/api/v1/login/{qr_flow}")), None).await;
                if let Some(token) = state["token"].as_str() {
                    return token.to_owned();
                }
                assert!(
                    state["state"] != "failed" && state["state"] != "expired",
                    "{state}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the QR login completes");
        connected(&http, &binary.base, &token_a).await;
        connected(&http, &binary.base, &token_b).await;

        // A message arrives; a long poll gets it; chats and history are read.
        sim.sim
            .world()
            .post_message(tgsim::world::NewMessage {
                from_user_id: uid_b,
                to_user_id: Some(uid_a),
                chat_id: None,
                text: "the invoice is attached".into(),
                reply_to: None,
            })
            .expect("posted");
        let (status, updates) = get(
            &http,
            url("/api/v1/updates?since=0&timeout=20"),
            Some(&token_a),
        )
        .await;
        assert_eq!(status, 200, "{updates}");
        assert!(
            !updates["events"].as_array().expect("events").is_empty(),
            "{updates}"
        );
        let (status, chats) = get(&http, url("/api/v1/chats"), Some(&token_a)).await;
        assert_eq!(status, 200, "{chats}");
        let chat = chats["chats"][0]["id"].as_i64().expect("a chat");
        let (status, history) = get(
            &http,
            url(&format!("/api/v1/chats/{chat}/messages")),
            Some(&token_a),
        )
        .await;
        assert_eq!(status, 200, "{history}");

        // A token for a program; then an admin resets Ada, and Bob logs out.
        let (status, created) = post(
            &http,
            url("/api/v1/tokens"),
            Some(&token_a),
            json!({ "name": "crm" }),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let token_c = created["token"].as_str().expect("token").to_owned();
        let (_, me) = get(&http, url("/api/v1/me"), Some(&token_a)).await;
        let id_a = me["id"].as_i64().expect("id");
        let (status, reset) = post(
            &http,
            url(&format!("/api/v1/admin/accounts/{id_a}/reset")),
            Some(&admin_token),
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{reset}");
        let r = http
            .delete(url("/api/v1/session"))
            .bearer_auth(&token_b)
            .send()
            .await
            .expect("DELETE");
        assert_eq!(r.status(), 200);
        (vec![token_a, token_b, token_c], qr_url, [csrf, cookie])
    });
    let keys = sim.auth_keys();
    assert!(
        keys.len() >= 2,
        "the simulator handed out auth keys: {keys:?}"
    );
    let mut plain: Vec<String> = keys.iter().flat_map(|k| key_forms(k)).collect();
    plain.extend(tokens);
    plain.push(admin_token);
    plain.push(qr_token["tg://login?token=".len()..].to_owned());
    plain.extend([PASSWORD, WRONG_PASSWORD].map(str::to_owned));
    plain.extend([&phone_a[1..], &phone_b[1..], &phone_c[1..]].map(str::to_owned));
    plain.extend(browser);
    let mut codes: Vec<String> = sim
        .sim
        .world()
        .codes()
        .into_iter()
        .map(|c| c.code)
        .collect();
    codes.extend(["24680", "13579"].map(str::to_owned));

    let lines = binary.stop();
    let mut logs: String = lines.iter().map(|(_, line)| format!("{line}\n")).collect();
    logs.push_str(&std::mem::take(&mut admin_logs));
    (logs, Secrets { plain, codes })
}

fn scan(format: &str) {
    let (logs, secrets) = run_flows(format);
    // The scan saw the flows' lines, so a clean result means something.
    for route in [
        "/api/v1/login/phone",
        "/api/v1/login/{flow_id}/code",
        "/api/v1/login/{flow_id}/password",
        "/api/v1/login/qr",
        "/api/v1/login/{flow_id}",
        "/api/v1/updates",
        "/api/v1/chats",
        "/api/v1/chats/{chat_id}/messages",
        "/api/v1/tokens",
        "/api/v1/admin/accounts/{id}/reset",
        "/api/v1/session",
        "/login/phone",
        "/login/code",
    ] {
        assert!(
            logs.lines()
                .any(|l| l.contains(route) && l.contains("request_id")),
            "no request line for {route} in the {format} logs:\n{logs}"
        );
    }
    assert_eq!(logs.matches("staff logged in").count(), 3, "{logs}");
    assert!(logs.lines().count() > 40, "{logs}");

    for secret in &secrets.plain {
        let found = occurrences(&logs, secret);
        assert!(
            found.is_empty(),
            "{secret:?} in the {format} logs: {found:?}"
        );
    }
    for code in &secrets.codes {
        // Five digits can be part of a port or a time: a code is never a value.
        let found: Vec<String> = occurrences(&logs, code)
            .into_iter()
            .filter(|c| !c.contains(&format!(":{code}")) && !c.contains(&format!(".{code}")))
            .collect();
        assert!(
            found.is_empty(),
            "code {code} in the {format} logs: {found:?}"
        );
    }
}

#[test]
fn human_logs_at_debug_hold_no_secrets() {
    scan("human");
}

#[test]
fn json_logs_at_debug_hold_no_secrets() {
    scan("json");
}
