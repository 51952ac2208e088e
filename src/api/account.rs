//! The caller's own account over the API: who am I, how is my Telegram
//! session, log it out; and the account's API tokens.
//!
//! - `GET /api/v1/me`
//! - `GET /api/v1/session`, `DELETE /api/v1/session` (auth.logOut, then wipe)
//! - `GET|POST /api/v1/tokens`, `DELETE /api/v1/tokens/{id}`

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::ApiError;
use crate::admin::reset::{self, Initiator, Remote, ResetContext};
use crate::app::AppState;
use crate::auth::tokens::{self, ApiClient};
use crate::store::accounts::Account;
use crate::store::audit;
use crate::store::tokens::{self as token_store, ApiToken, TokenRole};
use crate::telegram::pool::Liveness;
use crate::web::error::{Error, Result};
use crate::web::json::Json;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(session, log_out))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// The account a staff token acts for; admin tokens without one are refused.
pub(crate) fn own_account(client: &ApiClient) -> Result<&Account> {
    client.account.as_ref().ok_or_else(|| {
        Error::bad_request(
            "no_account",
            "This token is not bound to a Telegram account: use a staff token.",
        )
    })
}

/// A Telegram account as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Account)]
pub(crate) struct AccountInfo {
    /// tgdesk's id of the account.
    pub id: i64,
    /// The Telegram user id.
    pub telegram_id: i64,
    pub name: String,
    pub username: Option<String>,
    /// Masked: never the full number.
    pub phone: Option<String>,
    /// `active`; `revoked` (ended from another device), `deactivated`
    /// (by Telegram) or `reset` (logged out, or reset by an admin).
    #[schema(example = "active")]
    pub state: &'static str,
}

impl From<&Account> for AccountInfo {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id,
            telegram_id: a.telegram_user_id,
            name: a.display_name.clone(),
            username: a.username.clone(),
            phone: a.phone_masked.clone(),
            state: a.state.as_str(),
        }
    }
}

/// The token's own account.
#[utoipa::path(get, path = "/api/v1/me", tag = "account",
    security(("bearer" = [])),
    responses((status = 200, body = AccountInfo)))]
async fn me(client: ApiClient) -> Result<axum::Json<AccountInfo>> {
    Ok(axum::Json(AccountInfo::from(own_account(&client)?)))
}

fn liveness_str(l: Option<Liveness>) -> &'static str {
    match l {
        Some(Liveness::Connected) => "connected",
        Some(Liveness::Starting) => "connecting",
        Some(Liveness::Retrying) => "reconnecting",
        Some(Liveness::Ended(_)) | None => "offline",
    }
}

/// The account's Telegram session as tgdesk holds it.
#[derive(Serialize, ToSchema)]
struct SessionInfo {
    /// The account's state, as in `GET /api/v1/me`.
    #[schema(example = "active")]
    state: &'static str,
    /// `connected`, `connecting`, `reconnecting` or `offline`.
    #[schema(example = "connected")]
    connection: &'static str,
    /// When it logged in (Unix seconds).
    since: Option<i64>,
    /// When it was last connected (Unix seconds).
    last_seen: Option<i64>,
    /// The Telegram data centre the account lives in.
    home_dc: Option<i32>,
}

/// The account's Telegram session: state and connection.
#[utoipa::path(get, path = "/api/v1/session", tag = "account",
    security(("bearer" = [])),
    responses((status = 200, body = SessionInfo)))]
async fn session(
    State(state): State<AppState>,
    client: ApiClient,
) -> Result<axum::Json<SessionInfo>> {
    let account = own_account(&client)?;
    let live = state.pool.liveness(account.id);
    let home_dc = state
        .pool
        .session(account.id)
        .and_then(|s| grammers_session::Session::home_dc_id(&*s).ok())
        .or(account.home_dc);
    Ok(axum::Json(SessionInfo {
        state: account.state.as_str(),
        connection: liveness_str(live),
        since: account.logged_in_at,
        last_seen: account.last_seen_at,
        home_dc,
    }))
}

/// What logging out did.
#[derive(Serialize, ToSchema)]
struct LoggedOut {
    /// Always true: the session is wiped here in any case.
    logged_out: bool,
    /// `logged_out`, or `unreachable` when Telegram could not be told.
    #[schema(example = "logged_out")]
    telegram: &'static str,
    message: &'static str,
}

/// Logs the Telegram session out and wipes it here ([`reset::reset`]): web
/// sessions ended, the account's tokens revoked, live client stopped,
/// auth.logOut, keys shredded. If Telegram cannot be reached the local wipe
/// happens anyway, the logout is retried later, and the answer says to end
/// the session under Telegram → Settings → Devices.
#[utoipa::path(delete, path = "/api/v1/session", tag = "account",
    security(("bearer" = [])),
    responses((status = 200, body = LoggedOut)))]
async fn log_out(
    State(state): State<AppState>,
    client: ApiClient,
) -> Result<axum::Json<LoggedOut>> {
    let account_id = own_account(&client)?.id;
    let report = reset::reset(&ResetContext::from(&state), account_id, Initiator::Staff)
        .await
        .map_err(Error::internal)?;
    let told = report.telegram != Remote::Pending;
    Ok(axum::Json(LoggedOut {
        logged_out: true,
        telegram: if told { "logged_out" } else { "unreachable" },
        message: if told {
            "The Telegram session is logged out and wiped here."
        } else {
            "Wiped here, but Telegram could not be told: tgdesk will retry. To end it now, use Telegram → Settings → Devices."
        },
    }))
}

/// An audit entry; a failure to write one is logged, not fatal to the
/// request it records.
async fn record(
    state: &AppState,
    actor: &str,
    action: &str,
    target: &str,
    outcome: &str,
    now: i64,
) {
    let entry = audit::NewAuditEntry {
        actor,
        action,
        target: Some(target),
        outcome,
        detail: None,
    };
    crate::admin::record_at(&state.db, &entry, now).await;
}

/// An API token as listed: never the token itself.
#[derive(Serialize, ToSchema)]
#[schema(as = Token)]
pub(crate) struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// The token's public prefix, to tell tokens apart.
    pub prefix: String,
    /// `staff` or `admin`.
    #[schema(example = "staff")]
    pub role: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub last_used_at: Option<i64>,
    /// Unix seconds; a revoked token no longer works.
    pub revoked_at: Option<i64>,
}

impl From<&ApiToken> for TokenInfo {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
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
struct TokenList {
    tokens: Vec<TokenInfo>,
}

/// A new token: the listing plus the token itself, shown this once.
#[derive(Serialize, ToSchema)]
struct NewToken {
    #[serde(flatten)]
    info: TokenInfo,
    /// The token (`tgd_…`): shown once, only its hash is kept.
    token: String,
}

/// The account's API tokens, revoked ones included.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "account",
    security(("bearer" = [])),
    responses((status = 200, body = TokenList)))]
async fn list_tokens(
    State(state): State<AppState>,
    client: ApiClient,
) -> Result<axum::Json<TokenList>> {
    let account = own_account(&client)?;
    let list = token_store::list_for_account(state.db.pool(), account.id)
        .await
        .map_err(Error::internal)?;
    Ok(axum::Json(TokenList {
        tokens: list.iter().map(TokenInfo::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    /// 1 to 100 characters, e.g. "crm sync".
    #[schema(example = "crm sync")]
    name: String,
}

/// Makes another API token for the account; the answer shows it once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "account",
    security(("bearer" = [])),
    request_body = NewTokenBody,
    responses(
        (status = 201, body = NewToken),
        (status = 400, description = "`invalid_name`", body = ApiError)))]
async fn create_token(
    State(state): State<AppState>,
    client: ApiClient,
    Json(body): Json<NewTokenBody>,
) -> Result<impl IntoResponse> {
    let account = own_account(&client)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::bad_request(
            "invalid_name",
            "A token needs a name of 1 to 100 characters, e.g. \"crm sync\".",
        ));
    }
    let now = crate::store::now();
    let (token, row) = tokens::issue(&state.db, Some(account.id), name, TokenRole::Staff, now)
        .await
        .map_err(Error::internal)?;
    record(
        &state,
        &format!("account:{}", account.id),
        "token_create",
        &format!("token:{}", row.id),
        "ok",
        now,
    )
    .await;
    let answer = NewToken {
        info: TokenInfo::from(&row),
        token: token.expose().to_string(),
    };
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

/// Revokes one of the account's API tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "account",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The token's id, as listed")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token of this account", body = ApiError)))]
async fn revoke_token(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let account = own_account(&client)?;
    let not_found = || Error::not_found("This account has no API token with that id.");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let token = token_store::get(state.db.pool(), id)
        .await
        .map_err(Error::internal)?
        .filter(|t| t.account_id == Some(account.id))
        .ok_or_else(not_found)?;
    let now = crate::store::now();
    token_store::revoke(state.db.pool(), token.id, now)
        .await
        .map_err(Error::internal)?;
    state.auth.api_cache.forget_token(token.id);
    record(
        &state,
        &format!("account:{}", account.id),
        "token_revoke",
        &format!("token:{}", token.id),
        "ok",
        now,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
