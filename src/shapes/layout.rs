//! How a family of resampled shapes sits in a table: one row per shape, its id, its attributes,
//! the transform back to the user's units, then `x000..x{N-1}` and `y000..y{N-1}` in the
//! normalised frame. A dataset or a model whose columns hold that pattern is a shape family, so
//! everything that works on tables (versions, export, training, sampling, studies) works on it.

use super::normalise::Transform;
use super::Point;

/// The id column.
pub const ID: &str = "shape_id";
/// The transform back to the user's units (not modelled: role `ignore`).
pub const TRANSFORM: [&str; 4] = ["scale", "rotation", "origin_x", "origin_y"];

pub fn x_name(i: usize) -> String {
    format!("x{i:03}")
}

pub fn y_name(i: usize) -> String {
    format!("y{i:03}")
}

/// Whether an attribute column would collide with the columns genfab writes.
pub fn reserved(name: &str) -> bool {
    name == ID || TRANSFORM.contains(&name) || coordinate(name).is_some()
}

/// `x017` -> ('x', 17).
fn coordinate(name: &str) -> Option<(char, usize)> {
    let mut chars = name.chars();
    let axis = chars.next().filter(|c| *c == 'x' || *c == 'y')?;
    let digits = chars.as_str();
    (digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| (axis, digits.parse().unwrap_or(0)))
}

/// Where the coordinates of each point are among a row's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub x: Vec<usize>,
    pub y: Vec<usize>,
}

impl Layout {
    /// The layout of a list of column names, when it holds `x000..` and `y000..` for the same
    /// number of points (at least 8) and nothing else named like them.
    pub fn find<S: AsRef<str>>(names: &[S]) -> Option<Layout> {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for (k, n) in names.iter().enumerate() {
            match coordinate(n.as_ref()) {
                Some(('x', i)) => x.push((i, k)),
                Some((_, i)) => y.push((i, k)),
                None => {}
            }
        }
        x.sort_unstable();
        y.sort_unstable();
        let complete = |v: &[(usize, usize)]| v.iter().enumerate().all(|(i, (j, _))| i == *j);
        (x.len() == y.len() && x.len() >= super::validate::MIN_POINTS && complete(&x) && complete(&y))
            .then(|| Layout { x: x.into_iter().map(|(_, k)| k).collect(), y: y.into_iter().map(|(_, k)| k).collect() })
    }

    pub fn points(&self) -> usize {
        self.x.len()
    }

    /// The outline in one row's values.
    pub fn outline(&self, row: &[f64]) -> Vec<Point> {
        self.x.iter().zip(&self.y).map(|(&i, &j)| [row[i], row[j]]).collect()
    }
}

/// A shape's transform from its row, when the row has one (the identity otherwise).
pub fn transform_of(names: &[String], row: &[f64]) -> Transform {
    let get = |n: &str, default: f64| {
        names.iter().position(|c| c == n).map(|k| row[k]).filter(|v| v.is_finite()).unwrap_or(default)
    };
    Transform {
        scale: get(TRANSFORM[0], 1.0),
        rotation: get(TRANSFORM[1], 0.0),
        origin: [get(TRANSFORM[2], 0.0), get(TRANSFORM[3], 0.0)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_needs_both_axes_complete() {
        let mut names: Vec<String> = vec!["shape_id".into(), "thickness".into()];
        names.extend((0..9).map(x_name));
        names.extend((0..9).map(y_name));
        let l = Layout::find(&names).unwrap();
        assert_eq!(l.points(), 9);
        assert_eq!(l.x[0], 2);
        assert_eq!(l.y[8], 2 + 9 + 8);
        let row: Vec<f64> = (0..names.len()).map(|v| v as f64).collect();
        assert_eq!(l.outline(&row)[1], [3.0, 12.0]);
        // a gap in the numbering, or one axis short, is no layout
        let gap: Vec<String> = names.iter().filter(|n| *n != "y004").cloned().collect();
        assert!(Layout::find(&gap).is_none());
        assert!(Layout::find(&["x000", "y000"]).is_none());
        assert!(reserved("x012") && reserved("origin_x") && !reserved("x12") && !reserved("xylem"));
    }
}
