//! The dashboard in a real browser: Debian's headless Chromium driven through chromedriver's
//! W3C WebDriver protocol (plain HTTP with reqwest, so no extra crate), against the real
//! application on a random port. Every page is screenshotted into the test's output folder
//! (`target/browser-shots/`), and a page that logs any console error or failed request fails.
//!
//! Chromium and chromedriver come from Debian (`.ci/run` installs them); `GENFAB_CHROMIUM` and
//! `GENFAB_CHROMEDRIVER` may point elsewhere. Without them this test fails: it does not skip.

use crate::helpers::{spawn_worker_app, Backend, TestApp};
use base64::Engine;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

struct Driver {
    process: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Driver {
    async fn start() -> Driver {
        let driver = std::env::var("GENFAB_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium = std::env::var("GENFAB_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let process = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver} ({e}); install Debian's chromium and chromium-driver"));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"]},
            "goog:loggingPrefs": {"browser": "ALL"}}}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no browser session: {r}")).to_string();
        Driver { process, base, session, http }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(r["value"].get("error").is_none(), "webdriver {path}: {r}");
        r["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    async fn find(&self, css: &str) -> String {
        let v =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        v.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_string()
    }

    /// Waits (up to 10 s) until the page's source holds `needle`: a click that submits a form
    /// returns before the next page has loaded.
    async fn wait_for(&self, needle: &str) {
        for _ in 0..100 {
            if self.source().await.contains(needle) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the page never showed {needle:?}: {}", self.source().await);
    }

    async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None).await.as_str().unwrap().to_string()
    }

    /// Saves a screenshot and fails on any console error or failed request of the page.
    async fn check_page(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-shots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &bytes).unwrap();
        assert!(bytes.len() > 10_000, "{name}: the screenshot is nearly empty");
        let logs = self.call(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"}))).await;
        let bad: Vec<&Value> = logs
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| matches!(l["level"].as_str(), Some("SEVERE" | "WARNING")))
            .collect();
        assert!(bad.is_empty(), "{name}: the browser logged {bad:?}");
    }
}

/// A calibrated detector on AI4I 2020 with 200 scored rows; returns its id.
async fn detector(app: &TestApp) -> i64 {
    let ds = app.dataset("ai4i2020", "ai4i2020/ai4i2020.csv").await;
    let cols = crate::detectors::COLUMNS;
    let body = json!({"name": "press 3", "dataset_id": ds, "normal": {"label": "Machine failure", "value": 0},
                      "columns": cols, "spec": {"hidden": [16], "latent": 2, "epochs": 20},
                      "calibration": {"method": "max_f1"}});
    let r: Value = app.post_json("/api/v1/detectors", &body).await.json().await.unwrap();
    let id = r["id"].as_i64().unwrap();
    let job = app.wait_job(r["job"]["id"].as_i64().unwrap(), 120).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    // every 50th row of the file, failures included
    let rows = crate::detectors::ai4i_rows((0..10_000).step_by(50), None);
    let r = app.post_json(&format!("/api/v1/detectors/{id}/score"), &json!({ "rows": rows })).await;
    assert_eq!(r.status().as_u16(), 200);
    id
}

async fn prepare(app: &TestApp) -> (i64, i64) {
    let ds = app.dataset("steel-plates-faults", "steel-plates-faults/steel_plates_faults.csv").await;
    let r = app
        .post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": {"hidden": [16], "latent": 2, "epochs": 8}}))
        .await;
    let m: Value = r.json().await.unwrap();
    let model = m["id"].as_i64().unwrap();
    app.wait_job(m["job"]["id"].as_i64().or(m["job_id"].as_i64()).unwrap(), 120).await;
    (ds, model)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_signs_in_and_walks_the_dashboard_in_chromium() {
    let app = spawn_worker_app(Backend::Sqlite).await;
    let (ds, model) = prepare(&app).await;
    let det = detector(&app).await;
    let browser = Driver::start().await;
    // any page sends an unknown visitor to sign in, and back after
    browser.go(&app.url(&format!("/datasets/{ds}"))).await;
    assert_eq!(browser.title().await, "Sign in to genfab · genfab");
    browser.check_page("sign-in").await;
    browser.type_into("#token", "wrong-token").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("unknown or revoked").await;
    // the refused sign-in is a 401, the only thing the browser may log
    let logs = browser.call(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"}))).await;
    let logs: Vec<&Value> =
        logs.as_array().unwrap().iter().filter(|l| matches!(l["level"].as_str(), Some("SEVERE" | "WARNING"))).collect();
    assert!(
        logs.iter().all(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .contains("/login - Failed to load resource: the server responded with a status of 401")),
        "{logs:?}"
    );
    browser.type_into("#token", &app.admin).await;
    browser.click("button[type=submit]").await;
    browser.wait_for("<title>steel-plates-faults").await;
    assert!(browser.source().await.contains("Pixels_Areas (histogram)"));
    browser.check_page("dataset").await;
    // upload a dataset with the form
    browser.go(&app.url("/datasets")).await;
    browser.type_into("#name", "steel-upload").await;
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/steel-plates-faults/steel_plates_faults.csv");
    browser.type_into("#file", file.to_str().unwrap()).await;
    browser.click("form[action='/datasets'] button[type=submit]").await;
    browser.wait_for("<title>steel-upload").await;
    assert!(browser.source().await.contains("1941 rows"));
    browser.check_page("uploaded").await;
    for (path, name, needle) in [
        ("/".to_string(), "overview", "Recent jobs"),
        ("/datasets".to_string(), "datasets", "steel-plates-faults"),
        ("/models".to_string(), "models", "succeeded"),
        (format!("/models/{model}"), "model", "Loss per epoch"),
        ("/jobs".to_string(), "jobs", "train"),
        ("/detectors".to_string(), "detectors", "press 3"),
        (format!("/detectors/{det}"), "detector", "Scores over time"),
        ("/studies".to_string(), "studies", "Study"),
        ("/admin".to_string(), "admin", "Tokens"),
    ] {
        browser.go(&app.url(&path)).await;
        assert!(browser.source().await.contains(needle), "{path} lacks {needle}");
        browser.check_page(name).await;
    }
    // cancel a queued job with its button: a job waiting on a far-future slot stays queued
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": {"epochs": 100000}})).await;
    let m: Value = r.json().await.unwrap();
    let job = m["job"]["id"].as_i64().or(m["job_id"].as_i64()).unwrap();
    browser.go(&app.url("/jobs")).await;
    browser.click(&format!("form[action='/jobs/{job}/cancel'] button")).await;
    app.wait_until(&format!("/api/v1/jobs/{job}"), 60, |j| j["status"] == "cancelled").await;
    browser.wait_for("<title>Jobs").await;
    browser.check_page("jobs-after-cancel").await;
    // signing out ends the session
    browser.click("header form[action='/logout'] button").await;
    browser.wait_for("<title>Sign in to genfab").await;
    browser.go(&app.url("/jobs")).await;
    assert_eq!(browser.title().await, "Sign in to genfab · genfab");
    drop(browser);
    app.stop().await;
}
