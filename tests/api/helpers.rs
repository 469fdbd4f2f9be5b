//! Starts the real application on a random port against a fresh database (Postgres or an
//! SQLite file) and offers typed request helpers.

use genfab::config::{DatabaseConfig, Secret, Settings};
use genfab::startup::Application;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Runs `async fn NAME(Backend)` once per store, as `NAME::postgres` and `NAME::sqlite`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
        }
    )*};
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub admin: String,
    pub settings: Settings,
    pub handle: actix_web::dev::ServerHandle,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: std::sync::Arc<tempfile::TempDir>,
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("randomness");
    hex::encode(b)
}

/// The server (without database) tests create their databases on.
pub fn postgres_base() -> String {
    std::env::var("GENFAB_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

async fn fresh_database(backend: Backend, dir: &std::path::Path) -> DatabaseConfig {
    match backend {
        Backend::Sqlite => DatabaseConfig::Sqlite(dir.join("genfab.db")),
        Backend::Postgres => {
            use sqlx::Connection;
            let base = postgres_base();
            let name = format!("genfab_test_{}", random_suffix());
            let mut conn = sqlx::PgConnection::connect(&format!("{base}/postgres"))
                .await
                .expect("Postgres must run for the tests (see .ci/run)");
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
            DatabaseConfig::Postgres(Secret::new(format!("{base}/{name}")))
        }
    }
}

/// Settings for a fresh store of `backend`, with a known admin token.
pub async fn test_settings(backend: Backend) -> (Settings, std::sync::Arc<tempfile::TempDir>) {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
    let db = fresh_database(backend, dir.path()).await;
    let mut s = Settings::for_database(db, dir.path().to_path_buf());
    s.admin_token = Some(Secret::new(format!("test-admin-{}", random_suffix())));
    s.data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    (s, dir)
}

/// Settings with the in-process worker on and tuned for tests (fast polls, short leases).
pub async fn worker_settings(backend: Backend) -> (Settings, std::sync::Arc<tempfile::TempDir>) {
    let (mut s, dir) = test_settings(backend).await;
    s.run_worker = true;
    s.worker = fast_worker();
    (s, dir)
}

/// A worker configuration for tests: 50 ms polls, 5 s leases, 1 s heartbeats, 50 ms retry base.
pub fn fast_worker() -> genfab::config::WorkerConfig {
    genfab::config::WorkerConfig {
        poll: std::time::Duration::from_millis(50),
        lease: std::time::Duration::from_secs(5),
        heartbeat: std::time::Duration::from_secs(1),
        retry_base: std::time::Duration::from_millis(50),
        ..Default::default()
    }
}

/// The application with its in-process worker running.
pub async fn spawn_worker_app(backend: Backend) -> TestApp {
    let (settings, dir) = worker_settings(backend).await;
    spawn_with(settings, dir).await
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let (settings, dir) = test_settings(backend).await;
    spawn_with(settings, dir).await
}

/// Starts the application with these settings (used again after a stop to prove persistence).
pub async fn spawn_with(settings: Settings, dir: std::sync::Arc<tempfile::TempDir>) -> TestApp {
    let app = Application::build(settings.clone()).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let task = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        admin: settings.admin_token.as_ref().map(|t| t.expose().to_string()).unwrap_or_default(),
        settings,
        handle,
        task,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Stops gracefully and returns what is needed to start again on the same store.
    pub async fn stop(self) -> (Settings, std::sync::Arc<tempfile::TempDir>) {
        self.handle.stop(true).await;
        self.task.await.expect("server task").expect("server ran");
        (self.settings, self._dir)
    }

    pub async fn upload(&self, name: &str, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.upload_with(name, "", content_type, body, &self.admin).await
    }

    pub async fn upload_with(
        &self,
        name: &str,
        extra_query: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        token: &str,
    ) -> reqwest::Response {
        self.post_body(&format!("/api/v1/datasets?name={name}{extra_query}"), content_type, body, token).await
    }

    /// `POST path` with a body of `content_type`, as `token`.
    pub async fn post_body(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        token: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /api/v1/datasets/{id}/rows` with `token`.
    pub async fn append_rows(
        &self,
        id: i64,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        token: &str,
    ) -> reqwest::Response {
        self.post_body(&format!("/api/v1/datasets/{id}/rows"), content_type, body, token).await
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.client.get(self.url(path)).bearer_auth(&self.admin).send().await.expect("request sent");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.client.get(self.url(path)).bearer_auth(&self.admin).send().await.expect("request sent");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// A store handle on the app's database (for checks the API does not show).
    pub async fn store(&self) -> genfab::store::Store {
        genfab::store::Store::connect(&self.settings.database).await.expect("store connects")
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.post_json_as(path, body, &self.admin).await
    }

    pub async fn post_json_as(&self, path: &str, body: &serde_json::Value, token: &str) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    /// Polls `GET path` until `done(json)` holds; panics with the last answer after `secs`.
    pub async fn wait_until(
        &self,
        path: &str,
        secs: u64,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (status, v) = self.get_json(path).await;
            assert_eq!(status, 200, "GET {path}: {v}");
            if done(&v) {
                return v;
            }
            assert!(std::time::Instant::now() < end, "GET {path} did not reach the expected state in {secs} s: {v}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Waits for a job to end and returns it.
    pub async fn wait_job(&self, id: i64, secs: u64) -> serde_json::Value {
        self.wait_until(&format!("/api/v1/jobs/{id}"), secs, |j| {
            matches!(j["status"].as_str(), Some("succeeded" | "failed" | "cancelled"))
        })
        .await
    }

    /// Uploads a bundled file as a dataset and returns its id.
    pub async fn dataset(&self, name: &str, rel: &str) -> i64 {
        let r = self.upload(name, "text/csv", data_file(rel)).await;
        assert_eq!(r.status().as_u16(), 201, "upload of {rel}");
        let v: serde_json::Value = r.json().await.expect("json");
        v["id"].as_i64().expect("dataset id")
    }

    /// A token of `role`, created through the API.
    pub async fn token(&self, role: &str) -> String {
        let r = self
            .client
            .post(self.url("/api/v1/tokens"))
            .bearer_auth(&self.admin)
            .json(&serde_json::json!({"name": format!("{role} test"), "role": role}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(r.status().as_u16(), 201);
        let v: serde_json::Value = r.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    }
}

pub fn data_file(rel: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(rel)).expect("bundled data file")
}

/// Asserts a problem+json answer with `status` whose detail contains every `needle`.
pub async fn assert_problem(r: reqwest::Response, status: u16, needles: &[&str]) -> serde_json::Value {
    assert_eq!(r.status().as_u16(), status, "unexpected status");
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/problem+json"), "content type was {ct}");
    let v: serde_json::Value = r.json().await.expect("problem json");
    let detail = v["detail"].as_str().unwrap_or("").to_string();
    for n in needles {
        assert!(detail.contains(n), "detail {detail:?} lacks {n:?}");
    }
    v
}
