//! Turning request bodies into polars data frames, one function per format.

use super::csv::{check_unique_names, scan};
use super::error::IngestError;
use crate::config::Limits;
use polars::prelude::*;
use std::io::Cursor;

/// CSV dialect hints; `None` means detect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvOptions {
    pub separator: Option<u8>,
    pub header: Option<bool>,
}

/// The formats an upload may come in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Csv(CsvOptions),
    Parquet,
    Json,
}

impl Format {
    /// The format for a media type (parameters such as `; charset=utf-8` are ignored).
    pub fn from_media_type(media: &str) -> Option<Format> {
        let essence = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" | "application/csv" | "text/plain" | "text/tab-separated-values" => {
                Some(Format::Csv(CsvOptions::default()))
            }
            "application/vnd.apache.parquet" | "application/parquet" | "application/x-parquet" => Some(Format::Parquet),
            "application/json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format for a file name's extension.
    pub fn from_file_name(name: &str) -> Option<Format> {
        let ext = name.rsplit('.').next()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" | "dat" | "tsv" => Some(Format::Csv(CsvOptions::default())),
            "parquet" | "pq" => Some(Format::Parquet),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Values that mean "missing" in text files, besides an empty field.
const NULL_TOKENS: [&str; 5] = ["NA", "N/A", "null", "NULL", "None"];

/// Parses a body into a data frame with polars' own types (strings where it could not tell).
pub fn read_table(bytes: &[u8], format: &Format, limits: &Limits) -> Result<DataFrame, IngestError> {
    let df = match format {
        Format::Csv(opts) => read_csv(bytes, opts, limits)?,
        Format::Parquet => read_parquet(bytes)?,
        Format::Json => read_json(bytes, limits)?,
    };
    if df.width() > limits.max_columns {
        return Err(IngestError::too_large(format!(
            "the table has {} columns; the limit is {} (GENFAB_MAX_COLUMNS)",
            df.width(),
            limits.max_columns
        )));
    }
    if df.height() > limits.max_rows {
        return Err(IngestError::too_large(format!(
            "the table has {} rows; the limit is {} (GENFAB_MAX_ROWS); split the upload into appends",
            df.height(),
            limits.max_rows
        )));
    }
    if df.height() == 0 {
        return Err(IngestError::invalid("the table has no data rows"));
    }
    Ok(df)
}

fn read_csv(bytes: &[u8], opts: &CsvOptions, limits: &Limits) -> Result<DataFrame, IngestError> {
    let shape = scan(bytes, opts.separator, opts.header, limits)?;
    let nulls: Vec<PlSmallStr> = NULL_TOKENS.iter().map(|s| PlSmallStr::from(*s)).collect();
    let options =
        CsvReadOptions::default().with_has_header(shape.has_header).with_infer_schema_length(None).with_parse_options(
            CsvParseOptions::default()
                .with_separator(shape.separator)
                .with_null_values(Some(NullValues::AllColumns(nulls)))
                .with_truncate_ragged_lines(false),
        );
    let mut df = options
        .into_reader_with_file_handle(Cursor::new(shape.bytes.as_ref()))
        .finish()
        .map_err(|e| IngestError::invalid(format!("could not parse the CSV: {e}")))?;
    if df.height() != shape.data_rows {
        return Err(IngestError::invalid(format!(
            "the CSV parser found {} rows where {} were counted; check quoting in the file",
            df.height(),
            shape.data_rows
        )));
    }
    df.set_column_names(&shape.names).map_err(|e| IngestError::invalid(format!("could not name the columns: {e}")))?;
    Ok(df)
}

fn read_parquet(bytes: &[u8]) -> Result<DataFrame, IngestError> {
    if bytes.is_empty() {
        return Err(IngestError::invalid("the body is empty: send a Parquet file"));
    }
    let df = ParquetReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|e| IngestError::invalid(format!("not a readable Parquet file: {e}")))?;
    let names: Vec<String> = df.columns().iter().map(|c| c.name().to_string()).collect();
    check_unique_names(&names)?;
    for c in df.columns() {
        let ok = c.dtype().is_primitive_numeric()
            || matches!(
                c.dtype(),
                DataType::Boolean | DataType::String | DataType::Datetime(_, _) | DataType::Date | DataType::Null
            );
        if !ok {
            return Err(IngestError::at(
                None,
                c.name(),
                format!("Parquet type {} is not supported; use numbers, booleans, strings or timestamps", c.dtype()),
            ));
        }
    }
    Ok(df)
}

/// One JSON column being built: numbers, booleans or strings, with nulls.
enum JsonColumn {
    Unknown(usize),
    Num(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<String>>),
}

impl JsonColumn {
    fn push_null(&mut self) {
        match self {
            JsonColumn::Unknown(n) => *n += 1,
            JsonColumn::Num(v) => v.push(None),
            JsonColumn::Bool(v) => v.push(None),
            JsonColumn::Str(v) => v.push(None),
        }
    }
    fn as_strings(&mut self) -> &mut Vec<Option<String>> {
        let converted = match std::mem::replace(self, JsonColumn::Unknown(0)) {
            JsonColumn::Unknown(n) => vec![None; n],
            JsonColumn::Num(v) => v.into_iter().map(|x| x.map(|x| x.to_string())).collect(),
            JsonColumn::Bool(v) => v.into_iter().map(|x| x.map(|x| x.to_string())).collect(),
            JsonColumn::Str(v) => v,
        };
        *self = JsonColumn::Str(converted);
        match self {
            JsonColumn::Str(v) => v,
            _ => unreachable!("just set to Str"),
        }
    }
}

fn read_json(bytes: &[u8], limits: &Limits) -> Result<DataFrame, IngestError> {
    if bytes.trim_ascii().is_empty() {
        return Err(IngestError::invalid("the body is empty: send a JSON array of row objects"));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        IngestError::invalid(format!("the body is not valid JSON (line {}, column {}): {e}", e.line(), e.column()))
    })?;
    let rows = value
        .as_array()
        .ok_or_else(|| IngestError::invalid("the JSON body must be an array of row objects, like [{\"a\": 1}]"))?;
    if rows.len() > limits.max_rows {
        return Err(IngestError::too_large(format!(
            "the table has {} rows; the limit is {} (GENFAB_MAX_ROWS)",
            rows.len(),
            limits.max_rows
        )));
    }
    let mut names: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let mut cols: Vec<JsonColumn> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let r = i as u64 + 1;
        let obj = row
            .as_object()
            .ok_or_else(|| IngestError::at_row(r, "is not a JSON object; each row must be {\"column\": value, ...}"))?;
        for (k, v) in obj {
            let j = match index.get(k) {
                Some(&j) => j,
                None => {
                    if names.len() >= limits.max_columns {
                        return Err(IngestError::too_large(format!(
                            "the rows name more than {} columns, the limit (GENFAB_MAX_COLUMNS)",
                            limits.max_columns
                        )));
                    }
                    index.insert(k.clone(), names.len());
                    names.push(k.clone());
                    cols.push(JsonColumn::Unknown(i));
                    names.len() - 1
                }
            };
            let col = &mut cols[j];
            match v {
                serde_json::Value::Null => col.push_null(),
                serde_json::Value::Number(n) => {
                    let x = n.as_f64().ok_or_else(|| IngestError::at(Some(r), k, "number out of range"))?;
                    match col {
                        JsonColumn::Unknown(n) => {
                            let mut v = vec![None; *n];
                            v.push(Some(x));
                            *col = JsonColumn::Num(v);
                        }
                        JsonColumn::Num(v) => v.push(Some(x)),
                        _ => col.as_strings().push(Some(x.to_string())),
                    }
                }
                serde_json::Value::Bool(b) => match col {
                    JsonColumn::Unknown(n) => {
                        let mut v = vec![None; *n];
                        v.push(Some(*b));
                        *col = JsonColumn::Bool(v);
                    }
                    JsonColumn::Bool(v) => v.push(Some(*b)),
                    _ => col.as_strings().push(Some(b.to_string())),
                },
                serde_json::Value::String(s) => col.as_strings().push(Some(s.clone())),
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    return Err(IngestError::at(
                        Some(r),
                        k,
                        "nested arrays and objects are not table values; send a number, string, boolean or null",
                    ))
                }
            }
        }
        // Columns this row did not mention are missing in it.
        for col in cols.iter_mut() {
            let len = match col {
                JsonColumn::Unknown(n) => *n,
                JsonColumn::Num(v) => v.len(),
                JsonColumn::Bool(v) => v.len(),
                JsonColumn::Str(v) => v.len(),
            };
            if len == i {
                col.push_null();
            }
        }
    }
    if rows.is_empty() || names.is_empty() {
        return Err(IngestError::invalid("the JSON array holds no rows with columns"));
    }
    let columns: Vec<Column> = names
        .iter()
        .zip(cols)
        .map(|(name, col)| {
            let name = PlSmallStr::from(name.as_str());
            match col {
                JsonColumn::Unknown(n) => Column::full_null(name, n, &DataType::String),
                JsonColumn::Num(v) => Column::new(name, v),
                JsonColumn::Bool(v) => Column::new(name, v),
                JsonColumn::Str(v) => Column::new(name, v),
            }
        })
        .collect();
    DataFrame::new(rows.len(), columns).map_err(|e| IngestError::invalid(format!("could not build the table: {e}")))
}
