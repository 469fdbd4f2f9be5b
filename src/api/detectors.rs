//! `/api/v1/detectors`: anomaly detectors made by a `calibrate` job, their versions, real-time
//! scoring for the MES (JSON rows or CSV, an error per bad row), the timeline of scored rows and
//! drift of recent rows against the calibration rows.

use super::body::collect;
use super::caller::Caller;
use super::error::ApiError;
use super::jobs::parse_id;
use super::models::{dataset_version, json_body, parse_spec};
use super::pagination::{Cursor, Page};
use super::AppState;
use crate::detectors::{self, drift_report, DetectorSpec, Loaded, DEFAULT_RETENTION_DAYS, DRIFT_ROWS};
use crate::domain::Permission;
use crate::ml::anomaly::{Reference, ScoreSpec};
use crate::ml::FittedVae;
use crate::store::{DetectorRow, NewDetector, NewScore, ScoreQuery, ScoreRow, VersionRow};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Rows one scoring request may carry.
pub const MAX_SCORE_ROWS: usize = 100_000;
/// Bytes one scoring request may carry.
const MAX_SCORE_BYTES: usize = 64 * 1024 * 1024;
/// Requests with more rows than this score on a blocking thread, not on the executor.
const INLINE_ROWS: usize = 2_000;
/// Longest retention one may ask for (10 years).
const MAX_RETENTION_DAYS: i64 = 3653;

/// Loaded detector versions by detector id; a new current version replaces its entry.
#[derive(Default)]
pub struct DetectorCache(Mutex<HashMap<i64, Arc<Loaded>>>);

pub fn routes(r: &mut super::Routes) {
    r.post("/detectors", create)
        .get("/detectors", list)
        .get("/detectors/{id}", get)
        .get("/detectors/{id}/versions", versions)
        .get("/detectors/{id}/versions/{version}", version)
        .post("/detectors/{id}/calibrate", recalibrate)
        .post("/detectors/{id}/score", score)
        .get("/detectors/{id}/scores", scores);
}

async fn detector_of(state: &AppState, raw: &str) -> Result<DetectorRow, ApiError> {
    let id = parse_id(raw, "detector")?;
    state.store.get_detector(id).await?.ok_or_else(|| ApiError::not_found(format!("detector {id} does not exist")))
}

fn version_json(v: &VersionRow, full: bool) -> Value {
    let c = &v.calibration.0;
    let mut out = json!({
        "version": v.version, "job_id": v.job_id, "dataset_version": v.dataset_version, "dataset_sha256": v.dataset_sha256,
        "model_id": v.model_id, "threshold": v.threshold, "method": c["method"]["method"], "calibration": c["method"], "false_alarm_rate": c["false_alarm_rate"],
        "recall": c["recall"], "precision": c["precision"], "f1": c["f1"], "auroc": c["curves"]["auroc"],
        "average_precision": c["curves"]["average_precision"], "summary": v.summary.0, "created_at": v.created_at,
    });
    if full {
        out["curves"] = c["curves"].clone();
    }
    out
}

fn detector_json(d: &DetectorRow) -> Value {
    json!({
        "id": d.id, "name": d.name, "dataset_id": d.dataset_id, "spec": d.spec.0, "retention_days": d.retention_days,
        "persist": d.persist, "current_version": d.current_version, "created_at": d.created_at,
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/detectors",
    tag = "detectors",
    request_body(content = Object, description = "`{name, dataset_id, version?, normal, columns?, model_id?, spec?, calibration, score?, holdout?, seed?, retention_days?, persist?}`; see README", content_type = "application/json"),
    responses((status = 202, description = "the detector and its calibration job", body = Object, content_type = "application/json"))
)]
async fn create(caller: Caller, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let mut req: serde_json::Map<String, Value> = json_body(&body)?;
    let name = match req.remove("name") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 128 => s.trim().to_string(),
        Some(_) => return Err(ApiError::bad_field("name", "name must be text of 1 to 128 characters")),
        None => return Err(ApiError::bad_field("name", "give the detector a name")),
    };
    let dataset_id = req
        .remove("dataset_id")
        .ok_or_else(|| ApiError::bad_field("dataset_id", "give the dataset whose normal rows the detector learns"))?
        .as_i64()
        .ok_or_else(|| ApiError::bad_field("dataset_id", "dataset_id must be an integer"))?;
    let version = match req.remove("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| ApiError::bad_field("version", "version must be an integer"))?,
        ),
    };
    let retention = match req.remove("retention_days") {
        None | Some(Value::Null) => DEFAULT_RETENTION_DAYS,
        Some(v) => v.as_i64().filter(|d| (1..=MAX_RETENTION_DAYS).contains(d)).ok_or_else(|| {
            ApiError::bad_field(
                "retention_days",
                format!("retention_days must be an integer from 1 to {MAX_RETENTION_DAYS}"),
            )
        })? as i32,
    };
    // a VAE to train: the given parameters over genfab's defaults, seeded by the detector's seed
    if req.get("model_id").is_none_or(Value::is_null) {
        let given = req.get("spec").filter(|s| !s.is_null()).cloned();
        let mut params = parse_spec(given.as_ref(), state.threads)?;
        if given.as_ref().and_then(|g| g.get("seed")).is_none() {
            params.seed = req.get("seed").and_then(Value::as_u64).unwrap_or(0);
        }
        req.insert("spec".into(), serde_json::to_value(params).map_err(anyhow::Error::from)?);
    }
    let persist = match req.remove("persist") {
        None | Some(Value::Null) => "before_answer".to_string(),
        Some(Value::String(p)) if p == "before_answer" || p == "after_answer" => p,
        Some(other) => {
            return Err(ApiError::bad_field(
                "persist",
                format!("persist is \"before_answer\" (default: a scored row is stored before the answer) or \"after_answer\" (answered first, stored within milliseconds), not {other}"),
            ))
        }
    };
    let spec = DetectorSpec::parse(Value::Object(req)).map_err(|e| ApiError::bad_field(&e.field, e.message))?;
    let (_, v) = dataset_version(&state, dataset_id, version).await?;
    spec.check(&v.schema.0).map_err(|e| ApiError::bad_field(&e.field, e.message))?;
    if let Some(m) = spec.model_id {
        let model = state
            .store
            .get_model(m)
            .await?
            .ok_or_else(|| ApiError::bad_field("model_id", format!("model {m} does not exist")))?;
        if model.job_status != "succeeded" {
            return Err(ApiError::bad_field(
                "model_id",
                format!("model {m} is not trained (its training is {})", model.job_status),
            ));
        }
    }
    let known: Vec<String> = v.schema.0.columns.iter().map(|c| c.name.clone()).collect();
    let spec_json = serde_json::to_value(&spec).map_err(anyhow::Error::from)?;
    let payload = json!({ "dataset_version": version });
    let (id, job_id) = state
        .store
        .create_detector(
            &NewDetector {
                name: &name,
                dataset_id,
                spec: &spec_json,
                known_columns: &known,
                retention_days: retention,
                persist: &persist,
            },
            payload,
        )
        .await?
        .ok_or_else(|| ApiError::conflict(format!("a detector named '{name}' exists already; choose another name")))?;
    tracing::info!(detector = id, job = job_id, "detector created; calibration queued");
    let row = state.store.get_detector(id).await?.ok_or_else(|| anyhow::anyhow!("detector {id} vanished"))?;
    let mut body = detector_json(&row);
    body["job"] = json!({ "id": job_id, "url": format!("/api/v1/jobs/{job_id}") });
    Ok(HttpResponse::Accepted().insert_header(("Location", format!("/api/v1/detectors/{id}"))).json(body))
}

#[derive(Deserialize)]
struct ListQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/detectors",
    tag = "detectors",
    params(("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "a page of detectors", body = Object, content_type = "application/json"))
)]
async fn list(caller: Caller, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (before, limit) = Cursor { cursor: q.cursor.clone(), limit: q.limit.clone() }.parse()?;
    let rows = state.store.list_detectors(before, limit + 1).await?;
    let items: Vec<Value> = rows.iter().map(detector_json).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |v| v["id"].as_i64().unwrap_or(0))))
}

/// Drift of the current version's most recent scored rows.
pub async fn current_drift(state: &AppState, d: &DetectorRow, v: &VersionRow) -> anyhow::Result<Value> {
    let q = ScoreQuery { limit: DRIFT_ROWS, version: Some(v.version), ..Default::default() };
    let recent = state.store.list_scores(d.id, &q).await?;
    let reference: Reference = serde_json::from_value(v.reference.0.clone()).unwrap_or_default();
    Ok(drift_report(&reference, &recent))
}

#[utoipa::path(
    get,
    path = "/api/v1/detectors/{id}",
    tag = "detectors",
    params(("id" = i64, Path, description = "the detector id")),
    responses((status = 200, description = "the detector, its drift and last 24 h", body = Object, content_type = "application/json"))
)]
async fn get(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let d = detector_of(&state, &path).await?;
    let mut body = detector_json(&d);
    let (rows, anomalies) = state.store.score_counts(d.id, chrono::Utc::now() - chrono::Duration::hours(24)).await?;
    body["last_24h"] = json!({ "scored": rows, "anomalies": anomalies });
    match state.store.get_detector_version(d.id, None).await? {
        Some(v) => {
            body["status"] = "ready".into();
            body["drift"] = current_drift(&state, &d, &v).await?;
            body["version"] = version_json(&v, false);
        }
        None => {
            body["status"] = "calibrating".into();
            body["version"] = Value::Null;
        }
    }
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(
    get,
    path = "/api/v1/detectors/{id}/versions",
    tag = "detectors",
    params(("id" = i64, Path, description = "the detector id")),
    responses((status = 200, description = "its versions", body = Object, content_type = "application/json"))
)]
async fn versions(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let d = detector_of(&state, &path).await?;
    let rows = state.store.list_detector_versions(d.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": rows.iter().map(|v| version_json(v, false)).collect::<Vec<_>>() })))
}

#[utoipa::path(
    get,
    path = "/api/v1/detectors/{id}/versions/{version}",
    tag = "detectors",
    params(("id" = i64, Path, description = "the detector id"), ("version" = i32, Path, description = "the version number")),
    responses((status = 200, description = "the version with its calibration", body = Object, content_type = "application/json"))
)]
async fn version(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let d = detector_of(&state, &path.0).await?;
    let n =
        path.1.parse::<i32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad_field("version", format!("'{}' is not a version number (1, 2, ...)", path.1))
        })?;
    let v = state
        .store
        .get_detector_version(d.id, Some(n))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("detector {} has no version {n}", d.id)))?;
    Ok(HttpResponse::Ok().json(version_json(&v, true)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Recalibrate {
    #[serde(default)]
    dataset_version: Option<i32>,
}

#[utoipa::path(
    post,
    path = "/api/v1/detectors/{id}/calibrate",
    tag = "detectors",
    params(("id" = i64, Path, description = "the detector id")),
    request_body(content = Recalibrate, content_type = "application/json"),
    responses((status = 202, description = "the calibration job", body = Object, content_type = "application/json"))
)]
async fn recalibrate(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let d = detector_of(&state, &path).await?;
    let req: Recalibrate =
        if body.iter().all(u8::is_ascii_whitespace) { Recalibrate::default() } else { json_body(&body)? };
    if let Some(v) = req.dataset_version {
        dataset_version(&state, d.dataset_id, Some(v)).await.map_err(|_| {
            ApiError::bad_field("dataset_version", format!("dataset {} has no version {v}", d.dataset_id))
        })?;
    }
    let job_id =
        state.store.queue_calibration(d.id, d.dataset_id, json!({ "dataset_version": req.dataset_version })).await?;
    tracing::info!(detector = d.id, job = job_id, "recalibration queued");
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/jobs/{job_id}")))
        .json(json!({ "detector_id": d.id, "job": { "id": job_id, "url": format!("/api/v1/jobs/{job_id}") } })))
}

/// The detector's current version, loaded once per process and version.
async fn loaded(state: &AppState, d: &DetectorRow) -> Result<Arc<Loaded>, ApiError> {
    let version = d.current_version.ok_or_else(|| {
        ApiError::conflict(format!(
            "detector {} is not calibrated yet; its calibration job must succeed first (GET /api/v1/detectors/{})",
            d.id, d.id
        ))
    })?;
    if let Some(l) = state.detectors.0.lock().unwrap_or_else(|e| e.into_inner()).get(&d.id) {
        if l.version == version {
            return Ok(l.clone());
        }
    }
    let v = state
        .store
        .get_detector_version(d.id, Some(version))
        .await?
        .ok_or_else(|| anyhow::anyhow!("detector {} version {version} vanished", d.id))?;
    let row_id = v.id;
    let bytes = state
        .store
        .detector_model_file(row_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("detector {} version {version} has no model", d.id))?;
    let spec: ScoreSpec = serde_json::from_value(d.spec.0["score"].clone()).unwrap_or_default();
    let known = d.known_columns.0.clone();
    let (id, threshold) = (d.id, v.threshold);
    let l = web::block(move || -> anyhow::Result<Loaded> {
        let model = FittedVae::from_bytes(&bytes)?;
        Ok(Loaded::new(id, version, model, threshold, spec, &known))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))??;
    let l = Arc::new(l);
    state.detectors.0.lock().unwrap_or_else(|e| e.into_inner()).insert(d.id, l.clone());
    Ok(l)
}

/// The rows of a scoring request: a JSON array, `{"rows": [...]}`, or CSV with a header.
fn request_rows(req: &HttpRequest, body: &[u8]) -> Result<Vec<Result<Value, String>>, ApiError> {
    let media = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let rows = if media.starts_with("text/csv") {
        detectors::csv_rows(body).map_err(ApiError::bad_request)?
    } else if media.is_empty() || media.starts_with("application/json") {
        let v: Value = json_body(body)?;
        let rows = match v {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("rows") {
                Some(Value::Array(a)) if o.is_empty() => a,
                _ => {
                    return Err(ApiError::bad_field(
                        "rows",
                        "send {\"rows\": [{column: value, ...}, ...]} or a JSON array of rows",
                    ))
                }
            },
            _ => {
                return Err(ApiError::bad_field(
                    "rows",
                    "send {\"rows\": [{column: value, ...}, ...]} or a JSON array of rows",
                ))
            }
        };
        rows.into_iter().map(Ok).collect()
    } else {
        return Err(ApiError::unsupported(format!(
            "Content-Type '{media}' cannot be scored; send application/json or text/csv"
        )));
    };
    if rows.is_empty() {
        return Err(ApiError::bad_field("rows", "there are no rows to score"));
    }
    if rows.len() > MAX_SCORE_ROWS {
        return Err(ApiError::too_large(format!("{} rows in one request; the limit is {MAX_SCORE_ROWS}", rows.len())));
    }
    Ok(rows)
}

/// What one scoring request came to: the kept rows (values and top contributions as JSON text)
/// and the answer's rows, in request order.
struct Scored {
    keep: Vec<NewScore>,
    rows: Vec<RowOut>,
    anomalies: usize,
    errors: usize,
}

/// One row of a scoring answer.
#[derive(Serialize)]
#[serde(untagged)]
enum RowOut {
    Scored {
        row: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        score: f64,
        anomaly: bool,
        verdict: &'static str,
        threshold: f64,
        version: i32,
        top: Box<RawValue>,
    },
    Refused {
        row: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        errors: Vec<detectors::CellError>,
    },
}

impl RowOut {
    fn row(&self) -> usize {
        match self {
            RowOut::Scored { row, .. } | RowOut::Refused { row, .. } => *row,
        }
    }
}

fn score_now(l: &Loaded, rows: &[Result<Value, String>]) -> Result<Scored, ApiError> {
    let inputs = l.inputs(rows);
    let verdicts = l.score(&inputs).map_err(|e| ApiError::bad_request(format!("the rows cannot be scored: {e}")))?;
    let mut keep = Vec::with_capacity(verdicts.len());
    let mut out = Vec::with_capacity(rows.len());
    for (r, v) in verdicts.into_iter().enumerate() {
        let top = serde_json::value::to_raw_value(&v.top).map_err(anyhow::Error::from)?;
        keep.push(NewScore {
            detector_id: l.detector_id,
            version: l.version,
            part: v.id.clone(),
            score: v.score,
            anomaly: v.anomaly,
            values: l.row_values(&inputs.table, r),
            top: top.clone(),
        });
        out.push(RowOut::Scored {
            row: v.row,
            id: v.id,
            score: v.score,
            anomaly: v.anomaly,
            verdict: if v.anomaly { "anomaly" } else { "ok" },
            threshold: l.threshold,
            version: l.version,
            top,
        });
    }
    let errors = inputs.errors.len();
    out.extend(inputs.errors.into_iter().map(|(row, id, errors)| RowOut::Refused { row, id, errors }));
    out.sort_by_key(RowOut::row);
    let anomalies = keep.iter().filter(|k| k.anomaly).count();
    Ok(Scored { keep, rows: out, anomalies, errors })
}

/// Parts (and rows) listed in a `detector.anomaly` event at most; the counts are always whole.
const EVENT_PARTS: usize = 100;

/// One `detector.anomaly` event per scoring call: counts, and which parts (their ids) and rows
/// were anomalies; never the rows' values.
fn anomaly_event(detector_id: i64, version: i32, scored: usize, rows: &[RowOut]) -> Value {
    let flagged: Vec<(usize, Option<&String>)> = rows
        .iter()
        .filter_map(|r| match r {
            RowOut::Scored { row, id, anomaly: true, .. } => Some((*row, id.as_ref())),
            _ => None,
        })
        .collect();
    let parts: Vec<&String> = flagged.iter().filter_map(|(_, id)| *id).take(EVENT_PARTS).collect();
    let row_numbers: Vec<usize> = flagged.iter().map(|(r, _)| *r).take(EVENT_PARTS).collect();
    json!({
        "detector_id": detector_id, "version": version, "scored": scored, "anomalies": flagged.len(),
        "parts": parts, "rows": row_numbers, "truncated": flagged.len() > EVENT_PARTS,
    })
}

/// A scoring answer.
#[derive(Serialize)]
struct ScoreAnswer {
    detector_id: i64,
    version: i32,
    threshold: f64,
    scored: usize,
    anomalies: usize,
    errors: usize,
    rows: Vec<RowOut>,
}

#[utoipa::path(
    post,
    path = "/api/v1/detectors/{id}/score",
    tag = "detectors",
    params(("id" = i64, Path, description = "the detector id")),
    request_body(description = "`{\"rows\": [...]}`, a JSON array of rows, or CSV", content((Object = "application/json"), (String = "text/csv"))),
    responses((status = 200, description = "a verdict per row", body = Object, content_type = "application/json"))
)]
async fn score(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::AppendRows)?;
    let d = detector_of(&state, &path).await?;
    let body = collect(payload, MAX_SCORE_BYTES.min(state.limits.max_body_bytes), "body").await?;
    let rows = request_rows(&req, &body)?;
    let l = loaded(&state, &d).await?;
    let scored = if rows.len() <= INLINE_ROWS {
        score_now(&l, &rows)?
    } else {
        let l = l.clone();
        web::block(move || score_now(&l, &rows)).await.map_err(|e| anyhow::anyhow!("{e}"))??
    };
    let n = scored.keep.len();
    if d.persist == "after_answer" {
        state.score_writer.enqueue(scored.keep).await?;
    } else {
        state.score_writer.write(scored.keep).await?;
    }
    state.metrics.detector_rows(d.id, n - scored.anomalies, scored.anomalies, scored.errors);
    if scored.anomalies > 0 {
        crate::webhooks::emit(&state.store, "detector.anomaly", anomaly_event(d.id, l.version, n, &scored.rows)).await;
    }
    Ok(HttpResponse::Ok().json(ScoreAnswer {
        detector_id: d.id,
        version: l.version,
        threshold: l.threshold,
        scored: n,
        anomalies: scored.anomalies,
        errors: scored.errors,
        rows: scored.rows,
    }))
}

#[derive(Deserialize)]
struct ScoresQuery {
    cursor: Option<String>,
    limit: Option<String>,
    anomalies: Option<bool>,
    since: Option<String>,
    version: Option<i32>,
}

fn score_json(r: &ScoreRow) -> Value {
    json!({
        "id": r.id, "version": r.version, "scored_at": r.scored_at, "part": r.part, "score": r.score,
        "verdict": if r.anomaly { "anomaly" } else { "ok" }, "values": r.row_values.0, "top": r.top.0,
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/detectors/{id}/scores",
    tag = "detectors",
    params(("id" = i64, Path, description = "the detector id"), ("anomalies" = Option<bool>, Query), ("since" = Option<String>, Query, description = "RFC 3339 time"), ("version" = Option<i32>, Query), ("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "scored rows, newest first", body = Object, content_type = "application/json"))
)]
async fn scores(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<ScoresQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let d = detector_of(&state, &path).await?;
    let (before, limit) = Cursor { cursor: q.cursor.clone(), limit: q.limit.clone() }.parse()?;
    let since = match q.since.as_deref() {
        None => None,
        Some(s) => Some(chrono::DateTime::parse_from_rfc3339(s).map(|t| t.to_utc()).map_err(|e| {
            ApiError::bad_field("since", format!("'{s}' is not an RFC 3339 time such as 2026-11-29T08:00:00Z: {e}"))
        })?),
    };
    let query = ScoreQuery {
        before,
        limit: limit + 1,
        anomalies_only: q.anomalies.unwrap_or(false),
        since,
        version: q.version,
    };
    let rows = state.store.list_scores(d.id, &query).await?;
    let items: Vec<Value> = rows.iter().map(score_json).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |v| v["id"].as_i64().unwrap_or(0))))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, versions, version, recalibrate, score, scores))]
pub struct Doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anomaly_event_counts_and_names_the_flagged_parts_without_their_values() {
        let top = || serde_json::value::to_raw_value(&json!([{"column": "torque", "value": 99.5}])).unwrap();
        let scored = |row: usize, id: Option<&str>, anomaly: bool| RowOut::Scored {
            row,
            id: id.map(String::from),
            score: 1.0,
            anomaly,
            verdict: if anomaly { "anomaly" } else { "ok" },
            threshold: 0.5,
            version: 3,
            top: top(),
        };
        let rows = vec![
            scored(1, Some("part-1"), false),
            scored(2, Some("part-2"), true),
            RowOut::Refused { row: 3, id: Some("part-3".into()), errors: vec![] },
            scored(4, None, true),
        ];
        let e = anomaly_event(7, 3, 3, &rows);
        assert_eq!(
            e,
            json!({"detector_id": 7, "version": 3, "scored": 3, "anomalies": 2, "parts": ["part-2"], "rows": [2, 4],
                   "truncated": false})
        );
        assert!(!e.to_string().contains("99.5"), "no values in the event");
    }
}
