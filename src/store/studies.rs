//! Design studies: the study with its fitted surrogates, runs (each with its job), and candidates
//! written in bulk as solvers evaluate them.

use super::jobs::{insert_job, succeed_job, ClaimedJob, NewJob};
use super::BeginWrite as _;
use super::{dispatch, is_unique_violation, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

/// A study to create.
#[derive(Clone, Debug)]
pub struct NewStudy {
    pub name: String,
    pub dataset: Option<(i64, i32)>,
    pub model_id: Option<i64>,
    pub spec: serde_json::Value,
    pub surrogates: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct StudyRow {
    pub id: i64,
    pub name: String,
    pub dataset_id: Option<i64>,
    pub dataset_version: Option<i32>,
    pub model_id: Option<i64>,
    pub spec: Json<serde_json::Value>,
    pub surrogates: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// A run with the state of its job (none for the ask/tell run).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub study_id: i64,
    pub job_id: Option<i64>,
    pub solver: String,
    pub budget: i32,
    pub seed: i64,
    pub evaluations: i32,
    pub summary: Option<Json<serde_json::Value>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub job_status: Option<String>,
    pub progress: Option<f64>,
    pub last_error: Option<String>,
}

const RUN_SELECT: &str = "SELECT r.id, r.study_id, r.job_id, r.solver, r.budget, r.seed, r.evaluations, r.summary, \
    r.created_at, r.finished_at, j.status AS job_status, j.progress, j.last_error FROM study_runs r LEFT JOIN jobs j ON j.id = r.job_id";

/// A candidate to store.
#[derive(Clone, Debug)]
pub struct NewCandidate {
    pub iteration: i32,
    pub status: &'static str,
    pub unit: Vec<f64>,
    pub design: serde_json::Value,
    pub latent: Option<Vec<f64>>,
    pub objectives: Option<serde_json::Value>,
    pub constraints: Option<serde_json::Value>,
    pub predictions: Option<serde_json::Value>,
    pub score: Option<f64>,
    pub violation: Option<f64>,
    pub feasible: Option<bool>,
    pub novelty: Option<f64>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct CandidateRow {
    pub id: i64,
    pub study_id: i64,
    pub run_id: i64,
    pub iteration: i32,
    pub solver: String,
    pub status: String,
    #[serde(skip)]
    pub unit: Json<Vec<f64>>,
    pub design: Json<serde_json::Value>,
    pub latent: Option<Json<serde_json::Value>>,
    pub objectives: Option<Json<serde_json::Value>>,
    pub constraints: Option<Json<serde_json::Value>>,
    pub predictions: Option<Json<serde_json::Value>>,
    /// The first objective in minimisation form.
    pub score: Option<f64>,
    pub violation: Option<f64>,
    pub feasible: Option<bool>,
    pub novelty: Option<f64>,
    pub pareto: bool,
    pub created_at: DateTime<Utc>,
    pub measured_at: Option<DateTime<Utc>>,
}

const CANDIDATE_COLUMNS: &str = "id, study_id, run_id, iteration, solver, status, unit, design, latent, objectives, \
    constraints, predictions, score, violation, feasible, novelty, pareto, created_at, measured_at";

/// Which candidates to list and in what order.
#[derive(Clone, Debug, Default)]
pub struct CandidateQuery {
    pub study_id: i64,
    pub run_id: Option<i64>,
    pub feasible: Option<bool>,
    pub pareto: Option<bool>,
    pub status: Option<String>,
    pub order: CandidateOrder,
    pub offset: i64,
    pub limit: i64,
    /// Only every `stride`-th iteration (an even sample of a large run for plots); 0 or 1: all.
    pub stride: i64,
}

/// Sort orders; `Objective` sorts by a named objective (ascending when minimised).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum CandidateOrder {
    #[default]
    Iteration,
    /// The first objective, best first.
    Score,
    Violation,
    /// Most novel first.
    Novelty,
    Objective {
        name: String,
        descending: bool,
    },
}

/// Rows per INSERT: 13 parameters each stays far below both backends' limits.
const BULK: usize = 1000;

/// The measured result of an asked candidate.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub candidate_id: i64,
    pub objectives: serde_json::Value,
    pub score: f64,
    pub feasible: bool,
}

/// What a tell did with one measurement.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TellOutcome {
    Recorded,
    /// The same values were told before (a retried request).
    AlreadyRecorded,
    /// Other values were told before: kept, not overwritten.
    Conflict,
    NotFound,
}

impl Store {
    /// Creates a study; `None` when the name is taken.
    pub async fn create_study(&self, s: &NewStudy) -> anyhow::Result<Option<i64>> {
        let q = "INSERT INTO studies (name, dataset_id, dataset_version, model_id, spec, surrogates, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        let now = Utc::now();
        let r: Result<i64, sqlx::Error> = dispatch!(self, p => sqlx::query_scalar(q).bind(&s.name)
            .bind(s.dataset.map(|d| d.0)).bind(s.dataset.map(|d| d.1)).bind(s.model_id)
            .bind(Json(&s.spec)).bind(Json(&s.surrogates)).bind(now).fetch_one(p).await);
        match r {
            Ok(id) => Ok(Some(id)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e).context("could not create the study"),
        }
    }

    pub async fn get_study(&self, id: i64) -> anyhow::Result<Option<StudyRow>> {
        let q = "SELECT id, name, dataset_id, dataset_version, model_id, spec, surrogates, created_at FROM studies WHERE id = $1";
        dispatch!(self, p => sqlx::query_as::<_, StudyRow>(q).bind(id).fetch_optional(p).await)
            .context("could not read the study")
    }

    /// Studies newest first, with ids below `before` (0: from the newest).
    pub async fn list_studies(&self, before: i64, limit: i64) -> anyhow::Result<Vec<StudyRow>> {
        let q = "SELECT id, name, dataset_id, dataset_version, model_id, spec, surrogates, created_at FROM studies \
                 WHERE ($1 = 0 OR id < $1) ORDER BY id DESC LIMIT $2";
        dispatch!(self, p => sqlx::query_as::<_, StudyRow>(q).bind(before).bind(limit).fetch_all(p).await)
            .context("could not list studies")
    }

    /// Creates a run and queues its job in one transaction; returns (run id, job id).
    pub async fn create_run(&self, study_id: i64, solver: &str, budget: i32, seed: i64) -> anyhow::Result<(i64, i64)> {
        let now = Utc::now();
        let job = NewJob::new("optimize", serde_json::json!({}));
        let r: Result<(i64, i64), sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let job_id = insert_job!(&mut *tx, job, now, None::<i64>, None::<i64>).await?;
            let run_id: i64 = sqlx::query_scalar("INSERT INTO study_runs (study_id, job_id, solver, budget, seed, created_at) \
                                                  VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(study_id).bind(job_id).bind(solver).bind(budget).bind(seed).bind(now).fetch_one(&mut *tx).await?;
            sqlx::query("UPDATE jobs SET payload = $1 WHERE id = $2")
                .bind(Json(serde_json::json!({ "run_id": run_id }))).bind(job_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok((run_id, job_id))
        }.await);
        r.context("could not create the run")
    }

    /// The study's ask/tell run, created on first use.
    pub async fn ask_run(&self, study_id: i64) -> anyhow::Result<i64> {
        let find = "SELECT id FROM study_runs WHERE study_id = $1 AND job_id IS NULL ORDER BY id LIMIT 1";
        for _ in 0..2 {
            let found: Option<i64> =
                dispatch!(self, p => sqlx::query_scalar(find).bind(study_id).fetch_optional(p).await)
                    .context("could not find the ask run")?;
            if let Some(id) = found {
                return Ok(id);
            }
            // Two concurrent first asks may both insert; the lower id wins and the other stays empty.
            let q = "INSERT INTO study_runs (study_id, job_id, solver, budget, seed, created_at) VALUES ($1, NULL, 'ask', 0, 0, $2)";
            dispatch!(self, p => sqlx::query(q).bind(study_id).bind(Utc::now()).execute(p).await.map(|_| ()))
                .context("could not create the ask run")?;
        }
        anyhow::bail!("the ask run of study {study_id} could not be created")
    }

    pub async fn get_run(&self, id: i64) -> anyhow::Result<Option<RunRow>> {
        let q = format!("{RUN_SELECT} WHERE r.id = $1");
        dispatch!(self, p => sqlx::query_as::<_, RunRow>(&q).bind(id).fetch_optional(p).await)
            .context("could not read the run")
    }

    pub async fn list_runs(&self, study_id: i64) -> anyhow::Result<Vec<RunRow>> {
        let q = format!("{RUN_SELECT} WHERE r.study_id = $1 ORDER BY r.id");
        dispatch!(self, p => sqlx::query_as::<_, RunRow>(&q).bind(study_id).fetch_all(p).await)
            .context("could not list runs")
    }

    /// Stores candidates in multi-row INSERTs inside one transaction. A candidate already stored
    /// under its (run, iteration) is left as it is, so a re-run after a crash adds only what is new.
    pub async fn insert_candidates(
        &self,
        study_id: i64,
        run_id: i64,
        solver: &str,
        cands: &[NewCandidate],
    ) -> anyhow::Result<()> {
        if cands.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let evaluations = cands.iter().map(|c| c.iteration + 1).max().unwrap_or(0);
        let r: Result<(), sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            for chunk in cands.chunks(BULK) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO candidates (study_id, run_id, iteration, solver, status, unit, design, latent, objectives, \
                     constraints, predictions, score, violation, feasible, novelty, created_at) ",
                );
                qb.push_values(chunk, |mut b, c| {
                    b.push_bind(study_id).push_bind(run_id).push_bind(c.iteration).push_bind(solver).push_bind(c.status)
                        .push_bind(Json(&c.unit)).push_bind(Json(&c.design)).push_bind(c.latent.as_ref().map(Json))
                        .push_bind(c.objectives.as_ref().map(Json)).push_bind(c.constraints.as_ref().map(Json))
                        .push_bind(c.predictions.as_ref().map(Json)).push_bind(c.score.filter(|v| v.is_finite()))
                        .push_bind(c.violation.filter(|v| v.is_finite())).push_bind(c.feasible)
                        .push_bind(c.novelty.filter(|v| v.is_finite())).push_bind(now);
                });
                qb.push(" ON CONFLICT (run_id, iteration) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE study_runs SET evaluations = CASE WHEN evaluations > $1 THEN evaluations ELSE $1 END WHERE id = $2")
                .bind(evaluations).bind(run_id).execute(&mut *tx).await?;
            tx.commit().await
        }.await);
        r.context("could not store the candidates")
    }

    /// Writes a run's summary and Pareto set and marks its job succeeded, if this worker still holds it.
    pub async fn complete_run(
        &self,
        job: &ClaimedJob,
        run_id: i64,
        summary: &serde_json::Value,
        pareto_iterations: &[i32],
    ) -> anyhow::Result<bool> {
        let now = Utc::now();
        let r: Result<bool, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            if !succeed_job!(&mut *tx, job, summary, now)? {
                return Ok(false);
            }
            sqlx::query("UPDATE study_runs SET summary = $1, finished_at = $2 WHERE id = $3")
                .bind(Json(summary)).bind(now).bind(run_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE candidates SET pareto = FALSE WHERE run_id = $1").bind(run_id).execute(&mut *tx).await?;
            for chunk in pareto_iterations.chunks(BULK) {
                let mut qb = sqlx::QueryBuilder::new("UPDATE candidates SET pareto = TRUE WHERE run_id = ");
                qb.push_bind(run_id).push(" AND iteration IN (");
                let mut sep = qb.separated(", ");
                for i in chunk {
                    sep.push_bind(*i);
                }
                qb.push(")");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        }.await);
        r.context("could not finish the run")
    }

    /// Candidates of a study or one run, filtered and sorted, `limit` from `offset`.
    pub async fn list_candidates(&self, q: &CandidateQuery) -> anyhow::Result<Vec<CandidateRow>> {
        let r: Result<Vec<CandidateRow>, sqlx::Error> = dispatch!(self, p => {
            let mut qb = sqlx::QueryBuilder::new(format!("SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE study_id = "));
            qb.push_bind(q.study_id);
            if let Some(run) = q.run_id {
                qb.push(" AND run_id = ").push_bind(run);
            }
            if let Some(f) = q.feasible {
                qb.push(" AND feasible = ").push_bind(f);
            }
            if let Some(f) = q.pareto {
                qb.push(" AND pareto = ").push_bind(f);
            }
            if let Some(s) = &q.status {
                qb.push(" AND status = ").push_bind(s.clone());
            }
            if q.stride > 1 {
                qb.push(" AND iteration % ").push_bind(q.stride).push(" = 0");
            }
            qb.push(" ORDER BY ");
            match &q.order {
                CandidateOrder::Iteration => { qb.push("run_id, iteration"); }
                // Postgres walks the (run_id, score, id) index for NULLS LAST; SQLite has no such
                // ordering for an index, so it sorts
                CandidateOrder::Score if self.backend() == "postgres" => { qb.push("score ASC NULLS LAST, id"); }
                CandidateOrder::Score => { qb.push("CASE WHEN score IS NULL THEN 1 ELSE 0 END, score, id"); }
                CandidateOrder::Violation => { qb.push("CASE WHEN violation IS NULL THEN 1 ELSE 0 END, violation, id"); }
                CandidateOrder::Novelty => { qb.push("CASE WHEN novelty IS NULL THEN 1 ELSE 0 END, novelty DESC, id"); }
                CandidateOrder::Objective { name, descending } => {
                    // The objective's value in the JSON object, as a number (NULL when missing).
                    let value = |qb: &mut sqlx::QueryBuilder<'_, _>| {
                        if self.backend() == "postgres" {
                            qb.push("CAST(objectives->>").push_bind(name.clone()).push(" AS DOUBLE PRECISION)");
                        } else {
                            qb.push("CAST(json_extract(objectives, '$.\"' || ").push_bind(name.clone()).push(" || '\"') AS REAL)");
                        }
                    };
                    qb.push("CASE WHEN ");
                    value(&mut qb);
                    qb.push(" IS NULL THEN 1 ELSE 0 END, ");
                    value(&mut qb);
                    qb.push(if *descending { " DESC, id" } else { " ASC, id" });
                }
            }
            qb.push(" LIMIT ").push_bind(q.limit).push(" OFFSET ").push_bind(q.offset);
            qb.build_query_as::<CandidateRow>().fetch_all(p).await
        });
        r.context("could not list candidates")
    }

    /// One candidate of a study.
    pub async fn get_candidate(&self, study_id: i64, id: i64) -> anyhow::Result<Option<CandidateRow>> {
        let q = format!("SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE study_id = $1 AND id = $2");
        dispatch!(self, p => sqlx::query_as::<_, CandidateRow>(&q).bind(study_id).bind(id).fetch_optional(p).await)
            .context("could not read the candidate")
    }

    /// The next iteration number of a run.
    pub async fn next_iteration(&self, run_id: i64) -> anyhow::Result<i32> {
        let q = "SELECT CAST(COALESCE(MAX(iteration) + 1, 0) AS BIGINT) FROM candidates WHERE run_id = $1";
        let n: i64 = dispatch!(self, p => sqlx::query_scalar::<_, i64>(q).bind(run_id).fetch_one(p).await)
            .context("could not count the run's candidates")?;
        Ok(n as i32)
    }

    /// Records measurements of asked candidates, each once: a repeat with the same values is
    /// acknowledged. All or nothing: if any candidate is unknown or was told other values before,
    /// nothing is written and the outcomes say which.
    pub async fn tell(&self, study_id: i64, ms: &[Measurement]) -> anyhow::Result<Vec<TellOutcome>> {
        let now = Utc::now();
        let r: Result<Vec<TellOutcome>, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let mut out = Vec::with_capacity(ms.len());
            for m in ms {
                let cur: Option<(String, Option<Json<serde_json::Value>>)> = sqlx::query_as(
                    "SELECT status, objectives FROM candidates WHERE id = $1 AND study_id = $2")
                    .bind(m.candidate_id).bind(study_id).fetch_optional(&mut *tx).await?;
                let outcome = match cur {
                    None => TellOutcome::NotFound,
                    Some((status, Some(prev))) if status == "measured" => {
                        if prev.0 == m.objectives { TellOutcome::AlreadyRecorded } else { TellOutcome::Conflict }
                    }
                    Some(_) => {
                        sqlx::query("UPDATE candidates SET status = 'measured', objectives = $1, score = $2, feasible = $3, \
                                     violation = $4, measured_at = $5 WHERE id = $6")
                            .bind(Json(&m.objectives)).bind(m.score).bind(m.feasible)
                            .bind(if m.feasible { 0.0 } else { 1.0 }).bind(now).bind(m.candidate_id)
                            .execute(&mut *tx).await?;
                        TellOutcome::Recorded
                    }
                };
                out.push(outcome);
            }
            if out.iter().all(|o| matches!(o, TellOutcome::Recorded | TellOutcome::AlreadyRecorded)) {
                tx.commit().await?;
            }
            Ok(out)
        }.await);
        r.context("could not record the measurements")
    }
}
