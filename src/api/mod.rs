//! The JSON API for programs, under `/api/v1`. Errors answer
//! `{"error": "<code>", "message": "…"}` with the mapped status; bodies are
//! read with [`crate::web::json::Json`], so a malformed one gets the same
//! format. Every route is registered with its documentation in
//! [`openapi::api`], which serves `GET /api/openapi.json`.

pub mod account;
pub mod admin;
pub mod chats;
pub mod export;
pub mod login;
pub mod openapi;
pub mod webhooks;

use axum::Router;

use crate::app::AppState;

/// Every API route (the same registration as the OpenAPI document).
pub fn routes() -> Router<AppState> {
    openapi::router()
}
