//! Webhooks: the events a subscription can receive, the signed body of a delivery, and the check
//! a receiver makes (docs/mes-integration.md, "Webhooks"). Subscriptions and deliveries are stored
//! by `store::webhooks`, sent by the `webhook` job (`jobs::webhook`), managed under `/api/v1/webhooks`.

use crate::store::{DeliveryRow, Store};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The events a subscription may ask for.
pub const EVENTS: &[&str] =
    &["job.succeeded", "job.failed", "dataset.version_created", "detector.anomaly", "study.run_finished"];

/// The event `POST /api/v1/webhooks/{id}/ping` sends, whatever the subscription asked for.
pub const PING: &str = "ping";

/// Attempts of a delivery job before the delivery is `failed` (backoff doubles from the
/// worker's retry base: 10 s, 20 s, ... about 21 minutes in all by default).
pub const DELIVERY_ATTEMPTS: i32 = 8;

/// A receiver's answer is kept up to this many bytes.
pub const RESPONSE_KEPT: usize = 2048;

/// How old a signature's timestamp may be before `verify` refuses it (replay protection).
pub const TOLERANCE_SECS: i64 = 300;

/// The header holding the signature.
pub const SIGNATURE_HEADER: &str = "Genfab-Signature";

/// The body of a delivery: the same bytes on every attempt of it.
pub fn body(d: &DeliveryRow) -> Vec<u8> {
    let v = json!({ "id": d.id, "event": d.event, "created_at": d.created_at, "data": d.payload.0 });
    serde_json::to_vec(&v).expect("a JSON value serialises")
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The `Genfab-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is not 't=<unix seconds>,v1=<hex>'")]
    Malformed,
    #[error("the signature's timestamp is more than 5 minutes away from now (a replay?)")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The receiver's check: the header's HMAC matches `body` under `secret` (compared in constant
/// time) and its timestamp is within `TOLERANCE_SECS` of `now` (unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut t = None;
    let mut sigs = vec![];
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    if sigs.iter().any(|s| mac(secret, t, body).verify_slice(s).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Queues `event` to every active subscription to it, in a transaction of its own. Never fails
/// the caller: a failure is logged (the operation it reports on has happened). Only for events
/// that share no transaction with a write (`detector.anomaly`: the scores are kept by a batching
/// writer); an event about a write is queued inside that write's transaction (`store::webhooks`).
pub async fn emit(store: &Store, event: &str, data: Value) {
    match store.emit_event(event, &data).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(event, deliveries = n, "webhook event queued"),
        Err(e) => tracing::warn!(event, error = %format!("{e:#}"), "could not queue the webhook event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_body_or_old_timestamp_does_not() {
        let body = br#"{"data":{"job_id":1},"event":"job.succeeded","id":7}"#;
        let h = sign("s3cret-s3cret-s3cret", 1_700_000_000, body);
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(verify("s3cret-s3cret-s3cret", &h, body, 1_700_000_010), Ok(()));
        assert_eq!(verify("another-secret-here", &h, body, 1_700_000_010), Err(SignatureError::Mismatch));
        let tampered = br#"{"data":{"job_id":2},"event":"job.succeeded","id":7}"#;
        assert_eq!(verify("s3cret-s3cret-s3cret", &h, tampered, 1_700_000_010), Err(SignatureError::Mismatch));
        assert_eq!(verify("s3cret-s3cret-s3cret", &h, body, 1_700_000_000 + 301), Err(SignatureError::Stale));
        assert_eq!(verify("s3cret-s3cret-s3cret", "v1=abcd", body, 0), Err(SignatureError::Malformed));
    }

    /// Known answer from Python `hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest()` (and
    /// `printf '1.{}' | openssl dgst -sha256 -hmac key`).
    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        assert_eq!(sign("key", 1, b"{}"), "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224");
    }
}
