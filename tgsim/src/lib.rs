//! tgsim: a small simulated Telegram. One or more data centres speak real
//! MTProto 2.0 over TCP with pre-shared auth keys, so an unmodified grammers
//! client is what tests and demos exercise, without reaching Telegram.

mod conn;
pub mod control;
pub mod crypto;
pub mod faults;
pub mod hub;
pub mod rpc;
mod server;
pub mod transport;
pub mod world;

pub use faults::{FaultSpec, Faults};
pub use server::{DcAddr, Sim, SimConfig, Stats};
pub use world::{World, WorldSpec};
