//! Shape families as a service, shared by the API and the CLI: reading the files a family comes
//! in (long CSV, Selig/Lednicer `.dat`, SVG, or a zip of them with an optional
//! `attributes.csv`), storing the family as a dataset, reading stored or generated outlines back
//! with their validity and measures.

use crate::catalog::{self, CatalogError};
use crate::config::Limits;
use crate::domain::schema::ColumnOverride;
use crate::domain::{ColumnKind, ColumnRole, SchemaOverride};
use crate::ingest::{CsvOptions, Format};
use crate::shapes::family::{self, Options};
use crate::shapes::layout::{self, Layout};
use crate::shapes::measure::{self, Measures};
use crate::shapes::normalise::{Frame, Settings, Spacing};
use crate::shapes::validate::{self, Closure};
use crate::shapes::{parse, Point, Profile, ShapeIssue};
use crate::store::{DatasetMeta, Store, VersionMeta};
use polars::prelude::*;
use serde::Serialize;
use std::io::Read;

pub mod cli;

/// Most points per outline: a table holds two columns per point.
pub const MAX_POINTS: usize = 501;

/// How to read a family, from what a request or the command line says (`None`: the default);
/// a mistake comes back with the name of its field.
pub fn options(
    frame: Option<&str>,
    spacing: Option<&str>,
    points: Option<usize>,
    closed: Option<bool>,
) -> Result<Options, (&'static str, String)> {
    let frame = Frame::parse(frame.unwrap_or("chord")).map_err(|e| ("frame", e))?;
    let default_spacing = if frame == Frame::Chord { "cosine" } else { "arc" };
    let spacing = Spacing::parse(spacing.unwrap_or(default_spacing)).map_err(|e| ("spacing", e))?;
    let points = points.unwrap_or(if frame == Frame::Chord { 65 } else { 64 });
    if points > MAX_POINTS {
        return Err(("points", format!("points must be at most {MAX_POINTS}")));
    }
    let settings = Settings { frame, spacing, points };
    settings.check().map_err(|e| ("points", e))?;
    let closure = match closed {
        Some(true) => Closure::Closed,
        Some(false) => Closure::Open,
        None if frame == Frame::Chord => Closure::Open,
        None => Closure::Closed,
    };
    Ok(Options { closure, settings })
}

/// A file of a family as sent: its name (the extension says how to read it) and its bytes.
pub type File = (String, Vec<u8>);

/// The name of the attributes file inside a zip.
pub const ATTRIBUTES: &str = "attributes.csv";

#[derive(Debug, thiserror::Error)]
pub enum ProfilesError {
    #[error("{}", describe(.0))]
    Invalid(Vec<ShapeIssue>),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// At most ten issues in one sentence, then how many more.
pub fn describe(issues: &[ShapeIssue]) -> String {
    let mut s: Vec<String> = issues.iter().take(10).map(ToString::to_string).collect();
    if issues.len() > 10 {
        s.push(format!("and {} more", issues.len() - 10));
    }
    let n = issues.len();
    format!("{n} problem{} with the profiles: {}", if n == 1 { "" } else { "s" }, s.join("; "))
}

fn text<'a>(name: &str, bytes: &'a [u8]) -> Result<&'a str, Vec<ShapeIssue>> {
    std::str::from_utf8(bytes).map_err(|e| {
        vec![ShapeIssue::new(
            name,
            format!("the file is not UTF-8 text (byte {}); send CSV, .dat or SVG text", e.valid_up_to()),
        )]
    })
}

fn extension(name: &str) -> String {
    name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
}

fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// The profiles in `files` (by extension: `.csv` long CSV, `.dat`/`.txt` airfoil files, `.svg`,
/// `.zip` of those) and the attributes (`attributes.csv` in a zip, or `attributes` given apart).
pub fn read_files(
    files: &[File],
    attributes: Option<&[u8]>,
) -> Result<(Vec<Profile>, Option<String>), Vec<ShapeIssue>> {
    let mut profiles = Vec::new();
    let mut issues = Vec::new();
    let mut attrs = match attributes {
        Some(a) => Some(text(ATTRIBUTES, a)?.to_string()),
        None => None,
    };
    let mut expanded: Vec<File> = Vec::new();
    for (name, bytes) in files {
        if extension(name) == "zip" {
            match unzip(name, bytes) {
                Ok(mut entries) => expanded.append(&mut entries),
                Err(e) => issues.push(e),
            }
        } else {
            expanded.push((name.clone(), bytes.clone()));
        }
    }
    for (name, bytes) in &expanded {
        if base_name(name).eq_ignore_ascii_case(ATTRIBUTES) {
            if attrs.is_some() {
                issues.push(ShapeIssue::new(name, "attributes were given twice; send one attributes.csv"));
            } else {
                match text(name, bytes) {
                    Ok(t) => attrs = Some(t.to_string()),
                    Err(mut e) => issues.append(&mut e),
                }
            }
            continue;
        }
        let read = text(name, bytes).and_then(|t| match extension(name).as_str() {
            "csv" => parse::long_csv(t),
            "dat" | "txt" => parse::dat(name, t).map(|p| vec![p]),
            "svg" => parse::svg(t),
            other => Err(vec![ShapeIssue::new(
                name,
                format!("files ending '.{other}' are not read; send .csv (shape_id,x,y), .dat, .svg or a .zip of them"),
            )]),
        });
        match read {
            Ok(mut p) => profiles.append(&mut p),
            Err(mut e) => issues.append(&mut e),
        }
        if issues.len() >= family::MAX_ISSUES {
            break;
        }
    }
    if profiles.is_empty() && issues.is_empty() {
        issues.push(ShapeIssue::new("", "no profiles were found in what was sent"));
    }
    if issues.is_empty() {
        Ok((profiles, attrs))
    } else {
        issues.truncate(family::MAX_ISSUES);
        Err(issues)
    }
}

/// Most entries and expanded bytes read from one zip (a zip bomb stops here).
const ZIP_MAX_ENTRIES: usize = 20_000;
const ZIP_MAX_BYTES: u64 = 512 * 1024 * 1024;

fn unzip(name: &str, bytes: &[u8]) -> Result<Vec<File>, ShapeIssue> {
    let bad = |m: String| ShapeIssue::new(name, m);
    let mut z =
        ::zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(format!("not a zip archive: {e}")))?;
    if z.len() > ZIP_MAX_ENTRIES {
        return Err(bad(format!("the archive holds {} entries; at most {ZIP_MAX_ENTRIES} are read", z.len())));
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    for i in 0..z.len() {
        let mut f = z.by_index(i).map_err(|e| bad(format!("entry {}: {e}", i + 1)))?;
        let entry = f.name().to_string();
        let base = base_name(&entry);
        if f.is_dir() || base.starts_with('.') || entry.starts_with("__MACOSX/") {
            continue;
        }
        let mut buf = Vec::new();
        let limit = ZIP_MAX_BYTES - total;
        (&mut f).take(limit + 1).read_to_end(&mut buf).map_err(|e| bad(format!("entry '{entry}': {e}")))?;
        total += buf.len() as u64;
        if total > ZIP_MAX_BYTES {
            return Err(bad(format!("the archive expands to more than {} MiB", ZIP_MAX_BYTES >> 20)));
        }
        out.push((entry, buf));
    }
    Ok(out)
}

/// The schema a family's table is typed with: the id, the transform kept apart, every
/// coordinate continuous.
fn overrides(points: usize) -> SchemaOverride {
    let mut o = SchemaOverride::default();
    o.columns.insert(
        layout::ID.into(),
        ColumnOverride { kind: Some(ColumnKind::Text), role: Some(ColumnRole::Id), ..Default::default() },
    );
    for t in layout::TRANSFORM {
        o.columns.insert(
            t.into(),
            ColumnOverride { kind: Some(ColumnKind::Continuous), role: Some(ColumnRole::Ignore), ..Default::default() },
        );
    }
    for i in 0..points {
        for n in [layout::x_name(i), layout::y_name(i)] {
            o.columns.insert(
                n,
                ColumnOverride {
                    kind: Some(ColumnKind::Continuous),
                    role: Some(ColumnRole::Feature),
                    ..Default::default()
                },
            );
        }
    }
    o
}

/// Reads, checks, normalises and stores a family as a new dataset (CPU work runs on a blocking
/// thread). Nothing is stored unless every profile passes.
pub async fn upload(
    store: &Store,
    name: &str,
    files: Vec<File>,
    attributes: Option<Vec<u8>>,
    opts: Options,
    limits: Limits,
) -> Result<(DatasetMeta, VersionMeta), ProfilesError> {
    let v = tokio::task::spawn_blocking(move || -> Result<_, ProfilesError> {
        let (profiles, attrs) = read_files(&files, attributes.as_deref()).map_err(ProfilesError::Invalid)?;
        let built = family::build(&profiles, attrs.as_deref(), &opts).map_err(ProfilesError::Invalid)?;
        let mut v = catalog::prepare_upload(
            &built.csv,
            &Format::Csv(CsvOptions { separator: Some(b','), header: Some(true) }),
            Some(&overrides(opts.settings.points)),
            &limits,
        )?;
        v.source = "shapes".into();
        v.lineage = Some(serde_json::json!({"shapes": {
            "profiles": built.shapes,
            "points": opts.settings.points,
            "frame": format!("{:?}", opts.settings.frame).to_lowercase(),
            "spacing": format!("{:?}", opts.settings.spacing).to_lowercase(),
            "closed": opts.closure == Closure::Closed,
            "attributes": built.attributes,
        }}));
        Ok(v)
    })
    .await
    .map_err(|e| CatalogError::Unexpected(anyhow::anyhow!("shape task failed: {e}")))??;
    store
        .create_dataset(name, v)
        .await
        .map_err(CatalogError::from)?
        .ok_or_else(|| CatalogError::NameTaken(name.into()).into())
}

/// One outline with what genfab says of it.
#[derive(Clone, Debug, Serialize)]
pub struct Outline {
    pub label: String,
    /// In the normalised frame (or the user's units when asked).
    pub points: Vec<Point>,
    pub valid: bool,
    /// What makes it invalid.
    pub issues: Vec<String>,
    pub measures: Measures,
}

impl Outline {
    /// Checks and measures an outline given in the normalised frame.
    pub fn of(label: String, points: Vec<Point>) -> Outline {
        let issues: Vec<String> =
            validate::check_points(&points, &label, Closure::Open).iter().map(|i| i.to_string()).collect();
        let measures = measure::of(&points);
        Outline { label, valid: issues.is_empty(), issues, points, measures }
    }
}

/// The share of valid outlines.
pub fn valid_share(outlines: &[Outline]) -> f64 {
    if outlines.is_empty() {
        return 0.0;
    }
    outlines.iter().filter(|o| o.valid).count() as f64 / outlines.len() as f64
}

/// Rows `offset..offset+limit` of a stored family; `user` puts the points back in the user's
/// units. `Err` says why the dataset is not a shape family.
pub fn outlines_of_frame(df: &DataFrame, offset: usize, limit: usize, user: bool) -> Result<Vec<Outline>, String> {
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let lay = Layout::find(&names).ok_or_else(|| {
        "this dataset is not a shape family (it has no x000.., y000.. columns); upload profiles to /api/v1/shapes"
            .to_string()
    })?;
    let end = (offset + limit).min(df.height());
    let numeric = |n: &str| -> Result<Vec<f64>, String> {
        let c = df.column(n).map_err(|e| e.to_string())?.cast(&DataType::Float64).map_err(|e| e.to_string())?;
        Ok(c.f64().map_err(|e| e.to_string())?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    };
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(names.len());
    for n in &names {
        cols.push(if n == layout::ID { vec![] } else { numeric(n).unwrap_or_default() });
    }
    let ids: Vec<String> = match df.column(layout::ID) {
        Ok(c) => c
            .cast(&DataType::String)
            .map_err(|e| e.to_string())?
            .str()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect(),
        Err(_) => (0..df.height()).map(|i| format!("row {}", i + 1)).collect(),
    };
    Ok((offset.min(end)..end)
        .map(|r| {
            let row: Vec<f64> = cols.iter().map(|c| c.get(r).copied().unwrap_or(f64::NAN)).collect();
            let frame = lay.outline(&row);
            let mut o = Outline::of(ids[r].clone(), frame);
            if user {
                o.points = layout::transform_of(&names, &row).to_user(&o.points);
            }
            o
        })
        .collect())
}

/// Outlines from a decoded table (a model's samples), labelled by `label(i)`.
pub fn outlines_of_table(t: &crate::ml::Table, label: impl Fn(usize) -> String) -> Result<Vec<Outline>, String> {
    let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    let lay = Layout::find(&names)
        .ok_or_else(|| "this model was not trained on a shape family (no x000.., y000.. columns)".to_string())?;
    let cols: Vec<&[f64]> = t
        .columns
        .iter()
        .map(|c| match &c.data {
            crate::ml::ColumnData::Numeric(v) => v.as_slice(),
            _ => &[][..],
        })
        .collect();
    Ok((0..t.n_rows())
        .map(|r| {
            let row: Vec<f64> = cols.iter().map(|c| c.get(r).copied().unwrap_or(f64::NAN)).collect();
            Outline::of(label(r), lay.outline(&row))
        })
        .collect())
}

/// An SVG grid of outlines.
pub fn svg_grid(outlines: &[Outline], columns: usize, title: &str) -> String {
    let items: Vec<crate::shapes::svg::Item> = outlines
        .iter()
        .map(|o| crate::shapes::svg::Item { label: o.label.clone(), points: o.points.clone(), valid: o.valid })
        .collect();
    crate::shapes::svg::grid(&items, columns.max(1), title)
}
