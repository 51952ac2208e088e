//! The admin API, for admin-role tokens only ([`AdminClient`]: a staff
//! token gets 403, no token 401). No route here creates admins or admin
//! tokens: that is `tgdesk admin grant` and `tgdesk admin token create`.
//!
//! - `GET /api/v1/admin/accounts`
//! - `POST /api/v1/admin/accounts/{id}/reset`
//! - `GET /api/v1/admin/login-attempts?outcome=&phone=&address=&before=&limit=`
//! - `GET /api/v1/admin/audit?action=&actor=&target=&before=&limit=`
//! - `GET /api/v1/admin/tokens`, `DELETE /api/v1/admin/tokens/{id}`

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::chats::ApiQuery;
use super::openapi::ApiError;
use crate::admin::overview::{self, AccountRow};
use crate::admin::reset::{self, Initiator, ResetContext, ResetError};
use crate::app::AppState;
use crate::auth::admin::AdminClient;
use crate::store::audit::{self, AuditEntry, AuditFilter, NewAuditEntry};
use crate::store::login_attempts::{self, LoginAttempt, LoginAttemptFilter};
use crate::store::tokens::{self as token_store, ApiToken};
use crate::web::error::{Error, Result};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(accounts))
        .routes(routes!(reset_account))
        .routes(routes!(login_attempts_list))
        .routes(routes!(audit_list))
        .routes(routes!(tokens_list))
        .routes(routes!(revoke_token))
}

/// A staff account as an admin sees it.
#[derive(Serialize, ToSchema)]
struct AdminAccount {
    id: i64,
    telegram_id: i64,
    name: String,
    username: Option<String>,
    /// Masked: never the full number.
    phone: Option<String>,
    /// `active`, `revoked` (ended from another device), `deactivated` (by
    /// Telegram) or `reset` (logged out, or reset by an admin).
    #[schema(example = "active")]
    state: &'static str,
    /// Who reset it (`admin:<telegram id>`, `admin-token:<id>`, `cli`), if
    /// an admin did.
    reset_by: Option<String>,
    /// Unix seconds.
    logged_in_at: Option<i64>,
    /// Unix seconds.
    last_seen_at: Option<i64>,
    /// Unix seconds of the last state change.
    state_changed_at: Option<i64>,
    /// Since when (Unix seconds) a Telegram logout is still to be done.
    remote_logout_pending_since: Option<i64>,
    /// `connected`, `connecting`, `reconnecting`, `ended` or `offline`.
    #[schema(example = "connected")]
    connection: &'static str,
    /// API tokens that still work.
    api_tokens: i64,
    /// Web sessions that still work.
    web_sessions: i64,
    /// Its Telegram user holds the admin role.
    admin: bool,
}

impl From<&AccountRow> for AdminAccount {
    fn from(row: &AccountRow) -> Self {
        let a = &row.account;
        Self {
            id: a.id,
            telegram_id: a.telegram_user_id,
            name: a.display_name.clone(),
            username: a.username.clone(),
            phone: a.phone_masked.clone(),
            state: a.state.as_str(),
            reset_by: row.reset_by.clone(),
            logged_in_at: a.logged_in_at,
            last_seen_at: a.last_seen_at,
            state_changed_at: a.state_changed_at,
            remote_logout_pending_since: a.remote_logout_pending_since,
            connection: row.connection,
            api_tokens: row.api_tokens,
            web_sessions: row.web_sessions,
            admin: row.is_admin,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AccountList {
    accounts: Vec<AdminAccount>,
}

/// Every staff account: state, connection, tokens and web sessions.
#[utoipa::path(get, path = "/api/v1/admin/accounts", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = AccountList),
        (status = 403, description = "`not_admin`: not an admin token", body = ApiError)))]
async fn accounts(
    State(state): State<AppState>,
    _admin: AdminClient,
) -> Result<axum::Json<AccountList>> {
    let rows = overview::accounts(&state).await?;
    Ok(axum::Json(AccountList {
        accounts: rows.iter().map(AdminAccount::from).collect(),
    }))
}

/// What a reset did.
#[derive(Serialize, ToSchema)]
struct ResetAnswer {
    account: AdminAccount,
    /// It was already reset (or logged out) before: nothing new was ended.
    already_reset: bool,
    /// `logged_out`, `already_ended` (Telegram had ended it),
    /// `nothing_stored` (nothing left to log out) or `pending` (Telegram
    /// could not be reached: retried later).
    #[schema(example = "logged_out")]
    telegram: &'static str,
    /// Whether a Telegram logout is still to be done.
    remote_logout_pending: bool,
    web_sessions_ended: u64,
    api_tokens_revoked: u64,
    /// What happened, for a person; says to end the session under Telegram
    /// → Settings → Devices when Telegram could not be told.
    message: &'static str,
}

/// Resets an account's session: auth.logOut on Telegram, live client
/// stopped, stored session shredded, web sessions ended, API tokens revoked.
///
/// If Telegram cannot be reached the local wipe happens anyway, the Telegram
/// logout is retried later (`telegram: "pending"`), and `message` says to end
/// the session under Telegram → Settings → Devices. Resetting again is
/// harmless.
#[utoipa::path(post, path = "/api/v1/admin/accounts/{id}/reset", tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The account's id")),
    responses((status = 200, body = ResetAnswer),
        (status = 403, description = "`not_admin`: not an admin token", body = ApiError),
        (status = 404, description = "No such account", body = ApiError)))]
async fn reset_account(
    State(state): State<AppState>,
    admin: AdminClient,
    Path(id): Path<String>,
) -> Result<axum::Json<ResetAnswer>> {
    let not_found = || Error::not_found("There is no account with that id.");
    let id: i64 = id.trim().parse().map_err(|_| not_found())?;
    let actor = admin.actor();
    let report = match reset::reset(&ResetContext::from(&state), id, Initiator::Admin(&actor)).await
    {
        Ok(report) => report,
        Err(ResetError::NotFound(_)) => return Err(not_found()),
        Err(e) => return Err(Error::internal(e)),
    };
    let row = overview::account(&state, id).await?.ok_or_else(not_found)?;
    Ok(axum::Json(ResetAnswer {
        account: AdminAccount::from(&row),
        already_reset: report.already_reset,
        telegram: report.telegram.as_str(),
        remote_logout_pending: report.account.remote_logout_pending_since.is_some(),
        web_sessions_ended: report.web_sessions_ended,
        api_tokens_revoked: report.tokens_revoked,
        message: report.message(),
    }))
}

fn limit_of(limit: Option<i64>) -> Result<i64> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::bad_request(
            "invalid_limit",
            "limit is a number from 1 to 1000.",
        )),
    }
}

/// A filter value: blank means no filter.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AttemptQuery {
    /// Only this outcome, e.g. `success`, `code_invalid`, `rate_limited`.
    outcome: Option<String>,
    /// Masked phones containing this (spaces ignored), e.g. `+44` or `0123`.
    phone: Option<String>,
    /// Only attempts from this client address.
    address: Option<String>,
    /// Only attempts older than this id (the next page).
    before: Option<i64>,
    /// At most this many (1 to 1000, default 100).
    limit: Option<i64>,
}

/// One login attempt: never the code or the password.
#[derive(Serialize, ToSchema)]
struct AttemptInfo {
    id: i64,
    /// Unix seconds, UTC.
    at: i64,
    phone: Option<String>,
    address: Option<String>,
    /// `phone`, `qr` or `password`.
    method: &'static str,
    #[schema(example = "code_invalid")]
    outcome: String,
    /// The Telegram error name, e.g. `PHONE_CODE_INVALID`.
    telegram_error: Option<String>,
    account_id: Option<i64>,
}

impl From<LoginAttempt> for AttemptInfo {
    fn from(a: LoginAttempt) -> Self {
        Self {
            id: a.id,
            at: a.at,
            phone: a.phone_masked,
            address: a.address,
            method: a.method.as_str(),
            outcome: a.outcome,
            telegram_error: a.telegram_error,
            account_id: a.account_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AttemptList {
    attempts: Vec<AttemptInfo>,
    /// Pass as `before` for the next (older) page; absent on the last one.
    next_before: Option<i64>,
}

/// Login attempts, newest first, filtered by outcome, phone and address.
#[utoipa::path(get, path = "/api/v1/admin/login-attempts", tag = "admin",
    security(("bearer" = [])),
    params(AttemptQuery),
    responses((status = 200, body = AttemptList),
        (status = 403, description = "`not_admin`: not an admin token", body = ApiError)))]
async fn login_attempts_list(
    State(state): State<AppState>,
    _admin: AdminClient,
    ApiQuery(q): ApiQuery<AttemptQuery>,
) -> Result<axum::Json<AttemptList>> {
    let limit = limit_of(q.limit)?;
    let list = login_attempts::list(
        state.db.pool(),
        &LoginAttemptFilter {
            outcome: given(&q.outcome),
            phone_contains: given(&q.phone),
            address: given(&q.address),
            before_id: q.before,
            limit,
            ..LoginAttemptFilter::default()
        },
    )
    .await?;
    let next_before = (list.len() as i64 == limit)
        .then(|| list.last().map(|a| a.id))
        .flatten();
    Ok(axum::Json(AttemptList {
        attempts: list.into_iter().map(AttemptInfo::from).collect(),
        next_before,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this action, e.g. `login`, `account_reset`, `token_revoke`.
    action: Option<String>,
    /// Only this actor, e.g. `account:12`, `admin:123456`, `cli`.
    actor: Option<String>,
    /// Only entries about this target, e.g. `account:12`.
    target: Option<String>,
    /// Only entries older than this id (the next page).
    before: Option<i64>,
    /// At most this many (1 to 1000, default 100).
    limit: Option<i64>,
}

/// One audit entry: who did what to whom, when, and how it ended.
#[derive(Serialize, ToSchema)]
struct AuditInfo {
    id: i64,
    /// Unix seconds, UTC.
    at: i64,
    #[schema(example = "admin:123456")]
    actor: String,
    #[schema(example = "account_reset")]
    action: String,
    #[schema(example = "account:12")]
    target: Option<String>,
    #[schema(example = "ok")]
    outcome: String,
    detail: Option<String>,
}

impl From<AuditEntry> for AuditInfo {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            detail: e.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AuditList {
    entries: Vec<AuditInfo>,
    /// Pass as `before` for the next (older) page; absent on the last one.
    next_before: Option<i64>,
}

/// The audit log, newest first: logins, logouts, resets, tokens, key
/// rotation, admin grants.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = AuditList),
        (status = 403, description = "`not_admin`: not an admin token", body = ApiError)))]
async fn audit_list(
    State(state): State<AppState>,
    _admin: AdminClient,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::Json<AuditList>> {
    let limit = limit_of(q.limit)?;
    let list = audit::list(
        state.db.pool(),
        &AuditFilter {
            action: given(&q.action),
            actor: given(&q.actor),
            target: given(&q.target),
            before_id: q.before,
            limit,
        },
    )
    .await?;
    let next_before = (list.len() as i64 == limit)
        .then(|| list.last().map(|e| e.id))
        .flatten();
    Ok(axum::Json(AuditList {
        entries: list.into_iter().map(AuditInfo::from).collect(),
        next_before,
    }))
}

/// Any API token (never the token itself).
#[derive(Serialize, ToSchema)]
struct AdminToken {
    id: i64,
    /// The account it acts for; none for admin tokens made by the CLI.
    account_id: Option<i64>,
    name: String,
    prefix: String,
    /// `staff` or `admin`.
    #[schema(example = "staff")]
    role: &'static str,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<&ApiToken> for AdminToken {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            account_id: t.account_id,
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            role: t.role.as_str(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AdminTokenList {
    tokens: Vec<AdminToken>,
}

/// Every API token of every account, and the admin tokens, newest first.
#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = AdminTokenList),
        (status = 403, description = "`not_admin`: not an admin token", body = ApiError)))]
async fn tokens_list(
    State(state): State<AppState>,
    _admin: AdminClient,
) -> Result<axum::Json<AdminTokenList>> {
    let list = token_store::list_all(state.db.pool()).await?;
    Ok(axum::Json(AdminTokenList {
        tokens: list.iter().map(AdminToken::from).collect(),
    }))
}

/// Revokes any API token, staff or admin. Revoking a revoked token again
/// answers 204 too.
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked"),
        (status = 403, description = "`not_admin`: not an admin token", body = ApiError),
        (status = 404, description = "No such token", body = ApiError)))]
async fn revoke_token(
    State(state): State<AppState>,
    admin: AdminClient,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let not_found = || Error::not_found("There is no API token with that id.");
    let id: i64 = id.trim().parse().map_err(|_| not_found())?;
    let token = token_store::get(state.db.pool(), id)
        .await?
        .ok_or_else(not_found)?;
    let revoked = token_store::revoke(state.db.pool(), token.id, crate::store::now()).await?;
    state.auth.api_cache.forget_token(token.id);
    let actor = admin.actor();
    let target = format!("token:{}", token.id);
    let detail = match token.account_id {
        Some(account) => format!("role={} account={account}", token.role.as_str()),
        None => format!("role={}", token.role.as_str()),
    };
    crate::admin::record(
        &state.db,
        &NewAuditEntry {
            actor: &actor,
            action: "token_revoke",
            target: Some(&target),
            outcome: if revoked { "ok" } else { "already_revoked" },
            detail: Some(&detail),
        },
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
