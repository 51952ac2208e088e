//! Login flows: a server-side state machine per login attempt, holding its
//! own temporary grammers client and unbound session, keyed by a random flow
//! id, expiring after a while, cancellable. The web pages and the JSON API
//! drive the same machine; what they do once a flow is done (create the
//! account, bind the session, issue a cookie or a token) is theirs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use grammers_mtsender::InvocationError;
use grammers_session::Session as _;
use grammers_session::updates::UpdatesLike;
use grammers_tl_types as tl;
use tokio::sync::{Mutex as AsyncMutex, mpsc};
use tracing::{Instrument as _, debug, warn};
use zeroize::Zeroizing;

use super::backend::{Backend, BackendError};
use super::calls;
use super::client::LiveClient;
use super::errors::{self, FlowNext, Mapped};
use super::login::{self, CodeKind, LoginError, PasswordChallenge, SignIn};
use super::session::{SessionStore, StoredSession};
use crate::secret::Secret;

/// Limits of a flow.
#[derive(Debug, Clone)]
pub struct FlowLimits {
    /// A flow not finished by then is gone (default 10 minutes).
    pub ttl: Duration,
    /// Wrong codes or passwords before the flow fails (default 5).
    pub max_tries: u32,
    /// A QR token is replaced at least this often, and always a few seconds
    /// before Telegram says it expires (default 25 s; tokens live ~30 s).
    pub qr_refresh: Duration,
}

impl Default for FlowLimits {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(600),
            max_tries: 5,
            qr_refresh: Duration::from_secs(25),
        }
    }
}

/// How a flow logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Phone,
    Qr,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Phone => "phone",
            Method::Qr => "qr",
        }
    }
}

/// Why a flow step failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("this login has expired or was cancelled; start again")]
    NotFound,
    #[error("this login is {actual}, not {expected}")]
    WrongStep {
        expected: &'static str,
        actual: &'static str,
    },
    #[error("too many wrong attempts for this login; start again")]
    TooManyTries,
    #[error("{}", .0.message)]
    Telegram(Mapped),
    #[error("cannot reach Telegram: {0}")]
    Backend(#[from] BackendError),
    #[error("login failed: {0}")]
    Internal(String),
}

impl FlowError {
    fn from_login(e: LoginError) -> Self {
        match e {
            LoginError::Telegram(e) => FlowError::Telegram(errors::map(&e)),
            other => FlowError::Internal(other.to_string()),
        }
    }

    /// The Telegram error name, if any, for the records.
    pub fn telegram_error(&self) -> Option<&str> {
        match self {
            FlowError::Telegram(m) => Some(&m.telegram_error),
            _ => None,
        }
    }
}

/// A finished login: the user and the (still unbound) session it lives in.
pub struct Completed {
    pub user: tl::types::User,
    pub session: Arc<StoredSession>,
    /// The phone number typed, for a phone login (E.164).
    pub phone: Option<String>,
    pub method: Method,
}

impl std::fmt::Debug for Completed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completed")
            .field("user_id", &self.user.id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// What the caller does next.
#[derive(Debug)]
pub enum Step {
    Code {
        kind: CodeKind,
        timeout: Option<i32>,
    },
    Password {
        hint: Option<String>,
    },
    Done(Box<Completed>),
}

/// A snapshot of a flow for status pages and `GET /api/v1/login/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub method: Method,
    /// awaiting_code | awaiting_password | awaiting_scan | done | expired | failed
    pub state: &'static str,
    pub code_kind: Option<CodeKind>,
    pub hint: Option<String>,
    pub qr_url: Option<String>,
    /// Unix time the current QR token expires.
    pub qr_expires_at: Option<i64>,
    /// Seconds until the flow itself expires.
    pub expires_in: u64,
    pub error: Option<(u16, &'static str, String)>,
}

enum State {
    AwaitingCode {
        phone: String,
        hash: String,
        kind: CodeKind,
    },
    AwaitingPassword {
        challenge: PasswordChallenge,
        phone: Option<String>,
    },
    AwaitingScan {
        token: Vec<u8>,
        expires_at: i64,
    },
    /// Completed; the result waits to be taken once.
    Done(Option<Box<Completed>>),
    Failed(Mapped),
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitingCode { .. } => "awaiting_code",
            State::AwaitingPassword { .. } => "awaiting_password",
            State::AwaitingScan { .. } => "awaiting_scan",
            State::Done(_) => "done",
            State::Failed(_) => "failed",
        }
    }
}

struct Flow {
    method: Method,
    expires: Instant,
    session: Arc<StoredSession>,
    client: grammers_client::Client,
    live: Mutex<Option<LiveClient>>,
    state: AsyncMutex<State>,
    tries: Mutex<u32>,
}

impl Flow {
    fn count_try(&self, max: u32) -> bool {
        let mut t = self.tries.lock().unwrap_or_else(|e| e.into_inner());
        *t += 1;
        *t < max
    }

    async fn stop(&self) {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(live) = live {
            live.stop().await;
        }
    }
}

/// Every login flow of the process. Cheap to clone.
#[derive(Clone)]
pub struct LoginFlows {
    inner: Arc<Inner>,
}

struct Inner {
    flows: Mutex<HashMap<String, Arc<Flow>>>,
    backend: Backend,
    sessions: SessionStore,
    api_hash: Secret<String>,
    limits: FlowLimits,
}

fn new_flow_id() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unix_now() -> i64 {
    crate::store::now()
}

fn qr_url(token: &[u8]) -> String {
    format!(
        "tg://login?token={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
    )
}

impl LoginFlows {
    pub fn new(
        backend: Backend,
        sessions: SessionStore,
        api_hash: Secret<String>,
        limits: FlowLimits,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                flows: Mutex::new(HashMap::new()),
                backend,
                sessions,
                api_hash,
                limits,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Flow>>> {
        self.inner.flows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &str) -> Result<Arc<Flow>, FlowError> {
        let flow = self.lock().get(id).cloned().ok_or(FlowError::NotFound)?;
        if flow.expires <= Instant::now() {
            self.remove(id);
            return Err(FlowError::NotFound);
        }
        Ok(flow)
    }

    fn remove(&self, id: &str) {
        if let Some(flow) = self.lock().remove(id) {
            tokio::spawn(async move { flow.stop().await });
        }
    }

    /// How many flows are open (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops expired flows and stops their clients. Call periodically.
    pub async fn sweep(&self) {
        let now = Instant::now();
        let expired: Vec<Arc<Flow>> = {
            let mut flows = self.lock();
            let ids: Vec<String> = flows
                .iter()
                .filter(|(_, f)| f.expires <= now)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| flows.remove(id)).collect()
        };
        for flow in expired {
            flow.stop().await;
        }
    }

    /// Stops every flow's client (at shutdown).
    pub async fn close_all(&self) {
        let all: Vec<Arc<Flow>> = self.lock().drain().map(|(_, f)| f).collect();
        for flow in all {
            flow.stop().await;
        }
    }

    async fn new_flow(&self, method: Method) -> Result<(Arc<Flow>, LiveClient), FlowError> {
        let seed = self.inner.backend.seed().await?;
        let session = self.inner.sessions.create(seed);
        let live = LiveClient::start(Arc::clone(&session), self.inner.backend.api_id());
        let flow = Arc::new(Flow {
            method,
            expires: Instant::now() + self.inner.limits.ttl,
            session,
            client: live.client.clone(),
            live: Mutex::new(None),
            state: AsyncMutex::new(State::Failed(errors::map(&InvocationError::Dropped(
                "not started",
            )))),
            tries: Mutex::new(0),
        });
        Ok((flow, live))
    }

    /// Sends a login code to `phone` (E.164) and opens a flow.
    pub async fn start_phone(&self, phone: &str) -> Result<(String, Step), FlowError> {
        let (flow, live) = self.new_flow(Method::Phone).await?;
        let sent = login::send_code(
            &flow.client,
            &flow.session,
            phone,
            self.inner.backend.api_id(),
            self.inner.api_hash.expose(),
        )
        .await;
        let sent = match sent {
            Ok(s) => s,
            Err(e) => {
                live.stop().await;
                return Err(FlowError::from_login(e));
            }
        };
        *flow.state.lock().await = State::AwaitingCode {
            phone: phone.to_string(),
            hash: sent.phone_code_hash,
            kind: sent.kind,
        };
        *flow.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(live);
        let id = new_flow_id();
        self.lock().insert(id.clone(), flow);
        Ok((
            id,
            Step::Code {
                kind: sent.kind,
                timeout: sent.timeout,
            },
        ))
    }

    /// Sends the code again (auth.resendCode).
    pub async fn resend(&self, id: &str) -> Result<Step, FlowError> {
        let flow = self.get(id)?;
        let mut state = flow.state.lock().await;
        let State::AwaitingCode { phone, hash, kind } = &mut *state else {
            return Err(FlowError::WrongStep {
                expected: "awaiting_code",
                actual: state.name(),
            });
        };
        match login::resend_code(&flow.client, phone, hash).await {
            Ok(sent) => {
                *hash = sent.phone_code_hash;
                *kind = sent.kind;
                Ok(Step::Code {
                    kind: sent.kind,
                    timeout: sent.timeout,
                })
            }
            Err(e) => {
                let err = FlowError::from_login(e);
                self.after_error(id, &flow, &mut state, &err);
                Err(err)
            }
        }
    }

    /// Signs in with the code.
    pub async fn submit_code(&self, id: &str, code: &str) -> Result<Step, FlowError> {
        let flow = self.get(id)?;
        let mut state = flow.state.lock().await;
        let State::AwaitingCode { phone, hash, .. } = &*state else {
            return Err(FlowError::WrongStep {
                expected: "awaiting_code",
                actual: state.name(),
            });
        };
        let phone = phone.clone();
        let result = login::sign_in(&flow.client, &flow.session, &phone, hash, code).await;
        match result {
            Ok(SignIn::Done(user)) => Ok(self.finish(&flow, &mut state, *user, Some(phone))),
            Ok(SignIn::PasswordNeeded(challenge)) => {
                let hint = challenge.hint.clone();
                *state = State::AwaitingPassword {
                    challenge,
                    phone: Some(phone),
                };
                Ok(Step::Password { hint })
            }
            Err(e) => {
                let err = FlowError::from_login(e);
                Err(self.after_try_error(id, &flow, &mut state, err))
            }
        }
    }

    /// Answers the 2FA password (SRP runs off the async workers).
    pub async fn submit_password(&self, id: &str, password: String) -> Result<Step, FlowError> {
        let password = Zeroizing::new(password);
        let flow = self.get(id)?;
        let mut state = flow.state.lock().await;
        let State::AwaitingPassword { challenge, phone } = &*state else {
            return Err(FlowError::WrongStep {
                expected: "awaiting_password",
                actual: state.name(),
            });
        };
        let phone = phone.clone();
        let mut challenge = challenge.clone();
        let mut result = login::check_password(
            &flow.client,
            &flow.session,
            &challenge,
            password.to_string(),
        )
        .await;
        // SRP_ID_INVALID: the challenge went stale; fetch a new one and retry once.
        if let Err(LoginError::Telegram(InvocationError::Rpc(rpc))) = &result
            && rpc.name == "SRP_ID_INVALID"
        {
            match login::password_challenge(&flow.client).await {
                Ok(fresh) => {
                    challenge = fresh;
                    result = login::check_password(
                        &flow.client,
                        &flow.session,
                        &challenge,
                        password.to_string(),
                    )
                    .await;
                }
                Err(e) => result = Err(e),
            }
        }
        match result {
            Ok(user) => Ok(self.finish(&flow, &mut state, user, phone)),
            Err(e) => {
                let err = FlowError::from_login(e);
                // A wrong password makes Telegram issue a new SRP challenge.
                if let Ok(fresh) = login::password_challenge(&flow.client).await {
                    *state = State::AwaitingPassword {
                        challenge: fresh,
                        phone,
                    };
                }
                Err(self.after_try_error(id, &flow, &mut state, err))
            }
        }
    }

    /// Opens a QR login flow: `tg://login?token=…`, refreshed before it
    /// expires, completed when a logged-in device accepts it.
    pub async fn start_qr(&self) -> Result<(String, Status), FlowError> {
        let (flow, mut live) = self.new_flow(Method::Qr).await?;
        let updates = live.updates.take();
        let exported = export_token(
            &flow.client,
            self.inner.backend.api_id(),
            &self.inner.api_hash,
        )
        .await;
        let answer = match exported {
            Ok(a) => a,
            Err(e) => {
                live.stop().await;
                return Err(FlowError::Telegram(errors::map(&e)));
            }
        };
        *flow.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(live);
        let id = new_flow_id();
        {
            let mut state = flow.state.lock().await;
            self.apply_token_answer(&flow, &mut state, answer).await;
        }
        self.lock().insert(id.clone(), Arc::clone(&flow));
        if let Some(updates) = updates {
            // No flow id in its logs: for a QR login over the API it is the
            // credential that collects the token.
            tokio::spawn(
                self.clone()
                    .watch_qr(flow, updates)
                    .instrument(tracing::debug_span!("qr_login")),
            );
        }
        let status = self.status(&id).await?;
        Ok((id, status))
    }

    /// Waits for updateLoginToken (the scan) and refreshes the token before
    /// it expires, until the flow leaves the scanning state.
    async fn watch_qr(self, flow: Arc<Flow>, mut updates: mpsc::Receiver<UpdatesLike>) {
        // (token expiry it was computed for, when to refresh)
        let mut refresh: Option<(i64, tokio::time::Instant)> = None;
        loop {
            let expires_at = match &*flow.state.lock().await {
                State::AwaitingScan { expires_at, .. } => *expires_at,
                _ => return,
            };
            let refresh_at = match refresh {
                Some((for_expiry, at)) if for_expiry == expires_at => at,
                _ => {
                    // Refresh a few seconds early so a displayed code is always valid.
                    let until_expiry =
                        Duration::from_secs((expires_at - unix_now() - 3).max(1) as u64);
                    let at = tokio::time::Instant::now()
                        + until_expiry.min(self.inner.limits.qr_refresh);
                    refresh = Some((expires_at, at));
                    at
                }
            };
            tokio::select! {
                u = updates.recv() => match u {
                    Some(u) if is_login_token_update(&u) => {}
                    Some(_) => continue,
                    None => return,
                },
                _ = tokio::time::sleep_until(refresh_at) => {}
                _ = tokio::time::sleep_until(flow.expires.into()) => return,
            }
            let mut state = flow.state.lock().await;
            if !matches!(*state, State::AwaitingScan { .. }) {
                return;
            }

            match export_token(
                &flow.client,
                self.inner.backend.api_id(),
                &self.inner.api_hash,
            )
            .await
            {
                Ok(answer) => self.apply_token_answer(&flow, &mut state, answer).await,
                Err(e) => {
                    let mapped = errors::map(&e);
                    if mapped.code == "password_needed" {
                        self.to_password(&flow, &mut state).await;
                    } else if mapped.status == 503 || mapped.status == 429 {
                        // Try again at the next tick; the old token stays shown.
                        debug!(error = %mapped.telegram_error, "QR refresh failed");
                        drop(state);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    } else {
                        *state = State::Failed(mapped);
                    }
                }
            }
        }
    }

    async fn to_password(&self, flow: &Flow, state: &mut State) {
        match login::password_challenge(&flow.client).await {
            Ok(challenge) => {
                *state = State::AwaitingPassword {
                    challenge,
                    phone: None,
                }
            }
            Err(e) => *state = State::Failed(login_error_mapped(e)),
        }
    }

    async fn apply_token_answer(
        &self,
        flow: &Flow,
        state: &mut State,
        answer: tl::enums::auth::LoginToken,
    ) {
        use tl::enums::auth::LoginToken as T;
        let auth = match answer {
            T::Token(t) => {
                *state = State::AwaitingScan {
                    token: t.token,
                    expires_at: i64::from(t.expires),
                };
                return;
            }
            T::Success(s) => s.authorization,
            T::MigrateTo(m) => {
                // The account lives on another data centre: import the token there.
                if let Err(e) = flow.session.set_home_dc_id(m.dc_id).await {
                    *state = State::Failed(login_error_mapped(LoginError::Session(e.to_string())));
                    return;
                }
                let imported = calls::invoke_in_dc(
                    &flow.client,
                    m.dc_id,
                    &tl::functions::auth::ImportLoginToken { token: m.token },
                )
                .await;
                match imported {
                    Ok(T::Success(s)) => s.authorization,
                    Ok(_) => {
                        *state = State::Failed(login_error_mapped(LoginError::Unexpected(
                            "importing a QR login token did not log in",
                        )));
                        return;
                    }
                    Err(e) if e.is("SESSION_PASSWORD_NEEDED") => {
                        self.to_password(flow, state).await;
                        return;
                    }
                    Err(e) => {
                        *state = State::Failed(errors::map(&e));
                        return;
                    }
                }
            }
        };
        match login::complete_login(&flow.client, &flow.session, auth).await {
            // Completed in the background: the result waits for its taker.
            Ok(user) => *state = State::Done(Some(completed(flow, user, None))),
            Err(e) => *state = State::Failed(login_error_mapped(e)),
        }
    }

    /// Completed in the foreground: the caller gets the result now, and the
    /// status says "done".
    fn finish(
        &self,
        flow: &Flow,
        state: &mut State,
        user: tl::types::User,
        phone: Option<String>,
    ) -> Step {
        *state = State::Done(None);
        Step::Done(completed(flow, user, phone))
    }

    /// Takes the result of a flow that completed in the background (QR).
    /// Returns it once; the flow is then closed.
    pub async fn take_completed(&self, id: &str) -> Result<Option<Box<Completed>>, FlowError> {
        let flow = self.get(id)?;
        let mut state = flow.state.lock().await;
        match &mut *state {
            State::Done(slot) => {
                let taken = slot.take();
                if taken.is_none() {
                    // Already handed out (or completed in the foreground).
                    return Ok(None);
                }
                drop(state);
                Ok(taken)
            }
            _ => Ok(None),
        }
    }

    /// Ends a flow that the caller has finished with (after taking its
    /// result): its temporary client stops; the session lives on in the result.
    pub async fn close(&self, id: &str) {
        let flow = self.lock().remove(id);
        if let Some(flow) = flow {
            flow.stop().await;
        }
    }

    /// Ends a completed login that may not be used (its user is not on the
    /// allowlist): the new authorisation is logged out on Telegram, so it
    /// does not linger under Settings → Devices, then the flow is cancelled.
    /// Returns whether the flow existed.
    pub async fn refuse(&self, id: &str) -> bool {
        let flow = self.lock().remove(id);
        match flow {
            Some(flow) => {
                if let Err(e) = calls::invoke(&flow.client, &tl::functions::auth::LogOut {}).await {
                    warn!(error = %e, "cannot log out a refused login on Telegram");
                }
                flow.stop().await;
                let _ = flow.session.shred().await;
                true
            }
            None => false,
        }
    }

    /// Cancels a flow. Returns whether it existed.
    pub async fn cancel(&self, id: &str) -> bool {
        let flow = self.lock().remove(id);
        match flow {
            Some(flow) => {
                flow.stop().await;
                let _ = flow.session.shred().await;
                true
            }
            None => false,
        }
    }

    /// Where a flow stands.
    pub async fn status(&self, id: &str) -> Result<Status, FlowError> {
        let flow = self.get(id)?;
        let state = flow.state.lock().await;
        let mut status = Status {
            method: flow.method,
            state: state.name(),
            code_kind: None,
            hint: None,
            qr_url: None,
            qr_expires_at: None,
            expires_in: flow
                .expires
                .saturating_duration_since(Instant::now())
                .as_secs(),
            error: None,
        };
        match &*state {
            State::AwaitingCode { kind, .. } => status.code_kind = Some(*kind),
            State::AwaitingPassword { challenge, .. } => status.hint = challenge.hint.clone(),
            State::AwaitingScan { token, expires_at } => {
                status.qr_url = Some(qr_url(token));
                status.qr_expires_at = Some(*expires_at);
            }
            State::Done(_) => {}
            State::Failed(m) => status.error = Some((m.status, m.code, m.message.clone())),
        }
        Ok(status)
    }

    /// After a failed code or password: count the try, and end the flow when
    /// the error says so or the tries run out.
    fn after_try_error(
        &self,
        id: &str,
        flow: &Flow,
        state: &mut State,
        err: FlowError,
    ) -> FlowError {
        if let FlowError::Telegram(m) = &err
            && m.next == FlowNext::Stay
            && matches!(m.code, "code_invalid" | "password_invalid")
            && !flow.count_try(self.inner.limits.max_tries)
        {
            *state = State::Failed(Mapped {
                status: 429,
                code: "too_many_attempts",
                message: "Too many wrong attempts for this login. Start again.".into(),
                next: FlowNext::Failed,
                account: errors::AccountImpact::None,
                retry_after: None,
                telegram_error: m.telegram_error.clone(),
            });
            self.remove(id);
            return FlowError::TooManyTries;
        }
        self.after_error(id, flow, state, &err);
        err
    }

    fn after_error(&self, id: &str, _flow: &Flow, state: &mut State, err: &FlowError) {
        if let FlowError::Telegram(m) = err
            && matches!(m.next, FlowNext::BackToPhone | FlowNext::Failed)
        {
            *state = State::Failed(m.clone());
            self.remove(id);
        }
    }
}

fn completed(flow: &Flow, user: tl::types::User, phone: Option<String>) -> Box<Completed> {
    Box::new(Completed {
        user,
        session: Arc::clone(&flow.session),
        phone,
        method: flow.method,
    })
}

fn login_error_mapped(e: LoginError) -> Mapped {
    match e {
        LoginError::Telegram(e) => errors::map(&e),
        other => {
            warn!(error = %other, "login failed");
            let mut m = errors::map(&InvocationError::Dropped("login failed"));
            m.status = 502;
            m.code = "login_failed";
            m.message = "Telegram's answer could not be used to log in. Start again.".into();
            m
        }
    }
}

async fn export_token(
    client: &grammers_client::Client,
    api_id: i32,
    api_hash: &Secret<String>,
) -> Result<tl::enums::auth::LoginToken, InvocationError> {
    calls::invoke(
        client,
        &tl::functions::auth::ExportLoginToken {
            api_id,
            api_hash: api_hash.expose().clone(),
            except_ids: Vec::new(),
        },
    )
    .await
}

fn is_login_token_update(u: &UpdatesLike) -> bool {
    let UpdatesLike::Updates(updates) = u else {
        return false;
    };
    match updates {
        tl::enums::Updates::UpdateShort(s) => matches!(s.update, tl::enums::Update::LoginToken),
        tl::enums::Updates::Updates(u) => u
            .updates
            .iter()
            .any(|x| matches!(x, tl::enums::Update::LoginToken)),
        _ => false,
    }
}
