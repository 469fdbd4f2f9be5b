//! Checks that an outline can be normalised and learned: enough points, finite, no repeated
//! points, closed when it says so, and no self-intersection.

use super::{dist, Point, Profile, ShapeIssue};

/// Fewest points an outline may have.
pub const MIN_POINTS: usize = 8;

/// Most issues reported for one shape; the rest would repeat the same fault.
pub const MAX_ISSUES: usize = 50;

/// Consecutive points closer than this times the bounding-box diagonal are the same point.
const DUPLICATE_TOL: f64 = 1e-9;

/// A last point within this times the diagonal of the first closes the outline.
const CLOSURE_TOL: f64 = 1e-6;

/// Non-adjacent segments closer than this times the diagonal touch.
const TOUCH_TOL: f64 = 1e-9;

/// Whether an outline is declared closed (gaskets, cams) or open (an airfoil with a blunt trailing
/// edge, whose closing segment is the trailing-edge base).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closure {
    Closed,
    Open,
}

/// Every issue of the profile (empty when it is valid), each naming a point where one is to blame.
pub fn check(p: &Profile, closure: Closure) -> Vec<ShapeIssue> {
    check_points(&p.points, &p.id, closure)
}

/// `check` on bare points, for generated shapes.
pub fn check_points(points: &[Point], id: &str, closure: Closure) -> Vec<ShapeIssue> {
    let n = points.len();
    if n < MIN_POINTS {
        return vec![ShapeIssue::new(id, format!("{n} points; an outline needs at least {MIN_POINTS}"))];
    }
    let mut issues: Vec<ShapeIssue> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| !(p[0].is_finite() && p[1].is_finite()))
        .take(MAX_ISSUES)
        .map(|(i, p)| {
            ShapeIssue::new(id, format!("coordinate ({}, {}) is not a finite number", p[0], p[1])).at_point(i)
        })
        .collect();
    if !issues.is_empty() {
        return issues;
    }
    let diag = diagonal(points);
    if diag == 0.0 {
        return vec![ShapeIssue::new(id, "all points are the same point")];
    }

    // Runs of repeated points collapse to their first point; the ring holds the rest.
    let mut ring: Vec<usize> = vec![0];
    for i in 1..n {
        let prev = ring[ring.len() - 1];
        let d = dist(points[prev], points[i]);
        if d < DUPLICATE_TOL * diag {
            let how = if d == 0.0 { "repeats".to_string() } else { format!("is {} from", short(d)) };
            issues.push(ShapeIssue::new(id, format!("point {i} {how} point {prev}; remove it")).at_point(i));
        } else {
            ring.push(i);
        }
    }

    let gap = dist(points[0], points[n - 1]);
    let closed = gap <= CLOSURE_TOL * diag;
    if closure == Closure::Closed && !closed {
        issues.push(
            ShapeIssue::new(
                id,
                format!(
                    "open outline: the last point is {} from the first; repeat the first point at the end, \
                     or declare the outline open",
                    short(gap)
                ),
            )
            .at_point(n - 1),
        );
    }
    if closed && ring.len() > 1 {
        ring.pop();
    }
    if ring.len() >= 3 {
        let room = MAX_ISSUES.saturating_sub(issues.len());
        issues.extend(crossings(points, &ring, closed, id, diag).into_iter().take(room));
    }
    issues.truncate(MAX_ISSUES);
    issues
}

/// Whether the last point repeats the first (within 1e-6 of the bounding-box diagonal).
pub fn is_closed(points: &[Point]) -> bool {
    points.len() >= 2 && dist(points[0], points[points.len() - 1]) <= CLOSURE_TOL * diagonal(points)
}

/// The diagonal of the points' bounding box.
pub fn diagonal(points: &[Point]) -> f64 {
    let (lo, hi) = bounds(points);
    dist(lo, hi)
}

/// Lower-left and upper-right corners of the bounding box.
pub fn bounds(points: &[Point]) -> (Point, Point) {
    let mut lo = [f64::INFINITY; 2];
    let mut hi = [f64::NEG_INFINITY; 2];
    for p in points {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    (lo, hi)
}

/// Segments of the ring (vertex `ring[j]` to the next, wrapping) that cross, touch or fold back.
/// Candidate pairs come from a sweep over x-intervals, so the work is about n log n for outlines
/// whose segments do not all span the same x range.
fn crossings(points: &[Point], ring: &[usize], closed: bool, id: &str, diag: f64) -> Vec<ShapeIssue> {
    let k = ring.len();
    let tol = TOUCH_TOL * diag;
    let seg = |j: usize| (points[ring[j]], points[ring[(j + 1) % k]]);
    // The segment from ring[j]: the last one returns to point 0, through the repeated last point
    // when the outline is closed, directly otherwise.
    let describe = |j: usize| {
        if j + 1 < k {
            format!("segment from point {} to point {}", ring[j], ring[j + 1])
        } else if closed {
            format!("segment from point {} to point {}", ring[j], points.len() - 1)
        } else {
            format!("closing segment from point {} back to point 0", ring[j])
        }
    };
    let mut issues = Vec::new();

    for j in 0..k {
        let (a, b) = seg(j);
        let c = seg((j + 1) % k).1;
        let (u, w) = (sub(b, a), sub(c, b));
        if cross(u, w).abs() <= 1e-12 * norm(u) * norm(w) && dot(u, w) < 0.0 {
            let at = ring[(j + 1) % k];
            issues.push(ShapeIssue::new(id, format!("the outline doubles back on itself at point {at}")).at_point(at));
        }
    }

    let boxes: Vec<(Point, Point)> = (0..k)
        .map(|j| {
            let (a, b) = seg(j);
            ([a[0].min(b[0]), a[1].min(b[1])], [a[0].max(b[0]), a[1].max(b[1])])
        })
        .collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| boxes[i].0[0].total_cmp(&boxes[j].0[0]));
    for (pos, &i) in order.iter().enumerate() {
        for &j in &order[pos + 1..] {
            if boxes[j].0[0] > boxes[i].1[0] + tol {
                break;
            }
            let adjacent = i.abs_diff(j) == 1 || i.abs_diff(j) == k - 1;
            let y_overlap = boxes[j].0[1] <= boxes[i].1[1] + tol && boxes[i].0[1] <= boxes[j].1[1] + tol;
            if adjacent || !y_overlap {
                continue;
            }
            let ((p1, p2), (q1, q2)) = (seg(i), seg(j));
            if segments_meet(p1, p2, q1, q2, tol) {
                let (lo, hi) = (i.min(j), i.max(j));
                issues.push(
                    ShapeIssue::new(id, format!("self-intersection: the {} meets the {}", describe(lo), describe(hi)))
                        .at_point(ring[lo]),
                );
                if issues.len() >= MAX_ISSUES {
                    return issues;
                }
            }
        }
    }
    issues.sort_by_key(|issue| issue.point);
    issues
}

/// Whether segments p1p2 and q1q2 cross or come within `tol` of each other.
fn segments_meet(p1: Point, p2: Point, q1: Point, q2: Point, tol: f64) -> bool {
    let opposite = |a: f64, b: f64| (a > 0.0 && b < 0.0) || (a < 0.0 && b > 0.0);
    let d1 = cross(sub(q2, q1), sub(p1, q1));
    let d2 = cross(sub(q2, q1), sub(p2, q1));
    let d3 = cross(sub(p2, p1), sub(q1, p1));
    let d4 = cross(sub(p2, p1), sub(q2, p1));
    if opposite(d1, d2) && opposite(d3, d4) {
        return true;
    }
    let gap = point_segment(p1, q1, q2)
        .min(point_segment(p2, q1, q2))
        .min(point_segment(q1, p1, p2))
        .min(point_segment(q2, p1, p2));
    gap <= tol
}

/// Distance from `p` to the segment ab.
fn point_segment(p: Point, a: Point, b: Point) -> f64 {
    let ab = sub(b, a);
    let len2 = dot(ab, ab);
    let t = if len2 == 0.0 { 0.0 } else { (dot(sub(p, a), ab) / len2).clamp(0.0, 1.0) };
    dist(p, [a[0] + t * ab[0], a[1] + t * ab[1]])
}

fn sub(a: Point, b: Point) -> Point {
    [a[0] - b[0], a[1] - b[1]]
}

fn dot(a: Point, b: Point) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

fn cross(a: Point, b: Point) -> f64 {
    a[0] * b[1] - a[1] * b[0]
}

fn norm(a: Point) -> f64 {
    a[0].hypot(a[1])
}

/// A length with three significant digits, for messages.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    // The exponent after rounding to three digits, so 0.9999999 prints as 1.00.
    let sci = format!("{v:.2e}");
    let exponent: i32 = sci.split('e').nth(1).and_then(|e| e.parse().ok()).unwrap_or(0);
    match 2 - exponent {
        digits @ 0..=6 => format!("{v:.prec$}", prec = digits as usize),
        digits if digits < 0 => format!("{v:.0}"),
        _ => sci,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::naca;

    /// A regular polygon of `n` vertices on the unit circle, counter-clockwise from (1, 0), with the
    /// first vertex repeated at the end.
    fn circle(n: usize) -> Vec<Point> {
        (0..=n)
            .map(|i| {
                let a = 2.0 * std::f64::consts::PI * (i % n) as f64 / n as f64;
                [a.cos(), a.sin()]
            })
            .collect()
    }

    fn profile(points: Vec<Point>) -> Profile {
        Profile { id: "s".into(), points }
    }

    #[test]
    fn closed_polygon_and_naca_sections_are_valid() {
        assert_eq!(check(&profile(circle(12)), Closure::Closed), vec![]);
        let sharp = naca::four_digit(0.02, 0.4, 0.12, 41, true);
        assert_eq!(check_points(&sharp, "naca2412", Closure::Closed), vec![]);
        let blunt = naca::four_digit(0.0, 0.0, 0.06, 41, false);
        assert_eq!(check_points(&blunt, "naca0006", Closure::Open), vec![]);
    }

    #[test]
    fn too_few_points_is_refused() {
        let issues = check(&profile(circle(5)), Closure::Closed);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].message.contains("6 points"), "{}", issues[0]);
    }

    #[test]
    fn non_finite_coordinate_names_its_point() {
        let mut pts = circle(12);
        pts[3][1] = f64::NAN;
        let issues = check(&profile(pts), Closure::Closed);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].point, Some(3));
    }

    #[test]
    fn repeated_and_nearly_repeated_consecutive_points_are_reported() {
        let mut pts = circle(12);
        pts.insert(4, pts[3]);
        pts.insert(8, [pts[7][0] + 1e-12, pts[7][1]]);
        let issues = check(&profile(pts), Closure::Closed);
        let at: Vec<Option<usize>> = issues.iter().map(|i| i.point).collect();
        // Only the repeats: the collapsed ring has no spurious self-intersection.
        assert_eq!(at, [Some(4), Some(8)], "{issues:?}");
        assert!(issues[0].message.contains("repeats point 3"));
    }

    #[test]
    fn closed_outline_without_the_repeated_first_point_says_how_far_apart() {
        let mut pts = circle(12);
        pts.pop();
        pts.pop();
        // The last point is now at 300°: |(cos 300°, sin 300°) - (1, 0)| = 1.
        let issues = check(&profile(pts.clone()), Closure::Closed);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].point, Some(10));
        assert!(issues[0].message.starts_with("open outline: the last point is 1.00 from the first"), "{}", issues[0]);
        assert_eq!(check(&profile(pts), Closure::Open), vec![]);
    }

    #[test]
    fn figure_eight_reports_both_crossing_segments() {
        // A bow tie (0,0) (2,2) (2,0) (0,2), densified to 8 points: its diagonals cross at (1,1),
        // inside the segments 1->2 and 5->6.
        let pts = vec![[0.0, 0.0], [0.5, 0.5], [2.0, 2.0], [2.0, 1.0], [2.0, 0.0], [1.5, 0.5], [0.0, 2.0], [0.0, 1.0]];
        let issues = check(&profile(pts), Closure::Open);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].point, Some(1));
        assert!(issues[0].message.contains("from point 1 to point 2"), "{}", issues[0]);
        assert!(issues[0].message.contains("from point 5 to point 6"), "{}", issues[0]);
    }

    #[test]
    fn touching_at_a_vertex_is_a_self_intersection() {
        // Two squares sharing the corner (1,1), drawn as one outline through it twice.
        let pts = vec![
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [2.0, 1.0],
            [2.0, 2.0],
            [1.0, 2.0],
            [1.0, 1.0001],
            [0.0, 1.0],
            [0.0, 0.0],
        ];
        let issues = check(&profile(pts.clone()), Closure::Closed);
        assert!(issues.is_empty(), "a 1e-4 gap is not a touch: {issues:?}");
        let mut touching = pts;
        touching[6] = [1.0, 1.0];
        let issues = check(&profile(touching), Closure::Closed);
        assert!(!issues.is_empty());
        assert!(issues.iter().all(|i| i.message.starts_with("self-intersection")), "{issues:?}");
    }

    #[test]
    fn closing_segment_of_an_open_outline_is_checked() {
        // An open spiral whose implied closing segment, (3,3.5) -> (0,0) on y = 7x/6, cuts the
        // segments 4->5 (y = 2) and 5->6 (x = 2), and nothing else crosses.
        let pts = vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [1.0, 4.0], [1.0, 2.0], [2.0, 2.0], [2.0, 3.0], [3.0, 3.5]];
        let issues = check(&profile(pts.clone()), Closure::Open);
        assert_eq!(issues.len(), 2, "{issues:?}");
        for (issue, seg) in issues.iter().zip(["from point 4 to point 5", "from point 5 to point 6"]) {
            assert!(issue.message.contains(seg), "{issue}");
            assert!(issue.message.contains("closing segment from point 7 back to point 0"), "{issue}");
        }
    }

    #[test]
    fn folding_back_along_the_previous_segment_is_reported() {
        let mut pts = circle(12);
        pts.insert(3, [pts[2][0] * 0.5, pts[2][1] * 0.5]);
        pts.insert(4, [pts[2][0] * 0.9, pts[2][1] * 0.9]);
        let issues = check(&profile(pts), Closure::Closed);
        assert!(issues.iter().any(|i| i.message.contains("doubles back") && i.point == Some(3)), "{issues:?}");
    }

    #[test]
    fn thousand_shapes_of_500_points_check_quickly() {
        let shapes: Vec<Vec<Point>> =
            (0..1000).map(|k| naca::four_digit(0.01 * (k % 7) as f64, 0.4, 0.12, 250, true)).collect();
        assert_eq!(shapes[0].len(), 499);
        let start = std::time::Instant::now();
        let bad: usize = shapes.iter().map(|s| check_points(s, "s", Closure::Closed).len()).sum();
        let took = start.elapsed();
        assert_eq!(bad, 0);
        // Release builds take a few tens of milliseconds; the bound leaves room for debug builds.
        assert!(took.as_secs_f64() < 5.0, "took {took:?}");
    }

    #[test]
    fn short_lengths_keep_three_significant_digits() {
        assert_eq!(short(0.3141), "0.314");
        assert_eq!(short(31.41), "31.4");
        assert_eq!(short(3.1e-9), "3.10e-9");
    }
}
