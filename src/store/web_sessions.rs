//! Browser sessions. The cookie carries a random token; the table keeps only
//! its SHA-256 (`id_hash`), so a copy of the database lets nobody in.
//!
//! A logout deletes the row. An administrator's reset instead *ends* every
//! session of the account (`ended_at`): the row stays until it expires so
//! that the browser still holding the cookie can be told why it was logged
//! out, but it never lets anyone in again (see [`get_live`]).

use std::fmt;

use sqlx::{Any, Executor, FromRow};

use super::Result;

/// One browser session.
#[derive(Clone, PartialEq, Eq, FromRow)]
pub struct WebSession {
    pub id_hash: Vec<u8>,
    pub account_id: i64,
    pub csrf_secret: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub user_agent: Option<String>,
    pub address: Option<String>,
}

impl fmt::Debug for WebSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSession")
            .field("account_id", &self.account_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("user_agent", &self.user_agent)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str =
    "id_hash, account_id, csrf_secret, created_at, expires_at, last_seen_at, user_agent, address";

/// Stores a new session.
pub async fn insert<'e, E>(db: E, session: &WebSession) -> Result<()>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(&format!(
        "INSERT INTO web_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(session.id_hash.clone())
    .bind(session.account_id)
    .bind(session.csrf_secret.clone())
    .bind(session.created_at)
    .bind(session.expires_at)
    .bind(session.last_seen_at)
    .bind(session.user_agent.clone())
    .bind(session.address.clone())
    .execute(db)
    .await?;
    Ok(())
}

/// The session with this token hash, if it exists and has not expired at `now`.
///
/// A session ended by a reset is returned only while its account is not
/// `active`: the caller then refuses it with the account's state (and
/// deletes it), which tells the staff member that an administrator reset
/// their session. Once the account logs in again the ended session is not
/// found at all, so an old cookie can never ride on a new login.
pub async fn get_live<'e, E>(db: E, id_hash: &[u8], now: i64) -> Result<Option<WebSession>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, WebSession>(&format!(
        "SELECT {COLUMNS} FROM web_sessions WHERE id_hash = $1 AND expires_at > $2 \
           AND (ended_at IS NULL OR EXISTS (SELECT 1 FROM accounts a \
                WHERE a.id = web_sessions.account_id AND a.state <> 'active'))"
    ))
    .bind(id_hash.to_vec())
    .bind(now)
    .fetch_optional(db)
    .await?)
}

/// Records activity on a session and optionally extends its expiry.
pub async fn touch<'e, E>(db: E, id_hash: &[u8], now: i64, expires_at: Option<i64>) -> Result<()>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(
        "UPDATE web_sessions SET last_seen_at = $1, expires_at = COALESCE($2, expires_at) \
         WHERE id_hash = $3",
    )
    .bind(now)
    .bind(expires_at)
    .bind(id_hash.to_vec())
    .execute(db)
    .await?;
    Ok(())
}

/// Ends one session (logout). Returns whether it existed.
pub async fn delete<'e, E>(db: E, id_hash: &[u8]) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
        .bind(id_hash.to_vec())
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends every live session of an account for an administrator's reset: the
/// rows stay, marked, until they expire (see [`get_live`]). Returns how many
/// were ended.
pub async fn end_for_account<'e, E>(db: E, account_id: i64, now: i64) -> Result<u64>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query(
        "UPDATE web_sessions SET ended_at = $1 \
         WHERE account_id = $2 AND ended_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(account_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// How many live (not expired, not ended) sessions each account has;
/// accounts without any are left out.
pub async fn count_live_per_account<'e, E>(db: E, now: i64) -> Result<Vec<(i64, i64)>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as(
        "SELECT account_id, COUNT(*) FROM web_sessions \
         WHERE expires_at > $1 AND ended_at IS NULL GROUP BY account_id",
    )
    .bind(now)
    .fetch_all(db)
    .await?)
}

/// Deletes every session of an account (the staff member logged out of
/// Telegram). Returns how many there were.
pub async fn delete_for_account<'e, E>(db: E, account_id: i64) -> Result<u64>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query("DELETE FROM web_sessions WHERE account_id = $1")
        .bind(account_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Removes sessions that expired before `now`. Returns how many.
pub async fn delete_expired<'e, E>(db: E, now: i64) -> Result<u64>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// The live sessions of an account, most recently used first.
pub async fn list_for_account<'e, E>(db: E, account_id: i64, now: i64) -> Result<Vec<WebSession>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, WebSession>(&format!(
        "SELECT {COLUMNS} FROM web_sessions WHERE account_id = $1 AND expires_at > $2 \
           AND ended_at IS NULL ORDER BY last_seen_at DESC"
    ))
    .bind(account_id)
    .bind(now)
    .fetch_all(db)
    .await?)
}
