//! The cookies tgdesk sets: the web session, the login binding (before a
//! login is complete) and the login flow in progress. All are HttpOnly and
//! SameSite=Lax; with secure cookies on they are also `Secure` and carry the
//! `__Host-` prefix, so no other site or subdomain can set or read them.

use axum::http::{HeaderMap, HeaderValue, header};

/// The web session of a logged-in staff member.
pub const SESSION: &str = "tgdesk_session";
/// A random value binding a browser's login pages together (CSRF before login).
pub const LOGIN: &str = "tgdesk_login";
/// The login flow in progress in this browser.
pub const FLOW: &str = "tgdesk_flow";

/// How cookies are written, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// The name a cookie has on the wire (`__Host-` prefixed when secure).
    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// The value of cookie `base` in a request, if present and non-empty.
    pub fn get(&self, headers: &HeaderMap, base: &str) -> Option<String> {
        let name = self.name(base);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A `Set-Cookie` value. `value` must be cookie-safe (base64url or
    /// similar); it always is, since tgdesk makes every value itself.
    pub fn set(&self, base: &str, value: &str, max_age_secs: u64) -> HeaderValue {
        let mut cookie = format!(
            "{}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax",
            self.name(base)
        );
        if self.secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A `Set-Cookie` value that removes the cookie.
    pub fn clear(&self, base: &str) -> HeaderValue {
        self.set(base, "", 0)
    }
}

/// Whether a value is safe to put in a cookie as is (tgdesk's values are
/// base64url), so a crafted cookie cannot be echoed into a header.
pub fn is_token_like(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_cookies_get_the_host_prefix_and_every_flag() {
        let c = Cookies::new(true);
        let v = c.set(SESSION, "abc", 60);
        assert_eq!(
            v.to_str().expect("ascii"),
            "__Host-tgdesk_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        let plain = Cookies::new(false).set(SESSION, "abc", 60);
        assert_eq!(
            plain.to_str().expect("ascii"),
            "tgdesk_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn cookies_are_found_by_their_exact_name() {
        let c = Cookies::new(false);
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("xtgdesk_login=no; tgdesk_login=yes"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("tgdesk_flow=f1"));
        assert_eq!(c.get(&headers, LOGIN).as_deref(), Some("yes"));
        assert_eq!(c.get(&headers, FLOW).as_deref(), Some("f1"));
        assert_eq!(c.get(&headers, SESSION), None);
        assert_eq!(Cookies::new(true).get(&headers, LOGIN), None);
    }

    #[test]
    fn only_base64url_values_are_token_like() {
        assert!(is_token_like("aZ09-_"));
        assert!(!is_token_like(""));
        assert!(!is_token_like("a;b"));
        assert!(!is_token_like(&"a".repeat(129)));
    }
}
