//! Shared test fixtures: a fresh database per test (SQLite file in a
//! temporary directory, or a PostgreSQL schema of its own), and
//! `spawn_app()`, the real router on port 0.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;

use tgdesk::app::{self, AppState};
use tgdesk::config::{Config, Overrides};
use tgdesk::store::Db;
use tgdesk::vault::{Vault, VaultKey};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A temporary directory, removed when dropped.
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tgdesk-test-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

enum Cleanup {
    Dir(TestDir),
    PgSchema { base_url: String, schema: String },
    Done,
}

/// A migrated, empty database of its own.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    cleanup: Cleanup,
}

static PG_SKIP_NOTICE: Once = Once::new();

impl TestDb {
    /// A fresh SQLite file.
    pub async fn sqlite() -> Self {
        tgdesk::telemetry::init_for_tests();
        let dir = TestDir::new();
        let url = format!("sqlite://{}", dir.path().join("tgdesk.db").display());
        let db = Db::connect(&url).await.expect("open sqlite");
        db.migrate().await.expect("migrate sqlite");
        Self {
            db,
            url,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh schema in the database named by `TGDESK_TEST_POSTGRES_URL`,
    /// or `None` (test skipped) when it is not set.
    pub async fn postgres() -> Option<Self> {
        tgdesk::telemetry::init_for_tests();
        let Ok(base_url) = std::env::var("TGDESK_TEST_POSTGRES_URL") else {
            PG_SKIP_NOTICE.call_once(|| {
                // Written past the test harness's capture, so a plain
                // `cargo test` run says that it skipped them.
                let _ = writeln!(
                    std::io::stderr(),
                    "note: TGDESK_TEST_POSTGRES_URL is not set: the PostgreSQL storage tests were skipped"
                );
            });
            return None;
        };
        let schema = format!("tgdesk_test_{:016x}", rand::random::<u64>());
        let admin = Db::connect(&base_url)
            .await
            .expect("connect to TGDESK_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(admin.pool())
            .await
            .expect("create schema");
        admin.close().await;
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options=-c%20search_path%3D{schema}");
        let db = Db::connect(&url).await.expect("connect to test schema");
        db.migrate().await.expect("migrate postgres");
        Some(Self {
            db,
            url,
            cleanup: Cleanup::PgSchema { base_url, schema },
        })
    }

    /// A second, independent pool on the same database (a restart).
    pub async fn reopen(&self) -> Db {
        Db::connect(&self.url).await.expect("reopen")
    }

    /// The SQLite database files (main file and WAL), empty for PostgreSQL.
    pub fn sqlite_files(&self) -> Vec<PathBuf> {
        match &self.cleanup {
            Cleanup::Dir(dir) => ["tgdesk.db", "tgdesk.db-wal"]
                .iter()
                .map(|name| dir.path().join(name))
                .filter(|p| p.exists())
                .collect(),
            Cleanup::PgSchema { .. } | Cleanup::Done => Vec::new(),
        }
    }
}

impl TestDb {
    /// Closes the pool (so no transaction lingers) and drops the database.
    pub async fn cleanup(mut self) {
        self.db.close().await;
        if let Cleanup::PgSchema { base_url, schema } = &self.cleanup {
            let admin = Db::connect(base_url).await.expect("connect");
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(admin.pool())
                .await
                .expect("drop schema");
            admin.close().await;
            self.cleanup = Cleanup::Done;
        }
    }
}

impl Drop for TestDb {
    /// After a failed test: drop the schema from a runtime of our own (the
    /// test's may be unwinding), without waiting on locks for long.
    fn drop(&mut self) {
        if let Cleanup::PgSchema { base_url, schema } = &self.cleanup {
            let base_url = base_url.clone();
            let schema = schema.clone();
            let _ = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async {
                    if let Ok(admin) = Db::connect(&base_url).await {
                        let sql = format!(
                            "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                        );
                        let _ = sqlx::raw_sql(&sql).execute(admin.pool()).await;
                        admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A vault with one fresh key.
pub fn vault_with(keys: &[&VaultKey]) -> Vault {
    Vault::new(&keys.iter().map(|k| (*k).clone()).collect::<Vec<_>>()).expect("vault")
}

/// An environment lookup backed by a map, for `Config::load_from`.
pub fn env_of(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    move |name| map.get(name).cloned()
}

/// The real application on 127.0.0.1:<random port> with a fresh SQLite
/// database and vault key.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    /// The simulated Telegram this app talks to (an empty world).
    pub sim: tgsim::Sim,
    env: Vec<(&'static str, String)>,
    _dir: TestDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// [`spawn_app`] with more `TGDESK_*` settings, e.g.
/// `[("TGDESK_LOGIN_LIMITS", "phone=2/1h")]`.
pub async fn spawn_app_with(settings: &[(&'static str, &str)]) -> TestApp {
    tgdesk::telemetry::init_for_tests();
    let dir = TestDir::new();
    let key = VaultKey::generate().expect("key");
    let mut env = vec![
        (
            "TGDESK_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("tgdesk.db").display()),
        ),
        ("TGDESK_VAULT_KEYS", key.to_line().to_string()),
        ("TGDESK_LISTEN", "127.0.0.1:0".to_owned()),
    ];
    env.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let sim = tgsim::Sim::start(tgsim::SimConfig {
        world: tgsim::WorldSpec::empty(),
        ..tgsim::SimConfig::default()
    })
    .await
    .expect("tgsim starts");
    start_app(dir, env, sim).await
}

async fn start_app(dir: TestDir, env: Vec<(&'static str, String)>, sim: tgsim::Sim) -> TestApp {
    let config = Config::load_from(None, &env_of(&env), &Overrides::default()).expect("config");
    let (state, _report) = app::prepare_with(
        config,
        tgdesk::telegram::backend::Backend::SimInProcess(sim.clone()),
        tgdesk::secret::Secret::new("tgsim".to_string()),
    )
    .await
    .expect("prepare");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let events = state.events.clone();
    let server = tokio::spawn(app::serve(
        listener,
        app::router(state.clone()),
        async move {
            let _ = rx.await;
            events.close();
        },
    ));
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        base: format!("http://{addr}"),
        client,
        state,
        sim,
        env,
        _dir: dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The service stops (server, login flows, live clients, database) and
    /// starts again on the same database and simulator, at a new address.
    /// The HTTP client is kept, cookies included.
    pub async fn restart(mut self) -> TestApp {
        self.stop_server().await;
        self.state.shutdown().await;
        let client = self.client.clone();
        let env = std::mem::take(&mut self.env);
        let dir = std::mem::replace(&mut self._dir, TestDir::new());
        let mut app = start_app(dir, env, self.sim.clone()).await;
        app.client = client;
        app
    }

    async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

/// A Telegram account in the app's simulated world (home DC 1, no 2FA).
pub fn sim_user(app: &TestApp, phone: &str, name: &str) -> i64 {
    app.sim
        .world()
        .create_account(tgsim::world::NewAccount {
            phone: phone.into(),
            first_name: name.into(),
            last_name: None,
            username: None,
            password: None,
            password_hint: None,
            home_dc: Some(1),
        })
        .expect("account")
}

/// A private message between two simulated users, pushed live.
pub fn sim_say(app: &TestApp, from: i64, to: i64, text: &str) -> i32 {
    app.sim
        .world()
        .post_message(tgsim::world::NewMessage {
            from_user_id: from,
            to_user_id: Some(to),
            chat_id: None,
            text: text.into(),
            reply_to: None,
        })
        .expect("posted")
}

/// Every call the simulated Telegram has answered so far.
pub fn telegram_calls(app: &TestApp) -> u64 {
    app.sim.stats().calls.values().sum()
}

/// Logs `phone` in over the JSON API (phone, then the code tgsim sent);
/// returns the API token and the account id.
pub async fn api_login(app: &TestApp, phone: &str) -> (String, i64) {
    let started: serde_json::Value = app
        .client
        .post(app.url("/api/v1/login/phone"))
        .json(&serde_json::json!({ "phone": phone }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let flow = started["flow_id"].as_str().expect("flow_id").to_owned();
    let code = app.sim.world().last_code(phone).expect("code");
    let done: serde_json::Value = app
        .client
        .post(app.url(&format!("/api/v1/login/{flow}/code")))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    assert_eq!(done["next"], "done", "{done}");
    (
        done["token"].as_str().expect("token").to_owned(),
        done["account"]["id"].as_i64().expect("account id"),
    )
}

/// Waits until the account's live client is connected (a login starts it).
pub async fn wait_connected(app: &TestApp, account_id: i64) {
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while app.state.pool.liveness(account_id)
            != Some(tgdesk::telegram::pool::Liveness::Connected)
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the account connects");
}
