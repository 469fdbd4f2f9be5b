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

pub fn routes(r: &mut super::Routes) {
    r.post("/models", create)
        .get("/models", list)
        .get("/models/{id}", get)
        .get("/models/{id}/metrics", metrics)
        .get("/models/{id}/file", file)
        .post("/models/{id}/samples", samples);
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

/// A request's dataset and version (latest when not given); errors name `dataset_id` / `version`.
pub async fn dataset_version(
    state: &AppState,
    id: i64,
    version: Option<i32>,
) -> Result<(crate::store::DatasetMeta, crate::store::VersionMeta), ApiError> {
    let d = state
        .store
        .get_dataset(id)
        .await?
        .ok_or_else(|| ApiError::bad_field("dataset_id", format!("dataset {id} does not exist")))?;
    let v = state.store.get_version(d.id, version).await?.ok_or_else(|| {
        ApiError::bad_field("version", format!("dataset {} has no version {}", d.id, version.unwrap_or(0)))
    })?;
    Ok((d, v))
}

/// A model of `params` on dataset version `v`, made by this code version.
pub fn new_model(
    name: String,
    dataset_id: i64,
    v: &crate::store::VersionMeta,
    params: &VaeParams,
) -> Result<NewModel, ApiError> {
    Ok(NewModel {
        name,
        dataset_id,
        dataset_version: v.version,
        dataset_sha256: v.sha256.clone(),
        seed: params.seed as i64,
        spec: serde_json::to_value(params).map_err(|e| anyhow::anyhow!("spec: {e}"))?,
        code_version: crate::jobs::code_version(),
        parent_model_id: None,
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

// A training request: the body of `POST /models`, and what the dashboard's form becomes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateModel {
    pub(crate) dataset_id: i64,
    #[serde(default)]
    pub(crate) version: Option<i32>,
    #[serde(default)]
    pub(crate) spec: Option<Value>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) checkpoint_every: Option<usize>,
}

#[utoipa::path(
    post,
    path = "/api/v1/models",
    tag = "models",
    request_body(content = CreateModel, content_type = "application/json"),
    responses((status = 202, description = "the model and its training job", body = Object, content_type = "application/json"))
)]
async fn create(caller: Caller, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let req: CreateModel = json_body(&body)?;
    let (model_id, job_id) = queue_training(&state, &req).await?;
    let model = state.store.get_model(model_id).await?.ok_or_else(|| anyhow::anyhow!("model {model_id} vanished"))?;
    let job = state.store.get_job(job_id).await?;
    let mut body = model_json(&model);
    body["job"] = serde_json::to_value(job).unwrap_or(Value::Null);
    Ok(HttpResponse::Accepted().insert_header(("Location", format!("/api/v1/models/{model_id}"))).json(body))
}

/// Checks a training request against its dataset and queues the model and its job: (model, job).
/// The API and the dashboard's form both come through here, so they refuse alike.
pub(crate) async fn queue_training(state: &AppState, req: &CreateModel) -> Result<(i64, i64), ApiError> {
    let params = parse_spec(req.spec.as_ref(), state.threads)?;
    if req.checkpoint_every == Some(0) {
        return Err(ApiError::bad_field("checkpoint_every", "checkpoint_every must be at least 1"));
    }
    let (d, v) = dataset_version(state, req.dataset_id, req.version).await?;
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
    let m = new_model(name, d.id, &v, &params)?;
    let (model_id, job_id) = state.store.create_model(&m, req.checkpoint_every).await?;
    tracing::info!(model = model_id, job = job_id, dataset = d.id, version = v.version, "training queued");
    Ok((model_id, job_id))
}

#[derive(Deserialize)]
struct ListQuery {
    dataset_id: Option<i64>,
    cursor: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/models",
    tag = "models",
    params(("dataset_id" = Option<i64>, Query, description = "only this dataset's models"), ("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "a page of models", body = Object, content_type = "application/json"))
)]
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

pub(crate) async fn load(state: &AppState, raw: &str) -> Result<ModelRow, ApiError> {
    let id = parse_id(raw, "model")?;
    state.store.get_model(id).await?.ok_or_else(|| ApiError::not_found(format!("model {id} does not exist")))
}

#[utoipa::path(
    get,
    path = "/api/v1/models/{id}",
    tag = "models",
    params(("id" = i64, Path, description = "the model id")),
    responses((status = 200, description = "the model", body = Object, content_type = "application/json"))
)]
async fn get(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    Ok(HttpResponse::Ok().json(model_json(&load(&state, &path).await?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/models/{id}/metrics",
    tag = "models",
    params(("id" = i64, Path, description = "the model id")),
    responses((status = 200, description = "per-epoch losses", body = Object, content_type = "application/json"))
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/models/{id}/file",
    tag = "models",
    params(("id" = i64, Path, description = "the model id")),
    responses((status = 200, description = "the model file (safetensors)", body = Vec<u8>, content_type = "application/octet-stream"))
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
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
    /// Only rows whose numeric columns lie in these `[low, high]` ranges (rejection sampling).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    ranges: Option<std::collections::BTreeMap<String, [f64; 2]>>,
    /// Rows near this one: `{"row": {...}, "spread": 0.5}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    near: Option<Near>,
    /// `n` rows from `from` to `to` along the latent line between them.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    interpolate: Option<Interpolate>,
    /// `n` rows along one latent dimension: `{"dim": 0, "from": -3, "to": 3, "row"?: {...}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    traverse: Option<Traverse>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Near {
    row: serde_json::Map<String, Value>,
    #[serde(default = "half")]
    spread: f64,
}

fn half() -> f64 {
    0.5
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Interpolate {
    from: serde_json::Map<String, Value>,
    to: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Traverse {
    dim: usize,
    #[serde(default = "minus_three")]
    from: f64,
    #[serde(default = "three")]
    to: f64,
    #[serde(default)]
    row: Option<serde_json::Map<String, Value>>,
}

fn minus_three() -> f64 {
    -3.0
}

fn three() -> f64 {
    3.0
}

/// A one-row table of the model's columns from a JSON object; errors name `field.COLUMN`.
fn row_table(
    fitted: &FittedVae,
    row: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<crate::ml::Table, ApiError> {
    use crate::ml::{Column, ColumnData};
    let t = fitted.transform();
    let mut cols = vec![];
    for c in t.columns.iter().chain(&t.conditions) {
        let f = format!("{field}.{}", c.name);
        let v =
            row.get(&c.name).ok_or_else(|| ApiError::bad_field(&f, format!("the row lacks column '{}'", c.name)))?;
        let data = if c.levels.is_empty() {
            let x = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                Value::Null => Some(f64::NAN),
                _ => None,
            }
            .filter(|x| !x.is_infinite())
            .ok_or_else(|| ApiError::bad_field(&f, format!("'{}' needs a number, got {v}", c.name)))?;
            ColumnData::Numeric(vec![x])
        } else {
            let text = match v {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Number(n) if c.kind == crate::ml::ColumnKind::Boolean => {
                    Some(if n.as_f64() == Some(1.0) { "true".into() } else { "false".into() })
                }
                Value::Number(n) => Some(n.to_string()),
                Value::Null => None,
                _ => return Err(ApiError::bad_field(&f, format!("'{}' needs one of {:?}", c.name, c.levels))),
            };
            let code = match text {
                None => None,
                Some(t) => Some(c.levels.iter().position(|l| *l == t).ok_or_else(|| {
                    ApiError::bad_field(&f, format!("'{t}' is not a level of '{}' (levels: {:?})", c.name, c.levels))
                })? as u32),
            };
            ColumnData::Categorical { codes: vec![code], levels: c.levels.clone() }
        };
        cols.push(Column { name: c.name.clone(), kind: c.kind, data, bounds: None });
    }
    Ok(crate::ml::Table::new(cols))
}

/// Encoded rows, and (draws, acceptance rate) of a ranges request.
type Sampled = (Vec<u8>, Option<(usize, f64)>);

/// The exploration modes of `POST /models/{id}/samples`, answered directly.
enum Explore {
    Ranges(Vec<(String, f64, f64)>),
    Near(crate::ml::Table, f64),
    Interpolate(crate::ml::Table, crate::ml::Table),
    Traverse(Option<crate::ml::Table>, usize, f64, f64),
}

fn explore_of(b: &SampleBody, fitted: &FittedVae) -> Result<Option<Explore>, ApiError> {
    let given = [b.ranges.is_some(), b.near.is_some(), b.interpolate.is_some(), b.traverse.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ApiError::bad_request("give at most one of ranges, near, interpolate, traverse"));
    }
    if given.iter().any(|g| *g) && b.dataset_name.is_some() {
        return Err(ApiError::bad_field(
            "dataset_name",
            "ranges, near, interpolate and traverse answer directly; drop dataset_name",
        ));
    }
    if let Some(r) = &b.ranges {
        let mut out = vec![];
        for (col, [lo, hi]) in r {
            let numeric = fitted.transform().columns.iter().any(|c| &c.name == col && c.levels.is_empty());
            if !numeric {
                return Err(ApiError::bad_field(
                    &format!("ranges.{col}"),
                    format!("'{col}' is not a numeric column of the model"),
                ));
            }
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return Err(ApiError::bad_field(
                    &format!("ranges.{col}"),
                    format!("range [{lo}, {hi}] is empty; give [low, high]"),
                ));
            }
            out.push((col.clone(), *lo, *hi));
        }
        return Ok(Some(Explore::Ranges(out)));
    }
    if let Some(n) = &b.near {
        if !(n.spread.is_finite() && n.spread >= 0.0) {
            return Err(ApiError::bad_field("near.spread", "spread must be a finite number >= 0"));
        }
        return Ok(Some(Explore::Near(row_table(fitted, &n.row, "near.row")?, n.spread)));
    }
    if let Some(i) = &b.interpolate {
        return Ok(Some(Explore::Interpolate(
            row_table(fitted, &i.from, "interpolate.from")?,
            row_table(fitted, &i.to, "interpolate.to")?,
        )));
    }
    if let Some(t) = &b.traverse {
        if t.dim >= fitted.latent() {
            return Err(ApiError::bad_field(
                "traverse.dim",
                format!("the model has latent dimensions 0 to {}", fitted.latent() - 1),
            ));
        }
        if !(t.from.is_finite() && t.to.is_finite()) {
            return Err(ApiError::bad_field("traverse", "from and to must be finite numbers"));
        }
        let row = t.row.as_ref().map(|r| row_table(fitted, r, "traverse.row")).transpose()?;
        return Ok(Some(Explore::Traverse(row, t.dim, t.from, t.to)));
    }
    Ok(None)
}

/// Checks a sampling request of model `m` (rows, temperature, a trained model, its condition
/// columns) and returns the loaded model. The API and the dashboard's form both come through here.
pub(crate) async fn check_sample(state: &AppState, m: &ModelRow, sreq: &SampleRequest) -> Result<FittedVae, ApiError> {
    if sreq.n == 0 || sreq.n > state.limits.max_rows {
        return Err(ApiError::bad_field("n", format!("n must be from 1 to {}", state.limits.max_rows)));
    }
    if !(sreq.temperature.is_finite() && sreq.temperature >= 0.0) {
        return Err(ApiError::bad_field("temperature", "temperature must be a finite number >= 0"));
    }
    let bytes = state.store.model_file(m.id).await?.ok_or_else(|| {
        ApiError::conflict(format!("model {} cannot sample yet: it is {}", m.id, model_status(&m.job_status)))
    })?;
    let id = m.id;
    let fitted = web::block(move || FittedVae::from_bytes(&bytes))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .map_err(|e| anyhow::anyhow!("model {id} file: {e}"))?;
    // conditions are checked before anything is queued, so a typo fails now, not at night
    let allowed = fitted.condition_columns().into_iter().map(String::from).collect::<Vec<_>>();
    for k in sreq.conditions.keys() {
        if !allowed.contains(k) {
            return Err(ApiError::bad_field(
                &format!("conditions.{k}"),
                format!("model {id} was not trained to condition on '{k}'; it conditions on {allowed:?}"),
            ));
        }
    }
    Ok(fitted)
}

/// Queues a checked sampling request as a `sample` job whose rows become a new dataset.
pub(crate) async fn queue_sample(
    state: &AppState,
    role: crate::domain::Role,
    sreq: &SampleRequest,
) -> Result<i64, ApiError> {
    if !role.allows(Permission::CreateResources) {
        return Err(ApiError::forbidden(format!(
            "more than {DIRECT_SAMPLE_MAX} rows are stored as a new dataset, which the role '{}' may not create",
            role.as_str()
        )));
    }
    if let Some(name) = &sreq.dataset_name {
        crate::domain::DatasetName::parse(name).map_err(|e| ApiError::bad_field("dataset_name", e))?;
        if state.store.dataset_id_by_name(name).await?.is_some() {
            return Err(ApiError::bad_field("dataset_name", format!("a dataset named '{name}' exists already")));
        }
    }
    let payload = serde_json::to_value(sreq).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(state.store.enqueue(&NewJob::new("sample", payload)).await?)
}

#[utoipa::path(
    post,
    path = "/api/v1/models/{id}/samples",
    tag = "models",
    params(("id" = i64, Path, description = "the model id"), ("Accept" = Option<String>, Header, description = "application/json (default) or text/csv")),
    request_body(content = SampleBody, content_type = "application/json"),
    responses((status = 200, description = "the sampled rows", body = Object, content_type = "application/json"), (status = 202, description = "a sampling job, for large n or when saved as a dataset", body = Object, content_type = "application/json"))
)]
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
    let sreq = SampleRequest {
        model_id: m.id,
        n: b.n,
        conditions: b.conditions.clone(),
        seed: b.seed,
        temperature: b.temperature.unwrap_or(1.0),
        dataset_name: b.dataset_name.clone(),
    };
    let fitted = check_sample(&state, &m, &sreq).await?;
    let explore = explore_of(&b, &fitted)?;
    if explore.is_some() && sreq.n > DIRECT_SAMPLE_MAX {
        return Err(ApiError::bad_field(
            "n",
            format!("ranges, near, interpolate and traverse give at most {DIRECT_SAMPLE_MAX} rows"),
        ));
    }
    if sreq.n > DIRECT_SAMPLE_MAX || sreq.dataset_name.is_some() {
        let job_id = queue_sample(&state, caller.role, &sreq).await?;
        let job = state.store.get_job(job_id).await?;
        return Ok(HttpResponse::Accepted().insert_header(("Location", format!("/api/v1/jobs/{job_id}"))).json(job));
    }
    let wants_csv = req.headers().get("accept").and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    // rayon inside draws on the one configured pool (--threads)
    let out = web::block(move || -> Result<Sampled, String> {
        let mut accepted = None;
        let mut df = match explore {
            None => sample::draw(&fitted, &sreq, |_| true)?.ok_or("sampling stopped")?,
            Some(e) => {
                use rand::SeedableRng;
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(sreq.seed);
                let conds: Vec<(&str, &str)> = sreq.conditions.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let t = match e {
                    Explore::Ranges(r) => {
                        let a = fitted
                            .sample_within(
                                sreq.n,
                                sreq.temperature,
                                &conds,
                                &r,
                                sreq.n.saturating_mul(200).max(10_000),
                                &mut rng,
                            )
                            .map_err(|e| e.to_string())?;
                        accepted = Some((a.drawn, a.acceptance_rate));
                        a.table
                    }
                    Explore::Near(row, spread) => fitted
                        .sample_near(&row, sreq.n, spread, sreq.temperature, &mut rng)
                        .map_err(|e| e.to_string())?,
                    Explore::Interpolate(a, b) => fitted.interpolate(&a, &b, sreq.n).map_err(|e| e.to_string())?,
                    Explore::Traverse(row, dim, lo, hi) => fitted
                        .traverse(
                            row.as_ref(),
                            crate::ml::explore::Traversal { dim, from: lo, to: hi, steps: sreq.n },
                            &conds,
                            &mut rng,
                        )
                        .map_err(|e| e.to_string())?,
                };
                crate::bridge::from_ml_table(&t).map_err(|e| format!("{e:#}"))?
            }
        };
        let bytes = if wants_csv {
            crate::ingest::to_csv(&mut df).map_err(|e| format!("{e:#}"))
        } else {
            crate::ingest::to_json(&mut df).map_err(|e| format!("{e:#}"))
        }?;
        Ok((bytes, accepted))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Cannot sample", e))?;
    let (out, accepted) = out;
    let ctype = if wants_csv { "text/csv; charset=utf-8" } else { "application/json" };
    let mut answer = HttpResponse::Ok();
    answer.content_type(ctype).insert_header(("X-Model-Id", m.id.to_string()));
    if let Some((drawn, rate)) = accepted {
        answer.insert_header(("X-Draws", drawn.to_string())).insert_header(("X-Acceptance-Rate", format!("{rate:.6}")));
    }
    Ok(answer.body(out))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, metrics, file, samples))]
pub struct Doc;
