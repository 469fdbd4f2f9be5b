//! Hand-written layers over a flat parameter buffer: Linear, ReLU and an MLP of them, each with
//! `forward` and `backward` side by side.
//!
//! Parameters live in one flat `[F]` (weights row-major `[n_in, n_out]`, then bias), so the
//! optimiser, gradient clipping, thread reduction and the file format all work on plain slices.

use crate::ml::real::Real;
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

/// A dense layer `y = x W + b` with `W: [n_in, n_out]` at `offset` and `b: [n_out]` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linear {
    pub n_in: usize,
    pub n_out: usize,
    pub offset: usize,
}

impl Linear {
    /// Number of parameters (weights and bias).
    pub fn n_params(&self) -> usize {
        self.n_in * self.n_out + self.n_out
    }

    /// The weight matrix inside a parameter buffer.
    pub fn weight<'a, F: Real>(&self, p: &'a [F]) -> ArrayView2<'a, F> {
        let n = self.n_in * self.n_out;
        ArrayView2::from_shape((self.n_in, self.n_out), &p[self.offset..self.offset + n]).unwrap()
    }

    /// The bias inside a parameter buffer.
    pub fn bias<'a, F: Real>(&self, p: &'a [F]) -> ArrayView1<'a, F> {
        let o = self.offset + self.n_in * self.n_out;
        ArrayView1::from(&p[o..o + self.n_out])
    }

    fn grads_mut<'a, F: Real>(&self, g: &'a mut [F]) -> (ArrayViewMut2<'a, F>, ArrayViewMut1<'a, F>) {
        let n = self.n_in * self.n_out;
        let (w, b) = g[self.offset..self.offset + n + self.n_out].split_at_mut(n);
        (ArrayViewMut2::from_shape((self.n_in, self.n_out), w).unwrap(), ArrayViewMut1::from(b))
    }

    /// `y = x W + b`.
    pub fn forward<F: Real>(&self, p: &[F], x: ArrayView2<F>) -> Array2<F> {
        self.forward_act(p, x, false)
    }

    /// `y = x W + b`, followed by ReLU when `relu`; bias and ReLU share one pass over `y`.
    pub fn forward_act<F: Real>(&self, p: &[F], x: ArrayView2<F>, relu: bool) -> Array2<F> {
        let mut y = Array2::zeros((x.nrows(), self.n_out));
        general_mat_mul(F::one(), &x, &self.weight(p), F::zero(), &mut y);
        let b = &p[self.offset + self.n_in * self.n_out..][..self.n_out];
        let data = y.as_slice_mut().expect("fresh arrays are contiguous");
        for row in data.chunks_exact_mut(self.n_out) {
            if relu {
                // a select, not a branch: signs are random and mispredictions cost more than
                // the work; the select vectorises
                for (v, &bj) in row.iter_mut().zip(b) {
                    let t = *v + bj;
                    *v = if t > F::zero() { t } else { F::zero() };
                }
            } else {
                for (v, &bj) in row.iter_mut().zip(b) {
                    *v += bj;
                }
            }
        }
        y
    }

    /// Adds `dL/dW = xᵀ dy` and `dL/db = Σ dy` into `g`; returns `dL/dx = dy Wᵀ` when asked.
    pub fn backward<F: Real>(
        &self,
        p: &[F],
        x: ArrayView2<F>,
        dy: ArrayView2<F>,
        g: &mut [F],
        want_dx: bool,
    ) -> Option<Array2<F>> {
        let (mut gw, mut gb) = self.grads_mut(g);
        general_mat_mul(F::one(), &x.t(), &dy, F::one(), &mut gw);
        for row in dy.rows() {
            gb += &row;
        }
        want_dx.then(|| dy.dot(&self.weight(p).t()))
    }
}

/// Rectified linear unit, applied in place.
pub struct Relu;

impl Relu {
    /// `y = max(x, 0)`.
    pub fn forward<F: Real>(x: &mut Array2<F>) {
        // a select, not a branch: signs are random, and mispredictions cost more than the work;
        // on a contiguous slice the select vectorises
        let relu = |v: &mut F| *v = if *v > F::zero() { *v } else { F::zero() };
        match x.as_slice_mut() {
            Some(s) => s.iter_mut().for_each(relu),
            None => x.iter_mut().for_each(relu),
        }
    }

    /// `dx = dy ⊙ [y > 0]`, written over `dy`.
    pub fn backward<F: Real>(y: ArrayView2<F>, dy: &mut Array2<F>) {
        Zip::from(dy).and(&y).for_each(|d, &v| *d = if v > F::zero() { *d } else { F::zero() });
    }
}

/// Linear layers with ReLU between them (none after the last).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mlp {
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// Layers of the given sizes (`sizes[0]` inputs), parameters starting at `offset`.
    pub fn new(sizes: &[usize], offset: usize) -> Self {
        let mut o = offset;
        let layers = sizes
            .windows(2)
            .map(|w| {
                let l = Linear { n_in: w[0], n_out: w[1], offset: o };
                o += l.n_params();
                l
            })
            .collect();
        Mlp { layers }
    }

    /// Number of parameters of all layers.
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(Linear::n_params).sum()
    }

    /// Output width.
    pub fn n_out(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_out)
    }

    /// Runs the layers; returns all activations, `acts[0] = x` and `acts.last()` the output.
    pub fn forward<F: Real>(&self, p: &[F], x: Array2<F>) -> Vec<Array2<F>> {
        let mut acts = Vec::with_capacity(self.layers.len() + 1);
        acts.push(x);
        for (i, l) in self.layers.iter().enumerate() {
            let y = l.forward_act(p, acts[i].view(), i + 1 < self.layers.len());
            acts.push(y);
        }
        acts
    }

    /// The output only, for inference.
    pub fn predict<F: Real>(&self, p: &[F], x: ArrayView2<F>) -> Array2<F> {
        let n = self.layers.len();
        let mut h = self.layers[0].forward_act(p, x, n > 1);
        for (i, l) in self.layers.iter().enumerate().skip(1) {
            h = l.forward_act(p, h.view(), i + 1 < n);
        }
        h
    }

    /// Backpropagates `dy` (gradient w.r.t. the output) through the stored activations.
    pub fn backward<F: Real>(
        &self,
        p: &[F],
        acts: &[Array2<F>],
        dy: Array2<F>,
        g: &mut [F],
        want_dx: bool,
    ) -> Option<Array2<F>> {
        let mut d = dy;
        for i in (0..self.layers.len()).rev() {
            let need = i > 0 || want_dx;
            match self.layers[i].backward(p, acts[i].view(), d.view(), g, need) {
                Some(mut dx) => {
                    if i > 0 {
                        Relu::backward(acts[i].view(), &mut dx);
                    }
                    d = dx;
                }
                None => return None,
            }
        }
        Some(d)
    }
}

/// Concatenates two matrices side by side.
pub fn hcat<F: Real>(a: ArrayView2<F>, b: ArrayView2<F>) -> Array2<F> {
    let mut out = Array2::zeros((a.nrows(), a.ncols() + b.ncols()));
    out.slice_mut(s![.., ..a.ncols()]).assign(&a);
    out.slice_mut(s![.., a.ncols()..]).assign(&b);
    out
}

#[cfg(test)]
pub(crate) mod fd {
    //! Central finite differences for gradient checks (f64).

    /// Max relative error between `analytic` and central differences of `f` at `x`.
    pub fn max_rel_err(f: &mut dyn FnMut(&[f64]) -> f64, x: &[f64], analytic: &[f64], h: f64) -> f64 {
        let mut xs = x.to_vec();
        let mut worst: f64 = 0.0;
        for i in 0..x.len() {
            let orig = xs[i];
            xs[i] = orig + h;
            let fp = f(&xs);
            xs[i] = orig - h;
            let fm = f(&xs);
            xs[i] = orig;
            let num = (fp - fm) / (2.0 * h);
            // the floor keeps round-off (~1e-9 absolute) on near-zero entries from reading as error
            let err = (num - analytic[i]).abs() / (1e-4 + num.abs().max(analytic[i].abs()));
            worst = worst.max(err);
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::fd::max_rel_err;
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand_mat(rng: &mut ChaCha8Rng, r: usize, c: usize) -> Array2<f64> {
        Array2::from_shape_fn((r, c), |_| rng.random_range(-1.0..1.0))
    }

    #[test]
    fn linear_backward_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let l = Linear { n_in: 4, n_out: 3, offset: 2 };
        let p: Vec<f64> = (0..l.n_params() + 2).map(|_| rng.random_range(-1.0..1.0)).collect();
        let x = rand_mat(&mut rng, 5, 4);
        let gy = rand_mat(&mut rng, 5, 3);
        let loss = |p: &[f64], x: ArrayView2<f64>| (&l.forward(p, x) * &gy).sum();
        let mut g = vec![0.0; p.len()];
        let dx = l.backward(&p, x.view(), gy.view(), &mut g, true).unwrap();
        assert_eq!(&g[..2], &[0.0, 0.0], "gradient written outside the layer");
        let e = max_rel_err(&mut |q| loss(q, x.view()), &p, &g, 1e-6);
        assert!(e < 1e-7, "param grad rel err {e}");
        let xs = x.as_slice().unwrap().to_vec();
        let e = max_rel_err(
            &mut |q| loss(&p, ArrayView2::from_shape((5, 4), q).unwrap()),
            &xs,
            dx.as_slice().unwrap(),
            1e-6,
        );
        assert!(e < 1e-7, "input grad rel err {e}");
    }

    #[test]
    fn relu_backward_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        // keep inputs away from the kink at 0, where the derivative is undefined
        let x = rand_mat(&mut rng, 4, 6).mapv(|v| if v.abs() < 0.1 { v + 0.3 } else { v });
        let gy = rand_mat(&mut rng, 4, 6);
        let mut y = x.clone();
        Relu::forward(&mut y);
        assert!(y.iter().all(|&v| v >= 0.0));
        let mut dx = gy.clone();
        Relu::backward(y.view(), &mut dx);
        let xs = x.as_slice().unwrap().to_vec();
        let e = max_rel_err(
            &mut |q| {
                let mut y = Array2::from_shape_vec((4, 6), q.to_vec()).unwrap();
                Relu::forward(&mut y);
                (&y * &gy).sum()
            },
            &xs,
            dx.as_slice().unwrap(),
            1e-6,
        );
        assert!(e < 1e-7, "relu grad rel err {e}");
    }

    #[test]
    fn mlp_backward_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let m = Mlp::new(&[3, 5, 4, 2], 0);
        assert_eq!(m.n_params(), 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2);
        let p: Vec<f64> = (0..m.n_params()).map(|_| rng.random_range(-1.0..1.0)).collect();
        let x = rand_mat(&mut rng, 6, 3);
        let gy = rand_mat(&mut rng, 6, 2);
        let acts = m.forward(&p, x.clone());
        assert_eq!(acts.last().unwrap(), m.predict(&p, x.view()));
        let mut g = vec![0.0; p.len()];
        let dx = m.backward(&p, &acts, gy.clone(), &mut g, true).unwrap();
        let loss = |q: &[f64], x: ArrayView2<f64>| (&m.predict(q, x) * &gy).sum();
        let e = max_rel_err(&mut |q| loss(q, x.view()), &p, &g, 1e-6);
        assert!(e < 1e-6, "mlp param grad rel err {e}");
        let xs = x.as_slice().unwrap().to_vec();
        let e = max_rel_err(
            &mut |q| loss(&p, ArrayView2::from_shape((6, 3), q).unwrap()),
            &xs,
            dx.as_slice().unwrap(),
            1e-6,
        );
        assert!(e < 1e-6, "mlp input grad rel err {e}");
    }
}
