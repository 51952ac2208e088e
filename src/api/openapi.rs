//! The OpenAPI 3.1 document of the JSON API, generated from the code.
//!
//! Every JSON route is registered once, through utoipa-axum's
//! [`OpenApiRouter`]: the same `routes!(handler, …)` call adds the handler to
//! the axum router and its `#[utoipa::path]` description to the document, so
//! the two cannot drift. [`api`] is the one registry list: a new API module
//! adds its `routes()` there.
//!
//! The pattern for a handler:
//!
//! ```ignore
//! /// One line that becomes the summary.
//! ///
//! /// More lines become the description.
//! #[utoipa::path(get, path = "/api/v1/things/{id}", tag = "things",
//!     security(("bearer" = [])),
//!     params(("id" = i64, Path, description = "The thing's id")),
//!     responses((status = 200, body = Thing), (status = 404, body = ApiError)))]
//! async fn thing(…) -> Result<Json<Thing>> { … }
//!
//! pub fn routes() -> OpenApiRouter<AppState> {
//!     OpenApiRouter::new().routes(routes!(thing))
//! }
//! ```
//!
//! Response bodies are `Serialize + ToSchema` types; error answers use
//! [`ApiError`]. After the document is assembled, [`finish`] gives every
//! operation a `default` error response and every operation that needs a
//! token a 401 and a 403, so handlers list only the errors particular to them.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{account, admin, chats, export, login, webhooks};
use crate::app::AppState;

/// The name of the bearer security scheme, for `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

/// Every error answer of the API: a stable snake_case code a program can
/// branch on and a message a person can act on. A 429 also carries a
/// `Retry-After` header (seconds).
#[derive(Serialize, ToSchema)]
pub struct ApiError {
    /// Stable code, e.g. `unauthorized`, `not_found`, `flood_wait`.
    #[schema(example = "not_found")]
    pub error: String,
    /// What went wrong and what to do about it.
    #[schema(example = "No chat 42 in this account's chat list.")]
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tgdesk API",
        description = "Staff Telegram accounts for programs: log in, read chats and history, \
            follow new messages by long-poll or server-sent events. Errors answer \
            `{\"error\": \"<code>\", \"message\": \"…\"}` with a fitting status; \
            429 answers carry `Retry-After`. Authenticate with \
            `Authorization: Bearer <token>`: a login through the API returns one.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(ApiError)),
    tags(
        (name = "login", description = "Logging a Telegram account in; a completed login returns an API token"),
        (name = "account", description = "The token's own account, its Telegram session and its API tokens"),
        (name = "chats", description = "Chats, history and export, read from Telegram through the account's live client"),
        (name = "updates", description = "New, edited and deleted messages from the account's event log: no Telegram call"),
        (name = "webhooks", description = "URLs the account's events are POSTed to, signed, with their delivery state"),
        (name = "admin", description = "For admin tokens only (`tgdesk admin token create`): every account, resets, login attempts, the audit log, any token"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The registry: every JSON route with its documentation. A new API module
/// merges its `routes()` here, and nowhere else.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi_json))
        .merge(login::routes())
        .merge(account::routes())
        .merge(chats::routes())
        .merge(export::routes())
        .merge(admin::routes())
        .merge(webhooks::routes())
}

/// The API's axum routes, from the same registration as [`document`].
pub fn router() -> Router<AppState> {
    api().split_for_parts().0
}

/// The finished document (built once per process).
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| finish(api().split_for_parts().1))
}

/// The document as served at `/api/openapi.json` (built once per process),
/// in declaration order.
pub fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| serde_json::to_string(document()).unwrap_or_default())
}

/// The document as a JSON value (built once per process), for the `/docs`
/// page. Its object keys are sorted, so the page lists fields by name.
pub fn document_json() -> &'static serde_json::Value {
    static JSON: OnceLock<serde_json::Value> = OnceLock::new();
    JSON.get_or_init(|| serde_json::to_value(document()).unwrap_or(serde_json::Value::Null))
}

/// Adds what every operation shares: the bearer scheme, a 401 and a 403 where a token
/// is needed, and the error format as the `default` response.
fn finish(mut doc: Document) -> Document {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token (`tgd_…`), from a login through the API or POST /api/v1/tokens.",
                ))
                .build(),
        ),
    );
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ApiError")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let needs_token = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let responses = &mut op.responses.responses;
            if needs_token && !responses.contains_key("401") {
                responses.insert(
                    "401".into(),
                    error("No token, or a token that is unknown, revoked or expired").into(),
                );
            }
            if needs_token && !responses.contains_key("403") {
                responses.insert(
                    "403".into(),
                    error("The token's account can no longer be used (its session was revoked, reset or deactivated)").into(),
                );
            }
            responses
                .entry("default".into())
                .or_insert_with(|| error("An error, in the API's error format").into());
        }
    }
    doc
}

/// The OpenAPI 3.1 document of every JSON route.
///
/// Generated from the code: the routes and this document come from one
/// registration, so every route is here.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_text(),
    )
        .into_response()
}
