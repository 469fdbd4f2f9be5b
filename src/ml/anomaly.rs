//! Quality inspection with a VAE as the detector: thresholds calibrated on held-out normal
//! scores, ROC/PR curves, drift of scores, per-row explanations, an importance-weighted score.
//!
//! Scores follow `FittedVae::score`: higher is more anomalous, and a row is flagged when its score
//! is strictly above the threshold.

use crate::ml::error::VaeError;
use crate::ml::fitted::{FittedVae, RowScores};
use crate::ml::loss::recon_rows;
use crate::ml::quality::ks_complement;
use crate::ml::table::{Column, ColumnData, ColumnKind, Table};
use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most points kept per curve; enough to draw it, small enough to store with a detector.
const MAX_CURVE_POINTS: usize = 200;
/// Bins of the population stability index.
const PSI_BINS: usize = 10;
/// Floor of a bin's share in the PSI, so an empty bin costs a lot but not infinity.
const PSI_FLOOR: f64 = 1e-4;

/// Why a calibration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnomalyError {
    #[error("false-alarm rate must be strictly between 0 and 1, got {0}")]
    BadRate(f64),
    #[error("recall target must be in (0, 1], got {0}")]
    BadRecallTarget(f64),
    #[error("calibration needs scores of held-out normal rows; none were given")]
    NoNormalScores,
    #[error("{0} needs scores of known faulty rows; without them only false_alarm_rate can be calibrated")]
    NeedsFaults(&'static str),
    #[error("score {value} of a {side} row is not finite")]
    NonFiniteScore { side: &'static str, value: f64 },
}

/// Threshold choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibration {
    /// The threshold flags at most this share of the held-out normal rows (an upper quantile).
    FalseAlarmRate { rate: f64 },
    /// The threshold with the best F1 on labelled faults (the highest one among ties).
    MaxF1,
    /// The highest threshold that flags at least this share of the labelled faults.
    Recall { target: f64 },
}

/// ROC and precision-recall curves of normal versus faulty scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    /// (false-positive rate, true-positive rate) from (0, 0) to (1, 1), at most 200 points.
    pub roc: Vec<(f64, f64)>,
    /// (recall, precision) from recall 0 (precision 1) upwards, at most 200 points.
    pub pr: Vec<(f64, f64)>,
    pub auroc: f64,
    /// Step-wise area under the precision-recall curve (scikit-learn's definition).
    pub average_precision: f64,
}

/// A chosen threshold and how it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibrated {
    /// Rows scoring strictly above it are flagged.
    pub threshold: f64,
    pub method: Calibration,
    /// Share of the held-out normal rows flagged.
    pub false_alarm_rate: f64,
    /// With fault scores: share of faults flagged.
    pub recall: Option<f64>,
    /// With fault scores: share of flagged rows that are faults (0 when nothing is flagged).
    pub precision: Option<f64>,
    pub f1: Option<f64>,
    pub curves: Option<Curves>,
}

/// Drift of recent values against reference values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Population stability index over 10 quantile bins of the reference (0.1 is commonly read
    /// as a moderate shift, 0.25 as a large one).
    pub psi: f64,
    /// Two-sample Kolmogorov–Smirnov statistic.
    pub ks: f64,
}

/// One column's part in a row's reconstruction NLL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub column: String,
    /// Share of the row's positive per-column NLL (columns with a negative NLL count as 0).
    pub share: f64,
    /// The row's value.
    pub value: Value,
    /// The model's reconstruction of it.
    pub expected: Value,
}

fn check_finite(scores: &[f64], side: &'static str) -> Result<(), AnomalyError> {
    match scores.iter().find(|v| !v.is_finite()) {
        Some(&value) => Err(AnomalyError::NonFiniteScore { side, value }),
        None => Ok(()),
    }
}

/// Chooses a threshold from held-out normal scores and, except for `FalseAlarmRate`, scores
/// of known faulty rows.
pub fn calibrate(normal_scores: &[f64], fault_scores: &[f64], how: &Calibration) -> Result<Calibrated, AnomalyError> {
    if normal_scores.is_empty() {
        return Err(AnomalyError::NoNormalScores);
    }
    check_finite(normal_scores, "normal")?;
    check_finite(fault_scores, "faulty")?;
    let threshold = match *how {
        Calibration::FalseAlarmRate { rate } => {
            if !(rate > 0.0 && rate < 1.0) {
                return Err(AnomalyError::BadRate(rate));
            }
            let mut s = normal_scores.to_vec();
            s.sort_by(f64::total_cmp);
            // the k-th largest leaves at most k = floor(rate n) normal scores above it
            let k = (rate * s.len() as f64 + 1e-9).floor() as usize;
            s[s.len() - 1 - k.min(s.len() - 1)]
        }
        Calibration::MaxF1 => {
            if fault_scores.is_empty() {
                return Err(AnomalyError::NeedsFaults("max_f1"));
            }
            let cands = candidates(normal_scores, fault_scores);
            let p = fault_scores.len() as f64;
            let f1 = |&(_, tp, fp): &(f64, usize, usize)| {
                if tp == 0 {
                    0.0
                } else {
                    2.0 * tp as f64 / (p + (tp + fp) as f64)
                }
            };
            let mut best = cands[0];
            for c in &cands[1..] {
                if f1(c) > f1(&best) {
                    best = *c;
                }
            }
            best.0
        }
        Calibration::Recall { target } => {
            if !(target > 0.0 && target <= 1.0) {
                return Err(AnomalyError::BadRecallTarget(target));
            }
            if fault_scores.is_empty() {
                return Err(AnomalyError::NeedsFaults("recall"));
            }
            let need = (target * fault_scores.len() as f64 - 1e-9).ceil() as usize;
            let cands = candidates(normal_scores, fault_scores);
            cands.iter().find(|c| c.1 >= need).expect("the last candidate flags every fault").0
        }
    };
    let above = |s: &[f64]| s.iter().filter(|&&v| v > threshold).count();
    let false_alarm_rate = above(normal_scores) as f64 / normal_scores.len() as f64;
    let (mut recall, mut precision, mut f1, mut curves_) = (None, None, None, None);
    if !fault_scores.is_empty() {
        let tp = above(fault_scores) as f64;
        let flagged = tp + above(normal_scores) as f64;
        let r = tp / fault_scores.len() as f64;
        let p = if flagged > 0.0 { tp / flagged } else { 0.0 };
        recall = Some(r);
        precision = Some(p);
        f1 = Some(if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 });
        curves_ = Some(curves(normal_scores, fault_scores));
    }
    Ok(Calibrated { threshold, method: how.clone(), false_alarm_rate, recall, precision, f1, curves: curves_ })
}

/// Every useful threshold, highest first, with the faults and normal rows strictly above it:
/// each distinct score, then one just below the lowest (flags everything).
fn candidates(normal: &[f64], fault: &[f64]) -> Vec<(f64, usize, usize)> {
    let groups = descending_groups(normal, fault);
    let mut out = Vec::with_capacity(groups.len() + 1);
    let (mut tp, mut fp) = (0, 0);
    for &(v, f, n) in &groups {
        out.push((v, tp, fp));
        tp += f;
        fp += n;
    }
    let lowest = groups.last().map_or(0.0, |g| g.0);
    out.push((lowest.next_down(), tp, fp));
    out
}

/// Distinct scores, highest first, with how many faulty and normal rows have each.
fn descending_groups(normal: &[f64], fault: &[f64]) -> Vec<(f64, usize, usize)> {
    let mut all: Vec<(f64, bool)> =
        normal.iter().map(|&v| (v, false)).chain(fault.iter().map(|&v| (v, true))).collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut groups: Vec<(f64, usize, usize)> = Vec::new();
    for (v, is_fault) in all {
        match groups.last_mut() {
            Some(g) if g.0 == v => {}
            _ => groups.push((v, 0, 0)),
        }
        let g = groups.last_mut().expect("pushed");
        if is_fault {
            g.1 += 1;
        } else {
            g.2 += 1;
        }
    }
    groups
}

/// Area under the ROC curve: the chance that a faulty row scores above a normal one, ties
/// counted half (Mann–Whitney U / (n_fault n_normal)). NaN if a side is empty.
pub fn auroc(normal: &[f64], fault: &[f64]) -> f64 {
    if normal.is_empty() || fault.is_empty() {
        return f64::NAN;
    }
    // ascending walk: each fault beats the normals below its group and ties half of its own
    let mut groups = descending_groups(normal, fault);
    groups.reverse();
    let (mut normals_below, mut u) = (0.0, 0.0);
    for (_, f, n) in groups {
        u += f as f64 * (normals_below + 0.5 * n as f64);
        normals_below += n as f64;
    }
    u / (normal.len() as f64 * fault.len() as f64)
}

/// ROC and PR curves with their areas; empty curves and NaN areas if a side is empty.
pub fn curves(normal: &[f64], fault: &[f64]) -> Curves {
    if normal.is_empty() || fault.is_empty() {
        return Curves { roc: vec![], pr: vec![], auroc: f64::NAN, average_precision: f64::NAN };
    }
    let (p, n) = (fault.len() as f64, normal.len() as f64);
    let mut roc = vec![(0.0, 0.0)];
    let mut pr = vec![(0.0, 1.0)];
    let (mut tp, mut fp, mut ap) = (0usize, 0usize, 0.0);
    for (_, f, nn) in descending_groups(normal, fault) {
        let prev_recall = tp as f64 / p;
        tp += f;
        fp += nn;
        let recall = tp as f64 / p;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        roc.push((fp as f64 / n, recall));
        pr.push((recall, precision));
    }
    Curves {
        roc: thin(roc, MAX_CURVE_POINTS),
        pr: thin(pr, MAX_CURVE_POINTS),
        auroc: auroc(normal, fault),
        average_precision: ap,
    }
}

/// At most `max` evenly spaced points of a curve, keeping both ends.
fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points;
    }
    let last = points.len() - 1;
    (0..max).map(|i| points[(i * last + (max - 1) / 2) / (max - 1)]).collect()
}

/// The `q` quantile of sorted values, linearly interpolated (numpy's default).
fn quantile_sorted(s: &[f64], q: f64) -> f64 {
    let pos = q * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// Drift of `recent` against `reference` (missing values dropped; NaN if a side is empty).
pub fn drift(reference: &[f64], recent: &[f64]) -> Drift {
    let clean = |v: &[f64]| {
        let mut v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (r, q) = (clean(reference), clean(recent));
    if r.is_empty() || q.is_empty() {
        return Drift { psi: f64::NAN, ks: f64::NAN };
    }
    let edges: Vec<f64> = (1..PSI_BINS).map(|b| quantile_sorted(&r, b as f64 / PSI_BINS as f64)).collect();
    // bin b holds (edges[b-1], edges[b]]: count the values at or below each edge
    let shares = |v: &[f64]| {
        let mut below: Vec<usize> = edges.iter().map(|e| v.partition_point(|x| x <= e)).collect();
        below.push(v.len());
        let mut prev = 0;
        below
            .into_iter()
            .map(|c| {
                let share = (c - prev) as f64 / v.len() as f64;
                prev = c;
                share.max(PSI_FLOOR)
            })
            .collect::<Vec<f64>>()
    };
    let psi = shares(&r).iter().zip(shares(&q)).map(|(p, q)| (q - p) * (q / p).ln()).sum();
    let ks = 1.0 - ks_complement(&r, &q).expect("both sides have values");
    Drift { psi, ks }
}

/// A cell as JSON: numbers (integers whole), booleans, level labels; missing is null.
pub(crate) fn cell(col: &Column, row: usize) -> Value {
    match &col.data {
        ColumnData::Numeric(v) => match v.get(row) {
            Some(x) if x.is_nan() => Value::Null,
            Some(&x) if col.kind == ColumnKind::Integer && x.abs() < 9e15 => Value::from(x.round() as i64),
            Some(&x) => Value::from(x),
            None => Value::Null,
        },
        ColumnData::Categorical { codes, levels } => match codes.get(row).copied().flatten() {
            Some(k) if col.kind == ColumnKind::Boolean => Value::Bool(k == 1),
            Some(k) => levels.get(k as usize).map_or(Value::Null, |l| Value::String(l.clone())),
            None => Value::Null,
        },
    }
}

/// The `k` columns with the largest share of row `row`'s reconstruction NLL, largest first,
/// with the row's value and the reconstructed one. Empty if `row` is out of range.
pub fn explain(scores: &RowScores, table: &Table, reconstructed: &Table, row: usize, k: usize) -> Vec<Contribution> {
    if row >= scores.column_nll.nrows() {
        return vec![];
    }
    let nll = scores.column_nll.row(row);
    // a Gaussian NLL is negative when a column is reconstructed tighter than unit density:
    // such a column explains nothing, so it counts as 0
    let total: f64 = nll.iter().map(|v| v.max(0.0)).sum();
    let mut order: Vec<usize> = (0..nll.len()).collect();
    order.sort_by(|&a, &b| nll[b].total_cmp(&nll[a]));
    let value_of = |t: &Table, name: &str| t.column(name).map_or(Value::Null, |c| cell(c, row));
    order
        .into_iter()
        .take(k)
        .map(|j| {
            let name = &scores.columns[j];
            Contribution {
                column: name.clone(),
                share: if total > 0.0 { nll[j].max(0.0) / total } else { 0.0 },
                value: value_of(table, name),
                expected: value_of(reconstructed, name),
            }
        })
        .collect()
}

/// Per row, the negative importance-weighted bound (Burda et al. 2016) with `k` posterior draws:
/// `-log mean_i p(x|z_i) p(z_i) / q(z_i|x)`, an estimate of `-log p(x)` that is at most the
/// negative ELBO in expectation and equals it at `k = 1`. Higher is more anomalous.
pub fn importance_weighted_score(
    model: &FittedVae,
    table: &Table,
    k: usize,
    rng: &mut impl Rng,
) -> Result<Vec<f64>, VaeError> {
    iw_by(model, table, k, |shape, _| Array2::<f32>::from_shape_simple_fn(shape, || StandardNormal.sample(&mut *rng)))
}

/// The importance-weighted bound with draw `d`'s noise from `eps_of((rows, latent), d)`.
fn iw_by(
    model: &FittedVae,
    table: &Table,
    k: usize,
    mut eps_of: impl FnMut((usize, usize), usize) -> Array2<f32>,
) -> Result<Vec<f64>, VaeError> {
    crate::ml::params::check_cells(table, false)?;
    let x: Array2<f32> = model.transform.encode(table)?;
    let c: Option<Array2<f32>> = model.transform.encode_conditions(table)?;
    let (mu, lv) = model.net.encode(x.view(), c.as_ref().map(|c| c.view()));
    let sd = lv.mapv(|v| (0.5 * v).exp());
    let n = x.nrows();
    let draws = k.max(1);
    // log q(z|x) = -½ Σ eps² - ½ Σ logvar, log p(z) = -½ Σ z²; the 2π terms cancel
    let half_logvar: Vec<f64> = lv.rows().into_iter().map(|r| 0.5 * r.iter().map(|&v| v as f64).sum::<f64>()).collect();
    let mut log_w = Array2::<f64>::zeros((n, draws));
    for d in 0..draws {
        let eps = eps_of(mu.dim(), d);
        let z = &mu + &(&eps * &sd);
        let out = model.decode_raw(z.view(), c.as_ref().map(|c| c.view()));
        let recon = recon_rows(&model.transform.heads, model.net.log_sigma(), x.view(), out.view(), None, None);
        for r in 0..n {
            let sq = |a: ndarray::ArrayView1<f32>| a.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>();
            let log_pz = -0.5 * sq(z.row(r));
            let log_q = -0.5 * sq(eps.row(r)) - half_logvar[r];
            log_w[[r, d]] = -(recon[r] as f64) + log_pz - log_q;
        }
    }
    let ln_k = (draws as f64).ln();
    Ok(log_w
        .axis_iter(Axis(0))
        .map(|w| {
            let m = w.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            -(m + w.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - ln_k)
        })
        .collect())
}

/// How a detector scores a row; every score is higher for more anomalous rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreMethod {
    /// Negative ELBO: reconstruction NLL plus KL.
    #[default]
    NegElbo,
    /// Reconstruction NLL only (the KL left out; better where it is noise, e.g. Tennessee Eastman).
    Recon,
    /// Negative importance-weighted bound (Burda et al. 2016), `samples` draws.
    ImportanceWeighted,
}

/// A detector's scoring settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreSpec {
    #[serde(default)]
    pub method: ScoreMethod,
    /// Posterior draws per row (1 to 256).
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// Seeds the draws, which every row shares (common random numbers): a row scores the same
    /// alone or in any batch, today and after a restart.
    #[serde(default)]
    pub seed: u64,
}

fn default_samples() -> usize {
    8
}

/// Most posterior draws per row.
pub const MAX_SAMPLES: usize = 256;

impl Default for ScoreSpec {
    fn default() -> Self {
        ScoreSpec { method: ScoreMethod::default(), samples: default_samples(), seed: 0 }
    }
}

impl ScoreSpec {
    /// Refuses settings that cannot score.
    pub fn check(&self) -> Result<(), String> {
        if self.samples == 0 || self.samples > MAX_SAMPLES {
            return Err(format!("samples must be between 1 and {MAX_SAMPLES}, got {}", self.samples));
        }
        Ok(())
    }

    /// The shared noise: one row per draw, one column per latent dimension.
    fn draws(&self, latent: usize) -> Array2<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        Array2::from_shape_simple_fn((self.samples.max(1), latent), || StandardNormal.sample(&mut rng))
    }
}

/// Rows scored by a detector: the score per row, the per-column reconstruction NLL behind the
/// explanations, and the model's reconstruction of each row.
#[derive(Debug, Clone)]
pub struct Scored {
    pub scores: Vec<f64>,
    pub detail: RowScores,
    pub reconstructed: Table,
}

impl Scored {
    /// Row `row`'s `k` largest contributions.
    pub fn explain(&self, table: &Table, row: usize, k: usize) -> Vec<Contribution> {
        explain(&self.detail, table, &self.reconstructed, row, k)
    }
}

/// Scores rows as a detector does, with common random numbers (see `ScoreSpec::seed`).
pub fn score_rows(model: &FittedVae, table: &Table, spec: &ScoreSpec) -> Result<Scored, VaeError> {
    let eps = spec.draws(model.latent());
    let detail = model.score_common(table, eps.view())?;
    let scores = match spec.method {
        ScoreMethod::NegElbo => detail.neg_elbo.clone(),
        ScoreMethod::Recon => detail.neg_elbo.iter().zip(&detail.kl).map(|(e, k)| e - k).collect(),
        ScoreMethod::ImportanceWeighted => iw_by(model, table, eps.nrows(), |(n, _), d| {
            eps.row(d).broadcast((n, eps.ncols())).expect("one row broadcasts").to_owned()
        })?,
    };
    let reconstructed = model.reconstruct(table)?;
    Ok(Scored { scores, detail, reconstructed })
}

/// Values a detector's drift is measured against: calibration scores and numeric columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub scores: Vec<f64>,
    /// Numeric columns only (missing values as NaN; categorical columns are not compared).
    pub columns: std::collections::BTreeMap<String, Vec<f64>>,
}

impl Reference {
    /// At most `max` rows of `table` (evenly strided) with their scores.
    pub fn of(table: &Table, scores: &[f64], max: usize) -> Reference {
        let step = table.n_rows().div_ceil(max.max(1)).max(1);
        let pick = |v: &[f64]| v.iter().step_by(step).copied().collect::<Vec<f64>>();
        Reference {
            scores: pick(scores),
            columns: table.columns.iter().filter_map(|c| Some((c.name.clone(), pick(c.numeric()?)))).collect(),
        }
    }

    /// Drift of recent scores and columns against this reference; a column absent from
    /// `recent` is left out.
    pub fn drift(
        &self,
        recent_scores: &[f64],
        recent: &std::collections::BTreeMap<String, Vec<f64>>,
    ) -> (Drift, Vec<(String, Drift)>) {
        let columns = self
            .columns
            .iter()
            .filter_map(|(name, reference)| Some((name.clone(), drift(reference, recent.get(name)?))))
            .collect();
        (drift(&self.scores, recent_scores), columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::fitted::tests::toy_table;
    use crate::ml::params::VaeParams;
    use crate::ml::train::{fit, NoObserver};
    use approx::assert_abs_diff_eq;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn normal_draws(n: usize, shift: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let v: f64 = StandardNormal.sample(&mut rng);
                v + shift
            })
            .collect()
    }

    #[test]
    fn results_and_errors_are_send_and_sync() {
        fn is<T: Send + Sync>() {}
        is::<AnomalyError>();
        is::<Calibration>();
        is::<Calibrated>();
        is::<Drift>();
        is::<Contribution>();
    }

    #[test]
    fn auroc_counts_ties_half_by_hand() {
        // pairs (fault, normal): 3 > 1, 3 > 2, 3 = 3 (½); 2 > 1, 2 = 2 (½), 2 < 3; 0 < all three
        // = (2 + ½ + 1 + ½) / 9 = 4 / 9
        assert_abs_diff_eq!(auroc(&[1.0, 2.0, 3.0], &[3.0, 2.0, 0.0]), 4.0 / 9.0, epsilon = 1e-12);
        assert_abs_diff_eq!(auroc(&[5.0; 4], &[5.0; 3]), 0.5, epsilon = 1e-12);
        assert_eq!(auroc(&[1.0], &[2.0]), 1.0);
        assert_eq!(auroc(&[2.0], &[1.0]), 0.0);
        assert!(auroc(&[], &[1.0]).is_nan());
    }

    #[test]
    fn auroc_and_average_precision_match_scikit_learn() {
        // /tmp/peers/bin/python -c "import numpy as np; from sklearn.metrics import roc_auc_score as r,
        //   average_precision_score as a; n=np.round(np.sin(np.arange(40))*3,1); f=np.round(np.cos(np.arange(25))*3+1.5,1);
        //   y=np.r_[np.zeros(40),np.ones(25)]; s=np.r_[n,f]; print(r(y,s), a(y,s))"
        // -> 0.6779999999999999 0.650862017001659  (scikit-learn 1.9.1; 46 distinct values in 65)
        let normal: Vec<f64> = (0..40).map(|i| ((i as f64).sin() * 3.0 * 10.0).round() / 10.0).collect();
        let fault: Vec<f64> = (0..25).map(|i| (((i as f64).cos() * 3.0 + 1.5) * 10.0).round() / 10.0).collect();
        assert_abs_diff_eq!(auroc(&normal, &fault), SKLEARN_AUROC, epsilon = 1e-12);
        let c = curves(&normal, &fault);
        assert_abs_diff_eq!(c.auroc, SKLEARN_AUROC, epsilon = 1e-12);
        assert_abs_diff_eq!(c.average_precision, SKLEARN_AP, epsilon = 1e-12);
        assert_eq!(c.roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(c.roc.last(), Some(&(1.0, 1.0)));
        // the trapezoid area of the unthinned ROC is the Mann–Whitney statistic
        let area: f64 = c.roc.windows(2).map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0).sum();
        assert_abs_diff_eq!(area, SKLEARN_AUROC, epsilon = 1e-12);
    }
    const SKLEARN_AUROC: f64 = 0.678;
    const SKLEARN_AP: f64 = 0.650862017001659;

    #[test]
    fn long_curves_are_thinned_keeping_both_ends() {
        let c = curves(&normal_draws(3000, 0.0, 1), &normal_draws(3000, 1.0, 2));
        assert!(c.roc.len() <= MAX_CURVE_POINTS && c.roc.len() > 150, "{}", c.roc.len());
        assert!(c.pr.len() <= MAX_CURVE_POINTS);
        assert_eq!((c.roc[0], *c.roc.last().unwrap()), ((0.0, 0.0), (1.0, 1.0)));
        assert!(c.roc.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1), "monotone");
        // N(1, 1) against N(0, 1): AUROC = Φ(1/√2) = 0.7602
        assert!((c.auroc - 0.7602).abs() < 0.02, "{}", c.auroc);
    }

    #[test]
    fn false_alarm_rate_holds_on_fresh_normal_rows() {
        let held_out = normal_draws(1000, 0.0, 3);
        for rate in [0.01, 0.05, 0.2] {
            let c = calibrate(&held_out, &[], &Calibration::FalseAlarmRate { rate }).unwrap();
            assert!(c.false_alarm_rate <= rate + 1e-12, "at most the rate on the calibration rows");
            assert!(c.false_alarm_rate > rate - 0.002);
            assert!(c.recall.is_none() && c.curves.is_none());
            let fresh = normal_draws(100_000, 0.0, 4);
            let seen = fresh.iter().filter(|&&v| v > c.threshold).count() as f64 / fresh.len() as f64;
            // the quantile of 1000 draws has a binomial spread of about √(r(1-r)/1000)
            let tol = 3.5 * (rate * (1.0 - rate) / 1000.0).sqrt();
            assert!((seen - rate).abs() < tol, "rate {rate}: {seen} on fresh rows");
        }
    }

    #[test]
    fn max_f1_picks_the_best_threshold_of_a_hand_made_case() {
        // threshold 4 flags {5, 6}: F1 = 0.8; 3 flags {3.5, 4, 5, 6}: P = ¾, R = 1, F1 = 6/7;
        // 2 flags five: P = 0.6, F1 = 0.75; lower thresholds do worse still
        let c = calibrate(&[1.0, 2.0, 3.0, 4.0], &[3.5, 5.0, 6.0], &Calibration::MaxF1).unwrap();
        assert_eq!(c.threshold, 3.0);
        assert_abs_diff_eq!(c.f1.unwrap(), 6.0 / 7.0, epsilon = 1e-12);
        assert_eq!((c.recall, c.precision, c.false_alarm_rate), (Some(1.0), Some(0.75), 0.25));
        assert!(c.curves.is_some());
    }

    #[test]
    fn recall_target_is_met_with_the_highest_threshold() {
        let normal = normal_draws(500, 0.0, 5);
        let fault = normal_draws(300, 2.0, 6);
        for target in [0.5, 0.9, 0.99, 1.0] {
            let c = calibrate(&normal, &fault, &Calibration::Recall { target }).unwrap();
            assert!(c.recall.unwrap() >= target, "{target}: {:?}", c.recall);
            // one fault fewer would miss the target: the next fault score up is not flagged
            let flagged = fault.iter().filter(|&&v| v > c.threshold).count();
            assert_eq!(flagged, (target * 300.0_f64).ceil() as usize, "{target}");
        }
        let all = calibrate(&normal, &fault, &Calibration::Recall { target: 1.0 }).unwrap();
        assert!(fault.iter().all(|&v| v > all.threshold));
    }

    #[test]
    fn bad_calibrations_are_refused_clearly() {
        let n = [1.0, 2.0];
        for rate in [0.0, 1.0, -0.1, f64::NAN] {
            let e = calibrate(&n, &[], &Calibration::FalseAlarmRate { rate }).unwrap_err();
            assert!(matches!(e, AnomalyError::BadRate(_)), "{e}");
        }
        let e = calibrate(&n, &[], &Calibration::MaxF1).unwrap_err();
        assert_eq!(e, AnomalyError::NeedsFaults("max_f1"));
        assert!(e.to_string().contains("false_alarm_rate"), "says what works instead: {e}");
        assert_eq!(
            calibrate(&n, &[], &Calibration::Recall { target: 0.9 }).unwrap_err(),
            AnomalyError::NeedsFaults("recall")
        );
        assert!(matches!(
            calibrate(&n, &[3.0], &Calibration::Recall { target: 1.5 }).unwrap_err(),
            AnomalyError::BadRecallTarget(_)
        ));
        assert_eq!(calibrate(&[], &[1.0], &Calibration::MaxF1).unwrap_err(), AnomalyError::NoNormalScores);
        assert!(matches!(
            calibrate(&[1.0, f64::NAN], &[], &Calibration::FalseAlarmRate { rate: 0.1 }).unwrap_err(),
            AnomalyError::NonFiniteScore { side: "normal", .. }
        ));
        // the method round-trips through JSON in the shape the API takes
        let json = serde_json::to_string(&Calibration::FalseAlarmRate { rate: 0.01 }).unwrap();
        assert_eq!(json, r#"{"method":"false_alarm_rate","rate":0.01}"#);
        let back: Calibration = serde_json::from_str(r#"{"method":"max_f1"}"#).unwrap();
        assert_eq!(back, Calibration::MaxF1);
    }

    #[test]
    fn drift_is_zero_for_identical_samples_and_matches_scipy_for_a_shift() {
        let a = normal_draws(2000, 0.0, 7);
        let same = drift(&a, &a);
        assert_eq!((same.psi, same.ks), (0.0, 0.0));
        // integer-valued samples, so scipy reproduces them exactly:
        // /tmp/peers/bin/python -c "import numpy as np; from scipy.stats import ks_2samp;
        //   a=np.arange(1000)%97; b=(np.arange(700)*7)%113+10; print(ks_2samp(a,b).statistic)"
        // -> 0.22857142857142856  (scipy 1.17.1)
        let a: Vec<f64> = (0..1000).map(|i| (i % 97) as f64).collect();
        let b: Vec<f64> = (0..700).map(|i| ((i * 7) % 113 + 10) as f64).collect();
        assert_abs_diff_eq!(drift(&a, &b).ks, 0.22857142857142856, epsilon = 1e-9);
        // N(0.5, 1) against N(0, 1): KS → 2Φ(0.25) - 1 = 0.1974 (the CDFs part most at 0.25),
        // PSI → Σ (q - p) ln(q/p) over the deciles of N(0, 1) = 0.2377 (scipy.stats.norm)
        let shifted = drift(&normal_draws(20_000, 0.0, 8), &normal_draws(20_000, 0.5, 9));
        assert!((shifted.ks - 0.1974).abs() < 0.015, "{shifted:?}");
        assert!((shifted.psi - 0.2377).abs() < 0.03, "{shifted:?}");
        let small = drift(&normal_draws(20_000, 0.0, 8), &normal_draws(20_000, 0.0, 10));
        assert!(small.psi < 0.01 && small.ks < 0.02, "{small:?}");
        assert!(drift(&[], &[1.0]).psi.is_nan());
    }

    fn small_model(t: &Table, epochs: usize) -> FittedVae {
        let p = VaeParams::new().hidden(vec![16, 16]).latent(3).batch_size(32).epochs(epochs).seed(1).patience(None);
        fit(&p.check(t).unwrap(), t, &mut NoObserver).unwrap()
    }

    #[test]
    fn explain_names_the_column_set_far_out_first() {
        let t = toy_table(600, 3);
        let m = small_model(&t, 12);
        let mut bad = t.select_rows(&[0, 1, 2]);
        if let ColumnData::Numeric(v) = &mut bad.columns[0].data {
            v[1] += 40.0; // column "a" has standard deviation 2: twenty of them off
        }
        let scores = m.score(&bad, 8, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        let rec = m.reconstruct(&bad).unwrap();
        let top = explain(&scores, &bad, &rec, 1, 3);
        assert_eq!(top.len(), 3);
        assert_eq!(top[0].column, "a", "{top:?}");
        assert!(top[0].share > 0.5, "{top:?}");
        assert!(top.windows(2).all(|w| w[0].share >= w[1].share));
        assert_eq!(top[0].value, Value::from(t.column("a").unwrap().numeric().unwrap()[1] + 40.0));
        let expected = top[0].expected.as_f64().unwrap();
        assert!(expected < top[0].value.as_f64().unwrap() - 10.0, "reconstructed within the training range");
        // an ordinary row is not blamed on "a"
        let calm = explain(&scores, &bad, &rec, 0, 1);
        assert_ne!(calm[0].column, "a");
        assert!(explain(&scores, &bad, &rec, 3, 2).is_empty(), "row out of range");
        assert_eq!(explain(&scores, &bad, &rec, 0, 100).len(), scores.columns.len());
    }

    #[test]
    fn detector_scores_do_not_depend_on_the_batch_and_the_methods_agree() {
        let t = toy_table(400, 11);
        let m = small_model(&t, 15);
        let spec = ScoreSpec { samples: 4, ..ScoreSpec::default() };
        let all = score_rows(&m, &t, &spec).unwrap();
        // common random numbers: a row alone, or in a shuffled batch, scores exactly the same
        for r in [0, 7, 399] {
            let alone = score_rows(&m, &t.select_rows(&[r]), &spec).unwrap();
            assert_eq!(alone.scores[0], all.scores[r], "row {r}");
        }
        let rev: Vec<usize> = (0..400).rev().collect();
        let reversed = score_rows(&m, &t.select_rows(&rev), &spec).unwrap();
        assert_eq!(reversed.scores[0], all.scores[399]);
        // the same seed gives the same scores; another seed other (but close) ones
        assert_eq!(score_rows(&m, &t, &spec).unwrap().scores, all.scores);
        let other = score_rows(&m, &t, &ScoreSpec { seed: 9, ..spec.clone() }).unwrap();
        assert_ne!(other.scores, all.scores);
        // recon is the ELBO without its KL; one importance draw is exactly the one-draw ELBO with a
        // sampled KL, so it is close to the ELBO on average
        let recon = score_rows(&m, &t, &ScoreSpec { method: ScoreMethod::Recon, ..spec.clone() }).unwrap();
        for r in 0..400 {
            assert_abs_diff_eq!(recon.scores[r], all.detail.neg_elbo[r] - all.detail.kl[r], epsilon = 1e-9);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let iw =
            score_rows(&m, &t, &ScoreSpec { method: ScoreMethod::ImportanceWeighted, samples: 64, seed: 0 }).unwrap();
        assert!(
            mean(&iw.scores) < mean(&all.scores),
            "IW {} is tighter than ELBO {}",
            mean(&iw.scores),
            mean(&all.scores)
        );
        // explanations come with the reconstruction of each row
        assert_eq!(all.reconstructed.n_rows(), 400);
        assert_eq!(all.explain(&t, 3, 3).len(), 3);
        assert!(ScoreSpec { samples: 0, ..spec.clone() }.check().is_err());
        assert!(ScoreSpec { samples: MAX_SAMPLES + 1, ..spec }.check().is_err());
    }

    #[test]
    fn drift_reference_keeps_numeric_columns_and_compares_recent_rows() {
        let t = toy_table(3000, 12);
        let scores: Vec<f64> = (0..3000).map(|i| i as f64).collect();
        let r = Reference::of(&t, &scores, 1000);
        assert_eq!(r.scores.len(), 1000);
        assert!(r.columns.contains_key("a") && !r.columns.contains_key("cat"), "{:?}", r.columns.keys());
        let same: std::collections::BTreeMap<String, Vec<f64>> = r.columns.clone();
        let (s, cols) = r.drift(&r.scores, &same);
        assert_eq!((s.psi, s.ks), (0.0, 0.0));
        assert!(cols.iter().all(|(_, d)| d.ks == 0.0));
        let mut shifted = same.clone();
        for v in shifted.get_mut("a").unwrap() {
            *v += 4.0; // two standard deviations
        }
        let (_, cols) = r.drift(&r.scores, &shifted);
        let a = cols.iter().find(|(c, _)| c == "a").unwrap().1;
        assert!(a.psi > 1.0 && a.ks > 0.6, "{a:?}");
    }

    #[test]
    fn importance_weighted_bound_is_the_elbo_at_one_draw_and_tighter_with_more() {
        let t = toy_table(600, 3);
        let m = small_model(&t, 40);
        let elbo = m.score(&t, 64, &mut ChaCha8Rng::seed_from_u64(5)).unwrap().neg_elbo;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let iw =
            |k: usize, seed: u64| importance_weighted_score(&m, &t, k, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        let (one, few, many) = (iw(1, 6), iw(8, 7), iw(256, 8));
        assert_eq!(one.len(), 600);
        // k = 1 estimates the ELBO with a sampled KL: the same in expectation (here 6.61 vs 6.60,
        // the model uses about 1.2 nats of KL per row)
        assert!((mean(&one) - mean(&elbo)).abs() < 0.02 * mean(&elbo).abs(), "{} vs {}", mean(&one), mean(&elbo));
        // more draws tighten the bound: 6.60 (ELBO) > 6.55 (k = 8) > 6.54 (k = 256)
        assert!(mean(&few) < mean(&elbo) - 0.02, "IW {} vs ELBO {}", mean(&few), mean(&elbo));
        assert!(mean(&many) < mean(&few), "k = 256: {} vs k = 8: {}", mean(&many), mean(&few));
        // a corrupted row still scores worse
        let mut bad = t.select_rows(&[0]);
        if let ColumnData::Numeric(v) = &mut bad.columns[1].data {
            v[0] += 8.0;
        }
        let bad = importance_weighted_score(&m, &bad, 64, &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
        assert!(bad[0] > many[0] + 5.0, "{} vs {}", bad[0], many[0]);
    }
}
