//! Benchmark functions with known minima, for testing solvers against the targets in issue 6.
//!
//! Definitions, domains and optima are those of Surjanovic & Bingham, Virtual Library of Simulation
//! Experiments (<https://www.sfu.ca/~ssurjano/optimization.html>), pages `branin.html`, `hart6.html`
//! and `rosen.html`; they match `../shared/bench/optuna_peer.py`, which produced the peer numbers.

use std::f64::consts::PI;

/// A benchmark: the function, its domain box and its known minimum.
#[derive(Debug, Clone)]
pub struct TestFunction {
    pub name: &'static str,
    /// `(lo, hi)` per dimension.
    pub bounds: Vec<(f64, f64)>,
    /// The global minimum value.
    pub optimum: f64,
    /// Points where the minimum is reached (as documented, to the digits given by the source).
    pub minimizers: Vec<Vec<f64>>,
    pub f: fn(&[f64]) -> f64,
}

impl TestFunction {
    /// Evaluates the function.
    pub fn eval(&self, x: &[f64]) -> f64 {
        (self.f)(x)
    }

    /// The number of dimensions.
    pub fn dim(&self) -> usize {
        self.bounds.len()
    }

    /// Branin on x1 ∈ [-5, 10], x2 ∈ [0, 15]: minimum 0.397887 at three points.
    pub fn branin() -> Self {
        TestFunction {
            name: "branin",
            bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
            optimum: 0.397887,
            minimizers: vec![vec![-PI, 12.275], vec![PI, 2.275], vec![9.42478, 2.475]],
            f: branin,
        }
    }

    /// Hartmann 6-d on [0, 1]^6: minimum -3.32237.
    pub fn hartmann6() -> Self {
        TestFunction {
            name: "hartmann6",
            bounds: vec![(0.0, 1.0); 6],
            optimum: -3.32237,
            minimizers: vec![HARTMANN6_ARGMIN.to_vec()],
            f: hartmann6,
        }
    }

    /// Rosenbrock in `d` dimensions on [-5, 10]^d: minimum 0 at (1, ..., 1).
    pub fn rosenbrock(d: usize) -> Self {
        TestFunction {
            name: "rosenbrock",
            bounds: vec![(-5.0, 10.0); d],
            optimum: 0.0,
            minimizers: vec![vec![1.0; d]],
            f: rosenbrock,
        }
    }
}

/// Branin–Hoo: `a (x2 - b x1² + c x1 - r)² + s (1 - t) cos x1 + s` with the usual constants.
pub fn branin(x: &[f64]) -> f64 {
    let (a, b, c, r, s, t) = (1.0, 5.1 / (4.0 * PI * PI), 5.0 / PI, 6.0, 10.0, 1.0 / (8.0 * PI));
    let (x1, x2) = (x[0], x[1]);
    a * (x2 - b * x1 * x1 + c * x1 - r).powi(2) + s * (1.0 - t) * x1.cos() + s
}

const HARTMANN6_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
const HARTMANN6_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
/// `P` of the source, already multiplied by 1e-4.
const HARTMANN6_P: [[f64; 6]; 4] = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
];
/// The documented minimiser.
pub const HARTMANN6_ARGMIN: [f64; 6] = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573];

/// Hartmann 6-d: `-Σ_i α_i exp(-Σ_j A_ij (x_j - P_ij)²)`.
pub fn hartmann6(x: &[f64]) -> f64 {
    let mut total = 0.0;
    for i in 0..4 {
        let inner: f64 = (0..6).map(|j| HARTMANN6_A[i][j] * (x[j] - HARTMANN6_P[i][j]).powi(2)).sum();
        total -= HARTMANN6_ALPHA[i] * (-inner).exp();
    }
    total
}

/// Rosenbrock: `Σ_{i<d-1} 100 (x_{i+1} - x_i²)² + (x_i - 1)²`.
pub fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2).map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (w[0] - 1.0).powi(2)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optima_at_the_documented_points() {
        for tf in [TestFunction::branin(), TestFunction::hartmann6(), TestFunction::rosenbrock(10)] {
            for x in &tf.minimizers {
                assert_eq!(x.len(), tf.dim());
                let v = tf.eval(x);
                assert!((v - tf.optimum).abs() < 1e-5, "{} at {x:?}: {v}, documented {}", tf.name, tf.optimum);
                for (&xi, &(lo, hi)) in x.iter().zip(&tf.bounds) {
                    assert!(lo <= xi && xi <= hi, "{}: minimiser outside its domain", tf.name);
                }
            }
        }
        assert_eq!(rosenbrock(&[1.0; 3]), 0.0);
        assert_eq!(TestFunction::rosenbrock(2).dim(), 2);
    }

    /// Known values away from the optimum guard against a constant typed wrongly in a way that
    /// happens to leave the minimum intact (source: the same library pages, evaluated by hand).
    #[test]
    fn values_away_from_the_optimum() {
        // Branin at (0, 0): (−6)² + 10(1 − 1/(8π)) + 10.
        let want = 36.0 + 10.0 * (1.0 - 1.0 / (8.0 * PI)) + 10.0;
        assert!((branin(&[0.0, 0.0]) - want).abs() < 1e-12);
        // Rosenbrock at the origin in 2-d is 1, and (−1, 1) gives 4.
        assert_eq!(rosenbrock(&[0.0, 0.0]), 1.0);
        assert_eq!(rosenbrock(&[-1.0, 1.0]), 4.0);
        // Hartmann 6 is a negative sum of four bumps: it lies in (−Σα, 0) everywhere.
        let v = hartmann6(&[0.5; 6]);
        assert!(v < 0.0 && v > -HARTMANN6_ALPHA.iter().sum::<f64>());
        assert!(v > -3.32237);
    }

    /// No point on a grid over the domain beats the documented optimum.
    #[test]
    fn grid_does_not_beat_the_optimum() {
        let tf = TestFunction::branin();
        let mut best = f64::INFINITY;
        for i in 0..=300 {
            for j in 0..=300 {
                let x = [-5.0 + 15.0 * i as f64 / 300.0, 15.0 * j as f64 / 300.0];
                best = best.min(tf.eval(&x));
            }
        }
        assert!(best >= tf.optimum - 1e-6 && best < tf.optimum + 0.01, "grid best {best}");
    }
}
