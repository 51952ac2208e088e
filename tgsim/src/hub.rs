//! The registry of live client connections: who is connected under which auth
//! key, so the world can push updates to every connection of an account, and so
//! faults can drop every connection at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

/// What the hub asks a connection task to do.
#[derive(Debug)]
pub enum Outbound {
    /// Send this serialized `Updates` object as a server-initiated message.
    Update(Vec<u8>),
    /// Close the connection now.
    Close,
}

struct Conn {
    id: u64,
    auth_key_id: i64,
    tx: mpsc::UnboundedSender<Outbound>,
}

/// Live connections, indexed by auth key.
#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    conns: Mutex<HashMap<i64, Vec<Conn>>>,
}

/// Removes its connection from the hub when dropped.
pub struct Registration<'a> {
    hub: &'a Hub,
    id: u64,
    auth_key_id: i64,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a connection that uses `auth_key_id`; it stays registered
    /// until the returned guard is dropped.
    pub fn register(
        &self,
        auth_key_id: i64,
        tx: mpsc::UnboundedSender<Outbound>,
    ) -> Registration<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(auth_key_id).or_default().push(Conn {
            id,
            auth_key_id,
            tx,
        });
        Registration {
            hub: self,
            id,
            auth_key_id,
        }
    }

    /// Pushes a serialized `Updates` to every live connection using this key.
    /// Returns how many connections it reached.
    pub fn push(&self, auth_key_id: i64, updates: Vec<u8>) -> usize {
        let conns = self.lock();
        let Some(list) = conns.get(&auth_key_id) else {
            return 0;
        };
        let mut reached = 0;
        for conn in list {
            if conn.tx.send(Outbound::Update(updates.clone())).is_ok() {
                reached += 1;
            }
        }
        reached
    }

    /// Whether any live connection uses this key.
    pub fn is_connected(&self, auth_key_id: i64) -> bool {
        self.lock().get(&auth_key_id).is_some_and(|l| !l.is_empty())
    }

    /// Closes every live connection.
    pub fn disconnect_all(&self) {
        for list in self.lock().values() {
            for conn in list {
                let _ = conn.tx.send(Outbound::Close);
            }
        }
    }

    /// Closes every live connection that uses one of these keys.
    pub fn disconnect_keys(&self, keys: &[i64]) {
        let conns = self.lock();
        for key in keys {
            for conn in conns.get(key).into_iter().flatten() {
                let _ = conn.tx.send(Outbound::Close);
            }
        }
    }

    /// How many connections are live.
    pub fn connection_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<Conn>>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (every operation is a single insert, remove or read), so recover.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut conns = self.hub.lock();
        if let Some(list) = conns.get_mut(&self.auth_key_id) {
            list.retain(|c| c.id != self.id);
            debug_assert!(list.iter().all(|c| c.auth_key_id == self.auth_key_id));
            if list.is_empty() {
                conns.remove(&self.auth_key_id);
            }
        }
    }
}
