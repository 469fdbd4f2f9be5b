//! The jobs table: enqueue, claim with a lease, heartbeat, progress, finish, retry, cancel,
//! listing for the API. Workers and handlers live in `crate::jobs`.

use super::webhooks::emit_job_ended_in_tx;
use super::BeginWrite as _;
use super::{dispatch, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

/// A job as the API and the dashboard show it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub payload: Json<serde_json::Value>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub progress: f64,
    pub message: Option<String>,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    pub result: Option<Json<serde_json::Value>>,
    pub dataset_id: Option<i64>,
    pub depends_on: Option<i64>,
    pub schedule_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub(crate) const JOB_COLUMNS: &str = "id, kind, status, payload, attempts, max_attempts, run_at, lease_owner, \
    lease_expires_at, heartbeat_at, progress, message, last_error, cancel_requested, result, dataset_id, depends_on, \
    schedule_id, created_at, started_at, finished_at";

/// A job to be queued.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// Marks the dataset as in use while the job is queued or running.
    pub dataset_id: Option<i64>,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(kind: &str, payload: serde_json::Value) -> NewJob {
        NewJob { kind: kind.into(), payload, dataset_id: None, max_attempts: 3 }
    }
}

tokio::task_local! {
    /// The token on whose request jobs are being queued. Who asked is request context rather
    /// than a parameter of every store call that queues a job (models, runs, calibrations,
    /// schedules...), so the API sets it once around each request (`api::limits`) and every
    /// `insert_job!` in that request's task records it. Jobs queued elsewhere (the scheduler,
    /// a spawned task) have no creator.
    static JOB_CREATOR: i64;
}

/// Runs `f` with jobs it queues recorded as created by `token_id`.
pub async fn as_job_creator<F: std::future::Future>(token_id: i64, f: F) -> F::Output {
    JOB_CREATOR.scope(token_id, f).await
}

/// The token queuing jobs in this task, if any.
pub(crate) fn job_creator() -> Option<i64> {
    JOB_CREATOR.try_with(|t| *t).ok()
}

/// Inserts a job inside a transaction (any backend's connection).
macro_rules! insert_job {
    ($conn:expr, $job:expr, $now:expr, $depends_on:expr, $schedule_id:expr) => {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO jobs (kind, payload, status, max_attempts, run_at, dataset_id, depends_on, schedule_id, created_at, created_by) \
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $4, $8) RETURNING id",
        )
        .bind(&$job.kind)
        .bind(sqlx::types::Json(&$job.payload))
        .bind($job.max_attempts)
        .bind($now)
        .bind($job.dataset_id)
        .bind($depends_on)
        .bind($schedule_id)
        .bind($crate::store::jobs::job_creator())
        .fetch_one($conn)
    };
}
pub(crate) use insert_job;

/// Marks a running job succeeded with its result inside a transaction, if `$job` (a
/// `ClaimedJob`) still holds its lease, and queues its `job.succeeded` (and `study.run_finished`)
/// webhook events in that transaction: a failure to queue them fails the transaction. Evaluates
/// to whether it did.
macro_rules! succeed_job {
    ($conn:expr, $job:expr, $result:expr, $now:expr) => {
        async {
            let conn = $conn;
            let (job, now) = ($job, $now);
            let done = sqlx::query(
                "UPDATE jobs SET status = 'succeeded', result = $1, progress = 1, finished_at = $2, \
                 lease_owner = NULL, lease_expires_at = NULL WHERE id = $3 AND status = 'running' AND lease_owner = $4",
            )
            .bind(sqlx::types::Json($result))
            .bind(now)
            .bind(job.id)
            .bind(&job.lease_owner)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                > 0;
            if done {
                $crate::store::webhooks::emit_job_ended_in_tx!(&mut *conn, job.id, now).await?;
            }
            Ok::<bool, sqlx::Error>(done)
        }
        .await
    };
}
pub(crate) use succeed_job;

/// A job a worker has claimed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: sqlx::types::Json<serde_json::Value>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_owner: String,
}

/// How a handler's run ended.
#[derive(Debug)]
pub enum JobOutcome {
    Succeeded(serde_json::Value),
    /// Stopped on request; the value says what was kept.
    Cancelled(serde_json::Value),
    /// Failed; retried after a backoff while attempts remain, unless `retry` is false.
    Failed {
        error: String,
        retry: bool,
    },
}

/// What asking to run an ended job again came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// Queued again as this new job.
    Queued(i64),
    /// The job has not ended (its status is given); there is nothing to retry.
    NotEnded(String),
    /// Its model or run belongs to this newer job already (it was retried before); retry that one.
    Superseded(i64),
}

/// What a heartbeat or progress report learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    Held {
        cancel_requested: bool,
    },
    /// Another worker took the job over (this one's lease expired) or it ended.
    Lost,
}

impl Store {
    /// Queues one job.
    pub async fn enqueue(&self, job: &NewJob) -> anyhow::Result<i64> {
        let now = Utc::now();
        dispatch!(self, p => insert_job!(p, job, now, None::<i64>, None::<i64>).await)
            .context("could not enqueue the job")
    }

    /// Queues a job that runs once job `after` succeeded.
    pub async fn enqueue_after(&self, job: &NewJob, after: i64) -> anyhow::Result<i64> {
        let now = Utc::now();
        dispatch!(self, p => insert_job!(p, job, now, Some(after), None::<i64>).await)
            .context("could not enqueue the job")
    }

    /// Queues a job (3 attempts); kept for the foundation's callers.
    pub async fn enqueue_job(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        dataset_id: Option<i64>,
    ) -> anyhow::Result<i64> {
        self.enqueue(&NewJob { dataset_id, ..NewJob::new(kind, payload.clone()) }).await
    }

    /// Jobs queued or running that `token_id` queued (`api::limits`).
    pub async fn count_active_jobs_by(&self, token_id: i64) -> anyhow::Result<i64> {
        let q = "SELECT COUNT(*) FROM jobs WHERE created_by = $1 AND status IN ('queued', 'running')";
        dispatch!(self, p => sqlx::query_scalar(q).bind(token_id).fetch_one(p).await)
            .context("could not count the token's jobs")
    }

    /// Jobs per status, for `/metrics`.
    pub async fn job_counts(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let q = "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status";
        dispatch!(self, p => sqlx::query_as::<_, (String, i64)>(q).fetch_all(p).await).context("could not count jobs")
    }

    pub async fn get_job(&self, id: i64) -> anyhow::Result<Option<JobRow>> {
        let q = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        dispatch!(self, p => sqlx::query_as::<_, JobRow>(&q).bind(id).fetch_optional(p).await)
            .context("could not read the job")
    }

    /// Jobs newest first, optionally of one status and kind, with ids below `before` (0: from the newest).
    pub async fn list_jobs(
        &self,
        status: Option<&str>,
        kind: Option<&str>,
        before: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<JobRow>> {
        let q = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) AND (CAST($2 AS TEXT) IS NULL OR kind = $2) \
             AND ($3 = 0 OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        dispatch!(self, p => sqlx::query_as::<_, JobRow>(&q).bind(status).bind(kind).bind(before).bind(limit).fetch_all(p).await)
            .context("could not list jobs")
    }

    /// Ends jobs whose worker vanished when they cannot be run again: a cancel was asked for,
    /// or the attempts are used up. Their webhook events are queued in the same transaction.
    /// Returns how many ended.
    pub async fn sweep_expired(&self) -> anyhow::Result<u64> {
        let now = Utc::now();
        let q1 = "UPDATE jobs SET status = 'cancelled', finished_at = $1, lease_owner = NULL, lease_expires_at = NULL \
                  WHERE status = 'running' AND lease_expires_at < $1 AND cancel_requested RETURNING id";
        let q2 = "UPDATE jobs SET status = 'failed', finished_at = $1, lease_owner = NULL, lease_expires_at = NULL, \
                  last_error = 'its worker stopped answering during each of its ' || attempts || ' attempts (killed, or out of memory?)' \
                  WHERE status = 'running' AND lease_expires_at < $1 AND attempts >= max_attempts RETURNING id";
        let r: Result<usize, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let mut ended: Vec<i64> = sqlx::query_scalar(q1).bind(now).fetch_all(&mut *tx).await?;
            ended.extend(sqlx::query_scalar::<_, i64>(q2).bind(now).fetch_all(&mut *tx).await?);
            for id in &ended {
                emit_job_ended_in_tx!(&mut *tx, *id, now).await?;
            }
            tx.commit().await?;
            Ok(ended.len())
        }.await);
        let n = r.context("could not sweep expired jobs")? as u64;
        if n > 0 {
            self.cancel_orphaned_dependents().await?;
        }
        Ok(n)
    }

    /// Claims the oldest due job (or one whose lease expired) for `owner` until `lease`;
    /// `only` restricts the claim to the given ids (`genfab batch run`).
    pub async fn claim_job(
        &self,
        owner: &str,
        lease: chrono::Duration,
        only: Option<&[i64]>,
    ) -> anyhow::Result<Option<ClaimedJob>> {
        let now = Utc::now();
        let expires = now + lease;
        let only_sql = match only {
            Some(ids) if !ids.is_empty() => {
                format!(" AND id IN ({})", ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","))
            }
            Some(_) => return Ok(None),
            None => String::new(),
        };
        let pick = format!(
            "SELECT id FROM jobs j WHERE ((status = 'queued' AND run_at <= $2) OR (status = 'running' AND lease_expires_at < $2)) \
             AND NOT cancel_requested AND (status = 'queued' OR attempts < max_attempts) \
             AND (depends_on IS NULL OR EXISTS (SELECT 1 FROM jobs d WHERE d.id = j.depends_on AND d.status = 'succeeded')){only_sql} \
             ORDER BY run_at, id LIMIT 1"
        );
        let lock = match self {
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Store::Sqlite(_) => "",
        };
        let q = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $1, lease_expires_at = $3, heartbeat_at = $2, \
             started_at = COALESCE(started_at, $2) WHERE id = ({pick}{lock}) RETURNING id, kind, payload, attempts, max_attempts, lease_owner"
        );
        dispatch!(self, p => sqlx::query_as::<_, ClaimedJob>(&q).bind(owner).bind(now).bind(expires).fetch_optional(p).await)
            .context("could not claim a job")
    }

    /// Extends the lease of a job this worker holds; tells whether a cancel was asked for.
    pub async fn heartbeat(&self, job: &ClaimedJob, lease: chrono::Duration) -> anyhow::Result<Lease> {
        self.report_progress(job, lease, None, None).await
    }

    /// Records progress (0..1) and a message, and extends the lease.
    pub async fn report_progress(
        &self,
        job: &ClaimedJob,
        lease: chrono::Duration,
        progress: Option<f64>,
        message: Option<&str>,
    ) -> anyhow::Result<Lease> {
        let now = Utc::now();
        let q = "UPDATE jobs SET heartbeat_at = $1, lease_expires_at = $2, progress = COALESCE($3, progress), \
                 message = COALESCE($4, message) WHERE id = $5 AND status = 'running' AND lease_owner = $6 RETURNING cancel_requested";
        let r: Option<bool> =
            dispatch!(self, p => sqlx::query_scalar(q).bind(now).bind(now + lease).bind(progress).bind(message)
            .bind(job.id).bind(&job.lease_owner).fetch_optional(p).await)
            .context("could not report the job's progress")?;
        Ok(match r {
            Some(cancel_requested) => Lease::Held { cancel_requested },
            None => Lease::Lost,
        })
    }

    /// Ends a job this worker still holds, queuing its webhook events (`job_ended_events`) in
    /// the same transaction: a failure to queue them fails the whole outcome, which is then not
    /// recorded. False if the lease was lost (the outcome is dropped).
    pub async fn finish_job(
        &self,
        job: &ClaimedJob,
        outcome: &JobOutcome,
        retry_base: std::time::Duration,
    ) -> anyhow::Result<bool> {
        let now = Utc::now();
        let held = "WHERE id = $3 AND status = 'running' AND lease_owner = $4";
        let r: Result<bool, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let n = match outcome {
                JobOutcome::Succeeded(result) | JobOutcome::Cancelled(result) => {
                    let status = if matches!(outcome, JobOutcome::Succeeded(_)) { "succeeded" } else { "cancelled" };
                    let q = format!(
                        "UPDATE jobs SET status = '{status}', result = $1, progress = CASE WHEN '{status}' = 'succeeded' THEN 1 ELSE progress END, \
                         finished_at = $2, lease_owner = NULL, lease_expires_at = NULL {held}"
                    );
                    sqlx::query(&q).bind(Json(result)).bind(now).bind(job.id).bind(&job.lease_owner).execute(&mut *tx).await?.rows_affected()
                }
                JobOutcome::Failed { error, retry } if *retry && job.attempts < job.max_attempts => {
                    let factor = 2u32.saturating_pow(job.attempts.clamp(1, 16) as u32 - 1);
                    let backoff = chrono::Duration::from_std(retry_base * factor).unwrap_or(chrono::Duration::hours(1));
                    let q = format!("UPDATE jobs SET status = 'queued', last_error = $1, run_at = $2, lease_owner = NULL, lease_expires_at = NULL {held}");
                    sqlx::query(&q).bind(error).bind(now + backoff).bind(job.id).bind(&job.lease_owner).execute(&mut *tx).await?.rows_affected()
                }
                JobOutcome::Failed { error, .. } => {
                    let q = format!("UPDATE jobs SET status = 'failed', last_error = $1, finished_at = $2, lease_owner = NULL, lease_expires_at = NULL {held}");
                    sqlx::query(&q).bind(error).bind(now).bind(job.id).bind(&job.lease_owner).execute(&mut *tx).await?.rows_affected()
                }
            };
            if n > 0 {
                // a retry left the job queued: `job_ended_events` sends nothing for it
                emit_job_ended_in_tx!(&mut *tx, job.id, now).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        }.await);
        let held = r.context("could not record the job's outcome")?;
        if matches!(outcome, JobOutcome::Cancelled(_) | JobOutcome::Failed { .. }) {
            self.cancel_orphaned_dependents().await?;
        }
        Ok(held)
    }

    /// Cancels queued jobs whose prerequisite ended without success (a chain stops at its first failure).
    pub async fn cancel_orphaned_dependents(&self) -> anyhow::Result<u64> {
        let now = Utc::now();
        let q = "UPDATE jobs SET status = 'cancelled', finished_at = $1, \
                 last_error = 'an earlier job of its chain ended without success' \
                 WHERE status = 'queued' AND depends_on IN (SELECT id FROM jobs WHERE status IN ('failed', 'cancelled'))";
        let mut total = 0;
        // a chain of n jobs needs n passes; chains are short
        for _ in 0..16 {
            let n = dispatch!(self, p => sqlx::query(q).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
            total += n;
            if n == 0 {
                break;
            }
        }
        Ok(total)
    }

    /// Puts this worker's running jobs back in the queue (on shutdown), without using up an attempt.
    pub async fn release_jobs(&self, owner: &str) -> anyhow::Result<u64> {
        let q =
            "UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE status = 'running' AND lease_owner = $1";
        let r = dispatch!(self, p => sqlx::query(q).bind(owner).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(r)
    }

    /// Puts one job this worker holds back in the queue (interrupted), without using up an attempt.
    pub async fn release_job(&self, job: &ClaimedJob) -> anyhow::Result<bool> {
        let q =
            "UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id = $1 AND status = 'running' AND lease_owner = $2";
        let r = dispatch!(self, p => sqlx::query(q).bind(job.id).bind(&job.lease_owner).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(r > 0)
    }

    /// Cancels a queued job at once, or asks a running one to stop; false if it had ended.
    pub async fn cancel_job(&self, id: i64) -> anyhow::Result<bool> {
        let now = Utc::now();
        let q = "UPDATE jobs SET cancel_requested = TRUE, \
                 status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
                 finished_at = CASE WHEN status = 'queued' THEN $1 ELSE finished_at END \
                 WHERE id = $2 AND status IN ('queued', 'running')";
        let r = dispatch!(self, p => sqlx::query(q).bind(now).bind(id).execute(p).await.map(|r| r.rows_affected()))
            .context("could not cancel the job")?;
        if r > 0 {
            self.cancel_orphaned_dependents().await?;
        }
        Ok(r > 0)
    }

    /// Runs an ended (failed or cancelled) job again as a new queued job with the same kind,
    /// payload, dataset, attempts and schedule, but no prerequisite: the old job stays as it ended
    /// (history), and a model or optimisation run it was for moves to the new job, so the new job
    /// trains that model or runs that run. `None` when there is no such job.
    pub async fn retry_job(&self, id: i64) -> anyhow::Result<Option<Retried>> {
        let now = Utc::now();
        let lock = match self {
            Store::Postgres(_) => " FOR UPDATE",
            Store::Sqlite(_) => "",
        };
        let select = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1{lock}");
        let r: Result<Option<Retried>, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let Some(old) = sqlx::query_as::<_, JobRow>(&select).bind(id).fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            if !matches!(old.status.as_str(), "failed" | "cancelled") {
                return Ok(Some(Retried::NotEnded(old.status)));
            }
            // a model's or run's job: retried already when the row points at a newer job
            let owner = match old.kind.as_str() {
                "train" => old.payload.0["model_id"].as_i64().map(|m| ("SELECT job_id FROM models WHERE id = $1", m)),
                "optimize" => old.payload.0["run_id"].as_i64().map(|r| ("SELECT job_id FROM study_runs WHERE id = $1", r)),
                _ => None,
            };
            if let Some((q, row)) = owner {
                let current: Option<Option<i64>> = sqlx::query_scalar(q).bind(row).fetch_optional(&mut *tx).await?;
                if let Some(Some(newer)) = current.filter(|j| *j != Some(id)) {
                    return Ok(Some(Retried::Superseded(newer)));
                }
            }
            let job = NewJob {
                kind: old.kind.clone(),
                payload: old.payload.0.clone(),
                dataset_id: old.dataset_id,
                max_attempts: old.max_attempts,
            };
            let new_id = insert_job!(&mut *tx, job, now, None::<i64>, old.schedule_id).await?;
            for q in ["UPDATE models SET job_id = $1 WHERE job_id = $2", "UPDATE study_runs SET job_id = $1 WHERE job_id = $2"] {
                sqlx::query(q).bind(new_id).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(Some(Retried::Queued(new_id)))
        }.await);
        r.context("could not retry the job")
    }

    /// Deletes jobs (the queue benchmark cleans up after itself).
    pub async fn delete_jobs(&self, ids: &[i64]) -> anyhow::Result<()> {
        for chunk in ids.chunks(500) {
            let list = chunk.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            let q = format!("DELETE FROM jobs WHERE id IN ({list})");
            dispatch!(self, p => sqlx::query(&q).execute(p).await.map(|_| ())).context("could not delete jobs")?;
        }
        Ok(())
    }

    /// Stores a checkpoint of a job this worker holds; false if the lease was lost.
    pub async fn save_checkpoint(&self, job: &ClaimedJob, epoch: i32, state: &[u8]) -> anyhow::Result<bool> {
        let now = Utc::now();
        let r: Result<bool, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let held: Option<i64> = sqlx::query_scalar("SELECT id FROM jobs WHERE id = $1 AND status = 'running' AND lease_owner = $2")
                .bind(job.id).bind(&job.lease_owner).fetch_optional(&mut *tx).await?;
            if held.is_none() {
                return Ok(false);
            }
            sqlx::query("INSERT INTO job_checkpoints (job_id, epoch, state, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (job_id) DO UPDATE SET epoch = excluded.epoch, state = excluded.state, updated_at = excluded.updated_at")
                .bind(job.id).bind(epoch).bind(state).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        }.await);
        r.context("could not store the checkpoint")
    }

    /// The last checkpoint of a job: (epoch, state).
    pub async fn load_checkpoint(&self, job_id: i64) -> anyhow::Result<Option<(i32, Vec<u8>)>> {
        let q = "SELECT epoch, state FROM job_checkpoints WHERE job_id = $1";
        dispatch!(self, p => sqlx::query_as::<_, (i32, Vec<u8>)>(q).bind(job_id).fetch_optional(p).await)
            .context("could not read the checkpoint")
    }

    /// Drops a finished job's checkpoint.
    pub async fn delete_checkpoint(&self, job_id: i64) -> anyhow::Result<()> {
        dispatch!(self, p => sqlx::query("DELETE FROM job_checkpoints WHERE job_id = $1").bind(job_id).execute(p).await.map(|_| ()))?;
        Ok(())
    }
}
