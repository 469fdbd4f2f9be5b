//! Usefulness of synthetic rows for a downstream classifier: train on real, on synthetic, and on
//! real plus synthetic rows; test each on real rows the generator never saw; compare macro-F1 and
//! per-class recall (the rare defect classes are the point). The classifier is linfa-trees'
//! decision tree, so the comparison needs no Python.

use crate::ml::table::{ColumnData, Table};
use linfa::prelude::*;
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Scores of one training set on the real test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub train_rows: usize,
    pub macro_f1: f64,
    /// Recall per class present in the test rows.
    pub recall: BTreeMap<String, f64>,
}

/// Train-on-real, train-on-synthetic and train-on-real-plus-synthetic, on the same test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usefulness {
    pub label: String,
    pub classifier: String,
    pub test_rows: usize,
    /// Test rows per class (small counts make recall coarse).
    pub test_class_counts: BTreeMap<String, usize>,
    /// The classes rarer than the median class in the real training rows.
    pub rare_classes: Vec<String>,
    pub train_real: Scores,
    pub train_synthetic: Scores,
    pub train_real_plus_synthetic: Scores,
}

/// Features (every column but the label: numbers as they are, missing as the training mean;
/// categories one-hot by level name) and label codes, by the training table's layout.
struct Layout {
    columns: Vec<(String, Option<Vec<String>>, f64)>,
    classes: Vec<String>,
}

impl Layout {
    fn of(train: &Table, label: &str) -> Result<Layout, String> {
        let mut columns = vec![];
        let mut classes = None;
        for c in &train.columns {
            match &c.data {
                ColumnData::Categorical { levels, .. } if c.name == label => classes = Some(levels.clone()),
                _ if c.name == label => return Err(format!("label '{label}' is not categorical")),
                ColumnData::Numeric(v) => {
                    let obs: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
                    let mean = if obs.is_empty() { 0.0 } else { obs.iter().sum::<f64>() / obs.len() as f64 };
                    columns.push((c.name.clone(), None, mean));
                }
                ColumnData::Categorical { levels, .. } => columns.push((c.name.clone(), Some(levels.clone()), 0.0)),
            }
        }
        let classes = classes.ok_or_else(|| format!("label '{label}' is not a column"))?;
        Ok(Layout { columns, classes })
    }

    fn width(&self) -> usize {
        self.columns.iter().map(|(_, l, _)| l.as_ref().map_or(1, |l| l.len())).sum()
    }

    /// Rows with a known label, as (features, class index).
    fn matrix(&self, t: &Table, label: &str) -> Result<(Array2<f64>, Array1<usize>), String> {
        let lab = t.column(label).ok_or_else(|| format!("label '{label}' missing"))?;
        let ColumnData::Categorical { codes, levels } = &lab.data else {
            return Err(format!("label '{label}' is not categorical"));
        };
        let y: Vec<Option<usize>> =
            codes.iter().map(|c| c.and_then(|k| self.classes.iter().position(|l| *l == levels[k as usize]))).collect();
        let rows: Vec<usize> = (0..y.len()).filter(|&i| y[i].is_some()).collect();
        let mut x = Array2::<f64>::zeros((rows.len(), self.width()));
        let mut at = 0;
        for (name, levels, mean) in &self.columns {
            let col = t.column(name).ok_or_else(|| format!("column '{name}' missing"))?;
            match (&col.data, levels) {
                (ColumnData::Numeric(v), None) => {
                    for (r, &i) in rows.iter().enumerate() {
                        x[[r, at]] = if v[i].is_finite() { v[i] } else { *mean };
                    }
                    at += 1;
                }
                (ColumnData::Categorical { codes, levels: own }, Some(levels)) => {
                    for (r, &i) in rows.iter().enumerate() {
                        if let Some(k) = codes[i].and_then(|k| levels.iter().position(|l| *l == own[k as usize])) {
                            x[[r, at + k]] = 1.0;
                        }
                    }
                    at += levels.len();
                }
                _ => return Err(format!("column '{name}' differs in kind between the tables")),
            }
        }
        Ok((x, rows.iter().map(|&i| y[i].unwrap_or(0)).collect()))
    }
}

/// Macro-F1 over the classes in truth or prediction (scikit-learn's `average="macro"`, zero
/// when a class is never predicted) and recall per class present in the truth.
fn scores(truth: &Array1<usize>, pred: &Array1<usize>, classes: &[String], train_rows: usize) -> Scores {
    let k = classes.len();
    let (mut tp, mut fp, mut fn_) = (vec![0usize; k], vec![0usize; k], vec![0usize; k]);
    for (&t, &p) in truth.iter().zip(pred) {
        if t == p {
            tp[t] += 1;
        } else {
            fp[p] += 1;
            fn_[t] += 1;
        }
    }
    let mut f1s = vec![];
    let mut recall = BTreeMap::new();
    for c in 0..k {
        if tp[c] + fp[c] + fn_[c] == 0 {
            continue;
        }
        let p = if tp[c] + fp[c] == 0 { 0.0 } else { tp[c] as f64 / (tp[c] + fp[c]) as f64 };
        let r = if tp[c] + fn_[c] == 0 { 0.0 } else { tp[c] as f64 / (tp[c] + fn_[c]) as f64 };
        f1s.push(if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) });
        if tp[c] + fn_[c] > 0 {
            recall.insert(classes[c].clone(), r);
        }
    }
    let macro_f1 = if f1s.is_empty() { 0.0 } else { f1s.iter().sum::<f64>() / f1s.len() as f64 };
    Scores { train_rows, macro_f1, recall }
}

fn fit_score(
    x: Array2<f64>,
    y: Array1<usize>,
    test: &(Array2<f64>, Array1<usize>),
    classes: &[String],
) -> Result<Scores, String> {
    let n = y.len();
    if n == 0 {
        return Err("no training rows with a label".into());
    }
    let data = Dataset::new(x, y);
    let tree = DecisionTree::params().max_depth(Some(12)).fit(&data).map_err(|e| e.to_string())?;
    let pred = tree.predict(&test.0);
    Ok(scores(&test.1, &pred, classes, n))
}

/// Trains the decision tree on `train`, on `synthetic` and on both, and tests each on `test`.
pub fn usefulness(train: &Table, synthetic: &Table, test: &Table, label: &str) -> Result<Usefulness, String> {
    let layout = Layout::of(train, label)?;
    let (xr, yr) = layout.matrix(train, label)?;
    let (xs, ys) = layout.matrix(synthetic, label)?;
    let te = layout.matrix(test, label)?;
    if te.1.is_empty() {
        return Err("no test rows with a label".into());
    }
    let mut xb = Array2::<f64>::zeros((xr.nrows() + xs.nrows(), layout.width()));
    xb.slice_mut(ndarray::s![..xr.nrows(), ..]).assign(&xr);
    xb.slice_mut(ndarray::s![xr.nrows().., ..]).assign(&xs);
    let yb: Array1<usize> = yr.iter().chain(ys.iter()).copied().collect();
    let mut counts = vec![0usize; layout.classes.len()];
    for &c in yr.iter() {
        counts[c] += 1;
    }
    let mut sorted = counts.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let rare_classes =
        layout.classes.iter().zip(&counts).filter(|(_, n)| **n < median).map(|(c, _)| c.clone()).collect();
    let mut test_class_counts = BTreeMap::new();
    for &c in te.1.iter() {
        *test_class_counts.entry(layout.classes[c].clone()).or_insert(0) += 1;
    }
    Ok(Usefulness {
        label: label.to_string(),
        classifier: "linfa-trees DecisionTree (Gini, max depth 12)".into(),
        test_rows: te.1.len(),
        test_class_counts,
        rare_classes,
        train_real: fit_score(xr, yr, &te, &layout.classes)?,
        train_synthetic: fit_score(xs, ys, &te, &layout.classes)?,
        train_real_plus_synthetic: fit_score(xb, yb, &te, &layout.classes)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::table::Column;

    #[test]
    fn macro_f1_and_recall_match_scikit_learn() {
        // sklearn.metrics.f1_score([0,0,1,1,2,2], [0,1,1,1,0,2], average="macro") = 0.6555555555555556
        // recall_score(..., average=None) = [0.5, 1.0, 0.5]
        let t = Array1::from(vec![0, 0, 1, 1, 2, 2]);
        let p = Array1::from(vec![0, 1, 1, 1, 0, 2]);
        let s = scores(&t, &p, &["a".into(), "b".into(), "c".into()], 6);
        assert!((s.macro_f1 - 0.6555555555555556).abs() < 1e-12, "{}", s.macro_f1);
        assert_eq!(s.recall["a"], 0.5);
        assert_eq!(s.recall["b"], 1.0);
        assert_eq!(s.recall["c"], 0.5);
    }

    fn separable(n: usize, flip: bool) -> Table {
        // x spans 0..200 whatever n, the classes split at 100
        let x: Vec<f64> = (0..n).map(|i| i as f64 * 200.0 / n as f64).collect();
        let labels: Vec<Option<&str>> = (0..n).map(|i| Some(if (i < n / 2) != flip { "ok" } else { "dent" })).collect();
        Table::new(vec![Column::continuous("x", x), Column::categorical_from_labels("defect", &labels)])
    }

    #[test]
    fn faithful_rows_are_useful_and_mislabelled_rows_are_not() {
        let train = separable(200, false);
        let test = separable(100, false);
        let good = usefulness(&train, &separable(200, false), &test, "defect").unwrap();
        assert!(good.train_real.macro_f1 > 0.95);
        assert!(good.train_synthetic.macro_f1 > 0.95);
        let bad = usefulness(&train, &separable(200, true), &test, "defect").unwrap();
        assert!(bad.train_synthetic.macro_f1 < 0.1, "{}", bad.train_synthetic.macro_f1);
        assert_eq!(bad.test_rows, 100);
        assert!(usefulness(&train, &separable(200, false), &test, "x").is_err());
    }
}
