//! The VAE engine, pure synchronous numerics on ndarray (no IO, no async, no SQL): tables,
//! column transforms, layers with forward/backward, the conditional VAE, training, model files.

pub mod adam;
pub mod anomaly;
pub mod bench;
pub mod error;
pub mod explore;
pub mod fitted;
pub mod format;
pub mod gmm;
pub mod layers;
pub mod loss;
pub mod params;
pub mod quality;
pub mod real;
pub mod table;
pub mod train;
pub mod transform;
pub mod usefulness;
pub mod vae;
pub mod weighting;

#[cfg(test)]
mod steel_tests;

pub use anomaly::{
    auroc, calibrate, curves, drift, explain, importance_weighted_score, AnomalyError, Calibrated, Calibration,
    Contribution, Curves, Drift,
};
pub use error::VaeError;
pub use fitted::{FittedVae, RowScores};
pub use format::ModelMetadata;
pub use params::{CheckedVaeParams, ContinuousEncoding, KlSchedule, VaeParams};
pub use table::{Bounds, Column, ColumnData, ColumnKind, Table};
pub use train::{
    fit, fit_resume, split_rows, Checkpoint, Control, EpochMetrics, NoObserver, Observer, StopReason, TrainSummary,
};
pub use weighting::RankWeight;
