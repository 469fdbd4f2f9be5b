//! The one place SQL lives: `Store` in domain terms, with a Postgres and an SQLite backend.
//! Most statements are the same text for both; `dispatch!` type-checks a body once per backend.

mod audit;
mod datasets;
mod detectors;
mod idempotency;
mod jobs;
mod models;
mod schedules;
mod studies;
mod tokens;
mod webhooks;

pub use audit::{AuditEntry, AuditQuery, AuditWriter, NewAuditEntry};
pub use datasets::{
    AppendOutcome, DatasetMeta, DeleteOutcome, IdempotencyRecord, NewChunk, NewVersion, ReportRow, ResourceCounts,
    VersionMeta,
};
pub use detectors::{
    DetectorRow, NewDetector, NewDetectorVersion, NewScore, ScoreQuery, ScoreRow, ScoreWriter, VersionRow,
};
pub use idempotency::Reservation;
pub use jobs::{as_job_creator, ClaimedJob, JobOutcome, JobRow, Lease, NewJob, Retried};
pub use models::{ModelRow, NewModel, TrainedModel};
pub use schedules::{FireRow, NewSchedule, ScheduleRow};
pub use studies::{
    CandidateOrder, CandidateQuery, CandidateRow, Measurement, NewCandidate, NewStudy, RunRow, StudyRow, TellOutcome,
};
pub use tokens::TokenInfo;
pub use webhooks::{Attempt, DeliveryRow, DeliveryTarget, NewWebhook, WebhookRow, WebhookSummary};

use crate::config::DatabaseConfig;
use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

static PG_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// A connection pool to one of the two backends.
#[derive(Clone, Debug)]
pub enum Store {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds.
macro_rules! dispatch {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Postgres($pool) => $body,
            $crate::store::Store::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use dispatch;

/// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`, waiting up to the busy timeout): a deferred transaction that reads first and then
/// writes fails at once with SQLITE_BUSY when another connection committed in between, which the
/// background writers (scores, audit log) make likely. Postgres begins as usual.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

/// True when the error is a unique-key violation (a lost race or a duplicate name).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// Connects (creating the SQLite file and its folder if needed). Does not migrate.
    pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<Store> {
        match config {
            DatabaseConfig::Postgres(url) => {
                let opts =
                    PgConnectOptions::from_str(url.expose()).context("DATABASE_URL is not a valid Postgres URL")?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    // how long a call waits for a connection, and so how long the first calls of
                    // an outage wait before the API's breaker opens (api::outage)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect_with(opts)
                    .await
                    .context("could not connect to Postgres (DATABASE_URL)")?;
                Ok(Store::Postgres(pool))
            }
            DatabaseConfig::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
                }
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(opts)
                    .await
                    .with_context(|| format!("could not open the SQLite store at {}", path.display()))?;
                Ok(Store::Sqlite(pool))
            }
        }
    }

    /// Applies pending migrations (Postgres takes an advisory lock, so concurrent starts are safe).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Store::Postgres(p) => PG_MIGRATOR.run(p).await.context("Postgres migrations failed")?,
            Store::Sqlite(p) => SQLITE_MIGRATOR.run(p).await.context("SQLite migrations failed")?,
        }
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Sqlite(_) => "sqlite",
        }
    }

    /// Ready means reachable with every migration applied.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let expected = match self {
            Store::Postgres(_) => PG_MIGRATOR.iter().count() as i64,
            Store::Sqlite(_) => SQLITE_MIGRATOR.iter().count() as i64,
        };
        let q = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let applied: i64 = tokio::time::timeout(Duration::from_secs(2), async {
            dispatch!(self, p => sqlx::query_scalar(q).fetch_one(p).await)
        })
        .await
        .context("the database did not answer within 2 s")?
        .context("the database is unreachable")?;
        anyhow::ensure!(applied >= expected, "{applied} of {expected} migrations applied");
        Ok(())
    }

    pub async fn close(&self) {
        dispatch!(self, p => p.close().await)
    }
}
