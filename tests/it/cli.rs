//! The `tgdesk` binary as an operator meets it.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tgdesk::store::accounts::{self, LoginProfile};
use tgdesk::store::{Db, audit, sessions};
use tgdesk::vault::{Aad, Vault, VaultKey, check};

use crate::helpers::{TestDir, vault_with};

const BIN: &str = env!("CARGO_BIN_EXE_tgdesk");
const WAIT: Duration = Duration::from_secs(60);

/// `tgdesk` with an empty environment plus `env`.
/// The control address of a tgsim running for these tests, in a thread of
/// its own (the tests here are synchronous: they drive the real binary).
fn sim_control() -> &'static str {
    static ADDR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let sim = tgsim::Sim::start(tgsim::SimConfig::default())
                    .await
                    .expect("tgsim starts");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr").to_string())
                    .expect("send");
                let _ = tgsim::control::serve(sim, listener, std::future::pending()).await;
            });
        });
        rx.recv().expect("the simulator's control address")
    })
}

fn tgdesk(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).env_clear();
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    tgdesk(args, env).output().expect("run tgdesk")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("tgdesk.db").display())
}

/// A running `tgdesk` whose stdout and stderr lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tgdesk");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `needle` and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line.clone());
                    if found {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tgdesk did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `http://127.0.0.1:PORT` out of a line that mentions it.
fn address_in(line: &str) -> String {
    let start = line.find("http://").expect("address in line");
    line[start..]
        .split_whitespace()
        .next()
        .expect("address")
        .trim_end_matches('/')
        .to_owned()
}

#[test]
fn keys_generate_prints_one_line_usable_as_a_key() {
    let first = run(&["keys", "generate"], &[]);
    assert!(first.status.success());
    let out = text(&first.stdout);
    assert_eq!(out.lines().count(), 1, "exactly one line: {out:?}");
    assert!(out.ends_with('\n'));
    let key = VaultKey::parse(out.trim_end()).expect("parses as a vault key");
    let second = run(&["keys", "generate"], &[]);
    assert_ne!(
        VaultKey::parse(text(&second.stdout).trim_end())
            .expect("key")
            .id(),
        key.id(),
        "every key is new"
    );
    assert!(first.stderr.is_empty());
}

#[test]
fn serve_without_telegram_credentials_names_both_settings() {
    let output = run(&["serve"], &[]);
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains("TGDESK_API_ID") && err.contains("TGDESK_API_HASH"),
        "{err}"
    );
    assert!(err.contains("my.telegram.org"), "{err}");
}

#[test]
fn a_bad_setting_is_a_clear_error_not_a_panic() {
    let output = run(&["serve"], &[("TGDESK_LISTEN", "x")]);
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains("TGDESK_LISTEN: invalid socket address 'x'"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let dir = TestDir::new();
    let config = dir.path().join("tgdesk.toml");
    std::fs::write(&config, "listen = 8080\n").expect("write");
    let output = run(&["serve", "--config", &config.to_string_lossy()], &[]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("tgdesk.toml"));
}

#[test]
fn migrate_creates_the_schema() {
    let dir = TestDir::new();
    let url = sqlite_url(dir.path());
    let output = run(&["migrate", "--database-url", &url], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("schema up to date"));
    assert!(dir.path().join("tgdesk.db").exists());
    let again = run(&["migrate"], &[("TGDESK_DATABASE_URL", &url)]);
    assert!(again.status.success(), "{}", text(&again.stderr));
}

/// A database with one account whose auth material is sealed by `key`.
fn seeded_database(dir: &Path, key: &VaultKey) -> (String, i64) {
    let url = sqlite_url(dir);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let id = runtime.block_on(async {
        let db = Db::connect(&url).await.expect("db");
        db.migrate().await.expect("migrate");
        let vault = vault_with(&[key]);
        let id = accounts::upsert_login(
            db.pool(),
            &LoginProfile {
                telegram_user_id: 7,
                display_name: "Ann",
                username: None,
                phone_masked: None,
                home_dc: Some(2),
            },
            1,
        )
        .await
        .expect("account")
        .id;
        let sealed = vault.seal(&Aad::account_auth(id), b"auth").expect("seal");
        sessions::put_auth(db.pool(), id, &sealed, 1)
            .await
            .expect("auth");
        db.close().await;
        id
    });
    (url, id)
}

fn stored_auth(url: &str, id: i64) -> Vec<u8> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let db = Db::connect(url).await.expect("db");
        let auth = sessions::get_auth(db.pool(), id)
            .await
            .expect("get")
            .expect("auth");
        db.close().await;
        auth
    })
}

#[test]
fn serve_refuses_to_start_without_the_key_that_sealed_the_data() {
    let dir = TestDir::new();
    let old = VaultKey::generate().expect("key");
    let other = VaultKey::generate().expect("key");
    let (url, id) = seeded_database(dir.path(), &old);
    let before = stored_auth(&url, id);

    let output = run(
        &["serve"],
        &[
            ("TGDESK_DATABASE_URL", &url),
            ("TGDESK_VAULT_KEYS", &other.to_line()),
            ("TGDESK_TELEGRAM_SIM", sim_control()),
            ("TGDESK_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains(&format!("vault key {} is missing", old.id())),
        "{err}"
    );
    assert!(err.contains("add it to TGDESK_VAULT_KEYS"), "{err}");
    assert!(!err.contains(&other.to_line()[9..]), "never prints a key");
    assert_eq!(stored_auth(&url, id), before, "nothing was overwritten");
}

#[test]
fn keys_rotate_reseals_under_the_newest_key_and_is_audited() {
    let dir = TestDir::new();
    let old = VaultKey::generate().expect("key");
    let new = VaultKey::generate().expect("key");
    let (url, id) = seeded_database(dir.path(), &old);
    let keys = format!("{},{}", *old.to_line(), *new.to_line());
    let env = [
        ("TGDESK_DATABASE_URL", url.as_str()),
        ("TGDESK_VAULT_KEYS", keys.as_str()),
    ];

    let output = run(&["keys", "rotate"], &env);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with(&format!("re-sealed 1 rows under vault key {}", new.id())),
        "{}",
        text(&output.stdout)
    );
    let again = run(&["keys", "rotate"], &env);
    assert!(again.status.success());
    assert!(text(&again.stdout).starts_with("re-sealed 0 rows"));

    let auth = stored_auth(&url, id);
    let new_only: Vault = vault_with(&[&new]);
    assert_eq!(
        &**new_only.open(&Aad::account_auth(id), &auth).expect("opens"),
        b"auth"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let db = Db::connect(&url).await.expect("db");
        check::check(&db, &new_only)
            .await
            .expect("the old key can be retired");
        let entries = audit::list(
            db.pool(),
            &audit::AuditFilter {
                action: Some("vault_keys_rotated"),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("audit");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].outcome, "ok");
        assert_eq!(entries[0].actor, "cli");
        db.close().await;
    });
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = TestDir::new();
    let key = VaultKey::generate().expect("key");
    let url = sqlite_url(dir.path());
    let mut running = Running::start(tgdesk(
        &["serve"],
        &[
            ("TGDESK_DATABASE_URL", &url),
            ("TGDESK_VAULT_KEYS", &key.to_line()),
            ("TGDESK_TELEGRAM_SIM", sim_control()),
            ("TGDESK_LISTEN", "127.0.0.1:0"),
            ("TGDESK_LOG", "info"),
            ("NO_COLOR", "1"),
        ],
    ));
    let line = running.wait_for("listening on http://");
    let base = address_in(&line);
    let body = reqwest::blocking_get(&format!("{base}/healthz"));
    assert!(body.contains("\"ok\""), "{body}");
    let status = running.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn demo_keeps_its_data_and_demo_key_in_the_data_directory() {
    let dir = TestDir::new();
    let data = dir.path().join("demo");
    let data_arg = data.to_string_lossy().into_owned();
    let start = || {
        Running::start(tgdesk(
            &["demo", "--data-dir", &data_arg, "--listen", "127.0.0.1:0"],
            &[("NO_COLOR", "1")],
        ))
    };

    let mut first = start();
    let warning = first.wait_for("demo key — for demos only");
    assert!(warning.contains("created"), "{warning}");
    let line = first.wait_for("tgdesk demo: open http://");
    let base = address_in(&line);
    assert!(reqwest::blocking_get(&format!("{base}/readyz")).contains("ready"));
    assert!(first.terminate().success());
    let key_file = std::fs::read_to_string(data.join("vault.key")).expect("key file");
    assert!(key_file.contains("for demos only"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join("vault.key"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only the owner may read the demo key");
    }
    assert!(data.join("tgdesk.db").exists());

    // A second start reuses the key (the stored data still opens).
    let mut second = start();
    let warning = second.wait_for("demo key — for demos only");
    assert!(warning.contains("using"), "{warning}");
    second.wait_for("tgdesk demo: open http://");
    assert!(second.terminate().success());
    assert_eq!(
        std::fs::read_to_string(data.join("vault.key")).expect("key file"),
        key_file
    );
}

mod reqwest {
    /// A GET from a plain thread (these tests are not async).
    pub fn blocking_get(url: &str) -> String {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            ::reqwest::get(url)
                .await
                .expect("get")
                .text()
                .await
                .expect("body")
        })
    }
}
