//! Who drives which login flow, and how each ended: what this process knows
//! about a flow beyond the state machine.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::secret::Secret;
use crate::telegram::flows::Method;

/// How long the outcome of a finished or failed flow is remembered, so its
/// driver can still ask how it ended.
const OUTCOME_TTL: Duration = Duration::from_secs(15 * 60);

/// Who drives a flow: a browser, known by the hash of its login cookie, or a
/// program through the API. A flow answers only to its own driver, so a flow
/// id seen by someone else is useless to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Browser([u8; 32]),
    Api,
}

impl Owner {
    /// The owner of flows started by the browser holding this login binding.
    pub fn browser(binding: &str) -> Self {
        Owner::Browser(Sha256::digest(binding.as_bytes()).into())
    }
}

/// The request a login step comes from.
#[derive(Clone, Debug)]
pub struct Caller<'a> {
    pub owner: Owner,
    pub address: &'a str,
}

/// How a flow ended, remembered for [`OUTCOME_TTL`].
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Logged in (the result was handed out).
    Done { account_id: i64 },
    /// Failed for good: the error, as shown.
    Failed {
        status: u16,
        code: String,
        message: String,
    },
}

pub(super) struct Meta {
    pub(super) owner: Owner,
    pub(super) method: Method,
    /// The full number of a phone login, for the per-phone limit on resends.
    pub(super) phone: Option<Secret<String>>,
    pub(super) phone_masked: Option<String>,
    pub(super) started: Instant,
    pub(super) outcome: Option<Outcome>,
}

/// What this process knows about each flow beyond the state machine.
#[derive(Default)]
pub struct Registry {
    metas: Mutex<HashMap<String, Meta>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Meta>> {
        self.metas.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn insert(&self, id: &str, meta: Meta, ttl: Duration) {
        let mut metas = self.lock();
        let keep = ttl + OUTCOME_TTL;
        metas.retain(|_, m| m.started.elapsed() < keep);
        metas.insert(id.to_owned(), meta);
    }

    pub(super) fn check(&self, id: &str, owner: Owner) -> Option<Owned> {
        let metas = self.lock();
        let meta = metas.get(id).filter(|m| m.owner == owner)?;
        Some(Owned {
            method: meta.method,
            phone: meta.phone.clone(),
            masked: meta.phone_masked.clone(),
            outcome: meta.outcome.clone(),
        })
    }

    pub(super) fn set_outcome(&self, id: &str, outcome: Outcome) {
        if let Some(meta) = self.lock().get_mut(id) {
            meta.outcome = Some(outcome);
        }
    }

    pub(super) fn set_phone(&self, id: &str, masked: String) {
        if let Some(meta) = self.lock().get_mut(id) {
            meta.phone_masked = Some(masked);
        }
    }

    pub(super) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// What the registry knows of a flow its caller drives.
pub(super) struct Owned {
    pub(super) method: Method,
    pub(super) phone: Option<Secret<String>>,
    pub(super) masked: Option<String>,
    pub(super) outcome: Option<Outcome>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_answer_only_to_their_owner() {
        let registry = Registry::default();
        let browser = Owner::browser("binding");
        registry.insert(
            "flow",
            Meta {
                owner: browser,
                method: Method::Qr,
                phone: None,
                phone_masked: None,
                started: Instant::now(),
                outcome: None,
            },
            Duration::from_secs(600),
        );
        assert!(registry.check("flow", browser).is_some());
        assert!(registry.check("flow", Owner::Api).is_none());
        assert!(registry.check("flow", Owner::browser("other")).is_none());
        assert!(registry.check("other", browser).is_none());
    }
}
