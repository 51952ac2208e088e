//! The admin role as extractors: [`AdminStaff`] for pages, [`AdminClient`]
//! for the JSON API. Each logs why it refused a request.
//!
//! - **Pages**: a staff web session (see [`Staff`]) whose Telegram user id
//!   holds the admin role (the `admins` table, checked on every request, so
//!   a revoke applies at once). Not logged in: the usual redirect to the
//!   login page. Logged in without the role: 403 with a plain page.
//! - **API**: a bearer token with the **admin role** only, made with
//!   `tgdesk admin token create`. A staff token is refused even when its
//!   account belongs to an admin: staff tokens are handed to programs
//!   (a CRM sync, a bot) and should not carry every account's reset button
//!   by accident. No token or a bad one: 401; a staff token: 403.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::session::{Staff, StaffRejection};
use super::tokens::{ApiClient, ApiRejection, Refusal};
use crate::app::AppState;
use crate::store::accounts::{self, AccountState};
use crate::store::admins;
use crate::store::tokens as token_store;
use crate::web::error::{Error, PageError};

/// A logged-in staff member who holds the admin role.
#[derive(Debug, Clone)]
pub struct AdminStaff(pub Staff);

impl AdminStaff {
    /// How this admin is named in the audit log.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.0.account.telegram_user_id)
    }
}

/// Why a page request is not from an admin.
#[derive(Debug)]
pub enum AdminPageRejection {
    /// Not logged in (or the session ended): the staff redirect.
    Staff(StaffRejection),
    /// Logged in, without the admin role.
    Forbidden,
    Internal(Error),
}

impl IntoResponse for AdminPageRejection {
    fn into_response(self) -> Response {
        match self {
            AdminPageRejection::Staff(r) => r.into_response(),
            AdminPageRejection::Forbidden => PageError(forbidden()).into_response(),
            AdminPageRejection::Internal(e) => PageError(e).into_response(),
        }
    }
}

fn forbidden() -> Error {
    Error::forbidden(
        "This is for tgdesk administrators only. An administrator can grant the role with \
         `tgdesk admin grant --telegram-id <your Telegram id>`.",
    )
    .with_code("not_admin")
}

impl FromRequestParts<AppState> for AdminStaff {
    type Rejection = AdminPageRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let staff = Staff::from_request_parts(parts, state)
            .await
            .map_err(AdminPageRejection::Staff)?;
        let is_admin = admins::is_admin(state.db.pool(), staff.account.telegram_user_id)
            .await
            .map_err(|e| AdminPageRejection::Internal(Error::internal(e)))?;
        if !is_admin {
            tracing::info!(
                path = parts.uri.path(),
                account_id = staff.account.id,
                reason = "the account's Telegram user does not hold the admin role",
                "admin request rejected"
            );
            return Err(AdminPageRejection::Forbidden);
        }
        Ok(AdminStaff(staff))
    }
}

/// A program calling with an admin-role API token.
#[derive(Debug, Clone)]
pub struct AdminClient(pub ApiClient);

impl AdminClient {
    /// How this token is named in the audit log.
    pub fn actor(&self) -> String {
        format!("admin-token:{}", self.0.token.id)
    }
}

/// Why an API request is not from an admin token: the token's own
/// rejection (401), or 403 for a token without the admin role.
#[derive(Debug)]
pub enum AdminApiRejection {
    Token(ApiRejection),
    Forbidden,
}

impl IntoResponse for AdminApiRejection {
    fn into_response(self) -> Response {
        match self {
            AdminApiRejection::Token(r) => r.into_response(),
            AdminApiRejection::Forbidden => Error::forbidden(
                "This needs an admin API token (made with `tgdesk admin token create`); \
                 staff tokens cannot use the admin API.",
            )
            .with_code("not_admin")
            .into_response(),
        }
    }
}

impl FromRequestParts<AppState> for AdminClient {
    type Rejection = AdminApiRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = ApiClient::from_request_parts(parts, state)
            .await
            .map_err(AdminApiRejection::Token)?;
        if !client.is_admin() {
            tracing::info!(
                path = parts.uri.path(),
                token_id = client.token.id,
                reason = "the token does not have the admin role",
                "admin API request rejected"
            );
            return Err(AdminApiRejection::Forbidden);
        }
        Ok(AdminClient(client))
    }
}

/// Whether a staff member holds the admin role (for showing the link to
/// `/admin`); a database error counts as no.
pub async fn is_admin(state: &AppState, staff: &Staff) -> bool {
    admins::is_admin(state.db.pool(), staff.account.telegram_user_id)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot check the admin role");
            false
        })
}

/// The answer to an API token the [`ApiClient`] extractor refused. A token
/// revoked by an administrator's reset says so (403 `account_reset`: log in
/// again), so whoever runs the program knows what happened; every other
/// refusal is the usual 401, which tells nothing about the token.
pub async fn refused_token(state: &AppState, presented: &str, refusal: Refusal) -> Error {
    let invalid =
        || Error::unauthorized("This API token is not valid (mistyped, revoked or unknown).");
    if refusal != Refusal::Revoked {
        return invalid();
    }
    // `Revoked` is only found after the whole token matched its hash.
    let Some(prefix) = super::tokens::prefix_of(presented) else {
        return invalid();
    };
    let token = match token_store::get_by_prefix(state.db.pool(), prefix).await {
        Ok(Some(token)) => token,
        Ok(None) => return invalid(),
        Err(e) => return Error::internal(e),
    };
    let Some(account_id) = token.account_id else {
        return invalid();
    };
    let (account, reset_by) = match tokio::try_join!(
        accounts::get(state.db.pool(), account_id),
        accounts::reset_by(state.db.pool(), account_id),
    ) {
        Ok(found) => found,
        Err(e) => return Error::internal(e),
    };
    let by_reset = account.is_some_and(|a| {
        a.state == AccountState::Reset
            && reset_by.is_some()
            && token
                .revoked_at
                .zip(a.state_changed_at)
                .is_some_and(|(revoked, reset)| revoked >= reset)
    });
    if by_reset {
        super::tokens::account_ended(AccountState::Reset)
    } else {
        invalid()
    }
}
