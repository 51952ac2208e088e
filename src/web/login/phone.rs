//! The phone number, code and two-step password pages.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{
    CsrfForm, LoginRequest, StepPage, checked_binding, checked_step, html, live_flow, logged_in,
    redirect_with_flow, render_login, step_failed, step_path,
};
use crate::app::AppState;
use crate::auth::login::{self, Next};
use crate::secret::Secret;
use crate::telegram::login::CodeKind;
use crate::web::Layout;
use crate::web::error::Error;
use crate::web::form::Form;

#[derive(Deserialize)]
pub(super) struct PhoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: Secret<String>,
}

#[derive(Template)]
#[template(path = "login_code.html")]
pub(super) struct CodePage<'a> {
    layout: Layout,
    csrf: &'a str,
    phone_masked: &'a str,
    sent_to_app: bool,
    sent_how: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    /// Telegram is simulated: the code is in the demo inbox.
    demo: bool,
}

#[derive(Template)]
#[template(path = "login_password.html")]
pub(super) struct PasswordPage<'a> {
    layout: Layout,
    csrf: &'a str,
    hint: Option<&'a str>,
    error: Option<&'a str>,
}

/// `POST /login/phone`.
pub(super) async fn submit_phone(
    State(state): State<AppState>,
    req: LoginRequest,
    Form(form): Form<PhoneForm>,
) -> Response {
    let binding = match checked_binding(&state, &req, &form.csrf) {
        Ok(b) => b,
        Err(response) => return *response,
    };
    // A flow this browser had going is replaced.
    if let Some(old) = &req.flow {
        let _ = login::cancel(&state, &req.caller(&binding), old).await;
    }
    match login::start_phone(&state, &req.caller(&binding), &form.phone).await {
        Ok(sent) => redirect_with_flow(&state, "/login/code", &sent.flow_id),
        Err(e) => {
            let typed: String = form.phone.chars().take(32).collect();
            render_login(&state, &binding, &typed, None, Some(&Error::from(e)), true)
        }
    }
}

pub(super) fn code_kind_text(kind: CodeKind) -> (bool, &'static str) {
    match kind {
        CodeKind::App => (
            true,
            "in Telegram on another device where you are logged in (a message from “Telegram”)",
        ),
        CodeKind::Sms => (false, "by SMS"),
        CodeKind::Call => (false, "by a phone call"),
        CodeKind::FlashCall => (
            false,
            "by a missed call: the code is the last digits of the calling number",
        ),
        CodeKind::Other => (false, "by Telegram"),
    }
}

pub(super) async fn render_code(
    state: &AppState,
    req: &LoginRequest,
    notice: Option<&str>,
    error: Option<&Error>,
) -> Response {
    let (binding, _, status, masked) = match live_flow(state, req).await {
        Ok(live) => live,
        Err(response) => return *response,
    };
    if status.state != "awaiting_code" {
        return Redirect::to(step_path(&status)).into_response();
    }
    let (sent_to_app, sent_how) = code_kind_text(status.code_kind.unwrap_or(CodeKind::Other));
    let csrf = state.auth.csrf.login_token(&binding);
    let page = CodePage {
        layout: Layout::new("Enter the code"),
        csrf: &csrf,
        phone_masked: masked.as_deref().unwrap_or(""),
        sent_to_app,
        sent_how,
        notice,
        error: error.map(Error::message),
        demo: state.backend.is_sim(),
    }
    .render();
    html(
        state,
        &binding,
        error.map_or(StatusCode::OK, Error::status),
        page,
        Vec::new(),
    )
}

/// `GET /login/code`.
pub(super) async fn code_page(State(state): State<AppState>, req: LoginRequest) -> Response {
    render_code(&state, &req, None, None).await
}

/// `POST /login/code`.
pub(super) async fn submit_code(
    State(state): State<AppState>,
    req: LoginRequest,
    Form(form): Form<CodeForm>,
) -> Response {
    let (binding, flow) = match checked_step(&state, &req, &form.csrf) {
        Ok(step) => step,
        Err(response) => return *response,
    };
    match login::submit_code(&state, &req.caller(&binding), &flow, &form.code).await {
        Ok(Next::Password { .. }) => Redirect::to("/login/password").into_response(),
        Ok(Next::Done(done)) => logged_in(&state, &req, done).await,
        Err(e) => step_failed(&state, &req, &binding, e, StepPage::Code).await,
    }
}

/// `POST /login/resend`.
pub(super) async fn resend(
    State(state): State<AppState>,
    req: LoginRequest,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (binding, flow) = match checked_step(&state, &req, &form.csrf) {
        Ok(step) => step,
        Err(response) => return *response,
    };
    match login::resend(&state, &req.caller(&binding), &flow).await {
        Ok(sent) => {
            let (_, how) = code_kind_text(sent.kind);
            let notice = format!("A new code was sent {how}.");
            render_code(&state, &req, Some(&notice), None).await
        }
        Err(e) => step_failed(&state, &req, &binding, e, StepPage::Code).await,
    }
}

pub(super) async fn render_password(
    state: &AppState,
    req: &LoginRequest,
    error: Option<&Error>,
) -> Response {
    let (binding, _, status, _) = match live_flow(state, req).await {
        Ok(live) => live,
        Err(response) => return *response,
    };
    if status.state != "awaiting_password" {
        return Redirect::to(step_path(&status)).into_response();
    }
    let csrf = state.auth.csrf.login_token(&binding);
    let page = PasswordPage {
        layout: Layout::new("Two-step verification"),
        csrf: &csrf,
        hint: status.hint.as_deref(),
        error: error.map(Error::message),
    }
    .render();
    html(
        state,
        &binding,
        error.map_or(StatusCode::OK, Error::status),
        page,
        Vec::new(),
    )
}

/// `GET /login/password`.
pub(super) async fn password_page(State(state): State<AppState>, req: LoginRequest) -> Response {
    render_password(&state, &req, None).await
}

/// `POST /login/password`.
pub(super) async fn submit_password(
    State(state): State<AppState>,
    req: LoginRequest,
    Form(form): Form<PasswordForm>,
) -> Response {
    let (binding, flow) = match checked_step(&state, &req, &form.csrf) {
        Ok(step) => step,
        Err(response) => return *response,
    };
    match login::submit_password(&state, &req.caller(&binding), &flow, form.password).await {
        Ok(Next::Done(done)) => logged_in(&state, &req, done).await,
        Ok(Next::Password { .. }) => Redirect::to("/login/password").into_response(),
        Err(e) => step_failed(&state, &req, &binding, e, StepPage::Password).await,
    }
}
