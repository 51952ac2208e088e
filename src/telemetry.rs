//! Tracing: log lines on stderr, filtered by `TGDESK_LOG`
//! (`tracing_subscriber::EnvFilter` syntax, default `info,grammers=warn`),
//! written for people or, with `TGDESK_LOG_FORMAT=json`, as one JSON object
//! per line for log collectors.
//!
//! Context travels in spans, not in each call: every line logged while a
//! request is handled carries its `request_id` (see `app::request_id`), and
//! every line about a live account carries its `account_id` (the pool's
//! `account` span, the chat reads' spans). In JSON the current span's fields
//! are under `span` and the whole chain under `spans`.

use std::fmt;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// How log lines are written (`TGDESK_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Plain text for a terminal or the journal (the default).
    #[default]
    Human,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`
    /// (the message and the event's fields), `span` and `spans`.
    Json,
}

/// A `TGDESK_LOG_FORMAT` that is neither `json` nor `human`.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a log format: expected json or human")]
pub struct BadLogFormat(String);

impl FromStr for LogFormat {
    type Err = BadLogFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "human" | "text" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            _ => Err(BadLogFormat(s.trim().to_owned())),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Human => "human",
            LogFormat::Json => "json",
        })
    }
}

/// Installs the global subscriber. Later calls (tests) do nothing. A filter
/// that does not parse (the configuration checks it first) falls back to
/// `info`.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

/// For tests: logs only when `TEST_LOG` is set (to anything), with the
/// filter from `TGDESK_LOG` or `debug`, through the test harness's capture.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let filter = std::env::var("TGDESK_LOG").unwrap_or_else(|_| "debug".into());
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
