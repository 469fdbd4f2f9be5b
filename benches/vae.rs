//! Criterion benches of the VAE engine at a small shape (runs in under a minute):
//! training epochs on the peer's synthetic data, and decoding prior samples.
//! The full reference shape is `genfab bench vae` (`genfab::ml::bench::run`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use genfab::ml::bench::synthetic_table;
use genfab::ml::{fit, ContinuousEncoding, NoObserver, VaeParams};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::hint::black_box;

fn vae(c: &mut Criterion) {
    let rows = 5_000;
    let table = synthetic_table(rows, 32, 0);
    let params = |epochs: usize, threads: usize| {
        VaeParams::new()
            .epochs(epochs)
            .threads(threads)
            .patience(None)
            .clip_norm(None)
            .continuous(ContinuousEncoding::Standard)
            .check(&table)
            .unwrap()
    };
    let mut g = c.benchmark_group("vae");
    g.sample_size(10);
    for threads in [1, 2] {
        let p = params(2, threads);
        g.throughput(Throughput::Elements((rows * 9 / 10 * 2) as u64));
        g.bench_function(format!("train_5000x32_h128x128_l16_b256_2epochs_{threads}t"), |b| {
            b.iter(|| black_box(fit(&p, &table, &mut NoObserver).unwrap()))
        });
    }
    let model = fit(&params(1, 1), &table, &mut NoObserver).unwrap();
    let n = 20_000;
    let z = Array2::<f32>::from_shape_simple_fn((n, model.latent()), {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        move || StandardNormal.sample(&mut rng)
    });
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("decode_20000_prior_samples", |b| b.iter(|| black_box(model.decode_raw(z.view(), None))));
    g.bench_function("sample_20000_rows_to_table", |b| {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        b.iter(|| black_box(model.sample(n, 1.0, &[], &mut rng).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, vae);
criterion_main!(benches);
