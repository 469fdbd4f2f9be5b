//! Limits per request and per token under `/api/v1`, enforced by one middleware (`enforce`):
//! - JSON bodies: nesting depth and string length, checked on the bytes as they stream in,
//!   before any handler turns them into types; the refusal names the path of the value.
//! - Rate: a token bucket per token (requests per second with a burst), answered 429 with
//!   `Retry-After`. Buckets live in this process's memory: each API process allows the rate on
//!   its own, so N processes behind a balancer allow up to N times the rate.
//! - Jobs: a token may have at most N jobs queued or running that it queued. Requests that may
//!   queue a job from one token are serialized in this process (count, then insert, under a
//!   per-token lock), so one process never lets a token past the limit; several API processes
//!   may each let one request through at the same moment, overshooting by at most one job per
//!   process.
//!
//! Requests without a valid token are not counted against any token: their handler answers 401.

use super::caller::Caller;
use super::error::ApiError;
use super::AppState;
use crate::config::Limits;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a client refused for too many jobs is told to wait: jobs take seconds to hours, so
/// this is a polite polling interval rather than a promise.
const JOBS_RETRY_AFTER: u64 = 10;

// ---------------------------------------------------------------------------------------------
// JSON depth and string length

/// What a JSON body broke, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonViolation {
    /// The path of the offending value, e.g. `spec.objectives[0].expr` (empty: the whole body).
    pub path: String,
    pub detail: String,
}

enum Frame {
    Object { key: Option<String>, expect_key: bool },
    Array { index: usize },
}

/// A streaming scan of JSON text for depth and string length. It does not validate: anything
/// that is not JSON passes through to the parser, which says what is wrong with it.
pub struct JsonScan {
    max_depth: usize,
    max_string: usize,
    stack: Vec<Frame>,
    in_string: bool,
    escaped: bool,
    string_len: usize,
    /// The member name being read, when the open string is one (kept up to `KEY_SHOWN` bytes).
    key: Option<Vec<u8>>,
}

/// Bytes of a member name shown in a path.
const KEY_SHOWN: usize = 64;

impl JsonScan {
    pub fn new(max_depth: usize, max_string: usize) -> JsonScan {
        JsonScan { max_depth, max_string, stack: vec![], in_string: false, escaped: false, string_len: 0, key: None }
    }

    /// The path of the value being read.
    fn path(&self) -> String {
        let mut p = String::new();
        for f in &self.stack {
            match f {
                Frame::Object { key: Some(k), .. } => {
                    if !p.is_empty() {
                        p.push('.');
                    }
                    p.push_str(k);
                }
                Frame::Object { key: None, .. } => {}
                Frame::Array { index } => p.push_str(&format!("[{index}]")),
            }
        }
        p
    }

    /// Scans the next bytes of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), JsonViolation> {
        for &b in chunk {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if let Some(k) = self.key.take() {
                        let mut name = String::from_utf8_lossy(&k).into_owned();
                        if self.string_len > KEY_SHOWN {
                            name.push('…');
                        }
                        if let Some(Frame::Object { key, .. }) = self.stack.last_mut() {
                            *key = Some(name);
                        }
                    }
                    continue;
                }
                self.string_len += 1;
                if let Some(k) = self.key.as_mut().filter(|k| k.len() < KEY_SHOWN) {
                    k.push(b);
                }
                if self.string_len > self.max_string {
                    let what = if self.key.is_some() { "a member name" } else { "a string" };
                    let path = self.path();
                    return Err(JsonViolation {
                        detail: format!(
                            "{what} at {} is longer than {} bytes, the limit (GENFAB_MAX_STRING_BYTES)",
                            shown(&path),
                            self.max_string
                        ),
                        path,
                    });
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.string_len = 0;
                    if let Some(Frame::Object { expect_key: true, key, .. }) = self.stack.last_mut() {
                        *key = None;
                        self.key = Some(Vec::new());
                    }
                }
                b'{' | b'[' => {
                    if self.stack.len() >= self.max_depth {
                        let path = self.path();
                        return Err(JsonViolation {
                            detail: format!(
                                "the value at {} nests deeper than {} arrays and objects, the limit (GENFAB_MAX_JSON_DEPTH)",
                                shown(&path),
                                self.max_depth
                            ),
                            path,
                        });
                    }
                    self.stack.push(if b == b'{' {
                        Frame::Object { key: None, expect_key: true }
                    } else {
                        Frame::Array { index: 0 }
                    });
                }
                b'}' | b']' => {
                    self.stack.pop();
                }
                b':' => {
                    if let Some(Frame::Object { expect_key, .. }) = self.stack.last_mut() {
                        *expect_key = false;
                    }
                }
                b',' => match self.stack.last_mut() {
                    Some(Frame::Object { expect_key, .. }) => *expect_key = true,
                    Some(Frame::Array { index }) => *index += 1,
                    None => {}
                },
                _ => {}
            }
        }
        Ok(())
    }
}

fn shown(path: &str) -> String {
    if path.is_empty() {
        "the top of the body".to_string()
    } else {
        format!("'{path}'")
    }
}

/// Bodies that are tables in another format keep their own checks (`ingest`); everything else
/// (JSON, or a body without a media type, which the JSON handlers read all the same) is scanned.
fn scanned(req: &ServiceRequest) -> bool {
    let media = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = media.to_ascii_lowercase();
    !["text/csv", "application/vnd.apache.parquet", "application/octet-stream", "multipart/"]
        .iter()
        .any(|m| media.starts_with(m))
}

type Found = Rc<RefCell<Option<JsonViolation>>>;

/// Puts a scan between the body and whoever reads it; a violation ends the stream with an
/// error (so no handler sees the whole body) and is kept for the answer.
fn scan_body(req: &mut ServiceRequest, limits: &Limits) -> Found {
    let found: Found = Rc::new(RefCell::new(None));
    let mut scan = JsonScan::new(limits.max_json_depth, limits.max_string_bytes);
    let seen = found.clone();
    let refused = || PayloadError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "the JSON body is refused"));
    let stream = req.take_payload().map(move |chunk| {
        let chunk = chunk?;
        if seen.borrow().is_some() {
            return Err(refused());
        }
        if let Err(v) = scan.feed(&chunk) {
            *seen.borrow_mut() = Some(v);
            return Err(refused());
        }
        Ok(chunk)
    });
    let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(stream);
    req.set_payload(Payload::from(boxed));
    found
}

// ---------------------------------------------------------------------------------------------
// Rate per token

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per API token, in this process's memory.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

/// Buckets kept before full ones (idle tokens) are dropped.
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    pub fn new(limits: &Limits) -> RateLimiter {
        RateLimiter {
            rate: limits.rate_per_second,
            burst: f64::from(limits.rate_burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `token`'s bucket, or says how long until one is there.
    pub fn take(&self, token: i64, now: Instant) -> Result<(), Duration> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&token) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(token).or_insert(Bucket { tokens: self.burst, at: now });
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs per token

/// One lock per token, held while a request that may queue a job counts and queues.
#[derive(Default)]
pub struct JobGate {
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl JobGate {
    async fn enter(&self, token: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            if locks.len() >= MAX_BUCKETS {
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks.entry(token).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// Whether a request may queue a job (the routes that answer with a job, or start one).
pub fn queues_job(method: &Method, path: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    let rest = path.trim_end_matches('/').strip_prefix("/api/v1/").unwrap_or("");
    let parts: Vec<&str> = rest.split('/').collect();
    matches!(
        parts.as_slice(),
        ["models"]
            | ["models", _, "samples"]
            | ["synthetic"]
            | ["studies", _, "runs"]
            | ["detectors"]
            | ["detectors", _, "calibrate"]
            | ["schedules", _, "run"]
    )
}

// ---------------------------------------------------------------------------------------------
// The middleware

fn answer(req: HttpRequest, e: ApiError) -> ServiceResponse<BoxBody> {
    ServiceResponse::new(req, actix_web::ResponseError::error_response(&e))
}

/// A 429 whose `Retry-After` says when to come back.
fn too_many(title: &'static str, detail: String, retry_after_secs: u64) -> ApiError {
    ApiError::Retry { status: StatusCode::TOO_MANY_REQUESTS, title, detail, retry_after_secs }
}

/// The middleware (wrapped around the `/api/v1` scope, outside `idempotency`).
pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let caller = match req.headers().contains_key(header::AUTHORIZATION) {
        true => req.extract::<Caller>().await.ok(),
        false => None,
    };
    if let Some(c) = &caller {
        if let Err(wait) = state.rate.take(c.token_id, Instant::now()) {
            state.metrics.limit_refused("rate");
            let secs = wait.as_secs_f64().ceil() as u64;
            let e = too_many(
                "Too many requests",
                format!(
                    "this token sent more than {} requests per second (bursts of {}), the limit (GENFAB_RATE_PER_SECOND, GENFAB_RATE_BURST); retry after {} s",
                    state.limits.rate_per_second,
                    state.limits.rate_burst,
                    secs.max(1)
                ),
                secs,
            );
            return Ok(answer(req.request().clone(), e));
        }
    }
    let found = match scanned(&req) {
        true => Some(scan_body(&mut req, &state.limits)),
        false => None,
    };
    // no clone of the request may be held while it is routed (actix panics), so refusals below
    // take theirs when they answer
    let mut gate = None;
    if let Some(c) = caller.as_ref().filter(|_| state.limits.max_jobs_per_token > 0) {
        if queues_job(req.method(), req.path()) {
            let guard = state.job_gate.enter(c.token_id).await;
            let n = match state.store.count_active_jobs_by(c.token_id).await {
                Ok(n) => n,
                Err(e) => return Ok(answer(req.request().clone(), ApiError::Unexpected(e))),
            };
            let max = state.limits.max_jobs_per_token;
            if n >= max as i64 {
                state.metrics.limit_refused("jobs");
                let e = too_many(
                    "Too many jobs",
                    format!(
                        "this token has {n} jobs queued or running and may have {max} (GENFAB_MAX_JOBS_PER_TOKEN); \
                         wait for one to end or cancel one (GET /api/v1/jobs?status=queued), then retry"
                    ),
                    JOBS_RETRY_AFTER,
                );
                return Ok(answer(req.request().clone(), e));
            }
            gate = Some(guard);
        }
    }

    let res = match &caller {
        Some(c) => crate::store::as_job_creator(c.token_id, next.call(req)).await,
        None => next.call(req).await,
    };
    drop(gate);
    if let Some(v) = found.and_then(|f| f.take()) {
        state.metrics.limit_refused("json");
        let e = ApiError::Client {
            status: StatusCode::BAD_REQUEST,
            title: "JSON limit exceeded",
            detail: v.detail,
            row: None,
            column: None,
            field: Some(v.path),
        };
        return match res {
            Ok(r) => Ok(answer(r.request().clone(), e)),
            // a middleware inside (idempotency) failed on the cut body: the error answers
            Err(_) => Err(e.into()),
        };
    }
    Ok(res?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(body: &str, depth: usize, string: usize) -> Result<(), JsonViolation> {
        JsonScan::new(depth, string).feed(body.as_bytes())
    }

    #[test]
    fn names_the_path_of_a_long_string() {
        let body =
            r#"{"name": "s", "spec": {"objectives": [{"expr": "x"}, {"expr": "xxxxxxxxxxxx", "sense": "min"}]}}"#;
        assert!(scan(body, 32, 11).is_err());
        assert!(scan(body, 32, 12).is_ok());
        let v = scan(body, 32, 11).unwrap_err();
        assert_eq!(v.path, "spec.objectives[1].expr");
        assert!(v.detail.contains("'spec.objectives[1].expr'") && v.detail.contains("11 bytes"), "{}", v.detail);
    }

    #[test]
    fn names_the_path_of_a_deep_value() {
        let body = r#"{"a": [1, {"b": [[[]]]}]}"#;
        assert!(scan(body, 6, 100).is_ok());
        assert!(scan(body, 5, 100).is_err());
        let v = scan(body, 4, 100).unwrap_err();
        assert_eq!(v.path, "a[1].b[0]");
        assert!(v.detail.contains("deeper than 4"), "{}", v.detail);
        let v = scan("[[[[", 2, 100).unwrap_err();
        assert_eq!(v.path, "[0][0]");
        let v = scan("[1, [", 1, 100).unwrap_err();
        assert_eq!(v.path, "[1]");
    }

    #[test]
    fn escapes_braces_in_strings_and_chunk_borders_do_not_confuse_it() {
        let body = r#"{"a\"{[": "[[[[\\", "b": {"c": 1}}"#;
        assert!(scan(body, 2, 100).is_ok());
        let mut s = JsonScan::new(2, 100);
        for b in body.as_bytes().chunks(1) {
            assert!(s.feed(b).is_ok());
        }
        let mut s = JsonScan::new(32, 5);
        let r: Result<(), _> = br#"{"key": "abcdef"}"#.chunks(3).try_for_each(|c| s.feed(c));
        assert_eq!(r.unwrap_err().path, "key");
        // a long member name is named by where it is
        let v = scan(r#"{"a": {"abcdefgh": 1}}"#, 32, 4).unwrap_err();
        assert!(v.detail.contains("member name"), "{}", v.detail);
        assert_eq!(v.path, "a");
    }

    #[test]
    fn the_bucket_allows_the_burst_then_the_rate() {
        let limits = Limits { rate_per_second: 2.0, rate_burst: 3, ..Limits::default() };
        let r = RateLimiter::new(&limits);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(r.take(1, t0).is_ok());
        }
        let wait = r.take(1, t0).unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500), "{wait:?}");
        assert!(r.take(2, t0).is_ok(), "another token has its own bucket");
        assert!(r.take(1, t0 + Duration::from_millis(500)).is_ok());
        assert!(r.take(1, t0 + Duration::from_millis(500)).is_err());
        let off = RateLimiter::new(&Limits { rate_per_second: 0.0, ..Limits::default() });
        assert!((0..1000).all(|_| off.take(1, t0).is_ok()));
    }

    #[test]
    fn job_routes_are_recognised() {
        assert!(queues_job(&Method::POST, "/api/v1/models"));
        assert!(queues_job(&Method::POST, "/api/v1/studies/3/runs"));
        assert!(queues_job(&Method::POST, "/api/v1/detectors/x/calibrate/"));
        assert!(!queues_job(&Method::GET, "/api/v1/models"));
        assert!(!queues_job(&Method::POST, "/api/v1/datasets"));
        assert!(!queues_job(&Method::POST, "/api/v1/studies/3/ask"));
    }
}
