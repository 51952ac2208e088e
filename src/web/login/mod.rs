//! The login pages: phone number, code, two-step password, QR code, and
//! logging out. Every step is a form POST with a CSRF token and ends in a
//! redirect (or the same page again with what went wrong); GETs only show.
//!
//! Before login the browser holds a random *login binding* cookie; the CSRF
//! token of the login forms is derived from it, and a login flow started by
//! this browser answers only to it. The flow id itself lives in an HttpOnly
//! cookie, never in a URL.
//!
//! [`phone`] has the phone, code and password steps, [`qr`] the QR code.

mod phone;
mod qr;

pub use self::qr::qr_svg;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::Layout;
use super::error::{Error, PageError};
use super::form::Form;
use crate::app::AppState;
use crate::auth::client_addr::ClientAddr;
use crate::auth::cookies::{self, is_token_like};
use crate::auth::login::{self, After, Caller, LoggedIn, LoginError, Outcome, Owner, View};
use crate::auth::session::{self, Staff};
use crate::store::audit::{self, NewAuditEntry};
use crate::telegram::flows::{Method, Status};

/// The login binding cookie lives this long (refreshed by every login page).
const BINDING_TTL: u64 = 3600;

/// The flow cookie lives as long as a flow can.
const FLOW_TTL: u64 = 600;

/// The login and logout routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page))
        .route("/login/phone", post(phone::submit_phone))
        .route(
            "/login/code",
            get(phone::code_page).post(phone::submit_code),
        )
        .route("/login/resend", post(phone::resend))
        .route(
            "/login/password",
            get(phone::password_page).post(phone::submit_password),
        )
        .route("/login/qr", get(qr::qr_page).post(qr::start_qr))
        .route("/login/qr/status", get(qr::qr_status))
        .route("/login/qr/complete", post(qr::complete_qr))
        .route("/login/cancel", post(cancel))
        .route("/logout", post(logout))
}

/// What the login pages read from a request.
pub struct LoginRequest {
    binding: Option<String>,
    flow: Option<String>,
    session: Option<String>,
    address: ClientAddr,
    user_agent: Option<String>,
}

impl FromRequestParts<AppState> for LoginRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = &state.auth.cookies;
        let token = |name| jar.get(&parts.headers, name).filter(|v| is_token_like(v));
        let binding = token(cookies::LOGIN);
        let flow = token(cookies::FLOW);
        let session = token(cookies::SESSION);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Ok(address) = ClientAddr::from_request_parts(parts, state).await;
        Ok(Self {
            binding,
            flow,
            session,
            address,
            user_agent,
        })
    }
}

impl LoginRequest {
    fn caller<'a>(&'a self, binding: &str) -> Caller<'a> {
        Caller {
            owner: Owner::browser(binding),
            address: self.address.as_str(),
        }
    }
}

/// Every login form carries this.
#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    m: Option<String>,
}

/// Messages a redirect may ask the login page to show (by key: nothing from
/// the URL is ever echoed).
fn notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "expired" => {
            "That login expired, was cancelled, or the service restarted meanwhile. Start again."
        }
        "logged_out" => "You are logged out.",
        "revoked" => {
            "Your Telegram session was ended from another device (Settings → Devices). Log in again."
        }
        "reset" => "An administrator reset your session. Log in again.",
        "deactivated" => "Telegram has deactivated this account.",
        "cancelled" => "Login cancelled.",
        _ => return None,
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    layout: Layout,
    csrf: &'a str,
    phone: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    retry_at: Option<i64>,
}

/// A page response with the login binding (re)set.
fn html(
    state: &AppState,
    binding: &str,
    status: StatusCode,
    page: Result<String, askama::Error>,
    extra: Vec<HeaderValue>,
) -> Response {
    let body = match page {
        Ok(body) => body,
        Err(e) => return PageError(Error::internal(e)).into_response(),
    };
    let mut cookies = vec![state.auth.cookies.set(cookies::LOGIN, binding, BINDING_TTL)];
    cookies.extend(extra);
    let mut response = (status, Html(body)).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn new_binding() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

/// The login page, optionally with an error (and its status).
fn render_login(
    state: &AppState,
    binding: &str,
    phone: &str,
    notice: Option<&str>,
    error: Option<&Error>,
    clear_flow: bool,
) -> Response {
    let csrf = state.auth.csrf.login_token(binding);
    let retry_at = error
        .and_then(Error::retry_after)
        .map(|secs| crate::store::now() + secs as i64);
    let page = LoginPage {
        layout: Layout::new("Log in"),
        csrf: &csrf,
        phone,
        notice,
        error: error.map(Error::message),
        retry_at,
    }
    .render();
    let status = error.map_or(StatusCode::OK, Error::status);
    let extra = if clear_flow {
        vec![state.auth.cookies.clear(cookies::FLOW)]
    } else {
        Vec::new()
    };
    let mut response = html(state, binding, status, page, extra);
    if let Some(secs) = error.and_then(Error::retry_after) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// `GET /login`.
async fn login_page(
    State(state): State<AppState>,
    req: LoginRequest,
    axum::extract::Query(query): axum::extract::Query<NoticeQuery>,
) -> Response {
    // Already logged in: straight to the desk.
    if let Some(token) = &req.session
        && let Ok(staff) = session::resolve(&state, token, "/login").await
    {
        tracing::debug!(account_id = staff.account.id, "already logged in");
        return Redirect::to("/chats").into_response();
    }
    let binding = req.binding.clone().unwrap_or_else(new_binding);
    let notice = query.m.as_deref().and_then(notice);
    render_login(&state, &binding, "", notice, None, false)
}

/// The binding of a form POST whose CSRF token is right, or the response
/// to send instead (the login page again, with a fresh token).
/// A response that ends a handler early (boxed: responses are large).
type Halt = Box<Response>;

fn checked_binding(state: &AppState, req: &LoginRequest, token: &str) -> Result<String, Halt> {
    let reason = match &req.binding {
        None => "no login cookie",
        Some(binding) if state.auth.csrf.verify_login(binding, token) => {
            return Ok(binding.clone());
        }
        Some(_) => "wrong or missing CSRF token",
    };
    tracing::warn!(reason, address = req.address.as_str(), "login form refused");
    let binding = req.binding.clone().unwrap_or_else(new_binding);
    Err(Box::new(render_login(
        state,
        &binding,
        "",
        None,
        Some(&crate::auth::csrf::rejected()),
        false,
    )))
}

/// A form post within a flow: the CSRF check, then this browser's flow.
fn checked_step(
    state: &AppState,
    req: &LoginRequest,
    token: &str,
) -> Result<(String, String), Halt> {
    let binding = checked_binding(state, req, token)?;
    let flow = flow_of(req)?.to_owned();
    Ok((binding, flow))
}

/// The flow of this browser, or a redirect to start again.
fn flow_of(req: &LoginRequest) -> Result<&str, Halt> {
    req.flow
        .as_deref()
        .ok_or_else(|| Box::new(Redirect::to("/login?m=expired").into_response()))
}

/// Where a live flow is shown.
fn step_path(status: &Status) -> &'static str {
    match status.state {
        "awaiting_code" => "/login/code",
        "awaiting_password" => "/login/password",
        "awaiting_scan" | "done" if status.method == Method::Qr => "/login/qr",
        _ => "/login",
    }
}

fn redirect_with_flow(state: &AppState, to: &str, flow_id: &str) -> Response {
    (
        AppendHeaders([(
            header::SET_COOKIE,
            state.auth.cookies.set(cookies::FLOW, flow_id, FLOW_TTL),
        )]),
        Redirect::to(to),
    )
        .into_response()
}

/// The live flow of this browser for a page, or the response to send instead.
async fn live_flow(
    state: &AppState,
    req: &LoginRequest,
) -> Result<(String, String, Status, Option<String>), Halt> {
    let Some(binding) = req.binding.clone() else {
        return Err(Box::new(Redirect::to("/login?m=expired").into_response()));
    };
    let flow = flow_of(req)?.to_owned();
    match login::view(state, &req.caller(&binding), &flow).await {
        Ok(View::Live {
            status,
            phone_masked,
        }) => Ok((binding, flow, status, phone_masked)),
        Ok(View::Ended(Outcome::Failed { code, .. })) if code == "login_expired" => {
            Err(Box::new(Redirect::to("/login?m=expired").into_response()))
        }
        Ok(View::Ended(Outcome::Failed {
            message, status, ..
        })) => {
            let error = Error::new(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                "login_failed",
                message,
            );
            Err(Box::new(render_login(
                state,
                &binding,
                "",
                None,
                Some(&error),
                true,
            )))
        }
        Ok(View::Ended(Outcome::Done { .. })) => {
            Err(Box::new(Redirect::to("/chats").into_response()))
        }
        Err(LoginError::Flow(crate::telegram::flows::FlowError::NotFound)) => {
            Err(Box::new(Redirect::to("/login?m=expired").into_response()))
        }
        Err(e) => Err(Box::new(PageError(Error::from(e)).into_response())),
    }
}

/// The pages a step can fail on.
#[derive(Clone, Copy)]
enum StepPage {
    Code,
    Password,
    Qr,
}

/// The response to a failed step: the same page with the message, or the
/// login page when the flow is over.
async fn step_failed(
    state: &AppState,
    req: &LoginRequest,
    binding: &str,
    error: LoginError,
    page: StepPage,
) -> Response {
    let after = error.after();
    let error = Error::from(error);
    if after == After::StartAgain {
        return render_login(state, binding, "", None, Some(&error), true);
    }
    let mut response = match page {
        StepPage::Code => phone::render_code(state, req, None, Some(&error)).await,
        StepPage::Password => phone::render_password(state, req, Some(&error)).await,
        StepPage::Qr => qr::render_qr(state, req, Some(&error)).await,
    };
    if let Some(secs) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// `POST /login/cancel`: "change number", "cancel".
async fn cancel(
    State(state): State<AppState>,
    req: LoginRequest,
    Form(form): Form<CsrfForm>,
) -> Response {
    let binding = match checked_binding(&state, &req, &form.csrf) {
        Ok(b) => b,
        Err(response) => return *response,
    };
    if let Some(flow) = &req.flow {
        let _ = login::cancel(&state, &req.caller(&binding), flow).await;
    }
    (
        AppendHeaders([(header::SET_COOKIE, state.auth.cookies.clear(cookies::FLOW))]),
        Redirect::to("/login?m=cancelled"),
    )
        .into_response()
}

/// A login completed in this browser: a new web session (any previous one
/// of this browser ends), then the desk.
async fn logged_in(state: &AppState, req: &LoginRequest, done: LoggedIn) -> Response {
    if let Some(old) = &req.session
        && let Err(e) = session::end(&state.db, old).await
    {
        return PageError(Error::internal(e)).into_response();
    }
    let created = session::create(
        &state.db,
        done.account.id,
        req.user_agent.as_deref(),
        req.address.as_str(),
        crate::store::now(),
    )
    .await;
    let (token, _) = match created {
        Ok(created) => created,
        Err(e) => return PageError(Error::internal(e)).into_response(),
    };
    let (name, value) = session::cookie(state, &token);
    (
        AppendHeaders([
            (name, value),
            (header::SET_COOKIE, state.auth.cookies.clear(cookies::FLOW)),
            (header::SET_COOKIE, state.auth.cookies.clear(cookies::LOGIN)),
        ]),
        Redirect::to("/chats"),
    )
        .into_response()
}

/// `POST /logout`: ends this web session, server-side.
async fn logout(
    State(state): State<AppState>,
    staff: Staff,
    req: LoginRequest,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !staff.verify_csrf(&form.csrf) {
        tracing::warn!(
            account_id = staff.account.id,
            reason = "wrong or missing CSRF token",
            "logout refused"
        );
        return Err(PageError(crate::auth::csrf::rejected()));
    }
    if let Some(token) = &req.session {
        session::end(&state.db, token).await?;
    }
    let actor = format!("account:{}", staff.account.id);
    audit::record(
        state.db.pool(),
        &NewAuditEntry {
            actor: &actor,
            action: "logout",
            target: Some(&actor),
            outcome: "ok",
            detail: Some("web session ended"),
        },
        crate::store::now(),
    )
    .await?;
    Ok((
        AppendHeaders([(
            header::SET_COOKIE,
            state.auth.cookies.clear(cookies::SESSION),
        )]),
        Redirect::to("/login?m=logged_out"),
    )
        .into_response())
}
