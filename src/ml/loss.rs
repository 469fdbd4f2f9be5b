//! The negative ELBO of a batch and its gradient: Gaussian heads with learned log-sigma,
//! softmax/cross-entropy heads, KL to N(0, I) with beta and free bits, reparameterisation.
//!
//! A batch is split into `chunks` contiguous row blocks that run on the thread pool; the split is
//! fixed by the chunk count and the per-chunk gradients are summed in chunk order, so the same
//! thread count gives bit-identical results.

use crate::ml::layers::hcat;
use crate::ml::real::Real;
use crate::ml::vae::Net;
use ndarray::{s, Array1, Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

const HALF_LN_2PI: f64 = 0.918_938_533_204_672_7;

/// Which model-matrix columns are read by which likelihood head.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Heads {
    /// Gaussian heads: one column each, with log-sigma index = position in this list.
    pub gauss: Vec<usize>,
    /// Softmax heads: `(start, len)` one-hot blocks, cross-entropy against the block.
    pub softmax: Vec<(usize, usize)>,
}

impl Heads {
    /// Number of heads (Gaussian first, then softmax) — the columns of `head_nll`.
    pub fn n_heads(&self) -> usize {
        self.gauss.len() + self.softmax.len()
    }
}

/// Reconstruction negative log-likelihood per row; optionally its gradient w.r.t. the head
/// parameters `out` and the log-sigmas (both summed, not averaged), and the per-head NLL.
pub fn recon_rows<F: Real>(
    heads: &Heads,
    log_sigma: &[F],
    x: ArrayView2<F>,
    out: ArrayView2<F>,
    mut grad: Option<(&mut Array2<F>, &mut [F])>,
    mut per_head: Option<&mut Array2<f64>>,
) -> Array1<F> {
    let n = x.nrows();
    let mut rows = Array1::<F>::zeros(n);
    let half = F::cst(0.5);
    let c = F::cst(HALF_LN_2PI);
    let inv_var: Vec<F> = log_sigma.iter().map(|&s| (-(s + s)).exp()).collect();
    for r in 0..n {
        let xr = x.row(r);
        let or = out.row(r);
        let mut acc = F::zero();
        for (j, &col) in heads.gauss.iter().enumerate() {
            let d = xr[col] - or[col];
            let nll = half * d * d * inv_var[j] + log_sigma[j] + c;
            acc += nll;
            if let Some((dout, gls)) = grad.as_mut() {
                dout[[r, col]] = -d * inv_var[j];
                gls[j] += F::one() - d * d * inv_var[j];
            }
            if let Some(ph) = per_head.as_mut() {
                ph[[r, j]] = nll.as_f64();
            }
        }
        for (k, &(start, len)) in heads.softmax.iter().enumerate() {
            let logits = or.slice(s![start..start + len]);
            let m = logits.fold(F::neg_infinity(), |a, &b| a.max(b));
            let sum: F = logits.iter().map(|&l| (l - m).exp()).sum();
            let lse = m + sum.ln();
            let mut tl = F::zero();
            for i in 0..len {
                tl += xr[start + i] * logits[i];
            }
            let nll = lse - tl;
            acc += nll;
            if let Some((dout, _)) = grad.as_mut() {
                for i in 0..len {
                    dout[[r, start + i]] = (logits[i] - lse).exp() - xr[start + i];
                }
            }
            if let Some(ph) = per_head.as_mut() {
                ph[[r, heads.gauss.len() + k]] = nll.as_f64();
            }
        }
        rows[r] = acc;
    }
    rows
}

/// KL(q(z|x) || N(0, I)) per row and latent dimension.
pub fn kl_matrix<F: Real>(mu: ArrayView2<F>, logvar: ArrayView2<F>) -> Array2<F> {
    let half = F::cst(0.5);
    let mut kl = mu.to_owned();
    ndarray::Zip::from(&mut kl).and(&logvar).for_each(|k, &lv| *k = half * (*k * *k + lv.exp() - F::one() - lv));
    kl
}

/// The forward pass of one row block, holding what the backward pass needs.
pub struct Forward<F> {
    enc_acts: Vec<Array2<F>>,
    eps: Array2<F>,
    std: Array2<F>,
    dec_acts: Vec<Array2<F>>,
    d_out: Array2<F>,
    g_log_sigma: Vec<F>,
    /// Sum over rows of the reconstruction NLL.
    pub recon_sum: f64,
    /// Sum over rows of the KL, per latent dimension.
    pub kl_dim_sums: Vec<f64>,
}

/// Runs encoder, reparameterisation `z = mu + eps·exp(logvar/2)` and decoder on a row block.
pub fn forward<F: Real>(
    net: &Net<F>,
    heads: &Heads,
    x: ArrayView2<F>,
    c: Option<ArrayView2<F>>,
    eps: ArrayView2<F>,
) -> Forward<F> {
    let sp = &net.spec;
    let k = sp.latent;
    let enc_acts = sp.encoder.forward(&net.params, net.encoder_input(x, c));
    let h = enc_acts.last().unwrap();
    let mu = h.slice(s![.., ..k]);
    let lv = h.slice(s![.., k..]);
    let std = lv.mapv(|v| (v * F::cst(0.5)).exp());
    let mut z = &eps * &std;
    z += &mu;
    let kl = kl_matrix(mu, lv);
    let kl_dim_sums = (0..k).map(|j| kl.column(j).iter().map(|v| v.as_f64()).sum()).collect();
    let dec_in = match c {
        Some(c) if sp.n_cond > 0 => hcat(z.view(), c),
        _ => z,
    };
    let dec_acts = sp.decoder.forward(&net.params, dec_in);
    let out = dec_acts.last().unwrap();
    let mut d_out = Array2::zeros(out.raw_dim());
    let mut g_log_sigma = vec![F::zero(); sp.n_gauss];
    let rows = recon_rows(heads, net.log_sigma(), x, out.view(), Some((&mut d_out, &mut g_log_sigma)), None);
    Forward {
        enc_acts,
        eps: eps.to_owned(),
        std,
        dec_acts,
        d_out,
        g_log_sigma,
        recon_sum: rows.iter().map(|v| v.as_f64()).sum(),
        kl_dim_sums,
    }
}

/// Backpropagates a row block into `g` (which it overwrites). `kl_w[j]` is the weight of the
/// KL of dimension j per row (beta/n, or 0 where free bits hold the term constant); `inv_n` is
/// 1/(rows in the whole batch).
pub fn backward<F: Real>(net: &Net<F>, fw: Forward<F>, kl_w: &[F], inv_n: F, g: &mut [F]) {
    let sp = &net.spec;
    let k = sp.latent;
    g.iter_mut().for_each(|v| *v = F::zero());
    for (gl, &v) in g[sp.log_sigma_offset..].iter_mut().zip(&fw.g_log_sigma) {
        *gl = v * inv_n;
    }
    let d_out = fw.d_out * inv_n;
    let d_in = sp.decoder.backward(&net.params, &fw.dec_acts, d_out, g, true).unwrap();
    let h = fw.enc_acts.last().unwrap();
    let n = h.nrows();
    let half = F::cst(0.5);
    let mut dh = Array2::<F>::zeros((n, 2 * k));
    for r in 0..n {
        for j in 0..k {
            let mu = h[[r, j]];
            let dz = d_in[[r, j]];
            let sd = fw.std[[r, j]];
            dh[[r, j]] = dz + kl_w[j] * mu;
            dh[[r, k + j]] = dz * fw.eps[[r, j]] * half * sd + kl_w[j] * half * (sd * sd - F::one());
        }
    }
    sp.encoder.backward(&net.params, &fw.enc_acts, dh, g, false);
}

/// Per-row means over a batch.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BatchLoss {
    /// The optimised objective: reconstruction + beta · KL (with free bits).
    pub objective: f64,
    /// Reconstruction NLL.
    pub recon: f64,
    /// KL to the prior (no beta, no free bits).
    pub kl: f64,
}

impl BatchLoss {
    /// The negative ELBO (beta 1, no free bits).
    pub fn neg_elbo(&self) -> f64 {
        self.recon + self.kl
    }
}

fn row_ranges(n: usize, chunks: usize) -> Vec<(usize, usize)> {
    let chunks = chunks.clamp(1, n.max(1));
    (0..chunks).map(|i| (i * n / chunks, (i + 1) * n / chunks)).collect()
}

fn run<T: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// The batch objective and its gradient (summed into `grads[0]`; `grads` holds one buffer per
/// chunk). `eps` is the reparameterisation noise, one row per batch row.
#[allow(clippy::too_many_arguments)]
pub fn batch_loss_grad<F: Real>(
    net: &Net<F>,
    heads: &Heads,
    x: ArrayView2<F>,
    c: Option<ArrayView2<F>>,
    eps: ArrayView2<F>,
    beta: f64,
    free_bits: f64,
    pool: Option<&rayon::ThreadPool>,
    grads: &mut [Vec<F>],
) -> BatchLoss {
    let n = x.nrows();
    let ranges = row_ranges(n, grads.len());
    let fws: Vec<Forward<F>> = run(pool, || {
        ranges
            .par_iter()
            .map(|&(a, b)| {
                let cs = c.map(|c| c.slice_move(s![a..b, ..]));
                forward(net, heads, x.slice(s![a..b, ..]), cs, eps.slice(s![a..b, ..]))
            })
            .collect()
    });
    let k = net.spec.latent;
    let inv_n = 1.0 / n as f64;
    let mut recon = 0.0;
    let mut kl_dims = vec![0.0; k];
    for fw in &fws {
        recon += fw.recon_sum;
        for (a, b) in kl_dims.iter_mut().zip(&fw.kl_dim_sums) {
            *a += b;
        }
    }
    let kl_means: Vec<f64> = kl_dims.iter().map(|s| s * inv_n).collect();
    // free bits (Kingma et al. 2016): a dimension whose batch-mean KL is below the floor is
    // charged the floor, a constant, so it gets no gradient
    let kl_w: Vec<F> = kl_means
        .iter()
        .map(|&m| if m > free_bits || free_bits <= 0.0 { F::cst(beta * inv_n) } else { F::zero() })
        .collect();
    let kl_obj: f64 = kl_means.iter().map(|&m| if free_bits > 0.0 { m.max(free_bits) } else { m }).sum();
    let used = fws.len();
    run(pool, || {
        fws.into_par_iter()
            .zip(grads[..used].par_iter_mut())
            .for_each(|(fw, g)| backward(net, fw, &kl_w, F::cst(inv_n), g))
    });
    let (first, rest) = grads.split_at_mut(1);
    for g in &rest[..used - 1] {
        for (a, b) in first[0].iter_mut().zip(g) {
            *a += *b;
        }
    }
    let recon = recon * inv_n;
    let kl: f64 = kl_means.iter().sum();
    BatchLoss { objective: recon + beta * kl_obj, recon, kl }
}

/// The batch objective without gradient, in blocks of at most `block` rows (for validation).
#[allow(clippy::too_many_arguments)]
pub fn batch_loss<F: Real>(
    net: &Net<F>,
    heads: &Heads,
    x: ArrayView2<F>,
    c: Option<ArrayView2<F>>,
    eps: ArrayView2<F>,
    block: usize,
    pool: Option<&rayon::ThreadPool>,
) -> BatchLoss {
    let n = x.nrows();
    let ranges: Vec<(usize, usize)> = (0..n.div_ceil(block)).map(|i| (i * block, ((i + 1) * block).min(n))).collect();
    let parts: Vec<(f64, f64)> = run(pool, || {
        ranges
            .par_iter()
            .map(|&(a, b)| {
                let cs = c.map(|c| c.slice_move(s![a..b, ..]));
                let fw = forward(net, heads, x.slice(s![a..b, ..]), cs, eps.slice(s![a..b, ..]));
                (fw.recon_sum, fw.kl_dim_sums.iter().sum::<f64>())
            })
            .collect()
    });
    let recon = parts.iter().map(|p| p.0).sum::<f64>() / n as f64;
    let kl = parts.iter().map(|p| p.1).sum::<f64>() / n as f64;
    BatchLoss { objective: recon + kl, recon, kl }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::layers::fd::max_rel_err;
    use crate::ml::vae::NetSpec;
    use approx::assert_abs_diff_eq;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A mixed model matrix: 2 Gaussian columns, a 3-way and a 2-way one-hot block.
    fn mixed(rng: &mut ChaCha8Rng, n: usize) -> (Heads, Array2<f64>) {
        let heads = Heads { gauss: vec![0, 4], softmax: vec![(1, 3), (5, 2)] };
        let mut x = Array2::zeros((n, 7));
        for r in 0..n {
            x[[r, 0]] = rng.random_range(-1.5..1.5);
            x[[r, 4]] = rng.random_range(-1.5..1.5);
            x[[r, 1 + rng.random_range(0..3)]] = 1.0;
            x[[r, 5 + rng.random_range(0..2)]] = 1.0;
        }
        (heads, x)
    }

    fn check_full_gradient(n_cond: usize, beta: f64, free_bits: f64, chunks: usize) {
        let mut rng = ChaCha8Rng::seed_from_u64(7 + n_cond as u64);
        let n = 6;
        let (heads, x) = mixed(&mut rng, n);
        let spec = NetSpec::new(7, n_cond, 3, &[5, 4], 2);
        let mut net: Net<f64> = Net::init(spec, &mut rng);
        for v in &mut net.params[net.spec.log_sigma_offset..] {
            *v = rng.random_range(-0.5..0.5);
        }
        let c = Array2::from_shape_fn((n, n_cond), |(r, j)| if r % n_cond.max(1) == j { 1.0 } else { 0.0 });
        let eps = Array2::from_shape_fn((n, 3), |_| rng.random_range(-1.0..1.0));
        let cv = (n_cond > 0).then(|| c.view());
        let mut grads = vec![vec![0.0; net.spec.n_params]; chunks];
        let l = batch_loss_grad(&net, &heads, x.view(), cv, eps.view(), beta, free_bits, None, &mut grads);
        let mut f = |p: &[f64]| {
            let q = Net { spec: net.spec.clone(), params: p.to_vec() };
            let mut g = vec![vec![0.0; p.len()]];
            batch_loss_grad(&q, &heads, x.view(), cv, eps.view(), beta, free_bits, None, &mut g).objective
        };
        assert_abs_diff_eq!(f(&net.params), l.objective, epsilon = 1e-12);
        let e = max_rel_err(&mut f, &net.params, &grads[0], 1e-6);
        assert!(e < 1e-5, "full-loss grad rel err {e} (cond {n_cond}, beta {beta}, free bits {free_bits})");
        // the log-sigma and softmax heads get a non-trivial gradient
        assert!(grads[0][net.spec.log_sigma_offset..].iter().all(|g| g.abs() > 1e-6));
    }

    #[test]
    fn full_loss_gradient_matches_finite_differences() {
        check_full_gradient(0, 1.0, 0.0, 1);
    }

    #[test]
    fn conditional_loss_gradient_with_beta_matches_finite_differences() {
        check_full_gradient(3, 0.7, 0.0, 1);
    }

    #[test]
    fn chunked_loss_gradient_matches_finite_differences() {
        check_full_gradient(2, 1.0, 0.0, 3);
    }

    #[test]
    fn free_bits_gradient_matches_finite_differences() {
        // floor high enough that some dimensions sit on it
        check_full_gradient(0, 1.0, 0.3, 2);
    }

    #[test]
    fn loss_matches_pytorch_reference() {
        // Expected value printed by src/ml/testdata/reference_loss.py (PyTorch 2.15, float64),
        // which writes the loss the way ../shared/bench/torch_vae.py does, plus a cross-entropy head.
        let expected = 5.460494186077483;
        let heads = Heads { gauss: vec![0, 1, 5], softmax: vec![(2, 3)] };
        let x = ndarray::arr2(&[
            [0.5, -1.0, 1.0, 0.0, 0.0, 0.3],
            [-0.2, 0.4, 0.0, 1.0, 0.0, -1.1],
            [1.5, 0.0, 0.0, 0.0, 1.0, 0.7],
            [-0.7, 2.0, 0.0, 1.0, 0.0, 0.0],
        ]);
        let c = ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]);
        let eps = ndarray::arr2(&[[0.1, -0.5], [1.2, 0.3], [-0.8, 0.0], [0.4, 0.9]]);
        let spec = NetSpec::new(6, 2, 2, &[3], 3);
        let params = (0..spec.n_params).map(|k| 0.3 * (0.7 * k as f64 + 0.1).sin()).collect();
        let net = Net { spec, params };
        let mut g = vec![vec![0.0; net.spec.n_params]];
        let l = batch_loss_grad(&net, &heads, x.view(), Some(c.view()), eps.view(), 1.0, 0.0, None, &mut g);
        assert_abs_diff_eq!(l.objective, expected, epsilon = 1e-12);
        // and the f32 path agrees to f32 precision
        let net32: Net<f32> = net.cast();
        let mut g32 = vec![vec![0.0f32; net.spec.n_params]];
        let (x32, c32, e32) = (x.mapv(|v| v as f32), c.mapv(|v| v as f32), eps.mapv(|v| v as f32));
        let l32 = batch_loss_grad(&net32, &heads, x32.view(), Some(c32.view()), e32.view(), 1.0, 0.0, None, &mut g32);
        assert_abs_diff_eq!(l32.objective, expected, epsilon = 1e-5);
    }

    #[test]
    fn chunking_changes_the_gradient_only_by_rounding() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (heads, x) = mixed(&mut rng, 9);
        let net: Net<f64> = Net::init(NetSpec::new(7, 0, 2, &[4], 2), &mut rng);
        let eps = Array2::from_shape_fn((9, 2), |_| rng.random_range(-1.0..1.0));
        let mut g1 = vec![vec![0.0; net.spec.n_params]];
        let mut g3 = vec![vec![0.0; net.spec.n_params]; 3];
        let a = batch_loss_grad(&net, &heads, x.view(), None, eps.view(), 1.0, 0.0, None, &mut g1);
        let b = batch_loss_grad(&net, &heads, x.view(), None, eps.view(), 1.0, 0.0, None, &mut g3);
        assert_abs_diff_eq!(a.objective, b.objective, epsilon = 1e-12);
        for (u, v) in g1[0].iter().zip(&g3[0]) {
            assert_abs_diff_eq!(u, v, epsilon = 1e-12);
        }
        let v = batch_loss(&net, &heads, x.view(), None, eps.view(), 4, None);
        assert_abs_diff_eq!(v.neg_elbo(), a.objective, epsilon = 1e-12);
    }
}
