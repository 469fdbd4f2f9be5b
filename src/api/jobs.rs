//! `/api/v1/jobs`: list, read, cancel, and follow a job as server-sent events.

use super::caller::Caller;
use super::error::ApiError;
use super::pagination::{Cursor, Page};
use super::AppState;
use crate::domain::Permission;
use crate::store::{JobRow, Store};
use actix_web::{web, HttpResponse};
use futures_util::stream;
use serde::Deserialize;
use std::time::Duration;

pub fn routes(r: &mut super::Routes) {
    r.get("/jobs", list).get("/jobs/{id}", get).post("/jobs/{id}/cancel", cancel).get("/jobs/{id}/events", events);
}

pub const STATUSES: &[&str] = &["queued", "running", "succeeded", "failed", "cancelled"];

/// Parses a positive id from a path, naming what it should be.
pub fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::not_found(format!("'{raw}' is not a {what} id; ids are positive integers")))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    tag = "jobs",
    params(("status" = Option<String>, Query, description = "queued, running, succeeded, failed or cancelled"), ("kind" = Option<String>, Query, description = "job kind"), ("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "a page of jobs", body = Object, content_type = "application/json"))
)]
async fn list(caller: Caller, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    if let Some(s) = q.status.as_deref() {
        if !STATUSES.contains(&s) {
            return Err(ApiError::bad_field("status", format!("status '{s}' is not one of {}", STATUSES.join(", "))));
        }
    }
    if let Some(k) = q.kind.as_deref() {
        if !crate::jobs::KINDS.contains(&k) {
            return Err(ApiError::bad_field(
                "kind",
                format!("kind '{k}' is not one of {}", crate::jobs::KINDS.join(", ")),
            ));
        }
    }
    let (before, limit) = Cursor { cursor: q.cursor.clone(), limit: q.limit.clone() }.parse()?;
    let items = state.store.list_jobs(q.status.as_deref(), q.kind.as_deref(), before, limit + 1).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |j| j.id)))
}

async fn load(store: &Store, raw: &str) -> Result<JobRow, ApiError> {
    let id = parse_id(raw, "job")?;
    store.get_job(id).await?.ok_or_else(|| ApiError::not_found(format!("job {id} does not exist")))
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = i64, Path, description = "the job id")),
    responses((status = 200, description = "the job", body = Object, content_type = "application/json"))
)]
async fn get(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    Ok(HttpResponse::Ok().json(load(&state.store, &path).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = i64, Path, description = "the job id")),
    responses((status = 200, description = "a queued job, now cancelled", body = Object, content_type = "application/json"), (status = 202, description = "a running job, asked to stop", body = Object, content_type = "application/json"))
)]
async fn cancel(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let job = load(&state.store, &path).await?;
    if !state.store.cancel_job(job.id).await? {
        let job = load(&state.store, &path).await?;
        return Err(ApiError::conflict(format!(
            "job {} has ended ({}); there is nothing to cancel",
            job.id, job.status
        )));
    }
    let job = load(&state.store, &path).await?;
    // a queued job is cancelled at once (202 would promise work that will not happen)
    let status =
        if job.status == "cancelled" { actix_web::http::StatusCode::OK } else { actix_web::http::StatusCode::ACCEPTED };
    Ok(HttpResponse::build(status).json(job))
}

fn ended(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}

fn sse(event: &str, job: &JobRow) -> web::Bytes {
    let data = serde_json::to_string(job).unwrap_or_else(|_| "{}".into());
    web::Bytes::from(format!("event: {event}\nid: {}\ndata: {data}\n\n", job.id))
}

/// Server-sent events: `state` when the status changes, `progress` when progress or the
/// message moves, a comment every 15 s to keep proxies open; the stream ends with the job.
/// Reads the store, so it follows jobs run by any worker on any machine.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}/events",
    tag = "jobs",
    params(("id" = i64, Path, description = "the job id")),
    responses((status = 200, description = "server-sent events: state and progress, until the job ends", body = String, content_type = "text/event-stream"))
)]
async fn events(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let job = load(&state.store, &path).await?;
    let store = state.store.clone();
    struct S {
        store: Store,
        id: i64,
        last: Option<JobRow>,
        done: bool,
        quiet: u32,
        polled: bool,
    }
    let start = S { store, id: job.id, last: None, done: false, quiet: 0, polled: false };
    let body = stream::unfold(start, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            if s.polled {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            s.polled = true;
            let job = match s.store.get_job(s.id).await {
                Ok(Some(j)) => j,
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(job = s.id, error = %format!("{e:#}"), "events: could not read the job");
                    continue;
                }
            };
            let event = match &s.last {
                None => Some("state"),
                Some(l) if l.status != job.status => Some("state"),
                Some(l) if l.progress != job.progress || l.message != job.message => Some("progress"),
                _ => None,
            };
            if let Some(ev) = event {
                let bytes = sse(ev, &job);
                s.done = ended(&job.status);
                s.last = Some(job);
                s.quiet = 0;
                return Some((Ok::<_, actix_web::Error>(bytes), s));
            }
            s.quiet += 1;
            if s.quiet >= 60 {
                s.quiet = 0;
                return Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), s));
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, get, cancel, events))]
pub struct Doc;
