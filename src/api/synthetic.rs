//! `POST /api/v1/synthetic`: synthetic defect rows per class as a job (after training a
//! conditional model when none is given); `GET /api/v1/datasets/{id}/report`.

use super::caller::Caller;
use super::error::ApiError;
use super::jobs::parse_id;
use super::models::{dataset_version, json_body, new_model, parse_spec};
use super::AppState;
use crate::domain::{ColumnKind, Permission};
use crate::jobs::synthesize::SynthRequest;
use crate::store::NewJob;
use crate::synth::{Balance, PrivacyGate};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn routes(r: &mut super::Routes) {
    r.post("/synthetic", create).get("/datasets/{id}/report", report);
}

// A synthesis request: the body of `POST /synthetic`, and what the dashboard's forms become.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSynthetic {
    pub(crate) dataset_id: i64,
    #[serde(default)]
    pub(crate) version: Option<i32>,
    pub(crate) label: String,
    #[serde(default)]
    pub(crate) counts: Option<BTreeMap<String, usize>>,
    #[serde(default)]
    pub(crate) balance: Option<Value>,
    #[serde(default)]
    pub(crate) model_id: Option<i64>,
    #[serde(default)]
    pub(crate) seed: u64,
    #[serde(default)]
    pub(crate) temperature: Option<f64>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Spec of the model trained when `model_id` is not given (defaults: `synth::default_spec`).
    #[serde(default)]
    pub(crate) spec: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(crate) privacy: Option<PrivacyGate>,
}

fn balance_of(req: &CreateSynthetic) -> Result<Balance, ApiError> {
    match (&req.counts, &req.balance) {
        (Some(_), Some(_)) => Err(ApiError::bad_field("balance", "give counts or balance, not both")),
        (Some(c), None) => Ok(Balance::Counts(c.clone())),
        (None, Some(Value::String(s))) if s == "to_majority" => Ok(Balance::ToMajority),
        (None, Some(Value::String(s))) if s == "like_real" => Ok(Balance::LikeReal),
        (None, Some(Value::Object(o))) if o.len() == 1 && o.contains_key("total") => {
            let n = o["total"].as_u64().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::bad_field("balance.total", "balance.total must be a positive number of rows")
            })?;
            Ok(Balance::Total(n as usize))
        }
        (None, Some(_)) => {
            Err(ApiError::bad_field("balance", "balance is \"to_majority\", \"like_real\" or {\"total\": N}"))
        }
        (None, None) => Err(ApiError::bad_field("counts", "give counts ({\"CLASS\": N, ...}) or balance")),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/synthetic",
    tag = "synthetic",
    request_body(content = CreateSynthetic, content_type = "application/json"),
    responses((status = 202, description = "the synthesis job", body = Object, content_type = "application/json"))
)]
async fn create(caller: Caller, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let req: CreateSynthetic = json_body(&body)?;
    let (job_id, model_id, train_job) = queue_synthetic(&state, &req).await?;
    let job = state.store.get_job(job_id).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/jobs/{job_id}")))
        .json(json!({ "job": job, "model_id": model_id, "train_job_id": train_job })))
}

/// Checks a synthesis request and queues its job (after training a model when none is given):
/// (synthesize job, model, training job). The API and the dashboard's forms both come through
/// here, so they refuse alike.
pub(crate) async fn queue_synthetic(
    state: &AppState,
    req: &CreateSynthetic,
) -> Result<(i64, i64, Option<i64>), ApiError> {
    let balance = balance_of(req)?;
    if let Balance::Total(n) = balance {
        if n > state.limits.max_rows {
            return Err(ApiError::bad_field(
                "balance.total",
                format!("balance.total asks for {n} rows; at most {}", state.limits.max_rows),
            ));
        }
    }
    let (d, v) = dataset_version(state, req.dataset_id, req.version).await?;
    let col = v
        .schema
        .0
        .columns
        .iter()
        .find(|c| c.name == req.label)
        .ok_or_else(|| ApiError::bad_field("label", format!("dataset {} has no column '{}'", d.id, req.label)))?;
    if !matches!(col.kind, ColumnKind::Categorical | ColumnKind::Boolean)
        || !crate::bridge::modelled(col.kind, col.role)
    {
        return Err(ApiError::bad_field(
            "label",
            format!(
                "label '{}' is a {:?} {:?} column; it must be a categorical or boolean feature or label",
                req.label, col.kind, col.role
            ),
        ));
    }
    if let Balance::Counts(c) = &balance {
        let levels: Vec<String> = col.levels.clone();
        for class in c.keys() {
            if !levels.is_empty() && !levels.contains(class) {
                return Err(ApiError::bad_field(
                    &format!("counts.{class}"),
                    format!("'{class}' is not a level of '{}' (levels: {levels:?})", req.label),
                ));
            }
        }
        let total: usize = c.values().sum();
        if total == 0 || total > state.limits.max_rows {
            return Err(ApiError::bad_field(
                "counts",
                format!("counts must add up to 1..{} rows", state.limits.max_rows),
            ));
        }
    }
    let temperature = req.temperature.unwrap_or(1.0);
    if !(temperature.is_finite() && temperature >= 0.0) {
        return Err(ApiError::bad_field("temperature", "temperature must be a finite number >= 0"));
    }
    if let Some(name) = &req.name {
        crate::domain::DatasetName::parse(name).map_err(|e| ApiError::bad_field("name", e))?;
        if state.store.dataset_id_by_name(name).await?.is_some() {
            return Err(ApiError::bad_field("name", format!("a dataset named '{name}' exists already")));
        }
    }
    let privacy = req.privacy.clone().unwrap_or_default();
    privacy.check().map_err(|e| ApiError::bad_field("privacy", e))?;
    let mut sreq = SynthRequest {
        dataset_id: d.id,
        version: v.version,
        label: req.label.clone(),
        balance,
        model_id: 0,
        seed: req.seed,
        temperature,
        name: req.name.clone(),
        privacy,
    };
    let (job_id, model_id, train_job) = match req.model_id {
        Some(id) => {
            if req.spec.is_some() {
                return Err(ApiError::bad_field(
                    "spec",
                    "spec is for the model trained here; with model_id it is not used",
                ));
            }
            let m = state
                .store
                .get_model(id)
                .await?
                .ok_or_else(|| ApiError::bad_field("model_id", format!("model {id} does not exist")))?;
            let conditions = m.spec.0.get("conditions").and_then(|c| c.as_array()).cloned().unwrap_or_default();
            if !conditions.iter().any(|c| c.as_str() == Some(req.label.as_str())) {
                return Err(ApiError::bad_field(
                    "model_id",
                    format!(
                        "model {id} is not conditioned on '{}'; train one with spec.conditions = [\"{}\"]",
                        req.label, req.label
                    ),
                ));
            }
            sreq.model_id = id;
            let payload = serde_json::to_value(&sreq).map_err(|e| anyhow::anyhow!("{e}"))?;
            // a model still training: wait for it
            let job = NewJob { dataset_id: Some(d.id), ..NewJob::new("synthesize", payload) };
            let job_id = match m.job_status.as_str() {
                "succeeded" => state.store.enqueue(&job).await?,
                "queued" | "running" => state.store.enqueue_after(&job, m.job_id).await?,
                other => return Err(ApiError::conflict(format!("model {id} cannot generate: its training {other}"))),
            };
            (job_id, id, None)
        }
        None => {
            let mut spec = serde_json::to_value(crate::synth::default_spec(
                v.row_count as usize,
                &req.label,
                req.seed,
                state.threads,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            if let Some(Value::Object(given)) = &req.spec {
                for (k, val) in given {
                    spec[k] = val.clone();
                }
            } else if req.spec.is_some() {
                return Err(ApiError::bad_field("spec", "spec must be an object of VAE parameters"));
            }
            let params = parse_spec(Some(&spec), state.threads)?;
            if !params.conditions.contains(&req.label) {
                return Err(ApiError::bad_field(
                    "spec.conditions",
                    format!("the model must be conditioned on the label '{}'", req.label),
                ));
            }
            let m = new_model(format!("{} synthetic ({})", d.name, req.label), d.id, &v, &params)?;
            let payload = serde_json::to_value(&sreq).map_err(|e| anyhow::anyhow!("{e}"))?;
            let then = NewJob { dataset_id: Some(d.id), ..NewJob::new("synthesize", payload) };
            let (model_id, train_job, then_id) = state.store.create_model_then(&m, None, Some(then)).await?;
            (then_id.ok_or_else(|| anyhow::anyhow!("synthesize job not queued"))?, model_id, Some(train_job))
        }
    };
    tracing::info!(job = job_id, model = model_id, dataset = d.id, "synthetic data queued");
    Ok((job_id, model_id, train_job))
}

#[derive(Deserialize)]
struct ReportQuery {
    version: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/datasets/{id}/report",
    tag = "synthetic",
    params(("id" = i64, Path, description = "the dataset id"), ("version" = Option<i32>, Query, description = "version (default: latest)")),
    responses((status = 200, description = "the quality report of a synthetic version", body = Object, content_type = "application/json"))
)]
async fn report(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = parse_id(&path, "dataset")?;
    let d = state
        .store
        .get_dataset(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("dataset {id} does not exist")))?;
    let version = match q.version.as_deref() {
        None | Some("") | Some("latest") => d.latest_version,
        Some(v) => v
            .parse::<i32>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| ApiError::bad_field("version", format!("version '{v}' is not a positive integer")))?,
    };
    let r = state.store.get_report(id, version).await?.ok_or_else(|| {
        ApiError::not_found(format!("dataset {id} version {version} has no report (only synthetic versions have one)"))
    })?;
    let overrides: Vec<Value> = state
        .store
        .export_overrides(id, version)
        .await?
        .into_iter()
        .map(|(token, reason, at)| json!({ "token_id": token, "reason": reason, "at": at }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "dataset_id": id,
        "version": version,
        "privacy_check": r.privacy_check,
        "report": r.report.0,
        "export_overrides": overrides,
        "created_at": r.created_at,
    })))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, report))]
pub struct Doc;
