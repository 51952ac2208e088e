//! Logging in from a real browser: headless Chromium driven over WebDriver
//! (chromedriver), against the real app and tgsim. Phone + code + 2FA, and a
//! QR code that renews itself without a reload and is then accepted through
//! tgsim on an account homed on another data centre; both end on `/chats`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`; `TGDESK_CHROMIUM` and `TGDESK_CHROMEDRIVER` name other
//! binaries). Without them the tests say they were skipped and pass, unless
//! `TGDESK_REQUIRE_BROWSER` is set (CI sets it), where they fail.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{LazyLock, Once};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::{TestApp, TestDir, spawn_app};
use crate::login_support::{HINT, PASSWORD, add_account, code_of, token_of};

/// One browser at a time: two cores, and Chromium is not small.
static ONE_AT_A_TIME: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));
static SKIP_NOTICE: Once = Once::new();

const WAIT: Duration = Duration::from_secs(30);

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A headless Chromium session; the browser and its driver end on drop.
struct Browser {
    client: Client,
    driver: Child,
    _profile: TestDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver and a browser, or `None` (test skipped) without them.
async fn browser() -> Option<Browser> {
    let chromium = find_binary(
        "TGDESK_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = find_binary("TGDESK_CHROMEDRIVER", &["chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        assert!(
            std::env::var_os("TGDESK_REQUIRE_BROWSER").is_none(),
            "TGDESK_REQUIRE_BROWSER is set but chromium or chromedriver is missing \
             (apt-get install chromium chromium-driver)"
        );
        SKIP_NOTICE.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "note: chromium or chromedriver not found: the browser login tests were skipped \
                 (apt-get install chromium chromium-driver)"
            );
        });
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut driver = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let ready = tokio::time::timeout(WAIT, async {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    if ready.is_err() {
        let _ = driver.kill();
        panic!("chromedriver did not listen on port {port}");
    }
    let profile = TestDir::new();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1200,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await;
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            let _ = driver.kill();
            panic!("cannot start a Chromium session: {e}");
        }
    };
    Some(Browser {
        client,
        driver,
        _profile: profile,
    })
}

async fn wait_for(b: &Browser, css: &str) -> fantoccini::elements::Element {
    b.client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

async fn path_of(b: &Browser) -> String {
    b.client.current_url().await.expect("url").path().to_owned()
}

async fn finish(b: Browser, app: TestApp) {
    let Browser { client, .. } = &b;
    let _ = client.clone().close().await;
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_logs_in_with_phone_code_and_password_and_lands_on_chats() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(b) = browser().await else {
        return;
    };
    let app = spawn_app().await;
    let phone = "+999668000001";
    add_account(&app, phone, 1, true);

    b.client.goto(&app.url("/login")).await.expect("goto");
    wait_for(&b, "#phone")
        .await
        .send_keys(phone)
        .await
        .expect("type the phone");
    b.client
        .find(Locator::Css("form[action='/login/phone'] button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");

    let code_input = wait_for(&b, "#code").await;
    assert_eq!(path_of(&b).await, "/login/code");
    let page = b.client.source().await.expect("source");
    assert!(page.contains("+999 •••• •00 01"), "{page}");
    code_input
        .send_keys(&code_of(&app, phone))
        .await
        .expect("type the code");
    b.client
        .find(Locator::Css("form[action='/login/code'] button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");

    let password_input = wait_for(&b, "#password").await;
    let hint = b
        .client
        .find(Locator::Css("#hint"))
        .await
        .expect("hint")
        .text()
        .await
        .expect("text");
    assert!(hint.contains(HINT), "{hint}");
    password_input
        .send_keys(PASSWORD)
        .await
        .expect("type the password");
    b.client
        .find(Locator::Css("form[action='/login/password'] button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");

    let name = wait_for(&b, "#account-name").await;
    assert_eq!(name.text().await.expect("text"), "Ada Lovelace");
    assert_eq!(path_of(&b).await, "/chats");
    // The session cookie is not readable from scripts.
    let visible = b
        .client
        .execute("return document.cookie", vec![])
        .await
        .expect("script");
    assert!(
        !visible.as_str().unwrap_or("").contains("tgdesk_session"),
        "{visible}"
    );

    // And out again.
    b.client
        .find(Locator::Css("header form[action='/logout'] button"))
        .await
        .expect("logout button")
        .click()
        .await
        .expect("click");
    wait_for(&b, "#phone").await;
    let page = b.client.source().await.expect("source");
    assert!(page.contains("You are logged out."));
    finish(b, app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_keeps_the_qr_code_fresh_and_lands_on_chats_after_the_scan() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(b) = browser().await else {
        return;
    };
    let app = spawn_app().await;
    // Homed on DC 2: the scan completes through a data-centre migration.
    let uid = add_account(&app, "+999668000002", 2, false);

    b.client.goto(&app.url("/login")).await.expect("goto");
    wait_for(&b, "form[action='/login/qr'] button")
        .await
        .click()
        .await
        .expect("click");
    wait_for(&b, "#qr svg").await;
    assert_eq!(path_of(&b).await, "/login/qr");
    let first = b
        .client
        .find(Locator::Css("#qr"))
        .await
        .expect("qr")
        .attr("data-qr-url")
        .await
        .expect("attr")
        .expect("a QR URL");
    assert!(first.starts_with("tg://login?token="), "{first}");
    // Drawn at a size a phone camera reads easily.
    let size = b
        .client
        .execute(
            "const r = document.querySelector('#qr svg').getBoundingClientRect(); \
             return [Math.round(r.width), Math.round(r.height)]",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(size, json!([232, 232]));

    // The page renews the code in place: same page, new token, new picture.
    b.client
        .execute("window.__samePage = true; return true", vec![])
        .await
        .expect("mark the page");
    let renewed = tokio::time::timeout(Duration::from_secs(45), async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = b
                .client
                .find(Locator::Css("#qr"))
                .await
                .expect("qr")
                .attr("data-qr-url")
                .await
                .expect("attr")
                .unwrap_or_default();
            if now != first && !now.is_empty() {
                return now;
            }
        }
    })
    .await
    .expect("the QR code is renewed before it expires");
    let same_page = b
        .client
        .execute("return window.__samePage === true", vec![])
        .await
        .expect("script");
    assert_eq!(same_page, json!(true), "renewed without a reload");

    app.sim
        .world()
        .accept_qr(&token_of(&renewed), uid)
        .expect("scanned");
    let name = wait_for(&b, "#account-name").await;
    assert_eq!(name.text().await.expect("text"), "Ada Lovelace");
    assert_eq!(path_of(&b).await, "/chats");
    finish(b, app).await;
}
