//! `/chats`: where a staff member lands after logging in and reads the
//! account's chats. The chat list is on the left, the selected chat's
//! messages on the right (`?chat=<id>`, earlier ones with `&before=<id>`);
//! plain links, so reading works without JavaScript. `static/app.js` follows
//! `GET /chats/events` (server-sent events from the account's event log, no
//! Telegram call) to show new messages as they come. Who is logged in, this
//! browser session, the Telegram connection and logout stay on the page.
//! The open chat's whole history downloads as JSON from
//! `/chats/{chat_id}/export`, the API's export behind the browser session.

use std::convert::Infallible;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{Html, Response};
use futures_util::Stream;
use serde::Deserialize;

use super::error::{Error, PageError};
use super::{Layout, utc};
use crate::app::AppState;
use crate::auth::session::Staff;
use crate::events::MessageView;
use crate::store::web_sessions;
use crate::telegram::chats::{ChatView, HistoryPage, ReadError};
use crate::telegram::pool::Liveness;

/// Messages shown per page of history.
const PAGE_SIZE: usize = 50;

/// A chat in the list.
struct ChatRow {
    id: i64,
    kind: &'static str,
    title: String,
    initials: String,
    /// Picks one of a few avatar colours, stable per chat.
    hue: i64,
    preview: String,
    unread: i32,
    /// Unix seconds of the last message, 0 without one.
    date: i64,
    when: String,
    selected: bool,
}

/// A message of the open chat.
struct MessageRow {
    id: i32,
    sender: String,
    text: String,
    media: Option<String>,
    date: i64,
    when: String,
    edited: bool,
    outgoing: bool,
}

/// The open chat.
struct OpenChat {
    id: i64,
    title: String,
    messages: Vec<MessageRow>,
    /// `/chats?chat=…&before=…` when there may be earlier messages.
    older: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "chats.html")]
struct ChatsPage<'a> {
    layout: Layout,
    staff: &'a Staff,
    csrf: &'a str,
    connection: &'static str,
    other_sessions: usize,
    chats: Vec<ChatRow>,
    list_error: Option<String>,
    open: Option<OpenChat>,
    /// Where the live stream starts: events after this cursor are new.
    since: i64,
}

/// The page's query. Values that do not parse are ignored, as a browser
/// user cannot do anything with an error about them.
#[derive(Deserialize)]
pub struct ChatsQuery {
    chat: Option<String>,
    before: Option<String>,
}

/// What a page says when Telegram could not be read.
fn read_message(e: &ReadError) -> String {
    match e {
        ReadError::NotLive => "This account is not connected to Telegram right now; \
             its session may have ended. Try again in a moment, or log in again."
            .to_owned(),
        ReadError::UnknownChat(_) => "This chat is not in this account's chat list.".to_owned(),
        ReadError::Telegram(m) => match m.retry_after {
            Some(secs) => format!("{} Try again in {secs} s.", m.message),
            None => m.message.clone(),
        },
    }
}

/// Up to two initials of a title, for the avatar.
fn initials(title: &str) -> String {
    let found: String = title
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    if found.is_empty() {
        "?".to_owned()
    } else {
        found
    }
}

fn preview(m: &MessageView) -> String {
    let text = m.text.trim();
    let text = if text.is_empty() {
        m.media_kind.as_deref().unwrap_or("")
    } else {
        text
    };
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn chat_row(c: &ChatView, selected: Option<i64>) -> ChatRow {
    ChatRow {
        id: c.id,
        kind: c.kind,
        title: c.title.clone(),
        initials: initials(&c.title),
        hue: c.id.rem_euclid(6),
        preview: c.last_message.as_ref().map(preview).unwrap_or_default(),
        unread: c.unread_count,
        date: c.last_message.as_ref().map_or(0, |m| m.date),
        when: c
            .last_message
            .as_ref()
            .map(|m| utc(m.date))
            .unwrap_or_default(),
        selected: selected == Some(c.id),
    }
}

fn message_row(m: &MessageView) -> MessageRow {
    MessageRow {
        id: m.id,
        sender: match (&m.sender, m.outgoing) {
            (_, true) => "You".to_owned(),
            (Some(s), false) => s.name.clone(),
            (None, false) => String::new(),
        },
        text: m.text.clone(),
        media: m.media_kind.clone(),
        date: m.date,
        when: utc(m.date),
        edited: m.edit_date.is_some(),
        outgoing: m.outgoing,
    }
}

async fn open_chat(
    state: &AppState,
    account_id: i64,
    chat_id: i64,
    title: String,
    before_id: Option<i32>,
) -> OpenChat {
    let page = HistoryPage {
        chat_id,
        limit: PAGE_SIZE,
        before_id,
        after_id: None,
    };
    match state.chats.history(account_id, page).await {
        Ok(newest_first) => {
            let messages: Vec<MessageRow> = newest_first.iter().rev().map(message_row).collect();
            let older = messages
                .first()
                .filter(|_| messages.len() >= PAGE_SIZE)
                .map(|m| format!("/chats?chat={chat_id}&before={}", m.id));
            OpenChat {
                id: chat_id,
                title,
                messages,
                older,
                error: None,
            }
        }
        Err(e) => OpenChat {
            id: chat_id,
            title,
            messages: Vec::new(),
            older: None,
            error: Some(read_message(&e)),
        },
    }
}

/// `GET /chats[?chat=<id>[&before=<message id>]]`.
pub async fn chats(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<ChatsQuery>,
) -> Result<Html<String>, PageError> {
    let account_id = staff.account.id;
    let connection = match state.pool.liveness(account_id) {
        Some(Liveness::Connected) => "connected",
        Some(Liveness::Starting) => "connecting",
        Some(Liveness::Retrying) => "reconnecting",
        Some(Liveness::Ended(_)) => "ended",
        None => "not running",
    };
    // Taken before reading Telegram, so the live stream misses nothing the
    // page does not show.
    let since = state
        .events
        .latest(account_id)
        .await
        .map_err(Error::internal)?;
    let sessions =
        web_sessions::list_for_account(state.db.pool(), account_id, crate::store::now()).await?;
    let other_sessions = sessions
        .iter()
        .filter(|s| s.id_hash != staff.session.id_hash)
        .count();
    let selected: Option<i64> = q.chat.as_deref().and_then(|c| c.trim().parse().ok());
    let before_id: Option<i32> = q
        .before
        .as_deref()
        .and_then(|b| b.trim().parse().ok())
        .filter(|b| *b > 0);
    let (chats, list_error) = match state.chats.chats(account_id).await {
        Ok(list) => (list.iter().map(|c| chat_row(c, selected)).collect(), None),
        Err(e) => (Vec::new(), Some(read_message(&e))),
    };
    let open = match selected {
        Some(chat_id) if list_error.is_none() => {
            match chats.iter().find(|c: &&ChatRow| c.id == chat_id) {
                Some(c) => {
                    Some(open_chat(&state, account_id, chat_id, c.title.clone(), before_id).await)
                }
                None => Some(OpenChat {
                    id: chat_id,
                    title: "Unknown chat".to_owned(),
                    messages: Vec::new(),
                    older: None,
                    error: Some(read_message(&ReadError::UnknownChat(chat_id))),
                }),
            }
        }
        _ => None,
    };
    let csrf = staff.csrf_token();
    let page = ChatsPage {
        layout: Layout::new("Chats")
            .with_admin_link(crate::auth::admin::is_admin(&state, &staff).await),
        staff: &staff,
        csrf: &csrf,
        connection,
        other_sessions,
        chats,
        list_error,
        open,
        since,
    };
    Ok(Html(page.render()?))
}

/// `GET /chats/{chat_id}/export`: the chat's whole history as a JSON
/// download, for the page's button. The same streamed document as
/// `GET /api/v1/chats/{chat_id}/export`, authenticated by the browser
/// session instead of a token (a GET that changes nothing, so no CSRF
/// token is needed).
pub async fn export(
    State(state): State<AppState>,
    staff: Staff,
    Path(chat_id): Path<String>,
) -> Result<Response, PageError> {
    let chat_id: i64 = chat_id
        .trim()
        .parse()
        .map_err(|_| Error::not_found("There is no such chat."))?;
    Ok(crate::api::export::export_response(state.chats.clone(), staff.account.id, chat_id).await?)
}

#[derive(Deserialize)]
pub struct EventsQuery {
    since: Option<i64>,
}

/// `GET /chats/events[?since=<cursor>]`: the account's new, edited and
/// deleted messages as server-sent events for the open page, resumable with
/// `Last-Event-ID`. Served from the event log: no Telegram call.
pub async fn events(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>>, PageError> {
    let account_id = staff.account.id;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let since = match resume.or(q.since).filter(|c| *c >= 0) {
        Some(c) => c,
        None => state
            .events
            .latest(account_id)
            .await
            .map_err(Error::internal)?,
    };
    Ok(crate::api::chats::event_stream(
        state.events.clone(),
        state.pool.watch_liveness(account_id),
        account_id,
        since,
    ))
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_come_from_the_first_two_words() {
        assert_eq!(initials("Ada Lovelace"), "AL");
        assert_eq!(initials("  friend"), "F");
        assert_eq!(initials("«Team» chat room"), "TC");
        assert_eq!(initials(""), "?");
    }
}
