//! Faults on Postgres: three workers and 200 jobs (each runs once), `kill -9` of a worker in the
//! middle of training (another worker resumes from the checkpoint and ends with the weights of an
//! uninterrupted run), and a Postgres restart while jobs run (everything reconnects and finishes).

use crate::helpers::{fast_worker, spawn_app, spawn_with, test_settings, Backend};
use genfab::config::{DatabaseConfig, Secret};
use genfab::store::{NewJob, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

async fn wait_for<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < end, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn statuses(store: &Store, ids: &[i64]) -> Vec<String> {
    let mut out = vec![];
    for id in ids {
        out.push(store.get_job(*id).await.unwrap().unwrap().status);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_run_200_jobs_exactly_once() {
    let app = spawn_app(Backend::Postgres).await;
    let store = app.store().await;
    let mut ids = vec![];
    for i in 0..200 {
        ids.push(store.enqueue(&NewJob::new("noop", json!({ "i": i, "sleep_ms": 5 }))).await.unwrap());
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut workers = vec![];
    for _ in 0..3 {
        let s = Store::connect(&app.settings.database).await.unwrap();
        let cfg = genfab::config::WorkerConfig { concurrency: 2, poll: Duration::from_millis(10), ..fast_worker() };
        workers.push(tokio::spawn(genfab::jobs::run_worker(s, cfg, rx.clone())));
    }
    wait_for(120, "200 jobs to succeed", || async {
        let c = store.job_counts().await.unwrap();
        c.iter().any(|(s, n)| s == "succeeded" && *n == 200)
    })
    .await;
    tx.send(true).unwrap();
    for w in workers {
        w.await.unwrap().unwrap();
    }
    let mut by_worker = std::collections::HashMap::<String, usize>::new();
    for id in &ids {
        let j = store.get_job(*id).await.unwrap().unwrap();
        assert_eq!(j.status, "succeeded");
        assert_eq!(j.attempts, 1, "job {id} was claimed more than once");
        let w = j.result.unwrap().0["worker"].as_str().unwrap().to_string();
        *by_worker.entry(w).or_default() += 1;
    }
    assert_eq!(by_worker.values().sum::<usize>(), 200);
    assert!(by_worker.len() >= 2, "the work spread over the workers: {by_worker:?}");
    app.stop().await;
}

fn database_url(db: &DatabaseConfig) -> String {
    match db {
        DatabaseConfig::Postgres(u) => u.expose().to_string(),
        DatabaseConfig::Sqlite(_) => unreachable!("Postgres only"),
    }
}

async fn weights(app: &crate::helpers::TestApp, model: i64) -> Vec<f32> {
    let r =
        app.client.get(app.url(&format!("/api/v1/models/{model}/file"))).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let f = genfab::ml::FittedVae::from_bytes(&r.bytes().await.unwrap()).unwrap();
    f.weights().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_training_is_replaced_and_the_run_resumes_from_its_checkpoint() {
    let app = spawn_app(Backend::Postgres).await;
    let store = app.store().await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let spec = json!({"epochs": 24, "hidden": [64, 64], "latent": 8, "batch_size": 32, "patience": null, "threads": 1, "seed": 11});
    let m: serde_json::Value = app
        .post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec, "checkpoint_every": 2}))
        .await
        .json()
        .await
        .unwrap();
    let (model, job) = (m["id"].as_i64().unwrap(), m["job_id"].as_i64().unwrap());

    let mut child = Command::new(env!("CARGO_BIN_EXE_genfab"))
        .args([
            "worker",
            "--lease-seconds",
            "2",
            "--heartbeat-seconds",
            "0.5",
            "--poll-seconds",
            "0.05",
            "--threads",
            "1",
        ])
        .env("DATABASE_URL", database_url(&app.settings.database))
        .env("GENFAB_STATE_DIR", app.settings.state_dir.join("killed-worker"))
        .env("GENFAB_LOG", "warn")
        .spawn()
        .expect("worker process starts");
    wait_for(180, "a checkpoint at epoch 4 or later", || async {
        matches!(store.load_checkpoint(job).await.unwrap(), Some((e, _)) if e >= 4)
    })
    .await;
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let (checkpoint, _) = store.load_checkpoint(job).await.unwrap().unwrap();
    let j = store.get_job(job).await.unwrap().unwrap();
    assert_eq!(j.status, "running", "the dead worker still holds the job until its lease expires");
    assert!(checkpoint < 24, "killed before the end");

    // a new worker (the in-process one) takes the job over once the lease expires
    let (tx, rx) = tokio::sync::watch::channel(false);
    let s2 = Store::connect(&app.settings.database).await.unwrap();
    let w = tokio::spawn(genfab::jobs::run_worker(s2, fast_worker(), rx));
    let done = app
        .wait_until(&format!("/api/v1/models/{model}"), 300, |m| m["status"] != "training" && m["status"] != "queued")
        .await;
    assert_eq!(done["status"], "ready", "{done}");
    let j = store.get_job(job).await.unwrap().unwrap();
    assert_eq!(j.attempts, 2);
    let result = j.result.unwrap().0;
    assert!(result["resumed_from_epoch"].as_i64().unwrap() >= checkpoint as i64, "{result}");
    assert_eq!(result["epochs_run"], 24);
    // every epoch once, none lost
    let epochs: Vec<i32> = store.model_epochs(model).await.unwrap().into_iter().map(|(e, _)| e).collect();
    assert_eq!(epochs, (1..=24).collect::<Vec<_>>());
    // one model for the dataset, and no checkpoint left behind
    let (_, models) = app.get_json(&format!("/api/v1/models?dataset_id={ds}")).await;
    assert_eq!(models["items"].as_array().unwrap().len(), 1);
    assert!(store.load_checkpoint(job).await.unwrap().is_none());

    // the resumed run ends with exactly the weights of an uninterrupted run of the same spec
    let again: serde_json::Value =
        app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec})).await.json().await.unwrap();
    let again_id = again["id"].as_i64().unwrap();
    let d = app
        .wait_until(&format!("/api/v1/models/{again_id}"), 300, |m| m["status"] == "ready" || m["status"] == "failed")
        .await;
    assert_eq!(d["status"], "ready");
    assert_eq!(weights(&app, model).await, weights(&app, again_id).await);
    tx.send(true).unwrap();
    w.await.unwrap().unwrap();
    app.stop().await;
}

/// A Postgres server of our own (initdb in a temp folder, a free port), so restarting it does
/// not disturb the other tests. Needs the server binaries, which `.ci/run` installs.
struct PrivateCluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn as_postgres(cmd: &Path, args: &[&str]) -> std::process::Output {
    let root = unsafe_is_root();
    let out = if root {
        Command::new("runuser").arg("-u").arg("postgres").arg("--").arg(cmd).args(args).output()
    } else {
        Command::new(cmd).args(args).output()
    }
    .unwrap_or_else(|e| panic!("could not run {}: {e}", cmd.display()));
    assert!(out.status.success(), "{} {args:?} failed: {}", cmd.display(), String::from_utf8_lossy(&out.stderr));
    out
}

fn unsafe_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl PrivateCluster {
    fn start() -> PrivateCluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Postgres server binaries under /usr/lib/postgresql (see .ci/run)")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("pg_ctl").exists())
            .expect("pg_ctl");
        let dir = tempfile::Builder::new().prefix("genfab-pg-").tempdir_in("/tmp").unwrap();
        if unsafe_is_root() {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(ok.success());
        }
        let data = dir.path().join("data");
        as_postgres(&bin.join("initdb"), &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = PrivateCluster { bin, data, port, _dir: dir };
        c.up();
        c
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut all = vec!["-D", self.data.to_str().unwrap()];
        all.extend_from_slice(args);
        as_postgres(&self.bin.join("pg_ctl"), &all);
    }

    fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data.parent().unwrap().display()
        );
        let log = self.data.parent().unwrap().join("log");
        self.pg_ctl(&["-o", &opts, "-l", log.to_str().unwrap(), "-w", "start"]);
    }

    fn down(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_while_jobs_run_is_survived() {
    let pg = tokio::task::spawn_blocking(PrivateCluster::start).await.unwrap();
    let (mut settings, dir) = test_settings(Backend::Sqlite).await;
    settings.database = DatabaseConfig::Postgres(Secret::new(pg.url()));
    settings.run_worker = true;
    settings.worker = genfab::config::WorkerConfig { concurrency: 2, ..fast_worker() };
    let app = spawn_with(settings, dir).await;
    let store = app.store().await;
    let mut ids = vec![];
    for i in 0..30 {
        ids.push(store.enqueue(&NewJob::new("noop", json!({ "i": i, "sleep_ms": 150 }))).await.unwrap());
    }
    wait_for(60, "some jobs to finish", || async { statuses(&store, &ids).await.iter().any(|s| s == "succeeded") })
        .await;
    let pg = tokio::task::spawn_blocking(move || {
        pg.down();
        std::thread::sleep(Duration::from_secs(2));
        pg.up();
        pg
    })
    .await
    .unwrap();
    wait_for(120, "every job to succeed after the restart", || async {
        match store.job_counts().await {
            Ok(c) => c.iter().any(|(s, n)| s == "succeeded" && *n == 30),
            Err(_) => false,
        }
    })
    .await;
    // the API reconnected too
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    let r = app
        .post_json(
            "/api/v1/schedules",
            &json!({"name": "after restart", "cron": "0 2 * * *", "template": {"steps": [{"kind": "noop"}]}}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    app.stop().await;
    drop(pg);
}

/// What the clients of the outage test saw.
#[derive(Default)]
struct Seen {
    /// Appends answered 201 (each a distinct Idempotency-Key).
    acked: u64,
    /// Answers while the database was down: (status, had Retry-After, milliseconds).
    during: Vec<(u16, bool, u128)>,
    /// Any 5xx other than 503, or a 503 without Retry-After, at any time.
    bad: Vec<String>,
}

/// Postgres stopped for 30 s under appends and reads: every call answers (503 with `Retry-After`,
/// most at once through the outage breaker, without waiting for the pool), nothing is
/// half-written (each acknowledged append is in the table exactly once, and the versions count
/// them), and the same server serves again once the database is back, without a restart. The
/// times are printed for the note, not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_for_30_s_under_appends_answers_503_and_loses_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let pg = tokio::task::spawn_blocking(PrivateCluster::start).await.unwrap();
    let (mut settings, dir) = test_settings(Backend::Sqlite).await;
    settings.database = DatabaseConfig::Postgres(Secret::new(pg.url()));
    let app = Arc::new(spawn_with(settings, dir).await);
    let csv = crate::helpers::data_file("concrete/Concrete_Data.csv");
    let text = String::from_utf8(csv.clone()).unwrap();
    let batch: String = text.lines().take(11).map(|l| format!("{l}\n")).collect(); // header and 10 rows
    let ds = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let (_, before) = app.get_json(&format!("/api/v1/datasets/{ds}")).await;
    let base_rows = before["row_count"].as_i64().unwrap();

    let down = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..8 {
        let (app, down, stop, seen, batch) = (app.clone(), down.clone(), stop.clone(), seen.clone(), batch.clone());
        clients.spawn(async move {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                n += 1;
                let key = format!("client-{client}-append-{n}");
                // an append is retried with its key until it is acknowledged, as an MES would
                loop {
                    let was_down = down.load(Ordering::Acquire);
                    let t = Instant::now();
                    let r = http
                        .post(app.url(&format!("/api/v1/datasets/{ds}/rows")))
                        .bearer_auth(&app.admin)
                        .header("content-type", "text/csv")
                        .header("idempotency-key", &key)
                        .body(batch.clone())
                        .send()
                        .await;
                    let ms = t.elapsed().as_millis();
                    let (status, retry) = match &r {
                        Ok(r) => (r.status().as_u16(), r.headers().get("retry-after").is_some()),
                        Err(e) => panic!("the server did not answer an append: {e}"),
                    };
                    {
                        let mut s = seen.lock().unwrap();
                        if was_down && down.load(Ordering::Acquire) {
                            s.during.push((status, retry, ms));
                        }
                        if status >= 500 && (status != 503 || !retry) {
                            s.bad.push(format!("append answered {status} (Retry-After: {retry}) after {ms} ms"));
                        }
                        if status == 201 {
                            s.acked += 1;
                        }
                    }
                    if status == 201 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                // a read between appends
                let r = http.get(app.url(&format!("/api/v1/datasets/{ds}"))).bearer_auth(&app.admin).send().await;
                let r = r.expect("the server answers reads");
                let (status, retry) = (r.status().as_u16(), r.headers().get("retry-after").is_some());
                if status >= 500 && (status != 503 || !retry) {
                    seen.lock().unwrap().bad.push(format!("read answered {status} (Retry-After: {retry})"));
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let acked_before = seen.lock().unwrap().acked;
    assert!(acked_before > 0, "no append landed before the outage");
    let pg = tokio::task::spawn_blocking(move || {
        pg.down();
        pg
    })
    .await
    .unwrap();
    down.store(true, Ordering::Release);
    let outage = Instant::now();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "/readyz while the database is down");
    down.store(false, Ordering::Release);
    let pg = tokio::task::spawn_blocking(move || {
        pg.up();
        pg
    })
    .await
    .unwrap();
    let back = Instant::now();
    let acked_at_restart = seen.lock().unwrap().acked;
    wait_for(60, "an append to land after the database is back", || async {
        seen.lock().unwrap().acked > acked_at_restart
    })
    .await;
    let recovery = back.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Release);
    while let Some(r) = clients.join_next().await {
        r.expect("a client panicked");
    }
    let s = std::mem::take(&mut *seen.lock().unwrap());
    assert!(s.bad.is_empty(), "answers that are not a clean 503: {:?}", &s.bad[..s.bad.len().min(10)]);
    assert!(!s.during.is_empty(), "no call was answered during the outage");
    assert!(
        s.during.iter().all(|(st, retry, _)| *st == 503 && *retry),
        "during the outage: {:?}",
        &s.during[..10.min(s.during.len())]
    );
    let mut ms: Vec<u128> = s.during.iter().map(|d| d.2).collect();
    ms.sort_unstable();
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    println!(
        "outage {:.1} s: {} appends answered 503 with Retry-After, median {} ms, p99 {} ms, max {} ms; \
         first append acknowledged {:.2} s after Postgres was back; {} appends acknowledged in all",
        (back - outage).as_secs_f64(),
        ms.len(),
        pct(0.5),
        pct(0.99),
        ms[ms.len() - 1],
        recovery.as_secs_f64(),
        s.acked
    );
    // exactly once: the rows and the versions count the acknowledged appends
    let (_, after) = app.get_json(&format!("/api/v1/datasets/{ds}")).await;
    assert_eq!(after["row_count"].as_i64().unwrap(), base_rows + 10 * s.acked as i64, "{after}");
    assert_eq!(after["latest_version"].as_i64().unwrap(), 1 + s.acked as i64, "{after}");
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    Arc::into_inner(app).expect("clients are done").stop().await;
    drop(pg);
}
