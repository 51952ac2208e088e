//! Phone login, its errors, the 2FA password, authorisation export/import,
//! log-out and revocation.

use grammers_crypto::two_factor_auth::{calculate_2fa, check_p_and_g};
use grammers_tl_types as tl;
use tgsim::world::{DEMO_PASSWORD, NewAccount, WorldSpec};

use crate::{Fx, assert_err, self_user, send_code, sign_in};

fn sent(r: tl::enums::auth::SentCode) -> tl::types::auth::SentCode {
    match r {
        tl::enums::auth::SentCode::Code(c) => c,
        other => panic!("expected auth.sentCode, got {other:?}"),
    }
}

#[test]
fn phone_login_binds_the_key_and_returns_the_self_user() {
    let fx = Fx::empty();
    let id = fx.account("+999 66 1 0001", "Alice");
    let key = fx.key();
    assert_err(
        fx.call(1, key, &tl::functions::updates::GetState {}),
        401,
        "AUTH_KEY_UNREGISTERED",
    );

    let code = sent(fx.call(1, key, &send_code("+9996610001")).unwrap());
    assert!(matches!(code.r#type, tl::enums::auth::SentCodeType::Sms(_)));
    let sms = fx.world.last_code("+9996610001").unwrap();
    assert_eq!(sms.len(), 5);
    assert_eq!(fx.world.codes()[0].phone, "+9996610001");

    let me = self_user(
        fx.call(1, key, &sign_in("+9996610001", &code.phone_code_hash, &sms))
            .unwrap(),
    );
    assert_eq!(me.id, id);
    assert!(me.is_self);
    assert_eq!(me.phone.as_deref(), Some("9996610001"));
    assert_eq!(fx.world.authorized_user(key), Some(id));
    fx.state(1, key);
    assert_eq!(fx.world.accounts()[0].sessions, 1);
}

#[test]
fn a_second_device_gets_the_code_in_the_app() {
    let fx = Fx::empty();
    fx.account("+9996610001", "Alice");
    fx.login(1, fx.key(), "+9996610001");
    let code = sent(fx.call(1, fx.key(), &send_code("+9996610001")).unwrap());
    assert!(matches!(code.r#type, tl::enums::auth::SentCodeType::App(_)));
}

#[test]
fn send_code_errors_match_telegram() {
    let fx = Fx::empty();
    fx.world
        .create_account(NewAccount {
            phone: "+9996620001".into(),
            first_name: "Dee".into(),
            home_dc: Some(2),
            ..NewAccount::default()
        })
        .unwrap();
    let key = fx.key();
    assert_err(
        fx.call(1, key, &send_code("+99966abc")),
        400,
        "PHONE_NUMBER_INVALID",
    );
    assert_err(
        fx.call(1, key, &send_code("+12")),
        400,
        "PHONE_NUMBER_INVALID",
    );
    assert_err(
        fx.call(1, key, &send_code("+9996610999")),
        400,
        "PHONE_NUMBER_UNOCCUPIED",
    );
    assert_err(
        fx.call(1, key, &send_code("+9996620001")),
        303,
        "PHONE_MIGRATE_2",
    );
    assert!(fx.call(2, fx.key(), &send_code("+9996620001")).is_ok());
}

#[test]
fn sign_in_errors_match_telegram() {
    let fx = Fx::empty();
    fx.account("+9996610001", "Alice");
    let key = fx.key();
    let code = sent(fx.call(1, key, &send_code("+9996610001")).unwrap());
    let hash = code.phone_code_hash.as_str();
    let right = fx.world.last_code("+9996610001").unwrap();
    let wrong = if right == "00000" { "11111" } else { "00000" };

    assert_err(
        fx.call(1, key, &sign_in("+9996610001", hash, "")),
        400,
        "PHONE_CODE_EMPTY",
    );
    assert_err(
        fx.call(1, key, &sign_in("+9996610001", hash, wrong)),
        400,
        "PHONE_CODE_INVALID",
    );
    assert_err(
        fx.call(1, key, &sign_in("+9996610001", "", &right)),
        400,
        "PHONE_CODE_HASH_EMPTY",
    );
    assert_err(
        fx.call(1, key, &sign_in("+9996610001", "deadbeef", &right)),
        400,
        "PHONE_CODE_HASH_INVALID",
    );
    // A wrong attempt does not burn the code.
    assert!(
        fx.call(1, key, &sign_in("+9996610001", hash, &right))
            .is_ok()
    );
    // A used code is gone.
    assert_err(
        fx.call(1, fx.key(), &sign_in("+9996610001", hash, &right)),
        400,
        "PHONE_CODE_EXPIRED",
    );
}

#[test]
fn codes_expire_by_control_call_and_by_time() {
    let fx = Fx::empty();
    fx.account("+9996610001", "Alice");
    let key = fx.key();
    let code = sent(fx.call(1, key, &send_code("+9996610001")).unwrap());
    let right = fx.world.last_code("+9996610001").unwrap();
    fx.world.expire_codes(Some("+9996610001"));
    assert_err(
        fx.call(
            1,
            key,
            &sign_in("+9996610001", &code.phone_code_hash, &right),
        ),
        400,
        "PHONE_CODE_EXPIRED",
    );
    let resend = tl::functions::auth::ResendCode {
        phone_number: "+9996610001".into(),
        phone_code_hash: code.phone_code_hash.clone(),
        reason: None,
    };
    assert_err(fx.call(1, key, &resend), 400, "PHONE_CODE_EXPIRED");

    let code = sent(fx.call(1, key, &send_code("+9996610001")).unwrap());
    let right = fx.world.last_code("+9996610001").unwrap();
    fx.world.advance_clock(301);
    assert_err(
        fx.call(
            1,
            key,
            &sign_in("+9996610001", &code.phone_code_hash, &right),
        ),
        400,
        "PHONE_CODE_EXPIRED",
    );
}

#[test]
fn resend_code_replaces_the_code() {
    let fx = Fx::empty();
    fx.account("+9996610001", "Alice");
    let key = fx.key();
    let code = sent(fx.call(1, key, &send_code("+9996610001")).unwrap());
    let resend = tl::functions::auth::ResendCode {
        phone_number: "+9996610001".into(),
        phone_code_hash: code.phone_code_hash.clone(),
        reason: None,
    };
    let again = sent(fx.call(1, key, &resend).unwrap());
    assert_eq!(again.phone_code_hash, code.phone_code_hash);
    assert_eq!(fx.world.codes().len(), 2);
    let newest = fx.world.last_code("+9996610001").unwrap();
    let older = fx.world.codes()[1].code.clone();
    if older != newest {
        assert_err(
            fx.call(
                1,
                key,
                &sign_in("+9996610001", &code.phone_code_hash, &older),
            ),
            400,
            "PHONE_CODE_INVALID",
        );
    }
    assert!(
        fx.call(
            1,
            key,
            &sign_in("+9996610001", &code.phone_code_hash, &newest)
        )
        .is_ok()
    );
}

fn password(fx: &Fx, key: i64) -> tl::types::account::Password {
    let tl::enums::account::Password::Password(p) = fx
        .call(1, key, &tl::functions::account::GetPassword {})
        .unwrap();
    p
}

fn check(p: &tl::types::account::Password, pw: &str) -> tl::functions::auth::CheckPassword {
    let Some(tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(algo)) =
        &p.current_algo
    else {
        panic!("expected the SRP algorithm");
    };
    assert!(check_p_and_g(&algo.p, &algo.g), "grammers accepts p and g");
    let (m1, g_a) = calculate_2fa(
        &algo.salt1,
        &algo.salt2,
        &algo.p,
        &algo.g,
        p.srp_b.clone().unwrap(),
        p.secure_random.clone(),
        pw,
    );
    tl::functions::auth::CheckPassword {
        password: tl::types::InputCheckPasswordSrp {
            srp_id: p.srp_id.unwrap(),
            a: g_a.to_vec(),
            m1: m1.to_vec(),
        }
        .into(),
    }
}

#[test]
fn two_factor_login_needs_the_right_password() {
    let fx = Fx::new(WorldSpec::demo());
    let bob = fx.world.user_id_by_phone("+9996610002").unwrap();
    let key = fx.key();
    let code = sent(fx.call(1, key, &send_code("+9996610002")).unwrap());
    let sms = fx.world.last_code("+9996610002").unwrap();
    assert_err(
        fx.call(1, key, &sign_in("+9996610002", &code.phone_code_hash, &sms)),
        401,
        "SESSION_PASSWORD_NEEDED",
    );
    // Not logged in until the password is checked.
    assert_err(
        fx.call(1, key, &tl::functions::updates::GetState {}),
        401,
        "AUTH_KEY_UNREGISTERED",
    );

    let first = password(&fx, key);
    assert!(first.has_password);
    assert!(first.hint.is_some());
    let second = password(&fx, key);
    assert_err(
        fx.call(1, key, &check(&second, "wrong password")),
        400,
        "PASSWORD_HASH_INVALID",
    );
    // Only the latest challenge counts.
    assert_err(
        fx.call(1, key, &check(&first, DEMO_PASSWORD)),
        400,
        "SRP_ID_INVALID",
    );
    // The challenge survives a wrong guess, as grammers' retry expects.
    let me = self_user(fx.call(1, key, &check(&second, DEMO_PASSWORD)).unwrap());
    assert_eq!(me.id, bob);
    assert_eq!(fx.world.authorized_user(key), Some(bob));
}

#[test]
fn get_password_without_a_login_in_progress_is_unauthorized() {
    let fx = Fx::new(WorldSpec::demo());
    assert_err(
        fx.call(1, fx.key(), &tl::functions::account::GetPassword {}),
        401,
        "AUTH_KEY_UNREGISTERED",
    );
    // An account without a password says so.
    let key = fx.key();
    fx.login(1, key, "+9996610001");
    let p = password(&fx, key);
    assert!(!p.has_password && p.current_algo.is_none());
}

#[test]
fn exported_authorization_logs_in_on_another_dc_once() {
    let fx = Fx::empty();
    let id = fx.account("+9996610001", "Alice");
    let home = fx.key();
    fx.login(1, home, "+9996610001");
    let tl::enums::auth::ExportedAuthorization::Authorization(exported) = fx
        .call(
            1,
            home,
            &tl::functions::auth::ExportAuthorization { dc_id: 2 },
        )
        .unwrap();
    assert_eq!(exported.id, id);
    let import = tl::functions::auth::ImportAuthorization {
        id: exported.id,
        bytes: exported.bytes.clone(),
    };
    let other = fx.key();
    assert_err(fx.call(1, other, &import), 400, "AUTH_BYTES_INVALID");
    assert_eq!(self_user(fx.call(2, other, &import).unwrap()).id, id);
    assert_err(fx.call(2, fx.key(), &import), 400, "AUTH_BYTES_INVALID");
    assert_err(
        fx.call(
            1,
            home,
            &tl::functions::auth::ExportAuthorization { dc_id: 9 },
        ),
        400,
        "DC_ID_INVALID",
    );
}

#[test]
fn log_out_unbinds_only_that_key() {
    let fx = Fx::empty();
    fx.account("+9996610001", "Alice");
    let (a, b) = (fx.key(), fx.key());
    fx.login(1, a, "+9996610001");
    fx.login(1, b, "+9996610001");
    fx.call(1, a, &tl::functions::auth::LogOut {}).unwrap();
    assert_err(
        fx.call(1, a, &tl::functions::updates::GetState {}),
        401,
        "AUTH_KEY_UNREGISTERED",
    );
    fx.state(1, b);
}

#[test]
fn revoke_unbinds_every_key_and_nudges_live_connections() {
    let fx = Fx::empty();
    let id = fx.account("+9996610001", "Alice");
    let (a, b) = (fx.key(), fx.key());
    fx.login(1, a, "+9996610001");
    fx.login(1, b, "+9996610001");
    let mut live = fx.connect(a);
    fx.world.revoke(id).unwrap();
    let pushed = live.drain();
    assert!(
        matches!(pushed.as_slice(), [tl::enums::Updates::TooLong]),
        "{pushed:?}"
    );
    for key in [a, b] {
        assert_err(
            fx.call(1, key, &tl::functions::updates::GetState {}),
            401,
            "AUTH_KEY_UNREGISTERED",
        );
        assert_err(
            fx.call(1, key, &crate::get_difference(1, 1)),
            401,
            "AUTH_KEY_UNREGISTERED",
        );
    }
    assert!(fx.world.revoke(424242).is_err());
}

#[test]
fn accounts_are_validated_and_listed() {
    let fx = Fx::empty();
    let id = fx.account("+9996610001", "Alice");
    assert!(
        fx.world
            .create_account(NewAccount {
                phone: "+9996610001".into(),
                first_name: "Again".into(),
                ..NewAccount::default()
            })
            .is_err()
    );
    assert!(
        fx.world
            .create_account(NewAccount {
                phone: "nope".into(),
                first_name: "X".into(),
                ..NewAccount::default()
            })
            .is_err()
    );
    assert!(
        fx.world
            .create_account(NewAccount {
                phone: "+9996610003".into(),
                first_name: "X".into(),
                home_dc: Some(7),
                ..NewAccount::default()
            })
            .is_err()
    );
    assert!(
        fx.world
            .create_account(NewAccount {
                phone: "+9996610003".into(),
                first_name: "X".into(),
                username: Some("1bad".into()),
                ..NewAccount::default()
            })
            .is_err()
    );
    let accounts = fx.world.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        (
            accounts[0].user_id,
            accounts[0].phone.as_str(),
            accounts[0].home_dc
        ),
        (id, "+9996610001", 1)
    );
    assert_eq!(fx.world.user_id_by_phone("9996610001"), Some(id));
}
