//! Prometheus metrics: requests by route and status, latency, jobs by state.

use super::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::time::Instant;

/// The service's metric families, registered in one registry per application.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    jobs: IntGaugeVec,
    detector_rows: IntCounterVec,
    detector_drift: GaugeVec,
    limit_refusals: IntCounterVec,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Metrics> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("genfab_http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("genfab_http_request_duration_seconds", "HTTP request latency by route").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["route"],
        )?;
        let jobs = IntGaugeVec::new(Opts::new("genfab_jobs", "Jobs by status"), &["status"])?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(jobs.clone()))?;
        let detector_rows = IntCounterVec::new(
            Opts::new("genfab_detector_rows_total", "Rows scored by detectors, by verdict (ok, anomaly, error)"),
            &["detector", "verdict"],
        )?;
        let detector_drift = GaugeVec::new(
            Opts::new(
                "genfab_detector_drift",
                "Drift of a detector's recent scored rows against its calibration rows (PSI or KS) per column; \
                 column \"_score\" is the anomaly score",
            ),
            &["detector", "column", "statistic"],
        )?;
        registry.register(Box::new(detector_rows.clone()))?;
        registry.register(Box::new(detector_drift.clone()))?;
        let limit_refusals = IntCounterVec::new(
            Opts::new(
                "genfab_limit_refusals_total",
                "Requests refused by a limit (rate: 429 per token, jobs: 429 for queued jobs, json: depth or string length)",
            ),
            &["limit"],
        )?;
        registry.register(Box::new(limit_refusals.clone()))?;
        Ok(Metrics { registry, requests, latency, jobs, detector_rows, detector_drift, limit_refusals })
    }

    /// Counts one request refused by `limit` (`api::limits`).
    pub fn limit_refused(&self, limit: &str) {
        self.limit_refusals.with_label_values(&[limit]).inc();
    }

    /// Counts one scoring request's rows.
    pub fn detector_rows(&self, detector: i64, ok: usize, anomalies: usize, errors: usize) {
        let id = detector.to_string();
        for (verdict, n) in [("ok", ok), ("anomaly", anomalies), ("error", errors)] {
            if n > 0 {
                self.detector_rows.with_label_values(&[id.as_str(), verdict]).inc_by(n as u64);
            }
        }
    }
}

/// Detectors whose drift `/metrics` reports (the newest ones).
const DRIFT_DETECTORS: i64 = 50;

/// Sets the drift gauges from each detector's recent rows.
async fn update_drift(state: &AppState) -> anyhow::Result<()> {
    state.metrics.detector_drift.reset();
    for d in state.store.list_detectors(0, DRIFT_DETECTORS).await? {
        let Some(v) = state.store.get_detector_version(d.id, None).await? else { continue };
        let report = super::detectors::current_drift(state, &d, &v).await?;
        let id = d.id.to_string();
        let set = |column: &str, stats: &serde_json::Value| {
            for s in ["psi", "ks"] {
                if let Some(x) = stats[s].as_f64() {
                    state.metrics.detector_drift.with_label_values(&[id.as_str(), column, s]).set(x);
                }
            }
        };
        set("_score", &report["score"]);
        for c in report["columns"].as_array().into_iter().flatten() {
            set(c["column"].as_str().unwrap_or(""), c);
        }
    }
    Ok(())
}

/// Middleware: counts and times every request under its route pattern (not its raw path).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
    let method = req.method().to_string();
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_string());
        let status = res.status().as_u16().to_string();
        m.requests.with_label_values(&[route.as_str(), method.as_str(), status.as_str()]).inc();
        m.latency.with_label_values(&[route.as_str()]).observe(start.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// Prometheus metrics: requests and latency per route, jobs by status, detector rows and drift.
#[utoipa::path(get, path = "/metrics", tag = "meta", responses((status = 200, description = "metrics in the Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Ok(counts) = state.store.job_counts().await {
        for s in ["queued", "running", "succeeded", "failed", "cancelled"] {
            let n = counts.iter().find(|(k, _)| k == s).map(|(_, n)| *n).unwrap_or(0);
            state.metrics.jobs.with_label_values(&[s]).set(n);
        }
    }
    if let Err(e) = update_drift(&state).await {
        tracing::warn!(error = %format!("{e:#}"), "could not measure detector drift for /metrics");
    }
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&state.metrics.registry.gather(), &mut buf) {
        return HttpResponse::InternalServerError().body(format!("could not encode metrics: {e}"));
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(buf)
}
