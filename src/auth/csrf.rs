//! Cross-site request forgery: every form POST carries a token, and every
//! unsafe request to a page route must come from our own origin.
//!
//! - Before login there is no session yet: the browser holds a random login
//!   binding in an HttpOnly cookie and the form token is an HMAC of it under
//!   a key this process draws at start. Another site can neither read the
//!   cookie nor compute the token. (After a restart old forms answer "reload
//!   the page" — login flows do not survive a restart either.)
//! - After login the token is the web session's own CSRF secret, kept in the
//!   database beside the session.
//! - [`check_origin`] refuses unsafe requests whose `Origin` is not ours or
//!   whose `Sec-Fetch-Site` says another site sent them.
//!
//! Tokens are compared in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::app::AppState;
use crate::secret::Secret;
use crate::store::web_sessions::WebSession;
use crate::web::error::{Error, PageError};

/// The per-process key of pre-login CSRF tokens.
pub struct CsrfKey(Secret<[u8; 32]>);

impl CsrfKey {
    pub fn generate() -> Self {
        Self(Secret::new(rand::random()))
    }

    fn mac(&self, binding: &str) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose()).ok()?;
        mac.update(b"tgdesk login form\0");
        mac.update(binding.as_bytes());
        Some(mac)
    }

    /// The form token for a browser's login binding.
    pub fn login_token(&self, binding: &str) -> String {
        match self.mac(binding) {
            Some(mac) => URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()),
            None => String::new(),
        }
    }

    /// Whether `token` is the form token of `binding`.
    pub fn verify_login(&self, binding: &str, token: &str) -> bool {
        let Ok(presented) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        self.mac(binding)
            .is_some_and(|mac| mac.verify_slice(&presented).is_ok())
    }
}

/// The form token of a web session.
pub fn session_token(session: &WebSession) -> String {
    URL_SAFE_NO_PAD.encode(&session.csrf_secret)
}

/// Whether `token` is the form token of `session`.
pub fn verify_session(session: &WebSession, token: &str) -> bool {
    let Ok(presented) = URL_SAFE_NO_PAD.decode(token.trim()) else {
        return false;
    };
    !session.csrf_secret.is_empty()
        && presented.len() == session.csrf_secret.len()
        && bool::from(presented.ct_eq(&session.csrf_secret))
}

/// The 403 of a form whose token is missing or wrong.
pub fn rejected() -> Error {
    Error::forbidden(
        "This form has expired (the service may have restarted) or did not come from this site. Start again from this page.",
    )
    .with_code("csrf_failed")
}

/// Refuses unsafe requests (POST, PUT, PATCH, DELETE) to page routes that
/// another site sent. The JSON API is left alone: it uses bearer tokens,
/// which a browser never attaches on its own.
pub async fn check_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if safe || request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    match origin_problem(request.headers(), state.config.public_url.as_deref()) {
        None => next.run(request).await,
        Some(reason) => {
            tracing::warn!(
                method = %request.method(),
                path = %request.uri().path(),
                reason,
                "cross-site request refused"
            );
            PageError(
                Error::forbidden(
                    "This request came from another site and was refused. Open tgdesk directly and try again.",
                )
                .with_code("cross_site_request"),
            )
            .into_response()
        }
    }
}

/// Why a request does not look same-origin, if it does not.
fn origin_problem(headers: &HeaderMap, public_url: Option<&str>) -> Option<&'static str> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some("Sec-Fetch-Site is not same-origin");
    }
    let origin = text(header::ORIGIN.as_str())?;
    let expected = match public_url {
        Some(url) => origin_of(url).to_owned(),
        None => {
            let Some(host) = text(header::HOST.as_str()) else {
                return Some("Origin present but no Host to compare it with");
            };
            // Without a public URL the service is reached directly: plain HTTP.
            format!("http://{host}")
        }
    };
    if origin.eq_ignore_ascii_case(&expected) {
        None
    } else {
        Some("Origin is not this site")
    }
}

/// `https://desk.example.com/base` → `https://desk.example.com`.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn login_tokens_are_bound_to_the_binding_and_the_process() {
        let key = CsrfKey::generate();
        let token = key.login_token("binding-a");
        assert!(key.verify_login("binding-a", &token));
        assert!(!key.verify_login("binding-b", &token));
        assert!(!key.verify_login("binding-a", ""));
        assert!(!key.verify_login("binding-a", "not base64 !"));
        assert!(!CsrfKey::generate().verify_login("binding-a", &token));
    }

    #[test]
    fn session_tokens_match_only_their_session() {
        let session = WebSession {
            id_hash: vec![1; 32],
            account_id: 1,
            csrf_secret: vec![7; 32],
            created_at: 0,
            expires_at: 1,
            last_seen_at: 0,
            user_agent: None,
            address: None,
        };
        let token = session_token(&session);
        assert!(verify_session(&session, &token));
        let other = WebSession {
            csrf_secret: vec![8; 32],
            ..session.clone()
        };
        assert!(!verify_session(&other, &token));
        assert!(!verify_session(&session, &token[..10]));
    }

    #[test]
    fn origins_are_compared_with_the_public_url_or_the_host() {
        assert_eq!(origin_problem(&headers(&[]), None), None);
        let same = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert_eq!(origin_problem(&same, None), None);
        let evil = headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(origin_problem(&evil, None).is_some());
        let public = headers(&[("origin", "https://desk.example.com")]);
        assert_eq!(
            origin_problem(&public, Some("https://desk.example.com/")),
            None
        );
        assert!(origin_problem(&public, Some("https://other.example.com")).is_some());
        let null = headers(&[("origin", "null"), ("host", "127.0.0.1:8080")]);
        assert!(origin_problem(&null, None).is_some());
        let cross = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(origin_problem(&cross, None).is_some());
        let direct = headers(&[("sec-fetch-site", "none")]);
        assert_eq!(origin_problem(&direct, None), None);
    }
}
