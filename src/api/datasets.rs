//! `/api/v1/datasets`: upload, list, read, append, change schema, export, delete.

use super::body::{parse_schema, read_table_body, CsvQuery};
use super::caller::Caller;
use super::error::ApiError;
use super::pagination::{Cursor, Page};
use super::AppState;
use crate::catalog::{self, sha256_hex, Answer, Idempotency};
use crate::domain::{DatasetName, Permission};
use crate::ingest::{CsvOptions, Format};
use crate::store::{DatasetMeta, DeleteOutcome, VersionMeta};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes(r: &mut super::Routes) {
    r.post("/datasets", create)
        .get("/datasets", list)
        .get("/datasets/{id}", get)
        .delete("/datasets/{id}", delete)
        .post("/datasets/{id}/rows", append)
        .get("/datasets/{id}/rows", export)
        .patch("/datasets/{id}/schema", patch_schema);
}

fn version_json(v: &VersionMeta) -> Value {
    json!({
        "version": v.version,
        "row_count": v.row_count,
        "sha256": v.sha256,
        "source": v.source,
        "lineage": v.lineage.as_ref().map(|l| &l.0),
        "created_at": v.created_at,
    })
}

/// Schema and per-column statistics side by side.
fn columns_json(v: &VersionMeta) -> Value {
    let cols: Vec<Value> = v
        .schema
        .0
        .columns
        .iter()
        .zip(v.stats.0.iter())
        .map(|(c, s)| {
            let mut c = serde_json::to_value(c).unwrap_or(Value::Null);
            let mut s = serde_json::to_value(s).unwrap_or(Value::Null);
            if let Some(o) = s.as_object_mut() {
                o.remove("m2");
            }
            if let Some(o) = c.as_object_mut() {
                o.insert("stats".into(), s);
            }
            c
        })
        .collect();
    Value::Array(cols)
}

pub(crate) fn dataset_json(d: &DatasetMeta, v: &VersionMeta) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "latest_version": d.latest_version,
        "row_count": d.row_count,
        "version": version_json(v),
        "schema": { "columns": columns_json(v) },
    })
}

#[derive(Deserialize)]
struct CreateQuery {
    name: Option<String>,
    header: Option<bool>,
    delimiter: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/datasets",
    tag = "datasets",
    params(("name" = String, Query, description = "dataset name: letters, digits, - _ ."), ("header" = Option<bool>, Query, description = "CSV: whether the first line is a header"), ("delimiter" = Option<String>, Query, description = "CSV: one character, or tab or space")),
    request_body(description = "the table: CSV (header row), Parquet, JSON records, or multipart/form-data with a `file` part and an optional `schema` part", content((String = "text/csv"), (Vec<u8> = "application/vnd.apache.parquet"), (Vec<Object> = "application/json"), (Object = "multipart/form-data"))),
    responses((status = 201, description = "the dataset and its first version", body = Object, content_type = "application/json"))
)]
async fn create(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<CreateQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let name = DatasetName::parse(q.name.as_deref().unwrap_or("")).map_err(|e| ApiError::bad_field("name", e))?;
    let csv = CsvQuery { header: q.header, delimiter: q.delimiter.clone() };
    let body = read_table_body(&req, payload, state.limits.max_body_bytes, &csv).await?;
    let (d, v) =
        catalog::upload(&state.store, name.as_str(), body.bytes, body.format, body.schema, state.limits.clone())
            .await?;
    tracing::info!(dataset = d.id, rows = v.row_count, "dataset created");
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/datasets/{}", d.id)))
        .json(dataset_json(&d, &v)))
}

#[utoipa::path(
    get,
    path = "/api/v1/datasets",
    tag = "datasets",
    params(("cursor" = Option<String>, Query, description = "opaque cursor from the previous page's next_cursor"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size (default 50)")),
    responses((status = 200, description = "a page of datasets", body = Object, content_type = "application/json"))
)]
async fn list(caller: Caller, state: web::Data<AppState>, q: web::Query<Cursor>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (after, limit) = q.parse()?;
    let items = state.store.list_datasets(after, limit + 1).await?;
    let page = Page::new(items, limit, |d| d.id);
    Ok(HttpResponse::Ok().json(page))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::not_found(format!("'{raw}' is not a dataset id; ids are positive integers")))
}

#[utoipa::path(
    get,
    path = "/api/v1/datasets/{id}",
    tag = "datasets",
    params(("id" = i64, Path, description = "the dataset id")),
    responses((status = 200, description = "the dataset, its schema and versions", body = Object, content_type = "application/json"))
)]
async fn get(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = parse_id(&path)?;
    let d = state
        .store
        .get_dataset(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("dataset {id} does not exist")))?;
    let versions = state.store.list_versions(id).await?;
    let latest = versions.last().ok_or_else(|| anyhow::anyhow!("dataset {id} has no versions"))?;
    let mut body = dataset_json(&d, latest);
    body["versions"] = Value::Array(versions.iter().map(version_json).collect());
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(
    delete,
    path = "/api/v1/datasets/{id}",
    tag = "datasets",
    params(("id" = i64, Path, description = "the dataset id")),
    responses((status = 204, description = "deleted"))
)]
async fn delete(caller: Caller, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let id = parse_id(&path)?;
    match state.store.delete_dataset(id).await? {
        DeleteOutcome::Deleted => Ok(HttpResponse::NoContent().finish()),
        DeleteOutcome::NotFound => Err(ApiError::not_found(format!("dataset {id} does not exist"))),
        DeleteOutcome::HasModels(models) => Err(ApiError::conflict(format!(
            "dataset {id} has models trained on it ({models:?}); their lineage points at its rows, so it is kept"
        ))),
        DeleteOutcome::InUse(jobs) => Err(ApiError::conflict(format!(
            "dataset {id} is used by queued or running jobs {jobs:?}; cancel them or wait for them to finish"
        ))),
    }
}

/// The answer to an append; also what is stored for idempotent retries.
fn append_json(id: i64, v: &VersionMeta) -> Value {
    json!({ "dataset_id": id, "version": version_json(v) })
}

fn idempotency(req: &HttpRequest, scope: String, body: &[u8]) -> Result<Option<Idempotency>, ApiError> {
    let Some(key) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = key.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 255).ok_or_else(|| {
        ApiError::bad_field("Idempotency-Key", "the Idempotency-Key must be 1 to 255 visible characters")
    })?;
    let ctype = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut material = Vec::with_capacity(body.len() + ctype.len() + 1);
    material.extend_from_slice(ctype.as_bytes());
    material.push(0);
    material.extend_from_slice(body);
    Ok(Some(Idempotency { scope, key: key.to_string(), request_sha256: sha256_hex(&material) }))
}

#[utoipa::path(
    post,
    path = "/api/v1/datasets/{id}/rows",
    tag = "datasets",
    params(("id" = i64, Path, description = "the dataset id"), ("header" = Option<bool>, Query, description = "CSV: whether the first line is a header"), ("delimiter" = Option<String>, Query, description = "CSV: one character, or tab or space"), ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key answers the first response and appends nothing")),
    request_body(description = "the table: CSV (header row), Parquet, JSON records, or multipart/form-data with a `file` part and an optional `schema` part", content((String = "text/csv"), (Vec<u8> = "application/vnd.apache.parquet"), (Vec<Object> = "application/json"), (Object = "multipart/form-data"))),
    responses((status = 201, description = "the new version", body = Object, content_type = "application/json"), (status = 200, description = "a replay of an earlier append with the same Idempotency-Key", body = Object, content_type = "application/json"))
)]
async fn append(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<CsvQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::AppendRows)?;
    let id = parse_id(&path)?;
    let body = read_table_body(&req, payload, state.limits.max_body_bytes, &q).await?;
    let idem = idempotency(&req, format!("POST /api/v1/datasets/{id}/rows"), &body.bytes)?;
    let store = state.store.clone();
    let answer =
        catalog::append(&store, id, body.bytes, body.format, state.limits.clone(), idem, |v| append_json(id, v))
            .await?;
    match answer {
        Answer::Created(v) => {
            tracing::info!(dataset = id, version = v.version, rows = v.row_count, "rows appended");
            Ok(HttpResponse::Created()
                .insert_header(("Location", format!("/api/v1/datasets/{id}/rows?version={}", v.version)))
                .json(append_json(id, &v)))
        }
        Answer::Replayed(r) => Ok(HttpResponse::build(StatusCode::from_u16(r.status as u16).unwrap_or(StatusCode::OK))
            .insert_header(("Idempotent-Replayed", "true"))
            .json(r.response.0)),
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/datasets/{id}/schema",
    tag = "datasets",
    params(("id" = i64, Path, description = "the dataset id")),
    request_body(content = Object, description = "`{\"columns\": {NAME: {kind?, role?, min?, max?, levels?}}}`", content_type = "application/json"),
    responses((status = 200, description = "the dataset with its new version", body = Object, content_type = "application/json"))
)]
async fn patch_schema(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let id = parse_id(&path)?;
    let o = parse_schema(&body)?;
    let v = catalog::patch_schema(&state.store, id, o, |_| Value::Null).await?;
    let d = state
        .store
        .get_dataset(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("dataset {id} does not exist")))?;
    Ok(HttpResponse::Ok().json(dataset_json(&d, &v)))
}

/// A synthetic version that failed its privacy check leaves only with an admin's recorded reason.
async fn privacy_gate(
    caller: &Caller,
    state: &AppState,
    id: i64,
    version: Option<i32>,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let Some(v) = state.store.get_version(id, version).await? else {
        return Ok(()); // the export answers 404 itself
    };
    let Some(r) = state.store.get_report(id, v.version).await? else {
        return Ok(());
    };
    if r.privacy_check != "failed" {
        return Ok(());
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match reason {
        Some(reason) if caller.role == crate::domain::Role::Admin => {
            let o = state.store.record_export_override(id, v.version, caller.token_id, reason).await?;
            tracing::warn!(
                dataset = id,
                version = v.version,
                token = caller.token_id,
                override_id = o,
                reason,
                "privacy check overridden for an export"
            );
            Ok(())
        }
        Some(_) => Err(ApiError::forbidden(format!(
            "dataset {id} version {} failed its privacy check; only an admin may override it",
            v.version
        ))),
        None => Err(ApiError::forbidden(format!(
            "dataset {id} version {} failed its privacy check (see /api/v1/datasets/{id}/report?version={}); \
             an admin may export it with override_privacy=REASON, which is recorded",
            v.version, v.version
        ))),
    }
}

#[derive(Deserialize)]
struct ExportQuery {
    version: Option<String>,
    format: Option<String>,
    /// Why a version whose privacy check failed is exported anyway (admins only; recorded).
    override_privacy: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/datasets/{id}/rows",
    tag = "datasets",
    params(("id" = i64, Path, description = "the dataset id"), ("version" = Option<i32>, Query, description = "version (default: latest)"), ("format" = Option<String>, Query, description = "csv (default), parquet or json"), ("override_privacy" = Option<String>, Query, description = "admin only: the reason for exporting a synthetic version whose privacy gate failed")),
    responses((status = 200, description = "the rows", body = String, content_type = "text/csv"))
)]
async fn export(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = parse_id(&path)?;
    let version = match q.version.as_deref() {
        None | Some("") | Some("latest") => None,
        Some(v) => Some(
            v.parse::<i32>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| ApiError::bad_field("version", format!("version '{v}' is not a positive integer")))?,
        ),
    };
    let (format, media, ext) = match q.format.as_deref().unwrap_or("csv") {
        "csv" => (Format::Csv(CsvOptions::default()), "text/csv; charset=utf-8", "csv"),
        "parquet" => (Format::Parquet, "application/vnd.apache.parquet", "parquet"),
        "json" => (Format::Json, "application/json", "json"),
        other => {
            return Err(ApiError::bad_field("format", format!("format '{other}' is not one of csv, parquet, json")))
        }
    };
    privacy_gate(&caller, &state, id, version, q.override_privacy.as_deref()).await?;
    let bytes = catalog::export(&state.store, id, version, format).await?;
    Ok(HttpResponse::Ok()
        .content_type(media)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"dataset-{id}.{ext}\"")))
        .body(bytes))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, delete, append, export, patch_schema))]
pub struct Doc;
