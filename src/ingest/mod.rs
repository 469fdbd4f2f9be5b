//! Reading uploaded tables (CSV, Parquet, JSON) with polars, inferring and applying schemas,
//! validating with row and column positions, and writing tables back out.

mod convert;
mod csv;
mod error;
mod read;
mod stats;
mod write;

pub use convert::{check_override_names, conform, infer_and_type, storage_dtype};
pub use error::{IngestError, IngestErrorKind};
pub use read::{read_table, CsvOptions, Format};
pub use stats::{column_stats, schema_with_stats};
pub use write::{concat, from_parquet, to_csv, to_json, to_parquet};
