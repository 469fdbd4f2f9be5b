//! Webhook subscriptions and their deliveries. A delivery and the `webhook` job that sends it are
//! written in one transaction, so an event is either queued whole or not at all; an event about a
//! write is queued in that write's own transaction (`emit_in_tx!`), so it is never lost nor sent
//! about a write that rolled back.

use super::jobs::JobRow;
use super::BeginWrite as _;
use super::{dispatch, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

/// A subscription as the API shows it (never its secret).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub events: Json<Vec<String>>,
    pub active: bool,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A subscription to be stored; the API has checked every field.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub created_by: Option<i64>,
}

/// One event sent (or being sent) to one subscription.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub event: String,
    pub payload: Json<serde_json::Value>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_response: Option<String>,
    pub last_error: Option<String>,
    pub job_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What the delivery job needs: the delivery and where and how to send it.
#[derive(Clone, Debug)]
pub struct DeliveryTarget {
    pub delivery: DeliveryRow,
    pub url: String,
    pub secret: String,
    pub active: bool,
}

/// What one attempt to deliver came to.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub status_code: Option<i32>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub delivered: bool,
    /// No attempt follows: an undelivered delivery becomes `failed`.
    pub last: bool,
}

/// A subscription with how its recent deliveries went (the dashboard's Admin page).
#[derive(Clone, Debug)]
pub struct WebhookSummary {
    pub webhook: WebhookRow,
    /// The newest deliveries, newest first.
    pub recent: Vec<DeliveryRow>,
}

const WEBHOOK_COLUMNS: &str = "id, name, url, events, active, created_by, created_at";
const DELIVERY_COLUMNS: &str = "id, webhook_id, event, payload, status, attempts, last_status, last_response, \
    last_error, job_id, created_at, delivered_at";

/// Inserts a pending delivery and its `webhook` job inside a transaction; evaluates to the delivery id.
macro_rules! queue_delivery {
    ($tx:expr, $webhook_id:expr, $event:expr, $data:expr, $now:expr) => {
        async {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_deliveries (webhook_id, event, payload, status, created_at) \
                 VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
            )
            .bind($webhook_id)
            .bind($event)
            .bind(sqlx::types::Json($data))
            .bind($now)
            .fetch_one(&mut *$tx)
            .await?;
            let job = $crate::store::NewJob {
                max_attempts: $crate::webhooks::DELIVERY_ATTEMPTS,
                ..$crate::store::NewJob::new("webhook", serde_json::json!({ "delivery_id": id }))
            };
            let job_id = $crate::store::jobs::insert_job!(&mut *$tx, job, $now, None::<i64>, None::<i64>).await?;
            sqlx::query("UPDATE webhook_deliveries SET job_id = $1 WHERE id = $2")
                .bind(job_id)
                .bind(id)
                .execute(&mut *$tx)
                .await?;
            Ok::<i64, sqlx::Error>(id)
        }
    };
}
pub(crate) use queue_delivery;

/// Queues `$event` (`&str`) with `$data` (`&serde_json::Value`) to every active subscription to
/// it inside the caller's transaction `$conn` (`&mut` connection of either backend): one delivery
/// and one delivery job each. Evaluates to how many were queued.
///
/// Use it in the transaction of the write the event reports on. An error here is that
/// transaction's error: the caller returns it and the write rolls back with the event, so a
/// failure to queue an event fails the write (nothing is half-written, no event is lost).
macro_rules! emit_in_tx {
    ($conn:expr, $event:expr, $data:expr, $now:expr) => {
        async {
            let conn = $conn;
            let (event, data, now): (&str, &serde_json::Value, _) = ($event, $data, $now);
            let subs: Vec<(i64, sqlx::types::Json<Vec<String>>)> =
                sqlx::query_as("SELECT id, events FROM webhooks WHERE active ORDER BY id")
                    .fetch_all(&mut *conn)
                    .await?;
            let mut queued = 0usize;
            for (id, events) in subs {
                if events.0.iter().any(|e| e == event) {
                    $crate::store::webhooks::queue_delivery!(conn, id, event, data, now).await?;
                    queued += 1;
                }
            }
            Ok::<usize, sqlx::Error>(queued)
        }
    };
}
pub(crate) use emit_in_tx;

/// Queues the events of job `$id` (`i64`) whose outcome the caller's transaction `$conn` has
/// just written (`job_ended_events`). Like `emit_in_tx!`, an error fails that transaction: the
/// outcome is not recorded without its events.
macro_rules! emit_job_ended_in_tx {
    ($conn:expr, $id:expr, $now:expr) => {
        async {
            let conn = $conn;
            let (id, now): (i64, _) = ($id, $now);
            let q = format!("SELECT {} FROM jobs WHERE id = $1", $crate::store::jobs::JOB_COLUMNS);
            let Some(job) = sqlx::query_as::<_, $crate::store::JobRow>(&q).bind(id).fetch_optional(&mut *conn).await?
            else {
                return Ok(0);
            };
            let run_id = (job.kind == "optimize")
                .then(|| job.payload.0.get("run_id").and_then(serde_json::Value::as_i64))
                .flatten();
            let study_id: Option<i64> = match run_id {
                Some(run_id) => {
                    sqlx::query_scalar("SELECT study_id FROM study_runs WHERE id = $1")
                        .bind(run_id)
                        .fetch_optional(&mut *conn)
                        .await?
                }
                None => None,
            };
            let mut queued = 0usize;
            for (event, data) in $crate::store::webhooks::job_ended_events(&job, study_id) {
                queued += $crate::store::webhooks::emit_in_tx!(&mut *conn, event, &data, now).await?;
            }
            Ok::<usize, sqlx::Error>(queued)
        }
    };
}
pub(crate) use emit_job_ended_in_tx;

/// The events a job that has ended sends, with their data: `job.succeeded` or `job.failed`
/// (after the last attempt), and `study.run_finished` for an optimisation run that succeeded,
/// failed or was cancelled (`study_id` is its run's study). None for a job still queued (a retry
/// follows) or for the delivery jobs themselves.
pub(crate) fn job_ended_events(job: &JobRow, study_id: Option<i64>) -> Vec<(&'static str, serde_json::Value)> {
    let mut events = vec![];
    if job.kind == "webhook" {
        return events;
    }
    let payload = &job.payload.0;
    let mut data = serde_json::json!({
        "job_id": job.id, "kind": job.kind, "status": job.status, "attempts": job.attempts,
        "dataset_id": job.dataset_id, "finished_at": job.finished_at,
    });
    for key in ["model_id", "run_id", "study_id", "detector_id"] {
        if let Some(v) = payload.get(key).and_then(serde_json::Value::as_i64) {
            data[key] = v.into();
        }
    }
    match job.status.as_str() {
        "succeeded" => events.push(("job.succeeded", data.clone())),
        "failed" => {
            let mut error = job.last_error.clone().unwrap_or_default();
            if let Some((cut, _)) = error.char_indices().nth(500) {
                error.truncate(cut);
            }
            data["error"] = error.into();
            events.push(("job.failed", data.clone()));
        }
        _ => {}
    }
    if job.kind == "optimize" && matches!(job.status.as_str(), "succeeded" | "failed" | "cancelled") {
        let r = job.result.as_ref().map(|r| &r.0);
        let count = |k: &str| r.and_then(|r| r.get(k)).and_then(serde_json::Value::as_i64);
        data["evaluations"] = count("evaluations").into();
        data["feasible"] = count("feasible").into();
        data["pareto_size"] = count("pareto_size").into();
        if let Some(o) = data.as_object_mut() {
            o.remove("error");
        }
        if payload.get("run_id").and_then(serde_json::Value::as_i64).is_some() {
            data["study_id"] = study_id.into();
        }
        events.push(("study.run_finished", data));
    }
    events
}

impl Store {
    pub async fn create_webhook(&self, w: &NewWebhook) -> anyhow::Result<WebhookRow> {
        let q = format!(
            "INSERT INTO webhooks (name, url, events, secret, active, created_by, created_at) \
             VALUES ($1, $2, $3, $4, TRUE, $5, $6) RETURNING {WEBHOOK_COLUMNS}"
        );
        let now = Utc::now();
        dispatch!(self, p => sqlx::query_as::<_, WebhookRow>(&q).bind(&w.name).bind(&w.url).bind(Json(&w.events))
            .bind(&w.secret).bind(w.created_by).bind(now).fetch_one(p).await)
        .context("could not store the webhook")
    }

    /// Every subscription, oldest first.
    pub async fn list_webhooks(&self) -> anyhow::Result<Vec<WebhookRow>> {
        let q = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id");
        dispatch!(self, p => sqlx::query_as::<_, WebhookRow>(&q).fetch_all(p).await).context("could not list webhooks")
    }

    pub async fn get_webhook(&self, id: i64) -> anyhow::Result<Option<WebhookRow>> {
        let q = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
        dispatch!(self, p => sqlx::query_as::<_, WebhookRow>(&q).bind(id).fetch_optional(p).await)
            .context("could not read the webhook")
    }

    /// Deletes a subscription with its deliveries, cancelling the ones still queued; false if
    /// there was none.
    pub async fn delete_webhook(&self, id: i64) -> anyhow::Result<bool> {
        let now = Utc::now();
        let r: Result<bool, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query("UPDATE jobs SET status = 'cancelled', cancel_requested = TRUE, finished_at = $1 \
                         WHERE status = 'queued' AND id IN (SELECT job_id FROM webhook_deliveries WHERE webhook_id = $2)")
                .bind(now).bind(id).execute(&mut *tx).await?;
            let n = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(n > 0)
        }.await);
        r.context("could not delete the webhook")
    }

    /// A subscription's deliveries newest first, with ids below `before` (0: from the newest).
    pub async fn list_deliveries(&self, webhook_id: i64, before: i64, limit: i64) -> anyhow::Result<Vec<DeliveryRow>> {
        let q = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND ($2 = 0 OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        );
        dispatch!(self, p => sqlx::query_as::<_, DeliveryRow>(&q).bind(webhook_id).bind(before).bind(limit).fetch_all(p).await)
            .context("could not list the deliveries")
    }

    pub async fn get_delivery(&self, webhook_id: i64, id: i64) -> anyhow::Result<Option<DeliveryRow>> {
        let q = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2");
        dispatch!(self, p => sqlx::query_as::<_, DeliveryRow>(&q).bind(webhook_id).bind(id).fetch_optional(p).await)
            .context("could not read the delivery")
    }

    /// Every subscription with its `n` newest deliveries.
    pub async fn webhook_summaries(&self, n: i64) -> anyhow::Result<Vec<WebhookSummary>> {
        let mut out = vec![];
        for webhook in self.list_webhooks().await? {
            let recent = self.list_deliveries(webhook.id, 0, n).await?;
            out.push(WebhookSummary { webhook, recent });
        }
        Ok(out)
    }

    /// Queues `event` with `data` to every active subscription to it in a transaction of its
    /// own (an event about no write of genfab's, such as `detector.anomaly`; an event about a
    /// write is queued in that write's transaction with `emit_in_tx!`). Returns how many were queued.
    pub async fn emit_event(&self, event: &str, data: &serde_json::Value) -> anyhow::Result<usize> {
        let now = Utc::now();
        let r: Result<usize, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let queued = emit_in_tx!(&mut *tx, event, data, now).await?;
            tx.commit().await?;
            Ok(queued)
        }.await);
        r.with_context(|| format!("could not queue the '{event}' webhook deliveries"))
    }

    /// Queues one delivery of `event` to one subscription, whatever it subscribed to (a ping,
    /// a replay); `None` when there is no such subscription.
    pub async fn queue_delivery(
        &self,
        webhook_id: i64,
        event: &str,
        data: &serde_json::Value,
    ) -> anyhow::Result<Option<DeliveryRow>> {
        let now = Utc::now();
        let r: Result<Option<i64>, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM webhooks WHERE id = $1")
                .bind(webhook_id).fetch_optional(&mut *tx).await?;
            if found.is_none() {
                return Ok(None);
            }
            let id = queue_delivery!(tx, webhook_id, event, data, now).await?;
            tx.commit().await?;
            Ok(Some(id))
        }.await);
        match r.context("could not queue the delivery")? {
            Some(id) => self.get_delivery(webhook_id, id).await,
            None => Ok(None),
        }
    }

    /// A delivery with its subscription's URL and secret; `None` when either was deleted.
    pub async fn delivery_target(&self, id: i64) -> anyhow::Result<Option<DeliveryTarget>> {
        let q = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
        let Some(delivery) =
            dispatch!(self, p => sqlx::query_as::<_, DeliveryRow>(&q).bind(id).fetch_optional(p).await)
                .context("could not read the delivery")?
        else {
            return Ok(None);
        };
        let q = "SELECT url, secret, active FROM webhooks WHERE id = $1";
        let sub: Option<(String, String, bool)> =
            dispatch!(self, p => sqlx::query_as(q).bind(delivery.webhook_id).fetch_optional(p).await)
                .context("could not read the webhook")?;
        Ok(sub.map(|(url, secret, active)| DeliveryTarget { delivery, url, secret, active }))
    }

    /// Records one attempt on its delivery.
    pub async fn record_attempt(&self, delivery_id: i64, a: &Attempt) -> anyhow::Result<()> {
        let status = match (a.delivered, a.last) {
            (true, _) => "delivered",
            (false, true) => "failed",
            (false, false) => "pending",
        };
        let now = Utc::now();
        let q = "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_status = $2, \
                 last_response = $3, last_error = $4, delivered_at = CASE WHEN $1 = 'delivered' THEN $5 ELSE delivered_at END \
                 WHERE id = $6";
        dispatch!(self, p => sqlx::query(q).bind(status).bind(a.status_code).bind(&a.response).bind(&a.error)
            .bind(now).bind(delivery_id).execute(p).await.map(|_| ()))
        .context("could not record the delivery attempt")
    }
}
