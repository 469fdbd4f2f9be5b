//! The training loop: seeded split and mini-batches, Adam, KL warm-up, gradient clipping,
//! early stopping with best-weight restore, observers (metrics, cancellation) and checkpoints
//! that resume bit-identically.

use crate::ml::adam::{clip_global_norm, Adam};
use crate::ml::error::VaeError;
use crate::ml::fitted::FittedVae;
use crate::ml::loss::{batch_loss, batch_loss_grad, BatchLoss};
use crate::ml::params::CheckedVaeParams;
use crate::ml::table::Table;
use crate::ml::transform::TableTransform;
use crate::ml::vae::{Net, NetSpec};
use ndarray::{Array2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::time::Instant;

// Independent ChaCha streams of the one seed, so that e.g. changing the validation pass never
// shifts the training stream.
const STREAM_SPLIT: u64 = 1;
const STREAM_INIT: u64 = 2;
const STREAM_TRAIN: u64 = 3;
const STREAM_VAL: u64 = 1 << 32; // + epoch

/// Metrics of one epoch, given to the observer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training objective per row (reconstruction + weighted KL).
    pub train_loss: f64,
    /// Mean reconstruction NLL per training row.
    pub train_recon: f64,
    /// Mean KL per training row.
    pub train_kl: f64,
    /// Negative ELBO per validation row (`None` without a validation split).
    pub val_loss: Option<f64>,
    pub val_recon: Option<f64>,
    pub val_kl: Option<f64>,
    /// KL weight (beta × schedule) at the end of the epoch.
    pub kl_weight: f64,
    /// Training rows per second over this epoch.
    pub rows_per_s: f64,
    /// Wall time of this epoch (training and validation).
    pub seconds: f64,
    /// This epoch improved the best monitored loss.
    pub improved: bool,
}

/// The observer's answer after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop now (cancellation); the model keeps the best weights so far.
    Stop,
}

/// Receives per-epoch metrics and checkpoints; decides whether training goes on.
pub trait Observer {
    /// Called after every epoch.
    fn on_epoch(&mut self, metrics: &EpochMetrics) -> Control;
    /// Whether to build a checkpoint after this (1-based) epoch; by default never.
    fn wants_checkpoint(&self, _epoch: usize) -> bool {
        false
    }
    /// Receives the checkpoint asked for by `wants_checkpoint`.
    fn on_checkpoint(&mut self, _checkpoint: Checkpoint) {}
}

/// Observes nothing, never stops.
pub struct NoObserver;

impl Observer for NoObserver {
    fn on_epoch(&mut self, _: &EpochMetrics) -> Control {
        Control::Continue
    }
}

/// Why training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    Completed,
    EarlyStopped,
    Cancelled,
}

/// What a training run did; stored in the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    pub n_rows: usize,
    pub n_train: usize,
    pub n_val: usize,
    pub epochs_run: usize,
    /// Epoch whose weights the model holds.
    pub best_epoch: usize,
    pub stop: StopReason,
    pub seconds: f64,
    pub rows_per_s: f64,
    pub final_train_loss: f64,
    pub final_val_loss: Option<f64>,
    pub best_loss: f64,
    pub history: Vec<EpochMetrics>,
}

/// ChaCha state: seed, stream and word position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: [u8; 32],
    pub stream: u64,
    pub word_pos: u128,
}

impl RngState {
    fn of(r: &ChaCha8Rng) -> Self {
        RngState { seed: r.get_seed(), stream: r.get_stream(), word_pos: r.get_word_pos() }
    }
    fn restore(&self) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::from_seed(self.seed);
        r.set_stream(self.stream);
        r.set_word_pos(self.word_pos);
        r
    }
}

/// Everything needed to resume a run after an epoch: weights, Adam state, RNG state,
/// early-stopping state and the history so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Epochs completed.
    pub epoch: usize,
    pub params: Vec<f32>,
    pub adam: Adam<f32>,
    pub rng: RngState,
    pub best_params: Vec<f32>,
    pub best_loss: f64,
    pub best_epoch: usize,
    pub bad_epochs: usize,
    pub seconds: f64,
    pub history: Vec<EpochMetrics>,
    /// Network sizes the weights belong to.
    pub network: NetSpec,
    /// The run's checked parameters and table size, to refuse a checkpoint of another run.
    pub run_key: String,
}

fn run_key(params: &CheckedVaeParams, n_rows: usize, spec: &NetSpec) -> String {
    format!(
        "{}|rows={n_rows}|n_x={}|n_cond={}",
        serde_json::to_string(params.params()).unwrap_or_default(),
        spec.n_x,
        spec.n_cond
    )
}

/// The rows a run trains on and the rows it holds out for validation (never trained on), in
/// the order training uses them; the same for the same row count, seed and fraction.
pub fn split_rows(n: usize, params: &crate::ml::VaeParams) -> (Vec<usize>, Vec<usize>) {
    let mut perm: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    rng.set_stream(STREAM_SPLIT);
    perm.shuffle(&mut rng);
    let n_val = if params.val_fraction > 0.0 && n >= 2 {
        ((n as f64 * params.val_fraction).round() as usize).clamp(1, n - 1)
    } else {
        0
    };
    let train = perm.split_off(n_val);
    (train, perm)
}

/// Trains a VAE on `table`.
pub fn fit(params: &CheckedVaeParams, table: &Table, observer: &mut dyn Observer) -> Result<FittedVae, VaeError> {
    Run::new(params, table)?.train(observer, None)
}

/// Continues a run from a checkpoint taken by `fit` (or an earlier resume) with the same
/// parameters and table; ends with the weights an uninterrupted run would have had.
pub fn fit_resume(
    params: &CheckedVaeParams,
    table: &Table,
    observer: &mut dyn Observer,
    checkpoint: Checkpoint,
) -> Result<FittedVae, VaeError> {
    Run::new(params, table)?.train(observer, Some(checkpoint))
}

struct Run<'a> {
    params: &'a CheckedVaeParams,
    transform: TableTransform,
    spec: NetSpec,
    xt: Array2<f32>,
    ct: Option<Array2<f32>>,
    xv: Array2<f32>,
    cv: Option<Array2<f32>>,
    n_rows: usize,
}

impl<'a> Run<'a> {
    fn new(params: &'a CheckedVaeParams, table: &Table) -> Result<Self, VaeError> {
        // weighted retraining trains on the rows redrawn by rank (the same for a seed, so a
        // resumed run sees the same table)
        let weighted;
        let table = match &params.rank_weight {
            Some(rw) => {
                weighted = rw.resample(table, params.seed)?;
                &weighted
            }
            None => table,
        };
        // the transform is fitted on all rows: it needs every level and the full range, and
        // standardisation constants barely move between the split and the whole
        let transform = TableTransform::fit(table, params);
        let x: Array2<f32> = transform.encode(table)?;
        let c: Option<Array2<f32>> = transform.encode_conditions(table)?;
        let n = table.n_rows();
        let (ti, vi) = split_rows(n, params.params());
        let (ti, vi) = (&ti[..], &vi[..]);
        let spec =
            NetSpec::new(transform.n_x, transform.n_cond, params.latent, &params.hidden, transform.heads.gauss.len());
        Ok(Run {
            params,
            xt: x.select(Axis(0), ti),
            ct: c.as_ref().map(|c| c.select(Axis(0), ti)),
            xv: x.select(Axis(0), vi),
            cv: c.as_ref().map(|c| c.select(Axis(0), vi)),
            transform,
            spec,
            n_rows: n,
        })
    }

    fn train(self, observer: &mut dyn Observer, resume: Option<Checkpoint>) -> Result<FittedVae, VaeError> {
        let p = self.params;
        let key = run_key(p, self.n_rows, &self.spec);
        // a pool of exactly `threads`, also for 1, so validation never spills onto the global pool
        let pool = Some(rayon::ThreadPoolBuilder::new().num_threads(p.threads).build().expect("thread pool"));
        let mut init_rng = ChaCha8Rng::seed_from_u64(p.seed);
        init_rng.set_stream(STREAM_INIT);
        let mut net: Net<f32> = Net::init(self.spec.clone(), &mut init_rng);
        let mut adam = Adam::new(self.spec.n_params, p.learning_rate);
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        rng.set_stream(STREAM_TRAIN);
        let mut best_params = net.params.clone();
        let (mut best_loss, mut best_epoch, mut bad_epochs, mut start_epoch) = (f64::INFINITY, 0, 0, 0);
        let mut history = vec![];
        let mut seconds = 0.0;
        if let Some(ck) = resume {
            if ck.run_key != key {
                return Err(VaeError::CheckpointMismatch("parameters or table differ".into()));
            }
            if ck.params.len() != self.spec.n_params {
                return Err(VaeError::CheckpointMismatch("weight count differs".into()));
            }
            net.params = ck.params;
            adam = ck.adam;
            rng = ck.rng.restore();
            best_params = ck.best_params;
            (best_loss, best_epoch, bad_epochs, start_epoch) = (ck.best_loss, ck.best_epoch, ck.bad_epochs, ck.epoch);
            history = ck.history;
            seconds = ck.seconds;
        }
        let n_train = self.xt.nrows();
        let bs = p.batch_size.min(n_train);
        let steps = n_train.div_ceil(bs);
        let mut grads = vec![vec![0f32; self.spec.n_params]; p.threads];
        let mut idx: Vec<usize> = (0..n_train).collect();
        let mut stop = StopReason::Completed;
        let k = self.spec.latent;
        let mut epoch = start_epoch;
        while epoch < p.epochs {
            let t0 = Instant::now();
            // a fresh identity permutation each epoch keeps the order a function of the RNG only
            idx.iter_mut().enumerate().for_each(|(i, v)| *v = i);
            idx.shuffle(&mut rng);
            let mut sum = BatchLoss::default();
            let mut kl_weight = p.beta;
            for s in 0..steps {
                let rows = &idx[s * bs..((s + 1) * bs).min(n_train)];
                let xb = self.xt.select(Axis(0), rows);
                let cb = self.ct.as_ref().map(|c| c.select(Axis(0), rows));
                let eps = Array2::<f32>::from_shape_simple_fn((rows.len(), k), || StandardNormal.sample(&mut rng));
                kl_weight = p.beta * p.kl_schedule.weight(epoch as f64 + s as f64 / steps as f64);
                let l = batch_loss_grad(
                    &net,
                    &self.transform.heads,
                    xb.view(),
                    cb.as_ref().map(|c| c.view()),
                    eps.view(),
                    kl_weight,
                    p.free_bits,
                    pool.as_ref(),
                    &mut grads,
                );
                if !l.objective.is_finite() {
                    return Err(VaeError::Diverged(epoch + 1));
                }
                if let Some(c) = p.clip_norm {
                    clip_global_norm(&mut grads[0], c);
                }
                adam.step(&mut net.params, &grads[0]);
                let w = rows.len() as f64;
                sum.objective += l.objective * w;
                sum.recon += l.recon * w;
                sum.kl += l.kl * w;
            }
            let train_secs = t0.elapsed().as_secs_f64();
            let val = (self.xv.nrows() > 0).then(|| {
                let mut vr = ChaCha8Rng::seed_from_u64(p.seed);
                vr.set_stream(STREAM_VAL + epoch as u64);
                let eps = Array2::<f32>::from_shape_simple_fn((self.xv.nrows(), k), || StandardNormal.sample(&mut vr));
                batch_loss(
                    &net,
                    &self.transform.heads,
                    self.xv.view(),
                    self.cv.as_ref().map(|c| c.view()),
                    eps.view(),
                    1024,
                    pool.as_ref(),
                )
            });
            epoch += 1;
            let nt = n_train as f64;
            let train_loss = sum.objective / nt;
            let monitored = val.map_or(train_loss, |v| v.neg_elbo());
            let improved = monitored < best_loss;
            if improved {
                best_loss = monitored;
                best_epoch = epoch;
                best_params.clone_from(&net.params);
                bad_epochs = 0;
            } else {
                bad_epochs += 1;
            }
            let secs = t0.elapsed().as_secs_f64();
            seconds += secs;
            let m = EpochMetrics {
                epoch,
                train_loss,
                train_recon: sum.recon / nt,
                train_kl: sum.kl / nt,
                val_loss: val.map(|v| v.neg_elbo()),
                val_recon: val.map(|v| v.recon),
                val_kl: val.map(|v| v.kl),
                kl_weight,
                rows_per_s: nt / train_secs,
                seconds: secs,
                improved,
            };
            history.push(m.clone());
            let control = observer.on_epoch(&m);
            if observer.wants_checkpoint(epoch) {
                observer.on_checkpoint(Checkpoint {
                    epoch,
                    params: net.params.clone(),
                    adam: adam.clone(),
                    rng: RngState::of(&rng),
                    best_params: best_params.clone(),
                    best_loss,
                    best_epoch,
                    bad_epochs,
                    seconds,
                    history: history.clone(),
                    network: self.spec.clone(),
                    run_key: key.clone(),
                });
            }
            if control == Control::Stop {
                stop = StopReason::Cancelled;
                break;
            }
            if p.patience.is_some_and(|pat| bad_epochs >= pat) {
                stop = StopReason::EarlyStopped;
                break;
            }
        }
        net.params = best_params;
        let last = history.last();
        let total_rows = (history.len() * n_train) as f64;
        let train_secs: f64 = history.iter().map(|m| n_train as f64 / m.rows_per_s).sum();
        let summary = TrainSummary {
            n_rows: self.n_rows,
            n_train,
            n_val: self.xv.nrows(),
            epochs_run: history.len(),
            best_epoch,
            stop,
            seconds,
            rows_per_s: if train_secs > 0.0 { total_rows / train_secs } else { 0.0 },
            final_train_loss: last.map_or(f64::NAN, |m| m.train_loss),
            final_val_loss: last.and_then(|m| m.val_loss),
            best_loss,
            history,
        };
        Ok(FittedVae::new(net, self.transform, p.params().clone(), summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::fitted::tests::toy_table;
    use crate::ml::params::{KlSchedule, VaeParams};

    struct Record(Vec<EpochMetrics>);

    impl Observer for Record {
        fn on_epoch(&mut self, m: &EpochMetrics) -> Control {
            self.0.push(m.clone());
            Control::Continue
        }
    }

    #[test]
    fn kl_warm_up_ramps_the_weight_to_beta() {
        let t = toy_table(300, 9);
        let p = VaeParams::new()
            .hidden(vec![8])
            .latent(2)
            .batch_size(30)
            .epochs(6)
            .beta(0.5)
            .kl_schedule(KlSchedule::Linear { epochs: 4.0 })
            .patience(None)
            .check(&t)
            .unwrap();
        let mut r = Record(vec![]);
        fit(&p, &t, &mut r).unwrap();
        let w: Vec<f64> = r.0.iter().map(|m| m.kl_weight).collect();
        assert!(w[0] < 0.125, "still warming up after epoch 1: {w:?}");
        assert!(w.windows(2).all(|p| p[1] >= p[0]));
        assert_eq!(w[5], 0.5);
        assert!(r.0.iter().all(|m| m.rows_per_s > 0.0 && m.train_kl >= 0.0));
    }

    #[test]
    fn early_stopping_stops_after_patience_and_keeps_the_best_epoch() {
        let t = toy_table(200, 10);
        let p = VaeParams::new()
            .hidden(vec![8])
            .latent(2)
            .batch_size(20)
            .epochs(500)
            .learning_rate(1e-2)
            .patience(Some(3))
            .check(&t)
            .unwrap();
        let mut r = Record(vec![]);
        let m = fit(&p, &t, &mut r).unwrap();
        let s = m.summary();
        assert_eq!(s.stop, StopReason::EarlyStopped);
        assert_eq!(s.epochs_run, s.best_epoch + 3);
        let best = r.0.iter().map(|m| m.val_loss.unwrap()).fold(f64::INFINITY, f64::min);
        assert_eq!(s.best_loss, best);
        assert_eq!(r.0[s.best_epoch - 1].val_loss, Some(best));
    }
}
