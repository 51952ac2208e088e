//! The real `tgdesk` binary's logs, as an operator collects them: in JSON
//! every line is one object and every request line carries its request id.
//!
//! Also the harness the binary-level operator tests share ([`Binary`],
//! [`ExternalSim`]): a tgsim served from a thread of its own, whose control
//! API notes every auth key it hands out, and `tgdesk serve` pointed at it
//! with every line it writes kept.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use serde_json::{Value, json};
use tgdesk::vault::VaultKey;
use tokio::sync::oneshot;

use crate::helpers::TestDir;

const BIN: &str = env!("CARGO_BIN_EXE_tgdesk");
const WAIT: Duration = Duration::from_secs(60);

type Keys = Arc<Mutex<Vec<String>>>;

/// A tgsim with its control API on a free port, running on a runtime of its
/// own (the binary under test reaches it over TCP, the test through `sim`).
pub struct ExternalSim {
    pub sim: tgsim::Sim,
    /// `host:port` of the control API, for `TGDESK_TELEGRAM_SIM`.
    pub control: String,
    keys: Keys,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Notes the auth key of every `POST /auth-keys` answer.
async fn note_keys(State(keys): State<Keys>, request: Request, next: Next) -> Response {
    let is_key = request.uri().path() == "/auth-keys";
    let response = next.run(request).await;
    if !is_key {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("the control API's answer");
    if let Ok(answer) = serde_json::from_slice::<Value>(&bytes)
        && let Some(key) = answer["auth_key"].as_str()
    {
        keys.lock().expect("keys").push(key.to_owned());
    }
    Response::from_parts(parts, Body::from(bytes))
}

impl ExternalSim {
    /// An empty world on two data centres.
    pub fn start() -> Self {
        let keys = Keys::default();
        let noted = Arc::clone(&keys);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let sim = tgsim::Sim::start(tgsim::SimConfig {
                    world: tgsim::WorldSpec::empty(),
                    ..tgsim::SimConfig::default()
                })
                .await
                .expect("tgsim starts");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr").to_string();
                let router =
                    tgsim::control::router(sim.clone()).layer(from_fn_with_state(noted, note_keys));
                ready_tx.send((sim.clone(), addr)).expect("ready");
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
                sim.shutdown();
            });
        });
        let (sim, control) = ready_rx.recv().expect("the simulator starts");
        Self {
            sim,
            control,
            keys,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every auth key the simulator handed out so far (512 hex characters).
    pub fn auth_keys(&self) -> Vec<String> {
        self.keys.lock().expect("keys").clone()
    }

    /// A Telegram account; `password` turns on two-step verification.
    pub fn account(&self, phone: &str, name: &str, password: Option<&str>) -> i64 {
        self.sim
            .world()
            .create_account(tgsim::world::NewAccount {
                phone: phone.into(),
                first_name: name.into(),
                last_name: None,
                username: None,
                password: password.map(str::to_owned),
                password_hint: password.map(|_| "the usual".to_owned()),
                home_dc: Some(1),
            })
            .expect("account")
    }

    pub fn code(&self, phone: &str) -> String {
        self.sim.world().last_code(phone).expect("a code was sent")
    }
}

impl Drop for ExternalSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// `tgdesk serve` against an [`ExternalSim`], every line it writes kept.
pub struct Binary {
    child: Child,
    lines: mpsc::Receiver<(Stream, String)>,
    all: Arc<Mutex<Vec<(Stream, String)>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    /// `http://127.0.0.1:PORT` of the web server.
    pub base: String,
    /// The settings it runs with (database, vault key, simulator, `env`).
    settings: Vec<(String, String)>,
    _dir: TestDir,
}

impl Binary {
    /// Starts `tgdesk serve` with a fresh SQLite database and vault key,
    /// an empty environment plus `env`, and waits until it listens.
    pub fn serve(sim: &ExternalSim, env: &[(&str, &str)]) -> Self {
        let dir = TestDir::new();
        let key = VaultKey::generate().expect("key");
        let url = format!("sqlite://{}", dir.path().join("tgdesk.db").display());
        let mut settings: Vec<(String, String)> = [
            ("TGDESK_DATABASE_URL", url.as_str()),
            ("TGDESK_VAULT_KEYS", &*key.to_line()),
            ("TGDESK_TELEGRAM_SIM", sim.control.as_str()),
            ("TGDESK_LISTEN", "127.0.0.1:0"),
            ("NO_COLOR", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        settings.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .env_clear()
            .envs(settings.iter().cloned());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tgdesk");
        let (tx, lines) = mpsc::channel();
        let all = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        for (stream, source) in [
            (
                Stream::Stdout,
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            ),
            (
                Stream::Stderr,
                Box::new(child.stderr.take().expect("stderr")),
            ),
        ] {
            let tx = tx.clone();
            let all = Arc::clone(&all);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(source).lines().map_while(Result::ok) {
                    all.lock().expect("lines").push((stream, line.clone()));
                    let _ = tx.send((stream, line));
                }
            }));
        }
        let mut binary = Self {
            child,
            lines,
            all,
            readers,
            base: String::new(),
            settings,
            _dir: dir,
        };
        let line = binary.wait_for("listening on http://");
        binary.base = address_in(&line);
        binary
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs another `tgdesk` command on the same database, key and
    /// settings (e.g. `admin token create`) and waits for it.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let output = Command::new(BIN)
            .args(args)
            .env_clear()
            .envs(self.settings.iter().cloned())
            .output()
            .expect("run tgdesk");
        assert!(
            output.status.success(),
            "tgdesk {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Waits for a line containing `needle` (written from now on, or
    /// already) and returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        if let Some((_, line)) = self
            .all
            .lock()
            .expect("lines")
            .iter()
            .find(|(_, l)| l.contains(needle))
        {
            return line.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((_, line)) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no line with {needle:?}; saw:\n{}", self.text(None)),
            }
        }
    }

    /// Everything written so far (on one stream, or both), one line each.
    pub fn text(&self, stream: Option<Stream>) -> String {
        self.all
            .lock()
            .expect("lines")
            .iter()
            .filter(|(s, _)| stream.is_none_or(|want| *s == want))
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// SIGTERM, then waits for a clean exit and for every line written.
    pub fn stop(mut self) -> Vec<(Stream, String)> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                break exit;
            }
            assert!(Instant::now() < deadline, "tgdesk did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        assert!(exit.success(), "exit {exit:?}:\n{}", self.text(None));
        std::mem::take(&mut *self.all.lock().expect("lines"))
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `http://HOST:PORT` out of a line that mentions it (text or JSON).
pub fn address_in(line: &str) -> String {
    let start = line.find("http://").expect("an address in the line");
    line[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\\' || c == ',')
        .next()
        .expect("address")
        .trim_end_matches('/')
        .to_owned()
}

/// Blocks on `future` from a synchronous test (the binary's lines are read
/// by plain threads).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Logs in over the API by phone and code (and password, if given); the
/// API token.
pub async fn api_login(
    http: &reqwest::Client,
    binary_base: &str,
    sim: &ExternalSim,
    phone: &str,
    password: Option<&str>,
) -> String {
    let started = post_json(
        http,
        format!("{binary_base}/api/v1/login/phone"),
        json!({ "phone": phone }),
    )
    .await;
    let flow = started["flow_id"].as_str().expect("flow_id").to_owned();
    let mut done = post_json(
        http,
        format!("{binary_base}/api/v1/login/{flow}/code"),
        json!({ "code": sim.code(phone) }),
    )
    .await;
    if let Some(password) = password {
        assert_eq!(done["next"], "password", "{done}");
        done = post_json(
            http,
            format!("{binary_base}/api/v1/login/{flow}/password"),
            json!({ "password": password }),
        )
        .await;
    }
    assert_eq!(done["next"], "done", "{done}");
    done["token"].as_str().expect("token").to_owned()
}

/// POSTs a JSON body; the JSON answer.
async fn post_json(http: &reqwest::Client, url: String, body: Value) -> Value {
    http.post(url)
        .json(&body)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json")
}

/// Waits until the token's account is connected to Telegram.
pub async fn connected(http: &reqwest::Client, base: &str, token: &str) {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let session: Value = http
                .get(format!("{base}/api/v1/session"))
                .bearer_auth(token)
                .send()
                .await
                .expect("GET")
                .json()
                .await
                .expect("json");
            if session["connection"] == "connected" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the account connects");
}

#[test]
fn json_logs_are_one_object_per_line_and_request_lines_carry_their_id() {
    let sim = ExternalSim::start();
    sim.account("+999667100001", "Ada", None);
    let binary = Binary::serve(
        &sim,
        &[("TGDESK_LOG", "debug"), ("TGDESK_LOG_FORMAT", "json")],
    );
    let http = reqwest::Client::new();
    let echoed = block_on(async {
        let token = api_login(&http, &binary.base, &sim, "+999667100001", None).await;
        connected(&http, &binary.base, &token).await;
        let chats = http
            .get(binary.url("/api/v1/chats"))
            .bearer_auth(&token)
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .expect("GET");
        assert_eq!(chats.status(), 200);
        let echoed = chats.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        // A generated id when the caller's is not a plain token.
        let odd = http
            .get(binary.url("/healthz"))
            .header("x-request-id", "spaces and \"quotes\"")
            .send()
            .await
            .expect("GET");
        let generated = odd.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_eq!(generated.len(), 32, "{generated}");
        assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
        echoed
    });
    assert_eq!(echoed, "trace-me-42", "the caller's id comes back");

    let lines = binary.stop();
    let stderr: Vec<&String> = lines
        .iter()
        .filter(|(s, _)| *s == Stream::Stderr)
        .map(|(_, l)| l)
        .collect();
    assert!(!stderr.is_empty());
    let mut requests = Vec::new();
    for line in &stderr {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["timestamp"].is_string(),
            "{line}"
        );
        if value["fields"]["message"] == "request" {
            requests.push(value);
        }
    }
    assert!(requests.len() >= 5, "request lines: {requests:?}");
    for r in &requests {
        let id = r["span"]["request_id"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "a request line without its id: {r}");
        assert!(
            r["span"]["route"].is_string() && r["fields"]["status"].is_u64(),
            "{r}"
        );
    }
    let chats = requests
        .iter()
        .find(|r| r["span"]["request_id"] == "trace-me-42")
        .expect("the chats request's line, under the caller's id");
    assert_eq!(chats["span"]["route"], "/api/v1/chats");
    assert_eq!(chats["fields"]["status"], 200);
    let login = stderr
        .iter()
        .find(|l| l.contains("staff logged in"))
        .expect("the login line");
    assert!(login.contains("\"request_id\""), "{login}");
    assert!(login.contains("\"account_id\""), "{login}");
}
