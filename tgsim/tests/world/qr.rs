//! QR login: export, accept from another device, updateLoginToken, success on
//! the home DC, migration to another DC, 2FA, expiry.

use grammers_tl_types as tl;
use tgsim::world::{NewAccount, WorldSpec};

use crate::{Fx, assert_err, self_user};

fn export() -> tl::functions::auth::ExportLoginToken {
    tl::functions::auth::ExportLoginToken {
        api_id: 1,
        api_hash: "hash".into(),
        except_ids: Vec::new(),
    }
}

fn token(fx: &Fx, dc: i32, key: i64) -> tl::types::auth::LoginToken {
    match fx.call(dc, key, &export()).unwrap() {
        tl::enums::auth::LoginToken::Token(t) => t,
        other => panic!("expected auth.loginToken, got {other:?}"),
    }
}

fn account_on(fx: &Fx, phone: &str, dc: i32) -> i64 {
    fx.world
        .create_account(NewAccount {
            phone: phone.into(),
            first_name: "Qr".into(),
            home_dc: Some(dc),
            ..NewAccount::default()
        })
        .unwrap()
}

#[test]
fn qr_login_accepted_on_the_home_dc() {
    let fx = Fx::empty();
    let id = account_on(&fx, "+9996610001", 1);
    let key = fx.key();
    let mut live = fx.connect(key);
    let t = token(&fx, 1, key);
    assert!(t.token.len() >= 16);
    assert!(t.expires > 0);

    fx.world.accept_qr(&t.token, id).unwrap();
    let pushed = live.drain();
    assert!(
        matches!(
            pushed.as_slice(),
            [tl::enums::Updates::UpdateShort(tl::types::UpdateShort {
                update: tl::enums::Update::LoginToken,
                ..
            })]
        ),
        "{pushed:?}"
    );
    let tl::enums::auth::LoginToken::Success(success) = fx.call(1, key, &export()).unwrap() else {
        panic!("expected loginTokenSuccess");
    };
    assert_eq!(self_user(success.authorization).id, id);
    assert_eq!(fx.world.authorized_user(key), Some(id));
    // The token is spent.
    assert!(fx.world.accept_qr(&t.token, id).is_err());
}

#[test]
fn qr_login_migrates_to_the_accounts_home_dc() {
    let fx = Fx::empty();
    let id = account_on(&fx, "+9996620001", 2);
    let (k1, k2) = (fx.key(), fx.key());
    let t = token(&fx, 1, k1);
    fx.world.accept_qr(&t.token, id).unwrap();
    let tl::enums::auth::LoginToken::MigrateTo(m) = fx.call(1, k1, &export()).unwrap() else {
        panic!("expected loginTokenMigrateTo");
    };
    assert_eq!(m.dc_id, 2);
    let import = tl::functions::auth::ImportLoginToken {
        token: m.token.clone(),
    };
    // Importing on the wrong DC points at the right one again.
    assert!(matches!(
        fx.call(1, k1, &import).unwrap(),
        tl::enums::auth::LoginToken::MigrateTo(tl::types::auth::LoginTokenMigrateTo {
            dc_id: 2,
            ..
        })
    ));
    let tl::enums::auth::LoginToken::Success(success) = fx.call(2, k2, &import).unwrap() else {
        panic!("expected loginTokenSuccess on DC 2");
    };
    assert_eq!(self_user(success.authorization).id, id);
    assert_eq!(fx.world.authorized_user(k2), Some(id));
    assert_eq!(fx.world.authorized_user(k1), None);
    assert_err(fx.call(2, fx.key(), &import), 400, "AUTH_TOKEN_INVALID");
}

#[test]
fn qr_login_with_a_password_asks_for_it() {
    let fx = Fx::new(WorldSpec::demo());
    let bob = fx.world.user_id_by_phone("+9996610002").unwrap();
    let key = fx.key();
    let t = token(&fx, 1, key);
    fx.world.accept_qr(&t.token, bob).unwrap();
    assert_err(fx.call(1, key, &export()), 401, "SESSION_PASSWORD_NEEDED");
    let tl::enums::account::Password::Password(p) = fx
        .call(1, key, &tl::functions::account::GetPassword {})
        .unwrap();
    assert!(p.has_password);
}

#[test]
fn login_tokens_expire_after_thirty_seconds() {
    let fx = Fx::empty();
    let id = account_on(&fx, "+9996610001", 1);
    let key = fx.key();
    let t = token(&fx, 1, key);
    let fresh = token(&fx, 1, key);
    assert_ne!(t.token, fresh.token, "each export is a new token");
    assert!(
        fx.world.accept_qr(&t.token, id).is_err(),
        "a replaced token is gone"
    );
    fx.world.advance_clock(31);
    let err = fx.world.accept_qr(&fresh.token, id).unwrap_err();
    assert!(err.contains("EXPIRED"), "{err}");
    assert_err(
        fx.call(
            1,
            key,
            &tl::functions::auth::ImportLoginToken { token: fresh.token },
        ),
        400,
        "AUTH_TOKEN_EXPIRED",
    );
    assert_err(
        fx.call(
            1,
            key,
            &tl::functions::auth::ImportLoginToken {
                token: vec![1, 2, 3],
            },
        ),
        400,
        "AUTH_TOKEN_INVALID",
    );
    assert!(fx.world.accept_qr(b"nonsense", id).is_err());
}
