//! The audit log: who did what to whom, when (UTC), and how it ended. Logins,
//! logouts, resets, token creation and revocation, key rotation, admin
//! grants. Never secrets: callers pass names, ids and masked values only.

use sqlx::{Any, Executor, FromRow};

use super::Result;

/// One audit entry as stored.
#[derive(Clone, Debug, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds, UTC.
    pub at: i64,
    /// Who acted, e.g. `account:12`, `admin-token:3`, `cli`, `system`.
    pub actor: String,
    /// Stable snake_case action name, e.g. `login`, `account_reset`.
    pub action: String,
    /// What it acted on, e.g. `account:12`, `token:7`.
    pub target: Option<String>,
    /// `ok`, `failed`, or a short snake_case reason.
    pub outcome: String,
    pub detail: Option<String>,
}

/// An entry to record.
#[derive(Clone, Debug)]
pub struct NewAuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub outcome: &'a str,
    pub detail: Option<&'a str>,
}

/// Which entries to list: newest first, at most `limit`, older than
/// `before_id` if given, optionally only one action, actor or target.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter<'a> {
    pub action: Option<&'a str>,
    pub actor: Option<&'a str>,
    /// Only entries about this target, e.g. `account:12`.
    pub target: Option<&'a str>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Records an entry and returns its id.
pub async fn record<'e, E>(db: E, entry: &NewAuditEntry<'_>, now: i64) -> Result<i64>
where
    E: Executor<'e, Database = Any>,
{
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO audit_log (at, actor, action, target, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(now)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.outcome)
    .bind(entry.detail)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// Entries matching `filter`, newest first.
pub async fn list<'e, E>(db: E, filter: &AuditFilter<'_>) -> Result<Vec<AuditEntry>>
where
    E: Executor<'e, Database = Any>,
{
    Ok(sqlx::query_as::<_, AuditEntry>(
        "SELECT id, at, actor, action, target, outcome, detail FROM audit_log \
         WHERE ($1 IS NULL OR action = $1) AND ($2 IS NULL OR actor = $2) \
           AND ($3 IS NULL OR id < $3) AND ($5 IS NULL OR target = $5) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(filter.action)
    .bind(filter.actor)
    .bind(filter.before_id)
    .bind(filter.limit.clamp(1, 1000))
    .bind(filter.target)
    .fetch_all(db)
    .await?)
}
