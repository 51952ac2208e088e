//! Every staff account at a glance, as the admin page and the admin API show
//! it: the stored account, its live connection in this process, and how many
//! API tokens and web sessions still let someone act for it.

use std::collections::{HashMap, HashSet};

use crate::app::AppState;
use crate::store::accounts::{self, Account};
use crate::store::{StoreError, admins, tokens, web_sessions};
use crate::telegram::pool::Liveness;

/// One account with what the admin needs to judge it.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub account: Account,
    /// `connected`, `connecting`, `reconnecting`, `ended` or `offline`.
    pub connection: &'static str,
    /// API tokens that still work.
    pub api_tokens: i64,
    /// Web sessions that still work.
    pub web_sessions: i64,
    /// Its Telegram user holds the admin role.
    pub is_admin: bool,
    /// Who reset it, if an administrator did.
    pub reset_by: Option<String>,
}

/// How a live client stands, as a word.
pub fn connection(liveness: Option<Liveness>) -> &'static str {
    match liveness {
        Some(Liveness::Connected) => "connected",
        Some(Liveness::Starting) => "connecting",
        Some(Liveness::Retrying) => "reconnecting",
        Some(Liveness::Ended(_)) => "ended",
        None => "offline",
    }
}

/// One account, read on its own (a reset or its confirmation page needs one
/// row, not the whole table); `None` if there is no such account.
pub async fn account(state: &AppState, id: i64) -> Result<Option<AccountRow>, StoreError> {
    let pool = state.db.pool();
    let Some(account) = accounts::get(pool, id).await? else {
        return Ok(None);
    };
    let now = crate::store::now();
    let web_sessions = web_sessions::list_for_account(pool, id, now).await?.len();
    let api_tokens = tokens::list_for_account(pool, id)
        .await?
        .iter()
        .filter(|t| t.revoked_at.is_none())
        .count();
    Ok(Some(AccountRow {
        connection: connection(state.pool.liveness(id)),
        api_tokens: api_tokens as i64,
        web_sessions: web_sessions as i64,
        is_admin: admins::is_admin(pool, account.telegram_user_id).await?,
        reset_by: accounts::reset_by(pool, id).await?,
        account,
    }))
}

/// Every account, oldest first.
pub async fn accounts(state: &AppState) -> Result<Vec<AccountRow>, StoreError> {
    let now = crate::store::now();
    let list = accounts::list(state.db.pool()).await?;
    let sessions: HashMap<i64, i64> = web_sessions::count_live_per_account(state.db.pool(), now)
        .await?
        .into_iter()
        .collect();
    let mut api_tokens: HashMap<i64, i64> = HashMap::new();
    for token in tokens::list_all(state.db.pool()).await? {
        if let (Some(id), None) = (token.account_id, token.revoked_at) {
            *api_tokens.entry(id).or_default() += 1;
        }
    }
    let mut reset_by: HashMap<i64, String> = accounts::reset_by_all(state.db.pool())
        .await?
        .into_iter()
        .collect();
    let admin_ids: HashSet<i64> = admins::list(state.db.pool())
        .await?
        .into_iter()
        .map(|a| a.telegram_user_id)
        .collect();
    Ok(list
        .into_iter()
        .map(|account| AccountRow {
            connection: connection(state.pool.liveness(account.id)),
            api_tokens: api_tokens.get(&account.id).copied().unwrap_or(0),
            web_sessions: sessions.get(&account.id).copied().unwrap_or(0),
            is_admin: admin_ids.contains(&account.telegram_user_id),
            reset_by: reset_by.remove(&account.id),
            account,
        })
        .collect())
}
