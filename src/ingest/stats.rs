//! Observed statistics of typed columns, and the schema fields derived from them.

use crate::domain::{ColumnKind, ColumnStats, Schema};
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Statistics of one typed column (see `ingest::storage_dtype`).
pub fn column_stats(col: &Column, kind: ColumnKind) -> ColumnStats {
    let missing = col.null_count() as u64;
    let count = col.len() as u64 - missing;
    let mut s = ColumnStats { count, missing, ..Default::default() };
    match kind {
        ColumnKind::Continuous | ColumnKind::Integer | ColumnKind::Datetime => {
            let f = match kind {
                ColumnKind::Datetime => col.cast(&DataType::Int64).and_then(|c| c.cast(&DataType::Float64)),
                _ => col.cast(&DataType::Float64),
            };
            let Ok(f) = f else { return s };
            let Ok(ca) = f.f64() else { return s };
            let (mut n, mut mean, mut m2) = (0f64, 0f64, 0f64);
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for x in ca.iter().flatten() {
                n += 1.0;
                let d = x - mean;
                mean += d / n;
                m2 += d * (x - mean);
                lo = lo.min(x);
                hi = hi.max(x);
            }
            if n > 0.0 {
                s.min = Some(lo);
                s.max = Some(hi);
                if kind != ColumnKind::Datetime {
                    s.mean = Some(mean);
                    s.m2 = Some(m2);
                    s.std = Some(if n > 1.0 { (m2 / (n - 1.0)).sqrt() } else { 0.0 });
                }
            }
        }
        ColumnKind::Boolean => {
            if let Ok(ca) = col.bool() {
                let t = ca.iter().flatten().filter(|b| *b).count() as u64;
                let mut levels = BTreeMap::new();
                if t > 0 {
                    levels.insert("true".to_string(), t);
                }
                if count - t > 0 {
                    levels.insert("false".to_string(), count - t);
                }
                s.distinct = Some(levels.len() as u64);
                s.levels = levels;
            }
        }
        ColumnKind::Categorical => {
            if let Ok(ca) = col.str() {
                let mut counts: HashMap<&str, u64> = HashMap::new();
                for v in ca.iter().flatten() {
                    *counts.entry(v).or_insert(0) += 1;
                }
                s.levels = counts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                s.distinct = Some(s.levels.len() as u64);
            }
        }
        ColumnKind::Text => {
            if let Ok(ca) = col.str() {
                let distinct: HashSet<&str> = ca.iter().flatten().collect();
                s.distinct = Some(distinct.len() as u64);
            }
        }
    }
    s
}

/// The schema with observed min, max, levels and missing counts taken from `stats`.
pub fn schema_with_stats(mut schema: Schema, stats: &[ColumnStats]) -> Schema {
    for (c, s) in schema.columns.iter_mut().zip(stats) {
        c.missing = s.missing;
        c.min = s.min;
        c.max = s.max;
        if matches!(c.kind, ColumnKind::Categorical | ColumnKind::Boolean) {
            let mut levels: Vec<String> = s.levels.keys().cloned().collect();
            for l in &c.levels {
                if !levels.contains(l) {
                    levels.push(l.clone());
                }
            }
            levels.sort();
            c.levels = levels;
        }
    }
    schema
}
