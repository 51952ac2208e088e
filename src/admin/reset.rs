//! Wiping an account's Telegram session: the one function behind a staff
//! member's own logout (`DELETE /api/v1/session`), the admin page, the admin
//! API (`POST /api/v1/admin/accounts/{id}/reset`) and `tgdesk admin reset`.
//!
//! [`reset`] works in this order, so that access here ends first and
//! whatever Telegram does cannot keep it open:
//!
//! 1. In one transaction the account moves to `reset`, its web sessions end
//!    (deleted on the staff member's own logout; marked ended on an admin
//!    reset, so the browser still holding the cookie is told why) and its API
//!    tokens are revoked. Cached tokens are forgotten.
//! 2. The live client stops, so a long-poll or stream waiting on the
//!    account ends at once (`409 session_ended`).
//! 3. Telegram is told (`auth.logOut`) over a short-lived connection of its
//!    own, bounded by [`LOGOUT_TIMEOUT`].
//! 4. The stored session is shredded. If Telegram could not be told, the
//!    sealed auth key alone is kept (update state and peer cache go), the
//!    account is marked *remote logout pending*, and
//!    [`retry_pending_logouts`] tries again every [`RETRY_INTERVAL`] until
//!    Telegram answers; the admin is told to end the session under Telegram
//!    → Settings → Devices meanwhile. The key is never used for anything but
//!    that logout: a `reset` account is never restored into the pool.
//! 5. The audit log records it.
//!
//! Resetting twice is harmless: the second time finds nothing left to end
//! (or retries a pending Telegram logout) and says so.
//!
//! If the staff member logs in again before a pending logout succeeded, the
//! login tries that logout once more with the kept key (as it does with any
//! session it replaces), then replaces the key and clears the mark; if
//! Telegram still does not answer, the old session must be ended under
//! Telegram → Settings → Devices.

use std::sync::Arc;
use std::time::Duration;

use grammers_tl_types::functions::auth::LogOut;

use crate::app::AppState;
use crate::store::accounts::{self, Account, AccountState};
use crate::store::audit::NewAuditEntry;
use crate::store::{Db, StoreError, tokens, web_sessions};
use crate::telegram::backend::Backend;
use crate::telegram::client::LiveClient;
use crate::telegram::errors::{self, AccountImpact};
use crate::telegram::session::{SessionError, SessionStore, StoredSession};

/// How long Telegram gets to answer auth.logOut (connecting included)
/// before it counts as unreachable.
pub const LOGOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often pending Telegram logouts are retried by a running service.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(60);

/// The message for an admin when Telegram could not be told.
pub const DEVICES_HINT: &str = "Telegram could not be reached: the session is wiped here and tgdesk \
     will log it out of Telegram as soon as it can. To end it now, open Telegram → Settings → \
     Devices on the staff member's phone and terminate the \u{201c}tgdesk\u{201d} session.";

/// Who asked for the wipe.
#[derive(Debug, Clone, Copy)]
pub enum Initiator<'a> {
    /// The staff member logged their own account out.
    Staff,
    /// An administrator: `admin:<telegram id>`, `admin-token:<id>` or `cli`.
    Admin(&'a str),
}

/// What Telegram was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    /// auth.logOut succeeded: the session is gone from Telegram too.
    LoggedOut,
    /// Telegram no longer knew the session (ended from another device).
    AlreadyEnded,
    /// Nothing was stored to log out with (already wiped).
    NothingStored,
    /// Telegram could not be reached: retried later ([`retry_pending_logouts`]).
    Pending,
}

impl Remote {
    pub fn as_str(self) -> &'static str {
        match self {
            Remote::LoggedOut => "logged_out",
            Remote::AlreadyEnded => "already_ended",
            Remote::NothingStored => "nothing_stored",
            Remote::Pending => "pending",
        }
    }
}

/// What a reset did.
#[derive(Debug, Clone)]
pub struct ResetReport {
    /// The account as it is now (state `reset`).
    pub account: Account,
    /// The account was already reset (or logged out) before.
    pub already_reset: bool,
    pub telegram: Remote,
    /// Web sessions ended (admin reset) or deleted (own logout).
    pub web_sessions_ended: u64,
    pub tokens_revoked: u64,
}

impl ResetReport {
    /// One sentence for the admin (or staff member) about what happened.
    pub fn message(&self) -> &'static str {
        match (self.telegram, self.already_reset) {
            (Remote::Pending, _) => DEVICES_HINT,
            (Remote::NothingStored, true) => {
                "This session was already reset: nothing was left to end."
            }
            (Remote::NothingStored, false) | (Remote::AlreadyEnded, _) => {
                "The session is wiped here; Telegram had already ended it."
            }
            _ => "The Telegram session is logged out and wiped here.",
        }
    }
}

/// Why a reset could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("there is no account {0}")]
    NotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// What a reset needs: the database and Telegram always, and the running
/// service's pool, chat cache and token cache when it happens in a server
/// (the CLI has none).
pub struct ResetContext<'a> {
    pub db: &'a Db,
    pub sessions: &'a SessionStore,
    pub backend: &'a Backend,
    pub service: Option<&'a AppState>,
}

impl<'a> From<&'a AppState> for ResetContext<'a> {
    fn from(state: &'a AppState) -> Self {
        Self {
            db: &state.db,
            sessions: &state.sessions,
            backend: &state.backend,
            service: Some(state),
        }
    }
}

/// Wipes an account's Telegram session (see the module docs for the order
/// and the guarantees) and audits it.
pub async fn reset(
    ctx: &ResetContext<'_>,
    account_id: i64,
    by: Initiator<'_>,
) -> Result<ResetReport, ResetError> {
    let before = accounts::get(ctx.db.pool(), account_id)
        .await?
        .ok_or(ResetError::NotFound(account_id))?;
    let already_reset = before.state == AccountState::Reset;
    let now = crate::store::now();

    // 1. Access here ends.
    let mut tx = ctx.db.begin_write().await?;
    let reset_by = match by {
        Initiator::Staff => None,
        Initiator::Admin(actor) => Some(actor),
    };
    accounts::mark_reset(&mut *tx, account_id, reset_by, now).await?;
    let web_sessions_ended = match by {
        Initiator::Staff => web_sessions::delete_for_account(&mut *tx, account_id).await?,
        Initiator::Admin(_) => web_sessions::end_for_account(&mut *tx, account_id, now).await?,
    };
    let tokens_revoked = tokens::revoke_for_account(&mut *tx, account_id, now).await?;
    tx.commit().await.map_err(StoreError::from)?;

    // 2. The live client stops (its session is flushed and kept for step 3).
    let mut session = None;
    if let Some(service) = ctx.service {
        service.auth.api_cache.forget_account(account_id);
        session = service.pool.session(account_id);
        service.pool.stop(account_id).await;
        service.chats.invalidate(account_id);
    }

    // 3. Telegram is told.
    let session = match session {
        Some(s) => Some(s),
        None => load_session(ctx, account_id).await,
    };
    let telegram = match &session {
        Some(s) => tell_telegram(ctx.backend, s).await,
        None if stored_auth_exists(ctx, account_id).await? => Remote::Pending,
        None => Remote::NothingStored,
    };

    // 4. Shred, or keep the auth key alone for a later retry.
    finish(ctx, account_id, session.as_ref(), telegram, now).await?;

    let account = accounts::get(ctx.db.pool(), account_id)
        .await?
        .ok_or(ResetError::NotFound(account_id))?;
    let report = ResetReport {
        account,
        already_reset,
        telegram,
        web_sessions_ended,
        tokens_revoked,
    };

    // 5. The audit log.
    let own = format!("account:{account_id}");
    let (actor, action) = match by {
        Initiator::Staff => (own.as_str(), "logout"),
        Initiator::Admin(actor) => (actor, "account_reset"),
    };
    let outcome = match (telegram, already_reset) {
        (Remote::Pending, _) => "remote_logout_pending",
        (Remote::NothingStored, true) => "already_reset",
        _ => "ok",
    };
    let detail = format!(
        "telegram={} web_sessions={web_sessions_ended} api_tokens={tokens_revoked}",
        telegram.as_str()
    );
    super::record(
        ctx.db,
        &NewAuditEntry {
            actor,
            action,
            target: Some(&own),
            outcome,
            detail: Some(&detail),
        },
    )
    .await;
    tracing::info!(
        account_id,
        action,
        actor,
        telegram = telegram.as_str(),
        web_sessions_ended,
        tokens_revoked,
        "session wiped"
    );
    Ok(report)
}

/// The stored session of an account, or `None` if it has none or it cannot
/// be opened (logged: the auth row is then kept and retried later).
async fn load_session(ctx: &ResetContext<'_>, account_id: i64) -> Option<Arc<StoredSession>> {
    match ctx.sessions.load(account_id).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(account_id, error = %e, "cannot open the stored session to log it out");
            None
        }
    }
}

async fn stored_auth_exists(ctx: &ResetContext<'_>, account_id: i64) -> Result<bool, StoreError> {
    Ok(crate::store::sessions::get_auth(ctx.db.pool(), account_id)
        .await?
        .is_some())
}

/// Calls auth.logOut on a connection of its own (the account's live client,
/// if any, has been stopped), within [`LOGOUT_TIMEOUT`].
pub(crate) async fn tell_telegram(backend: &Backend, session: &Arc<StoredSession>) -> Remote {
    let live = LiveClient::start(Arc::clone(session), backend.api_id());
    let answer = tokio::time::timeout(
        LOGOUT_TIMEOUT,
        crate::telegram::calls::invoke(&live.client, &LogOut {}),
    )
    .await;
    live.stop().await;
    match answer {
        Ok(Ok(_)) => Remote::LoggedOut,
        Ok(Err(e)) => {
            let mapped = errors::map(&e);
            match mapped.account {
                AccountImpact::Revoked | AccountImpact::Deactivated => Remote::AlreadyEnded,
                AccountImpact::None => {
                    tracing::warn!(telegram_error = %mapped.telegram_error, "auth.logOut failed: will retry");
                    Remote::Pending
                }
            }
        }
        Err(_) => {
            tracing::warn!(
                timeout_secs = LOGOUT_TIMEOUT.as_secs(),
                "auth.logOut got no answer: will retry"
            );
            Remote::Pending
        }
    }
}

/// Step 4: everything stored goes when Telegram has ended the session;
/// otherwise only the sealed auth key stays, marked for a retry.
async fn finish(
    ctx: &ResetContext<'_>,
    account_id: i64,
    session: Option<&Arc<StoredSession>>,
    telegram: Remote,
    now: i64,
) -> Result<(), ResetError> {
    if telegram == Remote::Pending {
        if let Some(s) = session {
            // Stops its flusher, so nothing it holds is written after this.
            s.close().await?;
        }
        let mut tx = ctx.db.begin_write().await?;
        accounts::forget_session_cache(&mut tx, account_id).await?;
        accounts::mark_remote_logout_pending(&mut *tx, account_id, now).await?;
        tx.commit().await.map_err(StoreError::from)?;
        return Ok(());
    }
    match session {
        Some(s) => s.shred().await?,
        None => {
            let mut tx = ctx.db.begin_write().await?;
            crate::store::sessions::delete_session(&mut tx, account_id).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
    }
    accounts::set_remote_logout_pending(ctx.db.pool(), account_id, None).await?;
    Ok(())
}

/// What one pass of [`retry_pending_logouts`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetryReport {
    /// Telegram logouts that are now done (or were found done).
    pub done: usize,
    /// Still pending: Telegram is still out of reach.
    pub pending: usize,
}

/// Tries once more to log out, on Telegram, every session whose reset could
/// not reach it. Run every [`RETRY_INTERVAL`] by the service; callable on its
/// own (the CLI, tests). A success shreds the kept key, clears the mark and
/// is audited (actor `system`, action `remote_logout`).
pub async fn retry_pending_logouts(ctx: &ResetContext<'_>) -> Result<RetryReport, ResetError> {
    let mut report = RetryReport::default();
    for account in accounts::remote_logout_pending(ctx.db.pool()).await? {
        let id = account.id;
        if account.state == AccountState::Active {
            // Logged in again since: the new login owns the stored session.
            accounts::set_remote_logout_pending(ctx.db.pool(), id, None).await?;
            continue;
        }
        let telegram = match load_session(ctx, id).await {
            Some(session) => {
                let telegram = tell_telegram(ctx.backend, &session).await;
                if telegram != Remote::Pending && still_reset(ctx, id).await? {
                    finish(ctx, id, Some(&session), telegram, crate::store::now()).await?;
                } else {
                    session.close().await?;
                }
                telegram
            }
            None if stored_auth_exists(ctx, id).await? => Remote::Pending,
            None => {
                accounts::set_remote_logout_pending(ctx.db.pool(), id, None).await?;
                Remote::NothingStored
            }
        };
        if telegram == Remote::Pending {
            report.pending += 1;
            continue;
        }
        report.done += 1;
        let target = format!("account:{id}");
        let detail = format!("telegram={}", telegram.as_str());
        super::record(
            ctx.db,
            &NewAuditEntry {
                actor: "system",
                action: "remote_logout",
                target: Some(&target),
                outcome: "ok",
                detail: Some(&detail),
            },
        )
        .await;
        tracing::info!(
            account_id = id,
            telegram = telegram.as_str(),
            "pending Telegram logout done"
        );
    }
    Ok(report)
}

/// Whether the account is still reset with its logout pending (it was not
/// logged in again while Telegram was being asked).
async fn still_reset(ctx: &ResetContext<'_>, account_id: i64) -> Result<bool, StoreError> {
    Ok(accounts::get(ctx.db.pool(), account_id)
        .await?
        .is_some_and(|a| {
            a.state != AccountState::Active && a.remote_logout_pending_since.is_some()
        }))
}

/// Starts the background task that retries pending Telegram logouts every
/// [`RETRY_INTERVAL`] (the first time one interval after start). It ends
/// when the database is closed (service shutdown).
pub fn spawn_retrier(state: AppState) {
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + RETRY_INTERVAL;
        let mut tick = tokio::time::interval_at(start, RETRY_INTERVAL);
        loop {
            tick.tick().await;
            if state.db.pool().is_closed() {
                return;
            }
            match retry_pending_logouts(&ResetContext::from(&state)).await {
                Ok(RetryReport {
                    done: 0,
                    pending: 0,
                }) => {}
                Ok(r) => tracing::info!(
                    done = r.done,
                    pending = r.pending,
                    "pending Telegram logouts retried"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot retry pending Telegram logouts"),
            }
        }
    });
}
