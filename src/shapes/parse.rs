//! Outlines from text: long CSV (`shape_id,x,y`), Selig/Lednicer airfoil `.dat` files and SVG
//! paths. Issues name the 1-based input line; nothing here checks geometry (see `validate`).

use super::{Point, Profile, ShapeIssue};
use std::collections::HashMap;

/// Most issues collected from one input before giving up.
pub const MAX_ISSUES: usize = 50;

/// The shape named by issues that belong to no one shape (a bad header, an empty file).
pub const INPUT: &str = "(input)";

/// Line segments each curve of an SVG path becomes.
pub const CURVE_SEGMENTS: usize = 16;

/// Lines of `text` with their 1-based numbers, without `\r` or a leading byte-order mark.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split('\n').enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// The fields of one CSV line, trimmed; a field may be "quoted", with `""` for a quote inside.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted field has no closing quote".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("unexpected '{c}' after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim().to_string());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field.trim().to_string());
        }
    }
}

/// A finite number, or why the text is not one.
fn number(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("'{text}' is not a finite number")),
        Err(_) if text.trim().is_empty() => Err("the value is empty".into()),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// Profiles from a long CSV: a header naming `shape_id`, `x` and `y` (any order, any case), then
/// one row per point, in order along each outline, each shape's rows together. Blank lines are
/// skipped. Returns up to `MAX_ISSUES` issues, each naming its line (and column).
pub fn long_csv(text: &str) -> Result<Vec<Profile>, Vec<ShapeIssue>> {
    let mut lines = numbered_lines(text).filter(|(_, l)| !l.trim().is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Err(vec![ShapeIssue::new(INPUT, "the CSV is empty; expected a header row naming shape_id, x, y")]);
    };
    let names = csv_fields(header).map_err(|e| vec![ShapeIssue::new(INPUT, e).at_line(header_line)])?;
    let names: Vec<String> = names.iter().map(|n| n.trim().to_lowercase()).collect();
    let column = |want: &str| names.iter().position(|n| n == want);
    let mut header_issues = Vec::new();
    let extra: Vec<String> =
        names.iter().filter(|n| !["shape_id", "x", "y"].contains(&n.as_str())).map(|n| format!("'{n}'")).collect();
    if !extra.is_empty() {
        let (noun, verb) = if extra.len() > 1 { ("columns", "are") } else { ("column", "is") };
        header_issues.push(format!(
            "{noun} {} {verb} not allowed: the outline CSV holds only shape_id, x, y; put attributes in a separate \
             CSV keyed by shape_id",
            extra.join(", ")
        ));
    }
    for want in ["shape_id", "x", "y"] {
        match names.iter().filter(|n| *n == want).count() {
            0 => header_issues.push(format!("the header names no '{want}' column; it must name shape_id, x and y")),
            1 => {}
            k => header_issues.push(format!("the header names '{want}' {k} times")),
        }
    }
    if !header_issues.is_empty() {
        return Err(header_issues.into_iter().map(|m| ShapeIssue::new(INPUT, m).at_line(header_line)).collect());
    }
    let (id_col, x_col, y_col) = (column("shape_id").unwrap(), column("x").unwrap(), column("y").unwrap());

    let mut profiles: Vec<Profile> = Vec::new();
    // Where each shape's rows began and ended, to name them when a shape comes back.
    let mut spans: HashMap<String, (usize, usize)> = HashMap::new();
    let mut issues: Vec<ShapeIssue> = Vec::new();
    for (line_no, line) in lines {
        if issues.len() >= MAX_ISSUES {
            break;
        }
        let fields = match csv_fields(line) {
            Ok(f) => f,
            Err(e) => {
                issues.push(ShapeIssue::new(INPUT, e).at_line(line_no));
                continue;
            }
        };
        if fields.len() != names.len() {
            let msg = format!("expected {} fields like the header, found {}", names.len(), fields.len());
            issues.push(ShapeIssue::new(INPUT, msg).at_line(line_no));
            continue;
        }
        let id = fields[id_col].as_str();
        if id.is_empty() {
            issues.push(ShapeIssue::new(INPUT, "column shape_id: the shape id is empty").at_line(line_no));
            continue;
        }
        let current = profiles.last().map(|p| p.id.as_str());
        if current != Some(id) {
            if let Some(&(first, last)) = spans.get(id) {
                let after = current.unwrap_or_default();
                let msg = format!(
                    "rows of shape '{id}' are not together: lines {first}-{last}, then again at line {line_no} after \
                     shape '{after}'; keep each shape's rows consecutive"
                );
                issues.push(ShapeIssue::new(id, msg).at_line(line_no));
            }
            profiles.push(Profile { id: id.to_string(), points: Vec::new() });
        }
        spans.entry(id.to_string()).and_modify(|s| s.1 = line_no).or_insert((line_no, line_no));
        let mut point = [0.0; 2];
        let mut ok = true;
        for (k, (col, name)) in [(x_col, "x"), (y_col, "y")].into_iter().enumerate() {
            match number(&fields[col]) {
                Ok(v) => point[k] = v,
                Err(e) => {
                    ok = false;
                    if issues.len() < MAX_ISSUES {
                        issues.push(ShapeIssue::new(id, format!("column {name}: {e}")).at_line(line_no));
                    }
                }
            }
        }
        if ok {
            profiles.last_mut().expect("pushed above").points.push(point);
        }
    }
    if issues.is_empty() && profiles.is_empty() {
        issues.push(ShapeIssue::new(INPUT, "the CSV has a header but no rows").at_line(header_line));
    }
    if issues.is_empty() {
        Ok(profiles)
    } else {
        Err(issues)
    }
}

/// The file name without its directory and extension.
fn file_stem(file_name: &str) -> &str {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match base.rfind('.') {
        Some(dot) if dot > 0 => &base[..dot],
        _ => base,
    }
}

/// The two numbers of a `.dat` line, separated by blanks or a comma.
fn two_numbers(line: &str) -> Result<Point, String> {
    let parts: Vec<&str> = line.split([' ', '\t', ',']).filter(|s| !s.is_empty()).collect();
    if parts.len() != 2 {
        return Err(format!("expected two numbers 'x y', found '{}'", line.trim()));
    }
    Ok([number(parts[0])?, number(parts[1])?])
}

/// A Lednicer counts line: two integral numbers above 1, e.g. "17. 17.".
fn counts(line: &str) -> Option<(usize, usize)> {
    let [a, b] = two_numbers(line).ok()?;
    let integral = |v: f64| v > 1.0 && v.fract() == 0.0 && v < 1e7;
    (integral(a) && integral(b)).then_some((a as usize, b as usize))
}

/// An airfoil from a Selig or Lednicer `.dat` file, in Selig order (trailing edge, upper surface,
/// leading edge, lower surface, trailing edge). The first line is the airfoil's name (a file that
/// starts with coordinates has none); Lednicer files are told by their counts line. The id is the
/// file name without directory and extension.
pub fn dat(file_name: &str, text: &str) -> Result<Profile, Vec<ShapeIssue>> {
    let id = file_stem(file_name).to_string();
    let mut lines = numbered_lines(text).filter(|(_, l)| !l.trim().is_empty()).peekable();
    let Some(&(first_no, first)) = lines.peek() else {
        return Err(vec![ShapeIssue::new(id, "the .dat file is empty")]);
    };
    if two_numbers(first).is_err() {
        lines.next(); // the name line
    }
    let lednicer = match lines.peek() {
        Some(&(no, l)) => counts(l).map(|c| (no, c)),
        None => return Err(vec![ShapeIssue::new(id, "the .dat file has a name but no coordinates").at_line(first_no)]),
    };
    if lednicer.is_some() {
        lines.next();
    }
    let mut points: Vec<(usize, Point)> = Vec::new();
    let mut issues = Vec::new();
    for (no, line) in lines {
        match two_numbers(line) {
            Ok(p) => points.push((no, p)),
            Err(e) if issues.len() < MAX_ISSUES => issues.push(ShapeIssue::new(&id, e).at_line(no)),
            Err(_) => break,
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let points: Vec<Point> = match lednicer {
        None => points.into_iter().map(|(_, p)| p).collect(),
        Some((no, (n_upper, n_lower))) => {
            if points.len() != n_upper + n_lower {
                let msg = format!(
                    "the Lednicer counts line says {n_upper} upper and {n_lower} lower points, but {} coordinate \
                     lines follow",
                    points.len()
                );
                return Err(vec![ShapeIssue::new(id, msg).at_line(no)]);
            }
            let (upper, lower) = points.split_at(n_upper);
            let mut selig: Vec<Point> = upper.iter().rev().map(|(_, p)| *p).collect();
            let skip = usize::from(lower[0].1 == upper[0].1);
            selig.extend(lower[skip..].iter().map(|(_, p)| *p));
            selig
        }
    };
    if points.is_empty() {
        return Err(vec![ShapeIssue::new(id, "the .dat file has no coordinates")]);
    }
    Ok(Profile { id, points })
}

/// One SVG tag: its name (with a leading '/' for an end tag), attributes, whether it closes
/// itself, and the line it starts on.
struct Tag {
    name: String,
    attributes: Vec<(String, String)>,
    self_closing: bool,
    line: usize,
}

impl Tag {
    fn get(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The tag's transform, as an attribute or in its CSS `style`.
    fn transform(&self) -> Option<&str> {
        self.get("transform").or_else(|| self.get("style").filter(|s| s.contains("transform")))
    }
}

/// Decodes the five predefined XML entities and numeric character references.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The tags of an SVG document in order, skipping comments, processing instructions, DOCTYPE and
/// CDATA. A simple scanner, not an XML parser: enough for the paths drawing programs write.
fn svg_tags(text: &str) -> Result<Vec<Tag>, ShapeIssue> {
    let line_at = |pos: usize| text[..pos].matches('\n').count() + 1;
    let mut tags = Vec::new();
    let mut pos = 0;
    while let Some(lt) = text[pos..].find('<').map(|i| pos + i) {
        let rest = &text[lt..];
        let skip_to = |end: &str| {
            rest.find(end)
                .map(|i| lt + i + end.len())
                .ok_or_else(|| ShapeIssue::new(INPUT, format!("'{end}' is missing")).at_line(line_at(lt)))
        };
        if rest.starts_with("<!--") {
            pos = skip_to("-->")?;
            continue;
        }
        if rest.starts_with("<![CDATA[") {
            pos = skip_to("]]>")?;
            continue;
        }
        if rest.starts_with("<?") || rest.starts_with("<!") {
            pos = skip_to(">")?;
            continue;
        }
        // Find the tag's end, stepping over quoted attribute values.
        let bytes = text.as_bytes();
        let mut i = lt + 1;
        let mut quote: Option<u8> = None;
        while i < bytes.len() {
            match (quote, bytes[i]) {
                (None, b'"' | b'\'') => quote = Some(bytes[i]),
                (Some(q), c) if c == q => quote = None,
                (None, b'>') => break,
                _ => {}
            }
            i += 1;
        }
        if i >= bytes.len() {
            return Err(ShapeIssue::new(INPUT, "a tag is not closed with '>'").at_line(line_at(lt)));
        }
        let inner = &text[lt + 1..i];
        pos = i + 1;
        let self_closing = inner.ends_with('/');
        let inner = inner.strip_suffix('/').unwrap_or(inner);
        let name_end = inner.find(|c: char| c.is_whitespace()).unwrap_or(inner.len());
        let name = inner[..name_end].to_string();
        let mut attributes = Vec::new();
        let mut rest = inner[name_end..].trim_start();
        while !rest.is_empty() {
            let eq = rest.find('=');
            let Some(eq) = eq else { break };
            let attr = rest[..eq].trim().to_string();
            let after = rest[eq + 1..].trim_start();
            let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                return Err(ShapeIssue::new(INPUT, format!("attribute '{attr}' of <{name}> is not quoted"))
                    .at_line(line_at(lt)));
            };
            let Some(close) = after[1..].find(q) else {
                return Err(ShapeIssue::new(INPUT, format!("attribute '{attr}' of <{name}> is not closed"))
                    .at_line(line_at(lt)));
            };
            attributes.push((attr, unescape(&after[1..1 + close])));
            rest = after[close + 2..].trim_start();
        }
        tags.push(Tag { name, attributes, self_closing, line: line_at(lt) });
    }
    Ok(tags)
}

/// Profiles from the `<path>` elements of an SVG document, one per path, id from the path's `id`
/// attribute or `path1`, `path2`, ... by position. Curves become `CURVE_SEGMENTS` line segments; y
/// is negated (SVG's y axis points down); a closed path (`Z`) ends with its first point again.
/// Refused: a path with more than one subpath, a `transform` on the path or an enclosing `<g>`,
/// arcs (`A`).
pub fn svg(text: &str) -> Result<Vec<Profile>, Vec<ShapeIssue>> {
    let tags = svg_tags(text).map_err(|e| vec![e])?;
    let mut profiles = Vec::new();
    let mut issues = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    // For each open <g>, whether it carries a transform.
    let mut groups: Vec<bool> = Vec::new();
    let mut count = 0;
    for tag in &tags {
        // The local name, so an `svg:path` is a path too.
        let end_tag = tag.name.starts_with('/');
        let local = tag.name.trim_start_matches('/').rsplit(':').next().unwrap_or_default();
        match (end_tag, local) {
            (false, "g") if !tag.self_closing => groups.push(tag.transform().is_some()),
            (true, "g") => {
                groups.pop();
            }
            (false, "path") => {
                count += 1;
                let id = tag.get("id").map(str::to_string).unwrap_or_else(|| format!("path{count}"));
                let issue = |m: String| ShapeIssue::new(&id, m).at_line(tag.line);
                if let Some(&line) = ids.get(&id) {
                    issues.push(issue(format!("the id '{id}' is used by the path on line {line} too")));
                }
                ids.insert(id.clone(), tag.line);
                if let Some(t) = tag.transform() {
                    issues.push(issue(format!(
                        "the path has a transform ({t}); apply the transform to the path (e.g. Inkscape's \
                         Path > Object to Path, or 'apply transforms' on export) and send it again"
                    )));
                    continue;
                }
                if groups.contains(&true) {
                    issues.push(issue(
                        "the path is inside a <g> with a transform; apply the transform to the path and send it \
                         again"
                            .to_string(),
                    ));
                    continue;
                }
                let Some(d) = tag.get("d") else {
                    issues.push(issue("the path has no 'd' attribute".to_string()));
                    continue;
                };
                match path_points(d) {
                    Ok(points) => profiles.push(Profile { id, points }),
                    Err(e) => issues.push(issue(e)),
                }
            }
            _ => {}
        }
        if issues.len() >= MAX_ISSUES {
            break;
        }
    }
    issues.truncate(MAX_ISSUES);
    if issues.is_empty() && profiles.is_empty() {
        issues.push(ShapeIssue::new(INPUT, "the SVG has no <path> elements"));
    }
    if issues.is_empty() {
        Ok(profiles)
    } else {
        Err(issues)
    }
}

/// Tokens of SVG path data: command letters and numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Token {
    Command(char),
    Number(f64),
}

/// Splits path data into tokens; numbers follow the SVG grammar, so "-1.5e-3" is one number and
/// ".5.5" two.
fn path_tokens(d: &str) -> Result<Vec<Token>, String> {
    let b = d.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() || c == b',' {
            i += 1;
        } else if c.is_ascii_alphabetic() && c != b'e' && c != b'E' {
            tokens.push(Token::Command(c as char));
            i += 1;
        } else if c.is_ascii_digit() || c == b'.' || c == b'-' || c == b'+' {
            let start = i;
            if c == b'-' || c == b'+' {
                i += 1;
            }
            let digits = |i: &mut usize| {
                let s = *i;
                while *i < b.len() && b[*i].is_ascii_digit() {
                    *i += 1;
                }
                *i > s
            };
            let mut any = digits(&mut i);
            if i < b.len() && b[i] == b'.' {
                i += 1;
                any |= digits(&mut i);
            }
            if !any {
                return Err(format!("path data: '{}' is not a number", &d[start..(i + 1).min(d.len())]));
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mark = i;
                i += 1;
                if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
                    i += 1;
                }
                if !digits(&mut i) {
                    i = mark;
                }
            }
            let v: f64 = d[start..i].parse().map_err(|_| format!("path data: '{}' is not a number", &d[start..i]))?;
            if !v.is_finite() {
                return Err(format!("path data: '{}' is not a finite number", &d[start..i]));
            }
            tokens.push(Token::Number(v));
        } else {
            let ch = d[i..].chars().next().unwrap_or('?');
            return Err(format!("path data: unexpected '{ch}'"));
        }
    }
    Ok(tokens)
}

/// Points along `t` in (0, 1] of a cubic Bézier from `p0`.
fn cubic(out: &mut Vec<Point>, p0: Point, c1: Point, c2: Point, p3: Point) {
    for k in 1..=CURVE_SEGMENTS {
        let t = k as f64 / CURVE_SEGMENTS as f64;
        let s = 1.0 - t;
        let (a, b, c, d) = (s * s * s, 3.0 * s * s * t, 3.0 * s * t * t, t * t * t);
        out.push([a * p0[0] + b * c1[0] + c * c2[0] + d * p3[0], a * p0[1] + b * c1[1] + c * c2[1] + d * p3[1]]);
    }
}

/// Points along `t` in (0, 1] of a quadratic Bézier from `p0`.
fn quadratic(out: &mut Vec<Point>, p0: Point, c: Point, p2: Point) {
    for k in 1..=CURVE_SEGMENTS {
        let t = k as f64 / CURVE_SEGMENTS as f64;
        let s = 1.0 - t;
        let (a, b, d) = (s * s, 2.0 * s * t, t * t);
        out.push([a * p0[0] + b * c[0] + d * p2[0], a * p0[1] + b * c[1] + d * p2[1]]);
    }
}

/// The points of one path's data, y negated; a closed path ends with its first point again.
fn path_points(d: &str) -> Result<Vec<Point>, String> {
    let tokens = path_tokens(d)?;
    let mut out: Vec<Point> = Vec::new();
    let mut i = 0;
    let mut cur = [0.0, 0.0];
    let mut command: Option<char> = None;
    // The second control point of the last C/S (or the control point of the last Q/T), for the
    // reflections of S and T.
    let mut last_cubic: Option<Point> = None;
    let mut last_quad: Option<Point> = None;
    let mut closed = false;
    while i < tokens.len() {
        let cmd = match tokens[i] {
            Token::Command(c) => {
                i += 1;
                c
            }
            Token::Number(_) => match command {
                // Coordinates after a moveto are implicit linetos.
                Some('M') => 'L',
                Some('m') => 'l',
                Some('Z' | 'z') => return Err("path data: numbers after Z (closepath)".into()),
                Some(c) => c,
                None => return Err("path data must start with a moveto (M or m)".into()),
            },
        };
        if out.is_empty() && cmd != 'M' && cmd != 'm' {
            return Err("path data must start with a moveto (M or m)".into());
        }
        if closed {
            return Err(format!("the path has more than one subpath ('{cmd}' after Z); send one outline per path"));
        }
        let arity = match cmd.to_ascii_uppercase() {
            'M' | 'L' | 'T' => 2,
            'H' | 'V' => 1,
            'C' => 6,
            'S' | 'Q' => 4,
            'Z' => 0,
            'A' => {
                return Err(
                    "arcs (A) are not supported; convert them to curves (e.g. Inkscape's Path > Object to Path)".into(),
                )
            }
            other => return Err(format!("path data: unknown command '{other}'")),
        };
        let mut args = [0.0; 6];
        for (k, arg) in args.iter_mut().enumerate().take(arity) {
            match tokens.get(i + k) {
                Some(Token::Number(v)) => *arg = *v,
                _ => return Err(format!("path data: '{cmd}' needs {arity} numbers")),
            }
        }
        i += arity;
        let relative = cmd.is_ascii_lowercase();
        let at = |x: f64, y: f64| if relative { [cur[0] + x, cur[1] + y] } else { [x, y] };
        let (mut next_cubic, mut next_quad) = (None, None);
        match cmd.to_ascii_uppercase() {
            'M' => {
                if !out.is_empty() {
                    return Err("the path has more than one subpath (a second M); send one outline per path".into());
                }
                // A relative first moveto is absolute (SVG 1.1 §8.3.2), and cur is (0, 0) here.
                cur = at(args[0], args[1]);
                out.push(cur);
            }
            'L' => {
                cur = at(args[0], args[1]);
                out.push(cur);
            }
            'H' => {
                cur = [if relative { cur[0] + args[0] } else { args[0] }, cur[1]];
                out.push(cur);
            }
            'V' => {
                cur = [cur[0], if relative { cur[1] + args[0] } else { args[0] }];
                out.push(cur);
            }
            'C' | 'S' => {
                let (c1, c2, end) = if cmd.eq_ignore_ascii_case(&'C') {
                    (at(args[0], args[1]), at(args[2], args[3]), at(args[4], args[5]))
                } else {
                    let c1 = last_cubic.map_or(cur, |c: Point| [2.0 * cur[0] - c[0], 2.0 * cur[1] - c[1]]);
                    (c1, at(args[0], args[1]), at(args[2], args[3]))
                };
                cubic(&mut out, cur, c1, c2, end);
                next_cubic = Some(c2);
                cur = end;
            }
            'Q' | 'T' => {
                let (c, end) = if cmd.eq_ignore_ascii_case(&'Q') {
                    (at(args[0], args[1]), at(args[2], args[3]))
                } else {
                    (last_quad.map_or(cur, |c: Point| [2.0 * cur[0] - c[0], 2.0 * cur[1] - c[1]]), at(args[0], args[1]))
                };
                quadratic(&mut out, cur, c, end);
                next_quad = Some(c);
                cur = end;
            }
            _ => closed = true,
        }
        last_cubic = next_cubic;
        last_quad = next_quad;
        command = Some(cmd);
    }
    if out.is_empty() {
        return Err("the path data is empty".into());
    }
    if closed {
        // A path drawn back to its start before Z ends there already, perhaps off by rounding.
        let diagonal = super::validate::diagonal(&out);
        let last = out[out.len() - 1];
        if out.len() > 1 && (last[0] - out[0][0]).hypot(last[1] - out[0][1]) <= 1e-9 * diagonal {
            out.pop();
        }
        out.push(out[0]);
    }
    Ok(out.into_iter().map(|[x, y]| [x, -y]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(issues: &[ShapeIssue]) -> Vec<String> {
        issues.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn long_csv_reads_shapes_in_any_column_order_with_crlf_quotes_and_blank_tail() {
        let text = "Y , X,Shape_ID\r\n0,0,a\r\n0,1,a\r\n1,1,\"a\"\r\n2,0,\"b, the second\"\r\n\r\n\r\n";
        let profiles = long_csv(text).unwrap();
        assert_eq!(profiles.len(), 2);
        assert_eq!(profiles[0], Profile { id: "a".into(), points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]] });
        assert_eq!(profiles[1], Profile { id: "b, the second".into(), points: vec![[0.0, 2.0]] });
    }

    #[test]
    fn long_csv_refuses_extra_and_missing_columns_naming_them() {
        let issues = long_csv("shape_id,x,y,camber,notes\na,0,0,1,\n").unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].line, Some(1));
        assert!(issues[0].message.contains("'camber', 'notes' are not allowed"), "{}", issues[0]);
        assert!(issues[0].message.contains("separate CSV"), "{}", issues[0]);
        let issues = long_csv("shape_id,x\na,0\n").unwrap_err();
        assert!(issues[0].message.contains("no 'y' column"), "{}", issues[0]);
    }

    #[test]
    fn long_csv_names_line_and_column_of_a_bad_number() {
        let mut text = String::from("shape_id,x,y\n");
        for i in 0..15 {
            text.push_str(&format!("a,{i},0\n"));
        }
        text.push_str("a,1,abc\n");
        let issues = long_csv(&text).unwrap_err();
        assert_eq!(messages(&issues), ["shape 'a', line 17: column y: 'abc' is not a number"]);
        let issues = long_csv("shape_id,x,y\na,inf,0\n").unwrap_err();
        assert!(issues[0].message.contains("column x: 'inf' is not a finite number"), "{}", issues[0]);
    }

    #[test]
    fn long_csv_refuses_a_shape_whose_rows_are_split() {
        let issues = long_csv("shape_id,x,y\na,0,0\na,1,0\nb,0,0\na,2,0\n").unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].line, Some(5));
        assert!(issues[0].message.contains("lines 2-3, then again at line 5 after shape 'b'"), "{}", issues[0]);
    }

    #[test]
    fn long_csv_refuses_empty_ids_wrong_field_counts_and_stops_at_50_issues() {
        let issues = long_csv("shape_id,x,y\n,0,0\na,0\n").unwrap_err();
        assert_eq!(issues.len(), 2);
        assert_eq!((issues[0].line, issues[1].line), (Some(2), Some(3)));
        assert!(issues[0].message.contains("empty"));
        assert!(issues[1].message.contains("expected 3 fields"), "{}", issues[1]);
        let text = "shape_id,x,y\n".to_string() + &"a,x,y\n".repeat(100);
        assert_eq!(long_csv(&text).unwrap_err().len(), MAX_ISSUES);
        assert!(long_csv("").is_err());
        assert!(long_csv("shape_id,x,y\n").unwrap_err()[0].message.contains("no rows"));
    }

    #[test]
    fn csv_fields_handle_quotes_and_empty_fields() {
        assert_eq!(csv_fields("a,,b").unwrap(), ["a", "", "b"]);
        assert_eq!(csv_fields("a,b,").unwrap(), ["a", "b", ""]);
        assert_eq!(csv_fields(" \"x \"\"y\"\"\" , 2").unwrap(), ["x \"y\"", "2"]);
        assert!(csv_fields("\"open,1").is_err());
    }

    #[test]
    fn committed_naca4_files_read_back_as_the_sections_that_made_them() {
        // data/naca4 was written by naca::family / naca::four_digit with six decimals (its README).
        use crate::shapes::{naca, validate};
        let close = |a: &[Point], b: &[Point]| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(p, q)| (p[0] - q[0]).abs() <= 5e-7 && (p[1] - q[1]).abs() <= 5e-7)
        };
        let lednicer = dat("naca4415.dat", include_str!("../../data/naca4/dat/naca4415.dat")).unwrap();
        assert!(close(&lednicer.points, &naca::four_digit(0.04, 0.4, 0.15, 41, false)));
        let selig = dat("naca2412.dat", include_str!("../../data/naca4/dat/naca2412.dat")).unwrap();
        assert!(close(&selig.points, &naca::four_digit(0.02, 0.4, 0.12, 41, false)));
        let profiles = long_csv(include_str!("../../data/naca4/profiles.csv")).unwrap();
        let attributes = include_str!("../../data/naca4/attributes.csv");
        assert_eq!(profiles.len() + 1, attributes.lines().count());
        for (p, row) in profiles.iter().zip(attributes.lines().skip(1)) {
            assert!(row.starts_with(&format!("{},", p.id)), "{row}");
            assert_eq!(validate::check(p, validate::Closure::Closed), vec![]);
        }
        let p = profiles.iter().find(|p| p.id == "naca6315").unwrap();
        assert!(close(&p.points, &naca::four_digit(0.06, 0.3, 0.15, naca::FAMILY_POINTS_PER_SIDE, true)));
    }

    const SELIG: &str = "NACA test\n1.0 0.001\n0.5 0.06\n0.0 0.0\n0.5 -0.06\n1.0 -0.001\n";

    #[test]
    fn dat_reads_selig_and_takes_the_id_from_the_file_stem() {
        let p = dat("some/dir/naca-test.v2.dat", SELIG).unwrap();
        assert_eq!(p.id, "naca-test.v2");
        assert_eq!(p.points, vec![[1.0, 0.001], [0.5, 0.06], [0.0, 0.0], [0.5, -0.06], [1.0, -0.001]]);
        // Without a name line, and with CRLF.
        let p = dat("c:\\foils\\x.dat", &SELIG.replace('\n', "\r\n")[11..]).unwrap();
        assert_eq!((p.id.as_str(), p.points.len()), ("x", 5));
    }

    #[test]
    fn dat_converts_lednicer_to_selig_without_repeating_the_leading_edge() {
        let text = "NACA test\n3. 3.\n\n0.0 0.0\n0.5 0.06\n1.0 0.001\n\n0.0 0.0\n0.5 -0.06\n1.0 -0.001\n";
        let p = dat("t.dat", text).unwrap();
        assert_eq!(p.points, dat("t.dat", SELIG).unwrap().points);
    }

    #[test]
    fn dat_names_the_line_of_bad_coordinates_and_wrong_counts() {
        let issues = dat("t.dat", "name\n1 0\n0.5 x\n0 0 0\n").unwrap_err();
        assert_eq!(
            messages(&issues),
            ["shape 't', line 3: 'x' is not a number", "shape 't', line 4: expected two numbers 'x y', found '0 0 0'"]
        );
        let issues = dat("t.dat", "name\n3. 3.\n0 0\n0.5 0.1\n1 0\n0 0\n1 0\n").unwrap_err();
        assert_eq!(issues[0].line, Some(2));
        assert!(issues[0].message.contains("3 upper and 3 lower points, but 5"), "{}", issues[0]);
    }

    #[test]
    fn svg_path_commands_absolute_relative_and_implicit() {
        // A 2 x 1 rectangle four ways; SVG y points down, so y comes back negated.
        let want = vec![[0.0, 0.0], [2.0, 0.0], [2.0, -1.0], [0.0, -1.0], [0.0, 0.0]];
        for d in ["M0,0 L2,0 L2,1 L0,1 Z", "m0 0 2 0 0 1 -2 0 z", "M0 0H2V1H0Z", "M0,0 h2 v1 h-2 L0,0 z"] {
            let svg_text = format!("<svg><path d=\"{d}\"/></svg>");
            let p = svg(&svg_text).unwrap();
            assert_eq!(p[0].points, want, "{d}");
            assert_eq!(p[0].id, "path1");
        }
    }

    #[test]
    fn svg_closed_path_drawn_back_to_its_start_ends_exactly_on_it_once() {
        // 0.1 + 0.2 - 0.3 is 5.6e-17, not 0: the relative path misses its start by rounding.
        let p = svg("<path d='M0 0 l0.1 0 l0.2 0 l-0.3 0.0 l0 -0.3 l0 0.3 z'/>").unwrap();
        let pts = &p[0].points;
        assert_eq!(pts.len(), 6, "{pts:?}");
        assert_eq!(pts[5], [0.0, 0.0]);
        assert_ne!(pts[4], [0.0, 0.0]);
    }

    #[test]
    fn svg_path_numbers_follow_the_svg_grammar() {
        let tokens = path_tokens("M.5.5-1.5e-3,2E2l1-1").unwrap();
        use Token::*;
        assert_eq!(
            tokens,
            [
                Command('M'),
                Number(0.5),
                Number(0.5),
                Number(-1.5e-3),
                Number(200.0),
                Command('l'),
                Number(1.0),
                Number(-1.0)
            ]
        );
    }

    #[test]
    fn svg_curves_are_flattened_into_16_segments_through_the_bezier_points() {
        // Cubic from (0,0) via (0,1), (1,1) to (1,0): at t = 1/2 the point is (0.5, 0.75).
        let p = svg("<path id='c' d='M0 0 C0 1 1 1 1 0'/>").unwrap();
        assert_eq!(p[0].id, "c");
        assert_eq!(p[0].points.len(), 1 + CURVE_SEGMENTS);
        assert_eq!(p[0].points[8], [0.5, -0.75]);
        // S reflects the previous control point: c 0,1 1,1 1,0 s 1,-1 1,0 ends at (2,0) with its
        // first control point (1,-1); at t = 1/2: 0.125·1 + 0.375·1 + 0.375·2 + 0.125·2 = 1.5, y = -0.75.
        let p = svg("<path d='M0 0 c0 1 1 1 1 0 s1 -1 1 0'/>").unwrap();
        assert_eq!(p[0].points.len(), 1 + 2 * CURVE_SEGMENTS);
        assert_eq!(p[0].points[24], [1.5, 0.75]);
        // Quadratic (0,0) (1,2) (2,0): at t = 1/2, (1, 1); T continues to (4,0) through (3,-1).
        let p = svg("<path d='M0 0 Q1 2 2 0 T4 0'/>").unwrap();
        assert_eq!(p[0].points[8], [1.0, -1.0]);
        assert_eq!(p[0].points[24], [3.0, 1.0]);
    }

    #[test]
    fn svg_refuses_subpaths_transforms_and_arcs_naming_the_path() {
        let text = "<svg>\n<path id=\"two\" d=\"M0 0 L1 0 L1 1 Z M2 2 L3 3\"/>\n<path id=\"t\" transform=\"scale(2)\" \
                    d=\"M0 0 L1 1\"/>\n<g transform='rotate(4)'><path id=\"g\" d=\"M0 0 L1 1\"/></g>\n<path \
                    d=\"M0 0 A1 1 0 0 1 2 0\"/></svg>";
        let issues = svg(text).unwrap_err();
        let got: Vec<(&str, Option<usize>)> = issues.iter().map(|i| (i.shape.as_str(), i.line)).collect();
        assert_eq!(got, [("two", Some(2)), ("t", Some(3)), ("g", Some(4)), ("path4", Some(5))]);
        assert!(issues[0].message.contains("more than one subpath"), "{}", issues[0]);
        assert!(issues[1].message.contains("transform (scale(2))"), "{}", issues[1]);
        assert!(issues[2].message.contains("<g> with a transform"), "{}", issues[2]);
        assert!(issues[3].message.contains("arcs"), "{}", issues[3]);
    }

    #[test]
    fn svg_skips_comments_and_reads_paths_outside_transformed_groups() {
        let text = "<?xml version='1.0'?><!-- <path d='M9 9'/> --><svg><g transform='x'></g>\
                    <svg:path id=\"a&amp;b\" d=\"M0 0 L1 0 L1 1\"/></svg>";
        let p = svg(text).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].id, "a&b");
        assert_eq!(p[0].points.len(), 3, "open path: no closing point added");
        assert!(svg("<svg></svg>").is_err());
    }
}
