//! Writing typed tables: compact Parquet (zstd) for the store, CSV and JSON for export.

use super::error::IngestError;
use polars::prelude::*;
use std::io::Cursor;

fn fail(what: &str, e: PolarsError) -> anyhow::Error {
    anyhow::anyhow!("could not write {what}: {e}")
}

/// Parquet with zstd, the form every dataset chunk is stored in.
pub fn to_parquet(df: &mut DataFrame) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .map_err(|e| fail("Parquet", e))?;
    Ok(buf)
}

/// Reads a stored chunk back.
pub fn from_parquet(bytes: &[u8]) -> Result<DataFrame, IngestError> {
    ParquetReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|e| IngestError::invalid(format!("stored chunk is not readable Parquet: {e}")))
}

/// Stacks chunks of one schema into one table.
pub fn concat(mut frames: Vec<DataFrame>) -> anyhow::Result<DataFrame> {
    let mut first = frames.drain(..1).next().ok_or_else(|| anyhow::anyhow!("no chunks to concatenate"))?;
    for f in frames {
        first.vstack_mut(&f).map_err(|e| anyhow::anyhow!("chunks do not stack: {e}"))?;
    }
    first.rechunk_mut();
    Ok(first)
}

pub fn to_csv(df: &mut DataFrame) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    CsvWriter::new(&mut buf).include_header(true).finish(df).map_err(|e| fail("CSV", e))?;
    Ok(buf)
}

/// A JSON array of row objects.
pub fn to_json(df: &mut DataFrame) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    JsonWriter::new(&mut buf).with_json_format(JsonFormat::Json).finish(df).map_err(|e| fail("JSON", e))?;
    Ok(buf)
}
