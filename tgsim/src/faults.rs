//! Injected faults and call counters, so tests and benchmarks can make
//! Telegram misbehave on purpose and assert how often a client asked it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rpc::RpcErr;

/// A fault to inject, as posted to the control API.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FaultSpec {
    /// TL method name, e.g. `messages.getHistory`, or `*` for every method.
    pub method: String,
    /// An rpc_error name such as `FLOOD_WAIT_30` to answer with.
    #[serde(default)]
    pub error: Option<String>,
    /// How many calls the error applies to (default 1). With only a delay,
    /// how many calls are delayed (default: every call until cleared).
    #[serde(default)]
    pub count: Option<u32>,
    /// Delay the answer by this many milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct Active {
    error: Option<RpcErr>,
    remaining: Option<u32>,
    delay: Option<Duration>,
}

/// What to do with one call, decided before it reaches the world.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub delay: Option<Duration>,
    pub error: Option<RpcErr>,
}

/// Faults and counters shared by every data centre of a simulator.
#[derive(Default)]
pub struct Faults {
    active: Mutex<HashMap<String, Vec<Active>>>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Faults {
    /// Adds a fault. Rejects a spec that would do nothing.
    pub fn inject(&self, spec: FaultSpec) -> Result<(), String> {
        if spec.method.trim().is_empty() {
            return Err("method must name a TL method such as messages.getHistory, or *".into());
        }
        if spec.error.is_none() && spec.delay_ms.is_none() {
            return Err("a fault needs an error, a delay_ms, or both".into());
        }
        let error = match spec.error.as_deref() {
            Some(name) => {
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(format!(
                        "error must be an upper-case rpc error name such as FLOOD_WAIT_30, got {name:?}"
                    ));
                }
                Some(RpcErr::from_name(name))
            }
            None => None,
        };
        let remaining = match (&error, spec.count) {
            (_, Some(n)) => Some(n),
            (Some(_), None) => Some(1),
            (None, None) => None,
        };
        let active = Active {
            error,
            remaining,
            delay: spec.delay_ms.map(Duration::from_millis),
        };
        self.lock_active()
            .entry(spec.method)
            .or_default()
            .push(active);
        Ok(())
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.lock_active().clear();
    }

    /// Counts a call to `method` and decides whether a fault applies.
    pub fn on_call(&self, method: &str) -> Verdict {
        *self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(method.to_owned())
            .or_default() += 1;

        let mut active = self.lock_active();
        let mut verdict = Verdict::default();
        for key in [method, "*"] {
            let Some(list) = active.get_mut(key) else {
                continue;
            };
            if let Some(f) = list.iter_mut().find(|f| f.remaining != Some(0)) {
                if let Some(n) = f.remaining.as_mut() {
                    *n -= 1;
                }
                verdict.delay = verdict.delay.or(f.delay);
                if verdict.error.is_none() {
                    verdict.error = f.error.clone();
                }
            }
            list.retain(|f| f.remaining != Some(0));
        }
        active.retain(|_, l| !l.is_empty());
        verdict
    }

    /// Calls per method since start (or the last reset).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets every counter back to zero.
    pub fn reset_calls(&self) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Active>>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_fault_applies_count_times_then_stops() {
        let f = Faults::default();
        f.inject(FaultSpec {
            method: "messages.getHistory".into(),
            error: Some("FLOOD_WAIT_30".into()),
            count: Some(2),
            delay_ms: None,
        })
        .expect("valid");
        for _ in 0..2 {
            let v = f.on_call("messages.getHistory");
            assert_eq!(v.error, Some(RpcErr::new(420, "FLOOD_WAIT_30")));
        }
        assert_eq!(f.on_call("messages.getHistory"), Verdict::default());
        assert_eq!(f.on_call("users.getUsers"), Verdict::default());
        assert_eq!(f.calls().get("messages.getHistory"), Some(&3));
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let f = Faults::default();
        let e = f
            .inject(FaultSpec {
                method: "x".into(),
                error: None,
                count: None,
                delay_ms: None,
            })
            .expect_err("empty fault");
        assert!(e.contains("error"), "{e}");
        assert!(
            f.inject(FaultSpec {
                method: "x".into(),
                error: Some("lower".into()),
                count: None,
                delay_ms: None
            })
            .is_err()
        );
    }
}
