//! Benchmark 3 of the live-updates issue (issue 5): latency from tgsim
//! pushing a message to a client of tgdesk's API receiving it, (a) by a
//! waiting long-poll (`GET /api/v1/updates?since=<cursor>&timeout=30`) and
//! (b) on an SSE stream (`GET /api/v1/events`).
//!
//! `push_latency [MESSAGES] [path/to/tgsim]` (defaults: 1000,
//! target/release/tgsim); build first with
//! `cargo build --release -p tgsim -p tgdesk-bench` and run
//! `target/release/push_latency`.
//! 1. starts a tgsim process with the world `WorldSpec::seeded(7, 2, 2, 1)`,
//!    logs its first account (A) in through tgdesk's login flows, starts it
//!    live, issues a staff API token for it and serves tgdesk's router on
//!    127.0.0.1:0 (set-up, not measured);
//! 2. long-poll, MESSAGES times in sequence: sends the poll, gives it 10 ms
//!    to be waiting, takes the time, has tgsim deliver a private message from
//!    the world's other account (B) to A (`POST /messages` on the control
//!    API), and stops the clock when the poll's answer holds the new event;
//! 3. SSE, MESSAGES times in sequence on one open stream: takes the time,
//!    posts the message, stops the clock when the stream yields its event;
//! 4. prints p50, p99 and max of each in ms (goal p99 < 50 ms on loopback).

mod live;

use std::time::{Duration, Instant};

use live::{BoxError, Live};
use serde::Deserialize;

/// How long one message may take to arrive before the run fails.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Updates {
    events: Vec<serde_json::Value>,
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    if n == 0 {
        println!("{name} no samples");
        return;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: usize| samples[(n * p / 100).min(n - 1)];
    println!(
        "{name} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {n} messages (goal p99 < 50 ms)",
        ms(at(50)),
        ms(at(99)),
        ms(samples[n - 1])
    );
}

async fn long_poll(live: &Live, messages: usize) -> Result<Vec<Duration>, BoxError> {
    let mut samples = Vec::with_capacity(messages);
    for i in 0..messages {
        // Skip whatever came before (a message may make more than one event).
        let since = live.latest().await?;
        let poll = live
            .http
            .get(format!(
                "{}/api/v1/updates?since={since}&timeout=30",
                live.base
            ))
            .header("authorization", &live.bearer)
            .send();
        let poll = tokio::spawn(async move {
            let resp = poll.await?.error_for_status()?;
            let body: Updates = resp.json().await?;
            Ok::<_, BoxError>((Instant::now(), body.events.len()))
        });
        // Let the poll reach the server and start waiting.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let sent = Instant::now();
        live.push(&format!("long-poll {i}")).await?;
        let (arrived, events) = tokio::time::timeout(ARRIVAL_LIMIT, poll).await???;
        if events == 0 {
            return Err(format!("long-poll {i} answered without events").into());
        }
        samples.push(arrived.saturating_duration_since(sent));
    }
    Ok(samples)
}

/// Reads SSE frames from `resp`, returning the arrival time of the first
/// event whose id is greater than `after`.
async fn next_event(
    resp: &mut reqwest::Response,
    buf: &mut Vec<u8>,
    after: i64,
) -> Result<Instant, BoxError> {
    // Bounded: each round reads one chunk; the caller bounds it in time.
    for _ in 0..1_000_000 {
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let frame = String::from_utf8_lossy(&buf[..end]).to_string();
            buf.drain(..end + 2);
            let id = frame
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .and_then(|v| v.trim().parse::<i64>().ok());
            let has_data = frame.lines().any(|l| l.starts_with("data:"));
            if let Some(id) = id
                && has_data
                && id > after
            {
                return Ok(Instant::now());
            }
        }
        match resp.chunk().await? {
            Some(chunk) => buf.extend_from_slice(&chunk),
            None => return Err("the event stream ended".into()),
        }
    }
    Err("too many chunks without an event".into())
}

async fn sse(live: &Live, messages: usize) -> Result<Vec<Duration>, BoxError> {
    let mut resp = live
        .http
        .get(format!("{}/api/v1/events", live.base))
        .header("authorization", &live.bearer)
        .header("accept", "text/event-stream")
        .send()
        .await?
        .error_for_status()?;
    let mut buf = Vec::new();
    let mut samples = Vec::with_capacity(messages);
    for i in 0..messages {
        let after = live.latest().await?;
        let text = format!("sse {i}");
        let sent = Instant::now();
        let (posted, arrived) = tokio::time::timeout(ARRIVAL_LIMIT, async {
            tokio::join!(live.push(&text), next_event(&mut resp, &mut buf, after))
        })
        .await?;
        posted?;
        samples.push(arrived?.saturating_duration_since(sent));
    }
    Ok(samples)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let messages: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let bin = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "target/release/tgsim".to_string());
    if messages == 0 || messages > 100_000 {
        return Err("MESSAGES must be 1..=100000".into());
    }

    let live = Live::start(&bin).await?;
    let polled = long_poll(&live, messages).await?;
    let streamed = sse(&live, messages).await?;
    report("long-poll:          ", polled);
    report("SSE:                ", streamed);
    live.finish().await;
    Ok(())
}
