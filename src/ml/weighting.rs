//! Rank-weighted retraining (Tripp, Daxberger and Hernández-Lobato 2020, "Sample-efficient
//! optimization in the latent space of deep generative models via weighted retraining"): rows are
//! weighted `w_i ∝ 1 / (k·N + rank_i)` by the rank of their objective column (0 = best), and the
//! training table is redrawn with replacement by those weights, so a retrained VAE gives more of
//! its latent space to good designs. Small `k` weights strongly; large `k` approaches uniform.

use super::error::VaeError;
use super::table::{ColumnData, Table};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{weighted::WeightedIndex, Distribution};
use serde::{Deserialize, Serialize};

/// Which column ranks the rows, which way, and how strongly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankWeight {
    pub column: String,
    /// Rank by largest first (default) or smallest first.
    #[serde(default = "yes")]
    pub maximize: bool,
    /// Tripp et al.'s `k` (default 0.001).
    #[serde(default = "default_k")]
    pub k: f64,
}

fn yes() -> bool {
    true
}

fn default_k() -> f64 {
    1e-3
}

impl RankWeight {
    pub fn check(&self) -> Result<(), VaeError> {
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(VaeError::BadRankWeight(format!("k must be a positive number, found {}", self.k)));
        }
        Ok(())
    }

    /// The weight of each row (summing to 1); rows without a value rank last.
    pub fn weights(&self, table: &Table) -> Result<Vec<f64>, VaeError> {
        let col = table
            .column(&self.column)
            .ok_or_else(|| VaeError::BadRankWeight(format!("column '{}' is not in the table", self.column)))?;
        let ColumnData::Numeric(v) = &col.data else {
            return Err(VaeError::BadRankWeight(format!("column '{}' is not numeric", self.column)));
        };
        let n = v.len();
        let mut order: Vec<usize> = (0..n).collect();
        let key = |i: usize| {
            let x = v[i];
            if x.is_nan() {
                f64::INFINITY
            } else if self.maximize {
                -x
            } else {
                x
            }
        };
        order.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
        let mut w = vec![0.0; n];
        for (rank, &i) in order.iter().enumerate() {
            w[i] = 1.0 / (self.k * n as f64 + rank as f64);
        }
        let total: f64 = w.iter().sum();
        Ok(w.into_iter().map(|x| x / total).collect())
    }

    /// The table redrawn with replacement by the weights: as many rows, the same for a seed.
    pub fn resample(&self, table: &Table, seed: u64) -> Result<Table, VaeError> {
        let w = self.weights(table)?;
        let dist = WeightedIndex::new(&w).map_err(|e| VaeError::BadRankWeight(e.to_string()))?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7269_7070);
        let idx: Vec<usize> = (0..table.n_rows()).map(|_| dist.sample(&mut rng)).collect();
        Ok(table.select_rows(&idx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::table::Column;

    fn table() -> Table {
        Table::new(vec![
            Column::continuous("toughness", vec![1.0, 5.0, 3.0, f64::NAN]),
            Column::continuous("t", vec![0.1, 0.2, 0.3, 0.4]),
        ])
    }

    #[test]
    fn weights_follow_the_rank_formula() {
        let rw = RankWeight { column: "toughness".into(), maximize: true, k: 0.25 };
        let w = rw.weights(&table()).unwrap();
        // k·N = 1: ranks 0 (5.0), 1 (3.0), 2 (1.0), 3 (missing) → 1/1, 1/2, 1/3, 1/4, normalised by 25/12
        let z = 1.0 + 0.5 + 1.0 / 3.0 + 0.25;
        let expect = [1.0 / 3.0 / z, 1.0 / z, 0.5 / z, 0.25 / z];
        for (a, b) in w.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{w:?}");
        }
        let min = RankWeight { maximize: false, ..rw };
        let w = min.weights(&table()).unwrap();
        assert!(w[0] > w[2] && w[2] > w[1] && w[1] > w[3], "{w:?}");
    }

    #[test]
    fn resampling_favours_good_rows_and_repeats_for_a_seed() {
        let n = 1000;
        let t = Table::new(vec![Column::continuous("y", (0..n).map(|i| i as f64).collect())]);
        let rw = RankWeight { column: "y".into(), maximize: true, k: 1e-3 };
        let r = rw.resample(&t, 7).unwrap();
        assert_eq!(r.n_rows(), n);
        let ColumnData::Numeric(v) = &r.columns[0].data else { panic!() };
        let mean = v.iter().sum::<f64>() / n as f64;
        assert!(mean > 700.0, "drawn towards large y: mean {mean}");
        let again = rw.resample(&t, 7).unwrap();
        assert_eq!(r.columns[0].data, again.columns[0].data);
    }

    #[test]
    fn bad_settings_are_refused() {
        let rw = RankWeight { column: "nope".into(), maximize: true, k: 1e-3 };
        assert!(rw.weights(&table()).unwrap_err().to_string().contains("nope"));
        let rw = RankWeight { column: "t".into(), maximize: true, k: 0.0 };
        assert!(rw.check().is_err());
    }
}
