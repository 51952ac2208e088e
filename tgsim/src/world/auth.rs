//! Logging in: login codes (the simulated SMS inbox), sign-in, the 2FA cloud
//! password, authorisation export/import between DCs, log-out and revocation.
//! Which auth key is bound to which user lives here.

use std::collections::{BTreeSet, HashMap, VecDeque};

use grammers_tl_types as tl;
use rand::{Rng, RngCore};
use serde::Serialize;

use super::model::{SrpSession, State};
use super::qr::QrState;
use super::srp;
use super::tl_build;
use crate::rpc::{Call, Reply, RpcErr};

/// How long a login code stays valid (Telegram: a few minutes).
pub(crate) const CODE_TTL: i32 = 300;
/// How long an exported authorisation may be imported.
const EXPORT_TTL: i32 = 300;
/// How many sent codes the inbox remembers.
const INBOX_CAP: usize = 1_000;

/// A login code "sent" to a phone, as the demo inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentCode {
    /// E.164, with the leading `+`.
    pub phone: String,
    pub code: String,
    /// Unix seconds.
    pub sent_at: i64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding {
    pub user: i64,
    pub dc: i32,
}

#[derive(Debug)]
pub(crate) struct PendingCode {
    pub code: String,
    pub hash: String,
    pub expires: i32,
}

#[derive(Debug)]
struct Exported {
    user: i64,
    dc: i32,
    expires: i32,
}

#[derive(Debug, Default)]
pub(crate) struct AuthState {
    bindings: HashMap<i64, Binding>,
    user_keys: HashMap<i64, BTreeSet<i64>>,
    pub codes: HashMap<String, PendingCode>,
    pub inbox: VecDeque<SentCode>,
    /// Keys that passed the code (or QR) step of an account with a password.
    pub pending_2fa: HashMap<i64, i64>,
    exported: HashMap<Vec<u8>, Exported>,
    pub qr: QrState,
}

impl AuthState {
    pub(crate) fn user_of(&self, key: i64) -> Option<i64> {
        self.bindings.get(&key).map(|b| b.user)
    }

    /// The keys that receive `user`'s updates: those bound on its home DC.
    pub(crate) fn push_keys(&self, user: i64, home_dc: i32) -> Vec<i64> {
        self.user_keys.get(&user).map_or_else(Vec::new, |keys| {
            keys.iter()
                .copied()
                .filter(|k| self.bindings.get(k).is_some_and(|b| b.dc == home_dc))
                .collect()
        })
    }

    pub(crate) fn key_count(&self, user: i64) -> usize {
        self.user_keys.get(&user).map_or(0, BTreeSet::len)
    }

    pub(crate) fn bind(&mut self, key: i64, user: i64, dc: i32) {
        self.unbind(key);
        self.pending_2fa.remove(&key);
        self.bindings.insert(key, Binding { user, dc });
        self.user_keys.entry(user).or_default().insert(key);
    }

    pub(crate) fn unbind(&mut self, key: i64) -> Option<i64> {
        let binding = self.bindings.remove(&key)?;
        if let Some(keys) = self.user_keys.get_mut(&binding.user) {
            keys.remove(&key);
            if keys.is_empty() {
                self.user_keys.remove(&binding.user);
            }
        }
        Some(binding.user)
    }

    /// Drops every authorisation of `user`; returns the keys it had.
    pub(crate) fn unbind_user(&mut self, user: i64) -> Vec<i64> {
        let keys: Vec<i64> = self
            .user_keys
            .remove(&user)
            .map(|k| k.into_iter().collect())
            .unwrap_or_default();
        for key in &keys {
            self.bindings.remove(key);
        }
        self.pending_2fa.retain(|_, u| *u != user);
        keys
    }
}

pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    rand::rng().fill_bytes(&mut out);
    out
}

/// The logged-in user behind the call's key, or 401 AUTH_KEY_UNREGISTERED.
pub(crate) fn me(st: &State, call: &Call<'_>) -> Result<i64, RpcErr> {
    st.auth
        .user_of(call.auth_key_id)
        .ok_or_else(RpcErr::unauthorized)
}

/// `auth.authorization` for a fresh login of `user`.
pub(crate) fn authorization(
    st: &State,
    user: i64,
) -> Result<tl::enums::auth::Authorization, RpcErr> {
    let u = st.users.get(&user).ok_or_else(RpcErr::unauthorized)?;
    Ok(tl::types::auth::Authorization {
        setup_password_required: false,
        otherwise_relogin_days: None,
        tmp_sessions: None,
        future_auth_token: None,
        user: tl_build::user(st, user, u),
    }
    .into())
}

/// Binds the key, or asks for the cloud password first. Every login path ends here.
pub(crate) fn complete_login(
    st: &mut State,
    call: &Call<'_>,
    user: i64,
) -> Result<tl::enums::auth::Authorization, RpcErr> {
    let has_password = st
        .users
        .get(&user)
        .and_then(|u| u.account.as_ref())
        .is_some_and(|a| a.password.is_some());
    if has_password {
        st.auth.bind_pending_2fa(call.auth_key_id, user);
        return Err(RpcErr::new(401, "SESSION_PASSWORD_NEEDED"));
    }
    st.auth.bind(call.auth_key_id, user, call.dc_id);
    authorization(st, user)
}

impl AuthState {
    fn bind_pending_2fa(&mut self, key: i64, user: i64) {
        self.unbind(key);
        self.pending_2fa.insert(key, user);
    }
}

/// Resolves a phone to its account, checking the DC like Telegram does.
fn account_for_phone(st: &State, call: &Call<'_>, phone: &str) -> Result<(String, i64), RpcErr> {
    let phone = super::model::normalize_phone(phone)
        .ok_or_else(|| RpcErr::bad_request("PHONE_NUMBER_INVALID"))?;
    let user = *st
        .phones
        .get(&phone)
        .ok_or_else(|| RpcErr::bad_request("PHONE_NUMBER_UNOCCUPIED"))?;
    let home = st.home_dc(user);
    if home != call.dc_id {
        return Err(RpcErr::new(303, format!("PHONE_MIGRATE_{home}")));
    }
    Ok((phone, user))
}

fn new_code(st: &mut State, phone: &str) -> String {
    let code = format!("{:05}", rand::rng().random_range(0..100_000u32));
    let sent_at = i64::from(st.now());
    st.auth.inbox.push_front(SentCode {
        phone: format!("+{phone}"),
        code: code.clone(),
        sent_at,
    });
    st.auth.inbox.truncate(INBOX_CAP);
    code
}

fn sent_code(hash: String, app: bool) -> Reply {
    let r#type = if app {
        tl::types::auth::SentCodeTypeApp { length: 5 }.into()
    } else {
        tl::types::auth::SentCodeTypeSms { length: 5 }.into()
    };
    let sent: tl::enums::auth::SentCode = tl::types::auth::SentCode {
        r#type,
        phone_code_hash: hash,
        next_type: None,
        timeout: None,
    }
    .into();
    Ok(tl_build::serialize(&sent))
}

pub(crate) fn send_code(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::auth::SendCode,
) -> Reply {
    let (phone, user) = account_for_phone(st, call, &req.phone_number)?;
    let code = new_code(st, &phone);
    let hash = hex::encode(random_bytes(9));
    let expires = st.now().saturating_add(CODE_TTL);
    st.auth.codes.insert(
        phone,
        PendingCode {
            code,
            hash: hash.clone(),
            expires,
        },
    );
    sent_code(hash, st.auth.key_count(user) > 0)
}

pub(crate) fn resend_code(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::auth::ResendCode,
) -> Reply {
    let (phone, _) = account_for_phone(st, call, &req.phone_number)?;
    if req.phone_code_hash.is_empty() {
        return Err(RpcErr::bad_request("PHONE_CODE_HASH_EMPTY"));
    }
    let now = st.now();
    match st.auth.codes.get(&phone) {
        None => return Err(RpcErr::bad_request("PHONE_CODE_EXPIRED")),
        Some(p) if p.hash != req.phone_code_hash => {
            return Err(RpcErr::bad_request("PHONE_CODE_HASH_INVALID"));
        }
        Some(p) if p.expires <= now => return Err(RpcErr::bad_request("PHONE_CODE_EXPIRED")),
        Some(_) => {}
    }
    let code = new_code(st, &phone);
    if let Some(p) = st.auth.codes.get_mut(&phone) {
        p.code = code;
        p.expires = now.saturating_add(CODE_TTL);
    }
    sent_code(req.phone_code_hash, false)
}

pub(crate) fn sign_in(st: &mut State, call: &Call<'_>, req: tl::functions::auth::SignIn) -> Reply {
    let (phone, user) = account_for_phone(st, call, &req.phone_number)?;
    if req.phone_code_hash.is_empty() {
        return Err(RpcErr::bad_request("PHONE_CODE_HASH_EMPTY"));
    }
    let code = req.phone_code.unwrap_or_default();
    if code.is_empty() {
        return Err(RpcErr::bad_request("PHONE_CODE_EMPTY"));
    }
    let now = st.now();
    let pending = st
        .auth
        .codes
        .get(&phone)
        .ok_or_else(|| RpcErr::bad_request("PHONE_CODE_EXPIRED"))?;
    if pending.hash != req.phone_code_hash {
        return Err(RpcErr::bad_request("PHONE_CODE_HASH_INVALID"));
    }
    if pending.expires <= now {
        st.auth.codes.remove(&phone);
        return Err(RpcErr::bad_request("PHONE_CODE_EXPIRED"));
    }
    if pending.code != code.trim() {
        return Err(RpcErr::bad_request("PHONE_CODE_INVALID"));
    }
    st.auth.codes.remove(&phone);
    let auth = complete_login(st, call, user)?;
    Ok(tl_build::serialize(&auth))
}

/// The user a password step is for: the bound user, or the one whose code
/// (or QR token) this key just used.
fn password_user(st: &State, call: &Call<'_>) -> Result<i64, RpcErr> {
    st.auth
        .user_of(call.auth_key_id)
        .or_else(|| st.auth.pending_2fa.get(&call.auth_key_id).copied())
        .ok_or_else(RpcErr::unauthorized)
}

fn kdf_algo(salt1: Vec<u8>, salt2: Vec<u8>) -> tl::enums::PasswordKdfAlgo {
    tl::types::PasswordKdfAlgoSha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow {
        salt1,
        salt2,
        g: srp::G,
        p: srp::p_bytes().to_vec(),
    }
    .into()
}

pub(crate) fn get_password(st: &mut State, call: &Call<'_>) -> Reply {
    let user = password_user(st, call)?;
    let account = st
        .users
        .get_mut(&user)
        .and_then(|u| u.account.as_mut())
        .ok_or_else(RpcErr::unauthorized)?;
    let new_secure_algo = tl::types::SecurePasswordKdfAlgoSha512 {
        salt: random_bytes(8),
    }
    .into();
    let password = match account.password.as_mut() {
        None => tl::types::account::Password {
            has_recovery: false,
            has_secure_values: false,
            has_password: false,
            current_algo: None,
            srp_b: None,
            srp_id: None,
            hint: None,
            email_unconfirmed_pattern: None,
            new_algo: kdf_algo(random_bytes(8), random_bytes(16)),
            new_secure_algo,
            secure_random: random_bytes(256),
            pending_reset_date: None,
            login_email_pattern: None,
        },
        Some(twofa) => {
            let (b, g_b) = srp::challenge(&twofa.verifier, &random_bytes(256));
            let srp_id = rand::rng().random::<i64>();
            twofa.srp = Some(SrpSession {
                srp_id,
                b,
                g_b: g_b.clone(),
            });
            let mut new_salt1 = twofa.salt1.clone();
            new_salt1.truncate(8);
            tl::types::account::Password {
                has_recovery: false,
                has_secure_values: false,
                has_password: true,
                current_algo: Some(kdf_algo(twofa.salt1.clone(), twofa.salt2.clone())),
                srp_b: Some(g_b),
                srp_id: Some(srp_id),
                hint: twofa.hint.clone(),
                email_unconfirmed_pattern: None,
                new_algo: kdf_algo(new_salt1, twofa.salt2.clone()),
                new_secure_algo,
                secure_random: random_bytes(256),
                pending_reset_date: None,
                login_email_pattern: None,
            }
        }
    };
    Ok(tl_build::serialize(&tl::enums::account::Password::from(
        password,
    )))
}

pub(crate) fn check_password(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::auth::CheckPassword,
) -> Reply {
    let user = *st
        .auth
        .pending_2fa
        .get(&call.auth_key_id)
        .ok_or_else(RpcErr::unauthorized)?;
    let tl::enums::InputCheckPasswordSrp::Srp(input) = req.password else {
        return Err(RpcErr::bad_request("PASSWORD_HASH_INVALID"));
    };
    let twofa = st
        .users
        .get_mut(&user)
        .and_then(|u| u.account.as_mut())
        .and_then(|a| a.password.as_mut())
        .ok_or_else(|| RpcErr::bad_request("PASSWORD_HASH_INVALID"))?;
    let session = match &twofa.srp {
        Some(s) if s.srp_id == input.srp_id => s,
        _ => return Err(RpcErr::bad_request("SRP_ID_INVALID")),
    };
    let ok = srp::check(
        &twofa.verifier,
        &session.b,
        &session.g_b,
        &twofa.salt1,
        &twofa.salt2,
        &input.a,
        &input.m1,
    );
    if !ok {
        // Like Telegram, the challenge stays valid so the user can retry.
        return Err(RpcErr::bad_request("PASSWORD_HASH_INVALID"));
    }
    twofa.srp = None;
    st.auth.bind(call.auth_key_id, user, call.dc_id);
    Ok(tl_build::serialize(&authorization(st, user)?))
}

pub(crate) fn export_authorization(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::auth::ExportAuthorization,
) -> Reply {
    let user = me(st, call)?;
    if !(1..=st.dc_count).contains(&req.dc_id) {
        return Err(RpcErr::bad_request("DC_ID_INVALID"));
    }
    let bytes = random_bytes(32);
    let expires = st.now().saturating_add(EXPORT_TTL);
    st.auth.exported.insert(
        bytes.clone(),
        Exported {
            user,
            dc: req.dc_id,
            expires,
        },
    );
    let exported: tl::enums::auth::ExportedAuthorization =
        tl::types::auth::ExportedAuthorization { id: user, bytes }.into();
    Ok(tl_build::serialize(&exported))
}

pub(crate) fn import_authorization(
    st: &mut State,
    call: &Call<'_>,
    req: tl::functions::auth::ImportAuthorization,
) -> Reply {
    let now = st.now();
    let valid = st.auth.exported.get(&req.bytes).is_some_and(|e| {
        e.user == req.id && e.dc == call.dc_id && e.expires > now && st.users.contains_key(&e.user)
    });
    if !valid {
        return Err(RpcErr::bad_request("AUTH_BYTES_INVALID"));
    }
    st.auth.exported.remove(&req.bytes);
    st.auth.bind(call.auth_key_id, req.id, call.dc_id);
    Ok(tl_build::serialize(&authorization(st, req.id)?))
}

pub(crate) fn log_out(st: &mut State, call: &Call<'_>) -> Reply {
    me(st, call)?;
    st.auth.unbind(call.auth_key_id);
    let out: tl::enums::auth::LoggedOut = tl::types::auth::LoggedOut {
        future_auth_token: None,
    }
    .into();
    Ok(tl_build::serialize(&out))
}

/// Drops every authorisation of `user` "from another device", and tells its
/// live connections to fetch the difference so they learn it at once.
pub(crate) fn revoke(st: &mut State, user: i64) -> Result<(), String> {
    if !st.users.contains_key(&user) {
        return Err(format!("no user {user}"));
    }
    let keys = st.auth.unbind_user(user);
    let too_long = tl_build::serialize(&tl::enums::Updates::TooLong);
    for key in keys {
        st.outbox.push((key, too_long.clone()));
    }
    Ok(())
}

/// Makes pending codes expire now (for one phone, or all).
pub(crate) fn expire_codes(st: &mut State, phone: Option<&str>) {
    match phone.and_then(super::model::normalize_phone) {
        Some(p) => {
            if let Some(code) = st.auth.codes.get_mut(&p) {
                code.expires = 0;
            }
        }
        None if phone.is_none() => {
            for code in st.auth.codes.values_mut() {
                code.expires = 0;
            }
        }
        None => {}
    }
}
