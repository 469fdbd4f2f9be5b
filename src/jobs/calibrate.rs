//! `calibrate`: makes a new version of an anomaly detector. It trains the detector's VAE on the
//! normal rows of a dataset version (or reuses the model the detector names), scores held-out
//! normal rows and the labelled faults, chooses the threshold, and stores model file,
//! threshold, curves and drift reference as the next version, in the transaction that records
//! the job's success.
//!
//! Payload: `{"detector_id": D, "dataset_version": V?}` (default: the dataset's latest version).
//! Training is short and not checkpointed: a job taken over after a crash trains again, and
//! the same seed gives the same model.

use super::context::StopWhy;
use super::output::{fail, retry, trained_model};
use super::{Handled, JobContext};
use crate::detectors::{label_text, DetectorSpec, REFERENCE_ROWS};
use crate::ml::anomaly::{calibrate, score_rows, Reference};
use crate::ml::{self, Control, EpochMetrics, Observer, Table};
use crate::store::{JobOutcome, NewDetectorVersion};
use crate::{bridge, catalog};
use polars::prelude::{DataFrame, DataType};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};
use std::time::Instant;

/// Fewest held-out normal rows a threshold is chosen on, and fewest rows to train on.
const MIN_HOLDOUT: usize = 10;
const MIN_TRAIN: usize = 20;

struct Progress<'a> {
    ctx: &'a JobContext,
    epochs: usize,
    stop: Option<StopWhy>,
}

impl Observer for Progress<'_> {
    fn on_epoch(&mut self, m: &EpochMetrics) -> Control {
        let msg = format!("training on normal rows: epoch {}/{}, loss {:.4}", m.epoch, self.epochs, m.train_loss);
        self.ctx.progress(0.9 * m.epoch as f64 / self.epochs.max(1) as f64, &msg, false);
        self.stop = self.ctx.should_stop();
        if self.stop.is_some() {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

/// Each row's label as text (missing: `None`).
fn labels(df: &DataFrame, column: &str) -> Result<Vec<Option<String>>, String> {
    let col = df.column(column).map_err(|e| format!("column '{column}': {e}"))?;
    let s = col.cast(&DataType::String).map_err(|e| format!("column '{column}': {e}"))?;
    let s = s.str().map_err(|e| format!("column '{column}': {e}"))?;
    Ok(s.iter().map(|v| v.map(|v| label_text(&Value::String(v.to_string())))).collect())
}

pub fn run(ctx: &JobContext) -> Handled {
    let started = Instant::now();
    let detector_id: i64 = match ctx.field("detector_id") {
        Ok(id) => id,
        Err(e) => return fail(e),
    };
    let pinned: Option<i32> = ctx.field("dataset_version").unwrap_or(None);
    let det = match ctx.block_on(ctx.store.get_detector(detector_id)) {
        Ok(Some(d)) => d,
        Ok(None) => return fail(format!("detector {detector_id} does not exist")),
        Err(e) => return retry(e),
    };
    let spec = match DetectorSpec::parse(det.spec.0.clone()) {
        Ok(s) => s,
        Err(e) => return fail(format!("detector {detector_id}'s spec: {e}")),
    };
    ctx.progress(0.0, "reading the dataset", true);
    let (meta, df) = match ctx.block_on(catalog::read_version(&ctx.store, det.dataset_id, pinned)) {
        Ok(r) => r,
        Err(catalog::CatalogError::Unexpected(e)) => return retry(e),
        Err(e) => return fail(format!("dataset {}: {e}", det.dataset_id)),
    };
    let columns = match spec.check(&meta.schema.0) {
        Ok(c) => c,
        Err(e) => {
            return fail(format!(
                "dataset {} version {} no longer fits the detector: {e}",
                det.dataset_id, meta.version
            ))
        }
    };
    let all = match bridge::to_ml_table(&df, &meta.schema.0) {
        Ok(t) => t,
        Err(e) => return fail(format!("dataset {} cannot be modelled: {e}", det.dataset_id)),
    };
    let mut picked = vec![];
    for c in &columns {
        match all.column(c) {
            Some(col) => picked.push(col.clone()),
            None => {
                return fail(format!("column '{c}' is not one a model can read (its role is id, timestamp or ignore)"))
            }
        }
    }
    let table = Table::new(picked);
    // normal rows and known faults
    let (mut normal, mut faults) = (vec![], vec![]);
    match spec.label() {
        None => normal = (0..table.n_rows()).collect(),
        Some((label, value)) => {
            let l = match labels(&df, label) {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            for (i, v) in l.iter().enumerate() {
                match v {
                    Some(v) if *v == value => normal.push(i),
                    Some(_) => faults.push(i),
                    None => {}
                }
            }
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed);
    normal.shuffle(&mut rng);
    let n_hold = ((spec.holdout * normal.len() as f64).round() as usize).max(MIN_HOLDOUT);
    let reuse = spec.model_id;
    if n_hold > normal.len() || (reuse.is_none() && normal.len() - n_hold < MIN_TRAIN) {
        return fail(format!(
            "dataset {} version {} has {} normal rows; a detector needs {MIN_HOLDOUT} held out and {MIN_TRAIN} to train on",
            det.dataset_id,
            meta.version,
            normal.len()
        ));
    }
    let (hold, train) = normal.split_at(n_hold);
    let (mut hold, mut train) = (hold.to_vec(), train.to_vec());
    hold.sort_unstable();
    train.sort_unstable();
    faults.sort_unstable();
    // the model: reused, or trained on the normal rows not held out
    let (model, model_summary) = match reuse {
        Some(id) => match trained_model(ctx, id) {
            Ok((_, m)) => (m, json!({ "reused_model_id": id, "calibration_rows_unseen": false })),
            Err(h) => return h,
        },
        None => {
            let mut params = spec.spec.clone().unwrap_or_else(|| ml::VaeParams::new().seed(spec.seed));
            params.threads = params.threads.max(1);
            let train_table = table.select_rows(&train);
            let checked = match params.check(&train_table) {
                Ok(c) => c,
                Err(e) => return fail(format!("the VAE spec does not fit the normal rows: {e}")),
            };
            let mut obs = Progress { ctx, epochs: params.epochs, stop: None };
            let fitted = ml::fit(&checked, &train_table, &mut obs);
            match obs.stop {
                Some(StopWhy::Interrupt) => return Handled::Interrupted,
                Some(StopWhy::Cancel) => {
                    return Handled::Finish(JobOutcome::Cancelled(json!({ "kept": "nothing; no version was made" })))
                }
                None => {}
            }
            let fitted = match fitted {
                Ok(f) => f.with_dataset_sha256(meta.sha256.clone()),
                Err(e) => return fail(format!("training failed: {e}")),
            };
            let s = fitted.summary();
            let summary = json!({ "epochs_run": s.epochs_run, "best_epoch": s.best_epoch, "stop": s.stop,
                                  "calibration_rows_unseen": true });
            (fitted, summary)
        }
    };
    ctx.progress(0.92, "scoring held-out normal rows and known faults", true);
    let hold_table = table.select_rows(&hold);
    let score = |rows: &[usize], t: &Table| -> Result<Vec<f64>, String> {
        if rows.is_empty() {
            return Ok(vec![]);
        }
        score_rows(&model, t, &spec.score).map(|s| s.scores).map_err(|e| format!("scoring failed: {e}"))
    };
    let normal_scores = match score(&hold, &hold_table) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let fault_scores = match score(&faults, &table.select_rows(&faults)) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let calibrated = match calibrate(&normal_scores, &fault_scores, &spec.calibration) {
        Ok(c) => c,
        Err(e) => return fail(format!("calibration failed: {e}")),
    };
    let file = match model.to_bytes() {
        Ok(b) => b,
        Err(e) => return fail(format!("could not write the model file: {e}")),
    };
    let reference = Reference::of(&hold_table, &normal_scores, REFERENCE_ROWS);
    let auroc = calibrated.curves.as_ref().map(|c| c.auroc);
    let summary = json!({
        "rows": { "train": if reuse.is_some() { 0 } else { train.len() }, "holdout": hold.len(), "faults": faults.len() },
        "columns": columns, "model": model_summary, "score": spec.score, "auroc": auroc,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let version = NewDetectorVersion {
        dataset_version: meta.version,
        dataset_sha256: meta.sha256.clone(),
        model_id: reuse,
        model: file,
        threshold: calibrated.threshold,
        calibration: serde_json::to_value(&calibrated).unwrap_or_default(),
        reference: serde_json::to_value(&reference).unwrap_or_default(),
        summary,
    };
    let result = json!({
        "detector_id": detector_id, "threshold": calibrated.threshold, "false_alarm_rate": calibrated.false_alarm_rate,
        "recall": calibrated.recall, "auroc": auroc, "dataset_version": meta.version,
    });
    match ctx.block_on(ctx.store.complete_calibration(&ctx.job, detector_id, &version, &result)) {
        Ok(Some(v)) => {
            tracing::info!(job = ctx.job.id, detector = detector_id, version = v, "detector calibrated");
            Handled::Recorded
        }
        Ok(None) => Handled::Interrupted,
        Err(e) => retry(e),
    }
}
