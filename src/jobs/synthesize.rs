//! `synthesize`: synthetic rows per class from a conditional model, with a quality and privacy
//! report stored in the same transaction as the new dataset; a failed privacy check marks it.
//!
//! Payload: see `SynthRequest`. Queued by `POST /api/v1/synthetic`, after the training job of
//! the model it made (or straight away with an existing `model_id`).

use super::context::StopWhy;
use super::output::{self, fail, retry};
use super::{Handled, JobContext};
use crate::config::Limits;
use crate::store::JobOutcome;
use crate::synth::{self, Balance, PrivacyGate};
use crate::{bridge, catalog};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What to generate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SynthRequest {
    pub dataset_id: i64,
    pub version: i32,
    pub label: String,
    pub balance: Balance,
    pub model_id: i64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "one")]
    pub temperature: f64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub privacy: PrivacyGate,
}

fn one() -> f64 {
    1.0
}

pub fn run(ctx: &JobContext) -> Handled {
    let req: SynthRequest = match serde_json::from_value(ctx.job.payload.0.clone()) {
        Ok(r) => r,
        Err(e) => return fail(format!("job {} payload: {e}", ctx.job.id)),
    };
    let name = req.name.clone().unwrap_or_else(|| format!("synthetic-{}-job-{}", req.dataset_id, ctx.job.id));
    // a re-run after a crash finds the dataset its first run made
    match output::earlier_output(ctx, &name) {
        Ok(Some(id)) => return Handled::Finish(JobOutcome::Succeeded(json!({ "dataset_id": id }))),
        Ok(None) => {}
        Err(h) => return h,
    }
    let (model, fitted) = match output::trained_model(ctx, req.model_id) {
        Ok(m) => m,
        Err(h) => return h,
    };
    ctx.progress(0.0, "reading the dataset", true);
    let (meta, df) = match ctx.block_on(catalog::read_version(&ctx.store, req.dataset_id, Some(req.version))) {
        Ok(r) => r,
        Err(catalog::CatalogError::Unexpected(e)) => return retry(e),
        Err(e) => return fail(format!("dataset {} version {}: {e}", req.dataset_id, req.version)),
    };
    let real = match bridge::to_ml_table(&df, &meta.schema.0) {
        Ok(t) => t,
        Err(e) => return fail(format!("dataset {} cannot be modelled: {e}", req.dataset_id)),
    };
    let classes = match synth::class_counts(&real, &req.label) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let plan = match synth::plan(&classes, &req.balance, Limits::default().max_rows) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let total: usize = plan.values().sum();
    let mut stop = None;
    let generated = synth::generate(&fitted, &req.label, &plan, req.seed, req.temperature, |done| {
        ctx.progress(0.6 * done as f64 / total as f64, &format!("{done} of {total} rows"), false);
        stop = ctx.should_stop();
        stop.is_none()
    });
    let synthetic = match (generated, stop) {
        (_, Some(StopWhy::Interrupt)) => return Handled::Interrupted,
        (_, Some(StopWhy::Cancel)) => return Handled::Finish(JobOutcome::Cancelled(json!({ "kept": "nothing" }))),
        (Ok(Some(t)), None) => t,
        (Ok(None), None) => return Handled::Interrupted,
        (Err(e), _) => return fail(format!("generation failed: {e}")),
    };
    ctx.progress(0.6, "measuring quality and privacy", true);
    // rows the model never trained on (its validation split) are the privacy holdout, when the
    // model was trained on this very version
    let same_data = model.dataset_id == req.dataset_id && model.dataset_version == req.version;
    let report = match synth::report(
        &real,
        &synthetic,
        same_data.then(|| fitted.params()),
        &req.privacy,
        Some(&req.label),
        req.seed,
    ) {
        Ok(r) => r,
        Err(e) => return fail(format!("the quality report failed: {e}")),
    };
    let mut report_json = serde_json::to_value(&report).unwrap_or_default();
    report_json["plan"] = json!(plan);
    report_json["real_class_counts"] = json!(classes);
    ctx.progress(0.9, "storing the rows", true);
    let frame = match bridge::from_ml_table(&synthetic) {
        Ok(d) => d,
        Err(e) => return fail(format!("{e:#}")),
    };
    let lineage = json!({
        "kind": "synthetic",
        "job_id": ctx.job.id,
        "source_dataset_id": req.dataset_id,
        "source_version": req.version,
        "source_sha256": meta.sha256,
        "model_id": model.id,
        "model_file_sha256": model.file_sha256,
        "seed": req.seed,
        "temperature": req.temperature,
        "label": req.label,
        "counts": plan,
        "code_version": super::train::code_version(),
    });
    let v = match output::rows_version(frame, "synthetic", lineage) {
        Ok(v) => v,
        Err(h) => return h,
    };
    let check = if report.privacy.passed { "passed" } else { "failed" };
    match ctx.block_on(ctx.store.create_dataset_with_report(&name, v, Some((&report_json, check)))) {
        Ok(Some((d, _))) => Handled::Finish(JobOutcome::Succeeded(json!({
            "dataset_id": d.id, "rows": total, "privacy_check": check, "quality": report.quality,
            "report": format!("/api/v1/datasets/{}/report?version=1", d.id),
        }))),
        Ok(None) => fail(format!("a dataset named '{name}' was created meanwhile; choose another name")),
        Err(e) => retry(e),
    }
}
