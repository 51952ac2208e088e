//! Staff accounts: one row per Telegram user who logged in through tgdesk.

use std::fmt;
use std::str::FromStr;

use sqlx::{Executor, FromRow};

use super::{Result, StoreError};

/// Where an account stands. Only `active` accounts have a live client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// Logged in; its session is (or will be) connected.
    Active,
    /// Telegram revoked the session (terminated from another device).
    Revoked,
    /// Telegram deactivated or banned the user.
    Deactivated,
    /// An administrator reset the session.
    Reset,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Revoked => "revoked",
            AccountState::Deactivated => "deactivated",
            AccountState::Reset => "reset",
        }
    }
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "active" => AccountState::Active,
            "revoked" => AccountState::Revoked,
            "deactivated" => AccountState::Deactivated,
            "reset" => AccountState::Reset,
            other => {
                return Err(StoreError::BadValue {
                    column: "accounts.state",
                    value: other.to_owned(),
                });
            }
        })
    }
}

impl TryFrom<String> for AccountState {
    type Error = StoreError;

    fn try_from(value: String) -> Result<Self> {
        value.parse()
    }
}

/// One staff account. `phone_sealed` is a vault blob (see `Aad::account_phone`).
#[derive(Clone, PartialEq, Eq, FromRow)]
pub struct Account {
    pub id: i64,
    pub telegram_user_id: i64,
    pub display_name: String,
    pub username: Option<String>,
    pub phone_masked: Option<String>,
    pub phone_sealed: Option<Vec<u8>>,
    #[sqlx(try_from = "String")]
    pub state: AccountState,
    pub home_dc: Option<i32>,
    pub created_at: i64,
    pub logged_in_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub state_changed_at: Option<i64>,
    pub remote_logout_pending_since: Option<i64>,
    pub last_event_cursor: i64,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("telegram_user_id", &self.telegram_user_id)
            .field("username", &self.username)
            .field("phone_masked", &self.phone_masked)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, telegram_user_id, display_name, username, phone_masked, phone_sealed, \
    state, home_dc, created_at, logged_in_at, last_seen_at, state_changed_at, \
    remote_logout_pending_since, last_event_cursor";

/// What a completed login knows about the user.
#[derive(Clone, Debug)]
pub struct LoginProfile<'a> {
    pub telegram_user_id: i64,
    pub display_name: &'a str,
    pub username: Option<&'a str>,
    pub phone_masked: Option<&'a str>,
    pub home_dc: Option<i32>,
}

/// Creates the account of a Telegram user who just logged in, or re-attaches
/// the existing one (same Telegram user id): profile refreshed, state back to
/// `active`, `logged_in_at` set, a pending remote logout forgotten. The sealed
/// phone is written separately ([`set_phone_sealed`]) because its associated
/// data needs the account id.
pub async fn upsert_login<'e, E>(db: E, profile: &LoginProfile<'_>, now: i64) -> Result<Account>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "INSERT INTO accounts (telegram_user_id, display_name, username, phone_masked, state, \
            home_dc, created_at, logged_in_at, last_seen_at, state_changed_at) \
         VALUES ($1, $2, $3, $4, 'active', $5, $6, $6, $6, $6) \
         ON CONFLICT (telegram_user_id) DO UPDATE SET \
            display_name = excluded.display_name, \
            username = excluded.username, \
            phone_masked = COALESCE(excluded.phone_masked, accounts.phone_masked), \
            state = 'active', \
            home_dc = excluded.home_dc, \
            logged_in_at = excluded.logged_in_at, \
            last_seen_at = excluded.last_seen_at, \
            state_changed_at = CASE WHEN accounts.state = 'active' \
                THEN accounts.state_changed_at ELSE excluded.state_changed_at END, \
            remote_logout_pending_since = NULL, \
            reset_by = NULL \
         RETURNING {COLUMNS}"
    );
    let account = sqlx::query_as::<_, Account>(&sql)
        .bind(profile.telegram_user_id)
        .bind(profile.display_name)
        .bind(profile.username)
        .bind(profile.phone_masked)
        .bind(profile.home_dc)
        .bind(now)
        .fetch_one(db)
        .await?;
    Ok(account)
}

/// Stores the sealed full phone number of an account (`None` forgets it).
pub async fn set_phone_sealed<'e, E>(db: E, id: i64, sealed: Option<&[u8]>) -> Result<bool>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query("UPDATE accounts SET phone_sealed = $1 WHERE id = $2")
        .bind(sealed.map(<[u8]>::to_vec))
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// An account by its id.
pub async fn get<'e, E>(db: E, id: i64) -> Result<Option<Account>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
    Ok(sqlx::query_as::<_, Account>(&sql)
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// An account by its Telegram user id.
pub async fn get_by_telegram_id<'e, E>(db: E, telegram_user_id: i64) -> Result<Option<Account>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE telegram_user_id = $1");
    Ok(sqlx::query_as::<_, Account>(&sql)
        .bind(telegram_user_id)
        .fetch_optional(db)
        .await?)
}

/// Every account, oldest first.
pub async fn list<'e, E>(db: E) -> Result<Vec<Account>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = format!("SELECT {COLUMNS} FROM accounts ORDER BY id");
    Ok(sqlx::query_as::<_, Account>(&sql).fetch_all(db).await?)
}

/// Ids of the accounts that should have a live client: `active` and with a
/// stored session.
pub async fn active_with_session<'e, E>(db: E) -> Result<Vec<i64>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let ids: Vec<(i64,)> = sqlx::query_as(
        "SELECT a.id FROM accounts a JOIN account_auth s ON s.account_id = a.id \
         WHERE a.state = 'active' ORDER BY a.id",
    )
    .fetch_all(db)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Moves an account to `state`. Returns false if there is no such account.
pub async fn set_state<'e, E>(db: E, id: i64, state: AccountState, now: i64) -> Result<bool>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "UPDATE accounts SET state = $1, \
            state_changed_at = CASE WHEN state = $1 THEN state_changed_at ELSE $2 END \
         WHERE id = $3",
    )
    .bind(state.as_str())
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves an account to `reset`: by an administrator (`reset_by` names who)
/// or by the staff member's own logout (`None`). Returns false if there is
/// no such account.
pub async fn mark_reset<'e, E>(db: E, id: i64, reset_by: Option<&str>, now: i64) -> Result<bool>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "UPDATE accounts SET state = 'reset', reset_by = $1, \
            state_changed_at = CASE WHEN state = 'reset' THEN state_changed_at ELSE $2 END \
         WHERE id = $3",
    )
    .bind(reset_by)
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Who reset the account (`admin:<telegram id>`, `admin-token:<id>`, `cli`),
/// if an administrator did; `None` after the staff member's own logout or a
/// new login. (Not a field of [`Account`]: few callers need it.)
pub async fn reset_by<'e, E>(db: E, id: i64) -> Result<Option<String>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT reset_by FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(by,)| by))
}

/// Every account an administrator reset, with who did it.
pub async fn reset_by_all<'e, E>(db: E) -> Result<Vec<(i64, String)>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    Ok(
        sqlx::query_as("SELECT id, reset_by FROM accounts WHERE reset_by IS NOT NULL")
            .fetch_all(db)
            .await?,
    )
}

/// Deletes what an account's stored session holds besides its sealed auth
/// material (update state, channel state, peer cache). A reset that could
/// not reach Telegram keeps only the auth key, to retry auth.logOut with it.
pub async fn forget_session_cache(conn: &mut sqlx::AnyConnection, account_id: i64) -> Result<()> {
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
    Ok(())
}

/// Records that the account was seen (a request or an update) at `now`.
pub async fn touch_last_seen<'e, E>(db: E, id: i64, now: i64) -> Result<()>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("UPDATE accounts SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Marks (`Some(since)`) or clears (`None`) a Telegram logout that still has
/// to be done because Telegram could not be reached during a reset.
pub async fn set_remote_logout_pending<'e, E>(db: E, id: i64, since: Option<i64>) -> Result<()>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("UPDATE accounts SET remote_logout_pending_since = $1 WHERE id = $2")
        .bind(since)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Marks a Telegram logout as pending since `now`, keeping an earlier mark.
pub async fn mark_remote_logout_pending<'e, E>(db: E, id: i64, now: i64) -> Result<()>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE accounts SET remote_logout_pending_since = \
            COALESCE(remote_logout_pending_since, $1) WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Accounts whose Telegram logout is still pending, oldest first.
pub async fn remote_logout_pending<'e, E>(db: E) -> Result<Vec<Account>>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts WHERE remote_logout_pending_since IS NOT NULL \
         ORDER BY remote_logout_pending_since"
    );
    Ok(sqlx::query_as::<_, Account>(&sql).fetch_all(db).await?)
}

/// Refreshes the name and username shown for an account.
pub async fn update_profile<'e, E>(
    db: E,
    id: i64,
    display_name: &str,
    username: Option<&str>,
) -> Result<()>
where
    E: Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("UPDATE accounts SET display_name = $1, username = $2 WHERE id = $3")
        .bind(display_name)
        .bind(username)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
