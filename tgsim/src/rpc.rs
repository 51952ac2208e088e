//! What the protocol layer hands to the world for each remote call, and what
//! it expects back. The protocol layer has already unwrapped `invokeWithLayer`,
//! `initConnection`, `invokeAfterMsg(s)` and `invokeWithoutUpdates`, counted the
//! call and applied injected faults.

use std::fmt;

/// One remote call, as the world sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The data centre whose listener the call arrived on.
    pub dc_id: i32,
    /// Telegram's auth_key_id: the last 8 bytes of SHA-1 of the key, little endian.
    pub auth_key_id: i64,
    /// The client's MTProto session id.
    pub session_id: i64,
    /// The bare TL function, constructor id first.
    pub body: &'a [u8],
}

/// An `rpc_error` as Telegram sends it: an HTTP-like code and an upper-case name
/// such as `FLOOD_WAIT_30` or `PHONE_CODE_INVALID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcErr {
    pub code: i32,
    pub message: String,
}

impl RpcErr {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// 400 with the given name.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 401 AUTH_KEY_UNREGISTERED: the key is not bound to a logged-in user.
    pub fn unauthorized() -> Self {
        Self::new(401, "AUTH_KEY_UNREGISTERED")
    }

    /// The code Telegram uses for an error name, so injected faults look real.
    pub fn from_name(name: &str) -> Self {
        let code = if name.starts_with("FLOOD_WAIT_") || name.starts_with("FLOOD_PREMIUM_WAIT_") {
            420
        } else if name.ends_with("_MIGRATE") || name.contains("_MIGRATE_") {
            303
        } else if matches!(
            name,
            "AUTH_KEY_UNREGISTERED"
                | "AUTH_KEY_INVALID"
                | "USER_DEACTIVATED"
                | "USER_DEACTIVATED_BAN"
                | "SESSION_REVOKED"
                | "SESSION_EXPIRED"
                | "SESSION_PASSWORD_NEEDED"
                | "AUTH_KEY_PERM_EMPTY"
        ) {
            401
        } else if name == "AUTH_KEY_DUPLICATED" {
            406
        } else if matches!(name, "INTERNAL" | "RPC_CALL_FAIL" | "AUTH_RESTART")
            || name.starts_with("INTERNAL")
        {
            500
        } else {
            400
        };
        Self::new(code, name)
    }
}

impl fmt::Display for RpcErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rpc error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcErr {}

/// The result of a call: the serialized TL return value, or an rpc_error.
pub type Reply = Result<Vec<u8>, RpcErr>;
