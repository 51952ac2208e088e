//! The `tgsim` binary and its control API, over real HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Proc, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tgsim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tgsim starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a ready line");
    let ready: Value = serde_json::from_str(line.trim()).expect("the ready line is JSON");
    (Proc(child), ready)
}

#[tokio::test]
async fn the_binary_prints_a_ready_line_and_serves_the_control_api() {
    let (_proc, ready) = start(&[
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--dcs",
        "3",
    ]);
    let control = ready["control"].as_str().expect("control address");
    let dcs = ready["dcs"].as_array().expect("dcs");
    assert_eq!(dcs.len(), 3);
    assert_eq!(dcs[0]["id"], 1);
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://{control}{p}");

    let listed: Value = http
        .get(url("/dcs"))
        .send()
        .await
        .expect("GET /dcs")
        .json()
        .await
        .expect("json");
    assert_eq!(&listed["dcs"], &ready["dcs"]);

    // A key made by tgsim, and one brought by the client.
    let made: Value = http
        .post(url("/auth-keys"))
        .json(&json!({ "dc_id": 2 }))
        .send()
        .await
        .expect("POST /auth-keys")
        .json()
        .await
        .expect("json");
    assert_eq!(made["dc_id"], 2);
    assert_eq!(made["auth_key"].as_str().map(str::len), Some(512));
    let brought = "ab".repeat(256);
    let r = http
        .post(url("/auth-keys"))
        .json(&json!({ "dc_id": 1, "auth_key": brought }))
        .send()
        .await
        .expect("POST /auth-keys");
    assert_eq!(r.status(), 200);
    let r = http
        .post(url("/auth-keys"))
        .json(&json!({ "dc_id": 9 }))
        .send()
        .await
        .expect("POST /auth-keys");
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.expect("json");
    assert!(
        err["error"]
            .as_str()
            .expect("message")
            .contains("data centre"),
        "{err}"
    );

    // The demo world is there; a new account can be added.
    let accounts: Value = http
        .get(url("/accounts"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert!(
        accounts["accounts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    let created: Value = http
        .post(url("/accounts"))
        .json(&json!({ "phone": "+999663000001", "first_name": "Dee" }))
        .send()
        .await
        .expect("POST /accounts")
        .json()
        .await
        .expect("json");
    assert!(created["user_id"].as_i64().is_some(), "{created}");

    // No code was sent yet: a clear 404.
    let r = http
        .get(url("/codes/+999663000001"))
        .send()
        .await
        .expect("GET /codes");
    assert_eq!(r.status(), 404);

    // Malformed input: our error format, never a crash.
    let r = http
        .post(url("/faults"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST /faults");
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.expect("json error body");
    assert!(err["error"].is_string());
    let r = http
        .post(url("/faults"))
        .json(&json!({ "method": "messages.getHistory", "error": "FLOOD_WAIT_3", "count": 2 }))
        .send()
        .await
        .expect("POST /faults");
    assert_eq!(r.status(), 200);
    let r = http
        .delete(url("/faults"))
        .send()
        .await
        .expect("DELETE /faults");
    assert_eq!(r.status(), 200);

    let stats: Value = http
        .get(url("/stats"))
        .send()
        .await
        .expect("GET /stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["connections"], 0);
    assert!(stats["calls"].is_object());
    let r = http.get(url("/nope")).send().await.expect("GET");
    assert_eq!(r.status(), 404);
}

#[test]
fn a_bad_world_file_is_a_clear_start_up_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_tgsim"))
        .args(["--world", "/nonexistent/world.json"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read world file"), "{stderr}");
}
