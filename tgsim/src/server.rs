//! The simulator itself: one TCP listener per data centre, the registry of
//! pre-shared auth keys, the world, faults and counters, and the handle that
//! tests, the demo and the control API hold.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::crypto::ServerKey;
use crate::faults::Faults;
use crate::hub::Hub;
use crate::world::{World, WorldSpec};

/// Bursts of hundreds of simultaneous connects stall for a second with the
/// default backlog (SYN retransmits); Telegram-sized backlogs avoid that.
const LISTEN_BACKLOG: u32 = 4096;

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address the data centres listen on (port 0: pick free ports).
    pub listen: SocketAddr,
    /// Number of data centres, with ids 1..=dcs.
    pub dcs: i32,
    /// The world to serve.
    pub world: WorldSpec,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            dcs: 2,
            world: WorldSpec::demo(),
        }
    }
}

/// One data centre's listening address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DcAddr {
    pub id: i32,
    pub addr: SocketAddr,
}

/// Counters for `GET /stats`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Calls per TL method name since start or the last reset.
    pub calls: BTreeMap<String, u64>,
    /// Live client connections.
    pub connections: usize,
}

pub(crate) struct Inner {
    pub(crate) dcs: Vec<DcAddr>,
    pub(crate) keys: RwLock<HashMap<i64, (i32, ServerKey)>>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) world: World,
    pub(crate) faults: Faults,
    pub(crate) salt_secret: [u8; 32],
    pub(crate) shutdown: watch::Sender<bool>,
}

/// A running simulator. Cheap to clone; every clone is the same simulator.
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

impl Sim {
    /// Binds one listener per data centre and starts accepting clients.
    pub async fn start(config: SimConfig) -> io::Result<Sim> {
        if !(1..=5).contains(&config.dcs) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("dcs must be between 1 and 5, got {}", config.dcs),
            ));
        }
        let mut listeners = Vec::new();
        let mut dcs = Vec::new();
        for id in 1..=config.dcs {
            let listener = bind(config.listen)?;
            dcs.push(DcAddr {
                id,
                addr: listener.local_addr()?,
            });
            listeners.push((id, listener));
        }
        let hub = Arc::new(Hub::new());
        let world = World::new(config.world, config.dcs, Arc::clone(&hub));
        let mut salt_secret = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut salt_secret[..]);
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            dcs,
            keys: RwLock::new(HashMap::new()),
            hub,
            world,
            faults: Faults::default(),
            salt_secret,
            shutdown,
        });
        for (dc_id, listener) in listeners {
            tokio::spawn(accept_loop(Arc::clone(&inner), dc_id, listener));
        }
        Ok(Sim { inner })
    }

    /// The data centres and where they listen.
    pub fn dcs(&self) -> &[DcAddr] {
        &self.inner.dcs
    }

    /// The address of one data centre.
    pub fn dc_addr(&self, dc_id: i32) -> Option<SocketAddr> {
        self.inner
            .dcs
            .iter()
            .find(|d| d.id == dc_id)
            .map(|d| d.addr)
    }

    /// Makes a new random auth key for a data centre and registers it.
    pub fn new_auth_key(&self, dc_id: i32) -> Result<[u8; 256], String> {
        let mut key = [0u8; 256];
        rand::Rng::fill(&mut rand::rng(), &mut key[..]);
        self.register_auth_key(dc_id, key)?;
        Ok(key)
    }

    /// Registers a pre-shared auth key for a data centre. Registering the same
    /// key again is harmless; a key is valid on one data centre only.
    pub fn register_auth_key(&self, dc_id: i32, key: [u8; 256]) -> Result<(), String> {
        if self.dc_addr(dc_id).is_none() {
            return Err(format!(
                "no data centre {dc_id}: this simulator has 1..={}",
                self.inner.dcs.len()
            ));
        }
        let key = ServerKey::new(key);
        let mut keys = self.inner.keys.write().unwrap_or_else(|e| e.into_inner());
        match keys.get(&key.id()) {
            Some((existing, _)) if *existing != dc_id => Err(format!(
                "that auth key is already registered for data centre {existing}"
            )),
            _ => {
                keys.insert(key.id(), (dc_id, key));
                Ok(())
            }
        }
    }

    /// The world: accounts, chats, messages, and its control operations.
    pub fn world(&self) -> &World {
        &self.inner.world
    }

    /// Fault injection and call counters.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Calls per method and live connections.
    pub fn stats(&self) -> Stats {
        Stats {
            calls: self.inner.faults.calls(),
            connections: self.inner.hub.connection_count(),
        }
    }

    /// Drops every client connection (clients reconnect and catch up).
    pub fn disconnect_all(&self) {
        self.inner.hub.disconnect_all();
    }

    /// Stops accepting connections and closes the live ones.
    pub fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        self.inner.hub.disconnect_all();
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn accept_loop(inner: Arc<Inner>, dc_id: i32, listener: TcpListener) {
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(dc_id, %peer, "client connected");
                    tokio::spawn(crate::conn::run(Arc::clone(&inner), dc_id, stream));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly
                    // rather than spinning.
                    warn!(dc_id, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}
