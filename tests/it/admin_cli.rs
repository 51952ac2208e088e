//! `tgdesk admin …` as an operator runs it: the real binary, its output,
//! and what it leaves in the database (roles, tokens, audit entries, a
//! reset session).

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use tgdesk::config::VaultKeySource;
use tgdesk::store::audit::{self, AuditFilter};
use tgdesk::store::tokens::TokenRole;
use tgdesk::store::{Db, accounts, admins, sessions};

use crate::helpers::{TestDir, sim_user, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_tgdesk");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env_clear();
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run tgdesk")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn audit_of(db: &Db, action: &str) -> Vec<audit::AuditEntry> {
    audit::list(
        db.pool(),
        &AuditFilter {
            action: Some(action),
            limit: 10,
            ..AuditFilter::default()
        },
    )
    .await
    .expect("audit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_grant_revoke_and_token_create_need_no_sql() {
    let dir = TestDir::new();
    let url = format!("sqlite://{}", dir.path().join("tgdesk.db").display());
    let env = [("TGDESK_DATABASE_URL", url.as_str())];

    let out = run(&["admin", "grant", "--telegram-id", "777000"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("777000 now holds the admin role"));
    let out = run(&["admin", "grant", "--telegram-id", "777000"], &env);
    assert!(
        text(&out.stdout).contains("already holds"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["admin", "grant", "--telegram-id=-5"], &env);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("positive number"),
        "{}",
        text(&out.stderr)
    );

    let db = Db::connect(&url).await.expect("open");
    let list = admins::list(db.pool()).await.expect("admins");
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].telegram_user_id, list[0].granted_by.as_str()),
        (777000, "cli")
    );

    let out = run(&["admin", "token", "create", "--name", "monitoring"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let token = stdout
        .lines()
        .last()
        .expect("a last line")
        .trim()
        .to_owned();
    assert!(
        token.starts_with("tgd_"),
        "the token alone on the last line: {stdout}"
    );
    assert_eq!(stdout.matches(&token).count(), 1, "shown once");
    assert!(!text(&out.stderr).contains(&token), "not in the logs");
    let row = tgdesk::auth::tokens::verify(&db, &token)
        .await
        .expect("verify")
        .expect("a live token");
    assert_eq!((row.role, row.account_id), (TokenRole::Admin, None));

    let out = run(&["admin", "revoke", "--telegram-id", "777000"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no longer holds"));
    assert!(admins::list(db.pool()).await.expect("admins").is_empty());

    let grants = audit_of(&db, "admin_grant").await;
    let outcomes: Vec<&str> = grants.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["already_admin", "ok"]);
    assert!(grants.iter().all(|e| e.actor == "cli"));
    assert_eq!(grants[0].target.as_deref(), Some("telegram:777000"));
    assert_eq!(audit_of(&db, "admin_revoke").await.len(), 1);
    let created = audit_of(&db, "token_create").await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].target.as_deref(),
        Some(&*format!("token:{}", row.id))
    );
    assert!(!format!("{created:?}").contains(&token), "never the token");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reset_logs_the_session_out_of_telegram_and_wipes_it() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999671000001", "Ada");
    let started: Value = app
        .client
        .post(app.url("/api/v1/login/phone"))
        .json(&json!({ "phone": "+999671000001" }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let flow = started["flow_id"].as_str().expect("flow_id");
    let code = app.sim.world().last_code("+999671000001").expect("code");
    let done: Value = app
        .client
        .post(app.url(&format!("/api/v1/login/{flow}/code")))
        .json(&json!({ "code": code }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let account_id = done["account"]["id"].as_i64().expect("account id");
    // The CLI is another process: this one lets go of the account first,
    // as a stopped server would.
    app.state.pool.stop(account_id).await;

    // The CLI reaches this simulator through its control API.
    let control = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let control_addr = control.local_addr().expect("addr").to_string();
    tokio::spawn(tgsim::control::serve(
        app.sim.clone(),
        control,
        std::future::pending(),
    ));
    let url = app.state.config.database_url.expose().to_owned();
    let VaultKeySource::Inline { keys, .. } = &app.state.config.vault_keys else {
        panic!("the test app has inline keys");
    };
    let keys = keys.expose().to_owned();
    let env = vec![
        ("TGDESK_DATABASE_URL".to_owned(), url),
        ("TGDESK_VAULT_KEYS".to_owned(), keys.clone()),
        ("TGDESK_TELEGRAM_SIM".to_owned(), control_addr),
    ];
    let reset = |account: String| {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            run(&["admin", "reset", "--account", &account], &env)
        })
    };
    let out = tokio::time::timeout(Duration::from_secs(60), reset(account_id.to_string()))
        .await
        .expect("in time")
        .expect("task");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("is reset"), "{stdout}");
    assert!(stdout.contains("logged out and wiped"), "{stdout}");
    assert!(!stdout.contains("999671000001") && !text(&out.stderr).contains(&keys));

    let account = accounts::get(app.state.db.pool(), account_id)
        .await
        .expect("get")
        .expect("account");
    assert_eq!(account.state.as_str(), "reset");
    assert_eq!(
        accounts::reset_by(app.state.db.pool(), account_id)
            .await
            .expect("by")
            .as_deref(),
        Some("cli")
    );
    assert!(
        sessions::get_auth(app.state.db.pool(), account_id)
            .await
            .expect("auth")
            .is_none()
    );
    let on_telegram = app
        .sim
        .world()
        .accounts()
        .iter()
        .find(|a| a.user_id == ada)
        .map_or(99, |a| a.sessions);
    assert_eq!(on_telegram, 0, "logged out of Telegram");
    let entries = audit_of(&app.state.db, "account_reset").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].actor.as_str(), entries[0].outcome.as_str()),
        ("cli", "ok")
    );

    let out = tokio::time::timeout(Duration::from_secs(60), reset("4040".into()))
        .await
        .expect("in time")
        .expect("task");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("there is no account 4040"),
        "{}",
        text(&out.stderr)
    );
    app.stop().await;
}
