//! Outlines drawn as one standalone SVG document: a grid of cells sharing one scale, so sizes
//! compare across cells. No scripts, no external fonts or stylesheets; y axis up.

use super::Point;
use std::fmt::Write;

/// Width of a cell, px.
const CELL_W: f64 = 160.0;
/// Padding around the outline inside a cell, px.
const PAD: f64 = 8.0;
/// Height of the label line under each outline, px.
const LABEL_H: f64 = 18.0;
/// Height of the title line above the grid, px.
const TITLE_H: f64 = 24.0;
/// Bounds on the outline area's height, px: airfoils get the minimum, tall shapes up to twice the width.
const PLOT_H_MIN: f64 = 76.0;
const PLOT_H_MAX: f64 = 2.0 * (CELL_W - 2.0 * PAD);
/// Labels longer than this are shortened on screen; the full text stays in the cell's tooltip.
const LABEL_MAX_CHARS: usize = 28;

const FILL: &str = "#dce8f5";
const STROKE: &str = "#1d3a5f";
const FILL_INVALID: &str = "#fde3e3";
const STROKE_INVALID: &str = "#c62828";

/// One outline to draw, its label, and whether it passed validation (invalid ones are drawn red).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub label: String,
    pub points: Vec<Point>,
    pub valid: bool,
}

/// Items in rows of `columns` cells, all at the scale that fits the largest bounding box.
pub fn grid(items: &[Item], columns: usize, title: &str) -> String {
    let columns = columns.max(1).min(items.len().max(1));
    let rows = items.len().div_ceil(columns);
    let finite: Vec<Vec<Point>> = items
        .iter()
        .map(|it| it.points.iter().copied().filter(|p| p[0].is_finite() && p[1].is_finite()).collect())
        .collect();
    let boxes: Vec<Option<[f64; 4]>> = finite.iter().map(|pts| bounding_box(pts)).collect();
    let (max_w, max_h) =
        boxes.iter().flatten().fold((0.0f64, 0.0f64), |(w, h), b| (w.max(b[2] - b[0]), h.max(b[3] - b[1])));

    let plot_w = CELL_W - 2.0 * PAD;
    let plot_h = if max_w > 0.0 { (plot_w * max_h / max_w).clamp(PLOT_H_MIN, PLOT_H_MAX) } else { PLOT_H_MIN };
    let scale = match (max_w > 0.0, max_h > 0.0) {
        (true, true) => (plot_w / max_w).min(plot_h / max_h),
        (true, false) => plot_w / max_w,
        (false, true) => plot_h / max_h,
        (false, false) => 1.0,
    };
    let cell_h = plot_h + 2.0 * PAD + LABEL_H;
    let width = CELL_W * columns as f64;
    let height = TITLE_H + cell_h * rows as f64;

    let title = escape(title);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{title}" font-family="sans-serif">"#,
        w = num(width),
        h = num(height),
    );
    let _ = write!(out, "\n<title>{title}</title>\n");
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="middle" font-size="13" fill="#222222">{title}</text>"##,
        num(width / 2.0),
        num(TITLE_H - 8.0)
    );
    for (i, item) in items.iter().enumerate() {
        let (x0, y0) = (CELL_W * (i % columns) as f64, TITLE_H + cell_h * (i / columns) as f64);
        let suffix = if item.valid { "" } else { " (invalid)" };
        let _ = write!(out, "<g><title>{}{suffix}</title>", escape(&item.label));
        if let Some(b) = boxes[i] {
            // Centre of the item's own box goes to the centre of the plot area; y flipped.
            let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
            let (px, py) = (x0 + CELL_W / 2.0, y0 + PAD + plot_h / 2.0);
            let mut d = String::new();
            for (k, p) in finite[i].iter().enumerate() {
                let sep = if k == 0 { "M" } else { "L" };
                let _ = write!(d, "{sep}{},{}", num(px + (p[0] - cx) * scale), num(py - (p[1] - cy) * scale));
            }
            d.push('Z');
            let style = if item.valid {
                format!(r#"fill="{FILL}" stroke="{STROKE}""#)
            } else {
                format!(r#"fill="{FILL_INVALID}" stroke="{STROKE_INVALID}" stroke-dasharray="4 3""#)
            };
            let _ = write!(out, r#"<path d="{d}" {style} stroke-width="1" stroke-linejoin="round"/>"#);
        }
        let colour = if item.valid { "#222222" } else { STROKE_INVALID };
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="{colour}">{}</text></g>"#,
            num(x0 + CELL_W / 2.0),
            num(y0 + 2.0 * PAD + plot_h + LABEL_H / 2.0),
            escape(&shorten(&item.label)) + suffix,
        );
    }
    out.push_str("</svg>\n");
    out
}

/// All items in one row: interpolation strips and latent traversals.
pub fn strip(items: &[Item], title: &str) -> String {
    grid(items, items.len(), title)
}

/// [x_min, y_min, x_max, y_max] of finite points; None when there are none.
fn bounding_box(points: &[Point]) -> Option<[f64; 4]> {
    let first = points.first()?;
    Some(points.iter().fold([first[0], first[1], first[0], first[1]], |b, p| {
        [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
    }))
}

/// A coordinate with at most two decimals and no trailing zeros, so documents stay compact;
/// an overflowed value (outlines spanning ±1e308) prints as 0 rather than an invalid "NaN".
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = format!("{v:.2}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= LABEL_MAX_CHARS {
        return label.to_string();
    }
    let mut s: String = label.chars().take(LABEL_MAX_CHARS - 1).collect();
    s.push('…');
    s
}

/// Text safe in XML content and attribute values; control characters XML 1.0 forbids are dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(side: f64) -> Vec<Point> {
        vec![[0.0, 0.0], [side, 0.0], [side, side], [0.0, side]]
    }

    fn item(label: &str, points: Vec<Point>, valid: bool) -> Item {
        Item { label: label.to_string(), points, valid }
    }

    /// Checks tags nest: every opening tag closes in order, self-closing tags stand alone.
    fn tags_balance(doc: &str) -> bool {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = doc;
        while let Some(start) = rest.find('<') {
            let Some(len) = rest[start..].find('>') else { return false };
            let tag = &rest[start + 1..start + len];
            rest = &rest[start + len + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name.trim()) {
                    return false;
                }
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
            }
        }
        stack.is_empty()
    }

    /// The x extent of each path's coordinates, in document order.
    fn path_widths(doc: &str) -> Vec<f64> {
        doc.split("<path d=\"")
            .skip(1)
            .map(|s| {
                let d = &s[..s.find('"').unwrap()];
                let xs: Vec<f64> = d
                    .split(['M', 'L', 'Z'])
                    .filter(|p| !p.is_empty())
                    .map(|p| p.split(',').next().unwrap().parse::<f64>().unwrap())
                    .collect();
                xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - xs.iter().cloned().fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    #[test]
    fn document_is_balanced_and_has_one_path_per_item_with_points() {
        let items = vec![
            item("a", square(1.0), true),
            item("empty", vec![], true),
            item("b", square(0.5), false),
            item("all nan", vec![[f64::NAN, 0.0]; 4], true),
            item("c", square(0.2), true),
        ];
        let doc = grid(&items, 2, "three squares");
        assert!(doc.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(doc.contains(r#"role="img" aria-label="three squares""#));
        assert!(doc.contains("<title>three squares</title>"));
        assert!(tags_balance(&doc), "unbalanced:\n{doc}");
        assert_eq!(doc.matches("<path").count(), 3);
        // Every label appears, including those of empty cells; 2 columns × 3 rows.
        for label in ["a", "empty", "b (invalid)", "all nan", "c"] {
            assert!(doc.contains(&format!(">{label}</text>")), "label {label}");
        }
        assert!(doc.contains(r#"viewBox="0 0 320 "#));
        assert!(!doc.contains("<script") && !doc.contains("href") && !doc.contains("@import"));
    }

    #[test]
    fn labels_and_title_are_xml_escaped() {
        let doc = grid(&[item("<script>alert('x') & \"y\"</script>", square(1.0), true)], 1, "a<b & 'c'");
        assert!(doc.contains("&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"), "{doc}");
        assert!(doc.contains("aria-label=\"a&lt;b &amp; &#39;c&#39;\""));
        assert!(!doc.contains("<script"));
        assert!(tags_balance(&doc));
    }

    #[test]
    fn invalid_item_is_red_dashed_and_labelled() {
        let doc = grid(&[item("ok", square(1.0), true), item("bad", square(1.0), false)], 2, "t");
        let paths: Vec<&str> = doc.split("<path").skip(1).map(|s| &s[..s.find("/>").unwrap()]).collect();
        assert!(!paths[0].contains("stroke-dasharray") && paths[0].contains(STROKE));
        assert!(paths[1].contains("stroke-dasharray") && paths[1].contains(&format!("stroke=\"{STROKE_INVALID}\"")));
        assert!(doc.contains(">bad (invalid)</text>"));
        // A long label is shortened on screen but keeps the marker; the tooltip has it whole.
        let long = "a very long label that will not fit in one cell";
        let doc = grid(&[item(long, square(1.0), false)], 1, "t");
        assert!(doc.contains("… (invalid)</text>") && doc.contains(&format!("<title>{long} (invalid)</title>")));
    }

    #[test]
    fn non_finite_points_are_skipped_not_printed() {
        let mut pts = square(1.0);
        pts.insert(2, [f64::NAN, 0.5]);
        pts.push([f64::INFINITY, f64::NEG_INFINITY]);
        let doc = strip(&[item("nan", pts, true), item("none", vec![[f64::NAN, f64::NAN]], true)], "nan");
        assert!(!doc.contains("NaN") && !doc.contains("inf"), "{doc}");
        assert_eq!(doc.matches("<path").count(), 1);
        assert_eq!(path_widths(&doc).len(), 1);
        // Finite but overflowing extents must not leak NaN either.
        let doc = grid(&[item("huge", vec![[-1e308, 0.0], [1e308, 1.0], [0.0, -1e308]], true)], 1, "t");
        assert!(!doc.contains("NaN") && !doc.contains("inf"));
    }

    #[test]
    fn all_cells_share_one_scale() {
        // A square of side 2 beside one of side 1 must be drawn exactly twice as wide, and the
        // larger fills the plot width (160 − 2·8 = 144 px) since it sets the scale.
        let doc = strip(&[item("small", square(1.0), true), item("big", square(2.0), true)], "scale");
        let w = path_widths(&doc);
        assert!((w[1] - 2.0 * w[0]).abs() < 0.02, "{w:?}");
        assert!((w[1] - 144.0).abs() < 0.01, "{w:?}");
    }

    #[test]
    fn coordinates_have_at_most_two_decimals_and_y_points_up() {
        let pts = vec![[0.0, 0.0], [1.0 / 3.0, 0.0], [1.0 / 3.0, 0.1234567]];
        let doc = grid(&[item("tri", pts, true)], 1, "t");
        let d = doc.split("<path d=\"").nth(1).unwrap();
        let d = &d[..d.find('"').unwrap()];
        for v in d.split(['M', 'L', 'Z', ',']).filter(|v| !v.is_empty()) {
            assert!(v.split('.').nth(1).map_or(0, str::len) <= 2, "{v} in {d}");
        }
        // The third point is higher in y, so lower on the page than the first two.
        let ys: Vec<f64> = d
            .split(['M', 'L', 'Z'])
            .filter(|p| !p.is_empty())
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(ys[2] < ys[0] && (ys[0] - ys[1]).abs() < 1e-9);
    }

    #[test]
    fn airfoil_like_cells_are_about_160_by_110() {
        // A 1 × 0.12 box gets the minimum plot height: 76 + 16 padding + 18 label = 110 px cells.
        let foil = vec![[1.0, 0.0], [0.3, 0.06], [0.0, 0.0], [0.3, -0.06]];
        let doc = grid(&[item("a", foil.clone(), true), item("b", foil, true)], 1, "t");
        assert!(doc.contains(r#"viewBox="0 0 160 244""#), "{}", &doc[..120]);
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(12.50), "12.5");
    }
}
