//! The `optimize` job: one run of a solver on a study, every evaluation stored as a candidate
//! (in bulk, as the solver goes), then the run's summary and Pareto set.
//!
//! Payload: `{"run_id"}`. A run is deterministic for its seed, so a re-run after a crash makes
//! the same candidates again and the store keeps the ones it already has.

use super::context::StopWhy;
use super::output::{fail, retry};
use super::{Handled, JobContext};
use crate::optimize::problem::Problem;
use crate::optimize::solvers::{self, Candidate, RunConfig, RunObserver, SolverKind};
use crate::optimize::study::Study;
use crate::optimize::{hypervolume, pareto_front};
use crate::store::{JobOutcome, NewCandidate};
use crate::studies::{self, StudiesError};
use serde_json::json;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Candidates are written when this many wait, or after `FLUSH_EVERY`.
const FLUSH_ROWS: usize = 2000;
const FLUSH_EVERY: Duration = Duration::from_secs(1);

struct Writer<'a> {
    ctx: &'a JobContext,
    study: &'a Study,
    study_id: i64,
    run_id: i64,
    solver: &'static str,
    budget: usize,
    buf: Vec<NewCandidate>,
    last: Instant,
    error: Option<anyhow::Error>,
    stop: Option<StopWhy>,
    /// Best feasible first objective so far, per evaluation (the convergence curve).
    best: Vec<f64>,
}

impl Writer<'_> {
    fn flush(&mut self) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let r = self.ctx.block_on(self.ctx.store.insert_candidates(self.study_id, self.run_id, self.solver, &self.buf));
        self.last = Instant::now();
        match r {
            Ok(()) => {
                self.buf.clear();
                true
            }
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }
}

impl RunObserver for Writer<'_> {
    fn evaluated(&mut self, c: &Candidate) -> ControlFlow<()> {
        self.buf.push(studies::new_candidate(self.study, c.iteration, &c.unit, &c.x, &c.eval));
        let prev = self.best.last().copied().unwrap_or(f64::INFINITY);
        let here = if c.eval.is_feasible() {
            c.eval.objectives.first().copied().unwrap_or(f64::INFINITY)
        } else {
            f64::INFINITY
        };
        self.best.push(prev.min(here));
        if (self.buf.len() >= FLUSH_ROWS || self.last.elapsed() >= FLUSH_EVERY) && !self.flush() {
            return ControlFlow::Break(());
        }
        let done = c.iteration + 1;
        self.ctx.progress(
            done as f64 / self.budget.max(1) as f64,
            &format!("{done} of {} evaluations", self.budget),
            false,
        );
        if let Some(why) = self.ctx.should_stop() {
            self.stop = Some(why);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn load_err(e: StudiesError) -> Handled {
    match e {
        StudiesError::Unexpected(e) => retry(e),
        other => fail(other.to_string()),
    }
}

pub fn run(ctx: &JobContext) -> Handled {
    let run_id: i64 = match ctx.field("run_id") {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let run = match ctx.block_on(ctx.store.get_run(run_id)) {
        Ok(Some(r)) => r,
        Ok(None) => return fail(format!("run {run_id} does not exist")),
        Err(e) => return retry(e),
    };
    let row = match ctx.block_on(ctx.store.get_study(run.study_id)) {
        Ok(Some(r)) => r,
        Ok(None) => return fail(format!("study {} does not exist", run.study_id)),
        Err(e) => return retry(e),
    };
    let Some(kind) = SolverKind::parse(&run.solver) else {
        return fail(format!("unknown solver '{}'", run.solver));
    };
    ctx.progress(0.0, "loading the study", true);
    let (study, model_id) = match ctx.block_on(studies::load_with_model(&ctx.store, &row)) {
        Ok(s) => s,
        Err(e) => return load_err(e),
    };
    if !study.computable() {
        return fail("the study has objectives measured outside genfab; runs need every objective to have an expr");
    }
    let budget = run.budget.max(0) as usize;
    let cfg = RunConfig { budget, seed: run.seed as u64 };
    let mut w = Writer {
        ctx,
        study: &study,
        study_id: row.id,
        run_id,
        solver: kind.name(),
        budget,
        buf: Vec::new(),
        last: Instant::now(),
        error: None,
        stop: None,
        best: Vec::with_capacity(budget),
    };
    let started = Instant::now();
    let outcome = solvers::run(kind, &study, &cfg, &mut w);
    let flushed = w.flush();
    if let Some(e) = w.error.take() {
        return retry(e);
    }
    debug_assert!(flushed);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return fail(e.to_string()),
    };
    match w.stop {
        Some(StopWhy::Interrupt) => return Handled::Interrupted,
        Some(StopWhy::Cancel) => {
            return Handled::Finish(JobOutcome::Cancelled(json!({ "evaluations": outcome.candidates.len() })));
        }
        None => {}
    }
    let seconds = started.elapsed().as_secs_f64();
    let cands = &outcome.candidates;
    let feasible: Vec<usize> = (0..cands.len()).filter(|&i| cands[i].eval.is_feasible()).collect();
    let points: Vec<&[f64]> = feasible.iter().map(|&i| cands[i].eval.objectives.as_slice()).collect();
    let front: Vec<usize> = pareto_front(&points).into_iter().map(|k| feasible[k]).collect();
    let best = outcome.best.map(|i| {
        let c = &cands[i];
        let d = study.detail(&c.x, &c.eval);
        json!({ "iteration": c.iteration, "design": d.design, "objectives": d.objectives, "constraints": d.constraints,
                "predictions": d.predictions, "feasible": c.eval.is_feasible(), "violation": c.eval.violation, "novelty": d.novelty })
    });
    let hv = (study.n_objectives() > 1 && !front.is_empty()).then(|| {
        // Reference: the worst feasible value per objective, 10% beyond (reported with the value).
        let m = study.n_objectives();
        let mut reference = vec![f64::NEG_INFINITY; m];
        let mut lo = vec![f64::INFINITY; m];
        for p in &points {
            for k in 0..m {
                reference[k] = reference[k].max(p[k]);
                lo[k] = lo[k].min(p[k]);
            }
        }
        let reference: Vec<f64> = reference.iter().zip(&lo).map(|(r, l)| r + 0.1 * (r - l).abs().max(1e-12)).collect();
        let front_points: Vec<&[f64]> = front.iter().map(|&i| cands[i].eval.objectives.as_slice()).collect();
        json!({ "value": hypervolume(&front_points, &reference), "reference": reference })
    });
    // The convergence curve, thinned to at most 200 points.
    let step = (w.best.len() / 200).max(1);
    let convergence: Vec<serde_json::Value> = w
        .best
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i + 1 == w.best.len())
        .map(|(i, b)| json!([i + 1, if b.is_finite() { json!(b) } else { serde_json::Value::Null }]))
        .collect();
    let summary = json!({
        "solver": kind.name(),
        "model_id": model_id,
        "evaluations": cands.len(),
        "feasible": feasible.len(),
        "pareto_size": front.len(),
        "best": best,
        "hypervolume": hv,
        "convergence": convergence,
        "seconds": seconds,
        "ms_per_evaluation": 1000.0 * seconds / cands.len().max(1) as f64,
    });
    let pareto: Vec<i32> = front.iter().map(|&i| cands[i].iteration as i32).collect();
    match ctx.block_on(ctx.store.complete_run(&ctx.job, run_id, &summary, &pareto)) {
        Ok(true) => Handled::Recorded,
        Ok(false) => Handled::Interrupted,
        Err(e) => retry(e),
    }
}
