//! Pareto tools for minimisation over k objectives: non-dominated sorting into fronts, crowding
//! distance, the first front alone, and exact hypervolume against a reference point.
//!
//! A NaN objective counts as +∞ (the worst value), so a candidate whose objective is undefined never
//! dominates one that is defined. Every point must have the same number of objectives; mixing
//! lengths is a programming error and panics.

use std::cmp::Ordering;

/// The fronts of a non-dominated sort and the rank (front index, 0 = non-dominated) of each point.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fronts {
    /// Point indices per front, best front first, ascending within a front.
    pub fronts: Vec<Vec<usize>>,
    /// `rank[i]` is the front holding point `i`.
    pub rank: Vec<usize>,
}

fn key(v: f64) -> f64 {
    if v.is_nan() {
        f64::INFINITY
    } else {
        v
    }
}

/// Whether `a` dominates `b`: no worse in every objective and better in at least one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut better = false;
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (key(x), key(y));
        if x > y {
            return false;
        }
        better |= x < y;
    }
    better
}

fn lexicographic(a: &[f64], b: &[f64]) -> Ordering {
    a.iter().zip(b).map(|(&x, &y)| key(x).total_cmp(&key(y))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

fn check_dims<P: AsRef<[f64]>>(points: &[P]) -> usize {
    let k = points.first().map_or(0, |p| p.as_ref().len());
    assert!(points.iter().all(|p| p.as_ref().len() == k), "all points must have {k} objectives");
    k
}

/// Indices sorted lexicographically by objective values: any dominator of a point comes before it.
fn lexicographic_order<P: AsRef<[f64]>>(points: &[P]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| lexicographic(points[a].as_ref(), points[b].as_ref()).then(a.cmp(&b)));
    order
}

/// Peels the non-dominated set off `remaining` (in lexicographic order): a point is non-dominated iff
/// no point already kept dominates it, since a dominator precedes it and, by transitivity, so does a
/// kept dominator. Returns (front, rest), both still in lexicographic order.
fn peel<P: AsRef<[f64]>>(points: &[P], remaining: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let mut front: Vec<usize> = Vec::new();
    let mut rest = Vec::new();
    for &i in remaining {
        let p = points[i].as_ref();
        if front.iter().any(|&f| dominates(points[f].as_ref(), p)) {
            rest.push(i);
        } else {
            front.push(i);
        }
    }
    (front, rest)
}

/// Sorts points into non-dominated fronts (the ranking of Deb et al. 2002, NSGA-II).
///
/// Same result as Deb's "fast non-dominated sort", computed by peeling fronts off a lexicographic
/// order: each point is compared only with the members of the front being built, so memory is O(n)
/// instead of Deb's O(n²) domination lists, and time is at most Deb's O(k n²).
pub fn non_dominated_sort<P: AsRef<[f64]>>(points: &[P]) -> Fronts {
    check_dims(points);
    let mut rank = vec![0; points.len()];
    let mut fronts = Vec::new();
    let mut remaining = lexicographic_order(points);
    while !remaining.is_empty() {
        let (mut front, rest) = peel(points, &remaining);
        for &i in &front {
            rank[i] = fronts.len();
        }
        front.sort_unstable();
        fronts.push(front);
        remaining = rest;
    }
    Fronts { fronts, rank }
}

/// Indices (ascending) of the non-dominated points. Equal points are all kept.
pub fn pareto_front<P: AsRef<[f64]>>(points: &[P]) -> Vec<usize> {
    check_dims(points);
    let (mut front, _) = peel(points, &lexicographic_order(points));
    front.sort_unstable();
    front
}

/// Crowding distance (Deb et al. 2002) of each member of `front`, in the order of `front`.
///
/// Per objective, the two extreme members get +∞ and the others the gap between their neighbours
/// divided by the objective's range over the front; an objective with zero range adds nothing.
pub fn crowding_distance<P: AsRef<[f64]>>(points: &[P], front: &[usize]) -> Vec<f64> {
    let n = front.len();
    let mut distance = vec![0.0; n];
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let k = points[front[0]].as_ref().len();
    let mut order: Vec<usize> = (0..n).collect();
    for m in 0..k {
        let value = |slot: usize| key(points[front[slot]].as_ref()[m]);
        order.sort_by(|&a, &b| value(a).total_cmp(&value(b)).then(a.cmp(&b)));
        let (lo, hi) = (value(order[0]), value(order[n - 1]));
        distance[order[0]] = f64::INFINITY;
        distance[order[n - 1]] = f64::INFINITY;
        let range = hi - lo;
        if !(range > 0.0 && range.is_finite()) {
            continue;
        }
        for w in order.windows(3) {
            distance[w[1]] += (value(w[2]) - value(w[0])) / range;
        }
    }
    distance
}

/// Points that strictly dominate the reference, flattened; the others add no volume.
fn inside_reference<P: AsRef<[f64]>>(points: &[P], reference: &[f64]) -> Vec<f64> {
    let k = reference.len();
    assert!(points.iter().all(|p| p.as_ref().len() == k), "points and reference must have {k} objectives");
    let mut flat = Vec::with_capacity(points.len() * k);
    for p in points {
        let p = p.as_ref();
        if p.iter().zip(reference).all(|(&x, &r)| key(x) < r) {
            flat.extend_from_slice(p);
        }
    }
    flat
}

/// Exact hypervolume of two objectives by a sorted sweep, O(n log n).
///
/// The area dominated by the points and bounded by `reference`; points not strictly better than the
/// reference in both objectives add nothing.
pub fn hypervolume_2d<P: AsRef<[f64]>>(points: &[P], reference: [f64; 2]) -> f64 {
    sweep_2d(&inside_reference(points, &reference), reference)
}

/// `flat` holds (x, y) pairs all strictly inside the reference.
fn sweep_2d(flat: &[f64], reference: [f64; 2]) -> f64 {
    let mut pts: Vec<[f64; 2]> = flat.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut area = 0.0;
    let mut best_y = reference[1];
    for [x, y] in pts {
        if y < best_y {
            area += (reference[0] - x) * (best_y - y);
            best_y = y;
        }
    }
    area
}

/// Exact hypervolume for any number of objectives against `reference`, by the WFG recursion (While,
/// Bradstreet & Barone 2012): the volume is the sum over points of their exclusive contribution,
/// each computed from the volume of the remaining points limited by that point. Two objectives fall
/// through to the sweep. Exponential in the worst case; fine up to about five objectives and a few
/// hundred points. Points not strictly better than the reference in every objective add nothing.
pub fn hypervolume<P: AsRef<[f64]>>(points: &[P], reference: &[f64]) -> f64 {
    let k = reference.len();
    if k == 0 {
        return 0.0;
    }
    let flat = inside_reference(points, reference);
    let flat = non_dominated_flat(&flat, k);
    wfg(&flat, k, reference)
}

/// The distinct non-dominated points of a flat list.
fn non_dominated_flat(flat: &[f64], k: usize) -> Vec<f64> {
    let points: Vec<&[f64]> = flat.chunks_exact(k).collect();
    let order = lexicographic_order(&points);
    let mut kept: Vec<&[f64]> = Vec::new();
    for i in order {
        let p = points[i];
        if !kept.iter().any(|f| dominates(f, p) || *f == p) {
            kept.push(p);
        }
    }
    kept.concat()
}

/// `flat` is a non-dominated set strictly inside `reference`.
fn wfg(flat: &[f64], k: usize, reference: &[f64]) -> f64 {
    let n = flat.len() / k;
    match (n, k) {
        (0, _) => 0.0,
        (1, _) => box_volume(flat, reference),
        (_, 1) => reference[0] - flat.iter().copied().fold(f64::INFINITY, f64::min),
        (_, 2) => sweep_2d(flat, [reference[0], reference[1]]),
        _ => {
            let mut total = 0.0;
            let mut limited = Vec::with_capacity(flat.len());
            for i in 0..n {
                let p = &flat[i * k..(i + 1) * k];
                limited.clear();
                for q in flat[(i + 1) * k..].chunks_exact(k) {
                    limited.extend(p.iter().zip(q).map(|(&a, &b)| a.max(b)));
                }
                let limited = non_dominated_flat(&limited, k);
                total += box_volume(p, reference) - wfg(&limited, k, reference);
            }
            total
        }
    }
}

fn box_volume(p: &[f64], reference: &[f64]) -> f64 {
    p.iter().zip(reference).map(|(&x, &r)| r - x).product()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Deb et al. 2002, Fig. 1, as written there: domination counts and lists, then fronts.
    fn deb_reference(points: &[Vec<f64>]) -> Fronts {
        let n = points.len();
        let mut dominated_by_me: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut count = vec![0usize; n];
        for p in 0..n {
            for q in 0..n {
                if dominates(&points[p], &points[q]) {
                    dominated_by_me[p].push(q);
                } else if dominates(&points[q], &points[p]) {
                    count[p] += 1;
                }
            }
        }
        let mut rank = vec![0; n];
        let mut fronts = Vec::new();
        let mut current: Vec<usize> = (0..n).filter(|&p| count[p] == 0).collect();
        while !current.is_empty() {
            let mut next = Vec::new();
            for &p in &current {
                rank[p] = fronts.len();
                for &q in &dominated_by_me[p] {
                    count[q] -= 1;
                    if count[q] == 0 {
                        next.push(q);
                    }
                }
            }
            current.sort_unstable();
            fronts.push(current);
            current = next;
        }
        Fronts { fronts, rank }
    }

    fn random_points(rng: &mut ChaCha8Rng, n: usize, k: usize, grid: Option<f64>) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| {
                (0..k)
                    .map(|_| {
                        let v: f64 = rng.random();
                        grid.map_or(v, |g| (v * g).floor() / g)
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn dominance() {
        assert!(dominates(&[1.0, 2.0], &[1.0, 3.0]));
        assert!(!dominates(&[1.0, 2.0], &[1.0, 2.0]));
        assert!(!dominates(&[1.0, 4.0], &[2.0, 3.0]));
        assert!(dominates(&[1.0, 2.0], &[f64::NAN, 2.0]));
        assert!(!dominates(&[f64::NAN, 2.0], &[1.0, 2.0]));
    }

    #[test]
    fn known_small_fronts() {
        // Three fronts drawn by hand: (1,5) (2,3) (4,1) | (3,4) (5,2) | (6,6).
        let points =
            vec![vec![3.0, 4.0], vec![1.0, 5.0], vec![6.0, 6.0], vec![2.0, 3.0], vec![5.0, 2.0], vec![4.0, 1.0]];
        let sorted = non_dominated_sort(&points);
        assert_eq!(sorted.fronts, vec![vec![1, 3, 5], vec![0, 4], vec![2]]);
        assert_eq!(sorted.rank, vec![1, 0, 2, 0, 1, 0]);
        assert_eq!(pareto_front(&points), vec![1, 3, 5]);
        assert_eq!(non_dominated_sort(&Vec::<Vec<f64>>::new()), Fronts::default());
        assert_eq!(pareto_front(&[[7.0]]), vec![0]);
        // One objective: fronts are the distinct values in order, ties sharing a front.
        let single = [[3.0], [1.0], [2.0], [1.0]];
        assert_eq!(non_dominated_sort(&single).fronts, vec![vec![1, 3], vec![2], vec![0]]);
    }

    #[test]
    fn duplicates_and_ties() {
        // Equal points never dominate each other, so duplicates share a front.
        let points = [[1.0, 1.0], [1.0, 1.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0], [2.0, 2.0]];
        let sorted = non_dominated_sort(&points);
        assert_eq!(sorted.fronts, vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
        // A tie in one objective with a loss in the other is dominated.
        assert_eq!(pareto_front(&[[1.0, 3.0], [1.0, 2.0], [0.5, 9.0]]), vec![1, 2]);
        // NaN is the worst value.
        assert_eq!(pareto_front(&[[f64::NAN, 0.0], [1.0, 0.0], [0.0, f64::NAN]]), vec![1, 2]);
    }

    #[test]
    #[should_panic(expected = "all points must have 2 objectives")]
    fn mixed_lengths_panic() {
        pareto_front(&[vec![1.0, 2.0], vec![1.0]]);
    }

    #[test]
    fn sort_matches_deb_reference_on_random_sets() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for trial in 0..200 {
            let k = 1 + trial % 4;
            // A coarse grid makes ties and duplicates common.
            let grid = if trial % 2 == 0 { Some(4.0) } else { None };
            let n = rng.random_range(0..60);
            let points = random_points(&mut rng, n, k, grid);
            let want = deb_reference(&points);
            assert_eq!(non_dominated_sort(&points), want, "trial {trial}");
            assert_eq!(pareto_front(&points), want.fronts.first().cloned().unwrap_or_default());
        }
    }

    #[test]
    fn crowding_distance_by_hand() {
        // Front on a line: x = 0, 1, 3, 6 with y = 6 - x. Ranges are 6 in both objectives.
        let points = [[0.0, 6.0], [3.0, 3.0], [1.0, 5.0], [6.0, 0.0]];
        let d = crowding_distance(&points, &[0, 1, 2, 3]);
        assert_eq!(d[0], f64::INFINITY);
        assert_eq!(d[3], f64::INFINITY);
        // Point (1,5): neighbours x 0 and 3 → 3/6, y 6 and 3 → 3/6.
        assert!((d[2] - 1.0).abs() < 1e-12);
        // Point (3,3): neighbours x 1 and 6 → 5/6, twice.
        assert!((d[1] - 10.0 / 6.0).abs() < 1e-12);
        assert_eq!(crowding_distance(&points, &[1, 2]), vec![f64::INFINITY; 2]);
        assert!(crowding_distance(&points, &[]).is_empty());
        // Zero range in one objective adds nothing rather than NaN.
        let flat = [[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]];
        assert_eq!(crowding_distance(&flat, &[0, 1, 2])[1], 1.0);
    }

    #[test]
    fn hypervolume_2d_by_hand() {
        // Staircase (1,3) (2,2) (3,1) with reference (4,4): 3 + 2 + 1 = 6.
        let front = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]];
        assert_eq!(hypervolume_2d(&front, [4.0, 4.0]), 6.0);
        assert_eq!(hypervolume(&front, &[4.0, 4.0]), 6.0);
        // Dominated points, duplicates and points outside the reference add nothing.
        let noisy = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0], [2.0, 2.0], [5.0, 0.0], [0.0, 4.0]];
        assert_eq!(hypervolume_2d(&noisy, [4.0, 4.0]), 6.0);
        assert_eq!(hypervolume(&noisy, &[4.0, 4.0]), 6.0);
        assert_eq!(hypervolume_2d(&[[5.0, 5.0]], [4.0, 4.0]), 0.0);
        assert_eq!(hypervolume_2d(&Vec::<[f64; 2]>::new(), [4.0, 4.0]), 0.0);
        assert_eq!(hypervolume(&[[2.0], [1.0]], &[4.0]), 3.0);
    }

    #[test]
    fn hypervolume_3d_by_hand() {
        let r = [2.0, 2.0, 2.0];
        assert_eq!(hypervolume(&[[0.0, 0.0, 0.0]], &r), 8.0);
        // Three unit-thick slabs through the 2-cube: each is 1×2×2 = 4; pairwise overlaps 2;
        // all three overlap 1. Inclusion–exclusion: 12 - 6 + 1 = 7.
        let slabs = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert_eq!(hypervolume(&slabs, &r), 7.0);
        // Adding a dominated point and a point outside the reference changes nothing.
        let more = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 3.0]];
        assert_eq!(hypervolume(&more, &r), 7.0);
        // Two boxes (1,2,3) and (3,1,2) to (4,4,4): 3·2·1 + 1·3·2 - 1·2·1 = 10.
        assert_eq!(hypervolume(&[[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]], &[4.0, 4.0, 4.0]), 10.0);
    }

    /// Exact volume of a union of boxes by inclusion–exclusion over all subsets.
    fn inclusion_exclusion(points: &[Vec<f64>], reference: &[f64]) -> f64 {
        let n = points.len();
        let mut total = 0.0;
        for mask in 1u32..(1 << n) {
            let mut corner: Vec<f64> = vec![f64::NEG_INFINITY; reference.len()];
            for (i, p) in points.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    corner.iter_mut().zip(p).for_each(|(c, &x)| *c = c.max(x));
                }
            }
            let v: f64 = corner.iter().zip(reference).map(|(&c, &r)| (r - c).max(0.0)).product();
            total += if mask.count_ones() % 2 == 1 { v } else { -v };
        }
        total
    }

    #[test]
    fn hypervolume_matches_inclusion_exclusion() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for trial in 0..60 {
            let k = 2 + trial % 4;
            let grid = if trial % 3 == 0 { Some(5.0) } else { None };
            let points = random_points(&mut rng, 1 + trial % 10, k, grid);
            let reference = vec![0.9; k];
            let want = inclusion_exclusion(&points, &reference);
            let got = hypervolume(&points, &reference);
            assert!((got - want).abs() < 1e-12, "trial {trial}: got {got}, want {want}");
        }
    }

    #[test]
    fn hypervolume_general_agrees_with_2d_sweep() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let points = random_points(&mut rng, 300, 2, None);
        let a = hypervolume(&points, &[1.0, 1.0]);
        let b = hypervolume_2d(&points, [1.0, 1.0]);
        assert!((a - b).abs() < 1e-12);
    }

    /// A front of 200 points on the unit sphere's positive orthant in 4 objectives: the exact
    /// recursion must finish (this is the size the module doc promises) and stay below the box.
    #[test]
    fn hypervolume_4d_front_of_a_few_hundred_points() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let points: Vec<Vec<f64>> = (0..200)
            .map(|_| {
                let v: Vec<f64> = (0..4).map(|_| rng.random::<f64>()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                v.into_iter().map(|x| x / norm).collect()
            })
            .collect();
        assert_eq!(pareto_front(&points).len(), 200);
        let hv = hypervolume(&points, &[1.0; 4]);
        // Monotone: adding points never lowers the volume; bounded by the unit box.
        let half = hypervolume(&points[..100], &[1.0; 4]);
        assert!(half <= hv && hv < 1.0 && hv > 0.0, "half {half}, all {hv}");
    }

    /// Monte-Carlo estimate of the dominated area in the box [0,1]² with reference (1,1). With n
    /// uniform samples the estimate's standard error is sqrt(p(1-p)/n) ≤ 0.5/sqrt(n) ≈ 0.00112 for
    /// n = 200,000, so a tolerance of 0.006 is more than five standard errors; the seed is fixed, so
    /// the check is also repeatable.
    #[test]
    fn hypervolume_2d_matches_monte_carlo() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        for n in [1, 5, 30] {
            let points = random_points(&mut rng, n, 2, None);
            let exact = hypervolume_2d(&points, [1.0, 1.0]);
            let samples = 200_000;
            let hits = (0..samples)
                .filter(|_| {
                    let s = [rng.random::<f64>(), rng.random::<f64>()];
                    points.iter().any(|p| p[0] <= s[0] && p[1] <= s[1])
                })
                .count();
            let estimate = hits as f64 / samples as f64;
            assert!((exact - estimate).abs() < 0.006, "n {n}: exact {exact}, Monte-Carlo {estimate}");
        }
    }
}
