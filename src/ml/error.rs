//! Everything the engine can reject, each naming the parameter or column at fault.

use crate::ml::table::ColumnKind;

/// Why parameters, a table, a request or a model file were rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VaeError {
    #[error("rank weighting: {0}")]
    BadRankWeight(String),
    #[error("latent size must be at least 1")]
    ZeroLatent,
    #[error("hidden layers must not be empty (give at least one size, e.g. [128, 128])")]
    EmptyHidden,
    #[error("hidden layer {0} has size 0; every hidden size must be at least 1")]
    ZeroHiddenWidth(usize),
    #[error("learning rate must be positive and finite, got {0}")]
    BadLearningRate(f64),
    #[error("batch size must be at least 1")]
    ZeroBatch,
    #[error("epochs must be at least 1")]
    ZeroEpochs,
    #[error("threads must be at least 1")]
    ZeroThreads,
    #[error("beta must be non-negative and finite, got {0}")]
    BadBeta(f64),
    #[error("free bits must be non-negative and finite, got {0}")]
    BadFreeBits(f64),
    #[error("gradient clip norm must be positive and finite, got {0}")]
    BadClipNorm(f64),
    #[error("validation fraction must be in [0, 1), got {0}")]
    BadValFraction(f64),
    #[error("KL schedule needs a positive length and a ramp fraction in (0, 1]")]
    BadKlSchedule,
    #[error("max modes must be between 1 and 10, got {0}")]
    BadMaxModes(usize),
    #[error("the table has no columns")]
    NoColumns,
    #[error("the table has {0} row(s); training needs at least 2")]
    TooFewRows(usize),
    #[error("column '{column}' has {len} rows but the first column has {expected}")]
    RaggedColumn { column: String, len: usize, expected: usize },
    #[error("column name '{0}' appears more than once")]
    DuplicateColumn(String),
    #[error("column '{0}' has only missing values; drop it or fill it before training")]
    AllMissing(String),
    #[error("column '{column}' is {kind:?} but holds {data} data")]
    KindMismatch { column: String, kind: ColumnKind, data: &'static str },
    #[error("column '{column}' has code {code} but only {levels} level(s)")]
    BadCode { column: String, code: u32, levels: usize },
    #[error("column '{0}' has an infinite value; use NaN for missing")]
    InfiniteValue(String),
    #[error("column '{0}' declares a minimum above its maximum")]
    BadBounds(String),
    #[error("condition column '{0}' does not exist in the table")]
    UnknownCondition(String),
    #[error("condition column '{column}' is {kind:?}; conditions must be categorical or boolean")]
    ConditionNotCategorical { column: String, kind: ColumnKind },
    #[error("'{0}' is not a condition column of this model")]
    NotACondition(String),
    #[error("'{0}' is not a numeric column of the model; ranges apply to continuous and integer columns")]
    NotNumeric(String),
    #[error("range of '{column}' is [{lo}, {hi}]; the low end must not exceed the high end")]
    BadRange { column: String, lo: f64, hi: f64 },
    #[error("expected exactly one row, got {0}")]
    NotOneRow(usize),
    #[error("latent dimension {dim} does not exist; the model has {latent} (0 to {})", latent - 1)]
    NoLatentDim { dim: usize, latent: usize },
    #[error("condition column '{column}' has no level '{value}' (levels: {levels})")]
    UnknownLevel { column: String, value: String, levels: String },
    #[error("the table does not match the model: {0}")]
    SchemaMismatch(String),
    #[error("training diverged at epoch {0} (non-finite loss); lower the learning rate or set a clip norm")]
    Diverged(usize),
    #[error("model file: {0}")]
    Format(String),
    #[error("checkpoint does not belong to this run: {0}")]
    CheckpointMismatch(String),
}
