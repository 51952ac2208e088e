//! Webhooks: the URLs an account's events are POSTed to, and how far each
//! has got. The secret is a vault blob (see [`super::sealed::WEBHOOK_SECRET`]);
//! this module never sees it in the clear.
//!
//! Delivery state lives in the row so that it survives a restart: the
//! delivered cursor only moves forward, and only after the receiver
//! answered 2xx or delivery gave up on an event.

use std::fmt;

use sqlx::{Any, Executor, FromRow};

use super::{Db, Result, StoreError};

/// One webhook as stored.
#[derive(Clone, PartialEq, Eq, FromRow)]
pub struct Webhook {
    pub id: i64,
    pub account_id: i64,
    pub url: String,
    /// The signing secret, sealed by the vault.
    pub secret_sealed: Vec<u8>,
    pub created_at: i64,
    /// Every event up to this cursor was delivered or given up on.
    pub delivered_cursor: i64,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// Failed attempts at the event being delivered now.
    pub attempts: i64,
    /// When the current run of failures began (`None` after a success).
    pub failing_since: Option<i64>,
    /// Set while its owner has paused delivery.
    pub disabled_at: Option<i64>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL (it may carry credentials) and no secret.
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("delivered_cursor", &self.delivered_cursor)
            .field("attempts", &self.attempts)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, account_id, url, secret_sealed, created_at, delivered_cursor, \
     last_success_at, last_error, last_error_at, attempts, failing_since, disabled_at";

/// Stores a webhook that starts after `cursor`, in one transaction:
/// `seal(id)` makes the sealed secret once the row has its id (the vault
/// binds the blob to it).
pub async fn insert<F, E>(
    db: &Db,
    account_id: i64,
    url: &str,
    cursor: i64,
    now: i64,
    seal: F,
) -> Result<Webhook>
where
    F: FnOnce(i64) -> Result<Vec<u8>, E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut tx = db.begin_write().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO webhooks (account_id, url, secret_sealed, created_at, delivered_cursor) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(account_id)
    .bind(url)
    .bind(Vec::<u8>::new())
    .bind(now)
    .bind(cursor)
    .fetch_one(&mut *tx)
    .await?;
    let sealed = seal(id).map_err(|e| StoreError::Prepare(e.into()))?;
    let row = sqlx::query_as::<_, Webhook>(&format!(
        "UPDATE webhooks SET secret_sealed = $1 WHERE id = $2 RETURNING {COLUMNS}"
    ))
    .bind(sealed)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// A webhook by id.
pub async fn get<'e, E>(db: E, id: i64) -> Result<Option<Webhook>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(
        sqlx::query_as::<_, Webhook>(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// An account's webhooks, oldest first.
pub async fn list_for_account<'e, E>(db: E, account_id: i64) -> Result<Vec<Webhook>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, Webhook>(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 ORDER BY id"
    ))
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// How many webhooks an account has.
pub async fn count_for_account<'e, E>(db: E, account_id: i64) -> Result<i64>
where
    E: Executor<'e, Database = Any>,
{
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhooks WHERE account_id = $1")
        .bind(account_id)
        .fetch_one(db)
        .await?;
    Ok(n)
}

/// The webhooks that should be delivering now: enabled, of active accounts.
pub async fn list_deliverable<'e, E>(db: E) -> Result<Vec<Webhook>>
where
    E: Executor<'e, Database = Any>,
{
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("w.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(sqlx::query_as::<_, Webhook>(&format!(
        "SELECT {columns} FROM webhooks w JOIN accounts a ON a.id = w.account_id \
         WHERE w.disabled_at IS NULL AND a.state = 'active' ORDER BY w.id"
    ))
    .fetch_all(db)
    .await?)
}

/// Deletes a webhook. Returns whether it existed.
pub async fn delete<'e, E>(db: E, id: i64) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Pauses (`Some(now)`) or resumes (`None`) an account's webhook. Returns
/// the row, or `None` if the account has no webhook with that id.
pub async fn set_disabled<'e, E>(
    db: E,
    account_id: i64,
    id: i64,
    disabled_at: Option<i64>,
) -> Result<Option<Webhook>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, Webhook>(&format!(
        "UPDATE webhooks SET disabled_at = $1 WHERE id = $2 AND account_id = $3 \
         RETURNING {COLUMNS}"
    ))
    .bind(disabled_at)
    .bind(id)
    .bind(account_id)
    .fetch_optional(db)
    .await?)
}

/// Records a 2xx for the event at `cursor`: the cursor moves there (never
/// back) and the failure state clears. Returns false if the webhook is gone.
pub async fn record_success<'e, E>(db: E, id: i64, cursor: i64, now: i64) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query(
        "UPDATE webhooks SET delivered_cursor = CASE WHEN delivered_cursor < $1 THEN $1 \
         ELSE delivered_cursor END, last_success_at = $2, attempts = 0, failing_since = NULL \
         WHERE id = $3",
    )
    .bind(cursor)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt (the event will be tried again). Returns false
/// if the webhook is gone.
pub async fn record_failure<'e, E>(db: E, id: i64, error: &str, now: i64) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query(
        "UPDATE webhooks SET attempts = attempts + 1, last_error = $1, last_error_at = $2, \
         failing_since = COALESCE(failing_since, $2) WHERE id = $3",
    )
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that delivery gave up on the event at `cursor`: the cursor moves
/// past it, the error stays, and so does `failing_since` (the receiver is
/// still failing). Returns false if the webhook is gone.
pub async fn record_gave_up<'e, E>(
    db: E,
    id: i64,
    cursor: i64,
    error: &str,
    now: i64,
) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query(
        "UPDATE webhooks SET delivered_cursor = CASE WHEN delivered_cursor < $1 THEN $1 \
         ELSE delivered_cursor END, attempts = 0, last_error = $2, last_error_at = $3, \
         failing_since = COALESCE(failing_since, $3) WHERE id = $4",
    )
    .bind(cursor)
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many events of an account's log lie after `cursor` (still to deliver).
pub async fn pending<'e, E>(db: E, account_id: i64, cursor: i64) -> Result<i64>
where
    E: Executor<'e, Database = Any>,
{
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM events WHERE account_id = $1 AND cursor > $2")
            .bind(account_id)
            .bind(cursor)
            .fetch_one(db)
            .await?;
    Ok(n)
}

/// Whether a webhook should be delivering: it exists, is enabled, and its
/// account is active.
pub async fn is_deliverable<'e, E>(db: E, id: i64) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM webhooks w JOIN accounts a ON a.id = w.account_id \
         WHERE w.id = $1 AND w.disabled_at IS NULL AND a.state = 'active'",
    )
    .bind(id)
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}
