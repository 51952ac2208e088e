//! Chats, history and updates for programs. The chat list and history come
//! from Telegram through the account's live client (briefly cached); updates
//! come from the account's event log, so polling, long-polling and SSE cost
//! no Telegram call.
//!
//! - `GET /api/v1/chats?limit=&cursor=`
//! - `GET /api/v1/chats/{chat_id}/messages?limit=&before_id=&after_id=`
//! - `GET /api/v1/updates?since=&timeout=&limit=` (long-poll, up to 60 s)
//! - `GET /api/v1/events` (SSE, resumable with `Last-Event-ID`)

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::account::own_account;
use crate::app::AppState;
use crate::auth::tokens::ApiClient;
use crate::events::{Event, EventError, EventLog};
use crate::telegram::chats::{HistoryPage, ReadError};
use crate::telegram::pool::Liveness;
use crate::web::error::{Error, Result};

/// Longest long-poll.
const MAX_POLL: Duration = Duration::from_secs(60);
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/chats", get(chats))
        .route("/api/v1/chats/{chat_id}/messages", get(messages))
        .route("/api/v1/updates", get(updates))
        .route("/api/v1/events", get(events))
}

/// Query parameters whose rejection is our error format.
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| Error::bad_request("invalid_query", e.body_text()))
    }
}

fn read_error(e: ReadError) -> Error {
    match e {
        ReadError::NotLive => Error::conflict(
            "account_offline",
            "This account is not connected to Telegram right now (its session may have ended); see GET /api/v1/session.",
        ),
        ReadError::UnknownChat(id) => {
            Error::not_found(format!("No chat {id} in this account's chat list."))
        }
        ReadError::Telegram(m) => {
            let status = StatusCode::from_u16(m.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let e = Error::new(status, m.code, m.message);
            match m.retry_after {
                Some(secs) => e.with_retry_after(u64::from(secs)),
                None => e,
            }
        }
    }
}

fn event_error(e: EventError) -> Error {
    Error::internal(e)
}

fn limit_of(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}."),
        )),
    }
}

#[derive(Deserialize)]
struct ChatsQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn chats(
    State(state): State<AppState>,
    client: ApiClient,
    ApiQuery(q): ApiQuery<ChatsQuery>,
) -> Result<axum::Json<Value>> {
    let account = own_account(&client)?;
    let limit = limit_of(q.limit)?;
    let offset: usize = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().map_err(|_| {
            Error::bad_request(
                "invalid_cursor",
                "cursor must be a next_cursor value from an earlier answer.",
            )
        })?,
    };
    let all = state.chats.chats(account.id).await.map_err(read_error)?;
    let page: Vec<_> = all.iter().skip(offset).take(limit).collect();
    let next = offset + page.len();
    Ok(axum::Json(json!({
        "chats": page,
        "next_cursor": (next < all.len()).then(|| next.to_string()),
    })))
}

#[derive(Deserialize)]
struct MessagesQuery {
    limit: Option<usize>,
    before_id: Option<i32>,
    after_id: Option<i32>,
}

async fn messages(
    State(state): State<AppState>,
    client: ApiClient,
    Path(chat_id): Path<String>,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<axum::Json<Value>> {
    let account = own_account(&client)?;
    let chat_id: i64 = chat_id
        .parse()
        .map_err(|_| Error::not_found("Chat ids are numbers, as GET /api/v1/chats lists them."))?;
    if q.before_id.is_some() && q.after_id.is_some() {
        return Err(Error::bad_request(
            "invalid_query",
            "Give before_id or after_id, not both.",
        ));
    }
    let page = HistoryPage {
        chat_id,
        limit: limit_of(q.limit)?,
        before_id: q.before_id,
        after_id: q.after_id,
    };
    let messages = state
        .chats
        .history(account.id, page)
        .await
        .map_err(read_error)?;
    Ok(axum::Json(json!({ "messages": *messages })))
}

#[derive(Deserialize)]
struct UpdatesQuery {
    since: Option<i64>,
    timeout: Option<u64>,
    limit: Option<usize>,
}

fn event_json(e: &Event) -> Value {
    json!({
        "cursor": e.cursor,
        "kind": e.kind.as_str(),
        "chat_id": e.chat_id,
        "message_id": e.message_id,
        "message": e.message,
    })
}

async fn updates(
    State(state): State<AppState>,
    client: ApiClient,
    ApiQuery(q): ApiQuery<UpdatesQuery>,
) -> Result<axum::Json<Value>> {
    let account = own_account(&client)?;
    let limit = limit_of(q.limit)? as i64;
    let timeout = Duration::from_secs(q.timeout.unwrap_or(0));
    if timeout > MAX_POLL {
        return Err(Error::bad_request(
            "invalid_timeout",
            "timeout is in seconds, at most 60.",
        ));
    }
    let since = match q.since {
        Some(s) if s >= 0 => s,
        Some(_) => {
            return Err(Error::bad_request(
                "invalid_since",
                "since is a cursor: 0 or a next value from an earlier answer.",
            ));
        }
        None => 0,
    };
    let account_id = account.id;
    let found = if timeout.is_zero() {
        state.events.read(account_id, since, limit).await
    } else {
        // A poller is told at once when the account's session ends, rather
        // than waiting out its timeout.
        let ended = async {
            match state.pool.watch_liveness(account_id) {
                Some(mut rx) => {
                    let _ = rx.wait_for(|l| matches!(l, Liveness::Ended(_))).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = state.events.wait(account_id, since, limit, timeout) => r,
            () = ended => {
                return Err(Error::conflict(
                    "session_ended",
                    "This account's Telegram session ended; log in again.",
                ));
            }
        }
    }
    .map_err(event_error)?;
    let next = found.last().map_or(since, |e| e.cursor);
    Ok(axum::Json(json!({
        "events": found.iter().map(event_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

async fn events(
    State(state): State<AppState>,
    client: ApiClient,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<UpdatesQuery>,
) -> Result<Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>> + use<>>> {
    let account = own_account(&client)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let since = match (resume, q.since) {
        (Some(c), _) | (None, Some(c)) if c >= 0 => c,
        (None, None) => state.events.latest(account.id).await.map_err(event_error)?,
        _ => {
            return Err(Error::bad_request(
                "invalid_since",
                "since and Last-Event-ID are cursors: 0 or larger.",
            ));
        }
    };
    Ok(event_stream(state.events.clone(), account.id, since))
}

/// An account's events from `since` on as server-sent events, each with its
/// cursor as id (so a client resumes with `Last-Event-ID`) and its kind as
/// event name. Reads the event log only: it costs no Telegram call. Ends when
/// the log closes for shutdown.
pub(crate) fn event_stream(
    log: EventLog,
    account_id: i64,
    since: i64,
) -> Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>> + use<>> {
    let stream = futures_util::stream::unfold(
        (log, since, Vec::<Event>::new()),
        move |(log, cursor, mut pending)| async move {
            loop {
                if !pending.is_empty() {
                    let e = pending.remove(0);
                    let data = event_json(&e).to_string();
                    let sse = SseEvent::default()
                        .id(e.cursor.to_string())
                        .event(e.kind.as_str())
                        .data(data);
                    return Some((Ok(sse), (log, e.cursor, pending)));
                }
                match log.wait(account_id, cursor, 100, MAX_POLL).await {
                    Ok(found) if found.is_empty() && log.is_closing() => return None,
                    Ok(found) => pending = found,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream stopped");
                        return None;
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
