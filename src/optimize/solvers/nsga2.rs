//! NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002) on the unit cube: a Latin-hypercube start,
//! binary tournaments on (constrained rank, crowding distance), simulated binary crossover
//! (Deb & Agrawal 1995; probability 0.9, η = 15) and polynomial mutation (probability 1/d,
//! η = 20) in the bounded forms of Deb's reference code, and elitist survival of parents and
//! children by fronts, the last front cut by crowding distance.
//!
//! Constraint domination (Deb 2000): a feasible point beats an infeasible one, the less violating
//! of two infeasible points wins, and two feasible points compare by Pareto dominance.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{rng, Oracle};
use crate::optimize::pareto::{crowding_distance, non_dominated_sort};
use crate::optimize::problem::Evaluation;
use crate::optimize::sampling::latin_hypercube_unit;

const CROSSOVER_PROBABILITY: f64 = 0.9;
const ETA_CROSSOVER: f64 = 15.0;
const ETA_MUTATION: f64 = 20.0;

/// The population size for a budget: a fifth of it, between 4 and 40, even.
pub(super) fn population_size(budget: usize) -> usize {
    let n = (budget / 5).clamp(4, 40);
    n + n % 2
}

struct Individual {
    unit: Vec<f64>,
    objectives: Vec<f64>,
    /// NaN counts as infinitely violating.
    violation: f64,
}

impl Individual {
    fn new(unit: Vec<f64>, e: Evaluation) -> Self {
        let violation = if e.violation.is_nan() { f64::INFINITY } else { e.violation.max(0.0) };
        Individual { unit, objectives: e.objectives, violation }
    }
}

/// Fronts under constraint domination: the Pareto fronts of the feasible points, then the
/// infeasible points by increasing violation, equal violations sharing a front.
fn constrained_fronts(pop: &[Individual]) -> Vec<Vec<usize>> {
    let feasible: Vec<usize> = (0..pop.len()).filter(|&i| pop[i].violation == 0.0).collect();
    let points: Vec<&Vec<f64>> = feasible.iter().map(|&i| &pop[i].objectives).collect();
    let mut fronts: Vec<Vec<usize>> = non_dominated_sort(&points)
        .fronts
        .into_iter()
        .map(|front| front.into_iter().map(|k| feasible[k]).collect())
        .collect();
    let mut infeasible: Vec<usize> = (0..pop.len()).filter(|&i| pop[i].violation > 0.0).collect();
    infeasible.sort_by(|&a, &b| pop[a].violation.total_cmp(&pop[b].violation).then(a.cmp(&b)));
    for i in infeasible {
        match fronts.last_mut() {
            Some(last) if last.first().is_some_and(|&j| pop[j].violation == pop[i].violation) => last.push(i),
            _ => fronts.push(vec![i]),
        }
    }
    fronts
}

/// Rank and crowding distance of every member.
fn rank_and_crowding(pop: &[Individual], fronts: &[Vec<usize>]) -> (Vec<usize>, Vec<f64>) {
    let points: Vec<&Vec<f64>> = pop.iter().map(|p| &p.objectives).collect();
    let mut rank = vec![0; pop.len()];
    let mut crowding = vec![0.0; pop.len()];
    for (r, front) in fronts.iter().enumerate() {
        for (&i, c) in front.iter().zip(crowding_distance(&points, front)) {
            rank[i] = r;
            crowding[i] = c;
        }
    }
    (rank, crowding)
}

fn tournament(rank: &[usize], crowding: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let (a, b) = (rng.random_range(0..rank.len()), rng.random_range(0..rank.len()));
    let a_wins = rank[a] < rank[b] || (rank[a] == rank[b] && crowding[a] >= crowding[b]);
    if a_wins {
        a
    } else {
        b
    }
}

/// SBX on [0, 1] for one pair of parents, per coordinate with probability 1/2.
fn sbx(p1: &[f64], p2: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
    let (mut c1, mut c2) = (p1.to_vec(), p2.to_vec());
    if rng.random::<f64>() > CROSSOVER_PROBABILITY {
        return (c1, c2);
    }
    let spread = |beta: f64, r: f64| {
        let alpha = 2.0 - beta.powf(-(ETA_CROSSOVER + 1.0));
        if r <= 1.0 / alpha {
            (r * alpha).powf(1.0 / (ETA_CROSSOVER + 1.0))
        } else {
            (1.0 / (2.0 - r * alpha)).powf(1.0 / (ETA_CROSSOVER + 1.0))
        }
    };
    for i in 0..p1.len() {
        if rng.random::<f64>() > 0.5 || (p1[i] - p2[i]).abs() <= 1e-14 {
            continue;
        }
        let (y1, y2) = (p1[i].min(p2[i]), p1[i].max(p2[i]));
        let r: f64 = rng.random();
        let bq1 = spread(1.0 + 2.0 * y1 / (y2 - y1), r);
        let bq2 = spread(1.0 + 2.0 * (1.0 - y2) / (y2 - y1), r);
        let a = (0.5 * ((y1 + y2) - bq1 * (y2 - y1))).clamp(0.0, 1.0);
        let b = (0.5 * ((y1 + y2) + bq2 * (y2 - y1))).clamp(0.0, 1.0);
        if rng.random::<f64>() <= 0.5 {
            (c1[i], c2[i]) = (b, a);
        } else {
            (c1[i], c2[i]) = (a, b);
        }
    }
    (c1, c2)
}

/// Polynomial mutation on [0, 1], per coordinate with probability 1/d.
fn mutate(c: &mut [f64], rng: &mut ChaCha8Rng) {
    let pm = 1.0 / c.len() as f64;
    let power = 1.0 / (ETA_MUTATION + 1.0);
    for y in c.iter_mut() {
        if rng.random::<f64>() > pm {
            continue;
        }
        let r: f64 = rng.random();
        let dq = if r < 0.5 {
            let v = 2.0 * r + (1.0 - 2.0 * r) * (1.0 - *y).powf(ETA_MUTATION + 1.0);
            v.powf(power) - 1.0
        } else {
            let v = 2.0 * (1.0 - r) + 2.0 * (r - 0.5) * y.powf(ETA_MUTATION + 1.0);
            1.0 - v.powf(power)
        };
        *y = (*y + dq).clamp(0.0, 1.0);
    }
}

/// Keeps `n` of `pop` by fronts, the last front admitted by decreasing crowding distance.
fn survivors(pop: Vec<Individual>, n: usize) -> Vec<Individual> {
    let fronts = constrained_fronts(&pop);
    let points: Vec<&Vec<f64>> = pop.iter().map(|p| &p.objectives).collect();
    let mut keep = Vec::with_capacity(n);
    for front in fronts {
        if keep.len() + front.len() <= n {
            keep.extend(front);
        } else {
            let crowding = crowding_distance(&points, &front);
            let mut order: Vec<usize> = (0..front.len()).collect();
            order.sort_by(|&a, &b| crowding[b].total_cmp(&crowding[a]).then(a.cmp(&b)));
            keep.extend(order.into_iter().take(n - keep.len()).map(|k| front[k]));
        }
        if keep.len() == n {
            break;
        }
    }
    keep.sort_unstable();
    let mut slots: Vec<Option<Individual>> = pop.into_iter().map(Some).collect();
    keep.into_iter().filter_map(|i| slots[i].take()).collect()
}

pub(super) fn nsga2(oracle: &mut dyn Oracle, seed: u64) {
    let d = oracle.dim();
    let n = population_size(oracle.budget());
    let mut rng = rng(seed, 0x6A2);
    let mut pop = Vec::with_capacity(2 * n);
    for u in latin_hypercube_unit(n, d, &mut rng) {
        let Some(e) = oracle.eval(&u) else { return };
        pop.push(Individual::new(u, e));
    }
    let mut idle = 0;
    loop {
        let before = oracle.distinct();
        let fronts = constrained_fronts(&pop);
        let (rank, crowding) = rank_and_crowding(&pop, &fronts);
        let mut children = Vec::with_capacity(n);
        while children.len() < n {
            let (a, b) = (tournament(&rank, &crowding, &mut rng), tournament(&rank, &crowding, &mut rng));
            let (mut c1, mut c2) = sbx(&pop[a].unit, &pop[b].unit, &mut rng);
            mutate(&mut c1, &mut rng);
            mutate(&mut c2, &mut rng);
            children.push(c1);
            if children.len() < n {
                children.push(c2);
            }
        }
        for c in children {
            let Some(e) = oracle.eval(&c) else { return };
            pop.push(Individual::new(c, e));
        }
        pop = survivors(pop, n);
        idle = if oracle.distinct() == before { idle + 1 } else { 0 };
        if idle >= 3 {
            return;
        }
    }
}
