//! Web sessions: what the session cookie stands for, and the [`Staff`]
//! extractor that turns a request's cookie into a logged-in account.
//!
//! The cookie carries 256 random bits; the database keeps only their
//! SHA-256, so a copy of it lets nobody in. A session lives for
//! [`IDLE_TTL`] after its last use, and never more than [`MAX_TTL`] after
//! the login. Logging out deletes the row: the cookie is dead at once,
//! even if a copy of it survives somewhere.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use super::cookies::{self, is_token_like};
use super::csrf;
use crate::app::AppState;
use crate::secret::Secret;
use crate::store::accounts::{self, Account, AccountState};
use crate::store::web_sessions::{self, WebSession};
use crate::store::{Db, StoreError};
use crate::web::error::{Error, PageError};

/// A session ends this long after its last use.
pub const IDLE_TTL: i64 = 7 * 86_400;
/// A session ends this long after the login, used or not.
pub const MAX_TTL: i64 = 30 * 86_400;
/// Activity is written at most this often per session.
const TOUCH_EVERY: i64 = 60;
/// Longest user agent kept with a session.
const USER_AGENT_MAX: usize = 200;

/// The SHA-256 of a session token, as stored.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Starts a web session for an account. Returns the cookie value (shown to
/// the browser only) and the stored row.
pub async fn create(
    db: &Db,
    account_id: i64,
    user_agent: Option<&str>,
    address: &str,
    now: i64,
) -> Result<(Secret<String>, WebSession), StoreError> {
    let token = Secret::new(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
    let session = WebSession {
        id_hash: hash(token.expose()),
        account_id,
        csrf_secret: rand::random::<[u8; 32]>().to_vec(),
        created_at: now,
        expires_at: now + IDLE_TTL.min(MAX_TTL),
        last_seen_at: now,
        user_agent: user_agent.map(|ua| ua.chars().take(USER_AGENT_MAX).collect()),
        address: Some(address.to_owned()),
    };
    web_sessions::insert(db.pool(), &session).await?;
    // Housekeeping: sessions that ended meanwhile go now.
    web_sessions::delete_expired(db.pool(), now).await?;
    Ok((token, session))
}

/// Ends the session a cookie value stands for. Returns whether it existed.
pub async fn end(db: &Db, token: &str) -> Result<bool, StoreError> {
    web_sessions::delete(db.pool(), &hash(token)).await
}

/// A logged-in staff member: the account and the web session of this request.
#[derive(Debug, Clone)]
pub struct Staff {
    pub account: Account,
    pub session: WebSession,
}

impl Staff {
    /// The CSRF token for this session's forms.
    pub fn csrf_token(&self) -> String {
        csrf::session_token(&self.session)
    }

    /// Whether a form's CSRF token belongs to this session.
    pub fn verify_csrf(&self, token: &str) -> bool {
        csrf::verify_session(&self.session, token)
    }
}

/// Why a request is not from a logged-in staff member.
#[derive(Debug)]
pub enum StaffRejection {
    /// No session: log in (the reason is logged, not shown).
    SignedOut,
    /// The account's Telegram session has ended; the web session went with it.
    Ended(AccountState),
    Internal(Error),
}

impl IntoResponse for StaffRejection {
    fn into_response(self) -> Response {
        let target = match self {
            StaffRejection::SignedOut => "/login",
            StaffRejection::Ended(AccountState::Revoked) => "/login?m=revoked",
            StaffRejection::Ended(AccountState::Reset) => "/login?m=reset",
            StaffRejection::Ended(AccountState::Deactivated) => "/login?m=deactivated",
            StaffRejection::Ended(AccountState::Active) => "/login",
            StaffRejection::Internal(e) => return PageError(e).into_response(),
        };
        Redirect::to(target).into_response()
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = StaffRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path().to_owned();
        let Some(token) = state.auth.cookies.get(&parts.headers, cookies::SESSION) else {
            tracing::debug!(%path, reason = "no session cookie", "staff request rejected");
            return Err(StaffRejection::SignedOut);
        };
        resolve(state, &token, &path).await
    }
}

/// The staff member a session cookie value stands for. `path` is for the
/// log line that says why a request was rejected.
pub async fn resolve(state: &AppState, token: &str, path: &str) -> Result<Staff, StaffRejection> {
    if !is_token_like(token) {
        tracing::info!(%path, reason = "malformed session cookie", "staff request rejected");
        return Err(StaffRejection::SignedOut);
    }
    let id_hash = hash(token);
    let now = crate::store::now();
    let internal = |e: StoreError| StaffRejection::Internal(Error::internal(e));
    let Some(session) = web_sessions::get_live(state.db.pool(), &id_hash, now)
        .await
        .map_err(internal)?
    else {
        tracing::info!(%path, reason = "unknown, ended or expired session", "staff request rejected");
        return Err(StaffRejection::SignedOut);
    };
    let Some(account) = accounts::get(state.db.pool(), session.account_id)
        .await
        .map_err(internal)?
    else {
        tracing::warn!(%path, account_id = session.account_id, reason = "the session's account is gone", "staff request rejected");
        return Err(StaffRejection::SignedOut);
    };
    if account.state != AccountState::Active {
        tracing::info!(
            %path,
            account_id = account.id,
            state = %account.state,
            reason = "the account is not active",
            "staff request rejected"
        );
        web_sessions::delete(state.db.pool(), &id_hash)
            .await
            .map_err(internal)?;
        return Err(StaffRejection::Ended(account.state));
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        let expires = (now + IDLE_TTL).min(session.created_at + MAX_TTL);
        web_sessions::touch(state.db.pool(), &id_hash, now, Some(expires))
            .await
            .map_err(internal)?;
    }
    Ok(Staff { account, session })
}

/// The `Set-Cookie` of a new session.
pub fn cookie(
    state: &AppState,
    token: &Secret<String>,
) -> (header::HeaderName, axum::http::HeaderValue) {
    (
        header::SET_COOKIE,
        state
            .auth
            .cookies
            .set(cookies::SESSION, token.expose(), MAX_TTL as u64),
    )
}
