//! Benchmark 2 of the live-updates issue (issue 5): throughput of
//! `GET /api/v1/updates?since=<latest>&timeout=0` against a bare 200 route
//! served by the same process, same run, same load generator.
//!
//! `updates_throughput [CONNECTIONS] [SECONDS] [path/to/tgsim]` (defaults: 16,
//! 5, target/release/tgsim); build first with
//! `cargo build --release -p tgsim -p tgdesk-bench` and run
//! `target/release/updates_throughput`.
//! 1. starts a tgsim process with the world `WorldSpec::seeded(7, 2, 2, 1)`,
//!    logs its first account in through tgdesk's login flows, starts it live
//!    and issues a staff API token for it (set-up, not measured);
//! 2. serves tgdesk's router, plus `GET /bench/bare` (an empty 200 behind the
//!    same layers as every route), on 127.0.0.1:0;
//! 3. the load generator, in this process: CONNECTIONS tasks, each sending
//!    requests one after another on its own keep-alive connection, for
//!    SECONDS against the bare route, then SECONDS against the updates route
//!    (after one second of warm-up on each);
//! 4. prints requests/s for each, their ratio (goal >= 0.5), and how many
//!    Telegram calls tgsim counted during the updates run (should be 0).

mod live;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use live::{BoxError, Live};

/// Upper bound on requests per connection per run, besides the time limit.
const MAX_REQUESTS_PER_CONNECTION: u64 = 50_000_000;

struct Run {
    ok: u64,
    failed: u64,
    elapsed: Duration,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// `connections` tasks, each on its own client (so its own keep-alive
/// connection), sending GET `url` back to back for `duration`.
async fn load(
    url: &str,
    bearer: Option<&str>,
    connections: usize,
    duration: Duration,
) -> Result<Run, BoxError> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?,
        );
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        let url = url.to_string();
        let bearer = bearer.map(str::to_string);
        tasks.spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            for _ in 0..MAX_REQUESTS_PER_CONNECTION {
                if Instant::now() >= deadline {
                    break;
                }
                let mut req = client.get(&url);
                if let Some(b) = &bearer {
                    req = req.header("authorization", b);
                }
                match req.send().await {
                    Ok(resp) => {
                        let good = resp.status().is_success();
                        // Read the body so the connection goes back to the pool.
                        let read = resp.bytes().await.is_ok();
                        if good && read {
                            ok += 1;
                        } else {
                            failed += 1;
                        }
                    }
                    Err(_) => failed += 1,
                }
            }
            (ok, failed)
        });
    }
    let (mut ok, mut failed) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (o, f) = r?;
        ok += o;
        failed += f;
    }
    Ok(Run {
        ok,
        failed,
        elapsed: started.elapsed(),
    })
}

fn diff(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(m, &n)| {
            let d = n.saturating_sub(before.get(m).copied().unwrap_or(0));
            (d > 0).then(|| (m.clone(), d))
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let connections: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let seconds: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let bin = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "target/release/tgsim".to_string());
    if connections == 0 || connections > 1024 || seconds == 0 || seconds > 600 {
        return Err("CONNECTIONS must be 1..=1024 and SECONDS 1..=600".into());
    }
    let duration = Duration::from_secs(seconds);

    let live = Live::start(&bin).await?;
    let latest = live.latest().await?;
    let bare = format!("{}/bench/bare", live.base);
    let updates = format!("{}/api/v1/updates?since={latest}&timeout=0", live.base);

    // One check that the updates route answers 200 with this token.
    let check = live
        .http
        .get(&updates)
        .header("authorization", &live.bearer)
        .send()
        .await?;
    if !check.status().is_success() {
        let status = check.status();
        return Err(format!("updates answered {status}: {}", check.text().await?).into());
    }

    let warm = Duration::from_secs(1);
    load(&bare, None, connections, warm).await?;
    let bare_run = load(&bare, None, connections, duration).await?;

    load(&updates, Some(&live.bearer), connections, warm).await?;
    let calls_before = live.sim_calls().await?;
    let updates_run = load(&updates, Some(&live.bearer), connections, duration).await?;
    let calls_after = live.sim_calls().await?;
    let calls = diff(&calls_before, &calls_after);
    let total_calls: u64 = calls.values().sum();

    println!("load:                {connections} keep-alive connections, {seconds} s per route");
    println!(
        "bare route:          {:.0} requests/s ({} ok, {} failed)",
        bare_run.per_second(),
        bare_run.ok,
        bare_run.failed
    );
    println!(
        "updates route:       {:.0} requests/s ({} ok, {} failed)",
        updates_run.per_second(),
        updates_run.ok,
        updates_run.failed
    );
    println!(
        "ratio:               {:.2} updates/bare (goal >= 0.5)",
        updates_run.per_second() / bare_run.per_second().max(f64::MIN_POSITIVE)
    );
    println!(
        "telegram calls:      {total_calls} counted by tgsim during the updates run {calls:?} (should be 0)"
    );
    live.finish().await;
    Ok(())
}
