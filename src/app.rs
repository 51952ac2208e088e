//! The application: shared state, the router, start-up and serving.
//!
//! `main` and the tests build the service the same way: [`prepare`] (open
//! and migrate the database, load the vault keys and check them against the
//! stored data), [`router`], then [`serve`] with a listener and a shutdown
//! future of the caller's choosing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument as _;

use crate::auth::Auth;
use crate::config::{Config, ConfigError, CorsOrigins, TelegramConfig};
use crate::events::EventLog;
use crate::secret::Secret;
use crate::store::{Db, StoreError};
use crate::telegram::backend::{Backend, BackendError};
use crate::telegram::chats::{self, ChatReader};
use crate::telegram::flows::{FlowLimits, LoginFlows};
use crate::telegram::pool::AccountPool;
use crate::telegram::session::{SessionOptions, SessionStore};
use crate::vault::check::{CheckError, CheckReport};
use crate::vault::{Vault, VaultError};
use crate::web::{assets, chats as chat_pages, demo, error, health, login, pages};

/// Everything a request handler may need. Cheap to clone (`Arc`s inside).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub vault: Arc<Vault>,
    pub sessions: SessionStore,
    /// Where Telegram is: the real one or a simulator.
    pub backend: Backend,
    /// Login attempts in progress.
    pub flows: LoginFlows,
    /// Each account's log of new, edited and deleted messages.
    pub events: EventLog,
    /// One live Telegram client per active account.
    pub pool: AccountPool,
    /// Chat lists and history through the pool, briefly cached.
    pub chats: ChatReader,
    /// Web sessions, CSRF, API tokens, login limits and flow ownership.
    pub auth: Auth,
    /// Each webhook's delivery task.
    pub webhooks: crate::webhooks::Webhooks,
}

/// How often the event log's retention is applied.
const EVENT_PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// How often expired login flows are swept away.
const FLOW_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

impl AppState {
    /// Builds the state. `api_hash` is the application's (any value for a
    /// simulator). Starts the sweeper of expired login flows and the retrier
    /// of pending Telegram logouts.
    pub fn new(
        config: Config,
        db: Db,
        vault: Arc<Vault>,
        backend: Backend,
        api_hash: Secret<String>,
    ) -> Self {
        let sessions = SessionStore::new(db.clone(), Arc::clone(&vault), SessionOptions::default());
        let flows = LoginFlows::new(
            backend.clone(),
            sessions.clone(),
            api_hash,
            FlowLimits {
                max_tries: config.login_limits.max_tries,
                ..FlowLimits::default()
            },
        );
        let auth = Auth::new(&config);
        let events = EventLog::new(db.clone(), Arc::clone(&vault));
        let pool = AccountPool::new(
            db.clone(),
            sessions.clone(),
            backend.clone(),
            events.clone(),
        );
        let chats = ChatReader::new(pool.clone(), chats::DEFAULT_TTL, config.flood_sleep);
        // Webhooks resume from their persisted cursors now, whether or not
        // the accounts' live clients are back yet: they read the event log.
        let webhooks = crate::webhooks::Webhooks::new(
            db.clone(),
            Arc::clone(&vault),
            events.clone(),
            crate::webhooks::DeliverySettings::from_config(&config),
        );
        webhooks.spawn_supervisor();
        let retention = events.clone();
        let (max_age, max_count) = (
            std::time::Duration::from_secs(config.events_max_age_days * 86_400),
            config.events_max_per_account,
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVENT_PRUNE_INTERVAL);
            loop {
                tick.tick().await;
                match retention.prune(max_age, max_count).await {
                    Ok(0) => {}
                    Ok(n) => {
                        crate::metrics::events_pruned(n);
                        tracing::info!(pruned = n, "event log retention applied");
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot prune the event log"),
                }
            }
        });
        let sweeper = flows.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLOW_SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                sweeper.sweep().await;
            }
        });
        let state = Self {
            config: Arc::new(config),
            db,
            vault,
            sessions,
            backend,
            flows,
            events,
            pool,
            chats,
            auth,
            webhooks,
        };
        // Telegram logouts that a reset could not do yet are retried.
        crate::admin::reset::spawn_retrier(state.clone());
        state
    }

    /// Releases what the state holds once the server has stopped: login
    /// flows' and accounts' Telegram connections (sessions flushed), then
    /// the database.
    pub async fn shutdown(&self) {
        self.flows.close_all().await;
        self.webhooks.shutdown().await;
        self.pool.shutdown().await;
        self.db.close().await;
    }
}

/// Resolves the configured Telegram: real credentials, or an external tgsim
/// (`TGDESK_TELEGRAM_SIM`), which is asked for its data centres now.
pub async fn telegram_backend(config: &Config) -> Result<(Backend, Secret<String>), StartError> {
    match config.telegram()? {
        TelegramConfig::Telegram { api_id, api_hash } => {
            Ok((Backend::Telegram { api_id }, api_hash))
        }
        TelegramConfig::Simulator { control_url, .. } => Ok((
            Backend::remote_sim(&control_url).await?,
            Secret::new("tgsim".to_string()),
        )),
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database {url}: {source}")]
    Database { url: String, source: StoreError },
    #[error("cannot migrate the database {url}: {source}")]
    Migrate { url: String, source: StoreError },
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error(transparent)]
    Telegram(#[from] BackendError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Resolves Telegram from the configuration, then [`prepare_with`].
pub async fn prepare(config: Config) -> Result<(AppState, CheckReport), StartError> {
    let (backend, api_hash) = telegram_backend(&config).await?;
    prepare_with(config, backend, api_hash).await
}

/// Opens and migrates the database, loads the vault keys and checks that
/// they open the stored data. A failed check changes nothing stored.
pub async fn prepare_with(
    config: Config,
    backend: Backend,
    api_hash: Secret<String>,
) -> Result<(AppState, CheckReport), StartError> {
    let keys = config.load_vault_keys()?;
    let vault = Arc::new(Vault::new(&keys)?);
    drop(keys);
    let db = open_database(&config).await?;
    crate::admin::sync_config_admins(&db, &config.admins)
        .await
        .map_err(|source| StartError::Database {
            url: config.database_url.to_string(),
            source,
        })?;
    let report = crate::vault::check::check(&db, &vault).await?;
    Ok((AppState::new(config, db, vault, backend, api_hash), report))
}

/// Opens the configured database and applies its migrations.
pub async fn open_database(config: &Config) -> Result<Db, StartError> {
    let url = config.database_url.to_string();
    let db = Db::connect(config.database_url.expose())
        .await
        .map_err(|source| StartError::Database {
            url: url.clone(),
            source,
        })?;
    db.migrate()
        .await
        .map_err(|source| StartError::Migrate { url, source })?;
    Ok(db)
}

/// Binds the configured address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] plus `extra` routes behind the same layers (benchmarks
/// compare a bare route with the real ones this way).
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/demo/inbox", get(demo::inbox))
        .route("/static/{version}/{name}", get(assets::serve))
        .route("/chats", get(chat_pages::chats))
        .route("/chats/events", get(chat_pages::events))
        .route("/chats/{chat_id}/export", get(chat_pages::export))
        .route("/docs", get(crate::web::docs::docs))
        .merge(login::routes())
        .merge(crate::web::admin::routes())
        .merge(crate::web::webhooks::routes())
        .merge(api_routes(&state.config))
        .merge(extra)
        .fallback(pages::not_found)
        .method_not_allowed_fallback(pages::method_not_allowed)
        .layer(from_fn_with_state(
            state.clone(),
            crate::auth::csrf::check_origin,
        ))
        .layer(from_fn(error::log_internal_errors))
        .layer(from_fn(security_headers))
        .layer(from_fn(observe_requests))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets
/// requests in flight finish. Handlers can extract the client address with
/// `ConnectInfo<SocketAddr>`.
pub async fn serve<F>(listener: TcpListener, router: Router, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Listens for ctrl-c and SIGTERM from now on (not from the first poll, so
/// a signal that arrives while start-up finishes is not lost) and returns a
/// future that completes on either.
pub fn listen_for_shutdown() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                return futures_util::future::Either::Left(async move {
                    tokio::select! {
                        _ = interrupt.recv() => tracing::info!("ctrl-c received, shutting down"),
                        _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
                    }
                });
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for signals early; falling back");
            }
        }
    }
    futures_util::future::Either::Right(shutdown_signal())
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Headers every response gets: no sniffing, no framing, scripts and styles
/// from our own origin only.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'",
    );
    response
}

/// The JSON API's routes, with CORS when `TGDESK_CORS_ORIGINS` is set. Only
/// these get it: every route under `/api/` authenticates with a bearer token
/// (or, for the login steps, with the unguessable flow id), never with a
/// cookie, so a page on an allowed origin can do nothing a program could not.
/// Credentials are never allowed; pages, `/chats/events` and the login pages
/// are cookie routes and never answer CORS.
fn api_routes(config: &Config) -> Router<AppState> {
    let routes = crate::api::routes();
    let origins = match &config.cors_origins {
        CorsOrigins::Off => return routes,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => {
            AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        }
    };
    let request_id = HeaderName::from_static(REQUEST_ID);
    // The 405 fallback is set here too, before the layer, so that CORS wraps
    // it: a preflight is an OPTIONS that no API route lists. (The router's
    // own fallback would replace the layered one.)
    routes
        .method_not_allowed_fallback(pages::method_not_allowed)
        .layer(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    request_id.clone(),
                ])
                .expose_headers([header::RETRY_AFTER, header::CONTENT_DISPOSITION, request_id])
                .max_age(std::time::Duration::from_secs(3600)),
        )
}

/// The header that carries a request's id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// The caller's `X-Request-Id` if it is a plain token (letters, digits,
/// `-_.:`, at most 64), so a proxy's id carries through; otherwise a new one.
fn request_id(request: &Request) -> String {
    let given = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match given {
        Some(id) => id.to_owned(),
        None => format!("{:032x}", rand::random::<u128>()),
    }
}

/// Every request runs in a `request` span with its id (so every line
/// logged while handling it carries `request_id`), gets the id back in
/// `X-Request-Id`, ends with one debug line (route, status, time taken) and
/// is counted in the HTTP metrics. Routes are the matched patterns
/// (`/api/v1/chats/{chat_id}/messages`), never the raw path: ids stay out
/// of the metrics' labels, and a login flow's id out of the logs.
async fn observe_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::debug!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    crate::metrics::http_request(method.as_str(), &route, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), value);
    }
    response
}
