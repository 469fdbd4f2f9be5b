//! The HTTP API under `/api/v1`, plus health, readiness and metrics endpoints.
//! Routes are thin: parse into domain types, call the catalog or store, answer.

mod body;
pub mod caller;
mod datasets;
mod detectors;
pub mod error;
mod health;
mod jobs;
pub mod metrics;
mod models;
mod pagination;
mod schedules;
mod studies;
mod synthetic;
mod tokens;

use crate::config::Limits;
use crate::store::Store;
use actix_web::web;
use error::ApiError;

pub use detectors::{current_drift, DetectorCache};

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
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("no such endpoint; the API lives under /api/v1"))
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .service(
            web::scope("/api/v1")
                .configure(datasets::routes)
                .configure(tokens::routes)
                .configure(jobs::routes)
                .configure(models::routes)
                .configure(schedules::routes)
                .configure(synthetic::routes)
                .configure(studies::routes)
                .configure(detectors::routes)
                .default_service(web::to(not_found)),
        );
}

/// Answers malformed query strings and JSON bodies with problem+json naming the problem.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::bad_request(format!("the query string is not valid: {e}")).into())
}
