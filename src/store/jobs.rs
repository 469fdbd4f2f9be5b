//! The jobs table as far as the foundation needs it: enqueueing and counting by state.
//! Claiming, leases and handlers come with the jobs capability.

use super::{dispatch, Store};
use anyhow::Context;
use chrono::Utc;

impl Store {
    /// Queues a job; `dataset_id` marks the dataset as in use while the job is queued or running.
    pub async fn enqueue_job(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        dataset_id: Option<i64>,
    ) -> anyhow::Result<i64> {
        let q = "INSERT INTO jobs (kind, payload, status, run_at, dataset_id, created_at) VALUES ($1, $2, 'queued', $3, $4, $3) RETURNING id";
        let now = Utc::now();
        dispatch!(self, p => sqlx::query_scalar(q).bind(kind).bind(sqlx::types::Json(payload)).bind(now).bind(dataset_id).fetch_one(p).await)
            .context("could not enqueue the job")
    }

    /// Jobs per status, for `/metrics`.
    pub async fn job_counts(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let q = "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status";
        dispatch!(self, p => sqlx::query_as::<_, (String, i64)>(q).fetch_all(p).await).context("could not count jobs")
    }
}

/// A job a worker has claimed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: sqlx::types::Json<serde_json::Value>,
    pub attempts: i32,
    pub max_attempts: i32,
}

impl Store {
    /// Claims the oldest due job (or one whose lease expired) for `owner` until `lease`.
    pub async fn claim_job(&self, owner: &str, lease: chrono::Duration) -> anyhow::Result<Option<ClaimedJob>> {
        let now = Utc::now();
        let expires = now + lease;
        let pick = "SELECT id FROM jobs WHERE ((status = 'queued' AND run_at <= $2) OR (status = 'running' AND lease_expires_at < $2)) \
                    AND cancel_requested = FALSE ORDER BY run_at, id LIMIT 1";
        let lock = match self {
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Store::Sqlite(_) => "",
        };
        let q = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $1, lease_expires_at = $3, heartbeat_at = $2, \
             started_at = COALESCE(started_at, $2) WHERE id = ({pick}{lock}) RETURNING id, kind, payload, attempts, max_attempts"
        );
        dispatch!(self, p => sqlx::query_as::<_, ClaimedJob>(&q).bind(owner).bind(now).bind(expires).fetch_optional(p).await)
            .context("could not claim a job")
    }

    /// Ends a job: `succeeded` with a result, or `failed` (retried later while attempts remain).
    pub async fn finish_job(&self, job: &ClaimedJob, outcome: Result<serde_json::Value, String>) -> anyhow::Result<()> {
        let now = Utc::now();
        match outcome {
            Ok(result) => {
                let q = "UPDATE jobs SET status = 'succeeded', result = $1, progress = 1, finished_at = $2, lease_owner = NULL, lease_expires_at = NULL WHERE id = $3";
                dispatch!(self, p => sqlx::query(q).bind(sqlx::types::Json(result)).bind(now).bind(job.id).execute(p).await.map(|_| ()))?;
            }
            Err(e) if job.attempts < job.max_attempts => {
                let backoff = chrono::Duration::seconds(2i64.pow(job.attempts.clamp(0, 16) as u32) * 5);
                let q = "UPDATE jobs SET status = 'queued', last_error = $1, run_at = $2, lease_owner = NULL, lease_expires_at = NULL WHERE id = $3";
                dispatch!(self, p => sqlx::query(q).bind(e).bind(now + backoff).bind(job.id).execute(p).await.map(|_| ()))?;
            }
            Err(e) => {
                let q = "UPDATE jobs SET status = 'failed', last_error = $1, finished_at = $2, lease_owner = NULL, lease_expires_at = NULL WHERE id = $3";
                dispatch!(self, p => sqlx::query(q).bind(e).bind(now).bind(job.id).execute(p).await.map(|_| ()))?;
            }
        }
        Ok(())
    }

    /// Puts this worker's running jobs back in the queue (on shutdown), without using up an attempt.
    pub async fn release_jobs(&self, owner: &str) -> anyhow::Result<u64> {
        let q =
            "UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE status = 'running' AND lease_owner = $1";
        let r = dispatch!(self, p => sqlx::query(q).bind(owner).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(r)
    }
}

impl Store {
    /// Cancels a queued job at once, or asks a running one to stop; false if it had ended.
    pub async fn cancel_job(&self, id: i64) -> anyhow::Result<bool> {
        let now = Utc::now();
        let q = "UPDATE jobs SET cancel_requested = TRUE, \
                 status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
                 finished_at = CASE WHEN status = 'queued' THEN $1 ELSE finished_at END \
                 WHERE id = $2 AND status IN ('queued', 'running')";
        let r = dispatch!(self, p => sqlx::query(q).bind(now).bind(id).execute(p).await.map(|r| r.rows_affected()))
            .context("could not cancel the job")?;
        Ok(r > 0)
    }
}
