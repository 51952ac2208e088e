//! The one table of Telegram errors: for each error name a login or an
//! account can meet, the HTTP status, a stable snake_case code, a message a
//! person can act on, what happens to a login flow and what it says about
//! the account. Web pages and the JSON API render from this table only.

use grammers_mtsender::InvocationError;

/// What a login flow does after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowNext {
    /// Same step again (a mistyped code or password).
    Stay,
    /// Back to entering the phone number (the code expired).
    BackToPhone,
    /// A new QR code is needed (the token expired).
    NewQr,
    /// The flow cannot go on; start again.
    Failed,
}

/// What an error says about a logged-in account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountImpact {
    /// Nothing: the error is about this one request.
    None,
    /// The authorisation is gone (logged out from another device, expired):
    /// the account is `revoked` and its keys are shredded.
    Revoked,
    /// Telegram deactivated or banned the user.
    Deactivated,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// HTTP status to answer with.
    pub status: u16,
    /// Stable snake_case code for the JSON API.
    pub code: &'static str,
    /// A message a person can act on. Never contains secrets.
    pub message: String,
    pub next: FlowNext,
    pub account: AccountImpact,
    /// Seconds to wait, for 429 answers.
    pub retry_after: Option<u32>,
    /// The Telegram error name, for the records (login attempts, logs).
    pub telegram_error: String,
}

fn row(
    status: u16,
    code: &'static str,
    message: impl Into<String>,
    next: FlowNext,
    account: AccountImpact,
) -> Mapped {
    Mapped {
        status,
        code,
        message: message.into(),
        next,
        account,
        retry_after: None,
        telegram_error: String::new(),
    }
}

const UNAVAILABLE: &str =
    "Telegram is not answering right now. Nothing was lost; try again in a minute.";

/// Maps a Telegram error to its row.
pub fn map(err: &InvocationError) -> Mapped {
    use AccountImpact as A;
    use FlowNext as N;
    let InvocationError::Rpc(rpc) = err else {
        // I/O, transport, a dropped connection: Telegram is unreachable.
        let mut m = row(503, "telegram_unavailable", UNAVAILABLE, N::Stay, A::None);
        m.telegram_error = match err {
            InvocationError::Io(_) => "IO_ERROR".into(),
            InvocationError::Transport(_) => "TRANSPORT_ERROR".into(),
            InvocationError::Dropped(_) => "CONNECTION_DROPPED".into(),
            _ => "CLIENT_ERROR".into(),
        };
        return m;
    };
    let name = rpc.name.as_str();
    let mut m = match name {
        "PHONE_NUMBER_INVALID" => row(
            400,
            "phone_number_invalid",
            "Telegram says this phone number is not valid. Enter it in international format, e.g. +44 20 7946 0958.",
            N::Stay,
            A::None,
        ),
        "PHONE_NUMBER_UNOCCUPIED" => row(
            400,
            "phone_number_unoccupied",
            "No Telegram account uses this number. Sign up in a Telegram app first, then log in here.",
            N::Stay,
            A::None,
        ),
        "PHONE_NUMBER_BANNED" => row(
            403,
            "phone_number_banned",
            "Telegram has banned this phone number. Contact Telegram support.",
            N::Failed,
            A::Deactivated,
        ),
        "PHONE_NUMBER_FLOOD" => row(
            429,
            "phone_number_flood",
            "Telegram has sent too many codes to this number and refuses to send more for now. Try again in a few hours.",
            N::Failed,
            A::None,
        ),
        "PHONE_CODE_INVALID" | "PHONE_CODE_EMPTY" => row(
            400,
            "code_invalid",
            "That code is not right. Check the latest code Telegram sent and type it again.",
            N::Stay,
            A::None,
        ),
        "PHONE_CODE_EXPIRED" => row(
            400,
            "code_expired",
            "That code has expired. Enter your number again to get a new one.",
            N::BackToPhone,
            A::None,
        ),
        "PHONE_CODE_HASH_EMPTY" | "PHONE_CODE_HASH_INVALID" => row(
            400,
            "code_expired",
            "This login attempt is no longer valid. Enter your number again to get a new code.",
            N::BackToPhone,
            A::None,
        ),
        "SESSION_PASSWORD_NEEDED" => row(
            400,
            "password_needed",
            "This account has two-step verification: enter its password.",
            N::Stay,
            A::None,
        ),
        "PASSWORD_HASH_INVALID" => row(
            400,
            "password_invalid",
            "That password is not right. Try again; the hint may help.",
            N::Stay,
            A::None,
        ),
        "SRP_ID_INVALID" | "SRP_PASSWORD_CHANGED" => row(
            409,
            "password_retry",
            "The password check was interrupted (the password may have just changed). Enter it again.",
            N::Stay,
            A::None,
        ),
        "FLOOD_WAIT" | "FLOOD_PREMIUM_WAIT" | "SLOWMODE_WAIT" => {
            let secs = rpc.value.unwrap_or(60);
            let mut m = row(
                429,
                "flood_wait",
                format!("Telegram asks to wait {secs} seconds before trying again."),
                N::Stay,
                A::None,
            );
            m.retry_after = Some(secs.max(1));
            m
        }
        "AUTH_TOKEN_EXPIRED" | "AUTH_TOKEN_INVALID" | "AUTH_TOKEN_ALREADY_ACCEPTED" => row(
            400,
            "qr_expired",
            "The QR code expired before it was scanned. A new one is ready.",
            N::NewQr,
            A::None,
        ),
        "AUTH_KEY_UNREGISTERED"
        | "AUTH_KEY_INVALID"
        | "SESSION_REVOKED"
        | "SESSION_EXPIRED"
        | "AUTH_KEY_PERM_EMPTY"
        | "AUTH_KEY_DUPLICATED" => row(
            409,
            "session_revoked",
            "This Telegram session was ended (logged out from another device or expired). Log in again.",
            N::Failed,
            A::Revoked,
        ),
        "USER_DEACTIVATED" | "USER_DEACTIVATED_BAN" => row(
            403,
            "account_deactivated",
            "Telegram has deactivated this account. Contact Telegram support.",
            N::Failed,
            A::Deactivated,
        ),
        "AUTH_RESTART" => row(
            503,
            "telegram_unavailable",
            UNAVAILABLE,
            N::BackToPhone,
            A::None,
        ),
        _ if name.ends_with("_MIGRATE") => row(
            503,
            "telegram_unavailable",
            "Telegram moved this request to another data centre and it did not complete. Try again.",
            N::Stay,
            A::None,
        ),
        _ if rpc.code >= 500 || rpc.code == -503 => {
            row(503, "telegram_unavailable", UNAVAILABLE, N::Stay, A::None)
        }
        _ => row(
            502,
            "telegram_error",
            format!("Telegram refused the request ({name})."),
            N::Stay,
            A::None,
        ),
    };
    m.telegram_error = match rpc.value {
        Some(v) => format!("{name}_{v}"),
        None => name.to_string(),
    };
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_mtsender::RpcError;

    fn rpc(code: i32, message: &str) -> InvocationError {
        InvocationError::Rpc(RpcError::from(grammers_tl_types::types::RpcError {
            error_code: code,
            error_message: message.into(),
        }))
    }

    #[test]
    fn flood_wait_carries_its_seconds() {
        let m = map(&rpc(420, "FLOOD_WAIT_42"));
        assert_eq!(
            (m.status, m.code, m.retry_after),
            (429, "flood_wait", Some(42))
        );
        assert!(m.message.contains("42 seconds"));
        assert_eq!(m.telegram_error, "FLOOD_WAIT_42");
    }

    #[test]
    fn login_errors_say_what_comes_next() {
        assert_eq!(map(&rpc(400, "PHONE_CODE_INVALID")).next, FlowNext::Stay);
        assert_eq!(
            map(&rpc(400, "PHONE_CODE_EXPIRED")).next,
            FlowNext::BackToPhone
        );
        assert_eq!(map(&rpc(400, "AUTH_TOKEN_EXPIRED")).next, FlowNext::NewQr);
        assert_eq!(
            map(&rpc(400, "PASSWORD_HASH_INVALID")).code,
            "password_invalid"
        );
    }

    #[test]
    fn no_telegram_error_is_a_401() {
        for (code, name) in [
            (401, "AUTH_KEY_UNREGISTERED"),
            (401, "SESSION_PASSWORD_NEEDED"),
            (401, "SESSION_REVOKED"),
            (401, "USER_DEACTIVATED_BAN"),
            (500, "AUTH_RESTART"),
            (303, "PHONE_MIGRATE_2"),
            (400, "SOMETHING_NEW"),
        ] {
            let m = map(&rpc(code, name));
            assert_ne!(
                m.status, 401,
                "{name}: a 401 is only about the caller's credentials"
            );
            assert!(!m.message.is_empty());
        }
        assert_eq!(
            map(&rpc(401, "SESSION_REVOKED")).account,
            AccountImpact::Revoked
        );
        assert_eq!(map(&rpc(500, "AUTH_RESTART")).status, 503);
    }

    #[test]
    fn an_unreachable_telegram_is_503() {
        let m = map(&InvocationError::Dropped("gone"));
        assert_eq!((m.status, m.code), (503, "telegram_unavailable"));
    }
}
