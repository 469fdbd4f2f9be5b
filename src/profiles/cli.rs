//! `genfab shapes`: the NACA development family, an offline check of profile files, and an
//! upload to a running server.

use crate::cli::{ShapeFlags, ShapesCommand};
use crate::shapes::{family, naca};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

pub async fn run(command: &ShapesCommand) -> anyhow::Result<()> {
    match command {
        ShapesCommand::Naca { out, points_per_side } => write_naca(out, *points_per_side),
        ShapesCommand::Check { files, flags } => {
            let opts = options(flags)?;
            let (files, attributes) = read(files, flags)?;
            let (profiles, attrs) = super::read_files(&files, attributes.as_deref()).map_err(report)?;
            let built = family::build(&profiles, attrs.as_deref(), &opts).map_err(report)?;
            println!(
                "{}",
                serde_json::json!({"profiles": built.shapes, "points": opts.settings.points, "attributes": built.attributes, "valid": true})
            );
            Ok(())
        }
        ShapesCommand::Upload { url, token, name, files, flags } => {
            options(flags)?;
            let (files, attributes) = read(files, flags)?;
            let mut form = reqwest::multipart::Form::new();
            for (n, bytes) in files {
                let part = reqwest::multipart::Part::bytes(bytes).file_name(n);
                form = form.part("file", part);
            }
            if let Some(a) = attributes {
                form = form.part("attributes", reqwest::multipart::Part::bytes(a).file_name(super::ATTRIBUTES));
            }
            let mut query: Vec<(&str, String)> = vec![("name", name.clone())];
            for (k, v) in [("frame", &flags.frame), ("spacing", &flags.spacing)] {
                if let Some(v) = v {
                    query.push((k, v.clone()));
                }
            }
            if let Some(p) = flags.points {
                query.push(("points", p.to_string()));
            }
            if let Some(c) = flags.closed {
                query.push(("closed", c.to_string()));
            }
            let endpoint = format!("{}/api/v1/shapes", url.trim_end_matches('/'));
            let resp = reqwest::Client::new()
                .post(&endpoint)
                .bearer_auth(token.expose())
                .query(&query)
                .multipart(form)
                .send()
                .await
                .with_context(|| format!("could not reach {endpoint}"))?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                bail!("{endpoint} answered {status}: {body}");
            }
            println!("{body}");
            Ok(())
        }
    }
}

fn report(issues: Vec<crate::shapes::ShapeIssue>) -> anyhow::Error {
    anyhow::anyhow!("{}", super::describe(&issues))
}

fn options(flags: &ShapeFlags) -> anyhow::Result<family::Options> {
    super::options(flags.frame.as_deref(), flags.spacing.as_deref(), flags.points, flags.closed)
        .map_err(|(field, e)| anyhow::anyhow!("--{field}: {e}"))
}

/// The files named (a folder gives its files, in name order) and the attributes file.
fn read(paths: &[PathBuf], flags: &ShapeFlags) -> anyhow::Result<(Vec<super::File>, Option<Vec<u8>>)> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("could not list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| e.is_file())
                .collect();
            entries.sort();
            for e in entries {
                files.push(file(&e)?);
            }
        } else {
            files.push(file(p)?);
        }
    }
    let attributes = match &flags.attributes {
        Some(a) => Some(std::fs::read(a).with_context(|| format!("could not read {}", a.display()))?),
        None => None,
    };
    Ok((files, attributes))
}

fn file(p: &Path) -> anyhow::Result<super::File> {
    let bytes = std::fs::read(p).with_context(|| format!("could not read {}", p.display()))?;
    Ok((p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), bytes))
}

/// The development family of `data/naca4/` (see its README): camber 0–9 %, its position 20–70 %,
/// thickness 6–24 %, 41 points per side, closed trailing edge.
fn write_naca(out: &Path, per_side: usize) -> anyhow::Result<()> {
    if !(2..=500).contains(&per_side) {
        bail!("--points-per-side must be from 2 to 500");
    }
    std::fs::create_dir_all(out).with_context(|| format!("could not make {}", out.display()))?;
    let items = naca::family_with(&NACA_CAMBERS, &NACA_POSITIONS, &NACA_THICKNESSES, per_side, true);
    let profiles: Vec<crate::shapes::Profile> = items.iter().map(|(p, _)| p.clone()).collect();
    std::fs::write(out.join("profiles.csv"), naca::long_csv(&profiles))?;
    std::fs::write(out.join("attributes.csv"), naca::attributes_csv(&items))?;
    println!("{}", serde_json::json!({"profiles": profiles.len(), "out": out.display().to_string()}));
    Ok(())
}

pub const NACA_CAMBERS: [f64; 5] = [0.0, 0.02, 0.04, 0.06, 0.09];
pub const NACA_POSITIONS: [f64; 6] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
pub const NACA_THICKNESSES: [f64; 7] = [0.06, 0.09, 0.12, 0.15, 0.18, 0.21, 0.24];

/// `genfab bench shapes`: the panel method's error against the exact flow over a Joukowski
/// airfoil (ζc = (−0.1, 0.05), α = 5°) as panels double, and its time per solve on NACA 2412.
pub fn bench() -> Vec<serde_json::Value> {
    use crate::shapes::panel;
    let mut out = Vec::new();
    let alpha = 5f64.to_radians();
    let exact = panel::joukowski_exact(-0.1, 0.05, alpha, 11).2;
    for panels in [50, 100, 200, 400] {
        let (cl, cp) = panel::joukowski_errors(-0.1, 0.05, alpha, panels);
        out.push(serde_json::json!({"bench": "panel_joukowski", "panels": panels, "exact_cl": exact,
            "cl_error_pct": cl * 100.0, "cp_rms_error": cp}));
    }
    for per_side in [64, 128, 250] {
        let pts = naca::four_digit(0.02, 0.4, 0.12, per_side + 1, false);
        let reps = 20;
        let start = std::time::Instant::now();
        let mut cl = 0.0;
        for _ in 0..reps {
            cl = panel::solve(&pts, 4f64.to_radians()).map_or(f64::NAN, |r| r.cl);
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        out.push(serde_json::json!({"bench": "panel_time", "section": "naca2412", "points": pts.len(),
            "alpha_deg": 4, "cl": cl, "ms_per_solve": ms}));
    }
    out
}
