//! The QR code page, the JSON its script polls, and completing a scanned
//! login.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{
    CsrfForm, LoginRequest, StepPage, checked_binding, checked_step, html, live_flow, logged_in,
    redirect_with_flow, render_login, step_failed, step_path,
};
use crate::app::AppState;
use crate::auth::login::{self, LoginError, Outcome, View};
use crate::telegram::flows::{FlowError, Method};
use crate::web::Layout;
use crate::web::error::Error;
use crate::web::form::Form;

#[derive(Template)]
#[template(path = "login_qr.html")]
pub(super) struct QrPage<'a> {
    layout: Layout,
    csrf: &'a str,
    /// Inline SVG made here from the token (trusted markup).
    svg: &'a str,
    qr_url: &'a str,
    expires_at: i64,
    scanned: bool,
    error: Option<&'a str>,
}

/// `POST /login/qr`: a new QR login (replacing any this browser had).
pub(super) async fn start_qr(
    State(state): State<AppState>,
    req: LoginRequest,
    Form(form): Form<CsrfForm>,
) -> Response {
    let binding = match checked_binding(&state, &req, &form.csrf) {
        Ok(b) => b,
        Err(response) => return *response,
    };
    if let Some(old) = &req.flow {
        let _ = login::cancel(&state, &req.caller(&binding), old).await;
    }
    match login::start_qr(&state, &req.caller(&binding)).await {
        Ok((flow_id, _)) => redirect_with_flow(&state, "/login/qr", &flow_id),
        Err(e) => render_login(&state, &binding, "", None, Some(&Error::from(e)), true),
    }
}

/// The QR code of a `tg://login` URL as inline SVG.
pub fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(232, 232)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code to scan with Telegram\" ",
        1,
    ))
}

pub(super) async fn render_qr(
    state: &AppState,
    req: &LoginRequest,
    error: Option<&Error>,
) -> Response {
    let (binding, _, status, _) = match live_flow(state, req).await {
        Ok(live) => live,
        Err(response) => return *response,
    };
    if status.method != Method::Qr || !matches!(status.state, "awaiting_scan" | "done") {
        return Redirect::to(step_path(&status)).into_response();
    }
    let qr_url = status.qr_url.clone().unwrap_or_default();
    let svg = if qr_url.is_empty() {
        String::new()
    } else {
        qr_svg(&qr_url).unwrap_or_default()
    };
    let csrf = state.auth.csrf.login_token(&binding);
    let page = QrPage {
        layout: Layout::new("Log in with a QR code"),
        csrf: &csrf,
        svg: &svg,
        qr_url: &qr_url,
        expires_at: status.qr_expires_at.unwrap_or(0),
        scanned: status.state == "done",
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

/// `GET /login/qr`.
pub(super) async fn qr_page(State(state): State<AppState>, req: LoginRequest) -> Response {
    render_qr(&state, &req, None).await
}

/// What the QR page's script polls.
#[derive(serde::Serialize, Default)]
pub(super) struct QrStatus {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    qr_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    svg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    /// Where the page should go now, if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// `GET /login/qr/status`: JSON for the QR page's script. Reads only.
pub(super) async fn qr_status(State(state): State<AppState>, req: LoginRequest) -> Response {
    let expired = || QrStatus {
        state: "expired",
        next: Some("/login?m=expired"),
        ..QrStatus::default()
    };
    let answer = match (&req.binding, &req.flow) {
        (Some(binding), Some(flow)) => {
            match login::view(&state, &req.caller(binding), flow).await {
                Ok(View::Live { status, .. }) => match status.state {
                    "awaiting_scan" => QrStatus {
                        state: "awaiting_scan",
                        svg: status.qr_url.as_deref().and_then(qr_svg),
                        qr_url: status.qr_url,
                        expires_at: status.qr_expires_at,
                        ..QrStatus::default()
                    },
                    "done" => QrStatus {
                        state: "done",
                        ..QrStatus::default()
                    },
                    other => QrStatus {
                        state: other,
                        next: Some(step_path(&status)),
                        ..QrStatus::default()
                    },
                },
                Ok(View::Ended(Outcome::Done { .. })) => QrStatus {
                    state: "done",
                    next: Some("/chats"),
                    ..QrStatus::default()
                },
                Ok(View::Ended(Outcome::Failed { message, .. })) => QrStatus {
                    state: "failed",
                    message: Some(message),
                    next: Some("/login/qr"),
                    ..QrStatus::default()
                },
                Err(LoginError::Flow(FlowError::NotFound)) => expired(),
                Err(e) => return Error::from(e).into_response(),
            }
        }
        _ => expired(),
    };
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(answer),
    )
        .into_response()
}

/// `POST /login/qr/complete`: finishes a scanned QR login.
pub(super) async fn complete_qr(
    State(state): State<AppState>,
    req: LoginRequest,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (binding, flow) = match checked_step(&state, &req, &form.csrf) {
        Ok(step) => step,
        Err(response) => return *response,
    };
    match login::take_qr(&state, &req.caller(&binding), &flow).await {
        Ok(Some(done)) => logged_in(&state, &req, done).await,
        // Not scanned yet, or waiting for the password: show where it stands.
        Ok(None) => match login::view(&state, &req.caller(&binding), &flow).await {
            Ok(View::Live { status, .. }) => Redirect::to(step_path(&status)).into_response(),
            Ok(View::Ended(Outcome::Done { .. })) => Redirect::to("/chats").into_response(),
            _ => Redirect::to("/login/qr").into_response(),
        },
        Err(e) => step_failed(&state, &req, &binding, e, StepPage::Qr).await,
    }
}
