//! Models: the row made with its training job, per-epoch metrics, the finished file.

use super::jobs::{insert_job, succeed_job, ClaimedJob, NewJob};
use super::BeginWrite as _;
use super::{dispatch, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

/// A model to be trained.
#[derive(Clone, Debug)]
pub struct NewModel {
    pub name: String,
    pub dataset_id: i64,
    pub dataset_version: i32,
    pub dataset_sha256: String,
    pub spec: serde_json::Value,
    pub seed: i64,
    pub code_version: String,
    pub parent_model_id: Option<i64>,
}

/// A model with the state of its training job (the file itself is read separately).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ModelRow {
    pub id: i64,
    pub name: String,
    pub dataset_id: i64,
    pub dataset_version: i32,
    pub dataset_sha256: String,
    pub spec: Json<serde_json::Value>,
    pub seed: i64,
    pub code_version: String,
    pub job_id: i64,
    pub parent_model_id: Option<i64>,
    pub best_epoch: Option<i32>,
    pub epochs_run: Option<i32>,
    pub summary: Option<Json<serde_json::Value>>,
    pub file_sha256: Option<String>,
    pub created_at: DateTime<Utc>,
    pub trained_at: Option<DateTime<Utc>>,
    /// The training job's status.
    pub job_status: String,
    pub progress: f64,
    pub last_error: Option<String>,
}

const MODEL_SELECT: &str = "SELECT m.id, m.name, m.dataset_id, m.dataset_version, m.dataset_sha256, m.spec, m.seed, \
    m.code_version, m.job_id, m.parent_model_id, m.best_epoch, m.epochs_run, m.summary, m.file_sha256, m.created_at, \
    m.trained_at, j.status AS job_status, j.progress, j.last_error FROM models m JOIN jobs j ON j.id = m.job_id";

/// The finished training, written with the job's success in one transaction.
#[derive(Clone, Debug)]
pub struct TrainedModel {
    pub file: Vec<u8>,
    pub file_sha256: String,
    pub best_epoch: i32,
    pub epochs_run: i32,
    pub summary: serde_json::Value,
}

macro_rules! insert_model {
    ($conn:expr, $m:expr, $job_id:expr, $now:expr) => {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO models (name, dataset_id, dataset_version, dataset_sha256, spec, seed, code_version, job_id, parent_model_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(&$m.name)
        .bind($m.dataset_id)
        .bind($m.dataset_version)
        .bind(&$m.dataset_sha256)
        .bind(Json(&$m.spec))
        .bind($m.seed)
        .bind(&$m.code_version)
        .bind($job_id)
        .bind($m.parent_model_id)
        .bind($now)
        .fetch_one($conn)
    };
}

impl Store {
    /// Creates a model and queues its training job in one transaction; returns (model id, job id).
    pub async fn create_model(&self, m: &NewModel, checkpoint_every: Option<usize>) -> anyhow::Result<(i64, i64)> {
        let (model, job, _) = self.create_model_then(m, checkpoint_every, None).await?;
        Ok((model, job))
    }

    /// As `create_model`, plus a job that runs after the training succeeded, with `model_id`
    /// set in its payload; returns (model id, training job id, that job's id).
    pub async fn create_model_then(
        &self,
        m: &NewModel,
        checkpoint_every: Option<usize>,
        then: Option<NewJob>,
    ) -> anyhow::Result<(i64, i64, Option<i64>)> {
        let now = Utc::now();
        let job = NewJob { dataset_id: Some(m.dataset_id), ..NewJob::new("train", serde_json::json!({})) };
        let r: Result<(i64, i64, Option<i64>), sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let job_id = insert_job!(&mut *tx, job, now, None::<i64>, None::<i64>).await?;
            let model_id = insert_model!(&mut *tx, m, job_id, now).await?;
            sqlx::query("UPDATE jobs SET payload = $1 WHERE id = $2")
                .bind(Json(serde_json::json!({ "model_id": model_id, "checkpoint_every": checkpoint_every }))).bind(job_id).execute(&mut *tx).await?;
            let mut then_id = None;
            if let Some(mut next) = then {
                next.payload["model_id"] = serde_json::json!(model_id);
                then_id = Some(insert_job!(&mut *tx, next, now, Some(job_id), None::<i64>).await?);
            }
            tx.commit().await?;
            Ok((model_id, job_id, then_id))
        }.await);
        r.context("could not create the model")
    }

    /// The model a training job trains, creating it on the job's first run (retrains from a
    /// schedule); the unique job id makes a re-run find the same model.
    pub async fn model_for_job(&self, job_id: i64, create: Option<&NewModel>) -> anyhow::Result<Option<ModelRow>> {
        if let Some(m) = create {
            let now = Utc::now();
            let q = "INSERT INTO models (name, dataset_id, dataset_version, dataset_sha256, spec, seed, code_version, job_id, parent_model_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (job_id) DO NOTHING";
            dispatch!(self, p => sqlx::query(q).bind(&m.name).bind(m.dataset_id).bind(m.dataset_version).bind(&m.dataset_sha256)
                .bind(Json(&m.spec)).bind(m.seed).bind(&m.code_version).bind(job_id).bind(m.parent_model_id).bind(now)
                .execute(p).await.map(|_| ()))
            .context("could not create the retrained model")?;
        }
        let q = format!("{MODEL_SELECT} WHERE m.job_id = $1");
        dispatch!(self, p => sqlx::query_as::<_, ModelRow>(&q).bind(job_id).fetch_optional(p).await)
            .context("could not read the job's model")
    }

    pub async fn get_model(&self, id: i64) -> anyhow::Result<Option<ModelRow>> {
        let q = format!("{MODEL_SELECT} WHERE m.id = $1");
        dispatch!(self, p => sqlx::query_as::<_, ModelRow>(&q).bind(id).fetch_optional(p).await)
            .context("could not read the model")
    }

    /// The newest trained model among `id` and the models retrained from it.
    pub async fn latest_trained_of(&self, id: i64) -> anyhow::Result<Option<i64>> {
        let q = "SELECT id FROM models WHERE (id = $1 OR parent_model_id = $1) AND file IS NOT NULL ORDER BY id DESC LIMIT 1";
        dispatch!(self, p => sqlx::query_scalar(q).bind(id).fetch_optional(p).await)
            .context("could not find the latest model")
    }

    /// Models newest first, optionally of one dataset, with ids below `before` (0: from the newest).
    pub async fn list_models(&self, dataset_id: Option<i64>, before: i64, limit: i64) -> anyhow::Result<Vec<ModelRow>> {
        let q = format!(
            "{MODEL_SELECT} WHERE (CAST($1 AS BIGINT) IS NULL OR m.dataset_id = $1) AND ($2 = 0 OR m.id < $2) ORDER BY m.id DESC LIMIT $3"
        );
        dispatch!(self, p => sqlx::query_as::<_, ModelRow>(&q).bind(dataset_id).bind(before).bind(limit).fetch_all(p).await)
            .context("could not list models")
    }

    /// Stores epochs' metrics (a re-run epoch after a resume replaces its earlier record).
    pub async fn record_epochs(&self, model_id: i64, epochs: &[(i32, serde_json::Value)]) -> anyhow::Result<()> {
        if epochs.is_empty() {
            return Ok(());
        }
        let q = "INSERT INTO model_epochs (model_id, epoch, metrics) VALUES ($1, $2, $3) \
                 ON CONFLICT (model_id, epoch) DO UPDATE SET metrics = excluded.metrics";
        let r: Result<(), sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            for (epoch, m) in epochs {
                sqlx::query(q).bind(model_id).bind(*epoch).bind(Json(m)).execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await);
        r.context("could not store the epoch metrics")
    }

    /// Every recorded epoch of a model, in order.
    pub async fn model_epochs(&self, model_id: i64) -> anyhow::Result<Vec<(i32, Json<serde_json::Value>)>> {
        let q = "SELECT epoch, metrics FROM model_epochs WHERE model_id = $1 ORDER BY epoch";
        dispatch!(self, p => sqlx::query_as::<_, (i32, Json<serde_json::Value>)>(q).bind(model_id).fetch_all(p).await)
            .context("could not read the epoch metrics")
    }

    /// The model file, once trained.
    pub async fn model_file(&self, id: i64) -> anyhow::Result<Option<Vec<u8>>> {
        let q = "SELECT file FROM models WHERE id = $1";
        let r: Option<Option<Vec<u8>>> = dispatch!(self, p => sqlx::query_scalar(q).bind(id).fetch_optional(p).await)
            .context("could not read the model file")?;
        Ok(r.flatten())
    }

    /// Writes the trained model and marks its job succeeded, if this worker still holds the job.
    pub async fn complete_model(
        &self,
        job: &ClaimedJob,
        model_id: i64,
        t: &TrainedModel,
        result: &serde_json::Value,
    ) -> anyhow::Result<bool> {
        let now = Utc::now();
        let r: Result<bool, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            if !succeed_job!(&mut *tx, job, result, now)? {
                return Ok(false);
            }
            sqlx::query("UPDATE models SET file = $1, file_sha256 = $2, best_epoch = $3, epochs_run = $4, summary = $5, trained_at = $6 WHERE id = $7")
                .bind(&t.file).bind(&t.file_sha256).bind(t.best_epoch).bind(t.epochs_run).bind(Json(&t.summary)).bind(now).bind(model_id)
                .execute(&mut *tx).await?;
            sqlx::query("DELETE FROM job_checkpoints WHERE job_id = $1").bind(job.id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        }.await);
        r.context("could not store the trained model")
    }
}
