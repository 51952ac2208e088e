//! The JSON API for programs, under `/api/v1`. Errors answer
//! `{"error": "<code>", "message": "…"}` with the mapped status; bodies are
//! read with [`crate::web::json::Json`], so a malformed one gets the same
//! format.

pub mod account;
pub mod chats;
pub mod login;

use axum::Router;

use crate::app::AppState;

/// Every API route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(login::routes())
        .merge(account::routes())
        .merge(chats::routes())
}
