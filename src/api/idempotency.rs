//! `Idempotency-Key` on every POST under `/api/v1`: a retry with the same key within 24 hours
//! gets the first answer (marked `Idempotent-Replayed: true`) and changes nothing; the same key
//! with a different request answers 422; a retry while the first is still running answers 409
//! with `Retry-After`. Keys are per token. Appends to a dataset keep their record in the new
//! version's own transaction (`catalog::append`), so this middleware leaves them alone.
//!
//! The record is reserved before the handler runs and filled in after it answers, so a crash
//! between the two leaves a reservation that answers 409 until it is purged (24 h): the client
//! learns that the outcome is unknown rather than risking a duplicate.

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;
use crate::catalog::sha256_hex;
use crate::store::Reservation;
use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use futures_util::StreamExt;
use serde_json::{json, Value};

/// The longest key accepted.
const MAX_KEY: usize = 255;

fn handled_elsewhere(path: &str) -> bool {
    // POST /api/v1/datasets/{id}/rows
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(parts.as_slice(), ["", "api", "v1", "datasets", _, "rows"])
}

/// The creations whose answer holds a secret shown once: token and webhook subscriptions (the
/// OpenAPI document offers them no key either).
pub(super) fn holds_a_secret(path: &str) -> Option<&'static str> {
    match path.trim_end_matches('/') {
        "/api/v1/tokens" => Some("token creation"),
        "/api/v1/webhooks" => Some("a webhook subscription"),
        _ => None,
    }
}

/// The middleware (wrapped around the `/api/v1` scope).
pub async fn idempotent(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(raw_key) = req.headers().get("idempotency-key").cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.method() != Method::POST || handled_elsewhere(req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    if let Some(what) = holds_a_secret(req.path()) {
        let e = ApiError::bad_field(
            "Idempotency-Key",
            format!("{what} is not replayable (its answer holds a secret, which is shown once and not kept for replays); send it without an Idempotency-Key"),
        );
        return Ok(e.answer(req));
    }
    let key = match raw_key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY && k.bytes().all(|b| b.is_ascii_graphic()) => k.to_string(),
        _ => {
            let e = ApiError::bad_field("Idempotency-Key", "the Idempotency-Key must be 1 to 255 visible characters");
            return Ok(e.answer(req));
        }
    };
    // who asks: an unauthenticated request goes on to be refused by its handler
    let caller = match req.extract::<Caller>().await {
        Ok(c) => c,
        Err(_) => return Ok(next.call(req).await?.map_into_boxed_body()),
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // the whole body, to fingerprint it and hand it on
    let mut body = web::BytesMut::new();
    let mut payload = req.take_payload();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > state.limits.max_body_bytes {
            let e = ApiError::too_large(format!("the body is larger than {} bytes", state.limits.max_body_bytes));
            return Ok(e.answer(req));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut material = format!("POST {}\n{content_type}\n", req.uri()).into_bytes();
    material.extend_from_slice(&body);
    let sha = sha256_hex(&material);
    let scope = format!("token {} POST {}", caller.token_id, req.path());
    req.set_payload(actix_web::dev::Payload::from(body));

    match state.store.reserve_idempotency(&scope, &key, &sha).await {
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "idempotency reservation failed");
            let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "the database is unreachable; retry");
            return Ok(e.answer(req));
        }
        Ok(Reservation::Taken(rec)) if rec.request_sha256 != sha => {
            let e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency key reused",
                "the Idempotency-Key was used before with a different request; use a new key for a new request",
            );
            return Ok(e.answer(req));
        }
        Ok(Reservation::Taken(rec)) if rec.status == 0 => {
            let e = ApiError::conflict("a request with this Idempotency-Key is still being answered; retry shortly");
            let mut res = e.answer(req);
            res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return Ok(res);
        }
        Ok(Reservation::Taken(rec)) => {
            let (r, _) = req.into_parts();
            return Ok(ServiceResponse::new(r, replay(&rec.response.0, rec.status)));
        }
        Ok(Reservation::Fresh) => {}
    }

    let res = next.call(req).await;
    let res = match res {
        Ok(r) => r,
        Err(e) => {
            let _ = state.store.release_idempotency(&scope, &key).await;
            return Err(e);
        }
    };
    let status = res.status();
    if status.is_server_error() {
        if let Err(e) = state.store.release_idempotency(&scope, &key).await {
            tracing::error!(error = %format!("{e:#}"), "could not release an idempotency key");
        }
        return Ok(res.map_into_boxed_body());
    }
    let (r, response) = res.into_parts();
    let (head, body) = response.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(b) => b,
        Err(_) => {
            let _ = state.store.release_idempotency(&scope, &key).await;
            let e = ApiError::Unexpected(anyhow::anyhow!("the answer could not be read for idempotency"));
            return Ok(ServiceResponse::new(r, actix_web::ResponseError::error_response(&e)));
        }
    };
    let header_of =
        |name: header::HeaderName| head.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let kept = json!({
        "content_type": header_of(header::CONTENT_TYPE),
        "location": header_of(header::LOCATION),
        "body": match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => json!({ "json": v }),
            Err(_) => json!({ "text": String::from_utf8_lossy(&bytes) }),
        },
    });
    if let Err(e) = state.store.answer_idempotency(&scope, &key, status.as_u16(), &kept).await {
        tracing::error!(error = %format!("{e:#}"), "could not keep an idempotent answer");
    }
    Ok(ServiceResponse::new(r, head.set_body(bytes).map_into_boxed_body()))
}

/// The first answer again.
fn replay(kept: &Value, status: i32) -> HttpResponse {
    let mut b = HttpResponse::build(StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK));
    b.insert_header(("Idempotent-Replayed", "true"));
    if let Some(ct) = kept["content_type"].as_str() {
        b.insert_header((header::CONTENT_TYPE, ct));
    }
    if let Some(l) = kept["location"].as_str() {
        b.insert_header((header::LOCATION, l));
    }
    match (&kept["body"]["json"], kept["body"]["text"].as_str()) {
        (Value::Null, Some(t)) => b.body(t.to_string()),
        (Value::Null, None) => b.finish(),
        (v, _) => b.body(serde_json::to_vec(v).unwrap_or_default()),
    }
}
