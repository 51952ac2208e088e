//! Telegram users who hold the admin role. Granted by configuration or the
//! CLI, never by a web route.

use sqlx::{Any, Executor, FromRow};

use super::Result;

/// One admin grant.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Admin {
    pub telegram_user_id: i64,
    pub granted_at: i64,
    pub granted_by: String,
}

/// Grants the admin role. Returns false if the user already had it.
pub async fn grant<'e, E>(db: E, telegram_user_id: i64, granted_by: &str, now: i64) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query(
        "INSERT INTO admins (telegram_user_id, granted_at, granted_by) VALUES ($1, $2, $3) \
         ON CONFLICT (telegram_user_id) DO NOTHING",
    )
    .bind(telegram_user_id)
    .bind(now)
    .bind(granted_by)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes the admin role. Returns false if the user did not have it.
pub async fn revoke<'e, E>(db: E, telegram_user_id: i64) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let done = sqlx::query("DELETE FROM admins WHERE telegram_user_id = $1")
        .bind(telegram_user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether this Telegram user holds the admin role in the database.
pub async fn is_admin<'e, E>(db: E, telegram_user_id: i64) -> Result<bool>
where
    E: Executor<'e, Database = Any>,
{
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT telegram_user_id FROM admins WHERE telegram_user_id = $1")
            .bind(telegram_user_id)
            .fetch_optional(db)
            .await?;
    Ok(row.is_some())
}

/// Every admin, in order of Telegram user id.
pub async fn list<'e, E>(db: E) -> Result<Vec<Admin>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, Admin>(
        "SELECT telegram_user_id, granted_at, granted_by FROM admins ORDER BY telegram_user_id",
    )
    .fetch_all(db)
    .await?)
}
