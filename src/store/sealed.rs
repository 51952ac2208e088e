//! Every column that holds vault blobs, and the generic queries that key
//! rotation and the start-up key check run over them.
//!
//! The vault writes a 5-byte header (format version + key id) in front of each
//! blob, so `substr(column, 1, 5)` tells which key sealed a row — the same SQL
//! on SQLite (blob) and PostgreSQL (bytea) — without reading key material.
//! Adding a sealed column means adding it to [`ALL`]; the vault's tests check
//! that rotation covers every entry.

use sqlx::{Executor, Row as _};

use super::Result;

/// A column of vault blobs and how its rows are identified.
#[derive(Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
    /// The columns that identify a row, in the order they appear in its
    /// associated data (all integers).
    pub key: &'static [&'static str],
    /// What the blob is, as bound into its associated data.
    pub purpose: &'static str,
}

/// `account_auth.sealed`: an account's MTProto authorisation.
pub const ACCOUNT_AUTH: SealedColumn = SealedColumn {
    table: "account_auth",
    column: "sealed",
    key: &["account_id"],
    purpose: "auth",
};

/// `accounts.phone_sealed`: an account's full phone number.
pub const ACCOUNT_PHONE: SealedColumn = SealedColumn {
    table: "accounts",
    column: "phone_sealed",
    key: &["id"],
    purpose: "phone",
};

/// `account_peers.sealed`: one cached peer of an account.
pub const ACCOUNT_PEER: SealedColumn = SealedColumn {
    table: "account_peers",
    column: "sealed",
    key: &["account_id", "peer_id"],
    purpose: "peer",
};

/// `events.payload`: one entry of an account's event log.
pub const EVENT_PAYLOAD: SealedColumn = SealedColumn {
    table: "events",
    column: "payload",
    key: &["account_id", "cursor"],
    purpose: "payload",
};

/// `webhooks.secret_sealed`: a webhook's signing secret.
pub const WEBHOOK_SECRET: SealedColumn = SealedColumn {
    table: "webhooks",
    column: "secret_sealed",
    key: &["id"],
    purpose: "webhook_secret",
};

/// Every sealed column in the schema.
pub const ALL: [&SealedColumn; 5] = [
    &ACCOUNT_AUTH,
    &ACCOUNT_PHONE,
    &ACCOUNT_PEER,
    &EVENT_PAYLOAD,
    &WEBHOOK_SECRET,
];

/// One row of a sealed column: its key values and its blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRow {
    pub key: Vec<i64>,
    pub blob: Vec<u8>,
}

impl SealedColumn {
    fn key_list(&self) -> String {
        self.key.join(", ")
    }

    fn key_match(&self, first_placeholder: usize) -> String {
        self.key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} = ${}", first_placeholder + i))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn read_row(&self, row: &sqlx::any::AnyRow) -> Result<SealedRow> {
        let mut key = Vec::with_capacity(self.key.len());
        for i in 0..self.key.len() {
            key.push(row.try_get::<i64, _>(i)?);
        }
        let blob: Vec<u8> = row.try_get(self.key.len())?;
        Ok(SealedRow { key, blob })
    }
}

/// The distinct blob headers (version + key id) present in a column.
pub async fn headers_in_use<'e, E>(db: E, column: &SealedColumn) -> Result<Vec<Vec<u8>>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "SELECT DISTINCT substr({col}, 1, 5) AS header FROM {table} WHERE {col} IS NOT NULL",
        col = column.column,
        table = column.table,
    );
    let rows = sqlx::query(&sql).fetch_all(db).await?;
    rows.iter()
        .map(|r| r.try_get::<Vec<u8>, _>(0).map_err(Into::into))
        .collect()
}

/// One row whose blob starts with `header`, if any.
pub async fn first_with_header<'e, E>(
    db: E,
    column: &SealedColumn,
    header: &[u8],
) -> Result<Option<SealedRow>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "SELECT {keys}, {col} FROM {table} WHERE {col} IS NOT NULL AND substr({col}, 1, 5) = $1 ORDER BY {keys} LIMIT 1",
        keys = column.key_list(),
        col = column.column,
        table = column.table,
    );
    let row = sqlx::query(&sql)
        .bind(header.to_vec())
        .fetch_optional(db)
        .await?;
    row.map(|r| column.read_row(&r)).transpose()
}

/// A page of rows whose blob does not start with `header`, in key order,
/// after the row with key `after` (exclusive) if given.
pub async fn page_without_header<'e, E>(
    db: E,
    column: &SealedColumn,
    header: &[u8],
    after: Option<&[i64]>,
    limit: i64,
) -> Result<Vec<SealedRow>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let keys = column.key_list();
    let after_clause = match after {
        Some(_) => {
            let placeholders = (0..column.key.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            format!("AND ({keys}) > ({placeholders})")
        }
        None => String::new(),
    };
    let sql = format!(
        "SELECT {keys}, {col} FROM {table} \
         WHERE {col} IS NOT NULL AND substr({col}, 1, 5) <> $1 {after_clause} \
         ORDER BY {keys} LIMIT $2",
        col = column.column,
        table = column.table,
    );
    let mut query = sqlx::query(&sql).bind(header.to_vec()).bind(limit);
    if let Some(after) = after {
        for value in after {
            query = query.bind(*value);
        }
    }
    let rows = query.fetch_all(db).await?;
    rows.iter().map(|r| column.read_row(r)).collect()
}

/// How many rows hold a blob that does not start with `header`.
pub async fn count_without_header<'e, E>(db: E, column: &SealedColumn, header: &[u8]) -> Result<i64>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "SELECT COUNT(*) FROM {table} WHERE {col} IS NOT NULL AND substr({col}, 1, 5) <> $1",
        col = column.column,
        table = column.table,
    );
    let row = sqlx::query(&sql)
        .bind(header.to_vec())
        .fetch_one(db)
        .await?;
    Ok(row.try_get::<i64, _>(0)?)
}

/// Replaces a row's blob with `new` only if it still holds `old`; returns
/// whether it did. This is what makes rotation safe while the service runs:
/// a row the service rewrote in the meantime is left alone.
pub async fn compare_and_swap<'e, E>(
    db: E,
    column: &SealedColumn,
    key: &[i64],
    old: &[u8],
    new: &[u8],
) -> Result<bool>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "UPDATE {table} SET {col} = $1 WHERE {key_match} AND {col} = ${old}",
        table = column.table,
        col = column.column,
        key_match = column.key_match(2),
        old = column.key.len() + 2,
    );
    let mut query = sqlx::query(&sql).bind(new.to_vec());
    for value in key {
        query = query.bind(*value);
    }
    let done = query.bind(old.to_vec()).execute(db).await?;
    Ok(done.rows_affected() == 1)
}
