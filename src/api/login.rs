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

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::ApiError;
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

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(phone))
        .routes(routes!(qr))
        .routes(routes!(status, cancel))
        .routes(routes!(code))
        .routes(routes!(resend))
        .routes(routes!(password))
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

#[derive(Deserialize, ToSchema)]
struct PhoneBody {
    /// International format, with `+` and the country code.
    #[schema(example = "+447700900123")]
    phone: String,
}

#[derive(Deserialize, ToSchema)]
struct CodeBody {
    /// The code Telegram sent.
    #[schema(example = "12345")]
    code: String,
}

#[derive(Deserialize, ToSchema)]
struct PasswordBody {
    /// The account's two-step verification (cloud) password.
    #[schema(value_type = String)]
    password: Secret<String>,
}

/// The account a login reached.
#[derive(Serialize, ToSchema)]
#[schema(as = LoginAccount)]
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

/// A login code is on its way.
#[derive(Serialize, ToSchema)]
struct CodeSentAnswer {
    /// Names this login in the next steps' paths.
    flow_id: String,
    /// Always `code`: send the code next.
    #[schema(example = "code")]
    next: &'static str,
    /// Where Telegram sent it: `app`, `sms`, `call`, `flash_call` or `other`.
    #[schema(example = "app")]
    code_type: &'static str,
    /// Seconds until this login expires.
    expires_in: u64,
}

/// Another code is on its way.
#[derive(Serialize, ToSchema)]
struct ResentAnswer {
    /// Always `code`.
    #[schema(example = "code")]
    next: &'static str,
    /// `app`, `sms`, `call`, `flash_call` or `other`.
    #[schema(example = "sms")]
    code_type: &'static str,
    expires_in: u64,
}

/// What a code or password step leads to, by `next`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "next", rename_all = "snake_case")]
enum StepAnswer {
    /// The account has two-step verification: send its password next.
    Password {
        /// The hint the account owner set, if any.
        hint: Option<String>,
    },
    /// Logged in: an API token for the account, shown this once.
    Done { account: AccountView, token: String },
}

/// A QR login has started: show `qr_url` as a QR code to scan from the
/// Telegram app, then poll `GET /api/v1/login/{flow_id}`.
#[derive(Serialize, ToSchema)]
struct QrAnswer {
    flow_id: String,
    /// Always `scan`.
    #[schema(example = "scan")]
    next: &'static str,
    #[schema(example = "tg://login?token=…")]
    qr_url: Option<String>,
    /// When this QR token expires (Unix seconds); a fresh one follows.
    expires_at: Option<i64>,
}

/// Where a login stands. Which other fields are present depends on `state`.
#[derive(Serialize, ToSchema)]
struct LoginStatus {
    /// `awaiting_code`, `awaiting_password`, `awaiting_scan`, `done`,
    /// `expired` or `failed`.
    #[schema(example = "awaiting_code")]
    state: &'static str,
    /// Seconds until the login expires (while in progress).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
    /// The QR code's URL (QR logins, while awaiting the scan).
    #[serde(skip_serializing_if = "Option::is_none")]
    qr_url: Option<String>,
    /// When the QR token expires (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    expires_at: Option<Option<i64>>,
    /// Where the code went (phone logins).
    #[serde(skip_serializing_if = "Option::is_none")]
    code_type: Option<&'static str>,
    /// The password hint (`awaiting_password`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    hint: Option<Option<String>>,
    /// The account logged in (`done`).
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<AccountView>,
    /// A new API token, on the one answer that completes a scanned QR
    /// login; never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// Why it failed or expired: an error code, as in ApiError.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl LoginStatus {
    fn new(state: &'static str) -> Self {
        Self {
            state,
            expires_in: None,
            qr_url: None,
            expires_at: None,
            code_type: None,
            hint: None,
            account: None,
            token: None,
            error: None,
            message: None,
        }
    }
}

/// Starts a login by phone number: Telegram sends a code.
#[utoipa::path(post, path = "/api/v1/login/phone", tag = "login",
    request_body = PhoneBody,
    responses(
        (status = 200, body = CodeSentAnswer),
        (status = 400, description = "Not a phone number (`invalid_phone`)", body = ApiError),
        (status = 403, description = "Not on the login allowlist", body = ApiError),
        (status = 429, description = "Too many codes asked for; see `Retry-After`", body = ApiError)))]
async fn phone(
    State(state): State<AppState>,
    addr: ClientAddr,
    Json(body): Json<PhoneBody>,
) -> Result<Json<CodeSentAnswer>> {
    let sent = login::start_phone(&state, &caller(&addr), &body.phone).await?;
    Ok(Json(CodeSentAnswer {
        flow_id: sent.flow_id,
        next: "code",
        code_type: sent.kind.as_str(),
        expires_in: sent.expires_in,
    }))
}

/// Asks Telegram to send the code again (perhaps another way).
#[utoipa::path(post, path = "/api/v1/login/{flow_id}/resend", tag = "login",
    params(("flow_id" = String, Path, description = "From the answer that started the login")),
    responses(
        (status = 200, body = ResentAnswer),
        (status = 404, description = "Unknown or expired login (`login_expired`)", body = ApiError),
        (status = 429, description = "Wait before asking again; see `Retry-After`", body = ApiError)))]
async fn resend(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
) -> Result<Json<ResentAnswer>> {
    let sent = login::resend(&state, &caller(&addr), &flow_id).await?;
    Ok(Json(ResentAnswer {
        next: "code",
        code_type: sent.kind.as_str(),
        expires_in: sent.expires_in,
    }))
}

/// Sends the login code.
///
/// Answers `next: password` when the account has two-step verification,
/// or `next: done` with the account and a new API token (shown once).
#[utoipa::path(post, path = "/api/v1/login/{flow_id}/code", tag = "login",
    params(("flow_id" = String, Path, description = "From the answer that started the login")),
    request_body = CodeBody,
    responses(
        (status = 200, body = StepAnswer),
        (status = 400, description = "Wrong or expired code", body = ApiError),
        (status = 404, description = "Unknown or expired login (`login_expired`)", body = ApiError),
        (status = 429, description = "Too many tries, or Telegram's FLOOD_WAIT", body = ApiError)))]
async fn code(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
    Json(body): Json<CodeBody>,
) -> Result<Json<StepAnswer>> {
    let next = login::submit_code(&state, &caller(&addr), &flow_id, &body.code).await?;
    next_answer(&state, next).await
}

/// Sends the two-step verification password.
#[utoipa::path(post, path = "/api/v1/login/{flow_id}/password", tag = "login",
    params(("flow_id" = String, Path, description = "From the answer that started the login")),
    request_body = PasswordBody,
    responses(
        (status = 200, body = StepAnswer),
        (status = 400, description = "Wrong password", body = ApiError),
        (status = 404, description = "Unknown or expired login (`login_expired`)", body = ApiError),
        (status = 429, description = "Too many tries, or Telegram's FLOOD_WAIT", body = ApiError)))]
async fn password(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
    Json(body): Json<PasswordBody>,
) -> Result<Json<StepAnswer>> {
    let next = login::submit_password(&state, &caller(&addr), &flow_id, body.password).await?;
    next_answer(&state, next).await
}

async fn next_answer(state: &AppState, next: Next) -> Result<Json<StepAnswer>> {
    match next {
        Next::Password { hint } => Ok(Json(StepAnswer::Password { hint })),
        Next::Done(done) => {
            let (account, token) = done_answer(state, &done).await?;
            Ok(Json(StepAnswer::Done { account, token }))
        }
    }
}

/// The account and a new token for a completed login.
async fn done_answer(state: &AppState, done: &LoggedIn) -> Result<(AccountView, String)> {
    let name = format!("API login ({})", done.method.as_str());
    let (token, _) = tokens::issue(
        &state.db,
        Some(done.account.id),
        &name,
        TokenRole::Staff,
        crate::store::now(),
    )
    .await?;
    Ok((AccountView::from(&done.account), token.expose().to_string()))
}

/// Starts a login by QR code, scanned from the Telegram app.
#[utoipa::path(post, path = "/api/v1/login/qr", tag = "login",
    responses(
        (status = 200, body = QrAnswer),
        (status = 429, description = "Too many logins started; see `Retry-After`", body = ApiError)))]
async fn qr(State(state): State<AppState>, addr: ClientAddr) -> Result<Json<QrAnswer>> {
    let (flow_id, status) = login::start_qr(&state, &caller(&addr)).await?;
    Ok(Json(QrAnswer {
        flow_id,
        next: "scan",
        qr_url: status.qr_url,
        expires_at: status.qr_expires_at,
    }))
}

/// Where a login stands.
///
/// A scanned QR login (and its password, if any) completes here: that
/// answer carries the account and a new API token, once.
#[utoipa::path(get, path = "/api/v1/login/{flow_id}", tag = "login",
    params(("flow_id" = String, Path, description = "From the answer that started the login")),
    responses(
        (status = 200, body = LoginStatus),
        (status = 404, description = "Unknown login, or one long gone", body = ApiError)))]
async fn status(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
) -> Result<Json<LoginStatus>> {
    let caller = caller(&addr);
    let view = login::view(&state, &caller, &flow_id).await?;
    let answer = match view {
        View::Live { status, .. } => {
            if status.state == "done" {
                // A scanned QR login completes on the first look.
                let mut answer = LoginStatus::new("done");
                if let Some(done) = login::take_qr(&state, &caller, &flow_id).await? {
                    let (account, token) = done_answer(&state, &done).await?;
                    answer.account = Some(account);
                    answer.token = Some(token);
                }
                answer
            } else {
                let mut answer = LoginStatus::new(status.state);
                answer.expires_in = Some(status.expires_in);
                if let Some(url) = status.qr_url {
                    answer.qr_url = Some(url);
                    answer.expires_at = Some(status.qr_expires_at);
                }
                answer.code_type = status.code_kind.map(|k| k.as_str());
                if status.state == "awaiting_password" {
                    answer.hint = Some(status.hint);
                }
                answer
            }
        }
        View::Ended(Outcome::Done { account_id }) => {
            let account = accounts::get(state.db.pool(), account_id).await?;
            let mut answer = LoginStatus::new("done");
            answer.account = account.as_ref().map(AccountView::from);
            answer
        }
        View::Ended(Outcome::Failed { code, message, .. }) => {
            let state = if code == "login_expired" {
                "expired"
            } else {
                "failed"
            };
            let mut answer = LoginStatus::new(state);
            answer.error = Some(code);
            answer.message = Some(message);
            answer
        }
    };
    Ok(Json(answer))
}

/// Cancels a login in progress.
#[utoipa::path(delete, path = "/api/v1/login/{flow_id}", tag = "login",
    params(("flow_id" = String, Path, description = "From the answer that started the login")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, description = "Unknown or expired login", body = ApiError)))]
async fn cancel(
    State(state): State<AppState>,
    addr: ClientAddr,
    FlowId(flow_id): FlowId,
) -> Result<Response> {
    login::cancel(&state, &caller(&addr), &flow_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
