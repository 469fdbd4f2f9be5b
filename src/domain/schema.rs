//! Column schemas of datasets: what kind of values a column holds, what it is for,
//! and what was observed in it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What kind of values a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Continuous,
    Integer,
    Categorical,
    Boolean,
    Datetime,
    Text,
}

impl ColumnKind {
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnKind::Continuous | ColumnKind::Integer)
    }
}

/// What a column is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnRole {
    Feature,
    Label,
    Id,
    Timestamp,
    Ignore,
}

/// Summary statistics of one column, mergeable across appended chunks
/// (count, mean and M2 combine exactly with Chan's formula).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// Non-missing values.
    pub count: u64,
    pub missing: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// Sum of squared deviations from the mean (for merging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m2: Option<f64>,
    /// Counts per level for categorical and boolean columns.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub levels: BTreeMap<String, u64>,
    /// Distinct values (categorical, text), capped at the level limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
}

impl ColumnStats {
    /// Statistics of the union of two disjoint sets of rows.
    pub fn merge(&self, other: &ColumnStats) -> ColumnStats {
        let n_a = self.count as f64;
        let n_b = other.count as f64;
        let n = n_a + n_b;
        let (mean, m2) = match (self.mean, self.m2, other.mean, other.m2) {
            (Some(ma), Some(m2a), Some(mb), Some(m2b)) if n > 0.0 => {
                let delta = mb - ma;
                let mean = ma + delta * n_b / n;
                let m2 = m2a + m2b + delta * delta * n_a * n_b / n;
                (Some(mean), Some(m2))
            }
            (Some(ma), Some(m2a), None, _) => (Some(ma), Some(m2a)),
            (None, _, Some(mb), Some(m2b)) => (Some(mb), Some(m2b)),
            _ => (None, None),
        };
        let mut levels = self.levels.clone();
        for (k, v) in &other.levels {
            *levels.entry(k.clone()).or_insert(0) += v;
        }
        let distinct = if levels.is_empty() {
            match (self.distinct, other.distinct) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            }
        } else {
            Some(levels.len() as u64)
        };
        let count = self.count + other.count;
        ColumnStats {
            count,
            missing: self.missing + other.missing,
            min: min_opt(self.min, other.min),
            max: max_opt(self.max, other.max),
            mean,
            std: m2.map(|m2| if count > 1 { (m2 / (count as f64 - 1.0)).sqrt() } else { 0.0 }),
            m2,
            levels,
            distinct,
        }
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// One column of a dataset version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    pub name: String,
    pub kind: ColumnKind,
    pub role: ColumnRole,
    /// Observed minimum (numeric kinds; datetime as milliseconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Bounds declared by the engineer; generated values stay inside them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_max: Option<f64>,
    /// Category levels, sorted (categorical and boolean columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<String>,
    /// True when the engineer declared the levels: other values are then refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub levels_declared: bool,
    /// Missing values.
    pub missing: u64,
}

/// The columns of a dataset version, in file order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub columns: Vec<ColumnSchema>,
}

impl Schema {
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
}

/// What an engineer may declare about a column; every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnOverride {
    pub kind: Option<ColumnKind>,
    pub role: Option<ColumnRole>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub levels: Option<Vec<String>>,
}

/// A schema override, as sent on upload or with `PATCH .../schema`:
/// `{"columns": {"Type": {"kind": "categorical", "role": "label"}}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaOverride {
    pub columns: BTreeMap<String, ColumnOverride>,
}

/// A dataset's name: 1 to 128 characters of letters, digits, space, `_`, `-`, `.`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatasetName(String);

impl DatasetName {
    pub fn parse(s: &str) -> Result<DatasetName, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("the dataset name is empty; pass ?name=NAME".into());
        }
        if t.chars().count() > 128 {
            return Err("the dataset name is longer than 128 characters".into());
        }
        if let Some(bad) = t.chars().find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.'))) {
            return Err(format!("the dataset name contains {bad:?}; use letters, digits, space, '_', '-' or '.'"));
        }
        Ok(DatasetName(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_of(xs: &[f64]) -> ColumnStats {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let m2 = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
        ColumnStats {
            count: xs.len() as u64,
            min: xs.iter().cloned().reduce(f64::min),
            max: xs.iter().cloned().reduce(f64::max),
            mean: Some(mean),
            m2: Some(m2),
            std: Some((m2 / (n - 1.0)).sqrt()),
            ..Default::default()
        }
    }

    #[test]
    fn merged_stats_equal_stats_of_the_union() {
        let a = [1.0, 2.0, 3.5, 10.0];
        let b = [-4.0, 7.25, 0.5];
        let all: Vec<f64> = a.iter().chain(b.iter()).cloned().collect();
        let m = stats_of(&a).merge(&stats_of(&b));
        let e = stats_of(&all);
        assert_eq!(m.count, 7);
        assert_eq!(m.min, Some(-4.0));
        assert_eq!(m.max, Some(10.0));
        approx::assert_abs_diff_eq!(m.mean.unwrap(), e.mean.unwrap(), epsilon = 1e-12);
        approx::assert_abs_diff_eq!(m.std.unwrap(), e.std.unwrap(), epsilon = 1e-12);
    }

    #[test]
    fn dataset_names_are_checked() {
        assert!(DatasetName::parse("steel plates-1.v2").is_ok());
        assert!(DatasetName::parse("  ").is_err());
        assert!(DatasetName::parse("a/b").unwrap_err().contains("'/'"));
        assert!(DatasetName::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn override_rejects_unknown_fields() {
        let r: Result<SchemaOverride, _> =
            serde_json::from_str(r#"{"columns": {"a": {"kind": "integer", "colour": 1}}}"#);
        assert!(r.is_err());
        let r: SchemaOverride =
            serde_json::from_str(r#"{"columns": {"a": {"kind": "categorical", "role": "label"}}}"#).unwrap();
        assert_eq!(r.columns["a"].kind, Some(ColumnKind::Categorical));
    }
}
