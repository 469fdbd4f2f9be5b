//! Optimisation solvers over the unit cube `[0, 1]^d`: space-filling baselines, four local and
//! population solvers from `argmin`, Bayesian optimisation with a Gaussian process (see
//! [`super::bo`]) and NSGA-II for several objectives.
//!
//! Two ways to drive a solver, both deterministic for a seed:
//!
//! - [`run`] evaluates a [`Problem`] itself, exactly `budget` times (fewer only when the
//!   [`RunObserver`] stops it), and reports every evaluation in order;
//! - [`suggest`] is ask/tell: given the points evaluated so far and their evaluations, it proposes
//!   the next `n` unit points, so evaluations can happen elsewhere (a person, a simulation queue).
//!
//! ## How every solver sees the problem
//!
//! Solvers are written against one small interface (`Oracle`): "evaluate this unit point, or tell
//! me to stop". [`run`] answers by decoding and evaluating the problem; [`suggest`] answers by
//! *replaying*: a point already in the history gets its recorded evaluation, a new point is
//! collected as a suggestion and gets a pessimistic stand-in (the worst value seen, "constant
//! liar"), and the solver is stopped once `n` new points are collected. A trajectory of the
//! solver is therefore a function of the seed and of the answers it got, in both modes, and
//! `suggest` with `n = 1` fed back its own suggestions retraces what `run` does, except that sizes
//! derived from the budget (population, annealing schedule, Latin-hypercube strata) use
//! [`SUGGEST_BUDGET`] there. History points that the replayed trajectory never asks for (from
//! another solver, or entered by hand) are only never proposed again; Bayesian optimisation needs
//! no replay and fits its model to every history point.
//!
//! Points a solver proposes outside the cube are clamped onto it. A point evaluated once is never
//! evaluated again in a run: a repeat gets the recorded evaluation and costs no budget.
//!
//! ## Constraints and the single-objective scalar
//!
//! Single-objective solvers other than Bayesian optimisation minimise the scalar
//! `objective[0]` for a feasible point and `1e12 · (1 + violation)` for an infeasible one (or one
//! whose objective is not a number), so any feasible point beats any infeasible one and the less
//! violating of two infeasible points is better, for any objective below `1e12` in magnitude
//! (feasible objectives are clamped to `±1e12`). The scale-free solvers (Nelder–Mead, particle
//! swarm) only compare these values; simulated annealing sets its temperature from feasible values
//! only. Bayesian optimisation models the objective and the violation separately (expected
//! improvement times the probability of feasibility). NSGA-II uses Deb's constraint domination.

mod bench;
mod ego;
mod local;
mod nsga2;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::ControlFlow;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::problem::{Evaluation, Problem};
use super::sampling::{latin_hypercube_unit, DesignSpace};

pub use bench::{benchmark, BenchRow};

/// The budget that sizes a solver in [`suggest`], where the real budget is not known: the
/// Latin-hypercube strata, NSGA-II's population, the annealing schedule.
pub const SUGGEST_BUDGET: usize = 100;

/// The feasible-beats-infeasible offset of the single-objective scalar (see the module docs).
pub(crate) const INFEASIBLE_BASE: f64 = 1e12;

/// A solver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SolverKind {
    /// Independent uniform points.
    Random,
    /// One Latin hypercube over the whole budget.
    LatinHypercube,
    /// Nelder–Mead simplex (argmin), restarted until the budget is spent.
    NelderMead,
    /// Particle swarm (argmin, SPSO 2011 weights).
    ParticleSwarm,
    /// Simulated annealing (argmin) with a temperature schedule fitted to the budget.
    SimulatedAnnealing,
    /// L-BFGS (argmin) on central finite differences, restarted until the budget is spent.
    Lbfgs,
    /// Gaussian-process Bayesian optimisation with log expected improvement.
    Bayesian,
    /// NSGA-II: SBX crossover, polynomial mutation, constraint domination.
    Nsga2,
    /// egobox's EGO (egobox-ego), for comparison with `Bayesian`.
    Ego,
}

impl SolverKind {
    pub const ALL: [SolverKind; 9] = [
        SolverKind::Random,
        SolverKind::LatinHypercube,
        SolverKind::NelderMead,
        SolverKind::ParticleSwarm,
        SolverKind::SimulatedAnnealing,
        SolverKind::Lbfgs,
        SolverKind::Bayesian,
        SolverKind::Nsga2,
        SolverKind::Ego,
    ];

    /// The snake-case name, as serialised.
    pub fn name(self) -> &'static str {
        match self {
            SolverKind::Random => "random",
            SolverKind::LatinHypercube => "latin_hypercube",
            SolverKind::NelderMead => "nelder_mead",
            SolverKind::ParticleSwarm => "particle_swarm",
            SolverKind::SimulatedAnnealing => "simulated_annealing",
            SolverKind::Lbfgs => "lbfgs",
            SolverKind::Bayesian => "bayesian",
            SolverKind::Nsga2 => "nsga2",
            SolverKind::Ego => "ego",
        }
    }

    /// Parses a name as [`SolverKind::name`] writes it, ignoring case and accepting `-` for `_`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        SolverKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether the solver handles more than one objective: NSGA-II, and the space-filling designs,
    /// which ignore the objectives. The others need exactly one.
    pub fn multi_objective(self) -> bool {
        matches!(self, SolverKind::Random | SolverKind::LatinHypercube | SolverKind::Nsga2)
    }
}

impl fmt::Display for SolverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How long a run lasts and how it is seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunConfig {
    /// Number of evaluations, at least 1.
    pub budget: usize,
    pub seed: u64,
}

/// One evaluated point, in the order evaluated.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// 0-based evaluation index.
    pub iteration: usize,
    /// The point in the unit cube.
    pub unit: Vec<f64>,
    /// The design values `unit` decodes to.
    pub x: Vec<f64>,
    pub eval: Evaluation,
}

/// Watches a run.
pub trait RunObserver {
    /// Called after every evaluation; return `ControlFlow::Break(())` to stop the run (a cancelled
    /// job). The evaluation just reported stays in the outcome.
    fn evaluated(&mut self, c: &Candidate) -> ControlFlow<()>;
}

/// Never stops a run.
impl RunObserver for () {
    fn evaluated(&mut self, _c: &Candidate) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunOutcome {
    /// Every evaluation, in order.
    pub candidates: Vec<Candidate>,
    /// For a single objective, the index of the best candidate: the feasible one with the least
    /// objective, or when none is feasible the least violating one. `None` for several objectives.
    pub best: Option<usize>,
    /// Whether the observer stopped the run before the budget was spent.
    pub stopped: bool,
}

/// Why a solver could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolverError {
    #[error("the budget must be at least one evaluation")]
    ZeroBudget,
    #[error("the design space has no dimensions")]
    EmptySpace,
    #[error("the problem has no objectives")]
    NoObjectives,
    #[error("{solver} needs one objective, the study has {objectives}")]
    NeedsOneObjective { solver: SolverKind, objectives: usize },
    #[error("evaluation {iteration} returned {got} objectives, the problem declares {want}")]
    ObjectiveCount { iteration: usize, got: usize, want: usize },
    #[error("history point {index} has {got} coordinates, the design space has {want}")]
    HistoryDimension { index: usize, got: usize, want: usize },
    #[error("history evaluation {index} has {got} objectives, expected {want}")]
    HistoryObjectives { index: usize, got: usize, want: usize },
}

fn check(kind: SolverKind, space: &DesignSpace, n_objectives: usize) -> Result<(), SolverError> {
    if space.is_empty() {
        return Err(SolverError::EmptySpace);
    }
    if n_objectives == 0 {
        return Err(SolverError::NoObjectives);
    }
    if n_objectives > 1 && !kind.multi_objective() {
        return Err(SolverError::NeedsOneObjective { solver: kind, objectives: n_objectives });
    }
    Ok(())
}

/// Runs `kind` on `problem` for exactly `cfg.budget` evaluations (fewer only when `observer`
/// stops it), calling `observer` after each.
pub fn run(
    kind: SolverKind,
    problem: &dyn Problem,
    cfg: &RunConfig,
    observer: &mut dyn RunObserver,
) -> Result<RunOutcome, SolverError> {
    check(kind, problem.space(), problem.n_objectives())?;
    if cfg.budget == 0 {
        return Err(SolverError::ZeroBudget);
    }
    let mut oracle = RunOracle {
        problem,
        observer,
        budget: cfg.budget,
        candidates: Vec::with_capacity(cfg.budget),
        seen: HashMap::new(),
        stopped: false,
        error: None,
    };
    drive(kind, &mut oracle, cfg.seed);
    if let Some(e) = oracle.error {
        return Err(e);
    }
    let best = if problem.n_objectives() == 1 { best_index(&oracle.candidates) } else { None };
    Ok(RunOutcome { candidates: oracle.candidates, best, stopped: oracle.stopped })
}

/// Ask/tell: proposes `n` new, distinct unit points given the `history` of unit points already
/// evaluated and their evaluations. Deterministic for a seed and a history. See the module docs
/// for how the history is used; points in the history are never proposed again.
pub fn suggest(
    kind: SolverKind,
    space: &DesignSpace,
    n_objectives: usize,
    history: &[(Vec<f64>, Evaluation)],
    n: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>, SolverError> {
    check(kind, space, n_objectives)?;
    let d = space.len();
    for (index, (u, e)) in history.iter().enumerate() {
        if u.len() != d {
            return Err(SolverError::HistoryDimension { index, got: u.len(), want: d });
        }
        if e.objectives.len() != n_objectives {
            return Err(SolverError::HistoryObjectives { index, got: e.objectives.len(), want: n_objectives });
        }
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    if kind == SolverKind::Bayesian {
        return Ok(super::bo::suggest(d, history, n, seed));
    }
    let mut oracle = ReplayOracle::new(d, n_objectives, history, n);
    drive(kind, &mut oracle, seed);
    Ok(oracle.pending)
}

/// The index of the best single-objective candidate: least objective among feasible ones with a
/// number for an objective, else least violation; the earliest on ties.
pub fn best_index(candidates: &[Candidate]) -> Option<usize> {
    let feasible = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.eval.is_feasible() && c.eval.objectives.first().is_some_and(|f| !f.is_nan()))
        .min_by(|(i, a), (j, b)| a.eval.objectives[0].total_cmp(&b.eval.objectives[0]).then(i.cmp(j)));
    if let Some((i, _)) = feasible {
        return Some(i);
    }
    let violation = |c: &Candidate| if c.eval.violation.is_nan() { f64::INFINITY } else { c.eval.violation };
    candidates
        .iter()
        .enumerate()
        .min_by(|(i, a), (j, b)| violation(a).total_cmp(&violation(b)).then(i.cmp(j)))
        .map(|(i, _)| i)
}

/// The single-objective scalar that the argmin solvers minimise (see the module docs).
pub(crate) fn penalised(e: &Evaluation) -> f64 {
    let f = e.objectives.first().copied().unwrap_or(f64::NAN);
    let v = if e.violation.is_nan() { f64::INFINITY } else { e.violation.max(0.0) };
    if v == 0.0 && !f.is_nan() {
        f.clamp(-INFEASIBLE_BASE, INFEASIBLE_BASE)
    } else {
        INFEASIBLE_BASE * (1.0 + v.min(1e12))
    }
}

/// A point moved into the unit cube: clamped, NaN to the centre, `-0.0` to `0.0`.
pub(crate) fn clamp_unit(u: &[f64]) -> Vec<f64> {
    u.iter().map(|&v| if v.is_nan() { 0.5 } else { v.clamp(0.0, 1.0) + 0.0 }).collect()
}

fn key(u: &[f64]) -> Vec<u64> {
    u.iter().map(|v| v.to_bits()).collect()
}

/// Mixes a seed with a stream number (SplitMix64 finaliser), for independent seeded streams.
pub(crate) fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed, stream))
}

/// What a solver evaluates points through: the problem itself in [`run`], the history in
/// [`suggest`].
pub(crate) trait Oracle {
    /// The number of dimensions.
    fn dim(&self) -> usize;
    /// The budget the solver should size itself by.
    fn budget(&self) -> usize;
    /// Evaluates a unit point (clamped onto the cube first); `None` when the solver must stop.
    fn eval(&mut self, u: &[f64]) -> Option<Evaluation>;
    /// How many distinct points have been answered so far: a solver that asks only repeats makes
    /// no progress.
    fn distinct(&self) -> usize;
}

struct RunOracle<'a> {
    problem: &'a dyn Problem,
    observer: &'a mut dyn RunObserver,
    budget: usize,
    candidates: Vec<Candidate>,
    seen: HashMap<Vec<u64>, usize>,
    stopped: bool,
    error: Option<SolverError>,
}

impl Oracle for RunOracle<'_> {
    fn dim(&self) -> usize {
        self.problem.space().len()
    }

    fn budget(&self) -> usize {
        self.budget
    }

    fn eval(&mut self, u: &[f64]) -> Option<Evaluation> {
        let unit = clamp_unit(u);
        let k = key(&unit);
        if let Some(&i) = self.seen.get(&k) {
            return Some(self.candidates[i].eval.clone());
        }
        if self.stopped || self.error.is_some() || self.candidates.len() >= self.budget {
            return None;
        }
        let x = self.problem.space().decode(&unit);
        let eval = self.problem.evaluate(&x);
        let iteration = self.candidates.len();
        let want = self.problem.n_objectives();
        if eval.objectives.len() != want {
            self.error = Some(SolverError::ObjectiveCount { iteration, got: eval.objectives.len(), want });
            return None;
        }
        let c = Candidate { iteration, unit, x, eval };
        if self.observer.evaluated(&c).is_break() {
            self.stopped = true;
        }
        self.seen.insert(k, iteration);
        let e = c.eval.clone();
        self.candidates.push(c);
        Some(e)
    }

    fn distinct(&self) -> usize {
        self.candidates.len()
    }
}

/// Answers from the history, collects new points with a pessimistic stand-in evaluation.
struct ReplayOracle {
    d: usize,
    history: HashMap<Vec<u64>, Evaluation>,
    answered: HashSet<Vec<u64>>,
    pending_keys: HashSet<Vec<u64>>,
    pending: Vec<Vec<f64>>,
    n: usize,
    lie: Evaluation,
}

impl ReplayOracle {
    fn new(d: usize, n_objectives: usize, history: &[(Vec<f64>, Evaluation)], n: usize) -> Self {
        let mut worst = vec![f64::NEG_INFINITY; n_objectives];
        for (_, e) in history.iter().filter(|(_, e)| e.is_feasible()) {
            for (w, &f) in worst.iter_mut().zip(&e.objectives) {
                if f.is_finite() {
                    *w = w.max(f);
                }
            }
        }
        let objectives = worst.into_iter().map(|w| if w.is_finite() { w } else { 0.0 }).collect();
        ReplayOracle {
            d,
            history: history.iter().map(|(u, e)| (key(&clamp_unit(u)), e.clone())).collect(),
            answered: HashSet::new(),
            pending_keys: HashSet::new(),
            pending: Vec::with_capacity(n),
            n,
            lie: Evaluation::unconstrained(objectives),
        }
    }
}

impl Oracle for ReplayOracle {
    fn dim(&self) -> usize {
        self.d
    }

    fn budget(&self) -> usize {
        SUGGEST_BUDGET
    }

    fn eval(&mut self, u: &[f64]) -> Option<Evaluation> {
        let unit = clamp_unit(u);
        let k = key(&unit);
        if let Some(e) = self.history.get(&k) {
            self.answered.insert(k);
            return Some(e.clone());
        }
        if self.pending_keys.contains(&k) {
            return Some(self.lie.clone());
        }
        if self.pending.len() >= self.n {
            return None;
        }
        self.pending_keys.insert(k.clone());
        self.answered.insert(k);
        self.pending.push(unit);
        Some(self.lie.clone())
    }

    fn distinct(&self) -> usize {
        self.answered.len()
    }
}

/// Runs a solver against an oracle, then spends whatever the solver left with uniform points, so
/// a run always uses its whole budget.
fn drive(kind: SolverKind, oracle: &mut dyn Oracle, seed: u64) {
    match kind {
        SolverKind::Random => {}
        SolverKind::LatinHypercube => latin_hypercube(oracle, seed),
        SolverKind::NelderMead => local::nelder_mead(oracle, seed),
        SolverKind::ParticleSwarm => local::particle_swarm(oracle, seed),
        SolverKind::SimulatedAnnealing => local::simulated_annealing(oracle, seed),
        SolverKind::Lbfgs => local::lbfgs(oracle, seed),
        SolverKind::Bayesian => super::bo::drive(oracle, seed),
        SolverKind::Nsga2 => nsga2::nsga2(oracle, seed),
        SolverKind::Ego => ego::drive(oracle, seed),
    }
    // Uniform points until the oracle says stop: all of Random, and a safety net for the others.
    let mut rng = rng(seed, 0xF111);
    let d = oracle.dim();
    loop {
        let u: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
        if oracle.eval(&u).is_none() {
            break;
        }
    }
}

/// Consecutive Latin hypercubes of the budget's size.
fn latin_hypercube(oracle: &mut dyn Oracle, seed: u64) {
    let (n, d) = (oracle.budget().max(1), oracle.dim());
    for round in 0.. {
        let mut rng = rng(seed, 0x1A5 + round);
        for u in latin_hypercube_unit(n, d, &mut rng) {
            if oracle.eval(&u).is_none() {
                return;
            }
        }
    }
}
