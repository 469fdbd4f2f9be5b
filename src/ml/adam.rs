//! Adam (Kingma & Ba 2015) with PyTorch's update order, and global-norm gradient clipping.

use crate::ml::real::Real;
use serde::{Deserialize, Serialize};

/// Adam state over a flat parameter buffer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adam<F> {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Steps taken.
    pub t: u64,
    /// First-moment estimates.
    pub m: Vec<F>,
    /// Second-moment estimates.
    pub v: Vec<F>,
}

impl<F: Real> Adam<F> {
    /// Fresh state for `n` parameters with PyTorch's defaults (0.9, 0.999, 1e-8).
    pub fn new(n: usize, lr: f64) -> Self {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, t: 0, m: vec![F::zero(); n], v: vec![F::zero(); n] }
    }

    /// One update `p -= lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + eps)`, as `torch.optim.Adam` computes it.
    pub fn step(&mut self, params: &mut [F], grads: &[F]) {
        self.t += 1;
        let t = self.t as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        let (b1, b2) = (F::cst(self.beta1), F::cst(self.beta2));
        let (one_b1, one_b2) = (F::cst(1.0 - self.beta1), F::cst(1.0 - self.beta2));
        let step = F::cst(self.lr / bc1);
        let inv_bc2 = F::cst(1.0 / bc2_sqrt);
        let eps = F::cst(self.eps);
        // equal-length slices and an index loop let the compiler vectorise sqrt and division
        let n = params.len();
        let (p, g, m, v) = (&mut params[..n], &grads[..n], &mut self.m[..n], &mut self.v[..n]);
        for i in 0..n {
            m[i] = b1 * m[i] + one_b1 * g[i];
            v[i] = b2 * v[i] + one_b2 * g[i] * g[i];
            p[i] -= step * m[i] / (v[i].sqrt() * inv_bc2 + eps);
        }
    }
}

/// Scales `g` so its L2 norm is at most `max_norm`; returns the norm before clipping.
pub fn clip_global_norm<F: Real>(g: &mut [F], max_norm: f64) -> f64 {
    let norm = g.iter().map(|v| v.as_f64() * v.as_f64()).sum::<f64>().sqrt();
    if norm > max_norm && norm > 0.0 {
        let s = F::cst(max_norm / norm);
        g.iter_mut().for_each(|v| *v *= s);
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn first_adam_step_moves_each_parameter_by_lr_against_the_gradient_sign() {
        // with bias correction, step 1 is lr·g/(|g| + eps) ≈ lr·sign(g)
        let mut a = Adam::<f64>::new(3, 0.01);
        let mut p = vec![1.0, 2.0, 3.0];
        a.step(&mut p, &[0.5, -2.0, 0.0]);
        assert_abs_diff_eq!(p[0], 0.99, epsilon = 1e-9);
        assert_abs_diff_eq!(p[1], 2.01, epsilon = 1e-9);
        assert_abs_diff_eq!(p[2], 3.0, epsilon = 1e-12);
    }

    #[test]
    fn adam_minimises_a_quadratic() {
        let mut a = Adam::<f64>::new(2, 0.05);
        let mut p = vec![3.0, -2.0];
        for _ in 0..2000 {
            let g = vec![2.0 * (p[0] - 1.0), 2.0 * (p[1] + 0.5)];
            a.step(&mut p, &g);
        }
        assert_abs_diff_eq!(p[0], 1.0, epsilon = 1e-3);
        assert_abs_diff_eq!(p[1], -0.5, epsilon = 1e-3);
    }

    #[test]
    fn clipping_caps_the_global_norm_only_when_exceeded() {
        let mut g = vec![3.0f32, 4.0];
        assert_abs_diff_eq!(clip_global_norm(&mut g, 1.0), 5.0, epsilon = 1e-6);
        assert_abs_diff_eq!(g[0], 0.6, epsilon = 1e-6);
        assert_abs_diff_eq!(g[1], 0.8, epsilon = 1e-6);
        let mut h = vec![0.3f32, 0.4];
        clip_global_norm(&mut h, 1.0);
        assert_eq!(h, vec![0.3, 0.4]);
    }
}
