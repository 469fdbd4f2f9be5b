//! The table the engine trains on and returns samples in: named, typed columns.

use serde::{Deserialize, Serialize};

/// What a column holds, which decides how it is encoded and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnKind {
    /// Real-valued measurement.
    Continuous,
    /// Whole numbers; decoded with rounding.
    Integer,
    /// One of a list of levels.
    Categorical,
    /// Two levels (false, true).
    Boolean,
}

/// Declared bounds of a numeric column; decoded values are clamped into them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Bounds {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Cell values of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ColumnData {
    /// Numeric cells; NaN marks a missing value.
    Numeric(Vec<f64>),
    /// Codes indexing into `levels`; `None` marks a missing value.
    Categorical { codes: Vec<Option<u32>>, levels: Vec<String> },
}

impl ColumnData {
    /// Number of cells.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Numeric(v) => v.len(),
            ColumnData::Categorical { codes, .. } => codes.len(),
        }
    }

    /// True when the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of missing cells.
    pub fn n_missing(&self) -> usize {
        match self {
            ColumnData::Numeric(v) => v.iter().filter(|x| x.is_nan()).count(),
            ColumnData::Categorical { codes, .. } => codes.iter().filter(|c| c.is_none()).count(),
        }
    }
}

/// One named, typed column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
    pub data: ColumnData,
    /// Declared bounds (numeric kinds only); `None` means "use the observed range".
    pub bounds: Option<Bounds>,
}

impl Column {
    /// A continuous column; NaN is missing.
    pub fn continuous(name: impl Into<String>, values: Vec<f64>) -> Self {
        Column { name: name.into(), kind: ColumnKind::Continuous, data: ColumnData::Numeric(values), bounds: None }
    }

    /// An integer column (values are whole numbers stored as f64; NaN is missing).
    pub fn integer(name: impl Into<String>, values: Vec<f64>) -> Self {
        Column { name: name.into(), kind: ColumnKind::Integer, data: ColumnData::Numeric(values), bounds: None }
    }

    /// A categorical column from codes into `levels`.
    pub fn categorical(name: impl Into<String>, codes: Vec<Option<u32>>, levels: Vec<String>) -> Self {
        Column {
            name: name.into(),
            kind: ColumnKind::Categorical,
            data: ColumnData::Categorical { codes, levels },
            bounds: None,
        }
    }

    /// A categorical column from string labels; levels are sorted and deduplicated.
    pub fn categorical_from_labels<S: AsRef<str>>(name: impl Into<String>, labels: &[Option<S>]) -> Self {
        let mut levels: Vec<String> = labels.iter().flatten().map(|s| s.as_ref().to_string()).collect();
        levels.sort();
        levels.dedup();
        let codes = labels
            .iter()
            .map(|l| l.as_ref().map(|s| levels.binary_search_by(|x| x.as_str().cmp(s.as_ref())).unwrap() as u32))
            .collect();
        Column::categorical(name, codes, levels)
    }

    /// A boolean column; levels are `["false", "true"]`.
    pub fn boolean(name: impl Into<String>, values: Vec<Option<bool>>) -> Self {
        Column {
            name: name.into(),
            kind: ColumnKind::Boolean,
            data: ColumnData::Categorical {
                codes: values.into_iter().map(|b| b.map(u32::from)).collect(),
                levels: vec!["false".into(), "true".into()],
            },
            bounds: None,
        }
    }

    /// Declares bounds for a numeric column.
    pub fn with_bounds(mut self, min: Option<f64>, max: Option<f64>) -> Self {
        self.bounds = Some(Bounds { min, max });
        self
    }

    /// Numeric cells, if the column is numeric.
    pub fn numeric(&self) -> Option<&[f64]> {
        match &self.data {
            ColumnData::Numeric(v) => Some(v),
            _ => None,
        }
    }

    /// Codes and levels, if the column is categorical or boolean.
    pub fn codes(&self) -> Option<(&[Option<u32>], &[String])> {
        match &self.data {
            ColumnData::Categorical { codes, levels } => Some((codes, levels)),
            _ => None,
        }
    }
}

/// A table: columns of equal length.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Table {
    pub columns: Vec<Column>,
}

impl Table {
    /// A table from columns (lengths are checked by `VaeParams::check`).
    pub fn new(columns: Vec<Column>) -> Self {
        Table { columns }
    }

    /// Number of rows (0 for a table without columns).
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.data.len())
    }

    /// Number of columns.
    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }

    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The rows at `idx`, in that order.
    pub fn select_rows(&self, idx: &[usize]) -> Table {
        let columns = self
            .columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                kind: c.kind,
                bounds: c.bounds,
                data: match &c.data {
                    ColumnData::Numeric(v) => ColumnData::Numeric(idx.iter().map(|&i| v[i]).collect()),
                    ColumnData::Categorical { codes, levels } => ColumnData::Categorical {
                        codes: idx.iter().map(|&i| codes[i]).collect(),
                        levels: levels.clone(),
                    },
                },
            })
            .collect();
        Table { columns }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_sorted_levels_and_rows_select() {
        let c = Column::categorical_from_labels("f", &[Some("b"), None, Some("a"), Some("b")]);
        let (codes, levels) = c.codes().unwrap();
        assert_eq!(levels, ["a", "b"]);
        assert_eq!(codes, [Some(1), None, Some(0), Some(1)]);
        let t = Table::new(vec![c, Column::continuous("x", vec![1.0, f64::NAN, 3.0, 4.0])]);
        assert_eq!(t.n_rows(), 4);
        let s = t.select_rows(&[2, 0]);
        assert_eq!(s.column("x").unwrap().numeric().unwrap(), [3.0, 1.0]);
        assert_eq!(t.column("x").unwrap().data.n_missing(), 1);
    }
}
