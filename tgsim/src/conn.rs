//! One client connection: the transport, MTProto 2.0 server rules (salts,
//! sessions, msg_id and seq_no, service messages, containers, gzip), and the
//! hand-off of each remote call to the world.
//!
//! The reader (this task) decrypts and answers; a writer task owns the socket's
//! write half, numbers and seals every outgoing message, and also forwards the
//! updates the world pushes through the hub.

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grammers_tl_types::{self as tl, Cursor, Deserializable, Identifiable, Serializable};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, trace};

use crate::crypto::{self, ServerKey};
use crate::hub::Outbound;
use crate::rpc::{Call, RpcErr};
use crate::server::Inner;
use crate::transport::{Codec, FrameError, MAX_FRAME};

const RPC_RESULT: u32 = 0xf35c6d01;
const MSG_CONTAINER: u32 = 0x73f1f8dc;
const GZIP_PACKED: u32 = 0x3072cfa1;
/// Results at least this large are sent gzip-packed, as Telegram does.
const GZIP_THRESHOLD: usize = 4096;
/// A salt is valid for this many seconds (plus one more window of grace).
const SALT_WINDOW: i64 = 1800;

/// Something for the writer to send.
enum Out {
    Msg {
        session_id: i64,
        body: Vec<u8>,
        content_related: bool,
        response: bool,
    },
}

pub(crate) async fn run(inner: Arc<Inner>, dc_id: i32, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut shutdown = inner.shutdown.subscribe();
    if *shutdown.borrow() {
        return;
    }

    let (mut codec, mut pending) = match Codec::detect(&mut rd).await {
        Ok(x) => x,
        Err(e) => {
            trace!(dc_id, error = %e, "connection closed before a transport tag");
            return;
        }
    };

    // The first frame names the auth key the whole connection uses.
    let first = match codec.read_frame(&mut rd, pending.take()).await {
        Ok(f) => f,
        Err(e) => {
            debug!(dc_id, error = %e, "bad first frame");
            return;
        }
    };
    let Some(key) = crypto::frame_key_id(&first).and_then(|id| lookup_key(&inner, dc_id, id))
    else {
        // Unknown key (or a plaintext DH attempt): Telegram answers -404.
        let frame = codec.encode_error(404);
        let _ = crate::transport::write_all(&mut wr, &frame).await;
        debug!(dc_id, "unknown auth key: answered -404");
        return;
    };

    let (out_tx, out_rx) = mpsc::unbounded_channel::<Out>();
    let (hub_tx, hub_rx) = mpsc::unbounded_channel::<Outbound>();
    let _registration = inner.hub.register(key.id(), hub_tx);
    let writer_codec = match &codec {
        Codec::Full { .. } => Codec::Full {
            recv_seq: 0,
            send_seq: 0,
        },
        Codec::Intermediate { padded } => Codec::Intermediate { padded: *padded },
        Codec::Abridged => Codec::Abridged,
    };
    let mut writer = tokio::spawn(write_loop(
        wr,
        writer_codec,
        key.clone(),
        Arc::clone(&inner),
        out_rx,
        hub_rx,
    ));

    let mut conn = ConnState {
        inner: Arc::clone(&inner),
        dc_id,
        key,
        sessions: HashSet::new(),
        out: out_tx,
        ping_deadline: None,
    };

    let mut frame = Some(first);
    loop {
        if let Some(f) = frame.take()
            && let Err(e) = conn.on_frame(&f)
        {
            debug!(dc_id, error = %e, "closing connection after a bad message");
            break;
        }
        let deadline = conn.ping_deadline;
        tokio::select! {
            read = codec.read_frame(&mut rd, None) => match read {
                Ok(f) => frame = Some(f),
                Err(FrameError::Closed) => break,
                Err(e) => {
                    debug!(dc_id, error = %e, "closing connection after a bad frame");
                    break;
                }
            },
            _ = sleep_until_opt(deadline) => {
                debug!(dc_id, "no ping within ping_delay_disconnect: closing");
                break;
            }
            _ = &mut writer => break,
            _ = shutdown.changed() => break,
        }
    }
    writer.abort();
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn lookup_key(inner: &Inner, dc_id: i32, key_id: i64) -> Option<ServerKey> {
    let keys = inner.keys.read().unwrap_or_else(|e| e.into_inner());
    match keys.get(&key_id) {
        Some((dc, key)) if *dc == dc_id => Some(key.clone()),
        _ => None,
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The salt valid for a key during one window of time.
pub(crate) fn salt_for(inner: &Inner, key_id: i64, window: i64) -> i64 {
    let h = Sha256::new()
        .chain_update(inner.salt_secret)
        .chain_update(key_id.to_le_bytes())
        .chain_update(window.to_le_bytes())
        .finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    i64::from_le_bytes(b)
}

fn current_salt(inner: &Inner, key_id: i64) -> i64 {
    salt_for(inner, key_id, unix_now() / SALT_WINDOW)
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("frame does not open with the connection's key: {0}")]
    Open(#[from] crypto::OpenError),
    #[error("malformed message: {0}")]
    Malformed(&'static str),
}

struct InMsg {
    msg_id: i64,
    seq_no: i32,
    body: Vec<u8>,
}

struct ConnState {
    inner: Arc<Inner>,
    dc_id: i32,
    key: ServerKey,
    sessions: HashSet<i64>,
    out: mpsc::UnboundedSender<Out>,
    ping_deadline: Option<Instant>,
}

impl ConnState {
    fn send(&self, session_id: i64, body: Vec<u8>, content_related: bool, response: bool) {
        let _ = self.out.send(Out::Msg {
            session_id,
            body,
            content_related,
            response,
        });
    }

    fn on_frame(&mut self, frame: &[u8]) -> Result<(), ConnError> {
        if crypto::frame_key_id(frame) != Some(self.key.id()) {
            return Err(ConnError::Malformed("auth_key_id changed mid-connection"));
        }
        let plain = crypto::open(&self.key, frame)?;
        if plain.len() < 32 {
            return Err(ConnError::Malformed("message shorter than its header"));
        }
        let salt = read_i64(&plain, 0);
        let session_id = read_i64(&plain, 8);
        let msg_id = read_i64(&plain, 16);
        let seq_no = read_i32(&plain, 24);
        let len = read_i32(&plain, 28);
        if len < 0 || len % 4 != 0 || 32 + len as usize > plain.len() {
            return Err(ConnError::Malformed("bad message length"));
        }
        let padding = plain.len() - 32 - len as usize;
        if !(12..=1024).contains(&padding) {
            return Err(ConnError::Malformed("padding must be 12 to 1024 bytes"));
        }
        let body = plain[32..32 + len as usize].to_vec();

        if self.sessions.insert(session_id) {
            let created = tl::enums::NewSession::Created(tl::types::NewSessionCreated {
                first_msg_id: msg_id,
                unique_id: rand::random(),
                server_salt: current_salt(&self.inner, self.key.id()),
            });
            self.send(session_id, created.to_bytes(), true, false);
        }

        if let Some(code) = bad_msg_id(msg_id) {
            self.bad_msg(session_id, msg_id, seq_no, code);
            return Ok(());
        }

        let window = unix_now() / SALT_WINDOW;
        let key_id = self.key.id();
        if salt != salt_for(&self.inner, key_id, window)
            && salt != salt_for(&self.inner, key_id, window - 1)
        {
            let bad = tl::enums::BadMsgNotification::BadServerSalt(tl::types::BadServerSalt {
                bad_msg_id: msg_id,
                bad_msg_seqno: seq_no,
                error_code: 48,
                new_server_salt: salt_for(&self.inner, key_id, window),
            });
            self.send(session_id, bad.to_bytes(), false, true);
            return Ok(());
        }

        self.on_message(
            session_id,
            InMsg {
                msg_id,
                seq_no,
                body,
            },
            false,
        )
    }

    fn bad_msg(&self, session_id: i64, msg_id: i64, seq_no: i32, code: i32) {
        let bad = tl::enums::BadMsgNotification::Notification(tl::types::BadMsgNotification {
            bad_msg_id: msg_id,
            bad_msg_seqno: seq_no,
            error_code: code,
        });
        self.send(session_id, bad.to_bytes(), false, true);
    }

    fn on_message(&mut self, session_id: i64, msg: InMsg, nested: bool) -> Result<(), ConnError> {
        let Some(ctor) = read_u32(&msg.body, 0) else {
            return Err(ConnError::Malformed("empty message body"));
        };
        match ctor {
            MSG_CONTAINER => {
                if nested {
                    // A container inside a container: error 35 per the spec.
                    self.bad_msg(session_id, msg.msg_id, msg.seq_no, 35);
                    return Ok(());
                }
                for inner in parse_container(&msg.body)? {
                    if let Some(code) = bad_msg_id(inner.msg_id) {
                        self.bad_msg(session_id, inner.msg_id, inner.seq_no, code);
                        continue;
                    }
                    self.on_message(session_id, inner, true)?;
                }
                Ok(())
            }
            GZIP_PACKED => {
                let body = gunzip_tl(&msg.body[4..])?;
                self.on_message(
                    session_id,
                    InMsg {
                        msg_id: msg.msg_id,
                        seq_no: msg.seq_no,
                        body,
                    },
                    nested,
                )
            }
            tl::types::MsgsAck::CONSTRUCTOR_ID | tl::types::HttpWait::CONSTRUCTOR_ID => Ok(()),
            tl::functions::Ping::CONSTRUCTOR_ID => {
                let ping = tl::functions::Ping::from_bytes(&msg.body[4..])
                    .map_err(|_| ConnError::Malformed("bad ping"))?;
                self.pong(session_id, msg.msg_id, ping.ping_id);
                Ok(())
            }
            tl::functions::PingDelayDisconnect::CONSTRUCTOR_ID => {
                let ping = tl::functions::PingDelayDisconnect::from_bytes(&msg.body[4..])
                    .map_err(|_| ConnError::Malformed("bad ping_delay_disconnect"))?;
                self.pong(session_id, msg.msg_id, ping.ping_id);
                let delay = ping.disconnect_delay.clamp(1, 3600) as u64;
                self.ping_deadline = Some(Instant::now() + Duration::from_secs(delay));
                Ok(())
            }
            tl::functions::GetFutureSalts::CONSTRUCTOR_ID => {
                let req = tl::functions::GetFutureSalts::from_bytes(&msg.body[4..])
                    .map_err(|_| ConnError::Malformed("bad get_future_salts"))?;
                let now = unix_now();
                let window = now / SALT_WINDOW;
                let salts = (0..i64::from(req.num.clamp(2, 64)))
                    .map(|i| tl::types::FutureSalt {
                        valid_since: ((window + i) * SALT_WINDOW) as i32,
                        valid_until: ((window + i + 2) * SALT_WINDOW) as i32,
                        salt: salt_for(&self.inner, self.key.id(), window + i),
                    })
                    .collect();
                // Sent bare, not inside rpc_result, as Telegram does.
                let answer = tl::enums::FutureSalts::Salts(tl::types::FutureSalts {
                    req_msg_id: msg.msg_id,
                    now: now as i32,
                    salts: tl::RawVec(salts),
                });
                self.send(session_id, answer.to_bytes(), false, true);
                Ok(())
            }
            tl::functions::DestroySession::CONSTRUCTOR_ID => {
                let req = tl::functions::DestroySession::from_bytes(&msg.body[4..])
                    .map_err(|_| ConnError::Malformed("bad destroy_session"))?;
                let known = req.session_id != session_id && self.sessions.remove(&req.session_id);
                let answer = if known {
                    tl::enums::DestroySessionRes::DestroySessionOk(tl::types::DestroySessionOk {
                        session_id: req.session_id,
                    })
                } else {
                    tl::enums::DestroySessionRes::DestroySessionNone(
                        tl::types::DestroySessionNone {
                            session_id: req.session_id,
                        },
                    )
                };
                self.send(session_id, answer.to_bytes(), true, true);
                Ok(())
            }
            tl::functions::RpcDropAnswer::CONSTRUCTOR_ID => {
                let answer = tl::enums::RpcDropAnswer::RpcAnswerUnknown.to_bytes();
                self.send(session_id, rpc_result(msg.msg_id, &answer), true, true);
                Ok(())
            }
            tl::types::MsgsStateReq::CONSTRUCTOR_ID => {
                let req = tl::types::MsgsStateReq::from_bytes(&msg.body[4..])
                    .map_err(|_| ConnError::Malformed("bad msgs_state_req"))?;
                let info = tl::enums::MsgsStateInfo::Info(tl::types::MsgsStateInfo {
                    req_msg_id: msg.msg_id,
                    info: vec![1; req.msg_ids.len()],
                });
                self.send(session_id, info.to_bytes(), false, true);
                Ok(())
            }
            _ => {
                self.on_rpc(session_id, msg);
                Ok(())
            }
        }
    }

    fn pong(&self, session_id: i64, msg_id: i64, ping_id: i64) {
        let pong = tl::enums::Pong::Pong(tl::types::Pong { msg_id, ping_id });
        self.send(session_id, pong.to_bytes(), true, true);
    }

    fn on_rpc(&self, session_id: i64, msg: InMsg) {
        let req_msg_id = msg.msg_id;
        let query = match unwrap_query(msg.body) {
            Ok(q) => q,
            Err(err) => {
                self.send(session_id, rpc_error(req_msg_id, &err), true, true);
                return;
            }
        };
        let ctor = read_u32(&query, 0).unwrap_or(0);
        let method = tl::name_for_id(ctor);
        let verdict = self.inner.faults.on_call(method);
        let inner = Arc::clone(&self.inner);
        let out = self.out.clone();
        let dc_id = self.dc_id;
        let auth_key_id = self.key.id();
        let answer = move || {
            let reply = match verdict.error {
                Some(e) => Err(e),
                None if ctor == tl::functions::help::GetConfig::CONSTRUCTOR_ID => {
                    Ok(config(&inner, dc_id))
                }
                None => {
                    let call = Call {
                        dc_id,
                        auth_key_id,
                        session_id,
                        body: &query,
                    };
                    inner.world.handle(&call)
                }
            };
            let body = match reply {
                Ok(result) => rpc_result(req_msg_id, &result),
                Err(err) => rpc_error(req_msg_id, &err),
            };
            let _ = out.send(Out::Msg {
                session_id,
                body,
                content_related: true,
                response: true,
            });
        };
        match verdict.delay {
            Some(delay) => {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    answer();
                });
            }
            None => answer(),
        }
    }
}

/// Checks a client msg_id: divisible by 4 and within Telegram's time window.
fn bad_msg_id(msg_id: i64) -> Option<i32> {
    if msg_id % 4 != 0 {
        return Some(18);
    }
    let secs = msg_id >> 32;
    let now = unix_now();
    if secs < now - 300 {
        Some(16)
    } else if secs > now + 30 {
        Some(17)
    } else {
        None
    }
}

/// Everything after a wrapper's own fields: the wrapped query.
struct Rest(Vec<u8>);

impl Deserializable for Rest {
    fn deserialize(buf: &mut Cursor) -> tl::deserialize::Result<Self> {
        let mut v = Vec::new();
        buf.read_to_end(&mut v)?;
        Ok(Rest(v))
    }
}

/// Strips invokeWithLayer, initConnection, invokeAfterMsg(s) and
/// invokeWithoutUpdates, returning the bare query.
fn unwrap_query(mut body: Vec<u8>) -> Result<Vec<u8>, RpcErr> {
    fn inner<T: Deserializable>(body: &[u8], f: impl FnOnce(T) -> Rest) -> Result<Vec<u8>, RpcErr> {
        T::from_bytes(&body[4..])
            .map(|t| f(t).0)
            .map_err(|_| RpcErr::bad_request("INPUT_REQUEST_INVALID"))
    }
    for _ in 0..8 {
        let Some(ctor) = read_u32(&body, 0) else {
            return Err(RpcErr::bad_request("INPUT_METHOD_INVALID"));
        };
        body = match ctor {
            tl::functions::InvokeWithLayer::<()>::CONSTRUCTOR_ID => {
                inner::<tl::functions::InvokeWithLayer<Rest>>(&body, |q| q.query)?
            }
            tl::functions::InitConnection::<()>::CONSTRUCTOR_ID => strip_init_connection(&body)?,
            tl::functions::InvokeAfterMsg::<()>::CONSTRUCTOR_ID => {
                inner::<tl::functions::InvokeAfterMsg<Rest>>(&body, |q| q.query)?
            }
            tl::functions::InvokeAfterMsgs::<()>::CONSTRUCTOR_ID => {
                inner::<tl::functions::InvokeAfterMsgs<Rest>>(&body, |q| q.query)?
            }
            tl::functions::InvokeWithoutUpdates::<()>::CONSTRUCTOR_ID => {
                inner::<tl::functions::InvokeWithoutUpdates<Rest>>(&body, |q| q.query)?
            }
            _ => return Ok(body),
        };
    }
    Err(RpcErr::bad_request("INPUT_REQUEST_TOO_LONG"))
}

/// Deepest JSON nesting accepted in initConnection's `params`.
const MAX_JSON_DEPTH: u32 = 16;

/// Reads initConnection by hand: its `params` is a recursive JSONValue, and a
/// generated decoder would recurse as deep as a hostile client nests it.
fn strip_init_connection(body: &[u8]) -> Result<Vec<u8>, RpcErr> {
    let bad = || RpcErr::bad_request("CONNECTION_NOT_INITED");
    let mut r = Reader { b: body, pos: 4 };
    let flags = r.u32().ok_or_else(bad)?;
    r.skip(4).ok_or_else(bad)?; // api_id
    for _ in 0..6 {
        r.string().ok_or_else(bad)?; // device_model .. lang_code
    }
    if flags & 1 != 0 {
        // inputClientProxy#75588b3f address:string port:int
        if r.u32() != Some(0x7558_8b3f) {
            return Err(bad());
        }
        r.string().ok_or_else(bad)?;
        r.skip(4).ok_or_else(bad)?;
    }
    if flags & 2 != 0 {
        r.json(0).ok_or_else(bad)?;
    }
    Ok(body[r.pos..].to_vec())
}

/// A bounds-checked TL reader for the few shapes decoded by hand.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        (end <= self.b.len()).then(|| self.pos = end)
    }

    fn u32(&mut self) -> Option<u32> {
        let v = read_u32(self.b, self.pos)?;
        self.pos += 4;
        Some(v)
    }

    fn string(&mut self) -> Option<()> {
        let first = *self.b.get(self.pos)?;
        let (len, header) = if first == 255 {
            return None;
        } else if first == 254 {
            let b = self.b.get(self.pos + 1..self.pos + 4)?;
            (
                usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16,
                4,
            )
        } else {
            (usize::from(first), 1)
        };
        let total = header + len;
        self.skip(total.div_ceil(4) * 4)
    }

    fn json(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_JSON_DEPTH {
            return None;
        }
        match self.u32()? {
            0x3f6d_7b68 => Some(()),      // jsonNull
            0xc734_5e6a => self.skip(4),  // jsonBool value:Bool
            0x2be0_dfa4 => self.skip(8),  // jsonNumber value:double
            0xb71e_767a => self.string(), // jsonString
            0xf744_4763 => {
                // jsonArray value:Vector<JSONValue>
                let n = self.vector_len()?;
                (0..n).try_for_each(|_| self.json(depth + 1))
            }
            0x99c1_d49d => {
                // jsonObject value:Vector<JSONObjectValue>
                let n = self.vector_len()?;
                (0..n).try_for_each(|_| {
                    // jsonObjectValue#c0de1bd9 key:string value:JSONValue
                    (self.u32()? == 0xc0de_1bd9).then_some(())?;
                    self.string()?;
                    self.json(depth + 1)
                })
            }
            _ => None,
        }
    }

    fn vector_len(&mut self) -> Option<u32> {
        (self.u32()? == 0x1cb5_c415).then_some(())?;
        let n = self.u32()?;
        // Each element takes at least 4 bytes: a longer count is a lie.
        (n as usize <= (self.b.len() - self.pos) / 4).then_some(n)
    }
}

fn config(inner: &Inner, this_dc: i32) -> Vec<u8> {
    let now = unix_now() as i32;
    let dc_options = inner
        .dcs
        .iter()
        .map(|dc| {
            tl::enums::DcOption::Option(tl::types::DcOption {
                ipv6: dc.addr.is_ipv6(),
                media_only: false,
                tcpo_only: false,
                cdn: false,
                r#static: true,
                this_port_only: false,
                id: dc.id,
                ip_address: dc.addr.ip().to_string(),
                port: i32::from(dc.addr.port()),
                secret: None,
            })
        })
        .collect();
    tl::enums::Config::Config(tl::types::Config {
        default_p2p_contacts: false,
        preload_featured_stickers: false,
        revoke_pm_inbox: true,
        blocked_mode: false,
        force_try_ipv6: false,
        date: now,
        expires: now + 3600,
        test_mode: false,
        this_dc,
        dc_options,
        dc_txt_domain_name: "tgsim.invalid".into(),
        chat_size_max: 200,
        megagroup_size_max: 200_000,
        forwarded_count_max: 100,
        online_update_period_ms: 210_000,
        offline_blur_timeout_ms: 5_000,
        offline_idle_timeout_ms: 30_000,
        online_cloud_timeout_ms: 300_000,
        notify_cloud_delay_ms: 30_000,
        notify_default_delay_ms: 1_500,
        push_chat_period_ms: 60_000,
        push_chat_limit: 2,
        edit_time_limit: 172_800,
        revoke_time_limit: i32::MAX,
        revoke_pm_time_limit: i32::MAX,
        rating_e_decay: 2_419_200,
        stickers_recent_limit: 200,
        channels_read_media_period: 604_800,
        tmp_sessions: None,
        call_receive_timeout_ms: 20_000,
        call_ring_timeout_ms: 90_000,
        call_connect_timeout_ms: 30_000,
        call_packet_timeout_ms: 10_000,
        me_url_prefix: "https://t.me/".into(),
        autoupdate_url_prefix: None,
        gif_search_username: None,
        venue_search_username: None,
        img_search_username: None,
        static_maps_provider: None,
        caption_length_max: 1024,
        message_length_max: 4096,
        webfile_dc_id: 1,
        suggested_lang_code: None,
        lang_pack_version: None,
        base_lang_pack_version: None,
        reactions_default: None,
        autologin_token: None,
    })
    .to_bytes()
}

fn rpc_result(req_msg_id: i64, result: &[u8]) -> Vec<u8> {
    let packed;
    let mut payload = result;
    if result.len() >= GZIP_THRESHOLD {
        let gz = gzip_tl(result);
        if gz.len() < result.len() {
            packed = gz;
            payload = &packed;
        }
    }
    let mut out = Vec::with_capacity(12 + payload.len());
    out.extend_from_slice(&RPC_RESULT.to_le_bytes());
    out.extend_from_slice(&req_msg_id.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn rpc_error(req_msg_id: i64, err: &RpcErr) -> Vec<u8> {
    let e = tl::enums::RpcError::Error(tl::types::RpcError {
        error_code: err.code,
        error_message: err.message.clone(),
    });
    rpc_result(req_msg_id, &e.to_bytes())
}

fn gzip_tl(data: &[u8]) -> Vec<u8> {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    let packed = enc.finish().unwrap_or_default();
    let mut out = GZIP_PACKED.to_le_bytes().to_vec();
    packed.serialize(&mut out);
    out
}

/// Decompresses a gzip_packed body (after its constructor), refusing bombs.
fn gunzip_tl(rest: &[u8]) -> Result<Vec<u8>, ConnError> {
    let packed =
        Vec::<u8>::from_bytes(rest).map_err(|_| ConnError::Malformed("bad gzip_packed"))?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .take(MAX_FRAME as u64 * 4)
        .read_to_end(&mut out)
        .map_err(|_| ConnError::Malformed("gzip_packed does not inflate"))?;
    if out.len() % 4 != 0 || out.is_empty() {
        return Err(ConnError::Malformed("gzip_packed inflates to a bad length"));
    }
    Ok(out)
}

fn parse_container(body: &[u8]) -> Result<Vec<InMsg>, ConnError> {
    let bad = ConnError::Malformed("bad msg_container");
    let count = read_i32(body, 4);
    if !(0..=1024).contains(&count) || body.len() < 8 {
        return Err(bad);
    }
    let mut pos = 8;
    let mut msgs = Vec::with_capacity(count as usize);
    for _ in 0..count {
        if pos + 16 > body.len() {
            return Err(ConnError::Malformed("bad msg_container"));
        }
        let msg_id = read_i64(body, pos);
        let seq_no = read_i32(body, pos + 8);
        let len = read_i32(body, pos + 12);
        pos += 16;
        if len < 4 || len % 4 != 0 || pos + len as usize > body.len() {
            return Err(ConnError::Malformed("bad msg_container"));
        }
        msgs.push(InMsg {
            msg_id,
            seq_no,
            body: body[pos..pos + len as usize].to_vec(),
        });
        pos += len as usize;
    }
    Ok(msgs)
}

fn read_i64(b: &[u8], at: usize) -> i64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(i64::from_le_bytes)
        .unwrap_or(0)
}

fn read_i32(b: &[u8], at: usize) -> i32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(i32::from_le_bytes)
        .unwrap_or(-1)
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

/// Numbers, seals and writes every outgoing message.
struct Writer {
    wr: OwnedWriteHalf,
    codec: Codec,
    key: ServerKey,
    inner: Arc<Inner>,
    last_msg_id: i64,
    session_id: i64,
    content_sent: i32,
}

impl Writer {
    fn next_msg_id(&mut self, response: bool) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let low = if response { 1 } else { 3 };
        let mut id =
            ((now.as_secs() as i64) << 32) | ((i64::from(now.subsec_nanos()) << 2) & 0xffff_fffc);
        id = (id & !3) | low;
        if id <= self.last_msg_id {
            id = (self.last_msg_id & !3) + 4 + low;
        }
        self.last_msg_id = id;
        id
    }

    async fn send(
        &mut self,
        session_id: i64,
        body: &[u8],
        content_related: bool,
        response: bool,
    ) -> std::io::Result<()> {
        if session_id != self.session_id {
            self.session_id = session_id;
            self.content_sent = 0;
        }
        let seq_no = if content_related {
            self.content_sent += 1;
            self.content_sent * 2 - 1
        } else {
            self.content_sent * 2
        };
        let msg_id = self.next_msg_id(response);
        let mut plain = Vec::with_capacity(32 + body.len() + 32);
        plain.extend_from_slice(&current_salt(&self.inner, self.key.id()).to_le_bytes());
        plain.extend_from_slice(&session_id.to_le_bytes());
        plain.extend_from_slice(&msg_id.to_le_bytes());
        plain.extend_from_slice(&seq_no.to_le_bytes());
        plain.extend_from_slice(&(body.len() as i32).to_le_bytes());
        plain.extend_from_slice(body);
        let sealed = crypto::seal(&self.key, plain);
        let frame = self.codec.encode(&sealed);
        crate::transport::write_all(&mut self.wr, &frame).await
    }
}

async fn write_loop(
    wr: OwnedWriteHalf,
    codec: Codec,
    key: ServerKey,
    inner: Arc<Inner>,
    mut out_rx: mpsc::UnboundedReceiver<Out>,
    mut hub_rx: mpsc::UnboundedReceiver<Outbound>,
) {
    let mut w = Writer {
        wr,
        codec,
        key,
        inner,
        last_msg_id: 0,
        session_id: 0,
        content_sent: 0,
    };
    loop {
        let result = tokio::select! {
            biased;
            out = out_rx.recv() => match out {
                Some(Out::Msg { session_id, body, content_related, response }) => {
                    w.send(session_id, &body, content_related, response).await
                }
                None => break,
            },
            ob = hub_rx.recv() => match ob {
                Some(Outbound::Update(body)) if w.session_id != 0 => {
                    let session_id = w.session_id;
                    w.send(session_id, &body, true, false).await
                }
                Some(Outbound::Update(_)) => Ok(()),
                Some(Outbound::Close) | None => break,
            },
        };
        if result.is_err() {
            break;
        }
    }
    let _ = tokio::io::AsyncWriteExt::shutdown(&mut w.wr).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init_connection(params: Option<Vec<u8>>, query: &[u8]) -> Vec<u8> {
        let mut b = tl::functions::InitConnection::<()>::CONSTRUCTOR_ID
            .to_le_bytes()
            .to_vec();
        let flags: u32 = if params.is_some() { 2 } else { 0 };
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&7i32.to_le_bytes());
        for s in ["model", "os", "1.0", "en", "", "en"] {
            s.to_string().serialize(&mut b);
        }
        if let Some(p) = params {
            b.extend_from_slice(&p);
        }
        b.extend_from_slice(query);
        b
    }

    #[test]
    fn init_connection_is_unwrapped_with_and_without_params() {
        let query = tl::functions::help::GetConfig {}.to_bytes();
        assert_eq!(
            unwrap_query(init_connection(None, &query)),
            Ok(query.clone())
        );
        let params = tl::enums::Jsonvalue::JsonObject(tl::types::JsonObject {
            value: vec![tl::enums::JsonobjectValue::JsonObjectValue(
                tl::types::JsonObjectValue {
                    key: "tz".into(),
                    value: tl::enums::Jsonvalue::JsonArray(tl::types::JsonArray {
                        value: vec![
                            tl::enums::Jsonvalue::JsonNull,
                            tl::enums::Jsonvalue::JsonNumber(tl::types::JsonNumber { value: 1.5 }),
                            tl::enums::Jsonvalue::JsonString(tl::types::JsonString {
                                value: "x".repeat(300),
                            }),
                        ],
                    }),
                },
            )],
        })
        .to_bytes();
        assert_eq!(
            unwrap_query(init_connection(Some(params), &query)),
            Ok(query)
        );
    }

    #[test]
    fn deeply_nested_params_are_refused_not_recursed() {
        // 200,000 nested jsonArray values: a recursive decoder overflows its stack.
        let mut params = Vec::new();
        for _ in 0..200_000 {
            params.extend_from_slice(&0xf744_4763u32.to_le_bytes());
            params.extend_from_slice(&0x1cb5_c415u32.to_le_bytes());
            params.extend_from_slice(&1u32.to_le_bytes());
        }
        params.extend_from_slice(&0x3f6d_7b68u32.to_le_bytes());
        let body = init_connection(Some(params), &tl::functions::help::GetConfig {}.to_bytes());
        assert_eq!(
            unwrap_query(body),
            Err(RpcErr::bad_request("CONNECTION_NOT_INITED"))
        );
    }
}
