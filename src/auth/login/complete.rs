//! What a completed login does: the allowlist's last word, the account
//! created or re-attached, the full phone sealed, the session bound to the
//! account and handed to the live pool, the records written.

use grammers_session::Session as _;

use super::error::LoginError;
use super::records::{Attempt, audit_refusal, record, record_error};
use super::registry::{Caller, Outcome};
use super::{LoggedIn, note_failure};
use crate::app::AppState;
use crate::secret::Secret;
use crate::store::accounts::{self, LoginProfile};
use crate::store::audit::{self, NewAuditEntry};
use crate::store::login_attempts::LoginMethod;
use crate::store::{StoreError, now};
use crate::telegram::flows::Completed;
use crate::vault::Aad;

fn display_name(user: &grammers_tl_types::types::User) -> String {
    let name = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !name.is_empty() {
        name
    } else if let Some(u) = &user.username {
        format!("@{u}")
    } else {
        format!("Telegram user {}", user.id)
    }
}

/// A completed login: allowlist, account, sealed phone, bound session, live
/// client, records. On refusal the new Telegram authorisation is logged out.
pub(super) async fn complete(
    state: &AppState,
    caller: &Caller<'_>,
    id: &str,
    method: LoginMethod,
    completed: Completed,
) -> Result<LoggedIn, LoginError> {
    let user = &completed.user;
    let phone = completed
        .phone
        .clone()
        .or_else(|| {
            user.phone
                .as_ref()
                .map(|p| format!("+{}", p.trim_start_matches('+')))
        })
        .and_then(|p| crate::phone::normalize(&p).ok())
        .map(Secret::new);
    let masked = phone.as_ref().map(|p| crate::phone::mask(p.expose()));
    if let Some(m) = &masked {
        state.auth.logins.set_phone(id, m.clone());
    }
    let allowlist = &state.config.login_allowlist;
    let allowed = allowlist.is_empty()
        || allowlist.lists_user(user.id)
        || phone
            .as_ref()
            .is_some_and(|p| allowlist.lists_phone(p.expose()));
    if !allowed {
        tracing::info!(
            telegram_user_id = user.id,
            "login refused: not on the allowlist"
        );
        state.flows.refuse(id).await;
        let error = LoginError::NotAllowed;
        record_error(state, caller, method, masked.as_deref(), &error).await;
        note_failure(state, id, &error);
        audit_refusal(
            state,
            caller,
            completed.method.as_str(),
            masked.as_deref().unwrap_or(""),
        )
        .await;
        return Err(error);
    }

    let name = display_name(user);
    let home_dc = completed.session.home_dc_id().ok();
    let mut tx = state.db.begin_write().await?;
    let account = accounts::upsert_login(
        &mut *tx,
        &LoginProfile {
            telegram_user_id: user.id,
            display_name: &name,
            username: user.username.as_deref(),
            phone_masked: masked.as_deref(),
            home_dc,
        },
        now(),
    )
    .await?;
    if let Some(phone) = &phone {
        let sealed = state
            .vault
            .seal(&Aad::account_phone(account.id), phone.expose().as_bytes())?;
        accounts::set_phone_sealed(&mut *tx, account.id, Some(&sealed)).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;

    // A re-login replaces the account's session: the old client stops first,
    // so only one session is ever written under the account.
    let previous = state.pool.session(account.id);
    state.pool.stop(account.id).await;
    end_previous_session(state, account.id, previous).await;
    completed.session.bind(account.id).await?;
    // The flow's temporary client lets go of the session before the live one
    // takes it: one session, one connection (AUTH_KEY_DUPLICATED otherwise).
    state.flows.close(id).await;
    state
        .pool
        .start(account.id, std::sync::Arc::clone(&completed.session))
        .await;
    state.auth.logins.set_outcome(
        id,
        Outcome::Done {
            account_id: account.id,
        },
    );

    record(
        state,
        caller,
        Attempt {
            method,
            phone_masked: masked.as_deref(),
            outcome: "success",
            telegram_error: None,
            account_id: Some(account.id),
        },
    )
    .await;
    let actor = format!("account:{}", account.id);
    let detail = format!(
        "method={} address={}",
        completed.method.as_str(),
        caller.address
    );
    let audited = audit::record(
        state.db.pool(),
        &NewAuditEntry {
            actor: &actor,
            action: "login",
            target: Some(&actor),
            outcome: "ok",
            detail: Some(&detail),
        },
        now(),
    )
    .await;
    if let Err(e) = audited {
        tracing::error!(error = %e, "cannot write the audit entry of a login");
    }
    tracing::info!(
        account_id = account.id,
        method = completed.method.as_str(),
        "staff logged in"
    );
    Ok(LoggedIn {
        account,
        method: completed.method,
    })
}

/// The session a re-login replaces (live, or kept for a pending logout
/// after a reset) is logged out of Telegram, so the staff member's list of
/// devices does not fill with authorisations nobody holds a key to any
/// more, then shredded. Telegram not answering does not stop the login: the
/// old authorisation is then left for Telegram → Settings → Devices.
async fn end_previous_session(
    state: &AppState,
    account_id: i64,
    live: Option<std::sync::Arc<crate::telegram::session::StoredSession>>,
) {
    let previous = match live {
        Some(s) => Some(s),
        None => match state.sessions.load(account_id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(account_id, error = %e, "cannot open the replaced session to log it out");
                None
            }
        },
    };
    let Some(previous) = previous else {
        return;
    };
    let remote = crate::admin::reset::tell_telegram(&state.backend, &previous).await;
    match remote {
        crate::admin::reset::Remote::Pending => tracing::warn!(
            account_id,
            "the replaced Telegram session could not be logged out; it stays under Settings → Devices"
        ),
        other => tracing::info!(
            account_id,
            telegram = other.as_str(),
            "replaced session logged out"
        ),
    }
    if let Err(e) = previous.shred().await {
        tracing::warn!(account_id, error = %e, "cannot shred the replaced session");
    }
}
