use std::ops::ControlFlow;

use super::*;
use crate::optimize::pareto::{hypervolume_2d, pareto_front};
use crate::optimize::problem::FnProblem;
use crate::optimize::sampling::Dimension;
use crate::optimize::testfns::{branin, TestFunction};

fn mixed_space() -> DesignSpace {
    DesignSpace::new(vec![
        Dimension::Continuous { lo: -2.0, hi: 3.0 },
        Dimension::Integer { lo: 0, hi: 10, step: 2 },
        Dimension::Categorical { levels: 3 },
    ])
    .unwrap()
}

fn boxed(bounds: &[(f64, f64)]) -> DesignSpace {
    DesignSpace::new(bounds.iter().map(|&(lo, hi)| Dimension::Continuous { lo, hi }).collect()).unwrap()
}

/// A general problem for tests: objectives and a violation from closures.
struct TestProblem<F> {
    space: DesignSpace,
    n_objectives: usize,
    f: F,
}

impl<F: Fn(&[f64]) -> Evaluation + Sync> Problem for TestProblem<F> {
    fn space(&self) -> &DesignSpace {
        &self.space
    }

    fn n_objectives(&self) -> usize {
        self.n_objectives
    }

    fn evaluate(&self, x: &[f64]) -> Evaluation {
        (self.f)(x)
    }
}

/// Stops after `after` evaluations.
struct StopAfter {
    after: usize,
    seen: usize,
}

impl RunObserver for StopAfter {
    fn evaluated(&mut self, c: &Candidate) -> ControlFlow<()> {
        assert_eq!(c.iteration, self.seen, "observer sees evaluations in order");
        self.seen += 1;
        if self.seen >= self.after {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

fn single_objective_kinds() -> Vec<SolverKind> {
    SolverKind::ALL.to_vec()
}

fn zdt1(x: &[f64]) -> Evaluation {
    // Zitzler, Deb & Thiele (2000), "Comparison of multiobjective evolutionary algorithms:
    // empirical results", Evolutionary Computation 8(2): f1 = x1, g = 1 + 9 Σ_{i≥2} x_i / (n − 1),
    // f2 = g (1 − √(f1/g)); the Pareto front is g = 1, f2 = 1 − √f1.
    let g = 1.0 + 9.0 * x[1..].iter().sum::<f64>() / (x.len() - 1) as f64;
    Evaluation::unconstrained(vec![x[0], g * (1.0 - (x[0] / g).sqrt())])
}

#[test]
fn names_parse_and_serialise() {
    for kind in SolverKind::ALL {
        assert_eq!(SolverKind::parse(kind.name()), Some(kind));
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{}\"", kind.name()));
        assert_eq!(kind.to_string(), kind.name());
    }
    assert_eq!(SolverKind::parse(" Nelder-Mead "), Some(SolverKind::NelderMead));
    assert_eq!(SolverKind::parse("cmaes"), None);
    let multi: Vec<_> = SolverKind::ALL.into_iter().filter(|k| k.multi_objective()).collect();
    assert_eq!(multi, [SolverKind::Random, SolverKind::LatinHypercube, SolverKind::Nsga2]);
}

#[test]
fn every_solver_spends_exactly_the_budget_inside_the_space_and_repeats() {
    let problem = FnProblem {
        space: mixed_space(),
        f: |x: &[f64]| (x[0] - 0.7).powi(2) + 0.1 * (x[1] - 4.0).powi(2) + if x[2] == 1.0 { 0.0 } else { 1.0 },
    };
    for kind in single_objective_kinds() {
        for budget in [1, 2, 5, 23] {
            let cfg = RunConfig { budget, seed: 7 };
            let a = run(kind, &problem, &cfg, &mut ()).unwrap();
            assert_eq!(a.candidates.len(), budget, "{kind} budget {budget}");
            assert!(!a.stopped);
            let mut keys = HashSet::new();
            for (i, c) in a.candidates.iter().enumerate() {
                assert_eq!(c.iteration, i);
                assert!(c.unit.iter().all(|u| (0.0..=1.0).contains(u)), "{kind}: {:?}", c.unit);
                assert_eq!(c.x, problem.space.decode(&c.unit));
                assert!(keys.insert(key(&c.unit)), "{kind}: point {i} evaluated twice");
            }
            let best = a.best.expect("single objective has a best");
            let min = a.candidates.iter().map(|c| c.eval.objectives[0]).fold(f64::INFINITY, f64::min);
            assert_eq!(a.candidates[best].eval.objectives[0], min);
            let b = run(kind, &problem, &cfg, &mut ()).unwrap();
            assert_eq!(a, b, "{kind}: same seed, same run");
        }
        let other = run(kind, &problem, &RunConfig { budget: 23, seed: 8 }, &mut ()).unwrap();
        let first = run(kind, &problem, &RunConfig { budget: 23, seed: 7 }, &mut ()).unwrap();
        assert_ne!(first.candidates, other.candidates, "{kind}: seeds differ");
    }
}

#[test]
fn multi_objective_solvers_spend_the_budget_and_report_no_best() {
    let problem = TestProblem { space: boxed(&[(0.0, 1.0); 3]), n_objectives: 2, f: zdt1 };
    for kind in SolverKind::ALL.into_iter().filter(|k| k.multi_objective()) {
        for budget in [3, 37] {
            let out = run(kind, &problem, &RunConfig { budget, seed: 1 }, &mut ()).unwrap();
            assert_eq!(out.candidates.len(), budget, "{kind}");
            assert_eq!(out.best, None);
        }
    }
}

#[test]
fn an_observer_break_stops_the_run() {
    let problem = FnProblem { space: boxed(&[(-5.0, 10.0), (0.0, 15.0)]), f: branin };
    for kind in SolverKind::ALL {
        let mut observer = StopAfter { after: 6, seen: 0 };
        let out = run(kind, &problem, &RunConfig { budget: 30, seed: 3 }, &mut observer).unwrap();
        assert!(out.stopped, "{kind}");
        assert_eq!(out.candidates.len(), 6, "{kind}");
        assert_eq!(observer.seen, 6);
    }
}

#[test]
fn nelder_mead_and_lbfgs_find_the_minimum_of_a_quadratic_bowl() {
    let centre = [0.3, -1.2, 2.0];
    let problem = FnProblem {
        space: boxed(&[(-5.0, 5.0); 3]),
        f: move |x: &[f64]| {
            3.0 + x.iter().zip(&centre).enumerate().map(|(i, (a, c))| (i + 1) as f64 * (a - c).powi(2)).sum::<f64>()
        },
    };
    for kind in [SolverKind::NelderMead, SolverKind::Lbfgs] {
        let out = run(kind, &problem, &RunConfig { budget: 400, seed: 11 }, &mut ()).unwrap();
        let best = &out.candidates[out.best.unwrap()];
        for (x, c) in best.x.iter().zip(&centre) {
            assert!((x - c).abs() < 1e-3, "{kind}: best {:?}", best.x);
        }
        assert!(best.eval.objectives[0] - 3.0 < 1e-5, "{kind}: {}", best.eval.objectives[0]);
    }
}

#[test]
fn bayesian_optimisation_gets_close_to_the_branin_minimum_in_30_evaluations() {
    // Branin's minimum 0.397887 (Surjanovic & Bingham, Virtual Library of Simulation Experiments,
    // branin.html; see testfns.rs). Random search at 30 evaluations typically ends above 1.
    let tf = TestFunction::branin();
    let problem = FnProblem { space: boxed(&tf.bounds), f: tf.f };
    for seed in [0, 1] {
        let out = run(SolverKind::Bayesian, &problem, &RunConfig { budget: 30, seed }, &mut ()).unwrap();
        let best = out.candidates[out.best.unwrap()].eval.objectives[0];
        assert!(best < 0.41, "seed {seed}: best {best}");
        assert!(best >= tf.optimum - 1e-6);
    }
}

/// Minimise x + y on [0, 1]² subject to x ≥ 0.6 and y ≥ 0.6 (16% of the square is feasible);
/// violation is the summed shortfall.
fn constrained() -> TestProblem<impl Fn(&[f64]) -> Evaluation + Sync> {
    TestProblem {
        space: boxed(&[(0.0, 1.0); 2]),
        n_objectives: 1,
        f: |x: &[f64]| Evaluation {
            objectives: vec![x[0] + x[1]],
            constraints: vec![x[0], x[1]],
            violation: (0.6 - x[0]).max(0.0) + (0.6 - x[1]).max(0.0),
        },
    }
}

#[test]
fn the_best_is_feasible_when_a_feasible_point_exists() {
    let problem = constrained();
    for kind in SolverKind::ALL {
        let out = run(kind, &problem, &RunConfig { budget: 30, seed: 5 }, &mut ()).unwrap();
        let best = &out.candidates[out.best.unwrap()];
        let any_feasible = out.candidates.iter().any(|c| c.eval.is_feasible());
        // The solvers that sample the whole square find the feasible 16%; the local ones may not.
        let global =
            matches!(kind, SolverKind::Random | SolverKind::LatinHypercube | SolverKind::Bayesian | SolverKind::Nsga2);
        assert!(any_feasible || !global, "{kind} found no feasible point in 30 evaluations");
        if !any_feasible {
            continue;
        }
        assert!(best.eval.is_feasible(), "{kind}");
        // The unconstrained minimum (0, 0) is infeasible: the best sits at the corner (0.6, 0.6).
        assert!(best.eval.objectives[0] >= 1.2);
        if kind == SolverKind::Bayesian {
            // Expected improvement times the probability of feasibility gets near the corner.
            assert!(best.eval.objectives[0] < 1.25, "bayesian constrained best {}", best.eval.objectives[0]);
        }
    }
}

#[test]
fn with_no_feasible_point_the_best_is_the_least_violating() {
    let problem = TestProblem {
        space: boxed(&[(0.0, 1.0); 2]),
        n_objectives: 1,
        f: |x: &[f64]| Evaluation { objectives: vec![-x[0]], constraints: vec![], violation: 1.0 + x[1] },
    };
    let out = run(SolverKind::Random, &problem, &RunConfig { budget: 25, seed: 2 }, &mut ()).unwrap();
    let least = out.candidates.iter().map(|c| c.eval.violation).fold(f64::INFINITY, f64::min);
    assert_eq!(out.candidates[out.best.unwrap()].eval.violation, least);
    // The penalised scalar orders feasibility first.
    let feasible = Evaluation::unconstrained(vec![1e9]);
    let slightly = Evaluation { objectives: vec![-1e9], constraints: vec![], violation: 1e-9 };
    let more = Evaluation { objectives: vec![-1e9], constraints: vec![], violation: 1e-3 };
    let undefined = Evaluation::unconstrained(vec![f64::NAN]);
    assert!(penalised(&feasible) < penalised(&slightly));
    assert!(penalised(&slightly) < penalised(&more));
    assert!(penalised(&feasible) < penalised(&undefined));
}

#[test]
fn nsga2_approaches_the_zdt1_front() {
    // ZDT1's Pareto front f2 = 1 − √f1 (Zitzler, Deb & Thiele 2000) has hypervolume 2/3 against
    // (1, 1), so 0.1 + 2/3 + 0.11 ≈ 0.8767 against (1.1, 1.1).
    let problem = TestProblem { space: boxed(&[(0.0, 1.0); 5]), n_objectives: 2, f: zdt1 };
    let out = run(SolverKind::Nsga2, &problem, &RunConfig { budget: 2000, seed: 0 }, &mut ()).unwrap();
    let points: Vec<Vec<f64>> = out.candidates.iter().map(|c| c.eval.objectives.clone()).collect();
    let hv = hypervolume_2d(&points, [1.1, 1.1]);
    assert!(hv >= 0.85, "hypervolume {hv}");
    let front = pareto_front(&points);
    assert!(front.len() >= 30, "front of {}", front.len());
    // Random search at the same budget is clearly worse.
    let random = run(SolverKind::Random, &problem, &RunConfig { budget: 2000, seed: 0 }, &mut ()).unwrap();
    let points: Vec<Vec<f64>> = random.candidates.iter().map(|c| c.eval.objectives.clone()).collect();
    assert!(hypervolume_2d(&points, [1.1, 1.1]) < hv - 0.05);
}

#[test]
fn nsga2_prefers_feasible_points() {
    // Two objectives with the constraint x0 ≥ 0.5: every survivor of the last generation should be
    // feasible, so the late evaluations are mostly feasible.
    let problem = TestProblem {
        space: boxed(&[(0.0, 1.0); 3]),
        n_objectives: 2,
        f: |x: &[f64]| {
            let mut e = zdt1(x);
            e.violation = (0.5 - x[0]).max(0.0);
            e
        },
    };
    let out = run(SolverKind::Nsga2, &problem, &RunConfig { budget: 400, seed: 4 }, &mut ()).unwrap();
    let late = &out.candidates[300..];
    let feasible = late.iter().filter(|c| c.eval.is_feasible()).count();
    assert!(feasible * 10 >= late.len() * 8, "{feasible} of {} late evaluations feasible", late.len());
}

fn history_of(problem: &dyn Problem, n: usize, seed: u64) -> Vec<(Vec<f64>, Evaluation)> {
    run(SolverKind::LatinHypercube, problem, &RunConfig { budget: n, seed }, &mut ())
        .unwrap()
        .candidates
        .into_iter()
        .map(|c| (c.unit, c.eval))
        .collect()
}

#[test]
fn suggest_proposes_new_distinct_points_deterministically() {
    let problem = FnProblem { space: boxed(&[(-5.0, 10.0), (0.0, 15.0)]), f: branin };
    let foreign = history_of(&problem, 12, 9);
    for kind in SolverKind::ALL {
        // The solver's own first 12 evaluations, as ask/tell one at a time would have made them.
        let cfg = RunConfig { budget: SUGGEST_BUDGET, seed: 21 };
        let own: Vec<(Vec<f64>, Evaluation)> = run(kind, &problem, &cfg, &mut StopAfter { after: 12, seen: 0 })
            .unwrap()
            .candidates
            .into_iter()
            .map(|c| (c.unit, c.eval))
            .collect();
        for history in [&foreign, &own] {
            let a = suggest(kind, &problem.space, 1, history, 4, 21).unwrap();
            assert_eq!(a.len(), 4, "{kind}");
            let mut keys: HashSet<Vec<u64>> = history.iter().map(|(u, _)| key(u)).collect();
            for p in &a {
                assert_eq!(p.len(), 2);
                assert!(p.iter().all(|u| (0.0..=1.0).contains(u)), "{kind}: {p:?}");
                assert!(keys.insert(key(p)), "{kind}: {p:?} repeats a point");
            }
            assert_eq!(suggest(kind, &problem.space, 1, history, 4, 21).unwrap(), a, "{kind}: deterministic");
            assert!(suggest(kind, &problem.space, 1, history, 0, 21).unwrap().is_empty());
        }
        let later = suggest(kind, &problem.space, 1, &own, 4, 21).unwrap();
        let earlier = suggest(kind, &problem.space, 1, &own[..6], 4, 21).unwrap();
        assert_ne!(later, earlier, "{kind}: uses the history");
    }
    // Bayesian optimisation reacts to the values, not only to the points.
    let flipped: Vec<_> =
        foreign.iter().map(|(u, e)| (u.clone(), Evaluation::unconstrained(vec![-e.objectives[0]]))).collect();
    let a = suggest(SolverKind::Bayesian, &problem.space, 1, &foreign, 1, 21).unwrap();
    let b = suggest(SolverKind::Bayesian, &problem.space, 1, &flipped, 1, 21).unwrap();
    assert!(max_abs_diff(&a[0], &b[0]) > 1e-3);
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn ask_tell_one_at_a_time_retraces_a_run() {
    // With the run's budget equal to SUGGEST_BUDGET, suggesting one point at a time and feeding
    // back its evaluation reproduces the run's points.
    let problem = FnProblem { space: boxed(&[(-5.0, 10.0), (0.0, 15.0)]), f: branin };
    for kind in SolverKind::ALL {
        let steps = if kind == SolverKind::Bayesian { 12 } else { 40 };
        let mut observer = StopAfter { after: steps, seen: 0 };
        let out = run(kind, &problem, &RunConfig { budget: SUGGEST_BUDGET, seed: 4 }, &mut observer).unwrap();
        let mut history: Vec<(Vec<f64>, Evaluation)> = Vec::new();
        for c in &out.candidates {
            let next = suggest(kind, &problem.space, 1, &history, 1, 4).unwrap();
            assert_eq!(next[0], c.unit, "{kind}: evaluation {}", c.iteration);
            history.push((next[0].clone(), problem.evaluate(&problem.space.decode(&next[0]))));
        }
    }
}

#[test]
fn errors_are_clear() {
    let problem = FnProblem { space: boxed(&[(0.0, 1.0)]), f: |x: &[f64]| x[0] };
    let err = run(SolverKind::Random, &problem, &RunConfig { budget: 0, seed: 0 }, &mut ()).unwrap_err();
    assert_eq!(err, SolverError::ZeroBudget);
    assert_eq!(err.to_string(), "the budget must be at least one evaluation");
    let two = TestProblem { space: boxed(&[(0.0, 1.0); 2]), n_objectives: 2, f: zdt1 };
    for kind in SolverKind::ALL.into_iter().filter(|k| !k.multi_objective()) {
        let err = run(kind, &two, &RunConfig { budget: 10, seed: 0 }, &mut ()).unwrap_err();
        assert_eq!(err.to_string(), format!("{} needs one objective, the study has 2", kind.name()));
        let err = suggest(kind, &two.space, 2, &[], 1, 0).unwrap_err();
        assert_eq!(err, SolverError::NeedsOneObjective { solver: kind, objectives: 2 });
    }
    let empty = FnProblem { space: DesignSpace::new(vec![]).unwrap(), f: |_: &[f64]| 0.0 };
    let err = run(SolverKind::Random, &empty, &RunConfig { budget: 3, seed: 0 }, &mut ()).unwrap_err();
    assert_eq!(err.to_string(), "the design space has no dimensions");
    let err = suggest(
        SolverKind::Bayesian,
        &problem.space,
        1,
        &[(vec![0.1, 0.2], Evaluation::unconstrained(vec![1.0]))],
        1,
        0,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "history point 0 has 2 coordinates, the design space has 1");
    let err = suggest(SolverKind::Nsga2, &problem.space, 2, &[(vec![0.1], Evaluation::unconstrained(vec![1.0]))], 1, 0)
        .unwrap_err();
    assert_eq!(err.to_string(), "history evaluation 0 has 1 objectives, expected 2");
    let liar = TestProblem {
        space: boxed(&[(0.0, 1.0)]),
        n_objectives: 2,
        f: |x: &[f64]| Evaluation::unconstrained(vec![x[0]]),
    };
    let err = run(SolverKind::Nsga2, &liar, &RunConfig { budget: 5, seed: 0 }, &mut ()).unwrap_err();
    assert_eq!(err.to_string(), "evaluation 0 returned 1 objectives, the problem declares 2");
}

#[test]
fn undefined_objectives_do_not_break_the_solvers() {
    // NaN in a quarter of the square: every solver still spends its budget and the best has a
    // defined objective.
    let problem = FnProblem {
        space: boxed(&[(0.0, 1.0); 2]),
        f: |x: &[f64]| if x[0] > 0.75 { f64::NAN } else { (x[0] - 0.5).powi(2) + (x[1] - 0.5).powi(2) },
    };
    for kind in SolverKind::ALL {
        let out = run(kind, &problem, &RunConfig { budget: 30, seed: 6 }, &mut ()).unwrap();
        assert_eq!(out.candidates.len(), 30, "{kind}");
        assert!(!out.candidates[out.best.unwrap()].eval.objectives[0].is_nan(), "{kind}");
    }
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn benchmark_against_the_optuna_peer() {
    let budget = std::env::var("GENFAB_BENCH_BUDGET").ok().and_then(|s| s.parse().ok()).unwrap_or(50);
    let seeds = std::env::var("GENFAB_BENCH_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let solvers: Vec<SolverKind> = std::env::var("GENFAB_BENCH_SOLVERS")
        .ok()
        .map(|s| s.split(',').filter_map(SolverKind::parse).collect())
        .unwrap_or_else(|| SolverKind::ALL.to_vec());
    for row in benchmark(budget, 0..seeds, &solvers) {
        println!("{}", serde_json::to_string(&row).unwrap());
    }
}
