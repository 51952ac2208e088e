//! A chat's whole history as one JSON document, streamed:
//! `GET /api/v1/chats/{chat_id}/export?format=json`, and the chat page's
//! download (`/chats/{chat_id}/export`, cookie-authenticated), which share
//! [`export_response`].
//!
//! Memory stays constant however long the history: the body is a stream
//! that asks Telegram for one page ([`EXPORT_PAGE`] messages, not cached),
//! writes it out and drops it before asking for the next, so at most one
//! page is held at a time. Telegram is paged politely: a pause of
//! [`PAGE_PAUSE`] between pages.
//!
//! FLOOD_WAIT: a short one (up to the configured `flood_sleep_secs`) is
//! slept as for every read. Before anything is sent, a longer one is a 429
//! with `Retry-After`, like any other read. Once the stream has started,
//! a wait up to [`MAX_STREAM_WAIT`] is waited out and the export goes on;
//! a longer one (or any other failure) ends the document early but still
//! as valid JSON, with `"complete": false` and an `"error"` object in the
//! API's error format. A finished export ends with `"complete": true`.
//!
//! Messages come newest first, as Telegram pages history; each has the
//! shape of `GET /api/v1/chats/{chat_id}/messages`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::account::own_account;
use super::chats::{ApiQuery, ChatDoc, MessageDoc, read_error};
use super::openapi::ApiError;
use crate::app::AppState;
use crate::auth::tokens::ApiClient;
use crate::events::MessageView;
use crate::telegram::chats::{ChatReader, HistoryPage, ReadError};
use crate::web::error::{Error, Result};

/// Messages asked of Telegram per page (Telegram's own maximum).
pub const EXPORT_PAGE: usize = 100;
/// The pause between two pages.
pub const PAGE_PAUSE: Duration = Duration::from_millis(200);
/// The longest FLOOD_WAIT waited out once the export has started.
pub const MAX_STREAM_WAIT: Duration = Duration::from_secs(60);
/// How many FLOOD_WAITs one page may wait out before the export gives up.
const MAX_WAITS_PER_PAGE: u32 = 3;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `json` (the default and, for now, the only format).
    format: Option<String>,
}

/// The exported document, as it is streamed.
#[derive(ToSchema)]
#[schema(as = ChatExport)]
#[allow(dead_code)] // Documents the streamed body; the export tests parse it.
struct ExportDoc {
    chat: ChatDoc,
    /// Unix seconds when the export started.
    exported_at: i64,
    /// Always `newest_first`.
    #[schema(example = "newest_first")]
    order: String,
    /// The whole history, newest first, each message exactly once.
    messages: Vec<MessageDoc>,
    /// False when the export was cut short; `error` then says why.
    complete: bool,
    error: Option<ApiError>,
}

/// The chat's whole history as one JSON document, streamed.
///
/// Messages come newest first, shaped as in `GET /api/v1/chats/{chat_id}/messages`.
/// Telegram is asked for 100 messages at a time with a short pause between pages,
/// so a long chat takes a while. A FLOOD_WAIT before anything is sent answers 429
/// with `Retry-After`; once streaming, waits up to 60 s are waited out, and a
/// longer one ends the document with `"complete": false` and an `error`
/// object. A finished export ends with `"complete": true`.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/export", tag = "chats",
    security(("bearer" = [])),
    params(("chat_id" = i64, Path, description = "A chat id from `GET /api/v1/chats`"), ExportQuery),
    responses(
        (status = 200, description = "The export, as an attachment `chat-<id>.json`", body = ExportDoc),
        (status = 400, description = "A format other than `json` (`invalid_format`)", body = ApiError),
        (status = 404, description = "No such chat in the account's list", body = ApiError),
        (status = 409, description = "The account is not connected (`account_offline`)", body = ApiError),
        (status = 429, description = "Telegram's FLOOD_WAIT before the export started; see `Retry-After`", body = ApiError)))]
async fn export(
    State(state): State<AppState>,
    client: ApiClient,
    Path(chat_id): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response> {
    let account = own_account(&client)?;
    match q.format.as_deref() {
        None | Some("json") => {}
        Some(_) => {
            return Err(Error::bad_request(
                "invalid_format",
                "format must be json, the only export format.",
            ));
        }
    }
    let chat_id: i64 = chat_id
        .trim()
        .parse()
        .map_err(|_| Error::not_found("Chat ids are numbers, as GET /api/v1/chats lists them."))?;
    export_response(state.chats.clone(), account.id, chat_id).await
}

fn first_page(chat_id: i64, before_id: Option<i32>) -> HistoryPage {
    HistoryPage {
        chat_id,
        limit: EXPORT_PAGE,
        before_id,
        after_id: None,
    }
}

/// Starts an export of `chat_id` for `account_id`: checks the chat is in
/// the account's list and reads the first page, so that an unknown chat,
/// an offline account or a long FLOOD_WAIT is a plain error answer; then
/// streams the rest (see the module documentation).
pub async fn export_response(
    reader: ChatReader,
    account_id: i64,
    chat_id: i64,
) -> Result<Response> {
    let chat = {
        let chats = reader.chats(account_id).await.map_err(read_error)?;
        chats
            .iter()
            .find(|c| c.id == chat_id)
            .cloned()
            .ok_or_else(|| read_error(ReadError::UnknownChat(chat_id)))?
    };
    let first = reader
        .history_uncached(account_id, first_page(chat_id, None))
        .await
        .map_err(read_error)?;
    let head = format!(
        "{{\"chat\":{},\"exported_at\":{},\"order\":\"newest_first\",\"messages\":[",
        serde_json::to_string(&chat).map_err(Error::internal)?,
        crate::store::now(),
    );
    let export = Export {
        reader,
        account_id,
        chat_id,
        stage: Stage::Head(head, first),
        written: 0,
    };
    let stream = futures_util::stream::unfold(export, |mut export| async move {
        let chunk = export.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), export))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"chat-{chat_id}.json\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Where the stream is.
enum Stage {
    /// The document's start and the first page, read before answering.
    Head(String, Vec<MessageView>),
    /// More pages to read, older than this message id.
    Before(i32),
    /// History exhausted: close the document.
    Finish,
    /// Cut short: close the document with this error.
    Fail(Error),
    Done,
}

struct Export {
    reader: ChatReader,
    account_id: i64,
    chat_id: i64,
    stage: Stage,
    /// Messages written so far.
    written: u64,
}

impl Export {
    /// The next piece of the document, or `None` once it is closed.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Head(mut out, first) => {
                self.stage = self.after(&first);
                self.write_page(&mut out, &first);
                Some(Bytes::from(out))
            }
            Stage::Before(before_id) => {
                tokio::time::sleep(PAGE_PAUSE).await;
                match self.fetch(before_id).await {
                    Ok(page) => {
                        self.stage = self.after(&page);
                        let mut out = String::new();
                        self.write_page(&mut out, &page);
                        Some(Bytes::from(out))
                    }
                    Err(error) => self.close(Some(error)),
                }
            }
            Stage::Finish => self.close(None),
            Stage::Fail(error) => self.close(Some(error)),
            Stage::Done => None,
        }
    }

    /// What follows a page: a full page may have more before it.
    fn after(&self, page: &[MessageView]) -> Stage {
        match page.last() {
            Some(oldest) if page.len() >= EXPORT_PAGE => Stage::Before(oldest.id),
            _ => Stage::Finish,
        }
    }

    fn write_page(&mut self, out: &mut String, page: &[MessageView]) {
        for message in page {
            match serde_json::to_string(message) {
                Ok(json) => {
                    if self.written > 0 {
                        out.push(',');
                    }
                    out.push_str(&json);
                    self.written += 1;
                }
                Err(e) => {
                    self.stage = Stage::Fail(Error::internal(e));
                    return;
                }
            }
        }
    }

    /// `],"complete":…}`: the document ends valid JSON either way.
    fn close(&mut self, error: Option<Error>) -> Option<Bytes> {
        self.stage = Stage::Done;
        let tail = match error {
            None => {
                tracing::info!(
                    chat_id = self.chat_id,
                    messages = self.written,
                    "chat export finished"
                );
                "],\"complete\":true}".to_owned()
            }
            Some(e) => {
                tracing::warn!(
                    chat_id = self.chat_id,
                    messages = self.written,
                    error = %e,
                    "chat export cut short"
                );
                let body = serde_json::json!({ "error": e.code(), "message": e.message() });
                format!("],\"complete\":false,\"error\":{body}}}")
            }
        };
        Some(Bytes::from(tail))
    }

    /// A page older than `before_id`, waiting out FLOOD_WAITs up to
    /// [`MAX_STREAM_WAIT`]: the client is already receiving the export.
    async fn fetch(&self, before_id: i32) -> std::result::Result<Vec<MessageView>, Error> {
        let mut waits = 0;
        loop {
            let page = first_page(self.chat_id, Some(before_id));
            match self.reader.history_uncached(self.account_id, page).await {
                Ok(messages) => return Ok(messages),
                Err(ReadError::Telegram(m))
                    if waits < MAX_WAITS_PER_PAGE
                        && m.retry_after.is_some_and(|secs| {
                            Duration::from_secs(u64::from(secs)) <= MAX_STREAM_WAIT
                        }) =>
                {
                    let secs = u64::from(m.retry_after.unwrap_or(0));
                    tracing::info!(
                        chat_id = self.chat_id,
                        seconds = secs,
                        "FLOOD_WAIT during a chat export: waiting"
                    );
                    waits += 1;
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                }
                Err(e) => return Err(read_error(e)),
            }
        }
    }
}
