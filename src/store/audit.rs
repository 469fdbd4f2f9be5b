//! The audit log: who created, changed, exported or deleted what, and when. Entries hold the
//! request line and its outcome, never a body, a query string or a secret. Requests hand their
//! entries to one writer task (`AuditWriter`), so recording costs a request a channel send.

use super::BeginWrite as _;
use super::{dispatch, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One audited request as stored and listed.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// None for a refused sign-in.
    pub token_id: Option<i64>,
    pub token_name: Option<String>,
    pub role: Option<String>,
    /// create, change, delete, export, sign-in or sign-out.
    pub action: String,
    pub method: String,
    pub path: String,
    pub resource_kind: Option<String>,
    pub resource_id: Option<String>,
    pub status: i32,
    pub request_id: Option<String>,
}

/// An entry to be written.
#[derive(Clone, Debug)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub token_id: Option<i64>,
    pub token_name: Option<String>,
    pub role: Option<String>,
    pub action: &'static str,
    pub method: String,
    pub path: String,
    pub resource_kind: Option<String>,
    pub resource_id: Option<String>,
    pub status: u16,
    pub request_id: Option<String>,
}

/// Which entries to list: newest first, ids below `before` (0: from the newest).
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub token_id: Option<i64>,
    pub action: Option<String>,
    pub before: i64,
    pub limit: i64,
}

const COLUMNS: &str =
    "id, at, token_id, token_name, role, action, method, path, resource_kind, resource_id, status, request_id";

impl Store {
    /// Writes entries in one transaction.
    pub async fn insert_audit(&self, entries: &[NewAuditEntry]) -> anyhow::Result<()> {
        let q = "INSERT INTO audit_log (at, token_id, token_name, role, action, method, path, resource_kind, \
                 resource_id, status, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
        dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            for e in entries {
                sqlx::query(q)
                    .bind(e.at)
                    .bind(e.token_id)
                    .bind(&e.token_name)
                    .bind(&e.role)
                    .bind(e.action)
                    .bind(&e.method)
                    .bind(&e.path)
                    .bind(&e.resource_kind)
                    .bind(&e.resource_id)
                    .bind(i32::from(e.status))
                    .bind(&e.request_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }.await)
        .context("could not write the audit log")
    }

    /// Entries newest first, optionally of one token and one action.
    pub async fn list_audit(&self, q: &AuditQuery) -> anyhow::Result<Vec<AuditEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE (CAST($1 AS BIGINT) IS NULL OR token_id = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR action = $2) AND ($3 = 0 OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        dispatch!(self, p => sqlx::query_as::<_, AuditEntry>(&sql)
            .bind(q.token_id)
            .bind(q.action.as_deref())
            .bind(q.before)
            .bind(q.limit)
            .fetch_all(p)
            .await)
        .context("could not read the audit log")
    }
}

/// Entries gathered per transaction at most.
const BATCH: usize = 256;
/// Entries waiting before a request waits for the writer.
const BACKLOG: usize = 4096;

/// Hands audit entries to one writer task, which stores whatever has gathered in one
/// transaction. A request waits only when the writer is `BACKLOG` entries behind; a failed write
/// is logged (with how many entries were lost), never answered to the request.
#[derive(Clone, Debug)]
pub struct AuditWriter {
    tx: tokio::sync::mpsc::Sender<NewAuditEntry>,
}

impl AuditWriter {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Store) -> AuditWriter {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<NewAuditEntry>(BACKLOG);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                if let Err(e) = store.insert_audit(&batch).await {
                    tracing::error!(error = %format!("{e:#}"), lost = batch.len(), "audit entries could not be stored");
                }
            }
        });
        AuditWriter { tx }
    }

    /// Queues an entry for the writer.
    pub async fn record(&self, entry: NewAuditEntry) {
        let entry = match self.tx.try_send(entry) {
            Ok(()) => return,
            Err(tokio::sync::mpsc::error::TrySendError::Full(e)) => e,
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("the audit writer has stopped; an entry was lost");
                return;
            }
        };
        if self.tx.send(entry).await.is_err() {
            tracing::error!("the audit writer has stopped; an entry was lost");
        }
    }
}
