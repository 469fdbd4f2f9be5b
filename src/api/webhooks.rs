//! `/api/v1/webhooks` (admin): subscribe a URL to events (the signing secret is shown once), list,
//! read, delete, list deliveries, replay a delivery, ping. Signing and the events: `crate::webhooks`.

use super::caller::Caller;
use super::error::ApiError;
use super::jobs::parse_id;
use super::pagination::{Cursor, Page};
use super::AppState;
use crate::domain::Permission;
use crate::store::{NewWebhook, WebhookRow};
use crate::webhooks::{EVENTS, PING};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes(r: &mut super::Routes) {
    r.get("/webhooks", list)
        .post("/webhooks", create)
        .get("/webhooks/{id}", get)
        .delete("/webhooks/{id}", delete)
        .get("/webhooks/{id}/deliveries", deliveries)
        .post("/webhooks/{id}/deliveries/{delivery}/replay", replay)
        .post("/webhooks/{id}/ping", ping);
}

const MAX_NAME: usize = 128;
const MAX_URL: usize = 2048;
const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 256;

/// A subscription to create.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `check_new_webhook` reads member by member
struct CreateWebhook {
    /// 1 to 128 characters.
    name: String,
    /// Where deliveries are POSTed: an `http://` URL (this build has no TLS backend).
    url: String,
    /// Any of `job.succeeded`, `job.failed`, `dataset.version_created`, `detector.anomaly`, `study.run_finished`.
    events: Vec<String>,
    /// The signing secret, at least 16 characters; 32 random bytes (hex) when left out.
    secret: Option<String>,
}

fn text<'a>(body: &'a serde_json::Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_field(field, format!("'{field}' must be a string"))),
    }
}

/// A subscription from a request body, every member checked and named when it is wrong.
fn check_new_webhook(body: &[u8], created_by: i64) -> Result<NewWebhook, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"name\": \"...\", \"url\": \"http://...\", \"events\": [\"job.failed\", ...]}}: {e}"
        ))
    })?;
    let Value::Object(o) = v else {
        return Err(ApiError::bad_request("the body must be a JSON object with name, url and events"));
    };
    if let Some(k) = o.keys().find(|k| !["name", "url", "events", "secret"].contains(&k.as_str())) {
        return Err(ApiError::bad_field(
            k,
            format!("unknown member '{k}'; a webhook has name, url, events and secret"),
        ));
    }
    let name = text(&o, "name")?.map(str::trim).unwrap_or("");
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::bad_field("name", format!("the name must be 1 to {MAX_NAME} characters")));
    }
    let url = check_url(text(&o, "url")?.map(str::trim).unwrap_or(""))?;
    let events = check_events(o.get("events"))?;
    let secret = match text(&o, "secret")? {
        None => {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness for the secret: {e}"))?;
            hex::encode(b)
        }
        Some(s) if (MIN_SECRET..=MAX_SECRET).contains(&s.chars().count()) => s.to_string(),
        Some(_) => {
            return Err(ApiError::bad_field(
                "secret",
                format!(
                    "the secret must be {MIN_SECRET} to {MAX_SECRET} characters (leave it out to get a random one)"
                ),
            ))
        }
    };
    Ok(NewWebhook { name: name.to_string(), url, events, secret, created_by: Some(created_by) })
}

fn check_url(raw: &str) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > MAX_URL {
        return Err(ApiError::bad_field("url", format!("the url must be 1 to {MAX_URL} characters")));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| {
        ApiError::bad_field("url", format!("'{raw}' is not a URL ({e}); e.g. http://mes.plant.local/hooks"))
    })?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url.to_string()),
        "http" | "https" => Err(ApiError::bad_field("url", format!("'{raw}' has no host"))),
        other => Err(ApiError::bad_field("url", format!("the url's scheme is '{other}'; it must be http or https"))),
    }
}

fn check_events(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let known = EVENTS.join(", ");
    let Some(Value::Array(items)) = v else {
        return Err(ApiError::bad_field("events", format!("'events' must be an array of one or more of {known}")));
    };
    if items.is_empty() {
        return Err(ApiError::bad_field("events", format!("'events' is empty; subscribe to one or more of {known}")));
    }
    let mut out: Vec<String> = vec![];
    for (i, e) in items.iter().enumerate() {
        let field = format!("events[{i}]");
        let e =
            e.as_str().ok_or_else(|| ApiError::bad_field(&field, format!("each event is a string, one of {known}")))?;
        if !EVENTS.contains(&e) {
            return Err(ApiError::bad_field(&field, format!("unknown event '{e}'; the events are {known}")));
        }
        if !out.iter().any(|o| o == e) {
            out.push(e.to_string());
        }
    }
    Ok(out)
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    request_body(content = CreateWebhook, content_type = "application/json"),
    responses((status = 201, description = "the subscription with its signing secret, shown only here", body = Object, content_type = "application/json"))
)]
async fn create(caller: Caller, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let new = check_new_webhook(&body, caller.token_id)?;
    let row = state.store.create_webhook(&new).await?;
    tracing::info!(webhook = row.id, events = ?row.events.0, "webhook subscribed");
    let mut v = serde_json::to_value(&row).map_err(anyhow::Error::from)?;
    v["secret"] = json!(new.secret);
    Ok(HttpResponse::Created().json(v))
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    responses((status = 200, description = "every subscription (never the secrets)", body = Object, content_type = "application/json"))
)]
async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    Ok(HttpResponse::Ok().json(json!({ "items": state.store.list_webhooks().await? })))
}

async fn load(state: &AppState, raw: &str) -> Result<WebhookRow, ApiError> {
    let id = parse_id(raw, "webhook")?;
    state.store.get_webhook(id).await?.ok_or_else(|| ApiError::not_found(format!("webhook {id} does not exist")))
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the webhook id")),
    responses((status = 200, description = "the subscription (never its secret)", body = Object, content_type = "application/json"))
)]
async fn get(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    Ok(HttpResponse::Ok().json(load(&state, &path).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the webhook id")),
    responses((status = 204, description = "deleted with its deliveries; queued deliveries are cancelled"))
)]
async fn delete(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let id = parse_id(&path, "webhook")?;
    if !state.store.delete_webhook(id).await? {
        return Err(ApiError::not_found(format!("webhook {id} does not exist")));
    }
    tracing::info!(webhook = id, "webhook deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the webhook id"), ("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "a page of deliveries, newest first: status, attempts, the receiver's last answer", body = Object, content_type = "application/json"))
)]
async fn deliveries(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let w = load(&state, &path).await?;
    let (before, limit) = Cursor { cursor: q.cursor.clone(), limit: q.limit.clone() }.parse()?;
    let items = state.store.list_deliveries(w.id, before, limit + 1).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |d| d.id)))
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/deliveries/{delivery}/replay",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the webhook id"), ("delivery" = i64, Path, description = "the delivery to send again")),
    responses((status = 202, description = "a new delivery of the same event and data, queued", body = Object, content_type = "application/json"))
)]
async fn replay(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let w = load(&state, &path.0).await?;
    let id = parse_id(&path.1, "delivery")?;
    let old = state
        .store
        .get_delivery(w.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {} has no delivery {id}", w.id)))?;
    let new = state
        .store
        .queue_delivery(w.id, &old.event, &old.payload.0)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {} does not exist", w.id)))?;
    tracing::info!(webhook = w.id, delivery = id, replay = new.id, "webhook delivery replayed");
    Ok(HttpResponse::Accepted().json(new))
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/ping",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the webhook id")),
    responses((status = 202, description = "a `ping` delivery, queued (to test a receiver)", body = Object, content_type = "application/json"))
)]
async fn ping(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let w = load(&state, &path).await?;
    let data = json!({ "webhook_id": w.id, "message": "a test delivery from genfab" });
    let d = state
        .store
        .queue_delivery(w.id, PING, &data)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {} does not exist", w.id)))?;
    Ok(HttpResponse::Accepted().json(d))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, get, delete, deliveries, replay, ping), components(schemas(CreateWebhook)))]
pub struct Doc;

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> Option<String> {
        match check_new_webhook(body.as_bytes(), 1) {
            Err(ApiError::Client { field, .. }) => field,
            Ok(_) => Some("accepted".into()),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn bad_members_are_named() {
        let ok = r#"{"name": "mes", "url": "http://127.0.0.1:9/h", "events": ["job.failed", "job.failed"]}"#;
        let w = check_new_webhook(ok.as_bytes(), 1).expect("valid");
        assert_eq!(w.events, vec!["job.failed"]);
        assert_eq!(w.secret.len(), 64);
        assert_eq!(field_of(r#"{"name": "", "url": "http://a/", "events": ["job.failed"]}"#).as_deref(), Some("name"));
        assert_eq!(field_of(r#"{"name": "a", "url": "ftp://a/", "events": ["job.failed"]}"#).as_deref(), Some("url"));
        assert_eq!(field_of(r#"{"name": "a", "url": "not a url", "events": ["job.failed"]}"#).as_deref(), Some("url"));
        assert_eq!(field_of(r#"{"name": "a", "url": "http://a/", "events": []}"#).as_deref(), Some("events"));
        assert_eq!(field_of(r#"{"name": "a", "url": "http://a/", "events": ["x"]}"#).as_deref(), Some("events[0]"));
        let short = r#"{"name": "a", "url": "http://a/", "events": ["job.failed"], "secret": "short"}"#;
        assert_eq!(field_of(short).as_deref(), Some("secret"));
        let extra = r#"{"name": "a", "url": "http://a/", "events": ["job.failed"], "colour": 1}"#;
        assert_eq!(field_of(extra).as_deref(), Some("colour"));
    }
}
