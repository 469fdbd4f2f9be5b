//! `/api/v1/studies` and `/api/v1/runs`: design studies, solver runs as jobs, candidates (sorted,
//! filtered, paged, exported), and ask/tell for results measured outside genfab.

use super::caller::Caller;
use super::error::ApiError;
use super::jobs::parse_id;
use super::models::json_body;
use super::pagination::{Cursor, Page};
use super::AppState;
use crate::domain::Permission;
use crate::optimize::solvers::SolverKind;
use crate::optimize::study::{Goal, StudySpec};
use crate::store::{CandidateOrder, CandidateQuery, CandidateRow, RunRow, StudyRow, TellOutcome};
use crate::studies::{self, StudiesError, Told};
use actix_web::{web, HttpResponse};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes(r: &mut super::Routes) {
    r.post("/studies", create)
        .get("/studies", list)
        .get("/studies/{id}", get)
        .post("/studies/{id}/runs", create_run)
        .get("/studies/{id}/runs", runs)
        .get("/studies/{id}/candidates", study_candidates)
        .post("/studies/{id}/ask", ask)
        .post("/studies/{id}/tell", tell)
        .get("/runs/{id}", get_run)
        .get("/runs/{id}/candidates", run_candidates);
}

/// Most evaluations one run may make.
pub const MAX_BUDGET: usize = 1_000_000;
/// Most designs one ask returns.
pub const MAX_ASK: usize = 100;

impl From<StudiesError> for ApiError {
    fn from(e: StudiesError) -> Self {
        match e {
            StudiesError::Invalid(s) => ApiError::bad_field(&s.field, s.message),
            StudiesError::NameTaken(_) => ApiError::conflict(e.to_string()),
            StudiesError::Unexpected(e) => ApiError::Unexpected(e),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateStudy {
    name: String,
    #[serde(default)]
    dataset_id: Option<i64>,
    #[serde(default)]
    version: Option<i32>,
    spec: Value,
}

#[utoipa::path(
    post,
    path = "/api/v1/studies",
    tag = "studies",
    request_body(content = CreateStudy, content_type = "application/json"),
    responses((status = 201, description = "the study", body = Object, content_type = "application/json"))
)]
async fn create(caller: Caller, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let req: CreateStudy = json_body(&body)?;
    let id = create_study(&state, &req.name, req.dataset_id, req.version, req.spec).await?;
    let row = state.store.get_study(id).await?.ok_or_else(|| anyhow::anyhow!("study {id} vanished"))?;
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/v1/studies/{id}"))).json(study_json(&row, &[])))
}

/// Checks a study request (the spec, its dataset) and stores the study; the API and the
/// dashboard's form both create studies here, so both refuse with the same field and message.
pub(crate) async fn create_study(
    state: &AppState,
    name: &str,
    dataset_id: Option<i64>,
    version: Option<i32>,
    spec: Value,
) -> Result<i64, ApiError> {
    let spec: StudySpec = serde_json::from_value(spec).map_err(|e| ApiError::bad_field("spec", e.to_string()))?;
    if let Some(id) = dataset_id {
        if state.store.get_dataset(id).await?.is_none() {
            return Err(ApiError::bad_field("dataset_id", format!("dataset {id} does not exist")));
        }
    } else if version.is_some() {
        return Err(ApiError::bad_field("version", "a version needs a dataset_id"));
    }
    let id = studies::create(&state.store, name, dataset_id.map(|d| (d, version)), spec).await?;
    tracing::info!(study = id, "study created");
    Ok(id)
}

/// A study with its surrogates' fit scores (not their parameters) and its runs.
fn study_json(row: &StudyRow, runs: &[RunRow]) -> Value {
    let surrogates: Vec<Value> = row
        .surrogates
        .0
        .as_array()
        .map(|a| {
            a.iter()
                .zip(row.spec.0["surrogates"].as_array().cloned().unwrap_or_default())
                .map(|(s, def)| {
                    json!({ "name": def["name"], "target": s["target"], "inputs": s["inputs"], "kind": s["kind"],
                            "rows": s["n_rows"], "cv": s["cv"] })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": row.id, "name": row.name, "dataset_id": row.dataset_id, "dataset_version": row.dataset_version,
        "model_id": row.model_id, "spec": row.spec.0, "surrogates": surrogates, "created_at": row.created_at,
        "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
    })
}

fn run_json(r: &RunRow) -> Value {
    json!({
        "id": r.id, "study_id": r.study_id, "job_id": r.job_id, "solver": r.solver, "budget": r.budget, "seed": r.seed,
        "evaluations": r.evaluations, "status": r.job_status.clone().unwrap_or_else(|| "open".into()),
        "progress": r.progress, "last_error": r.last_error, "summary": r.summary.as_ref().map(|s| &s.0),
        "created_at": r.created_at, "finished_at": r.finished_at,
    })
}

async fn study_of(state: &AppState, raw: &str) -> Result<StudyRow, ApiError> {
    let id = parse_id(raw, "study")?;
    state.store.get_study(id).await?.ok_or_else(|| ApiError::not_found(format!("study {id} does not exist")))
}

#[derive(Deserialize)]
struct ListQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/studies",
    tag = "studies",
    params(("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "a page of studies", body = Object, content_type = "application/json"))
)]
async fn list(caller: Caller, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (after, limit) = Cursor { cursor: q.cursor.clone(), limit: q.limit.clone() }.parse()?;
    let rows = state.store.list_studies(after, limit + 1).await?;
    let items: Vec<Value> = rows.iter().map(|r| study_json(r, &[])).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |v| v["id"].as_i64().unwrap_or(0))))
}

#[utoipa::path(
    get,
    path = "/api/v1/studies/{id}",
    tag = "studies",
    params(("id" = i64, Path, description = "the study id")),
    responses((status = 200, description = "the study and its runs", body = Object, content_type = "application/json"))
)]
async fn get(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let row = study_of(&state, &path).await?;
    let runs = state.store.list_runs(row.id).await?;
    Ok(HttpResponse::Ok().json(study_json(&row, &runs)))
}

#[utoipa::path(
    get,
    path = "/api/v1/studies/{id}/runs",
    tag = "studies",
    params(("id" = i64, Path, description = "the study id")),
    responses((status = 200, description = "the study's runs", body = Object, content_type = "application/json"))
)]
async fn runs(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let row = study_of(&state, &path).await?;
    let runs = state.store.list_runs(row.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": runs.iter().map(run_json).collect::<Vec<_>>() })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateRun {
    solver: String,
    budget: usize,
    #[serde(default)]
    seed: u64,
}

#[utoipa::path(
    post,
    path = "/api/v1/studies/{id}/runs",
    tag = "studies",
    params(("id" = i64, Path, description = "the study id")),
    request_body(content = CreateRun, content_type = "application/json"),
    responses((status = 202, description = "the run and its job", body = Object, content_type = "application/json"))
)]
async fn create_run(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let row = study_of(&state, &path).await?;
    let req: CreateRun = json_body(&body)?;
    let budget = i64::try_from(req.budget).unwrap_or(i64::MAX);
    // a seed beyond 63 bits is refused by the range check like a negative one
    let seed = i64::try_from(req.seed).unwrap_or(-1);
    let (run_id, _) = start_run(&state, &row, &req.solver, budget, seed).await?;
    let run = state.store.get_run(run_id).await?.ok_or_else(|| anyhow::anyhow!("run {run_id} vanished"))?;
    Ok(HttpResponse::Accepted().insert_header(("Location", format!("/api/v1/runs/{run_id}"))).json(run_json(&run)))
}

/// Checks a run request against its study and queues the run; answers (run id, job id). The
/// API and the dashboard's form both start runs here.
pub(crate) async fn start_run(
    state: &AppState,
    row: &StudyRow,
    solver: &str,
    budget: i64,
    seed: i64,
) -> Result<(i64, i64), ApiError> {
    let kind = SolverKind::parse(solver).ok_or_else(|| {
        let names: Vec<&str> = SolverKind::ALL.iter().map(|k| k.name()).collect();
        ApiError::bad_field("solver", format!("unknown solver '{solver}'; one of {}", names.join(", ")))
    })?;
    if !(1..=MAX_BUDGET as i64).contains(&budget) {
        return Err(ApiError::bad_field("budget", format!("budget must be from 1 to {MAX_BUDGET} evaluations")));
    }
    if seed < 0 {
        return Err(ApiError::bad_field("seed", "seed must be a whole number from 0 to 2^63 - 1 (63 bits)"));
    }
    let objectives = row.spec.0["objectives"].as_array().cloned().unwrap_or_default();
    if let Some(o) = objectives.iter().find(|o| o.get("expr").is_none_or(|e| e.is_null())) {
        return Err(ApiError::bad_field(
            "solver",
            format!(
                "objective '{}' is measured outside genfab (it has no expr); use /ask and /tell",
                o["name"].as_str().unwrap_or("")
            ),
        ));
    }
    let n_objectives = objectives.len();
    if n_objectives > 1 && !kind.multi_objective() {
        return Err(ApiError::bad_field(
            "solver",
            format!(
                "{} optimises one objective and the study has {n_objectives}; use nsga2, random or latin_hypercube",
                kind.name()
            ),
        ));
    }
    let (run_id, job_id) = state.store.create_run(row.id, kind.name(), budget as i32, seed).await?;
    tracing::info!(study = row.id, run = run_id, job = job_id, solver = kind.name(), "optimisation run queued");
    Ok((run_id, job_id))
}

#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}",
    tag = "studies",
    params(("id" = i64, Path, description = "the run id")),
    responses((status = 200, description = "the run", body = Object, content_type = "application/json"))
)]
async fn get_run(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = parse_id(&path, "run")?;
    let run = state.store.get_run(id).await?.ok_or_else(|| ApiError::not_found(format!("run {id} does not exist")))?;
    Ok(HttpResponse::Ok().json(run_json(&run)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidatesQuery {
    sort: Option<String>,
    feasible: Option<String>,
    pareto: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

fn parse_bool(field: &str, v: &Option<String>) -> Result<Option<bool>, ApiError> {
    match v.as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_field(field, format!("'{other}' is not true or false"))),
    }
}

const PAGE_DEFAULT: i64 = 100;
const PAGE_MAX: i64 = 1000;
/// Most rows one export writes.
const EXPORT_MAX: i64 = 1_000_000;

fn offset_cursor(offset: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn parse_offset(c: &Option<String>) -> Result<i64, ApiError> {
    match c.as_deref() {
        None | Some("") => Ok(0),
        Some(c) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse::<i64>().ok()))
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_field("cursor", "the cursor is not one this server gave out; start without it")
            }),
    }
}

/// `sort=iteration|score|violation|novelty|NAME` where NAME is an objective (best first).
fn parse_order(sort: Option<&str>, row: &StudyRow) -> Result<CandidateOrder, ApiError> {
    Ok(match sort {
        None | Some("iteration") => CandidateOrder::Iteration,
        Some("score") => CandidateOrder::Score,
        Some("violation") => CandidateOrder::Violation,
        Some("novelty") => CandidateOrder::Novelty,
        Some(name) => {
            let spec: StudySpec =
                serde_json::from_value(row.spec.0.clone()).map_err(|e| anyhow::anyhow!("stored spec: {e}"))?;
            let o = spec.objectives.iter().find(|o| o.name == name).ok_or_else(|| {
                let names: Vec<&str> = spec.objectives.iter().map(|o| o.name.as_str()).collect();
                ApiError::bad_field(
                    "sort",
                    format!(
                        "'{name}' is not iteration, score, violation, novelty or an objective ({})",
                        names.join(", ")
                    ),
                )
            })?;
            CandidateOrder::Objective { name: name.to_owned(), descending: o.goal == Goal::Maximize }
        }
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/studies/{id}/candidates",
    tag = "studies",
    params(("id" = i64, Path, description = "the study id"), ("sort" = Option<String>, Query, description = "score (default), iteration or novelty"), ("feasible" = Option<bool>, Query), ("pareto" = Option<bool>, Query), ("status" = Option<String>, Query, description = "asked or told"), ("format" = Option<String>, Query, description = "json (default) or csv"), ("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "a page of candidates", body = Object, content_type = "application/json"))
)]
async fn study_candidates(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<CandidatesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let row = study_of(&state, &path).await?;
    candidates(&state, row, None, q.into_inner()).await
}

#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/candidates",
    tag = "studies",
    params(("id" = i64, Path, description = "the run id"), ("sort" = Option<String>, Query, description = "score (default), iteration or novelty"), ("feasible" = Option<bool>, Query), ("pareto" = Option<bool>, Query), ("status" = Option<String>, Query, description = "asked or told"), ("format" = Option<String>, Query, description = "json (default) or csv"), ("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "a page of candidates", body = Object, content_type = "application/json"))
)]
async fn run_candidates(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<CandidatesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = parse_id(&path, "run")?;
    let run = state.store.get_run(id).await?.ok_or_else(|| ApiError::not_found(format!("run {id} does not exist")))?;
    let row =
        state.store.get_study(run.study_id).await?.ok_or_else(|| anyhow::anyhow!("study {} vanished", run.study_id))?;
    candidates(&state, row, Some(id), q.into_inner()).await
}

async fn candidates(
    state: &AppState,
    row: StudyRow,
    run_id: Option<i64>,
    q: CandidatesQuery,
) -> Result<HttpResponse, ApiError> {
    let export = match q.format.as_deref() {
        None | Some("json") => None,
        Some("csv") => Some(false),
        Some("parquet") => Some(true),
        Some(other) => return Err(ApiError::bad_field("format", format!("'{other}' is not json, csv or parquet"))),
    };
    let limit = match (&q.limit, export) {
        (None, None) => PAGE_DEFAULT,
        (None, Some(_)) => EXPORT_MAX,
        (Some(s), _) => s.parse::<i64>().ok().filter(|l| (1..=EXPORT_MAX).contains(l)).ok_or_else(|| {
            ApiError::bad_field(
                "limit",
                format!("limit must be an integer from 1 to {PAGE_MAX} (to {EXPORT_MAX} for an export)"),
            )
        })?,
    };
    if export.is_none() && limit > PAGE_MAX {
        return Err(ApiError::bad_field("limit", format!("limit must be an integer from 1 to {PAGE_MAX}")));
    }
    if let Some(s) = &q.status {
        if !["evaluated", "asked", "measured"].contains(&s.as_str()) {
            return Err(ApiError::bad_field("status", format!("'{s}' is not evaluated, asked or measured")));
        }
    }
    let query = CandidateQuery {
        study_id: row.id,
        run_id,
        feasible: parse_bool("feasible", &q.feasible)?,
        pareto: parse_bool("pareto", &q.pareto)?,
        status: q.status.clone(),
        order: parse_order(q.sort.as_deref(), &row)?,
        offset: parse_offset(&q.cursor)?,
        limit: limit + 1,
        stride: 0,
    };
    let mut items = state.store.list_candidates(&query).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    if let Some(parquet) = export {
        let bytes = web::block(move || export_table(&items, parquet)).await.map_err(|e| anyhow::anyhow!("{e}"))??;
        let (ctype, ext) = if parquet { ("application/vnd.apache.parquet", "parquet") } else { ("text/csv", "csv") };
        return Ok(HttpResponse::Ok()
            .content_type(ctype)
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"study-{}-candidates.{ext}\"", row.id),
            ))
            .body(bytes));
    }
    let next_cursor = more.then(|| offset_cursor(query.offset + limit));
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": next_cursor })))
}

/// Candidates as a flat table: ids, then design columns, objectives, constraints, then the rest.
fn export_table(items: &[CandidateRow], parquet: bool) -> anyhow::Result<Vec<u8>> {
    use polars::prelude::*;
    let keys = |f: &dyn Fn(&CandidateRow) -> Option<&Value>| -> Vec<String> {
        let mut names: Vec<String> = vec![];
        for c in items {
            if let Some(Value::Object(m)) = f(c) {
                for k in m.keys() {
                    if !names.contains(k) {
                        names.push(k.clone());
                    }
                }
            }
        }
        names
    };
    let design = keys(&|c| Some(&c.design.0));
    let objectives = keys(&|c| c.objectives.as_ref().map(|j| &j.0));
    let constraints = keys(&|c| c.constraints.as_ref().map(|j| &j.0));
    let mut cols: Vec<Column> = vec![
        Column::new("candidate_id".into(), items.iter().map(|c| c.id).collect::<Vec<_>>()),
        Column::new("run_id".into(), items.iter().map(|c| c.run_id).collect::<Vec<_>>()),
        Column::new("iteration".into(), items.iter().map(|c| c.iteration).collect::<Vec<_>>()),
        Column::new("solver".into(), items.iter().map(|c| c.solver.clone()).collect::<Vec<_>>()),
        Column::new("status".into(), items.iter().map(|c| c.status.clone()).collect::<Vec<_>>()),
    ];
    for k in &design {
        let values: Vec<&Value> = items.iter().map(|c| c.design.0.get(k).unwrap_or(&Value::Null)).collect();
        if values.iter().any(|v| v.is_string()) {
            cols.push(Column::new(k.into(), values.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Vec<_>>()));
        } else {
            cols.push(Column::new(k.into(), values.iter().map(|v| v.as_f64()).collect::<Vec<_>>()));
        }
    }
    let mut numeric = |prefix: &str, names: &[String], get: &dyn Fn(&CandidateRow) -> Option<&Value>| {
        for k in names {
            let name = if design.contains(k) { format!("{prefix}{k}") } else { k.clone() };
            let v: Vec<Option<f64>> =
                items.iter().map(|c| get(c).and_then(|m| m.get(k)).and_then(|v| v.as_f64())).collect();
            cols.push(Column::new(name.into(), v));
        }
    };
    numeric("objective_", &objectives, &|c| c.objectives.as_ref().map(|j| &j.0));
    numeric("constraint_", &constraints, &|c| c.constraints.as_ref().map(|j| &j.0));
    cols.push(Column::new("violation".into(), items.iter().map(|c| c.violation).collect::<Vec<_>>()));
    cols.push(Column::new("feasible".into(), items.iter().map(|c| c.feasible).collect::<Vec<_>>()));
    cols.push(Column::new("pareto".into(), items.iter().map(|c| c.pareto).collect::<Vec<_>>()));
    cols.push(Column::new("novelty".into(), items.iter().map(|c| c.novelty).collect::<Vec<_>>()));
    let mut df = DataFrame::new(items.len(), cols)?;
    if parquet {
        crate::ingest::to_parquet(&mut df)
    } else {
        crate::ingest::to_csv(&mut df)
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AskBody {
    #[serde(default = "one")]
    n: usize,
}

fn one() -> usize {
    1
}

#[utoipa::path(
    post,
    path = "/api/v1/studies/{id}/ask",
    tag = "studies",
    params(("id" = i64, Path, description = "the study id")),
    request_body(content = AskBody, content_type = "application/json"),
    responses((status = 200, description = "the designs to build and measure", body = Object, content_type = "application/json"))
)]
async fn ask(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::AppendRows)?;
    let row = study_of(&state, &path).await?;
    let b: AskBody = if body.is_empty() { AskBody { n: 1 } } else { json_body(&body)? };
    if b.n == 0 || b.n > MAX_ASK {
        return Err(ApiError::bad_field("n", format!("n must be from 1 to {MAX_ASK}")));
    }
    let items = studies::ask(&state.store, &row, b.n).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TellBody {
    results: Vec<Told>,
}

#[utoipa::path(
    post,
    path = "/api/v1/studies/{id}/tell",
    tag = "studies",
    params(("id" = i64, Path, description = "the study id")),
    request_body(content = TellBody, content_type = "application/json"),
    responses((status = 200, description = "the candidates with their results", body = Object, content_type = "application/json"))
)]
async fn tell(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::AppendRows)?;
    let row = study_of(&state, &path).await?;
    let b: TellBody = json_body(&body)?;
    if b.results.is_empty() {
        return Err(ApiError::bad_field("results", "give at least one result"));
    }
    let outcomes = studies::tell(&state.store, &row, &b.results).await?;
    // All or nothing: the store wrote nothing if any result is refused.
    for (i, (t, o)) in b.results.iter().zip(&outcomes).enumerate() {
        match o {
            TellOutcome::NotFound => {
                return Err(ApiError::bad_field(
                    &format!("results[{i}].candidate_id"),
                    format!("candidate {} is not a candidate of study {}; nothing was recorded", t.candidate_id, row.id),
                ))
            }
            TellOutcome::Conflict => {
                return Err(ApiError::conflict(format!(
                    "results[{i}]: candidate {} was measured before with other values; they are kept and nothing was recorded",
                    t.candidate_id
                )))
            }
            _ => {}
        }
    }
    let items: Vec<Value> =
        b.results.iter().zip(&outcomes).map(|(t, o)| json!({ "candidate_id": t.candidate_id, "outcome": o })).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, create_run, runs, study_candidates, run_candidates, ask, tell, get_run))]
pub struct Doc;
