//! The HTTP API under `/api/v1`, plus health, readiness and metrics endpoints.
//! Routes are thin: parse into domain types, call the catalog or store, answer.

pub mod audit;
mod body;
pub mod caller;
mod datasets;
mod detectors;
pub mod error;
mod health;
mod idempotency;
pub(crate) mod jobs;
pub mod limits;
pub mod metrics;
mod models;
pub mod openapi;
pub mod outage;
mod pagination;
pub(crate) mod schedules;
mod shapes;
pub(crate) mod studies;
mod synthetic;
pub(crate) mod tokens;
mod webhooks;

use crate::config::Limits;
use crate::store::Store;
use actix_web::web;
use error::ApiError;

pub use detectors::{current_drift, DetectorCache};
pub(crate) use models::{check_sample, queue_sample};
pub(crate) use models::{parse_spec, queue_training, CreateModel};
pub(crate) use synthetic::{queue_synthetic, CreateSynthetic};

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    pub limits: Limits,
    pub metrics: metrics::Metrics,
    /// Default training threads for a spec that does not say (`--threads`).
    pub threads: usize,
    /// Detector versions loaded for scoring.
    pub detectors: detectors::DetectorCache,
    /// Keeps scored rows by group commit.
    pub score_writer: crate::store::ScoreWriter,
    /// Answers at once with 503 while the database is unreachable.
    pub outage: outage::Breaker,
    /// Writes the audit log (`audit::record`).
    pub audit: crate::store::AuditWriter,
    /// Requests per token (`limits`), in this process's memory.
    pub rate: limits::RateLimiter,
    /// Serializes each token's requests that may queue a job (`limits`).
    pub job_gate: limits::JobGate,
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("no such endpoint; the API lives under /api/v1"))
}

/// The API's routes, recorded as they are registered: the same list builds the router and is
/// what the OpenAPI test compares with the document (`route_table`).
#[derive(Default)]
pub struct Routes {
    entries: Vec<(actix_web::http::Method, &'static str, actix_web::Route)>,
}

macro_rules! route_methods {
    ($($name:ident => $method:ident),*) => {$(
        pub fn $name<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
        where
            F: actix_web::Handler<Args>,
            Args: actix_web::FromRequest + 'static,
            F::Output: actix_web::Responder + 'static,
        {
            self.entries.push((actix_web::http::Method::$method, path, web::$name().to(handler)));
            self
        }
    )*};
}

impl Routes {
    route_methods!(get => GET, post => POST, delete => DELETE, patch => PATCH);

    /// (method, path) of every route, in registration order.
    pub fn table(&self) -> Vec<(String, String)> {
        self.entries.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect()
    }

    /// One resource per path, holding that path's methods (so another method answers 405).
    fn register(self, mut scope: actix_web::Scope) -> actix_web::Scope {
        let mut paths: Vec<&'static str> = vec![];
        for (_, p, _) in &self.entries {
            if !paths.contains(p) {
                paths.push(p);
            }
        }
        let mut resources: Vec<actix_web::Resource> = paths.iter().map(|p| web::resource(*p)).collect();
        for (_, p, route) in self.entries {
            let i = paths.iter().position(|q| *q == p).expect("the path was collected above");
            let r = std::mem::replace(&mut resources[i], web::resource(""));
            resources[i] = r.route(route);
        }
        for r in resources {
            scope = scope.service(r);
        }
        scope
    }
}

/// Every route under `/api/v1`, by module.
fn api_routes() -> Routes {
    let mut r = Routes::default();
    datasets::routes(&mut r);
    tokens::routes(&mut r);
    jobs::routes(&mut r);
    models::routes(&mut r);
    schedules::routes(&mut r);
    synthetic::routes(&mut r);
    studies::routes(&mut r);
    detectors::routes(&mut r);
    webhooks::routes(&mut r);
    audit::routes(&mut r);
    shapes::routes(&mut r);
    r.get("/openapi.json", openapi::document);
    r
}

/// The probes outside `/api/v1`.
fn root_routes() -> Routes {
    let mut r = Routes::default();
    r.get("/healthz", health::healthz).get("/readyz", health::readyz).get("/metrics", metrics::metrics);
    r
}

/// (method, full path) of every API route the server answers; the dashboard's HTML pages are not
/// part of the API.
pub fn route_table() -> Vec<(String, String)> {
    let mut t = root_routes().table();
    t.extend(api_routes().table().into_iter().map(|(m, p)| (m, format!("/api/v1{p}"))));
    t
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (method, path, route) in root_routes().entries {
        let _ = method;
        cfg.route(path, route);
    }
    cfg.service(
        api_routes()
            .register(web::scope("/api/v1"))
            .wrap(actix_web::middleware::from_fn(idempotency::idempotent))
            // outside idempotency: a refused request reserves no key, and a JSON body is
            // scanned before idempotency reads it
            .wrap(actix_web::middleware::from_fn(limits::enforce))
            .wrap(actix_web::middleware::from_fn(outage::guard))
            .default_service(web::to(not_found)),
    );
}

/// Answers malformed query strings and JSON bodies with problem+json naming the problem.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::bad_request(format!("the query string is not valid: {e}")).into())
}
