//! End to end: an unmodified grammers-client 0.11 against the simulator over
//! real MTProto — login by phone, with 2FA and by QR (with DC migration),
//! dialogs and history paging, live updates, catch-up after every connection
//! was dropped, FLOOD_WAIT and revocation.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use grammers_client::client::UpdateStream;
use grammers_client::{SignInError, update::Update};
use grammers_mtsender::{InvocationError, UpdatesConfiguration};
use grammers_session::Session;
use grammers_session::types::{PeerAuth, PeerInfo};
use grammers_session::updates::UpdatesLike;
use grammers_tl_types as tl;
use tgsim::world::{DEMO_PASSWORD, NewMessage};
use tgsim::{FaultSpec, Sim, WorldSpec};

use common::TestClient;

const ALICE: &str = "+9996610001";
const BOB: &str = "+9996610002";
const CAROL: &str = "+9996620003";

async fn login(sim: &Sim, c: &TestClient, phone: &str) -> grammers_client::peer::User {
    let token = c
        .client
        .request_login_code(phone, "hash")
        .await
        .expect("login code is sent");
    let code = sim
        .world()
        .last_code(phone)
        .expect("the simulated SMS inbox has the code");
    c.client.sign_in(&token, &code).await.expect("sign in")
}

fn is_rpc(err: &InvocationError, code: i32, name: &str) -> bool {
    matches!(err, InvocationError::Rpc(e) if e.code == code && e.name == name)
}

/// The update stream, catching up from the state saved at login: whatever
/// happens after login reaches it, by push or by getDifference.
async fn updates(c: &mut TestClient) -> UpdateStream {
    let rx = c.updates.take().expect("updates receiver");
    c.client
        .stream_updates(rx, UpdatesConfiguration { catch_up: true })
        .await
        .expect("update stream")
}

fn calls(sim: &Sim, method: &str) -> u64 {
    sim.stats().calls.get(method).copied().unwrap_or(0)
}

/// Posts a private message from `from` to `to`.
fn say(sim: &Sim, from: i64, to: i64, text: &str) -> i32 {
    sim.world()
        .post_message(NewMessage {
            from_user_id: from,
            to_user_id: Some(to),
            chat_id: None,
            text: text.into(),
            reply_to: None,
        })
        .expect("posted")
}

async fn next_text(stream: &mut UpdateStream) -> String {
    loop {
        if let Update::NewMessage(m) = next_update(stream).await {
            return m.text().to_owned();
        }
    }
}

/// Skips updates until `f` picks one.
async fn until<T>(stream: &mut UpdateStream, mut f: impl FnMut(Update) -> Option<T>) -> T {
    loop {
        if let Some(t) = f(next_update(stream).await) {
            return t;
        }
    }
}

async fn next_update(stream: &mut UpdateStream) -> Update {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an update arrives in time")
        .expect("the update stream works")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_login() {
    let sim = common::start(WorldSpec::demo()).await;
    let c = common::client(&sim, 1);
    assert!(!c.client.is_authorized().await.unwrap());
    let me = login(&sim, &c, ALICE).await;
    assert_eq!(me.first_name(), Some("Alice"));
    assert!(c.client.is_authorized().await.unwrap());
    assert_eq!(c.client.get_me().await.unwrap().id(), me.id());
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_login_follows_phone_migrate_to_the_home_dc() {
    let sim = common::start(WorldSpec::demo()).await;
    let c = common::client(&sim, 1);
    let me = login(&sim, &c, CAROL).await;
    assert_eq!(me.first_name(), Some("Carol"));
    assert_eq!(c.session.home_dc_id().unwrap(), 2);
    assert!(c.client.is_authorized().await.unwrap());
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_login_with_2fa() {
    let sim = common::start(WorldSpec::demo()).await;
    let c = common::client(&sim, 1);
    let token = c.client.request_login_code(BOB, "hash").await.unwrap();
    let code = sim.world().last_code(BOB).unwrap();
    let password = match c.client.sign_in(&token, &code).await {
        Err(SignInError::PasswordRequired(p)) => p,
        other => panic!("expected PasswordRequired, got {other:?}"),
    };
    assert!(password.hint().is_some());
    let password = match c.client.check_password(password, "not it").await {
        Err(SignInError::InvalidPassword(p)) => p,
        other => panic!("expected InvalidPassword, got {other:?}"),
    };
    let me = c
        .client
        .check_password(password, DEMO_PASSWORD)
        .await
        .expect("the right password");
    assert_eq!(me.first_name(), Some("Bob"));
    assert!(c.client.is_authorized().await.unwrap());
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_expired_codes() {
    let sim = common::start(WorldSpec::demo()).await;
    let c = common::client(&sim, 1);
    let token = c.client.request_login_code(ALICE, "hash").await.unwrap();
    let code = sim.world().last_code(ALICE).unwrap();
    let wrong = if code == "12345" { "54321" } else { "12345" };
    assert!(matches!(
        c.client.sign_in(&token, wrong).await,
        Err(SignInError::InvalidCode)
    ));

    // grammers folds every PHONE_CODE_* into InvalidCode; a raw call shows which.
    let hash = raw_send_code(&c, ALICE).await;
    let code = sim.world().last_code(ALICE).unwrap();
    sim.world().expire_codes(Some(ALICE));
    let err = c
        .client
        .invoke(&tl::functions::auth::SignIn {
            phone_number: ALICE.into(),
            phone_code_hash: hash,
            phone_code: Some(code),
            email_verification: None,
        })
        .await
        .expect_err("the code expired");
    assert!(is_rpc(&err, 400, "PHONE_CODE_EXPIRED"), "{err:?}");

    let token = c.client.request_login_code(ALICE, "hash").await.unwrap();
    let code = sim.world().last_code(ALICE).unwrap();
    sim.world().expire_codes(Some(ALICE));
    assert!(matches!(
        c.client.sign_in(&token, &code).await,
        Err(SignInError::InvalidCode)
    ));
    assert!(!c.client.is_authorized().await.unwrap());
    c.quit().await;
}

/// A raw auth.sendCode, for the phone_code_hash grammers keeps private.
async fn raw_send_code(c: &TestClient, phone: &str) -> String {
    let sent = c
        .client
        .invoke(&tl::functions::auth::SendCode {
            phone_number: phone.into(),
            api_id: 1,
            api_hash: "hash".into(),
            settings: tl::types::CodeSettings {
                allow_flashcall: false,
                current_number: false,
                allow_app_hash: false,
                allow_missed_call: false,
                allow_firebase: false,
                unknown_number: false,
                logout_tokens: None,
                token: None,
                app_sandbox: None,
            }
            .into(),
        })
        .await
        .unwrap();
    let tl::enums::auth::SentCode::Code(sent) = sent else {
        panic!("expected auth.sentCode");
    };
    sent.phone_code_hash
}

fn export_token() -> tl::functions::auth::ExportLoginToken {
    tl::functions::auth::ExportLoginToken {
        api_id: 1,
        api_hash: "hash".into(),
        except_ids: Vec::new(),
    }
}

/// Waits for `updateLoginToken` on the raw updates channel.
async fn login_token_update(rx: &mut tokio::sync::mpsc::Receiver<UpdatesLike>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let u = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("updateLoginToken arrives")
            .expect("updates channel open");
        if let UpdatesLike::Updates(tl::enums::Updates::UpdateShort(s)) = u
            && matches!(s.update, tl::enums::Update::LoginToken)
        {
            return;
        }
    }
}

/// After a raw QR login, the session must learn who it is (no `complete_login`).
async fn remember_self(c: &TestClient, auth: tl::enums::auth::Authorization) -> i64 {
    let tl::enums::auth::Authorization::Authorization(a) = auth else {
        panic!("expected auth.authorization");
    };
    let tl::enums::User::User(u) = a.user else {
        panic!("expected a full user");
    };
    c.session
        .cache_peer(PeerInfo::User {
            id: u.id,
            auth: u.access_hash.map(PeerAuth::from_hash),
            bot: Some(false),
            is_self: Some(true),
        })
        .await
        .unwrap();
    u.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_accepted_on_the_home_dc() {
    let sim = common::start(WorldSpec::demo()).await;
    let alice = sim.world().user_id_by_phone(ALICE).unwrap();
    let mut c = common::client(&sim, 1);
    let mut rx = c.updates.take().unwrap();
    let tl::enums::auth::LoginToken::Token(t) = c.client.invoke(&export_token()).await.unwrap()
    else {
        panic!("expected a login token");
    };
    sim.world().accept_qr(&t.token, alice).unwrap();
    login_token_update(&mut rx).await;
    let tl::enums::auth::LoginToken::Success(s) = c.client.invoke(&export_token()).await.unwrap()
    else {
        panic!("expected loginTokenSuccess");
    };
    assert_eq!(remember_self(&c, s.authorization).await, alice);
    assert_eq!(c.client.get_me().await.unwrap().id().bare_id(), Some(alice));
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_with_dc_migration() {
    let sim = common::start(WorldSpec::demo()).await;
    let carol = sim.world().user_id_by_phone(CAROL).unwrap();
    let mut c = common::client(&sim, 1);
    let mut rx = c.updates.take().unwrap();
    let tl::enums::auth::LoginToken::Token(t) = c.client.invoke(&export_token()).await.unwrap()
    else {
        panic!("expected a login token");
    };
    sim.world().accept_qr(&t.token, carol).unwrap();
    login_token_update(&mut rx).await;
    let tl::enums::auth::LoginToken::MigrateTo(m) = c.client.invoke(&export_token()).await.unwrap()
    else {
        panic!("expected loginTokenMigrateTo");
    };
    assert_eq!(m.dc_id, 2);
    let tl::enums::auth::LoginToken::Success(s) = c
        .client
        .invoke_in_dc(2, &tl::functions::auth::ImportLoginToken { token: m.token })
        .await
        .unwrap()
    else {
        panic!("expected loginTokenSuccess on DC 2");
    };
    c.session.set_home_dc_id(2).await.unwrap();
    assert_eq!(remember_self(&c, s.authorization).await, carol);
    assert_eq!(c.client.get_me().await.unwrap().id().bare_id(), Some(carol));
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialogs_paging() {
    // One account with more dialogs than fit in a page.
    let sim = common::start(WorldSpec::seeded(3, 1, 130, 2)).await;
    let c = common::client(&sim, 1);
    let phone = sim.world().accounts()[0].phone.clone();
    login(&sim, &c, &phone).await;
    let before = sim
        .stats()
        .calls
        .get("messages.getDialogs")
        .copied()
        .unwrap_or(0);
    let mut dialogs = c.client.iter_dialogs();
    let mut seen = Vec::new();
    while let Some(d) = dialogs.next().await.unwrap() {
        seen.push(d.peer_id());
    }
    assert_eq!(seen.len(), 130);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        130,
        "no dialog twice"
    );
    let calls = sim
        .stats()
        .calls
        .get("messages.getDialogs")
        .copied()
        .unwrap_or(0)
        - before;
    assert_eq!(calls, 2, "two pages of at most 100");
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_paging_both_ways() {
    let sim = common::start(WorldSpec::seeded(4, 1, 1, 250)).await;
    let c = common::client(&sim, 1);
    let phone = sim.world().accounts()[0].phone.clone();
    login(&sim, &c, &phone).await;
    let dialog = c
        .client
        .iter_dialogs()
        .next()
        .await
        .unwrap()
        .expect("one dialog");
    let peer = dialog.peer_ref();

    let mut newest_first = Vec::new();
    let mut it = c.client.iter_messages(peer);
    while let Some(m) = it.next().await.unwrap() {
        newest_first.push(m.id());
    }
    assert_eq!(newest_first.len(), 250);
    assert!(newest_first.windows(2).all(|w| w[0] > w[1]));

    let mut oldest_first = Vec::new();
    let mut it = c.client.iter_messages(peer).reverse(true);
    while let Some(m) = it.next().await.unwrap() {
        oldest_first.push(m.id());
    }
    newest_first.reverse();
    assert_eq!(
        oldest_first, newest_first,
        "forwards sees the same messages, oldest first"
    );
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_message_arrives_through_the_update_stream() {
    let sim = common::start(WorldSpec::demo()).await;
    let alice = sim.world().user_id_by_phone(ALICE).unwrap();
    let dmitri = sim
        .world()
        .user_id_by_username("dmitri_ivanov")
        .expect("a demo contact");
    let mut c = common::client(&sim, 1);
    login(&sim, &c, ALICE).await;
    let mut dialogs = c.client.iter_dialogs();
    while dialogs.next().await.unwrap().is_some() {}
    let mut stream = updates(&mut c).await;
    // The first message proves the stream is live (it may come either way).
    say(&sim, dmitri, alice, "warm-up");
    assert_eq!(next_text(&mut stream).await, "warm-up");

    let diffs = calls(&sim, "updates.getDifference");
    say(&sim, dmitri, alice, "ping from the sim");
    match next_update(&mut stream).await {
        Update::NewMessage(m) => {
            assert_eq!(m.text(), "ping from the sim");
            assert!(!m.outgoing());
            assert_eq!(m.sender_id().and_then(|p| p.bare_id()), Some(dmitri));
        }
        other => panic!("expected a new message, got {other:?}"),
    }
    assert_eq!(
        calls(&sim, "updates.getDifference"),
        diffs,
        "it was pushed, not fetched"
    );
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_after_disconnect_all() {
    let sim = common::start(WorldSpec::demo()).await;
    let alice = sim.world().user_id_by_phone(ALICE).unwrap();
    let dmitri = sim.world().user_id_by_username("dmitri_ivanov").unwrap();
    let mut c = common::client(&sim, 1);
    login(&sim, &c, ALICE).await;
    let mut dialogs = c.client.iter_dialogs();
    while dialogs.next().await.unwrap().is_some() {}
    let mut stream = updates(&mut c).await;
    say(&sim, dmitri, alice, "before");
    assert_eq!(next_text(&mut stream).await, "before");

    let diffs = calls(&sim, "updates.getDifference");
    sim.disconnect_all();
    // Posted while the connection goes away: only getDifference can deliver these.
    for i in 0..3 {
        say(&sim, dmitri, alice, &format!("away {i}"));
    }
    // With NoRetries the first call on the dropped connection fails; a
    // consumer keeps polling and the stream resumes its getDifference.
    let mut got = Vec::new();
    let mut transport_errors = 0;
    while got.len() < 3 {
        let update = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an update arrives in time");
        match update {
            Ok(Update::NewMessage(m)) => got.push(m.text().to_owned()),
            Ok(_) => {}
            Err(InvocationError::Rpc(e)) => panic!("unexpected rpc error {e:?}"),
            Err(e) => {
                transport_errors += 1;
                assert!(transport_errors <= 20, "the stream does not recover: {e:?}");
            }
        }
    }
    assert_eq!(got, ["away 0", "away 1", "away 2"]);
    assert!(
        calls(&sim, "updates.getDifference") > diffs,
        "the client caught up through getDifference"
    );
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_wait_reaches_the_caller() {
    let sim = common::start(WorldSpec::demo()).await;
    let c = common::client(&sim, 1);
    login(&sim, &c, ALICE).await;
    sim.faults()
        .inject(FaultSpec {
            method: "messages.getDialogs".into(),
            error: Some("FLOOD_WAIT_7".into()),
            count: Some(1),
            delay_ms: None,
        })
        .unwrap();
    let err = c
        .client
        .iter_dialogs()
        .next()
        .await
        .expect_err("flood wait");
    match &err {
        InvocationError::Rpc(e) => assert_eq!(
            (e.code, e.name.as_str(), e.value),
            (420, "FLOOD_WAIT", Some(7))
        ),
        other => panic!("expected FLOOD_WAIT, got {other:?}"),
    }
    assert!(
        c.client.iter_dialogs().next().await.unwrap().is_some(),
        "the fault was for one call"
    );
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_surfaces_auth_key_unregistered() {
    let sim = common::start(WorldSpec::demo()).await;
    let alice = sim.world().user_id_by_phone(ALICE).unwrap();
    let dmitri = sim.world().user_id_by_username("dmitri_ivanov").unwrap();
    let mut c = common::client(&sim, 1);
    login(&sim, &c, ALICE).await;
    let mut stream = updates(&mut c).await;
    say(&sim, dmitri, alice, "still here?");
    assert_eq!(next_text(&mut stream).await, "still here?");

    sim.world().revoke(alice).unwrap();
    // The pushed updatesTooLong makes the stream ask for the difference at once.
    let err = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the stream reacts in time")
        .expect_err("the session was revoked");
    assert!(is_rpc(&err, 401, "AUTH_KEY_UNREGISTERED"), "{err:?}");
    let err = c.client.get_me().await.expect_err("revoked");
    assert!(is_rpc(&err, 401, "AUTH_KEY_UNREGISTERED"), "{err:?}");
    assert!(!c.client.is_authorized().await.unwrap());
    c.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_reading_editing_and_deleting_through_grammers() {
    let sim = common::start(WorldSpec::demo()).await;
    let alice = sim.world().user_id_by_phone(ALICE).unwrap();
    let dmitri = sim.world().user_id_by_username("dmitri_ivanov").unwrap();
    let mut c = common::client(&sim, 1);
    login(&sim, &c, ALICE).await;
    let mut peers = std::collections::HashMap::new();
    let mut dialogs = c.client.iter_dialogs();
    while let Some(d) = dialogs.next().await.unwrap() {
        peers.insert(d.peer().name().unwrap_or_default().to_owned(), d.peer_ref());
    }
    let mut stream = updates(&mut c).await;

    // Private chat (updateShortSentMessage), basic group and supergroup (updates).
    for name in ["Dmitri", "Ops Team", "tgdesk Community"] {
        let peer = *peers
            .get(name)
            .unwrap_or_else(|| panic!("dialog {name} in {peers:?}"));
        let sent = c
            .client
            .send_message(peer, format!("hello {name}"))
            .await
            .unwrap();
        assert_eq!(sent.text(), format!("hello {name}"));
        assert!(sent.outgoing());
        let mut history = c.client.iter_messages(peer).limit(1);
        let newest = history.next().await.unwrap().unwrap();
        assert_eq!((newest.id(), newest.text()), (sent.id(), sent.text()));
        c.client.mark_as_read(peer).await.unwrap();
    }
    // Broadcast channels refuse non-creators.
    let news = *peers.get("Company News").unwrap();
    let err = c
        .client
        .send_message(news, "can I post?")
        .await
        .unwrap_err();
    assert!(is_rpc(&err, 403, "CHAT_WRITE_FORBIDDEN"), "{err:?}");

    // A channel post, an edit and a deletion arrive through the stream.
    let news_id = sim
        .world()
        .chat_id_by_username("company_news_demo")
        .unwrap();
    let olga = sim.world().user_id_by_username("olga_petrova").unwrap();
    let post = sim
        .world()
        .post_message(NewMessage {
            from_user_id: olga,
            to_user_id: None,
            chat_id: Some(news_id),
            text: "breaking".into(),
            reply_to: None,
        })
        .unwrap();
    let text = |u: Update| match u {
        Update::NewMessage(m) if !m.outgoing() => Some(m.text().to_owned()),
        _ => None,
    };
    assert_eq!(until(&mut stream, text).await, "breaking");
    let id = say(&sim, dmitri, alice, "tpyo");
    assert_eq!(until(&mut stream, text).await, "tpyo");
    sim.world()
        .edit_message(tgsim::world::EditMessage {
            user_id: dmitri,
            to_user_id: Some(alice),
            chat_id: None,
            message_id: id,
            text: "typo".into(),
        })
        .unwrap();
    let edited = until(&mut stream, |u| match u {
        Update::MessageEdited(m) => Some(m.text().to_owned()),
        _ => None,
    })
    .await;
    assert_eq!(edited, "typo");
    sim.world()
        .delete_messages(tgsim::world::DeleteMessages {
            user_id: olga,
            to_user_id: None,
            chat_id: Some(news_id),
            message_ids: vec![post],
            revoke: true,
        })
        .unwrap();
    let deleted = until(&mut stream, |u| match u {
        Update::MessageDeleted(d) => Some(d.messages().to_vec()),
        _ => None,
    })
    .await;
    assert_eq!(deleted, [post]);
    c.quit().await;
}
