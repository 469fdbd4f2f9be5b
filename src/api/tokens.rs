//! `/api/v1/tokens` (admin): create (the secret is shown once), list, revoke.

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;
use crate::domain::{Permission, Role};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn routes(r: &mut super::Routes) {
    r.get("/tokens", list).post("/tokens", create).delete("/tokens/{id}", revoke);
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    request_body(content = NewToken, content_type = "application/json"),
    responses((status = 201, description = "the token; its secret is shown only here", body = Object, content_type = "application/json"))
)]
async fn create(caller: Caller, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTokens)?;
    let t: NewToken = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("expected {{\"name\": \"...\", \"role\": \"admin|engineer|viewer|mes\"}}: {e}"))
    })?;
    let (name, role) = check_new_token(&t.name, &t.role)?;
    let (info, secret) = crate::auth::create_token(&state.store, name, role).await?;
    tracing::info!(token = info.id, role = role.as_str(), "token created");
    let mut res = HttpResponse::Created().json(json!({ "token": secret.expose(), "info": info }));
    res.extensions_mut().insert(super::audit::Created { kind: "tokens", id: info.id.to_string() });
    Ok(res)
}

/// A new token's name (trimmed) and role, checked; the API and the dashboard's form both use it.
pub(crate) fn check_new_token<'a>(name: &'a str, role: &str) -> Result<(&'a str, Role), ApiError> {
    let role = Role::parse(role).ok_or_else(|| {
        ApiError::bad_field("role", format!("role '{role}' is not one of admin, engineer, viewer, mes"))
    })?;
    let name = name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::bad_field("name", "the token name must be 1 to 128 characters"));
    }
    Ok((name, role))
}

#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    responses((status = 200, description = "every token (never the secrets)", body = Object, content_type = "application/json"))
)]
async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTokens)?;
    Ok(HttpResponse::Ok().json(json!({ "items": state.store.list_tokens().await? })))
}

#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "tokens",
    params(("id" = i64, Path, description = "the token id")),
    responses((status = 200, description = "the revoked token", body = Object, content_type = "application/json"))
)]
async fn revoke(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageTokens)?;
    let id: i64 = path.parse().map_err(|_| ApiError::not_found(format!("'{path}' is not a token id")))?;
    match state.store.revoke_token(id).await? {
        Some(info) => Ok(HttpResponse::Ok().json(info)),
        None => Err(ApiError::not_found(format!("token {id} does not exist"))),
    }
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, revoke))]
pub struct Doc;
