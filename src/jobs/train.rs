//! `train`: fits a model's VAE on its dataset version, writing every epoch's metrics, a
//! checkpoint every few epochs (a job taken over after a crash resumes from it), and at the end
//! the model file, in the same transaction as the job's success.
//!
//! Payload: `{"model_id": M, "checkpoint_every": N}` for a model made by `POST /models`, or
//! `{"retrain_of": M, "dataset_id": D?, "rank_weight": W?}` from a schedule: a new model with M's spec (and rank weighting W) on the
//! latest version of D (default: M's dataset), created on the job's first run.

use super::context::StopWhy;
use super::output::{fail, retry};
use super::{Handled, JobContext};
use crate::ml::{self, Checkpoint, Control, EpochMetrics, Observer, VaeParams};
use crate::store::{JobOutcome, ModelRow, NewModel, TrainedModel};
use crate::{bridge, catalog};
use serde_json::json;

/// Epochs between checkpoints when the payload does not say.
pub const DEFAULT_CHECKPOINT_EVERY: usize = 5;

/// The code version recorded on every model.
pub fn code_version() -> String {
    format!("genfab {}", env!("CARGO_PKG_VERSION"))
}

/// The model this job trains; a retrain creates it on the first run.
fn model_of(ctx: &JobContext) -> Result<ModelRow, Handled> {
    let retrain_of: Option<i64> = ctx.field("retrain_of").map_err(fail)?;
    let create = match retrain_of {
        None => None,
        Some(parent_id) => {
            let parent = ctx
                .block_on(ctx.store.get_model(parent_id))
                .map_err(retry)?
                .ok_or_else(|| fail(format!("model {parent_id} to retrain does not exist")))?;
            let dataset_id: Option<i64> = ctx.field("dataset_id").map_err(fail)?;
            let dataset_id = dataset_id.unwrap_or(parent.dataset_id);
            let v = ctx
                .block_on(ctx.store.get_version(dataset_id, None))
                .map_err(retry)?
                .ok_or_else(|| fail(format!("dataset {dataset_id} to retrain on does not exist")))?;
            // Weighted retraining: the schedule's rank weighting replaces the parent's.
            let rank_weight: Option<serde_json::Value> = ctx.field("rank_weight").map_err(fail)?;
            let mut spec = parent.spec.0.clone();
            if let Some(rw) = rank_weight {
                spec["rank_weight"] = rw;
            }
            Some(NewModel {
                name: parent.name.clone(),
                dataset_id,
                dataset_version: v.version,
                dataset_sha256: v.sha256,
                spec,
                seed: parent.seed,
                code_version: code_version(),
                parent_model_id: Some(parent.id),
            })
        }
    };
    ctx.block_on(ctx.store.model_for_job(ctx.job.id, create.as_ref()))
        .map_err(retry)?
        .ok_or_else(|| fail(format!("job {} trains no model (it was made without one)", ctx.job.id)))
}

/// Writes epochs to the store in batches, checkpoints, and stops on cancel or shutdown.
struct JobObserver<'a> {
    ctx: &'a JobContext,
    model_id: i64,
    epochs: usize,
    every: usize,
    pending: Vec<(i32, serde_json::Value)>,
    stop: Option<StopWhy>,
    failure: Option<String>,
    last_flush: std::time::Instant,
}

impl JobObserver<'_> {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        match self.ctx.block_on(self.ctx.store.record_epochs(self.model_id, &self.pending)) {
            Ok(()) => self.pending.clear(),
            // kept and written with the next flush; the checkpoint is not saved past unwritten epochs
            Err(e) => tracing::warn!(job = self.ctx.job.id, error = %format!("{e:#}"), "could not store epoch metrics"),
        }
        self.last_flush = std::time::Instant::now();
    }
}

impl Observer for JobObserver<'_> {
    fn on_epoch(&mut self, m: &EpochMetrics) -> Control {
        self.pending.push((m.epoch as i32, serde_json::to_value(m).unwrap_or_default()));
        if self.last_flush.elapsed() >= std::time::Duration::from_millis(250) || m.epoch == self.epochs {
            self.flush();
        }
        let val = m.val_loss.map(|v| format!(", val {v:.4}")).unwrap_or_default();
        let msg = format!("epoch {}/{}: train {:.4}{val}", m.epoch, self.epochs, m.train_loss);
        self.ctx.progress(m.epoch as f64 / self.epochs as f64, &msg, false);
        self.stop = self.ctx.should_stop();
        if self.stop.is_some() {
            self.flush();
            return Control::Stop;
        }
        Control::Continue
    }

    fn wants_checkpoint(&self, epoch: usize) -> bool {
        // an interrupted run checkpoints where it stops, so the next worker loses nothing
        (epoch.is_multiple_of(self.every) && epoch < self.epochs) || self.stop == Some(StopWhy::Interrupt)
    }

    fn on_checkpoint(&mut self, c: Checkpoint) {
        self.flush();
        if !self.pending.is_empty() {
            return;
        }
        let epoch = c.epoch as i32;
        let saved = c.to_bytes().map_err(|e| e.to_string()).and_then(|bytes| {
            self.ctx
                .block_on(self.ctx.store.save_checkpoint(&self.ctx.job, epoch, &bytes))
                .map_err(|e| format!("{e:#}"))
        });
        match saved {
            Ok(true) => tracing::debug!(job = self.ctx.job.id, epoch, "checkpoint saved"),
            Ok(false) => self.ctx.lost.store(true, std::sync::atomic::Ordering::SeqCst),
            Err(e) => {
                tracing::warn!(job = self.ctx.job.id, error = %e, "could not save a checkpoint");
                self.failure.get_or_insert(e);
            }
        }
    }
}

pub fn run(ctx: &JobContext) -> Handled {
    let model = match model_of(ctx) {
        Ok(m) => m,
        Err(h) => return h,
    };
    let every: Option<usize> = ctx.field("checkpoint_every").unwrap_or(None);
    let every = every.unwrap_or(DEFAULT_CHECKPOINT_EVERY).max(1);
    let params: VaeParams = match serde_json::from_value(model.spec.0.clone()) {
        Ok(p) => p,
        Err(e) => return fail(format!("model {}'s spec is not a VAE spec: {e}", model.id)),
    };
    ctx.progress(0.0, "reading the dataset", true);
    let read = ctx.block_on(catalog::read_version(&ctx.store, model.dataset_id, Some(model.dataset_version)));
    let (meta, df) = match read {
        Ok(r) => r,
        Err(catalog::CatalogError::Unexpected(e)) => return retry(e),
        Err(e) => return fail(format!("dataset {} version {}: {e}", model.dataset_id, model.dataset_version)),
    };
    if meta.sha256 != model.dataset_sha256 {
        return fail(format!(
            "dataset {} version {} has sha256 {} but the model was made for {}",
            model.dataset_id, model.dataset_version, meta.sha256, model.dataset_sha256
        ));
    }
    let table = match bridge::to_ml_table(&df, &meta.schema.0) {
        Ok(t) => t,
        Err(e) => return fail(format!("dataset {} cannot be modelled: {e}", model.dataset_id)),
    };
    let checked = match params.check(&table) {
        Ok(c) => c,
        Err(e) => return fail(format!("the spec does not fit dataset {}: {e}", model.dataset_id)),
    };
    let resume = match ctx.block_on(ctx.store.load_checkpoint(ctx.job.id)) {
        Ok(c) => c.and_then(|(epoch, bytes)| match Checkpoint::from_bytes(&bytes) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(job = ctx.job.id, epoch, error = %e, "checkpoint unreadable; training from the start");
                None
            }
        }),
        Err(e) => return retry(e),
    };
    let resumed_from = resume.as_ref().map(|c| c.epoch).unwrap_or(0);
    if resumed_from > 0 {
        tracing::info!(job = ctx.job.id, epoch = resumed_from, "resuming training from a checkpoint");
    }
    let mut obs = JobObserver {
        ctx,
        model_id: model.id,
        epochs: params.epochs,
        every,
        pending: vec![],
        stop: None,
        failure: None,
        last_flush: std::time::Instant::now(),
    };
    let fitted = match resume {
        Some(c) => ml::fit_resume(&checked, &table, &mut obs, c),
        None => ml::fit(&checked, &table, &mut obs),
    };
    obs.flush();
    let (stop, failure, unwritten) = (obs.stop, obs.failure.take(), obs.pending.len());
    let fitted = match fitted {
        Ok(f) => f,
        Err(e) => return fail(format!("training failed: {e}")),
    };
    if unwritten > 0 {
        return retry(format!("{unwritten} epochs' metrics could not be stored"));
    }
    let s = fitted.summary().clone();
    match stop {
        Some(StopWhy::Interrupt) => return Handled::Interrupted,
        Some(StopWhy::Cancel) => {
            return Handled::Finish(JobOutcome::Cancelled(json!({
                "model_id": model.id, "epochs_run": s.epochs_run, "resumed_from_epoch": resumed_from,
                "kept": "the metrics of every epoch run; no model file"
            })))
        }
        None => {}
    }
    if let Some(e) = failure {
        tracing::warn!(job = ctx.job.id, error = %e, "a checkpoint failed during training; the model finished anyway");
    }
    let fitted = fitted.with_dataset_sha256(model.dataset_sha256.clone());
    let file = match fitted.to_bytes() {
        Ok(b) => b,
        Err(e) => return fail(format!("could not write the model file: {e}")),
    };
    let mut summary = serde_json::to_value(&s).unwrap_or_default();
    if let Some(o) = summary.as_object_mut() {
        o.remove("history");
    }
    let trained = TrainedModel {
        file_sha256: catalog::sha256_hex(&file),
        file,
        best_epoch: s.best_epoch as i32,
        epochs_run: s.epochs_run as i32,
        summary,
    };
    let result = json!({
        "model_id": model.id, "epochs_run": s.epochs_run, "best_epoch": s.best_epoch,
        "resumed_from_epoch": resumed_from, "stop": s.stop, "seconds": s.seconds,
    });
    match ctx.block_on(ctx.store.complete_model(&ctx.job, model.id, &trained, &result)) {
        Ok(true) => {
            tracing::info!(job = ctx.job.id, model = model.id, epochs = s.epochs_run, "model trained");
            Handled::Recorded
        }
        Ok(false) => Handled::Interrupted,
        Err(e) => retry(e),
    }
}
