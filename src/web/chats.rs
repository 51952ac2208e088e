//! `/chats`: where a staff member lands after logging in. For now it shows
//! who is logged in, this browser session and the Telegram connection, with
//! a logout button; the chat list itself comes with the chats pages.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::Layout;
use super::error::PageError;
use crate::app::AppState;
use crate::auth::session::Staff;
use crate::store::web_sessions;
use crate::telegram::pool::Liveness;

#[derive(Template)]
#[template(path = "chats.html")]
struct ChatsPage<'a> {
    layout: Layout,
    staff: &'a Staff,
    csrf: &'a str,
    connection: &'static str,
    other_sessions: usize,
}

/// `GET /chats`.
pub async fn chats(State(state): State<AppState>, staff: Staff) -> Result<Html<String>, PageError> {
    let connection = match state.pool.liveness(staff.account.id) {
        Some(Liveness::Connected) => "connected",
        Some(Liveness::Starting) => "connecting",
        Some(Liveness::Retrying) => "reconnecting",
        Some(Liveness::Ended(_)) => "ended",
        None => "not running",
    };
    let sessions =
        web_sessions::list_for_account(state.db.pool(), staff.account.id, crate::store::now())
            .await?;
    let other_sessions = sessions
        .iter()
        .filter(|s| s.id_hash != staff.session.id_hash)
        .count();
    let csrf = staff.csrf_token();
    let page = ChatsPage {
        layout: Layout::new("Chats"),
        staff: &staff,
        csrf: &csrf,
        connection,
        other_sessions,
    };
    Ok(Html(page.render()?))
}
