//! Inviscid lift and pressure of a 2-D airfoil outline: the linear-strength vortex panel method of
//! Katz & Plotkin, "Low-Speed Aerodynamics", 2nd ed., §11.4 (also Kuethe & Chow §5.10), with the
//! Kutta condition at the trailing edge, and Joukowski airfoils with their exact potential flow to
//! check it against.
//!
//! Conventions:
//! - input in Selig order: index 0 is the trailing-edge end of the upper surface, then over the
//!   upper surface to the leading edge and back along the lower surface to the trailing-edge end of
//!   the lower surface (counter-clockwise). The reverse order (clockwise, lower surface first) is
//!   detected by the signed area and handled: results come back in the caller's order;
//! - one panel joins each pair of consecutive points; a blunt trailing edge (first and last point
//!   apart) is left open, with no base panel: the vortex sheet covers the wetted surfaces only, and
//!   the Kutta condition `γ_first + γ_last = 0` (equal speeds leaving both surfaces) holds as for a
//!   sharp edge. Two weak least-squares rows ask the edge speeds to continue each surface's trend,
//!   which only matters on a cusp (see `node_strengths`);
//! - chord `c` = distance from the trailing-edge midpoint to the point farthest from it (the leading
//!   edge); `alpha` is measured from the outline's x-axis (the chord line of a chord-normalised
//!   outline); coefficients are per that chord; `cm` is about the quarter-chord point on the chord
//!   line, nose-up positive; `circulation` is clockwise-positive, per unit free-stream speed;
//! - `cl` comes from the circulation (Kutta–Joukowski, `cl = 2Γ/(V∞ c)`); `cm` from integrating `cp`
//!   over the panels (the same integration gives a `cl` that the tests compare with it).
//!
//! Measured (release build, 2-core machine with another build running; `genfab bench shapes`
//! prints them):
//! - Joukowski `ζc = (−0.1, 0.05)`, α = 5° (exact cl 0.9078), 200 panels: cl error 0.023 %, cp RMS
//!   error 0.015 at the panel midpoints outside the last 2 % of chord. 50 → 100 → 200 → 400 panels:
//!   cl error 0.26 → 0.081 → 0.023 → 0.008 %, cp RMS 0.067 → 0.031 → 0.015 → 0.0074 (first order);
//! - NACA 0006, 160 panels: lift slope 6.598 /rad = 1.050 · 2π (thickness estimate
//!   2π(1 + 0.77 t/c) = 1.046 · 2π);
//! - NACA 2412, 160 panels: zero-lift angle −2.15° (thin-airfoil theory −2.08°), cm_c/4 −0.055
//!   (thin-airfoil theory −0.053);
//! - 129 points: 2–4 ms per solve; 501 points: 60–90 ms.

use super::{dist, Point};

/// Why an outline could not be solved.
#[derive(Debug, Clone, PartialEq)]
pub enum PanelError {
    /// Fewer than `MIN_POINTS` points.
    TooFewPoints { got: usize },
    /// A coordinate (`index` = the point) or the angle of attack (`index = None`) is NaN or infinite.
    NonFinite { index: Option<usize> },
    /// Points `index` and `index + 1` coincide, so the panel between them has no length.
    ZeroLengthPanel { index: usize },
    /// The influence matrix is singular (a degenerate or self-overlapping outline).
    SingularSystem,
}

impl std::fmt::Display for PanelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PanelError::TooFewPoints { got } => {
                write!(f, "an outline needs at least {MIN_POINTS} points for the panel method, got {got}")
            }
            PanelError::NonFinite { index: Some(i) } => {
                write!(f, "point {i} has a coordinate that is not a finite number")
            }
            PanelError::NonFinite { index: None } => write!(f, "the angle of attack is not a finite number"),
            PanelError::ZeroLengthPanel { index } => {
                write!(f, "points {index} and {} coincide: remove the repeated point", index + 1)
            }
            PanelError::SingularSystem => {
                write!(f, "the panel equations are singular: the outline is degenerate or crosses itself")
            }
        }
    }
}

impl std::error::Error for PanelError {}

/// Lift, moment and surface pressure of one outline at one angle of attack.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelResult {
    /// Lift coefficient from the circulation, per the chord.
    pub cl: f64,
    /// Moment coefficient about the quarter chord, nose-up positive.
    pub cm: f64,
    /// Pressure coefficient at each panel midpoint, panel `k` joining points `k` and `k + 1`.
    pub cp: Vec<f64>,
    /// Panel midpoints, in the same order as `cp`.
    pub midpoints: Vec<Point>,
    /// Circulation per unit free-stream speed, clockwise positive, in the outline's length unit.
    pub circulation: f64,
}

/// Fewest points accepted: below this the answer is not worth having.
const MIN_POINTS: usize = 8;

/// Panels shorter than this fraction of the outline's size count as zero length.
const ZERO_LENGTH: f64 = 1e-12;

/// Solves the flow around `points` (Selig order, see the module doc) at angle of attack `alpha`
/// (radians) with unit free-stream speed.
pub fn solve(points: &[Point], alpha: f64) -> Result<PanelResult, PanelError> {
    let outline = Outline::check(points)?;
    if !alpha.is_finite() {
        return Err(PanelError::NonFinite { index: None });
    }
    let panels = outline.panels();
    let influence = Influence::of(&panels);
    let gamma = node_strengths(&panels, &influence, alpha)?;
    let cp = surface_cp(&panels, &influence, &gamma, alpha);
    let circulation = panels.iter().enumerate().map(|(j, p)| 0.5 * p.length * (gamma[j] + gamma[j + 1])).sum::<f64>();
    let (_, cm) = integrate_pressure(&panels, &cp, alpha, &outline.chord);
    let mut midpoints: Vec<Point> = panels.iter().map(|p| p.mid).collect();
    let mut cp = cp;
    if outline.reversed {
        midpoints.reverse();
        cp.reverse();
    }
    Ok(PanelResult { cl: 2.0 * circulation / outline.chord.length, cm, cp, midpoints, circulation })
}

/// The lift coefficient of `points` at `alpha_deg` degrees.
pub fn cl_at_degrees(points: &[Point], alpha_deg: f64) -> Result<f64, PanelError> {
    solve(points, alpha_deg.to_radians()).map(|r| r.cl)
}

/// The chord line: leading edge, trailing-edge midpoint and the distance between them.
#[derive(Debug, Clone, Copy)]
struct Chord {
    leading: Point,
    trailing: Point,
    length: f64,
}

impl Chord {
    fn of(points: &[Point]) -> Chord {
        let (first, last) = (points[0], points[points.len() - 1]);
        let trailing = [0.5 * (first[0] + last[0]), 0.5 * (first[1] + last[1])];
        let leading =
            points.iter().copied().max_by(|a, b| dist(*a, trailing).total_cmp(&dist(*b, trailing))).unwrap_or(first);
        Chord { leading, trailing, length: dist(leading, trailing) }
    }

    fn quarter(&self) -> Point {
        let (le, te) = (self.leading, self.trailing);
        [le[0] + 0.25 * (te[0] - le[0]), le[1] + 0.25 * (te[1] - le[1])]
    }
}

/// A checked outline, counter-clockwise (Selig order) whatever order it came in.
struct Outline {
    points: Vec<Point>,
    reversed: bool,
    chord: Chord,
}

impl Outline {
    fn check(points: &[Point]) -> Result<Outline, PanelError> {
        if points.len() < MIN_POINTS {
            return Err(PanelError::TooFewPoints { got: points.len() });
        }
        if let Some(i) = points.iter().position(|p| !(p[0].is_finite() && p[1].is_finite())) {
            return Err(PanelError::NonFinite { index: Some(i) });
        }
        let chord = Chord::of(points);
        let size = chord.length.max(f64::MIN_POSITIVE);
        if let Some(i) = points.windows(2).position(|w| dist(w[0], w[1]) <= ZERO_LENGTH * size) {
            return Err(PanelError::ZeroLengthPanel { index: i });
        }
        // positive area: counter-clockwise (Selig order)
        let reversed = super::measure::signed_area(points) < 0.0;
        let mut points = points.to_vec();
        if reversed {
            points.reverse();
        }
        Ok(Outline { points, reversed, chord })
    }

    fn panels(&self) -> Vec<Panel> {
        self.points.windows(2).map(|w| Panel::new(w[0], w[1])).collect()
    }
}

/// A straight panel from `start` to `end`; its interior (body) side is on the left of the tangent.
#[derive(Debug, Clone, Copy)]
struct Panel {
    start: Point,
    mid: Point,
    /// Unit tangent, from `start` to `end`.
    tangent: Point,
    length: f64,
}

impl Panel {
    fn new(start: Point, end: Point) -> Panel {
        let length = dist(start, end);
        let tangent = [(end[0] - start[0]) / length, (end[1] - start[1]) / length];
        Panel { start, mid: [0.5 * (start[0] + end[0]), 0.5 * (start[1] + end[1])], tangent, length }
    }

    /// Unit normal into the fluid (to the right of the tangent on a counter-clockwise outline).
    fn outward(&self) -> Point {
        [self.tangent[1], -self.tangent[0]]
    }

    /// Velocity induced at `at` by this panel's vortex sheet of unit strength at its start node
    /// falling linearly to zero at its end, and by the sheet rising from zero to unit strength at its
    /// end node: `(from_start, from_end)`, global frame, clockwise-positive vorticity. `on_self`
    /// evaluates at this panel's own midpoint, on the fluid side.
    ///
    /// In panel coordinates (x along the tangent from `start`, y to the left) the sheet
    /// `γ(s) = γa (1 − s/L) + γb s/L` induces `u = ∫γ y/R² ds / 2π`, `v = −∫γ (x − s)/R² ds / 2π`,
    /// `R² = (x − s)² + y²`; with `θ(s) = atan2(y, x − s)`, `Δθ = θ(L) − θ(0)`, `λ = ln(r0/rL)`:
    /// `∫y/R² = Δθ`, `∫s y/R² = xΔθ − yλ`, `∫(x−s)/R² = λ`, `∫s(x−s)/R² = xλ − L + yΔθ`.
    fn unit_velocities(&self, at: Point, on_self: bool) -> (Point, Point) {
        let (dx, dy) = (at[0] - self.start[0], at[1] - self.start[1]);
        let (tx, ty) = (self.tangent[0], self.tangent[1]);
        let l = self.length;
        let (x, y, dtheta, lambda) = if on_self {
            // Midpoint approached from the fluid side (y → 0⁻): Δθ = −π, r0 = rL.
            (0.5 * l, 0.0, -std::f64::consts::PI, 0.0)
        } else {
            let (x, y) = (dx * tx + dy * ty, -dx * ty + dy * tx);
            let dtheta = y.atan2(x - l) - y.atan2(x);
            let lambda = 0.5 * ((x * x + y * y) / ((x - l) * (x - l) + y * y)).ln();
            (x, y, dtheta, lambda)
        };
        let i0u = dtheta;
        let i1u = x * dtheta - y * lambda;
        let i0v = lambda;
        let i1v = x * lambda - l + y * dtheta;
        let k = 0.5 / std::f64::consts::PI;
        let (ua, va) = (k * (i0u - i1u / l), -k * (i0v - i1v / l));
        let (ub, vb) = (k * i1u / l, -k * i1v / l);
        // Back to the global frame: local x is the tangent, local y is (−ty, tx).
        let global = |u: f64, v: f64| [u * tx - v * ty, u * ty + v * tx];
        (global(ua, va), global(ub, vb))
    }
}

/// Vortex strength at each of the `N + 1` nodes.
///
/// Equations: no flow through any panel midpoint (N rows) and the Kutta condition
/// `γ_0 + γ_N = 0`, used to eliminate `γ_N`. On a cusped trailing edge (Joukowski) the two edge
/// panels lie on top of each other, and the mode `γ_0 = −γ_N` (equal and opposite sheets there)
/// barely moves any midpoint's normal velocity: the square system is nearly singular and wild
/// edge values appear. Two weak rows (weight `TE_SMOOTHING`) ask that the surface speed at the edge
/// continue each surface's linear trend (`γ_0 = 2γ_1 − γ_2`, `γ_N = 2γ_{N−1} − γ_{N−2}`), and the
/// whole is solved in least squares: where the panels alone fix the solution (any edge of finite
/// angle) these rows move it by about `TE_SMOOTHING²`, and on a cusp they pick the smooth one.
fn node_strengths(panels: &[Panel], influence: &Influence, alpha: f64) -> Result<Vec<f64>, PanelError> {
    let n = panels.len();
    let rows = n + 2;
    let free = [alpha.cos(), alpha.sin()];
    // Column-major `rows × n`, unknowns γ_0 … γ_{N−1}.
    let mut a = vec![0.0; rows * n];
    let mut b = vec![0.0; rows];
    for (i, pi) in panels.iter().enumerate() {
        let normal = pi.outward();
        let row = &influence.normal[i * (n + 1)..(i + 1) * (n + 1)];
        for (j, &v) in row[..n].iter().enumerate() {
            a[j * rows + i] = v;
        }
        a[i] -= row[n];
        b[i] = -dot(free, normal);
    }
    let w = TE_SMOOTHING;
    // Upper: γ_0 − 2γ_1 + γ_2 = 0; lower with γ_N = −γ_0: −γ_0 − 2γ_{N−1} + γ_{N−2} = 0.
    for (row, coefficients) in [(n, [(0, w), (1, -2.0 * w), (2, w)]), (n + 1, [(0, -w), (n - 1, -2.0 * w), (n - 2, w)])]
    {
        for (c, v) in coefficients {
            a[c * rows + row] += v;
        }
    }
    let mut gamma = least_squares(&mut a, &mut b, rows, n)?;
    gamma.push(-gamma[0]);
    Ok(gamma)
}

/// Weight of the trailing-edge smoothness rows, against influence coefficients of order 0.1–1.
const TE_SMOOTHING: f64 = 1e-3;

/// Velocity at each panel midpoint (fluid side) per unit vortex strength at each node: normal and
/// tangential components, row-major `N × (N + 1)`.
struct Influence {
    normal: Vec<f64>,
    tangential: Vec<f64>,
}

impl Influence {
    fn of(panels: &[Panel]) -> Influence {
        let n = panels.len();
        let mut normal = vec![0.0; n * (n + 1)];
        let mut tangential = vec![0.0; n * (n + 1)];
        for (i, pi) in panels.iter().enumerate() {
            let (nrm, tan) = (pi.outward(), pi.tangent);
            for (j, pj) in panels.iter().enumerate() {
                let (va, vb) = pj.unit_velocities(pi.mid, i == j);
                let at = i * (n + 1) + j;
                normal[at] += dot(va, nrm);
                normal[at + 1] += dot(vb, nrm);
                tangential[at] += dot(va, tan);
                tangential[at + 1] += dot(vb, tan);
            }
        }
        Influence { normal, tangential }
    }
}

/// `cp = 1 − (V·t)²` at each panel midpoint, the velocity summed over all panels on the fluid side.
fn surface_cp(panels: &[Panel], influence: &Influence, gamma: &[f64], alpha: f64) -> Vec<f64> {
    let free = [alpha.cos(), alpha.sin()];
    let m = gamma.len();
    panels
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let induced: f64 = influence.tangential[i * m..(i + 1) * m].iter().zip(gamma).map(|(k, g)| k * g).sum();
            let vt = dot(free, p.tangent) + induced;
            1.0 - vt * vt
        })
        .collect()
}

/// `(cl, cm)` from the pressure on the panels: force `−cp n L` per panel, lift normal to the free
/// stream, moment about the quarter chord, nose-up positive.
fn integrate_pressure(panels: &[Panel], cp: &[f64], alpha: f64, chord: &Chord) -> (f64, f64) {
    let quarter = chord.quarter();
    let (mut fx, mut fy, mut mz) = (0.0, 0.0, 0.0);
    for (p, &c) in panels.iter().zip(cp) {
        let n = p.outward();
        let (px, py) = (-c * n[0] * p.length, -c * n[1] * p.length);
        fx += px;
        fy += py;
        // Counter-clockwise moment, which lowers a nose on the left: nose-down.
        mz += (p.mid[0] - quarter[0]) * py - (p.mid[1] - quarter[1]) * px;
    }
    let c = chord.length;
    ((fy * alpha.cos() - fx * alpha.sin()) / c, -mz / (c * c))
}

/// Least-squares solution of `a x = b` (`a` column-major `m × n`, `m ≥ n`, both overwritten) by
/// Householder QR.
///
/// Written out rather than taken from a crate: the system is small (N ≤ ~500, a few tens of
/// milliseconds at most) and dense, and the LAPACK-backed solvers (ndarray-linalg) need a BLAS that
/// does not link here. QR rather than normal equations keeps the condition number unsquared.
fn least_squares(a: &mut [f64], b: &mut [f64], m: usize, n: usize) -> Result<Vec<f64>, PanelError> {
    let scale = a.iter().fold(0.0_f64, |s, v| s.max(v.abs()));
    let tiny = scale * 1e-14 * m as f64;
    for k in 0..n {
        let (done, rest) = a.split_at_mut((k + 1) * m);
        let col = &mut done[k * m + k..];
        let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm.is_nan() || norm <= tiny {
            return Err(PanelError::SingularSystem);
        }
        let diag = if col[0] > 0.0 { -norm } else { norm };
        // Reflector v = col − diag·e₁, applied as x ← x − 2 v (v·x)/(v·v).
        col[0] -= diag;
        let vv: f64 = col.iter().map(|v| v * v).sum();
        for other in rest.chunks_exact_mut(m) {
            let x = &mut other[k..];
            let f = 2.0 * col.iter().zip(x.iter()).map(|(v, x)| v * x).sum::<f64>() / vv;
            x.iter_mut().zip(col.iter()).for_each(|(x, v)| *x -= f * v);
        }
        let f = 2.0 * col.iter().zip(&b[k..]).map(|(v, x)| v * x).sum::<f64>() / vv;
        b[k..].iter_mut().zip(col.iter()).for_each(|(x, v)| *x -= f * v);
        col[0] = diag;
    }
    let mut x = vec![0.0; n];
    for k in (0..n).rev() {
        let s: f64 = (k + 1..n).map(|c| a[c * m + k] * x[c]).sum();
        x[k] = (b[k] - s) / a[k * m + k];
    }
    Ok(x)
}

fn dot(a: Point, b: Point) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

/// A Joukowski airfoil with `n` points (at least 3) in Selig order, trailing edge first and last:
/// the circle through `ζ = 1` centred at `(xc, yc)` mapped by `z = ζ + 1/ζ` (`xc < 0` gives
/// thickness, `yc > 0` camber), points equally spaced in the circle's angle.
pub fn joukowski(xc: f64, yc: f64, n: usize) -> Vec<Point> {
    let circle = JoukowskiCircle::new(xc, yc);
    let n = n.max(3);
    (0..n)
        .map(|k| if k == 0 || k == n - 1 { [2.0, 0.0] } else { circle.airfoil(circle.angle(k, n)).to_point() })
        .collect()
}

/// The Joukowski airfoil of [`joukowski`], the exact pressure coefficient at its points and the
/// exact lift coefficient per its chord, from potential flow at `alpha` (radians) with the Kutta
/// condition.
///
/// Source: Katz & Plotkin §6.6 and Kuethe & Chow §4.5. Circle `ζ = ζc + a e^{iθ}`, `a = |1 − ζc|`,
/// trailing edge `ζ = 1` at `θ = −β`, `β = atan2(yc, 1 − xc)` (so `sin β = yc/a`). Complex
/// potential with clockwise circulation Γ: `W = e^{−iα}(ζ − ζc) + a² e^{iα}/(ζ − ζc) + iΓ/(2π) ln(ζ − ζc)`;
/// `dW/dζ = 0` at `ζ = 1` gives `Γ = 4πa sin(α + β)`; the surface speed is `|dW/dζ / (1 − 1/ζ²)|`
/// (at the cusp, where both vanish, `|W''(1)| / 2`); `cl = 2Γ/c = 8πa sin(α + β)/c` with the chord
/// `c` measured on the mapped outline (trailing edge `z = 2` to the farthest point), not 4.
pub fn joukowski_exact(xc: f64, yc: f64, alpha: f64, n: usize) -> (Vec<Point>, Vec<f64>, f64) {
    let circle = JoukowskiCircle::new(xc, yc);
    let points = joukowski(xc, yc, n);
    let gamma = 4.0 * std::f64::consts::PI * circle.radius * (alpha + circle.beta).sin();
    let free = C::polar(1.0, -alpha);
    let back = C::polar(circle.radius * circle.radius, alpha);
    let swirl = C { re: 0.0, im: gamma / (2.0 * std::f64::consts::PI) };
    let n = points.len();
    let cp = (0..n)
        .map(|k| {
            let speed = if k == 0 || k == n - 1 {
                // L'Hôpital at the cusp: W''(1) / (d²z/dζ² at 1 = 2).
                let r = circle.point(-circle.beta).sub(circle.centre);
                let w2 = back.scale(2.0).div(r.mul(r).mul(r)).sub(swirl.div(r.mul(r)));
                0.5 * w2.abs()
            } else {
                let zeta = circle.point(circle.angle(k, n));
                let r = zeta.sub(circle.centre);
                let dw = free.sub(back.div(r.mul(r))).add(swirl.div(r));
                let dz = C { re: 1.0, im: 0.0 }.sub(C { re: 1.0, im: 0.0 }.div(zeta.mul(zeta)));
                dw.div(dz).abs()
            };
            1.0 - speed * speed
        })
        .collect();
    (points, cp, 2.0 * gamma / circle.chord())
}

/// The circle a Joukowski airfoil is mapped from.
struct JoukowskiCircle {
    centre: C,
    radius: f64,
    /// Angle below the centre's horizontal at which the circle meets `ζ = 1`.
    beta: f64,
}

impl JoukowskiCircle {
    fn new(xc: f64, yc: f64) -> JoukowskiCircle {
        JoukowskiCircle { centre: C { re: xc, im: yc }, radius: (1.0 - xc).hypot(yc), beta: yc.atan2(1.0 - xc) }
    }

    /// Circle angle of point `k` of `n`, counter-clockwise from the trailing edge.
    fn angle(&self, k: usize, n: usize) -> f64 {
        -self.beta + 2.0 * std::f64::consts::PI * k as f64 / (n - 1) as f64
    }

    fn point(&self, theta: f64) -> C {
        self.centre.add(C::polar(self.radius, theta))
    }

    /// Airfoil point `z = ζ + 1/ζ` at circle angle `theta`.
    fn airfoil(&self, theta: f64) -> C {
        let zeta = self.point(theta);
        zeta.add(C { re: 1.0, im: 0.0 }.div(zeta))
    }

    /// Distance from the trailing edge `z = 2` to the farthest airfoil point: a coarse scan, then
    /// golden-section refinement of the best bracket.
    fn chord(&self) -> f64 {
        let reach = |t: f64| self.airfoil(t).sub(C { re: 2.0, im: 0.0 }).abs();
        let steps = 720;
        let h = 2.0 * std::f64::consts::PI / steps as f64;
        let best =
            (1..steps).max_by(|&a, &b| reach(self.angle_at(a, h)).total_cmp(&reach(self.angle_at(b, h)))).unwrap_or(1);
        let (mut lo, mut hi) = (self.angle_at(best, h) - h, self.angle_at(best, h) + h);
        let g = 0.5 * (5.0_f64.sqrt() - 1.0);
        for _ in 0..100 {
            let (m1, m2) = (hi - g * (hi - lo), lo + g * (hi - lo));
            if reach(m1) > reach(m2) {
                hi = m2;
            } else {
                lo = m1;
            }
        }
        reach(0.5 * (lo + hi))
    }

    fn angle_at(&self, step: usize, h: f64) -> f64 {
        -self.beta + step as f64 * h
    }
}

/// Just enough complex arithmetic for the Joukowski map.
#[derive(Debug, Clone, Copy)]
struct C {
    re: f64,
    im: f64,
}

impl C {
    fn polar(r: f64, theta: f64) -> C {
        C { re: r * theta.cos(), im: r * theta.sin() }
    }
    fn add(self, o: C) -> C {
        C { re: self.re + o.re, im: self.im + o.im }
    }
    fn sub(self, o: C) -> C {
        C { re: self.re - o.re, im: self.im - o.im }
    }
    fn mul(self, o: C) -> C {
        C { re: self.re * o.re - self.im * o.im, im: self.re * o.im + self.im * o.re }
    }
    fn div(self, o: C) -> C {
        let d = o.re * o.re + o.im * o.im;
        C { re: (self.re * o.re + self.im * o.im) / d, im: (self.im * o.re - self.re * o.im) / d }
    }
    fn scale(self, s: f64) -> C {
        C { re: self.re * s, im: self.im * s }
    }
    fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    fn to_point(self) -> Point {
        [self.re, self.im]
    }
}

/// The panel method against the exact flow over Joukowski airfoil `ζc = (xc, yc)` with `panels`
/// panels: relative cl error and RMS cp error at the panel midpoints outside the last 2 % of chord
/// (the cusp). `genfab bench shapes` prints it.
pub fn joukowski_errors(xc: f64, yc: f64, alpha: f64, panels: usize) -> (f64, f64) {
    let (fine, exact_cp, exact_cl) = joukowski_exact(xc, yc, alpha, 2 * panels + 1);
    let points: Vec<Point> = fine.iter().copied().step_by(2).collect();
    let r = solve(&points, alpha).expect("a Joukowski airfoil solves");
    let chord = Chord::of(&points);
    let cut = chord.trailing[0] - 0.02 * chord.length;
    let errors: Vec<f64> =
        (0..panels).filter(|&k| r.midpoints[k][0] < cut).map(|k| r.cp[k] - exact_cp[2 * k + 1]).collect();
    let rms = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
    ((r.cl - exact_cl).abs() / exact_cl.abs(), rms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEG: f64 = std::f64::consts::PI / 180.0;

    /// NACA 4-digit section with `2 half + 1` points in Selig order, cosine-spaced `x`, from the
    /// published equations (Abbott & von Doenhoff, "Theory of Wing Sections", §6.4) by genfab's
    /// generator (last thickness coefficient −0.1036).
    fn naca4(m: f64, p: f64, t: f64, half: usize) -> Vec<Point> {
        crate::shapes::naca::four_digit(m, p, t, half + 1, true)
    }

    /// Panel cp at each midpoint against the exact Joukowski cp at the circle angle halfway between
    /// the panel's end points, as `(cl error fraction, cp RMS error away from the last 2 % of chord)`.
    fn reversed(points: &[Point]) -> Vec<Point> {
        points.iter().rev().copied().collect()
    }

    /// Thin-airfoil theory for the NACA 2412 mean line (Anderson, "Fundamentals of Aerodynamics",
    /// worked example of §4.8: α_L=0 = −2.077°, cm_c/4 = −0.0529).
    const NACA2412_ZERO_LIFT_DEG: f64 = -2.08;
    const NACA2412_CM_QUARTER: f64 = -0.053;

    #[test]
    fn joukowski_lift_and_pressure_match_the_exact_flow_and_converge() {
        // Reference: the exact potential flow of `joukowski_exact` (Kutta–Joukowski on the circle).
        let (cl_err, cp_rms) = joukowski_errors(-0.1, 0.05, 5.0 * DEG, 200);
        assert!(cl_err < 0.01, "cl error {cl_err}");
        assert!(cp_rms < 0.03, "cp RMS error {cp_rms}");
        let errors: Vec<(f64, f64)> =
            [50, 100, 200, 400].iter().map(|&n| joukowski_errors(-0.1, 0.05, 5.0 * DEG, n)).collect();
        for w in errors.windows(2) {
            // Doubling the panels must at least nearly halve both errors (first order or better).
            assert!(w[1].0 < 0.6 * w[0].0, "cl error does not converge: {errors:?}");
            assert!(w[1].1 < 0.6 * w[0].1, "cp error does not converge: {errors:?}");
        }
    }

    #[test]
    fn joukowski_exact_pressure_integrates_to_the_exact_lift() {
        // Two routes through the same analytic flow: Kutta–Joukowski and the integrated pressure.
        let alpha = 5.0 * DEG;
        let (points, cp, cl) = joukowski_exact(-0.1, 0.05, alpha, 1601);
        let panels: Vec<Panel> = points.windows(2).map(|w| Panel::new(w[0], w[1])).collect();
        let mid_cp: Vec<f64> = cp.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        let (integrated, _) = integrate_pressure(&panels, &mid_cp, alpha, &Chord::of(&points));
        assert!((integrated - cl).abs() < 1e-3 * cl, "integrated {integrated} exact {cl}");
        // A symmetric Joukowski section at α = 5°: 8πa sin α / c with a = 1.1, c from the geometry.
        let (_, _, sym) = joukowski_exact(-0.1, 0.0, alpha, 11);
        assert!(sym > 0.5 && sym < 0.7, "{sym}");
    }

    #[test]
    fn circulation_lift_agrees_with_integrated_pressure() {
        for (points, alpha) in [(joukowski(-0.1, 0.05, 401), 5.0 * DEG), (naca4(0.02, 0.4, 0.12, 200), 4.0 * DEG)] {
            let r = solve(&points, alpha).unwrap();
            let outline = Outline::check(&points).unwrap();
            let (from_cp, _) = integrate_pressure(&outline.panels(), &r.cp, alpha, &outline.chord);
            assert!((from_cp - r.cl).abs() < 0.01 * r.cl.abs(), "Kutta–Joukowski {} pressure {from_cp}", r.cl);
        }
    }

    #[test]
    fn naca0006_lift_slope_is_near_two_pi() {
        // Thin-airfoil theory: 2π per radian. Thickness raises the potential-flow slope to about
        // 2π(1 + 0.77 t/c): a thin symmetric Joukowski section has slope 8πa/c with
        // a/(c/4) ≈ 1 + (4/(3√3)) t/c = 1 + 0.77 t/c; 1.046·2π for t/c = 0.06.
        let section = naca4(0.0, 0.0, 0.06, 80);
        let slope = (cl_at_degrees(&section, 2.0).unwrap() - cl_at_degrees(&section, -2.0).unwrap()) / (4.0 * DEG);
        let two_pi = 2.0 * std::f64::consts::PI;
        assert!((slope / two_pi - 1.0).abs() < 0.10, "slope {slope}");
        assert!((slope / (two_pi * (1.0 + 0.77 * 0.06)) - 1.0).abs() < 0.02, "slope {slope}");
    }

    #[test]
    fn naca2412_zero_lift_angle_and_moment_match_thin_airfoil_theory() {
        let section = naca4(0.02, 0.4, 0.12, 80);
        let (r0, r2) = (solve(&section, 0.0).unwrap(), solve(&section, 2.0 * DEG).unwrap());
        let zero_lift_deg = -r0.cl / ((r2.cl - r0.cl) / 2.0);
        assert!((zero_lift_deg - NACA2412_ZERO_LIFT_DEG).abs() < 0.3, "zero-lift angle {zero_lift_deg}");
        assert!((r0.cm - NACA2412_CM_QUARTER).abs() < 0.01, "cm {}", r0.cm);
        // About the quarter chord cm barely changes with incidence (aerodynamic centre near c/4).
        assert!((r2.cm - r0.cm).abs() < 0.01, "cm {} then {}", r0.cm, r2.cm);
    }

    #[test]
    fn symmetric_section_at_zero_incidence_has_no_lift_or_moment() {
        let r = solve(&naca4(0.0, 0.0, 0.12, 64), 0.0).unwrap();
        assert!(r.cl.abs() < 1e-9 && r.cm.abs() < 1e-9, "cl {} cm {}", r.cl, r.cm);
        assert!(r.circulation.abs() < 1e-9);
    }

    #[test]
    fn coefficients_ignore_the_outlines_scale_and_position() {
        let section = naca4(0.02, 0.4, 0.12, 64);
        let moved: Vec<Point> = section.iter().map(|p| [3.7 * p[0] + 5.0, 3.7 * p[1] - 2.0]).collect();
        let (a, b) = (solve(&section, 3.0 * DEG).unwrap(), solve(&moved, 3.0 * DEG).unwrap());
        assert!((a.cl - b.cl).abs() < 1e-9 && (a.cm - b.cm).abs() < 1e-9, "{a:?} {b:?}");
        assert!((b.circulation - 3.7 * a.circulation).abs() < 1e-9);
        for (pa, pb) in a.cp.iter().zip(&b.cp) {
            assert!((pa - pb).abs() < 1e-9);
        }
    }

    #[test]
    fn reversed_point_order_gives_the_same_flow_in_the_callers_order() {
        let section = naca4(0.02, 0.4, 0.12, 64);
        let (a, b) = (solve(&section, 3.0 * DEG).unwrap(), solve(&reversed(&section), 3.0 * DEG).unwrap());
        assert!((a.cl - b.cl).abs() < 1e-12 && (a.cm - b.cm).abs() < 1e-12);
        let n = a.cp.len();
        for k in 0..n {
            assert_eq!(a.cp[k], b.cp[n - 1 - k]);
            assert_eq!(a.midpoints[k], b.midpoints[n - 1 - k]);
        }
        assert!(b.midpoints[0][1] < 0.0, "the reversed outline starts on the lower surface");
    }

    #[test]
    fn lift_is_linear_in_the_free_stream_components() {
        // The flow is linear in (cos α, sin α): cl(α) + cl(−α) = 2 cl(0) cos α exactly, and
        // ≈ 2 cl(0) for small α.
        let section = naca4(0.02, 0.4, 0.12, 64);
        let cl = |deg: f64| cl_at_degrees(&section, deg).unwrap();
        let (plus, minus, zero) = (cl(2.0), cl(-2.0), cl(0.0));
        assert!((plus + minus - 2.0 * zero * (2.0 * DEG).cos()).abs() < 1e-9);
        assert!((plus + minus - 2.0 * zero).abs() < 1e-3 * plus.abs());
    }

    #[test]
    fn bad_outlines_are_refused_with_the_reason() {
        let section = naca4(0.0, 0.0, 0.12, 16);
        assert_eq!(solve(&section[..7], 0.0), Err(PanelError::TooFewPoints { got: 7 }));
        let mut nan = section.clone();
        nan[5][1] = f64::NAN;
        assert_eq!(solve(&nan, 0.0), Err(PanelError::NonFinite { index: Some(5) }));
        assert_eq!(solve(&section, f64::INFINITY), Err(PanelError::NonFinite { index: None }));
        let mut repeated = section.clone();
        repeated.insert(4, repeated[4]);
        assert_eq!(solve(&repeated, 0.0), Err(PanelError::ZeroLengthPanel { index: 4 }));
        assert!(PanelError::ZeroLengthPanel { index: 4 }.to_string().contains("points 4 and 5"));
    }

    #[test]
    fn results_and_errors_cross_threads() {
        fn is_send_sync<T: Send + Sync>() {}
        is_send_sync::<PanelResult>();
        is_send_sync::<PanelError>();
    }
}
