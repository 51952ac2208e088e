//! The session store end to end: a real grammers client logs in against
//! tgsim through it, everything is dropped, the database is reopened, and the
//! account is still authorised and catches up on what it missed.

use std::sync::Arc;
use std::time::Duration;

use grammers_mtsender::UpdatesConfiguration;
use grammers_session::Session as _;
use grammers_tl_types as tl;
use tgdesk::store::accounts::{self, LoginProfile};
use tgdesk::telegram::backend::Backend;
use tgdesk::telegram::client::LiveClient;
use tgdesk::telegram::login::{self, SignIn};
use tgdesk::telegram::session::{SessionOptions, SessionStore};
use tgdesk::vault::{Vault, VaultKey};
use tgsim::world::{NewAccount, NewMessage};
use tgsim::{Sim, SimConfig, WorldSpec};

use crate::helpers::TestDb;

backend_tests!(
    a_login_survives_a_restart_and_catches_up,
    a_2fa_login_through_the_session_store,
);

async fn sim() -> Sim {
    Sim::start(SimConfig {
        world: WorldSpec::empty(),
        ..SimConfig::default()
    })
    .await
    .expect("tgsim starts")
}

fn store(db: &tgdesk::store::Db, vault: &Arc<Vault>) -> SessionStore {
    SessionStore::new(
        db.clone(),
        Arc::clone(vault),
        SessionOptions {
            flush_interval: Duration::from_millis(20),
        },
    )
}

fn account(phone: &str, name: &str, password: Option<&str>) -> NewAccount {
    NewAccount {
        phone: phone.into(),
        first_name: name.into(),
        last_name: None,
        username: None,
        password: password.map(Into::into),
        password_hint: password.map(|_| "the usual".into()),
        home_dc: Some(2),
    }
}

/// Logs `phone` in with the code tgsim "sent", through a new session of `store`,
/// and binds the session to a new account row. Returns the account id.
async fn log_in(
    sim: &Sim,
    backend: &Backend,
    store: &SessionStore,
    db: &tgdesk::store::Db,
    phone: &str,
    password: Option<&str>,
) -> i64 {
    let session = store.create(backend.seed().await.expect("fresh session"));
    let live = LiveClient::start(Arc::clone(&session), backend.api_id());
    let sent = login::send_code(&live.client, &session, phone, backend.api_id(), "sim")
        .await
        .expect("code sent");
    // The phone is homed on DC 2: the session followed PHONE_MIGRATE_2.
    assert_eq!(session.home_dc_id().expect("home dc"), 2);
    let code = sim.world().last_code(phone).expect("a code in the inbox");
    let user = match login::sign_in(&live.client, &session, phone, &sent.phone_code_hash, &code)
        .await
        .expect("signed in")
    {
        SignIn::Done(user) => *user,
        SignIn::PasswordNeeded(challenge) => {
            assert_eq!(challenge.hint.as_deref(), Some("the usual"));
            let wrong = login::check_password(&live.client, &session, &challenge, "nope".into())
                .await
                .expect_err("a wrong password is refused");
            assert!(
                wrong.to_string().contains("PASSWORD_HASH_INVALID"),
                "{wrong}"
            );
            let challenge = login::password_challenge(&live.client)
                .await
                .expect("new challenge");
            login::check_password(
                &live.client,
                &session,
                &challenge,
                password.expect("this account has a password").into(),
            )
            .await
            .expect("password accepted")
        }
    };
    let account = accounts::upsert_login(
        db.pool(),
        &LoginProfile {
            telegram_user_id: user.id,
            display_name: user.first_name.as_deref().unwrap_or(""),
            username: None,
            phone_masked: None,
            home_dc: Some(2),
        },
        tgdesk::store::now(),
    )
    .await
    .expect("account row");
    session.bind(account.id).await.expect("bound");
    session.flush().await.expect("flushed");
    live.stop().await;
    session.close().await.expect("closed");
    account.id
}

async fn a_login_survives_a_restart_and_catches_up(db: &TestDb) {
    let sim = sim().await;
    let backend = Backend::SimInProcess(sim.clone());
    let vault = Arc::new(Vault::new(&[VaultKey::generate().expect("key")]).expect("vault"));
    let ada = sim
        .world()
        .create_account(account("+999662000001", "Ada", None))
        .expect("ada");
    let bob = sim
        .world()
        .create_account(account("+999662000002", "Bob", None))
        .expect("bob");

    let account_id = log_in(
        &sim,
        &backend,
        &store(&db.db, &vault),
        &db.db,
        "+999662000001",
        None,
    )
    .await;

    // While Ada's client is down, Bob writes to her.
    sim.world()
        .post_message(NewMessage {
            from_user_id: bob,
            to_user_id: Some(ada),
            chat_id: None,
            text: "sent while you were away".into(),
            reply_to: None,
        })
        .expect("message");

    // Everything dropped: reopen the database and the store from scratch.
    let url = db.url.clone();
    db.db.close().await;
    let reopened = tgdesk::store::Db::connect(&url).await.expect("reopen");
    let session = store(&reopened, &vault)
        .load(account_id)
        .await
        .expect("loads")
        .expect("a stored session");
    let calls_before = sim.stats().calls.get("auth.signIn").copied();

    let mut live = LiveClient::start(Arc::clone(&session), backend.api_id());
    assert!(
        live.client.is_authorized().await.expect("asks"),
        "still authorised without a new login"
    );
    assert_eq!(
        sim.stats().calls.get("auth.signIn").copied(),
        calls_before,
        "no new sign-in"
    );

    // Catch-up delivers the message sent while the client was down.
    let updates = live.updates.take().expect("updates channel");
    let mut stream = live
        .client
        .stream_updates(updates, UpdatesConfiguration { catch_up: true })
        .await
        .expect("update stream");
    let text = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next().await {
                Ok(grammers_client::update::Update::NewMessage(m)) => break m.text().to_string(),
                Ok(_) => continue,
                Err(e) => panic!("update stream failed: {e}"),
            }
        }
    })
    .await
    .expect("the missed message arrives by catch-up");
    assert_eq!(text, "sent while you were away");
    stream.sync_update_state().await.ok();
    drop(stream);
    session.flush().await.expect("flush");
    live.stop().await;
}

async fn a_2fa_login_through_the_session_store(db: &TestDb) {
    let sim = sim().await;
    let backend = Backend::SimInProcess(sim.clone());
    let vault = Arc::new(Vault::new(&[VaultKey::generate().expect("key")]).expect("vault"));
    sim.world()
        .create_account(account("+999662000003", "Cy", Some("correct horse")))
        .expect("cy");
    let account_id = log_in(
        &sim,
        &backend,
        &store(&db.db, &vault),
        &db.db,
        "+999662000003",
        Some("correct horse"),
    )
    .await;
    let session = store(&db.db, &vault)
        .load(account_id)
        .await
        .expect("loads")
        .expect("stored");
    let live = LiveClient::start(Arc::clone(&session), backend.api_id());
    let tl::enums::users::UserFull::Full(me) = live
        .client
        .invoke(&tl::functions::users::GetFullUser {
            id: tl::enums::InputUser::UserSelf,
        })
        .await
        .expect("authorised");
    assert!(!me.users.is_empty());
    live.stop().await;
}

// --- Login flows: the state machine the pages and the API drive ---

mod flows {
    use std::time::Duration;

    use tgdesk::secret::Secret;
    use tgdesk::telegram::backend::Backend;
    use tgdesk::telegram::flows::{FlowError, FlowLimits, LoginFlows, Step};
    use tgdesk::telegram::login::CodeKind;
    use tgsim::world::NewAccount;
    use tgsim::{FaultSpec, Sim};

    use super::{sim, store};
    use crate::helpers::TestDb;
    use std::sync::Arc;
    use tgdesk::vault::{Vault, VaultKey};

    struct Fixture {
        sim: Sim,
        flows: LoginFlows,
        _db: TestDb,
    }

    async fn fixture() -> Fixture {
        fixture_with(FlowLimits::default()).await
    }

    async fn fixture_with(limits: FlowLimits) -> Fixture {
        let sim = sim().await;
        let db = TestDb::sqlite().await;
        let vault = Arc::new(Vault::new(&[VaultKey::generate().expect("key")]).expect("vault"));
        let flows = LoginFlows::new(
            Backend::SimInProcess(sim.clone()),
            store(&db.db, &vault),
            Secret::new("sim-hash".to_string()),
            limits,
        );
        Fixture {
            sim,
            flows,
            _db: db,
        }
    }

    fn add(sim: &Sim, phone: &str, home_dc: i32, password: Option<&str>) -> i64 {
        sim.world()
            .create_account(NewAccount {
                phone: phone.into(),
                first_name: "Staff".into(),
                last_name: None,
                username: None,
                password: password.map(Into::into),
                password_hint: password.map(|_| "pet's name".into()),
                home_dc: Some(home_dc),
            })
            .expect("account")
    }

    fn code_of(sim: &Sim, phone: &str) -> String {
        sim.world().last_code(phone).expect("a code was sent")
    }

    async fn wait_state(flows: &LoginFlows, id: &str, state: &str) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let s = flows.status(id).await.expect("status");
                if s.state == state {
                    return;
                }
                assert!(s.error.is_none(), "flow failed: {:?}", s.error);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the flow never reached {state}"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn phone_and_code_complete_a_login() {
        let f = fixture().await;
        let uid = add(&f.sim, "+999664000001", 1, None);
        let (id, step) = f
            .flows
            .start_phone("+999664000001")
            .await
            .expect("code sent");
        assert!(
            matches!(
                step,
                Step::Code {
                    kind: CodeKind::Sms,
                    ..
                }
            ),
            "{step:?}"
        );
        assert_eq!(
            f.flows.status(&id).await.expect("status").state,
            "awaiting_code"
        );
        let code = code_of(&f.sim, "+999664000001");
        let Step::Done(done) = f.flows.submit_code(&id, &code).await.expect("signed in") else {
            panic!("expected done");
        };
        assert_eq!(done.user.id, uid);
        assert_eq!(done.phone.as_deref(), Some("+999664000001"));
        assert_eq!(f.flows.status(&id).await.expect("status").state, "done");
        f.flows.close(&id).await;
        assert!(matches!(
            f.flows.status(&id).await,
            Err(FlowError::NotFound)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_password_account_asks_for_it_and_shows_the_hint() {
        let f = fixture().await;
        let uid = add(&f.sim, "+999664000002", 2, Some("hunter2"));
        let (id, _) = f
            .flows
            .start_phone("+999664000002")
            .await
            .expect("code sent");
        let code = code_of(&f.sim, "+999664000002");
        let Step::Password { hint } = f.flows.submit_code(&id, &code).await.expect("next") else {
            panic!("expected the password step");
        };
        assert_eq!(hint.as_deref(), Some("pet's name"));
        let wrong = f
            .flows
            .submit_password(&id, "hunter3".into())
            .await
            .expect_err("wrong password");
        let FlowError::Telegram(m) = &wrong else {
            panic!("{wrong:?}")
        };
        assert_eq!(m.code, "password_invalid");
        assert_eq!(
            f.flows.status(&id).await.expect("status").state,
            "awaiting_password"
        );
        let Step::Done(done) = f
            .flows
            .submit_password(&id, "hunter2".into())
            .await
            .expect("logged in")
        else {
            panic!("expected done");
        };
        assert_eq!(done.user.id, uid);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn five_wrong_codes_end_the_flow() {
        let f = fixture().await;
        add(&f.sim, "+999664000003", 1, None);
        let (id, _) = f
            .flows
            .start_phone("+999664000003")
            .await
            .expect("code sent");
        for _ in 0..4 {
            let e = f.flows.submit_code(&id, "00000").await.expect_err("wrong");
            assert!(
                matches!(&e, FlowError::Telegram(m) if m.code == "code_invalid"),
                "{e:?}"
            );
        }
        let e = f.flows.submit_code(&id, "00000").await.expect_err("fifth");
        assert!(matches!(e, FlowError::TooManyTries), "{e:?}");
        let right = code_of(&f.sim, "+999664000003");
        assert!(matches!(
            f.flows.submit_code(&id, &right).await,
            Err(FlowError::NotFound)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_expired_code_sends_the_user_back_to_the_phone_step() {
        let f = fixture().await;
        add(&f.sim, "+999664000004", 1, None);
        let (id, _) = f
            .flows
            .start_phone("+999664000004")
            .await
            .expect("code sent");
        let code = code_of(&f.sim, "+999664000004");
        f.sim.world().expire_codes(Some("+999664000004"));
        let e = f.flows.submit_code(&id, &code).await.expect_err("expired");
        assert!(
            matches!(&e, FlowError::Telegram(m) if m.code == "code_expired"),
            "{e:?}"
        );
        assert!(matches!(
            f.flows.status(&id).await,
            Err(FlowError::NotFound)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn telegram_refusals_map_to_clear_errors() {
        let f = fixture().await;
        let e = f
            .flows
            .start_phone("+999664009999")
            .await
            .expect_err("no account");
        assert!(
            matches!(&e, FlowError::Telegram(m) if m.code == "phone_number_unoccupied" && m.status == 400),
            "{e:?}"
        );
        f.sim
            .faults()
            .inject(FaultSpec {
                method: "auth.sendCode".into(),
                error: Some("FLOOD_WAIT_120".into()),
                count: Some(1),
                delay_ms: None,
            })
            .expect("fault");
        add(&f.sim, "+999664000005", 1, None);
        let e = f
            .flows
            .start_phone("+999664000005")
            .await
            .expect_err("flood");
        assert!(
            matches!(&e, FlowError::Telegram(m) if m.status == 429 && m.retry_after == Some(120)),
            "{e:?}"
        );
        assert!(f.flows.is_empty(), "failed starts leave no flow behind");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_qr_code_accepted_on_the_home_dc_completes_the_flow() {
        let f = fixture().await;
        let uid = add(&f.sim, "+999664000006", 1, None);
        let (id, status) = f.flows.start_qr().await.expect("qr");
        assert_eq!(status.state, "awaiting_scan");
        let url = status.qr_url.expect("a tg://login url");
        let token = url.strip_prefix("tg://login?token=").expect("tg url");
        let token = tgsim::control::decode_token(token).expect("base64url");
        f.sim.world().accept_qr(&token, uid).expect("scanned");
        wait_state(&f.flows, &id, "done").await;
        let done = f
            .flows
            .take_completed(&id)
            .await
            .expect("flow")
            .expect("result");
        assert_eq!(done.user.id, uid);
        assert!(
            f.flows.take_completed(&id).await.expect("flow").is_none(),
            "handed out once"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_qr_login_follows_the_account_to_its_dc() {
        let f = fixture().await;
        let uid = add(&f.sim, "+999664000007", 2, None);
        let (id, status) = f.flows.start_qr().await.expect("qr");
        let token = status.qr_url.expect("url");
        let token = tgsim::control::decode_token(token.trim_start_matches("tg://login?token="))
            .expect("token");
        f.sim.world().accept_qr(&token, uid).expect("scanned");
        wait_state(&f.flows, &id, "done").await;
        let done = f
            .flows
            .take_completed(&id)
            .await
            .expect("flow")
            .expect("result");
        assert_eq!(done.user.id, uid);
        assert_eq!(
            grammers_session::Session::home_dc_id(&*done.session).expect("dc"),
            2
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_qr_login_of_a_password_account_asks_for_the_password() {
        let f = fixture().await;
        let uid = add(&f.sim, "+999664000008", 1, Some("s3cret"));
        let (id, status) = f.flows.start_qr().await.expect("qr");
        let token = status.qr_url.expect("url");
        let token = tgsim::control::decode_token(token.trim_start_matches("tg://login?token="))
            .expect("token");
        f.sim.world().accept_qr(&token, uid).expect("scanned");
        wait_state(&f.flows, &id, "awaiting_password").await;
        assert_eq!(
            f.flows.status(&id).await.expect("status").hint.as_deref(),
            Some("pet's name")
        );
        let Step::Done(done) = f
            .flows
            .submit_password(&id, "s3cret".into())
            .await
            .expect("logged in")
        else {
            panic!("expected done");
        };
        assert_eq!(done.user.id, uid);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_qr_token_is_refreshed_before_it_expires() {
        let f = fixture_with(FlowLimits {
            qr_refresh: Duration::from_millis(100),
            ..FlowLimits::default()
        })
        .await;
        let (id, first) = f.flows.start_qr().await.expect("qr");
        let first_url = first.qr_url.expect("url");
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let s = f.flows.status(&id).await.expect("status");
                if s.qr_url.as_deref() != Some(first_url.as_str()) {
                    assert_eq!(s.state, "awaiting_scan");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("a new token replaces the old one");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_flow_is_gone() {
        let f = fixture().await;
        add(&f.sim, "+999664000009", 1, None);
        let (id, _) = f
            .flows
            .start_phone("+999664000009")
            .await
            .expect("code sent");
        assert!(f.flows.cancel(&id).await);
        assert!(!f.flows.cancel(&id).await);
        assert!(matches!(
            f.flows.submit_code(&id, "12345").await,
            Err(FlowError::NotFound)
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_inbox_shows_the_codes_the_simulator_sent() {
    let app = crate::helpers::spawn_app().await;
    app.sim
        .world()
        .create_account(account("+999665000001", "Ines", Some("pw")))
        .expect("account");
    let page = app
        .client
        .get(app.url("/demo/inbox"))
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(html.contains("+999665000001"), "the accounts are listed");
    assert!(html.contains("No code sent yet"));

    app.state
        .flows
        .start_phone("+999665000001")
        .await
        .expect("code sent");
    let code = app.sim.world().last_code("+999665000001").expect("code");
    let html = app
        .client
        .get(app.url("/demo/inbox"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    assert!(html.contains(&code), "the code is in the inbox");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_simulator_is_reached_through_its_control_api() {
    let sim = sim().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let control = listener.local_addr().expect("addr").to_string();
    tokio::spawn(tgsim::control::serve(
        sim.clone(),
        listener,
        std::future::pending(),
    ));
    let backend = Backend::remote_sim(&control).await.expect("reachable");
    assert!(backend.is_sim());
    // Keys for a new session are registered through POST /auth-keys: a real
    // grammers client then logs in with them.
    sim.world()
        .create_account(account("+999662000009", "Remy", None))
        .expect("account");
    let db = TestDb::sqlite().await;
    let vault = Arc::new(Vault::new(&[VaultKey::generate().expect("key")]).expect("vault"));
    let account_id = log_in(
        &sim,
        &backend,
        &store(&db.db, &vault),
        &db.db,
        "+999662000009",
        None,
    )
    .await;
    assert!(account_id > 0);

    let unreachable = Backend::remote_sim("127.0.0.1:9").await;
    let err = unreachable.expect_err("nothing listens there");
    assert!(err.to_string().contains("did not answer"), "{err}");
}
