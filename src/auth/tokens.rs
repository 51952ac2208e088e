//! Bearer API tokens for programs, and the [`ApiClient`] extractor.
//!
//! A token reads `tgd_<prefix>_<secret>`: 48 random bits of public prefix to
//! find its row, 256 random bits of secret. The database keeps the prefix
//! and the SHA-256 of the whole token; the token itself is shown once, when
//! it is made. Verification compares hashes in constant time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::app::AppState;
use crate::secret::Secret;
use crate::store::accounts::{self, Account, AccountState};
use crate::store::tokens::{self, ApiToken, NewToken, TokenRole};
use crate::store::{Db, StoreError};
use crate::telegram::pool::Liveness;
use crate::web::error::Error;

const SCHEME: &str = "tgd_";
const PREFIX_BYTES: usize = 6;
/// Use is recorded at most this often per token.
const TOUCH_EVERY: i64 = 60;
/// How long a verified token (and its account) is trusted without asking
/// the database again. Changes made by this process (revoking a token,
/// logging out, a reset) apply at once through [`TokenCache::forget_account`]
/// and [`TokenCache::forget_token`]; changes made elsewhere (the CLI, SQL by
/// hand, another instance on the same database) apply within this time.
pub const CACHE_TTL: Duration = Duration::from_secs(1);
/// Expired entries are swept when the cache grows past this many.
const CACHE_SWEEP_AT: usize = 4096;

/// Recently verified tokens, keyed by the SHA-256 of the whole token, so a
/// busy poller costs no database read per request.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<Vec<u8>, Cached>>,
}

struct Cached {
    token: ApiToken,
    account: Option<Account>,
    at: Instant,
}

impl TokenCache {
    fn get(&self, hash: &[u8]) -> Option<(ApiToken, Option<Account>)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let hit = entries.get(hash)?;
        (hit.at.elapsed() < CACHE_TTL).then(|| (hit.token.clone(), hit.account.clone()))
    }

    fn put(&self, hash: Vec<u8>, token: ApiToken, account: Option<Account>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_SWEEP_AT {
            entries.retain(|_, c| c.at.elapsed() < CACHE_TTL);
        }
        entries.insert(
            hash,
            Cached {
                token,
                account,
                at: Instant::now(),
            },
        );
    }

    fn touched(&self, hash: &[u8], now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = entries.get_mut(hash) {
            c.token.last_used_at = Some(now);
        }
    }

    /// Drops every cached token of an account (its state changed, or its
    /// tokens were revoked).
    pub fn forget_account(&self, account_id: i64) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, c| c.token.account_id != Some(account_id));
    }

    /// Drops one token (it was revoked).
    pub fn forget_token(&self, token_id: i64) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, c| c.token.id != token_id);
    }
}

/// The SHA-256 of a whole token, as stored.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Splits `tgd_<prefix>_<secret>` into its prefix, if it has that shape.
pub fn prefix_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(SCHEME)?;
    let (prefix, secret) = rest.split_once('_')?;
    let prefix_ok = prefix.len() == PREFIX_BYTES * 2
        && prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (prefix_ok && secret_ok).then_some(prefix)
}

/// Makes and stores a new token. Returns the token (show it once) and its row.
pub async fn issue(
    db: &Db,
    account_id: Option<i64>,
    name: &str,
    role: TokenRole,
    now: i64,
) -> Result<(Secret<String>, ApiToken), StoreError> {
    let mut last_error = None;
    // A prefix collision (one in 2^48 per pair) is retried with a new token.
    for _ in 0..3 {
        let prefix = hex::encode(rand::random::<[u8; PREFIX_BYTES]>());
        let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let token = Secret::new(format!("{SCHEME}{prefix}_{secret}"));
        let row = tokens::insert(
            db.pool(),
            &NewToken {
                account_id,
                name,
                prefix: &prefix,
                hash: &hash(token.expose()),
                role,
            },
            now,
        )
        .await;
        match row {
            Ok(row) => return Ok((token, row)),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or(StoreError::BadValue {
        column: "api_tokens.prefix",
        value: "no attempt made".into(),
    }))
}

/// Why a presented token was not accepted (logged, never shown in detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    UnknownPrefix,
    WrongSecret,
    Revoked,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "not a tgdesk token",
            Refusal::UnknownPrefix => "no token with this prefix",
            Refusal::WrongSecret => "the secret does not match",
            Refusal::Revoked => "the token was revoked",
        }
    }
}

/// Finds the live token a bearer string stands for.
pub async fn verify(db: &Db, presented: &str) -> Result<Result<ApiToken, Refusal>, StoreError> {
    verify_hashed(db, presented, &hash(presented)).await
}

/// [`verify`] with the token's [`hash`] already computed (the extractor
/// needs it for its cache key).
async fn verify_hashed(
    db: &Db,
    presented: &str,
    presented_hash: &[u8],
) -> Result<Result<ApiToken, Refusal>, StoreError> {
    let Some(prefix) = prefix_of(presented) else {
        return Ok(Err(Refusal::Malformed));
    };
    let Some(row) = tokens::get_by_prefix(db.pool(), prefix).await? else {
        return Ok(Err(Refusal::UnknownPrefix));
    };
    if row.hash.len() != presented_hash.len() || !bool::from(row.hash.ct_eq(presented_hash)) {
        return Ok(Err(Refusal::WrongSecret));
    }
    if row.revoked_at.is_some() {
        return Ok(Err(Refusal::Revoked));
    }
    Ok(Ok(row))
}

/// A program calling with a valid bearer token.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub token: ApiToken,
    /// The account the token acts for (staff tokens always have one).
    pub account: Option<Account>,
}

impl ApiClient {
    pub fn is_admin(&self) -> bool {
        self.token.role == TokenRole::Admin
    }
}

/// Why a request carries no usable token: 401 with `WWW-Authenticate`, or
/// 403 when the token is fine but its account no longer works.
#[derive(Debug)]
pub struct ApiRejection(Error);

impl IntoResponse for ApiRejection {
    fn into_response(self) -> Response {
        let unauthorized = self.0.status() == axum::http::StatusCode::UNAUTHORIZED;
        let mut response = self.0.into_response();
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tgdesk\""),
            );
        }
        response
    }
}

impl FromRequestParts<AppState> for ApiClient {
    type Rejection = ApiRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path().to_owned();
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(header) = header else {
            tracing::debug!(%path, reason = "no Authorization header", "API request rejected");
            return Err(ApiRejection(Error::unauthorized(
                "This needs an API token: send 'Authorization: Bearer <token>'.",
            )));
        };
        let presented = match header.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => {
                tracing::info!(%path, reason = "Authorization is not a bearer token", "API request rejected");
                return Err(ApiRejection(Error::unauthorized(
                    "The Authorization header must read 'Bearer <token>'.",
                )));
            }
        };
        let internal = |e: StoreError| ApiRejection(Error::internal(e));
        let presented_hash = hash(presented);
        let cache = &state.auth.api_cache;
        let cached = cache.get(&presented_hash).filter(|(_, account)| {
            // A session that ended while cached (revoked from another
            // device) is looked up again at once.
            account
                .as_ref()
                .is_none_or(|a| !matches!(state.pool.liveness(a.id), Some(Liveness::Ended(_))))
        });
        let (token, account) = match cached {
            Some(hit) => hit,
            None => {
                let token = match verify_hashed(&state.db, presented, &presented_hash)
                    .await
                    .map_err(internal)?
                {
                    Ok(token) => token,
                    Err(refusal) => {
                        tracing::info!(%path, reason = refusal.as_str(), "API request rejected");
                        return Err(ApiRejection(
                            super::admin::refused_token(state, presented, refusal).await,
                        ));
                    }
                };
                let account = match token.account_id {
                    Some(id) => accounts::get(state.db.pool(), id).await.map_err(internal)?,
                    None => None,
                };
                cache.put(presented_hash.clone(), token.clone(), account.clone());
                (token, account)
            }
        };
        if token.role == TokenRole::Staff {
            match &account {
                Some(a) if a.state == AccountState::Active => {}
                Some(a) => {
                    tracing::info!(%path, token_id = token.id, account_id = a.id, state = %a.state, reason = "the account is not active", "API request rejected");
                    return Err(ApiRejection(account_ended(a.state)));
                }
                None => {
                    tracing::warn!(%path, token_id = token.id, reason = "the token's account is gone", "API request rejected");
                    return Err(ApiRejection(Error::unauthorized(
                        "This API token is not valid (mistyped, revoked or unknown).",
                    )));
                }
            }
        }
        let now = crate::store::now();
        if token.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY) {
            tokens::touch_last_used(state.db.pool(), token.id, now)
                .await
                .map_err(internal)?;
            cache.touched(&presented_hash, now);
        }
        Ok(ApiClient { token, account })
    }
}

/// The error for a token whose account's Telegram session has ended.
pub fn account_ended(state: AccountState) -> Error {
    match state {
        AccountState::Revoked => Error::forbidden(
            "This account's Telegram session was ended from another device. Log in again.",
        )
        .with_code("account_revoked"),
        AccountState::Reset => {
            Error::forbidden("An administrator reset this account's session. Log in again.")
                .with_code("account_reset")
        }
        AccountState::Deactivated => Error::forbidden("Telegram has deactivated this account.")
            .with_code("account_deactivated"),
        AccountState::Active => Error::forbidden("This account cannot be used."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_have_a_prefix() {
        let secret = "A".repeat(43);
        assert_eq!(
            prefix_of(&format!("tgd_0123456789ab_{secret}")),
            Some("0123456789ab")
        );
        assert_eq!(prefix_of(&format!("tgd_0123456789AB_{secret}")), None);
        assert_eq!(prefix_of(&format!("tgd_0123456789a_{secret}")), None);
        assert_eq!(prefix_of("tgd_0123456789ab_short"), None);
        assert_eq!(prefix_of(&format!("xyz_0123456789ab_{secret}")), None);
        assert_eq!(prefix_of(""), None);
    }
}
