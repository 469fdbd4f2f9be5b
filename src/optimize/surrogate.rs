//! Surrogate models: a model fitted on a labelled table (numeric design columns -> one numeric
//! target) that predicts the target with an uncertainty, for use inside objective expressions.
//!
//! Three kinds, all fitted on standardised inputs (each column centred and divided by its sample
//! standard deviation; a constant column gets scale 1):
//!
//! * [`SurrogateKind::Linear`]: ordinary least squares (`linfa-linear`) on polynomial features.
//! * [`SurrogateKind::ElasticNet`]: `linfa-elasticnet` on the same features.
//! * [`SurrogateKind::Gp`]: a Gaussian process (kriging) with a constant mean and egobox's
//!   Matérn 5/2 product kernel `prod_j (1 + √5 u_j + 5/3 u_j²) exp(-√5 u_j)`, `u_j = θ_j |Δz_j|`,
//!   plus a nugget (noise) term. See [`Surrogate::fit`] for how its hyperparameters are chosen.
//!
//! **Polynomial features** (linear kinds): every monomial of the standardised inputs `z` of total
//! degree 1..=`degree` (`z0`, `z1`, `z0²`, `z0·z1`, ... — `C(d + degree, degree) - 1` of them for
//! `d` inputs), each then standardised. Monomials that are constant or numerically a linear
//! combination of earlier ones (e.g. `z²` of a two-level input) are dropped before the solve.
//!
//! **Trust**: every fit first runs k-fold cross-validation (rows shuffled with the spec's seed);
//! [`CvScore`] holds the R² and RMSE of the pooled out-of-fold predictions, in target units.
//!
//! Everything here is pure and synchronous (no IO); a fitted [`Surrogate`] is plain data,
//! serialisable to JSON and `Send + Sync`.

use std::fmt;

use egobox_gp::correlation_models::Matern52Corr;
use egobox_gp::mean_models::ConstantMean;
use egobox_gp::GaussianProcess;
use linfa::traits::Fit;
use linfa::Dataset;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A GP needs at least this many rows (and at least one per fold).
pub const GP_MIN_ROWS: usize = 5;
/// A GP is refused above this many rows: its fit is O(n³) and its model O(n²) in memory.
pub const GP_MAX_ROWS: usize = 3000;
/// GP hyperparameters are estimated on a seeded random subset of at most this many rows; the
/// final model (and the cross-validation) then uses every row with those hyperparameters.
pub const GP_HYPER_ROWS: usize = 300;
/// Highest polynomial degree of the linear kinds.
pub const MAX_DEGREE: usize = 10;
/// Polynomial feature counts above this are refused (whatever the row count).
pub const MAX_FEATURES: usize = 2000;

/// Which model a surrogate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurrogateKind {
    /// Ordinary least squares on polynomial features of degree `degree`.
    Linear,
    /// Elastic net (`alpha`, `l1_ratio`) on polynomial features of degree `degree`.
    ElasticNet,
    /// Gaussian process (kriging) with a Matérn 5/2 kernel and an estimated noise level.
    Gp,
}

/// How to fit a surrogate. Missing JSON fields take the [`Default`] values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurrogateSpec {
    pub kind: SurrogateKind,
    /// Polynomial degree of the features for `linear` / `elastic_net` (1 = plain linear); ignored
    /// by `gp`. Default 2.
    pub degree: usize,
    /// Elastic-net penalty strength, applied to the standardised problem (features and target
    /// scaled to unit variance), so it does not depend on units. Default 0.01.
    pub alpha: f64,
    /// Share of the penalty that is L1 (1 = lasso, 0 = ridge). Default 0.5.
    pub l1_ratio: f64,
    /// Cross-validation folds (at least 2). Default 5.
    pub folds: usize,
    /// Seed of the fold shuffle (and of the GP's hyperparameter subset).
    pub seed: u64,
}

impl Default for SurrogateSpec {
    fn default() -> Self {
        SurrogateSpec { kind: SurrogateKind::Gp, degree: 2, alpha: 0.01, l1_ratio: 0.5, folds: 5, seed: 0 }
    }
}

/// k-fold cross-validated accuracy: R² and RMSE (target units) of the out-of-fold predictions of
/// all rows pooled together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvScore {
    pub r2: f64,
    pub rmse: f64,
    pub folds: usize,
}

/// One prediction in target units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub mean: f64,
    /// For a GP: the posterior standard deviation of the mean response at the point (it excludes
    /// the estimated observation noise, so it is near zero at training points when the data are
    /// noise-free and grows away from the data). For `linear` / `elastic_net`: the
    /// cross-validated RMSE, the same at every point.
    pub std: f64,
}

/// Why a surrogate could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SurrogateError {
    #[error("invalid surrogate spec: {0}")]
    InvalidSpec(String),
    #[error("{0}")]
    Shape(String),
    #[error("too few rows: {rows} given, at least {needed} needed ({reason})")]
    TooFewRows { rows: usize, needed: usize, reason: String },
    #[error("too many rows for a {kind} surrogate: {rows} given, at most {max} (use a linear kind or fewer rows)")]
    TooManyRows { kind: &'static str, rows: usize, max: usize },
    /// `row` is the 0-based index of the row in the table given to [`Surrogate::fit`].
    #[error("row {row}, column `{column}`: {value}")]
    NonFinite { row: usize, column: String, value: f64 },
    #[error("target `{target}` has zero variance (every row is {value}); there is nothing to model")]
    ConstantTarget { target: String, value: f64 },
    #[error("fitting failed: {0}")]
    Fit(String),
}

/// A fitted surrogate: what is needed to predict (standardisation, coefficients, or the GP's
/// hyperparameters and training rows) plus its cross-validation score. Serialises to JSON; a GP
/// re-factorises its kernel matrix when deserialised (O(n³), ~0.1 s at 1000 rows in release)
/// and then predicts bit-for-bit as before.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Surrogate {
    pub inputs: Vec<String>,
    pub target: String,
    pub kind: SurrogateKind,
    pub spec: SurrogateSpec,
    pub cv: CvScore,
    pub n_rows: usize,
    model: Model,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Model {
    Linear(LinearModel),
    Gp(GpModel),
}

impl Surrogate {
    /// Fits a surrogate of `target` on `x` (rows × `inputs`) and `y`.
    ///
    /// First runs k-fold cross-validation (rows shuffled with `spec.seed`), then fits on all rows.
    ///
    /// Linear kinds: every fold refits the whole pipeline (standardisation, features, solve).
    ///
    /// GP: inputs and target are standardised. The hyperparameters (θ per input and the nugget
    /// ν, the noise-to-signal variance ratio, which egobox-gp keeps fixed) maximise the
    /// concentrated likelihood on at most [`GP_HYPER_ROWS`] rows (a seeded random subset when
    /// there are more), by coordinate ascent: ν is scanned on a log grid in [1e-10, 10] with θ
    /// fixed (θ = 1 at first), egobox-gp fits θ with ν fixed (multistart COBYLA, 5 starts), ν is
    /// scanned again, egobox-gp refines θ from there (one start), and ν is scanned a last time.
    /// The model on all rows uses those hyperparameters (the nugget is raised tenfold if the
    /// full kernel matrix will not factorise). Cross-validation keeps the hyperparameters and
    /// standardisation of the full fit and refits only the GP's mean, weights and variance per
    /// fold (re-estimating θ per fold would multiply the fit time by `folds`), so it is slightly
    /// optimistic.
    pub fn fit(
        inputs: &[String],
        target: &str,
        x: ArrayView2<f64>,
        y: ArrayView1<f64>,
        spec: &SurrogateSpec,
    ) -> Result<Surrogate, SurrogateError> {
        validate(inputs, target, x, y, spec)?;
        let n = x.nrows();
        let folds = make_folds(n, spec.folds, spec.seed);
        let mut oof = vec![f64::NAN; n];
        let model = match spec.kind {
            SurrogateKind::Linear | SurrogateKind::ElasticNet => {
                for (f, test) in folds.iter().enumerate() {
                    let train = complement(n, test);
                    let m = LinearModel::fit(x.select(Axis(0), &train).view(), y.select(Axis(0), &train).view(), spec)
                        .map_err(|e| fold_error(f, e))?;
                    for &i in test {
                        oof[i] = m.predict(&x.row(i).to_vec());
                    }
                }
                Model::Linear(LinearModel::fit(x, y, spec)?)
            }
            SurrogateKind::Gp => {
                let full = GpModel::fit(x, y, spec.seed)?;
                for (f, test) in folds.iter().enumerate() {
                    let train = complement(n, test);
                    let state = GpState {
                        x_train: rows_of(x, &train),
                        y_train: train.iter().map(|&i| y[i]).collect(),
                        ..full.state.clone()
                    };
                    let m = GpModel::build_robust(state).map_err(|e| fold_error(f, e))?;
                    let xt = x.select(Axis(0), test);
                    for (&i, p) in test.iter().zip(m.predict_many(xt.view())) {
                        oof[i] = p.mean;
                    }
                }
                Model::Gp(full)
            }
        };
        let cv = score(y, &oof, spec.folds);
        if !(cv.r2.is_finite() && cv.rmse.is_finite()) {
            return Err(SurrogateError::Fit(format!(
                "cross-validation produced non-finite scores (R² {}, RMSE {})",
                cv.r2, cv.rmse
            )));
        }
        Ok(Surrogate {
            inputs: inputs.to_vec(),
            target: target.to_owned(),
            kind: spec.kind,
            spec: spec.clone(),
            cv,
            n_rows: n,
            model,
        })
    }

    /// Predicts one point given in the order of `inputs`. A point of the wrong length gives NaN.
    /// Linear kinds: O(features), no allocation. GP: O(n·d) for the mean and an O(n²/2)
    /// triangular solve for the std, one allocation of n floats.
    pub fn predict(&self, x: &[f64]) -> Prediction {
        if x.len() != self.inputs.len() {
            return Prediction { mean: f64::NAN, std: f64::NAN };
        }
        match &self.model {
            Model::Linear(m) => Prediction { mean: m.predict(x), std: self.cv.rmse },
            Model::Gp(m) => m.predict(x),
        }
    }

    /// Only the mean of [`Surrogate::predict`], for loops that do not use the std: for a GP this
    /// skips the O(n²) variance solve (about 10× faster at 1000 rows).
    pub fn predict_mean(&self, x: &[f64]) -> f64 {
        if x.len() != self.inputs.len() {
            return f64::NAN;
        }
        match &self.model {
            Model::Linear(m) => m.predict(x),
            Model::Gp(m) => m.predict_mean(x),
        }
    }

    /// Predicts every row of `x` (columns in the order of `inputs`); the GP solves points in
    /// blocks of 8, up to ~2× faster than calling [`Surrogate::predict`] per row.
    /// A table with the wrong column count gives NaN predictions.
    pub fn predict_many(&self, x: ArrayView2<f64>) -> Vec<Prediction> {
        if x.ncols() != self.inputs.len() {
            return vec![Prediction { mean: f64::NAN, std: f64::NAN }; x.nrows()];
        }
        match &self.model {
            Model::Linear(m) => x
                .rows()
                .into_iter()
                .map(|r| {
                    let mean = match r.as_slice() {
                        Some(s) => m.predict(s),
                        None => m.predict(&r.to_vec()),
                    };
                    Prediction { mean, std: self.cv.rmse }
                })
                .collect(),
            Model::Gp(m) => m.predict_many(x),
        }
    }
}

fn fold_error(fold: usize, e: SurrogateError) -> SurrogateError {
    match e {
        SurrogateError::Fit(m) => SurrogateError::Fit(format!("cross-validation fold {fold}: {m}")),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Validation, folds, scores
// ---------------------------------------------------------------------------------------------

/// Number of monomials of total degree 1..=degree in `d` variables, `C(d + degree, degree) - 1`,
/// saturating at `usize::MAX`.
fn n_monomials(d: usize, degree: usize) -> usize {
    let mut c: u128 = 1;
    for k in 1..=degree as u128 {
        c = c * (d as u128 + k) / k;
        if c > usize::MAX as u128 {
            return usize::MAX;
        }
    }
    (c - 1) as usize
}

fn validate(
    inputs: &[String],
    target: &str,
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    spec: &SurrogateSpec,
) -> Result<(), SurrogateError> {
    let linear = matches!(spec.kind, SurrogateKind::Linear | SurrogateKind::ElasticNet);
    if spec.folds < 2 {
        return Err(SurrogateError::InvalidSpec(format!("folds must be at least 2, got {}", spec.folds)));
    }
    if linear && !(1..=MAX_DEGREE).contains(&spec.degree) {
        return Err(SurrogateError::InvalidSpec(format!(
            "degree must be between 1 (plain linear) and {MAX_DEGREE}, got {}",
            spec.degree
        )));
    }
    if spec.kind == SurrogateKind::ElasticNet {
        if !(spec.alpha.is_finite() && spec.alpha >= 0.0) {
            return Err(SurrogateError::InvalidSpec(format!("alpha must be finite and >= 0, got {}", spec.alpha)));
        }
        if !(0.0..=1.0).contains(&spec.l1_ratio) {
            return Err(SurrogateError::InvalidSpec(format!("l1_ratio must be in [0, 1], got {}", spec.l1_ratio)));
        }
    }
    if inputs.is_empty() {
        return Err(SurrogateError::Shape("a surrogate needs at least one input column".into()));
    }
    if inputs.len() != x.ncols() {
        return Err(SurrogateError::Shape(format!(
            "{} input names given but the table has {} columns",
            inputs.len(),
            x.ncols()
        )));
    }
    if x.nrows() != y.len() {
        return Err(SurrogateError::Shape(format!("the table has {} rows but the target has {}", x.nrows(), y.len())));
    }
    for (j, name) in inputs.iter().enumerate() {
        if inputs[..j].contains(name) {
            return Err(SurrogateError::Shape(format!("input `{name}` is listed twice")));
        }
    }
    for (i, row) in x.rows().into_iter().enumerate() {
        if let Some((j, &v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SurrogateError::NonFinite { row: i, column: inputs[j].clone(), value: v });
        }
        if !y[i].is_finite() {
            return Err(SurrogateError::NonFinite { row: i, column: target.to_owned(), value: y[i] });
        }
    }
    let n = x.nrows();
    if n < spec.folds {
        return Err(SurrogateError::TooFewRows {
            rows: n,
            needed: spec.folds,
            reason: format!("one per cross-validation fold ({} folds)", spec.folds),
        });
    }
    if linear {
        let p = n_monomials(x.ncols(), spec.degree);
        if p > MAX_FEATURES {
            return Err(SurrogateError::InvalidSpec(format!(
                "degree {} on {} inputs makes {p} polynomial features, more than {MAX_FEATURES}; lower the degree",
                spec.degree,
                x.ncols()
            )));
        }
        let needed = 2 * (p + 1);
        if n < needed {
            return Err(SurrogateError::TooFewRows {
                rows: n,
                needed,
                reason: format!("2 × ({p} polynomial features of degree {} + intercept)", spec.degree),
            });
        }
    } else {
        if n < GP_MIN_ROWS {
            return Err(SurrogateError::TooFewRows {
                rows: n,
                needed: GP_MIN_ROWS,
                reason: format!("a GP needs at least {GP_MIN_ROWS} rows"),
            });
        }
        if n > GP_MAX_ROWS {
            return Err(SurrogateError::TooManyRows { kind: "gp", rows: n, max: GP_MAX_ROWS });
        }
    }
    let (lo, hi) = y.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if hi - lo <= 1e-12 * lo.abs().max(hi.abs()) {
        return Err(SurrogateError::ConstantTarget { target: target.to_owned(), value: lo });
    }
    Ok(())
}

/// Shuffles `0..n` with `seed` and cuts it into `k` folds whose sizes differ by at most one.
fn make_folds(n: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    (0..k).map(|f| idx[f * n / k..(f + 1) * n / k].to_vec()).collect()
}

fn complement(n: usize, test: &[usize]) -> Vec<usize> {
    let mut keep = vec![true; n];
    for &i in test {
        keep[i] = false;
    }
    (0..n).filter(|&i| keep[i]).collect()
}

fn score(y: ArrayView1<f64>, pred: &[f64], folds: usize) -> CvScore {
    let n = y.len() as f64;
    let mean = y.sum() / n;
    let ss_tot: f64 = y.iter().map(|v| (v - mean) * (v - mean)).sum();
    let ss_res: f64 = y.iter().zip(pred).map(|(v, p)| (v - p) * (v - p)).sum();
    CvScore { r2: 1.0 - ss_res / ss_tot, rmse: (ss_res / n).sqrt(), folds }
}

/// Column means and sample standard deviations (ddof 1, like egobox-gp); a constant column (or a
/// single row) gets scale 1.
fn standardisation(x: ArrayView2<f64>) -> (Vec<f64>, Vec<f64>) {
    let n = x.nrows() as f64;
    let mut mean = Vec::with_capacity(x.ncols());
    let mut scale = Vec::with_capacity(x.ncols());
    for col in x.columns() {
        let m = col.sum() / n;
        let var = if x.nrows() > 1 { col.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        let s = var.sqrt();
        mean.push(m);
        scale.push(if s > 1e-12 * m.abs().max(f64::MIN_POSITIVE) && s.is_finite() { s } else { 1.0 });
    }
    (mean, scale)
}

fn mean_and_scale(y: ArrayView1<f64>) -> (f64, f64) {
    let (m, s) = standardisation(y.insert_axis(Axis(1)));
    (m[0], s[0])
}

/// Row-major copy of the given rows of `x`.
fn rows_of(x: ArrayView2<f64>, rows: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows.len() * x.ncols());
    for &i in rows {
        out.extend(x.row(i).iter());
    }
    out
}

/// Runs `f` on the standardised point `(x - mean) / scale` held on the stack for up to 32 inputs.
#[inline]
fn with_standardised<R>(x: &[f64], mean: &[f64], scale: &[f64], f: impl FnOnce(&[f64]) -> R) -> R {
    let d = x.len();
    if d <= 32 {
        let mut buf = [0.0f64; 32];
        for j in 0..d {
            buf[j] = (x[j] - mean[j]) / scale[j];
        }
        f(&buf[..d])
    } else {
        let z: Vec<f64> = (0..d).map(|j| (x[j] - mean[j]) / scale[j]).collect();
        f(&z)
    }
}

// ---------------------------------------------------------------------------------------------
// Linear and elastic-net surrogates
// ---------------------------------------------------------------------------------------------

/// `prediction = intercept + Σ_k weights[k] · Π_{j ∈ terms[k]} z_j`, with `z` the standardised
/// inputs; `terms[k]` lists input indices with repetition (`[0, 0]` is `z0²`, `[1, 3]` is
/// `z1·z3`). The weights fold the feature standardisation and the target scale in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinearModel {
    x_mean: Vec<f64>,
    x_scale: Vec<f64>,
    terms: Vec<Vec<usize>>,
    weights: Vec<f64>,
    intercept: f64,
}

/// All non-decreasing index sequences of length 1..=degree over `0..d`, by degree then lexically.
fn monomials(d: usize, degree: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut last: Vec<Vec<usize>> = vec![Vec::new()];
    for _ in 0..degree {
        let mut next = Vec::new();
        for t in &last {
            let start = t.last().copied().unwrap_or(0);
            for j in start..d {
                let mut u = t.clone();
                u.push(j);
                next.push(u);
            }
        }
        out.extend(next.iter().cloned());
        last = next;
    }
    out
}

#[inline]
fn monomial(z: &[f64], term: &[usize]) -> f64 {
    term.iter().fold(1.0, |p, &j| p * z[j])
}

impl LinearModel {
    fn fit(x: ArrayView2<f64>, y: ArrayView1<f64>, spec: &SurrogateSpec) -> Result<LinearModel, SurrogateError> {
        let n = x.nrows();
        let (x_mean, x_scale) = standardisation(x);
        let z = Array2::from_shape_fn(x.dim(), |(i, j)| (x[[i, j]] - x_mean[j]) / x_scale[j]);
        let (y_mean, y_scale) = mean_and_scale(y);
        let ys = y.mapv(|v| (v - y_mean) / y_scale);

        // Candidate features, standardised; keep those that add a direction (Gram-Schmidt
        // against the intercept and the features kept so far).
        let mut terms = Vec::new();
        let mut f_mean = Vec::new();
        let mut f_scale = Vec::new();
        let mut cols: Vec<Vec<f64>> = Vec::new();
        let mut basis: Vec<Vec<f64>> = vec![vec![1.0 / (n as f64).sqrt(); n]];
        for term in monomials(x.ncols(), spec.degree) {
            let mut c: Vec<f64> = z.rows().into_iter().map(|r| monomial(r.as_slice().unwrap(), &term)).collect();
            let m = c.iter().sum::<f64>() / n as f64;
            let var = c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n as f64 - 1.0);
            let s = var.sqrt();
            if !s.is_finite() || s <= 1e-10 * m.abs().max(1.0) {
                continue;
            }
            c.iter_mut().for_each(|v| *v = (*v - m) / s);
            let norm2: f64 = dot(&c, &c);
            let mut r = c.clone();
            for _ in 0..2 {
                for q in &basis {
                    let a = dot(q, &r);
                    r.iter_mut().zip(q).for_each(|(ri, qi)| *ri -= a * qi);
                }
            }
            let rn2 = dot(&r, &r);
            if rn2 <= 1e-9 * norm2 {
                continue;
            }
            let rn = rn2.sqrt();
            r.iter_mut().for_each(|v| *v /= rn);
            basis.push(r);
            terms.push(term);
            f_mean.push(m);
            f_scale.push(s);
            cols.push(c);
        }
        let p = terms.len();
        let feats = Array2::from_shape_fn((n, p), |(i, k)| cols[k][i]);
        let ds = Dataset::new(feats, ys);
        let (w, b): (Vec<f64>, f64) = if p == 0 {
            (Vec::new(), 0.0)
        } else if spec.kind == SurrogateKind::ElasticNet {
            let m = linfa_elasticnet::ElasticNet::<f64>::params()
                .penalty(spec.alpha)
                .l1_ratio(spec.l1_ratio)
                .tolerance(1e-6)
                .max_iterations(10_000)
                .fit(&ds)
                .map_err(|e| SurrogateError::Fit(format!("elastic net: {e}")))?;
            (m.hyperplane().to_vec(), m.intercept())
        } else {
            let m = linfa_linear::LinearRegression::new()
                .fit(&ds)
                .map_err(|e| SurrogateError::Fit(format!("least squares: {e}")))?;
            (m.params().to_vec(), m.intercept())
        };
        let weights: Vec<f64> = (0..p).map(|k| y_scale * w[k] / f_scale[k]).collect();
        let intercept = y_mean + y_scale * (b - (0..p).map(|k| w[k] * f_mean[k] / f_scale[k]).sum::<f64>());
        if !(intercept.is_finite() && weights.iter().all(|v| v.is_finite())) {
            return Err(SurrogateError::Fit("the solve gave non-finite coefficients".into()));
        }
        Ok(LinearModel { x_mean, x_scale, terms, weights, intercept })
    }

    #[inline]
    fn predict(&self, x: &[f64]) -> f64 {
        with_standardised(x, &self.x_mean, &self.x_scale, |z| {
            self.terms.iter().zip(&self.weights).fold(self.intercept, |acc, (t, w)| acc + w * monomial(z, t))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Small dense linear algebra on packed lower-triangular matrices (row i holds columns 0..=i and
// starts at i(i+1)/2). Written out because the crate has no LAPACK; dot products use several
// accumulators so they vectorise.
// ---------------------------------------------------------------------------------------------

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[inline]
fn row_start(i: usize) -> usize {
    i * (i + 1) / 2
}

/// In-place Cholesky factorisation `A = L Lᵀ` of a packed symmetric matrix (lower part given).
/// Returns false when `A` is not numerically positive definite.
fn cholesky_packed(a: &mut [f64], n: usize) -> bool {
    for i in 0..n {
        let (head, row_i) = a.split_at_mut(row_start(i));
        let row_i = &mut row_i[..=i];
        for j in 0..i {
            let rj = row_start(j);
            let s = row_i[j] - dot(&row_i[..j], &head[rj..rj + j]);
            row_i[j] = s / head[rj + j];
        }
        let d = row_i[i] - dot(&row_i[..i], &row_i[..i]);
        if !(d > 0.0 && d.is_finite()) {
            return false;
        }
        row_i[i] = d.sqrt();
    }
    true
}

/// Solves `L v = b` in place.
#[inline]
fn forward_solve(l: &[f64], v: &mut [f64]) {
    for i in 0..v.len() {
        let ri = row_start(i);
        let (done, rest) = v.split_at_mut(i);
        rest[0] = (rest[0] - dot(&l[ri..ri + i], done)) / l[ri + i];
    }
}

/// Solves `Lᵀ v = b` in place.
fn backward_solve(l: &[f64], v: &mut [f64]) {
    for i in (0..v.len()).rev() {
        let ri = row_start(i);
        let (head, rest) = v.split_at_mut(i);
        rest[0] /= l[ri + i];
        let xi = rest[0];
        head.iter_mut().zip(&l[ri..ri + i]).for_each(|(h, lij)| *h -= lij * xi);
    }
}

// ---------------------------------------------------------------------------------------------
// Gaussian process
// ---------------------------------------------------------------------------------------------

const SQRT5: f64 = 2.236_067_977_499_79;
const FIVE_THIRDS: f64 = 5.0 / 3.0;
/// Nugget search range (noise variance / process variance).
const NUGGET_MIN: f64 = 1e-10;
const NUGGET_MAX: f64 = 10.0;
/// egobox-gp's default θ bounds (standardised units), used for θ search.
const THETA_BOUNDS: (f64, f64) = (1e-2, 1e1);

/// egobox-gp's `Matern52Corr` between standardised points `a` and `b`.
#[inline]
fn matern52(theta: &[f64], a: &[f64], b: &[f64]) -> f64 {
    let mut p = 1.0;
    let mut s = 0.0;
    for j in 0..theta.len() {
        let u = theta[j] * (a[j] - b[j]).abs();
        p *= 1.0 + SQRT5 * u + FIVE_THIRDS * u * u;
        s += u;
    }
    let e = (-SQRT5 * s).exp();
    if e == 0.0 {
        0.0
    } else {
        p * e
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum GpKernel {
    /// egobox-gp's `Matern52Corr` (product of one-dimensional Matérn 5/2 correlations).
    Matern52,
}

/// What a GP is stored as: everything else is recomputed from it by [`GpModel::build`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GpState {
    kernel: GpKernel,
    x_mean: Vec<f64>,
    x_scale: Vec<f64>,
    y_mean: f64,
    y_scale: f64,
    /// Inverse length scales of the standardised inputs.
    theta: Vec<f64>,
    /// Noise variance / process variance, added to the diagonal of the correlation matrix.
    nugget: f64,
    /// Training inputs, raw units, row-major (n × d).
    x_train: Vec<f64>,
    /// Training targets, raw units.
    y_train: Vec<f64>,
}

/// A factorised GP on standardised data: `R = C(θ) + ν I = L Lᵀ`, the GLS constant mean `beta`,
/// `gamma = R⁻¹ (y - beta)`, `ft = L⁻¹ 1` and the process variance `sigma2` (standardised).
struct Factor {
    chol: Vec<f64>,
    ft: Vec<f64>,
    ft_norm2: f64,
    gamma: Vec<f64>,
    beta: f64,
    sigma2: f64,
    /// Concentrated log-likelihood `-n/2 ln sigma2 - ½ ln |R|` (constants dropped).
    log_lik: f64,
}

impl Factor {
    /// `z`: standardised inputs (n × d, row-major), `ys`: standardised targets.
    fn new(z: &[f64], ys: &[f64], theta: &[f64], nugget: f64) -> Option<Factor> {
        let n = ys.len();
        let d = theta.len();
        let mut chol = vec![0.0; n * (n + 1) / 2];
        for i in 0..n {
            let ri = row_start(i);
            let zi = &z[i * d..(i + 1) * d];
            for j in 0..i {
                chol[ri + j] = matern52(theta, zi, &z[j * d..(j + 1) * d]);
            }
            chol[ri + i] = 1.0 + nugget;
        }
        if !cholesky_packed(&mut chol, n) {
            return None;
        }
        let mut ft = vec![1.0; n];
        forward_solve(&chol, &mut ft);
        let mut yt = ys.to_vec();
        forward_solve(&chol, &mut yt);
        let ft_norm2 = dot(&ft, &ft);
        let beta = dot(&ft, &yt) / ft_norm2;
        let mut gamma: Vec<f64> = yt.iter().zip(&ft).map(|(y, f)| y - beta * f).collect();
        let sigma2 = dot(&gamma, &gamma) / n as f64;
        backward_solve(&chol, &mut gamma);
        let log_det_half: f64 = (0..n).map(|i| chol[row_start(i) + i].ln()).sum();
        if !(beta.is_finite() && sigma2.is_finite() && gamma.iter().all(|g| g.is_finite())) {
            return None;
        }
        // A constant target (possible in a small cross-validation fold) has sigma2 = 0: a valid
        // model (the constant, with zero std) but no likelihood to compare nuggets with.
        let log_lik = if sigma2 > 0.0 { -0.5 * n as f64 * sigma2.ln() - log_det_half } else { f64::NEG_INFINITY };
        Some(Factor { chol, ft, ft_norm2, gamma, beta, sigma2, log_lik })
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "GpState", into = "GpState")]
struct GpModel {
    state: GpState,
    /// Standardised training inputs (n × d, row-major).
    z: Vec<f64>,
    factor: FactorData,
}

/// The parts of [`Factor`] prediction needs.
#[derive(Clone)]
struct FactorData {
    chol: Vec<f64>,
    ft: Vec<f64>,
    ft_norm2: f64,
    gamma: Vec<f64>,
    beta: f64,
    sigma2: f64,
}

impl fmt::Debug for GpModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ls: Vec<f64> = self.state.theta.iter().zip(&self.state.x_scale).map(|(t, s)| s / t).collect();
        f.debug_struct("GpModel")
            .field("kernel", &self.state.kernel)
            .field("n", &self.state.y_train.len())
            .field("length_scales_input_units", &ls)
            .field("nugget", &self.state.nugget)
            .field("process_std", &(self.factor.sigma2.sqrt() * self.state.y_scale))
            .field("noise_std", &((self.factor.sigma2 * self.state.nugget).sqrt() * self.state.y_scale))
            .finish()
    }
}

impl From<GpModel> for GpState {
    fn from(m: GpModel) -> GpState {
        m.state
    }
}

impl TryFrom<GpState> for GpModel {
    type Error = String;
    fn try_from(s: GpState) -> Result<GpModel, String> {
        let d = s.x_mean.len();
        let n = s.y_train.len();
        if s.x_scale.len() != d || s.theta.len() != d || s.x_train.len() != n * d || n == 0 {
            return Err("inconsistent GP surrogate: array lengths do not match".into());
        }
        GpModel::build(s).map_err(|e| e.to_string())
    }
}

impl GpModel {
    /// Factorises the model described by `state`. Deterministic: the same state gives the same
    /// model bit for bit (this is what makes the JSON round trip exact).
    fn build(state: GpState) -> Result<GpModel, SurrogateError> {
        let d = state.x_mean.len();
        let z: Vec<f64> =
            state.x_train.iter().enumerate().map(|(k, v)| (v - state.x_mean[k % d]) / state.x_scale[k % d]).collect();
        let ys: Vec<f64> = state.y_train.iter().map(|v| (v - state.y_mean) / state.y_scale).collect();
        let f = Factor::new(&z, &ys, &state.theta, state.nugget).ok_or_else(|| {
            SurrogateError::Fit(format!(
                "the GP correlation matrix is not positive definite (nugget {:e}); duplicate rows with different targets?",
                state.nugget
            ))
        })?;
        let factor =
            FactorData { chol: f.chol, ft: f.ft, ft_norm2: f.ft_norm2, gamma: f.gamma, beta: f.beta, sigma2: f.sigma2 };
        Ok(GpModel { state, z, factor })
    }

    /// [`GpModel::build`], raising the nugget tenfold (up to 6 times) while the factorisation
    /// fails — near-duplicate rows can make a tiny nugget singular on the full data.
    fn build_robust(mut state: GpState) -> Result<GpModel, SurrogateError> {
        let mut last = None;
        for _ in 0..7 {
            match GpModel::build(state.clone()) {
                Ok(m) => return Ok(m),
                Err(e) => last = Some(e),
            }
            state.nugget = (state.nugget * 10.0).max(NUGGET_MIN);
        }
        Err(last.unwrap_or_else(|| SurrogateError::Fit("GP factorisation failed".into())))
    }

    fn fit(x: ArrayView2<f64>, y: ArrayView1<f64>, seed: u64) -> Result<GpModel, SurrogateError> {
        let n = x.nrows();
        let d = x.ncols();
        let (x_mean, x_scale) = standardisation(x);
        let (y_mean, y_scale) = mean_and_scale(y);
        // Hyperparameter subset: a seeded shuffle independent of the fold shuffle.
        let mut idx: Vec<usize> = (0..n).collect();
        if n > GP_HYPER_ROWS {
            idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_6a7b_1c3d_2e4f));
            idx.truncate(GP_HYPER_ROWS);
            idx.sort_unstable();
        }
        let zs = Array2::from_shape_fn((idx.len(), d), |(i, j)| (x[[idx[i], j]] - x_mean[j]) / x_scale[j]);
        let ys = Array1::from_iter(idx.iter().map(|&i| (y[i] - y_mean) / y_scale));
        let (theta, nugget) = estimate_hyperparameters(&zs, &ys)?;
        let state = GpState {
            kernel: GpKernel::Matern52,
            x_mean,
            x_scale,
            y_mean,
            y_scale,
            theta,
            nugget,
            x_train: rows_of(x, &(0..n).collect::<Vec<_>>()),
            y_train: y.to_vec(),
        };
        GpModel::build_robust(state)
    }

    fn n(&self) -> usize {
        self.state.y_train.len()
    }

    fn predict_mean(&self, x: &[f64]) -> f64 {
        let n = self.n();
        let d = self.state.theta.len();
        let theta = &self.state.theta;
        let fd = &self.factor;
        with_standardised(x, &self.state.x_mean, &self.state.x_scale, |q| {
            let mut mean_s = fd.beta;
            for (i, g) in fd.gamma.iter().enumerate().take(n) {
                mean_s += g * matern52(theta, q, &self.z[i * d..(i + 1) * d]);
            }
            self.state.y_mean + self.state.y_scale * mean_s
        })
    }

    fn predict(&self, x: &[f64]) -> Prediction {
        let n = self.n();
        let d = self.state.theta.len();
        let theta = &self.state.theta;
        let fd = &self.factor;
        with_standardised(x, &self.state.x_mean, &self.state.x_scale, |q| {
            let mut v = Vec::with_capacity(n);
            v.extend((0..n).map(|i| matern52(theta, q, &self.z[i * d..(i + 1) * d])));
            let mean = fd.beta + dot(&v, &fd.gamma);
            forward_solve(&fd.chol, &mut v);
            self.finish(mean, dot(&v, &v), dot(&fd.ft, &v))
        })
    }

    /// Mean and std in target units from the standardised mean, `|L⁻¹r|²` and `ftᵀ L⁻¹ r`
    /// (egobox-gp's ordinary-kriging variance, including the uncertainty of the constant mean).
    #[inline]
    fn finish(&self, mean_s: f64, rr: f64, fr: f64) -> Prediction {
        let fd = &self.factor;
        let u = fr - 1.0;
        let mse = (fd.sigma2 * (1.0 - rr + u * u / fd.ft_norm2)).max(0.0);
        Prediction { mean: self.state.y_mean + self.state.y_scale * mean_s, std: self.state.y_scale * mse.sqrt() }
    }

    /// Predicts points in blocks of `B`: the kernel rows are solved together so `L` is read once
    /// per block instead of once per point.
    fn predict_many(&self, x: ArrayView2<f64>) -> Vec<Prediction> {
        const B: usize = 8;
        let n = self.n();
        let d = self.state.theta.len();
        let theta = &self.state.theta;
        let fd = &self.factor;
        let m = x.nrows();
        let mut out = Vec::with_capacity(m);
        let mut q = vec![0.0; B * d];
        let mut v = vec![0.0; n * B];
        let mut start = 0;
        while start < m {
            let cnt = B.min(m - start);
            for b in 0..B {
                let row = x.row(start + b.min(cnt - 1));
                for j in 0..d {
                    q[b * d + j] = (row[j] - self.state.x_mean[j]) / self.state.x_scale[j];
                }
            }
            for i in 0..n {
                let zi = &self.z[i * d..(i + 1) * d];
                for b in 0..B {
                    v[i * B + b] = matern52(theta, &q[b * d..(b + 1) * d], zi);
                }
            }
            let mut mean = [fd.beta; B];
            for i in 0..n {
                for b in 0..B {
                    mean[b] += v[i * B + b] * fd.gamma[i];
                }
            }
            // Forward substitution for B right-hand sides at once.
            for i in 0..n {
                let ri = row_start(i);
                let (done, rest) = v.split_at_mut(i * B);
                let mut acc = [0.0f64; B];
                acc.copy_from_slice(&rest[..B]);
                for (j, &lij) in fd.chol[ri..ri + i].iter().enumerate() {
                    let vj = &done[j * B..(j + 1) * B];
                    for b in 0..B {
                        acc[b] -= lij * vj[b];
                    }
                }
                let lii = fd.chol[ri + i];
                for b in 0..B {
                    rest[b] = acc[b] / lii;
                }
            }
            let mut rr = [0.0f64; B];
            let mut fr = [0.0f64; B];
            for i in 0..n {
                for b in 0..B {
                    let vib = v[i * B + b];
                    rr[b] += vib * vib;
                    fr[b] += fd.ft[i] * vib;
                }
            }
            for b in 0..cnt {
                out.push(self.finish(mean[b], rr[b], fr[b]));
            }
            start += cnt;
        }
        out
    }
}

/// θ (standardised units) and the nugget maximising the concentrated likelihood on `(z, ys)`:
/// nugget scan with a fixed θ, egobox-gp θ fit with that nugget, and once more (see
/// [`Surrogate::fit`]).
fn estimate_hyperparameters(z: &Array2<f64>, ys: &Array1<f64>) -> Result<(Vec<f64>, f64), SurrogateError> {
    let d = z.ncols();
    let zf: Vec<f64> = z.iter().copied().collect();
    let yf = ys.to_vec();
    let mut theta = vec![1.0; d];
    let mut nugget = scan_nugget(&zf, &yf, &theta).unwrap_or(1e-2);
    theta = egobox_theta(z, ys, nugget, None, 4)?;
    if let Some(nu) = scan_nugget(&zf, &yf, &theta) {
        nugget = nu;
    }
    let refined = egobox_theta(z, ys, nugget, Some(&theta), 0)?;
    if let (Some(a), Some(b)) = (Factor::new(&zf, &yf, &refined, nugget), Factor::new(&zf, &yf, &theta, nugget)) {
        if a.log_lik >= b.log_lik {
            theta = refined;
        }
    }
    if let Some(nu) = scan_nugget(&zf, &yf, &theta) {
        nugget = nu;
    }
    Ok((theta, nugget))
}

/// The nugget in [`NUGGET_MIN`, `NUGGET_MAX`] with the highest likelihood for a fixed θ: a
/// decade grid refined by golden-section search in log10. `None` if no nugget factorises.
fn scan_nugget(z: &[f64], ys: &[f64], theta: &[f64]) -> Option<f64> {
    let ll = |lg: f64| Factor::new(z, ys, theta, 10f64.powf(lg)).map_or(f64::NEG_INFINITY, |f| f.log_lik);
    let (lo, hi) = (NUGGET_MIN.log10(), NUGGET_MAX.log10());
    let grid: Vec<f64> = (0..=((hi - lo).round() as usize)).map(|k| lo + k as f64).collect();
    let vals: Vec<f64> = grid.iter().map(|&g| ll(g)).collect();
    let (best, &best_val) = vals.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    if best_val == f64::NEG_INFINITY {
        return None;
    }
    let (mut a, mut b) = ((grid[best] - 1.0).max(lo), (grid[best] + 1.0).min(hi));
    let g = 0.618_033_988_749_895;
    let (mut c, mut e) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fe) = (ll(c), ll(e));
    while b - a > 0.05 {
        if fc >= fe {
            b = e;
            e = c;
            fe = fc;
            c = b - g * (b - a);
            fc = ll(c);
        } else {
            a = c;
            c = e;
            fc = fe;
            e = a + g * (b - a);
            fe = ll(e);
        }
    }
    let (arg, val) = if fc >= fe { (c, fc) } else { (e, fe) };
    Some(10f64.powf(if val >= best_val { arg } else { grid[best] }))
}

/// Fits θ with egobox-gp (constant mean, Matérn 5/2, the given nugget, multistart COBYLA from
/// `init` plus `n_start` Latin-hypercube starts) and returns it in the units of `z`.
///
/// egobox re-standardises its inputs, so θ is converted by the columns' standard deviations.
fn egobox_theta(
    z: &Array2<f64>,
    ys: &Array1<f64>,
    nugget: f64,
    init: Option<&[f64]>,
    n_start: usize,
) -> Result<Vec<f64>, SurrogateError> {
    let (_, sd) = standardisation(z.view());
    let mut params = GaussianProcess::<f64, ConstantMean, Matern52Corr>::params(ConstantMean(), Matern52Corr())
        .n_start(n_start)
        .nugget(nugget);
    if let Some(t) = init {
        params =
            params.theta_init(t.iter().zip(&sd).map(|(t, s)| (t * s).clamp(THETA_BOUNDS.0, THETA_BOUNDS.1)).collect());
    }
    let gp = params
        .fit(&Dataset::new(z.clone(), ys.clone()))
        .map_err(|e| SurrogateError::Fit(format!("GP hyperparameter search (egobox-gp): {e}")))?;
    let theta: Vec<f64> = gp.theta().iter().zip(&sd).map(|(t, s)| t / s).collect();
    if theta.iter().all(|t| t.is_finite() && *t > 0.0) {
        Ok(theta)
    } else {
        Err(SurrogateError::Fit(format!("GP hyperparameter search returned θ = {theta:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, s};
    use std::time::Instant;

    fn names(d: usize) -> Vec<String> {
        (0..d).map(|j| format!("x{j}")).collect()
    }

    /// Reads a numeric CSV under the bundled `data/` (the same files as `../shared/data`); a first line that does not parse is a header.
    /// Panics (fails the test) when the file is missing.
    fn read_csv(rel: &str) -> (Vec<String>, Array2<f64>) {
        let path = format!("{}/data/{rel}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reference data {path} missing: {e}"));
        let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
        let first: Vec<&str> = lines.peek().expect("empty file").split(',').collect();
        let header = if first.iter().any(|f| f.trim().parse::<f64>().is_err()) {
            let h = first.iter().map(|s| s.trim().to_owned()).collect();
            lines.next();
            h
        } else {
            (0..first.len()).map(|j| format!("c{j}")).collect()
        };
        let rows: Vec<Vec<f64>> =
            lines.map(|l| l.split(',').map(|f| f.trim().parse::<f64>().expect("numeric field")).collect()).collect();
        let d = rows[0].len();
        (header, Array2::from_shape_fn((rows.len(), d), |(i, j)| rows[i][j]))
    }

    /// Concrete: 1030 rows, 8 mix inputs (kg/m³, age in days) -> compressive strength (MPa).
    fn concrete() -> (Vec<String>, Array2<f64>, Array1<f64>) {
        let (h, t) = read_csv("concrete/Concrete_Data.csv");
        assert_eq!(t.dim(), (1030, 9));
        assert_eq!(h[0], "cement");
        assert_eq!(h[8], "compressive_strength_mpa");
        (h[..8].to_vec(), t.slice(s![.., ..8]).to_owned(), t.column(8).to_owned())
    }

    /// Crossed barrel (no header): n, theta, r, t -> toughness (J), 600 designs.
    fn crossed_barrel() -> (Vec<String>, Array2<f64>, Array1<f64>) {
        let (_, t) = read_csv("crossed-barrel/data.csv");
        assert_eq!(t.dim(), (600, 5));
        let inputs = ["n", "theta", "r", "t"].iter().map(|s| s.to_string()).collect();
        (inputs, t.slice(s![.., ..4]).to_owned(), t.column(4).to_owned())
    }

    /// A seeded subset of `m` rows.
    fn subset(x: &Array2<f64>, y: &Array1<f64>, m: usize, seed: u64) -> (Array2<f64>, Array1<f64>) {
        let mut idx: Vec<usize> = (0..x.nrows()).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        idx.truncate(m);
        (x.select(Axis(0), &idx), y.select(Axis(0), &idx))
    }

    fn spec(kind: SurrogateKind, degree: usize) -> SurrogateSpec {
        SurrogateSpec { kind, degree, ..SurrogateSpec::default() }
    }

    #[test]
    fn linear_degree_one_recovers_an_exact_plane() {
        let x =
            Array2::from_shape_fn((40, 3), |(i, j)| ((i * (j + 3)) % 17) as f64 * 0.5 + j as f64 + (i as f64).sin());
        let y = x.map_axis(Axis(1), |r| 3.0 + 2.0 * r[0] - 0.5 * r[1] + 7.25 * r[2]);
        let s = Surrogate::fit(&names(3), "y", x.view(), y.view(), &spec(SurrogateKind::Linear, 1)).unwrap();
        assert!(s.cv.r2 > 1.0 - 1e-12, "cv {:?}", s.cv);
        assert!(s.cv.rmse < 1e-9);
        for p in [[0.0, 0.0, 0.0], [1.0, -2.0, 3.5], [10.0, 4.0, -1.0]] {
            let want = 3.0 + 2.0 * p[0] - 0.5 * p[1] + 7.25 * p[2];
            assert!((s.predict(&p).mean - want).abs() < 1e-6, "{p:?}");
        }
        let Model::Linear(m) = &s.model else { panic!("not linear") };
        assert_eq!(m.terms, vec![vec![0], vec![1], vec![2]]);
        // weights are per standardised input: coefficient × scale
        for (k, c) in [2.0, -0.5, 7.25].iter().enumerate() {
            assert!((m.weights[k] / m.x_scale[k] - c).abs() < 1e-9);
        }
    }

    #[test]
    fn polynomial_degree_two_fits_a_quadratic_and_drops_collinear_terms() {
        // x1 is binary, so x1² is a linear function of x1 and must be dropped, not make the solve singular.
        let x =
            Array2::from_shape_fn((60, 2), |(i, j)| if j == 0 { i as f64 / 7.0 } else { (i % 3 == 0) as u8 as f64 });
        let y = x.map_axis(Axis(1), |r| 1.0 + r[0] - 0.3 * r[0] * r[0] + 2.0 * r[0] * r[1] + 4.0 * r[1]);
        let s = Surrogate::fit(&names(2), "y", x.view(), y.view(), &spec(SurrogateKind::Linear, 2)).unwrap();
        let Model::Linear(m) = &s.model else { panic!("not linear") };
        assert_eq!(m.terms, vec![vec![0], vec![1], vec![0, 0], vec![0, 1]]);
        assert!(s.cv.r2 > 1.0 - 1e-10);
        assert!((s.predict(&[3.0, 1.0]).mean - (1.0 + 3.0 - 2.7 + 6.0 + 4.0)).abs() < 1e-8);
        assert_eq!(monomials(3, 2).len(), n_monomials(3, 2));
        assert_eq!(n_monomials(8, 2), 44);
    }

    #[test]
    fn least_squares_on_concrete_matches_numpy() {
        let (inputs, x, y) = concrete();
        let s =
            Surrogate::fit(&inputs, "compressive_strength_mpa", x.view(), y.view(), &spec(SurrogateKind::Linear, 1))
                .unwrap();
        // Produced with numpy 2.4.6, run from /work/main (one line, split here):
        //   python -c "import numpy as np; d=np.genfromtxt('../shared/data/concrete/Concrete_Data.csv',delimiter=',',
        //   skip_header=1); A=np.hstack([d[:,:8],np.ones((len(d),1))]); c,*_=np.linalg.lstsq(A,d[:,8],rcond=None);
        //   print(c.tolist()); print((A@c)[[0,1,100,500,1029]].tolist())"
        let coef = [
            0.11978525502979566,
            0.10384724887919144,
            0.08794308167595823,
            -0.15029790433531126,
            0.29068694345666657,
            0.01803018359632049,
            0.020154455674958556,
            0.11422562006932502,
        ];
        let intercept = -23.163755811078623;
        let rows = [0usize, 1, 100, 500, 1029];
        let want = [53.47285909971868, 53.74331185366349, 54.551662796173, 52.20744563685259, 31.893986215286333];
        for (&r, w) in rows.iter().zip(want) {
            let p = s.predict(x.row(r).as_slice().unwrap()).mean;
            assert!((p - w).abs() < 1e-8, "row {r}: {p} vs numpy {w}");
        }
        // Coefficients: differences of predictions along each input; intercept: prediction at 0.
        let base = [0.0; 8];
        assert!((s.predict(&base).mean - intercept).abs() < 1e-7);
        for (j, c) in coef.iter().enumerate() {
            let mut e = base;
            e[j] = 1.0;
            let got = s.predict(&e).mean - s.predict(&base).mean;
            assert!((got - c).abs() < 1e-9, "coefficient {j}: {got} vs {c}");
        }
        // In-sample R² of this model is 0.6155 (numpy); held-out should be a little lower.
        assert!(s.cv.r2 > 0.55 && s.cv.r2 < 0.6155, "{:?}", s.cv);
        assert_eq!(s.predict(&base).std, s.cv.rmse);
    }

    #[test]
    fn elastic_net_shrinks_towards_the_mean() {
        let (inputs, x, y) = concrete();
        let (x, y) = subset(&x, &y, 300, 1);
        let ols = Surrogate::fit(&inputs, "s", x.view(), y.view(), &spec(SurrogateKind::Linear, 2)).unwrap();
        let weak = Surrogate::fit(&inputs, "s", x.view(), y.view(), &spec(SurrogateKind::ElasticNet, 2)).unwrap();
        let strong = SurrogateSpec { alpha: 10.0, ..spec(SurrogateKind::ElasticNet, 2) };
        let strong = Surrogate::fit(&inputs, "s", x.view(), y.view(), &strong).unwrap();
        assert!(weak.cv.r2 > 0.6, "{:?}", weak.cv);
        // alpha 10 on standardised data zeroes every coefficient: the mean of the target.
        let mean = y.mean().unwrap();
        assert!((strong.predict(x.row(3).as_slice().unwrap()).mean - mean).abs() < 1e-9);
        assert!(strong.cv.r2 < 0.01);
        let diff =
            (ols.predict(x.row(0).as_slice().unwrap()).mean - weak.predict(x.row(0).as_slice().unwrap()).mean).abs();
        assert!(diff > 0.0, "the penalty should change the fit");
    }

    fn sin_data(n: usize) -> (Array2<f64>, Array1<f64>) {
        let x = Array2::from_shape_fn((n, 1), |(i, _)| 6.0 * i as f64 / (n - 1) as f64);
        let y = x.column(0).mapv(|v| v.sin() * 3.0 + 10.0);
        (x, y)
    }

    #[test]
    fn gp_interpolates_and_is_uncertain_away_from_data() {
        let (x, y) = sin_data(25);
        let s = Surrogate::fit(&names(1), "y", x.view(), y.view(), &SurrogateSpec::default()).unwrap();
        for i in 0..x.nrows() {
            let p = s.predict(&[x[[i, 0]]]);
            assert!((p.mean - y[i]).abs() < 1e-3, "row {i}: {} vs {}", p.mean, y[i]);
            assert!(p.std < 1e-2, "row {i}: std {}", p.std);
        }
        // between two training points, less sure; far outside, much less.
        let mid = s.predict(&[0.125]);
        let near = s.predict(&[6.5]);
        let far = s.predict(&[20.0]);
        assert!((mid.mean - (0.125f64.sin() * 3.0 + 10.0)).abs() < 1e-2);
        assert!(mid.std > s.predict(&[0.0]).std);
        assert!(near.std > mid.std && far.std > near.std, "{mid:?} {near:?} {far:?}");
        assert!(far.std > 1.0, "far from data the std should approach the process std: {far:?}");
        assert!(s.cv.r2 > 0.95, "{:?}", s.cv);
    }

    #[test]
    fn gp_predictions_agree_with_egobox() {
        // Same θ and nugget, the egobox model and ours must predict the same mean and variance.
        let (inputs, x, y) = crossed_barrel();
        let (x, y) = subset(&x, &y, 60, 3);
        let theta = vec![0.8, 1.3, 0.4, 2.0];
        let nugget = 1e-3;
        let (x_mean, x_scale) = standardisation(x.view());
        let (y_mean, y_scale) = mean_and_scale(y.view());
        let state = GpState {
            kernel: GpKernel::Matern52,
            x_mean: x_mean.clone(),
            x_scale: x_scale.clone(),
            y_mean,
            y_scale,
            theta: theta.clone(),
            nugget,
            x_train: rows_of(x.view(), &(0..60).collect::<Vec<_>>()),
            y_train: y.to_vec(),
        };
        let ours = GpModel::build(state).unwrap();
        // egobox standardises itself, so give it raw data and θ for its own (identical) scaling.
        let ego = GaussianProcess::<f64, ConstantMean, Matern52Corr>::params(ConstantMean(), Matern52Corr())
            .theta_tuning(egobox_gp::ThetaTuning::Fixed(Array1::from(theta.clone())))
            .nugget(nugget)
            .fit(&Dataset::new(x.clone(), y.clone()))
            .unwrap();
        let q = array![[8.0, 50.0, 2.0, 1.0], [6.0, 0.0, 1.5, 0.7], [11.0, 170.0, 2.4, 1.3]];
        let q = ndarray::concatenate(Axis(0), &[q.view(), x.slice(s![..2, ..])]).unwrap();
        let (mean, var) = ego.predict_valvar(&q).unwrap();
        let many = ours.predict_many(q.view());
        for i in 0..q.nrows() {
            let one = ours.predict(q.row(i).as_slice().unwrap());
            assert!((one.mean - mean[i]).abs() < 1e-8 * (1.0 + mean[i].abs()), "{i}: {} vs {}", one.mean, mean[i]);
            assert!(
                (one.std * one.std - var[i]).abs() < 1e-8 * (1.0 + var[i]),
                "{i}: {} vs {}",
                one.std.powi(2),
                var[i]
            );
            assert!((many[i].mean - one.mean).abs() < 1e-10 && (many[i].std - one.std).abs() < 1e-10);
            assert!((ours.predict_mean(q.row(i).as_slice().unwrap()) - one.mean).abs() < 1e-10);
        }
        let _ = inputs;
    }

    #[test]
    fn gp_beats_linear_on_crossed_barrel() {
        let (inputs, x, y) = crossed_barrel();
        let (x, y) = subset(&x, &y, 120, 7);
        let t = Instant::now();
        let gp = Surrogate::fit(&inputs, "toughness", x.view(), y.view(), &SurrogateSpec::default()).unwrap();
        let gp_time = t.elapsed();
        let lin = Surrogate::fit(&inputs, "toughness", x.view(), y.view(), &spec(SurrogateKind::Linear, 1)).unwrap();
        let quad = Surrogate::fit(&inputs, "toughness", x.view(), y.view(), &spec(SurrogateKind::Linear, 2)).unwrap();
        eprintln!(
            "crossed barrel, 120 rows: gp {:?} ({gp_time:?}), linear {:?}, quadratic {:?}",
            gp.cv, lin.cv, quad.cv
        );
        assert!(gp.cv.r2 > lin.cv.r2 + 0.1, "gp {:?} vs linear {:?}", gp.cv, lin.cv);
        assert!(gp.cv.r2 > quad.cv.r2, "gp {:?} vs quadratic {:?}", gp.cv, quad.cv);
        assert!(gp.cv.rmse < lin.cv.rmse);
    }

    #[test]
    fn gp_beats_linear_on_concrete() {
        let (inputs, x, y) = concrete();
        let (x, y) = subset(&x, &y, 100, 11);
        let gp = Surrogate::fit(&inputs, "strength", x.view(), y.view(), &SurrogateSpec::default()).unwrap();
        let lin = Surrogate::fit(&inputs, "strength", x.view(), y.view(), &spec(SurrogateKind::Linear, 1)).unwrap();
        eprintln!("concrete, 100 rows: gp {:?}, linear {:?}", gp.cv, lin.cv);
        assert!(gp.cv.r2 > lin.cv.r2 + 0.1, "gp {:?} vs linear {:?}", gp.cv, lin.cv);
    }

    #[test]
    fn json_round_trip_predicts_identically() {
        let (inputs, x, y) = crossed_barrel();
        let (x, y) = subset(&x, &y, 80, 5);
        let q = x.slice(s![..10, ..]).mapv(|v| v * 1.01);
        for sp in [SurrogateSpec::default(), spec(SurrogateKind::Linear, 2), spec(SurrogateKind::ElasticNet, 3)] {
            let s = Surrogate::fit(&inputs, "toughness", x.view(), y.view(), &sp).unwrap();
            let json = serde_json::to_string(&s).unwrap();
            let back: Surrogate = serde_json::from_str(&json).unwrap();
            assert_eq!(back.inputs, s.inputs);
            assert_eq!(back.cv, s.cv);
            assert_eq!(back.spec, sp);
            assert_eq!(back.predict_many(q.view()), s.predict_many(q.view()));
            for r in q.rows() {
                assert_eq!(back.predict(r.as_slice().unwrap()), s.predict(r.as_slice().unwrap()));
            }
        }
        // A tampered GP is rejected, not mis-predicted.
        let s = Surrogate::fit(&inputs, "toughness", x.view(), y.view(), &SurrogateSpec::default()).unwrap();
        let mut v: serde_json::Value = serde_json::to_value(&s).unwrap();
        v["model"]["gp"]["theta"] = serde_json::json!([1.0]);
        assert!(serde_json::from_value::<Surrogate>(v).is_err());
    }

    #[test]
    fn spec_json_uses_defaults_and_rejects_unknown_fields() {
        let s: SurrogateSpec = serde_json::from_str(r#"{"kind": "elastic_net", "alpha": 0.1}"#).unwrap();
        assert_eq!(s, SurrogateSpec { kind: SurrogateKind::ElasticNet, alpha: 0.1, ..SurrogateSpec::default() });
        assert!(serde_json::from_str::<SurrogateSpec>(r#"{"degre": 3}"#).is_err());
        assert_eq!(serde_json::to_value(SurrogateKind::Gp).unwrap(), "gp");
    }

    #[test]
    fn errors_name_the_problem() {
        let inputs: Vec<String> = ["cement", "water"].iter().map(|s| s.to_string()).collect();
        let mut x = Array2::from_shape_fn((30, 2), |(i, j)| (i * (j + 1)) as f64);
        let y = Array1::from_iter((0..30).map(|i| i as f64 * 0.5));
        x[[17, 0]] = f64::NAN;
        let e = Surrogate::fit(&inputs, "s", x.view(), y.view(), &spec(SurrogateKind::Linear, 1)).unwrap_err();
        assert_eq!(e.to_string(), "row 17, column `cement`: NaN");
        x[[17, 0]] = 1.0;
        let mut y_bad = y.clone();
        y_bad[4] = f64::INFINITY;
        let e = Surrogate::fit(&inputs, "strength", x.view(), y_bad.view(), &SurrogateSpec::default()).unwrap_err();
        assert_eq!(e, SurrogateError::NonFinite { row: 4, column: "strength".into(), value: f64::INFINITY });
        assert_eq!(e.to_string(), "row 4, column `strength`: inf");

        // Degree 2 on 2 inputs: 5 features -> 12 rows needed.
        let e = Surrogate::fit(&inputs, "s", x.slice(s![..11, ..]), y.slice(s![..11]), &spec(SurrogateKind::Linear, 2))
            .unwrap_err();
        assert!(matches!(e, SurrogateError::TooFewRows { rows: 11, needed: 12, .. }), "{e}");
        assert!(Surrogate::fit(
            &inputs,
            "s",
            x.slice(s![..12, ..]),
            y.slice(s![..12]),
            &spec(SurrogateKind::Linear, 2)
        )
        .is_ok());
        let e = Surrogate::fit(&inputs, "s", x.slice(s![..4, ..]), y.slice(s![..4]), &SurrogateSpec::default())
            .unwrap_err();
        assert!(matches!(e, SurrogateError::TooFewRows { rows: 4, needed: 5, .. }), "{e}");

        let flat = Array1::from_elem(30, 2.5);
        let e = Surrogate::fit(&inputs, "strength", x.view(), flat.view(), &SurrogateSpec::default()).unwrap_err();
        assert_eq!(e, SurrogateError::ConstantTarget { target: "strength".into(), value: 2.5 });
        assert!(e.to_string().contains("zero variance"));

        let e = Surrogate::fit(&inputs[..1], "s", x.view(), y.view(), &SurrogateSpec::default()).unwrap_err();
        assert!(matches!(e, SurrogateError::Shape(_)), "{e}");
        let e =
            Surrogate::fit(&inputs, "s", x.view(), y.view(), &SurrogateSpec { folds: 1, ..SurrogateSpec::default() })
                .unwrap_err();
        assert!(matches!(e, SurrogateError::InvalidSpec(_)), "{e}");
        let e = Surrogate::fit(&inputs, "s", x.view(), y.view(), &spec(SurrogateKind::Linear, usize::MAX)).unwrap_err();
        assert!(matches!(e, SurrogateError::InvalidSpec(_)), "{e}");
        let bad = SurrogateSpec { l1_ratio: 1.5, ..spec(SurrogateKind::ElasticNet, 1) };
        assert!(matches!(Surrogate::fit(&inputs, "s", x.view(), y.view(), &bad), Err(SurrogateError::InvalidSpec(_))));
    }

    #[test]
    fn gp_survives_duplicate_rows_with_different_targets() {
        let (x, y) = sin_data(20);
        let x = ndarray::concatenate(Axis(0), &[x.view(), x.slice(s![..5, ..])]).unwrap();
        let y = ndarray::concatenate(Axis(0), &[y.view(), (y.slice(s![..5]).to_owned() + 0.3).view()]).unwrap();
        let s = Surrogate::fit(&names(1), "y", x.view(), y.view(), &SurrogateSpec::default()).unwrap();
        // The nugget takes the noise: the mean at a duplicated x is between the two targets.
        let p = s.predict(&[x[[2, 0]]]);
        assert!(p.mean > y[2] - 0.05 && p.mean < y[22] + 0.05, "{p:?} vs {} / {}", y[2], y[22]);
        assert!(s.cv.r2 > 0.9, "{:?}", s.cv);
    }

    #[test]
    fn gp_works_at_its_minimum_size() {
        // 5 rows, 5 folds: leave-one-out with 4 training rows; one fold may see a flat target.
        let x = array![[0.0], [1.0], [2.0], [3.0], [4.0]];
        let y = array![1.0, 1.0, 1.0, 1.0, 2.0];
        let s = Surrogate::fit(&names(1), "y", x.view(), y.view(), &SurrogateSpec::default()).unwrap();
        assert!(s.cv.rmse.is_finite() && s.cv.r2.is_finite(), "{:?}", s.cv);
        let p = s.predict(&[4.0]);
        assert!(p.mean > 1.0 && p.mean <= 2.0 + 1e-9 && p.std.is_finite(), "{p:?}");
    }

    #[test]
    fn wrong_width_points_predict_nan() {
        let (x, y) = sin_data(12);
        let s = Surrogate::fit(&names(1), "y", x.view(), y.view(), &spec(SurrogateKind::Linear, 1)).unwrap();
        assert!(s.predict(&[1.0, 2.0]).mean.is_nan());
        assert!(s.predict_many(Array2::zeros((2, 3)).view()).iter().all(|p| p.mean.is_nan()));
    }

    #[test]
    fn fits_are_deterministic_for_a_seed() {
        let (inputs, x, y) = crossed_barrel();
        let (x, y) = subset(&x, &y, 60, 9);
        let a = Surrogate::fit(&inputs, "t", x.view(), y.view(), &SurrogateSpec::default()).unwrap();
        let b = Surrogate::fit(&inputs, "t", x.view(), y.view(), &SurrogateSpec::default()).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        let c =
            Surrogate::fit(&inputs, "t", x.view(), y.view(), &SurrogateSpec { seed: 1, ..SurrogateSpec::default() })
                .unwrap();
        assert_ne!(a.cv, c.cv, "another seed shuffles the folds differently");
    }

    #[test]
    fn surrogate_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Surrogate>();
        check::<Prediction>();
        check::<SurrogateError>();
    }

    /// Full-data numbers for the report; slow in a dev build. Run with
    /// `cargo test --release --lib optimize::surrogate::tests::report -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn report() {
        for (label, (inputs, x, y)) in [("concrete", concrete()), ("crossed-barrel", crossed_barrel())] {
            for sp in [
                spec(SurrogateKind::Linear, 1),
                spec(SurrogateKind::Linear, 2),
                spec(SurrogateKind::ElasticNet, 1),
                spec(SurrogateKind::ElasticNet, 2),
                SurrogateSpec::default(),
            ] {
                let t = Instant::now();
                let s = Surrogate::fit(&inputs, "y", x.view(), y.view(), &sp).unwrap();
                let fit = t.elapsed();
                let q: Vec<Vec<f64>> =
                    x.rows().into_iter().take(200).map(|r| r.iter().map(|v| v * 1.001).collect()).collect();
                let t = Instant::now();
                let mut acc = 0.0;
                for _ in 0..5 {
                    for p in &q {
                        acc += s.predict(p).mean;
                    }
                }
                let one = t.elapsed() / (5 * q.len() as u32);
                let t = Instant::now();
                for _ in 0..5 {
                    for p in &q {
                        acc += s.predict_mean(p);
                    }
                }
                let mean_only = t.elapsed() / (5 * q.len() as u32);
                let t = Instant::now();
                let many = s.predict_many(x.view());
                let per_row = t.elapsed() / x.nrows() as u32;
                eprintln!(
                    "{label} n={} {:?} degree {}: CV R² {:.4} RMSE {:.4}; fit {:?}; predict {:?}/point; predict_mean {:?}/point; predict_many {:?}/row ({acc:.1}, {})",
                    x.nrows(),
                    sp.kind,
                    sp.degree,
                    s.cv.r2,
                    s.cv.rmse,
                    fit,
                    one,
                    mean_only,
                    per_row,
                    many.len()
                );
                if let Model::Gp(m) = &s.model {
                    eprintln!("    {m:?}");
                    let t = Instant::now();
                    let json = serde_json::to_string(&s).unwrap();
                    let back: Surrogate = serde_json::from_str(&json).unwrap();
                    eprintln!("    json {} bytes, round trip {:?}", json.len(), t.elapsed());
                    assert_eq!(back.predict(&q[0]), s.predict(&q[0]));
                }
            }
        }
    }
}
