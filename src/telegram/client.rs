//! Starting and stopping one grammers client: a `SenderPool` whose runner is a
//! task we own, a cheap `Client` handle, and the updates channel.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, NoRetries, SenderPool, SenderPoolFatHandle};
use grammers_session::Session;
use grammers_session::updates::UpdatesLike;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How many updates may wait between the network and the account's update
/// task before grammers drops them (it then catches up by getDifference).
const UPDATES_CAPACITY: usize = 1024;

/// Connection parameters built by hand: `ConnectionParams::default()` runs
/// `lsb_release` on every call, ~10 ms of blocking per client.
pub fn connection_params() -> ConnectionParams {
    ConnectionParams {
        device_model: "tgdesk".into(),
        system_version: std::env::consts::OS.into(),
        app_version: env!("CARGO_PKG_VERSION").into(),
        system_lang_code: "en".into(),
        lang_code: "en".into(),
        use_ipv6: false,
        // Retries and FLOOD_WAIT are decided by tgdesk, per call site, not
        // slept inside the library where a request handler cannot see them.
        retry_policy: Box::new(NoRetries),
        updates_channel_capacity: NonZeroUsize::new(UPDATES_CAPACITY).unwrap_or(NonZeroUsize::MIN),
        __non_exhaustive: (),
    }
}

/// A running grammers client. Dropping it without [`LiveClient::stop`] leaves
/// the runner to end when every handle is gone.
pub struct LiveClient {
    pub client: Client,
    pub handle: SenderPoolFatHandle,
    pub updates: Option<mpsc::Receiver<UpdatesLike>>,
    runner: JoinHandle<()>,
}

impl LiveClient {
    /// Starts a client on `session`. No connection is made until the first call.
    pub fn start<S>(session: Arc<S>, api_id: i32) -> LiveClient
    where
        S: Session + Sized,
        S::Error: std::error::Error + Send + Sync + 'static,
    {
        let SenderPool {
            runner,
            handle,
            updates,
        } = SenderPool::with_configuration(session, api_id, connection_params());
        let client = Client::new(handle.clone());
        let runner = tokio::spawn(runner.run());
        LiveClient {
            client,
            handle,
            updates: Some(updates),
            runner,
        }
    }

    /// Closes the connections and waits for the runner to finish (bounded).
    pub async fn stop(self) {
        self.handle.quit();
        let mut runner = self.runner;
        if tokio::time::timeout(Duration::from_secs(5), &mut runner)
            .await
            .is_err()
        {
            runner.abort();
        }
    }
}
