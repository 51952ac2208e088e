//! The OpenAPI document over real HTTP: it is OpenAPI 3.1, its references
//! resolve, every documented operation is routed, no `/api` route is left
//! out of it, and the documented shapes are the ones the API answers. Also
//! the `/docs` page made from it.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TestApp, sim_say, sim_user, spawn_app};

/// Logs in over the API; returns the API token once the account is live.
pub async fn api_login(app: &TestApp, phone: &str) -> String {
    let (token, account_id) = crate::helpers::api_login(app, phone).await;
    crate::helpers::wait_connected(app, account_id).await;
    token
}

/// GET with a bearer token: status and JSON body (null if not JSON).
pub async fn get_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn document(app: &TestApp) -> Value {
    let r = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    r.json().await.expect("the document is JSON")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every (method, path) the document lists.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                out.push((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// Every `$ref` string anywhere in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().expect("$ref is a string").to_owned());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// `/api/v1/login/{flow_id}` with something in each parameter's place.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("closed") + open;
        out.push('1');
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether the router, not a handler, answered: its fallbacks say so.
async fn unrouted(r: reqwest::Response) -> Option<String> {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let fallback = status == 405
        || (status == 404
            && body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("There is nothing at")));
    fallback.then(|| format!("{status} {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_and_every_ref_resolves() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "schemas are shared by reference");
    for r in &found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is local"));
        assert!(doc.pointer(pointer).is_some(), "{r} resolves");
    }

    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let what = format!("{method} {path}");
        assert!(op["summary"].is_string(), "{what} has a summary");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{what}"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what} documents its success"
        );
        assert!(responses.contains_key("default"), "{what} documents errors");
        if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
            assert!(responses.contains_key("401"), "{what} documents 401");
            assert!(responses.contains_key("403"), "{what} documents 403");
        }
        let declared: BTreeSet<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().expect("name").to_owned())
            .collect();
        let in_path: BTreeSet<String> = path
            .split('{')
            .skip(1)
            .map(|s| s.split('}').next().expect("closed").to_owned())
            .collect();
        assert_eq!(declared, in_path, "{what}: path parameters documented");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let ops = operations(&doc);
    for expected in [
        ("get", "/api/openapi.json"),
        ("post", "/api/v1/login/phone"),
        ("get", "/api/v1/me"),
        ("delete", "/api/v1/session"),
        ("get", "/api/v1/chats/{chat_id}/messages"),
        ("get", "/api/v1/chats/{chat_id}/export"),
        ("get", "/api/v1/updates"),
        ("get", "/api/v1/events"),
    ] {
        assert!(
            ops.iter()
                .any(|(m, p)| (m.as_str(), p.as_str()) == expected),
            "{expected:?} is documented"
        );
    }
    let paths: BTreeSet<&str> = ops.iter().map(|(_, p)| p.as_str()).collect();
    for path in paths {
        let url = app.url(&concrete(path));
        for method in METHODS {
            let documented = ops.iter().any(|(m, p)| m == method && p == path);
            let request = app
                .client
                .request(method.to_uppercase().parse().expect("method"), &url)
                .timeout(Duration::from_secs(10));
            // No token: a protected route answers 401, never a stream.
            let r = request.send().await.expect("answered");
            let fallback = unrouted(r).await;
            if documented {
                assert_eq!(fallback, None, "{method} {path} is routed");
            } else {
                assert!(
                    fallback.is_some(),
                    "{method} {path} answers but is not documented"
                );
            }
        }
    }
    app.stop().await;
}

/// `.route("/api…` and the like in the service's source: a route added to
/// the router directly, bypassing the documented registration.
fn api_route_literals(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            api_route_literals(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join("");
        for call in ["route(\"", "route_service(\"", "nest(\"", "nest_service(\""] {
            for (at, _) in flat.match_indices(call) {
                let literal = &flat[at + call.len()..];
                let end = literal.find('"').expect("closed literal");
                if literal[..end].starts_with("/api") {
                    out.push(format!("{}: {}", path.display(), &literal[..end]));
                }
            }
        }
    }
}

#[test]
fn no_api_route_bypasses_the_documented_registration() {
    let mut found = Vec::new();
    api_route_literals(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(
        found.is_empty(),
        "register API routes with routes!() in an OpenApiRouter (src/api/openapi.rs), \
         so they are documented: {found:?}"
    );
}

/// The property names of a documented object schema.
fn properties(doc: &Value, schema: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{schema} is documented"))
        .keys()
        .cloned()
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_shapes_match_what_the_api_answers() {
    let app = spawn_app().await;
    let ada = sim_user(&app, "+999667100001", "Ada");
    let bob = sim_user(&app, "+999667100002", "Bob");
    sim_say(&app, bob, ada, "before login");
    let token = api_login(&app, "+999667100001").await;
    let doc = document(&app).await;

    let (_, me) = get_json(&app, &token, "/api/v1/me").await;
    assert_eq!(keys(&me), properties(&doc, "Account"));
    let (_, session) = get_json(&app, &token, "/api/v1/session").await;
    assert_eq!(keys(&session), properties(&doc, "SessionInfo"));
    let (_, tokens) = get_json(&app, &token, "/api/v1/tokens").await;
    assert_eq!(keys(&tokens["tokens"][0]), properties(&doc, "Token"));

    let (_, chats) = get_json(&app, &token, "/api/v1/chats").await;
    assert_eq!(keys(&chats), properties(&doc, "ChatsAnswer"));
    let chat = &chats["chats"][0];
    assert_eq!(keys(chat), properties(&doc, "Chat"));
    assert_eq!(keys(&chat["last_message"]), properties(&doc, "Message"));
    assert_eq!(
        keys(&chat["last_message"]["sender"]),
        properties(&doc, "Sender")
    );

    let since = {
        let (_, u) = get_json(&app, &token, "/api/v1/updates").await;
        u["next"].as_i64().expect("next")
    };
    sim_say(&app, bob, ada, "after login");
    let (_, updates) = get_json(
        &app,
        &token,
        &format!("/api/v1/updates?since={since}&timeout=10"),
    )
    .await;
    assert_eq!(keys(&updates), properties(&doc, "UpdatesAnswer"));
    assert_eq!(keys(&updates["events"][0]), properties(&doc, "Event"));

    let r = app
        .client
        .get(app.url("/api/v1/chats/abc/messages"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    let error: Value = r.json().await.expect("json");
    assert_eq!(keys(&error), properties(&doc, "ApiError"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_describes_every_operation_offline() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let r = app.client.get(app.url("/docs")).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("html");

    for (method, path) in operations(&doc) {
        let heading = format!("<code>{} {path}</code>", method.to_uppercase());
        assert!(page.contains(&heading), "{heading} is on the page");
        // Up to any `code` span, which the page marks up.
        let summary = doc["paths"][&path][&method]["summary"]
            .as_str()
            .expect("summary")
            .split('`')
            .next()
            .unwrap_or("")
            .replace('\'', "&#39;");
        assert!(page.contains(&summary), "{method} {path}: {summary}");
    }
    // Examples, auth, schemas with their fields.
    assert!(
        page.contains("curl -s -X POST &#34;http://127.0.0.1:"),
        "curl examples"
    );
    assert!(
        page.contains("-d &#39;{&#34;phone&#34;:"),
        "a request body example"
    );
    assert!(page.contains("Needs a token."));
    assert!(page.contains("id=\"schema-Message\""));
    assert!(page.contains("<code>reply_to_id</code>"));
    assert!(page.contains("text/event-stream"));
    // Nothing loaded from elsewhere: it works offline.
    for attr in ["src=\"", "href=\""] {
        for (at, _) in page.match_indices(attr) {
            let target = &page[at + attr.len()..];
            assert!(
                target.starts_with('/') || target.starts_with('#'),
                "{attr}{} is on this site",
                &target[..target.find('"').unwrap_or(target.len()).min(60)]
            );
        }
    }

    let home = app.client.get(app.url("/")).send().await.expect("GET");
    let home = home.text().await.expect("html");
    assert!(
        home.contains("href=\"/docs\""),
        "the home page links to /docs"
    );
    app.stop().await;
}
