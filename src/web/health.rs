//! `GET /healthz` (the process answers) and `GET /readyz` (it can do its
//! work: the database answers and the vault seals and opens).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::vault::Aad;

/// How long a readiness probe waits for the database.
const DB_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: 200 while the process is up.
pub async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

/// `GET /readyz`: 200 when the database is reachable and the vault works,
/// otherwise 503 with `{"error": "not_ready", "message": …, "checks": …}`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let database = match tokio::time::timeout(DB_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("database unreachable: {e}")),
        Err(_) => Err(format!(
            "database did not answer within {} s",
            DB_TIMEOUT.as_secs()
        )),
    };
    let vault = vault_round_trip(&state);

    let mut problems = Vec::new();
    for result in [&database, &vault] {
        if let Err(problem) = result {
            problems.push(problem.clone());
        }
    }
    let checks = json!({
        "database": if database.is_ok() { "ok" } else { "failed" },
        "vault": if vault.is_ok() { "ok" } else { "failed" },
    });
    if problems.is_empty() {
        (
            StatusCode::OK,
            axum::Json(json!({ "status": "ready", "checks": checks })),
        )
            .into_response()
    } else {
        tracing::warn!(problems = ?problems, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({
                "error": "not_ready",
                "message": problems.join("; "),
                "checks": checks,
            })),
        )
            .into_response()
    }
}

fn vault_round_trip(state: &AppState) -> Result<(), String> {
    let aad = Aad::new_probe();
    let sealed = state
        .vault
        .seal(&aad, b"readyz")
        .map_err(|e| format!("vault cannot seal: {e}"))?;
    match state.vault.open(&aad, &sealed) {
        Ok(plain) if plain.as_slice() == b"readyz" => Ok(()),
        Ok(_) => Err("vault round trip returned other data".into()),
        Err(e) => Err(format!("vault cannot open: {e}")),
    }
}
