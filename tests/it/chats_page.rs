//! The `/chats` page over real HTTP against tgsim, as a browser without
//! JavaScript reads it: the chat list, a chat's messages, older history,
//! escaping, errors in the page, the cache, and the live event stream the
//! page's script follows.

use std::time::Duration;

use tgdesk::store::accounts;

use crate::helpers::{TestApp, sim_say, sim_user, spawn_app, telegram_calls};
use crate::login_support::{code_of, fault, form, login_csrf, page};

/// Logs in by phone and code through the pages (the client keeps the
/// session cookie), then waits until the account is connected.
async fn log_in(app: &TestApp, phone: &str) {
    let csrf = login_csrf(app).await;
    let (status, location, body) =
        form(app, "/login/phone", &[("csrf", &csrf), ("phone", phone)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login/code")),
        "{body}"
    );
    let code = code_of(app, phone);
    let (status, location, body) =
        form(app, "/login/code", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/chats")),
        "{body}"
    );
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, _, body) = page(app, "/chats").await;
            if body.contains("id=\"connection\">connected<") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the account connects");
}

/// The page's messages, top to bottom, by their text.
fn position(body: &str, text: &str) -> usize {
    body.find(&format!("<span class=\"text\">{text}</span>"))
        .unwrap_or_else(|| panic!("{text} is on the page"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_page_lists_chats_and_reads_history_without_javascript() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999669000001", "Ada");
    let bob = sim_user(&app, "+999669000002", "Bob Builder");
    let cy = sim_user(&app, "+999669000003", "Cy");
    for i in 0..60 {
        sim_say(&app, bob, ada, &format!("note {i:02}."));
    }
    sim_say(&app, cy, ada, "hello from cy");
    log_in(&app, "+999669000001").await;

    let (status, _, list) = page(&app, "/chats").await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains("Bob Builder") && list.contains("Cy"),
        "{list}"
    );
    assert!(list.contains(">BB</span>"), "initials avatar: {list}");
    assert!(list.contains(&format!("href=\"/chats?chat={bob}\"")));
    assert!(list.contains("title=\"unread messages\">60<"), "{list}");
    assert!(list.contains("title=\"unread messages\">1<"), "{list}");
    assert!(list.contains("hello from cy"), "last message preview");
    assert!(
        list.find("Cy").expect("Cy") < list.find("Bob Builder").expect("Bob"),
        "newest activity first"
    );
    assert!(
        list.contains("action=\"/logout\""),
        "logout stays on the page"
    );

    let (status, _, chat) = page(&app, &format!("/chats?chat={bob}")).await;
    assert_eq!(status, 200, "{chat}");
    assert!(!chat.contains("note 09."), "only the newest page");
    assert!(
        position(&chat, "note 10.") < position(&chat, "note 59."),
        "oldest at the top"
    );
    let marker = "id=\"older\"";
    assert!(chat.contains(marker), "{chat}");
    let start = chat.find(&format!("href=\"/chats?chat={bob}&#38;before="));
    let start = start.expect("an older link") + "href=\"".len();
    let end = start + chat[start..].find('"').expect("quote");
    let older_url = chat[start..end].replace("&#38;", "&");

    let (status, _, older) = page(&app, &older_url).await;
    assert_eq!(status, 200, "{older}");
    assert!(position(&older, "note 00.") < position(&older, "note 09."));
    assert!(!older.contains("note 10."), "{older}");
    assert!(
        !older.contains(marker),
        "nothing older than the first message"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_text_is_escaped_and_a_repeat_load_costs_no_telegram_call() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999669000011", "Ada");
    let eve = sim_user(&app, "+999669000012", "Eve <b>");
    sim_say(&app, eve, ada, "<script>alert('x')</script>");
    log_in(&app, "+999669000011").await;

    let path = format!("/chats?chat={eve}");
    let (status, _, body) = page(&app, &path).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(!body.contains("Eve <b>"), "{body}");
    assert!(body.contains("&#60;script&#62;alert("), "{body}");
    assert!(body.contains("Eve &#60;b&#62;"), "{body}");

    let before = telegram_calls(&app);
    let (status, _, again) = page(&app, &path).await;
    assert_eq!(status, 200);
    assert!(again.contains("&#60;script&#62;alert("));
    assert_eq!(telegram_calls(&app), before, "served from the cache");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_errors_show_in_the_page_not_as_a_500() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999669000021", "Ada");
    let bob = sim_user(&app, "+999669000022", "Bob");
    sim_say(&app, bob, ada, "hi");
    log_in(&app, "+999669000021").await;
    let account = accounts::get_by_telegram_id(app.state.db.pool(), ada)
        .await
        .expect("read")
        .expect("stored");
    app.state.chats.invalidate(account.id);
    fault(&app, "messages.getDialogs", "FLOOD_WAIT_600", 1);

    let (status, _, body) = page(&app, "/chats").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"list-error\""), "{body}");
    assert!(body.contains("action=\"/logout\""));

    let (status, _, body) = page(&app, "/chats?chat=424242").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"chat-error\""), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_messages_arrive_on_the_page_event_stream() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999669000031", "Ada");
    let bob = sim_user(&app, "+999669000032", "Bob");
    log_in(&app, "+999669000031").await;

    let (_, _, body) = page(&app, &format!("/chats?chat={bob}")).await;
    assert!(
        body.contains("data-events-url=\"/chats/events?since="),
        "{body}"
    );
    let mut stream = app
        .client
        .get(app.url("/chats/events"))
        .send()
        .await
        .expect("GET");
    assert_eq!(stream.status(), 200);
    assert!(
        stream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    sim_say(&app, bob, ada, "live <now>");
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !text.contains("data:") || !text.contains("\n\n") {
            let chunk = stream.chunk().await.expect("chunk").expect("open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the event arrives");
    assert!(text.contains("event: message_new"), "{text}");
    assert!(text.contains("live <now>"), "{text}");
    assert!(text.contains(&format!("\"chat_id\":{bob}")), "{text}");

    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let refused = anonymous
        .get(app.url("/chats/events"))
        .send()
        .await
        .expect("GET");
    assert_ne!(refused.status(), 200, "needs the session cookie");
    drop(stream);
    app.stop().await;
}
