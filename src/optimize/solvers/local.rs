//! Nelder–Mead, particle swarm, simulated annealing and L-BFGS from `argmin`, on the penalised
//! single-objective scalar, restarted until the oracle says stop.
//!
//! argmin has no notion of an evaluation budget, so the cost function returns an error once the
//! oracle refuses a point; argmin passes that error up through `Executor::run`, which ends the
//! solver cleanly without an extra evaluation. The best point is tracked by the cost function
//! itself, so nothing is lost with the solver state.

use std::cell::{Cell, RefCell};

use argmin::core::{CostFunction, Error, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::particleswarm::ParticleSwarm;
use argmin::solver::quasinewton::LBFGS;
use argmin::solver::simulatedannealing::{Anneal, SATempFunc, SimulatedAnnealing};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::{clamp_unit, penalised, rng, Oracle, INFEASIBLE_BASE};
use crate::optimize::sampling::latin_hypercube_unit;

/// A local run that answers no new point this many times in a row ends the solver; the caller
/// spends the rest of the budget on uniform points.
const MAX_IDLE_RESTARTS: usize = 3;

/// The penalised objective over an oracle, recording the best point seen.
struct Cost<'a, 'o> {
    oracle: &'a RefCell<&'o mut dyn Oracle>,
    exhausted: &'a Cell<bool>,
    best: &'a RefCell<Option<(Vec<f64>, f64)>>,
}

impl Cost<'_, '_> {
    fn eval(&self, p: &[f64]) -> Result<f64, Error> {
        let u = clamp_unit(p);
        let Some(e) = self.oracle.borrow_mut().eval(&u) else {
            self.exhausted.set(true);
            return Err(Error::msg("evaluation budget exhausted"));
        };
        let f = penalised(&e);
        let mut best = self.best.borrow_mut();
        if best.as_ref().is_none_or(|(_, b)| f < *b) {
            *best = Some((u, f));
        }
        Ok(f)
    }

    fn distinct(&self) -> usize {
        self.oracle.borrow().distinct()
    }

    fn best(&self) -> Option<(Vec<f64>, f64)> {
        self.best.borrow().clone()
    }
}

impl CostFunction for Cost<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        self.eval(p)
    }
}

/// Shared state of the restart loops.
struct Shared<'o> {
    oracle: RefCell<&'o mut dyn Oracle>,
    exhausted: Cell<bool>,
    best: RefCell<Option<(Vec<f64>, f64)>>,
}

impl<'o> Shared<'o> {
    fn new(oracle: &'o mut dyn Oracle) -> Self {
        Shared { oracle: RefCell::new(oracle), exhausted: Cell::new(false), best: RefCell::new(None) }
    }

    fn cost(&self) -> Cost<'_, 'o> {
        Cost { oracle: &self.oracle, exhausted: &self.exhausted, best: &self.best }
    }

    fn dim(&self) -> usize {
        self.oracle.borrow().dim()
    }

    fn budget(&self) -> usize {
        self.oracle.borrow().budget()
    }
}

/// Runs `local` repeatedly (it gets the restart number) until the budget is spent or too many
/// restarts in a row answer nothing new.
fn restarts(shared: &Shared<'_>, mut local: impl FnMut(u64)) {
    let mut idle = 0;
    for round in 0.. {
        let before = shared.cost().distinct();
        local(round);
        if shared.exhausted.get() {
            return;
        }
        idle = if shared.cost().distinct() == before { idle + 1 } else { 0 };
        if idle >= MAX_IDLE_RESTARTS {
            return;
        }
    }
}

fn uniform(rng: &mut ChaCha8Rng, d: usize) -> Vec<f64> {
    (0..d).map(|_| rng.random::<f64>()).collect()
}

/// Nelder–Mead from a random point with a simplex of side 0.25. When it converges (spread of the
/// simplex values below 1e-12) it restarts from the best point with a simplex half as large, which
/// undoes a collapsed simplex; a restart that does not improve the best moves on to a fresh random
/// point with a full-size simplex.
pub(super) fn nelder_mead(oracle: &mut dyn Oracle, seed: u64) {
    let shared = Shared::new(oracle);
    let d = shared.dim();
    let mut rng = rng(seed, 0x4E4D);
    let mut start = uniform(&mut rng, d);
    let mut step = 0.25;
    let mut previous_best = f64::INFINITY;
    restarts(&shared, |_| {
        let cost = shared.cost();
        let mut simplex = vec![start.clone()];
        for i in 0..d {
            let mut p = start.clone();
            p[i] = if p[i] + step <= 1.0 { p[i] + step } else { p[i] - step };
            simplex.push(p);
        }
        // argmin's Nelder–Mead unwraps the costs of its first simplex: evaluate them here, so it
        // only ever meets cached points there.
        if simplex.iter().any(|p| cost.eval(p).is_err()) {
            return;
        }
        let solver = NelderMead::new(simplex).with_sd_tolerance(1e-12).expect("valid tolerance");
        let _ = Executor::new(cost, solver).configure(|s| s.max_iters(2_000)).run();
        let Some((best, f)) = shared.cost().best() else { return };
        if f < previous_best {
            previous_best = f;
            start = best;
            step = (step * 0.5f64).max(1e-3);
        } else {
            start = uniform(&mut rng, d);
            step = 0.25;
        }
    });
}

/// Particle swarm with a swarm of a tenth of the budget (5 to 40 particles), restarted with new
/// particles if its iterations end before the budget.
pub(super) fn particle_swarm(oracle: &mut dyn Oracle, seed: u64) {
    let shared = Shared::new(oracle);
    let d = shared.dim();
    let particles = (shared.budget() / 10).clamp(5, 40);
    let iters = (shared.budget() / particles + 1) as u64;
    restarts(&shared, |round| {
        let solver =
            ParticleSwarm::new((vec![0.0; d], vec![1.0; d]), particles).with_rng_generator(rng(seed, 0x9550 + round));
        let _ = Executor::new(shared.cost(), solver).configure(|s| s.max_iters(iters)).run();
    });
}

/// The annealing problem: the cost, plus Gaussian moves whose size shrinks with the temperature.
struct Annealer<'a, 'o> {
    cost: Cost<'a, 'o>,
    rng: RefCell<ChaCha8Rng>,
    t0: f64,
}

impl CostFunction for Annealer<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        self.cost.eval(p)
    }
}

impl Anneal for Annealer<'_, '_> {
    type Param = Vec<f64>;
    type Output = Vec<f64>;
    type Float = f64;

    /// Every coordinate moves by `N(0, σ²)` with `σ = 0.15 (T / T0)^¼` (at least 1e-3), reflected
    /// at the faces of the cube.
    fn anneal(&self, p: &Vec<f64>, temperature: f64) -> Result<Vec<f64>, Error> {
        let sigma = (0.15 * (temperature / self.t0).max(0.0).powf(0.25)).max(1e-3);
        let mut rng = self.rng.borrow_mut();
        Ok(p.iter()
            .map(|&v| {
                let z: f64 = rng.sample(StandardNormal);
                let mut w = v + sigma * z;
                if w < 0.0 {
                    w = -w;
                }
                if w > 1.0 {
                    w = 2.0 - w;
                }
                w.clamp(0.0, 1.0)
            })
            .collect())
    }
}

/// Simulated annealing: a small Latin hypercube (a tenth of the budget, 2 to 10 points) sets the
/// initial temperature to the spread of its feasible values and the start to its best point; the
/// temperature then falls geometrically to 1/1000 of that over the rest of the budget. If the
/// budget outlasts the schedule, it anneals again from the best point at half the temperature.
pub(super) fn simulated_annealing(oracle: &mut dyn Oracle, seed: u64) {
    let shared = Shared::new(oracle);
    let (d, budget) = (shared.dim(), shared.budget());
    let n0 = (budget / 10).clamp(2, 10);
    let mut init_rng = rng(seed, 0x5A);
    let mut values = Vec::new();
    for u in latin_hypercube_unit(n0, d, &mut init_rng) {
        match shared.cost().eval(&u) {
            Ok(f) => values.push(f),
            Err(_) => return,
        }
    }
    let feasible: Vec<f64> = values.into_iter().filter(|f| f.abs() < INFEASIBLE_BASE).collect();
    let mut t0 = if feasible.len() >= 2 {
        let mean = feasible.iter().sum::<f64>() / feasible.len() as f64;
        (feasible.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / (feasible.len() - 1) as f64).sqrt()
    } else {
        1.0
    };
    if !(t0.is_finite() && t0 > 0.0) {
        t0 = 1.0;
    }
    let iters = budget.saturating_sub(n0).max(1) as u64;
    let factor = 1e-3f64.powf(1.0 / iters as f64);
    restarts(&shared, |round| {
        let Some((start, _)) = shared.cost().best() else { return };
        let problem = Annealer { cost: shared.cost(), rng: RefCell::new(rng(seed, 0x5A00 + 2 * round)), t0 };
        let solver = SimulatedAnnealing::new_with_rng(t0, rng(seed, 0x5A01 + 2 * round))
            .expect("positive temperature")
            .with_temp_func(SATempFunc::Exponential(factor));
        let _ = Executor::new(problem, solver).configure(|s| s.param(start).max_iters(iters)).run();
        t0 *= 0.5;
    });
}

/// The cost with central finite-difference gradients (step 1e-5, one-sided at the faces of the
/// cube): each gradient costs up to `2d` evaluations. Coordinates outside the cube, where the
/// clamped cost is flat, get a zero derivative without evaluations.
struct Differenced<'a, 'o> {
    cost: Cost<'a, 'o>,
}

const FD_STEP: f64 = 1e-5;

impl CostFunction for Differenced<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        self.cost.eval(p)
    }
}

impl Gradient for Differenced<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> {
        let mut g = vec![0.0; p.len()];
        for i in 0..p.len() {
            if !(0.0..=1.0).contains(&p[i]) {
                continue;
            }
            let (mut up, mut down) = (clamp_unit(p), clamp_unit(p));
            up[i] = (p[i] + FD_STEP).min(1.0);
            down[i] = (p[i] - FD_STEP).max(0.0);
            let (fu, fd) = (self.cost.eval(&up)?, self.cost.eval(&down)?);
            g[i] = (fu - fd) / (up[i] - down[i]);
        }
        Ok(g)
    }
}

/// L-BFGS (memory 7, Moré–Thuente line search) from random points, one local run after another.
pub(super) fn lbfgs(oracle: &mut dyn Oracle, seed: u64) {
    let shared = Shared::new(oracle);
    let d = shared.dim();
    let mut rng = rng(seed, 0x1BF6);
    restarts(&shared, |_| {
        let start = uniform(&mut rng, d);
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
            .with_tolerance_grad(1e-8)
            .and_then(|s| s.with_tolerance_cost(1e-12))
            .expect("valid tolerances");
        let problem = Differenced { cost: shared.cost() };
        let _ = Executor::new(problem, solver).configure(|s| s.param(start).max_iters(200)).run();
    });
}
