//! `webhook`: sends one delivery (payload `{"delivery_id": N}`) to its subscription's URL, signed
//! with the subscription's secret. A 2xx answer delivers it; anything else is recorded on the
//! delivery and fails the attempt with retry, so the queue retries it with exponential backoff
//! until `webhooks::DELIVERY_ATTEMPTS` are used up (then the delivery is `failed`).

use super::{Handled, JobContext};
use crate::store::{Attempt, JobOutcome};
use crate::webhooks;
use serde_json::json;
use std::time::Duration;

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the receiver did with one POST.
enum Sent {
    Answered { status: u16, body: String },
    Unreachable(String),
}

pub fn run(ctx: &JobContext) -> Handled {
    let id: i64 = match ctx.field("delivery_id") {
        Ok(id) => id,
        Err(e) => return Handled::Finish(JobOutcome::Failed { error: e, retry: false }),
    };
    let target = match ctx.block_on(ctx.store.delivery_target(id)) {
        Ok(t) => t,
        Err(e) => return Handled::Finish(JobOutcome::Failed { error: format!("{e:#}"), retry: true }),
    };
    let Some(t) = target else {
        let kept = "nothing: the delivery or its subscription was deleted";
        return Handled::Finish(JobOutcome::Succeeded(json!({ "delivery_id": id, "sent": false, "kept": kept })));
    };
    if !t.active {
        let kept = "nothing: the subscription is inactive";
        return Handled::Finish(JobOutcome::Succeeded(json!({ "delivery_id": id, "sent": false, "kept": kept })));
    }
    if t.delivery.status == "delivered" {
        // this job ran before and lost its lease after the receiver took the delivery
        return Handled::Finish(JobOutcome::Succeeded(json!({ "delivery_id": id, "sent": false, "already": true })));
    }
    let body = webhooks::body(&t.delivery);
    let signature = webhooks::sign(&t.secret, chrono::Utc::now().timestamp(), &body);
    let sent = ctx.block_on(post(&t.url, &t.delivery.event, id, &signature, body));
    let last = ctx.job.attempts >= ctx.job.max_attempts;
    let (attempt, error) = match sent {
        Sent::Answered { status, body } => {
            let delivered = (200..300).contains(&status);
            let error = (!delivered).then(|| format!("{} answered HTTP {status}", t.url));
            let a = Attempt { status_code: Some(status.into()), response: Some(body), error: None, delivered, last };
            (a, error)
        }
        Sent::Unreachable(e) => {
            let error = format!("could not POST to {}: {e}", t.url);
            let a = Attempt { status_code: None, response: None, error: Some(error.clone()), delivered: false, last };
            (a, Some(error))
        }
    };
    if let Err(e) = ctx.block_on(ctx.store.record_attempt(id, &attempt)) {
        tracing::warn!(job = ctx.job.id, delivery = id, error = %format!("{e:#}"), "could not record the delivery attempt");
    }
    match error {
        None => {
            Handled::Finish(JobOutcome::Succeeded(json!({ "delivery_id": id, "status_code": attempt.status_code })))
        }
        Some(error) => Handled::Finish(JobOutcome::Failed { error, retry: true }),
    }
}

async fn post(url: &str, event: &str, delivery_id: i64, signature: &str, body: Vec<u8>) -> Sent {
    // a client per delivery: its connections must not outlive the runtime that sends
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("genfab-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Sent::Unreachable(format!("{e}")),
    };
    let r = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("Genfab-Event", event)
        .header("Genfab-Delivery", delivery_id.to_string())
        .header(webhooks::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    let mut r = match r {
        Ok(r) => r,
        Err(e) => return Sent::Unreachable(describe(&e)),
    };
    let status = r.status().as_u16();
    // keep the start of the answer only, without reading a huge one whole
    let mut kept = Vec::new();
    while kept.len() < webhooks::RESPONSE_KEPT {
        match r.chunk().await {
            Ok(Some(c)) => kept.extend_from_slice(&c),
            Ok(None) | Err(_) => break,
        }
    }
    kept.truncate(webhooks::RESPONSE_KEPT);
    // Postgres text holds no NUL
    Sent::Answered { status, body: String::from_utf8_lossy(&kept).replace('\0', "") }
}

/// A connection error with its causes (reqwest's own message is often just "error sending request").
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    if e.is_timeout() {
        s.push_str(&format!(" (no answer within {} s)", TIMEOUT.as_secs()));
    }
    s
}
