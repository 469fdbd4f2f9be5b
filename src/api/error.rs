//! Errors as `application/problem+json` (RFC 9457), each saying what is wrong and where.

use crate::catalog::CatalogError;
use crate::ingest::{IngestError, IngestErrorKind};
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// A refused or failed request.
#[derive(Debug)]
pub enum ApiError {
    /// A 4xx with an actionable message and optionally the place (row, column, field).
    Client {
        status: StatusCode,
        title: &'static str,
        detail: String,
        row: Option<u64>,
        column: Option<String>,
        field: Option<String>,
    },
    /// Not now, but later: a 429 or 503 whose `Retry-After` says when (whole seconds, at least 1).
    Retry { status: StatusCode, title: &'static str, detail: String, retry_after_secs: u64 },
    /// Anything else: logged with its cause, answered as a bare 500 — or, when the cause is the
    /// database being unreachable, as a 503 with `Retry-After` (see [`database_unreachable`]).
    Unexpected(anyhow::Error),
}

/// Seconds a client is told to wait while the database is unreachable.
pub const DATABASE_RETRY_SECS: u64 = 2;

/// Whether an error's cause is the database being out of reach (down, restarting, the pool
/// unable to connect in time) rather than something wrong with the request or the data: such an
/// error is answered 503 with `Retry-After`, which a client may simply retry.
pub fn database_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<sqlx::Error>().is_some_and(|e| {
            matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_))
                || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| {
                    // Postgres: admin shutdown, crash shutdown, cannot connect now, connection failures
                    matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006" | "08001" | "08004")
                }))
        })
    })
}

/// Marks an answer given because the database was unreachable (read by the outage breaker).
#[derive(Clone, Copy, Debug)]
pub struct DatabaseUnreachable;

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Client { status, title, detail: detail.into(), row: None, column: None, field: None }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", detail)
    }
    /// A bad value in a named request field (query parameter or JSON member).
    pub fn bad_field(field: &str, detail: impl Into<String>) -> Self {
        match Self::bad_request(detail) {
            ApiError::Client { status, title, detail, row, column, .. } => {
                ApiError::Client { status, title, detail, row, column, field: Some(field.to_string()) }
            }
            other => other,
        }
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", detail)
    }
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large", detail)
    }
    pub fn unsupported(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", detail)
    }
    /// A 503 that may be retried after `retry_after_secs`.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        ApiError::Retry {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Service unavailable",
            detail: detail.into(),
            retry_after_secs,
        }
    }

    /// This error as a middleware's answer to `req`, without calling the handler.
    pub fn answer(self, req: ServiceRequest) -> ServiceResponse<BoxBody> {
        let (r, _) = req.into_parts();
        ServiceResponse::new(r, self.error_response())
    }
}

/// What a call is told while the database is unreachable.
pub const DATABASE_UNREACHABLE: &str =
    "the database is unreachable; nothing was changed, retry after the Retry-After seconds";

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Client { detail, .. } | ApiError::Retry { detail, .. } => f.write_str(detail),
            ApiError::Unexpected(e) => write!(f, "{e:#}"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            ApiError::Retry { status, .. } => *status,
            ApiError::Unexpected(e) if database_unreachable(e) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut retry_after = None;
        let mut unreachable = false;
        let (status, title, detail, row, column, field) = match self {
            ApiError::Client { status, title, detail, row, column, field } => {
                (*status, *title, detail.as_str(), *row, column.as_deref(), field.as_deref())
            }
            ApiError::Retry { status, title, detail, retry_after_secs } => {
                retry_after = Some((*retry_after_secs).max(1));
                (*status, *title, detail.as_str(), None, None, None)
            }
            ApiError::Unexpected(e) if database_unreachable(e) => {
                tracing::warn!(error = %format!("{e:#}"), "the database is unreachable");
                retry_after = Some(DATABASE_RETRY_SECS);
                unreachable = true;
                (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable", DATABASE_UNREACHABLE, None, None, None)
            }
            ApiError::Unexpected(e) => {
                tracing::error!(error = %format!("{e:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error",
                    "the server failed to answer; the error is in its log",
                    None,
                    None,
                    None,
                )
            }
        };
        let slug = title.to_ascii_lowercase().replace(' ', "-");
        let body = Problem {
            kind: format!("urn:genfab:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail,
            row,
            column,
            field,
        };
        let mut r = HttpResponse::build(status);
        r.content_type("application/problem+json");
        if let Some(secs) = retry_after {
            r.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        let mut r = r.json(body);
        if unreachable {
            r.extensions_mut().insert(DatabaseUnreachable);
        }
        r
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Unexpected(e)
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let (status, title) = match e.kind {
            IngestErrorKind::Invalid => (StatusCode::BAD_REQUEST, "Invalid table"),
            IngestErrorKind::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Table too large"),
        };
        ApiError::Client { status, title, detail: e.message, row: e.row, column: e.column, field: None }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid(i) => i.into(),
            CatalogError::NameTaken(_) => ApiError::conflict(e.to_string()),
            CatalogError::NotFound(_) | CatalogError::VersionNotFound(..) => ApiError::not_found(e.to_string()),
            CatalogError::IdempotencyMismatch => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Idempotency key reused", e.to_string())
            }
            CatalogError::Busy(..) => ApiError::unavailable(e.to_string(), 1),
            CatalogError::Unexpected(e) => ApiError::Unexpected(e),
        }
    }
}
