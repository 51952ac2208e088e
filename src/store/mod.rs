//! Storage: the only module that writes SQL.
//!
//! One code path serves SQLite (`sqlite://…`, the default) and PostgreSQL
//! (`postgres://…`). We use sqlx's `Any` driver rather than an enum of two
//! pools: every query is written once, every function takes any executor (the
//! pool, a pooled connection or a transaction) like plain sqlx code, and the
//! two dialects are kept compatible by a few rules that the storage test suite
//! checks on both backends:
//!
//! - placeholders are `$1, $2, …` (sqlx's SQLite driver accepts them too);
//! - column types are limited to what `Any` can carry: integers, text and
//!   binary (`INTEGER`/`TEXT`/`BLOB` in SQLite, `BIGINT`/`INTEGER`/`TEXT`/
//!   `BYTEA` in PostgreSQL). Times are Unix seconds (UTC) in integer columns,
//!   flags are integers or nullable times — `Any` cannot decode an SQLite
//!   boolean;
//! - standard SQL that both speak: `INSERT … ON CONFLICT … DO UPDATE`,
//!   `RETURNING`, row-value comparisons.
//!
//! Sealed columns hold blobs produced by `vault/`; this module never sees
//! plaintext. The schema lives in `migrations/sqlite` and `migrations/postgres`,
//! number for number.

pub mod accounts;
pub mod admins;
pub mod audit;
pub mod events;
pub mod login_attempts;
pub mod sealed;
pub mod sessions;
pub mod tokens;
pub mod web_sessions;
pub mod webhooks;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor as _, Transaction};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL scheme '{0}': use sqlite://path/to/file.db or postgres://user@host/db"
    )]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unexpected value in {column}: {value:?}")]
    BadValue { column: &'static str, value: String },
    /// A caller-supplied step (such as sealing a payload) failed mid-write;
    /// the transaction was rolled back.
    #[error("could not prepare a value for storage: {0}")]
    Prepare(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if tgdesk supports it.
    pub fn from_url(url: &str) -> Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(StoreError::UnsupportedUrl(other.chars().take(20).collect())),
        }
    }
}

/// Connection settings beyond the URL.
#[derive(Clone, Debug)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// A connection pool to SQLite or PostgreSQL. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects with default options. An SQLite file is created if missing
    /// and opened in WAL mode with foreign keys on and a busy timeout.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, DbOptions::default()).await
    }

    /// Connects with the given options.
    pub async fn connect_with(url: &str, options: DbOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout);
        let url = match backend {
            Backend::Sqlite => {
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                if in_memory {
                    // Each connection to `sqlite::memory:` is its own database.
                    pool = pool
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                }
                pool = pool.after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        Ok(())
                    })
                });
                sqlite_create_if_missing(url)
            }
            Backend::Postgres => url.to_owned(),
        };
        let connect_options = AnyConnectOptions::from_str(&url)?;
        let pool = pool.connect_with(connect_options).await?;
        Ok(Self { pool, backend })
    }

    /// The pool, to pass to store functions as their executor.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies any pending migrations. Safe to run concurrently from several
    /// instances (sqlx takes a lock) and on every start.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Versions and descriptions of the migrations this build knows.
    pub fn known_migrations(&self) -> Vec<(i64, String)> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    }

    /// Answers when the database is reachable.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`), so it waits for other writers instead
    /// of failing with "database is locked" when it upgrades from reading.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds `mode=rwc` to an SQLite URL that names no mode, so the file is
/// created on first use.
fn sqlite_create_if_missing(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode=rwc")
}

/// Now, as stored: Unix seconds, UTC.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        let err = Backend::from_url("mysql://root:hunter2@h/db").expect_err("unsupported");
        assert_eq!(
            err.to_string(),
            "unsupported database URL scheme 'mysql': use sqlite://path/to/file.db or postgres://user@host/db"
        );
    }

    #[test]
    fn sqlite_urls_create_their_file() {
        assert_eq!(
            sqlite_create_if_missing("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_create_if_missing("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_create_if_missing("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
        assert_eq!(
            sqlite_create_if_missing("sqlite::memory:"),
            "sqlite::memory:"
        );
    }
}
