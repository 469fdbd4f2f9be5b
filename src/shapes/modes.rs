//! Principal modes of a shape family: the mean outline and the directions that hold most of the
//! family's variance, for projecting a generated outline onto the span of the family (a
//! low-dimensional parameterisation that removes point-to-point noise a decoder leaves).

use super::Point;
use linfa_linalg::eigh::Eigh;
use ndarray::Array2;

/// At most this many outlines are used to fit the modes (evenly chosen): the Gram matrix is then
/// at most this size, whatever the family's.
pub const MAX_FIT_ROWS: usize = 400;

/// The mean outline and orthonormal modes, flattened as `[x0.., y0..]`.
#[derive(Clone, Debug)]
pub struct Modes {
    mean: Vec<f64>,
    basis: Vec<Vec<f64>>,
    /// Share of the family's variance the modes hold.
    pub explained: f64,
}

fn flat(pts: &[Point]) -> Vec<f64> {
    pts.iter().map(|p| p[0]).chain(pts.iter().map(|p| p[1])).collect()
}

impl Modes {
    /// The fewest modes that hold `energy` (e.g. 0.999) of the variance of `outlines` (all with
    /// the same number of points); `None` for fewer than 2 outlines, mixed point counts or
    /// non-finite points.
    pub fn fit(outlines: &[Vec<Point>], energy: f64) -> Option<Modes> {
        let n = outlines.first()?.len();
        if outlines.len() < 2 || outlines.iter().any(|o| o.len() != n || o.iter().flatten().any(|v| !v.is_finite())) {
            return None;
        }
        let step = outlines.len().div_ceil(MAX_FIT_ROWS);
        let rows: Vec<Vec<f64>> = outlines.iter().step_by(step).map(|o| flat(o)).collect();
        let (r, d) = (rows.len(), 2 * n);
        let mean: Vec<f64> = (0..d).map(|j| rows.iter().map(|row| row[j]).sum::<f64>() / r as f64).collect();
        let x = Array2::from_shape_fn((r, d), |(i, j)| rows[i][j] - mean[j]);
        // Eigenvectors of the Gram matrix X Xᵀ (r × r) give the principal directions Xᵀu/√λ.
        let gram = x.dot(&x.t());
        let (values, vectors) = gram.eigh().ok()?;
        let mut order: Vec<usize> = (0..r).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let total: f64 = values.iter().filter(|v| **v > 0.0).sum();
        if total <= 0.0 {
            return None;
        }
        let mut basis = Vec::new();
        let mut held = 0.0;
        for &k in &order {
            let lambda = values[k];
            if lambda <= total * 1e-12 || held >= energy * total {
                break;
            }
            let u = vectors.column(k);
            let v = x.t().dot(&u) / lambda.sqrt();
            basis.push(v.to_vec());
            held += lambda;
        }
        Some(Modes { mean, basis, explained: held / total })
    }

    pub fn len(&self) -> usize {
        self.basis.len()
    }

    pub fn is_empty(&self) -> bool {
        self.basis.is_empty()
    }

    /// The outline's orthogonal projection on the mean plus the span of the modes.
    pub fn project(&self, pts: &[Point]) -> Vec<Point> {
        let v = flat(pts);
        if v.len() != self.mean.len() {
            return pts.to_vec();
        }
        let centred: Vec<f64> = v.iter().zip(&self.mean).map(|(a, m)| a - m).collect();
        let mut out = self.mean.clone();
        for b in &self.basis {
            let c: f64 = b.iter().zip(&centred).map(|(p, q)| p * q).sum();
            out.iter_mut().zip(b).for_each(|(o, p)| *o += c * p);
        }
        let n = pts.len();
        (0..n).map(|i| [out[i], out[n + i]]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outlines that are exact combinations of a mean and two known shapes (a circle scaled in x
    /// and in y), so the reference is known: two modes hold all the variance, and any member
    /// projects onto itself while added noise is removed.
    fn family() -> Vec<Vec<Point>> {
        let n = 40;
        (0..30)
            .map(|k| {
                let (a, b) = (1.0 + 0.3 * ((k as f64) * 0.7).sin(), 0.5 + 0.2 * ((k as f64) * 1.3).cos());
                (0..n)
                    .map(|i| {
                        let t = i as f64 / n as f64 * std::f64::consts::TAU;
                        [a * t.cos(), b * t.sin()]
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn two_known_modes_are_found_and_members_project_onto_themselves() {
        let f = family();
        let m = Modes::fit(&f, 0.999_999).unwrap();
        assert_eq!(m.len(), 2, "explained {}", m.explained);
        assert!((m.explained - 1.0).abs() < 1e-9);
        for o in &f {
            let p = m.project(o);
            let err = o.iter().zip(&p).map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1])).fold(0.0, f64::max);
            assert!(err < 1e-9, "{err}");
        }
    }

    #[test]
    fn projection_removes_noise_outside_the_family() {
        let f = family();
        let m = Modes::fit(&f, 0.999).unwrap();
        // deterministic zig-zag noise of 0.01 on every point
        let noisy: Vec<Point> = f[3]
            .iter()
            .enumerate()
            .map(|(i, p)| [p[0] + 0.01 * (-1f64).powi(i as i32), p[1] - 0.01 * (-1f64).powi(i as i32)])
            .collect();
        let rms = |a: &[Point], b: &[Point]| {
            (a.iter().zip(b).map(|(p, q)| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sum::<f64>() / a.len() as f64)
                .sqrt()
        };
        let before = rms(&noisy, &f[3]);
        let after = rms(&m.project(&noisy), &f[3]);
        assert!(after < 0.1 * before, "noise {before} -> {after}");
    }

    #[test]
    fn unusable_families_give_no_modes() {
        assert!(Modes::fit(&[], 0.99).is_none());
        assert!(Modes::fit(&family()[..1], 0.99).is_none());
        let mut mixed = family();
        mixed[2].pop();
        assert!(Modes::fit(&mixed, 0.99).is_none());
        let mut nan = family();
        nan[1][0][0] = f64::NAN;
        assert!(Modes::fit(&nan, 0.99).is_none());
    }
}
