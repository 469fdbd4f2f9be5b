//! Anomaly detectors: the detector, its calibrated versions (written with the job's success) and
//! the rows scored against it, kept for a retention period.

use super::jobs::{insert_job, succeed_job, ClaimedJob, NewJob};
use super::BeginWrite as _;
use super::{dispatch, is_unique_violation, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

/// Scored rows per INSERT statement (Postgres allows 65,535 binds; a row takes 8).
const BULK: usize = 1000;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct DetectorRow {
    pub id: i64,
    pub name: String,
    pub dataset_id: i64,
    pub spec: Json<serde_json::Value>,
    pub known_columns: Json<Vec<String>>,
    pub retention_days: i32,
    /// `before_answer` or `after_answer`.
    pub persist: String,
    pub current_version: Option<i32>,
    pub created_at: DateTime<Utc>,
}

const DETECTOR_SELECT: &str =
    "SELECT id, name, dataset_id, spec, known_columns, retention_days, persist, current_version, created_at FROM detectors";

/// A detector to create.
#[derive(Clone, Debug)]
pub struct NewDetector<'a> {
    pub name: &'a str,
    pub dataset_id: i64,
    pub spec: &'a serde_json::Value,
    /// Every column of the dataset version it was made on.
    pub known_columns: &'a [String],
    pub retention_days: i32,
    /// `before_answer` or `after_answer`.
    pub persist: &'a str,
}

/// A calibrated version to store.
#[derive(Clone, Debug)]
pub struct NewDetectorVersion {
    pub dataset_version: i32,
    pub dataset_sha256: String,
    pub model_id: Option<i64>,
    pub model: Vec<u8>,
    pub threshold: f64,
    pub calibration: serde_json::Value,
    pub reference: serde_json::Value,
    pub summary: serde_json::Value,
}

/// A stored version without its model file.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct VersionRow {
    pub id: i64,
    pub detector_id: i64,
    pub version: i32,
    pub job_id: Option<i64>,
    pub dataset_version: i32,
    pub dataset_sha256: String,
    pub model_id: Option<i64>,
    pub threshold: f64,
    pub calibration: Json<serde_json::Value>,
    pub reference: Json<serde_json::Value>,
    pub summary: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

const VERSION_SELECT: &str = "SELECT id, detector_id, version, job_id, dataset_version, dataset_sha256, model_id, \
    threshold, calibration, reference, summary, created_at FROM detector_versions";

/// A scored row to keep.
#[derive(Clone, Debug)]
pub struct NewScore {
    pub detector_id: i64,
    pub version: i32,
    pub part: Option<String>,
    pub score: f64,
    pub anomaly: bool,
    /// The row's values and its top contributions, as JSON text.
    pub values: Box<serde_json::value::RawValue>,
    pub top: Box<serde_json::value::RawValue>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ScoreRow {
    pub id: i64,
    pub version: i32,
    pub scored_at: DateTime<Utc>,
    pub part: Option<String>,
    pub score: f64,
    pub anomaly: bool,
    pub row_values: Json<serde_json::Value>,
    pub top: Json<serde_json::Value>,
}

/// Which scored rows to read, newest first.
#[derive(Clone, Debug, Default)]
pub struct ScoreQuery {
    /// Only rows with ids below this (0: from the newest).
    pub before: i64,
    pub limit: i64,
    pub anomalies_only: bool,
    pub since: Option<DateTime<Utc>>,
    pub version: Option<i32>,
}

impl Store {
    /// Creates a detector and queues its first calibration in one transaction; `None` when the
    /// name is taken. The job's payload gets `detector_id` added. Returns (detector id, job id).
    pub async fn create_detector(
        &self,
        d: &NewDetector<'_>,
        payload: serde_json::Value,
    ) -> anyhow::Result<Option<(i64, i64)>> {
        let now = Utc::now();
        let r: Result<(i64, i64), sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let id: i64 = sqlx::query_scalar("INSERT INTO detectors (name, dataset_id, spec, known_columns, retention_days, persist, created_at) \
                                              VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
                .bind(d.name).bind(d.dataset_id).bind(Json(d.spec)).bind(Json(d.known_columns)).bind(d.retention_days)
                .bind(d.persist).bind(now)
                .fetch_one(&mut *tx).await?;
            let mut payload = payload;
            payload["detector_id"] = id.into();
            let job = NewJob { dataset_id: Some(d.dataset_id), ..NewJob::new("calibrate", payload) };
            let job_id = insert_job!(&mut *tx, job, now, None::<i64>, None::<i64>).await?;
            tx.commit().await?;
            Ok((id, job_id))
        }.await);
        match r {
            Ok(ids) => Ok(Some(ids)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e).context("could not create the detector"),
        }
    }

    pub async fn get_detector(&self, id: i64) -> anyhow::Result<Option<DetectorRow>> {
        let q = format!("{DETECTOR_SELECT} WHERE id = $1");
        dispatch!(self, p => sqlx::query_as::<_, DetectorRow>(&q).bind(id).fetch_optional(p).await)
            .context("could not read the detector")
    }

    /// Detectors newest first, with ids below `before` (0: from the newest).
    pub async fn list_detectors(&self, before: i64, limit: i64) -> anyhow::Result<Vec<DetectorRow>> {
        let q = format!("{DETECTOR_SELECT} WHERE ($1 = 0 OR id < $1) ORDER BY id DESC LIMIT $2");
        dispatch!(self, p => sqlx::query_as::<_, DetectorRow>(&q).bind(before).bind(limit).fetch_all(p).await)
            .context("could not list detectors")
    }

    /// Stores a new version (numbered after the last), makes it current and marks the job
    /// succeeded, if this worker still holds it; `None` when it does not. A job that already
    /// stored its version (re-run after a crash between commit and answer) finds it.
    pub async fn complete_calibration(
        &self,
        job: &ClaimedJob,
        detector_id: i64,
        v: &NewDetectorVersion,
        result: &serde_json::Value,
    ) -> anyhow::Result<Option<i32>> {
        let now = Utc::now();
        let r: Result<Option<i32>, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let next: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) FROM detector_versions WHERE detector_id = $1")
                .bind(detector_id).fetch_one(&mut *tx).await?;
            let version = next as i32;
            let mut result = result.clone();
            result["version"] = version.into();
            if !succeed_job!(&mut *tx, job, &result, now)? {
                return Ok(None);
            }
            sqlx::query("INSERT INTO detector_versions (detector_id, version, job_id, dataset_version, dataset_sha256, model_id, \
                         model, threshold, calibration, reference, summary, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
                .bind(detector_id).bind(version).bind(job.id).bind(v.dataset_version).bind(&v.dataset_sha256)
                .bind(v.model_id).bind(&v.model).bind(v.threshold).bind(Json(&v.calibration))
                .bind(Json(&v.reference)).bind(Json(&v.summary)).bind(now)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE detectors SET current_version = $1 WHERE id = $2")
                .bind(version).bind(detector_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(version))
        }.await);
        r.context("could not store the detector version")
    }

    /// Queues a recalibration of a detector.
    pub async fn queue_calibration(
        &self,
        detector_id: i64,
        dataset_id: i64,
        payload: serde_json::Value,
    ) -> anyhow::Result<i64> {
        let mut payload = payload;
        payload["detector_id"] = detector_id.into();
        let job = NewJob { dataset_id: Some(dataset_id), ..NewJob::new("calibrate", payload) };
        let now = Utc::now();
        dispatch!(self, p => insert_job!(p, job, now, None::<i64>, None::<i64>).await)
            .context("could not queue the calibration")
    }

    /// A version with or without its model file; `None` for the current version when there is none.
    pub async fn get_detector_version(
        &self,
        detector_id: i64,
        version: Option<i32>,
    ) -> anyhow::Result<Option<VersionRow>> {
        let q = format!(
            "{VERSION_SELECT} WHERE detector_id = $1 AND version = COALESCE($2, \
             (SELECT current_version FROM detectors WHERE id = $1))"
        );
        dispatch!(self, p => sqlx::query_as::<_, VersionRow>(&q).bind(detector_id).bind(version).fetch_optional(p).await)
            .context("could not read the detector version")
    }

    pub async fn list_detector_versions(&self, detector_id: i64) -> anyhow::Result<Vec<VersionRow>> {
        let q = format!("{VERSION_SELECT} WHERE detector_id = $1 ORDER BY version DESC");
        dispatch!(self, p => sqlx::query_as::<_, VersionRow>(&q).bind(detector_id).fetch_all(p).await)
            .context("could not list the detector's versions")
    }

    pub async fn detector_model_file(&self, version_row_id: i64) -> anyhow::Result<Option<Vec<u8>>> {
        let q = "SELECT model FROM detector_versions WHERE id = $1";
        dispatch!(self, p => sqlx::query_scalar::<_, Vec<u8>>(q).bind(version_row_id).fetch_optional(p).await)
            .context("could not read the detector's model")
    }

    /// Keeps scored rows (of any detectors), in multi-row INSERTs inside one transaction.
    pub async fn insert_scores(&self, rows: &[NewScore]) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let r: Result<(), sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            for chunk in rows.chunks(BULK) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO detector_scores (detector_id, version, scored_at, part, score, anomaly, row_values, top) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.detector_id).push_bind(r.version).push_bind(now).push_bind(&r.part)
                        .push_bind(r.score).push_bind(r.anomaly).push_bind(Json(&*r.values)).push_bind(Json(&*r.top));
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await);
        r.context("could not keep the scored rows")
    }

    /// Scored rows, newest first.
    pub async fn list_scores(&self, detector_id: i64, q: &ScoreQuery) -> anyhow::Result<Vec<ScoreRow>> {
        let sql = "SELECT id, version, scored_at, part, score, anomaly, row_values, top FROM detector_scores \
                   WHERE detector_id = $1 AND ($2 = 0 OR id < $2) AND ($3 = FALSE OR anomaly) \
                   AND ($4 IS NULL OR scored_at >= $4) AND ($5 IS NULL OR version = $5) ORDER BY id DESC LIMIT $6";
        dispatch!(self, p => sqlx::query_as::<_, ScoreRow>(sql).bind(detector_id).bind(q.before).bind(q.anomalies_only)
            .bind(q.since).bind(q.version).bind(q.limit).fetch_all(p).await)
        .context("could not read scored rows")
    }

    /// Rows and anomalies scored since `since`.
    pub async fn score_counts(&self, detector_id: i64, since: DateTime<Utc>) -> anyhow::Result<(i64, i64)> {
        let q =
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN anomaly THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM detector_scores WHERE detector_id = $1 AND scored_at >= $2";
        dispatch!(self, p => sqlx::query_as::<_, (i64, i64)>(q).bind(detector_id).bind(since).fetch_one(p).await)
            .context("could not count scored rows")
    }

    /// Deletes scored rows older than each detector's retention; returns how many went.
    pub async fn purge_scores(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let detectors: Vec<(i64, i32)> =
            dispatch!(self, p => sqlx::query_as("SELECT id, retention_days FROM detectors")
            .fetch_all(p).await)
            .context("could not list detectors")?;
        let mut gone = 0;
        for (id, days) in detectors {
            let cutoff = now - chrono::Duration::days(days as i64);
            let q = "DELETE FROM detector_scores WHERE detector_id = $1 AND scored_at < $2";
            gone +=
                dispatch!(self, p => sqlx::query(q).bind(id).bind(cutoff).execute(p).await.map(|r| r.rows_affected()))
                    .context("could not purge scored rows")?;
        }
        Ok(gone)
    }
}

/// Rows most one group commit writes.
const GROUP_ROWS: usize = 20_000;

type Pending = (Vec<NewScore>, tokio::sync::oneshot::Sender<Result<(), String>>);

/// Group commit of scored rows: concurrent scoring requests hand their rows to one writer task,
/// which writes whatever has gathered in one transaction and then answers each request. A
/// request is answered only once its rows are stored (nothing is lost), the store sees one
/// writer (no lock contention on SQLite) and one transaction per batch instead of one per request.
#[derive(Clone, Debug)]
pub struct ScoreWriter {
    tx: tokio::sync::mpsc::Sender<Pending>,
}

impl ScoreWriter {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Store) -> ScoreWriter {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Pending>(1024);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let mut rows = batch[0].0.len();
                while rows < GROUP_ROWS {
                    match rx.try_recv() {
                        Ok(p) => {
                            rows += p.0.len();
                            batch.push(p);
                        }
                        Err(_) => break,
                    }
                }
                let all: Vec<NewScore> = batch.iter_mut().flat_map(|(r, _)| std::mem::take(r)).collect();
                let outcome = store.insert_scores(&all).await.map_err(|e| format!("{e:#}"));
                for (_, ack) in batch {
                    let _ = ack.send(outcome.clone());
                }
            }
        });
        ScoreWriter { tx }
    }

    /// Hands the rows to the writer without waiting for them to be stored (waits only while
    /// the writer is 1024 requests behind). A failed write is logged, not answered.
    pub async fn enqueue(&self, rows: Vec<NewScore>) -> anyhow::Result<()> {
        let Some(done) = self.send(rows).await? else { return Ok(()) };
        tokio::spawn(async move {
            if let Ok(Err(e)) = done.await {
                tracing::error!(error = %e, "scored rows answered before storing could not be stored");
            }
        });
        Ok(())
    }

    /// Queues the rows for the writer; the receiver learns how their write went (`None`: no rows).
    async fn send(
        &self,
        rows: Vec<NewScore>,
    ) -> anyhow::Result<Option<tokio::sync::oneshot::Receiver<Result<(), String>>>> {
        if rows.is_empty() {
            return Ok(None);
        }
        let (ack, done) = tokio::sync::oneshot::channel();
        self.tx.send((rows, ack)).await.map_err(|_| anyhow::anyhow!("the scored-row writer has stopped"))?;
        Ok(Some(done))
    }

    /// Stores the rows with whatever other requests are writing now; returns once they are stored.
    pub async fn write(&self, rows: Vec<NewScore>) -> anyhow::Result<()> {
        let Some(done) = self.send(rows).await? else { return Ok(()) };
        done.await
            .map_err(|_| anyhow::anyhow!("the scored-row writer has stopped"))?
            .map_err(|e| anyhow::anyhow!("could not keep the scored rows: {e}"))
    }
}
