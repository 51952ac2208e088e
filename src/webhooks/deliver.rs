//! One webhook's delivery task: the rules are in the module above.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use tokio::sync::watch;
use tracing::{debug, info, warn};
use zeroize::Zeroizing;

use super::{Inner, sign};
use crate::events::Event;
use crate::store::webhooks::{self as store, Webhook};

/// Events read from the log at a time.
const BATCH: i64 = 100;
/// Within a batch, whether the webhook is still wanted is checked again
/// before an event once this much time has passed since the last check
/// (a slow receiver can make a batch last long).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Where a webhook stands, as persisted after every attempt.
struct Progress {
    cursor: i64,
    attempts: i64,
    failing_since: Option<i64>,
}

/// What the task does after an event.
enum Step {
    Next,
    Stop,
}

fn count(outcome: &'static str) {
    metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
}

/// Completes once the task is told to stop (or its handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Waits `delay` unless told to stop first; returns true if told to stop.
async fn pause(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stopped(stop) => true,
    }
}

/// Whether the webhook should still deliver: it exists, is enabled and its
/// account is active. A database error counts as yes (the next check
/// decides); the task keeps its place either way.
async fn still_wanted(inner: &Inner, id: i64) -> bool {
    match store::is_deliverable(inner.db.pool(), id).await {
        Ok(wanted) => wanted,
        Err(e) => {
            warn!(error = %e, "cannot check the webhook; carrying on");
            true
        }
    }
}

pub(super) async fn run(
    inner: Arc<Inner>,
    hook: Webhook,
    secret: Zeroizing<Vec<u8>>,
    url: reqwest::Url,
    mut stop: watch::Receiver<bool>,
) {
    let mut progress = Progress {
        cursor: hook.delivered_cursor,
        attempts: hook.attempts,
        failing_since: hook.failing_since,
    };
    let mut wake = inner.events.subscribe(hook.account_id);
    debug!(cursor = progress.cursor, "webhook delivery started");
    loop {
        if *stop.borrow() {
            return;
        }
        if !still_wanted(&inner, hook.id).await {
            info!("webhook delivery stopped: deleted, paused, or the account is no longer active");
            return;
        }
        let mut checked = Instant::now();
        // Seen before reading, so an append during the read still wakes us.
        wake.borrow_and_update();
        let batch = match inner
            .events
            .read(hook.account_id, progress.cursor, BATCH)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                warn!(error = %e, "cannot read the event log for a webhook");
                if pause(
                    &mut stop,
                    inner.settings.backoff_max.min(inner.settings.recheck),
                )
                .await
                {
                    return;
                }
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                changed = wake.changed() => {
                    if changed.is_err() && pause(&mut stop, inner.settings.recheck).await {
                        return;
                    }
                }
                _ = tokio::time::sleep(inner.settings.recheck) => {}
                _ = stopped(&mut stop) => return,
            }
            continue;
        }
        for event in &batch {
            if checked.elapsed() >= CHECK_EVERY {
                if !still_wanted(&inner, hook.id).await {
                    info!(
                        "webhook delivery stopped: deleted, paused, or the account is no longer active"
                    );
                    return;
                }
                checked = Instant::now();
            }
            if let Step::Stop = deliver_one(
                &inner,
                hook.id,
                &url,
                &secret,
                event,
                &mut progress,
                &mut stop,
            )
            .await
            {
                return;
            }
        }
    }
}

/// Delivers one event: retries until a 2xx, a give-up, or a stop.
async fn deliver_one(
    inner: &Inner,
    id: i64,
    url: &reqwest::Url,
    secret: &[u8],
    event: &Event,
    progress: &mut Progress,
    stop: &mut watch::Receiver<bool>,
) -> Step {
    let body = crate::api::chats::event_json(event)
        .to_string()
        .into_bytes();
    let settings = &inner.settings;
    let mut first = true;
    loop {
        if !first && !still_wanted(inner, id).await {
            info!("webhook delivery stopped: deleted, paused, or the account is no longer active");
            return Step::Stop;
        }
        first = false;
        let outcome = tokio::select! {
            outcome = attempt(inner, id, url, secret, event, &body) => outcome,
            _ = stopped(stop) => return Step::Stop,
        };
        let now = crate::store::now();
        let reason = match outcome {
            Ok(()) => {
                count("ok");
                progress.cursor = event.cursor;
                progress.attempts = 0;
                progress.failing_since = None;
                return match store::record_success(inner.db.pool(), id, event.cursor, now).await {
                    Ok(true) => Step::Next,
                    Ok(false) => Step::Stop,
                    Err(e) => {
                        // Delivered all the same; after a restart it may be sent again.
                        warn!(error = %e, "cannot record a webhook delivery");
                        Step::Next
                    }
                };
            }
            Err(reason) => reason,
        };
        progress.attempts += 1;
        let since = *progress.failing_since.get_or_insert(now);
        let retry_for = i64::try_from(settings.retry_for.as_secs()).unwrap_or(i64::MAX);
        if now.saturating_sub(since) >= retry_for {
            count("gave_up");
            warn!(
                cursor = event.cursor,
                attempts = progress.attempts,
                reason,
                "webhook delivery gave up on an event"
            );
            let error = format!(
                "gave up on event {} after {} attempt{}: {reason}",
                event.cursor,
                progress.attempts,
                if progress.attempts == 1 { "" } else { "s" }
            );
            progress.cursor = event.cursor;
            progress.attempts = 0;
            return match store::record_gave_up(inner.db.pool(), id, event.cursor, &error, now).await
            {
                Ok(true) => Step::Next,
                Ok(false) => Step::Stop,
                Err(e) => {
                    warn!(error = %e, "cannot record a webhook failure");
                    Step::Next
                }
            };
        }
        count("error");
        match store::record_failure(inner.db.pool(), id, &reason, now).await {
            Ok(true) => {}
            Ok(false) => return Step::Stop,
            Err(e) => warn!(error = %e, "cannot record a webhook failure"),
        }
        let delay = backoff(
            settings.backoff_first,
            settings.backoff_max,
            progress.attempts,
        );
        debug!(
            cursor = event.cursor,
            attempts = progress.attempts,
            reason,
            delay_ms = delay.as_millis() as u64,
            "webhook delivery failed; retrying"
        );
        if pause(stop, delay).await {
            return Step::Stop;
        }
    }
}

/// Full jitter: a random wait between 0 and `min(max, first · 2^(n-1))`
/// after the n-th failure.
fn backoff(first: Duration, max: Duration, failures: i64) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let ceiling = first.checked_mul(1u32 << doublings).unwrap_or(max).min(max);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::random_range(0..=ceiling_ms))
}

/// One POST of one event. `Err` says why it failed, for `last_error`:
/// never the URL (it may carry the receiver's own token) nor the secret.
async fn attempt(
    inner: &Inner,
    id: i64,
    url: &reqwest::Url,
    secret: &[u8],
    event: &Event,
    body: &[u8],
) -> Result<(), String> {
    let Ok(_permit) = inner.permits.acquire().await else {
        return Err("delivery is shutting down".to_owned());
    };
    let timestamp = crate::store::now();
    let sent = inner
        .http
        .post(url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-tgdesk-timestamp", timestamp.to_string())
        .header(
            "x-tgdesk-signature",
            sign::signature(secret, timestamp, body),
        )
        .header("x-tgdesk-event", event.kind.as_str())
        .header("x-tgdesk-cursor", event.cursor.to_string())
        .header("x-tgdesk-webhook-id", id.to_string())
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!(
            "the receiver answered HTTP {}",
            response.status().as_u16()
        )),
        Err(e) => Err(describe(&e, inner.settings.timeout)),
    }
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs_f64());
    }
    // The innermost cause says what happened ("Connection refused", a TLS
    // alert) without the URL that reqwest's own message carries.
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let detail = if std::ptr::addr_eq(cause, e as &dyn std::error::Error) {
        "the request failed".to_owned()
    } else {
        cause.to_string()
    };
    if e.is_connect() {
        format!("cannot connect to the receiver: {detail}")
    } else {
        format!("the request failed: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_its_ceiling_up_to_the_maximum() {
        let first = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for _ in 0..200 {
            assert!(backoff(first, max, 1) <= first);
            assert!(backoff(first, max, 3) <= Duration::from_millis(400));
            assert!(backoff(first, max, 40) <= max);
        }
        // Full jitter spreads the waits out.
        let waits: std::collections::HashSet<_> = (0..50).map(|_| backoff(first, max, 4)).collect();
        assert!(waits.len() > 10);
    }
}
