//! `serve --demo`: loads the real datasets bundled in `data/` into an empty store.

use crate::catalog;
use crate::config::Limits;
use crate::domain::SchemaOverride;
use crate::ingest::{CsvOptions, Format};
use crate::store::Store;
use anyhow::Context;
use std::path::Path;

/// (dataset name, file under data/, CSV options, schema override as JSON).
const DEMO: [(&str, &str, Option<bool>, &str); 9] = [
    ("steel-plates-faults", "steel-plates-faults/steel_plates_faults.csv", None, ""),
    ("ai4i2020", "ai4i2020/ai4i2020.csv", None, r#"{"columns": {"Machine failure": {"role": "label"}}}"#),
    ("concrete", "concrete/Concrete_Data.csv", None, ""),
    ("crossed-barrel", "crossed-barrel/data.csv", Some(false), ""),
    ("energy-efficiency", "energy-efficiency/ENB2012_data.csv", None, ""),
    ("airfoil-self-noise", "airfoil-self-noise/airfoil_self_noise.dat", None, ""),
    ("autoam-print-settings", "autoam-print-settings/data.csv", Some(false), ""),
    ("secom-raw-subset", "secom/secom_raw_subset_392rows.csv", None, ""),
    ("cmapss-fd001-train", "cmapss-fd001/train_FD001.txt", Some(false), ""),
];

/// Loads every bundled dataset if the store holds none; returns how many were loaded.
pub async fn load(store: &Store, data_dir: &Path, limits: &Limits) -> anyhow::Result<usize> {
    if store.count_datasets().await? > 0 {
        tracing::info!("demo data not loaded: the store already holds datasets");
        return Ok(0);
    }
    let mut loaded = 0;
    for (name, file, header, schema) in DEMO {
        let path = data_dir.join(file);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "demo file missing; skipped");
                continue;
            }
        };
        let overrides: Option<SchemaOverride> =
            if schema.is_empty() { None } else { Some(serde_json::from_str(schema)?) };
        let format = Format::Csv(CsvOptions { separator: None, header });
        catalog::upload(store, name, bytes.into(), format, overrides, limits.clone())
            .await
            .with_context(|| format!("demo dataset {name} from {}", path.display()))?;
        loaded += 1;
    }
    tracing::info!(loaded, "demo datasets loaded");
    Ok(loaded)
}
