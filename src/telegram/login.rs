//! The Telegram side of logging in by phone: raw TL calls rather than
//! grammers' helpers, which panic on unexpected answers, fold
//! PHONE_CODE_EXPIRED into "invalid", and run the SRP computation (~0.35 s of
//! CPU) on an async worker.

use std::sync::Arc;

use grammers_client::Client;
use grammers_crypto::two_factor_auth::{calculate_2fa, check_p_and_g};
use grammers_mtsender::InvocationError;
use grammers_session::Session;
use grammers_session::types::{PeerInfo, UpdateState, UpdatesState};
use grammers_tl_types as tl;

use super::calls;

/// Where Telegram sent the login code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// In a Telegram app where the account is logged in.
    App,
    Sms,
    Call,
    FlashCall,
    Other,
}

impl CodeKind {
    /// Stable snake_case name for the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::App => "app",
            CodeKind::Sms => "sms",
            CodeKind::Call => "call",
            CodeKind::FlashCall => "flash_call",
            CodeKind::Other => "other",
        }
    }
}

/// The answer to auth.sendCode / auth.resendCode.
#[derive(Debug, Clone)]
pub struct SentCode {
    pub phone_code_hash: String,
    pub kind: CodeKind,
    /// Seconds before auth.resendCode may be used, if Telegram said.
    pub timeout: Option<i32>,
}

/// Errors of the login calls: Telegram's own, or an answer we cannot use.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Telegram(#[from] InvocationError),
    #[error("Telegram answered something a user-account login cannot use: {0}")]
    Unexpected(&'static str),
    #[error("the session store failed: {0}")]
    Session(String),
}

/// After a code: logged in, or the account needs its cloud password.
#[derive(Debug)]
pub enum SignIn {
    Done(Box<tl::types::User>),
    PasswordNeeded(PasswordChallenge),
}

/// What account.getPassword said; needed to answer with the password.
#[derive(Debug, Clone)]
pub struct PasswordChallenge {
    pub hint: Option<String>,
    password: Box<tl::types::account::Password>,
}

fn code_kind(t: &tl::enums::auth::SentCodeType) -> CodeKind {
    use tl::enums::auth::SentCodeType as T;
    match t {
        T::App(_) => CodeKind::App,
        T::Sms(_) => CodeKind::Sms,
        T::Call(_) => CodeKind::Call,
        T::FlashCall(_) => CodeKind::FlashCall,
        _ => CodeKind::Other,
    }
}

fn sent_code(answer: tl::enums::auth::SentCode) -> Result<SentCode, LoginError> {
    match answer {
        tl::enums::auth::SentCode::Code(c) => Ok(SentCode {
            kind: code_kind(&c.r#type),
            phone_code_hash: c.phone_code_hash,
            timeout: c.timeout,
        }),
        _ => Err(LoginError::Unexpected("auth.sendCode did not send a code")),
    }
}

/// Sends a login code. A phone homed on another data centre
/// (PHONE_MIGRATE_X) moves the session's home there and asks again.
pub async fn send_code<S>(
    client: &Client,
    session: &Arc<S>,
    phone: &str,
    api_id: i32,
    api_hash: &str,
) -> Result<SentCode, LoginError>
where
    S: Session,
    S::Error: std::fmt::Display,
{
    let request = tl::functions::auth::SendCode {
        phone_number: phone.to_string(),
        api_id,
        api_hash: api_hash.to_string(),
        settings: tl::enums::CodeSettings::Settings(tl::types::CodeSettings {
            allow_flashcall: false,
            current_number: false,
            allow_app_hash: false,
            allow_missed_call: false,
            allow_firebase: false,
            unknown_number: false,
            logout_tokens: None,
            token: None,
            app_sandbox: None,
        }),
    };
    match calls::invoke(client, &request).await {
        Ok(answer) => sent_code(answer),
        Err(InvocationError::Rpc(e)) if e.code == 303 && e.name.ends_with("_MIGRATE") => {
            let Some(dc) = e.value.and_then(|v| i32::try_from(v).ok()) else {
                return Err(LoginError::Unexpected("a migration without a data centre"));
            };
            session
                .set_home_dc_id(dc)
                .await
                .map_err(|e| LoginError::Session(e.to_string()))?;
            sent_code(calls::invoke(client, &request).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Asks Telegram to send the code again (perhaps another way).
pub async fn resend_code(
    client: &Client,
    phone: &str,
    phone_code_hash: &str,
) -> Result<SentCode, LoginError> {
    sent_code(
        calls::invoke(
            client,
            &tl::functions::auth::ResendCode {
                phone_number: phone.to_string(),
                phone_code_hash: phone_code_hash.to_string(),
                reason: None,
            },
        )
        .await?,
    )
}

/// Signs in with the code. SESSION_PASSWORD_NEEDED becomes
/// [`SignIn::PasswordNeeded`]; every other Telegram error is returned as is.
pub async fn sign_in<S>(
    client: &Client,
    session: &Arc<S>,
    phone: &str,
    phone_code_hash: &str,
    code: &str,
) -> Result<SignIn, LoginError>
where
    S: Session,
    S::Error: std::fmt::Display,
{
    let answer = calls::invoke(
        client,
        &tl::functions::auth::SignIn {
            phone_number: phone.to_string(),
            phone_code_hash: phone_code_hash.to_string(),
            phone_code: Some(code.to_string()),
            email_verification: None,
        },
    )
    .await;
    match answer {
        Ok(auth) => Ok(SignIn::Done(Box::new(
            complete_login(client, session, auth).await?,
        ))),
        Err(InvocationError::Rpc(e)) if e.name == "SESSION_PASSWORD_NEEDED" => {
            Ok(SignIn::PasswordNeeded(password_challenge(client).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// Fetches the 2FA parameters (account.getPassword).
pub async fn password_challenge(client: &Client) -> Result<PasswordChallenge, LoginError> {
    let tl::enums::account::Password::Password(password) =
        calls::invoke(client, &tl::functions::account::GetPassword {}).await?;
    Ok(PasswordChallenge {
        hint: password.hint.clone().filter(|h| !h.is_empty()),
        password: Box::new(password),
    })
}

/// Answers the 2FA challenge. The SRP computation runs on the blocking pool,
/// never on an async worker. Errors such as PASSWORD_HASH_INVALID or
/// SRP_ID_INVALID come back as Telegram errors for the caller to map.
pub async fn check_password<S>(
    client: &Client,
    session: &Arc<S>,
    challenge: &PasswordChallenge,
    password: String,
) -> Result<tl::types::User, LoginError>
where
    S: Session,
    S::Error: std::fmt::Display,
{
    let p = &challenge.password;
    let Some(tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(algo)) =
        p.current_algo.clone()
    else {
        return Err(LoginError::Unexpected(
            "the account's password uses an algorithm this version does not know",
        ));
    };
    let (Some(srp_b), Some(srp_id)) = (p.srp_b.clone(), p.srp_id) else {
        return Err(LoginError::Unexpected(
            "account.getPassword sent no SRP parameters",
        ));
    };
    let random = p.secure_random.clone();
    let computed = tokio::task::spawn_blocking(move || {
        if !check_p_and_g(&algo.p, &algo.g) {
            return None;
        }
        Some(calculate_2fa(
            &algo.salt1,
            &algo.salt2,
            &algo.p,
            &algo.g,
            srp_b,
            random,
            password,
        ))
    })
    .await
    .map_err(|_| LoginError::Unexpected("the password computation was cancelled"))?;
    let Some((m1, g_a)) = computed else {
        return Err(LoginError::Unexpected(
            "Telegram sent unsafe SRP parameters",
        ));
    };
    let auth = calls::invoke(
        client,
        &tl::functions::auth::CheckPassword {
            password: tl::enums::InputCheckPasswordSrp::Srp(tl::types::InputCheckPasswordSrp {
                srp_id,
                a: g_a.to_vec(),
                m1: m1.to_vec(),
            }),
        },
    )
    .await?;
    complete_login(client, session, auth).await
}

/// What grammers does after a sign-in, done here because the QR and 2FA paths
/// are raw calls: remember the self user (so the updates loop starts) and
/// the current update state (so nothing before the login is replayed).
pub async fn complete_login<S>(
    client: &Client,
    session: &Arc<S>,
    auth: tl::enums::auth::Authorization,
) -> Result<tl::types::User, LoginError>
where
    S: Session,
    S::Error: std::fmt::Display,
{
    let tl::enums::auth::Authorization::Authorization(auth) = auth else {
        return Err(LoginError::Unexpected(
            "Telegram asks to sign up: this phone has no account",
        ));
    };
    let tl::enums::User::User(user) = auth.user else {
        return Err(LoginError::Unexpected("Telegram returned an empty user"));
    };
    let state = calls::invoke(client, &tl::functions::updates::GetState {}).await?;
    let session_err = |e: S::Error| LoginError::Session(e.to_string());
    let mut info = PeerInfo::from(user.clone());
    if let PeerInfo::User { is_self, .. } = &mut info {
        *is_self = Some(true);
    }
    session.cache_peer(info).await.map_err(session_err)?;
    let tl::enums::updates::State::State(state) = state;
    session
        .set_update_state(UpdateState::All(UpdatesState {
            pts: state.pts,
            qts: state.qts,
            date: state.date,
            seq: state.seq,
            channels: Vec::new(),
        }))
        .await
        .map_err(session_err)?;
    Ok(user)
}
