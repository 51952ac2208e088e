//! The admin role over real HTTP against tgsim: who may use the admin page
//! and API, what the page shows and how it resets a session, admin tokens,
//! admins from the configuration, and the audit trail. Resets through the
//! API (live, long-polling, Telegram out of reach, twice) are in
//! `admin_reset.rs`; both use the helpers here.

use serde_json::Value;
use tgdesk::store::accounts;
use tgdesk::store::admins;
use tgdesk::store::audit::{self, AuditEntry, AuditFilter};
use tgdesk::store::tokens::TokenRole;

use crate::helpers::{TestApp, sim_user, spawn_app, spawn_app_with};
pub(crate) use crate::helpers::{api_login, wait_connected};
use crate::login_support::csrf_of;

/// A browser of its own (cookies kept, redirects not followed).
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// GET; (status, Location, body).
pub(crate) async fn get_page(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
) -> (u16, String, String) {
    let r = b.get(app.url(path)).send().await.expect("GET");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, location, r.text().await.expect("body"))
}

/// POST a form; (status, Location, body).
pub(crate) async fn post_form(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let r = b
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, location, r.text().await.expect("body"))
}

/// Logs in through the pages in browser `b`; a wrong code first if asked.
pub(crate) async fn web_login(
    app: &TestApp,
    b: &reqwest::Client,
    phone: &str,
    wrong_code_first: bool,
) {
    let (_, _, login) = get_page(app, b, "/login").await;
    let csrf = csrf_of(&login);
    let (status, location, body) =
        post_form(app, b, "/login/phone", &[("csrf", &csrf), ("phone", phone)]).await;
    assert_eq!((status, location.as_str()), (303, "/login/code"), "{body}");
    if wrong_code_first {
        let (status, _, _) =
            post_form(app, b, "/login/code", &[("csrf", &csrf), ("code", "00000")]).await;
        assert_eq!(status, 400, "a wrong code is refused");
    }
    let code = app.sim.world().last_code(phone).expect("code");
    let (status, location, body) =
        post_form(app, b, "/login/code", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!((status, location.as_str()), (303, "/chats"), "{body}");
}

/// A request with a bearer token (or none); (status, JSON body or Null).
pub(crate) async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn admin_token(app: &TestApp) -> String {
    let (token, _) = tgdesk::auth::tokens::issue(
        &app.state.db,
        None,
        "test admin",
        TokenRole::Admin,
        tgdesk::store::now(),
    )
    .await
    .expect("admin token");
    token.expose().to_owned()
}

pub(crate) async fn audit_of(app: &TestApp, action: &str) -> Vec<AuditEntry> {
    audit::list(
        app.state.db.pool(),
        &AuditFilter {
            action: Some(action),
            limit: 100,
            ..AuditFilter::default()
        },
    )
    .await
    .expect("audit")
}

pub(crate) fn telegram_sessions(app: &TestApp, user_id: i64) -> usize {
    app.sim
        .world()
        .accounts()
        .iter()
        .find(|a| a.user_id == user_id)
        .map_or(0, |a| a.sessions)
}

/// Every admin API route, with the method and a path.
const API_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/admin/accounts"),
    ("POST", "/api/v1/admin/accounts/1/reset"),
    ("GET", "/api/v1/admin/login-attempts"),
    ("GET", "/api/v1/admin/audit"),
    ("GET", "/api/v1/admin/tokens"),
    ("DELETE", "/api/v1/admin/tokens/1"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_staff_sessions_and_staff_tokens() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999670000001", "Ada");
    let (staff_token, ada_account) = api_login(&app, "+999670000001").await;
    let staff = browser();
    web_login(&app, &staff, "+999670000001", false).await;

    for (method, path) in API_ROUTES {
        let method: reqwest::Method = method.parse().expect("method");
        let (status, body) = call(&app, method.clone(), path, Some(&staff_token)).await;
        assert_eq!(status, 403, "{method} {path} with a staff token: {body}");
        assert_eq!(body["error"], "not_admin", "{body}");
        let (status, body) = call(&app, method.clone(), path, None).await;
        assert_eq!(status, 401, "{method} {path} without a token: {body}");
    }
    // A staff token stays refused even once its user is an admin: the API
    // wants admin-role tokens.
    tgdesk::admin::grant(&app.state.db, ada, "test")
        .await
        .expect("grant");
    let (status, _) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/admin/accounts",
        Some(&staff_token),
    )
    .await;
    assert_eq!(status, 403);
    tgdesk::admin::revoke(&app.state.db, ada, "test")
        .await
        .expect("revoke");

    // Pages: a staff session gets 403, no session goes to the login page.
    let (_, _, chats) = get_page(&app, &staff, "/chats").await;
    assert!(
        !chats.contains("href=\"/admin\""),
        "no admin link for staff"
    );
    let csrf = csrf_of(&chats);
    let reset_path = format!("/admin/accounts/{ada_account}/reset");
    for path in ["/admin", reset_path.as_str()] {
        let (status, _, body) = get_page(&app, &staff, path).await;
        assert_eq!(status, 403, "GET {path}: {body}");
        assert!(body.contains("administrators only"), "{body}");
        let (status, location, _) = get_page(&app, &browser(), path).await;
        assert_eq!((status, location.as_str()), (303, "/login"), "GET {path}");
    }
    let (status, _, _) = post_form(&app, &staff, &reset_path, &[("csrf", &csrf)]).await;
    assert_eq!(status, 403, "POST reset as staff");

    // Nothing was reset by any of it.
    let account = accounts::get(app.state.db.pool(), ada_account)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.state.as_str(), "active");
    assert!(audit_of(&app, "account_reset").await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_shows_everyone_and_resets_with_confirmation() {
    let app = spawn_app().await;
    let boss = sim_user(&app, "+999670000041", "Boss");
    let bob = sim_user(&app, "+999670000042", "Bob");
    tgdesk::admin::grant(&app.state.db, boss, "test")
        .await
        .expect("grant");
    let admin = browser();
    web_login(&app, &admin, "+999670000041", false).await;
    let staff = browser();
    web_login(&app, &staff, "+999670000042", true).await;
    let bob_account = accounts::get_by_telegram_id(app.state.db.pool(), bob)
        .await
        .expect("get")
        .expect("account")
        .id;
    wait_connected(&app, bob_account).await;

    let (status, _, chats) = get_page(&app, &admin, "/chats").await;
    assert_eq!(status, 200);
    let (status, _, page) = get_page(&app, &admin, "/admin").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"admin-link\""), "the admin link");
    assert!(
        page.contains("Bob") && page.contains(&bob.to_string()),
        "{page}"
    );
    assert!(page.contains("+999 •••• •00 42"), "masked phone: {page}");
    assert!(!page.contains("999670000042"), "never the full phone");
    assert!(page.contains(&format!("href=\"/admin/accounts/{bob_account}/reset\"")));
    assert!(
        page.contains("code_invalid"),
        "the failed attempt is listed"
    );
    let _ = chats;

    // Login attempts filter by outcome and phone.
    let (_, _, filtered) = get_page(
        &app,
        &admin,
        "/admin?outcome=code_invalid&phone=0042&address=",
    )
    .await;
    let attempts = filtered
        .split("id=\"attempts\"")
        .nth(1)
        .expect("the attempts table");
    let attempts = attempts.split("</table>").next().expect("table end");
    assert_eq!(
        attempts.matches("<tr>").count(),
        2,
        "header and one row: {attempts}"
    );
    assert!(attempts.contains("+999 •••• •00 42"));
    let (_, _, none) = get_page(&app, &admin, "/admin?outcome=code_invalid&phone=0041").await;
    assert!(
        none.contains("No login attempts match this filter"),
        "{none}"
    );
    // The failed login is in the audit log too.
    let failed: Vec<AuditEntry> = audit_of(&app, "login")
        .await
        .into_iter()
        .filter(|e| e.outcome == "code_invalid")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(!format!("{failed:?}").contains("999670000042"));

    // The confirmation page, then a POST without the form token is refused.
    let confirm_path = format!("/admin/accounts/{bob_account}/reset");
    let (status, _, confirm) = get_page(&app, &admin, &confirm_path).await;
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains("Reset Bob"), "{confirm}");
    let csrf = csrf_of(&confirm);
    let (status, _, _) = post_form(&app, &admin, &confirm_path, &[("csrf", "forged")]).await;
    assert_eq!(status, 403);
    assert_eq!(
        accounts::get(app.state.db.pool(), bob_account)
            .await
            .expect("get")
            .expect("account")
            .state
            .as_str(),
        "active"
    );
    let (status, location, _) = post_form(&app, &admin, &confirm_path, &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    assert_eq!(location, format!("/admin?done={bob_account}&r=logged_out"));
    let (_, _, after) = get_page(&app, &admin, &location).await;
    assert!(
        after.contains("The session of Bob is logged out of Telegram and wiped here."),
        "{after}"
    );
    assert_eq!(telegram_sessions(&app, bob), 0);

    // Bob's next page says an administrator reset the session.
    let (_, location, _) = get_page(&app, &staff, "/chats").await;
    assert_eq!(location, "/login?m=reset");
    let (_, _, login) = get_page(&app, &staff, &location).await;
    assert!(login.contains("An administrator reset your session"));

    let entries = audit_of(&app, "account_reset").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, format!("admin:{boss}"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_lists_and_revokes_any_token() {
    let app = spawn_app().await;
    sim_user(&app, "+999670000051", "Ada");
    let (staff_token, account_id) = api_login(&app, "+999670000051").await;
    let admin = admin_token(&app).await;

    let (status, list) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/admin/accounts",
        Some(&admin),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["accounts"][0]["id"], account_id);
    assert_eq!(list["accounts"][0]["api_tokens"], 1);
    assert_eq!(list["accounts"][0]["phone"], "+999 •••• •00 51");

    let (_, tokens) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/admin/tokens",
        Some(&admin),
    )
    .await;
    let staff_id = tokens["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["account_id"] == account_id)
        .expect("the staff token")["id"]
        .as_i64()
        .expect("id");
    assert!(
        !tokens.to_string().contains(&staff_token),
        "never the token itself"
    );
    let path = format!("/api/v1/admin/tokens/{staff_id}");
    for _ in 0..2 {
        let (status, _) = call(&app, reqwest::Method::DELETE, &path, Some(&admin)).await;
        assert_eq!(status, 204, "revoking twice is fine");
    }
    let (status, _) = call(&app, reqwest::Method::GET, "/api/v1/me", Some(&staff_token)).await;
    assert_eq!(status, 401, "the revoked token no longer works");
    let (status, _) = call(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/admin/tokens/9999",
        Some(&admin),
    )
    .await;
    assert_eq!(status, 404);
    let revokes: Vec<String> = audit_of(&app, "token_revoke")
        .await
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert_eq!(revokes, ["already_revoked", "ok"]);

    let (status, audit) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/admin/audit?action=token_revoke&limit=1",
        Some(&admin),
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["entries"].as_array().expect("entries").len(), 1);
    assert!(audit["next_before"].is_i64(), "a next page: {audit}");
    let (status, attempts) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/admin/login-attempts?outcome=success&phone=%2B999",
        Some(&admin),
    )
    .await;
    assert_eq!(status, 200, "{attempts}");
    assert_eq!(attempts["attempts"].as_array().expect("attempts").len(), 1);
    let (status, bad) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/admin/audit?limit=0",
        Some(&admin),
    )
    .await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("invalid_limit"))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_admins_are_synced_at_start_and_audited() {
    let app = spawn_app_with(&[("TGDESK_ADMINS", "4242,4343")]).await;
    let list = admins::list(app.state.db.pool()).await.expect("admins");
    let granted: Vec<(i64, &str)> = list
        .iter()
        .map(|a| (a.telegram_user_id, a.granted_by.as_str()))
        .collect();
    assert_eq!(granted, [(4242, "config"), (4343, "config")]);
    let grants = audit_of(&app, "admin_grant").await;
    assert_eq!(grants.len(), 2);
    assert!(grants.iter().all(|e| e.actor == "config"));

    // A CLI grant survives a sync; a role dropped from the configuration goes.
    tgdesk::admin::grant(&app.state.db, 5555, "cli")
        .await
        .expect("grant");
    let report = tgdesk::admin::sync_config_admins(&app.state.db, &[4242])
        .await
        .expect("sync");
    assert_eq!(report.revoked, [4343]);
    let left: Vec<i64> = admins::list(app.state.db.pool())
        .await
        .expect("admins")
        .iter()
        .map(|a| a.telegram_user_id)
        .collect();
    assert_eq!(left, [4242, 5555]);
    let revokes = audit_of(&app, "admin_revoke").await;
    assert_eq!(revokes[0].target.as_deref(), Some("telegram:4343"));
    app.stop().await;
}
