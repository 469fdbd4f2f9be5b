//! Training parameters: a builder with defaults, checked against a table into
//! `CheckedVaeParams`, the only form training accepts.

use crate::ml::error::VaeError;
use crate::ml::table::{ColumnData, ColumnKind, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// How the weight of the KL term grows during training (multiplies `beta`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum KlSchedule {
    /// Full weight from the first step.
    Constant,
    /// Linear from 0 to 1 over the first `epochs` epochs.
    Linear { epochs: f64 },
    /// Cyclical annealing (Fu et al. 2019): each period of `period` epochs ramps 0 -> 1 over
    /// its first `ramp` fraction, then holds 1.
    Cyclical { period: f64, ramp: f64 },
}

impl KlSchedule {
    /// Weight at a (fractional) epoch position.
    pub fn weight(&self, epoch_pos: f64) -> f64 {
        match *self {
            KlSchedule::Constant => 1.0,
            KlSchedule::Linear { epochs } => (epoch_pos / epochs).min(1.0),
            KlSchedule::Cyclical { period, ramp } => ((epoch_pos % period) / (period * ramp)).min(1.0),
        }
    }
}

/// How a continuous column is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContinuousEncoding {
    /// Standardised to mean 0, standard deviation 1.
    Standard,
    /// Mode-specific normalisation with a Gaussian mixture of up to `max_modes` components, the
    /// count chosen by BIC (a single mode is chosen unless a mixture wins clearly).
    Modes { max_modes: usize },
}

/// Training parameters (builder with defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeParams {
    pub hidden: Vec<usize>,
    pub latent: usize,
    pub batch_size: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    pub beta: f64,
    pub kl_schedule: KlSchedule,
    /// Free bits per latent dimension (nats, on the batch mean); 0 disables.
    pub free_bits: f64,
    pub seed: u64,
    pub val_fraction: f64,
    /// Epochs without validation improvement before stopping; `None` runs all epochs.
    pub patience: Option<usize>,
    /// Threads of the training pool; the batch is split into this many blocks.
    pub threads: usize,
    /// Global gradient-norm clip; `None` disables.
    pub clip_norm: Option<f64>,
    /// Categorical columns to condition on (not reconstructed; chosen at sampling time).
    pub conditions: Vec<String>,
    /// Encoding of continuous columns without an override.
    pub continuous: ContinuousEncoding,
    /// Per-column overrides of `continuous`.
    pub column_encodings: BTreeMap<String, ContinuousEncoding>,
    /// Train on the rows redrawn by the rank of an objective column (weighted retraining).
    #[serde(default)]
    pub rank_weight: Option<super::weighting::RankWeight>,
}

impl Default for VaeParams {
    fn default() -> Self {
        VaeParams {
            hidden: vec![128, 128],
            latent: 16,
            batch_size: 256,
            epochs: 100,
            learning_rate: 1e-3,
            beta: 1.0,
            kl_schedule: KlSchedule::Constant,
            free_bits: 0.0,
            seed: 0,
            val_fraction: 0.1,
            patience: Some(10),
            threads: 1,
            clip_norm: Some(100.0),
            conditions: vec![],
            continuous: ContinuousEncoding::Modes { max_modes: 3 },
            column_encodings: BTreeMap::new(),
            rank_weight: None,
        }
    }
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident: $t:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.$name = v;
            self
        }
    };
}

impl VaeParams {
    /// Defaults: hidden [128, 128], latent 16, batch 256, 100 epochs, lr 1e-3, beta 1, seed 0,
    /// validation 10 %, patience 10, 1 thread, clip 100, continuous columns by BIC up to 3 modes.
    pub fn new() -> Self {
        Self::default()
    }
    setter!(/// Hidden layer sizes of the encoder (the decoder mirrors them).
        hidden: Vec<usize>);
    setter!(/// Latent size.
        latent: usize);
    setter!(/// Mini-batch size.
        batch_size: usize);
    setter!(/// Maximum epochs.
        epochs: usize);
    setter!(/// Adam learning rate.
        learning_rate: f64);
    setter!(/// KL weight.
        beta: f64);
    setter!(/// KL warm-up.
        kl_schedule: KlSchedule);
    setter!(/// Free bits per latent dimension.
        free_bits: f64);
    setter!(/// RNG seed (split, initialisation, batches, noise).
        seed: u64);
    setter!(/// Fraction of rows held out for validation and early stopping.
        val_fraction: f64);
    setter!(/// Early-stopping patience in epochs.
        patience: Option<usize>);
    setter!(/// Training threads.
        threads: usize);
    setter!(/// Gradient clipping norm.
        clip_norm: Option<f64>);
    setter!(/// Condition columns.
        conditions: Vec<String>);
    setter!(/// Default encoding of continuous columns.
        continuous: ContinuousEncoding);

    /// Overrides the encoding of one continuous column.
    pub fn column_encoding(mut self, column: impl Into<String>, e: ContinuousEncoding) -> Self {
        self.column_encodings.insert(column.into(), e);
        self
    }

    /// Checks the parameters alone (no table).
    pub fn check_alone(&self) -> Result<(), VaeError> {
        if self.latent == 0 {
            return Err(VaeError::ZeroLatent);
        }
        if self.hidden.is_empty() {
            return Err(VaeError::EmptyHidden);
        }
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return Err(VaeError::ZeroHiddenWidth(i));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(VaeError::BadLearningRate(self.learning_rate));
        }
        if self.batch_size == 0 {
            return Err(VaeError::ZeroBatch);
        }
        if self.epochs == 0 {
            return Err(VaeError::ZeroEpochs);
        }
        if self.threads == 0 {
            return Err(VaeError::ZeroThreads);
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(VaeError::BadBeta(self.beta));
        }
        if !(self.free_bits.is_finite() && self.free_bits >= 0.0) {
            return Err(VaeError::BadFreeBits(self.free_bits));
        }
        if let Some(c) = self.clip_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(VaeError::BadClipNorm(c));
            }
        }
        if !(self.val_fraction >= 0.0 && self.val_fraction < 1.0) {
            return Err(VaeError::BadValFraction(self.val_fraction));
        }
        let ok = match self.kl_schedule {
            KlSchedule::Constant => true,
            KlSchedule::Linear { epochs } => epochs.is_finite() && epochs > 0.0,
            KlSchedule::Cyclical { period, ramp } => period.is_finite() && period > 0.0 && ramp > 0.0 && ramp <= 1.0,
        };
        if !ok {
            return Err(VaeError::BadKlSchedule);
        }
        for e in std::iter::once(&self.continuous).chain(self.column_encodings.values()) {
            if let ContinuousEncoding::Modes { max_modes } = *e {
                if !(1..=10).contains(&max_modes) {
                    return Err(VaeError::BadMaxModes(max_modes));
                }
            }
        }
        Ok(())
    }

    /// Checks the parameters against the table they will train on.
    pub fn check(&self, table: &Table) -> Result<CheckedVaeParams, VaeError> {
        self.check_alone()?;
        check_table(table)?;
        if let Some(rw) = &self.rank_weight {
            rw.check()?;
            rw.weights(table)?;
        }
        for name in &self.conditions {
            let col = table.column(name).ok_or_else(|| VaeError::UnknownCondition(name.clone()))?;
            if !matches!(col.kind, ColumnKind::Categorical | ColumnKind::Boolean) {
                return Err(VaeError::ConditionNotCategorical { column: name.clone(), kind: col.kind });
            }
        }
        Ok(CheckedVaeParams(self.clone()))
    }
}

/// Checks a table's shape and cells: equal lengths, unique names, at least 2 rows, kinds that
/// match their data, valid codes, no infinities, no all-missing column. Constant columns pass:
/// the transform keeps them as constants.
pub fn check_table(table: &Table) -> Result<(), VaeError> {
    check_cells(table, true)
}

/// As `check_table`; with `training` false (scoring, reconstruction) a single row and
/// all-missing columns are accepted.
pub fn check_cells(table: &Table, training: bool) -> Result<(), VaeError> {
    if table.columns.is_empty() {
        return Err(VaeError::NoColumns);
    }
    let n = table.n_rows();
    let mut seen = HashSet::new();
    for c in &table.columns {
        if !seen.insert(c.name.as_str()) {
            return Err(VaeError::DuplicateColumn(c.name.clone()));
        }
        if c.data.len() != n {
            return Err(VaeError::RaggedColumn { column: c.name.clone(), len: c.data.len(), expected: n });
        }
    }
    if training && n < 2 {
        return Err(VaeError::TooFewRows(n));
    }
    for c in &table.columns {
        match (&c.data, c.kind) {
            (ColumnData::Numeric(v), ColumnKind::Continuous | ColumnKind::Integer) => {
                if v.iter().any(|x| x.is_infinite()) {
                    return Err(VaeError::InfiniteValue(c.name.clone()));
                }
                if let Some(b) = c.bounds {
                    if let (Some(lo), Some(hi)) = (b.min, b.max) {
                        if lo > hi {
                            return Err(VaeError::BadBounds(c.name.clone()));
                        }
                    }
                }
            }
            (ColumnData::Categorical { codes, levels }, ColumnKind::Categorical | ColumnKind::Boolean) => {
                if let Some(&code) = codes.iter().flatten().find(|&&k| k as usize >= levels.len()) {
                    return Err(VaeError::BadCode { column: c.name.clone(), code, levels: levels.len() });
                }
            }
            (ColumnData::Numeric(_), kind) => {
                return Err(VaeError::KindMismatch { column: c.name.clone(), kind, data: "numeric" })
            }
            (ColumnData::Categorical { .. }, kind) => {
                return Err(VaeError::KindMismatch { column: c.name.clone(), kind, data: "categorical" })
            }
        }
        if training && c.data.n_missing() == n {
            return Err(VaeError::AllMissing(c.name.clone()));
        }
    }
    Ok(())
}

/// Parameters that passed `VaeParams::check` for a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedVaeParams(VaeParams);

impl CheckedVaeParams {
    /// The checked values.
    pub fn params(&self) -> &VaeParams {
        &self.0
    }
}

impl std::ops::Deref for CheckedVaeParams {
    type Target = VaeParams;
    fn deref(&self) -> &VaeParams {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::table::Column;

    fn table() -> Table {
        Table::new(vec![
            Column::continuous("x", vec![1.0, 2.0, 3.0]),
            Column::categorical_from_labels("fault", &[Some("a"), Some("b"), Some("a")]),
            Column::integer("k", vec![1.0, 1.0, 1.0]),
        ])
    }

    fn rejects(p: VaeParams, t: &Table) -> VaeError {
        p.check(t).expect_err("should be rejected")
    }

    #[test]
    fn each_bad_parameter_is_rejected() {
        let t = table();
        let d = VaeParams::new;
        assert_eq!(rejects(d().latent(0), &t), VaeError::ZeroLatent);
        assert_eq!(rejects(d().hidden(vec![]), &t), VaeError::EmptyHidden);
        assert_eq!(rejects(d().hidden(vec![4, 0]), &t), VaeError::ZeroHiddenWidth(1));
        for lr in [0.0, -1e-3, f64::NAN, f64::INFINITY] {
            assert!(matches!(rejects(d().learning_rate(lr), &t), VaeError::BadLearningRate(_)));
        }
        assert_eq!(rejects(d().batch_size(0), &t), VaeError::ZeroBatch);
        assert_eq!(rejects(d().epochs(0), &t), VaeError::ZeroEpochs);
        assert_eq!(rejects(d().threads(0), &t), VaeError::ZeroThreads);
        assert!(matches!(rejects(d().beta(-1.0), &t), VaeError::BadBeta(_)));
        assert!(matches!(rejects(d().val_fraction(1.0), &t), VaeError::BadValFraction(_)));
        assert!(matches!(rejects(d().clip_norm(Some(0.0)), &t), VaeError::BadClipNorm(_)));
        assert_eq!(rejects(d().kl_schedule(KlSchedule::Linear { epochs: 0.0 }), &t), VaeError::BadKlSchedule);
        assert_eq!(rejects(d().conditions(vec!["nope".into()]), &t), VaeError::UnknownCondition("nope".into()));
        let e = rejects(d().conditions(vec!["x".into()]), &t);
        assert_eq!(e, VaeError::ConditionNotCategorical { column: "x".into(), kind: ColumnKind::Continuous });
        assert!(e.to_string().contains("'x'"), "error names the column: {e}");
        assert!(d().conditions(vec!["fault".into()]).check(&t).is_ok());
    }

    #[test]
    fn bad_tables_are_rejected_naming_the_column() {
        let one_row = Table::new(vec![Column::continuous("x", vec![1.0])]);
        assert_eq!(rejects(VaeParams::new(), &one_row), VaeError::TooFewRows(1));
        let missing = Table::new(vec![
            Column::continuous("x", vec![1.0, 2.0]),
            Column::continuous("gone", vec![f64::NAN, f64::NAN]),
        ]);
        let e = rejects(VaeParams::new(), &missing);
        assert_eq!(e, VaeError::AllMissing("gone".into()));
        assert!(e.to_string().contains("'gone'"));
        let missing_cat = Table::new(vec![Column::categorical("c", vec![None, None], vec!["a".into()])]);
        assert_eq!(rejects(VaeParams::new(), &missing_cat), VaeError::AllMissing("c".into()));
        let ragged = Table::new(vec![Column::continuous("x", vec![1.0, 2.0]), Column::continuous("y", vec![1.0])]);
        assert!(matches!(rejects(VaeParams::new(), &ragged), VaeError::RaggedColumn { .. }));
        assert_eq!(rejects(VaeParams::new(), &Table::default()), VaeError::NoColumns);
        // a constant column is accepted; the transform keeps it as a constant
        assert!(VaeParams::new().check(&table()).is_ok());
    }

    #[test]
    fn params_and_errors_are_send_and_sync() {
        fn is<T: Send + Sync>() {}
        is::<VaeParams>();
        is::<CheckedVaeParams>();
        is::<VaeError>();
    }

    #[test]
    fn kl_schedules_ramp_as_documented() {
        assert_eq!(KlSchedule::Linear { epochs: 4.0 }.weight(1.0), 0.25);
        assert_eq!(KlSchedule::Linear { epochs: 4.0 }.weight(9.0), 1.0);
        let c = KlSchedule::Cyclical { period: 4.0, ramp: 0.5 };
        assert_eq!(c.weight(1.0), 0.5);
        assert_eq!(c.weight(3.0), 1.0);
        assert_eq!(c.weight(5.0), 0.5);
    }
}
