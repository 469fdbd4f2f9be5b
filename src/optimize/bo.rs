//! Bayesian optimisation on the unit cube: a Gaussian process with a Matérn-5/2 ARD kernel fitted
//! by maximum a posteriori, log expected improvement (Ament et al. 2023, "Unexpected improvements
//! to expected improvement") times the probability of feasibility (Gardner et al. 2014) when
//! constraints are violated somewhere, maximised over random and local candidates and polished by
//! projected L-BFGS with analytic gradients.
//!
//! The model follows Optuna's `GPSampler` (kernel, priors on the hyperparameters, log EI, the
//! random-then-L-BFGS acquisition search), written out here so a suggestion at 50 points takes a
//! few milliseconds (about 5–9 ms in a release build on the 2-core test machine):
//!
//! - an initial Latin hypercube of `initial_design` points, the same for a seed;
//! - inputs are the unit points; the objective is optionally log-warped (see `Warp`), then
//!   standardised;
//! - `k(x, x') = s · (1 + √5 r + 5r²/3) · exp(−√5 r)`, `r² = Σ ρ_i (x_i − x'_i)²`, plus noise
//!   `σ² ≥ 1e-10` on the diagonal (Optuna's floor is 1e-6; benchmark objectives are deterministic
//!   and the lower floor lets the model resolve the last digits of a minimum);
//! - hyperparameters maximise the log marginal likelihood plus Optuna's log prior
//!   `−Σ (0.1/ρ_i + 0.1 ρ_i) + ln s − s + 0.1 ln σ² − 30 σ²` over `ln ρ, ln s, ln(σ² − 1e-10)`,
//!   starting from the prior's mode (`ρ = s = 1`, `σ² = 0.01`);
//! - constraints: a second GP models `ln(1 + violation / median violation)` for infeasible points
//!   and `−ln 2` for feasible ones; the probability of feasibility is `P(c(x) < 0)`. Before any
//!   point is feasible, the acquisition is that probability alone;
//! - beyond `MAX_POINTS` evaluations the model sees the best half and the most recent half.
//!
//! Why not egobox's EGO (the crate the architecture names): we want the acquisition under our
//! control (log EI times probability of feasibility, kriging-believer batches for ask/tell, the same
//! model as the Optuna peer so benchmark ratios compare like with like), and it needs only a small
//! dense Cholesky on at most `MAX_POINTS` points. egobox-gp remains the surrogate model of studies.
//!
//! Batches (`n > 1`) use the "kriging believer": each chosen point is added to the model at its
//! predicted value before the next is chosen.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::problem::Evaluation;
use super::sampling::latin_hypercube_unit;
use super::solvers::{clamp_unit, rng, Oracle};

/// Minimum noise variance on the standardised objective.
const MIN_NOISE: f64 = 1e-10;
/// Uniform candidates scored before the local search.
const N_RANDOM: usize = 1024;
/// Candidates drawn around the best points.
const N_LOCAL: usize = 512;
/// Local searches of the acquisition.
const N_STARTS: usize = 6;
/// Points the model is fitted to at most: the best half and the most recent half of that.
const MAX_POINTS: usize = 128;

/// Size of the initial Latin-hypercube design for `d` dimensions: `2d`, at least 5 and at most
/// 20 (but never fewer than `d + 1`).
pub(crate) fn initial_design(d: usize) -> usize {
    (2 * d).clamp(5, 20).max(d + 1)
}

/// Runs Bayesian optimisation until the oracle says stop: one suggestion per evaluation.
pub(crate) fn drive(oracle: &mut dyn Oracle, seed: u64) {
    let d = oracle.dim();
    let mut history: Vec<(Vec<f64>, Evaluation)> = Vec::new();
    loop {
        let mut next = suggest(d, &history, 1, seed);
        let u = next.pop().unwrap_or_else(|| vec![0.5; d]);
        let Some(e) = oracle.eval(&u) else { return };
        history.push((clamp_unit(&u), e));
    }
}

/// `n` new distinct unit points given the history (see the module docs).
pub(crate) fn suggest(d: usize, history: &[(Vec<f64>, Evaluation)], n: usize, seed: u64) -> Vec<Vec<f64>> {
    let history: Vec<(Vec<f64>, &Evaluation)> = history.iter().map(|(u, e)| (clamp_unit(u), e)).collect();
    let mut rng = rng(seed, 0xB0_0000 + history.len() as u64);
    let mut out: Vec<Vec<f64>> = Vec::with_capacity(n);
    let taken =
        |p: &[f64], out: &[Vec<f64>]| history.iter().map(|(u, _)| u).chain(out.iter()).any(|u| max_dist(u, p) < 1e-9);
    // The initial design: the same Latin hypercube for a seed, continued where the history is.
    let n_init = initial_design(d);
    if history.len() < n_init {
        let design = latin_hypercube_unit(n_init, d, &mut super::solvers::rng(seed, 0xB0));
        for p in design.into_iter().skip(history.len()).take(n) {
            if !taken(&p, &out) {
                out.push(p);
            }
        }
    }
    if out.len() == n {
        return out;
    }
    let Some(mut model) = Model::fit(d, &history) else {
        while out.len() < n {
            let p: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
            if !taken(&p, &out) {
                out.push(p);
            }
        }
        return out;
    };
    for p in &out {
        model.believe(p);
    }
    while out.len() < n {
        let mut p = model.maximise(&mut rng);
        if taken(&p, &out) {
            p = loop {
                let q: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
                if !taken(&q, &out) {
                    break q;
                }
            };
        }
        if out.len() + 1 < n {
            model.believe(&p);
        }
        out.push(p);
    }
    out
}

fn max_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

// ---------------------------------------------------------------------------------------------
// Output warping

/// A monotone transform of the objective before standardisation: the identity, or
/// `ln(y − min + δ)` with `δ` the distance from the minimum to the lower quartile or to the median
/// of the values (at least 1e-12 times their range). Each is fitted and the one with the largest
/// evidence for the raw values wins (the GP's log posterior of the warped, standardised values plus
/// the log Jacobian of warp and standardisation), so a heavy-tailed objective such as Rosenbrock's
/// is modelled on a log scale and a smooth one such as Branin's near its minimum is not.
#[derive(Debug, Clone, Copy)]
enum Warp {
    Identity,
    Log { shift: f64 },
}

impl Warp {
    /// The warps worth trying for these values: the identity, and logs with the shift at the lower
    /// quartile and at the median when the values are spread.
    fn candidates(y: &[f64]) -> Vec<Warp> {
        let mut out = vec![Warp::Identity];
        let mut s = y.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        if n < 4 || s[n - 1] <= s[0] {
            return out;
        }
        let (min, max) = (s[0], s[n - 1]);
        for q in [s[n / 4], s[n / 2]] {
            let delta = (q - min).max(1e-12 * (max - min)).max(f64::MIN_POSITIVE);
            out.push(Warp::Log { shift: delta - min });
        }
        out
    }

    fn apply(self, y: f64) -> f64 {
        match self {
            Warp::Identity => y,
            Warp::Log { shift } => (y + shift).max(f64::MIN_POSITIVE).ln(),
        }
    }

    /// `Σ ln |w'(y_i)|`, the change of density from the data to the warped data.
    fn log_jacobian(self, y: &[f64]) -> f64 {
        match self {
            Warp::Identity => 0.0,
            Warp::Log { shift } => y.iter().map(|&v| -(v + shift).max(f64::MIN_POSITIVE).ln()).sum(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The model: objective GP, optional constraint GP, incumbent

struct Model {
    objective: Option<Gp>,
    /// The best feasible standardised objective.
    incumbent: Option<f64>,
    /// The unit points of the best feasible values, best first (starts of the local search).
    elite: Vec<Vec<f64>>,
    constraint: Option<Gp>,
    d: usize,
}

impl Model {
    fn fit(d: usize, history: &[(Vec<f64>, &Evaluation)]) -> Option<Model> {
        let history = thin(history);
        let ok = |e: &Evaluation| e.is_feasible() && e.objectives.first().is_some_and(|f| f.is_finite());
        let with_value: Vec<(&Vec<f64>, f64, bool)> = history
            .iter()
            .filter_map(|(u, e)| e.objectives.first().filter(|f| f.is_finite()).map(|&f| (u, f, ok(e))))
            .collect();
        let n_failed = history.iter().filter(|(_, e)| !ok(e)).count();
        if history.len() < 2 || (with_value.len() < 2 && n_failed == 0) {
            return None;
        }
        let mut objective = None;
        let mut incumbent = None;
        let mut elite = Vec::new();
        if with_value.len() >= 2 {
            let raw: Vec<f64> = with_value.iter().map(|(_, f, _)| *f).collect();
            let x: Vec<&Vec<f64>> = with_value.iter().map(|(u, _, _)| *u).collect();
            // Each warp is fitted; the one with the largest evidence for the raw values (the fitted
            // log posterior of the standardised warped values plus the log Jacobians of the warp
            // and of the standardisation) wins.
            let mut chosen: Option<(f64, Gp, Vec<f64>)> = None;
            for warp in Warp::candidates(&raw) {
                let warped: Vec<f64> = raw.iter().map(|&f| warp.apply(f)).collect();
                let mean = warped.iter().sum::<f64>() / warped.len() as f64;
                let var = warped.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / warped.len() as f64;
                let sd = if var > 0.0 && var.is_finite() { var.sqrt() } else { 1.0 };
                let y: Vec<f64> = warped.iter().map(|v| (v - mean) / sd).collect();
                let Some((gp, nll)) = Gp::fit(d, &x, &y) else { continue };
                let score = -nll - y.len() as f64 * sd.ln() + warp.log_jacobian(&raw);
                if chosen.as_ref().is_none_or(|c| score > c.0) {
                    chosen = Some((score, gp, y));
                }
            }
            if let Some((_, gp, y)) = chosen {
                let mut order: Vec<usize> = (0..y.len()).filter(|&i| with_value[i].2).collect();
                order.sort_by(|&a, &b| y[a].total_cmp(&y[b]));
                incumbent = order.first().map(|&i| y[i]);
                elite = order.iter().take(N_STARTS).map(|&i| x[i].clone()).collect();
                objective = Some(gp);
            }
        }
        let constraint = if n_failed > 0 {
            let mut positive: Vec<f64> =
                history.iter().map(|(_, e)| e.violation).filter(|v| *v > 0.0 && v.is_finite()).collect();
            positive.sort_by(f64::total_cmp);
            let median = positive.get(positive.len() / 2).copied().unwrap_or(1.0);
            let y: Vec<f64> = history
                .iter()
                .map(|(_, e)| {
                    if ok(e) {
                        -std::f64::consts::LN_2
                    } else if e.violation > 0.0 && e.violation.is_finite() {
                        (e.violation / median).ln_1p()
                    } else {
                        // Infinitely violating, or feasible with an undefined objective.
                        std::f64::consts::LN_2
                    }
                })
                .collect();
            let x: Vec<&Vec<f64>> = history.iter().map(|(u, _)| u).collect();
            Gp::fit(d, &x, &y).map(|(gp, _)| gp)
        } else {
            None
        };
        if objective.is_none() && constraint.is_none() {
            return None;
        }
        Some(Model { objective, incumbent, elite, constraint, d })
    }

    /// Adds `p` at its predicted values (kriging believer).
    fn believe(&mut self, p: &[f64]) {
        for gp in [&mut self.objective, &mut self.constraint].into_iter().flatten() {
            let mean = gp.predict(p, None).0;
            if let Some(next) = gp.with_point(p, mean) {
                *gp = next;
            }
        }
    }

    /// The acquisition (log EI + log PoF, or log PoF alone before a feasible point) and, when
    /// `grad` is given, its gradient.
    fn acquisition(&self, x: &[f64], mut grad: Option<&mut [f64]>) -> f64 {
        let d = self.d;
        if let Some(g) = grad.as_deref_mut() {
            g.fill(0.0);
        }
        let mut total = 0.0;
        let mut buf = vec![0.0; 2 * d];
        let (dm, dv) = buf.split_at_mut(d);
        if let (Some(gp), Some(best)) = (&self.objective, self.incumbent) {
            let (m, v) = gp.predict(x, grad.is_some().then_some((&mut *dm, &mut *dv)));
            let s = v.max(1e-12).sqrt();
            let z = (best - m) / s;
            let (lh, dlh) = log_h(z);
            total += lh + s.ln();
            if let Some(g) = grad.as_deref_mut() {
                // d/dx [ln s + ln h(z)], z = (best − m)/s, ds = dv / (2s).
                for i in 0..d {
                    let ds = dv[i] / (2.0 * s);
                    let dz = (-dm[i] - z * ds) / s;
                    g[i] += ds / s + dlh * dz;
                }
            }
        }
        if let Some(gp) = &self.constraint {
            let (m, v) = gp.predict(x, grad.is_some().then_some((&mut *dm, &mut *dv)));
            let s = v.max(1e-12).sqrt();
            let t = -m / s;
            let (lp, dlp) = log_ndtr(t);
            total += lp;
            if let Some(g) = grad {
                for i in 0..d {
                    let ds = dv[i] / (2.0 * s);
                    let dt = (-dm[i] - t * ds) / s;
                    g[i] += dlp * dt;
                }
            }
        }
        total
    }

    /// The point of the cube with the largest acquisition found by scoring random and local
    /// candidates and polishing the best few with projected L-BFGS.
    fn maximise(&self, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let d = self.d;
        let mut cands: Vec<Vec<f64>> = latin_hypercube_unit(N_RANDOM, d, rng);
        // Around the best points: Gaussian steps of a quarter lengthscale on a random subset of
        // coordinates (all of them half the time), the cheap local exploitation that uniform
        // candidates miss in six or ten dimensions.
        let lengthscales: Vec<f64> = match &self.objective {
            Some(gp) => gp.rho.iter().map(|r| (1.0 / r.sqrt()).min(1.0)).collect(),
            None => vec![0.2; d],
        };
        if !self.elite.is_empty() {
            for k in 0..N_LOCAL {
                // Half the local candidates around the incumbent, the rest around the others.
                let centre = if k % 2 == 0 { &self.elite[0] } else { &self.elite[k / 2 % self.elite.len()] };
                let all = rng.random::<bool>();
                let p_dim = (2.0 / d as f64).min(1.0);
                let radius = [0.05, 0.15, 0.4][rng.random_range(0..3)];
                let mut p = centre.clone();
                let mut moved = false;
                for i in 0..d {
                    if all || rng.random::<f64>() < p_dim {
                        let z: f64 = rng.sample(StandardNormal);
                        p[i] = (p[i] + radius * lengthscales[i] * z).clamp(0.0, 1.0);
                        moved = true;
                    }
                }
                if !moved {
                    let i = rng.random_range(0..d);
                    let z: f64 = rng.sample(StandardNormal);
                    p[i] = (p[i] + radius * lengthscales[i] * z).clamp(0.0, 1.0);
                }
                cands.push(p);
            }
        }
        let scores: Vec<f64> = cands.iter().map(|c| self.acquisition(c, None)).collect();
        let mut order: Vec<usize> = (0..cands.len()).filter(|&i| scores[i].is_finite()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let mut starts: Vec<Vec<f64>> = self.elite.iter().take(1).cloned().collect();
        for &i in &order {
            if starts.len() >= N_STARTS {
                break;
            }
            if starts.iter().all(|s| max_dist(s, &cands[i]) > 1e-6) {
                starts.push(cands[i].clone());
            }
        }
        let mut best = order.first().map(|&i| (cands[i].clone(), scores[i]));
        // Polish in coordinates scaled by the lengthscales, as Optuna does, for a well-conditioned
        // search: z_i = x_i / ℓ_i.
        let scale: Vec<f64> = lengthscales.iter().map(|l| l.max(1e-3)).collect();
        let hi: Vec<f64> = scale.iter().map(|l| 1.0 / l).collect();
        let lo = vec![0.0; d];
        for s in starts {
            let z0: Vec<f64> = s.iter().zip(&scale).map(|(x, l)| x / l).collect();
            let mut xbuf = vec![0.0; d];
            let (z, f) = minimize_box(
                |z, g| {
                    for i in 0..d {
                        xbuf[i] = (z[i] * scale[i]).clamp(0.0, 1.0);
                    }
                    let a = self.acquisition(&xbuf, Some(g));
                    for i in 0..d {
                        g[i] = -g[i] * scale[i];
                    }
                    -a
                },
                &z0,
                &lo,
                &hi,
                60,
                1e-5,
            );
            let x: Vec<f64> = z.iter().zip(&scale).map(|(z, l)| (z * l).clamp(0.0, 1.0)).collect();
            if -f > best.as_ref().map_or(f64::NEG_INFINITY, |b| b.1) {
                best = Some((x, -f));
            }
        }
        best.map(|b| b.0).unwrap_or_else(|| (0..d).map(|_| rng.random::<f64>()).collect())
    }
}

/// At most `MAX_POINTS` points: the best half by (feasibility, objective) and the most recent
/// of the others.
fn thin<'a>(history: &'a [(Vec<f64>, &'a Evaluation)]) -> Vec<(Vec<f64>, &'a Evaluation)> {
    if history.len() <= MAX_POINTS {
        return history.to_vec();
    }
    let score = |e: &Evaluation| {
        let f = e.objectives.first().copied().unwrap_or(f64::NAN);
        (!e.is_feasible() || f.is_nan(), if f.is_nan() { f64::INFINITY } else { f })
    };
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by(|&a, &b| {
        let (sa, sb) = (score(history[a].1), score(history[b].1));
        sa.0.cmp(&sb.0).then(sa.1.total_cmp(&sb.1))
    });
    let mut keep: Vec<usize> = order[..MAX_POINTS / 2].to_vec();
    let mut recent: Vec<usize> = order[MAX_POINTS / 2..].to_vec();
    recent.sort_unstable_by(|a, b| b.cmp(a));
    keep.extend(recent.into_iter().take(MAX_POINTS - MAX_POINTS / 2));
    keep.sort_unstable();
    keep.into_iter().map(|i| history[i].clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Gaussian process

/// A fitted GP on standardised targets.
#[derive(Debug, Clone)]
struct Gp {
    d: usize,
    n: usize,
    /// Row-major `n × d` inputs.
    x: Vec<f64>,
    y: Vec<f64>,
    /// Inverse squared lengthscales.
    rho: Vec<f64>,
    scale: f64,
    noise: f64,
    /// Lower Cholesky factor of `K + σ² I`, row-major, and its transpose.
    chol: Vec<f64>,
    chol_t: Vec<f64>,
    /// `(K + σ² I)⁻¹ y`.
    alpha: Vec<f64>,
}

const SQRT5: f64 = 2.236_067_977_499_79;

/// Matérn 5/2 of `r²` (unit scale), and `dk/d(r²)`.
#[inline]
fn matern(r2: f64) -> (f64, f64) {
    let r = r2.max(0.0).sqrt();
    let e = (-SQRT5 * r).exp();
    ((1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * e, -5.0 / 6.0 * (1.0 + SQRT5 * r) * e)
}

/// Hyperparameter box: `ln ρ`, `ln s`, `ln(σ² − min)`.
fn theta_bounds(d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut lo = vec![(1e-3f64).ln(); d];
    let mut hi = vec![(1e4f64).ln(); d];
    lo.push((1e-3f64).ln());
    hi.push((1e3f64).ln());
    lo.push((1e-10f64).ln());
    hi.push(0.0);
    (lo, hi)
}

/// Squared coordinate differences of every pair `a < b`, `d` per pair.
fn pair_sq(x: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n * (n - 1) / 2 * d);
    for a in 0..n {
        for b in a + 1..n {
            for i in 0..d {
                let t = x[a * d + i] - x[b * d + i];
                out.push(t * t);
            }
        }
    }
    out
}

/// In-place lower Cholesky of a row-major symmetric matrix (the upper triangle is zeroed);
/// false if not positive definite.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let (row_j, below) = a[j * n..].split_at_mut(n);
        let s = row_j[j] - dot(&row_j[..j], &row_j[..j]);
        if !(s > 0.0 && s.is_finite()) {
            return false;
        }
        let l = s.sqrt();
        row_j[j] = l;
        row_j[j + 1..].fill(0.0);
        for row_i in below.chunks_exact_mut(n) {
            row_i[j] = (row_i[j] - dot(&row_i[..j], &row_j[..j])) / l;
        }
    }
    true
}

/// Solves `L z = b` in place, `L` lower triangular row-major.
fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        b[i] = (b[i] - dot(&l[i * n..i * n + i], &b[..i])) / l[i * n + i];
    }
}

/// Solves `U z = b` in place, `U` upper triangular row-major (the transpose of a Cholesky factor).
fn solve_upper(u: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        b[i] = (b[i] - dot(&u[i * n + i + 1..i * n + n], &b[i + 1..n])) / u[i * n + i];
    }
}

fn transpose(a: &[f64], n: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            t[j * n + i] = a[i * n + j];
        }
    }
    t
}

/// Negative log posterior of the hyperparameters and its gradient.
fn neg_log_posterior(theta: &[f64], y: &[f64], sq: &[f64], n: usize, d: usize, grad: &mut [f64]) -> f64 {
    let rho: Vec<f64> = theta[..d].iter().map(|t| t.exp()).collect();
    let s = theta[d].exp();
    let extra = theta[d + 1].exp();
    let noise = MIN_NOISE + extra;
    let n_pairs = n * (n - 1) / 2;
    let mut kernel = Vec::with_capacity(n_pairs);
    let mut slope = Vec::with_capacity(n_pairs);
    let mut l = vec![0.0; n * n];
    let mut p = 0;
    for a in 0..n {
        l[a * n + a] = s + noise;
        for b in a + 1..n {
            let r2: f64 = rho.iter().zip(&sq[p * d..p * d + d]).map(|(r, q)| r * q).sum();
            let (m, dm) = matern(r2);
            kernel.push(m);
            slope.push(dm);
            l[a * n + b] = s * m;
            l[b * n + a] = s * m;
            p += 1;
        }
    }
    if !cholesky(&mut l, n) {
        grad.fill(0.0);
        return f64::INFINITY;
    }
    let mut alpha = y.to_vec();
    solve_lower(&l, n, &mut alpha);
    let fit: f64 = 0.5 * dot(&alpha, &alpha);
    solve_upper(&transpose(&l, n), n, &mut alpha);
    let logdet: f64 = (0..n).map(|i| l[i * n + i].ln()).sum();
    // Row c of `mt` is column c of L⁻¹ (zero before c), so (K⁻¹)_ab = Σ_{k ≥ max(a,b)} mt_ak mt_bk
    // is a contiguous dot product.
    let mut mt = vec![0.0; n * n];
    for c in 0..n {
        let col = &mut mt[c * n..c * n + n];
        col[c] = 1.0 / l[c * n + c];
        for i in c + 1..n {
            col[i] = -dot(&l[i * n + c..i * n + i], &col[c..i]) / l[i * n + i];
        }
    }
    let kinv = |a: usize, b: usize| -> f64 {
        let k0 = a.max(b);
        dot(&mt[a * n + k0..a * n + n], &mt[b * n + k0..b * n + n])
    };
    // W = K⁻¹ − α αᵀ; d nll / dθ = ½ tr(W dK/dθ).
    grad.fill(0.0);
    let mut p = 0;
    for a in 0..n {
        let waa = kinv(a, a) - alpha[a] * alpha[a];
        grad[d] += 0.5 * waa * s;
        grad[d + 1] += 0.5 * waa * extra;
        for b in a + 1..n {
            let w = kinv(a, b) - alpha[a] * alpha[b];
            // Off-diagonal pairs count twice: ½ · 2 · W_ab · dK_ab.
            grad[d] += w * s * kernel[p];
            let c = w * s * slope[p];
            for ((g, r), q) in grad[..d].iter_mut().zip(&rho).zip(&sq[p * d..p * d + d]) {
                *g += c * r * q;
            }
            p += 1;
        }
    }
    // Log prior and its gradient (subtracted: we minimise).
    let mut log_prior = 0.0;
    for i in 0..d {
        log_prior -= 0.1 / rho[i] + 0.1 * rho[i];
        grad[i] -= 0.1 / rho[i] - 0.1 * rho[i];
    }
    log_prior += s.ln() - s;
    grad[d] -= 1.0 - s;
    log_prior += 0.1 * noise.ln() - 30.0 * noise;
    grad[d + 1] -= (0.1 / noise - 30.0) * extra;
    fit + logdet - log_prior
}

impl Gp {
    /// Fits the hyperparameters (MAP, from the prior's mode) and conditions on the data; also
    /// returns the negative log posterior reached.
    fn fit(d: usize, x: &[&Vec<f64>], y: &[f64]) -> Option<(Gp, f64)> {
        let n = y.len();
        let flat: Vec<f64> = x.iter().flat_map(|u| u.iter().copied()).collect();
        let sq = pair_sq(&flat, n, d);
        let (lo, hi) = theta_bounds(d);
        let mut theta0 = vec![0.0; d + 2];
        theta0[d + 1] = (1e-2f64).ln();
        let (theta, f) = minimize_box(|t, g| neg_log_posterior(t, y, &sq, n, d, g), &theta0, &lo, &hi, 200, 1e-2);
        if !f.is_finite() {
            return None;
        }
        let rho = theta[..d].iter().map(|t| t.exp()).collect();
        let gp = Gp::condition(d, flat, y.to_vec(), rho, theta[d].exp(), MIN_NOISE + theta[d + 1].exp())?;
        Some((gp, f))
    }

    fn condition(d: usize, x: Vec<f64>, y: Vec<f64>, rho: Vec<f64>, scale: f64, noise: f64) -> Option<Gp> {
        let n = y.len();
        let mut chol = vec![0.0; n * n];
        for a in 0..n {
            chol[a * n + a] = scale + noise;
            for b in a + 1..n {
                let r2: f64 = (0..d).map(|i| rho[i] * (x[a * d + i] - x[b * d + i]).powi(2)).sum();
                let v = scale * matern(r2).0;
                chol[a * n + b] = v;
                chol[b * n + a] = v;
            }
        }
        // Near-duplicate points can make the matrix numerically singular at a tiny noise: retry
        // with a hundredfold noise a few times.
        let base = chol.clone();
        let mut jitter = noise.max(1e-10);
        while !cholesky(&mut chol, n) {
            if jitter > 1e-2 {
                return None;
            }
            jitter *= 100.0;
            chol.copy_from_slice(&base);
            for a in 0..n {
                chol[a * n + a] += jitter;
            }
        }
        let chol_t = transpose(&chol, n);
        let mut alpha = y.clone();
        solve_lower(&chol, n, &mut alpha);
        solve_upper(&chol_t, n, &mut alpha);
        Some(Gp { d, n, x, y, rho, scale, noise, chol, chol_t, alpha })
    }

    /// The same GP with one more point, hyperparameters unchanged.
    fn with_point(&self, p: &[f64], y: f64) -> Option<Gp> {
        let mut x = self.x.clone();
        x.extend_from_slice(p);
        let mut ys = self.y.clone();
        ys.push(y);
        Gp::condition(self.d, x, ys, self.rho.clone(), self.scale, self.noise)
    }

    /// Posterior mean and variance of the latent function at `u`, and their gradients if asked.
    fn predict(&self, u: &[f64], grad: Option<(&mut [f64], &mut [f64])>) -> (f64, f64) {
        let (n, d) = (self.n, self.d);
        let mut kv = vec![0.0; n];
        let mut dk = if grad.is_some() { vec![0.0; n] } else { Vec::new() };
        for a in 0..n {
            let xa = &self.x[a * d..a * d + d];
            let r2: f64 = (0..d).map(|i| self.rho[i] * (u[i] - xa[i]).powi(2)).sum();
            let (m, dm) = matern(r2);
            kv[a] = self.scale * m;
            if !dk.is_empty() {
                dk[a] = self.scale * dm;
            }
        }
        let mean = dot(&kv, &self.alpha);
        let mut w = kv;
        solve_lower(&self.chol, n, &mut w);
        let var = (self.scale - dot(&w, &w)).max(0.0);
        if let Some((dmean, dvar)) = grad {
            // q = K⁻¹ k; dk_a/du_i = dk/d(r²) · 2 ρ_i (u_i − x_ai).
            solve_upper(&self.chol_t, n, &mut w);
            dmean.fill(0.0);
            dvar.fill(0.0);
            for a in 0..n {
                let xa = &self.x[a * d..a * d + d];
                let (ca, cq) = (dk[a] * self.alpha[a], dk[a] * w[a]);
                for i in 0..d {
                    let t = 2.0 * self.rho[i] * (u[i] - xa[i]);
                    dmean[i] += ca * t;
                    dvar[i] -= 2.0 * cq * t;
                }
            }
        }
        (mean, var)
    }
}

// ---------------------------------------------------------------------------------------------
// Projected L-BFGS on a box

/// Minimises `f` (which writes its gradient into the second argument) over the box `[lo, hi]` by
/// L-BFGS on the free variables with a backtracking line search along the projected path.
/// Returns the best point and value.
fn minimize_box(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    x0: &[f64],
    lo: &[f64],
    hi: &[f64],
    max_iter: usize,
    gtol: f64,
) -> (Vec<f64>, f64) {
    const MEMORY: usize = 8;
    let n = x0.len();
    let project = |x: &mut [f64]| {
        for i in 0..n {
            x[i] = x[i].clamp(lo[i], hi[i]);
        }
    };
    let mut x = x0.to_vec();
    project(&mut x);
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    if !fx.is_finite() {
        return (x, fx);
    }
    let mut mem_s: Vec<Vec<f64>> = Vec::new();
    let mut mem_y: Vec<Vec<f64>> = Vec::new();
    let mut xn = vec![0.0; n];
    let mut gn = vec![0.0; n];
    for _ in 0..max_iter {
        // Variables at a bound with the gradient pushing outwards are fixed this iteration.
        let free: Vec<bool> =
            (0..n).map(|i| !((x[i] <= lo[i] && g[i] > 0.0) || (x[i] >= hi[i] && g[i] < 0.0))).collect();
        let pg: Vec<f64> = (0..n).map(|i| if free[i] { g[i] } else { 0.0 }).collect();
        let pg_norm = pg.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if pg_norm < gtol {
            break;
        }
        // Two-loop recursion.
        let mut dir = pg.clone();
        let k = mem_s.len();
        let mut alphas = vec![0.0; k];
        for j in (0..k).rev() {
            let rho = 1.0 / dot(&mem_y[j], &mem_s[j]);
            alphas[j] = rho * dot(&mem_s[j], &dir);
            for i in 0..n {
                dir[i] -= alphas[j] * mem_y[j][i];
            }
        }
        if k > 0 {
            let gamma = dot(&mem_s[k - 1], &mem_y[k - 1]) / dot(&mem_y[k - 1], &mem_y[k - 1]);
            dir.iter_mut().for_each(|v| *v *= gamma);
        } else {
            let scale = 1.0 / pg.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
            dir.iter_mut().for_each(|v| *v *= scale.min(1.0));
        }
        for j in 0..k {
            let rho = 1.0 / dot(&mem_y[j], &mem_s[j]);
            let beta = rho * dot(&mem_y[j], &dir);
            for i in 0..n {
                dir[i] += mem_s[j][i] * (alphas[j] - beta);
            }
        }
        for i in 0..n {
            dir[i] = if free[i] { -dir[i] } else { 0.0 };
        }
        if dot(&dir, &pg) >= 0.0 {
            mem_s.clear();
            mem_y.clear();
            let scale = 1.0 / pg.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
            for i in 0..n {
                dir[i] = -pg[i] * scale.min(1.0);
            }
        }
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..30 {
            for i in 0..n {
                xn[i] = x[i] + t * dir[i];
            }
            project(&mut xn);
            let fnew = f(&xn, &mut gn);
            let decrease: f64 = (0..n).map(|i| g[i] * (xn[i] - x[i])).sum();
            if fnew.is_finite() && fnew <= fx + 1e-4 * decrease.min(0.0) {
                accepted = true;
                let s: Vec<f64> = (0..n).map(|i| xn[i] - x[i]).collect();
                let y: Vec<f64> = (0..n).map(|i| gn[i] - g[i]).collect();
                let sy = dot(&s, &y);
                if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() && sy > 0.0 {
                    if mem_s.len() == MEMORY {
                        mem_s.remove(0);
                        mem_y.remove(0);
                    }
                    mem_s.push(s);
                    mem_y.push(y);
                }
                let improvement = fx - fnew;
                std::mem::swap(&mut x, &mut xn);
                std::mem::swap(&mut g, &mut gn);
                fx = fnew;
                if improvement <= 1e-12 * (1.0 + fx.abs()) {
                    return (x, fx);
                }
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    (x, fx)
}

/// Dot product with four accumulators (a sequential sum is bound by the latency of additions).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0; 4];
    for (x, y) in ca.zip(cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

// ---------------------------------------------------------------------------------------------
// Normal distribution helpers

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
const SQRT_PI_OVER_2: f64 = 1.253_314_137_315_500_3;

/// `exp(x²) erfc(x)` for `x ≥ 0`: from the Maclaurin series of erf below 2 (relative error about
/// 1e-13 there), from the continued fraction `erfc x = e^{−x²}/√π · 1/(x + ½/(x + 1/(x + …)))`
/// above (modified Lentz).
pub(crate) fn erfcx(x: f64) -> f64 {
    debug_assert!(x >= 0.0);
    if x < 2.0 {
        // erf x = 2/√π Σ (−1)^k x^{2k+1} / (k! (2k+1))
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        for k in 1..60 {
            term *= -x2 / k as f64;
            let add = term / (2 * k + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        let erf = sum * std::f64::consts::FRAC_2_SQRT_PI;
        return x2.exp() * (1.0 - erf);
    }
    // K = x + a1/(x + a2/(x + …)), a_k = k/2.
    let tiny = 1e-300;
    let mut fval = x;
    let mut c = x;
    let mut dcf = 0.0;
    for k in 1..500 {
        let a = k as f64 * 0.5;
        dcf = x + a * dcf;
        if dcf.abs() < tiny {
            dcf = tiny;
        }
        c = x + a / c;
        if c.abs() < tiny {
            c = tiny;
        }
        dcf = 1.0 / dcf;
        let delta = c * dcf;
        fval *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    1.0 / (fval * std::f64::consts::PI.sqrt())
}

/// `ln Φ(t)` and its derivative `φ(t)/Φ(t)`, stable in both tails.
pub(crate) fn log_ndtr(t: f64) -> (f64, f64) {
    let u = -t / std::f64::consts::SQRT_2;
    if t < -1.0 {
        // Φ(t) = ½ erfcx(u) e^{−u²}
        let ex = erfcx(u);
        let lp = (0.5 * ex).ln() - u * u;
        (lp, std::f64::consts::FRAC_2_SQRT_PI / std::f64::consts::SQRT_2 / ex)
    } else {
        let phi = FRAC_1_SQRT_2PI * (-0.5 * t * t).exp();
        // Φ(t) = 1 − ½ erfc(t/√2) for t ≥ 0; ½ erfc(−t/√2) for −1 ≤ t < 0.
        let cdf = if t >= 0.0 {
            let w = t / std::f64::consts::SQRT_2;
            1.0 - 0.5 * erfcx(w) * (-w * w).exp()
        } else {
            0.5 * erfcx(u) * (-u * u).exp()
        };
        (cdf.ln(), phi / cdf)
    }
}

/// `ln h(z)` with `h(z) = φ(z) + z Φ(z)` (so `EI = σ h((best − μ)/σ)`), and `d ln h / dz = Φ/h`,
/// stable for very negative `z` (Ament et al. 2023).
pub(crate) fn log_h(z: f64) -> (f64, f64) {
    if z > -1.0 {
        let phi = FRAC_1_SQRT_2PI * (-0.5 * z * z).exp();
        let cdf = if z >= 0.0 {
            let w = z / std::f64::consts::SQRT_2;
            1.0 - 0.5 * erfcx(w) * (-w * w).exp()
        } else {
            let w = -z / std::f64::consts::SQRT_2;
            0.5 * erfcx(w) * (-w * w).exp()
        };
        let h = phi + z * cdf;
        return (h.ln(), cdf / h);
    }
    let a = -z;
    let log_phi = -0.5 * z * z - LN_SQRT_2PI;
    // h = φ (1 − c), c = a Φ(z)/φ(z) = a √(π/2) erfcx(a/√2).
    let c = a * SQRT_PI_OVER_2 * erfcx(a / std::f64::consts::SQRT_2);
    let one_minus_c = if a > 20.0 {
        // Asymptotic series: 1 − c = Σ_{k≥1} (−1)^{k+1} (2k−1)!! / a^{2k}.
        let inv = 1.0 / (a * a);
        let mut term = inv;
        let mut sum = 0.0;
        for k in 1..8 {
            sum += term;
            term *= -((2 * k + 1) as f64) * inv;
        }
        sum
    } else {
        1.0 - c
    };
    let one_minus_c = one_minus_c.max(f64::MIN_POSITIVE);
    // Φ/h = (Φ/φ)/(1 − c) = (c/a)/(1 − c).
    (log_phi + one_minus_c.ln(), (c / a) / one_minus_c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn erfc_matches_reference_values() {
        // erfc values from Abramowitz & Stegun / mpmath to 16 digits.
        let cases = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_266),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_035e-12),
            (10.0, 2.088_487_583_762_545e-45),
        ];
        for (x, want) in cases {
            let got = erfcx(x) * (-x * x).exp();
            assert!(((got - want) / want).abs() < 1e-12, "erfc({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn log_h_is_continuous_and_matches_the_direct_formula() {
        let direct = |z: f64| {
            let phi = FRAC_1_SQRT_2PI * (-0.5 * z * z).exp();
            let tail = 0.5 * erfcx(z.abs() / std::f64::consts::SQRT_2) * (-0.5 * z * z).exp();
            let cdf = if z < 0.0 { tail } else { 1.0 - tail };
            (phi + z * cdf).ln()
        };
        for z in [-8.0, -3.0, -1.5, -1.0, -0.5, 0.0, 0.7, 3.0] {
            let (lh, _) = log_h(z);
            assert!((lh - direct(z)).abs() < 1e-9 * direct(z).abs().max(1.0), "z {z}: {lh} vs {}", direct(z));
        }
        // Derivative by central differences, across the branch points.
        for z in [-40.0f64, -21.0, -19.0, -5.0, -1.0001, -0.9999, 0.3, 2.0] {
            let h = 1e-5 * z.abs().max(1.0);
            let fd = (log_h(z + h).0 - log_h(z - h).0) / (2.0 * h);
            let (_, d) = log_h(z);
            assert!((fd - d).abs() < 1e-5 * d.abs().max(1.0), "z {z}: {d} vs {fd}");
        }
        // Far tail: ln h ≈ ln φ(z) − 2 ln|z|.
        let z = -1e4f64;
        let want = -0.5 * z * z - LN_SQRT_2PI - 2.0 * (-z).ln();
        assert!((log_h(z).0 - want).abs() < 1e-6);
        let (lp, dlp) = log_ndtr(-40.0);
        assert!(lp.is_finite() && lp < -800.0 && (dlp - 40.0).abs() < 0.1);
    }

    #[test]
    fn gp_gradients_match_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let d = 3;
        let pts = latin_hypercube_unit(12, d, &mut rng);
        let y: Vec<f64> = pts.iter().map(|p| (3.0 * p[0]).sin() + p[1] * p[1] - 0.5 * p[2]).collect();
        let x: Vec<&Vec<f64>> = pts.iter().collect();
        let flat: Vec<f64> = pts.iter().flatten().copied().collect();
        let sq = pair_sq(&flat, 12, d);
        let theta = [0.3, -0.2, 0.5, 0.1, (1e-3f64).ln()];
        let mut g = vec![0.0; d + 2];
        neg_log_posterior(&theta, &y, &sq, 12, d, &mut g);
        for j in 0..d + 2 {
            let (mut tp, mut tm) = (theta, theta);
            tp[j] += 1e-6;
            tm[j] -= 1e-6;
            let mut scratch = vec![0.0; d + 2];
            let fd = (neg_log_posterior(&tp, &y, &sq, 12, d, &mut scratch)
                - neg_log_posterior(&tm, &y, &sq, 12, d, &mut scratch))
                / 2e-6;
            assert!((fd - g[j]).abs() < 1e-4 * fd.abs().max(1.0), "θ{j}: analytic {} vs {fd}", g[j]);
        }
        let (gp, _) = Gp::fit(d, &x, &y).unwrap();
        // Interpolates its data (small noise) and has near-zero variance there.
        let (m, v) = gp.predict(&pts[4], None);
        assert!((m - y[4]).abs() < 0.05 && v < 0.01, "mean {m} vs {}, var {v}", y[4]);
        let u = [0.37, 0.61, 0.12];
        let (mut dm, mut dv) = (vec![0.0; d], vec![0.0; d]);
        gp.predict(&u, Some((&mut dm, &mut dv)));
        for i in 0..d {
            let (mut up, mut um) = (u, u);
            up[i] += 1e-6;
            um[i] -= 1e-6;
            let (mp, vp) = gp.predict(&up, None);
            let (mm, vm) = gp.predict(&um, None);
            assert!(((mp - mm) / 2e-6 - dm[i]).abs() < 1e-5, "dmean {i}");
            assert!(((vp - vm) / 2e-6 - dv[i]).abs() < 1e-5, "dvar {i}");
        }
    }

    #[test]
    fn box_lbfgs_finds_a_bounded_minimum() {
        // min (x−2)² + (y+1)² + xy on [0, 1]²: at a corner-free boundary point x = 1, y = 0 ... check
        // against the analytic constrained optimum: with y ≥ 0 active, x minimises (x−2)² → 1 (bound).
        let (x, f) = minimize_box(
            |p, g| {
                g[0] = 2.0 * (p[0] - 2.0) + p[1];
                g[1] = 2.0 * (p[1] + 1.0) + p[0];
                (p[0] - 2.0).powi(2) + (p[1] + 1.0).powi(2) + p[0] * p[1]
            },
            &[0.3, 0.8],
            &[0.0, 0.0],
            &[1.0, 1.0],
            100,
            1e-9,
        );
        assert!((x[0] - 1.0).abs() < 1e-9 && x[1].abs() < 1e-9, "{x:?}");
        assert!((f - 2.0).abs() < 1e-9);
        // An interior minimum of a badly scaled quadratic.
        let (x, _) = minimize_box(
            |p, g| {
                g[0] = 2.0 * (p[0] - 0.3);
                g[1] = 2000.0 * (p[1] - 0.7);
                (p[0] - 0.3).powi(2) + 1000.0 * (p[1] - 0.7).powi(2)
            },
            &[0.9, 0.1],
            &[0.0, 0.0],
            &[1.0, 1.0],
            100,
            1e-10,
        );
        assert!((x[0] - 0.3).abs() < 1e-6 && (x[1] - 0.7).abs() < 1e-6, "{x:?}");
    }

    /// Time of one suggestion with 50 points in the history, split into the model fit and the
    /// acquisition search: issue 6 asks for at most 20 ms per suggestion (release build).
    #[test]
    #[ignore = "timing: run in release with --ignored --nocapture"]
    fn suggestion_time_at_50_points() {
        use crate::optimize::problem::FnProblem;
        use crate::optimize::sampling::{DesignSpace, Dimension};
        use crate::optimize::solvers::{run, RunConfig, SolverKind};
        use crate::optimize::testfns::TestFunction;
        use std::time::Instant;
        for tf in [TestFunction::branin(), TestFunction::hartmann6(), TestFunction::rosenbrock(10)] {
            let dims = tf.bounds.iter().map(|&(lo, hi)| Dimension::Continuous { lo, hi }).collect();
            let problem = FnProblem { space: DesignSpace::new(dims).unwrap(), f: tf.f };
            let out = run(SolverKind::Bayesian, &problem, &RunConfig { budget: 50, seed: 0 }, &mut ()).unwrap();
            let history: Vec<(Vec<f64>, Evaluation)> = out.candidates.into_iter().map(|c| (c.unit, c.eval)).collect();
            let refs: Vec<(Vec<f64>, &Evaluation)> = history.iter().map(|(u, e)| (u.clone(), e)).collect();
            let reps = 5;
            let t = Instant::now();
            let mut model = None;
            for _ in 0..reps {
                model = Model::fit(tf.dim(), &refs);
            }
            let fit_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
            let model = model.unwrap();
            let t = Instant::now();
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            for _ in 0..reps {
                model.maximise(&mut rng);
            }
            let acq_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
            let t = Instant::now();
            for seed in 0..reps as u64 {
                suggest(tf.dim(), &history, 1, seed);
            }
            let total_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
            println!("{}: fit {fit_ms:.2} ms, acquisition {acq_ms:.2} ms, suggestion {total_ms:.2} ms", tf.name);
        }
    }
}
