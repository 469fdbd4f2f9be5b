//! `/api/v1/models`: train (as a job), list, read, per-epoch metrics, the model file, samples.

use super::caller::Caller;
use super::error::ApiError;
use super::jobs::parse_id;
use super::pagination::{Cursor, Page};
use super::AppState;
use crate::domain::Permission;
use crate::jobs::sample::{self, SampleRequest};
use crate::ml::{FittedVae, VaeParams};
use crate::store::{ModelRow, NewJob, NewModel};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/models").route(web::post().to(create)).route(web::get().to(list)))
        .service(web::resource("/models/{id}").route(web::get().to(get)))
        .service(web::resource("/models/{id}/metrics").route(web::get().to(metrics)))
        .service(web::resource("/models/{id}/file").route(web::get().to(file)))
        .service(web::resource("/models/{id}/samples").route(web::post().to(samples)));
}

/// Largest `n` answered in the response; more (or a `dataset_name`) runs as a job.
pub const DIRECT_SAMPLE_MAX: usize = 10_000;

/// Parses a JSON body, saying where it is broken.
pub fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request needs a JSON body"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!("the JSON body is not valid at line {} column {}: {e}", e.line(), e.column()))
    })
}

/// The state a model is in, from its training job's.
fn model_status(job_status: &str) -> &'static str {
    match job_status {
        "queued" => "queued",
        "running" => "training",
        "succeeded" => "ready",
        "failed" => "failed",
        _ => "cancelled",
    }
}

fn model_json(m: &ModelRow) -> Value {
    json!({
        "id": m.id,
        "name": m.name,
        "status": model_status(&m.job_status),
        "progress": m.progress,
        "error": m.last_error,
        "spec": m.spec.0,
        "seed": m.seed,
        "dataset": { "id": m.dataset_id, "version": m.dataset_version, "sha256": m.dataset_sha256 },
        "code_version": m.code_version,
        "job_id": m.job_id,
        "parent_model_id": m.parent_model_id,
        "best_epoch": m.best_epoch,
        "epochs_run": m.epochs_run,
        "summary": m.summary.as_ref().map(|s| &s.0),
        "file_sha256": m.file_sha256,
        "created_at": m.created_at,
        "trained_at": m.trained_at,
        "links": {
            "self": format!("/api/v1/models/{}", m.id),
            "job": format!("/api/v1/jobs/{}", m.job_id),
            "metrics": format!("/api/v1/models/{}/metrics", m.id),
            "file": format!("/api/v1/models/{}/file", m.id),
        },
    })
}

/// A VAE spec: the engine's parameters, each optional (defaults fill the rest), unknown names refused.
pub fn parse_spec(spec: Option<&Value>, default_threads: usize) -> Result<VaeParams, ApiError> {
    let mut base = serde_json::to_value(VaeParams::default().threads(default_threads.max(1)))
        .map_err(|e| anyhow::anyhow!("default spec: {e}"))?;
    match spec {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            let known = base.as_object().cloned().unwrap_or_default();
            for (k, v) in given {
                if !known.contains_key(k) {
                    let names: Vec<&String> = known.keys().collect();
                    return Err(ApiError::bad_field(
                        &format!("spec.{k}"),
                        format!("spec has no field '{k}'; known: {names:?}"),
                    ));
                }
                base[k] = v.clone();
            }
        }
        Some(_) => return Err(ApiError::bad_field("spec", "spec must be an object of VAE parameters")),
    }
    let p: VaeParams = serde_json::from_value(base).map_err(|e| ApiError::bad_field("spec", format!("spec: {e}")))?;
    p.check_alone().map_err(|e| ApiError::bad_field("spec", format!("spec: {e}")))?;
    Ok(p)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateModel {
    dataset_id: i64,
    #[serde(default)]
    version: Option<i32>,
    #[serde(default)]
    spec: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    checkpoint_every: Option<usize>,
}

async fn create(caller: Caller, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let req: CreateModel = json_body(&body)?;
    let params = parse_spec(req.spec.as_ref(), state.threads)?;
    if req.checkpoint_every == Some(0) {
        return Err(ApiError::bad_field("checkpoint_every", "checkpoint_every must be at least 1"));
    }
    let d = state
        .store
        .get_dataset(req.dataset_id)
        .await?
        .ok_or_else(|| ApiError::bad_field("dataset_id", format!("dataset {} does not exist", req.dataset_id)))?;
    let v = state.store.get_version(d.id, req.version).await?.ok_or_else(|| {
        ApiError::bad_field("version", format!("dataset {} has no version {}", d.id, req.version.unwrap_or(0)))
    })?;
    // the spec must fit the data: conditions name categorical columns that exist
    let modelled: Vec<&crate::domain::ColumnSchema> =
        v.schema.0.columns.iter().filter(|c| crate::bridge::modelled(c.kind, c.role)).collect();
    if modelled.is_empty() {
        return Err(ApiError::bad_field(
            "dataset_id",
            format!("dataset {} has no feature or label columns to model", d.id),
        ));
    }
    for c in &params.conditions {
        if !modelled.iter().any(|m| &m.name == c) {
            return Err(ApiError::bad_field(
                "spec.conditions",
                format!("condition column '{c}' is not a modelled column of dataset {}", d.id),
            ));
        }
    }
    let name = req.name.clone().unwrap_or_else(|| format!("{} vae", d.name));
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::bad_field("name", "name must be 1 to 200 characters"));
    }
    let m = NewModel {
        name,
        dataset_id: d.id,
        dataset_version: v.version,
        dataset_sha256: v.sha256.clone(),
        seed: params.seed as i64,
        spec: serde_json::to_value(&params).map_err(|e| anyhow::anyhow!("spec: {e}"))?,
        code_version: crate::jobs::code_version(),
        parent_model_id: None,
    };
    let (model_id, job_id) = state.store.create_model(&m, req.checkpoint_every).await?;
    tracing::info!(model = model_id, job = job_id, dataset = d.id, version = v.version, "training queued");
    let model = state.store.get_model(model_id).await?.ok_or_else(|| anyhow::anyhow!("model {model_id} vanished"))?;
    let job = state.store.get_job(job_id).await?;
    let mut body = model_json(&model);
    body["job"] = serde_json::to_value(job).unwrap_or(Value::Null);
    Ok(HttpResponse::Accepted().insert_header(("Location", format!("/api/v1/models/{model_id}"))).json(body))
}

#[derive(Deserialize)]
struct ListQuery {
    dataset_id: Option<i64>,
    cursor: Option<String>,
    limit: Option<String>,
}

async fn list(caller: Caller, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (before, limit) = Cursor { cursor: q.cursor.clone(), limit: q.limit.clone() }.parse()?;
    let rows = state.store.list_models(q.dataset_id, before, limit + 1).await?;
    let page = Page::new(rows, limit, |m| m.id);
    Ok(HttpResponse::Ok().json(json!({
        "items": page.items.iter().map(model_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

async fn load(state: &AppState, raw: &str) -> Result<ModelRow, ApiError> {
    let id = parse_id(raw, "model")?;
    state.store.get_model(id).await?.ok_or_else(|| ApiError::not_found(format!("model {id} does not exist")))
}

async fn get(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    Ok(HttpResponse::Ok().json(model_json(&load(&state, &path).await?)))
}

async fn metrics(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = load(&state, &path).await?;
    let epochs: Vec<Value> = state.store.model_epochs(m.id).await?.into_iter().map(|(_, v)| v.0).collect();
    Ok(HttpResponse::Ok().json(json!({ "model_id": m.id, "status": model_status(&m.job_status), "epochs": epochs })))
}

async fn file(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = load(&state, &path).await?;
    let bytes = state.store.model_file(m.id).await?.ok_or_else(|| {
        ApiError::conflict(format!("model {} has no file: it is {}", m.id, model_status(&m.job_status)))
    })?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"model-{}.genfab\"", m.id)))
        .insert_header(("X-Content-SHA256", m.file_sha256.unwrap_or_default()))
        .body(bytes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleBody {
    n: usize,
    #[serde(default)]
    conditions: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    dataset_name: Option<String>,
}

async fn samples(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = load(&state, &path).await?;
    let b: SampleBody = json_body(&body)?;
    if b.n == 0 || b.n > state.limits.max_rows {
        return Err(ApiError::bad_field("n", format!("n must be from 1 to {}", state.limits.max_rows)));
    }
    let temperature = b.temperature.unwrap_or(1.0);
    if !(temperature.is_finite() && temperature >= 0.0) {
        return Err(ApiError::bad_field("temperature", "temperature must be a finite number >= 0"));
    }
    let bytes = state.store.model_file(m.id).await?.ok_or_else(|| {
        ApiError::conflict(format!("model {} cannot sample yet: it is {}", m.id, model_status(&m.job_status)))
    })?;
    let sreq = SampleRequest {
        model_id: m.id,
        n: b.n,
        conditions: b.conditions,
        seed: b.seed,
        temperature,
        dataset_name: b.dataset_name,
    };
    let fitted = web::block(move || FittedVae::from_bytes(&bytes))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .map_err(|e| anyhow::anyhow!("model {} file: {e}", m.id))?;
    // conditions are checked before anything is queued, so a typo fails now, not at night
    let allowed = fitted.condition_columns().into_iter().map(String::from).collect::<Vec<_>>();
    for k in sreq.conditions.keys() {
        if !allowed.contains(k) {
            return Err(ApiError::bad_field(
                &format!("conditions.{k}"),
                format!("model {} was not trained to condition on '{k}'; it conditions on {allowed:?}", m.id),
            ));
        }
    }
    if sreq.n > DIRECT_SAMPLE_MAX || sreq.dataset_name.is_some() {
        if !caller.role.allows(Permission::CreateResources) {
            return Err(ApiError::forbidden(format!(
                "more than {DIRECT_SAMPLE_MAX} rows are stored as a new dataset, which the role '{}' may not create",
                caller.role.as_str()
            )));
        }
        if let Some(name) = &sreq.dataset_name {
            crate::domain::DatasetName::parse(name).map_err(|e| ApiError::bad_field("dataset_name", e))?;
            if state.store.dataset_id_by_name(name).await?.is_some() {
                return Err(ApiError::bad_field("dataset_name", format!("a dataset named '{name}' exists already")));
            }
        }
        let payload = serde_json::to_value(&sreq).map_err(|e| anyhow::anyhow!("{e}"))?;
        let job_id = state.store.enqueue(&NewJob::new("sample", payload)).await?;
        let job = state.store.get_job(job_id).await?;
        return Ok(HttpResponse::Accepted().insert_header(("Location", format!("/api/v1/jobs/{job_id}"))).json(job));
    }
    let wants_csv = req.headers().get("accept").and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    // rayon inside draws on the one configured pool (--threads)
    let out = web::block(move || -> Result<Vec<u8>, String> {
        let df = sample::draw(&fitted, &sreq, |_| true)?;
        let mut df = df.ok_or("sampling stopped")?;
        if wants_csv {
            crate::ingest::to_csv(&mut df).map_err(|e| format!("{e:#}"))
        } else {
            crate::ingest::to_json(&mut df).map_err(|e| format!("{e:#}"))
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Cannot sample", e))?;
    let ctype = if wants_csv { "text/csv; charset=utf-8" } else { "application/json" };
    Ok(HttpResponse::Ok().content_type(ctype).insert_header(("X-Model-Id", m.id.to_string())).body(out))
}
