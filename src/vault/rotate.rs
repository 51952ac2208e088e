//! `tgdesk keys rotate`: re-seal every stored blob under the newest key.
//!
//! Safe to run while the service is up and safe to run twice: rows are read
//! in pages and each one is replaced by a single compare-and-swap `UPDATE`
//! (its own short transaction) that only succeeds if the row still holds the
//! blob that was re-sealed. A row the service rewrote in the meantime is left
//! as the service wrote it and looked at again in the next pass.
//!
//! Deploy the new key to every running instance (as the newest key) before
//! rotating: an instance without it could no longer open the rows.

use std::fmt;

use crate::store::sealed::{self, SealedColumn};
use crate::store::{Db, StoreError};

use super::{Aad, KeyId, Vault, VaultError};

/// Rows handled per page.
const PAGE: i64 = 200;
/// Passes over a column while the service keeps rewriting rows concurrently.
const MAX_PASSES: usize = 3;

/// Errors of a rotation. Rows re-sealed before the error stay re-sealed;
/// running the command again continues where it stopped.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot re-seal {table} row {row}: {source}")]
    Row {
        table: &'static str,
        row: String,
        source: VaultError,
    },
}

/// What a rotation did, per sealed column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub new_key: Option<KeyId>,
    pub columns: Vec<ColumnReport>,
}

/// What a rotation did to one sealed column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnReport {
    pub table: &'static str,
    pub column: &'static str,
    /// Rows now sealed under the newest key by this run.
    pub resealed: u64,
    /// Rows still under an older key when the run ended (the service kept
    /// rewriting them with an older key: is the new key deployed?).
    pub remaining: i64,
}

impl RotationReport {
    /// Rows re-sealed by this run, over all columns.
    pub fn resealed(&self) -> u64 {
        self.columns.iter().map(|c| c.resealed).sum()
    }

    /// Rows still under an older key, over all columns.
    pub fn remaining(&self) -> i64 {
        self.columns.iter().map(|c| c.remaining).sum()
    }
}

impl fmt::Display for RotationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self
            .new_key
            .map(|k| k.to_string())
            .unwrap_or_else(|| "?".into());
        write!(
            f,
            "re-sealed {} rows under vault key {key}",
            self.resealed()
        )?;
        let details: Vec<String> = self
            .columns
            .iter()
            .filter(|c| c.resealed > 0)
            .map(|c| format!("{}.{}: {}", c.table, c.column, c.resealed))
            .collect();
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        if self.remaining() > 0 {
            write!(
                f,
                "; {} rows are still sealed with older keys, because a running tgdesk rewrote them: \
                 give every instance the new key (newest last) and run `tgdesk keys rotate` again",
                self.remaining()
            )?;
        }
        Ok(())
    }
}

/// Re-seals every sealed row not yet under the vault's newest key.
pub async fn rotate(db: &Db, vault: &Vault) -> Result<RotationReport, RotateError> {
    let newest = vault.newest_key_id();
    let mut report = RotationReport {
        new_key: Some(newest),
        columns: Vec::new(),
    };
    for column in sealed::ALL {
        report.columns.push(rotate_column(db, vault, column).await?);
    }
    Ok(report)
}

async fn rotate_column(
    db: &Db,
    vault: &Vault,
    column: &'static SealedColumn,
) -> Result<ColumnReport, RotateError> {
    let newest = super::header(vault.newest_key_id());
    let mut resealed = 0;
    for _pass in 0..MAX_PASSES {
        let mut skipped = 0;
        let mut after: Option<Vec<i64>> = None;
        loop {
            let page =
                sealed::page_without_header(db.pool(), column, &newest, after.as_deref(), PAGE)
                    .await?;
            if page.is_empty() {
                break;
            }
            for row in page {
                let aad = Aad::for_row(column, &row.key);
                let new_blob =
                    vault
                        .reseal(&aad, &row.blob)
                        .map_err(|source| RotateError::Row {
                            table: column.table,
                            row: row_name(&row.key),
                            source,
                        })?;
                if sealed::compare_and_swap(db.pool(), column, &row.key, &row.blob, &new_blob)
                    .await?
                {
                    resealed += 1;
                } else {
                    skipped += 1;
                }
                after = Some(row.key);
            }
        }
        if skipped == 0 {
            break;
        }
    }
    let remaining = sealed::count_without_header(db.pool(), column, &newest).await?;
    Ok(ColumnReport {
        table: column.table,
        column: column.column,
        resealed,
        remaining,
    })
}

pub(super) fn row_name(key: &[i64]) -> String {
    key.iter().map(i64::to_string).collect::<Vec<_>>().join(":")
}
