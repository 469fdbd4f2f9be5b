//! Idempotency records of POST requests answered by the `api::idempotency` middleware:
//! a key is reserved before the handler runs (status 0), then holds the answer to replay.
//! (Appends to a dataset write their record in the version's own transaction instead.)

use super::{dispatch, is_unique_violation, IdempotencyRecord, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

/// What reserving a key came to.
#[derive(Debug)]
pub enum Reservation {
    /// The key is new and now held by this request.
    Fresh,
    /// The key was used before (or is in use): its record.
    Taken(IdempotencyRecord),
}

impl Store {
    /// Holds `key` for a request with digest `sha`, unless it is already held or answered.
    pub async fn reserve_idempotency(&self, scope: &str, key: &str, sha: &str) -> anyhow::Result<Reservation> {
        let q = "INSERT INTO idempotency (scope, key, request_sha256, status, response, created_at) VALUES ($1, $2, $3, 0, $4, $5)";
        let empty = Json(serde_json::Value::Null);
        let r = dispatch!(self, p => sqlx::query(q).bind(scope).bind(key).bind(sha).bind(&empty).bind(Utc::now()).execute(p).await.map(|_| ()));
        match r {
            Ok(_) => Ok(Reservation::Fresh),
            Err(e) if is_unique_violation(&e) => match self.get_idempotency(scope, key).await? {
                Some(rec) => Ok(Reservation::Taken(rec)),
                // released between the two statements: the caller may retry at once
                None => Box::pin(self.reserve_idempotency(scope, key, sha)).await,
            },
            Err(e) => Err(anyhow::Error::new(e).context("could not reserve the idempotency key")),
        }
    }

    /// Keeps the answer to replay for the reserved key.
    pub async fn answer_idempotency(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        response: &serde_json::Value,
    ) -> anyhow::Result<()> {
        let q = "UPDATE idempotency SET status = $3, response = $4 WHERE scope = $1 AND key = $2";
        dispatch!(self, p => sqlx::query(q).bind(scope).bind(key).bind(status as i32).bind(Json(response)).execute(p).await.map(|_| ()))
            .context("could not keep the idempotent answer")?;
        Ok(())
    }

    /// Frees a reserved key whose request failed on the server's side, so a retry runs again.
    pub async fn release_idempotency(&self, scope: &str, key: &str) -> anyhow::Result<()> {
        let q = "DELETE FROM idempotency WHERE scope = $1 AND key = $2 AND status = 0";
        dispatch!(self, p => sqlx::query(q).bind(scope).bind(key).execute(p).await.map(|_| ()))
            .context("could not release the idempotency key")?;
        Ok(())
    }

    /// Deletes records older than `before` (keys are honoured for 24 hours).
    pub async fn purge_idempotency(&self, before: DateTime<Utc>) -> anyhow::Result<u64> {
        let q = "DELETE FROM idempotency WHERE created_at < $1";
        let r = dispatch!(self, p => sqlx::query(q).bind(before).execute(p).await.map(|r| r.rows_affected()))
            .context("could not purge idempotency records")?;
        Ok(r)
    }
}
