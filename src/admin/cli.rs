//! `tgdesk admin …`: the admin role and admin tokens without SQL by hand,
//! and resetting a session from a shell.
//!
//! - `tgdesk admin grant --telegram-id N`, `tgdesk admin revoke --telegram-id N`
//! - `tgdesk admin token create --name NAME`: the new admin API token is
//!   printed once, alone on the last line of stdout
//! - `tgdesk admin reset --account ID`: opens the database and the vault as
//!   `keys rotate` does, reaches Telegram as `serve` does (`api_id`/`api_hash`
//!   or `TGDESK_TELEGRAM_SIM`) and wipes the session ([`super::reset`])
//!
//! Each command applies pending migrations first (as `serve` does) and is
//! audited with actor `cli`.

use std::io::Write as _;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::reset::{self, Initiator, Remote, ResetContext, ResetError};
use crate::app::{self, StartError};
use crate::cli::DbArgs;
use crate::config::{Config, ConfigError, Overrides};
use crate::store::audit::NewAuditEntry;
use crate::store::tokens::TokenRole;
use crate::store::{Db, StoreError};
use crate::telegram::session::{SessionOptions, SessionStore};
use crate::vault::check::CheckError;
use crate::vault::{Vault, VaultError};

/// How the CLI is named in the audit log.
pub const ACTOR: &str = "cli";

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Give a Telegram user the admin role (the /admin page; admin tokens
    /// are made separately).
    Grant(RoleArgs),
    /// Take the admin role from a Telegram user. One listed in the
    /// configuration's `admins` gets it back at the next start.
    Revoke(RoleArgs),
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Reset a staff account's session: auth.logOut on Telegram, stored
    /// session shredded, web sessions ended, API tokens revoked.
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
pub struct RoleArgs {
    /// The Telegram user id (shown on the /admin page and by the API).
    #[arg(long, value_name = "N")]
    pub telegram_id: i64,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make an admin API token and print it, once, alone on the last line.
    Create(TokenArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What the token is for, e.g. "monitoring".
    #[arg(long, value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The account's id (the /admin page, `GET /api/v1/admin/accounts`).
    #[arg(long, value_name = "ID")]
    pub account: i64,
    #[command(flatten)]
    pub db: DbArgs,
    /// Control address of an external tgsim [env: TGDESK_TELEGRAM_SIM].
    #[arg(long, value_name = "HOST:PORT")]
    pub telegram_sim: Option<String>,
}

impl AdminCommand {
    /// The command-line settings that override the configuration.
    pub fn overrides(&self, log: Option<String>) -> Overrides {
        let (db, telegram_sim) = match self {
            AdminCommand::Grant(a) | AdminCommand::Revoke(a) => (&a.db, None),
            AdminCommand::Token(TokenCommand::Create(a)) => (&a.db, None),
            AdminCommand::Reset(a) => (&a.db, a.telegram_sim.clone()),
        };
        Overrides {
            database_url: db.database_url.clone(),
            vault_key_file: db.vault_key_file.clone(),
            telegram_sim,
            log,
            ..Overrides::default()
        }
    }
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminCliError {
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
    Reset(#[from] ResetError),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}

/// Runs an admin command with the loaded configuration.
pub async fn run(command: AdminCommand, config: Config) -> Result<(), AdminCliError> {
    crate::telemetry::init(&config.log, config.log_format);
    let db = crate::app::open_database(&config).await?;
    let result = match command {
        AdminCommand::Grant(args) => grant(&db, args.telegram_id).await,
        AdminCommand::Revoke(args) => revoke(&db, &config, args.telegram_id).await,
        AdminCommand::Token(TokenCommand::Create(args)) => token_create(&db, &args.name).await,
        AdminCommand::Reset(args) => reset_account(&db, &config, args.account).await,
    };
    db.close().await;
    result
}

fn say(line: &str) -> Result<(), AdminCliError> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(AdminCliError::Stdout)
}

async fn grant(db: &Db, telegram_id: i64) -> Result<(), AdminCliError> {
    check_id(telegram_id)?;
    if super::grant(db, telegram_id, ACTOR).await? {
        say(&format!(
            "Telegram user {telegram_id} now holds the admin role."
        ))
    } else {
        say(&format!(
            "Telegram user {telegram_id} already holds the admin role."
        ))
    }
}

async fn revoke(db: &Db, config: &Config, telegram_id: i64) -> Result<(), AdminCliError> {
    check_id(telegram_id)?;
    if super::revoke(db, telegram_id, ACTOR).await? {
        say(&format!(
            "Telegram user {telegram_id} no longer holds the admin role."
        ))?;
    } else {
        say(&format!(
            "Telegram user {telegram_id} did not hold the admin role."
        ))?;
    }
    if config.admins.contains(&telegram_id) {
        say(&format!(
            "Note: {telegram_id} is listed in the configuration's admins and gets the role back \
             at the next start; remove it there too."
        ))?;
    }
    Ok(())
}

fn check_id(telegram_id: i64) -> Result<(), AdminCliError> {
    if telegram_id <= 0 {
        return Err(AdminCliError::Invalid(format!(
            "--telegram-id must be a Telegram user id (a positive number), got {telegram_id}"
        )));
    }
    Ok(())
}

async fn token_create(db: &Db, name: &str) -> Result<(), AdminCliError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AdminCliError::Invalid(
            "--name must be 1 to 100 characters, e.g. \"monitoring\"".into(),
        ));
    }
    let now = crate::store::now();
    let (token, row) = crate::auth::tokens::issue(db, None, name, TokenRole::Admin, now).await?;
    let target = format!("token:{}", row.id);
    let detail = format!("role=admin name={name}");
    super::record(
        db,
        &NewAuditEntry {
            actor: ACTOR,
            action: "token_create",
            target: Some(&target),
            outcome: "ok",
            detail: Some(&detail),
        },
    )
    .await;
    say(&format!(
        "Admin API token {} (\"{name}\"), shown this once: keep it secret. Revoke it with \
         DELETE /api/v1/admin/tokens/{}.",
        row.id, row.id
    ))?;
    say(token.expose())
}

async fn reset_account(db: &Db, config: &Config, account_id: i64) -> Result<(), AdminCliError> {
    let keys = config.load_vault_keys()?;
    let vault = Arc::new(Vault::new(&keys)?);
    drop(keys);
    crate::vault::check::check(db, &vault).await?;
    let (backend, _api_hash) = app::telegram_backend(config).await?;
    let sessions = SessionStore::new(db.clone(), vault, SessionOptions::default());
    let ctx = ResetContext {
        db,
        sessions: &sessions,
        backend: &backend,
        service: None,
    };
    let report = match reset::reset(&ctx, account_id, Initiator::Admin(ACTOR)).await {
        Err(ResetError::NotFound(id)) => {
            return Err(AdminCliError::Invalid(format!("there is no account {id}")));
        }
        other => other?,
    };
    let a = &report.account;
    say(&format!(
        "Account {} ({}, Telegram user {}) is reset: {} web session(s) ended, {} API token(s) revoked.",
        a.id, a.display_name, a.telegram_user_id, report.web_sessions_ended, report.tokens_revoked
    ))?;
    say(report.message())?;
    if report.telegram == Remote::Pending {
        say(
            "A running tgdesk retries the Telegram logout every minute; `tgdesk admin reset` again retries it now.",
        )?;
    }
    Ok(())
}
