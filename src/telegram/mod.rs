//! Everything that talks to Telegram (or tgsim) through grammers.

pub mod session;
