//! Just enough of the W3C WebDriver protocol to drive headless Chromium through Debian's
//! chromedriver, over HTTP with the tests' own client (`ureq`): no WebDriver crate, and no
//! chromedriver-specific endpoint (its log endpoint is not in the standard).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

/// Where Debian's packages put them (`apt-get install chromium chromium-driver`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a wait in the browser may take: Chromium on a busy 2-core machine is slow.
pub const BROWSER_PATIENCE: Duration = Duration::from_secs(60);

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver child with one browser session; both end on drop (the session first, so
/// that chromedriver closes Chromium rather than leaving it orphaned).
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    profile: tempfile::TempDir,
}

/// One element of the page, by its WebDriver id.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless session. The flags keep
    /// Chromium off the network (closed on the test machines: without them it stalls on
    /// start-up trying to reach Google) and out of any existing profile.
    pub fn start(log: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log_file = std::fs::File::create(log).expect("chromedriver log");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.with_extension("verbose.log").display()))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let agent = ureq::AgentBuilder::new().timeout(BROWSER_PATIENCE).build();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut browser = Browser { driver, base, session: String::new(), agent, profile };
        until("chromedriver to be ready", || {
            let status = browser.agent.get(&format!("{}/status", browser.base)).call().ok()?;
            let status: Value = status.into_json().ok()?;
            (status["value"]["ready"] == true).then_some(())
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", browser.profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let answer = browser.raw("POST", "/session", Some(capabilities));
        browser.session = answer["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_string();
        browser
    }

    /// One WebDriver command; the answer's `value`. A WebDriver error fails the test with its
    /// message.
    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let request = self.agent.request(method, &format!("{}{path}", self.base));
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        };
        let code = response.status();
        let answer: Value = response.into_json().unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        assert!(code == 200, "WebDriver {method} {path} answered {code}: {}", answer["value"]);
        answer["value"].clone()
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Opens `url`.
    pub fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its return value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.command("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    /// The element `selector` matches (it must exist).
    pub fn find(&self, selector: &str) -> Element<'_> {
        let found = self.command("POST", "/element", Some(json!({"using": "css selector", "value": selector})));
        let id = found[ELEMENT].as_str().unwrap_or_else(|| panic!("{selector}: {found}")).to_string();
        Element { browser: self, id }
    }

    /// Waits until `selector` matches an element that is shown, then returns it.
    pub fn visible(&self, selector: &str) -> Element<'_> {
        let script = "const e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null;";
        until(&format!("{selector} to be shown"), || (self.run(script, json!([selector])) == true).then_some(()));
        self.find(selector)
    }

    /// The text content of the first element `selector` matches (`None` when there is none).
    pub fn text(&self, selector: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;";
        self.run(script, json!([selector])).as_str().map(str::to_string)
    }

    /// Waits until the text of `selector` satisfies `check`; returns it.
    pub fn wait_text(&self, selector: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        until(&format!("{selector} to show {what}"), || self.text(selector).filter(|t| check(t)))
    }

    /// A screenshot of the window as PNG bytes, also written to `path`.
    pub fn screenshot(&self, path: &Path) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 text"))
            .expect("the screenshot is base64");
        std::fs::write(path, &png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        png
    }
}

impl Element<'_> {
    pub fn click(&self) {
        self.browser.command("POST", &format!("/element/{}/click", self.id), Some(json!({})));
    }

    /// Types `text` into the element, after clearing it.
    pub fn type_text(&self, text: &str) {
        self.browser.command("POST", &format!("/element/{}/clear", self.id), Some(json!({})));
        self.browser.command("POST", &format!("/element/{}/value", self.id), Some(json!({"text": text})));
    }
}

impl Browser {
    /// On a failing test, what the page looked like: `failure-<time>.png` beside the other
    /// screenshots. Never panics (it runs while a panic unwinds).
    fn save_failure_screenshot(&self) {
        let url = format!("{}/session/{}/screenshot", self.base, self.session);
        let Some(answer) = self.agent.get(&url).call().ok().and_then(|r| r.into_json::<Value>().ok()) else { return };
        let Some(png) = answer["value"].as_str().and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        else {
            return;
        };
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console").join(format!("failure-{stamp}.png"));
        if std::fs::write(&path, png).is_ok() {
            eprintln!("the page at the failure: {}", path.display());
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.session.is_empty() {
            self.save_failure_screenshot();
        }
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = self.agent.delete(&url).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Polls `check` until it answers `Some`, failing after [`BROWSER_PATIENCE`] with a message
/// naming what it waited for (the suite's own `eventually`, with the browser's patience).
pub fn until<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    crate::helper::eventually_within(BROWSER_PATIENCE, what, check)
}

/// Whether this machine has the browser; where it is required (`PORTICO_REQUIRE_BROWSER=1`,
/// set by `.ci/run`), its absence fails the test instead.
pub fn available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("PORTICO_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "{CHROMIUM} and {CHROMEDRIVER} are required (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "\n*** SKIPPED the web console's browser test: {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install chromium chromium-driver; .ci/run installs them) ***\n"
        );
    }
    present
}

/// Where the screenshots and browser logs go: a directory under cargo's target dir.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).expect("the artifacts directory");
    dir
}
