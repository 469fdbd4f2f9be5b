//! `genfab bench upload`: how fast a table goes from request body to a stored dataset version
//! (parse, infer, validate, compress, store), with the process's peak memory.

use crate::catalog;
use crate::config::{DatabaseConfig, Limits};
use crate::ingest::{CsvOptions, Format};
use crate::store::Store;
use anyhow::Context;
use serde::Serialize;
use std::time::Instant;

/// One measured upload.
#[derive(Debug, Serialize)]
pub struct UploadReport {
    pub store: &'static str,
    pub source: String,
    pub rows: i64,
    pub columns: usize,
    pub bytes: usize,
    pub seconds: f64,
    pub rows_per_s: f64,
    pub mb_per_s: f64,
    /// Peak resident memory of the whole process (VmHWM), including the body itself.
    pub peak_rss_mb: Option<f64>,
    /// The dataset the measurement created (removed again by `genfab bench upload`).
    #[serde(skip)]
    pub dataset_id: i64,
}

/// A CSV of `rows` x `cols` random values with 6 decimals (a seeded xorshift, no dependency).
pub fn synthetic_csv(rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(rows * cols * 10);
    let header: Vec<String> = (1..=cols).map(|c| format!("sensor_{c}")).collect();
    out.extend_from_slice(header.join(",").as_bytes());
    out.push(b'\n');
    let mut s = seed.max(1);
    for _ in 0..rows {
        for c in 0..cols {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = (s >> 11) as f64 / (1u64 << 53) as f64 * 100.0 - 50.0;
            if c > 0 {
                out.push(b',');
            }
            let _ = write!(out, "{x:.6}");
        }
        out.push(b'\n');
    }
    out
}

/// Peak resident set size from /proc (Linux); `None` elsewhere.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Uploads `body` once into `store` and reports the throughput.
pub async fn upload(store: &Store, source: String, body: Vec<u8>, name: &str) -> anyhow::Result<UploadReport> {
    let bytes = body.len();
    let start = Instant::now();
    let (d, v) = catalog::upload(store, name, body.into(), Format::Csv(CsvOptions::default()), None, Limits::default())
        .await
        .map_err(|e| anyhow::anyhow!("upload failed: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(UploadReport {
        store: store.backend(),
        source,
        rows: v.row_count,
        columns: v.schema.0.columns.len(),
        bytes,
        seconds,
        rows_per_s: v.row_count as f64 / seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds,
        peak_rss_mb: peak_rss_mb(),
        dataset_id: d.id,
    })
}

/// The store to measure: `DATABASE_URL` if set, else a fresh SQLite file that is removed after.
pub async fn bench_store(database: &DatabaseConfig) -> anyhow::Result<(Store, Option<std::path::PathBuf>)> {
    let (config, temp) = match database {
        DatabaseConfig::Postgres(_) => (database.clone(), None),
        DatabaseConfig::Sqlite(path) => {
            let dir = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
            let file = dir.join(format!("bench-{}.db", std::process::id()));
            (DatabaseConfig::Sqlite(file.clone()), Some(file))
        }
    };
    let store = Store::connect(&config).await?;
    store.migrate().await?;
    Ok((store, temp))
}

/// Closes a bench store and removes its temporary SQLite file.
pub async fn close_store(store: Store, temp: Option<std::path::PathBuf>) {
    store.close().await;
    if let Some(t) = temp {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", t.display()));
        }
    }
}

/// What `genfab bench queue` measured.
#[derive(Debug, serde::Serialize)]
pub struct QueueReport {
    pub backend: &'static str,
    pub jobs: usize,
    pub workers: usize,
    pub enqueue_per_s: f64,
    pub seconds: f64,
    pub jobs_per_s: f64,
    pub claim_ms_p50: f64,
    pub claim_ms_p95: f64,
    pub claim_ms_p99: f64,
    pub claims_by_worker: Vec<usize>,
    pub all_ran_once: bool,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Empty (`noop`) jobs through the real claim-execute-finish path with `workers` worker loops,
/// each on its own connection pool. Refuses a store whose queue is not empty.
pub async fn queue(store: &Store, config: &DatabaseConfig, n: usize, workers: usize) -> anyhow::Result<QueueReport> {
    anyhow::ensure!(n > 0 && workers > 0, "--jobs and --workers must be at least 1");
    let busy: i64 =
        store.job_counts().await?.iter().filter(|(s, _)| s == "queued" || s == "running").map(|(_, c)| c).sum();
    anyhow::ensure!(busy == 0, "{busy} jobs are queued or running; run the queue bench on a scratch database");
    let t0 = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(store.enqueue(&crate::store::NewJob::new("noop", serde_json::json!({}))).await?);
    }
    let enqueue_s = t0.elapsed().as_secs_f64();
    let cfg = crate::config::WorkerConfig { poll: std::time::Duration::from_millis(1), ..Default::default() };
    let start = Instant::now();
    let mut tasks = vec![];
    for _ in 0..workers {
        let s = match config {
            DatabaseConfig::Postgres(_) => Store::connect(config).await?,
            DatabaseConfig::Sqlite(_) => store.clone(),
        };
        let cfg = cfg.clone();
        tasks.push(tokio::spawn(async move {
            let owner = crate::jobs::worker_name();
            let mut latencies = vec![];
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut empty = 0;
            loop {
                let c0 = Instant::now();
                let job = s.claim_job(&owner, cfg.lease_chrono(), None).await?;
                latencies.push(c0.elapsed().as_secs_f64() * 1e3);
                match job {
                    Some(j) => {
                        empty = 0;
                        crate::jobs::execute(s.clone(), j, cfg.clone(), flag.clone()).await
                    }
                    None => {
                        empty += 1;
                        if empty > 3 {
                            break;
                        }
                        tokio::time::sleep(cfg.poll).await;
                    }
                }
            }
            latencies.truncate(latencies.len().saturating_sub(4));
            Ok::<Vec<f64>, anyhow::Error>(latencies)
        }));
    }
    let mut all = vec![];
    let mut by_worker = vec![];
    for t in tasks {
        let l = t.await??;
        by_worker.push(l.len());
        all.extend(l);
    }
    let seconds = start.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let mut once = true;
    for id in &ids {
        let j = store.get_job(*id).await?.ok_or_else(|| anyhow::anyhow!("job {id} vanished"))?;
        once &= j.status == "succeeded" && j.attempts == 1;
    }
    store.delete_jobs(&ids).await?;
    Ok(QueueReport {
        backend: store.backend(),
        jobs: n,
        workers,
        enqueue_per_s: n as f64 / enqueue_s,
        seconds,
        jobs_per_s: n as f64 / seconds,
        claim_ms_p50: percentile(&all, 0.5),
        claim_ms_p95: percentile(&all, 0.95),
        claim_ms_p99: percentile(&all, 0.99),
        claims_by_worker: by_worker,
        all_ran_once: once,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn synthetic_csv_has_the_asked_shape() {
        let csv = super::synthetic_csv(5, 3, 7);
        let text = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0], "sensor_1,sensor_2,sensor_3");
        assert!(lines[1..].iter().all(|l| l.split(',').count() == 3));
    }
}

/// What `genfab bench study` measured: the same random search with and without the store.
#[derive(Debug, serde::Serialize)]
pub struct StudyReport {
    pub backend: &'static str,
    pub evaluations: usize,
    /// Solver and evaluations alone, in memory.
    pub seconds_in_memory: f64,
    /// The `optimize` job: evaluations, candidate details, bulk inserts, progress, summary.
    pub seconds_as_job: f64,
    pub candidates_stored: i64,
    pub evaluations_per_s_as_job: f64,
    /// Job time over in-memory time.
    pub store_overhead_ratio: f64,
}

/// A 6-variable constrained study searched by `n` random evaluations, once in memory and once
/// as a job against the store, so the cost of storing every candidate shows as a ratio.
pub async fn study(store: &Store, n: usize) -> anyhow::Result<StudyReport> {
    use crate::optimize::solvers::{self, RunConfig, SolverKind};
    anyhow::ensure!(n > 0, "--evaluations must be at least 1");
    let spec: crate::optimize::study::StudySpec = serde_json::from_value(serde_json::json!({
        "variables": (0..6).map(|i| serde_json::json!({"name": format!("x{i}"), "kind": "continuous", "lo": -1, "hi": 1})).collect::<Vec<_>>(),
        "objectives": [{"name": "f", "expr": "x0^2 + x1^2 + x2^2 + x3^2 + x4^2 + x5^2"}],
        "constraints": [{"expr": "x0 + x1 >= 0.2"}]
    }))?;
    let name = format!("bench study {}", std::process::id());
    let id = crate::studies::create(store, &name, None, spec).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let row = store.get_study(id).await?.context("bench study vanished")?;
    let study = crate::studies::load(store, &row).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        solvers::run(SolverKind::Random, &study, &RunConfig { budget: n, seed: 1 }, &mut ())
    })
    .await??;
    let in_memory = t.elapsed().as_secs_f64();
    anyhow::ensure!(out.candidates.len() == n, "the solver made {} evaluations", out.candidates.len());
    let (run_id, job_id) = store.create_run(id, "random", n as i32, 1).await?;
    let cfg = crate::config::WorkerConfig::default();
    let t = Instant::now();
    // Claims this job (or, on a busy store, another one first: then the job is waited for).
    loop {
        crate::jobs::try_execute_job(store, "bench", &cfg).await?;
        let job = store.get_job(job_id).await?.context("bench job vanished")?;
        if job.status == "succeeded" {
            break;
        }
        anyhow::ensure!(
            job.status != "failed" && job.status != "cancelled",
            "the job ended {}: {:?}",
            job.status,
            job.last_error
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let as_job = t.elapsed().as_secs_f64();
    let run = store.get_run(run_id).await?.context("bench run vanished")?;
    Ok(StudyReport {
        backend: store.backend(),
        evaluations: n,
        seconds_in_memory: in_memory,
        seconds_as_job: as_job,
        candidates_stored: run.evaluations as i64,
        evaluations_per_s_as_job: n as f64 / as_job,
        store_overhead_ratio: as_job / in_memory.max(1e-9),
    })
}
