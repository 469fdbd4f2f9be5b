//! Column kinds: inferring them from data, converting columns to their kind's storage type,
//! and conforming appended rows to an existing schema. Every refusal names row and column.

use super::error::IngestError;
use super::stats::{column_stats, schema_with_stats};
use crate::domain::{ColumnKind, ColumnRole, ColumnSchema, Schema, SchemaOverride};
use polars::prelude::*;
use std::collections::HashSet;

/// Categorical columns have at most this many levels; more distinct strings make a text column.
const MAX_LEVELS: usize = 100;

/// The polars type a column of this kind is stored as.
pub fn storage_dtype(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Continuous => DataType::Float64,
        ColumnKind::Integer => DataType::Int64,
        ColumnKind::Boolean => DataType::Boolean,
        ColumnKind::Categorical | ColumnKind::Text => DataType::String,
        ColumnKind::Datetime => DataType::Datetime(TimeUnit::Milliseconds, None),
    }
}

fn polars_err(column: &str, e: PolarsError) -> IngestError {
    IngestError::at(None, column, format!("could not convert: {e}"))
}

fn row_of(i: usize) -> Option<u64> {
    Some(i as u64 + 1)
}

const TRUE_TOKENS: [&str; 5] = ["true", "yes", "t", "y", "1"];
const FALSE_TOKENS: [&str; 5] = ["false", "no", "f", "n", "0"];

fn parse_bool(s: &str) -> Option<bool> {
    let l = s.trim().to_ascii_lowercase();
    if TRUE_TOKENS.contains(&l.as_str()) {
        Some(true)
    } else if FALSE_TOKENS.contains(&l.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// Milliseconds since the epoch for the timestamp forms plants commonly write.
fn parse_datetime(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(d.timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return Some(d.and_utc().timestamp_millis());
        }
    }
    for f in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(t, f) {
            return d.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_millis());
        }
    }
    None
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

/// Whole numbers only in 0 and 1, both present: a yes/no column.
fn numeric_kind(values: impl Iterator<Item = f64>) -> ColumnKind {
    let mut whole = true;
    let mut zero = false;
    let mut one = false;
    let mut other = false;
    for x in values {
        if x.fract() != 0.0 || x.abs() > 9.0e15 {
            whole = false;
            break;
        }
        if x == 0.0 {
            zero = true;
        } else if x == 1.0 {
            one = true;
        } else {
            other = true;
        }
    }
    if !whole {
        ColumnKind::Continuous
    } else if zero && one && !other {
        ColumnKind::Boolean
    } else {
        ColumnKind::Integer
    }
}

fn check_finite(name: &str, ca: &Float64Chunked) -> Result<(), IngestError> {
    if let Some((i, x)) = ca.iter().enumerate().find_map(|(i, x)| x.filter(|x| !x.is_finite()).map(|x| (i, x))) {
        return Err(IngestError::at(
            row_of(i),
            name,
            format!("{x} is not a finite number; leave the field empty for a missing value"),
        ));
    }
    Ok(())
}

/// Infers the kind of a column as polars read it.
fn infer_kind(col: &Column) -> Result<ColumnKind, IngestError> {
    let name = col.name().as_str();
    let dtype = col.dtype();
    if dtype.is_bool() {
        return Ok(ColumnKind::Boolean);
    }
    if matches!(dtype, DataType::Datetime(_, _) | DataType::Date) {
        return Ok(ColumnKind::Datetime);
    }
    if matches!(dtype, DataType::Null) || col.null_count() == col.len() {
        return Ok(ColumnKind::Continuous);
    }
    if dtype.is_primitive_numeric() {
        let f = col.cast(&DataType::Float64).map_err(|e| polars_err(name, e))?;
        let ca = f.f64().map_err(|e| polars_err(name, e))?;
        check_finite(name, ca)?;
        return Ok(numeric_kind(ca.iter().flatten()));
    }
    let ca = col.str().map_err(|e| polars_err(name, e))?;
    let non_null = ca.len() - ca.null_count();
    let mut numeric = 0usize;
    let mut first_text: Option<(usize, &str)> = None;
    for (i, v) in ca.iter().enumerate() {
        if let Some(v) = v {
            if parse_number(v).is_some() {
                numeric += 1;
            } else if first_text.is_none() {
                first_text = Some((i, v));
            }
        }
    }
    match first_text {
        None => {
            let xs: Vec<f64> = ca.iter().flatten().filter_map(parse_number).collect();
            if let Some(i) = ca.iter().position(|v| v.and_then(parse_number).is_some_and(|x| !x.is_finite())) {
                return Err(IngestError::at(
                    row_of(i),
                    name,
                    format!(
                        "{} is not a finite number; leave the field empty for a missing value",
                        ca.get(i).unwrap_or("")
                    ),
                ));
            }
            return Ok(numeric_kind(xs.into_iter()));
        }
        Some((i, v)) if numeric * 2 > non_null => {
            return Err(IngestError::at(
                row_of(i),
                name,
                format!(
                    "'{v}' is not a number, but {numeric} of the column's {non_null} values are; fix the value, leave it empty for missing, or declare the column categorical or text in the schema"
                ),
            ));
        }
        Some(_) => {}
    }
    if ca.iter().flatten().all(|v| parse_bool(v).is_some() && parse_number(v).is_none()) {
        return Ok(ColumnKind::Boolean);
    }
    if ca.iter().flatten().all(|v| parse_datetime(v).is_some()) {
        return Ok(ColumnKind::Datetime);
    }
    let mut distinct: HashSet<&str> = HashSet::new();
    for v in ca.iter().flatten() {
        distinct.insert(v);
        if distinct.len() > MAX_LEVELS {
            return Ok(ColumnKind::Text);
        }
    }
    if distinct.len() < non_null {
        Ok(ColumnKind::Categorical)
    } else {
        Ok(ColumnKind::Text)
    }
}

/// Converts a column to the storage type of `kind`, refusing the first value that does not fit.
fn to_kind(col: &Column, kind: ColumnKind) -> Result<Column, IngestError> {
    let name = col.name().as_str();
    let target = storage_dtype(kind);
    if col.dtype() == &target && kind != ColumnKind::Continuous {
        return Ok(col.clone());
    }
    if matches!(col.dtype(), DataType::Null) || col.null_count() == col.len() {
        return Ok(Column::full_null(col.name().clone(), col.len(), &target));
    }
    let dtype = col.dtype().clone();
    let out: Column = match kind {
        ColumnKind::Continuous | ColumnKind::Integer => {
            let f: Float64Chunked = if dtype.is_primitive_numeric() || dtype.is_bool() {
                col.cast(&DataType::Float64)
                    .map_err(|e| polars_err(name, e))?
                    .f64()
                    .map_err(|e| polars_err(name, e))?
                    .clone()
            } else if dtype == DataType::String {
                let ca = col.str().map_err(|e| polars_err(name, e))?;
                let mut out: Vec<Option<f64>> = Vec::with_capacity(ca.len());
                for (i, v) in ca.iter().enumerate() {
                    match v {
                        None => out.push(None),
                        Some(s) => match parse_number(s) {
                            Some(x) => out.push(Some(x)),
                            None => {
                                return Err(IngestError::at(
                                    row_of(i),
                                    name,
                                    format!("'{s}' is not a number (the column is {})", kind_name(kind)),
                                ))
                            }
                        },
                    }
                }
                Float64Chunked::from_iter_options(col.name().clone(), out.into_iter())
            } else {
                return Err(IngestError::at(None, name, format!("a {dtype} column cannot be {}", kind_name(kind))));
            };
            check_finite(name, &f)?;
            if kind == ColumnKind::Integer {
                if let Some((i, x)) =
                    f.iter().enumerate().find_map(|(i, x)| x.filter(|x| x.fract() != 0.0).map(|x| (i, x)))
                {
                    return Err(IngestError::at(
                        row_of(i),
                        name,
                        format!("{x} is not a whole number (the column is integer)"),
                    ));
                }
                f.into_series().cast(&DataType::Int64).map_err(|e| polars_err(name, e))?.into_column()
            } else {
                f.into_series().into_column()
            }
        }
        ColumnKind::Boolean => {
            let mut out: Vec<Option<bool>> = Vec::with_capacity(col.len());
            let as_str = col.cast(&DataType::String).map_err(|e| polars_err(name, e))?;
            let ca = as_str.str().map_err(|e| polars_err(name, e))?;
            for (i, v) in ca.iter().enumerate() {
                match v {
                    None => out.push(None),
                    Some(s) => {
                        let b = parse_bool(s).or_else(|| match parse_number(s) {
                            Some(0.0) => Some(false),
                            Some(1.0) => Some(true),
                            _ => None,
                        });
                        match b {
                            Some(b) => out.push(Some(b)),
                            None => {
                                return Err(IngestError::at(
                                    row_of(i),
                                    name,
                                    format!("'{s}' is not a yes/no value (use true/false, yes/no or 1/0)"),
                                ))
                            }
                        }
                    }
                }
            }
            Column::new(col.name().clone(), out)
        }
        ColumnKind::Categorical | ColumnKind::Text => {
            if dtype.is_float() {
                // Render floats without a trailing ".0" so 1.0 and 1 name the same level.
                let ca = col.f64().cloned().or_else(|_| col.cast(&DataType::Float64).and_then(|c| c.f64().cloned()));
                let ca = ca.map_err(|e| polars_err(name, e))?;
                let v: Vec<Option<String>> = ca.iter().map(|x| x.map(fmt_number)).collect();
                Column::new(col.name().clone(), v)
            } else {
                col.cast(&DataType::String).map_err(|e| polars_err(name, e))?
            }
        }
        ColumnKind::Datetime => {
            if matches!(dtype, DataType::Datetime(_, _) | DataType::Date) {
                col.cast(&target).map_err(|e| polars_err(name, e))?
            } else if dtype == DataType::String {
                let ca = col.str().map_err(|e| polars_err(name, e))?;
                let mut out: Vec<Option<i64>> = Vec::with_capacity(ca.len());
                for (i, v) in ca.iter().enumerate() {
                    match v {
                        None => out.push(None),
                        Some(s) => match parse_datetime(s) {
                            Some(ms) => out.push(Some(ms)),
                            None => {
                                return Err(IngestError::at(
                                    row_of(i),
                                    name,
                                    format!(
                                        "'{s}' is not a date or timestamp (use ISO 8601, e.g. 2026-03-01T08:15:00Z)"
                                    ),
                                ))
                            }
                        },
                    }
                }
                Column::new(col.name().clone(), out).cast(&target).map_err(|e| polars_err(name, e))?
            } else {
                return Err(IngestError::at(None, name, format!("a {dtype} column cannot be a timestamp")));
            }
        }
    };
    Ok(out)
}

fn fmt_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Continuous => "continuous",
        ColumnKind::Integer => "integer",
        ColumnKind::Categorical => "categorical",
        ColumnKind::Boolean => "boolean",
        ColumnKind::Datetime => "datetime",
        ColumnKind::Text => "text",
    }
}

fn infer_role(name: &str, kind: ColumnKind, col: &Column) -> ColumnRole {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    if kind == ColumnKind::Datetime {
        return ColumnRole::Timestamp;
    }
    let all_unique = || col.n_unique().map(|u| u == col.len() && col.null_count() == 0).unwrap_or(false);
    let id_like = words.iter().any(|w| matches!(*w, "id" | "udi" | "uuid" | "serial" | "index"));
    if (id_like && matches!(kind, ColumnKind::Integer | ColumnKind::Text | ColumnKind::Categorical)) && all_unique() {
        return ColumnRole::Id;
    }
    if kind == ColumnKind::Text {
        return if all_unique() { ColumnRole::Id } else { ColumnRole::Ignore };
    }
    let label_words = ["label", "class", "target", "fault", "faults", "failure", "defect", "outcome", "pass", "fail"];
    if words.iter().any(|w| label_words.contains(w)) && matches!(kind, ColumnKind::Categorical | ColumnKind::Boolean) {
        return ColumnRole::Label;
    }
    ColumnRole::Feature
}

/// Checks declared bounds and levels against the data, naming the first offending row.
fn check_declared(col: &Column, c: &ColumnSchema) -> Result<(), IngestError> {
    let name = c.name.as_str();
    if c.kind.is_numeric() && (c.declared_min.is_some() || c.declared_max.is_some()) {
        let f = col.cast(&DataType::Float64).map_err(|e| polars_err(name, e))?;
        let ca = f.f64().map_err(|e| polars_err(name, e))?;
        for (i, x) in ca.iter().enumerate() {
            let Some(x) = x else { continue };
            if let Some(lo) = c.declared_min.filter(|lo| x < *lo) {
                return Err(IngestError::at(row_of(i), name, format!("{x} is below the declared minimum {lo}")));
            }
            if let Some(hi) = c.declared_max.filter(|hi| x > *hi) {
                return Err(IngestError::at(row_of(i), name, format!("{x} is above the declared maximum {hi}")));
            }
        }
    }
    if c.kind == ColumnKind::Categorical && c.levels_declared {
        let allowed: HashSet<&str> = c.levels.iter().map(|s| s.as_str()).collect();
        let ca = col.str().map_err(|e| polars_err(name, e))?;
        if let Some((i, v)) =
            ca.iter().enumerate().find_map(|(i, v)| v.filter(|v| !allowed.contains(v)).map(|v| (i, v)))
        {
            return Err(IngestError::at(
                row_of(i),
                name,
                format!("'{v}' is not one of the declared levels {:?}", c.levels),
            ));
        }
    }
    Ok(())
}

/// Infers (or takes from the override) each column's kind and role, converts the columns to
/// their storage types and returns the typed table with its schema and observed statistics.
pub fn infer_and_type(df: DataFrame, overrides: Option<&SchemaOverride>) -> Result<(DataFrame, Schema), IngestError> {
    if let Some(o) = overrides {
        check_override_names(o, df.columns().iter().map(|c| c.name().as_str()))?;
    }
    let mut columns = Vec::with_capacity(df.width());
    let mut schema_cols = Vec::with_capacity(df.width());
    for col in df.columns() {
        let name = col.name().to_string();
        let o = overrides.and_then(|o| o.columns.get(&name));
        let kind = match o.and_then(|o| o.kind) {
            Some(k) => k,
            None => infer_kind(col)?,
        };
        let typed = to_kind(col, kind)?;
        let role = o.and_then(|o| o.role).unwrap_or_else(|| infer_role(&name, kind, &typed));
        let c = ColumnSchema {
            name: name.clone(),
            kind,
            role,
            min: None,
            max: None,
            declared_min: o.and_then(|o| o.min),
            declared_max: o.and_then(|o| o.max),
            levels: o.and_then(|o| o.levels.clone()).unwrap_or_default(),
            levels_declared: o.is_some_and(|o| o.levels.is_some()),
            missing: 0,
        };
        check_declared(&typed, &c)?;
        columns.push(typed);
        schema_cols.push(c);
    }
    let height = df.height();
    let typed =
        DataFrame::new(height, columns).map_err(|e| IngestError::invalid(format!("could not build the table: {e}")))?;
    let stats: Vec<_> = typed.columns().iter().zip(&schema_cols).map(|(c, s)| column_stats(c, s.kind)).collect();
    let schema = schema_with_stats(Schema { columns: schema_cols }, &stats);
    Ok((typed, schema))
}

/// Refuses an override that names a column the table does not have.
pub fn check_override_names<'a>(o: &SchemaOverride, names: impl Iterator<Item = &'a str>) -> Result<(), IngestError> {
    let names: Vec<&str> = names.collect();
    for (k, v) in &o.columns {
        if !names.contains(&k.as_str()) {
            return Err(IngestError {
                column: Some(k.clone()),
                ..IngestError::invalid(format!(
                    "the schema names column '{k}', which the table does not have; its columns are {names:?}"
                ))
            });
        }
        if let (Some(lo), Some(hi)) = (v.min, v.max) {
            if lo > hi {
                return Err(IngestError::at(None, k, format!("declared min {lo} is above declared max {hi}")));
            }
        }
    }
    Ok(())
}

/// Converts appended rows to an existing schema: the same columns (in any order), each value
/// fitting its column's kind and declared bounds and levels.
pub fn conform(df: DataFrame, schema: &Schema) -> Result<DataFrame, IngestError> {
    let have: Vec<&str> = df.columns().iter().map(|c| c.name().as_str()).collect();
    let want = schema.names();
    let missing: Vec<&&str> = want.iter().filter(|n| !have.contains(n)).collect();
    let extra: Vec<&&str> = have.iter().filter(|n| !want.contains(n)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut msg = String::from("the rows' columns do not match the dataset's");
        if !missing.is_empty() {
            msg.push_str(&format!("; missing: {missing:?}"));
        }
        if !extra.is_empty() {
            msg.push_str(&format!("; not in the dataset: {extra:?}"));
        }
        let column = missing.first().or(extra.first()).map(|s| s.to_string());
        return Err(IngestError { column, ..IngestError::invalid(msg) });
    }
    let mut columns = Vec::with_capacity(schema.columns.len());
    for c in &schema.columns {
        let col = df.column(&c.name).map_err(|e| polars_err(&c.name, e))?;
        let typed = to_kind(col, c.kind)?;
        check_declared(&typed, c)?;
        columns.push(typed);
    }
    DataFrame::new(df.height(), columns).map_err(|e| IngestError::invalid(format!("could not build the table: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::ingest::{read_table, CsvOptions, Format};

    fn csv(s: &str) -> Result<(DataFrame, Schema), IngestError> {
        let df = read_table(s.as_bytes(), &Format::Csv(CsvOptions::default()), &Limits::default())?;
        infer_and_type(df, None)
    }

    #[test]
    fn kinds_and_roles_are_inferred() {
        let (df, s) = csv("id,t,grade,ok,when,thick,label\n1,1.5,A,true,2026-01-01,3,pass\n2,2.5,B,false,2026-01-02,4,fail\n3,,A,true,2026-01-03,5,pass\n").unwrap();
        let k: Vec<_> = s.columns.iter().map(|c| (c.kind, c.role)).collect();
        assert_eq!(k[0], (ColumnKind::Integer, ColumnRole::Id));
        assert_eq!(k[1], (ColumnKind::Continuous, ColumnRole::Feature));
        assert_eq!(k[2], (ColumnKind::Categorical, ColumnRole::Feature));
        assert_eq!(k[3].0, ColumnKind::Boolean);
        assert_eq!(k[4], (ColumnKind::Datetime, ColumnRole::Timestamp));
        assert_eq!(k[5].0, ColumnKind::Integer);
        assert_eq!(k[6], (ColumnKind::Categorical, ColumnRole::Label));
        assert_eq!(s.columns[1].missing, 1);
        assert_eq!(s.columns[1].min, Some(1.5));
        assert_eq!(s.columns[2].levels, ["A", "B"]);
        assert_eq!(df.height(), 3);
    }

    #[test]
    fn text_in_numeric_column_names_row_and_column() {
        let e = csv("a,b\n1,2\n3,4\n5,x7\n6,8\n").unwrap_err();
        assert_eq!(e.row, Some(3));
        assert_eq!(e.column.as_deref(), Some("b"));
        assert!(e.message.contains("'x7' is not a number"), "{}", e.message);
    }

    #[test]
    fn nan_and_inf_are_refused() {
        let e = csv("a,b\n1,2\n3,NaN\n").unwrap_err();
        assert_eq!((e.row, e.column.as_deref()), (Some(2), Some("b")));
        let e = csv("a,b\n1,inf\n3,4\n").unwrap_err();
        assert_eq!((e.row, e.column.as_deref()), (Some(1), Some("b")));
        let e = read_table(br#"[{"a": 1}, {"a": "-inf"}, {"a": 2}]"#, &Format::Json, &Limits::default())
            .and_then(|df| infer_and_type(df, None))
            .unwrap_err();
        assert_eq!(e.row, Some(2));
    }

    #[test]
    fn override_applies_and_unknown_column_is_refused() {
        let df = read_table(b"a,b\n1,2\n3,4\n", &Format::Csv(CsvOptions::default()), &Limits::default()).unwrap();
        let o: SchemaOverride =
            serde_json::from_str(r#"{"columns": {"a": {"kind": "categorical", "role": "label"}}}"#).unwrap();
        let (_, s) = infer_and_type(df.clone(), Some(&o)).unwrap();
        assert_eq!(s.columns[0].kind, ColumnKind::Categorical);
        assert_eq!(s.columns[0].levels, ["1", "3"]);
        let o: SchemaOverride = serde_json::from_str(r#"{"columns": {"zz": {"kind": "integer"}}}"#).unwrap();
        let e = infer_and_type(df.clone(), Some(&o)).unwrap_err();
        assert!(e.message.contains("'zz'"), "{}", e.message);
        let o: SchemaOverride = serde_json::from_str(r#"{"columns": {"b": {"max": 3}}}"#).unwrap();
        let e = infer_and_type(df, Some(&o)).unwrap_err();
        assert_eq!((e.row, e.column.as_deref()), (Some(2), Some("b")));
    }

    #[test]
    fn appends_conform_or_name_the_problem() {
        let (_, s) = csv("a,grade\n1,A\n2,B\n").unwrap();
        let df = read_table(b"grade,a\nA,5\n", &Format::Csv(CsvOptions::default()), &Limits::default()).unwrap();
        let out = conform(df, &s).unwrap();
        assert_eq!(out.columns()[0].name().as_str(), "a");
        let df = read_table(b"a,b\n1,2\n", &Format::Csv(CsvOptions::default()), &Limits::default()).unwrap();
        let e = conform(df, &s).unwrap_err();
        assert!(e.message.contains("missing: [\"grade\"]") && e.message.contains("\"b\""), "{}", e.message);
        let df = read_table(b"a,grade\n1.5,A\n", &Format::Csv(CsvOptions::default()), &Limits::default()).unwrap();
        let e = conform(df, &s).unwrap_err();
        assert_eq!((e.row, e.column.as_deref()), (Some(1), Some("a")));
    }
}
