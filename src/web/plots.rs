//! SVG plots for the dashboard, drawn with `plotters`' SVG backend.
//!
//! Every public function is pure: data in, one `<svg>` element out, ready to be inlined in a page
//! (it carries `role="img"`, an `aria-label` and a `<title>` with the plot title). Nothing here
//! panics on bad input: non-finite values are dropped, degenerate ranges are widened, and when
//! nothing drawable is left the plot is replaced by a small "no data" panel of the same size.
//!
//! Text: plotters is built without a font backend, so labels are SVG `<text>` elements in the
//! generic `sans-serif` family, laid out by the browser. Plotters only *estimates* text widths
//! (a fixed width per byte), so legend boxes and label areas are sized approximately; labels are
//! shortened here so that they stay inside their areas. Plotters escapes every string it writes
//! (captions, axis names, tick labels, legend entries); the few strings written here by hand
//! (the `<title>`, the `aria-label`, the "no data" panel) go through [`escape`].
//!
//! Readability in greyscale: series take colours from a dark / mid / light palette and also
//! differ by dash pattern (lines) or marker shape (points), so no plot relies on hue alone.
//!
//! Axes: tick positions and labels are computed here (round numbers, decades for log axes, clock
//! times for timelines) by a small plotters coordinate type, [`Axis`], because plotters' own
//! choice prints float noise and gives no ticks at all for a log axis spanning less than a decade.

use std::error::Error;
use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One named series of (x, y) points.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub name: &'a str,
    pub points: &'a [(f64, f64)],
}

/// Default size of every plot, in pixels (the SVG also has a matching `viewBox`, so CSS such as
/// `max-width: 100%; height: auto` scales it).
const WIDTH: u32 = 720;
const HEIGHT: u32 = 360;

/// At most this many points are drawn per scatter group / timeline (evenly strided).
const MAX_SCATTER_POINTS: usize = 5_000;
/// At most this many scatter markers in all (each is ~90 bytes of SVG), shared between groups.
const MAX_SCATTER_TOTAL: usize = 12_000;
/// At most this many vertices per line series (evenly strided, last point kept).
const MAX_LINE_POINTS: usize = 4_000;
/// At most this many rows in a parallel-coordinates plot.
const MAX_PARALLEL_ROWS: usize = 2_000;
/// Upper bound on histogram bins, so a silly `bins` cannot produce a huge SVG.
const MAX_BINS: usize = 500;
/// At most this many bars in a bar chart (the first ones).
const MAX_BARS: usize = 200;

// Palette (Okabe-Ito-like): dark, mid, light first, so the first three series differ in greyscale
// too (CIE lightness L* about 25, 54 and 70). The next three (L* 19, 58, 61) repeat those levels
// and are told apart by dash pattern / marker shape instead.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x3a, 0x68), // dark navy
    RGBColor(0xd5, 0x5e, 0x00), // vermilion (mid)
    RGBColor(0x56, 0xb4, 0xe9), // sky blue (light)
    RGBColor(0x2e, 0x2e, 0x2e), // near black
    RGBColor(0x00, 0x9e, 0x73), // bluish green (mid)
    RGBColor(0xcc, 0x79, 0xa7), // reddish purple (light)
];
const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
const AXIS: RGBColor = RGBColor(0x55, 0x55, 0x55);
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const LIGHT_GREY: RGBColor = RGBColor(0xbb, 0xbb, 0xbb);

// Font sizes as given to plotters. Its SVG backend writes `font-size = size / 1.24`, so these
// come out as roughly 16 px (title), 12.9 px (axis names) and 12.1 px (ticks, legends).
const TITLE_SIZE: f64 = 20.0;
const DESC_SIZE: f64 = 16.0;
const LABEL_SIZE: f64 = 15.0;
/// Rough width of one character of a `LABEL_SIZE` label in the browser, for layout decisions.
const CHAR_PX: f64 = 7.0;
/// Height under the plot for the x tick labels and the x axis name.
const X_AREA: u32 = 46;

type DrawResult<T> = Result<T, Box<dyn Error>>;
/// The drawable series of a plot: (index in the input, which fixes its style; name; finite points).
type Kept<'a> = Vec<(usize, &'a str, Vec<(f64, f64)>)>;
/// Every cartesian plot here: two f64 axes whose ticks and labels are chosen by [`Axis`].
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;
type Root<'b> = DrawingArea<SVGBackend<'b>, Shift>;

// ---------------------------------------------------------------------------------------------
// Public plots
// ---------------------------------------------------------------------------------------------

/// Histogram of `values` in `bins` equal-width bins between their min and max; y is the count.
/// `bins == 0` picks a count by Sturges' rule; at most 500 bins are drawn.
pub fn histogram(values: &[f64], bins: usize, x_label: &str, title: &str) -> String {
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let Some((min, max)) = min_max(values.iter().copied()) else { return no_data(title) };
    let bins = if bins == 0 { ((values.len() as f64).log2().ceil() as usize + 1).max(1) } else { bins };
    let bins = bins.min(MAX_BINS);

    // Bin edges; a constant sample gets a single bin of width 1 centred on its value.
    let (lo, hi) = if max > min { (min, max) } else { (min - 0.5, max + 0.5) };
    let bins = if max > min { bins } else { 1 };
    let width = (hi - lo) / bins as f64;
    if !width.is_finite() || width <= 0.0 {
        return no_data(title);
    }
    let mut counts = vec![0usize; bins];
    for v in &values {
        // The maximum belongs to the last bin (closed on the right).
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0) as f64;

    let Some(x_axis) = Axis::linear(lo, hi, 0.0, false, 8) else { return no_data(title) };
    let Some(y_axis) = Axis::linear(0.0, top, 0.05, true, 6) else { return no_data(title) };
    render(title, |buf| {
        let root = canvas(buf)?;
        let mut chart = frame(&root, Some(title), &x_axis, &y_axis, x_label, "count", X_AREA, true)?;
        // Filled bars with a thin white outline separating neighbours.
        let fill = PALETTE[0].mix(0.75).filled();
        let bars = || {
            counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| {
                let x0 = lo + width * i as f64;
                [(x0, 0.0), (x0 + width, *c as f64)]
            })
        };
        chart.draw_series(bars().map(|corners| Rectangle::new(corners, fill)))?;
        chart.draw_series(bars().map(|corners| Rectangle::new(corners, WHITE.stroke_width(1))))?;
        root.present()?;
        Ok(())
    })
}

/// Bar chart of counts per category label (e.g. levels of a categorical column), in the given order;
/// long labels shortened with an ellipsis. Extra labels or counts (unequal lengths) are ignored;
/// non-finite counts are dropped. Many categories get vertical labels, and past ~45 categories only
/// every k-th label is printed. At most 200 bars: beyond, the first 200 are drawn and the x axis
/// name says "(first 200 of N)".
pub fn bars(labels: &[String], counts: &[f64], x_label: &str, y_label: &str, title: &str) -> String {
    let mut items: Vec<(&str, f64)> =
        labels.iter().zip(counts).filter(|(_, c)| c.is_finite()).map(|(l, c)| (l.as_str(), *c)).collect();
    if items.is_empty() {
        return no_data(title);
    }
    let x_label = if items.len() > MAX_BARS {
        let label = format!("{x_label} (first {MAX_BARS} of {})", items.len());
        items.truncate(MAX_BARS);
        label
    } else {
        x_label.to_string()
    };
    let n = items.len();
    let Some((min, max)) = min_max(items.iter().map(|(_, c)| *c)) else { return no_data(title) };
    let Some(y_axis) = Axis::linear(min.min(0.0), max.max(0.0), 0.05, true, 6) else { return no_data(title) };

    // Horizontal labels while they fit under their bar, otherwise vertical ones.
    let plot_px = (WIDTH - 100) as f64;
    let slot_chars = (plot_px / n as f64 / CHAR_PX).floor() as usize;
    let rotated = slot_chars < 6;
    let (max_chars, every) = if rotated { (16, n.div_ceil(45)) } else { (slot_chars.min(24), 1) };
    let short: Vec<String> = items.iter().map(|(l, _)| shorten(l, max_chars)).collect();

    // x: category i sits at x = i, bars are 0.7 wide.
    let ticks: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let tick_labels = if rotated { vec![String::new(); n] } else { short.clone() };
    let x_axis = Axis { range: -0.5..n as f64 - 0.5, ticks, labels: tick_labels };
    let longest = short.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let x_area = if rotated { 26 + (longest as f64 * CHAR_PX) as u32 } else { X_AREA };

    render(title, |buf| {
        let root = canvas(buf)?;
        let mut chart = frame(&root, Some(title), &x_axis, &y_axis, &x_label, y_label, x_area, false)?;
        let fill = PALETTE[0].mix(0.8).filled();
        chart.draw_series(
            items
                .iter()
                .enumerate()
                .map(|(i, (_, c))| Rectangle::new([(i as f64 - 0.35, 0.0), (i as f64 + 0.35, *c)], fill)),
        )?;
        if rotated {
            // Vertical labels reading upwards, ending just below the axis.
            let style = label_style().pos(Pos::new(HPos::Right, VPos::Center)).transform(FontTransform::Rotate270);
            let y0 = y_axis.range.start;
            for (i, text) in short.iter().enumerate().filter(|(i, _)| i % every == 0) {
                let (px, py) = chart.backend_coord(&(i as f64, y0));
                root.draw(&Text::new(text.as_str(), (px, py + 8), style.clone()))?;
            }
        }
        root.present()?;
        Ok(())
    })
}

/// Line chart of several series with a legend (e.g. train/validation/KL loss per epoch). `log_y` uses a
/// logarithmic y axis when every y is > 0 (else linear). Points are joined in the given order,
/// skipping non-finite ones (so a series sampled every few epochs is still a line); series with
/// at most 50 points also get markers; long series are strided to 4,000 vertices. The legend (of the
/// series with a non-empty name) goes in the corner of the plot where it hides the least.
pub fn lines(series: &[Series], x_label: &str, y_label: &str, title: &str, log_y: bool) -> String {
    let kept: Kept = series
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.name, stride(&finite(s.points), MAX_LINE_POINTS)))
        .filter(|(_, _, p)| !p.is_empty())
        .collect();
    let all = || kept.iter().flat_map(|(_, _, p)| p.iter().copied());
    let Some((x_min, x_max)) = min_max(all().map(|p| p.0)) else { return no_data(title) };
    let Some((y_min, y_max)) = min_max(all().map(|p| p.1)) else { return no_data(title) };
    let Some(x_axis) = Axis::linear(x_min, x_max, 0.02, false, 8) else { return no_data(title) };
    // On a log axis the data are drawn as log10(y).
    let log = log_y && y_min > 0.0;
    let y_axis = if log { Axis::log10(y_min, y_max) } else { Axis::linear(y_min, y_max, 0.05, false, 6) };
    let Some(y_axis) = y_axis else { return no_data(title) };
    let ty = |y: f64| if log { y.log10() } else { y };

    render(title, |buf| {
        let root = canvas(buf)?;
        let mut chart = frame(&root, Some(title), &x_axis, &y_axis, x_label, y_label, X_AREA, true)?;
        let mut occupied = Vec::new();
        let mut names = Vec::new();
        for (i, name, points) in &kept {
            let style = SeriesStyle::of(*i);
            let pts: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x, ty(y))).collect();
            let label = (!name.is_empty()).then(|| shorten(name, 32));
            names.extend(label.clone());
            style.draw_line(&mut chart, pts.clone(), label)?;
            if pts.len() <= 50 {
                style.draw_markers(&mut chart, &pts, 3, None)?;
            }
            trace(&chart, &pts, &mut occupied);
        }
        legend(
            &mut chart,
            &names,
            &occupied,
            &[Corner::UpperRight, Corner::LowerRight, Corner::UpperLeft, Corner::LowerLeft],
        )?;
        root.present()?;
        Ok(())
    })
}

/// Scatter plot of groups of points with a legend (e.g. a Pareto front vs dominated candidates, or a
/// latent map coloured by a label); at most 5,000 points drawn per group (evenly strided) so large
/// runs stay fast — and at most 12,000 in all, shared so that small groups keep all their points.
/// Points falling on the same pixel as an earlier point of their group are drawn once. Groups are
/// drawn in order, so put the group that matters most last. The legend goes in the emptiest corner.
pub fn scatter(groups: &[Series], x_label: &str, y_label: &str, title: &str) -> String {
    let kept: Kept = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (i, g.name, finite(g.points)))
        .filter(|(_, _, p)| !p.is_empty())
        .collect();
    let all = || kept.iter().flat_map(|(_, _, p)| p.iter().copied());
    let Some((x_min, x_max)) = min_max(all().map(|p| p.0)) else { return no_data(title) };
    let Some((y_min, y_max)) = min_max(all().map(|p| p.1)) else { return no_data(title) };
    let Some(x_axis) = Axis::linear(x_min, x_max, 0.04, false, 8) else { return no_data(title) };
    let Some(y_axis) = Axis::linear(y_min, y_max, 0.05, false, 6) else { return no_data(title) };
    let sizes: Vec<usize> = kept.iter().map(|(_, _, p)| p.len()).collect();
    let budgets = share(&sizes, MAX_SCATTER_POINTS, MAX_SCATTER_TOTAL);

    render(title, |buf| {
        let root = canvas(buf)?;
        let mut chart = frame(&root, Some(title), &x_axis, &y_axis, x_label, y_label, X_AREA, true)?;
        let mut occupied = Vec::new();
        let mut names = Vec::new();
        for ((i, name, points), budget) in kept.iter().zip(&budgets) {
            let style = SeriesStyle::of(*i);
            // Big groups: smaller markers, so dense regions stay readable.
            let size = if points.len() > 1_000 { 2 } else { 3 };
            let mut seen = std::collections::HashSet::new();
            let drawn: Vec<(f64, f64)> =
                stride(points, *budget).into_iter().filter(|p| seen.insert(chart.backend_coord(p))).collect();
            occupied.extend(seen);
            let label = (!name.is_empty()).then(|| shorten(name, 32));
            names.extend(label.clone());
            style.draw_markers(&mut chart, &drawn, size, label)?;
        }
        legend(
            &mut chart,
            &names,
            &occupied,
            &[Corner::UpperRight, Corner::UpperLeft, Corner::LowerRight, Corner::LowerLeft],
        )?;
        root.present()?;
        Ok(())
    })
}

/// Anomaly-score timeline: x = unix seconds (tick labels as HH:MM, or date when the span is > 2 days;
/// times are UTC, and the axis name says so and gives the date for short spans), y = score; points
/// above `threshold` drawn as anomalies (distinct marker), a dashed horizontal threshold line labelled
/// "threshold"; legend. The legend is a row between the title and the plot (a timeline has no empty
/// corner), and its threshold entry gives the value. Points are sorted by time; at most 5,000 points
/// of the score line and 5,000 anomalies are drawn. A non-finite threshold draws no line and marks
/// no anomalies.
pub fn timeline(points: &[(f64, f64)], threshold: f64, y_label: &str, title: &str) -> String {
    let mut pts = finite(points);
    if pts.is_empty() {
        return no_data(title);
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let has_threshold = threshold.is_finite();
    let Some((t_min, t_max)) = min_max(pts.iter().map(|p| p.0)) else { return no_data(title) };
    let Some((y_min, y_max)) = min_max(pts.iter().map(|p| p.1)) else { return no_data(title) };
    let (y_min, y_max) = if has_threshold { (y_min.min(threshold), y_max.max(threshold)) } else { (y_min, y_max) };
    let Some((x_axis, x_label)) = Axis::time(t_min, t_max) else { return no_data(title) };
    let Some(y_axis) = Axis::linear(y_min, y_max, 0.06, false, 6) else { return no_data(title) };

    let line = stride(&pts, MAX_SCATTER_POINTS);
    let all_anomalies: Vec<(f64, f64)> =
        if has_threshold { pts.iter().copied().filter(|p| p.1 > threshold).collect() } else { Vec::new() };
    let anomalies = stride(&all_anomalies, MAX_SCATTER_POINTS);

    render(title, |buf| {
        let root = canvas(buf)?;
        // Title, then a strip for the legend row, then the plot.
        let area = root.titled(&shorten(title, 80), title_style())?;
        let (strip, plot) = area.split_vertically(22);
        let mut chart = frame(&plot, None, &x_axis, &y_axis, &x_label, y_label, X_AREA, true)?;

        // The score: a thin dark line, with small dots while they do not clutter it.
        let score = PALETTE[0].stroke_width(1);
        chart.draw_series(LineSeries::new(line.iter().copied(), score))?;
        if line.len() <= 150 {
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 2, PALETTE[0].filled())))?;
        }
        let mut entries = vec![(Sample::Line(PALETTE[0].stroke_width(2)), "score".to_string())];

        if has_threshold {
            let (x0, x1) = (x_axis.range.start, x_axis.range.end);
            let dash = AXIS.stroke_width(2);
            chart.draw_series(DashedLineSeries::new(vec![(x0, threshold), (x1, threshold)], 8, 5, dash))?;
            entries.push((Sample::Dashed(dash), format!("threshold {}", fmt_value(threshold))));

            // Anomalies: vermilion triangles with a dark outline (a shape, not only a hue).
            let fill = PALETTE[1].filled();
            chart.draw_series(anomalies.iter().map(|&p| EmptyElement::at(p) + Polygon::new(triangle(), fill)))?;
            let mut outline = triangle();
            outline.push(outline[0]);
            let edge = TEXT.stroke_width(1);
            chart.draw_series(
                anomalies.iter().map(|&p| EmptyElement::at(p) + PathElement::new(outline.clone(), edge)),
            )?;
            if !all_anomalies.is_empty() {
                entries.push((Sample::Anomaly, format!("anomaly ({})", all_anomalies.len())));
            }
        }
        legend_row(&strip, &entries)?;
        root.present()?;
        Ok(())
    })
}

/// ROC or precision-recall style curve: `points` in [0,1]², a diagonal reference line when `diagonal`;
/// the area given is printed in the legend ("AUROC 0.912"). Points are joined in the given order; the
/// axes show [0, 1] (widened if some point lies outside). Legend: the area label (or "curve") and
/// "chance" for the diagonal, shown when there is an area label or a diagonal, in the emptiest
/// lower corner (else upper).
pub fn curve(
    points: &[(f64, f64)],
    x_label: &str,
    y_label: &str,
    title: &str,
    diagonal: bool,
    area_label: Option<&str>,
) -> String {
    let pts = stride(&finite(points), MAX_LINE_POINTS);
    if pts.is_empty() {
        return no_data(title);
    }
    let (x_min, x_max) = min_max(pts.iter().map(|p| p.0).chain([0.0, 1.0])).unwrap_or((0.0, 1.0));
    let (y_min, y_max) = min_max(pts.iter().map(|p| p.1).chain([0.0, 1.0])).unwrap_or((0.0, 1.0));
    let Some(x_axis) = Axis::linear(x_min, x_max, 0.02, false, 6) else { return no_data(title) };
    let Some(y_axis) = Axis::linear(y_min, y_max, 0.02, false, 6) else { return no_data(title) };

    render(title, |buf| {
        let root = canvas(buf)?;
        let mut chart = frame(&root, Some(title), &x_axis, &y_axis, x_label, y_label, X_AREA, true)?;
        let mut occupied = Vec::new();
        let diagonal_style = LIGHT_GREY.stroke_width(2);
        let diagonal_points = vec![(0.0, 0.0), (1.0, 1.0)];
        if diagonal {
            // Drawn first, under the curve; its legend entry is added after the curve's.
            chart.draw_series(DashedLineSeries::new(diagonal_points.clone(), 6, 4, diagonal_style))?;
            trace(&chart, &diagonal_points, &mut occupied);
        }
        let style = SeriesStyle::of(0);
        let label = area_label.map(|a| shorten(a, 40)).unwrap_or_else(|| "curve".to_string());
        let mut names = vec![label.clone()];
        style.draw_line(&mut chart, pts.clone(), Some(label))?;
        if pts.len() <= 2 {
            style.draw_markers(&mut chart, &pts, 4, None)?;
        }
        trace(&chart, &pts, &mut occupied);
        if diagonal {
            // An empty series that only carries the legend entry of the diagonal.
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                .label("chance")
                .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 20, y)], 6, 3, diagonal_style));
            names.push("chance".to_string());
        }
        if diagonal || area_label.is_some() {
            legend(
                &mut chart,
                &names,
                &occupied,
                &[Corner::LowerRight, Corner::LowerLeft, Corner::UpperLeft, Corner::UpperRight],
            )?;
        }
        root.present()?;
        Ok(())
    })
}

/// Parallel coordinates for more than two objectives: each row is a polyline across `axes` (each axis
/// scaled to its own min..max, axis names under the axes); at most 2,000 rows drawn; rows with
/// `highlight[i]` true drawn dark, others light. Rows with a non-finite value or fewer values than
/// axes are skipped; extra values are ignored; a missing `highlight[i]` counts as false. Highlighted
/// rows are kept first when rows are dropped, and are drawn on top. Each axis shows its max at the
/// top and its min at the bottom; a legend row gives the number of rows of each kind.
pub fn parallel(axes: &[String], rows: &[Vec<f64>], highlight: &[bool], title: &str) -> String {
    let k = axes.len();
    if k == 0 {
        return no_data(title);
    }
    let valid = |r: &Vec<f64>| r.len() >= k && r[..k].iter().all(|v| v.is_finite());
    let mut dark: Vec<&[f64]> = Vec::new();
    let mut light: Vec<&[f64]> = Vec::new();
    for (i, r) in rows.iter().enumerate().filter(|(_, r)| valid(r)) {
        if highlight.get(i).copied().unwrap_or(false) {
            dark.push(&r[..k])
        } else {
            light.push(&r[..k])
        }
    }
    if dark.is_empty() && light.is_empty() {
        return no_data(title);
    }
    // Each axis' own range, over every valid row (also the ones not drawn).
    let ranges: Vec<(f64, f64)> =
        (0..k).map(|j| min_max(dark.iter().chain(&light).map(|r| r[j])).unwrap_or((0.0, 1.0))).collect();
    let (n_dark, n_light) = (dark.len(), light.len());
    let dark = stride(&dark, MAX_PARALLEL_ROWS);
    let light = stride(&light, MAX_PARALLEL_ROWS - dark.len());

    render(title, |buf| {
        let root = canvas(buf)?;
        let area = root.titled(&shorten(title, 80), title_style())?;
        let (strip, area) = area.split_vertically(22);
        let (w, h) = area.dim_in_pixel();
        // Plot box inside the area (pixels): room for the max labels above, the min labels and
        // the axis names below, and for half an axis name on each side.
        let (left, right, top, bottom) = (60i32, w as i32 - 60, 20i32, h as i32 - 50);
        let spacing = if k > 1 { (right - left) as f64 / (k - 1) as f64 } else { 0.0 };
        let axis_x = |j: usize| if k > 1 { left + (spacing * j as f64).round() as i32 } else { (left + right) / 2 };
        let to_y = |j: usize, v: f64| {
            let (lo, hi) = ranges[j];
            // A constant axis puts every row in the middle.
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            bottom - ((bottom - top) as f64 * t).round() as i32
        };
        let polyline = |r: &[f64]| -> Vec<(i32, i32)> { (0..k).map(|j| (axis_x(j), to_y(j, r[j]))).collect() };

        // Light rows first (fainter when there are many), highlighted rows on top.
        let light_style = LIGHT_GREY.mix(if light.len() > 300 { 0.4 } else { 0.7 }).stroke_width(1);
        for r in &light {
            area.draw(&PathElement::new(polyline(r), light_style))?;
        }
        let dark_style = PALETTE[0].mix(0.9).stroke_width(2);
        for r in &dark {
            area.draw(&PathElement::new(polyline(r), dark_style))?;
        }

        // Axes with their max on top, min at the bottom and the name underneath.
        let name_chars = if k > 1 { ((spacing / CHAR_PX).floor() as usize).clamp(4, 24) } else { 40 };
        let above = label_style().pos(Pos::new(HPos::Center, VPos::Bottom));
        let below = label_style().pos(Pos::new(HPos::Center, VPos::Top));
        let name_style = desc_style().pos(Pos::new(HPos::Center, VPos::Top));
        for (j, name) in axes.iter().enumerate() {
            let x = axis_x(j);
            area.draw(&PathElement::new(vec![(x, top), (x, bottom)], AXIS.stroke_width(1)))?;
            let (lo, hi) = ranges[j];
            area.draw(&Text::new(fmt_value(hi), (x, top - 4), above.clone()))?;
            area.draw(&Text::new(fmt_value(lo), (x, bottom + 4), below.clone()))?;
            area.draw(&Text::new(shorten(name, name_chars), (x, bottom + 22), name_style.clone()))?;
        }

        // The legend row, when both kinds of rows are present.
        if n_dark > 0 && n_light > 0 {
            let entries = [
                (Sample::Line(dark_style), format!("highlighted ({n_dark})")),
                (Sample::Line(LIGHT_GREY.stroke_width(2)), format!("other ({n_light})")),
            ];
            legend_row(&strip, &entries)?;
        }
        root.present()?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Axes: ranges, tick positions and tick labels
// ---------------------------------------------------------------------------------------------

/// One axis: its drawn range, the tick positions and their labels (same length).
/// Positions are in drawing coordinates (log10 of the value on a log axis). It is a plotters
/// coordinate itself (see the `Ranged` impl below), so plotters draws exactly these ticks.
#[derive(Clone)]
struct Axis {
    range: Range<f64>,
    ticks: Vec<f64>,
    labels: Vec<String>,
}

impl Axis {
    /// A linear axis covering `min..max`, padded by `pad` of the span on each side (not below zero
    /// when `from_zero` and `min` is 0), with about `target` round-number ticks. `None` when the
    /// span overflows.
    fn linear(min: f64, max: f64, pad: f64, from_zero: bool, target: usize) -> Option<Axis> {
        let (min, max) = widen(min, max)?;
        let span = max - min;
        let lo = if from_zero && min == 0.0 { 0.0 } else { min - span * pad };
        let hi = max + span * pad;
        if !(hi - lo).is_finite() {
            return None;
        }
        let (ticks, step) = nice_ticks(lo, hi, target);
        let labels = format_ticks(&ticks, step);
        Some(Axis { range: lo..hi, ticks, labels })
    }

    /// A log10 axis for positive `min..max`: ticks at powers of ten over many decades, at 1, 2
    /// and 5 times them over a few, and at round linear values when that gives fewer than three
    /// ticks (data within about a decade).
    fn log10(min: f64, max: f64) -> Option<Axis> {
        let (a, b) = (min.log10(), max.log10());
        let pad = ((b - a) * 0.05).max(0.05);
        let (lo, hi) = (a - pad, b + pad);
        if !(hi - lo).is_finite() {
            return None;
        }
        let (first, last) = (lo.floor() as i32, hi.floor() as i32);
        let ticks: Vec<f64> = if last - first >= 4 {
            // Many decades: every power of ten, or every k-th one, about 7 ticks at most.
            let every = ((last - first) as usize).div_ceil(7);
            ((first + 1)..=last).step_by(every).map(f64::from).collect()
        } else {
            (first..=last)
                .flat_map(|e| [1.0f64, 2.0, 5.0].map(|m| f64::from(e) + m.log10()))
                .filter(|t| *t >= lo && *t <= hi)
                .collect()
        };
        if ticks.len() >= 3 {
            let labels = ticks.iter().map(|t| fmt_power(*t)).collect();
            return Some(Axis { range: lo..hi, ticks, labels });
        }
        // Within about a decade: round values in value space, placed at their logarithm.
        let (values, step) = nice_ticks(10f64.powf(lo), 10f64.powf(hi), 6);
        let values: Vec<f64> = values.into_iter().filter(|v| *v > 0.0).collect();
        let labels = format_ticks(&values, step);
        Some(Axis { range: lo..hi, ticks: values.iter().map(|v| v.log10()).collect(), labels })
    }

    /// A time axis for unix seconds `min..max` (UTC): ticks every round interval (minutes, hours,
    /// days...), labelled HH:MM (HH:MM:SS below a minute) or YYYY-MM-DD when the span exceeds two
    /// days. Also returns the axis name, with the date for spans of up to two days.
    fn time(min: f64, max: f64) -> Option<(Axis, String)> {
        // A single instant gets a one-hour window around it.
        let (min, max) = if max > min { (min, max) } else { (min - 1800.0, max + 1800.0) };
        let span = max - min;
        let lo = min - span * 0.02;
        let hi = max + span * 0.02;
        if !(hi - lo).is_finite() {
            return None;
        }
        const DAY: f64 = 86_400.0;
        const STEPS: [f64; 22] = [
            1.0,
            2.0,
            5.0,
            10.0,
            15.0,
            30.0,
            60.0,
            120.0,
            300.0,
            600.0,
            900.0,
            1800.0,
            3600.0,
            7200.0,
            10_800.0,
            21_600.0,
            43_200.0,
            DAY,
            2.0 * DAY,
            7.0 * DAY,
            14.0 * DAY,
            30.0 * DAY,
        ];
        let long = span > 2.0 * DAY;
        let step = STEPS
            .iter()
            .copied()
            .filter(|s| !long || *s >= DAY)
            .find(|s| span / s <= 7.0)
            // Beyond a few months: a round number of days.
            .unwrap_or_else(|| nice_step(span / 7.0 / DAY).max(1.0) * DAY);
        let format = if long {
            "%Y-%m-%d"
        } else if step < 60.0 {
            "%H:%M:%S"
        } else {
            "%H:%M"
        };
        let first = (lo / step).ceil();
        let n = ((hi / step).floor() - first).clamp(-1.0, 1000.0) as i64;
        let ticks: Vec<f64> = (0..=n).map(|i| (first + i as f64) * step).collect();
        let labels = ticks.iter().map(|t| fmt_time(*t, format)).collect();
        let name = if long {
            "time (UTC)".to_string()
        } else {
            let (d0, d1) = (fmt_time(min, "%Y-%m-%d"), fmt_time(max, "%Y-%m-%d"));
            if d0 == d1 {
                format!("time (UTC, {d0})")
            } else {
                format!("time (UTC, {d0} – {d1})")
            }
        };
        Some((Axis { range: lo..hi, ticks, labels }, name))
    }

    /// The label of the tick at `v` (plotters calls the formatter with exactly our tick values).
    fn label_at(&self, v: f64) -> String {
        let nearest =
            self.ticks.iter().enumerate().min_by(|a, b| (a.1 - v).abs().total_cmp(&(b.1 - v).abs())).map(|(i, _)| i);
        nearest.and_then(|i| self.labels.get(i)).cloned().unwrap_or_default()
    }

    /// Width in pixels of the widest tick label (approximate).
    fn label_px(&self) -> u32 {
        let chars = self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        (chars as f64 * CHAR_PX) as u32
    }
}

impl Ranged for Axis {
    type ValueType = f64;
    type FormatOption = NoDefaultFormatting;

    /// Linear map of `v` from the axis range onto the pixel range (as plotters' f64 axis does).
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let (lo, hi) = (self.range.start, self.range.end);
        let pixels = limit.1 - limit.0;
        if hi <= lo || pixels == 0 {
            return limit.0 + pixels / 2;
        }
        let t = ((v - lo) / (hi - lo)).clamp(-10.0, 10.0);
        limit.0 + (pixels as f64 * t).round() as i32
    }

    /// Our ticks for the labels and grid lines; no extra "light" grid lines.
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for Axis {
    fn format(v: &f64) -> String {
        fmt_value(*v)
    }

    fn format_ext(&self, v: &f64) -> String {
        self.label_at(*v)
    }
}

/// `min..max` widened when it is a single value (so that it can be drawn); `None` if not finite.
fn widen(min: f64, max: f64) -> Option<(f64, f64)> {
    if !min.is_finite() || !max.is_finite() {
        return None;
    }
    if max > min {
        return Some((min, max));
    }
    let d = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
    Some((min - d, max + d))
}

/// A round step (1, 2 or 5 times a power of ten) at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let f = raw / magnitude;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * magnitude
}

/// About `target` round ticks inside `lo..=hi`, and their step.
fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let step = nice_step((hi - lo) / target.max(1) as f64);
    // (A little tolerance keeps a tick that lands on an end despite rounding, e.g. 33 × 0.1.)
    let first = (lo / step - 1e-9).ceil();
    let last = (hi / step + 1e-9).floor();
    if !(first.is_finite() && last.is_finite()) || last < first || last - first > 1000.0 {
        return (Vec::new(), step);
    }
    let ticks = (0..=(last - first) as i64)
        .map(|i| (first + i as f64) * step)
        // Snap float noise around zero (e.g. -1e-17) to a clean 0.
        .map(|t| if t.abs() < step * 1e-9 { 0.0 } else { t })
        .collect();
    (ticks, step)
}

/// Tick labels with as many decimals as the step needs, or scientific notation for very large or
/// very small magnitudes.
fn format_ticks(ticks: &[f64], step: f64) -> Vec<String> {
    let biggest = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
    if biggest >= 1e6 || (biggest > 0.0 && biggest < 1e-3) {
        // Mantissa decimals: enough to tell ticks `step` apart at the largest magnitude.
        let exp = biggest.log10().floor();
        let d = decimals(step / 10f64.powf(exp));
        ticks.iter().map(|t| trim_mantissa(&format!("{:.*e}", d, t))).collect()
    } else {
        let d = decimals(step);
        ticks.iter().map(|t| format!("{:.*}", d, t)).collect()
    }
}

/// "1.50e6" -> "1.5e6", "2.0e6" -> "2e6".
fn trim_mantissa(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => format!("{}e{}", m.trim_end_matches('0').trim_end_matches('.'), e),
        _ => s.to_string(),
    }
}

/// Decimals needed to print multiples of `step` exactly (at most 10).
fn decimals(step: f64) -> usize {
    (0..=10)
        .find(|&d| {
            let s = step * 10f64.powi(d as i32);
            (s - s.round()).abs() < 1e-6 * s.abs().max(1.0)
        })
        .unwrap_or(10)
}

/// Label of a log-axis tick at log10 position `t` (1, 2 or 5 times a power of ten).
fn fmt_power(t: f64) -> String {
    let e = t.floor();
    let m = 10f64.powf(t - e).round();
    if (-3.0..=5.0).contains(&e) {
        format!("{:.*}", (-e).max(0.0) as usize, m * 10f64.powf(e))
    } else {
        format!("{m}e{e}")
    }
}

/// A single value for a label (threshold, axis ends): four significant digits, trailing zeros cut.
fn fmt_value(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let magnitude = v.abs().log10().floor();
    if !(-3.0..6.0).contains(&magnitude) {
        return format!("{v:.3e}");
    }
    let d = (3.0 - magnitude).max(0.0) as usize;
    let s = format!("{v:.d$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A unix time in UTC with a chrono format; the number itself when out of chrono's range.
fn fmt_time(t: f64, format: &str) -> String {
    match chrono::DateTime::from_timestamp(t.floor() as i64, 0) {
        Some(d) => d.format(format).to_string(),
        None => format!("{t}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Series styles: colour + dash pattern + marker shape
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Shape {
    Circle,
    Triangle,
    Square,
    Diamond,
    Ring,
    DownTriangle,
}

/// How series number `i` is drawn. Colour, dash and marker all change with `i`, so two series
/// never look alike even when printed in greyscale.
#[derive(Clone, Copy)]
struct SeriesStyle {
    colour: RGBColor,
    /// (dash, gap) in pixels; `None` is a solid line.
    dash: Option<(u32, u32)>,
    shape: Shape,
}

impl SeriesStyle {
    fn of(i: usize) -> SeriesStyle {
        const DASHES: [Option<(u32, u32)>; 4] = [None, Some((8, 4)), Some((2, 3)), Some((14, 4))];
        const SHAPES: [Shape; 6] =
            [Shape::Circle, Shape::Triangle, Shape::Square, Shape::Diamond, Shape::Ring, Shape::DownTriangle];
        SeriesStyle {
            colour: PALETTE[i % PALETTE.len()],
            dash: DASHES[i % DASHES.len()],
            shape: SHAPES[i % SHAPES.len()],
        }
    }

    fn line(&self) -> ShapeStyle {
        self.colour.stroke_width(2)
    }

    /// Draws the polyline through `points`; with `label`, adds a legend entry showing a
    /// 20-pixel sample of the line.
    fn draw_line<'a, 'b: 'a>(
        &self,
        chart: &mut Chart<'a, 'b>,
        points: Vec<(f64, f64)>,
        label: Option<String>,
    ) -> DrawResult<()> {
        let line = self.line();
        match self.dash {
            None => {
                let anno = chart.draw_series(LineSeries::new(points, line))?;
                if let Some(label) = label {
                    anno.label(label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line));
                }
            }
            Some((dash, gap)) => {
                let anno = chart.draw_series(DashedLineSeries::new(points, dash, gap, line))?;
                if let Some(label) = label {
                    // The short legend sample needs short dashes to show the pattern.
                    let dash = dash.min(6);
                    anno.label(label)
                        .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 20, y)], dash, gap, line));
                }
            }
        }
        Ok(())
    }

    /// Draws this series' marker (`size` pixels in radius) at every point; with `label`, adds a
    /// legend entry showing the marker.
    fn draw_markers<'a, 'b: 'a>(
        &self,
        chart: &mut Chart<'a, 'b>,
        points: &[(f64, f64)],
        size: i32,
        label: Option<String>,
    ) -> DrawResult<()> {
        let fill = self.colour.mix(0.85).filled();
        let stroke = self.colour.stroke_width(2);
        // Each shape is a different element type, hence one draw call per shape, written once
        // here: `$r => $element` builds the element centred on (0, 0) with radius `$r`.
        macro_rules! draw {
            ($r:ident => $element:expr) => {{
                let $r = size;
                let anno = chart.draw_series(points.iter().map(|&p| EmptyElement::at(p) + $element))?;
                if let Some(label) = label {
                    anno.label(label).legend(move |(x, y)| {
                        let $r = 4;
                        EmptyElement::at((x + 10, y)) + $element
                    });
                }
            }};
        }
        match self.shape {
            Shape::Circle => draw!(r => Circle::new((0, 0), r, fill)),
            Shape::Triangle => draw!(r => TriangleMarker::new((0, 0), r + 1, fill)),
            Shape::Square => draw!(r => Rectangle::new([(-r, -r), (r, r)], fill)),
            Shape::Diamond => draw!(r => Polygon::new(vec![(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)], fill)),
            Shape::Ring => draw!(r => Circle::new((0, 0), r, stroke)),
            Shape::DownTriangle => draw!(r => Polygon::new(vec![(0, r + 2), (-r - 1, -r + 1), (r + 1, -r + 1)], fill)),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing helpers
// ---------------------------------------------------------------------------------------------

fn label_style() -> TextStyle<'static> {
    ("sans-serif", LABEL_SIZE).into_font().color(&TEXT)
}

fn desc_style() -> TextStyle<'static> {
    ("sans-serif", DESC_SIZE).into_font().color(&TEXT)
}

fn title_style() -> TextStyle<'static> {
    ("sans-serif", TITLE_SIZE).into_font().style(FontStyle::Bold).color(&TEXT)
}

/// A white canvas of the default size drawing into `buf`.
fn canvas(buf: &mut String) -> DrawResult<Root<'_>> {
    let root = SVGBackend::with_string(buf, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    Ok(root)
}

/// Title (when `caption` is given), axes, grid, ticks and axis names on `area`; returns the chart
/// to draw series into. `x_area` is the height in pixels under the plot for the x tick labels and
/// the x name; `x_grid` draws vertical grid lines (horizontal ones are always drawn).
#[allow(clippy::too_many_arguments)]
fn frame<'a, 'b>(
    area: &'a Root<'b>,
    caption: Option<&str>,
    x: &Axis,
    y: &Axis,
    x_label: &str,
    y_label: &str,
    x_area: u32,
    x_grid: bool,
) -> DrawResult<Chart<'a, 'b>> {
    // Left area: y name (rotated) + tick labels + gap.
    let y_area = (y.label_px() + 34).clamp(48, 140);
    let mut builder = ChartBuilder::on(area);
    if let Some(title) = caption {
        builder.caption(shorten(title, 80), title_style());
    }
    let mut chart = builder
        .margin_top(8)
        .margin_left(8)
        .margin_bottom(8)
        // The right margin leaves room for half of the last x tick label.
        .margin_right(24)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x.clone(), y.clone())?;
    // Tick labels come from `Axis`' `ValueFormatter`.
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(GRID.stroke_width(1))
        .axis_style(AXIS.stroke_width(1))
        .label_style(label_style())
        .axis_desc_style(desc_style());
    if !x_grid {
        mesh.disable_x_mesh();
    }
    if !x_label.is_empty() {
        mesh.x_desc(shorten(x_label, 80));
    }
    if !y_label.is_empty() {
        mesh.y_desc(shorten(y_label, 40));
    }
    mesh.draw()?;
    Ok(chart)
}

/// A corner of the plot for the legend box.
#[derive(Clone, Copy)]
enum Corner {
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
}

/// Draws the legend box of the labelled series (`names`, for its size) in the corner of the plot
/// that covers the fewest `occupied` pixels (what was drawn), the first of `corners` on a tie.
/// Nothing when no series has a label.
fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    names: &[String],
    occupied: &[(i32, i32)],
    corners: &[Corner],
) -> DrawResult<()> {
    if names.is_empty() {
        return Ok(());
    }
    // The box plotters will draw, estimated: sample + margins + text, one line per name.
    let chars = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let (w, h) = (28 + 20 + (chars as f64 * CHAR_PX) as i32, 20 + 17 * names.len() as i32);
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let boxed = |corner: Corner| {
        let x0 = match corner {
            Corner::UpperLeft | Corner::LowerLeft => xs.start + 5,
            Corner::UpperRight | Corner::LowerRight => xs.end - 5 - w,
        };
        let y0 = match corner {
            Corner::UpperLeft | Corner::UpperRight => ys.start + 5,
            Corner::LowerLeft | Corner::LowerRight => ys.end - 5 - h,
        };
        // A few pixels of clearance around the box count too.
        occupied.iter().filter(|(x, y)| *x >= x0 - 4 && *x <= x0 + w + 4 && *y >= y0 - 4 && *y <= y0 + h + 4).count()
    };
    let mut best = corners.first().copied().unwrap_or(Corner::UpperRight);
    let mut best_count = usize::MAX;
    for &corner in corners {
        let count = boxed(corner);
        if count < best_count {
            (best, best_count) = (corner, count);
        }
    }
    let position = match best {
        Corner::UpperRight => SeriesLabelPosition::UpperRight,
        Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
        Corner::LowerRight => SeriesLabelPosition::LowerRight,
        Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
    };
    chart
        .configure_series_labels()
        .position(position)
        // Generous margins: plotters estimates text widths, and real fonts are often wider.
        .margin(10)
        .legend_area_size(28)
        .label_font(label_style())
        .background_style(WHITE.mix(0.85))
        .border_style(LIGHT_GREY)
        .draw()?;
    Ok(())
}

/// Appends the pixels along the polyline through `points` (every ~4 px) to `out`, for [`legend`].
fn trace(chart: &Chart, points: &[(f64, f64)], out: &mut Vec<(i32, i32)>) {
    let pixels: Vec<(i32, i32)> = points.iter().map(|p| chart.backend_coord(p)).collect();
    out.extend(pixels.first());
    for pair in pixels.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()) / 4).clamp(1, 500);
        out.extend((1..=steps).map(|s| (x0 + (x1 - x0) * s / steps, y0 + (y1 - y0) * s / steps)));
    }
}

/// What a [`legend_row`] entry shows before its text.
enum Sample {
    Line(ShapeStyle),
    Dashed(ShapeStyle),
    Anomaly,
}

/// The timeline's anomaly marker: an upward triangle around (0, 0) (pixels, relative).
fn triangle() -> Vec<(i32, i32)> {
    vec![(0, -7), (-6, 4), (6, 4)]
}

/// A legend in one row, right-aligned in `area` (a strip above the plot).
fn legend_row(area: &Root, entries: &[(Sample, String)]) -> DrawResult<()> {
    let (w, h) = area.dim_in_pixel();
    let widths: Vec<i32> = entries.iter().map(|(_, t)| 26 + (t.chars().count() as f64 * CHAR_PX) as i32 + 18).collect();
    let mut x = (w as i32 - 24 - widths.iter().sum::<i32>()).max(8);
    let y = h as i32 / 2;
    let text = label_style().pos(Pos::new(HPos::Left, VPos::Center));
    for ((sample, label), width) in entries.iter().zip(widths) {
        match sample {
            Sample::Line(style) => area.draw(&PathElement::new(vec![(x, y), (x + 20, y)], *style))?,
            Sample::Dashed(style) => area.draw(&DashedPathElement::new(vec![(x, y), (x + 20, y)], 6, 3, *style))?,
            Sample::Anomaly => {
                let at = EmptyElement::at((x + 10, y));
                area.draw(&(at + Polygon::new(triangle(), PALETTE[1].filled())))?;
                let mut outline = triangle();
                outline.push(outline[0]);
                area.draw(&(EmptyElement::at((x + 10, y)) + PathElement::new(outline, TEXT.stroke_width(1))))?;
            }
        }
        area.draw(&Text::new(label.as_str(), (x + 26, y), text.clone()))?;
        x += width;
    }
    Ok(())
}

/// Splits a budget of `total` items between groups of the given sizes, at most `each` per group:
/// small groups get all their items, the rest share what is left evenly.
fn share(sizes: &[usize], each: usize, total: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut left = total;
    let mut out = vec![0; sizes.len()];
    for (k, &i) in order.iter().enumerate() {
        out[i] = sizes[i].min(each).min(left / (sizes.len() - k));
        left -= out[i];
    }
    out
}

/// Runs a drawing function on a fresh buffer and finishes the SVG. Any drawing error — or, as a
/// last resort, a panic inside plotters — gives a "plot unavailable" panel instead.
fn render(title: &str, draw: impl FnOnce(&mut String) -> DrawResult<()>) -> String {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut buf = String::new();
        draw(&mut buf).map(|_| buf).map_err(|e| e.to_string())
    }));
    match result {
        Ok(Ok(svg)) => accessible(svg, title),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, title, "plot failed");
            message_svg(title, "plot unavailable")
        }
        Err(_) => message_svg(title, "plot unavailable"),
    }
}

/// Adds `role="img"`, `aria-label` and a `<title>` child to the root `<svg>` plotters wrote.
fn accessible(svg: String, title: &str) -> String {
    let label = escape(if title.is_empty() { "plot" } else { title });
    let Some(rest) = svg.strip_prefix("<svg") else { return svg };
    let Some(end) = rest.find('>') else { return svg };
    let mut out = String::with_capacity(svg.len() + 2 * label.len() + 64);
    out.push_str("<svg role=\"img\" aria-label=\"");
    out.push_str(&label);
    out.push('"');
    out.push_str(&rest[..=end]);
    out.push_str("\n<title>");
    out.push_str(&label);
    out.push_str("</title>");
    out.push_str(&rest[end + 1..]);
    out
}

/// The panel shown instead of a plot when there is nothing to draw.
fn no_data(title: &str) -> String {
    message_svg(title, "no data")
}

/// A plain panel of the default size with the title and a short message, written by hand.
fn message_svg(title: &str, message: &str) -> String {
    let label = escape(if title.is_empty() { "plot" } else { title });
    let shown = escape(&shorten(title, 80));
    let (w, h) = (WIDTH, HEIGHT);
    format!(
        concat!(
            "<svg role=\"img\" aria-label=\"{label}: {message}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" ",
            "xmlns=\"http://www.w3.org/2000/svg\">\n",
            "<title>{label}</title>\n",
            "<rect x=\"0.5\" y=\"0.5\" width=\"{w1}\" height=\"{h1}\" fill=\"#ffffff\" stroke=\"#dddddd\"/>\n",
            "<text x=\"{cx}\" y=\"28\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"16\" ",
            "font-weight=\"bold\" fill=\"#222222\">{shown}</text>\n",
            "<text x=\"{cx}\" y=\"{cy}\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"14\" ",
            "fill=\"#777777\">{message}</text>\n",
            "</svg>\n"
        ),
        label = label,
        message = escape(message),
        shown = shown,
        w = w,
        h = h,
        w1 = w - 1,
        h1 = h - 1,
        cx = w / 2,
        cy = h / 2,
    )
}

/// Escapes text for SVG/XML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to at most `max` characters, the last one an ellipsis when something was cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

// ---------------------------------------------------------------------------------------------
// Data helpers
// ---------------------------------------------------------------------------------------------

/// The points whose both coordinates are finite.
fn finite(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect()
}

/// Min and max of the finite values, `None` when there are none.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// At most `max` items, evenly spaced through `items` (first and last kept); all when fewer.
fn stride<T: Copy>(items: &[T], max: usize) -> Vec<T> {
    let n = items.len();
    if n <= max {
        return items.to_vec();
    }
    if max < 2 {
        return items.iter().take(max).copied().collect();
    }
    (0..max).map(|i| items[i * (n - 1) / (max - 1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes SVG samples to /tmp/plots, to look at; `None` unless GENFAB_PLOT_SAMPLES is set.
    pub(super) fn sample_writer() -> Option<impl Fn(&str, String)> {
        std::env::var_os("GENFAB_PLOT_SAMPLES")?;
        let dir = std::path::Path::new("/tmp/plots");
        std::fs::create_dir_all(dir).unwrap();
        Some(move |name: &str, svg: String| std::fs::write(dir.join(format!("{name}.svg")), svg).unwrap())
    }

    const NASTY: &str = r#"a<b & "c""#;
    const NASTY_ESCAPED: &str = "a&lt;b &amp; &quot;c&quot;";

    /// A well-formed plot: one root `<svg>` with the accessibility attributes and the title.
    fn check_svg(svg: &str, title: &str) {
        assert!(svg.starts_with("<svg"), "does not start with <svg: {}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"), "not closed");
        assert_eq!(svg.matches("<svg").count(), 1, "more than one <svg>");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains(&format!("aria-label=\"{}", escape(title))));
        assert!(svg.contains(&format!("<title>{}</title>", escape(title))));
    }

    /// `text` appears as the content of an SVG `<text>` element (escaped like plotters does).
    fn has_text(svg: &str, text: &str) -> bool {
        svg.contains(&format!(">\n{}\n</text>", escape(text))) || svg.contains(&format!(">{}</text>", escape(text)))
    }

    fn is_no_data(svg: &str) -> bool {
        svg.contains(">no data</text>")
    }

    fn sample_loss(n: usize, scale: f64) -> Vec<(f64, f64)> {
        (0..n).map(|i| (i as f64, scale * (1.0 + 4.0 * (-(i as f64) / 20.0).exp()))).collect()
    }

    #[test]
    fn histogram_basics_and_degenerate_input() {
        let values: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64 / 10.0).collect();
        let svg = histogram(&values, 20, "temperature [°C]", "Temperature");
        check_svg(&svg, "Temperature");
        assert!(has_text(&svg, "Temperature"), "title text");
        assert!(has_text(&svg, "temperature [°C]"), "x label");
        assert!(has_text(&svg, "count"), "y label");
        assert!(has_text(&svg, "0") && has_text(&svg, "10"), "tick labels");
        assert!(svg.contains("<rect"), "bars");

        let svg = histogram(&values, 10, NASTY, NASTY);
        check_svg(&svg, NASTY);
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));

        for (values, bins) in
            [(vec![], 10), (vec![f64::NAN, f64::NAN], 10), (vec![f64::INFINITY, f64::NEG_INFINITY], 5)]
        {
            let svg = histogram(&values, bins, "x", "Empty");
            check_svg(&svg, "Empty");
            assert!(is_no_data(&svg));
        }
        // A single value, a constant sample, zero bins, absurd bins, extreme magnitudes.
        for (values, bins) in [
            (vec![3.0], 10),
            (vec![2.5; 100], 10),
            (vec![1.0, 2.0, f64::NAN, 3.0], 0),
            (vec![1.0, 2.0], 1_000_000),
            (vec![-1e300, 1e300], 10),
            (vec![0.0, 1e-300], 10),
        ] {
            let svg = histogram(&values, bins, "x", "Odd");
            check_svg(&svg, "Odd");
        }
        // Bins are capped.
        let svg = histogram(&values, 1_000_000, "x", "Capped");
        assert!(svg.matches("<rect").count() <= 2 * MAX_BINS + 3);
    }

    #[test]
    fn bars_basics_and_degenerate_input() {
        let labels: Vec<String> =
            ["steel", "aluminium", "a very long category label indeed", NASTY].iter().map(|s| s.to_string()).collect();
        let svg = bars(&labels, &[10.0, 25.0, 3.0, 7.0], "material", "parts", "Materials");
        check_svg(&svg, "Materials");
        assert!(has_text(&svg, "material") && has_text(&svg, "parts") && has_text(&svg, "Materials"));
        assert!(has_text(&svg, "steel") && has_text(&svg, "aluminium"));
        assert!(svg.contains("a very long"), "shortened label kept its start");
        assert!(!svg.contains("a very long category label indeed"), "long label shortened");
        assert!(svg.contains('…'));
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));

        // Many categories: rotated labels, still every category drawn as a bar.
        let many: Vec<String> = (0..120).map(|i| format!("level-{i}")).collect();
        let counts: Vec<f64> = (0..120).map(|i| (i % 7) as f64).collect();
        let svg = bars(&many, &counts, "level", "n", "Many");
        check_svg(&svg, "Many");
        assert!(svg.contains("rotate(270"));
        assert!(has_text(&svg, "level-0"));
        // Too many categories: the first 200, said in the axis name.
        let lots: Vec<String> = (0..5000).map(|i| format!("id-{i}")).collect();
        let svg = bars(&lots, &vec![1.0; 5000], "part", "n", "Lots");
        assert!(has_text(&svg, "part (first 200 of 5000)"));
        assert!(svg.len() < 200_000, "{} bytes", svg.len());

        check_svg(&bars(&[], &[], "x", "y", "Empty"), "Empty");
        assert!(is_no_data(&bars(&[], &[], "x", "y", "Empty")));
        assert!(is_no_data(&bars(&labels, &[f64::NAN; 4], "x", "y", "NaN")));
        // Unequal lengths, a single bar, all zeros, negative counts.
        for counts in [vec![1.0], vec![0.0; 4], vec![-3.0, 2.0, f64::INFINITY, 1.0], vec![5.0; 10]] {
            let svg = bars(&labels, &counts, "x", "y", "Odd");
            check_svg(&svg, "Odd");
            assert!(!is_no_data(&svg));
        }
    }

    #[test]
    fn lines_basics_log_and_degenerate_input() {
        let train = sample_loss(100, 1.0);
        let val = sample_loss(100, 1.2);
        let kl: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 0.01 + i as f64 / 500.0)).collect();
        let series = [
            Series { name: "train", points: &train },
            Series { name: "validation", points: &val },
            Series { name: "KL", points: &kl },
        ];
        for log in [false, true] {
            let svg = lines(&series, "epoch", "loss", "Training loss", log);
            check_svg(&svg, "Training loss");
            for t in ["epoch", "loss", "Training loss", "train", "validation", "KL"] {
                assert!(has_text(&svg, t), "missing {t} (log={log})");
            }
        }
        // Log axis over three decades: powers of ten as tick labels.
        let svg = lines(&series, "epoch", "loss", "Log", true);
        assert!(has_text(&svg, "0.01") && has_text(&svg, "0.1") && has_text(&svg, "1"));
        // Log axis inside one decade still has ticks.
        let narrow: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 0.5 + i as f64 * 0.03)).collect();
        let svg = lines(&[Series { name: "n", points: &narrow }], "epoch", "loss", "Narrow", true);
        assert!(has_text(&svg, "0.6") && has_text(&svg, "0.7"), "{svg}");
        // log_y with a non-positive value falls back to linear.
        let with_zero = [(0.0, 0.0), (1.0, 1.0), (2.0, 4.0)];
        let svg = lines(&[Series { name: "z", points: &with_zero }], "x", "y", "Zero", true);
        check_svg(&svg, "Zero");
        assert!(has_text(&svg, "0"));

        let svg = lines(&[Series { name: NASTY, points: &train }], NASTY, NASTY, NASTY, false);
        check_svg(&svg, NASTY);
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));

        assert!(is_no_data(&lines(&[], "x", "y", "Empty", false)));
        let nan = [(f64::NAN, 1.0), (1.0, f64::NAN), (f64::INFINITY, 2.0)];
        assert!(is_no_data(&lines(&[Series { name: "nan", points: &nan }], "x", "y", "NaN", true)));
        let one = [(1.0, 2.0)];
        let constant: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0)).collect();
        let zeros: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 0.0)).collect();
        let same_x = [(5.0, 1.0), (5.0, 2.0)];
        for pts in [&one[..], &constant, &zeros, &same_x, &nan] {
            for log in [false, true] {
                let svg = lines(
                    &[Series { name: "s", points: pts }, Series { name: "t", points: &one }],
                    "x",
                    "y",
                    "Odd",
                    log,
                );
                check_svg(&svg, "Odd");
                assert!(!is_no_data(&svg));
            }
        }
        // Long series are strided.
        let long: Vec<(f64, f64)> = (0..200_000).map(|i| (i as f64, (i as f64).sin())).collect();
        let svg = lines(&[Series { name: "long", points: &long }], "x", "y", "Long", false);
        assert!(svg.len() < 400_000, "{} bytes", svg.len());
    }

    #[test]
    fn scatter_basics_size_and_degenerate_input() {
        let front: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 20.0 - i as f64)).collect();
        let dominated: Vec<(f64, f64)> = (0..200).map(|i| ((i % 20) as f64 + 1.0, (i / 10) as f64 + 5.0)).collect();
        let groups =
            [Series { name: "dominated", points: &dominated }, Series { name: "Pareto front", points: &front }];
        let svg = scatter(&groups, "cost", "defect rate", "Pareto front");
        check_svg(&svg, "Pareto front");
        for t in ["cost", "defect rate", "dominated", "Pareto front"] {
            assert!(has_text(&svg, t), "missing {t}");
        }
        let svg = scatter(&[Series { name: NASTY, points: &front }], NASTY, NASTY, NASTY);
        check_svg(&svg, NASTY);
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));

        // 100,000 points in one group, and 3 groups of 100,000: capped per group.
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let big: Vec<Vec<(f64, f64)>> = (0..3).map(|_| (0..100_000).map(|_| (next(), next())).collect()).collect();
        let svg = scatter(&[Series { name: "latent", points: &big[0] }], "z1", "z2", "Latent");
        check_svg(&svg, "Latent");
        assert!(svg.len() < 1_500_000, "{} bytes", svg.len());
        let groups: Vec<Series> =
            big.iter().enumerate().map(|(i, p)| Series { name: ["a", "b", "c"][i], points: p }).collect();
        let svg = scatter(&groups, "z1", "z2", "Latent by class");
        assert!(svg.len() < 1_500_000, "{} bytes", svg.len());

        assert!(is_no_data(&scatter(&[], "x", "y", "Empty")));
        let nan = [(f64::NAN, f64::NAN)];
        assert!(is_no_data(&scatter(&[Series { name: "n", points: &nan }], "x", "y", "NaN")));
        let one = [(0.0, 0.0)];
        let constant = [(1.0, 1.0); 50];
        for pts in [&one[..], &constant[..]] {
            let svg = scatter(&[Series { name: "s", points: pts }], "x", "y", "Odd");
            check_svg(&svg, "Odd");
            assert!(!is_no_data(&svg));
        }
        // Every marker shape renders (6 groups).
        let six: Vec<Series> = (0..6).map(|_| Series { name: "g", points: &front }).collect();
        check_svg(&scatter(&six, "x", "y", "Six"), "Six");
    }

    #[test]
    fn timeline_basics_and_degenerate_input() {
        let t0 = 1_714_550_400.0; // 2024-05-01 08:00 UTC
        let pts: Vec<(f64, f64)> = (0..300)
            .map(|i| (t0 + i as f64 * 60.0, if i % 50 == 7 { 0.95 } else { 0.2 + (i % 10) as f64 / 50.0 }))
            .collect();
        let svg = timeline(&pts, 0.8, "anomaly score", "Line 3 anomalies");
        check_svg(&svg, "Line 3 anomalies");
        for t in
            ["anomaly score", "Line 3 anomalies", "score", "threshold 0.8", "anomaly (6)", "time (UTC, 2024-05-01)"]
        {
            assert!(has_text(&svg, t), "missing {t}");
        }
        assert!(has_text(&svg, "09:00") || has_text(&svg, "10:00"), "HH:MM ticks");

        // A week: date ticks.
        let week: Vec<(f64, f64)> = (0..7 * 24).map(|i| (t0 + i as f64 * 3600.0, (i % 13) as f64)).collect();
        let svg = timeline(&week, 10.0, "score", "Week");
        assert!(has_text(&svg, "2024-05-03"), "date ticks");
        assert!(has_text(&svg, "time (UTC)"));

        let svg = timeline(&pts, 0.5, NASTY, NASTY);
        check_svg(&svg, NASTY);
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));

        assert!(is_no_data(&timeline(&[], 1.0, "s", "Empty")));
        assert!(is_no_data(&timeline(&[(f64::NAN, 1.0), (t0, f64::INFINITY)], 1.0, "s", "NaN")));
        for (pts, thr) in [
            (vec![(t0, 1.0)], 0.5),
            (vec![(t0, 1.0), (t0, 1.0)], f64::NAN),
            (vec![(t0, 1.0), (t0 + 10.0, 1.0)], 1.0),
            (vec![(0.0, 1.0), (1e12, 2.0)], 1.5),
            (vec![(-1e18, 1.0), (1e18, 2.0)], 1.5),
        ] {
            let svg = timeline(&pts, thr, "s", "Odd");
            check_svg(&svg, "Odd");
            assert!(!is_no_data(&svg));
        }
    }

    #[test]
    fn curve_basics_and_degenerate_input() {
        let roc: Vec<(f64, f64)> = (0..=50).map(|i| i as f64 / 50.0).map(|x| (x, x.powf(0.25))).collect();
        let svg = curve(&roc, "false positive rate", "true positive rate", "ROC", true, Some("AUROC 0.912"));
        check_svg(&svg, "ROC");
        for t in ["false positive rate", "true positive rate", "ROC", "AUROC 0.912", "chance", "0.0", "1.0"] {
            assert!(has_text(&svg, t), "missing {t}");
        }
        let svg = curve(&roc, "recall", "precision", "PR", false, None);
        check_svg(&svg, "PR");
        assert!(!has_text(&svg, "chance"));

        let svg = curve(&roc, NASTY, NASTY, NASTY, true, Some(NASTY));
        check_svg(&svg, NASTY);
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));

        assert!(is_no_data(&curve(&[], "x", "y", "Empty", true, None)));
        assert!(is_no_data(&curve(&[(f64::NAN, 0.5)], "x", "y", "NaN", true, None)));
        for pts in [vec![(0.5, 0.5)], vec![(0.0, 0.0), (1.0, 1.0)], vec![(0.3, 0.3); 5], vec![(-0.5, 2.0), (0.5, 0.5)]]
        {
            let svg = curve(&pts, "x", "y", "Odd", true, Some("AUROC 0.5"));
            check_svg(&svg, "Odd");
            assert!(!is_no_data(&svg));
        }
    }

    #[test]
    fn parallel_basics_and_degenerate_input() {
        let axes: Vec<String> = ["cost", "yield", "energy [kWh]", NASTY].iter().map(|s| s.to_string()).collect();
        let rows: Vec<Vec<f64>> =
            (0..3000).map(|i| vec![i as f64, (i % 17) as f64, ((i * 7) % 23) as f64 * 0.1, -(i as f64)]).collect();
        let highlight: Vec<bool> = (0..3000).map(|i| i % 100 == 0).collect();
        let svg = parallel(&axes, &rows, &highlight, "Objectives");
        check_svg(&svg, "Objectives");
        for t in ["cost", "yield", "energy [kWh]", "Objectives", "highlighted (30)", "other (2970)"] {
            assert!(has_text(&svg, t), "missing {t}");
        }
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));
        // At most 2,000 rows (+ axes, legend samples).
        assert!(svg.matches("<polyline").count() <= MAX_PARALLEL_ROWS + axes.len() + 2);

        assert!(is_no_data(&parallel(&[], &rows, &highlight, "No axes")));
        assert!(is_no_data(&parallel(&axes, &[], &[], "No rows")));
        assert!(is_no_data(&parallel(&axes, &[vec![f64::NAN; 4], vec![1.0]], &[], "Bad rows")));
        for rows in [vec![vec![1.0, 2.0, 3.0, 4.0]], vec![vec![1.0; 4]; 10], vec![vec![1.0, 2.0, 3.0, 4.0, 5.0]]] {
            let svg = parallel(&axes, &rows, &[true], "Odd");
            check_svg(&svg, "Odd");
            assert!(!is_no_data(&svg));
        }
        let svg = parallel(&axes[..1], &[vec![1.0], vec![2.0]], &[], "One axis");
        check_svg(&svg, "One axis");
    }

    #[test]
    fn helpers() {
        assert_eq!(escape(NASTY), NASTY_ESCAPED);
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
        assert_eq!(stride(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 4), vec![1, 4, 7, 10]);
        let (ticks, step) = nice_ticks(-0.05, 1.05, 6);
        assert_eq!(format_ticks(&ticks, step), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let (ticks, step) = nice_ticks(0.0, 3.0e7, 6);
        assert_eq!(format_ticks(&ticks, step)[1], "5e6");
        let labels = |a: Option<Axis>| a.map(|a| a.labels).unwrap_or_default();
        assert_eq!(labels(Axis::log10(0.2, 8.0)), ["0.2", "0.5", "1", "2", "5"]);
        assert_eq!(labels(Axis::log10(1e-6, 1e3)), ["1e-6", "1e-4", "0.01", "1", "100"]);
        assert_eq!(labels(Axis::log10(0.55, 0.85)), ["0.5", "0.6", "0.7", "0.8", "0.9"]);
        assert_eq!(labels(Axis::linear(3.0, 3.0, 0.0, false, 6)), ["2.7", "2.8", "2.9", "3.0", "3.1", "3.2", "3.3"]);
        assert_eq!(fmt_power(-2.0), "0.01");
        assert_eq!(fmt_power(3.0), "1000");
        assert_eq!(fmt_power(2.0f64.log10() + 1.0), "20");
        assert_eq!(fmt_power(-6.0), "1e-6");
        assert_eq!(fmt_value(0.8), "0.8");
        assert_eq!(fmt_value(1234.5678), "1235");
        assert!(no_data("t").starts_with("<svg"));
        assert_eq!(share(&[10, 100_000, 100_000, 100_000], 5_000, 12_000), [10, 3_996, 3_997, 3_997]);
        assert_eq!(share(&[100_000], 5_000, 12_000), [5_000]);
        assert_eq!(share(&[], 5_000, 12_000), Vec::<usize>::new());
    }

    /// Writes one sample of each plot to /tmp/plots when GENFAB_PLOT_SAMPLES is set, to look at.
    #[test]
    fn write_samples() {
        let Some(write) = sample_writer() else { return };

        let values: Vec<f64> =
            (0..2000).map(|i| 20.0 + 5.0 * ((i as f64) * 0.618).sin() * ((i as f64) * 0.1).cos()).collect();
        write("histogram", histogram(&values, 30, "temperature [°C]", "Oven temperature"));

        let labels: Vec<String> = ["steel", "aluminium", "titanium alloy grade 5", "PEEK", "a<b & \"c\""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        write("bars", bars(&labels, &[120.0, 85.0, 12.0, 40.0, 3.0], "material", "parts", "Parts per material"));
        let many: Vec<String> = (0..60).map(|i| format!("defect class {i}")).collect();
        let counts: Vec<f64> = (0..60).map(|i| ((i * 37) % 50) as f64).collect();
        write("bars_many", bars(&many, &counts, "defect class", "count", "Defects per class"));

        let train = sample_loss(100, 1.0);
        let val: Vec<(f64, f64)> = sample_loss(100, 1.15).into_iter().step_by(5).collect();
        let kl: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 0.02 + i as f64 / 400.0)).collect();
        let series = [
            Series { name: "train", points: &train },
            Series { name: "validation", points: &val },
            Series { name: "KL", points: &kl },
        ];
        write("lines", lines(&series, "epoch", "loss", "VAE training", false));
        write("lines_log", lines(&series, "epoch", "loss", "VAE training (log)", true));

        let front: Vec<(f64, f64)> = (0..25).map(|i| i as f64 / 24.0).map(|x| (x, (1.0 - x).powi(2))).collect();
        let dominated: Vec<(f64, f64)> = (0..400)
            .map(|i| ((i % 20) as f64 / 19.0, (1.0 - (i % 20) as f64 / 19.0).powi(2) + (i / 20) as f64 * 0.04 + 0.02))
            .collect();
        write(
            "scatter",
            scatter(
                &[Series { name: "dominated", points: &dominated }, Series { name: "Pareto front", points: &front }],
                "cost",
                "defect rate",
                "Design candidates",
            ),
        );
        let classes: Vec<Vec<(f64, f64)>> = (0..4)
            .map(|c| {
                (0..3000)
                    .map(|i| {
                        let a = i as f64 * 0.37 + c as f64;
                        let r = (i % 97) as f64 / 97.0;
                        (c as f64 * 2.0 + r * a.cos(), (c % 2) as f64 * 2.0 + r * a.sin())
                    })
                    .collect()
            })
            .collect();
        let names = ["ok", "scratch", "dent", "crack"];
        let groups: Vec<Series> = classes.iter().zip(names).map(|(p, n)| Series { name: n, points: p }).collect();
        write("scatter_latent", scatter(&groups, "z₁", "z₂", "Latent space by defect"));

        let t0 = 1_714_550_400.0;
        let pts: Vec<(f64, f64)> = (0..600)
            .map(|i| {
                let s = 0.3 + 0.1 * (i as f64 * 0.05).sin() + if i % 97 == 13 { 0.5 } else { 0.0 };
                (t0 + i as f64 * 60.0, s)
            })
            .collect();
        write("timeline", timeline(&pts, 0.6, "anomaly score", "Press 4: anomaly score"));
        let week: Vec<(f64, f64)> =
            (0..7 * 48).map(|i| (t0 + i as f64 * 1800.0, 0.3 + 0.2 * ((i as f64) * 0.3).sin().abs())).collect();
        write("timeline_week", timeline(&week, 0.45, "anomaly score", "Press 4: last week"));

        let roc: Vec<(f64, f64)> = (0..=100).map(|i| i as f64 / 100.0).map(|x| (x, x.powf(0.2))).collect();
        write("curve_roc", curve(&roc, "false positive rate", "true positive rate", "ROC", true, Some("AUROC 0.912")));
        let pr: Vec<(f64, f64)> = (0..=100).map(|i| i as f64 / 100.0).map(|r| (r, 1.0 - 0.6 * r.powi(3))).collect();
        write("curve_pr", curve(&pr, "recall", "precision", "Precision-recall", false, Some("AUPRC 0.850")));

        let axes: Vec<String> = ["cost [€]", "yield", "energy [kWh]", "cycle time [s]", "scrap rate"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rows: Vec<Vec<f64>> = (0..500)
            .map(|i| {
                let a = i as f64 * 0.13;
                vec![
                    100.0 + 50.0 * a.sin(),
                    0.9 + 0.05 * a.cos(),
                    20.0 + (i % 13) as f64,
                    30.0 + 10.0 * (a * 0.5).sin(),
                    0.01 * (i % 7) as f64,
                ]
            })
            .collect();
        let highlight: Vec<bool> = (0..500).map(|i| i % 40 == 0).collect();
        write("parallel", parallel(&axes, &rows, &highlight, "Objectives of 500 candidates"));

        write("no_data", histogram(&[], 10, "x", "Nothing here"));

        // Degenerate inputs, to check they still look sane.
        let one = [(3.0, 0.5)];
        write("edge_lines_single", lines(&[Series { name: "only", points: &one }], "epoch", "loss", "One point", true));
        let flat: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 2.0)).collect();
        write(
            "edge_lines_constant",
            lines(&[Series { name: "flat", points: &flat }], "epoch", "loss", "Constant", false),
        );
        let narrow: Vec<(f64, f64)> = (0..30).map(|i| (i as f64, 0.55 + 0.3 * (-(i as f64) / 8.0).exp())).collect();
        write(
            "edge_lines_log_narrow",
            lines(&[Series { name: "loss", points: &narrow }], "epoch", "loss", "Narrow log", true),
        );
        write("edge_histogram_constant", histogram(&[7.0; 50], 10, "value", "Constant sample"));
        write("edge_timeline_single", timeline(&[(1_714_550_400.0, 0.9)], 0.5, "score", "One score"));
        write("edge_scatter_big", scatter(&[Series { name: "", points: &classes[0] }], "z₁", "z₂", "Unlabelled"));
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic-data report plots: real against synthetic, and a matrix of differences
// ---------------------------------------------------------------------------------------------

/// At most this many rows and columns in a heat map (the first ones).
const MAX_HEAT_LABELS: usize = 60;
/// Fill order of grouped bars: dark, light, mid first, so two or three groups differ in greyscale.
const GROUP_FILLS: [usize; 6] = [0, 2, 1, 3, 5, 4];

/// Histograms of two samples on shared bins (a column in the real and in the synthetic rows): y is
/// the share of each sample's rows per bin, so samples of different sizes compare. The real sample
/// is drawn as light filled bars, the synthetic one as a dark outline on top, so the two read apart
/// in greyscale too; the legend gives each sample's row count. `bins == 0` picks a count by Sturges'
/// rule on the larger sample; at most 500 bins. Non-finite values are dropped; an empty sample is
/// left out (both empty: the "no data" panel).
pub fn overlaid_histogram(real: &[f64], synth: &[f64], bins: usize, x_label: &str, title: &str) -> String {
    let real: Vec<f64> = real.iter().copied().filter(|v| v.is_finite()).collect();
    let synth: Vec<f64> = synth.iter().copied().filter(|v| v.is_finite()).collect();
    let Some((min, max)) = min_max(real.iter().chain(&synth).copied()) else { return no_data(title) };
    let larger = real.len().max(synth.len());
    let bins = if bins == 0 { ((larger as f64).log2().ceil() as usize + 1).max(1) } else { bins };
    let bins = bins.min(MAX_BINS);
    // A constant sample gets a single bin of width 1 centred on its value (as `histogram`).
    let (lo, hi) = if max > min { (min, max) } else { (min - 0.5, max + 0.5) };
    let bins = if max > min { bins } else { 1 };
    let width = (hi - lo) / bins as f64;
    if !width.is_finite() || width <= 0.0 {
        return no_data(title);
    }
    let shares = |values: &[f64]| -> Vec<f64> {
        let mut counts = vec![0usize; bins];
        for v in values {
            counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
        }
        let n = values.len().max(1) as f64;
        counts.into_iter().map(|c| c as f64 / n).collect()
    };
    let (real_share, synth_share) = (shares(&real), shares(&synth));
    let top = real_share.iter().chain(&synth_share).copied().fold(0.0, f64::max);
    let Some(x_axis) = Axis::linear(lo, hi, 0.0, false, 8) else { return no_data(title) };
    let Some(y_axis) = Axis::linear(0.0, top, 0.05, true, 6) else { return no_data(title) };
    // The outline of a histogram: up and down the bin edges, from the axis back to the axis.
    let step = |share: &[f64]| -> Vec<(f64, f64)> {
        let mut pts = vec![(lo, 0.0)];
        for (i, s) in share.iter().enumerate() {
            let x0 = lo + width * i as f64;
            pts.extend([(x0, *s), (x0 + width, *s)]);
        }
        pts.push((hi, 0.0));
        pts
    };

    render(title, |buf| {
        let root = canvas(buf)?;
        let mut chart = frame(&root, Some(title), &x_axis, &y_axis, x_label, "share of rows", X_AREA, true)?;
        let mut occupied = Vec::new();
        let mut names = Vec::new();
        if !real.is_empty() {
            let fill = PALETTE[2].mix(0.6).filled();
            let bars = || {
                real_share.iter().enumerate().filter(|(_, s)| **s > 0.0).map(|(i, s)| {
                    let x0 = lo + width * i as f64;
                    [(x0, 0.0), (x0 + width, *s)]
                })
            };
            let name = format!("real ({} rows)", real.len());
            chart
                .draw_series(bars().map(|corners| Rectangle::new(corners, fill)))?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], fill));
            chart.draw_series(bars().map(|corners| Rectangle::new(corners, WHITE.stroke_width(1))))?;
            names.push(name);
            // The bars cover their whole area, not only their tops.
            for [(x0, _), (x1, s)] in bars() {
                let mid = (x0 + x1) / 2.0;
                trace(&chart, &[(mid, 0.0), (mid, s)], &mut occupied);
            }
            trace(&chart, &step(&real_share), &mut occupied);
        }
        if !synth.is_empty() {
            let line = PALETTE[0].stroke_width(2);
            let name = format!("synthetic ({} rows)", synth.len());
            let outline = step(&synth_share);
            chart
                .draw_series(LineSeries::new(outline.clone(), line))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line));
            names.push(name);
            trace(&chart, &outline, &mut occupied);
        }
        legend(
            &mut chart,
            &names,
            &occupied,
            &[Corner::UpperRight, Corner::UpperLeft, Corner::LowerRight, Corner::LowerLeft],
        )?;
        root.present()?;
        Ok(())
    })
}

/// Bars of several groups side by side per category (e.g. each level's share of the real and of
/// the synthetic rows), categories in the given order, long names shortened. Group `g` is
/// `(name, values)` with `values[i]` the bar of category `i`; missing or non-finite values draw no
/// bar. Groups differ in fill lightness (dark, light, mid for the first three) and have a legend.
/// Many categories get vertical labels (every k-th past ~45); at most 200 categories (the first,
/// said in the x axis name) and 6 groups are drawn.
pub fn grouped_bars(
    categories: &[String],
    groups: &[(&str, &[f64])],
    x_label: &str,
    y_label: &str,
    title: &str,
) -> String {
    let groups = &groups[..groups.len().min(GROUP_FILLS.len())];
    let value = |g: usize, i: usize| groups[g].1.get(i).copied().filter(|v| v.is_finite());
    let all = || (0..groups.len()).flat_map(|g| (0..categories.len()).filter_map(move |i| value(g, i)));
    let Some((min, max)) = min_max(all()) else { return no_data(title) };
    let n = categories.len().min(MAX_BARS);
    let x_label = if categories.len() > MAX_BARS {
        format!("{x_label} (first {MAX_BARS} of {})", categories.len())
    } else {
        x_label.to_string()
    };
    let Some(y_axis) = Axis::linear(min.min(0.0), max.max(0.0), 0.05, true, 6) else { return no_data(title) };

    // Horizontal labels while they fit under their category, otherwise vertical ones (as `bars`).
    let plot_px = (WIDTH - 100) as f64;
    let slot_chars = (plot_px / n as f64 / CHAR_PX).floor() as usize;
    let rotated = slot_chars < 6;
    let (max_chars, every) = if rotated { (16, n.div_ceil(45)) } else { (slot_chars.min(24), 1) };
    let short: Vec<String> = categories[..n].iter().map(|l| shorten(l, max_chars)).collect();
    let ticks: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let tick_labels = if rotated { vec![String::new(); n] } else { short.clone() };
    let x_axis = Axis { range: -0.5..n as f64 - 0.5, ticks, labels: tick_labels };
    let longest = short.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let x_area = if rotated { 26 + (longest as f64 * CHAR_PX) as u32 } else { X_AREA };
    let width = 0.8 / groups.len() as f64;

    render(title, |buf| {
        let root = canvas(buf)?;
        let mut chart = frame(&root, Some(title), &x_axis, &y_axis, &x_label, y_label, x_area, false)?;
        let mut occupied = Vec::new();
        let mut names = Vec::new();
        for (g, (name, _)) in groups.iter().enumerate() {
            let colour = PALETTE[GROUP_FILLS[g]];
            let fill = colour.mix(0.9).filled();
            let edge = colour.stroke_width(1);
            let corners: Vec<[(f64, f64); 2]> = (0..n)
                .filter_map(|i| {
                    let x0 = i as f64 - 0.4 + width * g as f64;
                    value(g, i).map(|v| [(x0, 0.0), (x0 + width, v)])
                })
                .collect();
            let anno = chart.draw_series(corners.iter().map(|c| Rectangle::new(*c, fill)))?;
            if !name.is_empty() {
                let label = shorten(name, 32);
                names.push(label.clone());
                anno.label(label).legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + Rectangle::new([(0, -6), (20, 6)], fill)
                        + Rectangle::new([(0, -6), (20, 6)], edge)
                });
            }
            // A thin outline in the bar's own colour keeps light bars visible on white.
            chart.draw_series(corners.iter().map(|c| Rectangle::new(*c, edge)))?;
            for [(x0, _), (x1, v)] in &corners {
                let mid = (x0 + x1) / 2.0;
                trace(&chart, &[(mid, 0.0), (mid, *v)], &mut occupied);
            }
        }
        if rotated {
            let style = label_style().pos(Pos::new(HPos::Right, VPos::Center)).transform(FontTransform::Rotate270);
            let y0 = y_axis.range.start;
            for (i, text) in short.iter().enumerate().filter(|(i, _)| i % every == 0) {
                let (px, py) = chart.backend_coord(&(i as f64, y0));
                root.draw(&Text::new(text.as_str(), (px, py + 8), style.clone()))?;
            }
        }
        legend(&mut chart, &names, &occupied, &[Corner::UpperRight, Corner::UpperLeft])?;
        root.present()?;
        Ok(())
    })
}

/// A square matrix as coloured cells (e.g. synthetic minus real correlation of every column pair),
/// `labels` naming both the rows (left) and the columns (below, vertical). `values[i][j]` is row
/// `i`, column `j`; a missing or non-finite value is a grey cell with a diagonal stroke ("n/a").
/// Values of both signs get a diverging scale symmetric about 0 (white at 0, dark blue above,
/// dark orange below); values all ≥ 0 a sequential one (white to dark blue). Either way the shade
/// darkens with the size of the value, so the plot reads in greyscale, and cells large enough show
/// the value itself (with its sign). A colour bar on the right names the scale (`value_label`).
/// At most 60 labels (the first ones); the plot grows with the number of labels.
pub fn heatmap(labels: &[String], values: &[Vec<f64>], title: &str, value_label: &str) -> String {
    let n = labels.len().min(MAX_HEAT_LABELS);
    let cell = |i: usize, j: usize| values.get(i).and_then(|r| r.get(j)).copied().filter(|v| v.is_finite());
    let present: Vec<f64> = (0..n).flat_map(|i| (0..n).filter_map(move |j| cell(i, j))).collect();
    let Some((min, max)) = min_max(present.iter().copied()) else { return no_data(title) };
    let diverging = min < 0.0;
    // The scale's end: the largest size seen (1 when every value is 0).
    let reach = if diverging { min.abs().max(max.abs()) } else { max };
    let reach = if reach > 0.0 { round_up(reach) } else { 1.0 };
    let any_missing = (0..n).any(|i| (0..n).any(|j| cell(i, j).is_none()));

    // Layout in pixels: names left and below, the matrix, the colour bar and its ticks on the right.
    let name_chars = labels[..n].iter().map(|l| l.chars().count()).max().unwrap_or(0).min(18);
    let names: Vec<String> = labels[..n].iter().map(|l| shorten(l, 18)).collect();
    let name_px = 14 + (name_chars as f64 * CHAR_PX) as i32;
    let size = ((560 / n.max(1)) as i32).clamp(8, 48);
    let side = size * n as i32;
    let (left, top) = (name_px + 8, 44);
    let bar_x = left + side + 24;
    let width = (bar_x + 110).max(360);
    let height = (top + side + name_px + 12).max(top + 200);
    // Names 16 px apart at least: every k-th one when the cells are smaller.
    let every = 16usize.div_ceil(size as usize).max(1);
    let show_values = size >= 36;

    let shade = |v: f64| -> RGBColor {
        let t = (v.abs() / reach).clamp(0.0, 1.0);
        let end = if v < 0.0 { HEAT_NEGATIVE } else { PALETTE[0] };
        let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
        RGBColor(mix(255, end.0), mix(255, end.1), mix(255, end.2))
    };
    // Two decimals, in short scientific form beyond; the sign always on a diverging scale.
    let text_of = |v: f64| {
        let size = v.abs();
        let body = if size == 0.0 || (0.005..1000.0).contains(&size) { format!("{size:.2}") } else { fmt_value(size) };
        match (v < 0.0, diverging) {
            (true, _) => format!("-{body}"),
            (false, true) => format!("+{body}"),
            (false, false) => body,
        }
    };

    render(title, |buf| {
        let root = SVGBackend::with_string(buf, (width as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE)?;
        root.draw(&Text::new(
            shorten(title, 80),
            (width / 2, 10),
            title_style().pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        let small = ("sans-serif", 12.0).into_font();
        for i in 0..n {
            for j in 0..n {
                let (x0, y0) = (left + size * j as i32, top + size * i as i32);
                let corners = [(x0, y0), (x0 + size, y0 + size)];
                match cell(i, j) {
                    Some(v) => {
                        root.draw(&Rectangle::new(corners, shade(v).filled()))?;
                        if show_values {
                            let dark = (v.abs() / reach) > 0.55;
                            let style = small
                                .clone()
                                .color(if dark { &WHITE } else { &TEXT })
                                .pos(Pos::new(HPos::Center, VPos::Center));
                            root.draw(&Text::new(text_of(v), (x0 + size / 2, y0 + size / 2), style))?;
                        }
                    }
                    None => {
                        root.draw(&Rectangle::new(corners, HEAT_MISSING.filled()))?;
                        let stroke = LIGHT_GREY.stroke_width(1);
                        root.draw(&PathElement::new(vec![(x0, y0 + size), (x0 + size, y0)], stroke))?;
                    }
                }
            }
        }
        // Thin white lines between the cells, and a frame around the matrix.
        if size >= 12 {
            for k in 1..n as i32 {
                let at = size * k;
                let white = WHITE.stroke_width(1);
                root.draw(&PathElement::new(vec![(left + at, top), (left + at, top + side)], white))?;
                root.draw(&PathElement::new(vec![(left, top + at), (left + side, top + at)], white))?;
            }
        }
        root.draw(&Rectangle::new([(left, top), (left + side, top + side)], AXIS.stroke_width(1)))?;

        // Row names left of the matrix, column names below it reading upwards.
        let row_style = label_style().pos(Pos::new(HPos::Right, VPos::Center));
        let col_style = label_style().pos(Pos::new(HPos::Right, VPos::Center)).transform(FontTransform::Rotate270);
        for (k, name) in names.iter().enumerate().filter(|(k, _)| k % every == 0) {
            let mid = size * k as i32 + size / 2;
            root.draw(&Text::new(name.as_str(), (left - 6, top + mid), row_style.clone()))?;
            root.draw(&Text::new(name.as_str(), (left + mid, top + side + 6), col_style.clone()))?;
        }

        // The colour bar: the scale from its low end (bottom) to its high end (top), with ticks.
        let bar_h = side.clamp(120, 320);
        let (lo, hi) = if diverging { (-reach, reach) } else { (0.0, reach) };
        let steps = 48;
        for s in 0..steps {
            let y1 = top + bar_h - bar_h * s / steps;
            let y0 = top + bar_h - bar_h * (s + 1) / steps;
            let v = lo + (hi - lo) * (s as f64 + 0.5) / steps as f64;
            root.draw(&Rectangle::new([(bar_x, y0), (bar_x + 16, y1)], shade(v).filled()))?;
        }
        root.draw(&Rectangle::new([(bar_x, top), (bar_x + 16, top + bar_h)], AXIS.stroke_width(1)))?;
        let tick_values: Vec<f64> =
            if diverging { vec![-reach, -reach / 2.0, 0.0, reach / 2.0, reach] } else { vec![0.0, reach / 2.0, reach] };
        let tick_style = label_style().pos(Pos::new(HPos::Left, VPos::Center));
        for v in tick_values {
            let y = top + bar_h - ((v - lo) / (hi - lo) * bar_h as f64).round() as i32;
            root.draw(&PathElement::new(vec![(bar_x + 16, y), (bar_x + 21, y)], AXIS.stroke_width(1)))?;
            let text = if diverging && v > 0.0 { format!("+{}", fmt_value(v)) } else { fmt_value(v) };
            root.draw(&Text::new(text, (bar_x + 24, y), tick_style.clone()))?;
        }
        let name_style = desc_style().pos(Pos::new(HPos::Center, VPos::Center)).transform(FontTransform::Rotate270);
        let name_chars = (bar_h as f64 / CHAR_PX) as usize;
        root.draw(&Text::new(shorten(value_label, name_chars), (bar_x + 92, top + bar_h / 2), name_style))?;
        if any_missing {
            let y = top + bar_h + 14;
            root.draw(&Rectangle::new([(bar_x, y), (bar_x + 16, y + 16)], HEAT_MISSING.filled()))?;
            root.draw(&PathElement::new(vec![(bar_x, y + 16), (bar_x + 16, y)], LIGHT_GREY.stroke_width(1)))?;
            root.draw(&Text::new("n/a", (bar_x + 24, y + 8), tick_style.clone()))?;
        }
        if labels.len() > n {
            let note = format!("the first {n} of {}", labels.len());
            root.draw(&Text::new(note, (left, top - 6), label_style().pos(Pos::new(HPos::Left, VPos::Bottom))))?;
        }
        root.present()?;
        Ok(())
    })
}

/// The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten that is at least `v` (> 0),
/// so that a colour bar ends on a round value; `v` itself when that overflows.
fn round_up(v: f64) -> f64 {
    let decade = 10f64.powf(v.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * decade)
        .find(|r| *r >= v * (1.0 - 1e-9))
        .filter(|r| r.is_finite())
        .unwrap_or(v)
}

/// The far negative end of a diverging heat map: a dark orange (CIE L* about 35).
const HEAT_NEGATIVE: RGBColor = RGBColor(0x8a, 0x3b, 0x00);
/// A heat-map cell without a value.
const HEAT_MISSING: RGBColor = RGBColor(0xf0, 0xf0, 0xf0);

#[cfg(test)]
mod report_plot_tests {
    use super::tests::sample_writer;
    use super::*;

    const NASTY: &str = r#"a<b & "c""#;
    const NASTY_ESCAPED: &str = "a&lt;b &amp; &quot;c&quot;";

    /// One root `<svg>` with the accessibility attributes, the title, and no NaN or infinity.
    fn check_svg(svg: &str, title: &str) {
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..svg.len().min(80)]);
        assert_eq!(svg.matches("<svg").count(), 1, "more than one <svg>");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains(&format!("<title>{}</title>", escape(title))));
        for bad in ["NaN", "inf\"", "=\"inf", "-inf"] {
            assert!(!svg.contains(bad), "the SVG holds {bad}");
        }
    }

    fn has_text(svg: &str, text: &str) -> bool {
        svg.contains(&format!(">\n{}\n</text>", escape(text))) || svg.contains(&format!(">{}</text>", escape(text)))
    }

    fn is_no_data(svg: &str) -> bool {
        svg.contains(">no data</text>")
    }

    #[test]
    fn overlaid_histogram_basics_and_degenerate_input() {
        let real: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64 / 10.0).collect();
        let synth: Vec<f64> = (0..400).map(|i| ((i * 13) % 89) as f64 / 9.0 + 0.5).collect();
        let svg = overlaid_histogram(&real, &synth, 20, "torque [Nm]", "Torque: real and synthetic");
        check_svg(&svg, "Torque: real and synthetic");
        for t in ["torque [Nm]", "share of rows", "real (1000 rows)", "synthetic (400 rows)"] {
            assert!(has_text(&svg, t), "missing {t}");
        }
        assert!(svg.contains("<polyline"), "the synthetic outline");
        let svg = overlaid_histogram(&real, &synth, 20, NASTY, NASTY);
        check_svg(&svg, NASTY);
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));

        for (a, b) in [(vec![], vec![]), (vec![f64::NAN], vec![f64::INFINITY, f64::NEG_INFINITY])] {
            let svg = overlaid_histogram(&a, &b, 10, "x", "Empty");
            check_svg(&svg, "Empty");
            assert!(is_no_data(&svg));
        }
        // One sample empty, constant samples, the same constant, zero and absurd bin counts.
        for (a, b, bins) in [
            (real.clone(), vec![], 10),
            (vec![], synth.clone(), 10),
            (vec![2.5; 50], vec![2.5; 20], 10),
            (vec![1.0; 50], vec![3.0; 20], 10),
            (vec![1.0, 2.0, f64::NAN], vec![1.5], 0),
            (vec![1.0, 2.0], vec![3.0], 1_000_000),
            (vec![-1e300], vec![1e300], 10),
        ] {
            let svg = overlaid_histogram(&a, &b, bins, "x", "Odd");
            check_svg(&svg, "Odd");
            assert!(!is_no_data(&svg));
        }
        let svg = overlaid_histogram(&[2.5; 50], &[], 10, "x", "Only real");
        assert!(has_text(&svg, "real (50 rows)") && !svg.contains("synthetic ("));
        assert!(
            overlaid_histogram(&real, &synth, 1_000_000, "x", "Capped").matches("<rect").count() <= 2 * MAX_BINS + 6
        );
    }

    #[test]
    fn grouped_bars_basics_and_degenerate_input() {
        let levels: Vec<String> = ["L", "M", "H", NASTY].iter().map(|s| s.to_string()).collect();
        let real = [0.6, 0.3, 0.1, 0.0];
        let synth = [0.55, 0.35, 0.08, 0.02];
        let svg = grouped_bars(&levels, &[("real", &real), ("synthetic", &synth)], "Type", "share of rows", "Type");
        check_svg(&svg, "Type");
        for t in ["Type", "share of rows", "real", "synthetic", "L", "M", "H"] {
            assert!(has_text(&svg, t), "missing {t}");
        }
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));
        // Two groups differ in lightness: the first two fills of the palette order.
        assert!(svg.contains("#1F3A68") || svg.contains("#1f3a68"), "dark fill");
        assert!(svg.contains("#56B4E9") || svg.contains("#56b4e9"), "light fill");

        // Many categories: vertical labels; too many: the first 200, said in the axis name.
        let many: Vec<String> = (0..120).map(|i| format!("level-{i}")).collect();
        let v: Vec<f64> = (0..120).map(|i| (i % 7) as f64).collect();
        let svg = grouped_bars(&many, &[("a", &v), ("b", &v)], "level", "n", "Many");
        check_svg(&svg, "Many");
        assert!(svg.contains("rotate(270") && has_text(&svg, "level-0"));
        let lots: Vec<String> = (0..5000).map(|i| format!("id-{i}")).collect();
        let ones = vec![1.0; 5000];
        let svg = grouped_bars(&lots, &[("a", &ones)], "part", "n", "Lots");
        assert!(has_text(&svg, "part (first 200 of 5000)"));

        assert!(is_no_data(&grouped_bars(&[], &[], "x", "y", "Empty")));
        assert!(is_no_data(&grouped_bars(&levels, &[], "x", "y", "No groups")));
        assert!(is_no_data(&grouped_bars(&levels, &[("a", &[f64::NAN; 4])], "x", "y", "NaN")));
        // Short or long value lists, zeros, negative and constant values, more groups than fills.
        let seven: Vec<(&str, &[f64])> = (0..7).map(|_| ("g", &real[..])).collect();
        for groups in [
            vec![("a", &[1.0][..])],
            vec![("a", &[0.0; 4][..]), ("b", &[0.0; 4][..])],
            vec![("a", &[-3.0, 2.0, f64::INFINITY, 1.0][..]), ("", &[5.0; 10][..])],
            seven,
        ] {
            let svg = grouped_bars(&levels, &groups, "x", "y", "Odd");
            check_svg(&svg, "Odd");
            assert!(!is_no_data(&svg));
        }
    }

    #[test]
    fn heatmap_basics_and_degenerate_input() {
        let names: Vec<String> = ["Air temperature [K]", "Process temperature [K]", "Torque [Nm]", NASTY]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let values = vec![
            vec![0.0, 0.12, -0.3, f64::NAN],
            vec![0.12, 0.0, 0.05, 0.4],
            vec![-0.3, 0.05, 0.0, -0.01],
            vec![f64::NAN, 0.4, -0.01, 0.0],
        ];
        let svg = heatmap(&names, &values, "Correlation difference", "synthetic − real");
        check_svg(&svg, "Correlation difference");
        for t in
            ["Torque [Nm]", "Correlation difference", "synthetic − real", "n/a", "-0.30", "+0.40", "+0.4", "-0.4", "0"]
        {
            assert!(has_text(&svg, t), "missing {t}");
        }
        assert!(svg.contains("rotate(270"), "column names read upwards");
        assert!(svg.contains(NASTY_ESCAPED) && !svg.contains(NASTY));
        assert!(has_text(&svg, "Air temperature […") || svg.contains("Air temperature"), "long names shortened");

        // Only non-negative values: a sequential scale from 0, no sign on the values.
        let positive = vec![vec![0.0, 0.5], vec![0.5, 1.0]];
        let two: Vec<String> = vec!["a".into(), "b".into()];
        let svg = heatmap(&two, &positive, "Sequential", "size");
        check_svg(&svg, "Sequential");
        assert!(has_text(&svg, "0.50") && !svg.contains("+0.5") && !has_text(&svg, "n/a"));

        assert!(is_no_data(&heatmap(&[], &[], "Empty", "v")));
        assert!(is_no_data(&heatmap(&two, &[], "No values", "v")));
        assert!(is_no_data(&heatmap(&two, &[vec![f64::NAN; 2], vec![f64::NAN; 2]], "NaN", "v")));
        // A single cell, all zeros, ragged rows, extreme values, many labels.
        let many: Vec<String> = (0..80).map(|i| format!("column {i}")).collect();
        let grid: Vec<Vec<f64>> = (0..80).map(|i| (0..80).map(|j| ((i * j) % 7) as f64 - 3.0).collect()).collect();
        for (labels, values) in [
            (two[..1].to_vec(), vec![vec![0.3]]),
            (two.clone(), vec![vec![0.0; 2]; 2]),
            (two.clone(), vec![vec![1.0]]),
            (two.clone(), vec![vec![-1e300, 1e300], vec![f64::INFINITY, 0.0]]),
            (many.clone(), grid.clone()),
        ] {
            let svg = heatmap(&labels, &values, "Odd", "v");
            check_svg(&svg, "Odd");
            assert!(!is_no_data(&svg));
        }
        // The colour bar ends on a round value.
        let svg = heatmap(&two, &[vec![0.0, 0.9558], vec![-0.2, 0.0]], "Round", "v");
        assert!(has_text(&svg, "+1") && has_text(&svg, "-0.5") && !svg.contains("0.9558"));
        for (v, up) in [(0.4, 0.4), (0.123, 0.15), (7.0, 8.0), (0.95, 1.0), (f64::MAX, f64::MAX)] {
            assert!((round_up(v) - up).abs() <= 1e-12 * up, "{v}: {}", round_up(v));
        }
        let svg = heatmap(&many, &grid, "Many", "v");
        assert!(has_text(&svg, "the first 60 of 80"));
        assert!(svg.len() < 600_000, "{} bytes", svg.len());
    }

    /// Writes the report plots to /tmp/plots when GENFAB_PLOT_SAMPLES is set, to look at.
    #[test]
    fn write_report_samples() {
        let Some(write) = sample_writer() else { return };
        let real: Vec<f64> =
            (0..2000).map(|i| 300.0 + 2.0 * ((i as f64) * 0.618).sin() * ((i as f64) * 0.1).cos()).collect();
        let synth: Vec<f64> = (0..700).map(|i| 300.3 + 1.7 * ((i as f64) * 0.418).sin()).collect();
        write(
            "overlaid_histogram",
            overlaid_histogram(&real, &synth, 30, "Air temperature [K]", "Air temperature [K]"),
        );
        let levels: Vec<String> = ["L", "M", "H"].iter().map(|s| s.to_string()).collect();
        write(
            "grouped_bars",
            grouped_bars(
                &levels,
                &[("real", &[0.6, 0.3, 0.1]), ("synthetic", &[0.5, 0.3, 0.2])],
                "Type",
                "share of rows",
                "Type",
            ),
        );
        let names: Vec<String> = [
            "Air temperature [K]",
            "Process temperature [K]",
            "Rotational speed [rpm]",
            "Torque [Nm]",
            "Tool wear [min]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let values: Vec<Vec<f64>> = (0..5)
            .map(|i| (0..5).map(|j| if i == j { 0.0 } else { ((i * 3 + j * 3) % 7) as f64 / 10.0 - 0.3 }).collect())
            .collect();
        write("heatmap", heatmap(&names, &values, "Correlation: synthetic − real", "synthetic − real"));
        let many: Vec<String> = (0..27).map(|i| format!("column {i}")).collect();
        let grid: Vec<Vec<f64>> =
            (0..27).map(|i| (0..27).map(|j| (((i * j) % 9) as f64 - 4.0) / 10.0).collect()).collect();
        write("heatmap_many", heatmap(&many, &grid, "27 columns", "synthetic − real"));
    }
}
