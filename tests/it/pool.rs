//! The account pool and the event log against tgsim: what Telegram pushes
//! lands in the log, polls cost no Telegram call, revocation ends an account
//! at once, and nothing is missed across a restart.

use std::time::Duration;

use tgdesk::events::EventKind;
use tgdesk::store::accounts::{self, AccountState, LoginProfile};
use tgdesk::telegram::flows::Step;
use tgdesk::telegram::pool::Liveness;
use tgsim::world::EditMessage;

use crate::helpers::{TestApp, sim_say, sim_user, spawn_app, telegram_calls};

/// Logs `phone` in through the login flows, stores the account, binds its
/// session and starts its live client. Returns the account id.
async fn log_in_live(app: &TestApp, phone: &str) -> i64 {
    let state = &app.state;
    let (id, _) = state.flows.start_phone(phone).await.expect("code sent");
    let code = app.sim.world().last_code(phone).expect("code");
    let Step::Done(done) = state
        .flows
        .submit_code(&id, &code)
        .await
        .expect("signed in")
    else {
        panic!("expected a finished login");
    };
    state.flows.close(&id).await;
    let account = accounts::upsert_login(
        state.db.pool(),
        &LoginProfile {
            telegram_user_id: done.user.id,
            display_name: done.user.first_name.as_deref().unwrap_or(""),
            username: None,
            phone_masked: None,
            home_dc: Some(1),
        },
        tgdesk::store::now(),
    )
    .await
    .expect("account row");
    done.session.bind(account.id).await.expect("bind");
    state.pool.start(account.id, done.session).await;
    wait_liveness(app, account.id, Liveness::Connected).await;
    account.id
}

async fn wait_liveness(app: &TestApp, account_id: i64, want: Liveness) {
    let mut rx = app.state.pool.watch_liveness(account_id).expect("running");
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|l| *l == want))
        .await
        .unwrap_or_else(|_| panic!("account never became {want:?}"))
        .expect("watch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_messages_land_in_the_log_and_polls_cost_no_telegram_call() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667000001", "Ada");
    let bob = sim_user(&app, "+999667000002", "Bob");
    let account = log_in_live(&app, "+999667000001").await;

    let since = app.state.events.latest(account).await.expect("latest");
    let msg_id = sim_say(&app, bob, ada, "hello from Bob");
    let events = app
        .state
        .events
        .wait(account, since, 100, Duration::from_secs(10))
        .await
        .expect("wait");
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.kind, EventKind::MessageNew);
    assert_eq!(e.chat_id, bob, "a private chat's id is the other user's");
    let m = e.message.as_ref().expect("message");
    assert_eq!((m.id, m.text.as_str()), (msg_id, "hello from Bob"));
    assert_eq!(m.sender.as_ref().map(|s| s.id), Some(bob));
    assert!(!m.outgoing);

    // Reading the log again, or waiting past the end, asks Telegram nothing.
    let calls = telegram_calls(&app);
    for _ in 0..20 {
        let again = app
            .state
            .events
            .read(account, since, 100)
            .await
            .expect("read");
        assert_eq!(again.len(), 1);
    }
    let none = app
        .state
        .events
        .wait(account, e.cursor, 100, Duration::from_millis(50))
        .await
        .expect("wait");
    assert!(none.is_empty());
    assert_eq!(telegram_calls(&app), calls);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_are_logged_after_their_message() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667000003", "Ada");
    let bob = sim_user(&app, "+999667000004", "Bob");
    let account = log_in_live(&app, "+999667000003").await;
    let since = app.state.events.latest(account).await.expect("latest");
    let id = sim_say(&app, bob, ada, "first");
    let mut got = app
        .state
        .events
        .wait(account, since, 100, Duration::from_secs(10))
        .await
        .expect("wait");
    app.sim
        .world()
        .edit_message(EditMessage {
            user_id: bob,
            to_user_id: Some(ada),
            chat_id: None,
            message_id: id,
            text: "first, edited".into(),
        })
        .expect("edited");
    got.extend(
        app.state
            .events
            .wait(account, got[0].cursor, 100, Duration::from_secs(10))
            .await
            .expect("wait"),
    );
    assert_eq!(got[0].kind, EventKind::MessageNew);
    assert_eq!(got[1].kind, EventKind::MessageEdited);
    assert!(got[0].cursor < got[1].cursor);
    let edited = got[1].message.as_ref().expect("message");
    assert_eq!(edited.text, "first, edited");
    assert!(edited.edit_date.is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revoked_from_another_device_ends_the_account_at_once() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667000005", "Ada");
    let account = log_in_live(&app, "+999667000005").await;
    app.sim.world().revoke(ada).expect("revoked");
    wait_liveness(&app, account, Liveness::Ended(AccountState::Revoked)).await;
    let row = accounts::get(app.state.db.pool(), account)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(row.state, AccountState::Revoked);
    assert!(
        app.state
            .sessions
            .load(account)
            .await
            .expect("load")
            .is_none(),
        "its keys are shredded"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_missed_across_a_restart() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667000006", "Ada");
    let bob = sim_user(&app, "+999667000007", "Bob");
    let account = log_in_live(&app, "+999667000006").await;
    let since = app.state.events.latest(account).await.expect("latest");

    // The service goes away; Bob writes meanwhile.
    app.state.pool.shutdown().await;
    assert!(app.state.pool.is_empty());
    sim_say(&app, bob, ada, "while you were down");

    let (started, failed) = app.state.pool.restore_all().await;
    assert_eq!((started, failed), (1, 0));
    let events = app
        .state
        .events
        .wait(account, since, 100, Duration::from_secs(10))
        .await
        .expect("wait");
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| e.message.as_ref().map(|m| m.text.as_str()))
        .collect();
    assert_eq!(texts, ["while you were down"]);
    app.stop().await;
}

// --- Reading chats and history through the pool ---

use tgdesk::telegram::chats::{HistoryPage, ReadError};
use tgsim::FaultSpec;

fn calls_of(app: &TestApp, method: &str) -> u64 {
    app.sim.stats().calls.get(method).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_list_and_history_are_read_once_per_ttl() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667000010", "Ada");
    let bob = sim_user(&app, "+999667000011", "Bob");
    let cy = sim_user(&app, "+999667000012", "Cy");
    for i in 0..30 {
        sim_say(&app, bob, ada, &format!("bob {i}"));
    }
    sim_say(&app, cy, ada, "hi from Cy");
    let account = log_in_live(&app, "+999667000010").await;

    let chats = app.state.chats.chats(account).await.expect("chats");
    let titles: Vec<&str> = chats.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["Cy", "Bob"], "newest activity first");
    assert_eq!(chats[1].kind, "user");
    assert_eq!(chats[1].unread_count, 30);
    assert_eq!(
        chats[1].last_message.as_ref().map(|m| m.text.as_str()),
        Some("bob 29")
    );

    let dialogs = calls_of(&app, "messages.getDialogs");
    let again = app.state.chats.chats(account).await.expect("chats");
    assert_eq!(again, chats);
    assert_eq!(
        calls_of(&app, "messages.getDialogs"),
        dialogs,
        "served from cache"
    );

    // History: newest first, then older before an id, then newer after one.
    let page = |before_id, after_id| HistoryPage {
        chat_id: bob,
        limit: 10,
        before_id,
        after_id,
    };
    let newest = app
        .state
        .chats
        .history(account, page(None, None))
        .await
        .expect("page");
    let texts: Vec<&str> = newest.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts.first(), Some(&"bob 29"));
    assert_eq!(texts.len(), 10);
    let oldest_shown = newest.last().expect("a message").id;
    let older = app
        .state
        .chats
        .history(account, page(Some(oldest_shown), None))
        .await
        .expect("older");
    assert_eq!(older.first().map(|m| m.text.as_str()), Some("bob 19"));
    assert!(older.iter().all(|m| m.id < oldest_shown));
    let newer = app
        .state
        .chats
        .history(account, page(None, Some(older[0].id)))
        .await
        .expect("newer");
    assert!(newer.iter().all(|m| m.id > older[0].id));
    assert_eq!(newer.first().map(|m| m.text.as_str()), Some("bob 20"));

    let history_calls = calls_of(&app, "messages.getHistory");
    app.state
        .chats
        .history(account, page(None, None))
        .await
        .expect("page");
    assert_eq!(
        calls_of(&app, "messages.getHistory"),
        history_calls,
        "served from cache"
    );

    let unknown = app
        .state
        .chats
        .history(
            account,
            HistoryPage {
                chat_id: 424_242,
                limit: 10,
                before_id: None,
                after_id: None,
            },
        )
        .await;
    assert!(
        matches!(unknown, Err(ReadError::UnknownChat(424_242))),
        "{unknown:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_flood_wait_is_slept_and_a_long_one_is_a_429() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667000013", "Ada");
    let bob = sim_user(&app, "+999667000014", "Bob");
    sim_say(&app, bob, ada, "hello");
    let account = log_in_live(&app, "+999667000013").await;

    app.sim
        .faults()
        .inject(FaultSpec {
            method: "messages.getDialogs".into(),
            error: Some("FLOOD_WAIT_1".into()),
            count: Some(1),
            delay_ms: None,
        })
        .expect("fault");
    let chats = app.state.chats.chats(account).await.expect("slept through");
    assert_eq!(chats.len(), 1);
    assert_eq!(
        calls_of(&app, "messages.getDialogs"),
        2,
        "asked once more, not hammered"
    );

    app.state.chats.invalidate(account);
    app.sim
        .faults()
        .inject(FaultSpec {
            method: "messages.getDialogs".into(),
            error: Some("FLOOD_WAIT_120".into()),
            count: Some(1),
            delay_ms: None,
        })
        .expect("fault");
    let err = app
        .state
        .chats
        .chats(account)
        .await
        .expect_err("too long to sleep");
    let ReadError::Telegram(m) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (m.status, m.code, m.retry_after),
        (429, "flood_wait", Some(120))
    );
    assert_eq!(
        calls_of(&app, "messages.getDialogs"),
        3,
        "no retry of a long wait"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_log_keeps_what_retention_allows() {
    use tgdesk::events::{EventKind, NewEventData};
    let app = spawn_app().await;
    let state = &app.state;
    let account = accounts::upsert_login(
        state.db.pool(),
        &LoginProfile {
            telegram_user_id: 77,
            display_name: "Ret",
            username: None,
            phone_masked: None,
            home_dc: Some(1),
        },
        tgdesk::store::now(),
    )
    .await
    .expect("account");
    let batch: Vec<NewEventData> = (0..250)
        .map(|i| NewEventData {
            kind: EventKind::MessageDeleted,
            chat_id: 0,
            message_id: i,
            message: None,
        })
        .collect();
    state
        .events
        .append(account.id, &batch)
        .await
        .expect("append");

    let pruned = state
        .events
        .prune(Duration::from_secs(86_400), 100)
        .await
        .expect("prune");
    assert_eq!(pruned, 150);
    let left = state.events.read(account.id, 0, 1000).await.expect("read");
    assert_eq!(left.len(), 100);
    assert_eq!(left[0].cursor, 151, "the newest are kept");
    assert_eq!(state.events.latest(account.id).await.expect("latest"), 250);
    app.stop().await;
}

#[test]
fn retention_and_flood_settings_are_checked() {
    use tgdesk::config::{Config, Overrides};
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        }
    };
    let ok = Config::load_from(
        None,
        &env(&[
            ("TGDESK_FLOOD_SLEEP_SECS", "2"),
            ("TGDESK_EVENTS_MAX_AGE_DAYS", "7"),
            ("TGDESK_EVENTS_MAX_PER_ACCOUNT", "500"),
        ]),
        &Overrides::default(),
    )
    .expect("valid");
    assert_eq!(ok.flood_sleep, Duration::from_secs(2));
    assert_eq!(
        (ok.events_max_age_days, ok.events_max_per_account),
        (7, 500)
    );
    let defaults = Config::load_from(None, &env(&[]), &Overrides::default()).expect("defaults");
    assert_eq!(defaults.flood_sleep, Duration::from_secs(5));
    let err = Config::load_from(
        None,
        &env(&[("TGDESK_EVENTS_MAX_PER_ACCOUNT", "lots")]),
        &Overrides::default(),
    )
    .expect_err("not a number");
    let msg = err.to_string();
    assert!(
        msg.contains("TGDESK_EVENTS_MAX_PER_ACCOUNT") && msg.contains("lots"),
        "{msg}"
    );
}
