//! `noop`: a diagnostic job that sleeps, fails or panics on request. It measures the queue
//! (`genfab bench queue`), checks a deployment's workers, and proves the worker's fault
//! handling in tests. Payload: `{"sleep_ms": N, "fail": "message", "panic": "message"}`.

use super::context::StopWhy;
use super::{Handled, JobContext};
use crate::store::JobOutcome;
use std::time::{Duration, Instant};

pub fn run(ctx: &JobContext) -> Handled {
    let sleep_ms: Option<u64> = ctx.field("sleep_ms").unwrap_or(None);
    if let Some(ms) = sleep_ms {
        let end = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < end {
            match ctx.should_stop() {
                Some(StopWhy::Cancel) => return Handled::Finish(JobOutcome::Cancelled(serde_json::json!({}))),
                Some(StopWhy::Interrupt) => return Handled::Interrupted,
                None => {}
            }
            std::thread::sleep(end.saturating_duration_since(Instant::now()).min(Duration::from_millis(20)));
        }
    }
    if let Ok(Some(msg)) = ctx.field::<Option<String>>("panic") {
        panic!("{msg}");
    }
    if let Ok(Some(msg)) = ctx.field::<Option<String>>("fail") {
        return Handled::Finish(JobOutcome::Failed { error: msg, retry: true });
    }
    Handled::Finish(JobOutcome::Succeeded(serde_json::json!({ "worker": ctx.job.lease_owner })))
}
