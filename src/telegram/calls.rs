//! Every call to Telegram goes through here, so that each is counted by
//! method and outcome (`tgdesk_telegram_calls_total`) and every FLOOD_WAIT
//! Telegram asks for is added up (`tgdesk_telegram_flood_wait_seconds_total`).
//! The wrappers change nothing else: same request, same answer, same error.

use std::future::Future;

use grammers_client::Client;
use grammers_mtsender::InvocationError;
use grammers_tl_types::{Identifiable, RemoteCall, name_for_id};

use crate::metrics::{FLOOD_WAIT_ASKED, FLOOD_WAIT_SLEPT, TELEGRAM_CALLS};

/// `client.invoke(request)`, counted under the request's TL name.
pub async fn invoke<R>(client: &Client, request: &R) -> Result<R::Return, InvocationError>
where
    R: RemoteCall + Identifiable,
{
    observe(name_for_id(R::CONSTRUCTOR_ID), client.invoke(request)).await
}

/// `client.invoke_in_dc(dc_id, request)`, counted under the request's TL name.
pub async fn invoke_in_dc<R>(
    client: &Client,
    dc_id: i32,
    request: &R,
) -> Result<R::Return, InvocationError>
where
    R: RemoteCall + Identifiable,
{
    observe(
        name_for_id(R::CONSTRUCTOR_ID),
        client.invoke_in_dc(dc_id, request),
    )
    .await
}

/// Runs a call that grammers makes for us (dialog and message iterators)
/// and counts it under `method`, the TL name of what it asks.
pub async fn observe<T>(
    method: &'static str,
    call: impl Future<Output = Result<T, InvocationError>>,
) -> Result<T, InvocationError> {
    let result = call.await;
    record(method, result.as_ref().err());
    result
}

/// Counts one call's outcome.
pub fn record(method: &'static str, error: Option<&InvocationError>) {
    let outcome = error.map_or("ok", error_name);
    ::metrics::counter!(TELEGRAM_CALLS, "method" => method, "error" => outcome.to_owned())
        .increment(1);
    if let Some(InvocationError::Rpc(rpc)) = error
        && matches!(
            rpc.name.as_str(),
            "FLOOD_WAIT" | "FLOOD_PREMIUM_WAIT" | "SLOWMODE_WAIT"
        )
    {
        ::metrics::counter!(FLOOD_WAIT_ASKED, "method" => method)
            .increment(u64::from(rpc.value.unwrap_or(0)));
    }
}

/// Counts seconds slept through a FLOOD_WAIT before retrying.
pub fn slept(seconds: u64) {
    ::metrics::counter!(FLOOD_WAIT_SLEPT).increment(seconds);
}

/// The error's name without its number (`FLOOD_WAIT`, not `FLOOD_WAIT_42`),
/// so the label keeps few values.
fn error_name(error: &InvocationError) -> &str {
    match error {
        InvocationError::Rpc(rpc) => rpc.name.as_str(),
        InvocationError::Io(_) => "IO_ERROR",
        InvocationError::Transport(_) => "TRANSPORT_ERROR",
        InvocationError::Dropped(_) => "CONNECTION_DROPPED",
        _ => "CLIENT_ERROR",
    }
}
