//! Design studies as a service, shared by the API and the `optimize` job: creating a study
//! (resolving bounds from its dataset, fitting its surrogates), loading it back as a searchable
//! [`Study`], turning evaluated points into stored candidates, and ask/tell.

use crate::catalog::{self, CatalogError};
use crate::ml::FittedVae;
use crate::optimize::problem::{Evaluation, Problem};
use crate::optimize::solvers::{self, SolverKind};
use crate::optimize::study::{Goal, LatentDecoder, Study, StudyData, StudyError, StudySpec};
use crate::optimize::surrogate::Surrogate;
use crate::store::{CandidateQuery, CandidateRow, Measurement, NewCandidate, NewStudy, Store, StudyRow, TellOutcome};
use anyhow::Context;

#[derive(Debug, thiserror::Error)]
pub enum StudiesError {
    #[error("{0}")]
    Invalid(#[from] StudyError),
    #[error("a study named '{0}' exists already; choose another name")]
    NameTaken(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn invalid(field: &str, message: impl Into<String>) -> StudiesError {
    StudiesError::Invalid(StudyError::new(field, message))
}

impl From<CatalogError> for StudiesError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::NotFound(_) | CatalogError::VersionNotFound(..) => invalid("dataset_id", e.to_string()),
            CatalogError::Unexpected(e) => StudiesError::Unexpected(e),
            other => StudiesError::Unexpected(anyhow::anyhow!("{other}")),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StudiesError> + Send + 'static,
) -> Result<T, StudiesError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| anyhow::anyhow!("study task failed: {e}"))?
}

/// A dataset version's rows as the study sees them; returns the version number too.
pub async fn study_data(store: &Store, id: i64, version: Option<i32>) -> Result<(i32, StudyData), StudiesError> {
    let (meta, df) = catalog::read_version(store, id, version).await?;
    let schema = meta.schema.0.clone();
    let data = blocking(move || {
        let t = crate::bridge::to_ml_table(&df, &schema).map_err(|e| invalid("dataset_id", e))?;
        Ok(StudyData::from_table(&t))
    })
    .await?;
    Ok((meta.version, data))
}

/// A trained model's decoder for a latent study.
async fn decoder(store: &Store, model_id: i64) -> Result<LatentDecoder, StudiesError> {
    let model = store
        .get_model(model_id)
        .await?
        .ok_or_else(|| invalid("spec.latent.model_id", format!("model {model_id} does not exist")))?;
    let bytes = store.model_file(model_id).await?.ok_or_else(|| {
        invalid(
            "spec.latent.model_id",
            format!("model {model_id} is not trained (its training is {})", model.job_status),
        )
    })?;
    let vae = FittedVae::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("model {model_id}'s file: {e}"))?;
    Ok(LatentDecoder::new(vae)?)
}

/// Checks a spec against its dataset (and model), fits its surrogates and stores the study.
pub async fn create(
    store: &Store,
    name: &str,
    dataset: Option<(i64, Option<i32>)>,
    spec: StudySpec,
) -> Result<i64, StudiesError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(invalid("name", "name must be 1 to 200 characters"));
    }
    let data = match dataset {
        Some((id, v)) => Some(study_data(store, id, v).await?),
        None => None,
    };
    let dec = match &spec.latent {
        Some(l) => Some(decoder(store, l.model_id).await?),
        None => None,
    };
    let model_id = spec.latent.as_ref().map(|l| l.model_id);
    let version = data.as_ref().map(|d| d.0);
    let (spec, surrogates) = blocking(move || {
        let data = data.map(|d| d.1);
        let spec = prefix(spec.resolve(data.as_ref()))?;
        let surrogates = prefix(spec.fit_surrogates(data.as_ref().unwrap_or(&StudyData::default())))?;
        // Building the problem binds every expression to the names it may use.
        prefix(Study::new(&spec, surrogates.clone(), data.as_ref(), dec).map(|_| ()))?;
        Ok((spec, surrogates))
    })
    .await?;
    let new = NewStudy {
        name: name.trim().to_owned(),
        dataset: dataset.zip(version).map(|((id, _), v)| (id, v)),
        model_id,
        spec: serde_json::to_value(&spec).context("study spec")?,
        surrogates: serde_json::to_value(&surrogates).context("surrogates")?,
    };
    store.create_study(&new).await?.ok_or_else(|| StudiesError::NameTaken(new.name.clone()))
}

/// Errors from the spec point into the request's `spec` object.
fn prefix<T>(r: Result<T, StudyError>) -> Result<T, StudiesError> {
    r.map_err(|e| StudiesError::Invalid(StudyError::new(format!("spec.{}", e.field), e.message)))
}

/// A stored study, ready to search.
pub async fn load(store: &Store, row: &StudyRow) -> Result<Study, StudiesError> {
    Ok(load_with_model(store, row).await?.0)
}

/// As [`load`], with the id of the model that decodes a latent study.
pub async fn load_with_model(store: &Store, row: &StudyRow) -> Result<(Study, Option<i64>), StudiesError> {
    let spec: StudySpec = serde_json::from_value(row.spec.0.clone()).context("stored study spec")?;
    let surrogates: Vec<Surrogate> = serde_json::from_value(row.surrogates.0.clone()).context("stored surrogates")?;
    let data = match (row.dataset_id, row.dataset_version) {
        (Some(id), Some(v)) => Some(study_data(store, id, Some(v)).await?.1),
        _ => None,
    };
    // A latent study decodes with the newest model retrained from its own (weighted retraining
    // between rounds, e.g. by a nightly schedule), so each run and ask uses what was learned.
    let model = match row.model_id {
        Some(m) => Some(store.latest_trained_of(m).await?.unwrap_or(m)),
        None => None,
    };
    let dec = match model {
        Some(m) => Some(decoder(store, m).await?),
        None => None,
    };
    let study = blocking(move || prefix(Study::new(&spec, surrogates, data.as_ref(), dec))).await?;
    Ok((study, model))
}

/// A stored candidate for an evaluated point.
pub fn new_candidate(study: &Study, iteration: usize, unit: &[f64], x: &[f64], eval: &Evaluation) -> NewCandidate {
    let d = study.detail(x, eval);
    let score = eval.objectives.first().copied();
    NewCandidate {
        iteration: iteration as i32,
        status: "evaluated",
        unit: unit.to_vec(),
        design: serde_json::Value::Object(d.design),
        latent: d.latent,
        objectives: Some(serde_json::Value::Object(d.objectives)),
        constraints: Some(serde_json::Value::Object(d.constraints)),
        predictions: Some(serde_json::Value::Object(d.predictions)),
        score,
        violation: Some(eval.violation),
        feasible: Some(eval.is_feasible()),
        novelty: d.novelty,
    }
}

/// Objective values in minimisation form, from values by objective name.
fn minimised(study: &Study, values: &serde_json::Value) -> Option<Vec<f64>> {
    study
        .objective_names()
        .iter()
        .zip(study.goals())
        .map(|(n, g)| values.get(n).and_then(|v| v.as_f64()).map(|v| if g == Goal::Maximize { -v } else { v }))
        .collect()
}

/// Ask/tell history: measured candidates with their results; pending asks get the worst
/// measured values ("constant liar"), so a new ask does not propose the same designs again.
fn history(study: &Study, rows: &[CandidateRow]) -> Vec<(Vec<f64>, Evaluation)> {
    let measured: Vec<(Vec<f64>, Evaluation)> = rows
        .iter()
        .filter(|r| r.status == "measured")
        .filter_map(|r| {
            let obj = minimised(study, &r.objectives.as_ref()?.0)?;
            let violation = if r.feasible == Some(false) { 1.0 } else { 0.0 };
            Some((r.unit.0.clone(), Evaluation { objectives: obj, constraints: vec![], violation }))
        })
        .collect();
    let worst: Vec<f64> = (0..study.objective_names().len())
        .map(|k| measured.iter().map(|m| m.1.objectives[k]).fold(f64::NEG_INFINITY, f64::max))
        .collect();
    let mut h = measured;
    if worst.iter().all(|w| w.is_finite()) {
        for r in rows.iter().filter(|r| r.status == "asked") {
            h.push((r.unit.0.clone(), Evaluation::unconstrained(worst.clone())));
        }
    }
    h
}

/// The solver ask uses: Latin hypercube until enough measurements for a Gaussian process.
fn ask_solver(study: &Study, n_measured: usize) -> SolverKind {
    if n_measured > study.space().len().max(2) {
        SolverKind::Bayesian
    } else {
        SolverKind::LatinHypercube
    }
}

/// Every candidate of one run, in order.
async fn run_candidates(store: &Store, study_id: i64, run_id: i64) -> Result<Vec<CandidateRow>, StudiesError> {
    let q = CandidateQuery { study_id, run_id: Some(run_id), limit: i64::MAX / 2, ..Default::default() };
    Ok(store.list_candidates(&q).await?)
}

/// Proposes `n` designs to build and stores them as asked candidates of the study's ask run.
pub async fn ask(store: &Store, row: &StudyRow, n: usize) -> Result<Vec<CandidateRow>, StudiesError> {
    let study = load(store, row).await?;
    let run_id = store.ask_run(row.id).await?;
    let rows = run_candidates(store, row.id, run_id).await?;
    let first = store.next_iteration(run_id).await?;
    let (solver, cands) = blocking(move || {
        let h = history(&study, &rows);
        let n_measured = rows.iter().filter(|r| r.status == "measured").count();
        let kind = ask_solver(&study, n_measured);
        let units = solvers::suggest(kind, study.space(), study.n_objectives(), &h, n, first as u64)
            .map_err(|e| invalid("n", e.to_string()))?;
        let cands = units
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let x = study.space().decode(u);
                let eval = study.evaluate(&x);
                let mut c = new_candidate(&study, first as usize + i, u, &x, &eval);
                // What genfab predicts stays with the candidate; the objectives are what is measured.
                let predicted = c.objectives.take();
                c.predictions = Some(serde_json::json!({ "objectives": predicted, "surrogates": c.predictions }));
                c.status = "asked";
                c.score = None;
                c.feasible = None;
                c
            })
            .collect::<Vec<_>>();
        Ok((kind, cands))
    })
    .await?;
    store.insert_candidates(row.id, run_id, solver.name(), &cands).await?;
    let all = run_candidates(store, row.id, run_id).await?;
    Ok(all.into_iter().filter(|c| c.iteration >= first).collect())
}

/// One told result: objective values by name for an asked candidate, and whether the part could
/// be made at all (a failed build counts as infeasible).
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Told {
    pub candidate_id: i64,
    #[schema(value_type = Object)]
    pub objectives: serde_json::Map<String, serde_json::Value>,
    #[serde(default = "yes")]
    pub feasible: bool,
}

fn yes() -> bool {
    true
}

/// Records measured results; each result's outcome in order.
pub async fn tell(store: &Store, row: &StudyRow, told: &[Told]) -> Result<Vec<TellOutcome>, StudiesError> {
    let spec: StudySpec = serde_json::from_value(row.spec.0.clone()).context("stored study spec")?;
    let mut ms = Vec::with_capacity(told.len());
    for (i, t) in told.iter().enumerate() {
        for name in t.objectives.keys() {
            if !spec.objectives.iter().any(|o| &o.name == name) {
                let known: Vec<&str> = spec.objectives.iter().map(|o| o.name.as_str()).collect();
                return Err(invalid(
                    &format!("results[{i}].objectives.{name}"),
                    format!("not an objective of this study (it has {})", known.join(", ")),
                ));
            }
        }
        let mut score = None;
        for (k, o) in spec.objectives.iter().enumerate() {
            let v = t
                .objectives
                .get(&o.name)
                .and_then(|v| v.as_f64())
                .filter(|v| v.is_finite())
                .ok_or_else(|| invalid(&format!("results[{i}].objectives.{}", o.name), "needs a finite number"))?;
            if k == 0 {
                score = Some(if o.goal == Goal::Maximize { -v } else { v });
            }
        }
        ms.push(Measurement {
            candidate_id: t.candidate_id,
            objectives: serde_json::Value::Object(t.objectives.clone()),
            score: score.unwrap_or_default(),
            feasible: t.feasible,
        });
    }
    Ok(store.tell(row.id, &ms).await?)
}
