//! Ways to sample a trained model beyond the prior: rows within ranges (rejection, with the
//! acceptance rate), rows near a given row, interpolation between two rows, and traversal of
//! one latent dimension (what the model learned along it).

use crate::ml::error::VaeError;
use crate::ml::fitted::FittedVae;
use crate::ml::table::{ColumnData, Table};
use ndarray::{Array2, Axis};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// A walk along one latent dimension.
#[derive(Debug, Clone, Copy)]
pub struct Traversal {
    pub dim: usize,
    pub from: f64,
    pub to: f64,
    pub steps: usize,
}

/// Rows kept by `sample_within` and how many draws it took.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub table: Table,
    pub drawn: usize,
    pub acceptance_rate: f64,
}

/// Whether row `i` of `t` lies within every `(column, lo, hi)` (missing values never do).
fn inside(t: &Table, i: usize, ranges: &[(String, f64, f64)]) -> bool {
    ranges.iter().all(|(name, lo, hi)| match t.column(name).map(|c| &c.data) {
        Some(ColumnData::Numeric(v)) => v[i] >= *lo && v[i] <= *hi,
        _ => false,
    })
}

/// `n` points drawn from the prior `z ~ N(0, temperature² I)`, decoded to their most likely
/// values (no output noise): what a shape family's outlines are, since noise per coordinate would
/// only roughen them. `conditions` fixes condition columns (others are drawn by frequency).
pub fn prior_means(
    vae: &FittedVae,
    n: usize,
    temperature: f64,
    conditions: &[(&str, &str)],
    seed: u64,
) -> Result<Table, VaeError> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let codes = vae.condition_codes_for(n, conditions, &mut rng)?;
    let z = Array2::<f32>::from_shape_simple_fn((n, vae.latent()), || {
        let e: f64 = StandardNormal.sample(&mut rng);
        (e * temperature) as f32
    });
    vae.decode(z.view(), &codes)
}

impl FittedVae {
    /// `n` prior samples whose numeric columns lie within `ranges`, by rejection: draws in
    /// batches until `n` are kept or `max_draws` were made (then fewer rows come back; the
    /// acceptance rate says how rare the region is).
    pub fn sample_within(
        &self,
        n: usize,
        temperature: f64,
        conditions: &[(&str, &str)],
        ranges: &[(String, f64, f64)],
        max_draws: usize,
        rng: &mut impl Rng,
    ) -> Result<Accepted, VaeError> {
        for (name, lo, hi) in ranges {
            let t = self.transform().columns.iter().find(|c| &c.name == name);
            match t {
                Some(t) if t.levels.is_empty() => {}
                _ => return Err(VaeError::NotNumeric(name.clone())),
            }
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return Err(VaeError::BadRange { column: name.clone(), lo: *lo, hi: *hi });
            }
        }
        let mut kept: Vec<Table> = vec![];
        let (mut n_kept, mut drawn) = (0, 0);
        while n_kept < n && drawn < max_draws {
            let batch = ((n - n_kept) * 4).clamp(256, 65_536).min(max_draws - drawn);
            let t = self.sample(batch, temperature, conditions, rng)?;
            drawn += batch;
            let idx: Vec<usize> = (0..batch).filter(|&i| inside(&t, i, ranges)).take(n - n_kept).collect();
            n_kept += idx.len();
            kept.push(t.select_rows(&idx));
        }
        let mut table = kept.remove(0);
        for t in kept {
            for (a, b) in table.columns.iter_mut().zip(t.columns) {
                match (&mut a.data, b.data) {
                    (ColumnData::Numeric(v), ColumnData::Numeric(w)) => v.extend(w),
                    (ColumnData::Categorical { codes, .. }, ColumnData::Categorical { codes: c2, .. }) => {
                        codes.extend(c2)
                    }
                    _ => unreachable!("samples of one model share their columns"),
                }
            }
        }
        Ok(Accepted { table, drawn, acceptance_rate: if drawn == 0 { 0.0 } else { n_kept as f64 / drawn as f64 } })
    }

    /// `n` rows near the one row of `row`: latent draws around its posterior mean, with the
    /// posterior spread scaled by `spread` (0: the reconstruction every time), decoded with the
    /// heads' noise at `temperature`. Condition columns keep the row's values.
    pub fn sample_near(
        &self,
        row: &Table,
        n: usize,
        spread: f64,
        temperature: f64,
        rng: &mut impl Rng,
    ) -> Result<Table, VaeError> {
        if row.n_rows() != 1 {
            return Err(VaeError::NotOneRow(row.n_rows()));
        }
        let (mu, logvar) = self.encode(row)?;
        let k = self.latent();
        let s = spread as f32;
        let z = Array2::<f32>::from_shape_fn((n, k), |(_, j)| {
            let e: f32 = StandardNormal.sample(rng);
            mu[[0, j]] + s * (0.5 * logvar[[0, j]]).exp() * e
        });
        self.decode_sampled(&z, &self.row_condition_codes(row, n)?, temperature, rng)
    }

    /// `steps` rows along the straight line between the posterior means of two one-row tables
    /// (both ends included), decoded to their most likely values. Conditions follow the first
    /// row for the first half and the second row after.
    pub fn interpolate(&self, a: &Table, b: &Table, steps: usize) -> Result<Table, VaeError> {
        if a.n_rows() != 1 || b.n_rows() != 1 {
            return Err(VaeError::NotOneRow(a.n_rows().max(b.n_rows())));
        }
        let steps = steps.max(2);
        let (za, _) = self.encode(a)?;
        let (zb, _) = self.encode(b)?;
        let z = Array2::<f32>::from_shape_fn((steps, self.latent()), |(i, j)| {
            let t = i as f32 / (steps - 1) as f32;
            (1.0 - t) * za[[0, j]] + t * zb[[0, j]]
        });
        let ca = self.row_condition_codes(a, 1)?;
        let cb = self.row_condition_codes(b, 1)?;
        let codes: Vec<Vec<Option<u32>>> = ca
            .iter()
            .zip(&cb)
            .map(|(x, y)| (0..steps).map(|i| if 2 * i < steps { x[0] } else { y[0] }).collect())
            .collect();
        self.decode(z.view(), &codes)
    }

    /// `t.steps` rows with latent dimension `t.dim` going from `t.from` to `t.to` and every other
    /// dimension at `base`'s posterior mean (or 0), decoded to their most likely values.
    pub fn traverse(
        &self,
        base: Option<&Table>,
        t: Traversal,
        conditions: &[(&str, &str)],
        rng: &mut impl Rng,
    ) -> Result<Table, VaeError> {
        let Traversal { dim, from: lo, to: hi, steps } = t;
        let k = self.latent();
        if dim >= k {
            return Err(VaeError::NoLatentDim { dim, latent: k });
        }
        let steps = steps.max(2);
        let (z0, codes) = match base {
            Some(row) => {
                if row.n_rows() != 1 {
                    return Err(VaeError::NotOneRow(row.n_rows()));
                }
                (self.encode(row)?.0.row(0).to_owned(), self.row_condition_codes(row, steps)?)
            }
            None => (ndarray::Array1::zeros(k), self.condition_codes_for(steps, conditions, rng)?),
        };
        let mut z = z0.insert_axis(Axis(0)).broadcast((steps, k)).expect("broadcast").to_owned();
        for i in 0..steps {
            z[[i, dim]] = (lo + (hi - lo) * i as f64 / (steps - 1) as f64) as f32;
        }
        self.decode(z.view(), &codes)
    }
}
