//! Column transforms, fitted on the training table and stored with the model: table <-> model
//! matrix, and the likelihood heads that read each block of it.
//!
//! Layout of one column's block in the model matrix:
//! - continuous, standard: one Gaussian value `(x - mean) / std`;
//! - continuous or integer, mode-specific (TVAE): one Gaussian value `(x - m_k) / s_k` for the most
//!   likely mixture component k, then a softmax block one-hot over the components (a single mode
//!   falls back to standard); integers are rounded when decoded (counts and sizes in factory data
//!   are often multi-modal: plate thicknesses, conveyor lengths);
//! - categorical / boolean: a softmax block one-hot over the levels (+1 slot "missing" when the
//!   training data had missing cells); a 2-way softmax is the Bernoulli head of a boolean;
//! - numeric with missing cells: imputed with the mean, plus a 2-way softmax block
//!   [present, missing] that decides at decoding whether the cell comes back missing;
//! - constant columns (one observed value and no missing cells) take no width and decode to it.
//!
//! Decoded numbers are clamped into the declared bounds, else the observed training range.

use crate::ml::error::VaeError;
use crate::ml::gmm::Gmm1;
use crate::ml::loss::Heads;
use crate::ml::params::{CheckedVaeParams, ContinuousEncoding};
use crate::ml::real::Real;
use crate::ml::table::{Column, ColumnData, ColumnKind, Table};
use ndarray::{Array2, ArrayView1, ArrayView2};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// How one column's values are represented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Encoding {
    /// Constant number (no width).
    ConstantNumber(f64),
    /// Constant level code (no width).
    ConstantLevel(u32),
    /// Standardised number.
    Standard { mean: f64, std: f64 },
    /// Mode-specific normalisation by a 1-D Gaussian mixture.
    Modes(Gmm1),
    /// One-hot over the levels.
    OneHot,
}

/// The fitted transform of one column and where its block sits in the model matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnTransform {
    pub name: String,
    pub kind: ColumnKind,
    /// Levels of a categorical or boolean column.
    pub levels: Vec<String>,
    pub encoding: Encoding,
    /// Training data had missing cells (adds a missing indicator / slot).
    pub has_missing: bool,
    /// Value imputed for missing numeric cells.
    pub impute: f64,
    /// Clamp range of decoded numbers (declared bounds, else observed range; 0 for categorical).
    pub min: f64,
    pub max: f64,
    /// Share of each level (and "missing" last, if any) in the training rows; used to draw
    /// unspecified conditions.
    pub frequencies: Vec<f64>,
    /// First model-matrix column of this block, and its width.
    pub start: usize,
    pub width: usize,
    /// Indices of this column's heads among all heads (Gaussian first, then softmax).
    pub heads: Vec<usize>,
}

impl ColumnTransform {
    fn n_slots(&self) -> usize {
        self.levels.len() + usize::from(self.has_missing)
    }
}

/// The fitted transform of a table: modelled columns, condition columns, heads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableTransform {
    /// Modelled (reconstructed) columns, in table order.
    pub columns: Vec<ColumnTransform>,
    /// Condition columns, in the order of the parameters; `start`/`width` index the condition
    /// one-hot matrix.
    pub conditions: Vec<ColumnTransform>,
    /// Original column order: names of all columns.
    pub order: Vec<String>,
    pub heads: Heads,
    pub n_x: usize,
    pub n_cond: usize,
}

fn observed(v: &[f64]) -> Vec<f64> {
    v.iter().copied().filter(|x| !x.is_nan()).collect()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt())
}

fn fit_column(col: &Column, enc: ContinuousEncoding) -> ColumnTransform {
    let n = col.data.len();
    let n_missing = col.data.n_missing();
    let mut t = ColumnTransform {
        name: col.name.clone(),
        kind: col.kind,
        levels: vec![],
        encoding: Encoding::OneHot,
        has_missing: n_missing > 0,
        impute: 0.0,
        min: 0.0, // unused for categorical columns; finite so the JSON round-trips
        max: 0.0,
        frequencies: vec![],
        start: 0,
        width: 0,
        heads: vec![],
    };
    match &col.data {
        ColumnData::Numeric(v) => {
            let obs = observed(v);
            let lo = obs.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = obs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let b = col.bounds.unwrap_or_default();
            t.min = b.min.unwrap_or(lo);
            t.max = b.max.unwrap_or(hi);
            let (mean, std) = mean_std(&obs);
            t.impute = mean;
            t.encoding = if hi == lo {
                Encoding::ConstantNumber(lo)
            } else {
                match (col.kind, enc) {
                    (ColumnKind::Continuous | ColumnKind::Integer, ContinuousEncoding::Modes { max_modes })
                        if max_modes > 1 =>
                    {
                        // EM on at most ~5000 evenly strided values keeps fitting fast and deterministic
                        let stride = obs.len().div_ceil(5000);
                        let sub: Vec<f64> = obs.iter().step_by(stride).copied().collect();
                        let g = Gmm1::select(&sub, max_modes, 1e-3 * std);
                        if g.k() > 1 {
                            Encoding::Modes(g)
                        } else {
                            Encoding::Standard { mean, std }
                        }
                    }
                    _ => Encoding::Standard { mean, std },
                }
            };
        }
        ColumnData::Categorical { codes, levels } => {
            t.levels = levels.clone();
            let mut counts = vec![0usize; levels.len() + usize::from(t.has_missing)];
            for c in codes {
                match c {
                    Some(k) => counts[*k as usize] += 1,
                    None => *counts.last_mut().unwrap() += 1,
                }
            }
            t.frequencies = counts.iter().map(|&c| c as f64 / n as f64).collect();
            let used: Vec<usize> = (0..levels.len()).filter(|&k| counts[k] > 0).collect();
            t.encoding = if used.len() == 1 && !t.has_missing {
                Encoding::ConstantLevel(used[0] as u32)
            } else {
                Encoding::OneHot
            };
        }
    }
    t
}

impl TableTransform {
    /// Fits the transform on a checked table.
    pub fn fit(table: &Table, params: &CheckedVaeParams) -> TableTransform {
        let mut heads = Heads::default();
        let mut gauss_cols = vec![];
        let mut softmax = vec![];
        let mut columns = vec![];
        let mut pos = 0;
        // columns are fitted independently (mode finding by EM is the slow part): in parallel
        use rayon::prelude::*;
        let fitted: Vec<Option<ColumnTransform>> = table
            .columns
            .par_iter()
            .map(|col| {
                (!params.conditions.contains(&col.name)).then(|| {
                    let enc = params.column_encodings.get(&col.name).copied().unwrap_or(params.continuous);
                    fit_column(col, enc)
                })
            })
            .collect();
        for mut t in fitted.into_iter().flatten() {
            t.start = pos;
            let mut block = |t: &mut ColumnTransform, len: usize, gauss: bool, pos: &mut usize| {
                if gauss {
                    t.heads.push(gauss_cols.len());
                    gauss_cols.push(*pos);
                } else {
                    t.heads.push(usize::MAX - softmax.len()); // patched below
                    softmax.push((*pos, len));
                }
                *pos += len;
            };
            match &t.encoding {
                Encoding::ConstantNumber(_) | Encoding::ConstantLevel(_) => {}
                Encoding::Standard { .. } => block(&mut t, 1, true, &mut pos),
                Encoding::Modes(g) => {
                    let k = g.k();
                    block(&mut t, 1, true, &mut pos);
                    block(&mut t, k, false, &mut pos);
                }
                Encoding::OneHot => {
                    let w = t.n_slots();
                    block(&mut t, w, false, &mut pos);
                }
            }
            if t.has_missing && t.kind != ColumnKind::Categorical && t.kind != ColumnKind::Boolean {
                block(&mut t, 2, false, &mut pos);
            }
            t.width = pos - t.start;
            columns.push(t);
        }
        let n_gauss = gauss_cols.len();
        for t in &mut columns {
            for h in &mut t.heads {
                if *h > usize::MAX / 2 {
                    *h = n_gauss + (usize::MAX - *h);
                }
            }
        }
        heads.gauss = gauss_cols;
        heads.softmax = softmax;
        let mut cpos = 0;
        let conditions = params
            .conditions
            .iter()
            .map(|name| {
                let col = table.column(name).expect("checked");
                let mut t = fit_column(col, ContinuousEncoding::Standard);
                t.encoding = Encoding::OneHot; // a condition keeps its slot even if constant
                t.start = cpos;
                t.width = t.n_slots();
                cpos += t.width;
                t
            })
            .collect();
        TableTransform {
            columns,
            conditions,
            order: table.columns.iter().map(|c| c.name.clone()).collect(),
            heads,
            n_x: pos,
            n_cond: cpos,
        }
    }

    fn find<'a>(table: &'a Table, t: &ColumnTransform) -> Result<&'a Column, VaeError> {
        let col =
            table.column(&t.name).ok_or_else(|| VaeError::SchemaMismatch(format!("column '{}' is missing", t.name)))?;
        let ok = matches!(
            (&col.data, t.kind),
            (ColumnData::Numeric(_), ColumnKind::Continuous | ColumnKind::Integer)
                | (ColumnData::Categorical { .. }, ColumnKind::Categorical | ColumnKind::Boolean)
        );
        if !ok {
            return Err(VaeError::SchemaMismatch(format!("column '{}' is not {:?} as in the model", t.name, t.kind)));
        }
        Ok(col)
    }

    /// A categorical column's codes in the model's level numbering (matched by label, so a
    /// table may list its levels in another order or a subset of them).
    pub fn model_codes(table: &Table, t: &ColumnTransform) -> Result<Vec<Option<u32>>, VaeError> {
        let col = Self::find(table, t)?;
        let (codes, levels) = col.codes().expect("checked categorical");
        let map = levels
            .iter()
            .map(|l| {
                t.levels.iter().position(|m| m == l).map(|k| k as u32).ok_or_else(|| VaeError::UnknownLevel {
                    column: t.name.clone(),
                    value: l.clone(),
                    levels: t.levels.join(", "),
                })
            })
            .collect::<Vec<_>>();
        codes
            .iter()
            .map(|c| match c {
                None => Ok(None),
                Some(k) => map[*k as usize].clone().map(Some),
            })
            .collect()
    }

    /// The model matrix of a table (columns matched by name).
    pub fn encode<F: Real>(&self, table: &Table) -> Result<Array2<F>, VaeError> {
        let n = table.n_rows();
        let mut x = Array2::<F>::zeros((n, self.n_x));
        for t in &self.columns {
            let col = Self::find(table, t)?;
            match (&col.data, &t.encoding) {
                (_, Encoding::ConstantNumber(_) | Encoding::ConstantLevel(_)) if !t.has_missing => {}
                (ColumnData::Numeric(v), enc) => {
                    for (r, &val) in v.iter().enumerate() {
                        let miss = val.is_nan();
                        let val = if miss { t.impute } else { val };
                        let mut p = t.start;
                        match enc {
                            Encoding::Standard { mean, std } => {
                                x[[r, p]] = F::cst((val - mean) / std);
                                p += 1;
                            }
                            Encoding::Modes(g) => {
                                let k = g.mode_of(val);
                                x[[r, p]] = F::cst((val - g.means[k]) / g.stds[k]);
                                x[[r, p + 1 + k]] = F::one();
                                p += 1 + g.k();
                            }
                            _ => {}
                        }
                        if t.has_missing {
                            x[[r, p + usize::from(miss)]] = F::one();
                        }
                    }
                }
                (ColumnData::Categorical { .. }, _) => {
                    let codes = Self::model_codes(table, t)?;
                    let w = t.n_slots();
                    for (r, c) in codes.iter().enumerate() {
                        let slot = c.map_or(w - 1, |k| k as usize);
                        if c.is_none() && !t.has_missing {
                            return Err(VaeError::SchemaMismatch(format!(
                                "column '{}' has missing cells the model never saw",
                                t.name
                            )));
                        }
                        x[[r, t.start + slot]] = F::one();
                    }
                }
            }
        }
        Ok(x)
    }

    /// The condition one-hot matrix of a table (`None` for an unconditional model).
    pub fn encode_conditions<F: Real>(&self, table: &Table) -> Result<Option<Array2<F>>, VaeError> {
        if self.conditions.is_empty() {
            return Ok(None);
        }
        let codes =
            self.conditions.iter().map(|t| Self::model_codes(table, t)).collect::<Result<Vec<_>, VaeError>>()?;
        Ok(Some(self.condition_matrix(&codes)?))
    }

    /// Condition one-hot matrix from per-condition code columns.
    pub fn condition_matrix<F: Real>(&self, codes: &[Vec<Option<u32>>]) -> Result<Array2<F>, VaeError> {
        let n = codes.first().map_or(0, Vec::len);
        let mut c = Array2::<F>::zeros((n, self.n_cond));
        for (t, col) in self.conditions.iter().zip(codes) {
            for (r, code) in col.iter().enumerate() {
                let slot = match code {
                    Some(k) => *k as usize,
                    None if t.has_missing => t.levels.len(),
                    None => {
                        return Err(VaeError::SchemaMismatch(format!(
                            "condition '{}' has missing cells the model never saw",
                            t.name
                        )))
                    }
                };
                c[[r, t.start + slot]] = F::one();
            }
        }
        Ok(c)
    }

    /// Decodes head parameters into a table. With `rng` the heads are sampled (Gaussian noise
    /// of the learned sigma times `temperature`, softmax at `temperature`); without, each head
    /// gives its most likely value. `cond_codes` holds the condition columns' codes per row.
    pub fn decode(
        &self,
        out: ArrayView2<f32>,
        log_sigma: &[f32],
        cond_codes: &[Vec<Option<u32>>],
        mut rng: Option<(&mut dyn rand::RngCore, f64)>,
    ) -> Table {
        let n = out.nrows();
        let mut decoded: Vec<(String, Column)> = vec![];
        for t in &self.columns {
            let data = match &t.encoding {
                Encoding::ConstantLevel(k) if !t.has_missing => {
                    ColumnData::Categorical { codes: vec![Some(*k); n], levels: t.levels.clone() }
                }
                Encoding::OneHot | Encoding::ConstantLevel(_) => {
                    let w = t.n_slots();
                    let codes = (0..n)
                        .map(|r| {
                            let slot = pick(out.row(r).slice(ndarray::s![t.start..t.start + w]), &mut rng);
                            (slot < t.levels.len()).then_some(slot as u32)
                        })
                        .collect();
                    ColumnData::Categorical { codes, levels: t.levels.clone() }
                }
                enc => {
                    let vals = (0..n)
                        .map(|r| {
                            let row = out.row(r);
                            let mut p = t.start;
                            let gauss = |p: usize, rng: &mut Option<(&mut dyn rand::RngCore, f64)>| {
                                let mut a = row[p] as f64;
                                if let Some((g, temp)) = rng.as_mut() {
                                    let j = t.heads[0];
                                    let z: f64 = g.sample(StandardNormal);
                                    a += *temp * (log_sigma[j] as f64).exp() * z;
                                }
                                a
                            };
                            let v = match enc {
                                Encoding::ConstantNumber(v) => *v,
                                Encoding::Standard { mean, std } => {
                                    let a = gauss(p, &mut rng);
                                    p += 1;
                                    mean + std * a
                                }
                                Encoding::Modes(g) => {
                                    let a = gauss(p, &mut rng);
                                    let k = pick(row.slice(ndarray::s![p + 1..p + 1 + g.k()]), &mut rng);
                                    p += 1 + g.k();
                                    g.means[k] + g.stds[k] * a
                                }
                                _ => unreachable!(),
                            };
                            if t.has_missing && pick(row.slice(ndarray::s![p..p + 2]), &mut rng) == 1 {
                                return f64::NAN;
                            }
                            let v = v.clamp(t.min, t.max);
                            if t.kind == ColumnKind::Integer {
                                v.round().clamp(t.min.ceil(), t.max.floor())
                            } else {
                                v
                            }
                        })
                        .collect();
                    ColumnData::Numeric(vals)
                }
            };
            decoded.push((t.name.clone(), Column { name: t.name.clone(), kind: t.kind, data, bounds: None }));
        }
        for (t, codes) in self.conditions.iter().zip(cond_codes) {
            let data = ColumnData::Categorical { codes: codes.clone(), levels: t.levels.clone() };
            decoded.push((t.name.clone(), Column { name: t.name.clone(), kind: t.kind, data, bounds: None }));
        }
        let columns = self
            .order
            .iter()
            .filter_map(|name| decoded.iter().position(|(n, _)| n == name).map(|i| decoded[i].1.clone()))
            .collect();
        Table { columns }
    }

    /// Index of a condition column by name.
    pub fn condition_index(&self, name: &str) -> Option<usize> {
        self.conditions.iter().position(|t| t.name == name)
    }
}

/// Argmax of logits, or a draw from `softmax(logits / temperature)` (argmax at temperature 0).
fn pick(logits: ArrayView1<f32>, rng: &mut Option<(&mut dyn rand::RngCore, f64)>) -> usize {
    let argmax = || (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap_or(0);
    match rng.as_mut() {
        Some((g, temp)) if *temp > 0.0 => {
            let m = logits.fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            let w: Vec<f64> = logits.iter().map(|&l| ((l as f64 - m) / *temp).exp()).collect();
            let mut u = g.random::<f64>() * w.iter().sum::<f64>();
            for (i, wi) in w.iter().enumerate() {
                u -= wi;
                if u <= 0.0 {
                    return i;
                }
            }
            w.len() - 1
        }
        _ => argmax(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::params::VaeParams;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    fn mixed_table() -> Table {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = Normal::new(-10.0, 1.0).unwrap();
        let b = Normal::new(10.0, 1.0).unwrap();
        let n = 600;
        let bimodal: Vec<f64> =
            (0..n).map(|i| if i % 2 == 0 { a.sample(&mut rng) } else { b.sample(&mut rng) }).collect();
        let with_gaps: Vec<f64> = (0..n).map(|i| if i % 10 == 0 { f64::NAN } else { i as f64 * 0.5 }).collect();
        Table::new(vec![
            Column::continuous("bimodal", bimodal),
            Column::integer("count", (0..n).map(|i| (i % 7) as f64).collect()).with_bounds(Some(0.0), Some(6.0)),
            Column::continuous("gaps", with_gaps),
            Column::continuous("const", vec![3.5; n]),
            Column::categorical_from_labels(
                "grade",
                &(0..n).map(|i| if i % 13 == 0 { None } else { Some(["a", "b", "c"][i % 3]) }).collect::<Vec<_>>(),
            ),
            Column::boolean("ok", (0..n).map(|i| Some(i % 4 == 0)).collect()),
            Column::categorical_from_labels("fault", &(0..n).map(|i| Some(["x", "y"][i % 2])).collect::<Vec<_>>()),
        ])
    }

    #[test]
    fn layout_heads_and_round_trip_through_one_hot_decoding() {
        let t = mixed_table();
        let p = VaeParams::new()
            .conditions(vec!["fault".into()])
            .column_encoding("gaps", ContinuousEncoding::Standard)
            .column_encoding("count", ContinuousEncoding::Standard)
            .check(&t)
            .unwrap();
        let tr = TableTransform::fit(&t, &p);
        let by = |n: &str| tr.columns.iter().find(|c| c.name == n).unwrap();
        assert!(matches!(by("bimodal").encoding, Encoding::Modes(ref g) if g.k() == 2));
        assert_eq!(by("bimodal").width, 3);
        assert_eq!(by("count").width, 1);
        assert_eq!(by("gaps").width, 3, "value + [present, missing]");
        assert_eq!(by("const").width, 0);
        assert_eq!(by("grade").width, 4, "3 levels + missing slot");
        assert_eq!(by("ok").width, 2);
        assert_eq!(tr.n_x, 3 + 1 + 3 + 4 + 2, "const takes no width");
        assert_eq!(tr.n_cond, 2);
        assert_eq!(tr.heads.gauss.len(), 3);
        assert_eq!(tr.heads.softmax.len(), 4);
        let x: Array2<f32> = tr.encode(&t).unwrap();
        // every softmax block is one-hot
        for &(s, l) in &tr.heads.softmax {
            for r in 0..x.nrows() {
                assert_eq!((s..s + l).map(|j| x[[r, j]]).sum::<f32>(), 1.0);
            }
        }
        // decoding the encoded matrix (as if heads were perfect) gives the table back
        let big = x.mapv(|v| v * 30.0); // one-hot -> confident logits; Gaussian values scaled, so undo:
        let mut out = x.clone();
        for &(s, l) in &tr.heads.softmax {
            out.slice_mut(ndarray::s![.., s..s + l]).assign(&big.slice(ndarray::s![.., s..s + l]));
        }
        let codes = vec![t.column("fault").unwrap().codes().unwrap().0.to_vec()];
        let back = tr.decode(out.view(), &[0.0; 3], &codes, None);
        assert_eq!(back.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), tr.order);
        for (a, b) in t.columns.iter().zip(&back.columns) {
            assert_eq!(a.kind, b.kind);
            match (&a.data, &b.data) {
                (ColumnData::Numeric(u), ColumnData::Numeric(v)) => {
                    for (p, q) in u.iter().zip(v) {
                        assert!(p.is_nan() && q.is_nan() || (p - q).abs() < 1e-3, "{}: {p} vs {q}", a.name);
                    }
                }
                (u, v) => assert_eq!(u, v, "{}", a.name),
            }
        }
    }

    #[test]
    fn levels_are_matched_by_label_and_unknown_labels_rejected() {
        let t = mixed_table();
        let p = VaeParams::new().check(&t).unwrap();
        let tr = TableTransform::fit(&t, &p);
        let x: Array2<f64> = tr.encode(&t).unwrap();
        // the same table with "grade" levels listed in reverse order encodes identically
        let mut u = t.clone();
        let col = u.columns.iter_mut().find(|c| c.name == "grade").unwrap();
        if let ColumnData::Categorical { codes, levels } = &mut col.data {
            levels.reverse();
            codes.iter_mut().flatten().for_each(|k| *k = 2 - *k);
        }
        assert_eq!(tr.encode::<f64>(&u).unwrap(), x);
        let col = u.columns.iter_mut().find(|c| c.name == "grade").unwrap();
        if let ColumnData::Categorical { levels, .. } = &mut col.data {
            levels[0] = "z".into();
        }
        let e = tr.encode::<f64>(&u).unwrap_err();
        assert!(matches!(e, VaeError::UnknownLevel { ref column, ref value, .. } if column == "grade" && value == "z"));
    }

    #[test]
    fn decoded_values_are_clamped_and_rounded() {
        let t = mixed_table();
        let p = VaeParams::new().check(&t).unwrap();
        let tr = TableTransform::fit(&t, &p);
        let out = Array2::<f32>::from_elem((5, tr.n_x), 50.0);
        let ls = vec![0.0; tr.heads.gauss.len()];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let s = tr.decode(out.view(), &ls, &[], Some((&mut rng, 1.0)));
        let count = s.column("count").unwrap().numeric().unwrap();
        assert!(count.iter().all(|&v| v == 6.0), "clamped to the declared max: {count:?}");
        let bi = s.column("bimodal").unwrap().numeric().unwrap();
        let hi = t.column("bimodal").unwrap().numeric().unwrap().iter().cloned().fold(f64::MIN, f64::max);
        assert!(bi.iter().all(|&v| v <= hi));
        assert!(s.column("const").unwrap().numeric().unwrap().iter().all(|&v| v == 3.5));
    }
}
