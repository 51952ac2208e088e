//! tgdesk's integration tests: one binary (every file under `tests/` would be
//! linked separately), one module per area.
//!
//! Storage-level tests run on SQLite always and on PostgreSQL when
//! `TGDESK_TEST_POSTGRES_URL` is set; `TEST_LOG=1` shows tracing output.

/// Declares each listed `async fn name(t: &TestDb)` as two tests,
/// `sqlite::name` and `postgres::name`, each on a fresh database.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let t = crate::helpers::TestDb::sqlite().await;
                    super::$name(&t).await;
                    t.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(t) = crate::helpers::TestDb::postgres().await else {
                        return;
                    };
                    super::$name(&t).await;
                    t.cleanup().await;
                }
            )*
        }
    };
}

mod admin;
mod admin_cli;
mod admin_reset;
mod admin_store;
mod api_chats;
mod chats_page;
mod cli;
mod cors;
mod export;
mod helpers;
mod log_secrets;
mod login_api;
mod login_browser;
mod login_pages;
mod login_rules;
mod login_secrets;
mod login_support;
mod logs;
mod metrics;
mod openapi;
mod pool;
mod session;
mod store;
mod telegram;
mod vault;
mod web;
mod webhooks;
mod webhooks_api;
