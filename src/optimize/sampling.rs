//! Space-filling designs: uniform random and Latin-hypercube samples of a design space, drawn in
//! the unit cube and decoded to continuous values, integers on a step grid and category indices.
//!
//! Randomness is injected: pass a seeded `ChaCha8Rng` (or any `Rng`) to repeat a design exactly.

use rand::seq::SliceRandom;
use rand::Rng;

/// A design-space dimension that the unit interval maps onto.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dimension {
    /// A real value in `[lo, hi]`.
    Continuous { lo: f64, hi: f64 },
    /// An integer `lo + k * step` not above `hi`.
    Integer { lo: i64, hi: i64, step: i64 },
    /// A category index in `0..levels`.
    Categorical { levels: usize },
}

/// Why a design space was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    #[error("dimension {index}: {reason}")]
    InvalidDimension { index: usize, reason: String },
}

impl Dimension {
    fn check(&self) -> Result<(), String> {
        match *self {
            Dimension::Continuous { lo, hi } if !(lo.is_finite() && hi.is_finite()) => {
                Err(format!("bounds must be finite, found [{lo}, {hi}]"))
            }
            Dimension::Continuous { lo, hi } if lo > hi => Err(format!("lower bound {lo} is above upper bound {hi}")),
            Dimension::Integer { step, .. } if step <= 0 => Err(format!("step must be positive, found {step}")),
            Dimension::Integer { lo, hi, .. } if lo > hi => Err(format!("lower bound {lo} is above upper bound {hi}")),
            Dimension::Categorical { levels: 0 } => Err("a categorical dimension needs at least one level".to_owned()),
            _ => Ok(()),
        }
    }

    /// How many distinct values a discrete dimension takes; `None` for continuous ones.
    pub fn n_levels(&self) -> Option<usize> {
        match *self {
            Dimension::Continuous { .. } => None,
            Dimension::Integer { lo, hi, step } => {
                let m = (hi as i128 - lo as i128) / step as i128 + 1;
                Some(m.min(usize::MAX as i128) as usize)
            }
            Dimension::Categorical { levels } => Some(levels),
        }
    }

    /// Maps `u` in [0, 1] (clamped) to a value: equal sub-intervals map to each integer level or
    /// category, so a uniform `u` gives every level the same probability.
    pub fn decode(&self, u: f64) -> f64 {
        let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
        match *self {
            Dimension::Continuous { lo, hi } => (lo + u * (hi - lo)).min(hi),
            Dimension::Integer { lo, step, .. } => {
                let m = self.n_levels().unwrap_or(1);
                lo as f64 + level(u, m) as f64 * step as f64
            }
            Dimension::Categorical { levels } => level(u, levels) as f64,
        }
    }
}

fn level(u: f64, m: usize) -> usize {
    ((u * m as f64) as usize).min(m - 1)
}

/// A checked list of dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignSpace {
    dims: Vec<Dimension>,
}

impl DesignSpace {
    /// Checks every dimension: finite ordered bounds, positive steps, at least one level.
    pub fn new(dims: Vec<Dimension>) -> Result<Self, SamplingError> {
        for (index, d) in dims.iter().enumerate() {
            d.check().map_err(|reason| SamplingError::InvalidDimension { index, reason })?;
        }
        Ok(DesignSpace { dims })
    }

    pub fn dims(&self) -> &[Dimension] {
        &self.dims
    }

    /// The number of dimensions.
    pub fn len(&self) -> usize {
        self.dims.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dims.is_empty()
    }

    /// Maps a point of the unit cube to design values, one per dimension.
    pub fn decode(&self, unit: &[f64]) -> Vec<f64> {
        assert_eq!(unit.len(), self.dims.len(), "unit point has the wrong number of coordinates");
        self.dims.iter().zip(unit).map(|(d, &u)| d.decode(u)).collect()
    }

    /// `n` independent uniform designs.
    pub fn random<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<Vec<f64>> {
        uniform_unit(n, self.len(), rng).iter().map(|u| self.decode(u)).collect()
    }

    /// `n` designs from a Latin hypercube in the unit cube (see [`latin_hypercube_unit`]).
    pub fn latin_hypercube<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<Vec<f64>> {
        latin_hypercube_unit(n, self.len(), rng).iter().map(|u| self.decode(u)).collect()
    }
}

/// `n` points uniform in the `d`-dimensional unit cube.
pub fn uniform_unit<R: Rng + ?Sized>(n: usize, d: usize, rng: &mut R) -> Vec<Vec<f64>> {
    (0..n).map(|_| (0..d).map(|_| rng.random::<f64>()).collect()).collect()
}

/// `n` points in the `d`-dimensional unit cube with exactly one point in each of the `n` equal
/// strata of every dimension (McKay, Beckman & Conover 1979): per dimension, a random permutation
/// of the strata and a uniform position inside each.
pub fn latin_hypercube_unit<R: Rng + ?Sized>(n: usize, d: usize, rng: &mut R) -> Vec<Vec<f64>> {
    let mut points = vec![vec![0.0; d]; n];
    let mut strata: Vec<usize> = (0..n).collect();
    for j in 0..d {
        strata.shuffle(rng);
        for (point, &s) in points.iter_mut().zip(&strata) {
            // Keep the point strictly inside its stratum even if the jitter rounds up.
            let u = (s as f64 + rng.random::<f64>()) / n as f64;
            point[j] = u.min(next_below((s + 1) as f64 / n as f64));
        }
    }
    points
}

fn next_below(x: f64) -> f64 {
    f64::from_bits(x.to_bits() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn space() -> DesignSpace {
        DesignSpace::new(vec![
            Dimension::Continuous { lo: -2.0, hi: 3.0 },
            Dimension::Integer { lo: 4, hi: 20, step: 3 },
            Dimension::Categorical { levels: 3 },
            Dimension::Continuous { lo: 1.5, hi: 1.5 },
        ])
        .unwrap()
    }

    #[test]
    fn lhs_has_one_point_per_stratum_per_dimension() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in [1, 2, 7, 100] {
            let points = latin_hypercube_unit(n, 5, &mut rng);
            assert_eq!(points.len(), n);
            for j in 0..5 {
                let mut seen = vec![0; n];
                for p in &points {
                    assert!((0.0..1.0).contains(&p[j]));
                    seen[(p[j] * n as f64) as usize] += 1;
                }
                assert!(seen.iter().all(|&c| c == 1), "n {n}, dim {j}: {seen:?}");
            }
        }
        assert!(latin_hypercube_unit(0, 3, &mut rng).is_empty());
    }

    #[test]
    fn decoded_designs_respect_bounds_steps_and_levels() {
        let space = space();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut designs = space.latin_hypercube(60, &mut rng);
        designs.extend(space.random(200, &mut rng));
        for x in &designs {
            assert!((-2.0..=3.0).contains(&x[0]));
            assert!((4.0..=20.0).contains(&x[1]) && (x[1] - 4.0) % 3.0 == 0.0, "integer {}", x[1]);
            assert!([0.0, 1.0, 2.0].contains(&x[2]));
            assert_eq!(x[3], 1.5);
        }
        // Levels 4, 7, ..., 19: LHS over 60 points gives each of the 6 levels 10 ± 1 points.
        let lhs = &designs[..60];
        for level in [4.0, 7.0, 10.0, 13.0, 16.0, 19.0] {
            let count = lhs.iter().filter(|x| x[1] == level).count();
            assert!((9..=11).contains(&count), "level {level}: {count}");
        }
    }

    #[test]
    fn decode_edges() {
        let int = Dimension::Integer { lo: 4, hi: 20, step: 3 };
        assert_eq!(int.n_levels(), Some(6));
        assert_eq!(int.decode(0.0), 4.0);
        assert_eq!(int.decode(1.0), 19.0);
        assert_eq!(int.decode(0.5), 13.0);
        assert_eq!(int.decode(7.0), 19.0);
        assert_eq!(int.decode(-1.0), 4.0);
        assert_eq!(int.decode(f64::NAN), 4.0);
        let cat = Dimension::Categorical { levels: 4 };
        assert_eq!([0.0, 0.24, 0.25, 0.99, 1.0].map(|u| cat.decode(u)), [0.0, 0.0, 1.0, 3.0, 3.0]);
        let cont = Dimension::Continuous { lo: -1.0, hi: 1.0 };
        assert_eq!([0.0, 0.25, 1.0].map(|u| cont.decode(u)), [-1.0, -0.5, 1.0]);
        assert_eq!(cont.n_levels(), None);
        assert_eq!(space().decode(&[0.5, 0.0, 0.7, 0.3]), vec![0.5, 4.0, 2.0, 1.5]);
    }

    #[test]
    fn seeds_repeat_and_differ() {
        let space = space();
        let a = space.latin_hypercube(20, &mut ChaCha8Rng::seed_from_u64(5));
        let b = space.latin_hypercube(20, &mut ChaCha8Rng::seed_from_u64(5));
        let c = space.latin_hypercube(20, &mut ChaCha8Rng::seed_from_u64(6));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let r1 = space.random(20, &mut ChaCha8Rng::seed_from_u64(5));
        let r2 = space.random(20, &mut ChaCha8Rng::seed_from_u64(5));
        assert_eq!(r1, r2);
    }

    #[test]
    fn invalid_dimensions_are_rejected() {
        let bad = [
            (Dimension::Continuous { lo: 1.0, hi: 0.0 }, "dimension 0: lower bound 1 is above upper bound 0"),
            (
                Dimension::Continuous { lo: 0.0, hi: f64::INFINITY },
                "dimension 0: bounds must be finite, found [0, inf]",
            ),
            (Dimension::Integer { lo: 0, hi: 10, step: 0 }, "dimension 0: step must be positive, found 0"),
            (Dimension::Integer { lo: 5, hi: 1, step: 1 }, "dimension 0: lower bound 5 is above upper bound 1"),
            (Dimension::Categorical { levels: 0 }, "dimension 0: a categorical dimension needs at least one level"),
        ];
        for (dim, msg) in bad {
            assert_eq!(DesignSpace::new(vec![dim]).unwrap_err().to_string(), msg);
        }
        let err = DesignSpace::new(vec![Dimension::Categorical { levels: 2 }, Dimension::Categorical { levels: 0 }]);
        assert!(matches!(err, Err(SamplingError::InvalidDimension { index: 1, .. })));
    }

    #[test]
    fn dimensions_serialize_with_a_kind_tag() {
        let json = serde_json::to_string(&Dimension::Integer { lo: 1, hi: 9, step: 2 }).unwrap();
        assert_eq!(json, r#"{"kind":"integer","lo":1,"hi":9,"step":2}"#);
        let back: Dimension = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Dimension::Integer { lo: 1, hi: 9, step: 2 });
    }
}
