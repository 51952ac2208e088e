//! `/webhooks`: the logged-in account's webhooks and how delivery to each
//! stands (last success, last error, events pending), with forms to add one
//! (its secret is shown on the answer to the form, once), to pause or
//! resume one, and to delete one.
//! The rules of delivery are in `crate::webhooks`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Layout;
use super::error::{Error, PageError};
use super::form::Form;
use crate::app::AppState;
use crate::auth::session::Staff;
use crate::webhooks::{CreateError, MAX_PER_ACCOUNT, Status};

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(page).post(add))
        .route("/webhooks/{id}/delete", post(remove))
        .route("/webhooks/{id}/enabled", post(set_enabled))
}

/// A webhook as the page lists it.
struct HookRow {
    id: i64,
    url: String,
    /// `delivering`, `retrying`, `paused`.
    state: &'static str,
    created_at: i64,
    pending: i64,
    last_success_at: Option<i64>,
    last_error: Option<String>,
    last_error_at: Option<i64>,
    attempts: i64,
}

impl From<&Status> for HookRow {
    fn from(s: &Status) -> Self {
        let w = &s.webhook;
        let state = if w.disabled_at.is_some() {
            "paused"
        } else if w.attempts > 0 {
            "retrying"
        } else {
            "delivering"
        };
        Self {
            id: w.id,
            url: w.url.clone(),
            state,
            created_at: w.created_at,
            pending: s.pending,
            last_success_at: w.last_success_at,
            last_error: w.last_error.clone(),
            last_error_at: w.last_error_at,
            attempts: w.attempts,
        }
    }
}

/// A webhook just added, with its secret (this answer only).
struct Created {
    id: i64,
    secret: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage<'a> {
    layout: Layout,
    staff: &'a Staff,
    csrf: &'a str,
    hooks: Vec<HookRow>,
    max: i64,
    created: Option<Created>,
    notice: Option<&'static str>,
    error: Option<String>,
    /// What the add form's URL field holds (after an error).
    url: String,
}

#[derive(Deserialize)]
pub struct PageQuery {
    m: Option<String>,
}

#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    url: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
pub struct EnabledForm {
    csrf: String,
    /// `true` resumes, `false` pauses.
    enabled: bool,
}

async fn render(
    state: &AppState,
    staff: &Staff,
    created: Option<Created>,
    notice: Option<&'static str>,
    error: Option<String>,
    url: String,
) -> Result<String, PageError> {
    let hooks = state
        .webhooks
        .list(staff.account.id)
        .await
        .map_err(Error::internal)?;
    let csrf = staff.csrf_token();
    let page = WebhooksPage {
        layout: Layout::new("Webhooks"),
        staff,
        csrf: &csrf,
        hooks: hooks.iter().map(HookRow::from).collect(),
        max: MAX_PER_ACCOUNT,
        created,
        notice,
        error,
        url,
    };
    Ok(page.render().map_err(Error::from)?)
}

/// `GET /webhooks[?m=deleted]`.
async fn page(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, PageError> {
    let notice = match q.m.as_deref() {
        Some("deleted") => Some("The webhook was deleted: nothing more is sent to it."),
        Some("paused") => Some("The webhook is paused: it keeps its place until you resume it."),
        Some("resumed") => {
            Some("The webhook is resumed: it gets what happened meanwhile, in order.")
        }
        _ => None,
    };
    Ok(Html(
        render(&state, &staff, None, notice, None, String::new()).await?,
    ))
}

fn check_csrf(staff: &Staff, token: &str, what: &'static str) -> Result<(), PageError> {
    if staff.verify_csrf(token) {
        return Ok(());
    }
    tracing::warn!(
        account_id = staff.account.id,
        reason = "wrong or missing CSRF token",
        what,
        "webhook form refused"
    );
    Err(PageError(crate::auth::csrf::rejected()))
}

/// `POST /webhooks`: adds a webhook and shows its secret, once. The answer
/// is not stored by the browser's cache.
async fn add(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    check_csrf(&staff, &form.csrf, "add")?;
    let actor = format!("account:{}", staff.account.id);
    let (status, body) = match state
        .webhooks
        .create(staff.account.id, &form.url, &actor)
        .await
    {
        Ok((hook, secret)) => {
            let created = Created {
                id: hook.id,
                secret: secret.expose().clone(),
            };
            let body = render(&state, &staff, Some(created), None, None, String::new()).await?;
            (StatusCode::OK, body)
        }
        Err(CreateError::Store(e)) => return Err(Error::internal(e).into()),
        Err(CreateError::Events(e)) => return Err(Error::internal(e).into()),
        Err(e @ (CreateError::Url(_) | CreateError::TooMany)) => {
            let message = match e {
                CreateError::TooMany => format!(
                    "You have {MAX_PER_ACCOUNT} webhooks, the most an account may have: delete one first."
                ),
                other => format!("That URL cannot be used: {other}."),
            };
            let body = render(&state, &staff, None, None, Some(message), form.url).await?;
            (StatusCode::BAD_REQUEST, body)
        }
    };
    let mut response = (status, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /webhooks/{id}/delete`.
async fn remove(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    check_csrf(&staff, &form.csrf, "delete")?;
    let not_found = || PageError(Error::not_found("You have no webhook with that id."));
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let actor = format!("account:{}", staff.account.id);
    state
        .webhooks
        .delete(staff.account.id, id, &actor)
        .await
        .map_err(Error::internal)?
        .ok_or_else(not_found)?;
    Ok(Redirect::to("/webhooks?m=deleted").into_response())
}

/// `POST /webhooks/{id}/enabled`: pauses or resumes a webhook.
async fn set_enabled(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<EnabledForm>,
) -> Result<Response, PageError> {
    check_csrf(&staff, &form.csrf, "pause or resume")?;
    let not_found = || PageError(Error::not_found("You have no webhook with that id."));
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let actor = format!("account:{}", staff.account.id);
    state
        .webhooks
        .set_enabled(staff.account.id, id, form.enabled, &actor)
        .await
        .map_err(Error::internal)?
        .ok_or_else(not_found)?;
    let to = if form.enabled {
        "/webhooks?m=resumed"
    } else {
        "/webhooks?m=paused"
    };
    Ok(Redirect::to(to).into_response())
}
