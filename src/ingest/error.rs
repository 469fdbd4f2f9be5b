//! The one error type of ingest: what is wrong, and where (row, column).

use std::fmt;

/// Why input was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestErrorKind {
    /// The content is malformed or does not fit the schema.
    Invalid,
    /// More rows or columns than the configured limits allow.
    TooLarge,
}

/// A refusal of input, naming the place that is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestError {
    pub kind: IngestErrorKind,
    pub message: String,
    /// 1-based data row (the header is not counted).
    pub row: Option<u64>,
    pub column: Option<String>,
}

impl IngestError {
    pub fn invalid(message: impl Into<String>) -> Self {
        IngestError { kind: IngestErrorKind::Invalid, message: message.into(), row: None, column: None }
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        IngestError { kind: IngestErrorKind::TooLarge, ..IngestError::invalid(message) }
    }
    /// An error at a column; the message is prefixed with its place.
    pub fn at(row: Option<u64>, column: &str, message: impl AsRef<str>) -> Self {
        let place = match row {
            Some(r) => format!("row {r}, column '{column}'"),
            None => format!("column '{column}'"),
        };
        IngestError {
            kind: IngestErrorKind::Invalid,
            message: format!("{place}: {}", message.as_ref()),
            row,
            column: Some(column.to_string()),
        }
    }
    pub fn at_row(row: u64, message: impl AsRef<str>) -> Self {
        IngestError {
            kind: IngestErrorKind::Invalid,
            message: format!("row {row}: {}", message.as_ref()),
            row: Some(row),
            column: None,
        }
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IngestError {}
