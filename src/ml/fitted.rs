//! A trained VAE: network, transform, parameters and training summary. Encodes, decodes,
//! reconstructs, samples (optionally per class) and scores rows.

use crate::ml::error::VaeError;
use crate::ml::loss::{kl_matrix, recon_rows};
use crate::ml::params::VaeParams;
use crate::ml::table::Table;
use crate::ml::train::TrainSummary;
use crate::ml::transform::TableTransform;
use crate::ml::vae::Net;
use ndarray::{s, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Rows decoded per parallel block.
const BLOCK: usize = 1024;

/// A trained model. Immutable and `Send + Sync`; calls that need randomness take an RNG.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedVae {
    pub(crate) net: Net<f32>,
    pub(crate) transform: TableTransform,
    pub(crate) params: VaeParams,
    pub(crate) summary: TrainSummary,
    pub(crate) dataset_sha256: Option<String>,
}

/// Anomaly scores of rows: negative ELBO per row and its reconstruction part per column.
#[derive(Debug, Clone, PartialEq)]
pub struct RowScores {
    /// Negative ELBO (nats) per row: reconstruction + KL.
    pub neg_elbo: Vec<f64>,
    /// KL part per row.
    pub kl: Vec<f64>,
    /// Names of the modelled columns, the columns of `column_nll`.
    pub columns: Vec<String>,
    /// Reconstruction NLL per row and modelled column (0 for constant columns).
    pub column_nll: Array2<f64>,
}

impl FittedVae {
    pub(crate) fn new(net: Net<f32>, transform: TableTransform, params: VaeParams, summary: TrainSummary) -> Self {
        FittedVae { net, transform, params, summary, dataset_sha256: None }
    }

    /// Records the sha256 of the dataset version it was trained on (stored in the model file).
    pub fn with_dataset_sha256(mut self, sha256: impl Into<String>) -> Self {
        self.dataset_sha256 = Some(sha256.into());
        self
    }

    /// The dataset sha256, if recorded.
    pub fn dataset_sha256(&self) -> Option<&str> {
        self.dataset_sha256.as_deref()
    }

    /// The training parameters.
    pub fn params(&self) -> &VaeParams {
        &self.params
    }

    /// What training did.
    pub fn summary(&self) -> &TrainSummary {
        &self.summary
    }

    /// The fitted column transforms.
    pub fn transform(&self) -> &TableTransform {
        &self.transform
    }

    /// The flat f32 weights (layout in `docs/model-format.md`).
    pub fn weights(&self) -> &[f32] {
        &self.net.params
    }

    /// Latent size.
    pub fn latent(&self) -> usize {
        self.net.spec.latent
    }

    /// Names of the condition columns.
    pub fn condition_columns(&self) -> Vec<&str> {
        self.transform.conditions.iter().map(|t| t.name.as_str()).collect()
    }

    fn inputs(&self, table: &Table) -> Result<(Array2<f32>, Option<Array2<f32>>), VaeError> {
        crate::ml::params::check_cells(table, false)?;
        Ok((self.transform.encode(table)?, self.transform.encode_conditions(table)?))
    }

    /// The condition codes of a one-row table, repeated `n` times.
    pub(crate) fn row_condition_codes(&self, row: &Table, n: usize) -> Result<Vec<Vec<Option<u32>>>, VaeError> {
        Ok(self.condition_codes_of(row)?.into_iter().map(|c| vec![c[0]; n]).collect())
    }

    /// Condition codes for `n` rows: fixed where `conditions` says, drawn by frequency elsewhere.
    pub(crate) fn condition_codes_for(
        &self,
        n: usize,
        conditions: &[(&str, &str)],
        rng: &mut impl Rng,
    ) -> Result<Vec<Vec<Option<u32>>>, VaeError> {
        self.condition_codes(n, conditions, rng)
    }

    /// Decodes latent rows with the heads' noise at `temperature`.
    pub(crate) fn decode_sampled(
        &self,
        z: &Array2<f32>,
        codes: &[Vec<Option<u32>>],
        temperature: f64,
        rng: &mut impl Rng,
    ) -> Result<Table, VaeError> {
        let c: Option<Array2<f32>> =
            (!self.transform.conditions.is_empty()).then(|| self.transform.condition_matrix(codes)).transpose()?;
        let out = self.decode_raw(z.view(), c.as_ref().map(|c| c.view()));
        Ok(self.transform.decode(out.view(), self.net.log_sigma(), codes, Some((rng, temperature))))
    }

    fn condition_codes_of(&self, table: &Table) -> Result<Vec<Vec<Option<u32>>>, VaeError> {
        self.transform.conditions.iter().map(|t| TableTransform::model_codes(table, t)).collect()
    }

    /// Posterior means and log-variances of the rows of `table`.
    pub fn encode(&self, table: &Table) -> Result<(Array2<f32>, Array2<f32>), VaeError> {
        let (x, c) = self.inputs(table)?;
        Ok(self.net.encode(x.view(), c.as_ref().map(|c| c.view())))
    }

    /// Head parameters for latent rows, in parallel blocks on the current rayon pool.
    pub fn decode_raw(&self, z: ArrayView2<f32>, c: Option<ArrayView2<f32>>) -> Array2<f32> {
        let n = z.nrows();
        if n <= BLOCK {
            // one block: no hand-off to the pool (a real-time request of a few rows would wait
            // for a pool thread to wake, which costs more than the decoding)
            return self.net.decode(z, c);
        }
        let blocks: Vec<Array2<f32>> = (0..n.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let (lo, hi) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
                self.net.decode(z.slice(s![lo..hi, ..]), c.map(|c| c.slice_move(s![lo..hi, ..])))
            })
            .collect();
        stack_rows(blocks, self.net.spec.n_x)
    }

    /// Head parameters for `n` prior draws `z ~ N(0, temperature² I)`. Each block of rows
    /// draws its `z` from its own ChaCha stream seeded from `rng`, so generation runs in
    /// parallel and the result does not depend on the thread count.
    pub fn prior_decode_raw(
        &self,
        n: usize,
        temperature: f64,
        c: Option<ArrayView2<f32>>,
        rng: &mut impl Rng,
    ) -> Array2<f32> {
        let seeds: Vec<u64> = (0..n.div_ceil(BLOCK)).map(|_| rng.random()).collect();
        let t = temperature as f32;
        let k = self.latent();
        let blocks: Vec<Array2<f32>> = seeds
            .into_par_iter()
            .enumerate()
            .map(|(b, seed)| {
                let (lo, hi) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
                let mut r = ChaCha8Rng::seed_from_u64(seed);
                let z = Array2::<f32>::from_shape_simple_fn((hi - lo, k), || {
                    let v: f32 = StandardNormal.sample(&mut r);
                    v * t
                });
                self.net.decode(z.view(), c.map(|c| c.slice_move(s![lo..hi, ..])))
            })
            .collect();
        stack_rows(blocks, self.net.spec.n_x)
    }

    /// The most likely table for latent rows `z` with condition codes per condition column.
    pub fn decode(&self, z: ArrayView2<f32>, cond_codes: &[Vec<Option<u32>>]) -> Result<Table, VaeError> {
        let c: Option<Array2<f32>> =
            (!self.transform.conditions.is_empty()).then(|| self.transform.condition_matrix(cond_codes)).transpose()?;
        let out = self.decode_raw(z, c.as_ref().map(|c| c.view()));
        Ok(self.transform.decode(out.view(), self.net.log_sigma(), cond_codes, None))
    }

    /// Encodes to the posterior mean and decodes the most likely values.
    pub fn reconstruct(&self, table: &Table) -> Result<Table, VaeError> {
        let (mu, _) = self.encode(table)?;
        self.decode(mu.view(), &self.condition_codes_of(table)?)
    }

    /// Resolves `column=value` requests to one code per condition column; unspecified
    /// conditions are drawn per row from their training frequencies.
    fn condition_codes(
        &self,
        n: usize,
        conditions: &[(&str, &str)],
        rng: &mut impl Rng,
    ) -> Result<Vec<Vec<Option<u32>>>, VaeError> {
        for (name, _) in conditions {
            if self.transform.condition_index(name).is_none() {
                return Err(VaeError::NotACondition(name.to_string()));
            }
        }
        self.transform
            .conditions
            .iter()
            .map(|t| match conditions.iter().find(|(n, _)| *n == t.name) {
                Some((_, value)) => {
                    let k = t.levels.iter().position(|l| l == value).ok_or_else(|| VaeError::UnknownLevel {
                        column: t.name.clone(),
                        value: value.to_string(),
                        levels: t.levels.join(", "),
                    })?;
                    Ok(vec![Some(k as u32); n])
                }
                None => Ok((0..n)
                    .map(|_| {
                        let mut u: f64 = rng.random();
                        for (k, f) in t.frequencies.iter().enumerate() {
                            u -= f;
                            if u <= 0.0 {
                                return (k < t.levels.len()).then_some(k as u32);
                            }
                        }
                        Some(0)
                    })
                    .collect()),
            })
            .collect()
    }

    /// `n` rows from the prior `z ~ N(0, temperature² I)`, decoded with sampled heads (noise and
    /// softmax at the same temperature; 0 gives the most likely values at z = 0). `conditions`
    /// fixes condition columns, e.g. `[("fault", "Bumps")]`. The same RNG state gives the same
    /// rows whatever the thread count.
    pub fn sample(
        &self,
        n: usize,
        temperature: f64,
        conditions: &[(&str, &str)],
        rng: &mut impl Rng,
    ) -> Result<Table, VaeError> {
        let codes = self.condition_codes(n, conditions, rng)?;
        let c: Option<Array2<f32>> =
            (!self.transform.conditions.is_empty()).then(|| self.transform.condition_matrix(&codes)).transpose()?;
        let out = self.prior_decode_raw(n, temperature, c.as_ref().map(|c| c.view()), rng);
        Ok(self.transform.decode(out.view(), self.net.log_sigma(), &codes, Some((rng, temperature))))
    }

    /// Per-row negative ELBO and per-column reconstruction NLL, averaged over `n_samples`
    /// posterior draws (at least 1).
    pub fn score(&self, table: &Table, n_samples: usize, rng: &mut impl Rng) -> Result<RowScores, VaeError> {
        self.score_by(table, n_samples, |shape| {
            Array2::<f32>::from_shape_simple_fn(shape, || StandardNormal.sample(&mut *rng))
        })
    }

    /// As `score`, with common random numbers: draw `d` perturbs every row by the same noise
    /// `eps.row(d)` (one row per draw, one column per latent dimension), so a row's score does
    /// not depend on the other rows of its batch, nor on the batch's order.
    pub fn score_common(&self, table: &Table, eps: ArrayView2<f32>) -> Result<RowScores, VaeError> {
        if eps.ncols() != self.latent() || eps.nrows() == 0 {
            return Err(VaeError::SchemaMismatch(format!(
                "{} draws of {} noise columns for a latent space of {} (at least one draw)",
                eps.nrows(),
                eps.ncols(),
                self.latent()
            )));
        }
        let mut d = 0;
        self.score_by(table, eps.nrows(), |(n, _)| {
            let e = eps.row(d).to_owned();
            d += 1;
            e.broadcast((n, e.len())).expect("one row broadcasts").to_owned()
        })
    }

    /// The scores with `draws` posterior draws, the noise of each from `eps_of((rows, latent))`.
    fn score_by(
        &self,
        table: &Table,
        n_samples: usize,
        mut eps_of: impl FnMut((usize, usize)) -> Array2<f32>,
    ) -> Result<RowScores, VaeError> {
        let (x, c) = self.inputs(table)?;
        let (mu, lv) = self.net.encode(x.view(), c.as_ref().map(|c| c.view()));
        let n = x.nrows();
        let heads = &self.transform.heads;
        let kl: Vec<f64> = kl_matrix(mu.view(), lv.view()).sum_axis(Axis(1)).iter().map(|&v| v as f64).collect();
        let mut per_head = Array2::<f64>::zeros((n, heads.n_heads()));
        let mut acc = Array2::<f64>::zeros((n, heads.n_heads()));
        let draws = n_samples.max(1);
        let sd = lv.mapv(|v| (0.5 * v).exp());
        for _ in 0..draws {
            let eps = eps_of(mu.dim());
            let z = &mu + &(&eps * &sd);
            let out = self.decode_raw(z.view(), c.as_ref().map(|c| c.view()));
            recon_rows(heads, self.net.log_sigma(), x.view(), out.view(), None, Some(&mut per_head));
            acc += &per_head;
        }
        acc /= draws as f64;
        let cols = &self.transform.columns;
        let mut column_nll = Array2::<f64>::zeros((n, cols.len()));
        for (j, t) in cols.iter().enumerate() {
            for &h in &t.heads {
                let mut cj = column_nll.column_mut(j);
                cj += &acc.column(h);
            }
        }
        let neg_elbo = (0..n).map(|r| column_nll.row(r).sum() + kl[r]).collect();
        Ok(RowScores { neg_elbo, kl, columns: cols.iter().map(|t| t.name.clone()).collect(), column_nll })
    }
}

fn stack_rows(blocks: Vec<Array2<f32>>, width: usize) -> Array2<f32> {
    if blocks.len() == 1 {
        return blocks.into_iter().next().unwrap();
    }
    let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
    if views.is_empty() {
        return Array2::zeros((0, width));
    }
    ndarray::concatenate(Axis(0), &views).expect("same widths")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ml::params::VaeParams;
    use crate::ml::table::{Column, ColumnData, ColumnKind};
    use crate::ml::train::{fit, fit_resume, Checkpoint, Control, EpochMetrics, NoObserver, Observer};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Two correlated numbers, an integer, a category tied to the sign of the first number, a
    /// boolean, a column with gaps and a constant.
    pub(crate) fn toy_table(n: usize, seed: u64) -> Table {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut a = vec![];
        let mut b = vec![];
        let mut k = vec![];
        let mut cat = vec![];
        let mut flag = vec![];
        let mut gaps = vec![];
        for i in 0..n {
            let z: f64 = StandardNormal.sample(&mut rng);
            let e: f64 = StandardNormal.sample(&mut rng);
            a.push(z * 2.0 + 10.0);
            b.push(z + 0.1 * e);
            k.push((z * 2.0).round().clamp(-3.0, 3.0) + 3.0);
            cat.push(Some(if z > 0.5 {
                "hi"
            } else if z < -0.5 {
                "lo"
            } else {
                "mid"
            }));
            flag.push(Some(e > 0.0));
            gaps.push(if i % 7 == 0 { f64::NAN } else { e });
        }
        Table::new(vec![
            Column::continuous("a", a),
            Column::continuous("b", b).with_bounds(Some(-2.0), Some(2.0)),
            Column::integer("k", k),
            Column::categorical_from_labels("band", &cat),
            Column::boolean("flag", flag),
            Column::continuous("gaps", gaps),
            Column::continuous("const", vec![1.25; n]),
        ])
    }

    fn small(seed: u64) -> VaeParams {
        VaeParams::new().hidden(vec![16, 16]).latent(3).batch_size(32).epochs(6).seed(seed).patience(None)
    }

    #[test]
    fn models_are_send_and_sync() {
        fn is<T: Send + Sync>() {}
        is::<FittedVae>();
        is::<RowScores>();
        is::<Checkpoint>();
        is::<Table>();
    }

    #[test]
    fn same_seed_same_threads_gives_bit_identical_weights_and_samples() {
        let t = toy_table(300, 1);
        for threads in [1, 2] {
            let p = small(42).threads(threads).check(&t).unwrap();
            let m1 = fit(&p, &t, &mut NoObserver).unwrap();
            let m2 = fit(&p, &t, &mut NoObserver).unwrap();
            assert_eq!(m1.weights(), m2.weights(), "threads {threads}");
            let s1 = m1.sample(50, 1.0, &[], &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
            let s2 = m2.sample(50, 1.0, &[], &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
            assert_eq!(format!("{s1:?}"), format!("{s2:?}"));
        }
        let p = small(43).check(&t).unwrap();
        let m3 = fit(&p, &t, &mut NoObserver).unwrap();
        let p = small(42).check(&t).unwrap();
        assert_ne!(m3.weights(), fit(&p, &t, &mut NoObserver).unwrap().weights(), "the seed matters");
    }

    #[test]
    fn samples_do_not_depend_on_the_thread_count() {
        let t = toy_table(200, 4);
        let m = fit(&small(1).epochs(2).check(&t).unwrap(), &t, &mut NoObserver).unwrap();
        let draw = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            // more rows than one block, so blocks really run in parallel
            pool.install(|| m.sample(5000, 0.8, &[], &mut ChaCha8Rng::seed_from_u64(9)).unwrap())
        };
        assert_eq!(format!("{:?}", draw(1)), format!("{:?}", draw(2)));
    }

    struct StopAt {
        epoch: usize,
        taken: Option<Checkpoint>,
        seen: Vec<EpochMetrics>,
    }

    impl Observer for StopAt {
        fn on_epoch(&mut self, m: &EpochMetrics) -> Control {
            self.seen.push(m.clone());
            if m.epoch == self.epoch {
                Control::Stop
            } else {
                Control::Continue
            }
        }
        fn wants_checkpoint(&self, epoch: usize) -> bool {
            epoch == self.epoch
        }
        fn on_checkpoint(&mut self, c: Checkpoint) {
            self.taken = Some(c);
        }
    }

    #[test]
    fn checkpoint_resume_ends_bit_identical_to_an_uninterrupted_run() {
        let t = toy_table(300, 2);
        let p = small(7).threads(2).patience(Some(3)).clip_norm(Some(5.0)).check(&t).unwrap();
        let full = fit(&p, &t, &mut NoObserver).unwrap();
        let mut obs = StopAt { epoch: 3, taken: None, seen: vec![] };
        let cut = fit(&p, &t, &mut obs).unwrap();
        assert_eq!(obs.seen.len(), 3, "observer stop cancels the run");
        assert_eq!(cut.summary().stop, crate::ml::train::StopReason::Cancelled);
        let ck = obs.taken.expect("checkpoint taken");
        // through bytes, as a job would store it
        let ck = Checkpoint::from_bytes(&ck.to_bytes().unwrap()).unwrap();
        let resumed = fit_resume(&p, &t, &mut NoObserver, ck).unwrap();
        assert_eq!(resumed.weights(), full.weights());
        assert_eq!(resumed.summary().epochs_run, full.summary().epochs_run);
        assert_eq!(resumed.summary().best_epoch, full.summary().best_epoch);
        // a checkpoint of another run is refused
        let other = small(8).check(&t).unwrap();
        let mut obs = StopAt { epoch: 1, taken: None, seen: vec![] };
        fit(&p, &t, &mut obs).unwrap();
        assert!(matches!(
            fit_resume(&other, &t, &mut NoObserver, obs.taken.unwrap()),
            Err(VaeError::CheckpointMismatch(_))
        ));
    }

    #[test]
    fn training_learns_and_samples_keep_kinds_bounds_and_names() {
        let t = toy_table(600, 3);
        let p = small(1).epochs(25).check(&t).unwrap();
        let m = fit(&p, &t, &mut NoObserver).unwrap();
        let h = &m.summary().history;
        assert!(
            h.last().unwrap().train_loss < h[0].train_loss - 1.0,
            "loss falls: {:?}",
            h.iter().map(|e| e.train_loss).collect::<Vec<_>>()
        );
        assert!(h.iter().all(|e| e.val_loss.unwrap().is_finite()));
        let s = m.sample(400, 1.0, &[], &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
        assert_eq!(s.n_rows(), 400);
        for (a, b) in t.columns.iter().zip(&s.columns) {
            assert_eq!((&a.name, a.kind), (&b.name, b.kind));
        }
        let b = s.column("b").unwrap().numeric().unwrap();
        assert!(b.iter().all(|&v| (-2.0..=2.0).contains(&v)));
        let k = s.column("k").unwrap().numeric().unwrap();
        assert!(k.iter().all(|&v| v.fract() == 0.0 && (0.0..=6.0).contains(&v)));
        assert!(s.column("const").unwrap().numeric().unwrap().iter().all(|&v| v == 1.25));
        let gaps = s.column("gaps").unwrap().numeric().unwrap();
        let missing = gaps.iter().filter(|v| v.is_nan()).count();
        assert!(missing > 10 && missing < 150, "about 1/7 missing, got {missing}/400");
        let ColumnData::Categorical { levels, .. } = &s.column("band").unwrap().data else { panic!() };
        assert_eq!(levels, &["hi", "lo", "mid"]);
        assert_eq!(s.column("flag").unwrap().kind, ColumnKind::Boolean);
        // the model captured the tie between a and band: "hi" rows have larger a than "lo" rows
        let a = s.column("a").unwrap().numeric().unwrap();
        let codes = s.column("band").unwrap().codes().unwrap().0;
        let mean_a = |lvl: u32| {
            let v: Vec<f64> = a.iter().zip(codes).filter(|(_, c)| **c == Some(lvl)).map(|(x, _)| *x).collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(mean_a(0) > mean_a(1) + 1.0, "hi {} vs lo {}", mean_a(0), mean_a(1));
        // reconstruction and scores
        let r = m.reconstruct(&t).unwrap();
        assert_eq!(r.n_rows(), t.n_rows());
        let sc = m.score(&t, 2, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        assert_eq!(sc.column_nll.dim(), (600, 7));
        assert!(sc.neg_elbo.iter().all(|v| v.is_finite()));
        assert!(sc.column_nll.column(6).iter().all(|&v| v == 0.0), "constant column costs nothing");
        // a corrupted row scores worse than its original
        let mut bad = t.select_rows(&[0]);
        if let ColumnData::Numeric(v) = &mut bad.columns[1].data {
            v[0] = t.column("b").unwrap().numeric().unwrap()[0] + 8.0; // eight standard deviations off
        }
        let good = m.score(&t.select_rows(&[0]), 8, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let worse = m.score(&bad, 8, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        assert!(worse.column_nll[[0, 1]] > good.column_nll[[0, 1]]);
    }
}
