//! Tracing: human-readable logs on stderr, filtered by `TGDESK_LOG`
//! (`tracing_subscriber::EnvFilter` syntax, default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Later calls (tests) do nothing.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
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
