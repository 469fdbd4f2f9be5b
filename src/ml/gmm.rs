//! A 1-D Gaussian mixture fitted by EM, and model selection by BIC — the mode finder for
//! mode-specific normalisation of multi-modal continuous columns (as in TVAE/CTGAN).

use serde::{Deserialize, Serialize};

/// A fitted 1-D Gaussian mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gmm1 {
    pub weights: Vec<f64>,
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
}

fn ln_normal(x: f64, m: f64, s: f64) -> f64 {
    let z = (x - m) / s;
    -0.5 * z * z - s.ln() - 0.918_938_533_204_672_7
}

impl Gmm1 {
    /// Number of components.
    pub fn k(&self) -> usize {
        self.means.len()
    }

    /// Log-responsibility numerators `ln w_k + ln N(x; m_k, s_k)`.
    fn joint(&self, x: f64, out: &mut [f64]) {
        for (k, o) in out.iter_mut().enumerate().take(self.k()) {
            *o = self.weights[k].ln() + ln_normal(x, self.means[k], self.stds[k]);
        }
    }

    /// The most probable component for `x`.
    pub fn mode_of(&self, x: f64) -> usize {
        let mut j = vec![0.0; self.k()];
        self.joint(x, &mut j);
        (0..self.k()).max_by(|&a, &b| j[a].total_cmp(&j[b])).unwrap_or(0)
    }

    /// Total log-likelihood of `xs`.
    pub fn log_likelihood(&self, xs: &[f64]) -> f64 {
        let mut j = vec![0.0; self.k()];
        xs.iter()
            .map(|&x| {
                self.joint(x, &mut j);
                let m = j.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                m + j.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
            })
            .sum()
    }

    /// Bayesian information criterion (3k − 1 free parameters).
    pub fn bic(&self, xs: &[f64]) -> f64 {
        -2.0 * self.log_likelihood(xs) + (3 * self.k() - 1) as f64 * (xs.len() as f64).ln()
    }

    /// EM from quantile initialisation (deterministic); `min_std` floors each component's spread
    /// so a component cannot collapse onto repeated values.
    pub fn fit(xs: &[f64], k: usize, iters: usize, min_std: f64) -> Gmm1 {
        let n = xs.len();
        let mut sorted = xs.to_vec();
        sorted.sort_by(f64::total_cmp);
        let total_std = {
            let m = xs.iter().sum::<f64>() / n as f64;
            (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64).sqrt().max(min_std)
        };
        let mut g = Gmm1 {
            weights: vec![1.0 / k as f64; k],
            means: (0..k).map(|i| sorted[((2 * i + 1) * n / (2 * k)).min(n - 1)]).collect(),
            stds: vec![total_std / k as f64; k],
        };
        let mut resp = vec![0.0; n * k];
        let mut j = vec![0.0; k];
        let mut prev = f64::NEG_INFINITY;
        for _ in 0..iters {
            let mut ll = 0.0;
            for (i, &x) in xs.iter().enumerate() {
                g.joint(x, &mut j);
                let m = j.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = j.iter().map(|v| (v - m).exp()).sum();
                ll += m + s.ln();
                for c in 0..k {
                    resp[i * k + c] = (j[c] - m).exp() / s;
                }
            }
            for c in 0..k {
                let nk: f64 = (0..n).map(|i| resp[i * k + c]).sum::<f64>().max(1e-12);
                let mean = (0..n).map(|i| resp[i * k + c] * xs[i]).sum::<f64>() / nk;
                let var = (0..n).map(|i| resp[i * k + c] * (xs[i] - mean).powi(2)).sum::<f64>() / nk;
                g.weights[c] = (nk / n as f64).max(1e-12);
                g.means[c] = mean;
                g.stds[c] = var.sqrt().max(min_std);
            }
            // converged when the mean log-likelihood per value moves less than 1e-5 (scikit-learn's
            // GaussianMixture stops at 1e-3 on the same quantity)
            if (ll - prev).abs() < 1e-5 * n as f64 {
                break;
            }
            prev = ll;
        }
        g
    }

    /// Fits 1..=max_k components and keeps the lowest BIC; a mixture must beat the single
    /// Gaussian by more than 10 (strong evidence on the Kass–Raftery scale) to be chosen.
    pub fn select(xs: &[f64], max_k: usize, min_std: f64) -> Gmm1 {
        let one = Gmm1::fit(xs, 1, 1, min_std);
        let mut best_bic = one.bic(xs) - 10.0;
        let mut best = one;
        for k in 2..=max_k.min(xs.len() / 10) {
            let g = Gmm1::fit(xs, k, 200, min_std);
            let b = g.bic(xs);
            if b < best_bic {
                best_bic = b;
                best = g;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn bic_finds_two_modes_and_one_for_a_single_gaussian() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let a = Normal::new(-5.0, 1.0).unwrap();
        let b = Normal::new(4.0, 0.5).unwrap();
        let xs: Vec<f64> =
            (0..2000).map(|i| if i % 3 == 0 { b.sample(&mut rng) } else { a.sample(&mut rng) }).collect();
        let g = Gmm1::select(&xs, 4, 1e-3);
        assert_eq!(g.k(), 2, "{g:?}");
        let (lo, hi) = if g.means[0] < g.means[1] { (0, 1) } else { (1, 0) };
        assert!((g.means[lo] + 5.0).abs() < 0.2 && (g.means[hi] - 4.0).abs() < 0.1);
        assert!((g.weights[hi] - 1.0 / 3.0).abs() < 0.05);
        assert_eq!(g.mode_of(4.2), hi);
        let ys: Vec<f64> = (0..2000).map(|_| a.sample(&mut rng)).collect();
        assert_eq!(Gmm1::select(&ys, 4, 1e-3).k(), 1);
    }
}
