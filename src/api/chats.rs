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

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::account::own_account;
use super::openapi::ApiError;
use crate::app::AppState;
use crate::auth::tokens::ApiClient;
use crate::events::{Event, EventError, EventLog};
use crate::telegram::chats::{ChatView, HistoryPage, ReadError};
use crate::telegram::pool::Liveness;
use crate::web::error::{Error, Result};

/// Longest long-poll.
const MAX_POLL: Duration = Duration::from_secs(60);
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chats))
        .routes(routes!(messages))
        .routes(routes!(updates))
        .routes(routes!(events))
}

/// The sender of a message.
#[derive(ToSchema)]
#[schema(as = Sender)]
#[allow(dead_code)] // Documents `crate::events::Sender`; a test compares the two.
pub(crate) struct SenderDoc {
    /// Bot API id: users positive, groups negative, channels -100….
    id: i64,
    /// Empty when Telegram did not say (some live updates).
    name: String,
}

/// A message, as history, export, updates and webhooks show it.
#[derive(ToSchema)]
#[schema(as = Message)]
#[allow(dead_code)] // Documents `crate::events::MessageView`; a test compares the two.
pub(crate) struct MessageDoc {
    /// The message id within its chat (channels and supergroups), or
    /// within the account (private chats and small groups).
    id: i32,
    /// Bot API dialog id: users positive, groups negative, channels -100….
    chat_id: i64,
    sender: Option<SenderDoc>,
    /// Unix seconds.
    date: i64,
    text: String,
    /// Unix seconds of the last edit.
    edit_date: Option<i64>,
    /// The message this one replies to.
    reply_to_id: Option<i32>,
    /// `photo`, `document`, `sticker`, `contact`, `poll`, `location`,
    /// `dice`, `web_page` or `other`; the media itself is not served.
    media_kind: Option<String>,
    /// Sent by this account.
    outgoing: bool,
}

/// A chat in the account's list.
#[derive(ToSchema)]
#[schema(as = Chat)]
#[allow(dead_code)] // Documents `crate::telegram::chats::ChatView`; a test compares the two.
pub(crate) struct ChatDoc {
    /// Bot API dialog id: users positive, groups negative, channels -100….
    id: i64,
    /// `user`, `group` or `channel`.
    kind: String,
    title: String,
    username: Option<String>,
    unread_count: i32,
    last_message: Option<MessageDoc>,
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

pub(crate) fn read_error(e: ReadError) -> Error {
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ChatsQuery {
    /// 1 to 100, default 50.
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct ChatsAnswer<'a> {
    #[schema(value_type = Vec<ChatDoc>)]
    chats: Vec<&'a ChatView>,
    /// Give it as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// The account's chats, most recent activity first, a page at a time.
#[utoipa::path(get, path = "/api/v1/chats", tag = "chats",
    security(("bearer" = [])),
    params(ChatsQuery),
    responses(
        (status = 200, body = ChatsAnswer),
        (status = 400, description = "A bad `limit` or `cursor`", body = ApiError),
        (status = 409, description = "The account is not connected (`account_offline`)", body = ApiError),
        (status = 429, description = "Telegram's FLOOD_WAIT; see `Retry-After`", body = ApiError)))]
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
    Ok(axum::Json(json!(ChatsAnswer {
        chats: page,
        next_cursor: (next < all.len()).then(|| next.to_string()),
    })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MessagesQuery {
    /// 1 to 100, default 50.
    limit: Option<usize>,
    /// Messages older than this id, newest first.
    before_id: Option<i32>,
    /// Messages newer than this id, oldest first.
    after_id: Option<i32>,
}

#[derive(Serialize, ToSchema)]
struct MessagesAnswer<'a> {
    /// Newest first, or oldest first with `after_id`.
    #[schema(value_type = Vec<MessageDoc>)]
    messages: &'a [crate::events::MessageView],
}

/// A page of a chat's history: the newest messages, or those before or
/// after a message id.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/messages", tag = "chats",
    security(("bearer" = [])),
    params(("chat_id" = i64, Path, description = "A chat id from `GET /api/v1/chats`"), MessagesQuery),
    responses(
        (status = 200, body = MessagesAnswer),
        (status = 400, description = "A bad `limit`, or both `before_id` and `after_id`", body = ApiError),
        (status = 404, description = "No such chat in the account's list", body = ApiError),
        (status = 409, description = "The account is not connected (`account_offline`)", body = ApiError),
        (status = 429, description = "Telegram's FLOOD_WAIT; see `Retry-After`", body = ApiError)))]
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
    Ok(axum::Json(json!(MessagesAnswer {
        messages: &messages
    })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UpdatesQuery {
    /// Events after this cursor: 0, or `next` of the previous answer.
    since: Option<i64>,
    /// Seconds to wait for a first event, 0 to 60 (default 0: answer at once).
    timeout: Option<u64>,
    /// 1 to 100, default 50.
    limit: Option<usize>,
}

/// A new, edited or deleted message, from the account's event log.
#[derive(ToSchema)]
#[schema(as = Event)]
#[allow(dead_code)] // Documents `event_json`; a test compares the two.
pub(crate) struct EventDoc {
    /// Increases with every event of the account.
    cursor: i64,
    /// `message_new`, `message_edited` or `message_deleted`.
    #[schema(example = "message_new")]
    kind: String,
    chat_id: i64,
    message_id: Option<i64>,
    /// The message, for new and edited ones.
    message: Option<MessageDoc>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // Documents the answer of `updates`.
struct UpdatesAnswer {
    /// Oldest first.
    events: Vec<EventDoc>,
    /// The cursor to give as `since` next time.
    next: i64,
}

/// An event as the API shows it; webhook bodies are this too.
pub(crate) fn event_json(e: &Event) -> Value {
    json!({
        "cursor": e.cursor,
        "kind": e.kind.as_str(),
        "chat_id": e.chat_id,
        "message_id": e.message_id,
        "message": e.message,
    })
}

/// New, edited and deleted messages after a cursor; long-polls with
/// `timeout`. Served from the event log: it costs no Telegram call.
#[utoipa::path(get, path = "/api/v1/updates", tag = "updates",
    security(("bearer" = [])),
    params(UpdatesQuery),
    responses(
        (status = 200, body = UpdatesAnswer),
        (status = 400, description = "A bad `since`, `timeout` or `limit`", body = ApiError),
        (status = 409, description = "The session ended while waiting (`session_ended`)", body = ApiError)))]
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
        let mut liveness = state.pool.watch_liveness(account_id);
        tokio::select! {
            r = state.events.wait(account_id, since, limit, timeout) => r,
            () = session_ended(liveness.as_mut()) => {
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

/// The same events as server-sent events, as they come.
///
/// Each event's `id` is its cursor and its `event` name its kind; its data
/// is an Event as JSON. Without `since` or `Last-Event-ID` it starts with
/// the next event; reconnecting with `Last-Event-ID` resumes. When the
/// account's session ends (logout, reset, revoked) a last `session_ended`
/// event (`{"error","message"}`) is sent and the stream closes.
#[utoipa::path(get, path = "/api/v1/events", tag = "updates",
    security(("bearer" = [])),
    params(
        ("since" = Option<i64>, Query, description = "Start after this cursor"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this cursor (wins over `since`)")),
    responses(
        (status = 200, description = "A stream of events; each `data:` line is an Event as JSON",
            content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad `since`", body = ApiError)))]
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
    Ok(event_stream(
        state.events.clone(),
        state.pool.watch_liveness(account.id),
        account.id,
        since,
    ))
}

/// Resolves once the account's session ends (or its liveness watch closes);
/// never, for an account with no watch.
async fn session_ended(liveness: Option<&mut tokio::sync::watch::Receiver<Liveness>>) {
    match liveness {
        Some(rx) => {
            let _ = rx.wait_for(|l| matches!(l, Liveness::Ended(_))).await;
        }
        None => std::future::pending().await,
    }
}

/// An account's events from `since` on as server-sent events, each with its
/// cursor as id (so a client resumes with `Last-Event-ID`) and its kind as
/// event name. Reads the event log only: it costs no Telegram call. Ends when
/// the log closes for shutdown, and when the account's session ends (logout,
/// reset, revoked from another device) with a last `session_ended` event,
/// so a client is not left listening to a stream that will never speak.
pub(crate) fn event_stream(
    log: EventLog,
    liveness: Option<tokio::sync::watch::Receiver<Liveness>>,
    account_id: i64,
    since: i64,
) -> Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>> + use<>> {
    struct Cursor {
        log: EventLog,
        liveness: Option<tokio::sync::watch::Receiver<Liveness>>,
        at: i64,
        pending: std::collections::VecDeque<Event>,
        ended: bool,
    }
    let start = Cursor {
        log,
        liveness,
        at: since,
        pending: std::collections::VecDeque::new(),
        ended: false,
    };
    let stream = futures_util::stream::unfold(start, move |mut c| async move {
        loop {
            if let Some(e) = c.pending.pop_front() {
                let data = event_json(&e).to_string();
                let sse = SseEvent::default()
                    .id(e.cursor.to_string())
                    .event(e.kind.as_str())
                    .data(data);
                c.at = e.cursor;
                return Some((Ok(sse), c));
            }
            if c.ended {
                return None;
            }
            let waited = tokio::select! {
                r = c.log.wait(account_id, c.at, 100, MAX_POLL) => Some(r),
                () = session_ended(c.liveness.as_mut()) => None,
            };
            match waited {
                Some(Ok(found)) if found.is_empty() && c.log.is_closing() => return None,
                Some(Ok(found)) => c.pending = found.into(),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "event stream stopped");
                    return None;
                }
                None => {
                    c.ended = true;
                    let data = json!({
                        "error": "session_ended",
                        "message": "This account's Telegram session ended; log in again.",
                    });
                    let sse = SseEvent::default()
                        .event("session_ended")
                        .data(data.to_string());
                    return Some((Ok(sse), c));
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
