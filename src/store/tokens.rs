//! Bearer tokens: only their SHA-256 hashes are stored.

use super::{dispatch, Store};
use crate::domain::Role;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A token as listed to an admin (never the secret itself).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }
}

const COLUMNS: &str = "id, name, role, created_at, last_used_at, revoked_at";

impl Store {
    pub async fn create_token(&self, name: &str, role: Role, hash: &str) -> anyhow::Result<TokenInfo> {
        let q = format!(
            "INSERT INTO tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
        );
        let now = Utc::now();
        dispatch!(self, p => sqlx::query_as::<_, TokenInfo>(&q).bind(name).bind(role.as_str()).bind(hash).bind(now).fetch_one(p).await)
            .context("could not store the token")
    }

    /// Stores the token if its hash is not stored yet (for `GENFAB_ADMIN_TOKEN`).
    pub async fn ensure_token(&self, name: &str, role: Role, hash: &str) -> anyhow::Result<()> {
        let q = "INSERT INTO tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (token_hash) DO NOTHING";
        let now = Utc::now();
        dispatch!(self, p => sqlx::query(q).bind(name).bind(role.as_str()).bind(hash).bind(now).execute(p).await.map(|_| ()))
            .context("could not store the admin token")?;
        Ok(())
    }

    /// The live (not revoked) token with this hash.
    pub async fn find_token(&self, hash: &str) -> anyhow::Result<Option<TokenInfo>> {
        let q = format!("SELECT {COLUMNS} FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL");
        dispatch!(self, p => sqlx::query_as::<_, TokenInfo>(&q).bind(hash).fetch_optional(p).await)
            .context("could not look up the token")
    }

    pub async fn touch_token(&self, id: i64) -> anyhow::Result<()> {
        let q = "UPDATE tokens SET last_used_at = $1 WHERE id = $2";
        let now = Utc::now();
        dispatch!(self, p => sqlx::query(q).bind(now).bind(id).execute(p).await.map(|_| ()))
            .context("could not update the token")?;
        Ok(())
    }

    pub async fn count_tokens(&self) -> anyhow::Result<i64> {
        let q = "SELECT COUNT(*) FROM tokens";
        dispatch!(self, p => sqlx::query_scalar(q).fetch_one(p).await).context("could not count tokens")
    }

    pub async fn list_tokens(&self) -> anyhow::Result<Vec<TokenInfo>> {
        let q = format!("SELECT {COLUMNS} FROM tokens ORDER BY id");
        dispatch!(self, p => sqlx::query_as::<_, TokenInfo>(&q).fetch_all(p).await).context("could not list tokens")
    }

    /// Revokes a token; `None` when there is no such token.
    pub async fn revoke_token(&self, id: i64) -> anyhow::Result<Option<TokenInfo>> {
        let q = format!("UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING {COLUMNS}");
        let now = Utc::now();
        dispatch!(self, p => sqlx::query_as::<_, TokenInfo>(&q).bind(now).bind(id).fetch_optional(p).await)
            .context("could not revoke the token")
    }
}
