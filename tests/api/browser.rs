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

    /// Replaces what a text or number field holds.
    async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    /// Runs a script in the page (WebDriver's own channel, which the page's CSP does not govern).
    async fn script(&self, body: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": body, "args": []}))).await
    }

    async fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// Waits (up to `seconds`) until the page's source holds `needle`, the page reloading itself
    /// meanwhile (a running job's page refreshes every 2 s).
    async fn wait_long(&self, needle: &str, seconds: u64) {
        for _ in 0..seconds * 4 {
            if self.source().await.contains(needle) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("after {seconds} s the page still lacks {needle:?}: {}", self.source().await);
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_string()
    }

    /// Waits (up to 10 s) until the page's source holds `needle`: a click that submits a form
    /// returns before the next page has loaded.
    async fn wait_for(&self, needle: &str) {
        self.wait_long(needle, 10).await;
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

/// What keeps a page from being read or operated without a mouse at this window size: inputs
/// without a label, buttons and links without text, no `<main>`, or the page scrolling sideways.
const ACCESSIBILITY: &str = r#"
const bad = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  if (el.labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    bad.push('no label: ' + el.outerHTML.slice(0, 120));
}
for (const el of document.querySelectorAll('button, a[href]')) {
  if (!el.textContent.trim() && !el.getAttribute('aria-label')) bad.push('no text: ' + el.outerHTML.slice(0, 120));
}
if (!document.querySelector('main')) bad.push('no <main>');
for (const svg of document.querySelectorAll('main svg')) {
  if (!svg.getAttribute('aria-label') && !svg.querySelector('title')) bad.push('an unlabelled plot');
}
const wide = document.documentElement.scrollWidth;
if (wide > window.innerWidth + 1) bad.push('scrolls sideways: ' + wide + ' px in a ' + window.innerWidth + ' px window');
return bad;
"#;

impl Driver {
    /// Screenshots the page (failing on console errors) and checks [`ACCESSIBILITY`].
    async fn check_accessible(&self, name: &str) {
        self.check_page(name).await;
        let bad = self.script(ACCESSIBILITY).await;
        assert_eq!(bad, json!([]), "{name}: {bad}");
    }

    /// The ids (or tag names) of the elements that Tab reaches, in order, up to `presses`.
    async fn tab_order(&self, presses: usize) -> Vec<String> {
        self.script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);").await;
        let mut seen = vec![];
        for _ in 0..presses {
            let tab = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": "\u{E004}"}, {"type": "keyUp", "value": "\u{E004}"}]}]});
            self.call(reqwest::Method::POST, "/actions", Some(tab)).await;
            let v = self
                .script("const e = document.activeElement; return e.id || (e.tagName + ':' + e.textContent.trim().slice(0, 30));")
                .await;
            seen.push(v.as_str().unwrap_or_default().to_string());
        }
        seen
    }
}

/// The loop the dashboard exists for, in Chromium and without curl: train a model with the form
/// and watch its loss curve appear, generate synthetic rows and read their report, create a study
/// and run it until its Pareto plot shows. Every page is checked for console errors, labels and
/// sideways scrolling at 1280 px, then again at tablet width (800 px); the training form is
/// walked with the Tab key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_trains_generates_and_optimises_from_the_browser() {
    let app = spawn_worker_app(Backend::Sqlite).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let browser = Driver::start().await;
    browser.go(&app.url("/models/new")).await;
    browser.type_into("#token", &app.admin).await;
    browser.click("button[type=submit]").await;
    browser.wait_for("<title>Train a model").await;
    browser.check_accessible("train-form").await;

    // the form can be walked with the keyboard alone, from the skip link to the Train button
    let order = browser.tab_order(40).await;
    assert_eq!(order[0], "A:Skip to the page's content", "{order:?}");
    let at =
        |id: &str| order.iter().position(|o| o == id).unwrap_or_else(|| panic!("Tab never reaches {id}: {order:?}"));
    assert!(at("dataset_id") < at("name") && at("name") < at("epochs") && at("epochs") < at("condition"), "{order:?}");
    assert!(order.iter().skip(at("condition")).any(|o| o == "BUTTON:Train"), "{order:?}");

    // train: a small conditional model of AI4I 2020 on its machine Type
    browser.click(&format!("#dataset_id option[value='{ds}']")).await;
    browser.fill("#name", "press line vae").await;
    browser.fill("#epochs", "6").await;
    browser.fill("#hidden", "32").await;
    browser.fill("#latent", "4").await;
    browser.fill("#batch_size", "256").await;
    browser.click("#condition option[value='Type']").await;
    browser.click("form[action='/models/new'] button[type=submit]").await;
    browser.wait_for("press line vae").await;
    let model_url = browser.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_string();
    let model: i64 = model_url.rsplit('/').next().unwrap().parse().unwrap_or_else(|_| panic!("{model_url}"));
    // the page reloads itself while the job runs: the loss curve appears (a drawn line), then the
    // job ends and the latent map is drawn
    browser.wait_long("<polyline", 120).await;
    browser.wait_long("status-succeeded", 180).await;
    let page = browser.source().await;
    assert!(page.contains("<h2>Latent space</h2>"), "no latent map on the trained model's page");
    assert!(page.contains("Loss per epoch") && page.contains("KL per epoch"), "the model page lacks its curves");
    assert!(page.contains("status-succeeded"), "the training did not succeed");
    assert!(!page.contains("http-equiv=\"refresh\""), "a finished model's page still reloads");
    browser.check_accessible("model").await;

    // generate: balanced synthetic rows over the three machine types, with a report
    browser.click(&format!("a[href='/models/{model}/generate']")).await;
    browser.wait_for("<title>Generate from model").await;
    browser.check_accessible("generate-forms").await;
    browser.fill("#total-rows", "300").await;
    browser.fill("#total-name", "balanced presses").await;
    browser.click("form:has(input[name=mode][value=total]) button[type=submit]").await;
    browser.wait_long("Correlation: synthetic minus real", 300).await;
    let page = browser.source().await;
    for needle in ["Detection", "Usefulness per class", "Privacy gate", "Columns"] {
        assert!(page.contains(needle), "the report lacks {needle}");
    }
    browser.check_accessible("synthetic-report").await;
    let (_, synth) = app.get_json("/api/v1/datasets?limit=100").await;
    let made = synth["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "balanced presses")
        .unwrap_or_else(|| panic!("{synth}"));
    assert_eq!(made["row_count"], 300, "{made}");

    // optimise: the form's own example (two objectives, one constraint), run with its defaults
    browser.go(&app.url("/studies")).await;
    browser.fill("#name", "bracket").await;
    browser.click("form[action='/studies'] button[type=submit]").await;
    browser.wait_for("Start a run").await;
    browser.check_accessible("study").await;
    browser.fill("#budget", "120").await;
    browser.click("form[action$='/runs'] button[type=submit]").await;
    browser.wait_long("status-succeeded", 180).await;
    let page = browser.source().await;
    assert!(page.contains("Objectives and the Pareto front"), "no Pareto plot");
    assert!(!page.contains("Objectives and the Pareto front: no data"), "the Pareto plot is empty");
    assert!(page.contains("on the Pareto front"), "no caption");
    assert!(page.contains("120 of 120 evaluations"), "the run did not use its budget");
    browser.check_accessible("run").await;

    // the same pages at tablet width
    browser.resize(800, 1100).await;
    for (path, name) in [
        ("/".to_string(), "tablet-overview"),
        ("/models/new".to_string(), "tablet-train-form"),
        (format!("/models/{model}"), "tablet-model"),
        ("/studies".to_string(), "tablet-studies"),
        ("/jobs".to_string(), "tablet-jobs"),
        ("/schedules".to_string(), "tablet-schedules"),
        ("/admin".to_string(), "tablet-admin"),
    ] {
        browser.go(&app.url(&path)).await;
        browser.check_accessible(name).await;
    }
    drop(browser);
    app.stop().await;
}
