//! The control API: JSON over HTTP, for benchmarks, demos and clients in
//! other languages. Every operation here is also a plain Rust call on [`Sim`].

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::faults::FaultSpec;
use crate::server::Sim;
use crate::world::{DeleteMessages, EditMessage, NewAccount, NewChat, NewMessage};

/// An error answer: `{"error": "..."}` with a status.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

type ApiResult = Result<Json<Value>, ApiError>;

/// A JSON body whose rejection is our own error format.
struct Body<T>(T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(bad(e.body_text())),
        }
    }
}

/// The control API's routes.
pub fn router(sim: Sim) -> Router {
    Router::new()
        .route("/dcs", get(dcs))
        .route("/auth-keys", post(auth_keys))
        .route("/accounts", get(accounts).post(create_account))
        .route("/accounts/{user_id}/revoke", post(revoke))
        .route("/chats", post(create_chat))
        .route("/clock/advance", post(advance_clock))
        .route("/codes", get(codes))
        .route("/codes/expire", post(expire_codes))
        .route("/codes/{phone}", get(code))
        .route("/messages", post(post_message))
        .route("/messages/edit", post(edit_message))
        .route("/messages/delete", post(delete_messages))
        .route("/qr/accept", post(qr_accept))
        .route("/faults", post(inject_fault).delete(clear_faults))
        .route("/faults/disconnect-all", post(disconnect_all))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such control route".into()) })
        .with_state(sim)
}

/// Serves the control API until `shutdown` completes.
pub async fn serve(
    sim: Sim,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn dcs(State(sim): State<Sim>) -> Json<Value> {
    Json(json!({ "dcs": sim.dcs() }))
}

#[derive(Deserialize)]
struct AuthKeyReq {
    dc_id: i32,
    #[serde(default)]
    auth_key: Option<String>,
}

async fn auth_keys(State(sim): State<Sim>, Body(req): Body<AuthKeyReq>) -> ApiResult {
    let key = match req.auth_key {
        None => sim.new_auth_key(req.dc_id).map_err(bad)?,
        Some(hex_key) => {
            let bytes = hex::decode(hex_key.trim())
                .map_err(|_| bad("auth_key must be 512 hex characters (256 bytes)"))?;
            let key: [u8; 256] = bytes
                .try_into()
                .map_err(|_| bad("auth_key must be 512 hex characters (256 bytes)"))?;
            sim.register_auth_key(req.dc_id, key).map_err(bad)?;
            key
        }
    };
    Ok(Json(
        json!({ "dc_id": req.dc_id, "auth_key": hex::encode(key) }),
    ))
}

async fn accounts(State(sim): State<Sim>) -> Json<Value> {
    Json(json!({ "accounts": sim.world().accounts() }))
}

async fn create_account(State(sim): State<Sim>, Body(req): Body<NewAccount>) -> ApiResult {
    let user_id = sim.world().create_account(req).map_err(bad)?;
    Ok(Json(json!({ "user_id": user_id })))
}

async fn revoke(State(sim): State<Sim>, Path(user_id): Path<i64>) -> ApiResult {
    sim.world().revoke(user_id).map_err(bad)?;
    Ok(Json(json!({ "revoked": user_id })))
}

async fn create_chat(State(sim): State<Sim>, Body(req): Body<NewChat>) -> ApiResult {
    let chat_id = sim.world().create_chat(req).map_err(bad)?;
    Ok(Json(json!({ "chat_id": chat_id })))
}

#[derive(Deserialize)]
struct AdvanceClock {
    seconds: u32,
}

async fn advance_clock(State(sim): State<Sim>, Body(req): Body<AdvanceClock>) -> Json<Value> {
    sim.world().advance_clock(req.seconds);
    Json(json!({ "advanced": req.seconds }))
}

async fn codes(State(sim): State<Sim>) -> Json<Value> {
    Json(json!({ "codes": sim.world().codes() }))
}

async fn code(State(sim): State<Sim>, Path(phone): Path<String>) -> ApiResult {
    match sim.world().last_code(&phone) {
        Some(code) => Ok(Json(json!({ "code": code }))),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no login code was sent to {phone}"),
        )),
    }
}

#[derive(Deserialize, Default)]
struct ExpireReq {
    #[serde(default)]
    phone: Option<String>,
}

async fn expire_codes(State(sim): State<Sim>, body: axum::body::Bytes) -> ApiResult {
    // The body is optional: none expires every pending code.
    let req: ExpireReq = if body.iter().all(u8::is_ascii_whitespace) {
        ExpireReq::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid JSON body: {e}")))?
    };
    sim.world().expire_codes(req.phone.as_deref());
    Ok(Json(json!({ "expired": true })))
}

async fn post_message(State(sim): State<Sim>, Body(req): Body<NewMessage>) -> ApiResult {
    let id = sim.world().post_message(req).map_err(bad)?;
    Ok(Json(json!({ "message_id": id })))
}

async fn edit_message(State(sim): State<Sim>, Body(req): Body<EditMessage>) -> ApiResult {
    sim.world().edit_message(req).map_err(bad)?;
    Ok(Json(json!({ "edited": true })))
}

async fn delete_messages(State(sim): State<Sim>, Body(req): Body<DeleteMessages>) -> ApiResult {
    sim.world().delete_messages(req).map_err(bad)?;
    Ok(Json(json!({ "deleted": true })))
}

#[derive(Deserialize)]
struct QrAccept {
    token: String,
    user_id: i64,
}

async fn qr_accept(State(sim): State<Sim>, Body(req): Body<QrAccept>) -> ApiResult {
    let token = decode_token(&req.token)
        .ok_or_else(|| bad("token must be the base64url token from tg://login?token=..."))?;
    sim.world().accept_qr(&token, req.user_id).map_err(bad)?;
    Ok(Json(json!({ "accepted": true })))
}

/// Accepts the token as it appears in `tg://login?token=` (base64url without
/// padding) and, leniently, with padding or in standard base64.
pub fn decode_token(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .ok()
}

async fn inject_fault(State(sim): State<Sim>, Body(spec): Body<FaultSpec>) -> ApiResult {
    sim.faults().inject(spec).map_err(bad)?;
    Ok(Json(json!({ "injected": true })))
}

async fn clear_faults(State(sim): State<Sim>) -> Json<Value> {
    sim.faults().clear();
    Json(json!({ "cleared": true }))
}

async fn disconnect_all(State(sim): State<Sim>) -> Json<Value> {
    let before = sim.stats().connections;
    sim.disconnect_all();
    Json(json!({ "disconnected": before }))
}

async fn stats(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.stats()))
}

async fn reset_stats(State(sim): State<Sim>) -> Json<Value> {
    sim.faults().reset_calls();
    Json(json!({ "reset": true }))
}

/// The line the binary prints when ready.
pub fn ready_line(control: SocketAddr, sim: &Sim) -> String {
    json!({ "control": control.to_string(), "dcs": sim.dcs() }).to_string()
}
