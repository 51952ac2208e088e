//! The caller's own account over the API: who am I, how is my Telegram
//! session, log it out; and the account's API tokens.
//!
//! - `GET /api/v1/me`
//! - `GET /api/v1/session`, `DELETE /api/v1/session` (auth.logOut, then wipe)
//! - `GET|POST /api/v1/tokens`, `DELETE /api/v1/tokens/{id}`

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::tokens::{self, ApiClient};
use crate::store::accounts::{self, Account};
use crate::store::tokens::{self as token_store, ApiToken, TokenRole};
use crate::store::{audit, web_sessions};
use crate::telegram::pool::Liveness;
use crate::web::error::{Error, Result};
use crate::web::json::Json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/session", get(session).delete(log_out))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
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

pub(crate) fn account_json(a: &Account) -> Value {
    json!({
        "id": a.id,
        "telegram_id": a.telegram_user_id,
        "name": a.display_name,
        "username": a.username,
        "phone": a.phone_masked,
        "state": a.state.as_str(),
    })
}

async fn me(client: ApiClient) -> Result<axum::Json<Value>> {
    Ok(axum::Json(account_json(own_account(&client)?)))
}

fn liveness_str(l: Option<Liveness>) -> &'static str {
    match l {
        Some(Liveness::Connected) => "connected",
        Some(Liveness::Starting) => "connecting",
        Some(Liveness::Retrying) => "reconnecting",
        Some(Liveness::Ended(_)) | None => "offline",
    }
}

async fn session(State(state): State<AppState>, client: ApiClient) -> Result<axum::Json<Value>> {
    let account = own_account(&client)?;
    let live = state.pool.liveness(account.id);
    let home_dc = state
        .pool
        .session(account.id)
        .and_then(|s| grammers_session::Session::home_dc_id(&*s).ok())
        .or(account.home_dc);
    Ok(axum::Json(json!({
        "state": account.state.as_str(),
        "connection": liveness_str(live),
        "since": account.logged_in_at,
        "last_seen": account.last_seen_at,
        "home_dc": home_dc,
    })))
}

/// Logs the Telegram session out (auth.logOut), then wipes it here: live
/// client stopped, keys shredded, web sessions ended, the account's tokens
/// revoked. If Telegram cannot be reached the local wipe happens anyway and
/// the answer says to end the session under Telegram → Settings → Devices.
async fn log_out(State(state): State<AppState>, client: ApiClient) -> Result<axum::Json<Value>> {
    let account = own_account(&client)?.clone();
    let remote = match state.pool.client(account.id) {
        Some(c) => c
            .invoke(&grammers_tl_types::functions::auth::LogOut {})
            .await
            .is_ok(),
        None => false,
    };
    let session = state.pool.session(account.id);
    state.pool.stop(account.id).await;
    state.chats.invalidate(account.id);
    let stored = match session {
        Some(s) => Some(s),
        None => state
            .sessions
            .load(account.id)
            .await
            .map_err(Error::internal)?,
    };
    if let Some(s) = stored {
        s.shred().await.map_err(Error::internal)?;
    }
    let now = crate::store::now();
    web_sessions::delete_for_account(state.db.pool(), account.id)
        .await
        .map_err(Error::internal)?;
    token_store::revoke_for_account(state.db.pool(), account.id, now)
        .await
        .map_err(Error::internal)?;
    state.auth.api_cache.forget_account(account.id);
    accounts::set_state(
        state.db.pool(),
        account.id,
        accounts::AccountState::Reset,
        now,
    )
    .await
    .map_err(Error::internal)?;
    record(
        &state,
        &format!("account:{}", account.id),
        "logout",
        &format!("account:{}", account.id),
        if remote { "ok" } else { "local_only" },
        now,
    )
    .await;
    Ok(axum::Json(json!({
        "logged_out": true,
        "telegram": if remote { "logged_out" } else { "unreachable" },
        "message": if remote {
            "The Telegram session is logged out and wiped here."
        } else {
            "Wiped here, but Telegram could not be told: end the session under Telegram → Settings → Devices."
        },
    })))
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
    if let Err(e) = audit::record(state.db.pool(), &entry, now).await {
        tracing::warn!(error = %e, action, "cannot write the audit entry");
    }
}

fn token_json(t: &ApiToken) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "role": t.role.as_str(),
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    })
}

async fn list_tokens(
    State(state): State<AppState>,
    client: ApiClient,
) -> Result<axum::Json<Value>> {
    let account = own_account(&client)?;
    let list = token_store::list_for_account(state.db.pool(), account.id)
        .await
        .map_err(Error::internal)?;
    Ok(axum::Json(json!({
        "tokens": list.iter().map(token_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    name: String,
}

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
    let mut answer = token_json(&row);
    answer["token"] = json!(token.expose());
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

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
