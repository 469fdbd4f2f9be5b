//! Part shapes as data: 2-D profiles (airfoils, blades, cams, gaskets, extrusion outlines) read
//! from long CSV, Selig/Lednicer `.dat` files or SVG paths, checked, put into a common frame and
//! resampled to a fixed number of points so a VAE can learn them; measured, rendered as SVG and
//! scored with a 2-D panel method.
//!
//! Pure synchronous numerics like `ml` and `optimize`: no IO, no async, no SQL.

pub mod family;
pub mod layout;
pub mod measure;
pub mod modes;
pub mod naca;
pub mod normalise;
pub mod panel;
pub mod parse;
pub mod svg;
pub mod validate;

/// A point of an outline, `[x, y]`.
pub type Point = [f64; 2];

/// Distance between two points.
pub fn dist(a: Point, b: Point) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// One outline as given: its id and its points in order along it.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub id: String,
    pub points: Vec<Point>,
}

/// What is wrong with one shape, and where: the shape's id, the point (0-based, in the order
/// given) or the input line (1-based) when one is to blame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeIssue {
    pub shape: String,
    pub point: Option<usize>,
    pub line: Option<usize>,
    pub message: String,
}

impl ShapeIssue {
    pub fn new(shape: impl Into<String>, message: impl Into<String>) -> ShapeIssue {
        ShapeIssue { shape: shape.into(), point: None, line: None, message: message.into() }
    }

    pub fn at_point(mut self, point: usize) -> ShapeIssue {
        self.point = Some(point);
        self
    }

    pub fn at_line(mut self, line: usize) -> ShapeIssue {
        self.line = Some(line);
        self
    }
}

impl std::fmt::Display for ShapeIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shape '{}'", self.shape)?;
        if let Some(l) = self.line {
            write!(f, ", line {l}")?;
        }
        if let Some(p) = self.point {
            write!(f, ", point {p}")?;
        }
        write!(f, ": {}", self.message)
    }
}
