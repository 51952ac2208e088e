//! `/admin`: every staff session at a glance, login attempts, the audit log,
//! and resetting an account — for staff whose Telegram user holds the admin
//! role ([`AdminStaff`]). Plain HTML: filters are GET forms, a reset is a
//! confirmation page and a POST with the session's CSRF token, then a
//! redirect back with the outcome.
//!
//! - `GET /admin?outcome=&phone=&address=&action=`
//! - `GET /admin/accounts/{id}/reset` (confirmation)
//! - `POST /admin/accounts/{id}/reset`

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::error::{Error, PageError};
use super::form::Form;
use super::{Layout, utc};
use crate::admin::overview::{self, AccountRow};
use crate::admin::reset::{self, Initiator, Remote, ResetContext, ResetError};
use crate::app::AppState;
use crate::auth::admin::AdminStaff;
use crate::store::audit::{self, AuditFilter};
use crate::store::login_attempts::{self, LoginAttemptFilter};

/// Rows shown per table.
const ROWS: i64 = 100;

/// Outcomes offered as suggestions in the filter (any text is accepted).
const OUTCOMES: &[&str] = &[
    "success",
    "code_sent",
    "code_invalid",
    "code_expired",
    "password_needed",
    "password_invalid",
    "qr_shown",
    "rate_limited",
    "not_allowed",
    "too_many_attempts",
    "login_expired",
    "telegram_unavailable",
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin", get(page)).route(
        "/admin/accounts/{id}/reset",
        get(confirm_page).post(reset_account),
    )
}

/// An account row, formatted.
struct AccountView {
    id: i64,
    name: String,
    username: Option<String>,
    phone: String,
    telegram_id: i64,
    state: &'static str,
    reset_by: Option<String>,
    pending_since: Option<Stamp>,
    logged_in: Option<Stamp>,
    last_seen: Option<Stamp>,
    connection: &'static str,
    api_tokens: i64,
    web_sessions: i64,
    admin: bool,
    is_me: bool,
}

/// A time: Unix seconds (for local time in the browser) and UTC text.
struct Stamp {
    secs: i64,
    utc: String,
}

fn stamp(secs: Option<i64>) -> Option<Stamp> {
    secs.map(|secs| Stamp {
        secs,
        utc: utc(secs),
    })
}

impl AccountView {
    fn new(row: &AccountRow, me: i64) -> Self {
        let a = &row.account;
        Self {
            id: a.id,
            name: a.display_name.clone(),
            username: a.username.clone(),
            phone: a.phone_masked.clone().unwrap_or_default(),
            telegram_id: a.telegram_user_id,
            state: a.state.as_str(),
            reset_by: row.reset_by.clone(),
            pending_since: stamp(a.remote_logout_pending_since),
            logged_in: stamp(a.logged_in_at),
            last_seen: stamp(a.last_seen_at),
            connection: row.connection,
            api_tokens: row.api_tokens,
            web_sessions: row.web_sessions,
            admin: row.is_admin,
            is_me: a.id == me,
        }
    }
}

struct AttemptView {
    at: Stamp,
    phone: String,
    address: String,
    method: &'static str,
    outcome: String,
    telegram_error: String,
}

struct AuditView {
    at: Stamp,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage<'a> {
    layout: Layout,
    me: &'a str,
    notice: Option<Notice>,
    accounts: Vec<AccountView>,
    attempts: Vec<AttemptView>,
    audit: Vec<AuditView>,
    outcome: &'a str,
    phone: &'a str,
    address: &'a str,
    action: &'a str,
    outcomes: &'static [&'static str],
}

/// The outcome of a reset, shown once after the redirect.
struct Notice {
    text: String,
    warning: bool,
}

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    action: String,
    /// After a reset: the account and what happened (a key, never text).
    done: Option<i64>,
    r: Option<String>,
}

/// A filter value: blank means no filter.
fn given(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

/// `GET /admin`.
async fn page(
    State(state): State<AppState>,
    admin: AdminStaff,
    uri: Uri,
) -> Result<Html<String>, PageError> {
    // A malformed query (say, a hand-edited `done=x`) shows the page unfiltered.
    let q = Query::<AdminQuery>::try_from_uri(&uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let me = admin.0.account.id;
    let rows = overview::accounts(&state).await?;
    let notice = q
        .done
        .and_then(|id| rows.iter().find(|r| r.account.id == id))
        .and_then(|row| notice(&row.account.display_name, q.r.as_deref()?));
    let attempts = login_attempts::list(
        state.db.pool(),
        &LoginAttemptFilter {
            outcome: given(&q.outcome),
            phone_contains: given(&q.phone),
            address: given(&q.address),
            limit: ROWS,
            ..LoginAttemptFilter::default()
        },
    )
    .await?;
    let entries = audit::list(
        state.db.pool(),
        &AuditFilter {
            action: given(&q.action),
            limit: ROWS,
            ..AuditFilter::default()
        },
    )
    .await?;
    let page = AdminPage {
        layout: Layout::new("Admin").with_admin_link(true),
        me: &admin.0.account.display_name,
        notice,
        accounts: rows.iter().map(|r| AccountView::new(r, me)).collect(),
        attempts: attempts
            .into_iter()
            .map(|a| AttemptView {
                at: Stamp {
                    secs: a.at,
                    utc: utc(a.at),
                },
                phone: a.phone_masked.unwrap_or_default(),
                address: a.address.unwrap_or_default(),
                method: a.method.as_str(),
                outcome: a.outcome,
                telegram_error: a.telegram_error.unwrap_or_default(),
            })
            .collect(),
        audit: entries
            .into_iter()
            .map(|e| AuditView {
                at: Stamp {
                    secs: e.at,
                    utc: utc(e.at),
                },
                actor: e.actor,
                action: e.action,
                target: e.target.unwrap_or_default(),
                outcome: e.outcome,
                detail: e.detail.unwrap_or_default(),
            })
            .collect(),
        outcome: q.outcome.trim(),
        phone: q.phone.trim(),
        address: q.address.trim(),
        action: q.action.trim(),
        outcomes: OUTCOMES,
    };
    Ok(Html(page.render()?))
}

/// The message after a reset, by key (nothing from the URL is echoed).
fn notice(name: &str, key: &str) -> Option<Notice> {
    let (what, warning) = match key {
        "logged_out" => ("is logged out of Telegram and wiped here.", false),
        "already_ended" => ("is wiped here; Telegram had already ended it.", false),
        "nothing_stored" => ("is wiped here.", false),
        "already_reset" => ("was already reset: nothing was left to end.", false),
        "pending" => (
            "is wiped here, but Telegram could not be reached. tgdesk will log it out of \
             Telegram as soon as it can; to end it now, open Telegram → Settings → Devices on \
             the staff member's phone and terminate the \u{201c}tgdesk\u{201d} session.",
            true,
        ),
        _ => return None,
    };
    Some(Notice {
        text: format!("The session of {name} {what}"),
        warning,
    })
}

#[derive(Template)]
#[template(path = "admin_reset.html")]
struct ConfirmPage<'a> {
    layout: Layout,
    me: &'a str,
    csrf: &'a str,
    account: AccountView,
}

fn account_id(raw: &str) -> Result<i64, PageError> {
    raw.trim()
        .parse()
        .map_err(|_| PageError(Error::not_found("There is no account with that id.")))
}

/// `GET /admin/accounts/{id}/reset`: what a reset does, and the button.
async fn confirm_page(
    State(state): State<AppState>,
    admin: AdminStaff,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let id = account_id(&id)?;
    let row = overview::account(&state, id)
        .await?
        .ok_or_else(|| PageError(Error::not_found("There is no account with that id.")))?;
    let csrf = admin.0.csrf_token();
    let page = ConfirmPage {
        layout: Layout::new("Reset a session").with_admin_link(true),
        me: &admin.0.account.display_name,
        csrf: &csrf,
        account: AccountView::new(&row, admin.0.account.id),
    };
    Ok(Html(page.render()?))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/accounts/{id}/reset`: resets, then back to `/admin` with
/// the outcome.
async fn reset_account(
    State(state): State<AppState>,
    admin: AdminStaff,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !admin.0.verify_csrf(&form.csrf) {
        tracing::warn!(
            account_id = admin.0.account.id,
            reason = "wrong or missing CSRF token",
            "admin reset refused"
        );
        return Err(PageError(crate::auth::csrf::rejected()));
    }
    let id = account_id(&id)?;
    let actor = admin.actor();
    let report = match reset::reset(&ResetContext::from(&state), id, Initiator::Admin(&actor)).await
    {
        Ok(report) => report,
        Err(ResetError::NotFound(_)) => {
            return Err(PageError(Error::not_found(
                "There is no account with that id.",
            )));
        }
        Err(e) => return Err(PageError(Error::internal(e))),
    };
    let key = match (report.telegram, report.already_reset) {
        (Remote::NothingStored, true) => "already_reset",
        (remote, _) => remote.as_str(),
    };
    Ok(Redirect::to(&format!("/admin?done={id}&r={key}")).into_response())
}
