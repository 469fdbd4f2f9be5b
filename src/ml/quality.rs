//! How good and how private a synthetic table is, measured against the real one: SDMetrics'
//! QualityReport (Column Shapes, Column Pair Trends), its LogisticDetection, and distances to the
//! closest real record. Definitions follow SDMetrics 0.32 so the numbers agree with it.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ml::table::{Column, ColumnData, ColumnKind, Table};

/// A numeric pair counts towards Column Pair Trends only when |Pearson r| of the real data exceeds
/// this (SDMetrics' `DEFAULT_REAL_CORRELATION_THRESHOLD`).
pub const REAL_CORRELATION_THRESHOLD: f64 = 0.5;
/// A pair with a discrete side counts only when Cramér's V of the real data exceeds this
/// (SDMetrics' `DEFAULT_REAL_ASSOCIATION_THRESHOLD`).
pub const REAL_ASSOCIATION_THRESHOLD: f64 = 0.3;
/// Folds of the detection classifier's cross-validation (SDMetrics' `StratifiedKFold(n_splits=3)`).
pub const DETECTION_FOLDS: usize = 3;

/// Bins SDMetrics cuts a numeric column into when pairing it with a discrete one.
const PAIR_BINS: usize = 10;
/// KSComplement rounds values to 14 decimals (`sys.float_info.dig - 1`) before the test.
const KS_ROUNDING: f64 = 1e14;
/// Key of a missing cell in contingency tables (codes and bin numbers are far below it).
const MISSING: u32 = u32::MAX;
/// sklearn's default inverse regularisation strength for `LogisticRegression`.
const LOGISTIC_C: f64 = 1.0;
const NEWTON_MAX_STEPS: usize = 100;
/// Newton stops when every gradient entry is below this times the number of rows.
const NEWTON_GRAD_TOL: f64 = 1e-12;
const CONSTANT_ERROR_TAIL: &str = "contains a constant value. Correlation is undefined for constant data.";

/// Which of the compared tables a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableRole {
    Real,
    Synthetic,
    Holdout,
}

impl fmt::Display for TableRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TableRole::Real => "real",
            TableRole::Synthetic => "synthetic",
            TableRole::Holdout => "holdout",
        })
    }
}

/// Why two or three tables cannot be compared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QualityError {
    #[error("the real table has no columns")]
    NoColumns,
    #[error("column '{column}' differs between the real and {table} tables: {reason}")]
    ColumnMismatch { table: TableRole, column: String, reason: String },
    #[error("column '{column}' of the {table} table has {len} rows but its first column has {expected}")]
    RaggedColumn { table: TableRole, column: String, len: usize, expected: usize },
    #[error("column '{column}' of the {table} table is {kind:?} but holds {data} data")]
    KindMismatch { table: TableRole, column: String, kind: ColumnKind, data: &'static str },
    #[error("column '{column}' of the {table} table has code {code} but only {levels} level(s)")]
    BadCode { table: TableRole, column: String, code: u32, levels: usize },
    #[error("column '{column}' of the {table} table has an infinite value; use NaN for missing")]
    InfiniteValue { table: TableRole, column: String },
    #[error("the {table} table has {rows} row(s); it needs at least {needed}")]
    TooFewRows { table: TableRole, rows: usize, needed: usize },
}

/// Everything measured about a synthetic table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// SDMetrics' overall quality score: the mean of the property scores that exist.
    pub quality: Option<f64>,
    pub column_shapes: ColumnShapes,
    pub column_pair_trends: ColumnPairTrends,
    pub detection: Detection,
    pub privacy: Privacy,
}

/// SDMetrics' Column Shapes property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnShapes {
    /// Mean of the column scores that exist.
    pub score: Option<f64>,
    pub details: Vec<ColumnShape>,
}

/// One column's shape score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnShape {
    pub column: String,
    pub metric: ShapeMetric,
    /// `None` when a table has no value in this column.
    pub score: Option<f64>,
    pub error: Option<String>,
}

/// The per-column metric: KS for numeric columns, total variation for discrete ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShapeMetric {
    KSComplement,
    TVComplement,
}

/// SDMetrics' Column Pair Trends property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnPairTrends {
    /// Mean score of the pairs that meet the relevance thresholds; `None` if none does.
    pub score: Option<f64>,
    pub real_correlation_threshold: f64,
    pub real_association_threshold: f64,
    pub details: Vec<ColumnPairTrend>,
}

/// One column pair's trend score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnPairTrend {
    pub column_1: String,
    pub column_2: String,
    pub metric: PairMetric,
    /// `None` when the pair is below its threshold or cannot be computed (see `error`).
    pub score: Option<f64>,
    pub real_correlation: Option<f64>,
    pub synthetic_correlation: Option<f64>,
    /// Cramér's V of the real pair (contingency pairs only).
    pub real_association: Option<f64>,
    /// Whether the pair counts towards the property score.
    pub meets_threshold: bool,
    pub error: Option<String>,
}

/// The per-pair metric: Pearson for two numeric columns, contingency tables otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairMetric {
    CorrelationSimilarity,
    ContingencySimilarity,
}

/// SDMetrics' LogisticDetection: 1 when a classifier cannot tell synthetic rows from real ones.
/// Like SDMetrics, it leaves boolean columns out of the classifier's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub score: f64,
    /// ROC AUC of each cross-validation fold (real rows are the positive class).
    pub fold_auc: Vec<f64>,
    /// Width of the classifier's design matrix.
    pub n_features: usize,
}

/// Distance to closest record (DCR), as /work/shared/bench/synth_quality.py measures it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Privacy {
    /// Numeric columns the distances use, each standardised by the real table's mean and std.
    pub distance_columns: Vec<String>,
    /// Median Euclidean distance from a synthetic row to its nearest real row.
    pub dcr_median_syn: Option<f64>,
    /// Median distance from a holdout row to its nearest real row.
    pub dcr_median_holdout: Option<f64>,
    /// 5th percentile of the holdout distances.
    pub dcr_holdout_p5: Option<f64>,
    /// Share of synthetic rows closer to the real rows than 95 % of genuine unseen rows are.
    pub share_syn_below_holdout_p5: Option<f64>,
    /// Synthetic rows equal to some real row in every column (missing matches missing).
    pub exact_copies: usize,
}

/// Cells of one column in the real and the synthetic table.
#[derive(Debug, Clone, Copy)]
enum Cells<'a> {
    Numeric { real: &'a [f64], synth: &'a [f64] },
    Discrete { real: &'a [Option<u32>], synth: &'a [Option<u32>], levels: &'a [String] },
}

#[derive(Debug, Clone, Copy)]
struct PairedColumn<'a> {
    name: &'a str,
    kind: ColumnKind,
    cells: Cells<'a>,
}

/// A real and a synthetic table checked to have the same columns; every metric starts here.
#[derive(Debug, Clone)]
pub struct Comparison<'a> {
    real: &'a Table,
    columns: Vec<PairedColumn<'a>>,
}

impl<'a> Comparison<'a> {
    /// Checks both tables and that the synthetic one has the real one's columns, in order.
    pub fn new(real: &'a Table, synth: &'a Table) -> Result<Self, QualityError> {
        if real.columns.is_empty() {
            return Err(QualityError::NoColumns);
        }
        check_table(real, TableRole::Real, DETECTION_FOLDS)?;
        check_table(synth, TableRole::Synthetic, DETECTION_FOLDS)?;
        check_same_columns(real, synth, TableRole::Synthetic)?;
        let columns = real
            .columns
            .iter()
            .zip(&synth.columns)
            .map(|(r, s)| {
                let cells = match (&r.data, &s.data) {
                    (ColumnData::Numeric(real), ColumnData::Numeric(synth)) => Cells::Numeric { real, synth },
                    (ColumnData::Categorical { codes: real, levels }, ColumnData::Categorical { codes: synth, .. }) => {
                        Cells::Discrete { real, synth, levels }
                    }
                    // not reached: kinds match and each table's data match its kinds
                    _ => {
                        return Err(QualityError::ColumnMismatch {
                            table: TableRole::Synthetic,
                            column: r.name.clone(),
                            reason: "it holds numeric data in one table and categorical in the other".to_string(),
                        })
                    }
                };
                Ok(PairedColumn { name: &r.name, kind: r.kind, cells })
            })
            .collect::<Result<_, _>>()?;
        Ok(Comparison { real, columns })
    }

    /// KSComplement or TVComplement of every column, and their mean.
    pub fn column_shapes(&self) -> ColumnShapes {
        let details: Vec<ColumnShape> = self
            .columns
            .iter()
            .map(|c| match c.cells {
                Cells::Numeric { real, synth } => ColumnShape {
                    column: c.name.to_string(),
                    metric: ShapeMetric::KSComplement,
                    score: ks_complement(real, synth),
                    error: None,
                },
                Cells::Discrete { real, synth, levels } => {
                    let score = tv_complement(real, synth, levels.len());
                    ColumnShape {
                        column: c.name.to_string(),
                        metric: ShapeMetric::TVComplement,
                        score,
                        error: score.is_none().then(|| {
                            "IncomputableMetricError: The TVComplement metric must have 1 or more non-null values."
                                .to_string()
                        }),
                    }
                }
            })
            .collect();
        ColumnShapes { score: mean_of(details.iter().filter_map(|d| d.score)), details }
    }

    /// CorrelationSimilarity or ContingencySimilarity of every column pair, and the mean over the
    /// pairs whose real data meet the relevance thresholds.
    pub fn column_pair_trends(&self) -> ColumnPairTrends {
        // Contingency keys of every column, real then synthetic. SDMetrics bins each table's
        // numeric columns on that table's own range.
        let keys: Vec<(Vec<u32>, Vec<u32>)> = self
            .columns
            .iter()
            .map(|c| match c.cells {
                Cells::Numeric { real, synth } => (discretize(real), discretize(synth)),
                Cells::Discrete { real, synth, .. } => (discrete_keys(real), discrete_keys(synth)),
            })
            .collect();
        let mut details = Vec::new();
        for i in 0..self.columns.len() {
            for j in i + 1..self.columns.len() {
                let (a, b) = (&self.columns[i], &self.columns[j]);
                let (metric, outcome) = match (a.cells, b.cells) {
                    (Cells::Numeric { real: ra, synth: sa }, Cells::Numeric { real: rb, synth: sb }) => (
                        PairMetric::CorrelationSimilarity,
                        correlation_similarity([a.name, b.name], [ra, rb], [sa, sb]),
                    ),
                    _ => {
                        let ((ra, sa), (rb, sb)) = (&keys[i], &keys[j]);
                        (PairMetric::ContingencySimilarity, contingency_similarity([ra, rb], [sa, sb]))
                    }
                };
                details.push(ColumnPairTrend {
                    column_1: a.name.to_string(),
                    column_2: b.name.to_string(),
                    metric,
                    score: outcome.score,
                    real_correlation: outcome.real_correlation,
                    synthetic_correlation: outcome.synthetic_correlation,
                    real_association: outcome.real_association,
                    meets_threshold: outcome.meets_threshold,
                    error: outcome.error,
                });
            }
        }
        let score = mean_of(details.iter().filter(|d| d.meets_threshold).filter_map(|d| d.score));
        ColumnPairTrends {
            score,
            real_correlation_threshold: REAL_CORRELATION_THRESHOLD,
            real_association_threshold: REAL_ASSOCIATION_THRESHOLD,
            details,
        }
    }

    /// LogisticDetection with folds shuffled by a ChaCha stream of `seed`.
    pub fn detection(&self, seed: u64) -> Detection {
        let (n_real, n_synth) = self.n_rows();
        let folds = stratified_folds(n_real, n_synth, DETECTION_FOLDS, &mut ChaCha8Rng::seed_from_u64(seed));
        self.detection_on_folds(&folds)
    }

    /// Distances to closest record of the synthetic rows and, if given, of a real holdout table
    /// that the generator never saw, plus the count of exact copies.
    pub fn privacy(&self, holdout: Option<&Table>) -> Result<Privacy, QualityError> {
        if let Some(h) = holdout {
            check_table(h, TableRole::Holdout, 1)?;
            check_same_columns(self.real, h, TableRole::Holdout)?;
        }
        let (n_real, n_synth) = self.n_rows();
        let numeric: Vec<usize> =
            (0..self.columns.len()).filter(|&i| matches!(self.columns[i].cells, Cells::Numeric { .. })).collect();
        let d = numeric.len();
        let mut privacy = Privacy {
            distance_columns: numeric.iter().map(|&i| self.columns[i].name.to_string()).collect(),
            dcr_median_syn: None,
            dcr_median_holdout: None,
            dcr_holdout_p5: None,
            share_syn_below_holdout_p5: None,
            exact_copies: self.exact_copies(),
        };
        if d == 0 {
            return Ok(privacy);
        }
        // row-major standardised matrices; missing cells sit at the real mean (0)
        let n_hold = holdout.map_or(0, Table::n_rows);
        let (mut real_z, mut synth_z, mut hold_z) =
            (vec![0.0; n_real * d], vec![0.0; n_synth * d], vec![0.0; n_hold * d]);
        for (k, &i) in numeric.iter().enumerate() {
            let Cells::Numeric { real, synth } = self.columns[i].cells else { continue };
            let (mean, sd) = mean_and_std(real);
            let sd = if sd == 0.0 { 1.0 } else { sd };
            let z = |x: f64| Some((x - mean) / sd).filter(|z| z.is_finite()).unwrap_or(0.0);
            let holdout_cells = holdout.and_then(|h| h.columns[i].numeric()).unwrap_or(&[]);
            for (matrix, cells) in [(&mut real_z, real), (&mut synth_z, synth), (&mut hold_z, holdout_cells)] {
                for (row, &x) in cells.iter().enumerate() {
                    matrix[row * d + k] = z(x);
                }
            }
        }
        let syn_dcr = nearest_distances(&synth_z, &real_z, d);
        privacy.dcr_median_syn = median(&syn_dcr);
        if holdout.is_some() {
            let hold_dcr = nearest_distances(&hold_z, &real_z, d);
            let p5 = percentile(&hold_dcr, 5.0);
            privacy.dcr_median_holdout = median(&hold_dcr);
            privacy.dcr_holdout_p5 = p5;
            privacy.share_syn_below_holdout_p5 =
                p5.map(|p5| syn_dcr.iter().filter(|&&x| x < p5).count() as f64 / syn_dcr.len() as f64);
        }
        Ok(privacy)
    }

    fn n_rows(&self) -> (usize, usize) {
        match self.columns[0].cells {
            Cells::Numeric { real, synth } => (real.len(), synth.len()),
            Cells::Discrete { real, synth, .. } => (real.len(), synth.len()),
        }
    }

    /// Synthetic rows equal to a real row in every cell.
    fn exact_copies(&self) -> usize {
        let (n_real, n_synth) = self.n_rows();
        let key = |row: usize, synthetic: bool| -> Vec<u64> {
            self.columns
                .iter()
                .map(|c| match c.cells {
                    Cells::Numeric { real, synth } => {
                        let x = if synthetic { synth[row] } else { real[row] };
                        // one key for every NaN and for both zeros, so "equal" means equal value
                        if x.is_nan() {
                            u64::MAX
                        } else if x == 0.0 {
                            0
                        } else {
                            x.to_bits()
                        }
                    }
                    Cells::Discrete { real, synth, .. } => {
                        let code = if synthetic { synth[row] } else { real[row] };
                        code.map_or(u64::MAX, u64::from)
                    }
                })
                .collect()
        };
        let real_rows: HashSet<Vec<u64>> = (0..n_real).map(|r| key(r, false)).collect();
        (0..n_synth).filter(|&r| real_rows.contains(&key(r, true))).count()
    }

    /// SDMetrics' detection design: the real table's HyperTransformer (numeric cells with missing
    /// values set to the real mean, categoricals one-hot over the real table's categories in sorted
    /// order with missing last, appended after the numeric columns), real rows then synthetic
    /// rows, label 1 for real. Boolean columns are left out, as SDMetrics drops every sdtype but
    /// numerical, datetime and categorical.
    fn detection_design(&self) -> (Array2<f64>, Array1<f64>) {
        let (n_real, n_synth) = self.n_rows();
        let n = n_real + n_synth;
        let mut features: Vec<Vec<f64>> = Vec::new();
        for c in &self.columns {
            if let Cells::Numeric { real, synth } = c.cells {
                let (mean, _) = mean_and_std(real);
                // an all-missing real column stays NaN in SDMetrics and its imputer drops it
                if mean.is_nan() {
                    continue;
                }
                let fill = |x: f64| if x.is_nan() { mean } else { x };
                features.push(real.iter().chain(synth).map(|&x| fill(x)).collect());
            }
        }
        for c in &self.columns {
            if let (ColumnKind::Categorical, Cells::Discrete { real, synth, levels }) = (c.kind, c.cells) {
                let mut seen: Vec<Option<u32>> = real.iter().copied().collect::<HashSet<_>>().into_iter().collect();
                let sort_key = |code: &Option<u32>| (code.is_none(), code.map(|k| levels[k as usize].as_str()));
                seen.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
                // a level only the synthetic table uses encodes as all zeros (sklearn would raise)
                for category in seen {
                    features
                        .push(real.iter().chain(synth).map(|&code| f64::from(u8::from(code == category))).collect());
                }
            }
        }
        let mut x = Array2::zeros((n, features.len()));
        for (j, f) in features.iter().enumerate() {
            x.column_mut(j).assign(&ArrayView1::from(f.as_slice()));
        }
        let y = Array1::from_iter((0..n).map(|i| if i < n_real { 1.0 } else { 0.0 }));
        (x, y)
    }

    /// LogisticDetection on given folds: per fold, RobustScaler and an L2 logistic regression
    /// fitted on the other folds, ROC AUC on this one; score 1 - mean(max(AUC, 0.5) * 2 - 1).
    fn detection_on_folds(&self, folds: &[usize]) -> Detection {
        let (x, y) = self.detection_design();
        let k = folds.iter().max().map_or(0, |m| m + 1);
        let fold_auc: Vec<f64> = (0..k)
            .map(|fold| {
                let train: Vec<usize> = (0..folds.len()).filter(|&i| folds[i] != fold).collect();
                let test: Vec<usize> = (0..folds.len()).filter(|&i| folds[i] == fold).collect();
                let x_train = x.select(Axis(0), &train);
                let scaler = RobustScaler::fit(x_train.view());
                let x_train = scaler.transform(x_train.view());
                let model = LogisticModel::fit(x_train.view(), y.select(Axis(0), &train).view(), LOGISTIC_C);
                let p = model.predict_proba(scaler.transform(x.select(Axis(0), &test).view()).view());
                let positive: Vec<bool> = test.iter().map(|&i| y[i] == 1.0).collect();
                roc_auc(&p.to_vec(), &positive)
            })
            .collect();
        let mean_lift = fold_auc.iter().map(|auc| auc.max(0.5) * 2.0 - 1.0).sum::<f64>() / k as f64;
        Detection { score: 1.0 - mean_lift, fold_auc, n_features: x.ncols() }
    }
}

/// Quality, detection and privacy of `synth` against `real`; `holdout` is real data the generator
/// never saw, the yardstick for "too close" distances.
pub fn report(real: &Table, synth: &Table, holdout: Option<&Table>, seed: u64) -> Result<QualityReport, QualityError> {
    let cmp = Comparison::new(real, synth)?;
    let privacy = cmp.privacy(holdout)?;
    let column_shapes = cmp.column_shapes();
    let column_pair_trends = cmp.column_pair_trends();
    let quality = mean_of([column_shapes.score, column_pair_trends.score].into_iter().flatten());
    Ok(QualityReport { quality, column_shapes, column_pair_trends, detection: cmp.detection(seed), privacy })
}

/// 1 - the two-sample Kolmogorov–Smirnov statistic, missing values dropped; `None` if a side has
/// no value (SDMetrics' KSComplement).
pub fn ks_complement(real: &[f64], synth: &[f64]) -> Option<f64> {
    let prepare = |v: &[f64]| {
        let mut v: Vec<f64> = v.iter().filter(|x| !x.is_nan()).map(|&x| round_like_sdmetrics(x)).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (a, b) = (prepare(real), prepare(synth));
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0_f64);
    // both empirical CDFs at every observed value, as scipy's ks_2samp evaluates them
    while i < a.len() || j < b.len() {
        let v = if j == b.len() || (i < a.len() && a[i] <= b[j]) { a[i] } else { b[j] };
        while i < a.len() && a[i] <= v {
            i += 1;
        }
        while j < b.len() && b[j] <= v {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    Some(1.0 - d)
}

/// pandas' `round(14)`: scale, round half to even, unscale.
fn round_like_sdmetrics(x: f64) -> f64 {
    let scaled = (x * KS_ROUNDING).round_ties_even();
    if scaled.is_finite() {
        scaled / KS_ROUNDING
    } else {
        x
    }
}

/// 1 - total variation distance of the level frequencies, missing values dropped; `None` if a
/// side has no value (SDMetrics' TVComplement). Like SDMetrics, a level only the synthetic table
/// uses gets a real count of 1e-6.
pub fn tv_complement(real: &[Option<u32>], synth: &[Option<u32>], n_levels: usize) -> Option<f64> {
    let (rc, sc) = (level_counts(real, n_levels), level_counts(synth, n_levels));
    let synth_total = sc.iter().sum::<usize>() as f64;
    if synth_total == 0.0 || rc.iter().all(|&c| c == 0) {
        return None;
    }
    let real_w: Vec<f64> = rc.iter().zip(&sc).map(|(&r, &s)| if r == 0 && s > 0 { 1e-6 } else { r as f64 }).collect();
    let real_total: f64 = real_w.iter().sum();
    let tv: f64 = real_w
        .iter()
        .zip(&sc)
        .filter(|(&r, _)| r > 0.0)
        .map(|(&r, &s)| (s as f64 / synth_total - r / real_total).abs())
        .sum();
    Some(1.0 - 0.5 * tv)
}

fn level_counts(codes: &[Option<u32>], n_levels: usize) -> Vec<usize> {
    let mut counts = vec![0; n_levels];
    for &c in codes.iter().flatten() {
        counts[c as usize] += 1;
    }
    counts
}

/// Result of one pair metric, with SDMetrics' threshold bookkeeping.
#[derive(Debug, Clone, PartialEq, Default)]
struct PairOutcome {
    score: Option<f64>,
    real_correlation: Option<f64>,
    synthetic_correlation: Option<f64>,
    real_association: Option<f64>,
    meets_threshold: bool,
    error: Option<String>,
}

/// SDMetrics' CorrelationSimilarity, 1 - |r_real - r_synth| / 2, with its constant-column error
/// and the real-correlation threshold of the QualityReport.
fn correlation_similarity(names: [&str; 2], real: [&[f64]; 2], synth: [&[f64]; 2]) -> PairOutcome {
    for (table, cols) in [("real data", real), ("synthetic data", synth)] {
        let constant: Vec<&str> = (0..2).filter(|&k| is_constant(cols[k])).map(|k| names[k]).collect();
        let error = match constant.as_slice() {
            [] => None,
            [one] => Some(format!("ConstantInputError: The {table} in column '{one}' {CONSTANT_ERROR_TAIL}")),
            many => {
                Some(format!("ConstantInputError: The {table} in columns '{}' {CONSTANT_ERROR_TAIL}", many.join(", ")))
            }
        };
        if error.is_some() {
            return PairOutcome { error, ..PairOutcome::default() };
        }
    }
    let r_real = match pearson(real[0], real[1]) {
        Ok(r) => r,
        Err(error) => return PairOutcome { error: Some(error), ..PairOutcome::default() },
    };
    if r_real.abs() <= REAL_CORRELATION_THRESHOLD {
        return PairOutcome { real_correlation: Some(r_real), ..PairOutcome::default() };
    }
    let r_synth = match pearson(synth[0], synth[1]) {
        Ok(r) => r,
        Err(error) => return PairOutcome { error: Some(error), ..PairOutcome::default() },
    };
    let meets_threshold = !r_real.is_nan();
    let score = (!r_real.is_nan() && !r_synth.is_nan()).then(|| 1.0 - (r_real - r_synth).abs() / 2.0);
    PairOutcome {
        score,
        real_correlation: finite(r_real),
        synthetic_correlation: finite(r_synth),
        meets_threshold,
        ..PairOutcome::default()
    }
}

/// Exactly one distinct non-missing value (pandas' `nunique() == 1`).
fn is_constant(v: &[f64]) -> bool {
    let mut present = v.iter().filter(|x| !x.is_nan());
    match present.next() {
        Some(&first) => present.all(|&x| x == first),
        None => false,
    }
}

/// scipy's Pearson r over the rows where both cells are present; NaN if a side is constant.
fn pearson(x: &[f64], y: &[f64]) -> Result<f64, String> {
    let (x, y): (Vec<f64>, Vec<f64>) = x.iter().zip(y).filter(|(a, b)| !a.is_nan() && !b.is_nan()).unzip();
    let n = x.len();
    if n < 2 {
        return Err("ValueError: `x` and `y` must have length at least 2.".to_string());
    }
    if is_constant(&x) || is_constant(&y) {
        return Ok(f64::NAN);
    }
    let centred = |v: &[f64]| -> Vec<f64> {
        let mean = v.iter().sum::<f64>() / n as f64;
        let c: Vec<f64> = v.iter().map(|a| a - mean).collect();
        // scipy scales by the largest deviation before taking the norm, against overflow
        let max = c.iter().fold(0.0_f64, |m, a| m.max(a.abs()));
        let norm = max * c.iter().map(|a| (a / max).powi(2)).sum::<f64>().sqrt();
        c.into_iter().map(|a| a / norm).collect()
    };
    let r: f64 = centred(&x).iter().zip(centred(&y)).map(|(a, b)| a * b).sum::<f64>().clamp(-1.0, 1.0);
    Ok(if n == 2 { r.round() } else { r })
}

/// SDMetrics' ContingencySimilarity, 1 - half the L1 distance of the joint frequencies (missing is
/// a category of its own), counted only when the real Cramér's V exceeds its threshold.
fn contingency_similarity(real: [&[u32]; 2], synth: [&[u32]; 2]) -> PairOutcome {
    let rc = joint_counts(real);
    let Some(v) = cramers_v(&rc) else {
        return PairOutcome::default();
    };
    if v <= REAL_ASSOCIATION_THRESHOLD {
        return PairOutcome { real_association: Some(v), ..PairOutcome::default() };
    }
    let sc = joint_counts(synth);
    let (nr, ns) = (real[0].len() as f64, synth[0].len() as f64);
    let mut keys: Vec<&(u32, u32)> = rc.keys().chain(sc.keys()).collect();
    keys.sort();
    keys.dedup();
    let variation: f64 = keys
        .iter()
        .map(|k| {
            let p = rc.get(k).map_or(0.0, |&c| c as f64 / nr);
            let q = sc.get(k).map_or(0.0, |&c| c as f64 / ns);
            (p - q).abs() / 2.0
        })
        .sum();
    PairOutcome { score: Some(1.0 - variation), real_association: Some(v), meets_threshold: true, ..Default::default() }
}

fn joint_counts(cols: [&[u32]; 2]) -> BTreeMap<(u32, u32), usize> {
    let mut counts = BTreeMap::new();
    for (&a, &b) in cols[0].iter().zip(cols[1]) {
        *counts.entry((a, b)).or_insert(0) += 1;
    }
    counts
}

/// Cramér's V without continuity correction (scipy's `association(method="cramer")`) of the table
/// of observed categories; `None` if a side has a single category.
fn cramers_v(counts: &BTreeMap<(u32, u32), usize>) -> Option<f64> {
    let (mut rows, mut cols) = (BTreeMap::new(), BTreeMap::new());
    for (&(a, b), &c) in counts {
        *rows.entry(a).or_insert(0.0) += c as f64;
        *cols.entry(b).or_insert(0.0) += c as f64;
    }
    if rows.len() < 2 || cols.len() < 2 {
        return None;
    }
    let total: f64 = rows.values().sum();
    let mut chi2 = 0.0;
    for (a, r) in &rows {
        for (b, c) in &cols {
            let expected = r * c / total;
            let observed = counts.get(&(*a, *b)).map_or(0.0, |&o| o as f64);
            chi2 += (observed - expected).powi(2) / expected;
        }
    }
    Some((chi2 / total / (rows.len().min(cols.len()) - 1) as f64).sqrt())
}

/// Bin numbers as SDMetrics' ColumnPairTrends makes them: `np.digitize` against
/// `np.histogram_bin_edges` (10 equal bins over this table's own observed range, or [0, 1] if
/// nothing is observed). The maximum and missing cells both land in bin 11, as in NumPy.
fn discretize(v: &[f64]) -> Vec<u32> {
    let present = v.iter().filter(|x| !x.is_nan());
    let (lo, hi) = present
        .fold(None, |acc: Option<(f64, f64)>, &x| match acc {
            None => Some((x, x)),
            Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
        })
        .unwrap_or((0.0, 1.0));
    let (lo, hi) = if lo == hi { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
    // np.linspace: i * step + start, with the last edge set to stop exactly
    let step = (hi - lo) / PAIR_BINS as f64;
    let edges: Vec<f64> = (0..=PAIR_BINS).map(|i| if i == PAIR_BINS { hi } else { i as f64 * step + lo }).collect();
    v.iter().map(|&x| if x.is_nan() { edges.len() as u32 } else { edges.partition_point(|&e| e <= x) as u32 }).collect()
}

fn discrete_keys(codes: &[Option<u32>]) -> Vec<u32> {
    codes.iter().map(|c| c.unwrap_or(MISSING)).collect()
}

/// sklearn's `StratifiedKFold(shuffle=True)` test fold of each row, for `n_real` real rows
/// followed by `n_synth` synthetic ones: per-class fold sizes are dealt from the sorted labels,
/// then each class's fold labels are shuffled (here by ChaCha instead of NumPy's global RNG).
fn stratified_folds(n_real: usize, n_synth: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    // rows per fold of each class: fold f takes the labels at f, f + k, ... of the sorted labels
    let mut allocation = [vec![0usize; k], vec![0usize; k]];
    for i in 0..n_real + n_synth {
        allocation[usize::from(i >= n_real)][i % k] += 1;
    }
    let mut folds = Vec::with_capacity(n_real + n_synth);
    for per_fold in &allocation {
        let mut class_folds: Vec<usize> =
            per_fold.iter().enumerate().flat_map(|(fold, &n)| std::iter::repeat_n(fold, n)).collect();
        class_folds.shuffle(rng);
        folds.extend(class_folds);
    }
    folds
}

/// sklearn's RobustScaler: subtract the median, divide by the interquartile range (1 if zero).
struct RobustScaler {
    center: Array1<f64>,
    scale: Array1<f64>,
}

impl RobustScaler {
    fn fit(x: ArrayView2<f64>) -> Self {
        let stats: Vec<(f64, f64)> = x
            .columns()
            .into_iter()
            .map(|c| {
                let v = c.to_vec();
                let (q1, q3) = (percentile(&v, 25.0).unwrap_or(0.0), percentile(&v, 75.0).unwrap_or(0.0));
                let iqr = q3 - q1;
                (median(&v).unwrap_or(0.0), if iqr < 10.0 * f64::EPSILON { 1.0 } else { iqr })
            })
            .collect();
        RobustScaler { center: stats.iter().map(|s| s.0).collect(), scale: stats.iter().map(|s| s.1).collect() }
    }

    fn transform(&self, x: ArrayView2<f64>) -> Array2<f64> {
        (&x - &self.center) / &self.scale
    }
}

// The classifier is written here rather than taken from linfa-logistic: that crate would bring
// argmin 0.10 next to the argmin 0.11 the optimizers use (a second copy of the graph and its
// compile time on 2 cores), while a binary L2 logistic regression solved by Newton is 40 lines.

/// sklearn's L2 logistic regression objective, Σ log-loss + |w|² / (2C) with a free intercept;
/// the parameters are `theta = [w, b]`.
struct LogisticProblem<'a> {
    x: ArrayView2<'a, f64>,
    y: ArrayView1<'a, f64>,
    inv_c: f64,
}

impl LogisticProblem<'_> {
    fn margins(&self, theta: &Array1<f64>) -> Array1<f64> {
        let d = self.x.ncols();
        self.x.dot(&theta.slice(s![..d])) + theta[d]
    }

    fn cost(&self, theta: &Array1<f64>) -> f64 {
        let d = self.x.ncols();
        let loss: f64 = self.margins(theta).iter().zip(self.y).map(|(&z, &y)| softplus(z) - y * z).sum();
        loss + 0.5 * self.inv_c * theta.slice(s![..d]).dot(&theta.slice(s![..d]))
    }

    fn gradient(&self, theta: &Array1<f64>) -> Array1<f64> {
        let d = self.x.ncols();
        let residual = self.margins(theta).mapv(sigmoid) - self.y;
        let mut g = Array1::zeros(d + 1);
        g.slice_mut(s![..d]).assign(&(self.x.t().dot(&residual) + self.inv_c * &theta.slice(s![..d])));
        g[d] = residual.sum();
        g
    }

    fn hessian(&self, theta: &Array1<f64>) -> Array2<f64> {
        let d = self.x.ncols();
        let weight = self.margins(theta).mapv(|z| sigmoid(z) * (1.0 - sigmoid(z)));
        let xw = &self.x * &weight.view().insert_axis(Axis(1));
        let mut h = Array2::zeros((d + 1, d + 1));
        h.slice_mut(s![..d, ..d]).assign(&(self.x.t().dot(&xw) + Array2::<f64>::eye(d) * self.inv_c));
        let cross = xw.sum_axis(Axis(0));
        h.slice_mut(s![d, ..d]).assign(&cross);
        h.slice_mut(s![..d, d]).assign(&cross);
        h[[d, d]] = weight.sum();
        h
    }
}

/// A fitted logistic regression.
struct LogisticModel {
    weights: Array1<f64>,
    intercept: f64,
}

impl LogisticModel {
    /// Minimises the objective by Newton steps with backtracking, to a gradient at rounding level.
    fn fit<'a>(x: ArrayView2<'a, f64>, y: ArrayView1<'a, f64>, c: f64) -> Self {
        let problem = LogisticProblem { x, y, inv_c: 1.0 / c };
        let d = x.ncols();
        let mut theta = Array1::zeros(d + 1);
        let mut cost = problem.cost(&theta);
        let tol = NEWTON_GRAD_TOL * x.nrows().max(1) as f64;
        for _ in 0..NEWTON_MAX_STEPS {
            let g = problem.gradient(&theta);
            if g.iter().all(|v| v.abs() <= tol) {
                break;
            }
            let step = newton_step(problem.hessian(&theta), &g);
            let slope = g.dot(&step);
            // Near the optimum the predicted decrease is below the cost's rounding, so the full
            // step is taken untested; Newton converges quadratically there.
            let quadratic = slope <= 1e-12 * (1.0 + cost.abs());
            let mut t = 1.0;
            let accepted = loop {
                let candidate = &theta - &(t * &step);
                let c = problem.cost(&candidate);
                if quadratic || c <= cost - 1e-4 * t * slope {
                    break Some((candidate, c));
                }
                t *= 0.5;
                if t < 1e-10 {
                    break None;
                }
            };
            match accepted {
                Some((next, c)) => (theta, cost) = (next, c),
                // no decrease left at rounding level: converged
                None => break,
            }
        }
        LogisticModel { weights: theta.slice(s![..d]).to_owned(), intercept: theta[d] }
    }

    /// Probability of the positive class for each row.
    fn predict_proba(&self, x: ArrayView2<f64>) -> Array1<f64> {
        (x.dot(&self.weights) + self.intercept).mapv(sigmoid)
    }
}

/// Solves H step = g; the regularised Hessian is positive definite, the ridge only guards rounding.
fn newton_step(mut h: Array2<f64>, g: &Array1<f64>) -> Array1<f64> {
    let mut ridge = 1e-12 * (1.0 + h.diag().iter().fold(0.0_f64, |m, v| m.max(v.abs())));
    for _ in 0..20 {
        if let Some(step) = cholesky_solve(&h, g) {
            return step;
        }
        h.diag_mut().mapv_inplace(|v| v + ridge);
        ridge *= 10.0;
    }
    g.clone()
}

/// Solves `a x = b` for a symmetric positive definite `a`; `None` if `a` is not.
fn cholesky_solve(a: &Array2<f64>, b: &Array1<f64>) -> Option<Array1<f64>> {
    let n = b.len();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let s = a[[i, j]] - (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum::<f64>();
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[[i, i]] = s.sqrt();
            } else {
                l[[i, j]] = s / l[[j, j]];
            }
        }
    }
    let mut z = b.clone();
    for i in 0..n {
        z[i] = (z[i] - (0..i).map(|k| l[[i, k]] * z[k]).sum::<f64>()) / l[[i, i]];
    }
    for i in (0..n).rev() {
        z[i] = (z[i] - (i + 1..n).map(|k| l[[k, i]] * z[k]).sum::<f64>()) / l[[i, i]];
    }
    Some(z)
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// log(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// ROC AUC, ties counted half (the Mann–Whitney statistic sklearn's `roc_auc_score` equals).
fn roc_auc(scores: &[f64], positive: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid_rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Euclidean distance from each row of `queries` to its nearest row of `base` (both row-major
/// with `d` columns, `base` non-empty), in parallel on the current rayon pool.
fn nearest_distances(queries: &[f64], base: &[f64], d: usize) -> Vec<f64> {
    queries
        .par_chunks_exact(d)
        .map(|q| {
            base.chunks_exact(d)
                .map(|r| q.iter().zip(r).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .collect()
}

/// pandas' mean and sample standard deviation (ddof 1) of the present cells; NaN when undefined.
fn mean_and_std(v: &[f64]) -> (f64, f64) {
    let present: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    let n = present.len() as f64;
    let mean = present.iter().sum::<f64>() / n;
    let var = present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, if present.len() < 2 { f64::NAN } else { var.sqrt() })
}

/// NumPy's median.
fn median(v: &[f64]) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

/// NumPy's `percentile` with its default linear interpolation (and its lerp rounding).
fn percentile(v: &[f64], q: f64) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return None;
    }
    let index = q / 100.0 * (n - 1) as f64;
    let lo = (index.floor() as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let t = index - lo as f64;
    let (a, b) = (s[lo], s[hi]);
    let diff = b - a;
    Some(if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t })
}

fn mean_of(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.into_iter().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Columns of equal length, data matching kind, codes within levels, no infinities.
fn check_table(t: &Table, table: TableRole, min_rows: usize) -> Result<(), QualityError> {
    let rows = t.n_rows();
    for c in &t.columns {
        let column = || c.name.clone();
        if c.data.len() != rows {
            return Err(QualityError::RaggedColumn { table, column: column(), len: c.data.len(), expected: rows });
        }
        match (&c.data, c.kind) {
            (ColumnData::Numeric(v), ColumnKind::Continuous | ColumnKind::Integer) => {
                if v.iter().any(|x| x.is_infinite()) {
                    return Err(QualityError::InfiniteValue { table, column: column() });
                }
            }
            (ColumnData::Categorical { codes, levels }, ColumnKind::Categorical | ColumnKind::Boolean) => {
                if let Some(&code) = codes.iter().flatten().find(|&&k| k as usize >= levels.len()) {
                    return Err(QualityError::BadCode { table, column: column(), code, levels: levels.len() });
                }
            }
            (data, kind) => {
                let data = if matches!(data, ColumnData::Numeric(_)) { "numeric" } else { "categorical" };
                return Err(QualityError::KindMismatch { table, column: column(), kind, data });
            }
        }
    }
    if rows < min_rows {
        return Err(QualityError::TooFewRows { table, rows, needed: min_rows });
    }
    Ok(())
}

/// The other table has the real table's columns: same order, names, kinds and levels.
fn check_same_columns(real: &Table, other: &Table, table: TableRole) -> Result<(), QualityError> {
    let mismatch =
        |column: &Column, reason: String| QualityError::ColumnMismatch { table, column: column.name.clone(), reason };
    for (i, (r, o)) in real.columns.iter().zip(&other.columns).enumerate() {
        if r.name != o.name {
            return Err(mismatch(r, format!("position {i} holds '{}' in the {table} table", o.name)));
        }
        if r.kind != o.kind {
            return Err(mismatch(
                r,
                format!("it is {:?} in the real table and {:?} in the {table} table", r.kind, o.kind),
            ));
        }
        if let (Some((_, lr)), Some((_, lo))) = (r.codes(), o.codes()) {
            if lr != lo {
                return Err(mismatch(r, format!("levels {lr:?} in the real table, {lo:?} in the {table} table")));
            }
        }
    }
    match real.columns.len().cmp(&other.columns.len()) {
        std::cmp::Ordering::Greater => {
            Err(mismatch(&real.columns[other.columns.len()], format!("missing from the {table} table")))
        }
        std::cmp::Ordering::Less => {
            Err(mismatch(&other.columns[real.columns.len()], "not in the real table".to_string()))
        }
        std::cmp::Ordering::Equal => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    const N: f64 = f64::NAN;
    const TOL: f64 = 1e-12;

    // Expected numbers below come from SDMetrics 0.32.0 (scikit-learn 1.9.1, numpy 2.4.6) run on the
    // same tables by src/ml/testdata/quality_reference.py; rerun it to regenerate them.

    /// A categorical column from one character per cell: the level ending in that character, or
    /// missing for '.'.
    fn coded(name: &str, cells: &str, levels: &[&str]) -> Column {
        let codes = cells
            .chars()
            .map(|c| (c != '.').then(|| levels.iter().position(|l| l.ends_with(c)).unwrap() as u32))
            .collect();
        Column::categorical(name, codes, levels.iter().map(|l| l.to_string()).collect())
    }

    /// A boolean column from 'T', 'F' and '.' (missing).
    fn bools(name: &str, cells: &str) -> Column {
        Column::boolean(name, cells.chars().map(|c| (c != '.').then_some(c == 'T')).collect())
    }

    fn fixture_a() -> (Table, Table) {
        let real = Table::new(vec![
            Column::continuous("temp", vec![20.1, 21.5, 19.8, 23.0, 22.2, N, 24.8, 18.9, 21.0, 25.5, 20.7, 22.9]),
            Column::continuous(
                "pressure",
                vec![40.5, 43.2, 39.1, 46.3, 44.0, 45.1, 49.9, 38.2, 41.7, 51.2, 41.9, 45.5],
            ),
            Column::integer("load", vec![3.0, 5.0, 2.0, 7.0, 5.0, 4.0, 8.0, 1.0, 4.0, 9.0, 3.0, 6.0]),
            coded("shift", "ABACB.CABCAB", &["A", "B", "C"]),
            bools("ok", "TTFTTFTFTTF."),
        ]);
        let synth = Table::new(vec![
            Column::continuous("temp", vec![20.5, 22.0, N, 23.5, 19.0, 24.0, 21.2, 26.0, 20.0, 22.5]),
            Column::continuous("pressure", vec![41.0, 42.5, 40.0, 47.5, 39.5, 47.0, 44.0, 50.5, 42.0, 43.0]),
            Column::integer("load", vec![3.0, 6.0, 2.0, 7.0, 2.0, 6.0, 5.0, 9.0, 3.0, 4.0]),
            coded("shift", "ABACACBC.B", &["A", "B", "C"]),
            bools("ok", "TFFTTTTFT."),
        ]);
        (real, synth)
    }

    fn holdout_a() -> Table {
        Table::new(vec![
            Column::continuous("temp", vec![21.1, 23.9, 19.5, 22.0, 25.0, N]),
            Column::continuous("pressure", vec![42.0, 47.0, 39.0, 44.5, 50.0, 40.0]),
            Column::integer("load", vec![4.0, 7.0, 2.0, 5.0, 8.0, 3.0]),
            coded("shift", "BCABCA", &["A", "B", "C"]),
            bools("ok", "TTFTFT"),
        ])
    }

    /// Nasty cases: x all missing in the synthetic table, c constant in the real table, g has a
    /// level only the synthetic table uses, w only weakly related to the rest.
    fn fixture_b() -> (Table, Table) {
        let levels = ["p", "q", "r"];
        let real = Table::new(vec![
            Column::continuous("x", vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
            Column::continuous("c", vec![5.0; 8]),
            Column::continuous("y", vec![2.1, 3.9, 6.2, 8.1, 9.7, 12.2, 14.1, 15.8]),
            coded("g", "ppqqpqp.", &levels),
            Column::continuous("w", vec![0.3, -0.2, 0.5, -0.4, 0.1, 0.6, -0.3, 0.2]),
        ]);
        let synth = Table::new(vec![
            Column::continuous("x", vec![N; 6]),
            Column::continuous("c", vec![5.0, 5.0, 5.0, 6.0, 5.0, 5.0]),
            Column::continuous("y", vec![2.5, 4.0, 7.5, 9.0, 12.5, 15.0]),
            coded("g", "pqrqpr", &levels),
            Column::continuous("w", vec![0.1, 0.4, -0.2, 0.3, -0.5, 0.2]),
        ]);
        (real, synth)
    }

    /// Tables a classifier can tell apart: the synthetic t is shifted by about one sd.
    fn fixture_c() -> (Table, Table) {
        let levels = ["m1", "m2", "m3"];
        let real = Table::new(vec![
            Column::continuous(
                "t",
                vec![
                    50.00, 51.19, 48.90, 46.44, 48.18, 46.03, 50.24, 55.36, 48.03, 47.52, 51.96, 51.43, 50.42, 46.28,
                    N, 52.78, 44.62, 48.17, 42.40, 44.84, 42.63, 49.06, 44.93, 51.09,
                ],
            ),
            Column::continuous(
                "p",
                vec![
                    25.24, 25.31, 20.67, 22.41, 24.02, 23.18, 22.82, 26.96, 22.55, 22.55, 27.57, 24.50, 25.16, 24.47,
                    24.06, 26.22, 22.48, 24.18, 19.36, 22.53, 23.35, 22.21, 23.75, 25.72,
                ],
            ),
            coded("m", "121111313222211111312132", &levels),
        ]);
        let synth = Table::new(vec![
            Column::continuous(
                "t",
                vec![
                    53.21, 58.63, 56.36, 52.29, 52.13, 52.60, 59.69, 51.89, 52.39, 55.01, 53.12, 52.81, 49.14, 53.55,
                    51.83, 58.26, 56.21, 53.50, N, 52.24, 57.81,
                ],
            ),
            Column::continuous(
                "p",
                vec![
                    26.60, 30.19, 26.24, 26.67, 23.53, 23.25, 29.39, 24.60, 26.44, 30.87, 25.31, 25.47, 24.88, 27.51,
                    25.65, 28.82, 29.16, 27.53, 26.58, 26.00, 28.96,
                ],
            ),
            coded("m", "312313323112123221323", &levels),
        ]);
        (real, synth)
    }

    /// The reference script's fixed folds: real row i in fold i % 3, synthetic row j in
    /// (j + shift) % 3.
    fn fixed_folds(n_real: usize, n_synth: usize, shift: usize) -> Vec<usize> {
        (0..n_real).map(|i| i % 3).chain((0..n_synth).map(|j| (j + shift) % 3)).collect()
    }

    fn assert_close(actual: Option<f64>, expected: Option<f64>, what: &str) {
        match (actual, expected) {
            (Some(a), Some(e)) => assert!((a - e).abs() <= TOL, "{what}: {a} != {e}"),
            (a, e) => assert_eq!(a, e, "{what}"),
        }
    }

    type ShapeRow = (&'static str, ShapeMetric, Option<f64>);
    type PairRow = (
        &'static str,
        &'static str,
        PairMetric,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        bool,
        Option<&'static str>,
    );

    struct Expected {
        quality: Option<f64>,
        column_shapes: Option<f64>,
        column_pair_trends: Option<f64>,
        shapes: &'static [ShapeRow],
        pairs: &'static [PairRow],
    }

    fn assert_matches_sdmetrics(real: &Table, synth: &Table, e: &Expected) {
        let r = report(real, synth, None, 0).unwrap();
        assert_close(r.quality, e.quality, "quality");
        assert_close(r.column_shapes.score, e.column_shapes, "column shapes");
        assert_close(r.column_pair_trends.score, e.column_pair_trends, "column pair trends");
        assert_eq!(r.column_shapes.details.len(), e.shapes.len());
        for (got, want) in r.column_shapes.details.iter().zip(e.shapes) {
            assert_eq!((got.column.as_str(), got.metric), (want.0, want.1));
            assert_close(got.score, want.2, &got.column);
        }
        assert_eq!(r.column_pair_trends.details.len(), e.pairs.len());
        for (got, want) in r.column_pair_trends.details.iter().zip(e.pairs) {
            let what = format!("{} / {}", got.column_1, got.column_2);
            assert_eq!((got.column_1.as_str(), got.column_2.as_str(), got.metric), (want.0, want.1, want.2));
            assert_close(got.score, want.3, &format!("{what} score"));
            assert_close(got.real_correlation, want.4, &format!("{what} real correlation"));
            assert_close(got.synthetic_correlation, want.5, &format!("{what} synthetic correlation"));
            assert_close(got.real_association, want.6, &format!("{what} real association"));
            assert_eq!(got.meets_threshold, want.7, "{what} meets threshold");
            assert_eq!(got.error.as_deref(), want.8, "{what} error");
        }
    }

    #[test]
    fn quality_matches_sdmetrics_on_mixed_table() {
        use PairMetric::{ContingencySimilarity as Cont, CorrelationSimilarity as Corr};
        use ShapeMetric::{KSComplement as Ks, TVComplement as Tv};
        let (real, synth) = fixture_a();
        assert_matches_sdmetrics(
            &real,
            &synth,
            &Expected {
                quality: Some(0.7617785572655221),
                column_shapes: Some(0.8981818181818181),
                column_pair_trends: Some(0.6253752963492262),
                shapes: &[
                    ("temp", Ks, Some(0.8484848484848485)),
                    ("pressure", Ks, Some(0.8166666666666667)),
                    ("load", Ks, Some(0.9166666666666666)),
                    ("shift", Tv, Some(0.9393939393939393)),
                    ("ok", Tv, Some(0.9696969696969697)),
                ],
                pairs: &[
                    (
                        "temp",
                        "pressure",
                        Corr,
                        Some(0.9759450303104216),
                        Some(0.9962512421998962),
                        Some(0.9481413028207394),
                        None,
                        true,
                        None,
                    ),
                    (
                        "temp",
                        "load",
                        Corr,
                        Some(0.9729819939060648),
                        Some(0.9861348964012819),
                        Some(0.9320988842134115),
                        None,
                        true,
                        None,
                    ),
                    ("temp", "shift", Cont, Some(0.5166666666666667), None, None, Some(0.8249579113843056), true, None),
                    ("temp", "ok", Cont, Some(0.35), None, None, Some(0.7196229171289245), true, None),
                    (
                        "pressure",
                        "load",
                        Corr,
                        Some(0.9881592726091091),
                        Some(0.9658049138803904),
                        Some(0.9421234590986085),
                        None,
                        true,
                        None,
                    ),
                    (
                        "pressure",
                        "shift",
                        Cont,
                        Some(0.6666666666666667),
                        None,
                        None,
                        Some(0.8416254115301732),
                        true,
                        None,
                    ),
                    (
                        "pressure",
                        "ok",
                        Cont,
                        Some(0.5166666666666667),
                        None,
                        None,
                        Some(0.7676494735787385),
                        true,
                        None,
                    ),
                    (
                        "load",
                        "shift",
                        Cont,
                        Some(0.43333333333333324),
                        None,
                        None,
                        Some(0.8897565210026092),
                        true,
                        None,
                    ),
                    ("load", "ok", Cont, Some(0.2666666666666666), None, None, Some(0.8964214570007951), true, None),
                    ("shift", "ok", Cont, Some(0.5666666666666667), None, None, Some(0.6512350903146598), true, None),
                ],
            },
        );
    }

    #[test]
    fn quality_matches_sdmetrics_on_missing_constant_and_unseen_values() {
        use PairMetric::{ContingencySimilarity as Cont, CorrelationSimilarity as Corr};
        use ShapeMetric::{KSComplement as Ks, TVComplement as Tv};
        const CONSTANT_C: &str = "ConstantInputError: The real data in column 'c' contains a constant value. \
                                  Correlation is undefined for constant data.";
        let (real, synth) = fixture_b();
        assert_matches_sdmetrics(
            &real,
            &synth,
            &Expected {
                quality: Some(0.4687500178571403),
                column_shapes: Some(0.7708333690476139),
                column_pair_trends: Some(0.1666666666666667),
                shapes: &[
                    // all missing in the synthetic table: SDMetrics' KSComplement returns NaN
                    ("x", Ks, None),
                    ("c", Ks, Some(0.8333333333333334)),
                    ("y", Ks, Some(0.8333333333333334)),
                    // the synthetic-only level "r" gets SDMetrics' 1e-6 real count
                    ("g", Tv, Some(0.6666668095237891)),
                    ("w", Ks, Some(0.75)),
                ],
                pairs: &[
                    ("x", "c", Corr, None, None, None, None, false, Some(CONSTANT_C)),
                    (
                        "x",
                        "y",
                        Corr,
                        None,
                        None,
                        None,
                        None,
                        false,
                        Some("ValueError: `x` and `y` must have length at least 2."),
                    ),
                    ("x", "g", Cont, Some(1.1102230246251565e-16), None, None, Some(1.0), true, None),
                    ("x", "w", Corr, None, Some(-0.031497039417435604), None, None, false, None),
                    ("c", "y", Corr, None, None, None, None, false, Some(CONSTANT_C)),
                    // the real c falls in a single bin: no association to measure
                    ("c", "g", Cont, None, None, None, None, false, None),
                    ("c", "w", Corr, None, None, None, None, false, Some(CONSTANT_C)),
                    ("y", "g", Cont, Some(0.25), None, None, Some(1.0), true, None),
                    ("y", "w", Corr, None, Some(-0.022230709487327797), None, None, false, None),
                    ("g", "w", Cont, Some(0.25), None, None, Some(0.82915619758885), true, None),
                ],
            },
        );
    }

    #[test]
    fn quality_matches_sdmetrics_on_shifted_table() {
        use PairMetric::{ContingencySimilarity as Cont, CorrelationSimilarity as Corr};
        use ShapeMetric::{KSComplement as Ks, TVComplement as Tv};
        let (real, synth) = fixture_c();
        assert_matches_sdmetrics(
            &real,
            &synth,
            &Expected {
                quality: Some(0.5005745022075873),
                column_shapes: Some(0.43712905452035883),
                column_pair_trends: Some(0.5640199498948156),
                shapes: &[
                    ("t", Ks, Some(0.1804347826086956)),
                    ("p", Ks, Some(0.38690476190476186)),
                    ("m", Tv, Some(0.7440476190476191)),
                ],
                pairs: &[
                    (
                        "t",
                        "p",
                        Corr,
                        Some(0.9777741353987326),
                        Some(0.7194628971653994),
                        Some(0.7639146263679343),
                        None,
                        true,
                        None,
                    ),
                    ("t", "m", Cont, Some(0.36309523809523814), None, None, Some(0.6868399262194098), true, None),
                    ("p", "m", Cont, Some(0.35119047619047616), None, None, Some(0.6070216427157064), true, None),
                ],
            },
        );
    }

    #[test]
    fn weak_real_association_does_not_count() {
        // a and b are independent in the real table (Cramér's V = 0): SDMetrics leaves the pair out
        let real = Table::new(vec![coded("a", "xxyy", &["x", "y"]), coded("b", "uvuv", &["u", "v"])]);
        let synth = Table::new(vec![coded("a", "xxy", &["x", "y"]), coded("b", "uuv", &["u", "v"])]);
        let trends = Comparison::new(&real, &synth).unwrap().column_pair_trends();
        let pair = &trends.details[0];
        assert_eq!((pair.score, pair.meets_threshold), (None, false));
        assert_abs_diff_eq!(pair.real_association.unwrap(), 0.0, epsilon = TOL);
        assert_eq!(trends.score, None);
    }

    #[test]
    fn detection_matches_sdmetrics_on_fixed_folds() {
        // (tables, fold shift, SDMetrics' fold AUCs, score, width of its design matrix)
        let cases = [
            (fixture_a(), 1, [0.08333333333333334, 0.4375, 0.16666666666666669], 1.0, 7),
            (fixture_c(), 2, [0.8392857142857143, 0.8392857142857143, 0.9107142857142857], 0.2738095238095237, 5),
        ];
        for ((real, synth), shift, auc, score, width) in cases {
            let cmp = Comparison::new(&real, &synth).unwrap();
            let d = cmp.detection_on_folds(&fixed_folds(real.n_rows(), synth.n_rows(), shift));
            assert_eq!(d.n_features, width);
            for (got, want) in d.fold_auc.iter().zip(auc) {
                assert_abs_diff_eq!(*got, want, epsilon = TOL);
            }
            assert_abs_diff_eq!(d.score, score, epsilon = TOL);
        }
    }

    #[test]
    fn logistic_fit_matches_sklearn_solved_to_convergence() {
        // fold 0 of the fixed folds: sklearn LogisticRegression(tol=1e-12) on SDMetrics' imputed,
        // robust-scaled features (numeric columns, then one-hot in sorted level order), polished by
        // Newton steps in NumPy because L-BFGS stops about 1e-7 short (its relative-decrease test)
        let cases = [
            (
                fixture_a(),
                1,
                vec![
                    -0.16518998998262374,
                    -0.05129361627535424,
                    -0.4731638271379742,
                    -0.1776709379486649,
                    0.2115258758239914,
                    -0.4115574370949587,
                    0.37770249921963267,
                ],
                0.18873742819256636,
            ),
            (
                fixture_c(),
                2,
                vec![
                    -1.2132172130531544,
                    -0.9252653765888215,
                    0.46530275920245295,
                    0.5950822855954025,
                    -0.9116144733990044,
                ],
                -0.04067307559104563,
            ),
        ];
        for ((real, synth), shift, coef, intercept) in cases {
            let cmp = Comparison::new(&real, &synth).unwrap();
            let (x, y) = cmp.detection_design();
            let folds = fixed_folds(real.n_rows(), synth.n_rows(), shift);
            let train: Vec<usize> = (0..folds.len()).filter(|&i| folds[i] != 0).collect();
            let x_train = x.select(Axis(0), &train);
            let scaled = RobustScaler::fit(x_train.view()).transform(x_train.view());
            let model = LogisticModel::fit(scaled.view(), y.select(Axis(0), &train).view(), 1.0);
            for (got, want) in model.weights.iter().zip(&coef) {
                assert_abs_diff_eq!(*got, *want, epsilon = 1e-10);
            }
            assert_abs_diff_eq!(model.intercept, intercept, epsilon = 1e-10);
        }
    }

    fn random_problem(rng: &mut ChaCha8Rng, n: usize, d: usize) -> (Array2<f64>, Array1<f64>, Array1<f64>) {
        use rand::Rng;
        let x = Array2::from_shape_fn((n, d), |_| rng.random_range(-2.0..2.0));
        let y = Array1::from_shape_fn(n, |_| f64::from(u8::from(rng.random_bool(0.5))));
        let theta = Array1::from_shape_fn(d + 1, |_| rng.random_range(-1.0..1.0));
        (x, y, theta)
    }

    #[test]
    fn logistic_gradient_and_hessian_match_central_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (x, y, theta) = random_problem(&mut rng, 30, 4);
        let problem = LogisticProblem { x: x.view(), y: y.view(), inv_c: 0.7 };
        let (g, h) = (problem.gradient(&theta), problem.hessian(&theta));
        let step = 1e-5;
        for k in 0..theta.len() {
            let mut plus = theta.clone();
            let mut minus = theta.clone();
            plus[k] += step;
            minus[k] -= step;
            let numeric = (problem.cost(&plus) - problem.cost(&minus)) / (2.0 * step);
            assert_abs_diff_eq!(g[k], numeric, epsilon = 1e-7 * (1.0 + numeric.abs()));
            let column = (problem.gradient(&plus) - problem.gradient(&minus)) / (2.0 * step);
            for j in 0..theta.len() {
                assert_abs_diff_eq!(h[[j, k]], column[j], epsilon = 1e-7 * (1.0 + column[j].abs()));
            }
        }
    }

    #[test]
    fn logistic_fit_lowers_the_loss_to_a_stationary_point() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let (x, y, _) = random_problem(&mut rng, 50, 3);
        let model = LogisticModel::fit(x.view(), y.view(), 1.0);
        let problem = LogisticProblem { x: x.view(), y: y.view(), inv_c: 1.0 };
        let mut theta = model.weights.clone().to_vec();
        theta.push(model.intercept);
        let theta = Array1::from(theta);
        assert!(problem.cost(&theta) < problem.cost(&Array1::zeros(4)));
        assert!(problem.gradient(&theta).iter().all(|g| g.abs() < 1e-9));
        // separable data: the penalty keeps the weights finite
        let x = Array2::from_shape_vec((4, 1), vec![-2.0, -1.0, 1.0, 2.0]).unwrap();
        let y = Array1::from(vec![0.0, 0.0, 1.0, 1.0]);
        let model = LogisticModel::fit(x.view(), y.view(), 1.0);
        assert!(model.weights[0].is_finite() && model.weights[0] > 0.0);
    }

    #[test]
    fn roc_auc_counts_ties_half() {
        // sklearn's roc_auc_score docstring example
        assert_abs_diff_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75, epsilon = TOL);
        assert_abs_diff_eq!(roc_auc(&[0.5, 0.5, 0.5], &[true, false, false]), 0.5, epsilon = TOL);
    }

    #[test]
    fn folds_are_stratified_and_repeatable() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let folds = stratified_folds(10, 7, 3, &mut rng);
        for fold in 0..3 {
            let real = folds[..10].iter().filter(|&&f| f == fold).count();
            let synth = folds[10..].iter().filter(|&&f| f == fold).count();
            assert!((3..=4).contains(&real) && (2..=3).contains(&synth), "fold {fold}: {real} real, {synth} synthetic");
        }
        assert_eq!(folds, stratified_folds(10, 7, 3, &mut ChaCha8Rng::seed_from_u64(3)));
        assert_ne!(folds, stratified_folds(10, 7, 3, &mut ChaCha8Rng::seed_from_u64(4)));
    }

    #[test]
    fn seeded_detection_repeats_and_sees_a_shift() {
        let (real, synth) = fixture_c();
        let cmp = Comparison::new(&real, &synth).unwrap();
        let d = cmp.detection(5);
        assert_eq!(d, cmp.detection(5));
        assert!(d.score < 0.5, "shifted synthetic data should be detected: {d:?}");
        let (real, synth) = fixture_b();
        let d = Comparison::new(&real, &synth).unwrap().detection(5);
        assert!((0.0..=1.0).contains(&d.score));
    }

    #[test]
    fn privacy_matches_numpy_reference() {
        // genfab's own definition, computed with NumPy / scikit-learn NearestNeighbors
        let (real, synth) = fixture_a();
        let p = Comparison::new(&real, &synth).unwrap().privacy(Some(&holdout_a())).unwrap();
        assert_eq!(p.distance_columns, ["temp", "pressure", "load"]);
        assert_close(p.dcr_median_syn, Some(0.39280668573573996), "median synthetic DCR");
        assert_close(p.dcr_median_holdout, Some(0.15277205146157458), "median holdout DCR");
        assert_close(p.dcr_holdout_p5, Some(0.09200316075359082), "holdout p5");
        assert_close(p.share_syn_below_holdout_p5, Some(0.0), "share below p5");
        assert_eq!(p.exact_copies, 0);
        let alone = Comparison::new(&real, &synth).unwrap().privacy(None).unwrap();
        assert_eq!((alone.dcr_median_syn, alone.dcr_median_holdout), (p.dcr_median_syn, None));
    }

    #[test]
    fn exact_copies_count_every_column_and_missing_cells() {
        let real = Table::new(vec![Column::continuous("x", vec![1.0, 2.0, N, 0.0]), coded("g", "ab.b", &["a", "b"])]);
        // row 0 copies real row 0, row 1 differs only in g, row 2 copies the missing cells of real
        // row 2, row 3 is -0.0 against 0.0
        let synth = Table::new(vec![Column::continuous("x", vec![1.0, 2.0, N, -0.0]), coded("g", "aa.b", &["a", "b"])]);
        let p = Comparison::new(&real, &synth).unwrap().privacy(None).unwrap();
        assert_eq!(p.exact_copies, 3);
        // only categorical columns: no distances, copies still counted
        let real = Table::new(vec![coded("g", "abab", &["a", "b"])]);
        let synth = Table::new(vec![coded("g", "aab", &["a", "b"])]);
        let p = Comparison::new(&real, &synth).unwrap().privacy(None).unwrap();
        assert_eq!((p.dcr_median_syn, p.exact_copies), (None, 3));
    }

    #[test]
    fn identical_tables_score_perfectly() {
        let (real, _) = fixture_a();
        let r = report(&real, &real.clone(), Some(&holdout_a()), 9).unwrap();
        assert_close(r.quality, Some(1.0), "quality");
        assert_close(r.column_shapes.score, Some(1.0), "column shapes");
        assert_close(r.column_pair_trends.score, Some(1.0), "column pair trends");
        assert!(r.detection.score > 0.8, "{:?}", r.detection);
        assert_eq!(r.privacy.exact_copies, real.n_rows());
        assert_eq!(r.privacy.dcr_median_syn, Some(0.0));
        assert_eq!(r.privacy.share_syn_below_holdout_p5, Some(1.0));
    }

    #[test]
    fn mismatched_columns_are_named() {
        let (real, synth) = fixture_a();
        let renamed = {
            let mut t = synth.clone();
            t.columns.swap(0, 1);
            t
        };
        let retyped = {
            let mut t = synth.clone();
            t.columns[2].kind = ColumnKind::Continuous;
            t
        };
        let relevelled = {
            let mut t = synth.clone();
            t.columns[3] = coded("shift", "ABACACBC.B", &["A", "B", "C", "D"]);
            t
        };
        let shorter = Table::new(synth.columns[..4].to_vec());
        let longer = {
            let mut t = synth.clone();
            t.columns.push(Column::continuous("extra", vec![0.0; 10]));
            t
        };
        for (synth, column) in
            [(renamed, "temp"), (retyped, "load"), (relevelled, "shift"), (shorter, "ok"), (longer, "extra")]
        {
            let err = report(&real, &synth, None, 0).unwrap_err();
            assert!(matches!(&err, QualityError::ColumnMismatch { column: c, .. } if c == column), "{err}");
            assert!(err.to_string().contains(&format!("'{column}'")), "{err}");
        }
        let holdout = Table::new(holdout_a().columns[..3].to_vec());
        let err = report(&real, &synth, Some(&holdout), 0).unwrap_err();
        assert!(matches!(err, QualityError::ColumnMismatch { table: TableRole::Holdout, .. }), "{err}");
    }

    #[test]
    fn malformed_tables_are_rejected() {
        let (real, synth) = fixture_a();
        assert_eq!(Comparison::new(&Table::default(), &synth).unwrap_err(), QualityError::NoColumns);
        let tiny = real.select_rows(&[0, 1]);
        assert!(matches!(
            report(&real, &tiny, None, 0).unwrap_err(),
            QualityError::TooFewRows { table: TableRole::Synthetic, rows: 2, needed: 3 }
        ));
        let mut ragged = synth.clone();
        ragged.columns[1] = Column::continuous("pressure", vec![1.0; 4]);
        assert!(matches!(report(&real, &ragged, None, 0).unwrap_err(), QualityError::RaggedColumn { .. }));
        let mut infinite = synth.clone();
        infinite.columns[0] = Column::continuous("temp", vec![f64::INFINITY; 10]);
        assert!(matches!(report(&real, &infinite, None, 0).unwrap_err(), QualityError::InfiniteValue { .. }));
        let mut bad_code = synth;
        bad_code.columns[3] = Column::categorical("shift", vec![Some(7); 10], vec!["A".into(), "B".into(), "C".into()]);
        assert!(matches!(report(&real, &bad_code, None, 0).unwrap_err(), QualityError::BadCode { code: 7, .. }));
    }

    #[test]
    fn small_statistics_match_numpy() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_abs_diff_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 5.0).unwrap(), 1.15, epsilon = TOL);
        assert_eq!(percentile(&[], 5.0), None);
        assert_eq!(ks_complement(&[1.0, 2.0, 3.0], &[3.0, 1.0, 2.0]), Some(1.0));
        assert_eq!(ks_complement(&[1.0, 2.0], &[N, N]), None);
        // np.digitize(x, np.histogram_bin_edges(x)): the maximum and NaN both go to bin 11
        assert_eq!(discretize(&[1.0, 2.0, 5.0, N]), [1, 3, 11, 11]);
        assert_eq!(discretize(&[3.0, 3.0]), [6, 6]);
    }

    #[test]
    fn report_serializes_to_json_without_nan() {
        let (real, synth) = fixture_b();
        let r = report(&real, &synth, None, 1).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["column_shapes"]["details"][0]["score"].is_null());
        assert_eq!(json["column_pair_trends"]["details"][0]["metric"], "CorrelationSimilarity");
        let back: QualityReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn report_and_errors_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<QualityReport>();
        check::<QualityError>();
        check::<Comparison<'static>>();
    }
}
