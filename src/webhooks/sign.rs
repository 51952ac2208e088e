//! Webhook secrets, signatures and URL checks.
//!
//! A secret reads `whsec_<43 characters>` (256 random bits, base64url). The
//! receiver uses the whole string, prefix included, as the HMAC key:
//! `X-Tgdesk-Signature: sha256=<hex(HMAC-SHA256(secret, timestamp + "." + body))>`
//! with `timestamp` the `X-Tgdesk-Timestamp` header (Unix seconds).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::secret::Secret;

const SECRET_PREFIX: &str = "whsec_";
/// Longest URL a webhook may have.
pub const MAX_URL_LEN: usize = 2048;

/// A fresh signing secret.
pub fn new_secret() -> Secret<String> {
    let bytes: [u8; 32] = rand::random();
    Secret::new(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The `X-Tgdesk-Signature` value of `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a URL cannot be a webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("not a URL: {0}; give an absolute URL such as https://example.com/hooks/tgdesk")]
    Malformed(String),
    #[error("webhooks are http:// or https:// URLs, not {0}://")]
    Scheme(String),
    #[error("the URL names no host")]
    NoHost,
}

/// Checks and normalises a webhook URL: absolute, http or https, with a host.
pub fn check_url(raw: &str) -> Result<reqwest::Url, UrlError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    let url = reqwest::Url::parse(raw).map_err(|e| UrlError::Malformed(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(UrlError::Scheme(other.chars().take(20).collect())),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::NoHost);
    }
    Ok(url)
}

/// The host (and port) of a URL, for logs and audit entries: never its
/// path or query, which may carry a receiver's own token.
pub fn host_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        },
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        assert_ne!(
            signature(b"Jefe", 1, b"x"),
            signature(b"Jefe", 2, b"x"),
            "the timestamp is signed"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").expect("key");
        mac.update(b"17.{}");
        assert_eq!(
            signature(b"k", 17, b"{}"),
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
    }

    #[test]
    fn secrets_are_fresh_and_prefixed() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.expose().starts_with("whsec_"));
        assert_eq!(a.expose().len(), 6 + 43);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        assert!(check_url("https://example.com/hook").is_ok());
        assert!(check_url(" http://127.0.0.1:8080/x?y=1 ").is_ok());
        assert_eq!(
            check_url("ftp://example.com/"),
            Err(UrlError::Scheme("ftp".into()))
        );
        assert!(matches!(
            check_url("example.com"),
            Err(UrlError::Malformed(_))
        ));
        assert!(matches!(check_url(""), Err(UrlError::Malformed(_))));
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(3000))).is_err());
        assert_eq!(
            host_of("https://u:p@hooks.example.com:8443/t?k=s"),
            "hooks.example.com:8443"
        );
    }
}
