//! Bearer tokens: generation (at least 128 random bits), hashing, and the first admin token.

use crate::config::Secret;
use crate::domain::Role;
use crate::store::Store;
use anyhow::Context;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::Path;

/// A fresh token: `gf_` and 256 random bits in URL-safe base64.
pub fn generate_token() -> anyhow::Result<Secret> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    Ok(Secret::new(format!("gf_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))))
}

/// What is stored for a token: its SHA-256 (tokens are random, so no slow hash is needed).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates and stores a token, returning the secret (shown once).
pub async fn create_token(store: &Store, name: &str, role: Role) -> anyhow::Result<(crate::store::TokenInfo, Secret)> {
    let token = generate_token()?;
    let info = store.create_token(name, role, &hash_token(token.expose())).await?;
    Ok((info, token))
}

/// On start: `GENFAB_ADMIN_TOKEN` is stored if given; otherwise, with no tokens at all, an admin
/// token is created, printed once and written to `state_dir/admin-token` (mode 0600).
pub async fn bootstrap_admin(store: &Store, admin: Option<&Secret>, state_dir: &Path) -> anyhow::Result<()> {
    if let Some(t) = admin {
        anyhow::ensure!(t.expose().len() >= 16, "GENFAB_ADMIN_TOKEN must be at least 16 characters");
        store.ensure_token("admin (GENFAB_ADMIN_TOKEN)", Role::Admin, &hash_token(t.expose())).await?;
        return Ok(());
    }
    if store.count_tokens().await? > 0 {
        return Ok(());
    }
    let (_, token) = create_token(store, "first admin", Role::Admin).await?;
    std::fs::create_dir_all(state_dir).with_context(|| format!("could not create {}", state_dir.display()))?;
    let path = state_dir.join("admin-token");
    write_private(&path, token.expose())?;
    // Printed once on purpose, on stdout rather than through the log.
    println!("genfab: first admin token (also in {}): {}", path.display(), token.expose());
    Ok(())
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("could not write {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_ne!(a, b);
        assert!(a.expose().len() >= 3 + 43);
        let h = hash_token(a.expose());
        assert_eq!(h.len(), 64);
        assert!(!h.contains(a.expose()));
    }
}
