//! Bearer API tokens. A token is shown once; the table keeps a short public
//! prefix to find its row and the SHA-256 of the whole token to verify it.

use std::fmt;
use std::str::FromStr;

use sqlx::{Any, Executor, FromRow};

use super::{Result, StoreError};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// Acts for its own account.
    Staff,
    /// May use the admin API (and, if bound to an account, act for it).
    Admin,
}

impl TokenRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Staff => "staff",
            TokenRole::Admin => "admin",
        }
    }
}

impl FromStr for TokenRole {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "staff" => Ok(TokenRole::Staff),
            "admin" => Ok(TokenRole::Admin),
            other => Err(StoreError::BadValue {
                column: "api_tokens.role",
                value: other.to_owned(),
            }),
        }
    }
}

impl TryFrom<String> for TokenRole {
    type Error = StoreError;

    fn try_from(value: String) -> Result<Self> {
        value.parse()
    }
}

/// One API token (never the token itself).
#[derive(Clone, PartialEq, Eq, FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub account_id: Option<i64>,
    pub name: String,
    pub prefix: String,
    pub hash: Vec<u8>,
    #[sqlx(try_from = "String")]
    pub role: TokenRole,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("role", &self.role)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A token to store.
#[derive(Clone)]
pub struct NewToken<'a> {
    pub account_id: Option<i64>,
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a [u8],
    pub role: TokenRole,
}

const COLUMNS: &str =
    "id, account_id, name, prefix, hash, role, created_at, last_used_at, revoked_at";

/// Stores a token and returns its row.
pub async fn insert<'e, E>(db: E, token: &NewToken<'_>, now: i64) -> Result<ApiToken>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, ApiToken>(&format!(
        "INSERT INTO api_tokens (account_id, name, prefix, hash, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(token.account_id)
    .bind(token.name)
    .bind(token.prefix)
    .bind(token.hash.to_vec())
    .bind(token.role.as_str())
    .bind(now)
    .fetch_one(db)
    .await?)
}

/// The token with this prefix, revoked or not (the caller checks both the
/// hash, in constant time, and `revoked_at`).
pub async fn get_by_prefix<'e, E>(db: E, prefix: &str) -> Result<Option<ApiToken>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, ApiToken>(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE prefix = $1"
    ))
    .bind(prefix)
    .fetch_optional(db)
    .await?)
}

/// A token by id.
pub async fn get<'e, E>(db: E, id: i64) -> Result<Option<ApiToken>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(
        sqlx::query_as::<_, ApiToken>(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// Records a use of a token.
pub async fn touch_last_used<'e, E>(db: E, id: i64, now: i64) -> Result<()>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes one token. Returns false if it does not exist or was already revoked.
pub async fn revoke<'e, E>(db: E, id: i64, now: i64) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every live token of an account. Returns how many.
pub async fn revoke_for_account<'e, E>(db: E, account_id: i64, now: i64) -> Result<u64>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(account_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The tokens of an account (revoked ones included), newest first.
pub async fn list_for_account<'e, E>(db: E, account_id: i64) -> Result<Vec<ApiToken>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, ApiToken>(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE account_id = $1 ORDER BY id DESC"
    ))
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// Every token, newest first.
pub async fn list_all<'e, E>(db: E) -> Result<Vec<ApiToken>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, ApiToken>(&format!(
        "SELECT {COLUMNS} FROM api_tokens ORDER BY id DESC"
    ))
    .fetch_all(db)
    .await?)
}
