//! Dataset operations that combine ingest (CPU, on blocking threads) with the store:
//! upload, append, schema change, export. The API, the dashboard and `--demo` call these.

use crate::config::Limits;
use crate::domain::{ColumnStats, Schema, SchemaOverride};
use crate::ingest::{self, Format, IngestError};
use crate::store::{AppendOutcome, DatasetMeta, IdempotencyRecord, NewChunk, NewVersion, Store, VersionMeta};
use polars::prelude::DataFrame;
use sha2::{Digest, Sha256};

/// Why a dataset operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    Invalid(#[from] IngestError),
    #[error("a dataset named '{0}' exists already; append rows to it or choose another name")]
    NameTaken(String),
    #[error("dataset {0} does not exist")]
    NotFound(i64),
    #[error("dataset {0} has no version {1}")]
    VersionNotFound(i64, i32),
    #[error("the Idempotency-Key was used before with a different request; use a new key for a new request")]
    IdempotencyMismatch,
    #[error("{}", busy_message(*.0, *.1))]
    Busy(i64, usize),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn busy_message(id: i64, attempts: usize) -> String {
    match attempts {
        0 => format!("dataset {id} has too many appends waiting (or the database is slow to answer); nothing was stored, send it again"),
        n => format!("dataset {id} changed {n} times while this append was prepared (other processes append to it too); nothing was stored, send it again"),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A version's digest: SHA-256 over its chunks' digests, one hex digest and a newline each.
pub fn version_digest<S: AsRef<str>>(chunk_digests: &[S]) -> String {
    let mut h = Sha256::new();
    for d in chunk_digests {
        h.update(d.as_ref().as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn merge_stats(a: &[ColumnStats], b: &[ColumnStats]) -> Vec<ColumnStats> {
    a.iter().zip(b).map(|(x, y)| x.merge(y)).collect()
}

fn chunk_of(mut df: DataFrame, schema: &Schema) -> anyhow::Result<NewChunk> {
    let stats: Vec<ColumnStats> =
        df.columns().iter().zip(&schema.columns).map(|(c, s)| ingest::column_stats(c, s.kind)).collect();
    let parquet = ingest::to_parquet(&mut df)?;
    Ok(NewChunk { row_count: df.height() as i64, sha256: sha256_hex(&parquet), stats, parquet })
}

/// Parses, types and packs an upload (CPU work: call on a blocking thread).
pub fn prepare_upload(
    body: &[u8],
    format: &Format,
    overrides: Option<&SchemaOverride>,
    limits: &Limits,
) -> Result<NewVersion, CatalogError> {
    let raw = ingest::read_table(body, format, limits)?;
    let (typed, schema) = ingest::infer_and_type(raw, overrides)?;
    let chunk = chunk_of(typed, &schema)?;
    Ok(NewVersion {
        schema,
        stats: chunk.stats.clone(),
        row_count: chunk.row_count,
        sha256: version_digest(&[&chunk.sha256]),
        source: "upload".into(),
        lineage: None,
        chunk: Some(chunk),
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CatalogError> + Send + 'static,
) -> Result<T, CatalogError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| anyhow::anyhow!("ingest task failed: {e}"))?
}

/// Creates a dataset from an upload.
pub async fn upload(
    store: &Store,
    name: &str,
    body: bytes::Bytes,
    format: Format,
    overrides: Option<SchemaOverride>,
    limits: Limits,
) -> Result<(DatasetMeta, VersionMeta), CatalogError> {
    let v = blocking(move || prepare_upload(&body, &format, overrides.as_ref(), &limits)).await?;
    store.create_dataset(name, v).await?.ok_or_else(|| CatalogError::NameTaken(name.to_string()))
}

/// How an append or schema change was answered.
#[derive(Debug)]
pub enum Answer {
    Created(VersionMeta),
    /// The stored answer to an earlier request with the same Idempotency-Key.
    Replayed(IdempotencyRecord),
}

/// An Idempotency-Key and the digest of the request that carried it.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub scope: String,
    pub key: String,
    pub request_sha256: String,
}

async fn check_replay(store: &Store, idem: Option<&Idempotency>) -> Result<Option<IdempotencyRecord>, CatalogError> {
    let Some(i) = idem else { return Ok(None) };
    match store.get_idempotency(&i.scope, &i.key).await? {
        Some(r) if r.request_sha256 == i.request_sha256 => Ok(Some(r)),
        Some(_) => Err(CatalogError::IdempotencyMismatch),
        None => Ok(None),
    }
}

async fn latest(store: &Store, id: i64) -> Result<VersionMeta, CatalogError> {
    store.get_version(id, None).await?.ok_or(CatalogError::NotFound(id))
}

/// Appends rows as a new version. `respond` builds the answer stored for idempotent retries.
pub async fn append<F>(
    store: &Store,
    id: i64,
    body: bytes::Bytes,
    format: Format,
    limits: Limits,
    idem: Option<Idempotency>,
    respond: F,
) -> Result<Answer, CatalogError>
where
    F: Fn(&VersionMeta) -> serde_json::Value + Send + Sync,
{
    if let Some(r) = check_replay(store, idem.as_ref()).await? {
        return Ok(Answer::Replayed(r));
    }
    // Appends to one dataset take turns in this process, so concurrent clients do not make each
    // other's versions stale; other processes are still met by the optimistic retry below.
    // The wait is bounded: while the database is unreachable the turn's holder waits for the
    // pool, and the appends queued behind it are answered (503, retry) instead of piling up.
    let turn = append_turn(id);
    let Ok(_turn) = tokio::time::timeout(TURN_WAIT, turn.lock()).await else {
        return Err(CatalogError::Busy(id, 0));
    };
    // a retry may have waited for the very append it repeats
    if let Some(r) = check_replay(store, idem.as_ref()).await? {
        return Ok(Answer::Replayed(r));
    }
    for _ in 0..ATTEMPTS {
        let base = latest(store, id).await?;
        let schema = base.schema.0.clone();
        let (body2, format2, limits2) = (body.clone(), format.clone(), limits.clone());
        let chunk = blocking(move || {
            let raw = ingest::read_table(&body2, &format2, &limits2)?;
            let typed = ingest::conform(raw, &schema)?;
            Ok(chunk_of(typed, &schema)?)
        })
        .await?;
        let mut digests = store.chunk_digests(id, base.n_chunks).await?;
        digests.push(chunk.sha256.clone());
        let stats = merge_stats(&base.stats.0, &chunk.stats);
        let v = NewVersion {
            schema: ingest::schema_with_stats(base.schema.0.clone(), &stats),
            row_count: base.row_count + chunk.row_count,
            sha256: version_digest(&digests),
            stats,
            chunk: Some(chunk),
            source: "append".into(),
            lineage: None,
        };
        let record = idem.as_ref().map(|i| (i.scope.clone(), i.key.clone(), i.request_sha256.clone(), 201));
        match store.add_version(id, &base, v, record, &respond).await? {
            AppendOutcome::Created(m) => return Ok(Answer::Created(m)),
            AppendOutcome::Replay(r) if Some(&r.request_sha256) == idem.as_ref().map(|i| &i.request_sha256) => {
                return Ok(Answer::Replayed(r))
            }
            AppendOutcome::Replay(_) => return Err(CatalogError::IdempotencyMismatch),
            AppendOutcome::NotFound => return Err(CatalogError::NotFound(id)),
            AppendOutcome::Stale => continue,
        }
    }
    Err(CatalogError::Busy(id, ATTEMPTS))
}

/// Tries of an append whose base version went stale (another process appended meanwhile).
const ATTEMPTS: usize = 20;

/// The longest an append waits for its turn behind the others to the same dataset.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The turn of appends to `dataset` in this process. A process-wide table rather than a field of
/// the store: the store is cloned into every handler and worker, and the turns must be shared
/// by all of them. Entries are a few bytes per dataset ever appended to.
fn append_turn(dataset: i64) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static TURNS: OnceLock<Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut turns = TURNS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    turns.entry(dataset).or_default().clone()
}

/// All rows of a version, typed by the version's schema.
pub async fn read_version(
    store: &Store,
    id: i64,
    version: Option<i32>,
) -> Result<(VersionMeta, DataFrame), CatalogError> {
    let meta = match version {
        Some(v) => store.get_version(id, Some(v)).await?.ok_or(CatalogError::VersionNotFound(id, v))?,
        None => latest(store, id).await?,
    };
    let chunks = store.version_chunks(id, meta.n_chunks).await?;
    let schema = meta.schema.0.clone();
    let df = blocking(move || frame_of_chunks(&chunks, &schema)).await?;
    Ok((meta, df))
}

/// Decodes chunks and types them by `schema` (older chunks may predate a kind change).
pub fn frame_of_chunks(chunks: &[Vec<u8>], schema: &Schema) -> Result<DataFrame, CatalogError> {
    let mut frames = Vec::with_capacity(chunks.len());
    for c in chunks {
        let raw = ingest::from_parquet(c)?;
        frames.push(ingest::conform(raw, schema)?);
    }
    Ok(ingest::concat(frames)?)
}

/// A new version with the schema changed by `overrides`; every stored value must fit it.
pub async fn patch_schema<F>(
    store: &Store,
    id: i64,
    overrides: SchemaOverride,
    respond: F,
) -> Result<VersionMeta, CatalogError>
where
    F: Fn(&VersionMeta) -> serde_json::Value + Send + Sync,
{
    for _ in 0..20 {
        let (base, df) = read_version(store, id, None).await?;
        let o = overrides.clone();
        let base_schema = base.schema.0.clone();
        let (schema, stats) = blocking(move || {
            ingest::check_override_names(&o, base_schema.names().into_iter())?;
            let mut merged = SchemaOverride::default();
            for c in &base_schema.columns {
                let mut co = o.columns.get(&c.name).cloned().unwrap_or_default();
                co.kind = co.kind.or(Some(c.kind));
                co.role = co.role.or(Some(c.role));
                co.min = co.min.or(c.declared_min);
                co.max = co.max.or(c.declared_max);
                if co.levels.is_none() && c.levels_declared {
                    co.levels = Some(c.levels.clone());
                }
                merged.columns.insert(c.name.clone(), co);
            }
            let (typed, schema) = ingest::infer_and_type(df, Some(&merged))?;
            let stats: Vec<ColumnStats> =
                typed.columns().iter().zip(&schema.columns).map(|(c, s)| ingest::column_stats(c, s.kind)).collect();
            Ok((schema, stats))
        })
        .await?;
        let v = NewVersion {
            chunk: None,
            schema,
            stats,
            row_count: base.row_count,
            sha256: base.sha256.clone(),
            source: "schema".into(),
            lineage: None,
        };
        match store.add_version(id, &base, v, None, &respond).await? {
            AppendOutcome::Created(m) => return Ok(m),
            AppendOutcome::NotFound => return Err(CatalogError::NotFound(id)),
            AppendOutcome::Stale | AppendOutcome::Replay(_) => continue,
        }
    }
    Err(anyhow::anyhow!("dataset {id} kept changing during the schema change; try again").into())
}

/// The rows of a version in an export format.
pub async fn export(store: &Store, id: i64, version: Option<i32>, format: Format) -> Result<Vec<u8>, CatalogError> {
    let (_, mut df) = read_version(store, id, version).await?;
    blocking(move || {
        Ok(match format {
            Format::Csv(_) => ingest::to_csv(&mut df)?,
            Format::Parquet => ingest::to_parquet(&mut df)?,
            Format::Json => ingest::to_json(&mut df)?,
        })
    })
    .await
}
