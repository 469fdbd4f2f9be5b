//! Dashboard pages, rendered on the server from the store. Large things are aggregated here
//! (histograms of a sample of rows, the newest points of a timeline), never shipped raw.

use super::layout::{csrf_field, figure, page, page_with_refresh};
use super::plots::{self, Series};
use super::session::Session;
use crate::api::AppState;
use crate::domain::{ColumnKind, Permission};
use crate::store::ScoreQuery;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use maud::{html, Markup};
use serde::Deserialize;

/// Rows read for a dataset page's plots (evenly strided beyond that).
const PLOT_ROWS: usize = 100_000;
/// Scored rows drawn on a detector's timeline.
const TIMELINE_ROWS: i64 = 2_000;

type PageResult = Result<HttpResponse, actix_web::Error>;

pub(super) fn unexpected(e: impl std::fmt::Display) -> actix_web::Error {
    tracing::error!(error = %e, "dashboard page failed");
    actix_web::error::ErrorInternalServerError("the page could not be built; see the server log")
}

fn not_found(what: String) -> actix_web::Error {
    actix_web::error::ErrorNotFound(what)
}

pub(super) fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A number for a table: whole numbers without decimals, others to 4 significant places.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.4}")
    }
}

fn status_cell(status: &str) -> Markup {
    html! { span class=(format!("status-{status}")) { (status) } }
}

fn jobs_table(s: &Session, jobs: &[crate::store::JobRow]) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr { th { "Job" } th { "Kind" } th { "Status" } th { "Progress" } th { "Message or error" } th { "Created" } th { span.muted { "Action" } } } }
            tbody {
                @for j in jobs {
                    tr {
                        td.num { (j.id) }
                        td { (j.kind) }
                        td { (status_cell(&j.status)) }
                        td { progress value=(format!("{:.3}", j.progress)) max="1" aria-label=(format!("job {} progress", j.id)) { (format!("{:.0} %", 100.0 * j.progress)) } }
                        td { @if let Some(e) = &j.last_error { span.error { (e) } } @else { (j.message.clone().unwrap_or_default()) } }
                        td { (time(&j.created_at)) }
                        td {
                            @if s.may(Permission::CreateResources) && matches!(j.status.as_str(), "queued" | "running") {
                                form.inline method="post" action=(format!("/jobs/{}/cancel", j.id)) {
                                    (csrf_field(s))
                                    button.secondary type="submit" aria-label=(format!("Cancel job {}", j.id)) { "Cancel" }
                                }
                            }
                            (super::plan::retry_button(s, j))
                        }
                    }
                }
            }
        } }
    }
}

pub async fn overview(s: Session, state: web::Data<AppState>) -> PageResult {
    let st = &state.store;
    let n = st.resource_counts().await.map_err(unexpected)?;
    let counts = st.job_counts().await.map_err(unexpected)?;
    let running = st.list_jobs(Some("running"), None, 0, 20).await.map_err(unexpected)?;
    let recent = st.list_jobs(None, None, 0, 10).await.map_err(unexpected)?;
    let detectors = st.list_detectors(0, 50).await.map_err(unexpected)?;
    let schedules = st.list_schedules(0, 50).await.map_err(unexpected)?;
    let mut anomalies = vec![];
    for d in detectors.iter().take(20) {
        let q = ScoreQuery { limit: 5, anomalies_only: true, ..Default::default() };
        for r in st.list_scores(d.id, &q).await.map_err(unexpected)? {
            anomalies.push((d.id, d.name.clone(), r));
        }
    }
    anomalies.sort_by_key(|a| std::cmp::Reverse(a.2.scored_at));
    anomalies.truncate(10);
    let jobs_in = |status: &str| counts.iter().find(|(k, _)| k == status).map_or(0, |(_, n)| *n);
    let body = html! {
        section aria-label="Counts" { div.cards {
            div.card { div.n { (n.datasets) } a href="/datasets" { "datasets" } }
            div.card { div.n { (n.models) } a href="/models" { "models" } }
            div.card { div.n { (n.studies) } a href="/studies" { "studies" } }
            div.card { div.n { (n.detectors) } a href="/detectors" { "detectors" } }
            div.card { div.n { (jobs_in("running")) } a href="/jobs?status=running" { "running jobs" } }
            div.card { div.n { (jobs_in("queued")) } a href="/jobs?status=queued" { "queued jobs" } }
        } }
        h2 { "Running jobs" }
        @if running.is_empty() { p.muted { "Nothing is running." } } @else { (jobs_table(&s, &running)) }
        h2 { "Recent jobs" }
        (jobs_table(&s, &recent))
        h2 { "Recent anomalies" }
        @if anomalies.is_empty() { p.muted { "No anomalies scored." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Detector" } th { "Part" } th.num { "Score" } th { "Top columns" } th { "Scored" } } }
                tbody { @for (id, name, r) in &anomalies { tr {
                    td { a href=(format!("/detectors/{id}")) { (name) } }
                    td { (r.part.clone().unwrap_or_default()) }
                    td.num { (format!("{:.2}", r.score)) }
                    td { (top_columns(&r.top.0)) }
                    td { (time(&r.scored_at)) }
                } } }
            } }
        }
        h2 { "Next scheduled runs" }
        (super::plan::next_runs(&schedules))
    };
    Ok(page(&s, "/", "Overview", body))
}

fn top_columns(top: &serde_json::Value) -> String {
    top.as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    format!(
                        "{} ({:.0} %)",
                        c["column"].as_str().unwrap_or("?"),
                        100.0 * c["share"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

pub async fn datasets(s: Session, state: web::Data<AppState>) -> PageResult {
    datasets_page(&s, &state, None).await
}

/// The datasets page, with an upload's error (and where it is) shown above the form.
async fn datasets_page(s: &Session, state: &AppState, error: Option<(String, String)>) -> PageResult {
    let rows = state.store.list_datasets(0, 500).await.map_err(unexpected)?;
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let body = html! {
        @if s.may(Permission::CreateResources) {
            h2 { "Upload" }
            @if let Some((message, name)) = &error {
                p.error role="alert" { "Upload of '" (name) "' refused: " (message) }
            }
            form method="post" action="/datasets" enctype="multipart/form-data" {
                (csrf_field(s))
                label for="name" { "Name" }
                input #name type="text" name="name" required maxlength="128"
                    value=(error.as_ref().map(|e| e.1.clone()).unwrap_or_default());
                label for="file" { "File (CSV, Parquet or JSON rows)" }
                input #file type="file" name="file" accept=".csv,.txt,.parquet,.json" required;
                p { button type="submit" { "Upload" } }
            }
        }
        h2 { "All datasets" }
        div.table-wrap { table {
            thead { tr { th { "Dataset" } th.num { "Latest version" } th.num { "Rows" } th { "Updated" } th { "Download" } } }
            tbody { @for d in &rows { tr {
                td { a href=(format!("/datasets/{}", d.id)) { (d.name) } }
                td.num { (d.latest_version) }
                td.num { (d.row_count) }
                td { (time(&d.updated_at)) }
                td { a href=(format!("/datasets/{}/download", d.id)) download { "CSV" } }
            } } }
        } }
    };
    Ok(with_status(page(s, "/datasets", "Datasets", body), status))
}

pub(super) fn with_status(mut r: HttpResponse, status: StatusCode) -> HttpResponse {
    *r.status_mut() = status;
    r
}

/// The upload form: a new dataset, or the form again with the error inline (row and column named).
pub async fn upload(s: Session, state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> PageResult {
    let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
    let (mut csrf, mut name, mut file) = (String::new(), String::new(), None);
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(|e| actix_web::error::ErrorBadRequest(format!("the form is malformed: {e}")))?;
        let part = field.name().unwrap_or("").to_string();
        let filename = field.content_disposition().and_then(|d| d.get_filename()).map(str::to_string);
        let mut bytes = web::BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| actix_web::error::ErrorBadRequest(format!("the form is malformed: {e}")))?;
            if bytes.len() + chunk.len() > state.limits.max_body_bytes {
                return datasets_page(&s, &state, Some(("the file is larger than the upload limit".into(), name)))
                    .await;
            }
            bytes.extend_from_slice(&chunk);
        }
        match part.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "name" => name = String::from_utf8_lossy(&bytes).trim().to_string(),
            "file" => file = Some((filename.unwrap_or_default(), bytes.freeze())),
            _ => {}
        }
    }
    if !s.csrf_ok(&csrf) {
        return Err(actix_web::error::ErrorForbidden(
            "the form is stale or was not sent from this dashboard; reload the page",
        ));
    }
    if !s.may(Permission::CreateResources) {
        return Err(actix_web::error::ErrorForbidden(format!("the role '{}' may not upload", s.role.as_str())));
    }
    let refuse = |m: String, name: &str| Some((m, name.to_string()));
    let dataset_name = match crate::domain::DatasetName::parse(&name) {
        Ok(n) => n,
        Err(e) => return datasets_page(&s, &state, refuse(format!("name: {e}"), &name)).await,
    };
    let Some((filename, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return datasets_page(&s, &state, refuse("choose a file to upload".into(), &name)).await;
    };
    let Some(format) = crate::ingest::Format::from_file_name(&filename) else {
        let m = format!("'{filename}' is not a table file; name it .csv, .parquet or .json");
        return datasets_page(&s, &state, refuse(m, &name)).await;
    };
    match crate::catalog::upload(&state.store, dataset_name.as_str(), bytes, format, None, state.limits.clone()).await {
        Ok((d, v)) => {
            tracing::info!(dataset = d.id, rows = v.row_count, by = s.token_id, "dataset uploaded from the dashboard");
            Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/datasets/{}", d.id))).finish())
        }
        Err(crate::catalog::CatalogError::Unexpected(e)) => Err(unexpected(format!("{e:#}"))),
        Err(crate::catalog::CatalogError::Invalid(e)) => {
            let place = match (e.row, &e.column) {
                (Some(r), Some(c)) => format!(" (row {r}, column '{c}')"),
                (Some(r), None) => format!(" (row {r})"),
                (None, Some(c)) => format!(" (column '{c}')"),
                (None, None) => String::new(),
            };
            datasets_page(&s, &state, refuse(format!("{}{place}", e.message), &name)).await
        }
        Err(e) => datasets_page(&s, &state, refuse(e.to_string(), &name)).await,
    }
}

#[derive(Deserialize)]
pub struct VersionQuery {
    version: Option<i32>,
}

pub async fn dataset(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<VersionQuery>,
) -> PageResult {
    let id = path.into_inner();
    let d = state
        .store
        .get_dataset(id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| not_found(format!("dataset {id} does not exist")))?;
    let versions = state.store.list_versions(id).await.map_err(unexpected)?;
    let (meta, df) = crate::catalog::read_version(&state.store, id, q.version).await.map_err(|e| match e {
        crate::catalog::CatalogError::Unexpected(e) => unexpected(format!("{e:#}")),
        other => not_found(other.to_string()),
    })?;
    let schema = meta.schema.0.clone();
    let n = df.height();
    let step = n.div_ceil(PLOT_ROWS).max(1);
    // a shape family: its outlines drawn, instead of a histogram per coordinate
    let shape_family = crate::shapes::layout::Layout::find(&schema.names()).is_some();
    let (plots, shapes): (Vec<Markup>, Option<String>) = web::block(move || {
        let shapes = shape_family.then(|| {
            let outlines = crate::profiles::outlines_of_frame(&df, 0, SHAPES_SHOWN, false).unwrap_or_default();
            crate::profiles::svg_grid(&outlines, 6, &format!("the first {} shapes", outlines.len()))
        });
        let plots = schema
            .columns
            .iter()
            .filter(|c| !(shape_family && crate::shapes::layout::reserved(&c.name)))
            .filter_map(|c| {
                let col = df.column(&c.name).ok()?;
                let svg = if c.kind.is_numeric() {
                    let f = col.cast(&polars::prelude::DataType::Float64).ok()?;
                    let values: Vec<f64> = f.f64().ok()?.iter().step_by(step).flatten().collect();
                    plots::histogram(&values, 30, &c.name, &format!("{} (histogram)", c.name))
                } else if matches!(c.kind, ColumnKind::Categorical | ColumnKind::Boolean) {
                    let s = col.cast(&polars::prelude::DataType::String).ok()?;
                    let mut counts: std::collections::BTreeMap<String, f64> = Default::default();
                    for v in s.str().ok()?.iter().step_by(step).flatten() {
                        *counts.entry(v.to_string()).or_default() += 1.0;
                    }
                    let mut pairs: Vec<(String, f64)> = counts.into_iter().collect();
                    pairs.sort_by(|a, b| b.1.total_cmp(&a.1));
                    pairs.truncate(30);
                    let (labels, counts): (Vec<String>, Vec<f64>) = pairs.into_iter().unzip();
                    plots::bars(&labels, &counts, &c.name, "rows", &format!("{} (counts)", c.name))
                } else {
                    return None;
                };
                Some(figure(svg, &format!("{}: {:?}, {} missing", c.name, c.kind, c.missing)))
            })
            .collect();
        (plots, shapes)
    })
    .await
    .map_err(unexpected)?;
    let body = html! {
        p { "Version " (meta.version) " of " (d.latest_version) ", " (meta.row_count) " rows, sha256 " code { (meta.sha256) } ". "
            a href=(format!("/datasets/{id}/download?version={}", meta.version)) download { "Download CSV" } }
        @if meta.source == "synthetic" {
            p { a href=(format!("/datasets/{id}/report?version={}", meta.version)) { "Synthetic-data report" } " (real against synthetic rows, detection, usefulness, privacy)" }
        }
        @if let Some(svg) = shapes {
            h2 { "Shapes" }
            (figure(svg, &format!("The first {} outlines in the normalised frame; GET /api/v1/datasets/{id}/shapes gives their checks and measures", SHAPES_SHOWN.min(n))))
        }
        @if step > 1 { p.muted { "Plots show every " (step) "th row." } }
        h2 { "Schema" }
        div.table-wrap { table {
            thead { tr { th { "Column" } th { "Kind" } th { "Role" } th.num { "Missing" } th.num { "Min" } th.num { "Max" } th { "Levels" } } }
            tbody { @for c in &meta.schema.0.columns { tr {
                td { (c.name) } td { (format!("{:?}", c.kind).to_lowercase()) } td { (format!("{:?}", c.role).to_lowercase()) }
                td.num { (c.missing) }
                td.num { (c.min.map(number).unwrap_or_default()) }
                td.num { (c.max.map(number).unwrap_or_default()) }
                td { (c.levels.iter().take(8).cloned().collect::<Vec<_>>().join(", ")) @if c.levels.len() > 8 { " …" } }
            } } }
        } }
        h2 { "Columns" }
        div.plots { @for p in &plots { (p) } }
        h2 { "Versions" }
        table {
            thead { tr { th.num { "Version" } th.num { "Rows" } th { "Source" } th { "Lineage" } th { "Created" } } }
            tbody { @for v in &versions { tr {
                td.num { a href=(format!("/datasets/{id}?version={}", v.version)) { (v.version) } }
                td.num { (v.row_count) }
                td { (v.source) }
                td { code { (v.lineage.as_ref().map(|l| l.0.to_string()).unwrap_or_default()) } }
                td { (time(&v.created_at)) }
            } } }
        }
    };
    Ok(page(&s, "/datasets", &d.name, body))
}

pub async fn download(
    _s: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<VersionQuery>,
) -> PageResult {
    let id = path.into_inner();
    let bytes = crate::catalog::export(&state.store, id, q.version, crate::ingest::Format::Csv(Default::default()))
        .await
        .map_err(|e| match e {
            crate::catalog::CatalogError::Unexpected(e) => unexpected(format!("{e:#}")),
            other => not_found(other.to_string()),
        })?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"dataset-{id}.csv\"")))
        .body(bytes))
}

#[derive(Deserialize)]
pub struct JobsQuery {
    status: Option<String>,
}

/// `GET /jobs[?status=S]`: the newest 200 jobs, of one status when asked (an unknown status is
/// said so, and all are listed).
pub async fn jobs(s: Session, state: web::Data<AppState>, q: web::Query<JobsQuery>) -> PageResult {
    let wanted = q.status.as_deref().filter(|w| !w.is_empty());
    let status = wanted.filter(|w| crate::api::jobs::STATUSES.contains(w));
    let rows = state.store.list_jobs(status, None, 0, 200).await.map_err(unexpected)?;
    let body = html! {
        nav aria-label="Job status" { p {
            a href="/jobs" aria-current=[status.is_none().then_some("page")] { "all" }
            @for st in crate::api::jobs::STATUSES {
                " · " a href=(format!("/jobs?status={st}")) aria-current=[(status == Some(*st)).then_some("page")] { (st) }
            }
        } }
        @if let (Some(w), None) = (wanted, status) {
            p.error role="alert" { "There is no job status '" (w) "'; all jobs are listed." }
        }
        (jobs_table(&s, &rows))
    };
    let title = status.map_or("Jobs".to_string(), |st| format!("Jobs: {st}"));
    Ok(page(&s, "/jobs", &title, body))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn cancel_job(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    if !s.csrf_ok(&form.csrf) {
        return Err(actix_web::error::ErrorForbidden(
            "the form is stale or was not sent from this dashboard; reload the page",
        ));
    }
    if !s.may(Permission::CreateResources) {
        return Err(actix_web::error::ErrorForbidden(format!("the role '{}' may not cancel jobs", s.role.as_str())));
    }
    let id = path.into_inner();
    state.store.cancel_job(id).await.map_err(unexpected)?;
    tracing::info!(job = id, by = s.token_id, "job cancel requested from the dashboard");
    Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, "/jobs")).finish())
}

pub async fn models(s: Session, state: web::Data<AppState>) -> PageResult {
    let rows = state.store.list_models(None, 0, 500).await.map_err(unexpected)?;
    let body = html! {
        @if s.may(Permission::CreateResources) { p { a href="/models/new" { "Train a model" } } }
        div.table-wrap { table {
            thead { tr { th.num { "Model" } th { "Name" } th { "Dataset" } th { "Status" } th.num { "Epochs" } th { "Created" } } }
            tbody { @for m in &rows { tr {
                td.num { a href=(format!("/models/{}", m.id)) { (m.id) } }
                td { (m.name) }
                td { a href=(format!("/datasets/{}", m.dataset_id)) { (m.dataset_id) " v" (m.dataset_version) } }
                td { (status_cell(&m.job_status)) }
                td.num { (m.epochs_run.unwrap_or(0)) }
                td { (time(&m.created_at)) }
            } } }
        } }
    };
    Ok(page(&s, "/models", "Models", body))
}

pub async fn model(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<super::train::LatentQuery>,
) -> PageResult {
    let id = path.into_inner();
    let m = state
        .store
        .get_model(id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| not_found(format!("model {id} does not exist")))?;
    let epochs = state.store.model_epochs(id).await.map_err(unexpected)?;
    let pick = |k: &str| -> Vec<(f64, f64)> {
        epochs.iter().filter_map(|(e, v)| Some((*e as f64, v.0.get(k)?.as_f64()?))).collect()
    };
    let (train, val, kl) = (pick("train_loss"), pick("val_loss"), pick("train_kl"));
    let loss = plots::lines(
        &[Series { name: "train", points: &train }, Series { name: "validation", points: &val }],
        "epoch",
        "loss (nats per row)",
        "Loss per epoch",
        false,
    );
    let kl_plot = plots::lines(
        &[Series { name: "KL (train)", points: &kl }],
        "epoch",
        "KL (nats per row)",
        "KL per epoch",
        false,
    );
    // while training, the page reloads itself (no script) so the curves grow
    let live = matches!(m.job_status.as_str(), "queued" | "running");
    let (epoch, of) = (epochs.last().map_or(0, |(e, _)| *e), m.spec.0["epochs"].as_u64().unwrap_or(0));
    let latent = match m.job_status.as_str() {
        "succeeded" => Some(super::train::latent_map(&state, &m, q.color.as_deref()).await?),
        _ => None,
    };
    let shapes = match m.job_status.as_str() {
        "succeeded" => shape_samples(&state, id).await?,
        _ => None,
    };
    let body = html! {
        p { (status_cell(&m.job_status)) " · dataset " a href=(format!("/datasets/{}", m.dataset_id)) { (m.dataset_id) " v" (m.dataset_version) }
            " · seed " (m.seed) " · " (m.code_version)
            @if m.file_sha256.is_some() { " · " a href=(format!("/api/v1/models/{id}/file")) { "model file (API)" } } }
        @if m.job_status == "succeeded" && s.may(Permission::CreateResources) {
            p { a href=(format!("/models/{id}/generate")) { "Generate rows from this model" } }
        }
        @if live {
            p role="status" { "epoch " (epoch) " of " (of)
                " " progress value=(epoch) max=(of.max(1)) aria-label="training progress" { (epoch) " of " (of) }
                span.muted { " · this page reloads every 2 seconds until training ends" } }
        }
        @if let Some(e) = &m.last_error { p.error { (e) } }
        div.plots { (figure(loss, "Training and validation loss")) (figure(kl_plot, "KL divergence")) }
        @if let Some((svg, valid)) = shapes {
            h2 { "Generated shapes" }
            (figure(svg, &format!("12 draws from the prior (seed 1), {valid} of them valid; POST /api/v1/models/{id}/shapes draws more, interpolates and traverses")))
        }
        @if let Some(map) = latent { h2 { "Latent space" } (map) }
        h2 { "Spec" }
        pre { code { (serde_json::to_string_pretty(&m.spec.0).unwrap_or_default()) } }
    };
    Ok(page_with_refresh(&s, "/models", &format!("Model {id}: {}", m.name), body, live.then_some(2)))
}

/// Outlines drawn on a shape family's dataset page.
const SHAPES_SHOWN: usize = 24;

/// Twelve prior draws of a model of a shape family, drawn, with how many are valid; `None` for a
/// model of an ordinary table.
async fn shape_samples(state: &AppState, id: i64) -> Result<Option<(String, usize)>, actix_web::Error> {
    let Some(bytes) = state.store.model_file(id).await.map_err(unexpected)? else { return Ok(None) };
    web::block(move || {
        let fitted = crate::ml::FittedVae::from_bytes(&bytes).ok()?;
        let table = crate::ml::explore::prior_means(&fitted, 12, 1.0, &[], 1).ok()?;
        let outlines = crate::profiles::outlines_of_table(&table, |i| format!("draw {}", i + 1)).ok()?;
        let valid = outlines.iter().filter(|o| o.valid).count();
        Some((crate::profiles::svg_grid(&outlines, 6, &format!("model {id}: 12 generated shapes")), valid))
    })
    .await
    .map_err(unexpected)
}

pub async fn detectors(s: Session, state: web::Data<AppState>) -> PageResult {
    let rows = state.store.list_detectors(0, 500).await.map_err(unexpected)?;
    let body = html! {
        div.table-wrap { table {
            thead { tr { th { "Detector" } th.num { "Dataset" } th.num { "Version" } th { "Created" } } }
            tbody { @for d in &rows { tr {
                td { a href=(format!("/detectors/{}", d.id)) { (d.name) } }
                td.num { a href=(format!("/datasets/{}", d.dataset_id)) { (d.dataset_id) } }
                td.num { (d.current_version.map(|v| v.to_string()).unwrap_or_else(|| "calibrating".into())) }
                td { (time(&d.created_at)) }
            } } }
        } }
    };
    Ok(page(&s, "/detectors", "Detectors", body))
}

pub async fn detector(s: Session, state: web::Data<AppState>, path: web::Path<i64>) -> PageResult {
    let id = path.into_inner();
    let d = state
        .store
        .get_detector(id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| not_found(format!("detector {id} does not exist")))?;
    let Some(v) = state.store.get_detector_version(id, None).await.map_err(unexpected)? else {
        let body =
            html! { p { "Calibrating: the first version appears when its job succeeds. " a href="/jobs" { "Jobs" } } };
        return Ok(page(&s, "/detectors", &d.name, body));
    };
    let recent = state
        .store
        .list_scores(id, &ScoreQuery { limit: TIMELINE_ROWS, ..Default::default() })
        .await
        .map_err(unexpected)?;
    let anomalies = state
        .store
        .list_scores(id, &ScoreQuery { limit: 20, anomalies_only: true, ..Default::default() })
        .await
        .map_err(unexpected)?;
    let drift = crate::api::current_drift(&state, &d, &v).await.map_err(unexpected)?;
    let points: Vec<(f64, f64)> =
        recent.iter().rev().map(|r| (r.scored_at.timestamp_millis() as f64 / 1e3, r.score)).collect();
    let timeline = plots::timeline(&points, v.threshold, "anomaly score", "Scores over time");
    let curves = &v.calibration.0["curves"];
    let pts = |k: &str| -> Vec<(f64, f64)> {
        curves[k]
            .as_array()
            .map(|a| a.iter().filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?))).collect())
            .unwrap_or_default()
    };
    let auroc = curves["auroc"].as_f64().map(|a| format!("AUROC {a:.3}"));
    let ap = curves["average_precision"].as_f64().map(|a| format!("AP {a:.3}"));
    let c = &v.calibration.0;
    let body = html! {
        p { "Version " (v.version) " · threshold " strong { (format!("{:.4}", v.threshold)) }
            " (" (c["method"]["method"].as_str().unwrap_or("")) ") · false alarms on held-out normal rows "
            (format!("{:.2} %", 100.0 * c["false_alarm_rate"].as_f64().unwrap_or(f64::NAN)))
            @if let Some(r) = c["recall"].as_f64() { " · recall " (format!("{:.2} %", 100.0 * r)) } }
        div.plots {
            (figure(timeline, &format!("The newest {} scored rows and the threshold", recent.len())))
            @if curves.is_object() {
                (figure(plots::curve(&pts("roc"), "false-positive rate", "true-positive rate", "ROC", true, auroc.as_deref()), "ROC on held-out normal rows and labelled faults"))
                (figure(plots::curve(&pts("pr"), "recall", "precision", "Precision-recall", false, ap.as_deref()), "Precision-recall"))
            }
        }
        h2 { "Recent anomalies" }
        @if anomalies.is_empty() { p.muted { "None." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Part" } th.num { "Score" } th { "Top columns" } th { "Scored" } } }
                tbody { @for r in &anomalies { tr {
                    td { (r.part.clone().unwrap_or_default()) } td.num { (format!("{:.2}", r.score)) }
                    td { (top_columns(&r.top.0)) } td { (time(&r.scored_at)) }
                } } }
            } }
        }
        h2 { "Drift of recent rows" }
        @if let Some(cols) = drift["columns"].as_array().filter(|c| !c.is_empty()) {
            p { "Score: PSI " (format!("{:.3}", drift["score"]["psi"].as_f64().unwrap_or(f64::NAN)))
                ", KS " (format!("{:.3}", drift["score"]["ks"].as_f64().unwrap_or(f64::NAN))) " over " (drift["rows"]) " rows." }
            table {
                thead { tr { th { "Column" } th.num { "PSI" } th.num { "KS" } } }
                tbody { @for c in cols { tr {
                    td { (c["column"].as_str().unwrap_or("")) }
                    td.num { (format!("{:.3}", c["psi"].as_f64().unwrap_or(f64::NAN))) }
                    td.num { (format!("{:.3}", c["ks"].as_f64().unwrap_or(f64::NAN))) }
                } } }
            }
        } @else { p.muted { (drift["note"].as_str().unwrap_or("No drift figures yet.")) } }
    };
    Ok(page(&s, "/detectors", &d.name, body))
}

/// Candidates drawn in a run's plots: an even sample of this many, plus the whole Pareto set.
const PLOT_CANDIDATES: i64 = 2_000;
/// Candidate table rows per page.
const TABLE_ROWS: i64 = 50;

pub async fn study(s: Session, state: web::Data<AppState>, path: web::Path<i64>) -> PageResult {
    let id = path.into_inner();
    let st = state
        .store
        .get_study(id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| not_found(format!("study {id} does not exist")))?;
    let runs = state.store.list_runs(id).await.map_err(unexpected)?;
    let curves: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .filter_map(|r| {
            let c = r.summary.as_ref()?.0["convergence"].as_array()?.clone();
            let pts = c.iter().filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?))).collect();
            Some((format!("run {} ({})", r.id, r.solver), pts))
        })
        .collect();
    let series: Vec<Series> = curves.iter().map(|(n, p)| Series { name: n, points: p }).collect();
    let objectives = st.spec.0["objectives"].as_array().cloned().unwrap_or_default();
    let body = html! {
        p { "Objectives: "
            @for (i, o) in objectives.iter().enumerate() {
                @if i > 0 { ", " }
                (o["goal"].as_str().unwrap_or("minimize")) " " strong { (o["name"].as_str().unwrap_or("")) }
            }
            @if let Some(d) = st.dataset_id { " · dataset " a href=(format!("/datasets/{d}")) { (d) } } }
        @if !series.is_empty() {
            div.plots { (figure(plots::lines(&series, "evaluation", "best feasible first objective", "Convergence per run", false), "Best feasible value so far, per run and solver")) }
        }
        (super::plan::start_run_form(&s, &st))
        h2 { "Runs" }
        div.table-wrap { table {
            thead { tr { th.num { "Run" } th { "Solver" } th.num { "Budget" } th.num { "Evaluations" } th { "Status" } th { "Best" } } }
            tbody { @for r in &runs { tr {
                td.num { a href=(format!("/runs/{}", r.id)) { (r.id) } }
                td { (r.solver) } td.num { (r.budget) } td.num { (r.evaluations) }
                td { (status_cell(r.job_status.as_deref().unwrap_or("open"))) }
                td { code { (r.summary.as_ref().map(|s| s.0["best"]["objectives"].to_string()).unwrap_or_default()) } }
            } } }
        } }
    };
    Ok(page(&s, "/studies", &format!("Study {id}: {}", st.name), body))
}

#[derive(Deserialize)]
pub struct RunQuery {
    page: Option<i64>,
    feasible: Option<bool>,
    pareto: Option<bool>,
}

pub async fn run(s: Session, state: web::Data<AppState>, path: web::Path<i64>, q: web::Query<RunQuery>) -> PageResult {
    let id = path.into_inner();
    let r = state
        .store
        .get_run(id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| not_found(format!("run {id} does not exist")))?;
    let st =
        state.store.get_study(r.study_id).await.map_err(unexpected)?.ok_or_else(|| not_found("no study".into()))?;
    let names: Vec<String> = st.spec.0["objectives"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["name"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    let base = crate::store::CandidateQuery { study_id: r.study_id, run_id: Some(id), ..Default::default() };
    // plots: an even sample of the run and its whole Pareto set, never all of a large run
    let stride = (r.evaluations as i64 / PLOT_CANDIDATES).max(1);
    let sample = state
        .store
        .list_candidates(&crate::store::CandidateQuery { limit: PLOT_CANDIDATES + 1, stride, ..base.clone() })
        .await
        .map_err(unexpected)?;
    let front = state
        .store
        .list_candidates(&crate::store::CandidateQuery { limit: 10_000, pareto: Some(true), ..base.clone() })
        .await
        .map_err(unexpected)?;
    let objective = |c: &crate::store::CandidateRow, k: &str| c.objectives.as_ref().and_then(|o| o.0[k].as_f64());
    let mut plots_html = vec![];
    if let Some(c) = r.summary.as_ref().and_then(|s| s.0["convergence"].as_array().cloned()) {
        let pts: Vec<(f64, f64)> = c.iter().filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?))).collect();
        let svg = plots::lines(
            &[Series { name: &r.solver, points: &pts }],
            "evaluation",
            "best feasible first objective",
            "Convergence",
            false,
        );
        plots_html.push(figure(svg, "Best feasible value so far"));
    }
    if names.len() == 2 {
        let xy = |rows: &[crate::store::CandidateRow], want: Option<bool>| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|c| want.is_none_or(|w| c.feasible == Some(w)))
                .filter_map(|c| Some((objective(c, &names[0])?, objective(c, &names[1])?)))
                .collect()
        };
        let (infeasible, feasible, pareto) = (xy(&sample, Some(false)), xy(&sample, Some(true)), xy(&front, None));
        let groups = [
            Series { name: "infeasible", points: &infeasible },
            Series { name: "feasible", points: &feasible },
            Series { name: "Pareto front", points: &pareto },
        ];
        let svg = plots::scatter(&groups, &names[0], &names[1], "Objectives and the Pareto front");
        plots_html.push(figure(
            svg,
            &format!("{} sampled candidates and the {} on the Pareto front", sample.len(), front.len()),
        ));
    } else if names.len() > 2 {
        let rows: Vec<(Vec<f64>, bool)> = sample
            .iter()
            .chain(&front)
            .filter_map(|c| Some((names.iter().map(|n| objective(c, n)).collect::<Option<Vec<f64>>>()?, c.pareto)))
            .collect();
        let (values, highlight): (Vec<Vec<f64>>, Vec<bool>) = rows.into_iter().unzip();
        plots_html.push(figure(
            plots::parallel(&names, &values, &highlight, "Objectives (Pareto front dark)"),
            "Parallel coordinates",
        ));
    }
    let page_no = q.page.unwrap_or(0).max(0);
    let table = state
        .store
        .list_candidates(&crate::store::CandidateQuery {
            feasible: q.feasible,
            pareto: q.pareto,
            order: crate::store::CandidateOrder::Score,
            offset: page_no * TABLE_ROWS,
            limit: TABLE_ROWS + 1,
            ..base
        })
        .await
        .map_err(unexpected)?;
    let more = table.len() as i64 > TABLE_ROWS;
    let filters = |page: i64| {
        let mut p = format!("/runs/{id}?page={page}");
        if let Some(f) = q.feasible {
            p.push_str(&format!("&feasible={f}"));
        }
        if let Some(f) = q.pareto {
            p.push_str(&format!("&pareto={f}"));
        }
        p
    };
    let body = html! {
        p { "Study " a href=(format!("/studies/{}", r.study_id)) { (st.name) } " · " (r.solver) " · "
            (r.evaluations) " of " (r.budget) " evaluations · " (status_cell(r.job_status.as_deref().unwrap_or("open")))
            @if let Some(hv) = r.summary.as_ref().and_then(|s| s.0["hypervolume"]["value"].as_f64()) { " · hypervolume " (format!("{hv:.4}")) } }
        div.plots { @for p in &plots_html { (p) } }
        h2 { "Candidates, best first" }
        form method="get" action=(format!("/runs/{id}")) {
            label for="feasible" { "Feasible" }
            select #feasible name="feasible" {
                option value="" selected[q.feasible.is_none()] { "all" }
                option value="true" selected[q.feasible == Some(true)] { "feasible only" }
                option value="false" selected[q.feasible == Some(false)] { "infeasible only" }
            }
            label for="pareto" { "Pareto" }
            select #pareto name="pareto" {
                option value="" selected[q.pareto.is_none()] { "all" }
                option value="true" selected[q.pareto == Some(true)] { "Pareto front only" }
            }
            p { button type="submit" { "Filter" } " "
                a href=(format!("/api/v1/runs/{id}/candidates?format=csv&limit=1000")) { "Export CSV (API)" } }
        }
        div.table-wrap { table {
            thead { tr { th.num { "Iteration" } @for n in &names { th.num { (n) } } th { "Feasible" } th { "Pareto" } th.num { "Novelty" } th { "Design" } } }
            tbody { @for c in table.iter().take(TABLE_ROWS as usize) { tr {
                td.num { (c.iteration) }
                @for n in &names { td.num { (objective(c, n).map(number).unwrap_or_default()) } }
                td { (c.feasible.map(|f| if f { "yes" } else { "no" }).unwrap_or("")) }
                td { (if c.pareto { "yes" } else { "" }) }
                td.num { (c.novelty.map(|v| format!("{v:.2}")).unwrap_or_default()) }
                td { code { (c.design.0.to_string()) } }
            } } }
        } }
        nav aria-label="Candidate pages" { p {
            @if page_no > 0 { a href=(filters(page_no - 1)) { "← previous" } " " }
            "page " (page_no + 1)
            @if more { " " a href=(filters(page_no + 1)) { "next →" } }
        } }
    };
    // while the run's job works, the page reloads itself (no script) so the plots fill in
    let live = matches!(r.job_status.as_deref(), Some("queued" | "running"));
    Ok(page_with_refresh(&s, "/studies", &format!("Run {id}"), body, live.then_some(2)))
}
