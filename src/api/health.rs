//! `/healthz` (the process answers), `/readyz` (the database answers, migrations applied).

use super::error::ApiError;
use super::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// Whether the process answers.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "the process answers", body = Object, content_type = "application/json")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Whether the database answers and its migrations are applied.
#[utoipa::path(get, path = "/readyz", tag = "meta", responses((status = 200, description = "ready", body = Object, content_type = "application/json")))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.store.ready().await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({ "status": "ready", "store": state.store.backend() }))),
        Err(e) => Err(ApiError::Retry {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Not ready",
            detail: format!("{e:#}"),
            retry_after_secs: super::error::DATABASE_RETRY_SECS,
        }),
    }
}
