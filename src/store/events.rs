//! Each account's append-only event log (new, edited, deleted messages).
//!
//! Cursors come from `accounts.last_event_cursor`, advanced in the same
//! transaction that inserts the events. On PostgreSQL the row lock on the
//! account serialises appenders, so cursors become visible in order: a reader
//! that has seen cursor N never later finds a new event below N. The counter
//! survives pruning and session resets, so cursors never go backwards.

use sqlx::{Any, Executor, FromRow};

use super::{Db, Result, StoreError};

/// One stored event. `payload` is a vault blob (see `Aad::event`).
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Event {
    pub account_id: i64,
    pub cursor: i64,
    pub kind: String,
    /// Bot API dialog id of the chat.
    pub chat_id: i64,
    pub message_id: Option<i64>,
    pub payload: Vec<u8>,
    pub created_at: i64,
}

/// An event to append; its payload is plaintext until `append` has it sealed.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub chat_id: i64,
    pub message_id: Option<i64>,
    pub payload: &'a [u8],
}

const COLUMNS: &str = "account_id, cursor, kind, chat_id, message_id, payload, created_at";

/// Appends events to an account's log in one transaction and returns their
/// cursors. `seal(cursor, event)` turns each payload into the blob to store
/// (the caller seals it with the vault, bound to `(account_id, cursor)`).
pub async fn append<F, E>(
    db: &Db,
    account_id: i64,
    events: &[NewEvent<'_>],
    now: i64,
    mut seal: F,
) -> Result<Vec<i64>>
where
    F: FnMut(i64, &NewEvent<'_>) -> Result<Vec<u8>, E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = db.begin_write().await?;
    let (last,): (i64,) = sqlx::query_as(
        "UPDATE accounts SET last_event_cursor = last_event_cursor + $1 WHERE id = $2 \
         RETURNING last_event_cursor",
    )
    .bind(events.len() as i64)
    .bind(account_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
    let first = last - events.len() as i64 + 1;
    let mut cursors = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let cursor = first + i as i64;
        let payload = seal(cursor, event).map_err(|e| StoreError::Prepare(e.into()))?;
        sqlx::query(&format!(
            "INSERT INTO events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(account_id)
        .bind(cursor)
        .bind(event.kind)
        .bind(event.chat_id)
        .bind(event.message_id)
        .bind(payload)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        cursors.push(cursor);
    }
    tx.commit().await?;
    Ok(cursors)
}

/// Up to `limit` events of an account after cursor `since`, oldest first.
pub async fn list_since<'e, E>(db: E, account_id: i64, since: i64, limit: i64) -> Result<Vec<Event>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, Event>(&format!(
        "SELECT {COLUMNS} FROM events WHERE account_id = $1 AND cursor > $2 \
         ORDER BY cursor LIMIT $3"
    ))
    .bind(account_id)
    .bind(since)
    .bind(limit.max(0))
    .fetch_all(db)
    .await?)
}

/// The newest cursor handed out for an account (0 before its first event).
pub async fn latest_cursor<'e, E>(db: E, account_id: i64) -> Result<Option<i64>>
where
    E: Executor<'e, Database = Any>,
{
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT last_event_cursor FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(c,)| c))
}

/// Deletes events created before `before` (all accounts). Returns how many.
pub async fn prune_older_than<'e, E>(db: E, before: i64) -> Result<u64>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query("DELETE FROM events WHERE created_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Keeps only the newest `keep` cursors of an account's log. Returns how
/// many events were deleted.
pub async fn prune_to_count<'e, E>(db: E, account_id: i64, keep: i64) -> Result<u64>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query(
        "DELETE FROM events WHERE account_id = $1 AND cursor <= \
         (SELECT last_event_cursor FROM accounts WHERE id = $1) - $2",
    )
    .bind(account_id)
    .bind(keep.max(0))
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// How many events the log holds, all accounts together.
pub async fn count_all<'e, E>(db: E) -> Result<i64>
where
    E: Executor<'e, Database = Any>,
{
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events")
        .fetch_one(db)
        .await?;
    Ok(n)
}
