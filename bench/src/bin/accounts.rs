//! Benchmark 1 of the chats issue: the service's memory per live account and
//! the time to restore them all.
//!
//! `accounts [N] [path/to/tgsim]` (defaults: 1000, target/release/tgsim):
//! 1. starts a tgsim process with N generated accounts (10 chats each);
//! 2. set-up, not measured: logs every account in through tgdesk's login
//!    flows into a fresh SQLite database;
//! 3. runs itself again as a fresh process that opens that database, restores
//!    every account (live grammers client, update stream, event log), reads
//!    each account's chat list once, and prints the time to all connected and
//!    the RSS per account of the service process.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tgdesk::app::{self, AppState};
use tgdesk::config::{Config, Overrides};
use tgdesk::secret::Secret;
use tgdesk::store::accounts::{self, LoginProfile};
use tgdesk::telegram::backend::Backend;
use tgdesk::telegram::flows::Step;
use tgdesk::telegram::pool::Liveness;
use tgdesk::vault::VaultKey;
use tgdesk_bench::{SimProcess, rss_kib};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Deserialize)]
struct Accounts {
    accounts: Vec<AccountInfo>,
}

#[derive(Deserialize)]
struct AccountInfo {
    phone: String,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

async fn state(dir: &str, key: &str, control: &str) -> Result<AppState, BoxError> {
    let env = |name: &str| match name {
        "TGDESK_DATABASE_URL" => Some(format!("sqlite://{dir}/tgdesk.db")),
        "TGDESK_VAULT_KEYS" => Some(key.to_string()),
        "TGDESK_TELEGRAM_SIM" => Some(control.to_string()),
        "TGDESK_LOG" => Some("warn".to_string()),
        _ => None,
    };
    let config = Config::load_from(None, &env, &Overrides::default())?;
    let backend = Backend::remote_sim(control).await?;
    let (state, _) = app::prepare_with(config, backend, Secret::new("bench".into())).await?;
    Ok(state)
}

async fn setup(dir: &str, key: &str, control: &str) -> Result<usize, BoxError> {
    let state = state(dir, key, control).await?;
    let http = reqwest::Client::new();
    let list: Accounts = http
        .get(format!("http://{control}/accounts"))
        .send()
        .await?
        .json()
        .await?;
    let phones: Vec<String> = list.accounts.into_iter().map(|a| a.phone).collect();
    let n = phones.len();
    let mut tasks = tokio::task::JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    for phone in phones {
        let state = state.clone();
        let http = http.clone();
        let control = control.to_string();
        let sem = Arc::clone(&sem);
        tasks.spawn(async move {
            let _permit = sem.acquire().await?;
            let (id, _) = state.flows.start_phone(&phone).await?;
            let code: Code = http
                .get(format!("http://{control}/codes/{phone}"))
                .send()
                .await?
                .json()
                .await?;
            let Step::Done(done) = state.flows.submit_code(&id, &code.code).await? else {
                return Err::<(), BoxError>("a generated account asked for a password".into());
            };
            state.flows.close(&id).await;
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
            done.session.close().await?;
            Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    state.shutdown().await;
    Ok(n)
}

async fn measure(dir: &str, key: &str, control: &str, n: usize) -> Result<(), BoxError> {
    let state = state(dir, key, control).await?;
    let rss_before = rss_kib().ok_or("cannot read /proc/self/status")?;
    let started = Instant::now();
    let (restored, failed) = state.pool.restore_all().await;
    let ids = accounts::active_with_session(state.db.pool()).await?;
    for &id in &ids {
        let mut rx = state
            .pool
            .watch_liveness(id)
            .ok_or("an account was not started")?;
        tokio::time::timeout(
            Duration::from_secs(60),
            rx.wait_for(|l| *l == Liveness::Connected),
        )
        .await??;
    }
    let connected = started.elapsed();
    let mut reads = tokio::task::JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    for &id in &ids {
        let chats = state.chats.clone();
        let sem = Arc::clone(&sem);
        reads.spawn(async move {
            let _permit = sem.acquire().await?;
            chats
                .chats(id)
                .await
                .map(|c| c.len())
                .map_err(BoxError::from)
        });
    }
    let mut listed = 0;
    while let Some(r) = reads.join_next().await {
        listed += r??;
    }
    let rss_after = rss_kib().ok_or("cannot read /proc/self/status")?;
    println!("accounts:            {n} in the world, {restored} restored, {failed} failed");
    println!(
        "restore:             {:.2} s from start to all {} connected (goal <= 5 s)",
        connected.as_secs_f64(),
        ids.len()
    );
    println!(
        "chat lists read:     {listed} chats over {} accounts",
        ids.len()
    );
    println!(
        "service RSS:         {rss_before} KiB before restore, {rss_after} KiB after: {:.1} KiB per live account (goal <= 256 KiB)",
        rss_after.saturating_sub(rss_before) as f64 / ids.len().max(1) as f64
    );
    state.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        let [_, _, dir, control, n] = &args[..] else {
            return Err("usage: accounts --measure DIR CONTROL N (key in TGDESK_BENCH_KEY)".into());
        };
        let key = std::env::var("TGDESK_BENCH_KEY")?;
        return measure(dir, &key, control, n.parse()?).await;
    }
    let n: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let bin = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "target/release/tgsim".to_string());

    let dir = std::env::temp_dir().join(format!("tgdesk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let world = dir.join("world.json");
    std::fs::write(
        &world,
        serde_json::to_string(&tgsim::WorldSpec::seeded(7, n, 10, 10))?,
    )?;
    let world_arg = world.to_string_lossy().to_string();
    let sim = SimProcess::start(&bin, &["--dcs", "1", "--world", &world_arg])?;
    let control = sim.control.to_string();
    let key = VaultKey::generate()?.to_line().to_string();
    let dir_s = dir.to_string_lossy().to_string();

    let t = Instant::now();
    let logged_in = setup(&dir_s, &key, &control).await?;
    println!(
        "set-up:              {logged_in} accounts logged in through the login flows in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let status = Command::new(std::env::current_exe()?)
        .args(["--measure", &dir_s, &control, &n.to_string()])
        // The throwaway vault key goes by environment, not argv (ps shows argv).
        .env("TGDESK_BENCH_KEY", &key)
        .status()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        return Err("the measuring process failed".into());
    }
    Ok(())
}
