//! Sampling from a trained model: small batches straight from the API, large ones as a
//! `sample` job whose rows become a new dataset with its lineage recorded.
//!
//! Payload: `{"model_id", "n", "conditions": {"column": "value"}, "seed", "temperature", "dataset_name"}`.

use super::context::StopWhy;
use super::output::{self, fail, retry};
use super::{Handled, JobContext};
use crate::ingest;
use crate::ml::FittedVae;
use crate::store::JobOutcome;
use polars::prelude::DataFrame;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// What to sample.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SampleRequest {
    pub model_id: i64,
    pub n: usize,
    #[serde(default)]
    pub conditions: BTreeMap<String, String>,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "one")]
    pub temperature: f64,
    /// Name of the dataset a job writes.
    #[serde(default)]
    pub dataset_name: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// Rows per block: progress and cancel checks happen between blocks.
const BLOCK: usize = 50_000;

/// Draws `req.n` rows, block by block (the same seed gives the same rows whatever the block
/// size and thread count); `between` runs after each block with the rows so far and may stop.
pub fn draw(
    model: &FittedVae,
    req: &SampleRequest,
    mut between: impl FnMut(usize) -> bool,
) -> Result<Option<DataFrame>, String> {
    let conds: Vec<(&str, &str)> = req.conditions.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(req.seed);
    let mut frames = vec![];
    let mut done = 0;
    while done < req.n {
        let k = BLOCK.min(req.n - done);
        let t = model.sample(k, req.temperature, &conds, &mut rng).map_err(|e| e.to_string())?;
        frames.push(crate::bridge::from_ml_table(&t).map_err(|e| format!("{e:#}"))?);
        done += k;
        if !between(done) {
            return Ok(None);
        }
    }
    ingest::concat(frames).map(Some).map_err(|e| format!("{e:#}"))
}

pub fn run(ctx: &JobContext) -> Handled {
    let mut req: SampleRequest = match serde_json::from_value(ctx.job.payload.0.clone()) {
        Ok(r) => r,
        Err(e) => return fail(format!("job {} payload: {e}", ctx.job.id)),
    };
    // a scheduled step samples the newest model retrained from the one it names
    if let Ok(Some(root)) = ctx.field::<Option<i64>>("latest_of") {
        match ctx.block_on(ctx.store.latest_trained_of(root)) {
            Ok(Some(id)) => req.model_id = id,
            Ok(None) => return fail(format!("neither model {root} nor any model retrained from it is trained")),
            Err(e) => return retry(e),
        }
    }
    let name = req.dataset_name.clone().unwrap_or_else(|| format!("model-{}-samples-job-{}", req.model_id, ctx.job.id));
    // a re-run after a crash finds the dataset its first run made
    match output::earlier_output(ctx, &name) {
        Ok(Some(id)) => return Handled::Finish(JobOutcome::Succeeded(json!({ "dataset_id": id, "rows": req.n }))),
        Ok(None) => {}
        Err(h) => return h,
    }
    let (model, fitted) = match output::trained_model(ctx, req.model_id) {
        Ok(m) => m,
        Err(h) => return h,
    };
    let mut stop = None;
    let drawn = draw(&fitted, &req, |done| {
        ctx.progress(0.9 * done as f64 / req.n as f64, &format!("{done} of {} rows", req.n), false);
        stop = ctx.should_stop();
        stop.is_none()
    });
    let df = match (drawn, stop) {
        (_, Some(StopWhy::Interrupt)) => return Handled::Interrupted,
        (_, Some(StopWhy::Cancel)) => return Handled::Finish(JobOutcome::Cancelled(json!({ "kept": "nothing" }))),
        (Ok(Some(df)), None) => df,
        (Ok(None), None) => return Handled::Interrupted,
        (Err(e), _) => return fail(format!("sampling failed: {e}")),
    };
    ctx.progress(0.9, "storing the rows as a dataset", true);
    let lineage = json!({
        "kind": "sample",
        "job_id": ctx.job.id,
        "model_id": model.id,
        "model_file_sha256": model.file_sha256,
        "model_dataset_id": model.dataset_id,
        "model_dataset_version": model.dataset_version,
        "model_dataset_sha256": model.dataset_sha256,
        "n": req.n,
        "seed": req.seed,
        "temperature": req.temperature,
        "conditions": req.conditions,
        "code_version": super::train::code_version(),
    });
    let v = match output::rows_version(df, "sample", lineage) {
        Ok(v) => v,
        Err(h) => return h,
    };
    match ctx.block_on(ctx.store.create_dataset(&name, v)) {
        Ok(Some((d, _))) => Handled::Finish(JobOutcome::Succeeded(json!({ "dataset_id": d.id, "rows": req.n }))),
        Ok(None) => fail(format!("a dataset named '{name}' was created meanwhile; choose another dataset_name")),
        Err(e) => retry(e),
    }
}
