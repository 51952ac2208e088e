//! Every login attempt, for the admin page and for rate limits: the masked
//! phone, the client address, the method, the outcome and the Telegram error
//! name. Never the code or the password.
//!
//! A failed attempt is also an audit event: [`record`] writes both, in one
//! transaction, so no login path can record one and forget the other.

use std::fmt;
use std::str::FromStr;

use sqlx::{Any, AnyPool, Executor, FromRow};

use super::{Result, StoreError};

/// How the user tried to log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    Phone,
    Qr,
    Password,
}

impl LoginMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::Phone => "phone",
            LoginMethod::Qr => "qr",
            LoginMethod::Password => "password",
        }
    }
}

impl fmt::Display for LoginMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LoginMethod {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "phone" => Ok(LoginMethod::Phone),
            "qr" => Ok(LoginMethod::Qr),
            "password" => Ok(LoginMethod::Password),
            other => Err(StoreError::BadValue {
                column: "login_attempts.method",
                value: other.to_owned(),
            }),
        }
    }
}

impl TryFrom<String> for LoginMethod {
    type Error = StoreError;

    fn try_from(value: String) -> Result<Self> {
        value.parse()
    }
}

/// One recorded attempt.
#[derive(Clone, Debug, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct LoginAttempt {
    pub id: i64,
    /// Unix seconds, UTC.
    pub at: i64,
    pub phone_masked: Option<String>,
    pub address: Option<String>,
    #[sqlx(try_from = "String")]
    pub method: LoginMethod,
    /// Stable snake_case outcome, e.g. `code_sent`, `success`, `code_invalid`.
    pub outcome: String,
    /// The Telegram error name, e.g. `PHONE_CODE_INVALID`.
    pub telegram_error: Option<String>,
    pub account_id: Option<i64>,
}

/// An attempt to record.
#[derive(Clone, Debug)]
pub struct NewLoginAttempt<'a> {
    pub phone_masked: Option<&'a str>,
    pub address: Option<&'a str>,
    pub method: LoginMethod,
    pub outcome: &'a str,
    pub telegram_error: Option<&'a str>,
    pub account_id: Option<i64>,
}

/// Which attempts to list: newest first, at most `limit`, older than
/// `before_id` if given, optionally filtered.
#[derive(Clone, Debug, Default)]
pub struct LoginAttemptFilter<'a> {
    pub outcome: Option<&'a str>,
    /// Exactly this masked phone.
    pub phone_masked: Option<&'a str>,
    /// Masked phones that contain this text, spaces ignored on both sides:
    /// `+44`, `0123` or a whole mask as shown.
    pub phone_contains: Option<&'a str>,
    pub address: Option<&'a str>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// `text` as a LIKE pattern that matches it anywhere, spaces removed and
/// `%`, `_` and `\` taken literally (with `ESCAPE '\'`).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Outcomes that are steps of a login still under way, or its success
/// (audited where the login completes), or a refusal by the allowlist
/// (audited where it is refused): not written to the audit log again.
const NOT_AUDITED: &[&str] = &[
    "code_sent",
    "code_resent",
    "password_needed",
    "qr_shown",
    "success",
    "not_allowed",
];

/// Whether an attempt with this outcome is a failed login for the audit log.
pub fn is_failure(outcome: &str) -> bool {
    !NOT_AUDITED.contains(&outcome)
}

/// Records an attempt and returns its id. A failed one (see [`is_failure`])
/// also gets an audit entry: action `login`, actor `anonymous`, the outcome,
/// and the method, masked phone, address and Telegram error as detail.
pub async fn record(db: &AnyPool, attempt: &NewLoginAttempt<'_>, now: i64) -> Result<i64> {
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO login_attempts (at, phone_masked, address, method, outcome, telegram_error, account_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(now)
    .bind(attempt.phone_masked)
    .bind(attempt.address)
    .bind(attempt.method.as_str())
    .bind(attempt.outcome)
    .bind(attempt.telegram_error)
    .bind(attempt.account_id)
    .fetch_one(&mut *tx)
    .await?;
    if is_failure(attempt.outcome) {
        let mut detail = format!("method={}", attempt.method);
        for (name, value) in [
            ("phone", attempt.phone_masked),
            ("address", attempt.address),
            ("telegram_error", attempt.telegram_error),
        ] {
            if let Some(value) = value {
                detail.push_str(&format!(" {name}={value}"));
            }
        }
        let entry = super::audit::NewAuditEntry {
            actor: "anonymous",
            action: "login",
            target: None,
            outcome: attempt.outcome,
            detail: Some(&detail),
        };
        super::audit::record(&mut *tx, &entry, now).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Attempts matching `filter`, newest first.
pub async fn list<'e, E>(db: E, filter: &LoginAttemptFilter<'_>) -> Result<Vec<LoginAttempt>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, LoginAttempt>(
        "SELECT id, at, phone_masked, address, method, outcome, telegram_error, account_id \
         FROM login_attempts \
         WHERE ($1 IS NULL OR outcome = $1) AND ($2 IS NULL OR phone_masked = $2) \
           AND ($3 IS NULL OR address = $3) AND ($4 IS NULL OR id < $4) \
           AND ($6 IS NULL OR REPLACE(phone_masked, ' ', '') LIKE $6 ESCAPE '\\') \
         ORDER BY id DESC LIMIT $5",
    )
    .bind(filter.outcome)
    .bind(filter.phone_masked)
    .bind(filter.address)
    .bind(filter.before_id)
    .bind(filter.limit.clamp(1, 1000))
    .bind(filter.phone_contains.map(contains_pattern))
    .fetch_all(db)
    .await?)
}

/// How many attempts with `outcome` came from `address` since `since`.
pub async fn count_from_address_since<'e, E>(
    db: E,
    address: &str,
    outcome: &str,
    since: i64,
) -> Result<i64>
where
    E: Executor<'e, Database = Any>,
{
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM login_attempts WHERE address = $1 AND outcome = $2 AND at >= $3",
    )
    .bind(address)
    .bind(outcome)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(n)
}

/// Deletes attempts older than `before`. Returns how many.
pub async fn prune<'e, E>(db: E, before: i64) -> Result<u64>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query("DELETE FROM login_attempts WHERE at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
