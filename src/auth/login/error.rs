//! Why a login step did not go through, and how that reads over HTTP.

use crate::auth::limits::{Limited, Scope};
use crate::store::StoreError;
use crate::telegram::errors::FlowNext;
use crate::telegram::flows::FlowError;
use crate::telegram::session::SessionError;
use crate::vault::VaultError;
use crate::web::error::Error;

/// Why a login step did not go through.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// What was typed cannot be right (checked before asking Telegram).
    #[error("{message}")]
    Input { code: &'static str, message: String },
    #[error("too many login attempts")]
    Limited(Limited),
    #[error("this Telegram account may not log in here")]
    NotAllowed,
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// What a page does after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Show the same step again, with the message.
    Stay,
    /// The flow is over: back to the start, with the message.
    StartAgain,
}

impl LoginError {
    pub(super) fn input(code: &'static str, message: impl Into<String>) -> Self {
        LoginError::Input {
            code,
            message: message.into(),
        }
    }

    /// Whether the flow can go on after this error.
    pub fn after(&self) -> After {
        match self {
            LoginError::Input { .. } | LoginError::Limited(_) => After::Stay,
            LoginError::Flow(FlowError::Telegram(m)) => match m.next {
                FlowNext::Stay => After::Stay,
                FlowNext::BackToPhone | FlowNext::NewQr | FlowNext::Failed => After::StartAgain,
            },
            LoginError::Flow(FlowError::WrongStep { .. } | FlowError::Backend(_)) => After::Stay,
            _ => After::StartAgain,
        }
    }

    /// The error as recorded in login attempts: (outcome, Telegram error).
    pub(super) fn record(&self) -> (&'static str, Option<String>) {
        match self {
            LoginError::Input { code, .. } => (code, None),
            LoginError::Limited(_) => ("rate_limited", None),
            LoginError::NotAllowed => ("not_allowed", None),
            LoginError::Flow(FlowError::Telegram(m)) => (m.code, Some(m.telegram_error.clone())),
            LoginError::Flow(FlowError::NotFound) => ("login_expired", None),
            LoginError::Flow(FlowError::TooManyTries) => ("too_many_attempts", None),
            LoginError::Flow(FlowError::WrongStep { .. }) => ("wrong_step", None),
            LoginError::Flow(FlowError::Backend(_)) => ("telegram_unavailable", None),
            _ => ("internal", None),
        }
    }
}

impl LoginError {
    /// The error as a person or program sees it. Internal causes are not
    /// part of it (see the `From` conversion, which keeps them for the log).
    pub(super) fn public(&self) -> Error {
        match self {
            LoginError::Input { code, message } => Error::bad_request(*code, message.clone()),
            LoginError::Limited(limited) => {
                let limited = *limited;
                let secs = limited.retry_after.as_secs().max(1);
                let what = match limited.scope {
                    Scope::Address => "Too many login attempts came from your network",
                    Scope::Phone => "Too many login codes were asked for this number",
                };
                Error::too_many_requests(
                    "rate_limited",
                    format!("{what}. Try again in {}.", human_duration(secs)),
                    secs,
                )
            }
            LoginError::NotAllowed => Error::forbidden(
                "This Telegram account may not use this tgdesk. Ask an administrator to add it to the allowlist.",
            )
            .with_code("not_allowed"),
            LoginError::Flow(flow) => flow_error(flow),
            LoginError::Store(_) | LoginError::Vault(_) | LoginError::Session(_) => {
                Error::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on our side. It has been logged; please try again.",
                )
            }
        }
    }
}

impl From<LoginError> for Error {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Store(e) => Error::internal(e),
            LoginError::Vault(e) => Error::internal(e),
            LoginError::Session(e) => Error::internal(e),
            LoginError::Flow(FlowError::Internal(cause)) => {
                Error::internal(FlowError::Internal(cause))
            }
            other => other.public(),
        }
    }
}

/// The HTTP face of a flow error.
pub(super) fn flow_error(e: &FlowError) -> Error {
    match e {
        FlowError::NotFound => Error::not_found(
            "This login has expired, was cancelled, or the service restarted since it began. Start again.",
        )
        .with_code("login_expired"),
        FlowError::WrongStep { expected, actual } => Error::conflict(
            "wrong_step",
            format!(
                "This login is not waiting for that: it is {}, not {}.",
                actual.replace('_', " "),
                expected.replace('_', " ")
            ),
        ),
        FlowError::TooManyTries => Error::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "Too many wrong attempts for this login. Start again.",
        ),
        FlowError::Telegram(m) => {
            let status = axum::http::StatusCode::from_u16(m.status)
                .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
            let error = Error::new(status, m.code, m.message.clone());
            match m.retry_after {
                Some(secs) => error.with_retry_after(u64::from(secs)),
                None => error,
            }
        }
        FlowError::Backend(e) => {
            tracing::warn!(error = %e, "Telegram backend unavailable during login");
            Error::unavailable(
                "telegram_unavailable",
                "Telegram is not answering right now. Nothing was lost; try again in a minute.",
            )
        }
        FlowError::Internal(_) => Error::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side. It has been logged; please try again.",
        ),
    }
}

/// "3 minutes", "1 hour", "45 seconds".
pub fn human_duration(secs: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match secs {
        0..=59 => plural(secs.max(1), "second"),
        60..=3599 => plural(secs.div_ceil(60), "minute"),
        _ => plural(secs.div_ceil(3600), "hour"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human_duration(0), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(60), "1 minute");
        assert_eq!(human_duration(61), "2 minutes");
        assert_eq!(human_duration(3600), "1 hour");
        assert_eq!(human_duration(7201), "3 hours");
    }
}
