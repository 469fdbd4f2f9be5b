//! egobox's EGO (`egobox-ego`, the crate the architecture names for Bayesian optimisation) as a
//! solver, through its ask/tell service: a Latin hypercube of `2d` points (5 to 20), then one
//! `EgorServiceApi::suggest` per evaluation on everything evaluated so far. Constraints go to
//! egobox as one constraint column, the total violation (feasible when 0). If egobox's model cannot
//! be fitted, the remaining budget goes to uniform points. Kept beside our own
//! [`super::super::bo`] so the benchmark compares both on the same budget.

use super::{rng, Oracle};
use crate::optimize::sampling::latin_hypercube_unit;
use egobox_ego::{Cstr, EgorServiceFactory};
use ndarray::{Array1, Array2, Axis};

pub(crate) fn drive(oracle: &mut dyn Oracle, seed: u64) {
    let d = oracle.dim();
    let n0 = (2 * d).clamp(5, 20).max(d + 1).min(oracle.budget().max(1));
    let mut r = rng(seed, 0xE60);
    let mut xs: Vec<Vec<f64>> = Vec::new();
    let mut ys: Vec<(f64, f64)> = Vec::new();
    let mut constrained = false;
    for u in latin_hypercube_unit(n0, d, &mut r) {
        let Some(e) = oracle.eval(&u) else { return };
        constrained |= !e.constraints.is_empty();
        ys.push((e.objectives.first().copied().unwrap_or(f64::NAN), e.violation));
        xs.push(u);
    }
    let n_cstr = usize::from(constrained);
    let xlimits = Array2::from_shape_fn((d, 2), |(_, j)| j as f64);
    let Ok(egor) = EgorServiceFactory::<Cstr>::optimize()
        .configure(|c| c.n_cstr(n_cstr).cstr_tol(Array1::zeros(n_cstr)).seed(seed))
        .min_within(&xlimits)
    else {
        return;
    };
    loop {
        let x = Array2::from_shape_fn((xs.len(), d), |(i, j)| xs[i][j]);
        // Undefined objectives are modelled as the worst value seen, violations as given.
        let worst = ys.iter().map(|y| y.0).filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
        let y = Array2::from_shape_fn((ys.len(), 1 + n_cstr), |(i, j)| {
            if j == 0 {
                if ys[i].0.is_finite() {
                    ys[i].0
                } else {
                    worst.max(0.0)
                }
            } else if ys[i].1.is_finite() {
                ys[i].1
            } else {
                1e6
            }
        });
        // egobox panics on data its GP cannot fit (e.g. a constant objective); the run then
        // carries on with the uniform points of `solvers::drive` rather than failing.
        let Ok(next) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| egor.suggest(&x, &y))) else {
            return;
        };
        let Some(u) = next.axis_iter(Axis(0)).next().map(|row| row.to_vec()) else { return };
        let Some(e) = oracle.eval(&u) else { return };
        ys.push((e.objectives.first().copied().unwrap_or(f64::NAN), e.violation));
        xs.push(u);
    }
}
