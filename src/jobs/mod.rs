//! Workers: claim a due job, hold its lease with heartbeats, run its handler on a blocking
//! thread, record the outcome; plus the scheduler that turns cron slots into jobs.
//!
//! Every worker process (the one inside `serve` and each `genfab worker`) runs the same loop
//! against the shared store; Postgres hands each job to one worker (`FOR UPDATE SKIP LOCKED`),
//! a lease that is not renewed (worker killed) lets another worker take the job over, and the
//! training handler resumes from its last checkpoint.

pub mod batch;
mod calibrate;
mod context;
mod noop;
mod optimize;
mod output;
pub mod sample;
pub mod scheduler;
pub mod synthesize;
mod train;
mod webhook;

pub use context::JobContext;
pub use train::code_version;

use crate::store::{ClaimedJob, JobOutcome, Lease, Store};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

pub use crate::config::WorkerConfig;

/// How often a worker deletes scored rows past their detector's retention.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// What a handler came to.
#[derive(Debug)]
pub enum Handled {
    /// Record this outcome on the job.
    Finish(JobOutcome),
    /// The handler already recorded success in the transaction that wrote its result.
    Recorded,
    /// Stopped for shutdown or because the lease was lost: put back (or leave) for another worker.
    Interrupted,
}

/// The kinds this worker can run, for error messages and the API.
pub const KINDS: &[&str] = &["train", "sample", "synthesize", "optimize", "calibrate", "noop", "webhook"];

fn handle(ctx: &JobContext) -> Handled {
    match ctx.job.kind.as_str() {
        "train" => train::run(ctx),
        "sample" => sample::run(ctx),
        "synthesize" => synthesize::run(ctx),
        "optimize" => optimize::run(ctx),
        "calibrate" => calibrate::run(ctx),
        "noop" => noop::run(ctx),
        "webhook" => webhook::run(ctx),
        other => Handled::Finish(JobOutcome::Failed {
            error: format!("this genfab has no handler for jobs of kind '{other}' (it knows {})", KINDS.join(", ")),
            retry: false,
        }),
    }
}

/// What one step of the worker came to (tests drive the worker step by step).
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Ran(i64),
    EmptyQueue,
}

/// Claims and runs at most one job, start to end.
pub async fn try_execute_job(store: &Store, owner: &str, cfg: &WorkerConfig) -> anyhow::Result<Step> {
    store.sweep_expired().await?;
    let Some(job) = store.claim_job(owner, cfg.lease_chrono(), None).await? else {
        return Ok(Step::EmptyQueue);
    };
    let id = job.id;
    execute(store.clone(), job, cfg.clone(), Arc::default()).await;
    Ok(Step::Ran(id))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs a claimed job: heartbeats on the async side, the handler on a blocking thread.
pub async fn execute(store: Store, job: ClaimedJob, cfg: WorkerConfig, shutdown: Arc<std::sync::atomic::AtomicBool>) {
    let started = Instant::now();
    tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job claimed");
    let ctx = Arc::new(JobContext::new(store.clone(), job.clone(), cfg.lease_chrono(), shutdown));
    let beat = {
        let (ctx, every) = (ctx.clone(), cfg.heartbeat);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match ctx.store.heartbeat(&ctx.job, ctx.lease).await {
                    Ok(lease) => ctx.note(lease),
                    Err(e) => tracing::warn!(job = ctx.job.id, error = %format!("{e:#}"), "heartbeat failed"),
                }
            }
        })
    };
    let c = ctx.clone();
    let handled = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(&c))).unwrap_or_else(|p| {
            Handled::Finish(JobOutcome::Failed {
                error: format!("the job's handler panicked: {}", panic_message(&*p)),
                retry: false,
            })
        })
    })
    .await
    .unwrap_or_else(|e| {
        Handled::Finish(JobOutcome::Failed { error: format!("the job's task failed: {e}"), retry: false })
    });
    beat.abort();
    match handled {
        Handled::Finish(outcome) => {
            if let JobOutcome::Failed { error, .. } = &outcome {
                tracing::warn!(job = job.id, error = %error, "job failed");
            }
            // the outcome must reach the store: retry through a database restart
            for attempt in 0..30 {
                match store.finish_job(&job, &outcome, cfg.retry_base).await {
                    // the job's webhook events are queued in the transaction that records the outcome
                    Ok(true) => break,
                    Ok(false) => {
                        tracing::warn!(job = job.id, "lease lost before the job ended; its outcome is dropped");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(job = job.id, attempt, error = %format!("{e:#}"), "could not record the outcome; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        // recorded with its webhook events in one transaction (`store::succeed_job!`)
        Handled::Recorded => {}
        Handled::Interrupted => {
            if !ctx.lost.load(Ordering::SeqCst) {
                if let Err(e) = store.release_job(&job).await {
                    tracing::warn!(job = job.id, error = %format!("{e:#}"), "could not release the job; its lease will expire");
                }
            }
        }
    }
    tracing::info!(job = job.id, seconds = started.elapsed().as_secs_f64(), "job ended");
}

/// A name for this worker process, unique enough across machines.
pub fn worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "genfab".into());
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    format!("{host}:{}:{}", std::process::id(), hex::encode(b))
}

/// Claims and runs jobs (at most `concurrency` at once) and fires schedule slots until
/// `shutdown` turns true; then asks running jobs to stop, waits for them, and releases the rest.
pub async fn run_worker(store: Store, cfg: WorkerConfig, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let owner = worker_name();
    tracing::info!(worker = %owner, concurrency = cfg.concurrency, "worker started");
    let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut running = JoinSet::new();
    let mut last_tick = Instant::now() - Duration::from_secs(3600);
    let mut last_sweep = Instant::now() - Duration::from_secs(3600);
    let mut last_purge = Instant::now() - Duration::from_secs(3600);
    loop {
        if *shutdown.borrow() {
            break;
        }
        while running.try_join_next().is_some() {}
        if cfg.schedules && last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            if let Err(e) = scheduler::tick(&store).await {
                tracing::error!(error = %format!("{e:#}"), "schedule tick failed");
            }
        }
        if last_sweep.elapsed() >= cfg.heartbeat.min(Duration::from_secs(5)) {
            last_sweep = Instant::now();
            if let Err(e) = store.sweep_expired().await {
                tracing::error!(error = %format!("{e:#}"), "sweeping expired jobs failed");
            }
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = Instant::now();
            match store.purge_scores(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "scored rows past their detector's retention deleted"),
                Err(e) => tracing::error!(error = %format!("{e:#}"), "purging scored rows failed"),
            }
            // Idempotency-Keys are honoured for 24 hours
            if let Err(e) = store.purge_idempotency(chrono::Utc::now() - chrono::Duration::hours(24)).await {
                tracing::error!(error = %format!("{e:#}"), "purging idempotency records failed");
            }
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p?,
            _ = shutdown.changed() => continue,
        };
        match store.claim_job(&owner, cfg.lease_chrono(), None).await {
            Ok(Some(job)) => {
                let (store, cfg, stopping) = (store.clone(), cfg.clone(), stopping.clone());
                running.spawn(async move {
                    execute(store, job, cfg, stopping).await;
                    drop(permit);
                });
                continue;
            }
            Ok(None) => drop(permit),
            Err(e) => {
                drop(permit);
                tracing::error!(error = %format!("{e:#}"), "claiming a job failed (is the database up?)");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    stopping.store(true, Ordering::SeqCst);
    let waited = tokio::time::timeout(cfg.shutdown_grace, async { while running.join_next().await.is_some() {} }).await;
    if waited.is_err() {
        tracing::warn!(worker = %owner, "jobs still running after the shutdown grace; releasing them");
    }
    let released = store.release_jobs(&owner).await?;
    tracing::info!(worker = %owner, released, "worker stopped");
    Ok(())
}

impl JobContext {
    /// Applies what a heartbeat or progress report learned.
    pub(crate) fn note(&self, lease: Lease) {
        match lease {
            Lease::Held { cancel_requested } => {
                if cancel_requested {
                    self.cancel.store(true, Ordering::SeqCst);
                }
            }
            Lease::Lost => self.lost.store(true, Ordering::SeqCst),
        }
    }
}
