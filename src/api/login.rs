//! Logging in over the API: the same state machine as the pages.
//!
//! - `POST /api/v1/login/phone` `{"phone"}` → `{"flow_id","next":"code","code_type","expires_in"}`
//! - `POST /api/v1/login/{flow_id}/code` `{"code"}` → `{"next":"password","hint"}`
//!   or `{"next":"done","account":{…},"token"}`
//! - `POST /api/v1/login/{flow_id}/resend` → `{"next":"code","code_type","expires_in"}`
//! - `POST /api/v1/login/{flow_id}/password` `{"password"}` → `{"next":"done",…}`
//! - `POST /api/v1/login/qr` → `{"flow_id","next":"scan","qr_url","expires_at"}`
//! - `GET /api/v1/login/{flow_id}` → `{"state",…}`; once a QR login is
//!   scanned (and any password given) it completes here, and the answer
//!   carries the account and the token, once.
//! - `DELETE /api/v1/login/{flow_id}` → 204
//!
//! A completed login answers with a new API token bound to the account,
//! shown once; only its hash is kept.

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::client_addr::ClientAddr;
use crate::auth::login::{self, Caller, LoggedIn, LoginError, Next, Outcome, Owner, View};
use crate::auth::tokens;
use crate::secret::Secret;
use crate::store::accounts::{self, Account};
use crate::store::tokens::TokenRole;
use crate::telegram::flows::FlowError;
use crate::web::error::{Error, Result};
use crate::web::json::Json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login/phone", post(phone))
        .route("/api/v1/login/qr", post(qr))
        .route("/api/v1/login/{flow_id}", get(status).delete(cancel))
        .route("/api/v1/login/{flow_id}/code", post(code))
        .route("/api/v1/login/{flow_id}/resend", post(resend))
        .route("/api/v1/login/{flow_id}/password", post(password))
}

/// The `{flow_id}` of a path. One that cannot even be read is no flow:
/// the same 404 as an unknown one, in our error format.
struct FlowId(String);

impl<S: Send + Sync> FromRequestParts<S> for FlowId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(FlowId(id)),
            Err(_) => Err(LoginError::Flow(FlowError::NotFound).into()),
        }
    }
}

fn caller(addr: &ClientAddr) -> Caller<'_> {
    Caller {
        owner: Owner::Api,
        address: addr.as_str(),
    }
}

#[derive(Deserialize)]
struct PhoneBody {
    phone: String,
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

#[derive(Deserialize)]
struct PasswordBody {
    password: Secret<String>,
}

/// The account as the API shows it.
#[derive(Serialize)]
struct AccountView {
    id: i64,
    telegram_id: i64,
    name: String,
    username: Option<String>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id,
            telegram_id: a.telegram_user_id,
            name: a.display_name.clone(),
            username: a.username.clone(),
        }
    }
}

/// `POST /api/v1/login/phone`.
async fn phone(
    State(state): State<AppState>,
    addr: ClientAddr,
    Json(body): Json<PhoneBody>,
) -> Result<Json<Value>> {
    let sent = login::start_phone(&state, &caller(&addr), &body.phone).await?;
    Ok(Json(json!({
        "flow_id": sent.flow_id,
        "next": "code",
        "code_type": sent.kind.as_str(),
        "expires_in": sent.expires_in,
    })))
}

/// `POST /api/v1/login/{flow_id}/resend`.
async fn resend(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
) -> Result<Json<Value>> {
    let sent = login::resend(&state, &caller(&addr), &flow_id).await?;
    Ok(Json(json!({
        "next": "code",
        "code_type": sent.kind.as_str(),
        "expires_in": sent.expires_in,
    })))
}

/// `POST /api/v1/login/{flow_id}/code`.
async fn code(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
    Json(body): Json<CodeBody>,
) -> Result<Json<Value>> {
    let next = login::submit_code(&state, &caller(&addr), &flow_id, &body.code).await?;
    next_answer(&state, next).await
}

/// `POST /api/v1/login/{flow_id}/password`.
async fn password(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
    Json(body): Json<PasswordBody>,
) -> Result<Json<Value>> {
    let next = login::submit_password(&state, &caller(&addr), &flow_id, body.password).await?;
    next_answer(&state, next).await
}

async fn next_answer(state: &AppState, next: Next) -> Result<Json<Value>> {
    match next {
        Next::Password { hint } => Ok(Json(json!({ "next": "password", "hint": hint }))),
        Next::Done(done) => Ok(Json(done_answer(state, &done, "next").await?)),
    }
}

/// `{"<key>":"done","account":{…},"token":"…"}` with a new token.
async fn done_answer(state: &AppState, done: &LoggedIn, key: &str) -> Result<Value> {
    let name = format!("API login ({})", done.method.as_str());
    let (token, _) = tokens::issue(
        &state.db,
        Some(done.account.id),
        &name,
        TokenRole::Staff,
        crate::store::now(),
    )
    .await?;
    Ok(json!({
        key: "done",
        "account": AccountView::from(&done.account),
        "token": token.expose(),
    }))
}

/// `POST /api/v1/login/qr`.
async fn qr(State(state): State<AppState>, addr: ClientAddr) -> Result<Json<Value>> {
    let (flow_id, status) = login::start_qr(&state, &caller(&addr)).await?;
    Ok(Json(json!({
        "flow_id": flow_id,
        "next": "scan",
        "qr_url": status.qr_url,
        "expires_at": status.qr_expires_at,
    })))
}

/// `GET /api/v1/login/{flow_id}`.
async fn status(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
) -> Result<Json<Value>> {
    let caller = caller(&addr);
    let view = login::view(&state, &caller, &flow_id).await?;
    let answer = match view {
        View::Live { status, .. } => {
            if status.state == "done" {
                // A scanned QR login completes on the first look.
                match login::take_qr(&state, &caller, &flow_id).await? {
                    Some(done) => return Ok(Json(done_answer(&state, &done, "state").await?)),
                    None => json!({ "state": "done" }),
                }
            } else {
                let mut answer = json!({ "state": status.state, "expires_in": status.expires_in });
                if let Some(url) = status.qr_url {
                    answer["qr_url"] = json!(url);
                    answer["expires_at"] = json!(status.qr_expires_at);
                }
                if let Some(kind) = status.code_kind {
                    answer["code_type"] = json!(kind.as_str());
                }
                if status.state == "awaiting_password" {
                    answer["hint"] = json!(status.hint);
                }
                answer
            }
        }
        View::Ended(Outcome::Done { account_id }) => {
            let account = accounts::get(state.db.pool(), account_id).await?;
            let mut answer = json!({ "state": "done" });
            if let Some(account) = account {
                answer["account"] = json!(AccountView::from(&account));
            }
            answer
        }
        View::Ended(Outcome::Failed { code, message, .. }) => {
            let state = if code == "login_expired" {
                "expired"
            } else {
                "failed"
            };
            json!({ "state": state, "error": code, "message": message })
        }
    };
    Ok(Json(answer))
}

/// `DELETE /api/v1/login/{flow_id}`.
async fn cancel(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
) -> Result<Response> {
    login::cancel(&state, &caller(&addr), &flow_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
