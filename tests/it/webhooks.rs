//! Signed webhooks against a real local HTTP receiver (axum on 127.0.0.1:0):
//! signatures, cursor order, retries, give-ups, a dead or hanging receiver
//! beside a healthy one, a restart, pausing and logout. `webhooks_api` has
//! the API's errors, the page and the store.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;
use tgdesk::events::{EventKind, MessageView, NewEventData};
use tokio::sync::watch;

pub(crate) use crate::helpers::api_login;
use crate::helpers::{TestApp, sim_say, sim_user, spawn_app, spawn_app_with};

// --- A receiver ---

/// How the receiver answers a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Status(u16),
    /// Never answers.
    Hang,
}

/// One request the receiver got, and what it answered (`None`: it hung).
pub(crate) struct Hit {
    headers: HeaderMap,
    body: Bytes,
    answered: Option<u16>,
}

impl Hit {
    fn cursor(&self) -> i64 {
        self.json()["cursor"].as_i64().expect("a cursor")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn ok(&self) -> bool {
        self.answered.is_some_and(|s| (200..300).contains(&s))
    }
}

#[derive(Default)]
struct Plan {
    /// Answers for the next requests, in order; then `then`.
    script: Vec<Answer>,
    then: Option<Answer>,
}

pub(crate) struct Receiver {
    pub(crate) url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    plan: Arc<Mutex<Plan>>,
    count: watch::Receiver<usize>,
}

#[derive(Clone)]
struct Shared {
    hits: Arc<Mutex<Vec<Hit>>>,
    plan: Arc<Mutex<Plan>>,
    count: Arc<watch::Sender<usize>>,
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let answer = {
        let mut plan = s.plan.lock().expect("plan");
        if plan.script.is_empty() {
            plan.then.unwrap_or(Answer::Status(200))
        } else {
            plan.script.remove(0)
        }
    };
    let answered = match answer {
        Answer::Status(code) => Some(code),
        Answer::Hang => None,
    };
    s.hits.lock().expect("hits").push(Hit {
        headers,
        body,
        answered,
    });
    s.count.send_modify(|n| *n += 1);
    match answered {
        Some(code) => StatusCode::from_u16(code).expect("status"),
        None => std::future::pending().await,
    }
}

/// A receiver on 127.0.0.1:<random port> that answers 200 unless told
/// otherwise.
pub(crate) async fn receiver() -> Receiver {
    let (tx, count) = watch::channel(0);
    let shared = Shared {
        hits: Arc::default(),
        plan: Arc::default(),
        count: Arc::new(tx),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = axum::Router::new()
        // Any path: a URL may carry the receiver's own path and query.
        .fallback(receive)
        .with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Receiver {
        url: format!("http://{addr}/hook"),
        hits: shared.hits,
        plan: shared.plan,
        count,
    }
}

impl Receiver {
    pub(crate) fn script(&self, script: Vec<Answer>, then: Answer) {
        let mut plan = self.plan.lock().expect("plan");
        plan.script = script;
        plan.then = Some(then);
    }

    /// Waits until `done` holds for the requests so far.
    pub(crate) async fn wait_until(&self, what: &str, done: impl Fn(&[Hit]) -> bool) {
        let mut count = self.count.clone();
        let waited = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                count.borrow_and_update();
                if done(&self.hits.lock().expect("hits")) {
                    return;
                }
                count.changed().await.expect("receiver alive");
            }
        })
        .await;
        assert!(waited.is_ok(), "the receiver never got {what}");
    }

    /// The cursors the receiver acknowledged (2xx), in arrival order.
    pub(crate) fn delivered(&self) -> Vec<i64> {
        let hits = self.hits.lock().expect("hits");
        hits.iter().filter(|h| h.ok()).map(Hit::cursor).collect()
    }

    /// The cursor of every request, acknowledged or not.
    fn attempts(&self) -> Vec<i64> {
        let hits = self.hits.lock().expect("hits");
        hits.iter().map(Hit::cursor).collect()
    }

    fn len(&self) -> usize {
        self.hits.lock().expect("hits").len()
    }
}

pub(crate) fn acknowledged(n: usize) -> impl Fn(&[Hit]) -> bool {
    move |hits| hits.iter().filter(|h| h.ok()).count() >= n
}

/// The signature a receiver computes to check a request.
fn expected_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

// --- The API ---

/// An API call; (status, JSON body or null).
pub(crate) async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app.client.request(method, app.url(path));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Registers a webhook; returns (id, secret).
pub(crate) async fn register(app: &TestApp, token: &str, url: &str) -> (i64, String) {
    let (status, created) = call(
        app,
        token,
        "POST",
        "/api/v1/webhooks",
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    (created["id"].as_i64().expect("id"), secret)
}

/// Polls `GET /api/v1/webhooks/{id}` until `done` holds; returns it.
async fn webhook_until(
    app: &TestApp,
    token: &str,
    id: i64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/api/v1/webhooks/{id}");
    let found = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let (status, hook) = call(app, token, "GET", &path, None).await;
            assert_eq!(status, 200, "{hook}");
            if done(&hook) {
                return hook;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("webhook {id} never showed {what}"))
}

/// Appends new messages to an account's event log, as its live client
/// does; returns their cursors.
async fn append(app: &TestApp, account: i64, texts: &[&str]) -> Vec<i64> {
    let new: Vec<NewEventData> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let id = i32::try_from(i).expect("small") + 1;
            NewEventData {
                kind: EventKind::MessageNew,
                chat_id: 777,
                message_id: id,
                message: Some(MessageView {
                    id,
                    chat_id: 777,
                    sender: None,
                    date: 1_700_000_000,
                    text: (*text).to_owned(),
                    edit_date: None,
                    reply_to_id: None,
                    media_kind: None,
                    outgoing: false,
                }),
            }
        })
        .collect();
    app.state
        .events
        .append(account, &new)
        .await
        .expect("append")
}

// --- The tests ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_signed_in_cursor_order_as_the_updates_api_shows_them() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999671000001", "Ada");
    let bob = sim_user(&app, "+999671000002", "Bob");
    let (token, account) = api_login(&app, "+999671000001").await;
    // Something happened before the webhook existed: it is not sent.
    let before = append(&app, account, &["before the webhook"]).await[0];
    let hook = receiver().await;
    let (id, secret) = register(&app, &token, &hook.url).await;
    assert!(secret.starts_with("whsec_"));

    for text in ["one", "two", "three"] {
        sim_say(&app, bob, ada, text);
    }
    hook.wait_until("three messages", acknowledged(3)).await;

    let hits = std::mem::take(&mut *hook.hits.lock().expect("hits"));
    let now = tgdesk::store::now();
    let mut cursors = Vec::new();
    for hit in &hits {
        let timestamp = hit.headers["x-tgdesk-timestamp"].to_str().expect("ascii");
        let sent: i64 = timestamp.parse().expect("Unix seconds");
        assert!(
            (now - 60..=now).contains(&sent),
            "a current timestamp: {sent}"
        );
        assert_eq!(
            hit.headers["x-tgdesk-signature"].to_str().expect("ascii"),
            expected_signature(&secret, timestamp, &hit.body),
            "the signature checks out"
        );
        assert_eq!(hit.headers["content-type"], "application/json");
        assert_eq!(hit.headers["x-tgdesk-event"], "message_new");
        cursors.push(hit.cursor());
    }
    let texts: Vec<Value> = hits
        .iter()
        .map(|h| h.json()["message"]["text"].clone())
        .collect();
    assert_eq!(texts, [json!("one"), json!("two"), json!("three")]);
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "cursor order: {cursors:?}"
    );
    assert!(cursors[0] > before, "only events after registration");

    // The body is exactly what GET /api/v1/updates answers for the event.
    let (_, updates) = call(
        &app,
        &token,
        "GET",
        &format!("/api/v1/updates?since={before}"),
        None,
    )
    .await;
    let events: Vec<Value> = updates["events"].as_array().expect("events").clone();
    let bodies: Vec<Value> = hits.iter().map(Hit::json).collect();
    assert_eq!(bodies, events);

    let shown = webhook_until(&app, &token, id, "nothing pending", |h| h["pending"] == 0).await;
    assert!(shown["last_success_at"].is_i64(), "{shown}");
    assert_eq!(shown["last_error"], Value::Null);
    assert_eq!(shown["delivered_cursor"], json!(cursors[2]));
    let (_, list) = call(&app, &token, "GET", "/api/v1/webhooks", None).await;
    assert_eq!(list["webhooks"][0]["url"], json!(hook.url));
    for text in [list.to_string(), shown.to_string()] {
        assert!(
            !text.contains(&secret),
            "the secret is shown once (not printed: it stays out of test output)"
        );
        assert!(
            !text.contains("\"secret\""),
            "no secret field after creation"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_three_times_gets_every_event_in_order() {
    let app = spawn_app_with(&[("TGDESK_WEBHOOK_BACKOFF_MS", "10")]).await;
    sim_user(&app, "+999671000011", "Ada");
    let (token, account) = api_login(&app, "+999671000011").await;
    let hook = receiver().await;
    hook.script(vec![Answer::Status(503); 3], Answer::Status(200));
    let (id, _) = register(&app, &token, &hook.url).await;

    let cursors = append(&app, account, &["a", "b", "c", "d"]).await;
    hook.wait_until("four acknowledged events", acknowledged(4))
        .await;

    let first = cursors[0];
    assert_eq!(
        hook.attempts(),
        [
            first, first, first, first, cursors[1], cursors[2], cursors[3]
        ],
        "the first event is retried until it lands, and nothing overtakes it"
    );
    assert_eq!(hook.delivered(), cursors);
    let shown = webhook_until(&app, &token, id, "nothing pending", |h| h["pending"] == 0).await;
    assert_eq!(shown["attempts"], 0);
    assert_eq!(shown["failing_since"], Value::Null);
    assert_eq!(shown["last_error"], "the receiver answered HTTP 503");
    assert!(shown["last_success_at"].as_i64() >= shown["last_error_at"].as_i64());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_or_hanging_receiver_delays_neither_another_webhook_nor_the_updates_api() {
    let app = spawn_app_with(&[
        ("TGDESK_WEBHOOK_BACKOFF_MS", "10"),
        ("TGDESK_WEBHOOK_TIMEOUT_SECS", "30"),
    ])
    .await;
    sim_user(&app, "+999671000021", "Ada");
    let (token, account) = api_login(&app, "+999671000021").await;
    let hanging = receiver().await;
    hanging.script(Vec::new(), Answer::Hang);
    let dead_url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/gone", listener.local_addr().expect("addr"))
    };
    let healthy = receiver().await;
    let (hanging_id, _) = register(&app, &token, &hanging.url).await;
    let (dead_id, _) = register(&app, &token, &dead_url).await;
    register(&app, &token, &healthy.url).await;

    let started = Instant::now();
    let cursors = append(&app, account, &["1", "2", "3", "4", "5"]).await;
    let (status, updates) = call(
        &app,
        &token,
        "GET",
        &format!("/api/v1/updates?since={}", cursors[0] - 1),
        None,
    )
    .await;
    assert_eq!(
        (status, updates["events"].as_array().map(Vec::len)),
        (200, Some(5))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the log and the API are not held up"
    );
    healthy.wait_until("five events", acknowledged(5)).await;
    // The hanging receiver's request may only time out after 30 s.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the healthy webhook did not wait for the others: {:?}",
        started.elapsed()
    );
    assert_eq!(healthy.delivered(), cursors);

    let dead = webhook_until(&app, &token, dead_id, "a connection error", |h| {
        h["last_error"].is_string()
    })
    .await;
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("cannot connect")),
        "{dead}"
    );
    assert_eq!(dead["pending"], 5);
    assert!(dead["attempts"].as_i64() >= Some(1));
    assert!(dead["failing_since"].is_i64());
    assert_eq!(dead["last_success_at"], Value::Null);
    let (_, stuck) = call(
        &app,
        &token,
        "GET",
        &format!("/api/v1/webhooks/{hanging_id}"),
        None,
    )
    .await;
    assert_eq!(stuck["pending"], 5, "{stuck}");
    assert_eq!(
        hanging.len(),
        1,
        "one request, still waiting for its answer"
    );

    // Shutting down does not wait for the hanging request.
    let stopping = Instant::now();
    app.state.webhooks.shutdown().await;
    assert!(stopping.elapsed() < Duration::from_secs(3));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_a_restart_without_losing_events() {
    let app = spawn_app_with(&[("TGDESK_WEBHOOK_BACKOFF_MS", "10")]).await;
    sim_user(&app, "+999671000031", "Ada");
    let (token, account) = api_login(&app, "+999671000031").await;
    let hook = receiver().await;
    let (id, _) = register(&app, &token, &hook.url).await;
    let mut cursors = append(&app, account, &["a", "b"]).await;
    hook.wait_until("two events", acknowledged(2)).await;

    // The receiver goes down; two more events wait for it.
    hook.script(Vec::new(), Answer::Status(500));
    cursors.extend(append(&app, account, &["c", "d"]).await);
    let third = cursors[2];
    hook.wait_until("a failed attempt", |hits| {
        hits.iter().any(|h| h.cursor() == third)
    })
    .await;

    let app = app.restart().await;
    hook.script(Vec::new(), Answer::Status(200));
    cursors.extend(append(&app, account, &["e"]).await);
    hook.wait_until("every event", acknowledged(5)).await;

    let mut delivered = hook.delivered();
    assert!(
        delivered.windows(2).all(|w| w[0] <= w[1]),
        "in order: {delivered:?}"
    );
    delivered.dedup();
    assert_eq!(delivered, cursors, "nothing lost");
    let shown = webhook_until(&app, &token, id, "nothing pending", |h| h["pending"] == 0).await;
    assert_eq!(shown["delivered_cursor"], json!(cursors[4]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_retry_window_an_event_is_given_up_and_the_next_is_sent() {
    let app = spawn_app_with(&[("TGDESK_WEBHOOK_RETRY_SECS", "0")]).await;
    sim_user(&app, "+999671000041", "Ada");
    let (token, account) = api_login(&app, "+999671000041").await;
    let hook = receiver().await;
    hook.script(Vec::new(), Answer::Status(500));
    let (id, _) = register(&app, &token, &hook.url).await;

    let lost = append(&app, account, &["lost 1", "lost 2"]).await;
    let shown = webhook_until(&app, &token, id, "both events given up", |h| {
        h["delivered_cursor"] == json!(lost[1])
    })
    .await;
    assert_eq!(shown["pending"], 0);
    assert_eq!(
        shown["last_error"],
        json!(format!(
            "gave up on event {} after 1 attempt: the receiver answered HTTP 500",
            lost[1]
        ))
    );
    assert_eq!(hook.attempts(), lost, "one attempt each");

    hook.script(Vec::new(), Answer::Status(200));
    let next = append(&app, account, &["back"]).await;
    hook.wait_until("the next event", acknowledged(1)).await;
    assert_eq!(hook.delivered(), next);
    let shown = webhook_until(&app, &token, id, "a success", |h| {
        h["last_success_at"].is_i64()
    })
    .await;
    assert_eq!(shown["failing_since"], Value::Null);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_webhooks_keep_their_place_and_logging_out_stops_delivery() {
    let app = spawn_app().await;
    sim_user(&app, "+999671000051", "Ada");
    let (token, account) = api_login(&app, "+999671000051").await;
    let hook = receiver().await;
    let (id, _) = register(&app, &token, &hook.url).await;
    assert!(app.state.webhooks.is_running(id));

    let path = format!("/api/v1/webhooks/{id}");
    let (status, paused) = call(
        &app,
        &token,
        "PATCH",
        &path,
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(
        (status, &paused["enabled"]),
        (200, &json!(false)),
        "{paused}"
    );
    assert!(!app.state.webhooks.is_running(id));
    let missed = append(&app, account, &["while paused"]).await;
    let (_, shown) = call(&app, &token, "GET", &path, None).await;
    assert_eq!(shown["pending"], 1);
    let (status, _) = call(
        &app,
        &token,
        "PATCH",
        &path,
        Some(json!({ "enabled": true })),
    )
    .await;
    assert_eq!(status, 200);
    hook.wait_until("the event from the pause", acknowledged(1))
        .await;
    assert_eq!(hook.delivered(), missed);

    // Logging out ends delivery: what the log records afterwards is not sent.
    let (status, _) = call(&app, &token, "DELETE", "/api/v1/session", None).await;
    assert_eq!(status, 200);
    append(&app, account, &["after logout"]).await;
    let stopped = tokio::time::timeout(Duration::from_secs(10), async {
        while app.state.webhooks.is_running(id) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(stopped.is_ok(), "delivery stops for a logged-out account");
    assert_eq!(hook.len(), 1, "nothing sent after logout");
    app.stop().await;
}
