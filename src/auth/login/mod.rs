//! Logging in, once for both doors: the web pages and the JSON API drive the
//! same [`LoginFlows`] state machine through these functions, which add what
//! the machine leaves to its callers — input checks, the allowlist, rate
//! limits, the login-attempt records and audit entries, who may drive which
//! flow, and what happens when a login completes (the account is created or
//! re-attached, its phone sealed, its session bound and its live client
//! started). Issuing a cookie or an API token is left to the door.
//!
//! [`registry`] keeps who drives which flow and how it ended, [`error`] the
//! errors and their HTTP face, [`records`] the login attempts and audit
//! entries, [`complete`] what a completed login does.

mod complete;
mod error;
mod records;
mod registry;

use std::time::{Duration, Instant};

use self::complete::complete;
use self::error::flow_error;
pub use self::error::{After, LoginError, human_duration};
use self::records::{Attempt, audit_refusal, record, record_error};
pub(crate) use self::registry::Registry;
pub use self::registry::{Caller, Outcome, Owner};
use self::registry::{Meta, Owned};
use super::limits::Scope;
use crate::app::AppState;
use crate::secret::Secret;
use crate::store::accounts::Account;
use crate::store::login_attempts::LoginMethod;
use crate::telegram::flows::{FlowError, Method, Status, Step};
use crate::telegram::login::CodeKind;

/// Longest login code accepted (Telegram's are 5 or 6 digits).
const CODE_MAX: usize = 16;
/// Longest 2FA password accepted, in bytes.
const PASSWORD_MAX: usize = 1024;

/// A code is on its way.
#[derive(Debug, Clone)]
pub struct CodeSent {
    pub flow_id: String,
    pub kind: CodeKind,
    /// Seconds before a resend may be asked, if Telegram said.
    pub timeout: Option<i32>,
    /// Seconds until the flow expires.
    pub expires_in: u64,
    pub phone_masked: String,
}

/// A completed login, with its account created or re-attached and live.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub account: Account,
    pub method: Method,
}

/// What comes after a code or a password.
#[derive(Debug)]
pub enum Next {
    Password { hint: Option<String> },
    Done(LoggedIn),
}

/// Where a flow stands, for its driver.
#[derive(Debug, Clone)]
pub enum View {
    /// In progress (or done, its result waiting to be taken).
    Live {
        status: Status,
        phone_masked: Option<String>,
    },
    /// Over: how it ended.
    Ended(Outcome),
}

fn valid_flow_id(id: &str) -> bool {
    id.len() == 22
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The flow `id`, if `caller` drives it: (method, masked phone, outcome).
fn owned(state: &AppState, caller: &Caller<'_>, id: &str) -> Result<Owned, LoginError> {
    if !valid_flow_id(id) {
        return Err(FlowError::NotFound.into());
    }
    state
        .auth
        .logins
        .check(id, caller.owner)
        .ok_or(LoginError::Flow(FlowError::NotFound))
}

/// After an error: a flow that cannot go on is remembered as failed.
fn note_failure(state: &AppState, id: &str, error: &LoginError) {
    let remember = matches!(
        error,
        LoginError::NotAllowed | LoginError::Flow(FlowError::Telegram(_) | FlowError::TooManyTries)
    );
    if remember && error.after() == After::StartAgain {
        let e = error.public();
        state.auth.logins.set_outcome(
            id,
            Outcome::Failed {
                status: e.status().as_u16(),
                code: e.code().to_owned(),
                message: e.message().to_owned(),
            },
        );
    }
}

/// Checks a typed phone number, the allowlist and the limits, then asks
/// Telegram to send a code.
pub async fn start_phone(
    state: &AppState,
    caller: &Caller<'_>,
    input: &str,
) -> Result<CodeSent, LoginError> {
    let phone = match crate::phone::normalize(input) {
        Ok(p) => p,
        Err(e) => {
            let error = LoginError::input("phone_number_invalid", capitalise(&e.to_string()));
            record_error(state, caller, LoginMethod::Phone, None, &error).await;
            return Err(error);
        }
    };
    let masked = crate::phone::mask(&phone);
    let allowlist = &state.config.login_allowlist;
    if !allowlist.is_empty() && !allowlist.lists_phone(&phone) && !allowlist.has_user_ids() {
        let error = LoginError::NotAllowed;
        record_error(state, caller, LoginMethod::Phone, Some(&masked), &error).await;
        audit_refusal(state, caller, "phone", &masked).await;
        return Err(error);
    }
    if let Err(limited) = state
        .auth
        .limiter
        .attempt(&[(Scope::Address, caller.address), (Scope::Phone, &phone)])
    {
        tracing::info!(
            scope = limited.scope.as_str(),
            retry_after_secs = limited.retry_after.as_secs(),
            "login rate limited"
        );
        let error = LoginError::Limited(limited);
        record_error(state, caller, LoginMethod::Phone, Some(&masked), &error).await;
        return Err(error);
    }
    let (flow_id, step) = match state.flows.start_phone(&phone).await {
        Ok(started) => started,
        Err(e) => {
            let error = LoginError::Flow(e);
            record_error(state, caller, LoginMethod::Phone, Some(&masked), &error).await;
            return Err(error);
        }
    };
    let Step::Code { kind, timeout } = step else {
        // start_phone always answers with a code step.
        state.flows.cancel(&flow_id).await;
        return Err(FlowError::Internal("sending a code did not ask for it".into()).into());
    };
    let expires_in = state
        .flows
        .status(&flow_id)
        .await
        .map(|s| s.expires_in)
        .unwrap_or(0);
    state.auth.logins.insert(
        &flow_id,
        Meta {
            owner: caller.owner,
            method: Method::Phone,
            phone: Some(Secret::new(phone.clone())),
            phone_masked: Some(masked.clone()),
            started: Instant::now(),
            outcome: None,
        },
        Duration::from_secs(expires_in),
    );
    record(
        state,
        caller,
        Attempt {
            method: LoginMethod::Phone,
            phone_masked: Some(&masked),
            outcome: "code_sent",
            telegram_error: None,
            account_id: None,
        },
    )
    .await;
    Ok(CodeSent {
        flow_id,
        kind,
        timeout,
        expires_in,
        phone_masked: masked,
    })
}

/// Sends the code again; counts against the same limits as the first.
pub async fn resend(
    state: &AppState,
    caller: &Caller<'_>,
    id: &str,
) -> Result<CodeSent, LoginError> {
    let Owned { phone, masked, .. } = owned(state, caller, id)?;
    let mut keys = vec![(Scope::Address, caller.address)];
    if let Some(phone) = &phone {
        keys.push((Scope::Phone, phone.expose().as_str()));
    }
    if let Err(limited) = state.auth.limiter.attempt(&keys) {
        let error = LoginError::Limited(limited);
        record_error(state, caller, LoginMethod::Phone, masked.as_deref(), &error).await;
        return Err(error);
    }
    match state.flows.resend(id).await {
        Ok(Step::Code { kind, timeout }) => {
            record(
                state,
                caller,
                Attempt {
                    method: LoginMethod::Phone,
                    phone_masked: masked.as_deref(),
                    outcome: "code_resent",
                    telegram_error: None,
                    account_id: None,
                },
            )
            .await;
            let expires_in = state.flows.status(id).await.map_or(0, |s| s.expires_in);
            Ok(CodeSent {
                flow_id: id.to_owned(),
                kind,
                timeout,
                expires_in,
                phone_masked: masked.unwrap_or_default(),
            })
        }
        Ok(_) => Err(FlowError::Internal("resending a code did not ask for it".into()).into()),
        Err(e) => {
            let error = LoginError::Flow(e);
            record_error(state, caller, LoginMethod::Phone, masked.as_deref(), &error).await;
            note_failure(state, id, &error);
            Err(error)
        }
    }
}

/// Signs in with a code.
pub async fn submit_code(
    state: &AppState,
    caller: &Caller<'_>,
    id: &str,
    input: &str,
) -> Result<Next, LoginError> {
    let masked = owned(state, caller, id)?.masked;
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '\u{a0}'))
        .collect();
    let bad = if code.is_empty() {
        Some(LoginError::input(
            "code_required",
            "Enter the code Telegram sent you.",
        ))
    } else if code.len() > CODE_MAX || !code.bytes().all(|b| b.is_ascii_digit()) {
        Some(LoginError::input(
            "code_invalid",
            "A login code is made of digits only. Check the latest code Telegram sent and type it again.",
        ))
    } else {
        None
    };
    if let Some(error) = bad {
        record_error(state, caller, LoginMethod::Phone, masked.as_deref(), &error).await;
        return Err(error);
    }
    let step = state.flows.submit_code(id, &code).await;
    step_result(state, caller, id, LoginMethod::Phone, masked, step).await
}

/// Answers the 2FA password.
pub async fn submit_password(
    state: &AppState,
    caller: &Caller<'_>,
    id: &str,
    password: Secret<String>,
) -> Result<Next, LoginError> {
    let masked = owned(state, caller, id)?.masked;
    let bad = if password.expose().is_empty() {
        Some(LoginError::input(
            "password_required",
            "Enter your two-step verification password.",
        ))
    } else if password.expose().len() > PASSWORD_MAX {
        Some(LoginError::input(
            "password_invalid",
            "That password is longer than any Telegram accepts.",
        ))
    } else {
        None
    };
    if let Some(error) = bad {
        record_error(
            state,
            caller,
            LoginMethod::Password,
            masked.as_deref(),
            &error,
        )
        .await;
        return Err(error);
    }
    let step = state
        .flows
        .submit_password(id, password.expose().clone())
        .await;
    drop(password);
    step_result(state, caller, id, LoginMethod::Password, masked, step).await
}

async fn step_result(
    state: &AppState,
    caller: &Caller<'_>,
    id: &str,
    method: LoginMethod,
    masked: Option<String>,
    step: Result<Step, FlowError>,
) -> Result<Next, LoginError> {
    match step {
        Ok(Step::Password { hint }) => {
            record(
                state,
                caller,
                Attempt {
                    method,
                    phone_masked: masked.as_deref(),
                    outcome: "password_needed",
                    telegram_error: Some("SESSION_PASSWORD_NEEDED"),
                    account_id: None,
                },
            )
            .await;
            Ok(Next::Password { hint })
        }
        Ok(Step::Done(completed)) => Ok(Next::Done(
            complete(state, caller, id, method, *completed).await?,
        )),
        Ok(Step::Code { .. }) => {
            Err(FlowError::Internal("Telegram asked for a code again".into()).into())
        }
        Err(e) => {
            let error = LoginError::Flow(e);
            record_error(state, caller, method, masked.as_deref(), &error).await;
            note_failure(state, id, &error);
            Err(error)
        }
    }
}

/// Opens a QR login.
pub async fn start_qr(
    state: &AppState,
    caller: &Caller<'_>,
) -> Result<(String, Status), LoginError> {
    if let Err(limited) = state
        .auth
        .limiter
        .attempt(&[(Scope::Address, caller.address)])
    {
        let error = LoginError::Limited(limited);
        record_error(state, caller, LoginMethod::Qr, None, &error).await;
        return Err(error);
    }
    let (id, status) = match state.flows.start_qr().await {
        Ok(started) => started,
        Err(e) => {
            let error = LoginError::Flow(e);
            record_error(state, caller, LoginMethod::Qr, None, &error).await;
            return Err(error);
        }
    };
    state.auth.logins.insert(
        &id,
        Meta {
            owner: caller.owner,
            method: Method::Qr,
            phone: None,
            phone_masked: None,
            started: Instant::now(),
            outcome: None,
        },
        Duration::from_secs(status.expires_in),
    );
    record(
        state,
        caller,
        Attempt {
            method: LoginMethod::Qr,
            phone_masked: None,
            outcome: "qr_shown",
            telegram_error: None,
            account_id: None,
        },
    )
    .await;
    Ok((id, status))
}

/// Where a flow stands. A flow that failed records its failure once.
pub async fn view(state: &AppState, caller: &Caller<'_>, id: &str) -> Result<View, LoginError> {
    let Owned {
        method,
        masked,
        outcome,
        ..
    } = owned(state, caller, id)?;
    if let Some(outcome) = outcome {
        return Ok(View::Ended(outcome));
    }
    match state.flows.status(id).await {
        Ok(status) => {
            if let Some((status_code, code, message)) = &status.error {
                // A background failure (QR): remember it, record it, end the flow.
                let outcome = Outcome::Failed {
                    status: *status_code,
                    code: (*code).to_owned(),
                    message: message.clone(),
                };
                state.auth.logins.set_outcome(id, outcome.clone());
                let method = match method {
                    Method::Phone => LoginMethod::Phone,
                    Method::Qr => LoginMethod::Qr,
                };
                record(
                    state,
                    caller,
                    Attempt {
                        method,
                        phone_masked: masked.as_deref(),
                        outcome: code,
                        telegram_error: None,
                        account_id: None,
                    },
                )
                .await;
                state.flows.cancel(id).await;
                return Ok(View::Ended(outcome));
            }
            Ok(View::Live {
                status,
                phone_masked: masked,
            })
        }
        Err(FlowError::NotFound) => {
            // Known here but gone from the machine: it expired.
            let e = flow_error(&FlowError::NotFound);
            let outcome = Outcome::Failed {
                status: e.status().as_u16(),
                code: e.code().to_owned(),
                message: e.message().to_owned(),
            };
            state.auth.logins.set_outcome(id, outcome.clone());
            Ok(View::Ended(outcome))
        }
        Err(e) => Err(e.into()),
    }
}

/// Completes a QR login whose code was scanned: `None` while it was not.
pub async fn take_qr(
    state: &AppState,
    caller: &Caller<'_>,
    id: &str,
) -> Result<Option<LoggedIn>, LoginError> {
    owned(state, caller, id)?;
    match state.flows.take_completed(id).await? {
        Some(completed) => Ok(Some(
            complete(state, caller, id, LoginMethod::Qr, *completed).await?,
        )),
        None => Ok(None),
    }
}

/// Cancels a flow. Returns whether there was one to cancel.
pub async fn cancel(state: &AppState, caller: &Caller<'_>, id: &str) -> Result<bool, LoginError> {
    owned(state, caller, id)?;
    let existed = state.flows.cancel(id).await;
    state.auth.logins.forget(id);
    Ok(existed)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_ids_have_one_shape() {
        assert!(valid_flow_id("AAAAAAAAAAAAAAAAAAAAAA"));
        assert!(valid_flow_id("a-b_c-d_e-f_g-h_i-j_kl"));
        assert!(!valid_flow_id("AAAAAAAAAAAAAAAAAAAAA"));
        assert!(!valid_flow_id("AAAAAAAAAAAAAAAAAAAA/A"));
        assert!(!valid_flow_id(""));
    }
}
