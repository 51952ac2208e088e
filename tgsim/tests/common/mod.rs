//! Shared test helpers: a real grammers-client 0.11 connected to a simulator
//! with pre-shared keys for every data centre.
#![allow(dead_code)]

use std::net::{SocketAddr, SocketAddrV6};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, NoRetries, SenderPool, SenderPoolFatHandle};
use grammers_session::storages::{MemorySession, MemorySessionError};
use grammers_session::types::{DcOption, PeerId, PeerInfo, UpdateState, UpdatesState};
use grammers_session::updates::UpdatesLike;
use grammers_session::{Session, SessionData};
use tgsim::{Sim, SimConfig, WorldSpec};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Tracing output in tests with `TEST_LOG=1`.
pub fn init_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("TEST_LOG")
                    .unwrap_or_else(|_| "debug".into()),
            )
            .with_test_writer()
            .try_init();
    }
}

pub async fn start(world: WorldSpec) -> Sim {
    init_log();
    Sim::start(SimConfig {
        world,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// MemorySession that also answers `peer(PeerId::self_user())`, which
/// MemorySession 0.11 never does (see TELEGRAM-NOTES.md).
pub struct TestSession {
    inner: MemorySession,
    me: Mutex<Option<PeerInfo>>,
}

impl Session for TestSession {
    type Error = MemorySessionError;

    fn home_dc_id(&self) -> Result<i32, Self::Error> {
        self.inner.home_dc_id()
    }
    fn set_home_dc_id(
        &self,
        dc_id: i32,
    ) -> grammers_session::BoxFuture<'_, Result<(), Self::Error>> {
        self.inner.set_home_dc_id(dc_id)
    }
    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, Self::Error> {
        self.inner.dc_option(dc_id)
    }
    fn set_dc_option(
        &self,
        o: &DcOption,
    ) -> grammers_session::BoxFuture<'_, Result<(), Self::Error>> {
        self.inner.set_dc_option(o)
    }
    fn peer(
        &self,
        peer: PeerId,
    ) -> grammers_session::BoxFuture<'_, Result<Option<PeerInfo>, Self::Error>> {
        Box::pin(async move {
            if peer == PeerId::self_user() {
                return Ok(self.me.lock().expect("lock").clone());
            }
            self.inner.peer(peer).await
        })
    }
    fn cache_peer(
        &self,
        peer: PeerInfo,
    ) -> grammers_session::BoxFuture<'_, Result<(), Self::Error>> {
        Box::pin(async move {
            if let PeerInfo::User {
                is_self: Some(true),
                ..
            } = &peer
            {
                *self.me.lock().expect("lock") = Some(peer.clone());
            }
            self.inner.cache_peer(peer).await
        })
    }
    fn updates_state(&self) -> grammers_session::BoxFuture<'_, Result<UpdatesState, Self::Error>> {
        self.inner.updates_state()
    }
    fn set_update_state(
        &self,
        u: UpdateState,
    ) -> grammers_session::BoxFuture<'_, Result<(), Self::Error>> {
        self.inner.set_update_state(u)
    }
}

/// Builds a session holding a fresh pre-shared key for every data centre.
pub fn session_for(sim: &Sim, home_dc: i32) -> Arc<TestSession> {
    let mut data = SessionData::default();
    data.dc_options.clear();
    for dc in sim.dcs() {
        let key = sim.new_auth_key(dc.id).expect("key registers");
        let SocketAddr::V4(v4) = dc.addr else {
            panic!("the simulator listens on IPv4 in tests")
        };
        data.dc_options.insert(
            dc.id,
            DcOption {
                id: dc.id,
                ipv4: v4,
                ipv6: SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
                auth_key: Some(key),
            },
        );
    }
    data.home_dc = home_dc;
    Arc::new(TestSession {
        inner: MemorySession::from(data),
        me: Mutex::new(None),
    })
}

/// Connection parameters built by hand: the defaults run `lsb_release`.
pub fn params() -> ConnectionParams {
    ConnectionParams {
        device_model: "tgsim test".into(),
        system_version: "1.0".into(),
        app_version: "1.0".into(),
        system_lang_code: "en".into(),
        lang_code: "en".into(),
        use_ipv6: false,
        retry_policy: Box::new(NoRetries),
        updates_channel_capacity: NonZeroUsize::new(1000).expect("non-zero"),
        __non_exhaustive: (),
    }
}

pub struct TestClient {
    pub client: Client,
    pub session: Arc<TestSession>,
    pub handle: SenderPoolFatHandle,
    pub updates: Option<mpsc::Receiver<UpdatesLike>>,
    pub runner: JoinHandle<()>,
}

impl TestClient {
    pub async fn quit(self) {
        self.handle.quit();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.runner).await;
    }
}

/// A grammers client on `session`.
pub fn client_on(session: Arc<TestSession>) -> TestClient {
    let SenderPool {
        runner,
        handle,
        updates,
    } = SenderPool::with_configuration(Arc::clone(&session), 1, params());
    let client = Client::new(handle.clone());
    let runner = tokio::spawn(runner.run());
    TestClient {
        client,
        session,
        handle,
        updates: Some(updates),
        runner,
    }
}

/// A new grammers client with fresh keys, homed on `home_dc`.
pub fn client(sim: &Sim, home_dc: i32) -> TestClient {
    client_on(session_for(sim, home_dc))
}

/// Waits for a condition with a timeout, without fixed sleeps.
pub async fn wait_for<F: FnMut() -> bool>(what: &str, mut f: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
