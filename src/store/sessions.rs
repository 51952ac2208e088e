//! A Telegram session at rest, in three parts stored apart so that none
//! causes the others to be rewritten:
//!
//! - `account_auth`: the sealed authorisation (home DC, per-DC auth keys, self
//!   user), rewritten only when it changes;
//! - `account_update_state` + `account_channel_state`: plain pts/qts/date/seq
//!   numbers, written often and in batches;
//! - `account_peers`: the sealed peer cache, upserted per peer in batches.

use sqlx::{Any, Executor, FromRow};

use super::Result;

/// Primary update state of an account (see grammers' `UpdatesState`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromRow)]
pub struct UpdateStateRow {
    pub pts: i32,
    pub qts: i32,
    pub date: i32,
    pub seq: i32,
}

/// The sealed authorisation of an account, if it has one.
pub async fn get_auth<'e, E>(db: E, account_id: i64) -> Result<Option<Vec<u8>>>
where
    E: Executor<'e, Database = Any>,
{
    let row: Option<(Vec<u8>,)> =
        sqlx::query_as("SELECT sealed FROM account_auth WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(sealed,)| sealed))
}

/// Writes (insert or replace) the sealed authorisation of an account.
pub async fn put_auth<'e, E>(db: E, account_id: i64, sealed: &[u8], now: i64) -> Result<()>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO account_auth (account_id, sealed, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
    )
    .bind(account_id)
    .bind(sealed.to_vec())
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// The stored primary update state of an account.
pub async fn get_update_state<'e, E>(db: E, account_id: i64) -> Result<Option<UpdateStateRow>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, UpdateStateRow>(
        "SELECT pts, qts, date, seq FROM account_update_state WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(db)
    .await?)
}

/// Writes the primary update state of an account.
pub async fn put_update_state<'e, E>(
    db: E,
    account_id: i64,
    state: &UpdateStateRow,
    now: i64,
) -> Result<()>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO account_update_state (account_id, pts, qts, date, seq, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (account_id) DO UPDATE SET pts = excluded.pts, qts = excluded.qts, \
            date = excluded.date, seq = excluded.seq, updated_at = excluded.updated_at",
    )
    .bind(account_id)
    .bind(state.pts)
    .bind(state.qts)
    .bind(state.date)
    .bind(state.seq)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// The stored pts of each channel of an account: `(channel id, pts)`.
pub async fn get_channel_states<'e, E>(db: E, account_id: i64) -> Result<Vec<(i64, i32)>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as(
        "SELECT channel_id, pts FROM account_channel_state WHERE account_id = $1 ORDER BY channel_id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// Writes the pts of one channel of an account.
pub async fn put_channel_state<'e, E>(
    db: E,
    account_id: i64,
    channel_id: i64,
    pts: i32,
) -> Result<()>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO account_channel_state (account_id, channel_id, pts) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id, channel_id) DO UPDATE SET pts = excluded.pts",
    )
    .bind(account_id)
    .bind(channel_id)
    .bind(pts)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets the pts of every channel of an account not in `keep` (after a
/// full update-state replacement that dropped channels).
pub async fn delete_channel_states_except(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
    keep: &[i64],
) -> Result<()> {
    let stored = get_channel_states(&mut *conn, account_id).await?;
    for (channel_id, _) in stored {
        if !keep.contains(&channel_id) {
            sqlx::query(
                "DELETE FROM account_channel_state WHERE account_id = $1 AND channel_id = $2",
            )
            .bind(account_id)
            .bind(channel_id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Every cached peer of an account: `(peer id, sealed peer info)`.
pub async fn get_peers<'e, E>(db: E, account_id: i64) -> Result<Vec<(i64, Vec<u8>)>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as(
        "SELECT peer_id, sealed FROM account_peers WHERE account_id = $1 ORDER BY peer_id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// Writes (insert or replace) one sealed peer of an account. Call it for a
/// batch of peers inside one transaction.
pub async fn put_peer<'e, E>(
    db: E,
    account_id: i64,
    peer_id: i64,
    sealed: &[u8],
    now: i64,
) -> Result<()>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO account_peers (account_id, peer_id, sealed, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_id, peer_id) DO UPDATE SET sealed = excluded.sealed, \
            updated_at = excluded.updated_at",
    )
    .bind(account_id)
    .bind(peer_id)
    .bind(sealed.to_vec())
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Shreds an account's stored Telegram session: authorisation, update state
/// and peer cache. The account row itself stays (with its state and history).
/// Returns whether there was an authorisation to delete.
pub async fn delete_session(conn: &mut sqlx::AnyConnection, account_id: i64) -> Result<bool> {
    let auth = sqlx::query("DELETE FROM account_auth WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    for table in [
        "account_update_state",
        "account_channel_state",
        "account_peers",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
            .bind(account_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(auth.rows_affected() > 0)
}
