//! Configuration, in layers: built-in defaults, then an optional TOML file
//! (`--config`), then `TGDESK_*` environment variables, then command-line
//! flags. Every value is checked once, here, and a bad one is reported with
//! the place it came from ("TGDESK_LISTEN: invalid socket address 'x': …").
//!
//! Secrets (`api_hash`, vault keys) are held in [`Secret`], so neither
//! `Debug` nor an error message ever shows them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;
use crate::store::Backend;
use crate::vault::{VaultError, VaultKey};

/// Default address of the web server.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database of `tgdesk serve`: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tgdesk.db";
/// Default tracing filter: grammers is quiet unless something is wrong (its
/// info lines are per connection and per data centre, not per account).
pub const DEFAULT_LOG: &str = "info,grammers=warn";

/// A configuration problem, named after the setting it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{setting}: {message}")]
    Invalid { setting: String, message: String },
    #[error("cannot read configuration file {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {}: {message}", path.display())]
    ParseFile { path: PathBuf, message: String },
    #[error(
        "Telegram API credentials are missing: set TGDESK_API_ID and TGDESK_API_HASH (from https://my.telegram.org, \"API development tools\"), or set TGDESK_TELEGRAM_SIM to use a tgsim simulator instead"
    )]
    NoTelegram,
    #[error("{missing} is missing ({present} is set): set both, from https://my.telegram.org")]
    HalfTelegram {
        missing: &'static str,
        present: &'static str,
    },
    #[error(
        "set either TGDESK_VAULT_KEYS or TGDESK_VAULT_KEY_FILE, not both ({keys} and {file} are both set)"
    )]
    TwoKeySources { keys: String, file: String },
    #[error("{setting}: {source}")]
    Vault { setting: String, source: VaultError },
    #[error("{0}")]
    NoVaultKey(VaultError),
}

/// Where a setting's value came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    File(PathBuf),
    Env,
    Flag,
}

/// One configurable setting: its TOML key, environment variable and flag.
struct Setting {
    key: &'static str,
    env: &'static str,
    flag: &'static str,
}

const LISTEN: Setting = Setting {
    key: "listen",
    env: "TGDESK_LISTEN",
    flag: "--listen",
};
const DATABASE_URL: Setting = Setting {
    key: "database_url",
    env: "TGDESK_DATABASE_URL",
    flag: "--database-url",
};
const VAULT_KEYS: Setting = Setting {
    key: "vault_keys",
    env: "TGDESK_VAULT_KEYS",
    flag: "",
};
const VAULT_KEY_FILE: Setting = Setting {
    key: "vault_key_file",
    env: "TGDESK_VAULT_KEY_FILE",
    flag: "--vault-key-file",
};
const API_ID: Setting = Setting {
    key: "api_id",
    env: "TGDESK_API_ID",
    flag: "",
};
const API_HASH: Setting = Setting {
    key: "api_hash",
    env: "TGDESK_API_HASH",
    flag: "",
};
const TELEGRAM_SIM: Setting = Setting {
    key: "telegram_sim",
    env: "TGDESK_TELEGRAM_SIM",
    flag: "--telegram-sim",
};
const PUBLIC_URL: Setting = Setting {
    key: "public_url",
    env: "TGDESK_PUBLIC_URL",
    flag: "--public-url",
};
const SECURE_COOKIES: Setting = Setting {
    key: "secure_cookies",
    env: "TGDESK_SECURE_COOKIES",
    flag: "",
};
const LOG: Setting = Setting {
    key: "log",
    env: "TGDESK_LOG",
    flag: "--log",
};
const ADMINS: Setting = Setting {
    key: "admins",
    env: "TGDESK_ADMINS",
    flag: "",
};
const LOGIN_ALLOWLIST: Setting = Setting {
    key: "login_allowlist",
    env: "TGDESK_LOGIN_ALLOWLIST",
    flag: "",
};
const LOGIN_LIMITS: Setting = Setting {
    key: "login_limits",
    env: "TGDESK_LOGIN_LIMITS",
    flag: "",
};
const TRUSTED_PROXIES: Setting = Setting {
    key: "trusted_proxies",
    env: "TGDESK_TRUSTED_PROXIES",
    flag: "",
};

const FLOOD_SLEEP: Setting = Setting {
    key: "flood_sleep_secs",
    env: "TGDESK_FLOOD_SLEEP_SECS",
    flag: "",
};
const EVENTS_MAX_AGE: Setting = Setting {
    key: "events_max_age_days",
    env: "TGDESK_EVENTS_MAX_AGE_DAYS",
    flag: "",
};
const EVENTS_MAX_COUNT: Setting = Setting {
    key: "events_max_per_account",
    env: "TGDESK_EVENTS_MAX_PER_ACCOUNT",
    flag: "",
};
const LOG_FORMAT: Setting = Setting {
    key: "log_format",
    env: "TGDESK_LOG_FORMAT",
    flag: "",
};
const METRICS_LISTEN: Setting = Setting {
    key: "metrics_listen",
    env: "TGDESK_METRICS_LISTEN",
    flag: "",
};
const CORS_ORIGINS: Setting = Setting {
    key: "cors_origins",
    env: "TGDESK_CORS_ORIGINS",
    flag: "",
};
const WEBHOOK_RETRY: Setting = Setting {
    key: "webhook_retry_secs",
    env: "TGDESK_WEBHOOK_RETRY_SECS",
    flag: "",
};
const WEBHOOK_BACKOFF: Setting = Setting {
    key: "webhook_backoff_ms",
    env: "TGDESK_WEBHOOK_BACKOFF_MS",
    flag: "",
};
const WEBHOOK_TIMEOUT: Setting = Setting {
    key: "webhook_timeout_secs",
    env: "TGDESK_WEBHOOK_TIMEOUT_SECS",
    flag: "",
};

/// Every setting, in the order of the README's table.
const SETTINGS: [&Setting; 23] = [
    &LISTEN,
    &DATABASE_URL,
    &VAULT_KEYS,
    &VAULT_KEY_FILE,
    &API_ID,
    &API_HASH,
    &TELEGRAM_SIM,
    &PUBLIC_URL,
    &SECURE_COOKIES,
    &LOG,
    &ADMINS,
    &LOGIN_ALLOWLIST,
    &LOGIN_LIMITS,
    &TRUSTED_PROXIES,
    &FLOOD_SLEEP,
    &EVENTS_MAX_AGE,
    &EVENTS_MAX_COUNT,
    &LOG_FORMAT,
    &METRICS_LISTEN,
    &CORS_ORIGINS,
    &WEBHOOK_RETRY,
    &WEBHOOK_BACKOFF,
    &WEBHOOK_TIMEOUT,
];

/// The TOML file's shape. Unknown keys are refused, so a typo is not
/// silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    vault_keys: Option<StringOrList>,
    vault_key_file: Option<PathBuf>,
    api_id: Option<i64>,
    api_hash: Option<String>,
    telegram_sim: Option<String>,
    public_url: Option<String>,
    secure_cookies: Option<bool>,
    log: Option<String>,
    admins: Option<Vec<i64>>,
    login_allowlist: Option<Vec<StringOrNumber>>,
    login_limits: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    flood_sleep_secs: Option<u64>,
    events_max_age_days: Option<u64>,
    events_max_per_account: Option<u64>,
    log_format: Option<String>,
    metrics_listen: Option<String>,
    cors_origins: Option<StringOrList>,
    webhook_retry_secs: Option<u64>,
    webhook_backoff_ms: Option<u64>,
    webhook_timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    Number(i64),
    String(String),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// Command-line flags that override the other layers.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub vault_key_file: Option<PathBuf>,
    pub telegram_sim: Option<String>,
    pub public_url: Option<String>,
    pub log: Option<String>,
}

/// Where vault keys come from.
#[derive(Clone, Debug)]
pub enum VaultKeySource {
    /// None configured.
    None,
    /// Listed inline (`TGDESK_VAULT_KEYS`), newest last.
    Inline {
        keys: Secret<String>,
        setting: String,
    },
    /// Read from a file, one key per line, newest last.
    File { path: PathBuf, setting: String },
}

/// How tgdesk reaches Telegram.
#[derive(Clone, Debug)]
pub enum TelegramConfig {
    /// Real Telegram, with the application's credentials from my.telegram.org.
    Telegram {
        api_id: i32,
        api_hash: Secret<String>,
    },
    /// An external tgsim, by its control address (`http://host:port`).
    Simulator { control_url: String, api_id: i32 },
}

/// The checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub vault_keys: VaultKeySource,
    pub api_id: Option<i32>,
    pub api_hash: Option<Secret<String>>,
    /// Control address of an external tgsim, normalised to `http://host:port`.
    pub telegram_sim: Option<String>,
    /// The address users reach tgdesk at, without trailing slash (used for
    /// absolute links and the Origin check), if it differs from `listen`.
    pub public_url: Option<String>,
    /// Whether cookies get the `Secure` attribute (and the `__Host-` prefix).
    /// Defaults to on when `public_url` is https.
    pub secure_cookies: bool,
    /// Tracing filter (`tracing_subscriber::EnvFilter` syntax).
    pub log: String,
    /// Telegram user ids granted the admin role by configuration.
    pub admins: Vec<i64>,
    /// Who may log in; empty means everyone with a Telegram account.
    pub login_allowlist: Allowlist,
    /// Rate limits on logging in.
    pub login_limits: LoginLimits,
    /// Reverse proxies whose `X-Forwarded-For` names the real client.
    pub trusted_proxies: Vec<IpAddr>,
    /// FLOOD_WAITs up to this long are slept; longer ones answer 429.
    pub flood_sleep: std::time::Duration,
    /// Events older than this many days are pruned from the event log.
    pub events_max_age_days: u64,
    /// At most this many events are kept per account.
    pub events_max_per_account: u64,
    /// How log lines are written: for people, or one JSON object each.
    pub log_format: crate::telemetry::LogFormat,
    /// Where `/metrics` is served, on a listener of its own; off when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// Which browser origins may call the bearer-token JSON API.
    pub cors_origins: CorsOrigins,
    /// How long a failing webhook receiver is retried before events are
    /// given up on (see `crate::webhooks`).
    pub webhook_retry_for: Duration,
    /// The first webhook retry waits up to this long, doubling after.
    pub webhook_backoff: Duration,
    /// Time allowed for one webhook request.
    pub webhook_timeout: Duration,
}

/// Browser origins allowed to call the JSON API (`TGDESK_CORS_ORIGINS`).
/// Only bearer-token routes under `/api/` ever answer CORS, and never with
/// credentials, so a listed origin gains nothing a cookie could give it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers at all (the default).
    #[default]
    Off,
    /// `*`: any origin.
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<String>),
}

/// Who may log in: phone numbers (E.164) and Telegram user ids. Empty, the
/// default, lets in anyone with a Telegram account. `Debug` masks the phones.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    phones: Vec<String>,
    user_ids: Vec<i64>,
}

impl Allowlist {
    /// An allowlist of these phones (already E.164) and user ids.
    pub fn new(phones: Vec<String>, user_ids: Vec<i64>) -> Self {
        Self { phones, user_ids }
    }

    /// Whether there is no allowlist (everyone may log in).
    pub fn is_empty(&self) -> bool {
        self.phones.is_empty() && self.user_ids.is_empty()
    }

    /// Whether this E.164 phone is listed.
    pub fn lists_phone(&self, e164: &str) -> bool {
        self.phones.iter().any(|p| p == e164)
    }

    /// Whether this Telegram user id is listed.
    pub fn lists_user(&self, user_id: i64) -> bool {
        self.user_ids.contains(&user_id)
    }

    /// Whether a phone that is not listed may still turn out to be allowed
    /// once Telegram says whose it is (the list names user ids).
    pub fn has_user_ids(&self) -> bool {
        !self.user_ids.is_empty()
    }
}

impl fmt::Debug for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked: Vec<String> = self.phones.iter().map(|p| crate::phone::mask(p)).collect();
        f.debug_struct("Allowlist")
            .field("phones", &masked)
            .field("user_ids", &self.user_ids)
            .finish()
    }
}

/// At most `count` events per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

/// Limits on logging in (`TGDESK_LOGIN_LIMITS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimits {
    /// Whether the per-address and per-phone limits apply (`off` turns
    /// them off, for trusted networks and benchmarks).
    pub enabled: bool,
    /// Codes sent and QR logins started from one client address.
    pub per_address: Rate,
    /// Codes sent to one phone number.
    pub per_phone: Rate,
    /// Wrong codes or passwords before a login must start again. Applies
    /// even when the limits are off: it protects the account itself.
    pub max_tries: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            per_address: Rate {
                count: 20,
                per: Duration::from_secs(3600),
            },
            per_phone: Rate {
                count: 5,
                per: Duration::from_secs(3600),
            },
            max_tries: 5,
        }
    }
}

/// A database URL whose password never appears in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The full URL, password included: pass it to the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_password(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", redact_password(&self.0))
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:[redacted]@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some((user, _password)) = userinfo.split_once(':') else {
        return url.to_owned();
    };
    format!("{scheme}://{user}:[redacted]{}", &rest[at..])
}

/// The merged raw values of all layers, each with its origin.
#[derive(Default)]
struct Layers(BTreeMap<&'static str, (String, Origin)>);

impl Layers {
    fn set(&mut self, setting: &Setting, value: String, origin: Origin) {
        self.0.insert(setting.key, (value, origin));
    }

    fn get(&self, setting: &Setting) -> Option<(&str, String)> {
        self.0
            .get(setting.key)
            .map(|(value, origin)| (value.as_str(), name_of(setting, origin)))
    }
}

fn name_of(setting: &Setting, origin: &Origin) -> String {
    match origin {
        Origin::Env => setting.env.to_owned(),
        Origin::Flag => setting.flag.to_owned(),
        Origin::File(path) => format!("{} (in {})", setting.key, path.display()),
    }
}

fn invalid(setting: String, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        message: message.into(),
    }
}

impl Config {
    /// Loads the configuration from the process environment and the given
    /// file and flags.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(file, &process_env, flags)
    }

    /// Loads the configuration with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut layers = Layers::default();
        if let Some(path) = file {
            read_file(path, &mut layers)?;
        }
        for setting in SETTINGS {
            if let Some(value) = env(setting.env).filter(|v| !v.trim().is_empty()) {
                layers.set(setting, value, Origin::Env);
            }
        }
        let flag_values: [(&Setting, &Option<String>); 5] = [
            (&LISTEN, &flags.listen),
            (&DATABASE_URL, &flags.database_url),
            (&TELEGRAM_SIM, &flags.telegram_sim),
            (&PUBLIC_URL, &flags.public_url),
            (&LOG, &flags.log),
        ];
        for (setting, value) in flag_values {
            if let Some(value) = value {
                layers.set(setting, value.clone(), Origin::Flag);
            }
        }
        if let Some(path) = &flags.vault_key_file {
            layers.set(
                &VAULT_KEY_FILE,
                path.to_string_lossy().into_owned(),
                Origin::Flag,
            );
        }
        Self::from_layers(&layers)
    }

    fn from_layers(layers: &Layers) -> Result<Self, ConfigError> {
        let listen = match layers.get(&LISTEN) {
            Some((value, name)) => parse_listen(value, name)?,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|e| invalid("listen".into(), format!("bad default: {e}")))?,
        };

        let database_url = match layers.get(&DATABASE_URL) {
            Some((value, name)) => {
                let value = value.trim();
                Backend::from_url(value).map_err(|e| invalid(name, e.to_string()))?;
                DatabaseUrl::new(value)
            }
            None => DatabaseUrl::new(DEFAULT_DATABASE_URL),
        };

        let vault_keys = match (layers.get(&VAULT_KEYS), layers.get(&VAULT_KEY_FILE)) {
            (Some((_, keys)), Some((_, file))) => {
                return Err(ConfigError::TwoKeySources { keys, file });
            }
            (Some((value, setting)), None) => VaultKeySource::Inline {
                keys: Secret::new(value.to_owned()),
                setting,
            },
            (None, Some((value, setting))) => VaultKeySource::File {
                path: PathBuf::from(value.trim()),
                setting,
            },
            (None, None) => VaultKeySource::None,
        };

        let api_id = match layers.get(&API_ID) {
            Some((value, name)) => Some(parse_api_id(value, name)?),
            None => None,
        };
        let api_hash = match layers.get(&API_HASH) {
            Some((value, name)) => {
                let value = value.trim();
                if value.len() != 32 || !value.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(invalid(
                        name,
                        "expected the 32 hexadecimal characters shown as api_hash on my.telegram.org",
                    ));
                }
                Some(Secret::new(value.to_owned()))
            }
            None => None,
        };

        let telegram_sim = match layers.get(&TELEGRAM_SIM) {
            Some((value, name)) => Some(parse_sim_address(value, name)?),
            None => None,
        };

        let public_url = match layers.get(&PUBLIC_URL) {
            Some((value, name)) => {
                let value = value.trim().trim_end_matches('/');
                let rest = value
                    .strip_prefix("https://")
                    .or_else(|| value.strip_prefix("http://"));
                match rest {
                    Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {}
                    _ => {
                        return Err(invalid(
                            name,
                            format!(
                                "expected an http:// or https:// URL such as https://tgdesk.example.com, got '{value}'"
                            ),
                        ));
                    }
                }
                Some(value.to_owned())
            }
            None => None,
        };

        let secure_cookies = match layers.get(&SECURE_COOKIES) {
            Some((value, name)) => parse_bool(value, name)?,
            None => public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
        };

        let log = match layers.get(&LOG) {
            Some((value, name)) => {
                tracing_subscriber::EnvFilter::try_new(value)
                    .map_err(|e| invalid(name, format!("invalid log filter '{value}': {e}")))?;
                value.to_owned()
            }
            None => DEFAULT_LOG.to_owned(),
        };

        let admins = match layers.get(&ADMINS) {
            Some((value, name)) => parse_admins(value, name)?,
            None => Vec::new(),
        };

        let login_allowlist = match layers.get(&LOGIN_ALLOWLIST) {
            Some((value, name)) => parse_allowlist(value, name)?,
            None => Allowlist::default(),
        };

        let login_limits = match layers.get(&LOGIN_LIMITS) {
            Some((value, name)) => parse_login_limits(value, name)?,
            None => LoginLimits::default(),
        };

        let trusted_proxies = match layers.get(&TRUSTED_PROXIES) {
            Some((value, name)) => parse_proxies(value, name)?,
            None => Vec::new(),
        };

        let number =
            |setting: &Setting, default: u64, range: std::ops::RangeInclusive<u64>, what: &str| {
                match layers.get(setting) {
                    Some((value, name)) => parse_number(value, name, range, what),
                    None => Ok(default),
                }
            };
        let flood_sleep =
            std::time::Duration::from_secs(number(&FLOOD_SLEEP, 5, 0..=300, "seconds")?);
        let events_max_age_days = number(&EVENTS_MAX_AGE, 30, 1..=3650, "days")?;
        let events_max_per_account = number(&EVENTS_MAX_COUNT, 10_000, 100..=10_000_000, "events")?;
        let webhook_retry_for =
            Duration::from_secs(number(&WEBHOOK_RETRY, 3600, 0..=7 * 86_400, "seconds")?);
        let webhook_backoff =
            Duration::from_millis(number(&WEBHOOK_BACKOFF, 1000, 1..=600_000, "milliseconds")?);
        let webhook_timeout =
            Duration::from_secs(number(&WEBHOOK_TIMEOUT, 10, 1..=120, "seconds")?);

        let log_format = match layers.get(&LOG_FORMAT) {
            Some((value, name)) => value
                .parse()
                .map_err(|e: crate::telemetry::BadLogFormat| invalid(name, e.to_string()))?,
            None => crate::telemetry::LogFormat::default(),
        };
        let metrics_listen = match layers.get(&METRICS_LISTEN) {
            Some((value, name)) => Some(parse_listen(value, name)?),
            None => None,
        };
        let cors_origins = match layers.get(&CORS_ORIGINS) {
            Some((value, name)) => parse_cors_origins(value, name)?,
            None => CorsOrigins::Off,
        };

        Ok(Config {
            listen,
            database_url,
            vault_keys,
            api_id,
            api_hash,
            telegram_sim,
            public_url,
            secure_cookies,
            log,
            admins,
            login_allowlist,
            login_limits,
            trusted_proxies,
            flood_sleep,
            events_max_age_days,
            events_max_per_account,
            log_format,
            metrics_listen,
            cors_origins,
            webhook_retry_for,
            webhook_backoff,
            webhook_timeout,
        })
    }

    /// How to reach Telegram, for `serve`: real Telegram needs both api_id
    /// and api_hash; a simulator needs its control address.
    pub fn telegram(&self) -> Result<TelegramConfig, ConfigError> {
        if let Some(control_url) = &self.telegram_sim {
            return Ok(TelegramConfig::Simulator {
                control_url: control_url.clone(),
                api_id: self.api_id.unwrap_or(1),
            });
        }
        match (self.api_id, &self.api_hash) {
            (Some(api_id), Some(api_hash)) => Ok(TelegramConfig::Telegram {
                api_id,
                api_hash: api_hash.clone(),
            }),
            (Some(_), None) => Err(ConfigError::HalfTelegram {
                missing: API_HASH.env,
                present: API_ID.env,
            }),
            (None, Some(_)) => Err(ConfigError::HalfTelegram {
                missing: API_ID.env,
                present: API_HASH.env,
            }),
            (None, None) => Err(ConfigError::NoTelegram),
        }
    }

    /// Reads and parses the configured vault keys, oldest first.
    pub fn load_vault_keys(&self) -> Result<Vec<VaultKey>, ConfigError> {
        let keys = match &self.vault_keys {
            VaultKeySource::None => return Err(ConfigError::NoVaultKey(VaultError::NoKeys)),
            VaultKeySource::Inline { keys, setting } => VaultKey::parse_list(keys.expose())
                .map_err(|source| ConfigError::Vault {
                    setting: setting.clone(),
                    source,
                })?,
            VaultKeySource::File { path, setting } => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    invalid(
                        setting.clone(),
                        format!("cannot read key file {}: {e}", path.display()),
                    )
                })?;
                let text = zeroize::Zeroizing::new(text);
                VaultKey::parse_list(&text).map_err(|source| ConfigError::Vault {
                    setting: format!("{setting} ({})", path.display()),
                    source,
                })?
            }
        };
        if keys.is_empty() {
            return Err(ConfigError::NoVaultKey(VaultError::NoKeys));
        }
        Ok(keys)
    }

    /// The base URL links should use: `public_url`, or `http://<listen>`.
    pub fn base_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn read_file(path: &Path, layers: &mut Layers) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })?;
    let origin = || Origin::File(path.to_owned());
    let strings: [(&Setting, Option<String>); 7] = [
        (&LISTEN, file.listen),
        (&DATABASE_URL, file.database_url),
        (&API_HASH, file.api_hash),
        (&TELEGRAM_SIM, file.telegram_sim),
        (&PUBLIC_URL, file.public_url),
        (&LOG, file.log),
        (
            &VAULT_KEY_FILE,
            file.vault_key_file
                .map(|p| p.to_string_lossy().into_owned()),
        ),
    ];
    for (setting, value) in strings {
        if let Some(value) = value {
            layers.set(setting, value, origin());
        }
    }
    for (setting, value) in [
        (&LOG_FORMAT, file.log_format),
        (&METRICS_LISTEN, file.metrics_listen),
    ] {
        if let Some(value) = value {
            layers.set(setting, value, origin());
        }
    }
    if let Some(origins) = file.cors_origins {
        let joined = match origins {
            StringOrList::One(s) => s,
            StringOrList::Many(list) => list.join(","),
        };
        layers.set(&CORS_ORIGINS, joined, origin());
    }
    if let Some(keys) = file.vault_keys {
        let joined = match keys {
            StringOrList::One(s) => s,
            StringOrList::Many(list) => list.join(","),
        };
        layers.set(&VAULT_KEYS, joined, origin());
    }
    for (setting, value) in [
        (&FLOOD_SLEEP, file.flood_sleep_secs),
        (&EVENTS_MAX_AGE, file.events_max_age_days),
        (&EVENTS_MAX_COUNT, file.events_max_per_account),
        (&WEBHOOK_RETRY, file.webhook_retry_secs),
        (&WEBHOOK_BACKOFF, file.webhook_backoff_ms),
        (&WEBHOOK_TIMEOUT, file.webhook_timeout_secs),
    ] {
        if let Some(value) = value {
            layers.set(setting, value.to_string(), origin());
        }
    }
    if let Some(api_id) = file.api_id {
        layers.set(&API_ID, api_id.to_string(), origin());
    }
    if let Some(secure) = file.secure_cookies {
        layers.set(&SECURE_COOKIES, secure.to_string(), origin());
    }
    if let Some(limits) = file.login_limits {
        layers.set(&LOGIN_LIMITS, limits, origin());
    }
    if let Some(list) = file.login_allowlist {
        let joined = list
            .iter()
            .map(|item| match item {
                StringOrNumber::Number(n) => n.to_string(),
                StringOrNumber::String(s) => s.clone(),
            })
            .collect::<Vec<_>>()
            .join(",");
        layers.set(&LOGIN_ALLOWLIST, joined, origin());
    }
    if let Some(proxies) = file.trusted_proxies {
        layers.set(&TRUSTED_PROXIES, proxies.join(","), origin());
    }
    if let Some(admins) = file.admins {
        let joined = admins
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        layers.set(&ADMINS, joined, origin());
    }
    Ok(())
}

fn parse_listen(value: &str, name: String) -> Result<SocketAddr, ConfigError> {
    let value = value.trim();
    value.parse().map_err(|e| {
        invalid(
            name,
            format!(
                "invalid socket address '{value}': {e} (expected address:port, e.g. 127.0.0.1:8080)"
            ),
        )
    })
}

fn parse_number(
    value: &str,
    name: String,
    range: std::ops::RangeInclusive<u64>,
    what: &str,
) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(invalid(
            name,
            format!(
                "'{}' is not a number of {what} from {} to {}",
                value.trim(),
                range.start(),
                range.end()
            ),
        )),
    }
}

fn parse_api_id(value: &str, name: String) -> Result<i32, ConfigError> {
    let value = value.trim();
    match value.parse::<i32>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(invalid(
            name,
            format!(
                "'{value}' is not an api_id: expected the positive number shown on my.telegram.org"
            ),
        )),
    }
}

fn parse_bool(value: &str, name: String) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(invalid(
            name,
            format!("expected true or false, got '{other}'"),
        )),
    }
}

fn parse_admins(value: &str, name: String) -> Result<Vec<i64>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| match item.parse::<i64>() {
            Ok(id) if id > 0 => Ok(id),
            _ => Err(invalid(
                name.clone(),
                format!("'{item}' is not a Telegram user id (a positive number)"),
            )),
        })
        .collect()
}

/// `+447700900123, 123456789`: phones start with `+`, user ids are numbers.
fn parse_allowlist(value: &str, name: String) -> Result<Allowlist, ConfigError> {
    let mut phones = Vec::new();
    let mut user_ids = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.starts_with('+') {
            let phone = crate::phone::normalize(item).map_err(|e| {
                invalid(
                    name.clone(),
                    format!("'{}' is not a phone number: {e}", crate::phone::mask(item)),
                )
            })?;
            phones.push(phone);
        } else {
            match item.parse::<i64>() {
                Ok(id) if id > 0 => user_ids.push(id),
                _ => {
                    return Err(invalid(
                        name,
                        format!(
                            "'{item}' is neither a phone number (+ and the country code) nor a Telegram user id (a positive number)"
                        ),
                    ));
                }
            }
        }
    }
    Ok(Allowlist { phones, user_ids })
}

/// `on`, `off`, or `address=20/1h,phone=5/1h,tries=5` (any subset; the
/// others keep their defaults).
fn parse_login_limits(value: &str, name: String) -> Result<LoginLimits, ConfigError> {
    let value = value.trim();
    let mut limits = LoginLimits::default();
    match value.to_ascii_lowercase().as_str() {
        "on" | "default" => return Ok(limits),
        "off" => {
            limits.enabled = false;
            return Ok(limits);
        }
        _ => {}
    }
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((key, val)) = item.split_once('=') else {
            return Err(invalid(
                name,
                format!(
                    "'{item}' is not a limit: use on, off, or e.g. address=20/1h,phone=5/1h,tries=5"
                ),
            ));
        };
        let (key, val) = (key.trim(), val.trim());
        match key {
            "address" => limits.per_address = parse_rate(val, key, &name)?,
            "phone" => limits.per_phone = parse_rate(val, key, &name)?,
            "tries" => match val.parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => limits.max_tries = n,
                _ => {
                    return Err(invalid(
                        name,
                        format!("tries={val}: expected a number of tries from 1 to 100"),
                    ));
                }
            },
            other => {
                return Err(invalid(
                    name,
                    format!("unknown limit '{other}': the limits are address, phone and tries"),
                ));
            }
        }
    }
    Ok(limits)
}

/// `20/1h`: a count, then a period in seconds (`s`), minutes (`m`), hours
/// (`h`) or days (`d`); a bare number is seconds.
fn parse_rate(value: &str, key: &str, name: &str) -> Result<Rate, ConfigError> {
    let bad = || {
        invalid(
            name.to_owned(),
            format!("{key}={value}: expected a count per period, e.g. {key}=20/1h or {key}=5/15m"),
        )
    };
    let (count, period) = value.split_once('/').ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    let period = period.trim();
    let (number, unit) = match period.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => period.split_at(i),
        None => (period, "s"),
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        "d" => number.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(bad)?;
    if count == 0 || secs == 0 || secs > 30 * 86_400 {
        return Err(invalid(
            name.to_owned(),
            format!(
                "{key}={value}: the count must be at least 1 and the period between 1 s and 30 days (to turn limits off, use off)"
            ),
        ));
    }
    Ok(Rate {
        count,
        per: Duration::from_secs(secs),
    })
}

fn parse_proxies(value: &str, name: String) -> Result<Vec<IpAddr>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<IpAddr>().map_err(|_| {
                invalid(
                    name.clone(),
                    format!("'{item}' is not an IP address (e.g. 127.0.0.1 or ::1)"),
                )
            })
        })
        .collect()
}

/// Accepts `host:port` or `http://host:port` and returns the latter.
/// `*`, `off`, or origins such as `https://app.example.com,http://localhost:3000`.
fn parse_cors_origins(value: &str, name: String) -> Result<CorsOrigins, ConfigError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("off") {
        return Ok(CorsOrigins::Off);
    }
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items == ["*"] {
        return Ok(CorsOrigins::Any);
    }
    let mut origins = Vec::with_capacity(items.len());
    for item in items {
        let origin = item.trim_end_matches('/');
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let fine = host.is_some_and(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        });
        if !fine {
            return Err(invalid(
                name,
                format!(
                    "'{item}' is not an origin: expected * alone, or origins like https://app.example.com or http://localhost:3000 (scheme, host and port only), comma-separated"
                ),
            ));
        }
        origins.push(origin.to_ascii_lowercase());
    }
    if origins.is_empty() {
        return Ok(CorsOrigins::Off);
    }
    Ok(CorsOrigins::List(origins))
}

fn parse_sim_address(value: &str, name: String) -> Result<String, ConfigError> {
    let value = value.trim().trim_end_matches('/');
    let host_port = value.strip_prefix("http://").unwrap_or(value);
    let valid = host_port
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        && !host_port.contains(['/', ' ']);
    if !valid {
        return Err(invalid(
            name,
            format!(
                "invalid tgsim control address '{value}': expected host:port or http://host:port"
            ),
        ));
    }
    Ok(format!("http://{host_port}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load_from(None, &env(pairs), &Overrides::default())
    }

    #[test]
    fn defaults_apply_without_any_setting() {
        let config = load(&[]).expect("config");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url.expose(), "sqlite://tgdesk.db");
        assert!(!config.secure_cookies);
        assert_eq!(config.log, DEFAULT_LOG);
        assert!(matches!(config.vault_keys, VaultKeySource::None));
    }

    #[test]
    fn layers_override_in_order_file_env_flag() {
        let dir = tempdir();
        let path = dir.join("tgdesk.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1000\"\ndatabase_url = \"sqlite://file.db\"\nlog = \"debug\"\nadmins = [5, 6]\n",
        )
        .expect("write");
        let config = Config::load_from(
            Some(&path),
            &env(&[
                ("TGDESK_LISTEN", "127.0.0.1:2000"),
                ("TGDESK_DATABASE_URL", "sqlite://env.db"),
            ]),
            &Overrides {
                listen: Some("127.0.0.1:3000".into()),
                ..Overrides::default()
            },
        )
        .expect("config");
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.database_url.expose(), "sqlite://env.db");
        assert_eq!(config.log, "debug");
        assert_eq!(config.admins, [5, 6]);
    }

    #[test]
    fn bad_listen_names_the_setting_and_value() {
        let err = load(&[("TGDESK_LISTEN", "x")]).expect_err("bad");
        assert!(
            err.to_string()
                .starts_with("TGDESK_LISTEN: invalid socket address 'x': "),
            "{err}"
        );
        let err = Config::load_from(
            None,
            &env(&[]),
            &Overrides {
                listen: Some("nope".into()),
                ..Overrides::default()
            },
        )
        .expect_err("bad");
        assert!(
            err.to_string()
                .starts_with("--listen: invalid socket address 'nope'")
        );
    }

    #[test]
    fn bad_values_in_the_file_name_the_file() {
        let dir = tempdir();
        let path = dir.join("c.toml");
        std::fs::write(&path, "listen = \"localhost\"\n").expect("write");
        let err =
            Config::load_from(Some(&path), &env(&[]), &Overrides::default()).expect_err("bad");
        assert!(
            err.to_string().starts_with(&format!(
                "listen (in {}): invalid socket address",
                path.display()
            )),
            "{err}"
        );
        std::fs::write(&path, "lisen = \"127.0.0.1:1\"\n").expect("write");
        let err =
            Config::load_from(Some(&path), &env(&[]), &Overrides::default()).expect_err("typo");
        assert!(err.to_string().contains("unknown field `lisen`"), "{err}");
    }

    #[test]
    fn other_bad_values_are_explained() {
        let cases = [
            (
                "TGDESK_DATABASE_URL",
                "mysql://x",
                "unsupported database URL scheme 'mysql'",
            ),
            ("TGDESK_API_ID", "abc", "'abc' is not an api_id"),
            ("TGDESK_API_ID", "-5", "'-5' is not an api_id"),
            ("TGDESK_SECURE_COOKIES", "maybe", "expected true or false"),
            ("TGDESK_ADMINS", "1,x", "'x' is not a Telegram user id"),
            (
                "TGDESK_TELEGRAM_SIM",
                "nohost",
                "invalid tgsim control address",
            ),
            (
                "TGDESK_PUBLIC_URL",
                "example.com",
                "expected an http:// or https:// URL",
            ),
            ("TGDESK_LOG", "info,[[", "invalid log filter"),
        ];
        for (name, value, expected) in cases {
            let err = load(&[(name, value)]).expect_err(name);
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("{name}: ")), "{msg}");
            assert!(msg.contains(expected), "{name}: {msg}");
        }
    }

    #[test]
    fn api_hash_is_checked_and_never_echoed() {
        let err = load(&[("TGDESK_API_HASH", "not-a-hash-but-a-secret")]).expect_err("bad");
        assert!(!err.to_string().contains("not-a-hash"));
        let config = load(&[
            ("TGDESK_API_ID", "12345"),
            ("TGDESK_API_HASH", "0123456789abcdef0123456789abcdef"),
        ])
        .expect("config");
        let dbg = format!("{config:?}");
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
        assert!(matches!(
            config.telegram(),
            Ok(TelegramConfig::Telegram { api_id: 12345, .. })
        ));
    }

    #[test]
    fn serve_without_telegram_names_both_settings() {
        let err = load(&[]).expect("config").telegram().expect_err("missing");
        let msg = err.to_string();
        assert!(
            msg.contains("TGDESK_API_ID") && msg.contains("TGDESK_API_HASH"),
            "{msg}"
        );
        assert!(msg.contains("TGDESK_TELEGRAM_SIM"), "{msg}");
        let err = load(&[("TGDESK_API_ID", "5")])
            .expect("config")
            .telegram()
            .expect_err("half");
        assert_eq!(
            err.to_string(),
            "TGDESK_API_HASH is missing (TGDESK_API_ID is set): set both, from https://my.telegram.org"
        );
        let sim = load(&[("TGDESK_TELEGRAM_SIM", "127.0.0.1:9999")])
            .expect("config")
            .telegram()
            .expect("sim");
        assert!(matches!(
            sim,
            TelegramConfig::Simulator { ref control_url, .. } if control_url == "http://127.0.0.1:9999"
        ));
    }

    #[test]
    fn vault_keys_load_inline_or_from_file_but_not_both() {
        let a = VaultKey::generate().expect("key");
        let b = VaultKey::generate().expect("key");
        let inline = format!("{},{}", *a.to_line(), *b.to_line());
        let config = load(&[("TGDESK_VAULT_KEYS", &inline)]).expect("config");
        let keys = config.load_vault_keys().expect("keys");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].id(), b.id());
        assert!(!format!("{config:?}").contains(&a.to_line()[9..]));

        let dir = tempdir();
        let file = dir.join("keys");
        std::fs::write(&file, format!("# comment\n{}\n", *a.to_line())).expect("write");
        let file_str = file.to_string_lossy().into_owned();
        let config = load(&[("TGDESK_VAULT_KEY_FILE", &file_str)]).expect("config");
        assert_eq!(config.load_vault_keys().expect("keys")[0].id(), a.id());

        let err = load(&[
            ("TGDESK_VAULT_KEYS", &inline),
            ("TGDESK_VAULT_KEY_FILE", &file_str),
        ])
        .expect_err("both");
        assert!(
            err.to_string()
                .starts_with("set either TGDESK_VAULT_KEYS or TGDESK_VAULT_KEY_FILE")
        );

        let err = load(&[("TGDESK_VAULT_KEYS", "garbage-secret")])
            .expect("config")
            .load_vault_keys()
            .expect_err("bad key");
        assert!(
            err.to_string()
                .starts_with("TGDESK_VAULT_KEYS: invalid vault key: key #1"),
            "{err}"
        );
        assert!(!err.to_string().contains("garbage-secret"));

        let err = load(&[])
            .expect("config")
            .load_vault_keys()
            .expect_err("none");
        assert!(err.to_string().contains("tgdesk keys generate"), "{err}");

        let missing = dir.join("absent");
        let err = load(&[("TGDESK_VAULT_KEY_FILE", &missing.to_string_lossy())])
            .expect("config")
            .load_vault_keys()
            .expect_err("absent");
        assert!(
            err.to_string()
                .starts_with("TGDESK_VAULT_KEY_FILE: cannot read key file"),
            "{err}"
        );
    }

    #[test]
    fn https_public_url_turns_secure_cookies_on() {
        let config = load(&[("TGDESK_PUBLIC_URL", "https://desk.example.com/")]).expect("config");
        assert!(config.secure_cookies);
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://desk.example.com")
        );
        let config = load(&[
            ("TGDESK_PUBLIC_URL", "https://desk.example.com"),
            ("TGDESK_SECURE_COOKIES", "off"),
        ])
        .expect("config");
        assert!(!config.secure_cookies);
    }

    #[test]
    fn login_limits_are_on_by_default_and_can_be_tuned_or_turned_off() {
        let config = load(&[]).expect("config");
        assert_eq!(config.login_limits, LoginLimits::default());
        assert!(config.login_limits.enabled);
        let off = load(&[("TGDESK_LOGIN_LIMITS", "off")]).expect("config");
        assert!(!off.login_limits.enabled);
        assert_eq!(off.login_limits.max_tries, 5);
        let tuned =
            load(&[("TGDESK_LOGIN_LIMITS", "address=3/15m, phone=2/1d,tries=3")]).expect("config");
        let l = tuned.login_limits;
        assert!(l.enabled);
        assert_eq!((l.per_address.count, l.per_address.per.as_secs()), (3, 900));
        assert_eq!((l.per_phone.count, l.per_phone.per.as_secs()), (2, 86_400));
        assert_eq!(l.max_tries, 3);
        let seconds = load(&[("TGDESK_LOGIN_LIMITS", "phone=1/90")]).expect("config");
        assert_eq!(seconds.login_limits.per_phone.per.as_secs(), 90);
        assert_eq!(
            seconds.login_limits.per_address,
            LoginLimits::default().per_address
        );

        for (value, expected) in [
            ("sometimes", "'sometimes' is not a limit"),
            ("speed=1/1h", "unknown limit 'speed'"),
            ("address=many", "address=many: expected a count per period"),
            ("address=5/1w", "address=5/1w: expected a count per period"),
            ("phone=0/1h", "the count must be at least 1"),
            (
                "tries=0",
                "tries=0: expected a number of tries from 1 to 100",
            ),
        ] {
            let err = load(&[("TGDESK_LOGIN_LIMITS", value)]).expect_err(value);
            let msg = err.to_string();
            assert!(msg.starts_with("TGDESK_LOGIN_LIMITS: "), "{msg}");
            assert!(msg.contains(expected), "{value}: {msg}");
        }
    }

    #[test]
    fn the_allowlist_takes_phones_and_user_ids_and_masks_phones() {
        let config = load(&[(
            "TGDESK_LOGIN_ALLOWLIST",
            "+44 7700 900123, 123456789,+999664000001",
        )])
        .expect("config");
        let list = &config.login_allowlist;
        assert!(!list.is_empty());
        assert!(list.lists_phone("+447700900123"));
        assert!(list.lists_phone("+999664000001"));
        assert!(!list.lists_phone("+447700900124"));
        assert!(list.lists_user(123_456_789));
        assert!(list.has_user_ids());
        let dbg = format!("{config:?}");
        assert!(!dbg.contains("7700900123"), "{dbg}");
        assert!(load(&[]).expect("config").login_allowlist.is_empty());

        let err = load(&[("TGDESK_LOGIN_ALLOWLIST", "+44 7700 9001234567890")]).expect_err("long");
        assert!(
            err.to_string().starts_with("TGDESK_LOGIN_ALLOWLIST: '+44 "),
            "{err}"
        );
        assert!(!err.to_string().contains("9001234567890"), "{err}");
        let err = load(&[("TGDESK_LOGIN_ALLOWLIST", "alice")]).expect_err("name");
        assert!(err.to_string().contains("'alice' is neither"), "{err}");

        let dir = tempdir();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "login_allowlist = [\"+447700900123\", 42]\nlogin_limits = \"off\"\ntrusted_proxies = [\"127.0.0.1\"]\n",
        )
        .expect("write");
        let config =
            Config::load_from(Some(&path), &env(&[]), &Overrides::default()).expect("config");
        assert!(config.login_allowlist.lists_phone("+447700900123"));
        assert!(config.login_allowlist.lists_user(42));
        assert!(!config.login_limits.enabled);
        assert_eq!(
            config.trusted_proxies,
            ["127.0.0.1".parse::<IpAddr>().expect("ip")]
        );
    }

    #[test]
    fn trusted_proxies_must_be_addresses() {
        let config = load(&[("TGDESK_TRUSTED_PROXIES", "10.0.0.1, ::1")]).expect("config");
        assert_eq!(config.trusted_proxies.len(), 2);
        let err = load(&[("TGDESK_TRUSTED_PROXIES", "proxy.internal")]).expect_err("name");
        assert!(
            err.to_string()
                .starts_with("TGDESK_TRUSTED_PROXIES: 'proxy.internal' is not an IP address"),
            "{err}"
        );
    }

    #[test]
    fn operator_settings_are_off_by_default_and_checked() {
        let config = load(&[]).expect("config");
        assert_eq!(config.cors_origins, CorsOrigins::Off);
        assert_eq!(config.metrics_listen, None);
        assert_eq!(config.log_format, crate::telemetry::LogFormat::Human);
        let config = load(&[
            (
                "TGDESK_CORS_ORIGINS",
                "https://App.example.com/, http://localhost:3000",
            ),
            ("TGDESK_METRICS_LISTEN", "127.0.0.1:9090"),
            ("TGDESK_LOG_FORMAT", "json"),
        ])
        .expect("config");
        assert_eq!(
            config.cors_origins,
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:3000".into()
            ])
        );
        assert_eq!(config.metrics_listen.map(|a| a.port()), Some(9090));
        assert_eq!(config.log_format, crate::telemetry::LogFormat::Json);
        assert_eq!(
            load(&[("TGDESK_CORS_ORIGINS", "*")])
                .expect("any")
                .cors_origins,
            CorsOrigins::Any
        );
        for (name, value, says) in [
            (
                "TGDESK_CORS_ORIGINS",
                "*,https://a.example",
                "is not an origin",
            ),
            ("TGDESK_CORS_ORIGINS", "app.example.com", "is not an origin"),
            (
                "TGDESK_CORS_ORIGINS",
                "https://a.example/path",
                "is not an origin",
            ),
            ("TGDESK_METRICS_LISTEN", "9090", "invalid socket address"),
            ("TGDESK_LOG_FORMAT", "xml", "expected json or human"),
        ] {
            let err = load(&[(name, value)]).expect_err(value);
            assert!(err.to_string().starts_with(name), "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn database_password_is_redacted() {
        let url = DatabaseUrl::new("postgres://app:hunter2@db.internal:5432/tgdesk");
        assert_eq!(
            url.to_string(),
            "postgres://app:[redacted]@db.internal:5432/tgdesk"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(
            DatabaseUrl::new("sqlite://tgdesk.db").to_string(),
            "sqlite://tgdesk.db"
        );
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tgdesk-config-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("tempdir");
        dir
    }
}
