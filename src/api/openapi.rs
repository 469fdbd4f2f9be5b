//! `/api/v1/openapi.json`: the OpenAPI 3.1 document of the API, generated from the `#[utoipa::path]`
//! annotations on the handlers (each module's `Doc`). What every operation shares (bearer
//! authentication, the problem+json errors) is added here once, so it cannot be forgotten on one.

use super::AppState;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use std::sync::OnceLock;
use utoipa::OpenApi;

/// An error answer (RFC 9457): what is wrong, and where when it is in the request.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents `error::Problem`, which borrows its strings
struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    /// What is wrong, in words an operator can act on.
    detail: String,
    /// The 1-based data row at fault, for table bodies.
    row: Option<u64>,
    /// The column at fault.
    column: Option<String>,
    /// The request field at fault (query parameter or JSON member, e.g. `objectives[0].expr`).
    field: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "genfab",
        description = "Generative models for the factory floor: datasets, VAEs, synthetic data, design studies, anomaly detectors, jobs and schedules. Every error is application/problem+json naming the row, column or field at fault.",
        license(name = "MIT")
    ),
    paths(super::health::healthz, super::health::readyz, super::metrics::metrics, document),
    components(schemas(Problem))
)]
struct Root;

/// Operations anyone may call without a token.
const PUBLIC: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"];

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
    })
}

/// Builds the document (once per process).
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut doc = Root::openapi();
        for part in [
            super::datasets::Doc::openapi(),
            super::tokens::Doc::openapi(),
            super::jobs::Doc::openapi(),
            super::models::Doc::openapi(),
            super::schedules::Doc::openapi(),
            super::synthetic::Doc::openapi(),
            super::studies::Doc::openapi(),
            super::detectors::Doc::openapi(),
            super::webhooks::Doc::openapi(),
            super::audit::Doc::openapi(),
            super::shapes::Doc::openapi(),
        ] {
            doc.merge(part);
        }
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        let mut v = serde_json::to_value(&doc).expect("the OpenAPI document serialises");
        v["components"]["securitySchemes"] = json!({
            "bearer": { "type": "http", "scheme": "bearer", "description": "an access token (POST /api/v1/tokens)" }
        });
        if let Some(paths) = v["paths"].as_object_mut() {
            for (path, item) in paths.iter_mut() {
                let public = PUBLIC.contains(&path.as_str());
                let Some(item) = item.as_object_mut() else { continue };
                for (method, op) in item.iter_mut() {
                    if method == "post" && !public && super::idempotency::holds_a_secret(path).is_none() {
                        let params = op["parameters"].as_array().cloned().unwrap_or_default();
                        if !params.iter().any(|p| p["name"] == "Idempotency-Key") {
                            let mut params = params;
                            params.push(json!({
                                "name": "Idempotency-Key", "in": "header", "required": false,
                                "description": "a retry with the same key within 24 h answers the first response (header Idempotent-Replayed: true) and changes nothing; the same key with another request answers 422",
                                "schema": { "type": "string", "minLength": 1, "maxLength": 255 }
                            }));
                            op["parameters"] = Value::Array(params);
                        }
                        let r = &mut op["responses"];
                        if r.get("409").is_none() {
                            r["409"] = problem("a request with this Idempotency-Key is still being answered, or a conflict with what is stored");
                        }
                        if r.get("422").is_none() {
                            r["422"] = problem("the Idempotency-Key was used with another request, or the request cannot be carried out");
                        }
                    }
                    let has_body = op.get("requestBody").is_some();
                    let has_params = op.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
                    let r = &mut op["responses"];
                    let mut add = |code: &str, what: &str| {
                        if r.get(code).is_none() {
                            r[code] = problem(what);
                        }
                    };
                    if has_body || has_params {
                        add("400", "the request is not valid: the problem names the field, row or column");
                    }
                    if !public {
                        add("401", "no token, or an unknown or revoked one");
                        add("403", "the token's role may not do this");
                    }
                    if path.contains('{') {
                        add("404", "no such resource");
                        // e.g. deleting a dataset a running job uses, the file of a model still training
                        add("409", "the resource's current state does not allow this (the problem says why)");
                    }
                    if has_body {
                        add("409", "the request conflicts with what is stored (a duplicate name, a stale state)");
                        add("413", "the body is larger than the server accepts");
                        add("415", "the body's media type is not one this operation reads");
                        add("422", "the request is well formed but cannot be carried out");
                    }
                    if !public {
                        let many = if method == "post" && super::limits::queues_job(&actix_web::http::Method::POST, path) {
                            "this token sent more requests per second than it may (GENFAB_RATE_PER_SECOND), or has as many jobs queued or running as it may (GENFAB_MAX_JOBS_PER_TOKEN); the Retry-After header says when to retry"
                        } else {
                            "this token sent more requests per second than it may (GENFAB_RATE_PER_SECOND); the Retry-After header says when to retry"
                        };
                        add("429", many);
                    }
                    add("500", "an unexpected failure; the server log has its cause");
                    add("503", "the database is unreachable; retry after a moment");
                    if !public {
                        op["responses"]["429"]["headers"] = json!({
                            "Retry-After": { "description": "whole seconds to wait", "schema": { "type": "integer", "minimum": 1 } }
                        });
                        op["security"] = json!([{ "bearer": [] }]);
                    }
                }
            }
        }
        // server-sent events: each event's fields (a client reads `data` as a job, as GET /jobs/{id})
        v["paths"]["/api/v1/jobs/{id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"] = json!({
            "type": "object",
            "properties": {
                "event": { "type": "string", "enum": ["state", "progress"] },
                "id": { "type": "string" },
                "data": { "type": "string", "description": "the job, as JSON" }
            }
        });
        v
    })
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object, content_type = "application/json"))
)]
pub async fn document(_state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(spec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every route the router registers is in the document, and every operation in the document
    /// is a route: both lists come from the code (`api::route_table`, the handlers' annotations).
    #[test]
    fn the_document_and_the_router_hold_the_same_operations() {
        let routes: BTreeSet<(String, String)> =
            crate::api::route_table().into_iter().map(|(m, p)| (m.to_lowercase(), p)).collect();
        let mut documented = BTreeSet::new();
        for (path, item) in spec()["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let missing: Vec<_> = routes.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routes).collect();
        assert!(missing.is_empty(), "routes without a documented operation: {missing:?}");
        assert!(extra.is_empty(), "documented operations the router does not have: {extra:?}");
        assert!(routes.len() >= 50, "only {} routes", routes.len());
    }

    #[test]
    fn every_operation_documents_its_errors_and_security() {
        let doc = spec();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert!(doc["components"]["schemas"]["Problem"]["properties"]["detail"].is_object());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let r = &op["responses"];
                let ok = r.as_object().unwrap().keys().any(|k| k.starts_with('2'));
                assert!(ok, "{method} {path} has no success answer");
                assert!(r["500"]["content"]["application/problem+json"].is_object(), "{method} {path}");
                if PUBLIC.contains(&path.as_str()) {
                    assert!(op.get("security").is_none(), "{method} {path}");
                } else {
                    assert_eq!(op["security"][0]["bearer"], json!([]), "{method} {path}");
                    assert!(r["401"].is_object() && r["403"].is_object(), "{method} {path}");
                }
                if path.contains('{') {
                    assert!(r["404"].is_object(), "{method} {path}");
                    let names: Vec<&str> =
                        op["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
                    for seg in path.split('/').filter(|s| s.starts_with('{')) {
                        let name = seg.trim_matches(|c| c == '{' || c == '}');
                        assert!(names.contains(&name), "{method} {path} does not declare its path parameter {name}");
                    }
                }
                if op.get("requestBody").is_some() {
                    assert!(r["400"].is_object() && r["415"].is_object(), "{method} {path}");
                }
                if !PUBLIC.contains(&path.as_str()) {
                    assert!(r["429"]["headers"]["Retry-After"].is_object(), "{method} {path}");
                }
            }
        }
    }

    #[test]
    fn request_bodies_name_their_fields() {
        let doc = spec();
        let schema = |name: &str| doc["components"]["schemas"][name].clone();
        assert_eq!(schema("CreateModel")["required"], json!(["dataset_id"]));
        assert!(schema("CreateStudy")["properties"]["spec"].is_object());
        let op = &doc["paths"]["/api/v1/models"]["post"];
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CreateModel"
        );
    }
}
