//! Who is asking, and may they: web sessions behind an HttpOnly cookie
//! ([`session::Staff`]), CSRF tokens and the Origin check ([`csrf`]), bearer
//! API tokens ([`tokens::ApiClient`]), rate limits on logging in
//! ([`limits`]), and logging in itself ([`login`]), shared by the pages and
//! the JSON API.
//!
//! Extractors log why they reject a request; secrets are compared in
//! constant time and never logged.

pub mod admin;
pub mod client_addr;
pub mod cookies;
pub mod csrf;
pub mod limits;
pub mod login;
pub mod session;
pub mod tokens;

use std::sync::Arc;

use crate::config::Config;

/// What authentication keeps in memory for the life of the process. Cheap
/// to clone.
#[derive(Clone)]
pub struct Auth {
    pub cookies: cookies::Cookies,
    pub csrf: Arc<csrf::CsrfKey>,
    pub limiter: Arc<limits::LoginLimiter>,
    /// Recently verified API tokens (see [`tokens::CACHE_TTL`]).
    pub api_cache: Arc<tokens::TokenCache>,
    pub(crate) logins: Arc<login::Registry>,
}

impl Auth {
    pub fn new(config: &Config) -> Self {
        Self {
            cookies: cookies::Cookies::new(config.secure_cookies),
            csrf: Arc::new(csrf::CsrfKey::generate()),
            limiter: Arc::new(limits::LoginLimiter::new(config.login_limits)),
            api_cache: Arc::new(tokens::TokenCache::default()),
            logins: Arc::new(login::Registry::default()),
        }
    }
}
