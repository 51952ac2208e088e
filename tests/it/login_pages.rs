//! The login pages over real HTTP, as a browser without JavaScript uses
//! them: forms, redirects, cookies and their flags, CSRF and Origin checks,
//! error pages with the right status, logout. `login_secrets` checks what
//! never leaks.

use std::time::Duration;

use tgdesk::store::accounts::{self, AccountState};
use tgdesk::store::audit::{self, AuditFilter};
use tgdesk::store::web_sessions;
use tgsim::FaultSpec;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::login_support::*;

/// Logs in by phone and code through the pages; returns the final response.
async fn log_in_by_pages(app: &TestApp, phone: &str) -> reqwest::Response {
    let csrf = login_csrf(app).await;
    let (status, location, body) =
        form(app, "/login/phone", &[("csrf", &csrf), ("phone", phone)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login/code")),
        "{body}"
    );
    let code = code_of(app, phone);
    app.client
        .post(app.url("/login/code"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("post")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_code_and_password_pages_end_on_the_chats_page() {
    let app = spawn_app().await;
    let phone = "+999666000001";
    add_account(&app, phone, 1, true);

    let response = app.client.get(app.url("/login")).send().await.expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&response);
    assert!(
        cookies.iter().any(|c| c.starts_with("tgdesk_login=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Lax")
            && !c.contains("Secure")),
        "{cookies:?}"
    );
    let page_body = response.text().await.expect("body");
    assert!(page_body.contains("action=\"/login/phone\""));
    assert!(page_body.contains("action=\"/login/qr\""));
    let csrf = csrf_of(&page_body);

    let (status, location, _) = form(
        &app,
        "/login/phone",
        &[("csrf", &csrf), ("phone", "+999 666 000 001")],
    )
    .await;
    assert_eq!((status, location.as_deref()), (303, Some("/login/code")));
    let (status, _, code_page) = page(&app, "/login/code").await;
    assert_eq!(status, 200);
    assert!(code_page.contains("+999 •••• •00 01"), "{code_page}");
    assert!(code_page.contains("by SMS"));
    assert!(code_page.contains("autocomplete=\"one-time-code\""));

    // "Send it again" sends another code.
    let (status, _, resent) = form(&app, "/login/resend", &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{resent}");
    assert!(resent.contains("A new code was sent"), "{resent}");

    // A wrong code: the same page, 400, with a message a person can act on.
    let code = code_of(&app, phone);
    let wrong = if code == "11111" { "22222" } else { "11111" };
    let (status, _, again) = form(&app, "/login/code", &[("csrf", &csrf), ("code", wrong)]).await;
    assert_eq!(status, 400);
    assert!(again.contains("That code is not right"), "{again}");
    assert!(again.contains("action=\"/login/code\""));
    assert!(!again.contains(wrong), "the typed code is not echoed");

    let (status, location, _) =
        form(&app, "/login/code", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login/password"))
    );
    let (status, _, password_page) = page(&app, "/login/password").await;
    assert_eq!(status, 200);
    assert!(password_page.contains(HINT), "{password_page}");
    assert!(password_page.contains("type=\"password\""));

    let (status, _, wrong_pw) = form(
        &app,
        "/login/password",
        &[("csrf", &csrf), ("password", "nope")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        wrong_pw.contains("That password is not right"),
        "{wrong_pw}"
    );

    let response = app
        .client
        .post(app.url("/login/password"))
        .form(&[("csrf", csrf.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/chats");
    let cookies = set_cookies(&response);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("tgdesk_session="))
        .unwrap_or_else(|| panic!("a session cookie: {cookies:?}"));
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    assert!(!session.contains("Secure"), "not configured: {session}");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("tgdesk_flow=;") && c.contains("Max-Age=0")),
        "the flow cookie is cleared: {cookies:?}"
    );

    let (status, _, chats) = page(&app, "/chats").await;
    assert_eq!(status, 200, "{chats}");
    assert!(chats.contains("Ada Lovelace"));
    assert!(chats.contains("@ada0001"));
    assert!(chats.contains("+999 •••• •00 01"));
    assert!(chats.contains("action=\"/logout\""));
    // Logged in: the login page sends you on.
    let (status, location, _) = page(&app, "/login").await;
    assert_eq!((status, location.as_deref()), (303, Some("/chats")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let phone = "+999666000002";
    let uid = add_account(&app, phone, 1, false);
    let response = log_in_by_pages(&app, phone).await;
    assert_eq!(response.status(), 303);
    let cookie = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("tgdesk_session="))
        .expect("session cookie");
    let value = cookie["tgdesk_session=".len()..]
        .split(';')
        .next()
        .expect("value")
        .to_owned();
    let (_, _, chats) = page(&app, "/chats").await;
    let csrf = csrf_of(&chats);
    let account = accounts::get_by_telegram_id(app.state.db.pool(), uid)
        .await
        .expect("get")
        .expect("account");

    // Without its token, logout is refused and the session lives on.
    let (status, _, refused) = form(&app, "/logout", &[("csrf", "forged")]).await;
    assert_eq!(status, 403, "{refused}");
    let (status, _, _) = page(&app, "/chats").await;
    assert_eq!(status, 200);
    // A login form token is not a session's token.
    let other = reqwest::Client::new();
    let login_page = other
        .get(app.url("/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    let (status, _, _) = form(&app, "/logout", &[("csrf", &csrf_of(&login_page))]).await;
    assert_eq!(status, 403);

    let (status, location, _) = form(&app, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login?m=logged_out"))
    );
    let (status, _, login_page) = page(&app, "/login?m=logged_out").await;
    assert_eq!(status, 200);
    assert!(login_page.contains("You are logged out."));
    assert!(
        web_sessions::list_for_account(app.state.db.pool(), account.id, tgdesk::store::now())
            .await
            .expect("sessions")
            .is_empty()
    );
    // A copy of the old cookie is dead too.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.url("/chats"))
        .header("cookie", format!("tgdesk_session={value}"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login");
    // The Telegram session stays for the account's API tokens.
    assert_eq!(
        accounts::get(app.state.db.pool(), account.id)
            .await
            .expect("get")
            .expect("account")
            .state,
        AccountState::Active
    );
    let entries = audit::list(
        app.state.db.pool(),
        &AuditFilter {
            action: Some("logout"),
            limit: 10,
            ..AuditFilter::default()
        },
    )
    .await
    .expect("audit");
    assert_eq!(entries.len(), 1);
    app.stop().await;
}

/// A tiny cookie jar that sends `Secure` cookies over plain HTTP, which a
/// browser (and reqwest's jar) would not: the flags are what is tested.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for c in set_cookies(response) {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                self.0.retain(|(n, _)| n != name);
                if !value.is_empty() {
                    self.0.push((name.to_owned(), value.to_owned()));
                }
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookies_carry_the_host_prefix_and_the_secure_flag() {
    let app = spawn_app_with(&[("TGDESK_SECURE_COOKIES", "on")]).await;
    let phone = "+999666000003";
    add_account(&app, phone, 1, false);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut jar = Jar::default();

    let response = http.get(app.url("/login")).send().await.expect("get");
    let cookies = set_cookies(&response);
    assert!(
        cookies.iter().any(|c| c.starts_with("__Host-tgdesk_login=")
            && c.contains("; Path=/;")
            && c.ends_with("; HttpOnly; SameSite=Lax; Secure")),
        "{cookies:?}"
    );
    jar.take(&response);
    let csrf = csrf_of(&response.text().await.expect("body"));

    let response = http
        .post(app.url("/login/phone"))
        .header("cookie", jar.header())
        .form(&[("csrf", csrf.as_str()), ("phone", phone)])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 303);
    assert!(
        set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("__Host-tgdesk_flow=") && c.contains("Secure"))
    );
    jar.take(&response);
    let code = code_of(&app, phone);
    let response = http
        .post(app.url("/login/code"))
        .header("cookie", jar.header())
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 303);
    let session = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("__Host-tgdesk_session="))
        .expect("a __Host- session cookie");
    assert!(
        session.ends_with("; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax; Secure"),
        "{session}"
    );
    jar.take(&response);
    let response = http
        .get(app.url("/chats"))
        .header("cookie", jar.header())
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    // Without the prefix, the same value is not our cookie.
    let bare = jar.header().replace("__Host-", "");
    let response = http
        .get(app.url("/chats"))
        .header("cookie", bare)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 303);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_their_token_or_from_another_site_are_refused() {
    let app = spawn_app().await;
    let phone = "+999666000004";
    add_account(&app, phone, 1, false);
    let csrf = login_csrf(&app).await;

    // No token, a wrong one, one from another browser.
    let stranger = reqwest::Client::new()
        .get(app.url("/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    for token in ["", "AAAA", &csrf_of(&stranger)] {
        let (status, _, body) =
            form(&app, "/login/phone", &[("csrf", token), ("phone", phone)]).await;
        assert_eq!(status, 403, "{token:?}");
        assert!(body.contains("did not come from this site"), "{body}");
        assert!(
            body.contains("action=\"/login/phone\""),
            "the login page again"
        );
    }
    // A right token, sent by another site.
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let response = app
            .client
            .post(app.url("/login/phone"))
            .header(name, value)
            .form(&[("csrf", csrf.as_str()), ("phone", phone)])
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 403, "{name}: {value}");
        let body = response.text().await.expect("body");
        assert!(body.contains("came from another site"), "{body}");
    }
    // A form with missing fields gets a page, not a 500 or plain text.
    let response = app
        .client
        .post(app.url("/login/code"))
        .header("content-type", "text/plain")
        .body("code=1")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 415);
    assert_eq!(calls(&app, "auth.sendCode"), 0);

    // Our own origin passes.
    let origin = app.base.clone();
    let response = app
        .client
        .post(app.url("/login/phone"))
        .header("origin", origin)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str()), ("phone", phone)])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 303);
    assert_eq!(calls(&app, "auth.sendCode"), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_pages_say_what_to_do_with_the_right_status() {
    let app = spawn_app_with(&[("TGDESK_LOGIN_LIMITS", "phone=3/1h")]).await;
    let phone = "+999666000005";
    add_account(&app, phone, 1, false);
    let csrf = login_csrf(&app).await;

    // Not a number: the form again, with what was typed and why.
    let (status, _, body) = form(
        &app,
        "/login/phone",
        &[("csrf", &csrf), ("phone", "0123 <b>")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("Start the number with + and the country code"),
        "{body}"
    );
    assert!(!body.contains("0123 <b>"), "escaped: {body}");
    assert!(body.contains("value=\"0123 &"), "kept: {body}");

    // Telegram's flood wait: 429, Retry-After, and when to try again.
    app.sim
        .faults()
        .inject(FaultSpec {
            method: "auth.sendCode".into(),
            error: Some("FLOOD_WAIT_30".into()),
            count: Some(1),
            delay_ms: None,
        })
        .expect("fault");
    let response = app
        .client
        .post(app.url("/login/phone"))
        .form(&[("csrf", csrf.as_str()), ("phone", phone)])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "30");
    let body = response.text().await.expect("body");
    assert!(body.contains("wait 30 seconds"), "{body}");
    assert!(body.contains("data-local-time"), "says when: {body}");

    // An expired code: back to the number, the flow cookie gone.
    let (status, _, _) = form(&app, "/login/phone", &[("csrf", &csrf), ("phone", phone)]).await;
    assert_eq!(status, 303);
    let code = code_of(&app, phone);
    app.sim.world().expire_codes(Some(phone));
    let response = app
        .client
        .post(app.url("/login/code"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    assert!(
        set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("tgdesk_flow=;"))
    );
    let body = response.text().await.expect("body");
    assert!(body.contains("That code has expired"), "{body}");
    assert!(body.contains("action=\"/login/phone\""));

    // Our own limit: 429 with Retry-After, and a page that says when.
    let (status, _, _) = form(&app, "/login/phone", &[("csrf", &csrf), ("phone", phone)]).await;
    assert_eq!(status, 303);
    let response = app
        .client
        .post(app.url("/login/phone"))
        .form(&[("csrf", csrf.as_str()), ("phone", phone)])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 429);
    let secs: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(secs > 3000, "{secs}");
    let body = response.text().await.expect("body");
    assert!(
        body.contains("Too many login codes were asked for this number. Try again in"),
        "{body}"
    );
    assert!(body.contains("You can try again after"), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_pages_refresh_by_json_and_complete_after_the_scan() {
    let app = spawn_app().await;
    let uid = add_account(&app, "+999666000006", 2, false);
    let csrf = login_csrf(&app).await;
    let (status, location, _) = form(&app, "/login/qr", &[("csrf", &csrf)]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/login/qr")));
    let (status, _, qr_page) = page(&app, "/login/qr").await;
    assert_eq!(status, 200);
    assert!(qr_page.contains("<svg role=\"img\""), "inline SVG");
    assert!(qr_page.contains("Settings → Devices → Link Desktop Device"));
    assert!(!qr_page.contains("<?xml"));

    let (status, status_json) = api_get(&app, "/login/qr/status").await;
    assert_eq!(status, 200);
    assert_eq!(status_json["state"], "awaiting_scan");
    let qr_url = status_json["qr_url"].as_str().expect("qr_url");
    assert!(qr_page.contains(&format!("data-qr-url=\"{qr_url}\"")));
    assert!(
        status_json["svg"]
            .as_str()
            .expect("svg")
            .starts_with("<svg ")
    );

    // Before the scan, "continue" just shows the code again.
    let (status, location, _) = form(&app, "/login/qr/complete", &[("csrf", &csrf)]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/login/qr")));

    app.sim
        .world()
        .accept_qr(&token_of(qr_url), uid)
        .expect("scanned");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, s) = api_get(&app, "/login/qr/status").await;
            if s["state"] == "done" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the scan is seen");
    let (status, location, _) = form(&app, "/login/qr/complete", &[("csrf", &csrf)]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/chats")));
    let (status, _, chats) = page(&app, "/chats").await;
    assert_eq!(status, 200);
    assert!(chats.contains("Ada Lovelace"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_login_with_a_password_continues_on_the_password_page() {
    let app = spawn_app().await;
    let uid = add_account(&app, "+999666000007", 1, true);
    let csrf = login_csrf(&app).await;
    form(&app, "/login/qr", &[("csrf", &csrf)]).await;
    let (_, s) = api_get(&app, "/login/qr/status").await;
    app.sim
        .world()
        .accept_qr(&token_of(s["qr_url"].as_str().expect("url")), uid)
        .expect("scanned");
    let next = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, s) = api_get(&app, "/login/qr/status").await;
            if s["state"] == "awaiting_password" {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("asks for the password");
    assert_eq!(next["next"], "/login/password");
    let (status, _, password_page) = page(&app, "/login/password").await;
    assert_eq!(status, 200);
    assert!(password_page.contains(HINT));
    let (status, location, _) = form(
        &app,
        "/login/password",
        &[("csrf", &csrf), ("password", PASSWORD)],
    )
    .await;
    assert_eq!((status, location.as_deref()), (303, Some("/chats")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_flow_that_outlives_a_restart_says_start_again() {
    let app = spawn_app().await;
    let phone = "+999666000008";
    add_account(&app, phone, 1, false);
    let csrf = login_csrf(&app).await;
    form(&app, "/login/phone", &[("csrf", &csrf), ("phone", phone)]).await;
    let code = code_of(&app, phone);
    let app = app.restart().await;

    let (status, location, _) = page(&app, "/login/code").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login?m=expired"))
    );
    let (status, _, body) = page(&app, "/login?m=expired").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("the service restarted meanwhile. Start again."),
        "{body}"
    );
    // The old form, posted anyway: refused plainly, never a 500.
    let (status, _, body) = form(&app, "/login/code", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(status, 403);
    assert!(body.contains("Start again"), "{body}");
    // With a fresh form, the gone flow says so too.
    let csrf = login_csrf(&app).await;
    let (status, location, _) =
        form(&app, "/login/code", &[("csrf", &csrf), ("code", &code)]).await;
    assert_ne!(status, 500);
    assert_eq!((status, location.as_deref()), (404, None));
    let (status, _, _) = page(&app, "/login/password").await;
    assert_eq!(status, 303);
    let (_, s) = api_get(&app, "/login/qr/status").await;
    assert_eq!(s["state"], "expired");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looking_changes_nothing_and_signed_out_pages_lead_to_login() {
    let app = spawn_app().await;
    for path in ["/login/qr", "/login/code", "/login/password", "/chats"] {
        let (status, location, _) = page(&app, path).await;
        assert_eq!(status, 303, "{path}");
        assert!(location.expect("location").starts_with("/login"), "{path}");
    }
    for path in [
        "/logout",
        "/login/phone",
        "/login/resend",
        "/login/cancel",
        "/login/qr/complete",
    ] {
        let (status, _, _) = page(&app, path).await;
        assert_eq!(status, 405, "{path}");
    }
    let (status, s) = api_get(&app, "/login/qr/status").await;
    assert_eq!((status, s["state"].as_str()), (200, Some("expired")));
    assert!(app.state.flows.is_empty());
    assert!(app.sim.stats().calls.is_empty(), "Telegram was not asked");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_account_is_sent_to_log_in_again_with_the_reason() {
    let app = spawn_app().await;
    let phone = "+999666000009";
    let uid = add_account(&app, phone, 1, false);
    assert_eq!(log_in_by_pages(&app, phone).await.status(), 303);
    let account = accounts::get_by_telegram_id(app.state.db.pool(), uid)
        .await
        .expect("get")
        .expect("account");
    accounts::set_state(
        app.state.db.pool(),
        account.id,
        AccountState::Revoked,
        tgdesk::store::now(),
    )
    .await
    .expect("revoke");
    let (status, location, _) = page(&app, "/chats").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login?m=revoked"))
    );
    let (_, _, body) = page(&app, "/login?m=revoked").await;
    assert!(body.contains("ended from another device"), "{body}");
    // The web session went with it.
    let (status, location, _) = page(&app, "/chats").await;
    assert_eq!((status, location.as_deref()), (303, Some("/login")));
    app.stop().await;
}
