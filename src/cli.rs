//! The `tgdesk` command line: `serve`, `demo`, `migrate`, `keys generate`,
//! `keys rotate`, and `admin …` (in [`crate::admin::cli`]). Each subcommand loads the layered configuration, then calls
//! into the library; errors are printed once, in plain words, and turn into a
//! non-zero exit status.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, StartError};
use crate::config::{Config, ConfigError, Overrides, VaultKeySource};
use crate::store::{self, Db, StoreError, audit};
use crate::telemetry;
use crate::vault::check::CheckError;
use crate::vault::rotate::RotateError;
use crate::vault::{Vault, VaultError, VaultKey};

/// Self-hosted web access to staff Telegram accounts, with encrypted sessions
/// and a JSON API.
#[derive(Debug, Parser)]
#[command(name = "tgdesk", version, about)]
pub struct Cli {
    /// TOML configuration file; environment variables and flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. `info` or `tgdesk=debug,info` [env: TGDESK_LOG].
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service. Needs Telegram's api_id/api_hash (or a tgsim) and a
    /// vault key; applies database migrations at start.
    Serve(ServeArgs),
    /// Try tgdesk on this machine: a local database and a demo vault key in
    /// a data directory, served on 127.0.0.1:8080.
    Demo(DemoArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Create and rotate vault keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The admin role, admin API tokens, and resetting a staff session.
    #[command(subcommand)]
    Admin(crate::admin::cli::AdminCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [env: TGDESK_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Control address of an external tgsim [env: TGDESK_TELEGRAM_SIM].
    #[arg(long, value_name = "HOST:PORT")]
    pub telegram_sim: Option<String>,
    /// URL users reach tgdesk at, e.g. https://desk.example.com [env: TGDESK_PUBLIC_URL].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo keeps its database and its vault key.
    #[arg(long, value_name = "DIR", default_value = "tgdesk-demo")]
    pub data_dir: PathBuf,
    /// Address to listen on [env: TGDESK_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// sqlite://FILE or postgres://… [env: TGDESK_DATABASE_URL] [default: sqlite://tgdesk.db].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// File with vault keys, one per line, newest last [env: TGDESK_VAULT_KEY_FILE].
    #[arg(long, value_name = "FILE")]
    pub vault_key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new vault key, one line, usable as-is in TGDESK_VAULT_KEYS or a key file.
    Generate,
    /// Re-seal every stored secret under the newest configured key. Safe to
    /// run while tgdesk is serving and to repeat; give every running instance
    /// the new key (as the newest) first.
    Rotate(DbArgs),
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error(transparent)]
    Rotate(#[from] RotateError),
    #[error(transparent)]
    Admin(#[from] crate::admin::cli::AdminCliError),
    #[error("{0}")]
    Incomplete(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// Parses the process's arguments and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Keys(KeysCommand::Generate) = cli.command {
        return keys_generate();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tgdesk: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "stopped");
            eprintln!("tgdesk: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let config_file = cli.config;
    let log = cli.log;
    match cli.command {
        Command::Serve(args) => {
            let flags = Overrides {
                listen: args.listen,
                database_url: args.db.database_url,
                vault_key_file: args.db.vault_key_file,
                telegram_sim: args.telegram_sim,
                public_url: args.public_url,
                log,
            };
            let config = Config::load(config_file.as_deref(), &flags)?;
            run_serve(config).await
        }
        Command::Demo(args) => {
            let flags = Overrides {
                listen: args.listen,
                log,
                ..Overrides::default()
            };
            let config = Config::load(config_file.as_deref(), &flags)?;
            run_demo(config, &args.data_dir).await
        }
        Command::Migrate(args) => {
            let flags = Overrides {
                database_url: args.database_url,
                vault_key_file: args.vault_key_file,
                log,
                ..Overrides::default()
            };
            let config = Config::load(config_file.as_deref(), &flags)?;
            run_migrate(config).await
        }
        Command::Keys(KeysCommand::Rotate(args)) => {
            let flags = Overrides {
                database_url: args.database_url,
                vault_key_file: args.vault_key_file,
                log,
                ..Overrides::default()
            };
            let config = Config::load(config_file.as_deref(), &flags)?;
            run_rotate(config).await
        }
        Command::Admin(command) => {
            let flags = command.overrides(log);
            let config = Config::load(config_file.as_deref(), &flags)?;
            Ok(crate::admin::cli::run(command, config).await?)
        }
        Command::Keys(KeysCommand::Generate) => {
            // Handled before the runtime starts.
            Ok(())
        }
    }
}

/// `tgdesk serve`.
pub async fn run_serve(config: Config) -> Result<(), CliError> {
    telemetry::init(&config.log, config.log_format);
    config.telegram()?;
    let (state, report) = app::prepare(config).await?;
    tracing::info!(%report, "vault keys checked against the stored data");
    if report.older_keys_in_use {
        tracing::info!(
            "some data is sealed with older vault keys; `tgdesk keys rotate` re-seals it"
        );
    }
    let metrics = crate::metrics::start(&state).await?;
    let listener = app::bind(state.config.listen).await?;
    // Signals count from here: a test or supervisor may stop us as soon as
    // the address is printed.
    let signal = app::listen_for_shutdown();
    let addr = local_addr(&listener)?;
    tracing::info!(database = %state.config.database_url, "listening on http://{addr}");
    serve_until_signal(state, listener, metrics, signal).await
}

async fn serve_until_signal(
    state: app::AppState,
    listener: tokio::net::TcpListener,
    metrics: Option<crate::metrics::MetricsServer>,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    // Accounts reconnect in the background: the pages answer meanwhile.
    let pool = state.pool.clone();
    tokio::spawn(async move {
        pool.restore_all().await;
    });
    let events = state.events.clone();
    let shutdown = async move {
        signal.await;
        // Long polls and event streams end now, so the server can stop.
        events.close();
    };
    let result = app::serve(listener, app::router(state.clone()), shutdown).await;
    if let Some(metrics) = metrics {
        metrics.stop().await;
    }
    state.shutdown().await;
    result.map_err(|source| CliError::Io {
        what: "the web server stopped".into(),
        source,
    })
}

fn local_addr(listener: &tokio::net::TcpListener) -> Result<std::net::SocketAddr, CliError> {
    listener.local_addr().map_err(|source| CliError::Io {
        what: "cannot read the listening address".into(),
        source,
    })
}

// ---------------------------------------------------------------------------
// `tgdesk demo`: a simulated Telegram in this process (tgsim, demo world, its
// control API on a free port), SQLite and a demo vault key in the data
// directory, and the demo inbox page for the login codes.
// ---------------------------------------------------------------------------

/// `tgdesk demo`: everything in `data_dir`, nothing to configure.
pub async fn run_demo(mut config: Config, data_dir: &Path) -> Result<(), CliError> {
    telemetry::init(&config.log, config.log_format);
    std::fs::create_dir_all(data_dir).map_err(|source| CliError::Io {
        what: format!("cannot create the demo directory {}", data_dir.display()),
        source,
    })?;
    let key_file = data_dir.join("vault.key");
    if ensure_demo_key(&key_file)? {
        eprintln!(
            "tgdesk: created {} — demo key — for demos only: anyone who can read this file can open the demo's sessions",
            key_file.display()
        );
    } else {
        eprintln!(
            "tgdesk: using {} — demo key — for demos only",
            key_file.display()
        );
    }
    config.vault_keys = VaultKeySource::File {
        path: key_file,
        setting: "demo key file".into(),
    };
    config.database_url = crate::config::DatabaseUrl::new(sqlite_url(&data_dir.join("tgdesk.db")));

    let sim = tgsim::Sim::start(tgsim::SimConfig::default())
        .await
        .map_err(|source| CliError::Io {
            what: "cannot start the simulated Telegram".into(),
            source,
        })?;
    let control = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|source| CliError::Io {
            what: "cannot listen for the simulator's control API".into(),
            source,
        })?;
    let control_addr = local_addr(&control)?;
    let control_sim = sim.clone();
    tokio::spawn(async move {
        let stop = std::future::pending::<()>();
        if let Err(e) = tgsim::control::serve(control_sim, control, stop).await {
            tracing::warn!(error = %e, "the simulator's control API stopped");
        }
    });

    let (state, _report) = app::prepare_with(
        config,
        crate::telegram::backend::Backend::SimInProcess(sim.clone()),
        crate::secret::Secret::new("tgsim-demo".to_string()),
    )
    .await?;
    forget_previous_simulator(&state).await?;
    let metrics = crate::metrics::start(&state).await?;
    let listener = app::bind(state.config.listen).await?;
    // Signals count from here: a test or supervisor may stop us as soon as
    // the address is printed.
    let signal = app::listen_for_shutdown();
    let addr = local_addr(&listener)?;
    println!(
        "tgdesk demo: open http://{addr}/ (data in {}; ctrl-c stops)",
        data_dir.display()
    );
    println!("  Telegram is simulated: login codes appear at http://{addr}/demo/inbox");
    println!("  demo accounts:");
    for a in sim.world().accounts() {
        let password = if a.has_password {
            format!(", two-step password {}", tgsim::world::DEMO_PASSWORD)
        } else {
            String::new()
        };
        println!("    {}  {}{password}", a.phone, a.first_name);
    }
    println!("  simulator control API: http://{control_addr}/ (see tgsim/README.md)");
    let result = serve_until_signal(state, listener, metrics, signal).await;
    sim.shutdown();
    result
}

/// The simulated Telegram starts afresh on every demo run, so sessions kept
/// from an earlier run name keys it has never seen: end them plainly (the
/// accounts show as revoked and log in again) rather than retry for ever.
async fn forget_previous_simulator(state: &app::AppState) -> Result<(), CliError> {
    let ids = crate::store::accounts::active_with_session(state.db.pool()).await?;
    if ids.is_empty() {
        return Ok(());
    }
    for &id in &ids {
        let mut tx = state.db.begin_write().await?;
        crate::store::sessions::delete_session(&mut tx, id).await?;
        crate::store::accounts::set_state(
            &mut *tx,
            id,
            crate::store::accounts::AccountState::Revoked,
            crate::store::now(),
        )
        .await?;
        tx.commit().await.map_err(crate::store::StoreError::from)?;
    }
    eprintln!(
        "tgdesk: the simulated Telegram starts fresh on every demo run: {} account(s) from the previous run must log in again",
        ids.len()
    );
    Ok(())
}

/// Creates the demo key file if it does not exist; returns whether it did.
fn ensure_demo_key(path: &Path) -> Result<bool, CliError> {
    if path.exists() {
        return Ok(false);
    }
    let key = VaultKey::generate()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let io_error = |source| CliError::Io {
        what: format!("cannot write the demo key file {}", path.display()),
        source,
    };
    let mut file = options.open(path).map_err(io_error)?;
    let contents = zeroize::Zeroizing::new(format!(
        "# tgdesk demo key — for demos only. Never use this file for real accounts.\n{}\n",
        *key.to_line()
    ));
    file.write_all(contents.as_bytes()).map_err(io_error)?;
    Ok(true)
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

// ---------------------------------------------------------------------------

/// `tgdesk migrate`.
pub async fn run_migrate(config: Config) -> Result<(), CliError> {
    telemetry::init(&config.log, config.log_format);
    let db = Db::connect(config.database_url.expose()).await?;
    db.migrate().await?;
    let known = db.known_migrations();
    db.close().await;
    let last = known
        .last()
        .map(|(version, description)| format!("{version:04} {description}"))
        .unwrap_or_else(|| "none".into());
    println!(
        "{}: schema up to date ({} migrations, latest {last})",
        config.database_url,
        known.len()
    );
    Ok(())
}

/// `tgdesk keys generate`: exactly one line on stdout.
fn keys_generate() -> ExitCode {
    match VaultKey::generate() {
        Ok(key) => {
            let mut stdout = std::io::stdout().lock();
            if writeln!(stdout, "{}", *key.to_line()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tgdesk: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `tgdesk keys rotate`.
pub async fn run_rotate(config: Config) -> Result<(), CliError> {
    telemetry::init(&config.log, config.log_format);
    let keys = config.load_vault_keys()?;
    let vault = Vault::new(&keys)?;
    drop(keys);
    let db = Db::connect(config.database_url.expose()).await?;
    crate::vault::check::check(&db, &vault).await?;
    let result = crate::vault::rotate::rotate(&db, &vault).await;
    let (outcome, detail) = match &result {
        Ok(report) if report.remaining() == 0 => ("ok", report.to_string()),
        Ok(report) => ("incomplete", report.to_string()),
        Err(e) => ("failed", e.to_string()),
    };
    let target = format!("vault key {}", vault.newest_key_id());
    audit::record(
        db.pool(),
        &audit::NewAuditEntry {
            actor: "cli",
            action: "vault_keys_rotated",
            target: Some(&target),
            outcome,
            detail: Some(&detail),
        },
        store::now(),
    )
    .await?;
    db.close().await;
    let report = result?;
    if report.remaining() > 0 {
        return Err(CliError::Incomplete(report.to_string()));
    }
    println!("{report}");
    Ok(())
}
