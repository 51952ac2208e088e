//! Connects N grammers clients (each with its own auth key and connection) to
//! a tgsim process and prints the time until all are connected and the RSS
//! per client of this, the client process.
//!
//! Usage: connect_clients [N] [path/to/tgsim]   (defaults: 1000, target/release/tgsim)

use std::net::{SocketAddr, SocketAddrV6};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, NoRetries, SenderPool};
use grammers_session::SessionData;
use grammers_session::storages::MemorySession;
use grammers_session::types::DcOption;
use grammers_tl_types as tl;
use serde::Deserialize;
use tgdesk_bench::{SimProcess, rss_kib, rss_kib_of};

#[derive(Deserialize)]
struct KeyAnswer {
    auth_key: String,
}

fn params() -> ConnectionParams {
    ConnectionParams {
        device_model: "bench".into(),
        system_version: "1.0".into(),
        app_version: "1.0".into(),
        system_lang_code: "en".into(),
        lang_code: "en".into(),
        use_ipv6: false,
        retry_policy: Box::new(NoRetries),
        updates_channel_capacity: NonZeroUsize::MIN,
        __non_exhaustive: (),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/tgsim".to_string());

    let sim = SimProcess::start(&bin, &["--world", "empty", "--dcs", "1"])?;
    let dc = sim.dcs.first().ok_or("tgsim has no data centre")?.clone();
    let SocketAddr::V4(v4) = dc.addr else {
        return Err("expected an IPv4 data centre".into());
    };
    let http = reqwest::Client::new();

    // Keys are registered before the clock starts: that is set-up, not connecting.
    let mut keys = Vec::with_capacity(n);
    for _ in 0..n {
        let answer: KeyAnswer = http
            .post(sim.url("/auth-keys"))
            .json(&serde_json::json!({ "dc_id": dc.id }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let bytes: [u8; 256] = hex::decode(answer.auth_key)?
            .try_into()
            .map_err(|_| "tgsim returned a key that is not 256 bytes")?;
        keys.push(bytes);
    }

    let rss_before = rss_kib().ok_or("cannot read /proc/self/status")?;
    let sim_rss_before = rss_kib_of(sim.pid()).unwrap_or(0);
    let start = Instant::now();
    let mut clients = Vec::with_capacity(n);
    let mut calls = tokio::task::JoinSet::new();
    for key in keys {
        let mut data = SessionData::default();
        data.dc_options.clear();
        data.dc_options.insert(
            dc.id,
            DcOption {
                id: dc.id,
                ipv4: v4,
                ipv6: SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
                auth_key: Some(key),
            },
        );
        data.home_dc = dc.id;
        let session = Arc::new(MemorySession::from(data));
        let SenderPool {
            runner,
            handle,
            updates,
        } = SenderPool::with_configuration(session, 1, params());
        let runner = tokio::spawn(runner.run());
        let client = Client::new(handle.clone());
        calls.spawn(async move {
            client
                .invoke(&tl::functions::Ping { ping_id: 1 })
                .await
                .map(|_| ())
        });
        clients.push((handle, runner, updates));
    }
    let mut failed = 0;
    while let Some(r) = calls.join_next().await {
        if !matches!(r, Ok(Ok(()))) {
            failed += 1;
        }
    }
    let elapsed = start.elapsed();
    let rss_after = rss_kib().ok_or("cannot read /proc/self/status")?;
    let sim_rss_after = rss_kib_of(sim.pid()).unwrap_or(0);

    println!("clients:               {n} ({failed} failed)");
    println!(
        "connect time:          {:.1} ms for all (each: TCP, initConnection, salts, one ping)",
        elapsed.as_secs_f64() * 1e3
    );
    println!(
        "client process RSS:    {} KiB before, {} KiB after: {:.1} KiB per connected client",
        rss_before,
        rss_after,
        (rss_after.saturating_sub(rss_before)) as f64 / n as f64
    );
    println!(
        "tgsim process RSS:     {} KiB before, {} KiB after: {:.1} KiB per connection",
        sim_rss_before,
        sim_rss_after,
        (sim_rss_after.saturating_sub(sim_rss_before)) as f64 / n as f64
    );
    for (handle, runner, _) in clients {
        handle.quit();
        let _ = runner.await;
    }
    if failed > 0 {
        return Err(format!("{failed} clients failed to connect").into());
    }
    Ok(())
}
