//! Signed webhooks: every event of an account's log (new, edited, deleted
//! messages) is POSTed to each of the account's webhooks, as the same JSON
//! object `GET /api/v1/updates` returns for it, signed with the webhook's
//! own secret (see [`sign`]).
//!
//! What delivery guarantees:
//!
//! - **In cursor order, at least once.** One task per webhook reads the log
//!   after its delivered cursor and sends one event at a time. The cursor is
//!   persisted only after a 2xx answer, so a restart (or a crash) resumes
//!   from it and nothing is lost; the event that was in flight may arrive
//!   twice, with the same `cursor`, which receivers use to de-duplicate.
//! - **Retried with exponential backoff and full jitter.** After the n-th
//!   failed attempt (an answer other than 2xx, no answer within the timeout,
//!   no connection) the task waits a random time between 0 and
//!   `min(backoff_max, backoff_first · 2^(n-1))`, then tries the same event
//!   again. Redirects are not followed: a 3xx is a failure.
//! - **For a bounded time.** The retry window counts from the first failure
//!   since the receiver last answered 2xx. Once a receiver has been failing
//!   for longer than `retry_for` (1 h by default), an event that fails is
//!   given up on: it is skipped, the error is recorded (`last_error` says
//!   "gave up on event …"), and the next event gets one attempt, until one
//!   succeeds and ends the outage. So a receiver that is down for less than
//!   `retry_for` misses nothing, and one that is down longer does not hold
//!   delivery back forever: after it recovers, it gets new events at once.
//! - **A slow or dead receiver only slows its own webhook.** Tasks are woken
//!   by [`EventLog::subscribe`] (the event log never waits for them), each
//!   request is bounded by a short timeout, and at most `concurrency`
//!   requests are in flight over all webhooks, a task holding its slot only
//!   while its request runs.
//! - **Only for active accounts.** A task ends when its webhook is deleted
//!   or paused, when its account is no longer active (logged out, reset,
//!   revoked; checked before every batch and every retry), and at shutdown.
//!   A supervisor starts the webhooks of active accounts at boot and every
//!   [`DeliverySettings::recheck`], so an account that logs in again gets
//!   its webhooks back.
//!
//! Several instances sharing one PostgreSQL database each run every
//! webhook's task: receivers then see duplicates (still at least once, in
//! order per instance). Run webhooks on one instance, or de-duplicate by
//! cursor.

mod deliver;
pub mod sign;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument as _, info_span, warn};

use crate::config::Config;
use crate::events::EventLog;
use crate::secret::Secret;
use crate::store::sealed::WEBHOOK_SECRET;
use crate::store::webhooks::{self as store, Webhook};
use crate::store::{Db, StoreError, audit};
use crate::vault::{Aad, Vault};

/// How many webhooks one account may have.
pub const MAX_PER_ACCOUNT: i64 = 10;

/// How delivery retries and paces itself.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// How long a failing receiver is retried before events are given up on.
    pub retry_for: Duration,
    /// The first retry waits up to this long; each further one up to twice
    /// as long as the one before.
    pub backoff_first: Duration,
    /// No retry waits longer than this.
    pub backoff_max: Duration,
    /// Time allowed for one request, connecting included.
    pub timeout: Duration,
    /// Requests in flight at once over all webhooks.
    pub concurrency: usize,
    /// How often the supervisor starts webhooks of accounts that became
    /// active, and how often an idle task checks that it should still run.
    pub recheck: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            retry_for: Duration::from_secs(3600),
            backoff_first: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            concurrency: 64,
            recheck: Duration::from_secs(30),
        }
    }
}

impl DeliverySettings {
    /// The configured settings (`TGDESK_WEBHOOK_*`), defaults for the rest.
    pub fn from_config(config: &Config) -> Self {
        let defaults = Self::default();
        Self {
            retry_for: config.webhook_retry_for,
            backoff_first: config.webhook_backoff,
            backoff_max: defaults.backoff_max.max(config.webhook_backoff),
            timeout: config.webhook_timeout,
            ..defaults
        }
    }
}

/// Every webhook's delivery task. Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    vault: Arc<Vault>,
    events: EventLog,
    http: reqwest::Client,
    settings: DeliverySettings,
    permits: Semaphore,
    running: Mutex<HashMap<i64, Worker>>,
    closing: watch::Sender<bool>,
}

struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Webhooks {
    pub fn new(db: Db, vault: Arc<Vault>, events: EventLog, settings: DeliverySettings) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("tgdesk-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot build the webhook HTTP client; using the defaults");
                reqwest::Client::new()
            });
        Self {
            inner: Arc::new(Inner {
                db,
                vault,
                events,
                http,
                permits: Semaphore::new(settings.concurrency.max(1)),
                settings,
                running: Mutex::new(HashMap::new()),
                closing: watch::channel(false).0,
            }),
        }
    }

    /// The settings delivery runs with.
    pub fn settings(&self) -> &DeliverySettings {
        &self.inner.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Worker>> {
        self.inner.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the supervisor: the webhooks of active accounts start now
    /// (resuming from their persisted cursors) and are checked again every
    /// [`DeliverySettings::recheck`], until [`Webhooks::shutdown`].
    pub fn spawn_supervisor(&self) {
        let this = self.clone();
        let mut closing = self.inner.closing.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.inner.settings.recheck);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = closing.wait_for(|c| *c) => return,
                }
                if let Err(e) = this.start_deliverable().await {
                    warn!(error = %e, "cannot list the webhooks to deliver");
                }
            }
        });
    }

    /// Starts every enabled webhook of an active account that has no task.
    pub async fn start_deliverable(&self) -> Result<(), StoreError> {
        for hook in store::list_deliverable(self.inner.db.pool()).await? {
            self.start(&hook);
        }
        Ok(())
    }

    /// Starts a webhook's task from its stored row, unless one runs already
    /// or the service is shutting down.
    pub fn start(&self, hook: &Webhook) {
        if *self.inner.closing.borrow() {
            return;
        }
        let mut running = self.lock();
        if running.get(&hook.id).is_some_and(|w| !w.task.is_finished()) {
            return;
        }
        let aad = Aad::for_row(&WEBHOOK_SECRET, &[hook.id]);
        let secret = match self.inner.vault.open(&aad, &hook.secret_sealed) {
            Ok(s) => s,
            Err(e) => {
                warn!(webhook_id = hook.id, error = %e, "cannot open the webhook's secret: not delivering");
                return;
            }
        };
        let url = match sign::check_url(&hook.url) {
            Ok(u) => u,
            Err(e) => {
                warn!(webhook_id = hook.id, error = %e, "stored webhook URL is unusable: not delivering");
                return;
            }
        };
        let (stop, stop_rx) = watch::channel(false);
        let span = info_span!(
            "webhook",
            webhook_id = hook.id,
            account_id = hook.account_id
        );
        let task = tokio::spawn(
            deliver::run(Arc::clone(&self.inner), hook.clone(), secret, url, stop_rx)
                .instrument(span),
        );
        running.insert(hook.id, Worker { stop, task });
    }

    /// Stops a webhook's task and waits for it (a request in flight is
    /// abandoned; its event is sent again if the webhook resumes).
    pub async fn stop(&self, webhook_id: i64) {
        let worker = self.lock().remove(&webhook_id);
        if let Some(worker) = worker {
            finish(webhook_id, worker).await;
        }
    }

    /// Whether a webhook's task is running.
    pub fn is_running(&self, webhook_id: i64) -> bool {
        self.lock()
            .get(&webhook_id)
            .is_some_and(|w| !w.task.is_finished())
    }

    /// Stops the supervisor and every task (at shutdown), and starts none
    /// from now on.
    pub async fn shutdown(&self) {
        self.inner.closing.send_replace(true);
        let workers: Vec<(i64, Worker)> = self.lock().drain().collect();
        for (_, worker) in &workers {
            worker.stop.send_replace(true);
        }
        for (id, worker) in workers {
            finish(id, worker).await;
        }
    }
}

/// Why a webhook could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Url(#[from] sign::UrlError),
    #[error("an account may have at most {MAX_PER_ACCOUNT} webhooks")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Events(#[from] crate::events::EventError),
}

/// A webhook with how many of its account's events still wait for it.
#[derive(Debug, Clone)]
pub struct Status {
    pub webhook: Webhook,
    pub pending: i64,
}

impl Webhooks {
    /// Registers a webhook for an account and starts delivering to it:
    /// events from now on, not the log's history. Returns the row and its
    /// secret, which is shown to the caller once and kept only sealed.
    /// Audited as `webhook_create` by `actor` (the host only, never the
    /// URL's path or query).
    pub async fn create(
        &self,
        account_id: i64,
        raw_url: &str,
        actor: &str,
    ) -> Result<(Webhook, Secret<String>), CreateError> {
        let url = sign::check_url(raw_url)?;
        let db = &self.inner.db;
        if store::count_for_account(db.pool(), account_id).await? >= MAX_PER_ACCOUNT {
            return Err(CreateError::TooMany);
        }
        let cursor = self.inner.events.latest(account_id).await?;
        let secret = sign::new_secret();
        let now = crate::store::now();
        let vault = Arc::clone(&self.inner.vault);
        let hook = store::insert(db, account_id, url.as_str(), cursor, now, |id| {
            vault.seal(
                &Aad::for_row(&WEBHOOK_SECRET, &[id]),
                secret.expose().as_bytes(),
            )
        })
        .await?;
        self.audit(actor, "webhook_create", &hook).await;
        self.start(&hook);
        Ok((hook, secret))
    }

    /// Deletes an account's webhook and stops its task. `Ok(None)` if the
    /// account has no webhook with that id. Audited as `webhook_delete`.
    pub async fn delete(
        &self,
        account_id: i64,
        webhook_id: i64,
        actor: &str,
    ) -> Result<Option<Webhook>, StoreError> {
        let Some(hook) = self.get(account_id, webhook_id).await? else {
            return Ok(None);
        };
        store::delete(self.inner.db.pool(), hook.id).await?;
        self.stop(hook.id).await;
        self.audit(actor, "webhook_delete", &hook).await;
        Ok(Some(hook))
    }

    /// Pauses or resumes an account's webhook. A resumed webhook carries on
    /// from its delivered cursor. `Ok(None)` if there is no such webhook.
    pub async fn set_enabled(
        &self,
        account_id: i64,
        webhook_id: i64,
        enabled: bool,
        actor: &str,
    ) -> Result<Option<Webhook>, StoreError> {
        let now = crate::store::now();
        let disabled_at = (!enabled).then_some(now);
        let pool = self.inner.db.pool();
        let Some(hook) = store::set_disabled(pool, account_id, webhook_id, disabled_at).await?
        else {
            return Ok(None);
        };
        if enabled {
            self.start(&hook);
        } else {
            self.stop(hook.id).await;
        }
        let action = if enabled {
            "webhook_resume"
        } else {
            "webhook_pause"
        };
        self.audit(actor, action, &hook).await;
        Ok(Some(hook))
    }

    /// An account's webhook by id (another account's is `None`).
    pub async fn get(
        &self,
        account_id: i64,
        webhook_id: i64,
    ) -> Result<Option<Webhook>, StoreError> {
        Ok(store::get(self.inner.db.pool(), webhook_id)
            .await?
            .filter(|h| h.account_id == account_id))
    }

    /// The delivery state of one of an account's webhooks.
    pub async fn status(&self, hook: Webhook) -> Result<Status, StoreError> {
        let pending =
            store::pending(self.inner.db.pool(), hook.account_id, hook.delivered_cursor).await?;
        Ok(Status {
            webhook: hook,
            pending,
        })
    }

    /// Every webhook of an account with its delivery state, oldest first.
    pub async fn list(&self, account_id: i64) -> Result<Vec<Status>, StoreError> {
        let mut all = Vec::new();
        for hook in store::list_for_account(self.inner.db.pool(), account_id).await? {
            all.push(self.status(hook).await?);
        }
        Ok(all)
    }

    /// An audit entry naming the webhook and its URL's host.
    async fn audit(&self, actor: &str, action: &str, hook: &Webhook) {
        let target = format!("webhook:{}", hook.id);
        let detail = sign::host_of(&hook.url);
        let entry = audit::NewAuditEntry {
            actor,
            action,
            target: Some(&target),
            outcome: "ok",
            detail: Some(&detail),
        };
        crate::admin::record(&self.inner.db, &entry).await;
    }
}

async fn finish(webhook_id: i64, worker: Worker) {
    worker.stop.send_replace(true);
    let mut task = worker.task;
    if tokio::time::timeout(Duration::from_secs(5), &mut task)
        .await
        .is_err()
    {
        warn!(webhook_id, "webhook task did not stop in time: aborted");
        task.abort();
    }
}
