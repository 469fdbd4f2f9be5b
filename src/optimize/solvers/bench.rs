//! The solver benchmark of issue 6: Branin, Hartmann6 and Rosenbrock-10 at a fixed budget over a
//! range of seeds, summarised like `../shared/bench/optuna_peer.py` (median, best and worst of the
//! best value found, and milliseconds per evaluation).

use std::ops::Range;
use std::time::Instant;

use super::{run, RunConfig, SolverKind};
use crate::optimize::problem::FnProblem;
use crate::optimize::sampling::{DesignSpace, Dimension};
use crate::optimize::testfns::TestFunction;

/// One (function, solver) line of the benchmark.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchRow {
    /// `branin`, `hartmann6` or `rosenbrock10`, as the Optuna peer names them.
    pub function: String,
    pub solver: SolverKind,
    pub budget: usize,
    /// Number of seeds.
    pub seeds: usize,
    /// Median over seeds of the best value found.
    pub best_median: f64,
    pub best_min: f64,
    pub best_max: f64,
    /// Median over seeds of wall time per evaluation, solver overhead included.
    pub ms_per_eval: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Runs every solver on Branin, Hartmann6 and Rosenbrock-10 (on [-5, 10]^10) for `budget`
/// evaluations per seed, sequentially. No rows for a zero budget or an empty seed range.
pub fn benchmark(budget: usize, seeds: Range<u64>, solvers: &[SolverKind]) -> Vec<BenchRow> {
    if budget == 0 || seeds.is_empty() {
        return Vec::new();
    }
    let functions = [
        ("branin", TestFunction::branin()),
        ("hartmann6", TestFunction::hartmann6()),
        ("rosenbrock10", TestFunction::rosenbrock(10)),
    ];
    let mut rows = Vec::new();
    for (name, tf) in functions {
        let dims = tf.bounds.iter().map(|&(lo, hi)| Dimension::Continuous { lo, hi }).collect();
        let problem = FnProblem { space: DesignSpace::new(dims).expect("benchmark bounds are valid"), f: tf.f };
        for &solver in solvers {
            let mut bests = Vec::new();
            let mut ms = Vec::new();
            for seed in seeds.clone() {
                let start = Instant::now();
                let outcome =
                    run(solver, &problem, &RunConfig { budget, seed }, &mut ()).expect("benchmark problems are valid");
                ms.push(start.elapsed().as_secs_f64() * 1e3 / outcome.candidates.len().max(1) as f64);
                let best = outcome.best.map_or(f64::NAN, |i| outcome.candidates[i].eval.objectives[0]);
                bests.push(best);
            }
            let best_min = bests.iter().copied().fold(f64::INFINITY, f64::min);
            let best_max = bests.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            rows.push(BenchRow {
                function: name.to_owned(),
                solver,
                budget,
                seeds: bests.len(),
                best_median: median(&mut bests),
                best_min,
                best_max,
                ms_per_eval: median(&mut ms),
            });
        }
    }
    rows
}
