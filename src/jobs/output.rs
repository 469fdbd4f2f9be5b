//! What the jobs that make datasets share: finding the output of an earlier run of the same
//! job (after a crash), loading a trained model, and packing generated rows as a new version.

use super::{Handled, JobContext};
use crate::catalog;
use crate::config::Limits;
use crate::ingest::{self, CsvOptions, Format};
use crate::ml::FittedVae;
use crate::store::{JobOutcome, ModelRow, NewVersion};

pub fn fail(e: impl Into<String>) -> Handled {
    Handled::Finish(JobOutcome::Failed { error: e.into(), retry: false })
}

pub fn retry(e: impl std::fmt::Display) -> Handled {
    Handled::Finish(JobOutcome::Failed { error: format!("{e:#}"), retry: true })
}

/// The dataset an earlier run of this job made under `name` (a re-run after a crash finds it);
/// a dataset of that name made by anything else is an error.
pub fn earlier_output(ctx: &JobContext, name: &str) -> Result<Option<i64>, Handled> {
    let Some(id) = ctx.block_on(ctx.store.dataset_id_by_name(name)).map_err(retry)? else {
        return Ok(None);
    };
    let v = ctx.block_on(ctx.store.get_version(id, Some(1))).map_err(retry)?;
    let mine =
        v.and_then(|v| v.lineage).is_some_and(|l| l.0.get("job_id").and_then(|j| j.as_i64()) == Some(ctx.job.id));
    if mine {
        Ok(Some(id))
    } else {
        Err(fail(format!("a dataset named '{name}' exists already; choose another name")))
    }
}

/// A trained model's row and its engine.
pub fn trained_model(ctx: &JobContext, id: i64) -> Result<(ModelRow, FittedVae), Handled> {
    let model = ctx
        .block_on(ctx.store.get_model(id))
        .map_err(retry)?
        .ok_or_else(|| fail(format!("model {id} does not exist")))?;
    let bytes = ctx
        .block_on(ctx.store.model_file(id))
        .map_err(retry)?
        .ok_or_else(|| fail(format!("model {id} has no file (its training is {})", model.job_status)))?;
    let fitted = FittedVae::from_bytes(&bytes).map_err(|e| fail(format!("model {id}'s file: {e}")))?;
    Ok((model, fitted))
}

/// Generated rows as the first version of a new dataset (typed by inference, like an upload).
pub fn rows_version(
    mut df: polars::prelude::DataFrame,
    source: &str,
    lineage: serde_json::Value,
) -> Result<NewVersion, Handled> {
    let csv = ingest::to_csv(&mut df).map_err(|e| fail(format!("{e:#}")))?;
    let limits = Limits { max_rows: usize::MAX, ..Limits::default() };
    let fmt = Format::Csv(CsvOptions { separator: Some(b','), header: Some(true) });
    let mut v = catalog::prepare_upload(&csv, &fmt, None, &limits)
        .map_err(|e| fail(format!("the generated rows could not be stored: {e}")))?;
    v.source = source.into();
    v.lineage = Some(lineage);
    Ok(v)
}
