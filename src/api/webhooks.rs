//! The caller's own webhooks: URLs the account's events are POSTed to,
//! signed, with their delivery state. `crate::webhooks` has the delivery
//! rules; README's "Webhooks" section shows how to check a signature.
//!
//! - `GET|POST /api/v1/webhooks`
//! - `GET|PATCH|DELETE /api/v1/webhooks/{id}`

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::account::own_account;
use super::openapi::ApiError;
use crate::app::AppState;
use crate::auth::tokens::ApiClient;
use crate::web::error::{Error, Result};
use crate::web::json::Json;
use crate::webhooks::{CreateError, MAX_PER_ACCOUNT, Status};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
}

/// A webhook and how delivery to it stands. The secret is never shown
/// again after creation.
#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
pub(crate) struct WebhookInfo {
    pub id: i64,
    #[schema(example = "https://example.com/hooks/tgdesk")]
    pub url: String,
    /// False while paused with `PATCH`.
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Every event up to this cursor was delivered (2xx) or given up on.
    pub delivered_cursor: i64,
    /// Events of the account's log still to deliver.
    pub pending: i64,
    /// When the receiver last answered 2xx (Unix seconds).
    pub last_success_at: Option<i64>,
    /// Why the last failed attempt failed, e.g. `the receiver answered HTTP
    /// 503`, or `gave up on event 42 after 9 attempts: …`.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// Failed attempts at the event being delivered now (0 when healthy).
    pub attempts: i64,
    /// When the current run of failures began (none while healthy).
    pub failing_since: Option<i64>,
}

impl From<&Status> for WebhookInfo {
    fn from(s: &Status) -> Self {
        let w = &s.webhook;
        Self {
            id: w.id,
            url: w.url.clone(),
            enabled: w.disabled_at.is_none(),
            created_at: w.created_at,
            delivered_cursor: w.delivered_cursor,
            pending: s.pending,
            last_success_at: w.last_success_at,
            last_error: w.last_error.clone(),
            last_error_at: w.last_error_at,
            attempts: w.attempts,
            failing_since: w.failing_since,
        }
    }
}

/// A new webhook, with its signing secret: shown this once.
#[derive(Serialize, ToSchema)]
struct CreatedWebhook {
    #[serde(flatten)]
    webhook: WebhookInfo,
    /// The HMAC-SHA256 key of `X-Tgdesk-Signature`, the whole string
    /// (`whsec_…`). Keep it: it is never shown again.
    secret: String,
}

#[derive(Serialize, ToSchema)]
struct WebhookList {
    webhooks: Vec<WebhookInfo>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// Where to POST the events: an http:// or https:// URL.
    #[schema(example = "https://example.com/hooks/tgdesk")]
    url: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookChange {
    /// False pauses delivery; true resumes it from the delivered cursor.
    enabled: bool,
}

fn actor(account_id: i64) -> String {
    format!("account:{account_id}")
}

fn not_found() -> Error {
    Error::not_found("This account has no webhook with that id.")
}

fn parse_id(id: &str) -> Result<i64> {
    id.parse().map_err(|_| not_found())
}

fn create_error(e: CreateError) -> Error {
    match e {
        CreateError::Url(e) => Error::bad_request("invalid_url", e.to_string()),
        CreateError::TooMany => Error::conflict(
            "too_many_webhooks",
            format!("An account may have at most {MAX_PER_ACCOUNT} webhooks: delete one first."),
        ),
        CreateError::Store(e) => Error::internal(e),
        CreateError::Events(e) => Error::internal(e),
    }
}

/// The account's webhooks and their delivery state.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, body = WebhookList)))]
async fn list(State(state): State<AppState>, client: ApiClient) -> Result<axum::Json<WebhookList>> {
    let account = own_account(&client)?;
    let all = state
        .webhooks
        .list(account.id)
        .await
        .map_err(Error::internal)?;
    Ok(axum::Json(WebhookList {
        webhooks: all.iter().map(WebhookInfo::from).collect(),
    }))
}

/// Registers a webhook: every event of the account's log from now on is
/// POSTed to it, signed.
///
/// The answer carries the signing secret, once. Delivery is in cursor
/// order, at least once, retried with exponential backoff for a bounded
/// time (`TGDESK_WEBHOOK_RETRY_SECS`, 1 h by default).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    request_body = NewWebhook,
    responses(
        (status = 201, body = CreatedWebhook),
        (status = 400, description = "Not an http:// or https:// URL", body = ApiError),
        (status = 409, description = "The account has the most webhooks it may have", body = ApiError),
    ))]
async fn create(
    State(state): State<AppState>,
    client: ApiClient,
    Json(body): Json<NewWebhook>,
) -> Result<(StatusCode, axum::Json<CreatedWebhook>)> {
    let account = own_account(&client)?;
    let (hook, secret) = state
        .webhooks
        .create(account.id, &body.url, &actor(account.id))
        .await
        .map_err(create_error)?;
    let status = state.webhooks.status(hook).await.map_err(Error::internal)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedWebhook {
            webhook: WebhookInfo::from(&status),
            secret: secret.expose().clone(),
        }),
    ))
}

/// One of the account's webhooks and its delivery state.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The webhook's id")),
    responses((status = 200, body = WebhookInfo), (status = 404, body = ApiError)))]
async fn get_one(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Result<axum::Json<WebhookInfo>> {
    let account = own_account(&client)?;
    let hook = state
        .webhooks
        .get(account.id, parse_id(&id)?)
        .await
        .map_err(Error::internal)?
        .ok_or_else(not_found)?;
    let status = state.webhooks.status(hook).await.map_err(Error::internal)?;
    Ok(axum::Json(WebhookInfo::from(&status)))
}

/// Pauses or resumes a webhook.
///
/// A paused webhook keeps its place: resumed, it delivers what happened
/// meanwhile (what the event log still holds), in order.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The webhook's id")),
    request_body = WebhookChange,
    responses((status = 200, body = WebhookInfo), (status = 404, body = ApiError)))]
async fn update(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
    Json(body): Json<WebhookChange>,
) -> Result<axum::Json<WebhookInfo>> {
    let account = own_account(&client)?;
    let hook = state
        .webhooks
        .set_enabled(account.id, parse_id(&id)?, body.enabled, &actor(account.id))
        .await
        .map_err(Error::internal)?
        .ok_or_else(not_found)?;
    let status = state.webhooks.status(hook).await.map_err(Error::internal)?;
    Ok(axum::Json(WebhookInfo::from(&status)))
}

/// Deletes a webhook: delivery to it stops at once.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The webhook's id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ApiError)))]
async fn delete(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let account = own_account(&client)?;
    state
        .webhooks
        .delete(account.id, parse_id(&id)?, &actor(account.id))
        .await
        .map_err(Error::internal)?
        .ok_or_else(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}
