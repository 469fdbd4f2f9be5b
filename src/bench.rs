//! `genfab bench upload`: how fast a table goes from request body to a stored dataset version
//! (parse, infer, validate, compress, store), with the process's peak memory.

use crate::catalog;
use crate::config::{DatabaseConfig, Limits};
use crate::ingest::{CsvOptions, Format};
use crate::store::Store;
use serde::Serialize;
use std::time::Instant;

/// One measured upload.
#[derive(Debug, Serialize)]
pub struct UploadReport {
    pub store: &'static str,
    pub source: String,
    pub rows: i64,
    pub columns: usize,
    pub bytes: usize,
    pub seconds: f64,
    pub rows_per_s: f64,
    pub mb_per_s: f64,
    /// Peak resident memory of the whole process (VmHWM), including the body itself.
    pub peak_rss_mb: Option<f64>,
    /// The dataset the measurement created (removed again by `genfab bench upload`).
    #[serde(skip)]
    pub dataset_id: i64,
}

/// A CSV of `rows` x `cols` random values with 6 decimals (a seeded xorshift, no dependency).
pub fn synthetic_csv(rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(rows * cols * 10);
    let header: Vec<String> = (1..=cols).map(|c| format!("sensor_{c}")).collect();
    out.extend_from_slice(header.join(",").as_bytes());
    out.push(b'\n');
    let mut s = seed.max(1);
    for _ in 0..rows {
        for c in 0..cols {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = (s >> 11) as f64 / (1u64 << 53) as f64 * 100.0 - 50.0;
            if c > 0 {
                out.push(b',');
            }
            let _ = write!(out, "{x:.6}");
        }
        out.push(b'\n');
    }
    out
}

/// Peak resident set size from /proc (Linux); `None` elsewhere.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Uploads `body` once into `store` and reports the throughput.
pub async fn upload(store: &Store, source: String, body: Vec<u8>, name: &str) -> anyhow::Result<UploadReport> {
    let bytes = body.len();
    let start = Instant::now();
    let (d, v) = catalog::upload(store, name, body.into(), Format::Csv(CsvOptions::default()), None, Limits::default())
        .await
        .map_err(|e| anyhow::anyhow!("upload failed: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(UploadReport {
        store: store.backend(),
        source,
        rows: v.row_count,
        columns: v.schema.0.columns.len(),
        bytes,
        seconds,
        rows_per_s: v.row_count as f64 / seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds,
        peak_rss_mb: peak_rss_mb(),
        dataset_id: d.id,
    })
}

/// The store to measure: `DATABASE_URL` if set, else a fresh SQLite file that is removed after.
pub async fn bench_store(database: &DatabaseConfig) -> anyhow::Result<(Store, Option<std::path::PathBuf>)> {
    let (config, temp) = match database {
        DatabaseConfig::Postgres(_) => (database.clone(), None),
        DatabaseConfig::Sqlite(path) => {
            let dir = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
            let file = dir.join(format!("bench-{}.db", std::process::id()));
            (DatabaseConfig::Sqlite(file.clone()), Some(file))
        }
    };
    let store = Store::connect(&config).await?;
    store.migrate().await?;
    Ok((store, temp))
}

#[cfg(test)]
mod tests {
    #[test]
    fn synthetic_csv_has_the_asked_shape() {
        let csv = super::synthetic_csv(5, 3, 7);
        let text = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0], "sensor_1,sensor_2,sensor_3");
        assert!(lines[1..].iter().all(|l| l.split(',').count() == 3));
    }
}
