//! In-memory rate limits on logging in: codes sent (and QR logins started)
//! per client address, codes sent per phone number.
//!
//! Keys are salted SHA-256 hashes of the full address or E.164 number, never
//! the values themselves (and never the masked phone, under which different
//! numbers collide). Each key keeps the times of its recent events; a key is
//! over its limit when `count` events fall inside the last `per`. Memory is
//! bounded by pruning keys whose events are all older than their window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::config::{LoginLimits, Rate};

/// Which limit a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Address,
    Phone,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Address => "address",
            Scope::Phone => "phone",
        }
    }
}

/// Over a limit: which, and how long until the next attempt is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub retry_after: Duration,
}

type Key = (Scope, [u8; 32]);

/// Prune when the map grows past this many keys.
const PRUNE_AT: usize = 4096;

/// The login limits of one process.
pub struct LoginLimiter {
    limits: LoginLimits,
    salt: [u8; 32],
    events: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            salt: rand::random(),
            events: Mutex::new(HashMap::new()),
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> &LoginLimits {
        &self.limits
    }

    fn key(&self, scope: Scope, value: &str) -> Key {
        let mut hash = Sha256::new();
        hash.update(self.salt);
        hash.update([scope as u8]);
        hash.update(value.as_bytes());
        (scope, hash.finalize().into())
    }

    fn rate(&self, scope: Scope) -> Rate {
        match scope {
            Scope::Address => self.limits.per_address,
            Scope::Phone => self.limits.per_phone,
        }
    }

    /// Records one attempt for every given (scope, value) if none of them is
    /// over its limit; otherwise records nothing and says which one is (the
    /// one that frees up last).
    pub fn attempt(&self, keys: &[(Scope, &str)]) -> Result<(), Limited> {
        self.attempt_at(keys, Instant::now())
    }

    fn attempt_at(&self, keys: &[(Scope, &str)], now: Instant) -> Result<(), Limited> {
        if !self.limits.enabled {
            return Ok(());
        }
        let keys: Vec<(Key, Rate)> = keys
            .iter()
            .map(|(scope, value)| (self.key(*scope, value), self.rate(*scope)))
            .collect();
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let mut worst: Option<Limited> = None;
        for (key, rate) in &keys {
            let Some(times) = events.get_mut(key) else {
                continue;
            };
            while times
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= rate.per)
            {
                times.pop_front();
            }
            if times.len() >= rate.count as usize {
                let oldest = times.front().copied().unwrap_or(now);
                let retry_after = (oldest + rate.per).saturating_duration_since(now);
                if worst.is_none_or(|w| retry_after > w.retry_after) {
                    worst = Some(Limited {
                        scope: key.0,
                        retry_after,
                    });
                }
            }
        }
        if let Some(limited) = worst {
            return Err(limited);
        }
        if events.len() >= PRUNE_AT {
            prune(&mut events, &self.limits, now);
        }
        for (key, _) in keys {
            events.entry(key).or_default().push_back(now);
        }
        Ok(())
    }

    /// How many keys are tracked (for tests of the memory bound).
    pub fn tracked(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn prune(events: &mut HashMap<Key, VecDeque<Instant>>, limits: &LoginLimits, now: Instant) {
    events.retain(|(scope, _), times| {
        let per = match scope {
            Scope::Address => limits.per_address.per,
            Scope::Phone => limits.per_phone.per,
        };
        times
            .back()
            .is_some_and(|t| now.saturating_duration_since(*t) < per)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(address: u32, phone: u32) -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            enabled: true,
            per_address: Rate {
                count: address,
                per: Duration::from_secs(60),
            },
            per_phone: Rate {
                count: phone,
                per: Duration::from_secs(600),
            },
            max_tries: 5,
        })
    }

    #[test]
    fn a_key_is_limited_within_its_window_and_freed_after_it() {
        let l = limiter(2, 100);
        let t0 = Instant::now();
        let a = [(Scope::Address, "10.0.0.1")];
        assert!(l.attempt_at(&a, t0).is_ok());
        assert!(l.attempt_at(&a, t0 + Duration::from_secs(10)).is_ok());
        let err = l
            .attempt_at(&a, t0 + Duration::from_secs(20))
            .expect_err("third in a minute");
        assert_eq!(err.scope, Scope::Address);
        assert_eq!(err.retry_after, Duration::from_secs(40));
        // Another address is not affected.
        assert!(
            l.attempt_at(
                &[(Scope::Address, "10.0.0.2")],
                t0 + Duration::from_secs(20)
            )
            .is_ok()
        );
        assert!(l.attempt_at(&a, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn a_refused_attempt_consumes_nothing() {
        let l = limiter(100, 1);
        let t0 = Instant::now();
        let keys = [
            (Scope::Address, "10.0.0.1"),
            (Scope::Phone, "+447700900123"),
        ];
        assert!(l.attempt_at(&keys, t0).is_ok());
        for i in 1..5 {
            let err = l
                .attempt_at(&keys, t0 + Duration::from_secs(i))
                .expect_err("phone limited");
            assert_eq!(err.scope, Scope::Phone);
        }
        // The address counted one attempt only.
        let events = l.events.lock().expect("lock");
        let address_key = l.key(Scope::Address, "10.0.0.1");
        assert_eq!(events.get(&address_key).map(VecDeque::len), Some(1));
    }

    #[test]
    fn phones_are_keyed_by_the_full_number_not_its_mask() {
        // Both mask to "+44 •••• ••01 23".
        let l = limiter(100, 1);
        let t0 = Instant::now();
        assert!(l.attempt_at(&[(Scope::Phone, "+447700900123")], t0).is_ok());
        assert!(l.attempt_at(&[(Scope::Phone, "+447711900123")], t0).is_ok());
        assert!(
            l.attempt_at(&[(Scope::Phone, "+447700900123")], t0)
                .is_err()
        );
    }

    #[test]
    fn off_means_no_limit() {
        let l = LoginLimiter::new(LoginLimits {
            enabled: false,
            ..LoginLimits::default()
        });
        for _ in 0..1000 {
            assert!(l.attempt(&[(Scope::Phone, "+447700900123")]).is_ok());
        }
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn old_keys_are_pruned() {
        let l = limiter(5, 5);
        let t0 = Instant::now();
        for i in 0..PRUNE_AT {
            let addr = format!("10.0.{}.{}", i / 256, i % 256);
            assert!(l.attempt_at(&[(Scope::Address, &addr)], t0).is_ok());
        }
        assert_eq!(l.tracked(), PRUNE_AT);
        let later = t0 + Duration::from_secs(61);
        assert!(l.attempt_at(&[(Scope::Address, "10.9.9.9")], later).is_ok());
        assert_eq!(l.tracked(), 1);
    }
}
