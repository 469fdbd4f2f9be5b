//! The worker loop: claim a due job, run its handler on a blocking thread, record the outcome.
//! Handlers per job kind arrive with the capabilities that need them (training, synthesis, ...).

use crate::store::{ClaimedJob, Store};
use std::time::Duration;
use tokio::sync::watch;

/// How long a claim lasts before another worker may take the job over.
const LEASE: Duration = Duration::from_secs(60);

/// Runs one job's work; returns its result or an error message kept on the job.
fn handle(job: &ClaimedJob) -> Result<serde_json::Value, String> {
    Err(format!("this genfab has no handler for jobs of kind '{}'", job.kind))
}

/// What one step of the worker came to (tests drive the worker step by step).
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Ran(i64),
    EmptyQueue,
}

/// Claims and runs at most one job.
pub async fn try_execute_job(store: &Store, owner: &str) -> anyhow::Result<Step> {
    let lease = chrono::Duration::from_std(LEASE)?;
    let Some(job) = store.claim_job(owner, lease).await? else {
        return Ok(Step::EmptyQueue);
    };
    tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job claimed");
    let j = job.clone();
    let outcome = tokio::task::spawn_blocking(move || handle(&j))
        .await
        .unwrap_or_else(|e| Err(format!("the job's handler panicked: {e}")));
    if let Err(e) = &outcome {
        tracing::warn!(job = job.id, error = %e, "job failed");
    }
    store.finish_job(&job, outcome).await?;
    Ok(Step::Ran(job.id))
}

/// A name for this worker process, unique enough across machines.
pub fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "genfab".into());
    format!("{host}:{}", std::process::id())
}

/// Polls for jobs until `shutdown` turns true, then puts claimed jobs back in the queue.
pub async fn run_worker(store: Store, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let owner = worker_name();
    tracing::info!(worker = %owner, "worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        match try_execute_job(&store, &owner).await {
            Ok(Step::Ran(_)) => continue,
            Ok(Step::EmptyQueue) => {}
            Err(e) => tracing::error!(error = %format!("{e:#}"), "worker step failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => {}
        }
    }
    let released = store.release_jobs(&owner).await?;
    tracing::info!(worker = %owner, released, "worker stopped");
    Ok(())
}
