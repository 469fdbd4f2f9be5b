//! Puts a valid outline into a common frame (chord or bounding box) and resamples it to a fixed
//! number of points, keeping the transform that maps the frame back to the user's coordinates.

use super::dist;
use super::measure::{self, signed_area};
use super::validate;
use super::{Point, Profile, ShapeIssue};
use std::f64::consts::PI;

/// Fewest and most points `apply` resamples to.
pub const MIN_POINTS: usize = 16;
pub const MAX_POINTS: usize = 1001;

/// Which common frame outlines are put in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Airfoil-like: leading edge at (0, 0), trailing edge at (1, 0).
    Chord,
    /// Closed outlines: area centroid at (0, 0), the larger bounding-box side 1.
    Bbox,
}

impl Frame {
    /// From "chord" or "bbox".
    pub fn parse(s: &str) -> Result<Frame, String> {
        match s.trim().to_lowercase().as_str() {
            "chord" => Ok(Frame::Chord),
            "bbox" => Ok(Frame::Bbox),
            other => Err(format!("unknown frame '{other}': expected chord or bbox")),
        }
    }
}

/// How resampled points are spaced along the outline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spacing {
    /// Uniform in arc length.
    Arc,
    /// s = S(1 - cos πt)/2 along each surface: clustered at the leading and trailing edges.
    Cosine,
}

impl Spacing {
    /// From "arc" or "cosine".
    pub fn parse(s: &str) -> Result<Spacing, String> {
        match s.trim().to_lowercase().as_str() {
            "arc" => Ok(Spacing::Arc),
            "cosine" => Ok(Spacing::Cosine),
            other => Err(format!("unknown spacing '{other}': expected arc or cosine")),
        }
    }
}

/// How outlines are normalised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub frame: Frame,
    pub spacing: Spacing,
    /// Points of every normalised outline.
    pub points: usize,
}

impl Settings {
    /// Whether the settings make sense together.
    pub fn check(&self) -> Result<(), String> {
        if !(MIN_POINTS..=MAX_POINTS).contains(&self.points) {
            return Err(format!("points must be between {MIN_POINTS} and {MAX_POINTS}, not {}", self.points));
        }
        if self.frame == Frame::Chord && self.points.is_multiple_of(2) {
            return Err(format!(
                "the chord frame needs an odd number of points (two surfaces sharing the leading edge), not {}",
                self.points
            ));
        }
        if self.frame == Frame::Bbox && self.spacing == Spacing::Cosine {
            return Err("cosine spacing clusters points at a leading and a trailing edge, which the bbox frame \
                        does not have; use arc spacing"
                .into());
        }
        Ok(())
    }
}

/// Maps frame coordinates back to the user's: user = origin + R(rotation)·(scale·p).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    pub scale: f64,
    /// Counter-clockwise, in radians.
    pub rotation: f64,
    pub origin: Point,
}

impl Transform {
    /// Frame points in user coordinates.
    pub fn to_user(&self, pts: &[Point]) -> Vec<Point> {
        let (sin, cos) = self.rotation.sin_cos();
        pts.iter()
            .map(|&[x, y]| {
                let (x, y) = (self.scale * x, self.scale * y);
                [self.origin[0] + cos * x - sin * y, self.origin[1] + sin * x + cos * y]
            })
            .collect()
    }

    /// User points in frame coordinates (the inverse of `to_user`).
    pub fn to_frame(&self, pts: &[Point]) -> Vec<Point> {
        let (sin, cos) = self.rotation.sin_cos();
        pts.iter()
            .map(|&[x, y]| {
                let (dx, dy) = (x - self.origin[0], y - self.origin[1]);
                [(cos * dx + sin * dy) / self.scale, (-sin * dx + cos * dy) / self.scale]
            })
            .collect()
    }
}

/// The outline in the settings' frame, resampled to `s.points` points, and the transform back.
///
/// Chord: the trailing edge is the midpoint of the first and last point (the first point when the
/// outline is closed), the leading edge the point farthest from it (the farthest point of a
/// polyline from a point is always a vertex). With N = 2m + 1 points, indices 0..=m are the upper
/// surface from the trailing edge to the leading edge, index m is exactly (0, 0), and indices m..=2m
/// the lower surface back to the trailing edge: Selig order, counter-clockwise.
///
/// Bbox: origin at the area centroid, scaled by the larger bounding-box side, not rotated;
/// counter-clockwise from the vertex with the largest x (ties: the smallest |y|, then the smallest
/// y), N points uniformly spaced in arc length, the first not repeated at the end.
pub fn apply(p: &Profile, s: &Settings) -> Result<(Vec<Point>, Transform), ShapeIssue> {
    s.check().map_err(|e| ShapeIssue::new(&p.id, e))?;
    if p.points.len() < 3 || p.points.iter().any(|q| !(q[0].is_finite() && q[1].is_finite())) {
        return Err(ShapeIssue::new(&p.id, "the outline needs at least 3 finite points; check it first"));
    }
    match s.frame {
        Frame::Chord => chord(p, s),
        Frame::Bbox => bbox(p, s),
    }
}

fn chord(p: &Profile, s: &Settings) -> Result<(Vec<Point>, Transform), ShapeIssue> {
    let pts = &p.points;
    let n = pts.len();
    let (first, last) = (pts[0], pts[n - 1]);
    let te = if validate::is_closed(pts) { first } else { [(first[0] + last[0]) / 2.0, (first[1] + last[1]) / 2.0] };
    let le_index = (0..n).fold(0, |best, i| if dist(pts[i], te) > dist(pts[best], te) { i } else { best });
    let le = pts[le_index];
    let length = dist(le, te);
    if length == 0.0 || length <= 1e-12 * validate::diagonal(pts) {
        return Err(ShapeIssue::new(&p.id, "zero chord: the leading edge is at the trailing edge"));
    }
    if le_index == 0 || le_index == n - 1 {
        return Err(ShapeIssue::new(
            &p.id,
            "the point farthest from the trailing edge is an end of the outline; is it in Selig order (trailing \
             edge, upper surface, leading edge, lower surface, trailing edge)?",
        )
        .at_point(le_index));
    }
    let transform = Transform { scale: length, rotation: (te[1] - le[1]).atan2(te[0] - le[0]), origin: le };
    let mut frame = transform.to_frame(pts);
    frame[le_index] = [0.0, 0.0];
    let mut le_index = le_index;
    let area = signed_area(&frame);
    if area == 0.0 {
        return Err(ShapeIssue::new(&p.id, "zero area: the upper and lower surfaces coincide"));
    }
    if area < 0.0 {
        // Clockwise: the first half is the lower surface.
        frame.reverse();
        le_index = n - 1 - le_index;
    }
    let m = s.points / 2;
    // A cubic spline through the whole contour (trailing edge, over the leading edge, back),
    // parameterised by chord length, as XFOIL does: resampling along straight segments would cut
    // the nose into a polygon corner (the leading-edge radius of a 65-point resample then comes
    // out a third of the true one); the spline keeps the nose round, and passes through every
    // given point.
    let spline = Spline::through(&frame);
    let s_le = spline.knots[le_index];
    let total = spline.knots[n - 1];
    let along = |from: f64, to: f64| -> Vec<Point> {
        (0..=m)
            .map(|k| {
                let t = k as f64 / m as f64;
                let f = match s.spacing {
                    Spacing::Arc => t,
                    Spacing::Cosine => (1.0 - (PI * t).cos()) / 2.0,
                };
                spline.at(from + (to - from) * f)
            })
            .collect()
    };
    // upper: leading edge -> trailing edge (parameter s_le down to 0), then reversed
    let mut upper = along(s_le, 0.0);
    let mut lower = along(s_le, total);
    upper[0] = [0.0, 0.0];
    lower[0] = [0.0, 0.0];
    upper[m] = frame[0];
    lower[m] = frame[n - 1];
    let mut out: Vec<Point> = upper.into_iter().rev().collect();
    out.extend_from_slice(&lower[1..]);
    Ok((out, transform))
}

/// A natural cubic spline `(x(s), y(s))` through points, `s` the cumulative chord length.
struct Spline {
    knots: Vec<f64>,
    points: Vec<Point>,
    /// Second derivatives of x and y at the knots.
    d2: Vec<[f64; 2]>,
}

impl Spline {
    fn through(points: &[Point]) -> Spline {
        let n = points.len();
        let mut knots = vec![0.0; n];
        for i in 1..n {
            knots[i] = knots[i - 1] + dist(points[i - 1], points[i]);
        }
        let mut d2 = vec![[0.0; 2]; n];
        if n >= 3 {
            // Tridiagonal system for the interior second derivatives (natural ends: zero), solved
            // by the Thomas algorithm (diagonally dominant, so no pivoting is needed).
            let h: Vec<f64> = knots.windows(2).map(|w| w[1] - w[0]).collect();
            for axis in 0..2 {
                let mut diag = vec![0.0; n];
                let mut rhs = vec![0.0; n];
                let mut upper = vec![0.0; n];
                for i in 1..n - 1 {
                    diag[i] = 2.0 * (h[i - 1] + h[i]);
                    upper[i] = h[i];
                    rhs[i] = 6.0
                        * ((points[i + 1][axis] - points[i][axis]) / h[i]
                            - (points[i][axis] - points[i - 1][axis]) / h[i - 1]);
                }
                // forward sweep over rows 1..n-1 (row i has h[i-1] below the diagonal)
                for i in 2..n - 1 {
                    let w = h[i - 1] / diag[i - 1];
                    diag[i] -= w * upper[i - 1];
                    rhs[i] -= w * rhs[i - 1];
                }
                let mut m = vec![0.0; n];
                for i in (1..n - 1).rev() {
                    m[i] = (rhs[i] - upper[i] * m[i + 1]) / diag[i];
                }
                for i in 0..n {
                    d2[i][axis] = m[i];
                }
            }
        }
        Spline { knots, points: points.to_vec(), d2 }
    }

    fn at(&self, s: f64) -> Point {
        let n = self.knots.len();
        let s = s.clamp(0.0, self.knots[n - 1]);
        let i = match self.knots.binary_search_by(|k| k.total_cmp(&s)) {
            Ok(i) => return self.points[i],
            Err(i) => i.clamp(1, n - 1) - 1,
        };
        let h = self.knots[i + 1] - self.knots[i];
        let a = (self.knots[i + 1] - s) / h;
        let b = (s - self.knots[i]) / h;
        let mut out = [0.0; 2];
        for (axis, o) in out.iter_mut().enumerate() {
            *o = a * self.points[i][axis]
                + b * self.points[i + 1][axis]
                + ((a * a * a - a) * self.d2[i][axis] + (b * b * b - b) * self.d2[i + 1][axis]) * h * h / 6.0;
        }
        out
    }
}

fn bbox(p: &Profile, s: &Settings) -> Result<(Vec<Point>, Transform), ShapeIssue> {
    let mut pts = p.points.clone();
    if validate::is_closed(&pts) {
        pts.pop();
    }
    let area = signed_area(&pts);
    let (lo, hi) = validate::bounds(&pts);
    let side = (hi[0] - lo[0]).max(hi[1] - lo[1]);
    if area == 0.0 || area.abs() <= 1e-12 * side * side {
        return Err(ShapeIssue::new(&p.id, "zero area: the outline encloses nothing"));
    }
    let centroid = measure::centroid(&pts);
    let transform = Transform { scale: side, rotation: 0.0, origin: centroid };
    let mut frame = transform.to_frame(&pts);
    if area < 0.0 {
        frame.reverse();
    }
    const TIE: f64 = 1e-9;
    let x_max = frame.iter().map(|q| q[0]).fold(f64::NEG_INFINITY, f64::max);
    let start = (0..frame.len())
        .filter(|&i| frame[i][0] >= x_max - TIE)
        .min_by(|&i, &j| {
            let (a, b) = (frame[i][1], frame[j][1]);
            if (a.abs() - b.abs()).abs() > TIE {
                a.abs().total_cmp(&b.abs())
            } else {
                a.total_cmp(&b)
            }
        })
        .expect("at least one point has the largest x");
    frame.rotate_left(start);
    frame.push(frame[0]);
    let out = resample(&frame, s.points + 1, |t| t);
    Ok((out[..s.points].to_vec(), transform))
}

/// `count` points along a polyline at arc-length fractions `fraction(k / (count - 1))`, the first
/// and last exactly its ends; linear interpolation between vertices.
fn resample(line: &[Point], count: usize, fraction: impl Fn(f64) -> f64) -> Vec<Point> {
    let mut cumulative = Vec::with_capacity(line.len());
    let mut total = 0.0;
    cumulative.push(0.0);
    for w in line.windows(2) {
        total += dist(w[0], w[1]);
        cumulative.push(total);
    }
    let mut out = Vec::with_capacity(count);
    let mut seg = 0;
    for k in 0..count {
        if k == 0 {
            out.push(line[0]);
            continue;
        }
        if k == count - 1 {
            out.push(line[line.len() - 1]);
            continue;
        }
        let target = total * fraction(k as f64 / (count - 1) as f64);
        while seg + 2 < line.len() && cumulative[seg + 1] < target {
            seg += 1;
        }
        let (a, b) = (line[seg], line[seg + 1]);
        let len = cumulative[seg + 1] - cumulative[seg];
        let t = if len > 0.0 { ((target - cumulative[seg]) / len).clamp(0.0, 1.0) } else { 0.0 };
        out.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::naca;

    fn settings(frame: Frame, spacing: Spacing, points: usize) -> Settings {
        Settings { frame, spacing, points }
    }

    fn profile(points: Vec<Point>) -> Profile {
        Profile { id: "s".into(), points }
    }

    fn max_gap(a: &[Point], b: &[Point]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(p, q)| dist(*p, *q)).fold(0.0, f64::max)
    }

    /// Moves, turns and scales points as a user's drawing might have them.
    fn placed(pts: &[Point]) -> Vec<Point> {
        Transform { scale: 37.5, rotation: 0.7, origin: [120.0, -45.0] }.to_user(pts)
    }

    #[test]
    fn settings_transforms_and_issues_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Settings>();
        send_sync::<Transform>();
        send_sync::<ShapeIssue>();
    }

    #[test]
    fn settings_check_refuses_bad_combinations() {
        assert!(settings(Frame::Chord, Spacing::Cosine, 201).check().is_ok());
        assert!(settings(Frame::Bbox, Spacing::Arc, 200).check().is_ok());
        assert!(settings(Frame::Chord, Spacing::Arc, 200).check().unwrap_err().contains("odd"));
        assert!(settings(Frame::Bbox, Spacing::Cosine, 201).check().unwrap_err().contains("arc"));
        assert!(settings(Frame::Bbox, Spacing::Arc, 15).check().is_err());
        assert!(settings(Frame::Chord, Spacing::Arc, 1003).check().is_err());
        assert_eq!(Frame::parse(" BBox").unwrap(), Frame::Bbox);
        assert_eq!(Spacing::parse("cosine").unwrap(), Spacing::Cosine);
        assert!(Spacing::parse("uniform").is_err());
    }

    #[test]
    fn transform_to_frame_inverts_to_user() {
        let t = Transform { scale: 2.5, rotation: -1.1, origin: [3.0, 4.0] };
        let pts = vec![[0.3, -0.2], [1.0, 0.0], [-5.0, 7.0]];
        assert!(max_gap(&t.to_frame(&t.to_user(&pts)), &pts) < 1e-12);
        // Rotating (1, 0) by 90° and scaling by 2 puts it at origin + (0, 2).
        let q = Transform { scale: 2.0, rotation: PI / 2.0, origin: [1.0, 1.0] }.to_user(&[[1.0, 0.0]]);
        assert!(dist(q[0], [1.0, 3.0]) < 1e-12);
    }

    #[test]
    fn chord_round_trip_reproduces_a_diamond_whose_vertices_are_evenly_spaced() {
        // A double wedge (1,0) (0.5,0.05) (0,0) (0.5,-0.05) (1,0), each of its four edges cut in 8
        // equal pieces: 33 points evenly spaced in arc length along each surface, so arc spacing
        // with 33 points must give back exactly these points.
        let corners = [[1.0, 0.0], [0.5, 0.05], [0.0, 0.0], [0.5, -0.05], [1.0, 0.0]];
        let mut frame_pts = vec![corners[0]];
        for w in corners.windows(2) {
            for k in 1..=8 {
                let t = k as f64 / 8.0;
                frame_pts.push([w[0][0] + t * (w[1][0] - w[0][0]), w[0][1] + t * (w[1][1] - w[0][1])]);
            }
        }
        let user = placed(&frame_pts);
        let (out, transform) = apply(&profile(user.clone()), &settings(Frame::Chord, Spacing::Arc, 33)).unwrap();
        assert!(max_gap(&out, &frame_pts) < 1e-12, "frame points differ by {}", max_gap(&out, &frame_pts));
        assert!(max_gap(&transform.to_user(&out), &user) < 1e-9);
        assert_eq!(out[16], [0.0, 0.0]);
        assert!((transform.scale - 37.5).abs() < 1e-12 && (transform.rotation - 0.7).abs() < 1e-12);
    }

    #[test]
    fn chord_frame_maps_leading_and_trailing_edges_back_to_the_users() {
        // NACA 0015 with its blunt published trailing edge: the leading edge, the point farthest
        // from the trailing edge's midpoint, is the nose (0, 0), point 60 of four_digit.
        let user = placed(&naca::four_digit(0.0, 0.0, 0.15, 61, false));
        let (out, transform) = apply(&profile(user.clone()), &settings(Frame::Chord, Spacing::Cosine, 101)).unwrap();
        assert_eq!(out.len(), 101);
        assert_eq!(out[50], [0.0, 0.0]);
        let back = transform.to_user(&[out[50], [1.0, 0.0], out[0], out[100]]);
        assert!(dist(back[0], user[60]) < 1e-9);
        let te = [(user[0][0] + user[120][0]) / 2.0, (user[0][1] + user[120][1]) / 2.0];
        assert!(dist(back[1], te) < 1e-9);
        assert!(dist(back[2], user[0]) < 1e-9 && dist(back[3], user[120]) < 1e-9);
        assert!((transform.scale - 37.5).abs() < 1e-9, "chord {}", transform.scale);
    }

    #[test]
    fn cambered_section_leading_edge_is_the_vertex_farthest_from_the_trailing_edge() {
        // NACA 4415's upper surface bulges ahead of its nose (x_u = x - y_t sin θ < 0 near x = 0),
        // so the farthest vertex is not the nose; it must still be a vertex, with none farther.
        let user = placed(&naca::four_digit(0.04, 0.4, 0.15, 61, false));
        let (out, transform) = apply(&profile(user.clone()), &settings(Frame::Chord, Spacing::Cosine, 101)).unwrap();
        let back = transform.to_user(&[out[50], [1.0, 0.0]]);
        let reach = dist(back[0], back[1]);
        assert!(user.iter().any(|q| dist(*q, back[0]) < 1e-9));
        assert!(user.iter().all(|q| dist(*q, back[1]) <= reach + 1e-9));
        assert!(dist(back[0], user[60]) > 1e-4, "the nose is not the farthest point here");
    }

    #[test]
    fn placed_or_reversed_naca_section_normalises_to_the_same_points_as_the_plain_one() {
        let plain = naca::four_digit(0.02, 0.4, 0.12, 81, true);
        let s = settings(Frame::Chord, Spacing::Cosine, 121);
        let (want, _) = apply(&profile(plain.clone()), &s).unwrap();
        let (moved, _) = apply(&profile(placed(&plain)), &s).unwrap();
        assert!(max_gap(&moved, &want) < 1e-9, "{}", max_gap(&moved, &want));
        let mut reversed = placed(&plain);
        reversed.reverse();
        let (back, _) = apply(&profile(reversed), &s).unwrap();
        assert!(max_gap(&back, &want) < 1e-9, "{}", max_gap(&back, &want));
        // Index 0 is the upper surface's trailing edge: the upper surface is above y = 0.
        assert!(want[30][1] > 0.0 && want[90][1] < 0.0);
        assert!(dist(want[0], [1.0, 0.0]) < 1e-12 && dist(want[120], [1.0, 0.0]) < 1e-12);
    }

    #[test]
    fn cosine_spacing_clusters_points_at_the_leading_edge() {
        let p = profile(naca::four_digit(0.0, 0.0, 0.12, 81, false));
        let (arc, _) = apply(&p, &settings(Frame::Chord, Spacing::Arc, 101)).unwrap();
        let (cos, _) = apply(&p, &settings(Frame::Chord, Spacing::Cosine, 101)).unwrap();
        let step = |pts: &[Point], i: usize| dist(pts[i], pts[i + 1]);
        // Cosine steps at the ends are about π²/(4·50²) ≈ 1e-3 of a surface, arc steps 1/50 of it.
        assert!(step(&cos, 50) < 0.1 * step(&arc, 50), "{} vs {}", step(&cos, 50), step(&arc, 50));
        assert!(step(&cos, 0) < 0.1 * step(&arc, 0));
        assert!(step(&cos, 25) > step(&arc, 25));
    }

    #[test]
    fn square_gasket_in_bbox_frame_is_centred_unit_counter_clockwise_from_the_right() {
        // A 2 x 2 square centred at (3, 4), clockwise, closed, with edge midpoints as vertices.
        let cw = vec![
            [2.0, 5.0],
            [3.0, 5.0],
            [4.0, 5.0],
            [4.0, 4.0],
            [4.0, 3.0],
            [3.0, 3.0],
            [2.0, 3.0],
            [2.0, 4.0],
            [2.0, 5.0],
        ];
        let (out, transform) = apply(&profile(cw), &settings(Frame::Bbox, Spacing::Arc, 16)).unwrap();
        assert_eq!(transform, Transform { scale: 2.0, rotation: 0.0, origin: [3.0, 4.0] });
        // Perimeter 4 in the frame, 16 points: steps of 0.25 counter-clockwise from (0.5, 0).
        let want: Vec<Point> = (0..16)
            .map(|k| {
                let s = 0.25 * k as f64;
                match s {
                    s if s <= 0.5 => [0.5, s],
                    s if s <= 1.5 => [0.5 - (s - 0.5), 0.5],
                    s if s <= 2.5 => [-0.5, 0.5 - (s - 1.5)],
                    s if s <= 3.5 => [-0.5 + (s - 2.5), -0.5],
                    s => [0.5, -0.5 + (s - 3.5)],
                }
            })
            .collect();
        assert!(max_gap(&out, &want) < 1e-12, "{out:?}");
    }

    #[test]
    fn bbox_starts_at_the_largest_x_and_breaks_ties_by_smallest_abs_y() {
        // A square without edge midpoints: the right corners tie on x and |y|; the lower one wins.
        let sq = vec![[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]];
        let (out, _) = apply(&profile(sq), &settings(Frame::Bbox, Spacing::Arc, 16)).unwrap();
        assert!(dist(out[0], [0.5, -0.5]) < 1e-12 && dist(out[1], [0.5, -0.25]) < 1e-12, "{out:?}");
    }

    #[test]
    fn bbox_centroid_is_the_area_centroid_not_the_vertex_mean() {
        // An L of two unit squares [0,2]x[0,1] and [0,1]x[1,2]: centroid (5/6, 5/6); many vertices
        // on one edge would pull a vertex mean away.
        let mut l = vec![[0.0, 0.0]];
        l.extend((1..=20).map(|k| [0.1 * k as f64, 0.0]));
        l.extend([[2.0, 1.0], [1.0, 1.0], [1.0, 2.0], [0.0, 2.0]]);
        let (_, t) = apply(&profile(l), &settings(Frame::Bbox, Spacing::Arc, 32)).unwrap();
        assert!(dist(t.origin, [5.0 / 6.0, 5.0 / 6.0]) < 1e-12, "{:?}", t.origin);
        assert_eq!(t.scale, 2.0);
    }

    #[test]
    fn degenerate_outlines_are_refused_naming_the_shape() {
        let flat: Vec<Point> = (0..10).map(|k| [k as f64, 0.0]).chain((0..10).rev().map(|k| [k as f64, 0.0])).collect();
        let e = apply(&profile(flat.clone()), &settings(Frame::Bbox, Spacing::Arc, 16)).unwrap_err();
        assert!(e.message.contains("zero area") && e.shape == "s", "{e}");
        let e = apply(&profile(flat), &settings(Frame::Chord, Spacing::Arc, 17)).unwrap_err();
        assert!(e.message.contains("zero"), "{e}");
        let e = apply(&profile(vec![[1.0, 1.0]; 9]), &settings(Frame::Chord, Spacing::Arc, 17)).unwrap_err();
        assert!(e.message.contains("zero chord"), "{e}");
        let e = apply(&profile(vec![[1.0, 1.0]; 9]), &settings(Frame::Chord, Spacing::Arc, 16)).unwrap_err();
        assert!(e.message.contains("odd"), "{e}");
    }
}
