//! One error type for the HTTP layer, two renderers.
//!
//! [`Error`] carries a status, a stable snake_case code and a message a
//! person can act on. As a response it is JSON,
//! `{"error": "<code>", "message": "…"}` (plus `Retry-After` when there is
//! one); wrapped in [`PageError`] it is an HTML page. Internal errors go out
//! with a generic message: their cause travels in a response extension to
//! [`log_internal_errors`], which logs it once with its whole chain, so no
//! handler and no `into_response` logs or leaks it.

use std::borrow::Cow;
use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::Layout;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An HTTP-facing error.
#[derive(Debug)]
pub struct Error {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    retry_after: Option<u64>,
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

const INTERNAL_MESSAGE: &str =
    "Something went wrong on our side. It has been logged; please try again.";

impl Error {
    /// An error with an explicit status and code.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            cause: None,
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: the caller's own credentials are missing or wrong.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the caller is known but may not do this.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409.
    pub fn conflict(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
        retry_after_secs: u64,
    ) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, code, message).with_retry_after(retry_after_secs)
    }

    /// 503: a dependency (Telegram, the database) is unavailable.
    pub fn unavailable(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// 500 with a generic message; `cause` is logged, never sent.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            INTERNAL_MESSAGE,
        );
        error.cause = Some(Arc::new(cause));
        error
    }

    /// The same error under another stable code.
    pub fn with_code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        self.code = code.into();
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    fn finish(&self, mut response: Response) -> Response {
        *response.status_mut() = self.status;
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(cause) = &self.cause {
            response
                .extensions_mut()
                .insert(InternalCause(Arc::clone(cause)));
        }
        response
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

#[derive(serde::Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = Json(Body {
            error: &self.code,
            message: &self.message,
        })
        .into_response();
        self.finish(body)
    }
}

macro_rules! internal_from {
    ($($ty:ty),* $(,)?) => {
        $(impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::internal(e)
            }
        })*
    };
}

internal_from!(
    crate::store::StoreError,
    crate::vault::VaultError,
    crate::telegram::session::SessionError,
    askama::Error,
);

/// The same error, rendered as an HTML page for browsers.
#[derive(Debug)]
pub struct PageError(pub Error);

impl<E: Into<Error>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let error = self.0;
        let page = ErrorPage {
            layout: Layout::new(error.status.canonical_reason().unwrap_or("Error")),
            status: error.status.as_u16(),
            reason: error.status.canonical_reason().unwrap_or("Error"),
            message: &error.message,
        };
        let body = match page.render() {
            Ok(html) => Html(html).into_response(),
            // The template is compiled in; if it still fails, say so plainly.
            Err(_) => (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                error.message.to_string(),
            )
                .into_response(),
        };
        error.finish(body)
    }
}

/// The cause of an internal error, carried from `into_response` to the
/// logging middleware.
#[derive(Clone)]
struct InternalCause(Arc<dyn std::error::Error + Send + Sync>);

/// Logs internal errors once, with their cause chain, method and path.
pub async fn log_internal_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    // The route pattern, not the raw path: a login flow id in a path is a
    // credential and must not reach the logs.
    let path = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(inner) = source {
            chain.push_str(": ");
            chain.push_str(&inner.to_string());
            source = inner.source();
        }
        tracing::error!(%method, %path, status = response.status().as_u16(), error = %chain, "request failed");
    }
    response
}
