//! `genfab bench load`: a plant's MES against a running `genfab serve`, from another process on
//! loopback. Concurrent clients mix appends (each with its own `Idempotency-Key`, some sent twice
//! on purpose, every one retried until acknowledged), scoring calls and reads, for a fixed time;
//! optionally the database is stopped and started again in the middle by commands given on the
//! command line. The report gives throughput and latency percentiles per route, what was answered
//! while the database was down, how long the first append took to land after it came back, and
//! whether every acknowledged append is in the dataset exactly once (its row count).
//!
//! `scripts/load.sh` sets up a server, a private Postgres, the data, a training and a study run,
//! and calls this.

use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The server, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub token: String,
    pub clients: usize,
    pub duration: Duration,
    /// The dataset appended to, and the CSV batch (header and rows) each append sends.
    pub dataset: i64,
    pub append_csv: String,
    /// A calibrated detector and the CSV rows each scoring call sends.
    pub score: Option<(i64, String)>,
    /// A study run whose candidates are read.
    pub run: Option<i64>,
    /// Share of acknowledged appends sent a second time with the same key.
    pub resend_share: f64,
    pub outage: Option<Outage>,
    pub seed: u64,
}

/// A database outage in the middle of the load, by commands run with `sh -c`.
#[derive(Clone, Debug)]
pub struct Outage {
    pub after: Duration,
    pub length: Duration,
    pub stop_cmd: String,
    pub start_cmd: String,
}

/// Latency and answers of one route.
#[derive(Debug, Serialize)]
pub struct RouteReport {
    pub route: String,
    pub requests: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers by status (0: no answer, e.g. connection refused).
    pub statuses: BTreeMap<u16, usize>,
}

/// What the clients saw from the stop command's start until the first append acknowledged after
/// the start command.
#[derive(Debug, Serialize)]
pub struct OutageReport {
    pub seconds_down: f64,
    pub answered: usize,
    pub statuses: BTreeMap<u16, usize>,
    /// Answers of 503 that carried `Retry-After`.
    pub with_retry_after: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// From the start command's return to the first append acknowledged after it.
    pub recovery_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub clients: usize,
    pub seconds: f64,
    pub requests: usize,
    pub per_second: f64,
    /// 5xx answers outside the outage, and answers that never came (outside it).
    pub errors_outside_outage: usize,
    /// The first ten of them: route, when (seconds into the run), status, how long.
    pub error_examples: Vec<String>,
    /// The outage's window in seconds into the run: the stop command's start, and the first
    /// append acknowledged after the start command.
    pub outage_window_s: Option<(f64, Option<f64>)>,
    pub routes: Vec<RouteReport>,
    pub appends_acknowledged: u64,
    /// Appends sent again with the same key on purpose, and how many of those were answered as
    /// the first (the same version).
    pub deliberate_resends: u64,
    pub resends_replayed: u64,
    pub rows_expected: i64,
    pub rows_found: i64,
    pub exactly_once: bool,
    pub outage: Option<OutageReport>,
}

/// One answered (or unanswered) call.
struct Sample {
    route: &'static str,
    status: u16,
    retry_after: bool,
    started: Instant,
    ms: f64,
}

#[derive(Default)]
struct Shared {
    samples: Vec<Sample>,
    acked: u64,
    resends: u64,
    replayed: u64,
    /// When the first append after the database came back was acknowledged.
    first_ack_after_up: Option<Instant>,
}

struct Window {
    down: Option<Instant>,
    up: Option<Instant>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the load and checks the dataset's row count afterwards.
pub async fn run(cfg: LoadConfig) -> anyhow::Result<LoadReport> {
    if cfg.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let batch_rows = cfg.append_csv.lines().filter(|l| !l.trim().is_empty()).count().saturating_sub(1) as i64;
    if batch_rows == 0 {
        bail!("the append batch has no rows under its header");
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(cfg.clients)
        .build()
        .context("could not build the HTTP client")?;
    let base_rows = row_count(&http, &cfg).await?;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let window = Arc::new(Mutex::new(Window { down: None, up: None }));
    let start = Instant::now();
    let deadline = start + cfg.duration;

    let outage_task = cfg.outage.clone().map(|o| {
        let window = window.clone();
        tokio::spawn(async move {
            tokio::time::sleep(o.after).await;
            // the database starts going down as the command starts
            window.lock().unwrap().down = Some(Instant::now());
            shell(&o.stop_cmd).await?;
            tokio::time::sleep(o.length).await;
            shell(&o.start_cmd).await?;
            window.lock().unwrap().up = Some(Instant::now());
            anyhow::Ok(())
        })
    });

    let mut clients = tokio::task::JoinSet::new();
    for c in 0..cfg.clients {
        let (cfg, http, shared, window) = (cfg.clone(), http.clone(), shared.clone(), window.clone());
        clients.spawn(async move { client(c, cfg, http, shared, window, deadline).await });
    }
    while let Some(r) = clients.join_next().await {
        r.context("a load client panicked")??;
    }
    if let Some(t) = outage_task {
        t.await.context("the outage task panicked")??;
    }
    let seconds = start.elapsed().as_secs_f64();
    let rows_found = row_count(&http, &cfg).await?;

    let shared = Arc::into_inner(shared).expect("clients are done").into_inner().unwrap();
    let window = window.lock().unwrap();
    // from the stop command's start to the first append acknowledged after the start command
    // (the breaker may still answer 503 for up to its Retry-After once the database is back)
    let outage_end = window.up.map(|u| shared.first_ack_after_up.unwrap_or(u).max(u));
    // a call counts as in the outage when it was under way at any time in that window
    let in_outage = |s: &Sample| {
        let ended = s.started + Duration::from_secs_f64(s.ms / 1000.0);
        match (window.down, outage_end) {
            (Some(d), Some(u)) => ended >= d && s.started < u,
            (Some(d), None) => ended >= d,
            _ => false,
        }
    };
    let mut by_route: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in &shared.samples {
        by_route.entry(s.route).or_default().push(s);
    }
    let routes = by_route
        .into_iter()
        .map(|(route, samples)| {
            let mut ms: Vec<f64> = samples.iter().map(|s| s.ms).collect();
            ms.sort_by(f64::total_cmp);
            let mut statuses = BTreeMap::new();
            for s in &samples {
                *statuses.entry(s.status).or_insert(0) += 1;
            }
            RouteReport {
                route: route.to_string(),
                requests: samples.len(),
                per_second: samples.len() as f64 / seconds,
                p50_ms: percentile(&ms, 0.5),
                p99_ms: percentile(&ms, 0.99),
                max_ms: ms.last().copied().unwrap_or(0.0),
                statuses,
            }
        })
        .collect();
    let outside: Vec<&Sample> =
        shared.samples.iter().filter(|s| !in_outage(s) && (s.status >= 500 || s.status == 0)).collect();
    let errors_outside_outage = outside.len();
    let at = |t: Instant| (t - start).as_secs_f64();
    let error_examples = outside
        .iter()
        .take(10)
        .map(|s| format!("{} at {:.2} s: {} after {:.0} ms", s.route, at(s.started), s.status, s.ms))
        .collect();
    let outage = window.down.map(|down| {
        let during: Vec<&Sample> = shared.samples.iter().filter(|s| in_outage(s)).collect();
        let mut ms: Vec<f64> = during.iter().map(|s| s.ms).collect();
        ms.sort_by(f64::total_cmp);
        let mut statuses = BTreeMap::new();
        for s in &during {
            *statuses.entry(s.status).or_insert(0) += 1;
        }
        OutageReport {
            seconds_down: window.up.map_or(0.0, |u| (u - down).as_secs_f64()),
            answered: during.len(),
            statuses,
            with_retry_after: during.iter().filter(|s| s.status == 503 && s.retry_after).count(),
            p50_ms: percentile(&ms, 0.5),
            p99_ms: percentile(&ms, 0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
            recovery_seconds: match (window.up, shared.first_ack_after_up) {
                (Some(u), Some(a)) => Some((a - u).as_secs_f64()),
                _ => None,
            },
        }
    });
    let rows_expected = base_rows + batch_rows * shared.acked as i64;
    Ok(LoadReport {
        clients: cfg.clients,
        seconds,
        requests: shared.samples.len(),
        per_second: shared.samples.len() as f64 / seconds,
        errors_outside_outage,
        error_examples,
        outage_window_s: window.down.map(|d| (at(d), outage_end.map(at))),
        routes,
        appends_acknowledged: shared.acked,
        deliberate_resends: shared.resends,
        resends_replayed: shared.replayed,
        rows_expected,
        rows_found,
        exactly_once: rows_expected == rows_found,
        outage,
    })
}

async fn shell(cmd: &str) -> anyhow::Result<()> {
    let owned = cmd.to_string();
    let status = tokio::task::spawn_blocking(move || std::process::Command::new("sh").arg("-c").arg(owned).status())
        .await?
        .with_context(|| format!("could not run `{cmd}`"))?;
    if !status.success() {
        bail!("`{cmd}` failed: {status}");
    }
    Ok(())
}

async fn row_count(http: &reqwest::Client, cfg: &LoadConfig) -> anyhow::Result<i64> {
    let url = format!("{}/api/v1/datasets/{}", cfg.url, cfg.dataset);
    let r = http.get(&url).bearer_auth(&cfg.token).send().await.with_context(|| format!("GET {url}"))?;
    if !r.status().is_success() {
        bail!("GET {url} answered {}", r.status());
    }
    let v: serde_json::Value = r.json().await?;
    v["row_count"].as_i64().with_context(|| format!("{url} has no row_count: {v}"))
}

/// One call; `None` when no answer came (connection refused, timeout).
async fn call(
    shared: &Mutex<Shared>,
    route: &'static str,
    req: reqwest::RequestBuilder,
) -> Option<(u16, Option<u64>, serde_json::Value)> {
    let started = Instant::now();
    let r = req.send().await;
    let (status, retry_after, body) = match r {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let body = r.json::<serde_json::Value>().await.unwrap_or(serde_json::Value::Null);
            (status, retry, Some(body))
        }
        Err(_) => (0, None, None),
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    shared.lock().unwrap().samples.push(Sample { route, status, retry_after: retry_after.is_some(), started, ms });
    body.map(|b| (status, retry_after, b))
}

async fn client(
    id: usize,
    cfg: LoadConfig,
    http: reqwest::Client,
    shared: Arc<Mutex<Shared>>,
    window: Arc<Mutex<Window>>,
    deadline: Instant,
) -> anyhow::Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(id as u64));
    let url = |p: String| format!("{}{p}", cfg.url);
    let mut appends = 0u64;
    while Instant::now() < deadline {
        let pick: f64 = rng.random();
        if pick < 0.35 {
            appends += 1;
            let key = format!("load-{}-{id}-{appends}", cfg.seed);
            append(&cfg, &http, &shared, &window, &key, &mut rng).await?;
        } else if pick < 0.65 && cfg.score.is_some() {
            let (det, rows) = cfg.score.as_ref().unwrap();
            let req = http
                .post(url(format!("/api/v1/detectors/{det}/score")))
                .bearer_auth(&cfg.token)
                .header("content-type", "text/csv")
                .body(rows.clone());
            call(&shared, "POST /detectors/{id}/score", req).await;
        } else {
            let (route, path) = match rng.random_range(0..4) {
                0 => ("GET /datasets/{id}", format!("/api/v1/datasets/{}", cfg.dataset)),
                1 => ("GET /jobs", "/api/v1/jobs?limit=20".to_string()),
                2 if cfg.run.is_some() => {
                    ("GET /runs/{id}/candidates", format!("/api/v1/runs/{}/candidates?limit=50", cfg.run.unwrap()))
                }
                _ => ("GET /models", "/api/v1/models?limit=20".to_string()),
            };
            call(&shared, route, http.get(url(path)).bearer_auth(&cfg.token)).await;
        }
    }
    Ok(())
}

/// Appends one batch with `key`, retrying (after `Retry-After`, at most 2 s) until it is
/// acknowledged; then, for a share of them, sends it again and checks it is answered as the first.
async fn append(
    cfg: &LoadConfig,
    http: &reqwest::Client,
    shared: &Mutex<Shared>,
    window: &Mutex<Window>,
    key: &str,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> anyhow::Result<()> {
    let url = format!("{}/api/v1/datasets/{}/rows", cfg.url, cfg.dataset);
    let send = || {
        http.post(&url)
            .bearer_auth(&cfg.token)
            .header("content-type", "text/csv")
            .header("idempotency-key", key)
            .body(cfg.append_csv.clone())
    };
    let give_up = Instant::now() + Duration::from_secs(300);
    let first = loop {
        match call(shared, "POST /datasets/{id}/rows", send()).await {
            Some((201, _, body)) => {
                let mut s = shared.lock().unwrap();
                s.acked += 1;
                if window.lock().unwrap().up.is_some() && s.first_ack_after_up.is_none() {
                    s.first_ack_after_up = Some(Instant::now());
                }
                break body;
            }
            Some((status, retry, body)) if status == 429 || status >= 500 => {
                if Instant::now() > give_up {
                    bail!("append {key} was never acknowledged: {status} {body}");
                }
                tokio::time::sleep(Duration::from_millis(retry.map_or(200, |s| (s * 1000).min(2000)))).await;
            }
            None => {
                if Instant::now() > give_up {
                    bail!("append {key} was never answered");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Some((status, _, body)) => bail!("append {key} was refused: {status} {body}"),
        }
    };
    if rng.random::<f64>() < cfg.resend_share {
        if let Some((status, _, again)) = call(shared, "POST /datasets/{id}/rows (resent)", send()).await {
            let mut s = shared.lock().unwrap();
            s.resends += 1;
            if status == 201 && again["latest_version"] == first["latest_version"] {
                s.replayed += 1;
            }
        }
    }
    Ok(())
}
