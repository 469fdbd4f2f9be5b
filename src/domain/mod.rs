//! Domain types shared by every layer: column schemas, access roles, names.
//! Values here are parsed and checked at the edge; the core only sees checked values.

pub mod role;
pub mod schema;

pub use role::{Permission, Role};
pub use schema::{ColumnKind, ColumnRole, ColumnSchema, ColumnStats, DatasetName, Schema, SchemaOverride};
