//! `/metrics` as Prometheus scrapes it from the real binary: on its own
//! listener only, counting HTTP requests by route, Telegram calls by method
//! and error, FLOOD_WAIT seconds, login attempts by outcome, and showing
//! the accounts by state.

use serde_json::json;

use crate::logs::{Binary, ExternalSim, api_login, block_on, connected};

/// The value of the sample of `name` whose labels include every `labels`
/// pair, if there is one.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_requests_telegram_calls_logins_and_accounts() {
    let sim = ExternalSim::start();
    let phone = "+999667200001";
    sim.account(phone, "Ada", None);
    let mut binary = Binary::serve(
        &sim,
        &[
            ("TGDESK_METRICS_LISTEN", "127.0.0.1:0"),
            ("TGDESK_LOG", "info"),
        ],
    );
    let metrics_url = crate::logs::address_in(&binary.wait_for("metrics on http://"));
    assert!(metrics_url.ends_with("/metrics"), "{metrics_url}");
    let http = reqwest::Client::new();
    let scraped = block_on(async {
        // Before anything happened: the series alerts are written against exist.
        let before = http.get(&metrics_url).send().await.expect("scrape");
        assert_eq!(before.status(), 200);
        assert!(
            before.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/plain"),
        );
        let before = before.text().await.expect("text");
        assert_eq!(
            sample(
                &before,
                "tgdesk_webhook_deliveries_total",
                &[("outcome", "gave_up")]
            ),
            Some(0.0),
            "{before}"
        );
        assert_eq!(
            sample(&before, "tgdesk_event_log_events", &[]),
            Some(0.0),
            "the event log's size, from the database: {before}"
        );

        // A wrong code, then the right one.
        let started: serde_json::Value = http
            .post(binary.url("/api/v1/login/phone"))
            .json(&json!({ "phone": phone }))
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("json");
        let flow = started["flow_id"].as_str().expect("flow");
        let wrong = if sim.code(phone) == "00000" {
            "11111"
        } else {
            "00000"
        };
        let r = http
            .post(binary.url(&format!("/api/v1/login/{flow}/code")))
            .json(&json!({ "code": wrong }))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 400);
        http.delete(binary.url(&format!("/api/v1/login/{flow}")))
            .send()
            .await
            .expect("DELETE");
        let token = api_login(&http, &binary.base, &sim, phone, None).await;
        connected(&http, &binary.base, &token).await;

        // The chat list, once after a short FLOOD_WAIT (slept through).
        sim.sim
            .faults()
            .inject(tgsim::FaultSpec {
                method: "messages.getDialogs".into(),
                error: Some("FLOOD_WAIT_1".into()),
                count: Some(1),
                delay_ms: None,
            })
            .expect("fault");
        let chats = http
            .get(binary.url("/api/v1/chats"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET");
        assert_eq!(chats.status(), 200);
        let missing = http
            .get(binary.url("/no/such/page"))
            .send()
            .await
            .expect("GET");
        assert_eq!(missing.status(), 404);

        // The public listener does not serve metrics.
        let public = http.get(binary.url("/metrics")).send().await.expect("GET");
        assert_eq!(public.status(), 404);

        http.get(&metrics_url)
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text")
    });

    let has = |name: &str, labels: &[(&str, &str)]| -> f64 {
        sample(&scraped, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{scraped}"))
    };
    assert_eq!(
        has(
            "tgdesk_http_requests_total",
            &[
                ("method", "GET"),
                ("route", "/api/v1/chats"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert!(
        has(
            "tgdesk_http_requests_total",
            &[("route", "/api/v1/login/{flow_id}/code"), ("status", "400")]
        ) >= 1.0,
        "routes are patterns, not paths"
    );
    assert_eq!(
        has(
            "tgdesk_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        2.0,
        "/no/such/page and the public /metrics"
    );
    assert!(
        has(
            "tgdesk_http_request_duration_seconds_count",
            &[("route", "/api/v1/chats")]
        ) >= 1.0
    );
    assert!(!scraped.contains("/no/such/page"), "no raw paths");
    // Telegram calls by method and error, and the FLOOD_WAIT.
    assert_eq!(
        has(
            "tgdesk_telegram_calls_total",
            &[("method", "messages.getDialogs"), ("error", "FLOOD_WAIT")]
        ),
        1.0
    );
    assert_eq!(
        has(
            "tgdesk_telegram_calls_total",
            &[("method", "messages.getDialogs"), ("error", "ok")]
        ),
        1.0
    );
    assert_eq!(
        has(
            "tgdesk_telegram_calls_total",
            &[("method", "auth.signIn"), ("error", "PHONE_CODE_INVALID")]
        ),
        1.0
    );
    assert!(
        has(
            "tgdesk_telegram_calls_total",
            &[("method", "auth.sendCode"), ("error", "ok")]
        ) >= 2.0
    );
    assert_eq!(
        has(
            "tgdesk_telegram_flood_wait_seconds_total",
            &[("method", "messages.getDialogs")]
        ),
        1.0
    );
    assert_eq!(has("tgdesk_telegram_flood_sleep_seconds_total", &[]), 1.0);
    // Login attempts by outcome.
    assert_eq!(
        has(
            "tgdesk_login_attempts_total",
            &[("method", "phone"), ("outcome", "success")]
        ),
        1.0
    );
    assert!(
        has(
            "tgdesk_login_attempts_total",
            &[("method", "phone"), ("outcome", "code_invalid")]
        ) >= 1.0
    );
    // Accounts by state and connection, computed at the scrape.
    assert_eq!(has("tgdesk_accounts", &[("state", "active")]), 1.0);
    assert_eq!(has("tgdesk_accounts", &[("state", "revoked")]), 0.0);
    assert_eq!(
        has("tgdesk_live_accounts", &[("connection", "connected")]),
        1.0
    );
    assert!(scraped.contains("# HELP tgdesk_telegram_calls_total"));
    let lines = binary.stop();
    assert!(
        lines.iter().any(|(_, l)| l.contains("metrics on http://")),
        "the metrics address is logged"
    );
}
