//! A breaker for database outages. While the database is unreachable every API call would wait
//! for the pool's acquire timeout and then fail; with the breaker, the first such failure opens
//! it and the calls that follow are answered at once with 503 and `Retry-After`, without touching
//! the database. When the wait is over one call goes through as a probe (the others still get
//! 503); its success closes the breaker, its failure opens it again. Nothing is written while it
//! is open, so a refused call can simply be sent again (with the same `Idempotency-Key`).
//!
//! The state is per process: each `genfab serve` finds out for itself.

use super::error::{ApiError, DatabaseUnreachable, DATABASE_RETRY_SECS, DATABASE_UNREACHABLE};
use super::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long the one probe may take before another call may probe (above the pool's 3 s acquire
/// timeout, so probes do not pile up).
const PROBE_MS: u64 = 4_000;

/// Milliseconds since the Unix epoch until which calls are refused; 0 while closed.
#[derive(Debug, Default)]
pub struct Breaker {
    open_until: AtomicU64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Breaker {
    /// `Ok` when this call may go to the database (closed, or this call is the probe); otherwise
    /// the seconds to wait.
    pub fn admit(&self) -> Result<(), u64> {
        loop {
            let until = self.open_until.load(Ordering::Acquire);
            if until == 0 {
                return Ok(());
            }
            let now = now_ms();
            if now < until {
                return Err((until - now).div_ceil(1000).max(1));
            }
            let probe_until = now + PROBE_MS;
            if self.open_until.compare_exchange(until, probe_until, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return Ok(());
            }
        }
    }

    /// What a call that went through learnt of the database.
    pub fn record(&self, unreachable: bool) {
        if unreachable {
            self.open_until.store(now_ms() + DATABASE_RETRY_SECS * 1000, Ordering::Release);
        } else if self.open_until.load(Ordering::Acquire) != 0 {
            self.open_until.store(0, Ordering::Release);
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != 0
    }
}

/// The middleware (the outermost one of the `/api/v1` scope). The OpenAPI document needs no
/// database and is always served.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.path() == "/api/v1/openapi.json" {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    if let Err(wait) = state.outage.admit() {
        return Ok(ApiError::unavailable(DATABASE_UNREACHABLE, wait).answer(req));
    }
    let res = next.call(req).await?;
    state.outage.record(res.response().extensions().get::<DatabaseUnreachable>().is_some());
    Ok(res.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_on_an_outage_lets_one_probe_through_and_closes_on_success() {
        let b = Breaker::default();
        assert_eq!(b.admit(), Ok(()));
        b.record(false);
        assert!(!b.is_open());
        b.record(true);
        let wait = b.admit().unwrap_err();
        assert!((1..=DATABASE_RETRY_SECS).contains(&wait), "{wait}");
        // the wait is over: exactly one call probes, the next is still refused
        b.open_until.store(now_ms() - 1, Ordering::Release);
        assert_eq!(b.admit(), Ok(()));
        assert!(b.admit().is_err());
        // the probe failed: open again; it succeeded: closed
        b.record(true);
        assert!(b.admit().is_err());
        b.record(false);
        assert!(!b.is_open());
        assert_eq!(b.admit(), Ok(()));
    }
}
