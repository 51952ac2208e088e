//! Set-up shared by the `updates_throughput` and `push_latency` benchmarks
//! (included by each with `mod live;`): a tgsim process with the small
//! `WorldSpec::seeded(7, 2, 2, 1)` world, tgdesk's `AppState` against it, the
//! first account logged in through the login flows and started live in the
//! pool, a staff API token for it, and tgdesk's router (plus a bare
//! `GET /bench/bare` route) served on 127.0.0.1:0.

// Each benchmark uses only part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde::Deserialize;
use tgdesk::app::{self, AppState};
use tgdesk::config::{Config, Overrides};
use tgdesk::secret::Secret;
use tgdesk::store::accounts::{self, LoginProfile};
use tgdesk::store::tokens::TokenRole;
use tgdesk::telegram::backend::Backend;
use tgdesk::telegram::flows::Step;
use tgdesk::telegram::pool::Liveness;
use tgdesk::vault::VaultKey;
use tgdesk_bench::SimProcess;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Deserialize)]
struct Accounts {
    accounts: Vec<AccountInfo>,
}

#[derive(Deserialize)]
struct AccountInfo {
    user_id: i64,
    phone: String,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

/// Everything a benchmark needs; `finish` tears it down.
pub struct Live {
    pub sim: SimProcess,
    pub state: AppState,
    /// tgdesk's id of the logged-in account (Telegram user `user_a`).
    pub account_id: i64,
    /// Telegram user id of the logged-in account.
    pub user_a: i64,
    /// Telegram user id of the other account of the world (not logged in).
    pub user_b: i64,
    /// `Bearer …` value for the logged-in account's staff token.
    pub bearer: String,
    /// `http://127.0.0.1:PORT` of the served router.
    pub base: String,
    pub http: reqwest::Client,
    dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Live {
    pub async fn start(tgsim_bin: &str) -> Result<Live, BoxError> {
        let dir = std::env::temp_dir().join(format!("tgdesk-bench-live-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let world = dir.join("world.json");
        std::fs::write(
            &world,
            serde_json::to_string(&tgsim::WorldSpec::seeded(7, 2, 2, 1))?,
        )?;
        let world_arg = world.to_string_lossy().to_string();
        let sim = SimProcess::start(tgsim_bin, &["--dcs", "1", "--world", &world_arg])?;
        let control = sim.control.to_string();
        let key = VaultKey::generate()?.to_line().to_string();
        let dir_s = dir.to_string_lossy().to_string();

        let env = |name: &str| match name {
            "TGDESK_DATABASE_URL" => Some(format!("sqlite://{dir_s}/tgdesk.db")),
            "TGDESK_VAULT_KEYS" => Some(key.clone()),
            "TGDESK_TELEGRAM_SIM" => Some(control.clone()),
            "TGDESK_LOG" => Some("warn".to_string()),
            _ => None,
        };
        let config = Config::load_from(None, &env, &Overrides::default())?;
        let backend = Backend::remote_sim(&control).await?;
        let (state, _) = app::prepare_with(config, backend, Secret::new("bench".into())).await?;

        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?;
        let list: Accounts = http
            .get(sim.url("/accounts"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let [a, b] = &list.accounts[..] else {
            return Err(format!("the world has {} accounts, not 2", list.accounts.len()).into());
        };

        // Log the first account in, as the login API does, and start it live.
        let (flow, _) = state.flows.start_phone(&a.phone).await?;
        let code: Code = http
            .get(sim.url(&format!("/codes/{}", a.phone)))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let Step::Done(done) = state.flows.submit_code(&flow, &code.code).await? else {
            return Err("the generated account asked for a password".into());
        };
        let account = accounts::upsert_login(
            state.db.pool(),
            &LoginProfile {
                telegram_user_id: done.user.id,
                display_name: done.user.first_name.as_deref().unwrap_or(""),
                username: None,
                phone_masked: None,
                home_dc: Some(1),
            },
            tgdesk::store::now(),
        )
        .await?;
        done.session.bind(account.id).await?;
        state.flows.close(&flow).await;
        state
            .pool
            .start(account.id, Arc::clone(&done.session))
            .await;
        let mut rx = state
            .pool
            .watch_liveness(account.id)
            .ok_or("the account was not started")?;
        tokio::time::timeout(
            Duration::from_secs(30),
            rx.wait_for(|l| *l == Liveness::Connected),
        )
        .await??;

        let (token, _) = tgdesk::auth::tokens::issue(
            &state.db,
            Some(account.id),
            "bench",
            TokenRole::Staff,
            tgdesk::store::now(),
        )
        .await?;
        let bearer = format!("Bearer {}", token.expose());

        // The bare route sits behind the same layers as the real ones, so
        // the comparison measures the handlers, not the middleware.
        let router = app::router_with(
            state.clone(),
            Router::new().route("/bench/bare", get(|| async { "" })),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app::serve(listener, router, async move {
            let _ = stopped.await;
        }));

        Ok(Live {
            sim,
            state,
            account_id: account.id,
            user_a: a.user_id,
            user_b: b.user_id,
            bearer,
            base: format!("http://{addr}"),
            http,
            dir,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// The account's latest event cursor.
    pub async fn latest(&self) -> Result<i64, BoxError> {
        Ok(self.state.events.latest(self.account_id).await?)
    }

    /// Total Telegram calls tgsim has counted, per method.
    pub async fn sim_calls(&self) -> Result<std::collections::BTreeMap<String, u64>, BoxError> {
        #[derive(Deserialize)]
        struct Stats {
            calls: std::collections::BTreeMap<String, u64>,
        }
        let stats: Stats = self
            .http
            .get(self.sim.url("/stats"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(stats.calls)
    }

    /// Makes tgsim deliver a private message from `user_b` to `user_a`.
    pub async fn push(&self, text: &str) -> Result<(), BoxError> {
        self.http
            .post(self.sim.url("/messages"))
            .json(&serde_json::json!({
                "from_user_id": self.user_b,
                "to_user_id": self.user_a,
                "text": text,
            }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.state.shutdown().await;
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
