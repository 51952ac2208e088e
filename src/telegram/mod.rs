//! Everything that talks to Telegram (or tgsim) through grammers.

pub mod backend;
pub mod calls;
pub mod chats;
pub mod client;
pub mod errors;
pub mod flows;
pub mod login;
pub mod pool;
pub mod session;
