//! The audit log: one middleware (`record`, around the whole application) writes who created,
//! changed, exported or deleted what — every request that changes something under `/api/v1`
//! or on the dashboard, sign-ins, and the reads that take data out (dataset rows, model files,
//! candidate files). `GET /api/v1/audit` (admin) lists it. Bodies, query strings and secrets are
//! never recorded.

use super::caller::Caller;
use super::error::ApiError;
use super::pagination::{Cursor, Page};
use super::AppState;
use crate::domain::{Permission, Role};
use crate::store::{AuditQuery, NewAuditEntry};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;

pub fn routes(r: &mut super::Routes) {
    r.get("/audit", list);
}

/// Who made a request, noted by whichever extractor authenticated it (bearer token or
/// dashboard session) for the audit middleware to read after the handler answered.
#[derive(Clone, Debug)]
pub struct Actor {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
}

impl Actor {
    pub fn note(req: &HttpRequest, token_id: i64, name: &str, role: Role) {
        req.extensions_mut().insert(Actor { token_id, name: name.to_string(), role });
    }
}

/// The resource a handler created, when its answer has no `Location` to tell (put in the
/// response's extensions).
#[derive(Clone, Debug)]
pub struct Created {
    pub kind: &'static str,
    pub id: String,
}

/// What the log calls a request, or None when it is not audited.
fn action(method: &Method, path: &str, query: &str) -> Option<&'static str> {
    let api = path.starts_with("/api/v1/");
    let segs = segments(path);
    let last = segs.last().copied().unwrap_or("");
    if method == Method::GET || method == Method::HEAD {
        let export = match segs.as_slice() {
            ["datasets", _, "rows"] | ["models", _, "file"] => api,
            ["datasets", _, "download"] => !api,
            ["studies" | "runs", _, "candidates"] => {
                api && query.split('&').any(|kv| kv == "format=csv" || kv == "format=parquet")
            }
            _ => false,
        };
        return export.then_some("export");
    }
    let what = if method == Method::OPTIONS {
        return None;
    } else if method == Method::DELETE || last == "revoke" {
        "delete"
    } else if method != Method::POST {
        "change"
    } else if !api && path == "/login" {
        "sign-in"
    } else if !api && path == "/logout" {
        "sign-out"
    } else if CREATES.contains(&last) {
        "create"
    } else {
        "change"
    };
    Some(what)
}

/// Last path segments of a POST that makes a new thing.
const CREATES: &[&str] = &[
    "datasets",
    "models",
    "samples",
    "synthetic",
    "studies",
    "runs",
    "detectors",
    "schedules",
    "tokens",
    "webhooks",
    "generate",
    "new",
];

/// The path's segments below `/api/v1` (API) or `/admin` and `/` (dashboard).
fn segments(path: &str) -> Vec<&str> {
    let rest = path.strip_prefix("/api/v1").unwrap_or(path);
    let rest = rest.strip_prefix("/admin").unwrap_or(rest);
    rest.split('/').filter(|s| !s.is_empty()).collect()
}

/// (kind, id) of the resource a request is about: from its path, else from what its answer
/// points to (`Location`, or a `Created` note).
fn resource<B>(path: &str, res: &HttpResponse<B>) -> (Option<String>, Option<String>) {
    let segs = segments(path);
    let Some(kind) = segs.first().copied().filter(|k| !matches!(*k, "login" | "logout")) else {
        return (None, None);
    };
    if let Some(id) = segs.get(1).filter(|s| **s != "new") {
        return (Some(kind.to_string()), Some(id.chars().take(128).collect()));
    }
    if let Some(c) = res.extensions().get::<Created>() {
        return (Some(c.kind.to_string()), Some(c.id.clone()));
    }
    let location = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let location = location.split('?').next().unwrap_or("");
    let target = segments(location);
    match target.as_slice() {
        [k, id, ..] if *k == kind => (Some(k.to_string()), Some(id.chars().take(128).collect())),
        _ => (Some(kind.to_string()), None),
    }
}

/// The middleware (wrapped around the whole application, inside the request-id logger).
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(what) = action(req.method(), req.path(), req.query_string()) else {
        return next.call(req).await;
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    // no clone of the request may be held while it is routed (actix panics): what is needed
    // afterwards is read from the answer's request
    let (method, path) = (req.method().to_string(), req.path().chars().take(1024).collect::<String>());
    let res = next.call(req).await;
    let (status, actor, request_id, (kind, id)) = match &res {
        Ok(r) => {
            let ext = r.request().extensions();
            (
                r.status().as_u16(),
                ext.get::<Actor>().cloned(),
                ext.get::<tracing_actix_web::RequestId>().map(|id| id.to_string()),
                resource(&path, r.response()),
            )
        }
        Err(e) => (e.as_response_error().status_code().as_u16(), None, None, (None, None)),
    };
    // a request nobody could be named for is refused before it does anything; only refused
    // sign-ins are worth keeping
    if actor.is_none() && what != "sign-in" {
        return res;
    }
    let entry = NewAuditEntry {
        at: chrono::Utc::now(),
        token_id: actor.as_ref().map(|a| a.token_id),
        token_name: actor.as_ref().map(|a| a.name.clone()),
        role: actor.as_ref().map(|a| a.role.as_str().to_string()),
        action: what,
        method,
        path,
        resource_kind: kind,
        resource_id: id,
        status,
        request_id,
    };
    state.audit.record(entry).await;
    res
}

#[derive(Deserialize)]
struct ListQuery {
    token_id: Option<String>,
    action: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

const ACTIONS: &[&str] = &["create", "change", "delete", "export", "sign-in", "sign-out"];

/// The audit log, newest first; `token_id` and `action` narrow it.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(
        ("token_id" = Option<i64>, Query, description = "only this token's requests"),
        ("action" = Option<String>, Query, description = "create, change, delete, export, sign-in or sign-out"),
        ("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")
    ),
    responses((status = 200, description = "a page of audit entries (at, token_id, token_name, role, action, method, path, resource_kind, resource_id, status, request_id); admin only", body = Object, content_type = "application/json"))
)]
async fn list(caller: Caller, state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTokens)?;
    let token_id = match q.token_id.as_deref() {
        None | Some("") => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| {
            ApiError::bad_field("token_id", format!("token_id '{t}' is not a token id; ids are integers"))
        })?),
    };
    let action = match q.action.as_deref() {
        None | Some("") => None,
        Some(a) if ACTIONS.contains(&a) => Some(a.to_string()),
        Some(a) => {
            return Err(ApiError::bad_field("action", format!("action '{a}' is not one of {}", ACTIONS.join(", "))))
        }
    };
    let (before, limit) = Cursor { cursor: q.cursor.clone(), limit: q.limit.clone() }.parse()?;
    let items = state.store.list_audit(&AuditQuery { token_id, action, before, limit: limit + 1 }).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |e| e.id)))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
pub struct Doc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_what_they_do() {
        assert_eq!(action(&Method::POST, "/api/v1/datasets", ""), Some("create"));
        assert_eq!(action(&Method::POST, "/api/v1/datasets/3/rows", ""), Some("change"));
        assert_eq!(action(&Method::DELETE, "/api/v1/datasets/3", ""), Some("delete"));
        assert_eq!(action(&Method::GET, "/api/v1/datasets/3/rows", "format=csv"), Some("export"));
        assert_eq!(action(&Method::GET, "/api/v1/models/3/file", ""), Some("export"));
        assert_eq!(action(&Method::GET, "/api/v1/runs/3/candidates", "limit=5&format=csv"), Some("export"));
        assert_eq!(action(&Method::GET, "/api/v1/runs/3/candidates", "limit=5"), None);
        assert_eq!(action(&Method::GET, "/api/v1/datasets", ""), None);
        assert_eq!(action(&Method::GET, "/datasets/3/download", ""), Some("export"));
        assert_eq!(action(&Method::POST, "/login", ""), Some("sign-in"));
        assert_eq!(action(&Method::POST, "/admin/tokens/4/revoke", ""), Some("delete"));
        assert_eq!(action(&Method::POST, "/admin/tokens", ""), Some("create"));
        assert_eq!(action(&Method::POST, "/jobs/4/cancel", ""), Some("change"));
    }

    #[test]
    fn the_resource_comes_from_the_path_or_the_answer() {
        let plain = HttpResponse::Ok().finish();
        assert_eq!(resource("/api/v1/datasets/7/rows", &plain), (Some("datasets".into()), Some("7".into())));
        assert_eq!(resource("/admin/tokens/4/revoke", &plain), (Some("tokens".into()), Some("4".into())));
        let located = HttpResponse::Created().insert_header(("Location", "/api/v1/datasets/9")).finish();
        assert_eq!(resource("/api/v1/datasets", &located), (Some("datasets".into()), Some("9".into())));
        let job = HttpResponse::Accepted().insert_header(("Location", "/api/v1/jobs/9")).finish();
        assert_eq!(resource("/api/v1/models", &job), (Some("models".into()), None));
        let mut noted = HttpResponse::Created().finish();
        noted.extensions_mut().insert(Created { kind: "tokens", id: "5".into() });
        assert_eq!(resource("/api/v1/tokens", &noted), (Some("tokens".into()), Some("5".into())));
        assert_eq!(resource("/login", &plain), (None, None));
    }
}
