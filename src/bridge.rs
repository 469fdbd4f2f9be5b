//! Between stored tables (polars frames typed by a dataset schema) and the VAE engine's tables.
//! Columns whose role is `id`, `timestamp` or `ignore`, and `text`/`datetime` columns, are not modelled.

use crate::domain::{ColumnKind, ColumnRole, Schema};
use crate::ml;
use polars::prelude::*;

/// Whether the engine learns this column.
pub fn modelled(kind: ColumnKind, role: ColumnRole) -> bool {
    matches!(role, ColumnRole::Feature | ColumnRole::Label)
        && matches!(kind, ColumnKind::Continuous | ColumnKind::Integer | ColumnKind::Categorical | ColumnKind::Boolean)
}

fn err(name: &str, e: PolarsError) -> String {
    format!("column '{name}': {e}")
}

/// The modelled columns of a typed frame as an engine table.
pub fn to_ml_table(df: &DataFrame, schema: &Schema) -> Result<ml::Table, String> {
    let mut columns = Vec::new();
    for c in schema.columns.iter().filter(|c| modelled(c.kind, c.role)) {
        let col = df.column(&c.name).map_err(|e| err(&c.name, e))?;
        let column = match c.kind {
            ColumnKind::Continuous | ColumnKind::Integer => {
                let f = col.cast(&DataType::Float64).map_err(|e| err(&c.name, e))?;
                let values: Vec<f64> =
                    f.f64().map_err(|e| err(&c.name, e))?.iter().map(|x| x.unwrap_or(f64::NAN)).collect();
                let column = if c.kind == ColumnKind::Integer {
                    ml::Column::integer(c.name.clone(), values)
                } else {
                    ml::Column::continuous(c.name.clone(), values)
                };
                if c.declared_min.is_some() || c.declared_max.is_some() {
                    column.with_bounds(c.declared_min, c.declared_max)
                } else {
                    column
                }
            }
            ColumnKind::Boolean => {
                let values: Vec<Option<bool>> = col.bool().map_err(|e| err(&c.name, e))?.iter().collect();
                ml::Column::boolean(c.name.clone(), values)
            }
            _ => {
                let labels: Vec<Option<&str>> = col.str().map_err(|e| err(&c.name, e))?.iter().collect();
                ml::Column::categorical_from_labels(c.name.clone(), &labels)
            }
        };
        columns.push(column);
    }
    if columns.is_empty() {
        return Err(
            "the table has no feature or label columns the model can learn (numbers, categories, yes/no)".into()
        );
    }
    Ok(ml::Table::new(columns))
}

/// An engine table (samples, reconstructions) as a frame with the original names and kinds.
pub fn from_ml_table(t: &ml::Table) -> anyhow::Result<DataFrame> {
    let mut columns = Vec::with_capacity(t.columns.len());
    for c in &t.columns {
        let name = PlSmallStr::from(c.name.as_str());
        let column = match (&c.data, c.kind) {
            (ml::ColumnData::Numeric(v), ml::ColumnKind::Integer) => {
                Column::new(name, v.iter().map(|x| (!x.is_nan()).then_some(x.round() as i64)).collect::<Vec<_>>())
            }
            (ml::ColumnData::Numeric(v), _) => {
                Column::new(name, v.iter().map(|x| (!x.is_nan()).then_some(*x)).collect::<Vec<_>>())
            }
            (ml::ColumnData::Categorical { codes, .. }, ml::ColumnKind::Boolean) => {
                Column::new(name, codes.iter().map(|c| c.map(|c| c == 1)).collect::<Vec<_>>())
            }
            (ml::ColumnData::Categorical { codes, levels }, _) => Column::new(
                name,
                codes.iter().map(|c| c.and_then(|c| levels.get(c as usize).cloned())).collect::<Vec<_>>(),
            ),
        };
        columns.push(column);
    }
    DataFrame::new(t.n_rows(), columns).map_err(|e| anyhow::anyhow!("could not build the sample table: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::ingest::{infer_and_type, read_table, CsvOptions, Format};

    #[test]
    fn round_trip_keeps_names_kinds_and_values() {
        let csv = b"id,t,n,grade,ok\n1,1.5,3,A,true\n2,,4,B,false\n3,2.5,5,A,\n";
        let df = read_table(csv, &Format::Csv(CsvOptions::default()), &Limits::default()).unwrap();
        let (df, schema) = infer_and_type(df, None).unwrap();
        let t = to_ml_table(&df, &schema).unwrap();
        assert_eq!(
            t.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["t", "n", "grade", "ok"],
            "the id column is not modelled"
        );
        assert!(t.column("t").unwrap().numeric().unwrap()[1].is_nan());
        let back = from_ml_table(&t).unwrap();
        assert_eq!(back.column("n").unwrap().dtype(), &DataType::Int64);
        assert_eq!(back.column("ok").unwrap().bool().unwrap().get(2), None);
        assert_eq!(back.column("grade").unwrap().str().unwrap().get(1), Some("B"));
        assert_eq!(back.column("t").unwrap().f64().unwrap().get(2), Some(2.5));
    }
}
