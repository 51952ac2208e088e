//! Where Telegram is: the real one (api_id/api_hash, keys made by the normal
//! DH handshake), or a tgsim — in this process (`tgdesk demo`, tests) or
//! another one reached through its control API (`TGDESK_TELEGRAM_SIM`).
//!
//! A simulator cannot finish a DH handshake (clients carry Telegram's RSA
//! keys), so for a simulator every new session gets a pre-shared auth key for
//! every data centre, registered with the simulator before the first connect.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use grammers_session::SessionData;
use grammers_session::types::DcOption;
use serde::Deserialize;

use super::session::SessionSeed;

/// Errors reaching or preparing a Telegram backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("the Telegram simulator at {addr} did not answer: {reason}")]
    SimUnreachable { addr: String, reason: String },
    #[error("the Telegram simulator refused a request: {0}")]
    SimRefused(String),
}

/// Which Telegram the service talks to.
#[derive(Clone)]
pub enum Backend {
    /// The real Telegram, with the application's credentials.
    Telegram { api_id: i32 },
    /// A tgsim running in this process.
    SimInProcess(tgsim::Sim),
    /// A tgsim in another process, reached through its control API.
    SimRemote {
        control: String,
        dcs: Vec<tgsim::DcAddr>,
        http: reqwest::Client,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Telegram { api_id } => {
                f.debug_struct("Telegram").field("api_id", api_id).finish()
            }
            Backend::SimInProcess(sim) => f
                .debug_struct("SimInProcess")
                .field("dcs", &sim.dcs())
                .finish(),
            Backend::SimRemote { control, dcs, .. } => f
                .debug_struct("SimRemote")
                .field("control", control)
                .field("dcs", dcs)
                .finish(),
        }
    }
}

#[derive(Deserialize)]
struct DcsAnswer {
    dcs: Vec<tgsim::DcAddr>,
}

#[derive(Deserialize)]
struct KeyAnswer {
    auth_key: String,
}

/// The api_id a simulator is given: it accepts any.
const SIM_API_ID: i32 = 1;

impl Backend {
    /// Connects to a tgsim control API (`host:port` or `http://host:port`)
    /// and learns its data centres.
    pub async fn remote_sim(control: &str) -> Result<Backend, BackendError> {
        let base = if control.starts_with("http://") || control.starts_with("https://") {
            control.trim_end_matches('/').to_string()
        } else {
            format!("http://{}", control.trim_end_matches('/'))
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| BackendError::SimUnreachable {
                addr: base.clone(),
                reason: e.to_string(),
            })?;
        let unreachable = |e: reqwest::Error| BackendError::SimUnreachable {
            addr: base.clone(),
            reason: e.to_string(),
        };
        let answer: DcsAnswer = http
            .get(format!("{base}/dcs"))
            .send()
            .await
            .map_err(unreachable)?
            .error_for_status()
            .map_err(unreachable)?
            .json()
            .await
            .map_err(unreachable)?;
        if answer.dcs.is_empty() {
            return Err(BackendError::SimRefused(
                "it lists no data centres".to_string(),
            ));
        }
        Ok(Backend::SimRemote {
            control: base,
            dcs: answer.dcs,
            http,
        })
    }

    /// Whether this is a simulator (demo pages, test-only helpers).
    pub fn is_sim(&self) -> bool {
        !matches!(self, Backend::Telegram { .. })
    }

    /// The api_id to present in `initConnection`.
    pub fn api_id(&self) -> i32 {
        match self {
            Backend::Telegram { api_id } => *api_id,
            _ => SIM_API_ID,
        }
    }

    /// How a brand-new session starts: Telegram's known data centres, or the
    /// simulator's with freshly registered keys.
    pub async fn seed(&self) -> Result<SessionSeed, BackendError> {
        match self {
            Backend::Telegram { .. } => Ok(SessionSeed::telegram()),
            _ => {
                let (home, options) = self.fresh_session().await?;
                Ok(SessionSeed::custom(home, options))
            }
        }
    }

    /// The data centres of a brand-new session, with a home DC guess.
    /// For a simulator each DC comes with a freshly registered auth key.
    pub async fn fresh_session(&self) -> Result<(i32, Vec<DcOption>), BackendError> {
        match self {
            Backend::Telegram { .. } => {
                let data = SessionData::default();
                let mut options: Vec<DcOption> = data.dc_options.into_values().collect();
                options.sort_by_key(|o| o.id);
                Ok((data.home_dc, options))
            }
            Backend::SimInProcess(sim) => {
                let mut options = Vec::new();
                for dc in sim.dcs() {
                    let key = sim.new_auth_key(dc.id).map_err(BackendError::SimRefused)?;
                    options.push(dc_option(dc.id, dc.addr, key));
                }
                Ok((1, options))
            }
            Backend::SimRemote { control, dcs, http } => {
                let mut options = Vec::new();
                for dc in dcs {
                    let unreachable = |e: reqwest::Error| BackendError::SimUnreachable {
                        addr: control.clone(),
                        reason: e.to_string(),
                    };
                    let answer: KeyAnswer = http
                        .post(format!("{control}/auth-keys"))
                        .json(&serde_json::json!({ "dc_id": dc.id }))
                        .send()
                        .await
                        .map_err(unreachable)?
                        .error_for_status()
                        .map_err(unreachable)?
                        .json()
                        .await
                        .map_err(unreachable)?;
                    let key: [u8; 256] = hex::decode(answer.auth_key.trim())
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(|| {
                            BackendError::SimRefused("it returned a malformed auth key".into())
                        })?;
                    options.push(dc_option(dc.id, dc.addr, key));
                }
                Ok((1, options))
            }
        }
    }
}

/// What a simulator's "SMS inbox" shows: codes sent, and its accounts.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SimInbox {
    pub codes: Vec<SimCode>,
    pub accounts: Vec<SimAccount>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SimCode {
    pub phone: String,
    pub code: String,
    pub sent_at: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SimAccount {
    pub phone: String,
    pub first_name: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub has_password: bool,
    #[serde(default)]
    pub password_hint: Option<String>,
}

#[derive(Deserialize)]
struct CodesAnswer {
    codes: Vec<SimCode>,
}

#[derive(Deserialize)]
struct AccountsAnswer {
    accounts: Vec<SimAccount>,
}

impl Backend {
    /// The simulator's inbox (demo pages); `None` against real Telegram.
    pub async fn sim_inbox(&self) -> Result<Option<SimInbox>, BackendError> {
        match self {
            Backend::Telegram { .. } => Ok(None),
            Backend::SimInProcess(sim) => Ok(Some(SimInbox {
                codes: sim
                    .world()
                    .codes()
                    .into_iter()
                    .map(|c| SimCode {
                        phone: c.phone,
                        code: c.code,
                        sent_at: c.sent_at,
                    })
                    .collect(),
                accounts: sim
                    .world()
                    .accounts()
                    .into_iter()
                    .map(|a| SimAccount {
                        phone: a.phone,
                        first_name: a.first_name,
                        username: a.username,
                        has_password: a.has_password,
                        password_hint: a.password_hint,
                    })
                    .collect(),
            })),
            Backend::SimRemote { control, http, .. } => {
                let unreachable = |e: reqwest::Error| BackendError::SimUnreachable {
                    addr: control.clone(),
                    reason: e.to_string(),
                };
                let codes: CodesAnswer = http
                    .get(format!("{control}/codes"))
                    .send()
                    .await
                    .map_err(unreachable)?
                    .json()
                    .await
                    .map_err(unreachable)?;
                let accounts: AccountsAnswer = http
                    .get(format!("{control}/accounts"))
                    .send()
                    .await
                    .map_err(unreachable)?
                    .json()
                    .await
                    .map_err(unreachable)?;
                Ok(Some(SimInbox {
                    codes: codes.codes,
                    accounts: accounts.accounts,
                }))
            }
        }
    }
}

fn dc_option(id: i32, addr: SocketAddr, key: [u8; 256]) -> DcOption {
    let (ipv4, ipv6) = match addr {
        SocketAddr::V4(v4) => (
            v4,
            SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
        ),
        SocketAddr::V6(v6) => (
            SocketAddrV4::new(
                v6.ip().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
                v6.port(),
            ),
            SocketAddrV6::new(*v6.ip(), v6.port(), 0, 0),
        ),
    };
    DcOption {
        id,
        ipv4,
        ipv6,
        auth_key: Some(key),
    }
}
