//! QR-code login: `auth.exportLoginToken` hands out short-lived tokens, a
//! logged-in device "scans" one ([`super::World::accept_qr`]), the exporting
//! connection is told with `updateLoginToken`, and the next export (or an
//! import) completes the login — on the account's home DC, through
//! `auth.loginTokenMigrateTo` + `auth.importLoginToken` when that is another DC.

use std::collections::HashMap;

use grammers_tl_types as tl;

use super::auth::{self, random_bytes};
use super::model::State;
use super::tl_build;
use crate::rpc::{Call, Reply, RpcErr};

/// Telegram's login tokens live about 30 seconds.
pub(crate) const TOKEN_TTL: i32 = 30;

#[derive(Debug)]
struct Pending {
    token: Vec<u8>,
    expires: i32,
    accepted_by: Option<i64>,
}

#[derive(Debug)]
struct Migrate {
    user: i64,
    dc: i32,
    expires: i32,
}

#[derive(Debug, Default)]
pub(crate) struct QrState {
    /// Exporting key → its current token.
    by_key: HashMap<i64, Pending>,
    /// Token → exporting key.
    by_token: HashMap<Vec<u8>, i64>,
    /// Tokens handed out with `loginTokenMigrateTo`.
    migrate: HashMap<Vec<u8>, Migrate>,
}

impl QrState {
    fn forget_key(&mut self, key: i64) {
        if let Some(p) = self.by_key.remove(&key) {
            self.by_token.remove(&p.token);
        }
    }
}

fn login_token(token: &tl::enums::auth::LoginToken) -> Reply {
    Ok(tl_build::serialize(token))
}

/// Finishes a login that a device accepted: migrate, ask for the password, or succeed.
fn finish(st: &mut State, call: &Call<'_>, user: i64) -> Reply {
    let home = st.home_dc(user);
    if home != call.dc_id {
        let token = random_bytes(32);
        let expires = st.now().saturating_add(TOKEN_TTL);
        st.auth.qr.migrate.insert(
            token.clone(),
            Migrate {
                user,
                dc: home,
                expires,
            },
        );
        return login_token(&tl::types::auth::LoginTokenMigrateTo { dc_id: home, token }.into());
    }
    let authorization = auth::complete_login(st, call, user)?;
    login_token(&tl::types::auth::LoginTokenSuccess { authorization }.into())
}

pub(crate) fn export_login_token(
    st: &mut State,
    call: &Call<'_>,
    _req: tl::functions::auth::ExportLoginToken,
) -> Reply {
    let key = call.auth_key_id;
    if let Some(user) = st.auth.qr.by_key.get(&key).and_then(|p| p.accepted_by) {
        st.auth.qr.forget_key(key);
        return finish(st, call, user);
    }
    st.auth.qr.forget_key(key);
    let token = random_bytes(32);
    let expires = st.now().saturating_add(TOKEN_TTL);
    st.auth.qr.by_token.insert(token.clone(), key);
    st.auth.qr.by_key.insert(
        key,
        Pending {
            token: token.clone(),
            expires,
            accepted_by: None,
        },
    );
    login_token(&tl::types::auth::LoginToken { expires, token }.into())
}

pub(crate) fn import_login_token(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::auth::ImportLoginToken,
) -> Reply {
    let now = st.now();
    if let Some(m) = st.auth.qr.migrate.get(&req.token) {
        if m.expires <= now {
            st.auth.qr.migrate.remove(&req.token);
            return Err(RpcErr::bad_request("AUTH_TOKEN_EXPIRED"));
        }
        if m.dc != call.dc_id {
            return login_token(
                &tl::types::auth::LoginTokenMigrateTo {
                    dc_id: m.dc,
                    token: req.token,
                }
                .into(),
            );
        }
        let user = m.user;
        st.auth.qr.migrate.remove(&req.token);
        return finish(st, call, user);
    }
    let Some(&key) = st.auth.qr.by_token.get(&req.token) else {
        return Err(RpcErr::bad_request("AUTH_TOKEN_INVALID"));
    };
    let Some(pending) = st.auth.qr.by_key.get(&key) else {
        return Err(RpcErr::bad_request("AUTH_TOKEN_INVALID"));
    };
    match pending.accepted_by {
        Some(user) => {
            st.auth.qr.forget_key(key);
            finish(st, call, user)
        }
        None if pending.expires <= now => Err(RpcErr::bad_request("AUTH_TOKEN_EXPIRED")),
        None => login_token(
            &tl::types::auth::LoginToken {
                expires: pending.expires,
                token: req.token,
            }
            .into(),
        ),
    }
}

/// A logged-in device scans the QR code showing `token`.
pub(crate) fn accept(st: &mut State, token: &[u8], user: i64) -> Result<(), String> {
    if !st.is_account(user) {
        return Err(format!("no account with user id {user}"));
    }
    let now = st.now();
    let key = *st
        .auth
        .qr
        .by_token
        .get(token)
        .ok_or("AUTH_TOKEN_INVALID: no such login token")?;
    let pending = st
        .auth
        .qr
        .by_key
        .get_mut(&key)
        .ok_or("AUTH_TOKEN_INVALID: no such login token")?;
    if pending.accepted_by.is_some() {
        return Err("AUTH_TOKEN_ALREADY_ACCEPTED: the token was already accepted".into());
    }
    if pending.expires <= now {
        return Err("AUTH_TOKEN_EXPIRED: the login token expired".into());
    }
    pending.accepted_by = Some(user);
    let update: tl::enums::Updates = tl::types::UpdateShort {
        update: tl::enums::Update::LoginToken,
        date: now,
    }
    .into();
    st.outbox.push((key, tl_build::serialize(&update)));
    Ok(())
}
