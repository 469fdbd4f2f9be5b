//! Datasets: rows stored as Parquet chunks, versions as immutable prefixes of the chunk list.

use super::webhooks::emit_in_tx;
use super::BeginWrite as _;
use super::{dispatch, is_unique_violation, Store};
use crate::domain::{ColumnStats, Schema};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

/// Rows to be stored: one upload or one append.
#[derive(Clone, Debug)]
pub struct NewChunk {
    pub row_count: i64,
    pub sha256: String,
    pub stats: Vec<ColumnStats>,
    pub parquet: Vec<u8>,
}

/// A version to be written: an optional new chunk plus the resulting schema and statistics.
#[derive(Clone, Debug)]
pub struct NewVersion {
    pub chunk: Option<NewChunk>,
    pub schema: Schema,
    pub stats: Vec<ColumnStats>,
    pub row_count: i64,
    pub sha256: String,
    /// `upload`, `append`, `schema` or `sample`.
    pub source: String,
    /// What produced the rows when genfab did (model, job, the model's training data).
    pub lineage: Option<serde_json::Value>,
}

/// A stored version.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct VersionMeta {
    pub version: i32,
    pub row_count: i64,
    pub n_chunks: i32,
    pub sha256: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub schema: Json<Schema>,
    pub stats: Json<Vec<ColumnStats>>,
    pub lineage: Option<Json<serde_json::Value>>,
}

/// A dataset with its latest version.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct DatasetMeta {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub latest_version: i32,
    pub row_count: i64,
}

/// A stored answer to a request that carried an `Idempotency-Key`.
/// How many of each resource the store holds (the dashboard's overview).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceCounts {
    pub datasets: i64,
    pub models: i64,
    pub studies: i64,
    pub detectors: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct IdempotencyRecord {
    pub scope: String,
    pub key: String,
    pub request_sha256: String,
    pub status: i32,
    pub response: Json<serde_json::Value>,
}

/// What an attempt to add a version came to.
#[derive(Debug)]
pub enum AppendOutcome {
    Created(VersionMeta),
    /// Another version was added since `base`; read again and retry.
    Stale,
    /// A concurrent request with the same idempotency key won; this is its answer.
    Replay(IdempotencyRecord),
    NotFound,
}

/// What deleting came to.
#[derive(Debug, PartialEq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
    /// Jobs that still use the dataset.
    InUse(Vec<i64>),
    /// Models trained on it (their lineage must keep pointing at real rows).
    HasModels(Vec<i64>),
}

const VERSION_COLUMNS: &str = "version, row_count, n_chunks, sha256, source, created_at, schema, stats, lineage";
const DATASET_SELECT: &str =
    "SELECT d.id, d.name, d.created_at, d.updated_at, v.version AS latest_version, v.row_count \
     FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id \
     AND v.version = (SELECT MAX(version) FROM dataset_versions w WHERE w.dataset_id = d.id)";

impl Store {
    /// Creates a dataset with its first version; `None` if the name is taken.
    pub async fn create_dataset(
        &self,
        name: &str,
        v: NewVersion,
    ) -> anyhow::Result<Option<(DatasetMeta, VersionMeta)>> {
        self.create_dataset_with_report(name, v, None).await
    }

    /// Creates a dataset with its first version and, in the same transaction, that version's
    /// quality report and privacy check (`passed` or `failed`) and its `dataset.version_created`
    /// event: a failure to queue the event fails (rolls back) the whole creation.
    pub async fn create_dataset_with_report(
        &self,
        name: &str,
        v: NewVersion,
        report: Option<(&serde_json::Value, &str)>,
    ) -> anyhow::Result<Option<(DatasetMeta, VersionMeta)>> {
        let now = Utc::now();
        let chunk = v.chunk.clone().context("a new dataset needs rows")?;
        let result: Result<(i64, VersionMeta), sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let id: i64 = sqlx::query_scalar("INSERT INTO datasets (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id")
                .bind(name).bind(now).fetch_one(&mut *tx).await?;
            sqlx::query("INSERT INTO dataset_chunks (dataset_id, seq, row_count, sha256, stats, parquet, created_at) VALUES ($1, 0, $2, $3, $4, $5, $6)")
                .bind(id).bind(chunk.row_count).bind(&chunk.sha256).bind(Json(&chunk.stats)).bind(&chunk.parquet).bind(now)
                .execute(&mut *tx).await?;
            let q = format!("INSERT INTO dataset_versions (dataset_id, version, n_chunks, row_count, schema, stats, sha256, source, created_at, lineage) \
                 VALUES ($1, 1, 1, $2, $3, $4, $5, $6, $7, $8) RETURNING {VERSION_COLUMNS}");
            let meta = sqlx::query_as::<_, VersionMeta>(&q)
                .bind(id).bind(v.row_count).bind(Json(&v.schema)).bind(Json(&v.stats)).bind(&v.sha256).bind(&v.source).bind(now)
                .bind(v.lineage.as_ref().map(Json))
                .fetch_one(&mut *tx).await?;
            if let Some((r, check)) = report {
                sqlx::query("INSERT INTO reports (dataset_id, version, report, privacy_check, created_at) VALUES ($1, 1, $2, $3, $4)")
                    .bind(id).bind(Json(r)).bind(check).bind(now).execute(&mut *tx).await?;
            }
            emit_in_tx!(&mut *tx, "dataset.version_created", &version_created(id, &meta), now).await?;
            tx.commit().await?;
            Ok((id, meta))
        }.await);
        match result {
            Ok((id, meta)) => {
                let d = self.get_dataset(id).await?.context("dataset vanished after insert")?;
                Ok(Some((d, meta)))
            }
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context("could not store the dataset")),
        }
    }

    /// Adds version `base.version + 1` on top of `base`, atomically with its idempotency record
    /// (whose response is built from the new version) and its `dataset.version_created` event: a
    /// failure to queue the event fails (rolls back) the version.
    pub async fn add_version<F>(
        &self,
        dataset_id: i64,
        base: &VersionMeta,
        v: NewVersion,
        idempotency: Option<(String, String, String, i32)>,
        respond: F,
    ) -> anyhow::Result<AppendOutcome>
    where
        F: FnOnce(&VersionMeta) -> serde_json::Value + Send,
    {
        let now = Utc::now();
        let n_chunks = base.n_chunks + i32::from(v.chunk.is_some());
        let version = base.version + 1;
        #[derive(Debug)]
        enum Fail {
            Sql(sqlx::Error),
            Missing,
        }
        impl From<sqlx::Error> for Fail {
            fn from(e: sqlx::Error) -> Self {
                Fail::Sql(e)
            }
        }
        let result: Result<VersionMeta, (Fail, &'static str)> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await.map_err(|e| (Fail::Sql(e), "begin"))?;
            // Writing first takes the row lock (Postgres) or the write lock (SQLite) before reading.
            let touched = sqlx::query("UPDATE datasets SET updated_at = $1 WHERE id = $2")
                .bind(now).bind(dataset_id).execute(&mut *tx).await.map_err(|e| (Fail::Sql(e), "dataset"))?;
            if touched.rows_affected() == 0 {
                return Err((Fail::Missing, "dataset"));
            }
            if let Some(chunk) = &v.chunk {
                sqlx::query("INSERT INTO dataset_chunks (dataset_id, seq, row_count, sha256, stats, parquet, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(dataset_id).bind(base.n_chunks).bind(chunk.row_count).bind(&chunk.sha256).bind(Json(&chunk.stats)).bind(&chunk.parquet).bind(now)
                    .execute(&mut *tx).await.map_err(|e| (Fail::Sql(e), "version"))?;
            }
            let q = format!("INSERT INTO dataset_versions (dataset_id, version, n_chunks, row_count, schema, stats, sha256, source, created_at, lineage) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {VERSION_COLUMNS}");
            let meta = sqlx::query_as::<_, VersionMeta>(&q)
                .bind(dataset_id).bind(version).bind(n_chunks).bind(v.row_count).bind(Json(&v.schema)).bind(Json(&v.stats))
                .bind(&v.sha256).bind(&v.source).bind(now).bind(v.lineage.as_ref().map(Json))
                .fetch_one(&mut *tx).await.map_err(|e| (Fail::Sql(e), "version"))?;
            if let Some((scope, key, sha, status)) = &idempotency {
                let body = respond(&meta);
                sqlx::query("INSERT INTO idempotency (scope, key, request_sha256, status, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(scope).bind(key).bind(sha).bind(*status).bind(Json(body)).bind(now)
                    .execute(&mut *tx).await.map_err(|e| (Fail::Sql(e), "idempotency"))?;
            }
            emit_in_tx!(&mut *tx, "dataset.version_created", &version_created(dataset_id, &meta), now)
                .await.map_err(|e| (Fail::Sql(e), "webhook"))?;
            tx.commit().await.map_err(|e| (Fail::Sql(e), "commit"))?;
            Ok(meta)
        }.await);
        match result {
            Ok(meta) => Ok(AppendOutcome::Created(meta)),
            Err((Fail::Missing, _)) => Ok(AppendOutcome::NotFound),
            Err((Fail::Sql(e), "version")) if is_unique_violation(&e) => Ok(AppendOutcome::Stale),
            Err((Fail::Sql(e), "idempotency")) if is_unique_violation(&e) => {
                let (scope, key, _, _) = idempotency.as_ref().context("idempotency record expected")?;
                let rec = self.get_idempotency(scope, key).await?.context("idempotency record vanished")?;
                Ok(AppendOutcome::Replay(rec))
            }
            Err((Fail::Sql(e), step)) => {
                Err(anyhow::Error::new(e).context(format!("could not add a version ({step})")))
            }
        }
    }

    pub async fn get_idempotency(&self, scope: &str, key: &str) -> anyhow::Result<Option<IdempotencyRecord>> {
        let q = "SELECT scope, key, request_sha256, status, response FROM idempotency WHERE scope = $1 AND key = $2";
        dispatch!(self, p => sqlx::query_as::<_, IdempotencyRecord>(q).bind(scope).bind(key).fetch_optional(p).await)
            .context("could not read the idempotency record")
    }

    pub async fn dataset_id_by_name(&self, name: &str) -> anyhow::Result<Option<i64>> {
        dispatch!(self, p => sqlx::query_scalar("SELECT id FROM datasets WHERE name = $1").bind(name).fetch_optional(p).await)
            .context("could not look the dataset up")
    }

    pub async fn get_dataset(&self, id: i64) -> anyhow::Result<Option<DatasetMeta>> {
        let q = format!("{DATASET_SELECT} WHERE d.id = $1");
        dispatch!(self, p => sqlx::query_as::<_, DatasetMeta>(&q).bind(id).fetch_optional(p).await)
            .context("could not read the dataset")
    }

    /// Datasets with ids above `after`, oldest first.
    pub async fn list_datasets(&self, after: i64, limit: i64) -> anyhow::Result<Vec<DatasetMeta>> {
        let q = format!("{DATASET_SELECT} WHERE d.id > $1 ORDER BY d.id LIMIT $2");
        dispatch!(self, p => sqlx::query_as::<_, DatasetMeta>(&q).bind(after).bind(limit).fetch_all(p).await)
            .context("could not list datasets")
    }

    pub async fn count_datasets(&self) -> anyhow::Result<i64> {
        Ok(self.resource_counts().await?.datasets)
    }

    /// How many datasets, models, studies and detectors are stored, in one query.
    pub async fn resource_counts(&self) -> anyhow::Result<ResourceCounts> {
        let q = "SELECT (SELECT COUNT(*) FROM datasets), (SELECT COUNT(*) FROM models), \
                 (SELECT COUNT(*) FROM studies), (SELECT COUNT(*) FROM detectors)";
        let (datasets, models, studies, detectors) =
            dispatch!(self, p => sqlx::query_as::<_, (i64, i64, i64, i64)>(q).fetch_one(p).await)
                .context("could not count the stored resources")?;
        Ok(ResourceCounts { datasets, models, studies, detectors })
    }

    /// One version, or the latest when `version` is `None`.
    pub async fn get_version(&self, dataset_id: i64, version: Option<i32>) -> anyhow::Result<Option<VersionMeta>> {
        let q = match version {
            Some(_) => format!("SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE dataset_id = $1 AND version = $2"),
            None => format!(
                "SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE dataset_id = $1 ORDER BY version DESC LIMIT 1"
            ),
        };
        dispatch!(self, p => {
            let mut query = sqlx::query_as::<_, VersionMeta>(&q).bind(dataset_id);
            if let Some(v) = version {
                query = query.bind(v);
            }
            query.fetch_optional(p).await
        })
        .context("could not read the dataset version")
    }

    /// Every version, oldest first.
    pub async fn list_versions(&self, dataset_id: i64) -> anyhow::Result<Vec<VersionMeta>> {
        let q = format!("SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE dataset_id = $1 ORDER BY version");
        dispatch!(self, p => sqlx::query_as::<_, VersionMeta>(&q).bind(dataset_id).fetch_all(p).await)
            .context("could not list dataset versions")
    }

    /// The Parquet chunks of a version, in order.
    pub async fn version_chunks(&self, dataset_id: i64, n_chunks: i32) -> anyhow::Result<Vec<Vec<u8>>> {
        let q = "SELECT parquet FROM dataset_chunks WHERE dataset_id = $1 AND seq < $2 ORDER BY seq";
        dispatch!(self, p => sqlx::query_scalar::<_, Vec<u8>>(q).bind(dataset_id).bind(n_chunks).fetch_all(p).await)
            .context("could not read the dataset's rows")
    }

    /// The SHA-256 digests of the first `n_chunks` chunks, in order.
    pub async fn chunk_digests(&self, dataset_id: i64, n_chunks: i32) -> anyhow::Result<Vec<String>> {
        let q = "SELECT sha256 FROM dataset_chunks WHERE dataset_id = $1 AND seq < $2 ORDER BY seq";
        dispatch!(self, p => sqlx::query_scalar::<_, String>(q).bind(dataset_id).bind(n_chunks).fetch_all(p).await)
            .context("could not read chunk digests")
    }

    /// Deletes a dataset unless a queued or running job uses it.
    pub async fn delete_dataset(&self, id: i64) -> anyhow::Result<DeleteOutcome> {
        let r: Result<DeleteOutcome, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            let touched = sqlx::query("UPDATE datasets SET updated_at = updated_at WHERE id = $1").bind(id).execute(&mut *tx).await?;
            if touched.rows_affected() == 0 {
                return Ok(DeleteOutcome::NotFound);
            }
            let users: Vec<i64> = sqlx::query_scalar("SELECT id FROM jobs WHERE dataset_id = $1 AND status IN ('queued', 'running') ORDER BY id")
                .bind(id).fetch_all(&mut *tx).await?;
            if !users.is_empty() {
                return Ok(DeleteOutcome::InUse(users));
            }
            let models: Vec<i64> = sqlx::query_scalar("SELECT id FROM models WHERE dataset_id = $1 ORDER BY id")
                .bind(id).fetch_all(&mut *tx).await?;
            if !models.is_empty() {
                return Ok(DeleteOutcome::HasModels(models));
            }
            sqlx::query("UPDATE jobs SET dataset_id = NULL WHERE dataset_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM datasets WHERE id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(DeleteOutcome::Deleted)
        }.await);
        r.context("could not delete the dataset")
    }
}

/// The data of a version's `dataset.version_created` event: ids and counts, never rows.
fn version_created(dataset_id: i64, v: &VersionMeta) -> serde_json::Value {
    let mut data = serde_json::json!({
        "dataset_id": dataset_id, "version": v.version, "source": v.source, "row_count": v.row_count,
        "sha256": v.sha256,
    });
    for key in ["model_id", "job_id"] {
        if let Some(id) = v.lineage.as_ref().and_then(|l| l.0.get(key)).and_then(serde_json::Value::as_i64) {
            data[key] = id.into();
        }
    }
    data
}

/// A version's stored quality report.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReportRow {
    pub dataset_id: i64,
    pub version: i32,
    pub report: Json<serde_json::Value>,
    pub privacy_check: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    pub async fn get_report(&self, dataset_id: i64, version: i32) -> anyhow::Result<Option<ReportRow>> {
        let q = "SELECT dataset_id, version, report, privacy_check, created_at FROM reports WHERE dataset_id = $1 AND version = $2";
        dispatch!(self, p => sqlx::query_as::<_, ReportRow>(q).bind(dataset_id).bind(version).fetch_optional(p).await)
            .context("could not read the report")
    }

    /// Records an export that overrode a failed privacy check.
    pub async fn record_export_override(
        &self,
        dataset_id: i64,
        version: i32,
        token_id: i64,
        reason: &str,
    ) -> anyhow::Result<i64> {
        let q = "INSERT INTO export_overrides (dataset_id, version, token_id, reason, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
        dispatch!(self, p => sqlx::query_scalar(q).bind(dataset_id).bind(version).bind(token_id).bind(reason).bind(Utc::now()).fetch_one(p).await)
            .context("could not record the export override")
    }

    /// The overrides recorded for a version: (token id, reason, when).
    pub async fn export_overrides(
        &self,
        dataset_id: i64,
        version: i32,
    ) -> anyhow::Result<Vec<(i64, String, DateTime<Utc>)>> {
        let q = "SELECT token_id, reason, created_at FROM export_overrides WHERE dataset_id = $1 AND version = $2 ORDER BY id";
        dispatch!(self, p => sqlx::query_as::<_, (i64, String, DateTime<Utc>)>(q).bind(dataset_id).bind(version).fetch_all(p).await)
            .context("could not read the export overrides")
    }
}
