//! `/api/v1/schedules`: cron schedules of job templates (nightly retraining and the like).

use super::caller::Caller;
use super::error::ApiError;
use super::jobs::parse_id;
use super::models::json_body;
use super::pagination::{Cursor, Page};
use super::AppState;
use crate::domain::Permission;
use crate::jobs::scheduler::{Cron, JobTemplate, TemplateStep};
use crate::store::{NewSchedule, ScheduleRow};
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes(r: &mut super::Routes) {
    r.post("/schedules", create)
        .get("/schedules", list)
        .get("/schedules/{id}", get)
        .delete("/schedules/{id}", delete)
        .post("/schedules/{id}/pause", pause)
        .post("/schedules/{id}/resume", resume)
        .post("/schedules/{id}/run", run_now);
}

/// Default grace window for a slot missed while everything was down.
pub const DEFAULT_GRACE_SECONDS: i64 = 3600;

fn schedule_json(s: &ScheduleRow) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "cron": s.cron,
        "timezone": s.timezone,
        "template": s.template.0,
        "paused": s.paused,
        "grace_seconds": s.grace_seconds,
        "next_fire_at": if s.paused { None } else { Some(s.next_fire_at) },
        "last_fired_at": s.last_fired_at,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateSchedule {
    name: String,
    cron: String,
    #[serde(default = "utc")]
    timezone: String,
    template: Value,
    #[serde(default)]
    grace_seconds: Option<i64>,
}

fn utc() -> String {
    "UTC".into()
}

#[utoipa::path(
    post,
    path = "/api/v1/schedules",
    tag = "schedules",
    request_body(content = CreateSchedule, content_type = "application/json"),
    responses((status = 201, description = "the schedule with its next firing", body = Object, content_type = "application/json"))
)]
async fn create(caller: Caller, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let req: CreateSchedule = json_body(&body)?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::bad_field("name", "name must be 1 to 200 characters"));
    }
    let cron = Cron::parse(&req.cron, &req.timezone).map_err(|e| {
        let field = if e.starts_with("time zone") { "timezone" } else { "cron" };
        ApiError::bad_field(field, e)
    })?;
    let template = JobTemplate::parse(&req.template).map_err(|e| ApiError::bad_field("template", e))?;
    for (i, step) in template.steps.iter().enumerate() {
        let model = match step {
            TemplateStep::Retrain { model_id, .. } | TemplateStep::Sample { model_id, .. } => Some(*model_id),
            TemplateStep::Recalibrate { .. } | TemplateStep::Noop { .. } => None,
        };
        if let TemplateStep::Recalibrate { detector_id } = step {
            if state.store.get_detector(*detector_id).await?.is_none() {
                return Err(ApiError::bad_field(
                    &format!("template.steps[{i}].detector_id"),
                    format!("detector {detector_id} does not exist"),
                ));
            }
        }
        if let Some(id) = model {
            if state.store.get_model(id).await?.is_none() {
                return Err(ApiError::bad_field(
                    &format!("template.steps[{i}].model_id"),
                    format!("model {id} does not exist"),
                ));
            }
        }
        if let TemplateStep::Retrain { dataset_id: Some(d), .. } = step {
            if state.store.get_dataset(*d).await?.is_none() {
                return Err(ApiError::bad_field(
                    &format!("template.steps[{i}].dataset_id"),
                    format!("dataset {d} does not exist"),
                ));
            }
        }
        if let TemplateStep::Retrain { rank_weight: Some(rw), .. } = step {
            rw.check().map_err(|e| ApiError::bad_field(&format!("template.steps[{i}].rank_weight"), e.to_string()))?;
        }
        if let TemplateStep::Sample { n, .. } = step {
            if *n == 0 || *n > state.limits.max_rows {
                return Err(ApiError::bad_field(
                    &format!("template.steps[{i}].n"),
                    format!("n must be from 1 to {}", state.limits.max_rows),
                ));
            }
        }
    }
    let grace = req.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if !(0..=7 * 86_400).contains(&grace) {
        return Err(ApiError::bad_field("grace_seconds", "grace_seconds must be from 0 to 604800 (a week)"));
    }
    let next = cron
        .next_after(Utc::now())
        .ok_or_else(|| ApiError::bad_field("cron", format!("cron '{}' has no future slot", req.cron)))?;
    let new = NewSchedule {
        name: name.to_string(),
        cron: req.cron.clone(),
        timezone: req.timezone.clone(),
        template: serde_json::to_value(&template).map_err(|e| anyhow::anyhow!("{e}"))?,
        grace_seconds: grace,
        next_fire_at: next,
    };
    let s =
        state.store.create_schedule(&new).await?.ok_or_else(|| {
            ApiError::conflict(format!("a schedule named '{name}' exists already; choose another name"))
        })?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/schedules/{}", s.id)))
        .json(schedule_json(&s)))
}

#[utoipa::path(
    get,
    path = "/api/v1/schedules",
    tag = "schedules",
    params(("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "a page of schedules", body = Object, content_type = "application/json"))
)]
async fn list(caller: Caller, state: web::Data<AppState>, q: web::Query<Cursor>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (after, limit) = q.parse()?;
    let rows = state.store.list_schedules(after, limit + 1).await?;
    let page = Page::new(rows, limit, |s| s.id);
    Ok(HttpResponse::Ok().json(json!({
        "items": page.items.iter().map(schedule_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

async fn load(state: &AppState, raw: &str) -> Result<ScheduleRow, ApiError> {
    let id = parse_id(raw, "schedule")?;
    state.store.get_schedule(id).await?.ok_or_else(|| ApiError::not_found(format!("schedule {id} does not exist")))
}

#[utoipa::path(
    get,
    path = "/api/v1/schedules/{id}",
    tag = "schedules",
    params(("id" = i64, Path, description = "the schedule id")),
    responses((status = 200, description = "the schedule", body = Object, content_type = "application/json"))
)]
async fn get(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let s = load(&state, &path).await?;
    let fires = state.store.schedule_fires(s.id, 20).await?;
    let mut body = schedule_json(&s);
    body["recent_slots"] = serde_json::to_value(fires).unwrap_or(Value::Null);
    Ok(HttpResponse::Ok().json(body))
}

async fn set_paused(state: &AppState, raw: &str, paused: bool) -> Result<HttpResponse, ApiError> {
    let s = pause_or_resume(state, parse_id(raw, "schedule")?, paused).await?;
    Ok(HttpResponse::Ok().json(schedule_json(&s)))
}

/// Pauses or resumes a schedule (resuming from the next slot after now); the API and the
/// dashboard's buttons both use it.
pub(crate) async fn pause_or_resume(state: &AppState, id: i64, paused: bool) -> Result<ScheduleRow, ApiError> {
    let s = state
        .store
        .get_schedule(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("schedule {id} does not exist")))?;
    let cron = Cron::parse(&s.cron, &s.timezone).map_err(anyhow::Error::msg)?;
    let next = cron.next_after(Utc::now()).unwrap_or(s.next_fire_at);
    let s = state
        .store
        .set_schedule_paused(s.id, paused, next)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("schedule {} does not exist", s.id)))?;
    Ok(s)
}

#[utoipa::path(
    post,
    path = "/api/v1/schedules/{id}/pause",
    tag = "schedules",
    params(("id" = i64, Path, description = "the schedule id")),
    responses((status = 200, description = "the paused schedule", body = Object, content_type = "application/json"))
)]
async fn pause(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    set_paused(&state, &path, true).await
}

#[utoipa::path(
    post,
    path = "/api/v1/schedules/{id}/resume",
    tag = "schedules",
    params(("id" = i64, Path, description = "the schedule id")),
    responses((status = 200, description = "the resumed schedule", body = Object, content_type = "application/json"))
)]
async fn resume(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    set_paused(&state, &path, false).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/schedules/{id}",
    tag = "schedules",
    params(("id" = i64, Path, description = "the schedule id")),
    responses((status = 204, description = "deleted"))
)]
async fn delete(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let id = parse_id(&path, "schedule")?;
    if state.store.delete_schedule(id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("schedule {id} does not exist")))
    }
}

/// Fires the template now, outside the cron slots; answers the queued jobs.
#[utoipa::path(
    post,
    path = "/api/v1/schedules/{id}/run",
    tag = "schedules",
    params(("id" = i64, Path, description = "the schedule id")),
    responses((status = 202, description = "the job started now", body = Object, content_type = "application/json"))
)]
async fn run_now(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let s = load(&state, &path).await?;
    let ids = crate::jobs::scheduler::fire_now(&state.store, &s).await?;
    let mut jobs = vec![];
    for id in &ids {
        jobs.push(state.store.get_job(*id).await?);
    }
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/jobs/{}", ids.first().copied().unwrap_or(0))))
        .json(json!({ "schedule_id": s.id, "jobs": jobs })))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, delete, pause, resume, run_now))]
pub struct Doc;
