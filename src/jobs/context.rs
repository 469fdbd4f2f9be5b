//! What a handler gets: the store, its job, and the flags that tell it to stop.

use crate::store::{ClaimedJob, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a handler should stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopWhy {
    /// A user asked to cancel: end `cancelled`, keep what was done.
    Cancel,
    /// The worker is shutting down or lost the lease: leave the job for another worker.
    Interrupt,
}

/// A running job as its handler (on a blocking thread) sees it.
pub struct JobContext {
    pub store: Store,
    pub job: ClaimedJob,
    pub(crate) lease: chrono::Duration,
    rt: tokio::runtime::Handle,
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) lost: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
    last_report: Mutex<Option<Instant>>,
}

/// Progress reports closer together than this are skipped (a tiny dataset trains thousands of epochs a second).
const REPORT_EVERY: Duration = Duration::from_millis(250);

impl JobContext {
    pub(crate) fn new(store: Store, job: ClaimedJob, lease: chrono::Duration, shutdown: Arc<AtomicBool>) -> JobContext {
        JobContext {
            store,
            job,
            lease,
            rt: tokio::runtime::Handle::current(),
            cancel: Arc::default(),
            lost: Arc::default(),
            shutdown,
            last_report: Mutex::new(None),
        }
    }

    /// Runs a store call from the handler's blocking thread.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Records progress (0..1) and a message; also renews the lease and learns of cancel
    /// requests. `force` reports even if the last report was moments ago.
    pub fn progress(&self, fraction: f64, message: &str, force: bool) {
        {
            let mut last = self.last_report.lock().unwrap_or_else(|e| e.into_inner());
            if !force && last.is_some_and(|t| t.elapsed() < REPORT_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let r = self.block_on(self.store.report_progress(
            &self.job,
            self.lease,
            Some(fraction.clamp(0.0, 1.0)),
            Some(message),
        ));
        match r {
            Ok(lease) => self.note(lease),
            Err(e) => tracing::warn!(job = self.job.id, error = %format!("{e:#}"), "could not report progress"),
        }
    }

    /// Whether the handler should stop now, and why.
    pub fn should_stop(&self) -> Option<StopWhy> {
        if self.lost.load(Ordering::SeqCst) || self.shutdown.load(Ordering::SeqCst) {
            Some(StopWhy::Interrupt)
        } else if self.cancel.load(Ordering::SeqCst) {
            Some(StopWhy::Cancel)
        } else {
            None
        }
    }

    /// The job's payload field, or a permanent failure naming it.
    pub fn field<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, String> {
        let v = self.job.payload.0.get(name).cloned().unwrap_or(serde_json::Value::Null);
        serde_json::from_value(v).map_err(|e| format!("job {} payload field '{name}': {e}", self.job.id))
    }
}
