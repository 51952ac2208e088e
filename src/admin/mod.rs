//! Administration: who holds the admin role, and resetting a staff
//! member's session.
//!
//! The admin role belongs to Telegram user ids. It comes from the
//! configuration (`admins = [...]`, synced into the `admins` table at every
//! start with `granted_by = "config"`) or from `tgdesk admin grant|revoke`
//! ([`cli`]); no web route creates admins. Every grant and revoke is audited.
//!
//! [`reset`] is the one way a Telegram session is wiped here: a staff
//! member's own logout, the admin page, the admin API and `tgdesk admin
//! reset` all call it.

pub mod cli;
pub mod overview;
pub mod reset;

use crate::store::audit::{self, NewAuditEntry};
use crate::store::{Db, StoreError, admins};

/// Who granted a role that came from the configuration.
pub const CONFIG: &str = "config";

/// What a sync of the configured admins changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub granted: Vec<i64>,
    pub revoked: Vec<i64>,
}

/// Makes the `admins` table agree with the configuration: every configured
/// id holds the role, and a role that came from the configuration but is no
/// longer listed there is revoked. Roles granted with the CLI are left
/// alone. Each change is audited with actor `config`.
pub async fn sync_config_admins(db: &Db, configured: &[i64]) -> Result<SyncReport, StoreError> {
    let now = crate::store::now();
    let mut report = SyncReport::default();
    for &id in configured {
        if admins::grant(db.pool(), id, CONFIG, now).await? {
            report.granted.push(id);
        }
    }
    for admin in admins::list(db.pool()).await? {
        if admin.granted_by == CONFIG
            && !configured.contains(&admin.telegram_user_id)
            && admins::revoke(db.pool(), admin.telegram_user_id).await?
        {
            report.revoked.push(admin.telegram_user_id);
        }
    }
    for (ids, action) in [
        (&report.granted, "admin_grant"),
        (&report.revoked, "admin_revoke"),
    ] {
        for id in ids {
            audit_role(db, CONFIG, action, *id, "ok", now).await?;
        }
    }
    if !report.granted.is_empty() || !report.revoked.is_empty() {
        tracing::info!(granted = ?report.granted, revoked = ?report.revoked, "admins synced from the configuration");
    }
    Ok(report)
}

/// Grants the admin role to a Telegram user id. Returns false if it already
/// held it. Audited either way.
pub async fn grant(db: &Db, telegram_user_id: i64, actor: &str) -> Result<bool, StoreError> {
    let now = crate::store::now();
    let granted = admins::grant(db.pool(), telegram_user_id, actor, now).await?;
    let outcome = if granted { "ok" } else { "already_admin" };
    audit_role(db, actor, "admin_grant", telegram_user_id, outcome, now).await?;
    Ok(granted)
}

/// Revokes the admin role. Returns false if the user did not hold it.
/// Audited either way.
pub async fn revoke(db: &Db, telegram_user_id: i64, actor: &str) -> Result<bool, StoreError> {
    let now = crate::store::now();
    let revoked = admins::revoke(db.pool(), telegram_user_id).await?;
    let outcome = if revoked { "ok" } else { "not_admin" };
    audit_role(db, actor, "admin_revoke", telegram_user_id, outcome, now).await?;
    Ok(revoked)
}

async fn audit_role(
    db: &Db,
    actor: &str,
    action: &str,
    telegram_user_id: i64,
    outcome: &str,
    now: i64,
) -> Result<(), StoreError> {
    let target = format!("telegram:{telegram_user_id}");
    audit::record(
        db.pool(),
        &NewAuditEntry {
            actor,
            action,
            target: Some(&target),
            outcome,
            detail: None,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Writes an audit entry; a failure is logged, not fatal to what it records
/// (which has already happened).
pub(crate) async fn record(db: &Db, entry: &NewAuditEntry<'_>) {
    record_at(db, entry, crate::store::now()).await;
}

/// [`record`] at a time the caller already took.
pub(crate) async fn record_at(db: &Db, entry: &NewAuditEntry<'_>, now: i64) {
    if let Err(e) = audit::record(db.pool(), entry, now).await {
        tracing::warn!(error = %e, action = entry.action, "cannot write the audit entry");
    }
}
