//! The records a login leaves: one login attempt per step (masked phone,
//! address, method, outcome, Telegram error name — never a code or a
//! password), and audit entries for refusals (successes are audited where
//! they complete).

use super::error::LoginError;
use super::registry::Caller;
use crate::app::AppState;
use crate::store::audit::{self, NewAuditEntry};
use crate::store::login_attempts::{self, LoginMethod, NewLoginAttempt};
use crate::store::now;

pub(super) struct Attempt<'a> {
    pub(super) method: LoginMethod,
    pub(super) phone_masked: Option<&'a str>,
    pub(super) outcome: &'a str,
    pub(super) telegram_error: Option<&'a str>,
    pub(super) account_id: Option<i64>,
}

/// Records an attempt. A record that cannot be written is logged, and the
/// answer to the person is not changed by it.
pub(super) async fn record(state: &AppState, caller: &Caller<'_>, a: Attempt<'_>) {
    crate::metrics::login_attempt(a.method.as_str(), a.outcome);
    let result = login_attempts::record(
        state.db.pool(),
        &NewLoginAttempt {
            phone_masked: a.phone_masked,
            address: Some(caller.address),
            method: a.method,
            outcome: a.outcome,
            telegram_error: a.telegram_error,
            account_id: a.account_id,
        },
        now(),
    )
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, outcome = a.outcome, "cannot record a login attempt");
    }
}

pub(super) async fn record_error(
    state: &AppState,
    caller: &Caller<'_>,
    method: LoginMethod,
    phone_masked: Option<&str>,
    error: &LoginError,
) {
    let (outcome, telegram_error) = error.record();
    record(
        state,
        caller,
        Attempt {
            method,
            phone_masked,
            outcome,
            telegram_error: telegram_error.as_deref(),
            account_id: None,
        },
    )
    .await;
}

pub(super) async fn audit_refusal(
    state: &AppState,
    caller: &Caller<'_>,
    method: &str,
    masked: &str,
) {
    let detail = format!("method={method} phone={masked} address={}", caller.address);
    let audited = audit::record(
        state.db.pool(),
        &NewAuditEntry {
            actor: "anonymous",
            action: "login",
            target: None,
            outcome: "not_allowed",
            detail: Some(&detail),
        },
        now(),
    )
    .await;
    if let Err(e) = audited {
        tracing::error!(error = %e, "cannot write the audit entry of a refused login");
    }
}
