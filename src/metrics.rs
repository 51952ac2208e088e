//! Prometheus metrics, served at `GET /metrics` on a listener of their own
//! (`TGDESK_METRICS_LISTEN`), never on the public one: an operator scrapes
//! them from inside the network, and nothing about the accounts leaks to
//! the web.
//!
//! Code records through the `metrics` facade (`::metrics::counter!` …) with
//! the names below; without a recorder (metrics off, most tests) that costs
//! next to nothing. [`install`] puts the Prometheus recorder in place once
//! per process; the account gauges are computed from the database and the
//! pool at scrape time, so they are never stale. Every metric is described
//! in `docs/operations.md`.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{AppState, StartError};
use crate::store::accounts::{self, AccountState};
use crate::telegram::pool::Liveness;

/// HTTP requests answered: `method`, `route` (the matched route pattern,
/// `unmatched` for a 404 of no route), `status`.
pub const HTTP_REQUESTS: &str = "tgdesk_http_requests_total";
/// Time to answer, from the request to the response head: `method`, `route`.
pub const HTTP_DURATION: &str = "tgdesk_http_request_duration_seconds";
/// Calls made to Telegram: `method` (TL name), `error` (`ok` or the error name).
pub const TELEGRAM_CALLS: &str = "tgdesk_telegram_calls_total";
/// Seconds of FLOOD_WAIT Telegram asked for: `method`.
pub const FLOOD_WAIT_ASKED: &str = "tgdesk_telegram_flood_wait_seconds_total";
/// Seconds actually slept through short FLOOD_WAITs before a retry.
pub const FLOOD_WAIT_SLEPT: &str = "tgdesk_telegram_flood_sleep_seconds_total";
/// Login steps recorded: `method` (phone, qr, password), `outcome`.
pub const LOGIN_ATTEMPTS: &str = "tgdesk_login_attempts_total";
/// Accounts by stored `state` (active, revoked, deactivated, reset).
pub const ACCOUNTS: &str = "tgdesk_accounts";
/// Active accounts by `connection` of their live client.
pub const LIVE_ACCOUNTS: &str = "tgdesk_live_accounts";
/// Events appended to the accounts' logs.
pub const EVENTS_APPENDED: &str = "tgdesk_events_appended_total";
/// Events removed by the retention.
pub const EVENTS_PRUNED: &str = "tgdesk_events_pruned_total";
/// Events the log holds now, all accounts (counted at most once a minute).
pub const EVENT_LOG_SIZE: &str = "tgdesk_event_log_events";
/// Webhook delivery tries: `outcome` (`ok`, `error`, `gave_up`).
pub const WEBHOOK_DELIVERIES: &str = "tgdesk_webhook_deliveries_total";
/// Always 1, with the `version` label.
pub const BUILD_INFO: &str = "tgdesk_build_info";

/// Latency buckets in seconds: from a cached read to a long poll.
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How often the recorder's histograms are drained between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

const STATES: [AccountState; 4] = [
    AccountState::Active,
    AccountState::Revoked,
    AccountState::Deactivated,
    AccountState::Reset,
];
const CONNECTIONS: [&str; 5] = ["connected", "starting", "retrying", "ended", "stopped"];

/// Installs the Prometheus recorder for this process, once; later calls
/// return the same handle. `None` if another recorder was installed first
/// (then nothing is exported, and that is logged).
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), HTTP_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the metrics recorder");
                    None
                }
            }
        })
        .clone()
}

/// Describes every metric, and registers the counters whose absence would
/// read as "no data" rather than zero (webhook deliveries, the outcomes
/// alerts are written against).
fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, matched route and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (to the response head; streams excluded)"
    );
    describe_counter!(
        TELEGRAM_CALLS,
        "Calls made to Telegram, by TL method and error name (ok when it succeeded)"
    );
    describe_counter!(
        FLOOD_WAIT_ASKED,
        Unit::Seconds,
        "Seconds of FLOOD_WAIT Telegram asked for, by method"
    );
    describe_counter!(
        FLOOD_WAIT_SLEPT,
        Unit::Seconds,
        "Seconds slept through short FLOOD_WAITs before retrying"
    );
    describe_counter!(
        LOGIN_ATTEMPTS,
        "Login steps, by method and outcome (as in the login_attempts records)"
    );
    describe_gauge!(ACCOUNTS, "Accounts by stored state");
    describe_gauge!(
        LIVE_ACCOUNTS,
        "Active accounts by connection state of their live Telegram client"
    );
    describe_counter!(
        EVENTS_APPENDED,
        "Events (new, edited, deleted messages) appended to the accounts' logs"
    );
    describe_counter!(
        EVENTS_PRUNED,
        "Events removed from the accounts' logs by the retention"
    );
    describe_gauge!(
        EVENT_LOG_SIZE,
        "Events the accounts' logs hold now (counted at most once a minute)"
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery tries, by outcome (ok, error: will retry, gave_up: event skipped)"
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which tgdesk runs"
    );
    for outcome in ["ok", "error", "gave_up"] {
        ::metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(0);
    }
    ::metrics::counter!(EVENTS_APPENDED).increment(0);
    ::metrics::counter!(EVENTS_PRUNED).increment(0);
    ::metrics::counter!(FLOOD_WAIT_SLEPT).increment(0);
    ::metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Records one answered HTTP request.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let (method, route) = (method.to_owned(), route.to_owned());
    ::metrics::counter!(
        HTTP_REQUESTS,
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    ::metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
}

/// Records one login step with the outcome written to `login_attempts`.
pub fn login_attempt(method: &'static str, outcome: &str) {
    ::metrics::counter!(LOGIN_ATTEMPTS, "method" => method, "outcome" => outcome.to_owned())
        .increment(1);
}

/// Records events appended to an account's log.
pub fn events_appended(count: usize) {
    ::metrics::counter!(EVENTS_APPENDED).increment(count as u64);
}

/// Records events removed by the retention.
pub fn events_pruned(count: u64) {
    ::metrics::counter!(EVENTS_PRUNED).increment(count);
}

/// Sets the account gauges from the database and the pool.
async fn update_accounts(state: &AppState) {
    let list = match accounts::list(state.db.pool()).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot count the accounts");
            return;
        }
    };
    let mut by_state = [0u32; STATES.len()];
    let mut by_connection = [0u32; CONNECTIONS.len()];
    for account in &list {
        if let Some(i) = STATES.iter().position(|s| *s == account.state) {
            by_state[i] += 1;
        }
        if account.state == AccountState::Active {
            let connection = match state.pool.liveness(account.id) {
                Some(Liveness::Connected) => 0,
                Some(Liveness::Starting) => 1,
                Some(Liveness::Retrying) => 2,
                Some(Liveness::Ended(_)) => 3,
                None => 4,
            };
            by_connection[connection] += 1;
        }
    }
    for (s, n) in STATES.iter().zip(by_state) {
        ::metrics::gauge!(ACCOUNTS, "state" => s.as_str()).set(f64::from(n));
    }
    for (c, n) in CONNECTIONS.iter().zip(by_connection) {
        ::metrics::gauge!(LIVE_ACCOUNTS, "connection" => *c).set(f64::from(n));
    }
}

/// The event log is counted at most this often: a count reads the table.
const EVENT_COUNT_EVERY: Duration = Duration::from_secs(60);

/// Sets the event log size gauge, unless it was counted recently.
async fn update_event_log_size(s: &Scrape) {
    {
        let last = s.counted.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < EVENT_COUNT_EVERY) {
            return;
        }
    }
    match crate::store::events::count_all(s.state.db.pool()).await {
        Ok(n) => {
            ::metrics::gauge!(EVENT_LOG_SIZE).set(n as f64);
            *s.counted.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count the event log"),
    }
}

#[derive(Clone)]
struct Scrape {
    state: AppState,
    handle: PrometheusHandle,
    counted: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

async fn scrape(State(s): State<Scrape>) -> impl IntoResponse {
    update_accounts(&s.state).await;
    update_event_log_size(&s).await;
    s.handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.handle.render(),
    )
}

/// The metrics listener's router: `GET /metrics`, nothing else.
pub fn router(state: AppState, handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape {
            state,
            handle,
            counted: std::sync::Arc::default(),
        })
}

/// The running metrics listener.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    upkeep: JoinHandle<()>,
}

impl MetricsServer {
    /// Where it listens (the configured port may have been 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the listener to close.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.upkeep.abort();
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the metrics listener failed"),
            Err(e) => tracing::warn!(error = %e, "the metrics listener task failed"),
        }
    }
}

/// Starts `/metrics` on `TGDESK_METRICS_LISTEN` if it is set: installs the
/// recorder, binds (a bind failure stops start-up, like the main listener's),
/// serves until [`MetricsServer::stop`].
pub async fn start(state: &AppState) -> Result<Option<MetricsServer>, StartError> {
    let Some(addr) = state.config.metrics_listen else {
        return Ok(None);
    };
    let Some(handle) = install() else {
        return Ok(None);
    };
    let listener = crate::app::bind(addr).await?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Listen { addr, source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(state.clone(), handle.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
    tracing::info!("metrics on http://{addr}/metrics");
    Ok(Some(MetricsServer {
        addr,
        stop,
        server,
        upkeep,
    }))
}
