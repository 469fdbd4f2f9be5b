//! `/api/v1/tokens` (admin): create (the secret is shown once), list, revoke.

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;
use crate::domain::{Permission, Role};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tokens").route(web::get().to(list)).route(web::post().to(create)))
        .service(web::resource("/tokens/{id}").route(web::delete().to(revoke)));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: String,
}

async fn create(caller: Caller, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTokens)?;
    let t: NewToken = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("expected {{\"name\": \"...\", \"role\": \"admin|engineer|viewer|mes\"}}: {e}"))
    })?;
    let role = Role::parse(&t.role).ok_or_else(|| {
        ApiError::bad_field("role", format!("role '{}' is not one of admin, engineer, viewer, mes", t.role))
    })?;
    let name = t.name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::bad_field("name", "the token name must be 1 to 128 characters"));
    }
    let (info, secret) = crate::auth::create_token(&state.store, name, role).await?;
    tracing::info!(token = info.id, role = role.as_str(), "token created");
    Ok(HttpResponse::Created().json(json!({ "token": secret.expose(), "info": info })))
}

async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTokens)?;
    Ok(HttpResponse::Ok().json(json!({ "items": state.store.list_tokens().await? })))
}

async fn revoke(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTokens)?;
    let id: i64 = path.parse().map_err(|_| ApiError::not_found(format!("'{path}' is not a token id")))?;
    match state.store.revoke_token(id).await? {
        Some(info) => Ok(HttpResponse::Ok().json(info)),
        None => Err(ApiError::not_found(format!("token {id} does not exist"))),
    }
}
