//! A family of profiles as one table: every outline checked, put in the common frame and
//! resampled, its attributes joined by `shape_id` (see [`super::layout`] for the columns).

use super::layout::{self, x_name, y_name};
use super::normalise::{self, Settings};
use super::validate::{self, Closure};
use super::{Profile, ShapeIssue};
use std::collections::{BTreeMap, HashMap};

/// Most issues reported at once.
pub const MAX_ISSUES: usize = 50;

/// How a family is read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    pub closure: Closure,
    pub settings: Settings,
}

/// The family as CSV text (header row) and what it holds.
#[derive(Debug)]
pub struct Built {
    pub csv: Vec<u8>,
    pub shapes: usize,
    pub attributes: Vec<String>,
}

/// Checks, normalises and resamples every profile and joins the attributes (a CSV with a
/// `shape_id` column); every problem found is returned, up to [`MAX_ISSUES`].
pub fn build(profiles: &[Profile], attributes: Option<&str>, opts: &Options) -> Result<Built, Vec<ShapeIssue>> {
    let mut issues = Vec::new();
    if profiles.is_empty() {
        return Err(vec![ShapeIssue::new("", "no profiles were given")]);
    }
    let mut seen = HashMap::new();
    for (i, p) in profiles.iter().enumerate() {
        if let Some(first) = seen.insert(p.id.as_str(), i) {
            issues.push(ShapeIssue::new(
                &p.id,
                format!("the id is used by two profiles (number {} and {}); ids must be unique", first + 1, i + 1),
            ));
        }
    }
    let mut frames = Vec::with_capacity(profiles.len());
    for p in profiles {
        let found = validate::check(p, opts.closure);
        if !found.is_empty() {
            issues.extend(found);
        } else {
            match normalise::apply(p, &opts.settings) {
                Ok(f) => frames.push(f),
                Err(e) => issues.push(e),
            }
        }
        if issues.len() >= MAX_ISSUES {
            break;
        }
    }
    let attrs = match attributes {
        Some(text) => match read_attributes(text, &seen) {
            Ok(a) => Some(a),
            Err(mut e) => {
                issues.append(&mut e);
                None
            }
        },
        None => None,
    };
    if !issues.is_empty() {
        issues.truncate(MAX_ISSUES);
        return Err(issues);
    }
    let (names, by_id) = attrs.unwrap_or_default();
    let n = opts.settings.points;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = vec![layout::ID.into()];
    header.extend(names.iter().cloned());
    header.extend(layout::TRANSFORM.iter().map(|s| s.to_string()));
    header.extend((0..n).map(x_name));
    header.extend((0..n).map(y_name));
    let io = |e: csv::Error| vec![ShapeIssue::new("", format!("could not write the table: {e}"))];
    w.write_record(&header).map_err(io)?;
    for (p, (pts, t)) in profiles.iter().zip(&frames) {
        let mut rec: Vec<String> = vec![p.id.clone()];
        match by_id.get(&p.id) {
            Some(values) => rec.extend(values.iter().cloned()),
            None => rec.extend(names.iter().map(|_| String::new())),
        }
        rec.extend([t.scale, t.rotation, t.origin[0], t.origin[1]].iter().map(f64::to_string));
        rec.extend(pts.iter().map(|q| q[0].to_string()));
        rec.extend(pts.iter().map(|q| q[1].to_string()));
        w.write_record(&rec).map_err(io)?;
    }
    let csv = w.into_inner().map_err(|e| vec![ShapeIssue::new("", format!("could not write the table: {e}"))])?;
    Ok(Built { csv, shapes: profiles.len(), attributes: names })
}

type Attributes = (Vec<String>, BTreeMap<String, Vec<String>>);

/// The attribute columns (without `shape_id`) and each shape's values.
fn read_attributes(text: &str, ids: &HashMap<&str, usize>) -> Result<Attributes, Vec<ShapeIssue>> {
    let issue = |line: usize, m: String| ShapeIssue::new("attributes", m).at_line(line);
    let mut r = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .map_err(|e| vec![issue(1, format!("the header is not CSV: {e}"))])?
        .iter()
        .map(String::from)
        .collect();
    let Some(key) = header.iter().position(|h| h == layout::ID) else {
        return Err(vec![issue(1, format!("the attributes need a '{}' column to join on", layout::ID))]);
    };
    let mut issues = Vec::new();
    let mut names = Vec::new();
    for (j, h) in header.iter().enumerate() {
        if j == key {
            continue;
        }
        if h.is_empty() {
            issues.push(issue(1, format!("column {} has no name", j + 1)));
        } else if layout::reserved(h) {
            issues.push(issue(1, format!("column '{h}' is a name genfab writes itself (shape_id, scale, rotation, origin_x, origin_y, x000.., y000..); rename it")));
        } else if names.contains(h) {
            issues.push(issue(1, format!("column '{h}' appears twice")));
        } else {
            names.push(h.clone());
        }
    }
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rec in r.records() {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                issues.push(issue(line, format!("not CSV: {e}")));
                break;
            }
        };
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let id = rec.get(key).unwrap_or("").to_string();
        if !ids.contains_key(id.as_str()) {
            issues.push(issue(line, format!("shape '{id}' is not among the profiles")));
        } else {
            match by_id.entry(id) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    issues.push(issue(line, format!("shape '{}' has a second row of attributes", e.key())));
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(rec.iter().enumerate().filter(|(j, _)| *j != key).map(|(_, v)| v.to_string()).collect());
                }
            }
        }
        if issues.len() >= MAX_ISSUES {
            break;
        }
    }
    if issues.is_empty() {
        Ok((names, by_id))
    } else {
        Err(issues)
    }
}
