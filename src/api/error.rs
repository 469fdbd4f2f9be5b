//! Errors as `application/problem+json` (RFC 9457), each saying what is wrong and where.

use crate::catalog::CatalogError;
use crate::ingest::{IngestError, IngestErrorKind};
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
    /// Anything else: logged with its cause, answered as a bare 500.
    Unexpected(anyhow::Error),
}

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
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Client { detail, .. } => f.write_str(detail),
            ApiError::Unexpected(e) => write!(f, "{e:#}"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (status, title, detail, row, column, field) = match self {
            ApiError::Client { status, title, detail, row, column, field } => {
                (*status, *title, detail.as_str(), *row, column.as_deref(), field.as_deref())
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
        HttpResponse::build(status).content_type("application/problem+json").json(body)
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
            CatalogError::Unexpected(e) => ApiError::Unexpected(e),
        }
    }
}
