//! NACA 4-digit sections from the published equations (Abbott & von Doenhoff, "Theory of Wing
//! Sections", 1959, §6.4; NACA Report 460, 1933), and the long/attribute CSVs of a family of them.

use super::{Point, Profile};
use std::f64::consts::PI;
use std::fmt::Write as _;

/// Points per surface (LE and TE included) of the sections `family` makes.
pub const FAMILY_POINTS_PER_SIDE: usize = 41;

/// The parameters of one 4-digit section, as fractions of the chord.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Section {
    /// Maximum camber (NACA 2412: 0.02); 0 for a symmetric section.
    pub m: f64,
    /// Chordwise position of the maximum camber (NACA 2412: 0.4); 0 when `m` is 0.
    pub p: f64,
    /// Maximum thickness (NACA 2412: 0.12).
    pub t: f64,
}

/// Half-thickness at `x` (Abbott & von Doenhoff eq. 6.2). The last coefficient is -0.1015 as
/// published, which leaves a blunt trailing edge 2·5t·0.0021 = 0.021t thick, or -0.1036, the usual
/// change that closes it.
fn half_thickness(x: f64, t: f64, closed_te: bool) -> f64 {
    let a4 = if closed_te { -0.1036 } else { -0.1015 };
    5.0 * t * (0.2969 * x.sqrt() - 0.1260 * x - 0.3516 * x * x + 0.2843 * x.powi(3) + a4 * x.powi(4))
}

/// Camber line height and slope at `x` (Abbott & von Doenhoff §6.4): two parabolas meeting at
/// `p` with zero slope there.
fn camber(x: f64, m: f64, p: f64) -> (f64, f64) {
    if m == 0.0 {
        (0.0, 0.0)
    } else if x < p {
        (m / (p * p) * (2.0 * p * x - x * x), 2.0 * m / (p * p) * (p - x))
    } else {
        let q = (1.0 - p) * (1.0 - p);
        (m / q * ((1.0 - 2.0 * p) + 2.0 * p * x - x * x), 2.0 * m / q * (p - x))
    }
}

/// A NACA 4-digit section of unit chord, leading edge at (0, 0), in Selig order: the trailing edge
/// of the upper surface, over the upper surface to the leading edge (once), back along the lower
/// surface to the trailing edge: `2 * points_per_side - 1` points. Stations are cosine-spaced in x,
/// x_i = (1 - cos(π i / (n - 1))) / 2, so points cluster at both edges. The first and the last point
/// are both at the trailing edge: with `closed_te` they are the same point (1, 0), exactly equal,
/// so the outline is explicitly closed; without it they are the ends of the blunt published trailing
/// edge. Surfaces are offset perpendicular to the camber line, as published.
///
/// Panics if `points_per_side < 2`, `t` is not in (0, 1), or `m > 0` with `p` not in (0, 1): these
/// are the caller's constants, not user input.
pub fn four_digit(m: f64, p: f64, t: f64, points_per_side: usize, closed_te: bool) -> Vec<Point> {
    assert!(points_per_side >= 2, "a NACA section needs at least 2 points per side");
    assert!(t > 0.0 && t < 1.0, "NACA thickness {t} is not a fraction of the chord in (0, 1)");
    assert!((0.0..1.0).contains(&m), "NACA camber {m} is not a fraction of the chord in [0, 1)");
    assert!(m == 0.0 || (p > 0.0 && p < 1.0), "NACA camber position {p} is not in (0, 1)");
    let n = points_per_side;
    let surface = |x: f64, sign: f64| -> Point {
        let yt = half_thickness(x, t, closed_te);
        let (yc, slope) = camber(x, m, p);
        let theta = slope.atan();
        [x - sign * yt * theta.sin(), yc + sign * yt * theta.cos()]
    };
    let station = |i: usize| (1.0 - (PI * i as f64 / (n - 1) as f64).cos()) / 2.0;
    let mut points = Vec::with_capacity(2 * n - 1);
    for i in (1..n).rev() {
        points.push(surface(station(i), 1.0));
    }
    points.push([0.0, 0.0]);
    for i in 1..n {
        points.push(surface(station(i), -1.0));
    }
    if closed_te {
        // yt(1) and yc(1) are zero in exact arithmetic; make the two ends the same point.
        let last = points.len() - 1;
        points[0] = [1.0, 0.0];
        points[last] = [1.0, 0.0];
    }
    points
}

/// The section's 4-digit name, e.g. `naca2412`: camber in per cent, its position in tenths and the
/// thickness in per cent, each rounded to the nearest digit(s).
pub fn name(m: f64, p: f64, t: f64) -> String {
    let p_digit = if m == 0.0 { 0.0 } else { (p * 10.0).round() };
    format!("naca{}{}{:02}", (m * 100.0).round() as u32, p_digit as u32, (t * 100.0).round() as u32)
}

/// Every combination of camber, camber position and thickness as closed-trailing-edge sections of
/// `FAMILY_POINTS_PER_SIDE` points per side. A zero camber gives one symmetric section per thickness
/// whatever the positions; a combination whose rounded name repeats an earlier one is left out, so
/// ids are unique.
pub fn family(cambers: &[f64], positions: &[f64], thicknesses: &[f64]) -> Vec<(Profile, Section)> {
    family_with(cambers, positions, thicknesses, FAMILY_POINTS_PER_SIDE, true)
}

/// `family` with a chosen number of points per side and trailing edge.
pub fn family_with(
    cambers: &[f64],
    positions: &[f64],
    thicknesses: &[f64],
    points_per_side: usize,
    closed_te: bool,
) -> Vec<(Profile, Section)> {
    let mut out: Vec<(Profile, Section)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &m in cambers {
        let ps: &[f64] = if m == 0.0 { &[0.0] } else { positions };
        for &p in ps {
            for &t in thicknesses {
                let id = name(m, p, t);
                if seen.insert(id.clone()) {
                    let points = four_digit(m, p, t, points_per_side, closed_te);
                    out.push((Profile { id, points }, Section { m, p, t }));
                }
            }
        }
    }
    out
}

/// Six decimals, without a "-0.000000".
fn fixed6(v: f64) -> String {
    let s = format!("{v:.6}");
    if s == "-0.000000" {
        "0.000000".to_string()
    } else {
        s
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Long CSV: a `shape_id,x,y` header, then one row per point, with six decimals (`parse::long_csv`
/// reads it back).
pub fn long_csv(profiles: &[Profile]) -> String {
    let mut out = String::from("shape_id,x,y\n");
    for p in profiles {
        let id = csv_field(&p.id);
        for [x, y] in &p.points {
            let _ = writeln!(out, "{id},{},{}", fixed6(*x), fixed6(*y));
        }
    }
    out
}

/// One row per section: `shape_id,naca_m,naca_p,naca_t`, as fractions of the chord.
pub fn attributes_csv(items: &[(Profile, Section)]) -> String {
    let mut out = String::from("shape_id,naca_m,naca_p,naca_t\n");
    for (profile, s) in items {
        let _ = writeln!(out, "{},{},{},{}", csv_field(&profile.id), s.m, s.p, s.t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upper and lower surface of a Selig-ordered section, both from LE to TE.
    fn surfaces(points: &[Point]) -> (Vec<Point>, Vec<Point>) {
        let le = points.len() / 2;
        let mut upper = points[..=le].to_vec();
        upper.reverse();
        (upper, points[le..].to_vec())
    }

    /// Linear interpolation of y at x on a surface ordered by increasing x.
    fn y_at(surface: &[Point], x: f64) -> f64 {
        let i = surface.windows(2).position(|w| w[0][0] <= x && x <= w[1][0]).unwrap();
        let ([x0, y0], [x1, y1]) = (surface[i], surface[i + 1]);
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    }

    #[test]
    fn point_count_is_two_per_side_minus_the_shared_leading_edge() {
        assert_eq!(four_digit(0.02, 0.4, 0.12, 41, true).len(), 81);
        assert_eq!(four_digit(0.0, 0.0, 0.12, 2, false).len(), 3);
        let pts = four_digit(0.02, 0.4, 0.12, 41, true);
        assert_eq!(pts[40], [0.0, 0.0]);
        assert_eq!(pts[0], pts[80]);
    }

    #[test]
    fn naca0012_is_symmetric_and_0_12_thick_at_30_percent_chord() {
        // Abbott & von Doenhoff: the 4-digit thickness form has its maximum at x = 0.30 and
        // thickness/chord = t there (evaluating eq. 6.2 on a fine grid: 0.120035 at x = 0.2998).
        let pts = four_digit(0.0, 0.0, 0.12, 201, false);
        let (upper, lower) = surfaces(&pts);
        for (u, l) in upper.iter().zip(&lower) {
            assert_eq!(u[0], l[0]);
            assert_eq!(u[1], -l[1]);
        }
        let (i, thick) = upper
            .iter()
            .zip(&lower)
            .map(|(u, l)| u[1] - l[1])
            .enumerate()
            .fold((0, 0.0), |best, (i, d)| if d > best.1 { (i, d) } else { best });
        assert!((thick - 0.12).abs() < 1e-4, "max thickness {thick}");
        assert!((upper[i][0] - 0.30).abs() < 0.01, "at x = {}", upper[i][0]);
    }

    #[test]
    fn naca2412_mean_line_peaks_at_0_02_at_40_percent_chord() {
        // The mean line is halfway between the surfaces measured perpendicular to it; sampling the
        // midpoint of upper and lower at the same x is within O(t·slope²) of it, well under 1e-4.
        let pts = four_digit(0.02, 0.4, 0.12, 201, true);
        let (upper, lower) = surfaces(&pts);
        let mut best = (0.0, 0.0);
        for k in 1..1000 {
            let x = k as f64 / 1000.0;
            let yc = (y_at(&upper, x) + y_at(&lower, x)) / 2.0;
            if yc > best.1 {
                best = (x, yc);
            }
        }
        assert!((best.1 - 0.02).abs() < 1e-4, "max camber {}", best.1);
        assert!((best.0 - 0.4).abs() < 0.01, "at x = {}", best.0);
        // The camber line itself, exactly as published.
        assert_eq!(camber(0.4, 0.02, 0.4), (0.02, 0.0));
    }

    #[test]
    fn open_trailing_edge_is_blunt_and_closed_one_is_sharp() {
        // yt(1) = 5t(0.2969 - 0.1260 - 0.3516 + 0.2843 - 0.1015) = 5t · 0.0021.
        let open = four_digit(0.0, 0.0, 0.12, 41, false);
        let gap = open[0][1] - open[80][1];
        assert!((gap - 2.0 * 5.0 * 0.12 * 0.0021).abs() < 1e-12, "gap {gap}");
        assert!(half_thickness(1.0, 0.12, true).abs() < 1e-15);
    }

    #[test]
    fn names_round_to_the_four_digits() {
        assert_eq!(name(0.02, 0.4, 0.12), "naca2412");
        assert_eq!(name(0.0, 0.3, 0.06), "naca0006");
        assert_eq!(name(0.09, 0.7, 0.24), "naca9724");
    }

    #[test]
    fn family_makes_one_symmetric_section_per_thickness_whatever_the_positions() {
        let items = family(&[0.0, 0.02], &[0.2, 0.4], &[0.12, 0.15]);
        let ids: Vec<&str> = items.iter().map(|(p, _)| p.id.as_str()).collect();
        assert_eq!(ids, ["naca0012", "naca0015", "naca2212", "naca2215", "naca2412", "naca2415"]);
        assert_eq!(items[0].1, Section { m: 0.0, p: 0.0, t: 0.12 });
        assert_eq!(items[0].0.points.len(), 2 * FAMILY_POINTS_PER_SIDE - 1);
    }

    #[test]
    fn csv_writers_write_the_documented_columns() {
        let items = family(&[0.02], &[0.4], &[0.12]);
        let profiles: Vec<Profile> = items.iter().map(|(p, _)| p.clone()).collect();
        let long = long_csv(&profiles);
        let lines: Vec<&str> = long.lines().collect();
        assert_eq!(lines[0], "shape_id,x,y");
        assert_eq!(lines[1], "naca2412,1.000000,0.000000");
        assert_eq!(lines[41], "naca2412,0.000000,0.000000");
        assert_eq!(lines.len(), 1 + 81);
        assert_eq!(attributes_csv(&items), "shape_id,naca_m,naca_p,naca_t\nnaca2412,0.02,0.4,0.12\n");
    }
}
