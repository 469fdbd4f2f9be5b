//! The reference benchmark of `../shared/bench/torch_vae.py`: the same synthetic data and shape,
//! trained through the public engine path, plus decoding prior samples. A pure function;
//! `genfab bench vae` prints its report.

use crate::ml::params::{ContinuousEncoding, VaeParams};
use crate::ml::table::{Column, Table};
use crate::ml::train::{fit, NoObserver};
use crate::ml::VaeError;
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Shape of a benchmark run; the default is the reference shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    pub rows: usize,
    pub dims: usize,
    pub hidden: Vec<usize>,
    pub latent: usize,
    pub batch: usize,
    pub epochs: usize,
    pub threads: usize,
    pub seed: u64,
    /// Prior samples to decode.
    pub decode_rows: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            rows: 50_000,
            dims: 32,
            hidden: vec![128, 128],
            latent: 16,
            batch: 256,
            epochs: 20,
            threads: 2,
            seed: 0,
            decode_rows: 100_000,
        }
    }
}

/// What a benchmark run measured (one JSON line, comparable with the PyTorch peer's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub engine: String,
    pub rows: usize,
    pub dims: usize,
    pub batch: usize,
    pub epochs: usize,
    pub threads: usize,
    /// Seconds spent in training epochs (validation passes excluded, as in the peer).
    pub seconds: f64,
    /// Training rows per second over all epochs.
    pub rows_per_s: f64,
    /// Mean training loss per row of the last epoch.
    pub train_loss: f64,
    /// Negative ELBO per validation row after the last epoch.
    pub val_loss_per_row: f64,
    pub decode_rows: usize,
    pub decode_seconds: f64,
    /// Prior samples (z ~ N(0, I) through the decoder) per second.
    pub decode_rows_per_s: f64,
    /// Full sampling (prior, decoder, sampled heads, table) rows per second.
    pub sample_rows_per_s: f64,
}

/// The peer's data: `x = tanh(z W) + 0.1·noise` with 4-d Gaussian `z`, a table of `dims`
/// continuous columns (the transform standardises them, as the peer does).
pub fn synthetic_table(rows: usize, dims: usize, seed: u64) -> Table {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut g = || -> f64 { StandardNormal.sample(&mut rng) };
    let z = Array2::from_shape_simple_fn((rows, 4), &mut g);
    let w = Array2::from_shape_simple_fn((4, dims), &mut g);
    let mut x = z.dot(&w).mapv(f64::tanh);
    x.mapv_inplace(|v| v + 0.1 * g());
    Table::new((0..dims).map(|j| Column::continuous(format!("x{j}"), x.column(j).to_vec())).collect())
}

/// Trains and decodes at the given shape on the synthetic data; returns the measurements.
pub fn run(cfg: &BenchConfig) -> Result<BenchReport, VaeError> {
    run_on(&synthetic_table(cfg.rows, cfg.dims, cfg.seed), cfg)
}

/// As `run`, on a caller's table of numeric columns (e.g. the CSV given to the peer with
/// `--csv`, so both train on identical data); `cfg.rows` and `cfg.dims` are ignored.
pub fn run_on(table: &Table, cfg: &BenchConfig) -> Result<BenchReport, VaeError> {
    let params = VaeParams::new()
        .hidden(cfg.hidden.clone())
        .latent(cfg.latent)
        .batch_size(cfg.batch)
        .epochs(cfg.epochs)
        .threads(cfg.threads)
        .seed(cfg.seed)
        .val_fraction(0.1)
        .patience(None)
        .clip_norm(None)
        .continuous(ContinuousEncoding::Standard)
        .check(table)?;
    let model = fit(&params, table, &mut NoObserver)?;
    let s = model.summary();
    let train_secs: f64 = s.history.iter().map(|m| s.n_train as f64 / m.rows_per_s).sum();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(cfg.threads).build().expect("thread pool");
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let (decode_seconds, sample_secs) = pool.install(|| {
        // best of 3, as short timings are noisy
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t0 = Instant::now();
            let out = model.prior_decode_raw(cfg.decode_rows, 1.0, None, &mut rng);
            std::hint::black_box(&out);
            best = best.min(t0.elapsed().as_secs_f64());
        }
        let t0 = Instant::now();
        let t = model.sample(cfg.decode_rows, 1.0, &[], &mut rng).expect("unconditional sample");
        std::hint::black_box(&t);
        (best, t0.elapsed().as_secs_f64())
    });
    Ok(BenchReport {
        engine: "genfab".into(),
        rows: table.n_rows(),
        dims: table.n_columns(),
        batch: cfg.batch,
        epochs: s.epochs_run,
        threads: cfg.threads,
        seconds: train_secs,
        rows_per_s: s.rows_per_s,
        train_loss: s.final_train_loss,
        val_loss_per_row: s.final_val_loss.unwrap_or(f64::NAN),
        decode_rows: cfg.decode_rows,
        decode_seconds,
        decode_rows_per_s: cfg.decode_rows as f64 / decode_seconds,
        sample_rows_per_s: cfg.decode_rows as f64 / sample_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_runs_and_learns_the_low_rank_structure() {
        let cfg = BenchConfig { rows: 2000, epochs: 3, decode_rows: 1000, threads: 1, ..BenchConfig::default() };
        let r = run(&cfg).unwrap();
        assert_eq!(r.epochs, 3);
        assert!(r.rows_per_s > 0.0 && r.decode_rows_per_s > 0.0);
        // 32 standardised columns under a unit Gaussian cost 32·1.419 nats; structure must beat it
        assert!(r.val_loss_per_row < 32.0 * 1.4189, "val {}", r.val_loss_per_row);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"rows_per_s\""));
    }
}
