//! tgdesk: staff log into their own Telegram accounts through a web page; the
//! sessions are kept sealed in a database and the accounts' chats are served
//! to people (HTML) and programs (JSON).
//!
//! The binary (`src/main.rs`) only parses the command line and calls
//! [`cli::run`]; everything else is built here, so the tests run the same
//! code. `DESIGN.md` has the map: `web/` → `telegram/` → `vault/` → `store/`.

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod events;
pub mod metrics;
pub mod phone;
pub mod secret;
pub mod store;
pub mod telegram;
pub mod telemetry;
pub mod vault;
pub mod web;
pub mod webhooks;
