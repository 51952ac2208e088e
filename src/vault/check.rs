//! The start-up check: can the configured keys open what is stored?
//!
//! Run before serving. It reads which key ids the stored blobs carry (their
//! headers, via SQL, no decryption) and trial-opens one row per column and
//! key id. A missing key or a row that does not open stops the start-up with
//! a message naming the key; the check only reads, so nothing is changed.

use std::collections::BTreeSet;
use std::fmt;

use crate::store::sealed::{self, SealedColumn};
use crate::store::{Db, StoreError};

use super::{Aad, KeyId, Vault, VaultError, blob_key_id};

/// Why the configured keys do not fit the stored data.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}", missing_message(.missing))]
    MissingKeys { missing: Vec<MissingKey> },
    #[error(
        "stored data in {table} (row {row}) does not open with vault key {key_id}: the row was altered or corrupted; tgdesk changed nothing"
    )]
    DoesNotOpen {
        table: &'static str,
        row: String,
        key_id: KeyId,
    },
    #[error("stored data in {table} is unreadable: {source}")]
    Unreadable {
        table: &'static str,
        source: VaultError,
    },
}

/// A key id found in the database but not configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingKey {
    pub key_id: KeyId,
    pub tables: Vec<&'static str>,
}

fn missing_message(missing: &[MissingKey]) -> String {
    let parts: Vec<String> = missing
        .iter()
        .map(|m| {
            format!(
                "vault key {} is missing: rows in {} were sealed with it",
                m.key_id,
                m.tables.join(", ")
            )
        })
        .collect();
    let add = if missing.len() == 1 { "it" } else { "them" };
    format!(
        "{}; add {add} to TGDESK_VAULT_KEYS (or the key file), newest key last; nothing was changed",
        parts.join("; ")
    )
}

/// Which keys the stored data uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Key ids found in stored blobs (all configured).
    pub keys_in_use: BTreeSet<KeyId>,
    /// Whether some data is sealed with a key other than the newest
    /// (`tgdesk keys rotate` would re-seal it).
    pub older_keys_in_use: bool,
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.keys_in_use.is_empty() {
            return f.write_str("no sealed data yet");
        }
        let ids: Vec<String> = self.keys_in_use.iter().map(KeyId::to_string).collect();
        write!(f, "sealed data uses vault keys {}", ids.join(", "))
    }
}

/// Verifies that `vault` can open the stored data. Reads only.
pub async fn check(db: &Db, vault: &Vault) -> Result<CheckReport, CheckError> {
    let mut report = CheckReport::default();
    let mut missing: Vec<MissingKey> = Vec::new();
    for column in sealed::ALL {
        for header in sealed::headers_in_use(db.pool(), column).await? {
            let key_id = blob_key_id(&header).map_err(|source| CheckError::Unreadable {
                table: column.table,
                source,
            })?;
            if !vault.has_key(key_id) {
                match missing.iter_mut().find(|m| m.key_id == key_id) {
                    Some(m) => m.tables.push(column.table),
                    None => missing.push(MissingKey {
                        key_id,
                        tables: vec![column.table],
                    }),
                }
                continue;
            }
            trial_open(db, vault, column, &header, key_id).await?;
            report.keys_in_use.insert(key_id);
            if key_id != vault.newest_key_id() {
                report.older_keys_in_use = true;
            }
        }
    }
    if !missing.is_empty() {
        return Err(CheckError::MissingKeys { missing });
    }
    Ok(report)
}

async fn trial_open(
    db: &Db,
    vault: &Vault,
    column: &SealedColumn,
    header: &[u8],
    key_id: KeyId,
) -> Result<(), CheckError> {
    let Some(row) = sealed::first_with_header(db.pool(), column, header).await? else {
        return Ok(());
    };
    let aad = Aad::for_row(column, &row.key);
    match vault.open(&aad, &row.blob) {
        Ok(_) => Ok(()),
        Err(VaultError::Refused(_)) => Err(CheckError::DoesNotOpen {
            table: column.table,
            row: super::rotate::row_name(&row.key),
            key_id,
        }),
        Err(source) => Err(CheckError::Unreadable {
            table: column.table,
            source,
        }),
    }
}
