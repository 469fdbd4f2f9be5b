//! The network of a (conditional) VAE: encoder MLP `[x, c] -> [mu, logvar]`, decoder MLP
//! `[z, c] -> head parameters`, and a learned log-sigma per Gaussian head, all in one flat buffer.

use crate::ml::layers::{hcat, Mlp};
use crate::ml::real::Real;
use ndarray::{s, Array2, ArrayView2};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Sizes and parameter offsets of the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Width of the model matrix (encoder input, decoder output).
    pub n_x: usize,
    /// Width of the condition one-hot (0 for an unconditional VAE).
    pub n_cond: usize,
    pub latent: usize,
    pub hidden: Vec<usize>,
    /// Number of Gaussian heads, each with a learned log-sigma.
    pub n_gauss: usize,
    pub encoder: Mlp,
    pub decoder: Mlp,
    pub log_sigma_offset: usize,
    pub n_params: usize,
}

impl NetSpec {
    /// Lays out encoder, decoder (hidden sizes reversed) and log-sigma in one buffer.
    pub fn new(n_x: usize, n_cond: usize, latent: usize, hidden: &[usize], n_gauss: usize) -> Self {
        let mut enc_sizes = vec![n_x + n_cond];
        enc_sizes.extend_from_slice(hidden);
        enc_sizes.push(2 * latent);
        let encoder = Mlp::new(&enc_sizes, 0);
        let mut dec_sizes = vec![latent + n_cond];
        dec_sizes.extend(hidden.iter().rev());
        dec_sizes.push(n_x);
        let decoder = Mlp::new(&dec_sizes, encoder.n_params());
        let log_sigma_offset = encoder.n_params() + decoder.n_params();
        NetSpec {
            n_x,
            n_cond,
            latent,
            hidden: hidden.to_vec(),
            n_gauss,
            encoder,
            decoder,
            log_sigma_offset,
            n_params: log_sigma_offset + n_gauss,
        }
    }
}

/// Network parameters of float type `F` (f32 to train, f64 for gradient checks).
#[derive(Debug, Clone, PartialEq)]
pub struct Net<F> {
    pub spec: NetSpec,
    pub params: Vec<F>,
}

impl<F: Real> Net<F> {
    /// PyTorch's default `nn.Linear` initialisation: weights and biases `U(-1/√n_in, 1/√n_in)`;
    /// log-sigma 0. Matching it keeps the bench comparable with the PyTorch peer.
    pub fn init(spec: NetSpec, rng: &mut impl Rng) -> Self {
        let mut params = vec![F::zero(); spec.n_params];
        for l in spec.encoder.layers.iter().chain(&spec.decoder.layers) {
            let bound = 1.0 / (l.n_in as f64).sqrt();
            for v in &mut params[l.offset..l.offset + l.n_params()] {
                *v = F::cst(rng.random_range(-bound..bound));
            }
        }
        Net { spec, params }
    }

    /// The same network in another float type.
    pub fn cast<G: Real>(&self) -> Net<G> {
        Net { spec: self.spec.clone(), params: self.params.iter().map(|v| G::cst(v.as_f64())).collect() }
    }

    /// Learned log-sigma of the Gaussian heads.
    pub fn log_sigma(&self) -> &[F] {
        &self.params[self.spec.log_sigma_offset..]
    }

    /// Encoder input `[x, c]` (just `x` when unconditional).
    pub fn encoder_input(&self, x: ArrayView2<F>, c: Option<ArrayView2<F>>) -> Array2<F> {
        match c {
            Some(c) if self.spec.n_cond > 0 => hcat(x, c),
            _ => x.to_owned(),
        }
    }

    /// Posterior means and log-variances for rows of `x`.
    pub fn encode(&self, x: ArrayView2<F>, c: Option<ArrayView2<F>>) -> (Array2<F>, Array2<F>) {
        let h = self.spec.encoder.predict(&self.params, self.encoder_input(x, c).view());
        let k = self.spec.latent;
        (h.slice(s![.., ..k]).to_owned(), h.slice(s![.., k..]).to_owned())
    }

    /// Head parameters (Gaussian means, softmax logits) for latent rows `z`.
    pub fn decode(&self, z: ArrayView2<F>, c: Option<ArrayView2<F>>) -> Array2<F> {
        let input = match c {
            Some(c) if self.spec.n_cond > 0 => hcat(z, c),
            _ => z.to_owned(),
        };
        self.spec.decoder.predict(&self.params, input.view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn layout_is_contiguous_and_decoder_mirrors_encoder() {
        let s = NetSpec::new(10, 3, 4, &[8, 6], 5);
        assert_eq!(s.encoder.layers[0].n_in, 13);
        assert_eq!(s.encoder.n_out(), 8);
        assert_eq!(s.decoder.layers[0].n_in, 7);
        assert_eq!(s.decoder.layers[0].n_out, 6);
        assert_eq!(s.decoder.n_out(), 10);
        assert_eq!(s.decoder.layers[0].offset, s.encoder.n_params());
        assert_eq!(s.n_params, s.encoder.n_params() + s.decoder.n_params() + 5);
        let net: Net<f32> = Net::init(s, &mut ChaCha8Rng::seed_from_u64(0));
        assert!(net.log_sigma().iter().all(|&v| v == 0.0));
        let l0 = net.spec.encoder.layers[0];
        let b = 1.0 / 13f32.sqrt();
        assert!(net.params[..l0.n_params()].iter().all(|v| v.abs() <= b));
    }
}
