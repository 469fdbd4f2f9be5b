//! `genfab train` and `genfab sample`: the VAE engine on files, without a database.

use crate::bridge;
use crate::catalog::sha256_hex;
use crate::config::Limits;
use crate::ingest::{self, CsvOptions, Format};
use crate::ml::{self, Control, EpochMetrics, Observer, VaeParams};
use anyhow::Context;
use rand::SeedableRng;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

/// Reads a CSV/Parquet/JSON file into a typed frame with its inferred schema.
pub fn read_file(
    path: &Path,
    header: Option<bool>,
) -> anyhow::Result<(polars::prelude::DataFrame, crate::domain::Schema, String)> {
    read_file_with(path, header, None)
}

/// As `read_file`, with a schema override (kinds, roles, bounds, levels).
pub fn read_file_with(
    path: &Path,
    header: Option<bool>,
    overrides: Option<&crate::domain::SchemaOverride>,
) -> anyhow::Result<(polars::prelude::DataFrame, crate::domain::Schema, String)> {
    let name = path.display().to_string();
    let format = match Format::from_file_name(&name) {
        Some(Format::Csv(_)) | None => Format::Csv(CsvOptions { separator: None, header }),
        Some(f) => f,
    };
    let bytes = std::fs::read(path).with_context(|| format!("could not read {name}"))?;
    let sha = sha256_hex(&bytes);
    let raw = ingest::read_table(&bytes, &format, &Limits::default()).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let (df, schema) = ingest::infer_and_type(raw, overrides).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok((df, schema, sha))
}

/// Columns a file holds as integers before inference (0/1 flags become booleans inside genfab).
fn integer_columns(path: &Path) -> anyhow::Result<Vec<String>> {
    let name = path.display().to_string();
    let format = match Format::from_file_name(&name) {
        Some(Format::Csv(_)) | None => Format::Csv(CsvOptions { separator: None, header: None }),
        Some(f) => f,
    };
    let bytes = std::fs::read(path).with_context(|| format!("could not read {name}"))?;
    let raw = ingest::read_table(&bytes, &format, &Limits::default()).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(raw.columns().iter().filter(|c| c.dtype().is_integer()).map(|c| c.name().to_string()).collect())
}

/// Reads a file whose `label` is a class column: one written as numbers (SECOM's -1/1) is read
/// as categorical, a set of classes rather than a quantity.
fn read_labelled(
    path: &Path,
    label: Option<&str>,
) -> anyhow::Result<(polars::prelude::DataFrame, crate::domain::Schema, String)> {
    let read = read_file(path, None)?;
    let Some(label) = label else { return Ok(read) };
    if !read.1.columns.iter().any(|c| c.name == label && c.kind == crate::domain::ColumnKind::Integer) {
        return Ok(read);
    }
    let mut o = crate::domain::SchemaOverride::default();
    o.columns.insert(
        label.to_string(),
        crate::domain::schema::ColumnOverride {
            kind: Some(crate::domain::ColumnKind::Categorical),
            ..Default::default()
        },
    );
    read_file_with(path, None, Some(&o))
}

/// Writes a frame as CSV or Parquet, by the file's extension.
pub fn write_file(path: &Path, df: &mut polars::prelude::DataFrame) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let bytes = match Format::from_file_name(&name) {
        Some(Format::Parquet) => ingest::to_parquet(df)?,
        Some(Format::Json) => ingest::to_json(df)?,
        Some(Format::Csv(_)) => ingest::to_csv(df)?,
        None => anyhow::bail!("{name}: give the output file a .csv, .parquet or .json extension"),
    };
    std::fs::write(path, bytes).with_context(|| format!("could not write {name}"))
}

/// Prints epochs: a progress bar on a terminal, one plain line each otherwise.
pub struct ProgressObserver {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl ProgressObserver {
    pub fn new(epochs: usize, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(epochs as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg} [{elapsed_precise}]")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        ProgressObserver { bar, quiet }
    }
}

impl Observer for ProgressObserver {
    fn on_epoch(&mut self, m: &EpochMetrics) -> Control {
        let val = m.val_loss.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
        let msg = format!("train {:.4} val {val} kl {:.3} ({:.0} rows/s)", m.train_loss, m.train_kl, m.rows_per_s);
        match &self.bar {
            Some(b) => {
                b.set_position(m.epoch as u64);
                b.set_message(msg);
            }
            None if !self.quiet => eprintln!("epoch {} {msg}", m.epoch),
            None => {}
        }
        Control::Continue
    }
}

/// The JSON summary `train --json` prints.
#[derive(Debug, Serialize)]
pub struct TrainReport {
    pub rows: usize,
    pub columns: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub seconds: f64,
    pub rows_per_s: f64,
    pub final_train_loss: f64,
    pub final_val_loss: Option<f64>,
    pub model: String,
}

/// Trains a VAE on a file and writes the model file.
pub fn train(
    data: &Path,
    header: Option<bool>,
    params: VaeParams,
    out: &Path,
    quiet: bool,
) -> anyhow::Result<TrainReport> {
    let start = Instant::now();
    let (df, schema, sha) = read_file(data, header)?;
    let table = bridge::to_ml_table(&df, &schema).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let checked = params.check(&table).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut observer = ProgressObserver::new(checked.params().epochs, quiet);
    let model = ml::fit(&checked, &table, &mut observer).map_err(|e| anyhow::anyhow!("training failed: {e}"))?;
    if let Some(b) = &observer.bar {
        b.finish();
    }
    let model = model.with_dataset_sha256(sha);
    let bytes = model.to_bytes().map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(out, bytes).with_context(|| format!("could not write {}", out.display()))?;
    let s = model.summary();
    Ok(TrainReport {
        rows: table.n_rows(),
        columns: table.n_columns(),
        epochs_run: s.epochs_run,
        best_epoch: s.best_epoch,
        seconds: start.elapsed().as_secs_f64(),
        rows_per_s: s.rows_per_s,
        final_train_loss: s.final_train_loss,
        final_val_loss: s.final_val_loss,
        model: out.display().to_string(),
    })
}

/// Parses `COL=VALUE` conditions.
pub fn parse_conditions(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|c| {
            c.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| anyhow::anyhow!("--condition '{c}' must look like COLUMN=VALUE"))
        })
        .collect()
}

/// Samples `n` rows from a model file and writes them.
pub fn sample(
    model: &Path,
    n: usize,
    conditions: &[(String, String)],
    seed: u64,
    temperature: f64,
    threads: usize,
    out: &Path,
) -> anyhow::Result<usize> {
    anyhow::ensure!(n > 0, "--n must be at least 1");
    anyhow::ensure!(temperature.is_finite() && temperature >= 0.0, "--temperature must be a finite number >= 0");
    let bytes = std::fs::read(model).with_context(|| format!("could not read {}", model.display()))?;
    let model = ml::FittedVae::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", model.display()))?;
    let conds: Vec<(&str, &str)> = conditions.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let table = pool.install(|| model.sample(n, temperature, &conds, &mut rng)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut df = bridge::from_ml_table(&table)?;
    write_file(out, &mut df)?;
    Ok(df.height())
}

/// Knobs of `genfab synth` over the default spec.
#[derive(Clone, Copy, Debug)]
pub struct SynthTuning {
    pub epochs: usize,
    pub threads: usize,
    pub max_modes: Option<usize>,
    pub patience: Option<usize>,
    pub batch_size: Option<usize>,
}

/// What `genfab synth` did.
#[derive(Debug, Serialize)]
pub struct SynthSummary {
    pub rows_real: usize,
    pub rows_synthetic: usize,
    pub plan: std::collections::BTreeMap<String, usize>,
    pub epochs_run: usize,
    pub fit_s: f64,
    pub sample_s: f64,
    pub report_s: f64,
    pub quality: f64,
    pub detection: f64,
    pub privacy_check: &'static str,
    pub out: String,
}

/// Synthetic rows per class from a file, offline: trains the default conditional VAE (or the
/// given parameters), generates the plan, writes the rows and the quality and privacy report.
#[allow(clippy::too_many_arguments)]
pub fn synth(
    data: &Path,
    label: &str,
    balance: crate::synth::Balance,
    tune: SynthTuning,
    seed: u64,
    out: &Path,
    report_out: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<SynthSummary> {
    let (df, schema, sha) = read_labelled(data, Some(label))?;
    let table = bridge::to_ml_table(&df, &schema).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let classes = crate::synth::class_counts(&table, label).map_err(anyhow::Error::msg)?;
    let plan = crate::synth::plan(&classes, &balance, Limits::default().max_rows).map_err(anyhow::Error::msg)?;
    let mut params = crate::synth::default_spec(table.n_rows(), label, seed, tune.threads).epochs(tune.epochs);
    if let Some(k) = tune.max_modes {
        params = params.continuous(if k <= 1 {
            ml::ContinuousEncoding::Standard
        } else {
            ml::ContinuousEncoding::Modes { max_modes: k }
        });
    }
    if let Some(b) = tune.batch_size {
        params = params.batch_size(b);
    }
    if let Some(p) = tune.patience {
        params = params.patience((p > 0).then_some(p));
    }
    let checked = params.check(&table).map_err(|e| anyhow::anyhow!("{e}"))?;
    let t0 = Instant::now();
    let mut observer = ProgressObserver::new(checked.params().epochs, quiet);
    let model = ml::fit(&checked, &table, &mut observer).map_err(|e| anyhow::anyhow!("training failed: {e}"))?;
    if let Some(b) = &observer.bar {
        b.finish();
    }
    let fit_s = t0.elapsed().as_secs_f64();
    let model = model.with_dataset_sha256(sha);
    let t1 = Instant::now();
    let synthetic = crate::synth::generate(&model, label, &plan, seed, 1.0, |_| true)
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| anyhow::anyhow!("generation stopped"))?;
    let sample_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let report = crate::synth::report(
        &table,
        &synthetic,
        Some(model.params()),
        &crate::synth::PrivacyGate::default(),
        Some(label),
        seed,
    )
    .map_err(anyhow::Error::msg)?;
    let report_s = t2.elapsed().as_secs_f64();
    let mut frame = bridge::from_ml_table(&synthetic)?;
    // booleans go out the way they came in: 0/1 stays 0/1
    for name in integer_columns(data)? {
        let is_bool = frame.column(&name).map(|c| c.dtype() == &polars::prelude::DataType::Boolean).unwrap_or(false);
        if is_bool {
            let c = frame.column(&name)?.cast(&polars::prelude::DataType::Int32)?;
            frame.with_column(c)?;
        }
    }
    write_file(out, &mut frame)?;
    if let Some(p) = report_out {
        let mut v = serde_json::to_value(&report)?;
        v["plan"] = serde_json::json!(plan);
        std::fs::write(p, serde_json::to_vec_pretty(&v)?)
            .with_context(|| format!("could not write {}", p.display()))?;
    }
    Ok(SynthSummary {
        rows_real: table.n_rows(),
        rows_synthetic: synthetic.n_rows(),
        plan,
        epochs_run: model.summary().epochs_run,
        fit_s,
        sample_s,
        report_s,
        quality: report.quality,
        detection: report.detection,
        privacy_check: if report.privacy.passed { "passed" } else { "failed" },
        out: out.display().to_string(),
    })
}

/// `genfab report`: genfab's quality, detection, privacy and usefulness measures of a synthetic
/// file against a real one (the same definitions as SDMetrics for quality and detection). The
/// real file's schema types both; `label` as in `genfab synth`; the holdout is a seeded 10 % of
/// the real rows, so privacy and usefulness are indicative when the generator saw all of them.
pub fn judge(real: &Path, synthetic: &Path, label: Option<&str>, seed: u64) -> anyhow::Result<serde_json::Value> {
    let (df, schema, _) = read_labelled(real, label)?;
    let real_table = bridge::to_ml_table(&df, &schema).map_err(|e| anyhow::anyhow!("{}: {e}", real.display()))?;
    // the synthetic file needs the real file's modelled columns; anything else is ignored
    let modelled: Vec<crate::domain::ColumnSchema> =
        schema.columns.iter().filter(|c| bridge::modelled(c.kind, c.role)).cloned().collect();
    let sub = crate::domain::Schema { columns: modelled };
    let name = synthetic.display().to_string();
    let format =
        Format::from_file_name(&name).unwrap_or(Format::Csv(CsvOptions { separator: None, header: Some(true) }));
    let bytes = std::fs::read(synthetic).with_context(|| format!("could not read {name}"))?;
    let raw = ingest::read_table(&bytes, &format, &Limits::default()).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let names: Vec<&str> = sub.names();
    let missing: Vec<&&str> = names.iter().filter(|n| raw.column(n).is_err()).collect();
    anyhow::ensure!(missing.is_empty(), "{name} lacks the real file's columns {missing:?}");
    let raw = raw.select(names.iter().copied())?;
    let typed = ingest::conform(raw, &sub).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let mut synth_table = bridge::to_ml_table(&typed, &sub).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    // a generator that never produced a level (TVAE and SECOM's rare class) still compares:
    // codes are mapped onto the real table's levels by name
    for (s, r) in synth_table.columns.iter_mut().zip(&real_table.columns) {
        if let (
            ml::ColumnData::Categorical { codes, levels },
            ml::ColumnData::Categorical { levels: real_levels, .. },
        ) = (&mut s.data, &r.data)
        {
            let map: Vec<Option<u32>> =
                levels.iter().map(|l| real_levels.iter().position(|m| m == l).map(|k| k as u32)).collect();
            if let Some(i) = map.iter().position(|m| m.is_none()) {
                anyhow::bail!("{name}: column '{}' has level '{}', which the real table does not", s.name, levels[i]);
            }
            for c in codes.iter_mut().flatten() {
                *c = map[*c as usize].unwrap_or(0);
            }
            *levels = real_levels.clone();
        }
    }
    let r = crate::synth::report(&real_table, &synth_table, None, &crate::synth::PrivacyGate::default(), label, seed)
        .map_err(anyhow::Error::msg)?;
    Ok(serde_json::json!({
        "quality": r.quality,
        "column_shapes": r.column_shapes.score,
        "pair_trends": r.column_pair_trends.score,
        "detection": r.detection,
        "dcr_median_syn": r.privacy.measures.dcr_median_syn,
        "dcr_median_holdout": r.privacy.measures.dcr_median_holdout,
        "exact_copies": r.privacy.measures.exact_copies,
        "f1_train_real": r.usefulness.as_ref().map(|u| u.train_real.macro_f1),
        "f1_train_synth": r.usefulness.as_ref().map(|u| u.train_synthetic.macro_f1),
        "usefulness_error": r.usefulness_error,
    }))
}

/// What `genfab optimize` prints.
#[derive(Debug, Serialize)]
pub struct OptimizeReport {
    pub solver: String,
    pub evaluations: usize,
    pub feasible: usize,
    pub seconds: f64,
    /// The surrogates' cross-validated fit: name, R², RMSE.
    pub surrogates: Vec<serde_json::Value>,
    pub best: Option<serde_json::Value>,
    pub pareto_size: usize,
    pub out: Option<String>,
}

/// A study on files, without a database: the spec (JSON, as `spec` in `POST /api/v1/studies`),
/// an optional data file for bounds, surrogates and novelty, an optional model file for a latent
/// study; writes every candidate to `out` (CSV or Parquet) when given.
#[allow(clippy::too_many_arguments)]
pub fn optimize(
    spec_path: &Path,
    data: Option<&Path>,
    header: Option<bool>,
    model: Option<&Path>,
    solver: &str,
    budget: usize,
    seed: u64,
    out: Option<&Path>,
) -> anyhow::Result<OptimizeReport> {
    use crate::optimize::solvers::{self, RunConfig, SolverKind};
    use crate::optimize::study::{LatentDecoder, Study, StudyData, StudySpec};
    let kind = SolverKind::parse(solver).with_context(|| {
        let names: Vec<&str> = SolverKind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown solver '{solver}'; one of {}", names.join(", "))
    })?;
    let raw = std::fs::read(spec_path).with_context(|| format!("could not read {}", spec_path.display()))?;
    let spec: StudySpec = serde_json::from_slice(&raw)
        .map_err(|e| anyhow::anyhow!("{}: line {} column {}: {e}", spec_path.display(), e.line(), e.column()))?;
    let data = match data {
        Some(p) => {
            let (df, schema, _) = read_file(p, header)?;
            let t = bridge::to_ml_table(&df, &schema).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Some(StudyData::from_table(&t))
        }
        None => None,
    };
    let decoder = match model {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("could not read {}", p.display()))?;
            let vae = ml::FittedVae::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Some(LatentDecoder::new(vae)?)
        }
        None => None,
    };
    let start = Instant::now();
    let spec = spec.resolve(data.as_ref())?;
    let surrogates = spec.fit_surrogates(data.as_ref().unwrap_or(&StudyData::default()))?;
    let fits = surrogates
        .iter()
        .zip(&spec.surrogates)
        .map(|(s, d)| serde_json::json!({ "name": d.name, "target": d.target, "r2": s.cv.r2, "rmse": s.cv.rmse }))
        .collect();
    let study = Study::new(&spec, surrogates, data.as_ref(), decoder)?;
    let outcome = solvers::run(kind, &study, &RunConfig { budget, seed }, &mut ())?;
    let cands = &outcome.candidates;
    let feasible = cands.iter().filter(|c| c.eval.is_feasible()).count();
    let points: Vec<&[f64]> =
        cands.iter().filter(|c| c.eval.is_feasible()).map(|c| c.eval.objectives.as_slice()).collect();
    let pareto_size = crate::optimize::pareto_front(&points).len();
    let best = outcome.best.map(|i| {
        let c = &cands[i];
        serde_json::to_value(study.detail(&c.x, &c.eval)).unwrap_or_default()
    });
    if let Some(out) = out {
        let rows: Vec<Vec<(String, serde_json::Value)>> = cands
            .iter()
            .map(|c| {
                let d = study.detail(&c.x, &c.eval);
                let mut row = vec![("iteration".to_owned(), serde_json::Value::from(c.iteration))];
                for n in study.design_names() {
                    row.push((n.clone(), d.design.get(n).cloned().unwrap_or_default()));
                }
                for n in study.objective_names() {
                    row.push((format!("objective_{n}"), d.objectives.get(n).cloned().unwrap_or_default()));
                }
                for n in study.constraint_names() {
                    row.push((format!("constraint_{n}"), d.constraints.get(n).cloned().unwrap_or_default()));
                }
                row.push(("violation".into(), serde_json::json!(c.eval.violation)));
                row.push(("feasible".into(), c.eval.is_feasible().into()));
                row.push(("novelty".into(), serde_json::json!(d.novelty)));
                row
            })
            .collect();
        let mut df = frame_of_rows(&rows)?;
        write_file(out, &mut df)?;
    }
    Ok(OptimizeReport {
        solver: kind.name().into(),
        evaluations: cands.len(),
        feasible,
        seconds: start.elapsed().as_secs_f64(),
        surrogates: fits,
        best,
        pareto_size,
        out: out.map(|p| p.display().to_string()),
    })
}

/// Rows of named JSON values (numbers, strings, booleans, nulls), all with the same names in the
/// same order, as a frame.
fn frame_of_rows(rows: &[Vec<(String, serde_json::Value)>]) -> anyhow::Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let names: Vec<String> = rows.first().map(|r| r.iter().map(|c| c.0.clone()).collect()).unwrap_or_default();
    let mut cols = Vec::with_capacity(names.len());
    for (j, n) in names.iter().enumerate() {
        let vals: Vec<&serde_json::Value> = rows.iter().map(|r| &r[j].1).collect();
        let col = if vals.iter().any(|v| v.is_string()) {
            Column::new(n.into(), vals.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Vec<_>>())
        } else if vals.iter().all(|v| v.is_boolean() || v.is_null()) && vals.iter().any(|v| v.is_boolean()) {
            Column::new(n.into(), vals.iter().map(|v| v.as_bool()).collect::<Vec<_>>())
        } else {
            Column::new(n.into(), vals.iter().map(|v| v.as_f64()).collect::<Vec<_>>())
        };
        cols.push(col);
    }
    Ok(DataFrame::new(rows.len(), cols)?)
}
