//! Generation from the dashboard: the sampling forms and the synthetic-data report.
//!
//! Every mode of the API has its own form on `/models/{id}/generate`. A submission becomes the
//! request the API takes (`POST /api/v1/models/{id}/samples` with a dataset name, or
//! `POST /api/v1/synthetic`) and goes through the API's own checks, so a refusal reads the same in
//! both places. The queued job is followed on `/generations/{job}` (reloading every 2 s) until its
//! dataset exists; synthetic rows then open their report, `/datasets/{id}/report`.

use super::layout::{csrf_field, figure, page, page_with_refresh};
use super::pages::{time, unexpected, with_status};
use super::plots;
use super::session::Session;
use crate::api::error::ApiError;
use crate::api::{AppState, CreateSynthetic};
use crate::domain::{ColumnKind, Permission};
use crate::jobs::sample::SampleRequest;
use crate::ml::quality::{ColumnShapes, Detection, Privacy, ShapeMetric};
use crate::ml::usefulness::Usefulness;
use crate::store::{JobRow, ModelRow};
use crate::synth::PrivacyGate;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use polars::prelude::{DataFrame, DataType};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Registers this part's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/models/{id}/generate", web::get().to(form))
        .route("/models/{id}/generate", web::post().to(submit))
        .route("/generations/{job}", web::get().to(progress))
        .route("/datasets/{id}/report", web::get().to(report));
}

type PageResult = Result<HttpResponse, actix_web::Error>;

/// Rows of each table read for the report's plots (evenly strided beyond that).
const PLOT_ROWS: usize = 100_000;
/// Levels drawn per categorical column (the most frequent in the real rows).
const PLOT_LEVELS: usize = 30;
/// Seconds between reloads of a running generation's page.
const REFRESH_SECS: u32 = 2;

fn see_other(to: String) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// A score or share for a table, or a dash when there is none.
fn fixed(v: Option<f64>, places: usize) -> String {
    v.filter(|v| v.is_finite()).map(|v| format!("{v:.places$}")).unwrap_or_else(|| "–".into())
}

fn percent(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite()).map(|v| format!("{:.1} %", 100.0 * v)).unwrap_or_else(|| "–".into())
}

// ---------------------------------------------------------------------------------------------
// The forms
// ---------------------------------------------------------------------------------------------

/// What can be generated from a model: the modes of the synthetic-data API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `POST /models/{id}/samples`: rows from the model, optionally with its conditions fixed.
    Sample,
    /// `POST /synthetic` with `counts`: rows of one class.
    Class,
    /// `POST /synthetic` with `balance: "to_majority"`: the rarer classes up to the most frequent.
    ToMajority,
    /// `POST /synthetic` with `balance: {"total": N}`: N rows split evenly over the classes.
    Total,
    /// `POST /synthetic` with `balance: "like_real"`: a synthetic stand-in for the real table.
    LikeReal,
}

impl Mode {
    const ALL: [Mode; 5] = [Mode::Sample, Mode::Class, Mode::ToMajority, Mode::Total, Mode::LikeReal];

    fn key(self) -> &'static str {
        match self {
            Mode::Sample => "sample",
            Mode::Class => "class",
            Mode::ToMajority => "to_majority",
            Mode::Total => "total",
            Mode::LikeReal => "like_real",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.key() == s)
    }

    fn heading(self) -> &'static str {
        match self {
            Mode::Sample => "Sample rows",
            Mode::Class => "Rows of one class",
            Mode::ToMajority => "Oversample the rare classes",
            Mode::Total => "Balanced rows",
            Mode::LikeReal => "A synthetic copy of the table",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Mode::Sample => "Draws rows from the model, each condition fixed or left to the model. No quality report.",
            Mode::Class => {
                "Rows of the chosen class only, e.g. more examples of a rare defect; with a quality and privacy report."
            }
            Mode::ToMajority => "Enough rows of every rarer class to match the most frequent one; with a report.",
            Mode::Total => "This many rows in all, split evenly over the classes; with a report.",
            Mode::LikeReal => "As many rows of each class as the real table has; with a report.",
        }
    }

    fn synthetic(self) -> bool {
        self != Mode::Sample
    }

    fn has_rows(self) -> bool {
        matches!(self, Mode::Sample | Mode::Class | Mode::Total)
    }
}

/// The model a form generates from, with what its forms offer.
struct Source {
    model: ModelRow,
    /// The model's condition columns with their levels.
    conditions: Vec<(String, Vec<String>)>,
    /// The condition columns the synthetic modes accept as a label (categorical or boolean).
    labels: Vec<String>,
}

async fn source(state: &AppState, id: i64) -> Result<Source, actix_web::Error> {
    let model = state
        .store
        .get_model(id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| actix_web::error::ErrorNotFound(format!("model {id} does not exist")))?;
    let version = state.store.get_version(model.dataset_id, Some(model.dataset_version)).await.map_err(unexpected)?;
    let schema = version.map(|v| v.schema.0.columns).unwrap_or_default();
    let names: Vec<String> = model.spec.0["conditions"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let mut conditions = vec![];
    let mut labels = vec![];
    for name in names {
        let col = schema.iter().find(|c| c.name == name);
        let levels = col.map(|c| c.levels.clone()).unwrap_or_default();
        if col.is_some_and(|c| {
            matches!(c.kind, ColumnKind::Categorical | ColumnKind::Boolean) && crate::bridge::modelled(c.kind, c.role)
        }) {
            labels.push(name.clone());
        }
        conditions.push((name, levels));
    }
    Ok(Source { model, conditions, labels })
}

/// The fields of a submitted form, as typed (shown again when it is refused).
#[derive(Clone, Debug, Default)]
struct Typed {
    rows: String,
    label: String,
    class: String,
    /// `condition.COLUMN` fields of the sampling form.
    conditions: BTreeMap<String, String>,
    seed: String,
    temperature: String,
    name: String,
    max_exact_copies: String,
    max_close_share: String,
}

impl Typed {
    fn of(pairs: &[(String, String)]) -> Typed {
        let mut t = Typed::default();
        for (k, v) in pairs {
            match k.as_str() {
                "rows" => t.rows = v.clone(),
                "label" => t.label = v.clone(),
                "class" => t.class = v.clone(),
                "seed" => t.seed = v.clone(),
                "temperature" => t.temperature = v.clone(),
                "name" => t.name = v.clone(),
                "max_exact_copies" => t.max_exact_copies = v.clone(),
                "max_close_share" => t.max_close_share = v.clone(),
                k => {
                    if let Some(col) = k.strip_prefix("condition.") {
                        t.conditions.insert(col.to_string(), v.clone());
                    }
                }
            }
        }
        t
    }

    /// A fresh form's values.
    fn defaults(mode: Mode, src: &Source) -> Typed {
        Typed {
            rows: if mode.has_rows() { "1000".into() } else { String::new() },
            label: src.labels.first().cloned().unwrap_or_default(),
            seed: "0".into(),
            temperature: "1".into(),
            max_exact_copies: PrivacyGate::default().max_exact_copies.to_string(),
            max_close_share: PrivacyGate::default().max_close_share.to_string(),
            ..Typed::default()
        }
    }
}

/// Why a submission was refused: the form field at fault (as its input is named), its label,
/// the API's message and the status to answer with.
#[derive(Debug)]
struct Refusal {
    field: Option<String>,
    label: String,
    message: String,
    status: StatusCode,
}

impl Refusal {
    fn bad(field: &str, message: impl Into<String>) -> Refusal {
        let (field, label) = place(Some(field));
        Refusal { field, label, message: message.into(), status: StatusCode::BAD_REQUEST }
    }
}

/// The form field (input name) and its label for a field the API names in a refusal.
fn place(api_field: Option<&str>) -> (Option<String>, String) {
    let Some(f) = api_field else { return (None, "Request".into()) };
    let (name, label) = match f {
        "rows" | "n" | "counts" | "balance.total" => ("rows".to_string(), "Rows".to_string()),
        "class" => ("class".into(), "Class".into()),
        "label" | "model_id" | "spec.conditions" => ("label".into(), "Label column".into()),
        "seed" => ("seed".into(), "Seed".into()),
        "temperature" => ("temperature".into(), "Temperature".into()),
        "name" | "dataset_name" => ("name".into(), "New dataset name".into()),
        "max_exact_copies" | "privacy.max_exact_copies" => {
            ("max_exact_copies".into(), "Exact copies of training rows allowed".into())
        }
        "max_close_share" | "privacy" | "privacy.max_close_share" => {
            ("max_close_share".into(), "Largest share of too-close rows".into())
        }
        f => {
            if f.starts_with("counts.") {
                ("class".into(), "Class".into())
            } else if let Some(col) = f.strip_prefix("conditions.") {
                (format!("condition.{col}"), format!("Condition {col}"))
            } else {
                return (None, f.to_string());
            }
        }
    };
    (Some(name), label)
}

/// A refusal of the API as the form shows it; anything unexpected is logged and becomes a 500.
fn refusal(e: ApiError) -> Refusal {
    match e {
        ApiError::Client { status, detail, field, .. } => {
            let (field, label) = place(field.as_deref());
            Refusal { field, label, message: detail, status }
        }
        ApiError::Retry { status, detail, .. } => {
            Refusal { field: None, label: "Not now".into(), message: detail, status }
        }
        ApiError::Unexpected(e) => {
            tracing::error!(error = %format!("{e:#}"), "a generation request failed");
            Refusal {
                field: None,
                label: "Server".into(),
                message: "the request could not be checked; see the server log".into(),
                status: StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
    }
}

/// A typed field as a number, or a refusal that names the field and shows what was typed.
fn parse_field<T: std::str::FromStr>(field: &str, text: &str, what: &str) -> Result<T, Refusal> {
    text.trim().parse().map_err(|_| Refusal::bad(field, format!("{field} must be {what}, not '{}'", text.trim())))
}

fn optional_name(t: &Typed) -> Option<String> {
    Some(t.name.trim().to_string()).filter(|n| !n.is_empty())
}

/// Checks and queues one form's request through the API's own checks; the job's id.
async fn queue(state: &AppState, s: &Session, src: &Source, mode: Mode, t: &Typed) -> Result<i64, Refusal> {
    let seed: u64 = if t.seed.trim().is_empty() { 0 } else { parse_field("seed", &t.seed, "a whole number >= 0")? };
    let temperature: Option<f64> = if t.temperature.trim().is_empty() {
        None
    } else {
        Some(parse_field("temperature", &t.temperature, "a number >= 0")?)
    };
    let rows = || parse_field::<usize>("rows", &t.rows, "a whole number of rows");
    if mode == Mode::Sample {
        let conditions: BTreeMap<String, String> =
            t.conditions.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect();
        let sreq = SampleRequest {
            model_id: src.model.id,
            n: rows()?,
            conditions,
            seed,
            temperature: temperature.unwrap_or(1.0),
            dataset_name: optional_name(t),
        };
        crate::api::check_sample(state, &src.model, &sreq).await.map_err(refusal)?;
        // the API learns of an unknown level only when it samples; the form knows the levels now
        for (col, value) in &sreq.conditions {
            let levels = src.conditions.iter().find(|(c, _)| c == col).map(|(_, l)| l.as_slice()).unwrap_or(&[]);
            if !levels.is_empty() && !levels.contains(value) {
                return Err(Refusal::bad(
                    &format!("conditions.{col}"),
                    format!("'{value}' is not a level of '{col}' (levels: {levels:?})"),
                ));
            }
        }
        return crate::api::queue_sample(state, s.role, &sreq).await.map_err(refusal);
    }
    let gate = PrivacyGate::default();
    let max_exact_copies = if t.max_exact_copies.trim().is_empty() {
        gate.max_exact_copies
    } else {
        parse_field("max_exact_copies", &t.max_exact_copies, "a whole number >= 0")?
    };
    let max_close_share = if t.max_close_share.trim().is_empty() {
        gate.max_close_share
    } else {
        parse_field("max_close_share", &t.max_close_share, "a number from 0 to 1")?
    };
    let (counts, balance) = match mode {
        Mode::Class => (Some(BTreeMap::from([(t.class.clone(), rows()?)])), None),
        Mode::ToMajority => (None, Some(json!("to_majority"))),
        Mode::Total => (None, Some(json!({ "total": rows()? }))),
        Mode::LikeReal | Mode::Sample => (None, Some(json!("like_real"))),
    };
    let req = CreateSynthetic {
        dataset_id: src.model.dataset_id,
        version: Some(src.model.dataset_version),
        label: t.label.clone(),
        counts,
        balance,
        model_id: Some(src.model.id),
        seed,
        temperature,
        name: optional_name(t),
        spec: None,
        privacy: Some(PrivacyGate { max_exact_copies, max_close_share }),
    };
    crate::api::queue_synthetic(state, &req).await.map(|(job, _, _)| job).map_err(refusal)
}

/// `GET /models/{id}/generate`: one form per mode.
async fn form(s: Session, state: web::Data<AppState>, path: web::Path<i64>) -> PageResult {
    if !s.may(Permission::CreateResources) {
        return Err(actix_web::error::ErrorForbidden(format!("the role '{}' may not generate data", s.role.as_str())));
    }
    let src = source(&state, path.into_inner()).await?;
    Ok(forms_page(&s, &src, state.limits.max_rows, None))
}

/// `POST /models/{id}/generate`: a job and its progress page, or the form again with the reason.
async fn submit(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: web::Form<Vec<(String, String)>>,
) -> PageResult {
    let pairs = form.into_inner();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    if !s.csrf_ok(get("csrf")) {
        return Err(actix_web::error::ErrorForbidden(
            "the form is stale or was not sent from this dashboard; reload the page",
        ));
    }
    if !s.may(Permission::CreateResources) {
        return Err(actix_web::error::ErrorForbidden(format!("the role '{}' may not generate data", s.role.as_str())));
    }
    let src = source(&state, path.into_inner()).await?;
    let Some(mode) = Mode::parse(get("mode")) else {
        let known: Vec<&str> = Mode::ALL.iter().map(|m| m.key()).collect();
        return Err(actix_web::error::ErrorBadRequest(format!("mode '{}' is not one of {known:?}", get("mode"))));
    };
    let typed = Typed::of(&pairs);
    match queue(&state, &s, &src, mode, &typed).await {
        Ok(job) => {
            tracing::info!(
                job,
                model = src.model.id,
                mode = mode.key(),
                by = s.token_id,
                "generation queued from the dashboard"
            );
            Ok(see_other(format!("/generations/{job}")))
        }
        Err(r) if r.status.is_server_error() => Err(actix_web::error::ErrorInternalServerError(r.message)),
        Err(r) => {
            let status = r.status;
            Ok(with_status(forms_page(&s, &src, state.limits.max_rows, Some((mode, &typed, &r))), status))
        }
    }
}

fn forms_page(s: &Session, src: &Source, max_rows: usize, failed: Option<(Mode, &Typed, &Refusal)>) -> HttpResponse {
    let m = &src.model;
    let body = html! {
        p { "Model " a href=(format!("/models/{}", m.id)) { (m.name) } " (" (m.job_status) ") · trained on "
            a href=(format!("/datasets/{}", m.dataset_id)) { "dataset " (m.dataset_id) " v" (m.dataset_version) }
            @if !src.conditions.is_empty() {
                " · conditioned on " (src.conditions.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", "))
            } }
        @if matches!(m.job_status.as_str(), "failed" | "cancelled") {
            p.error { "This model's training " (m.job_status) "; it cannot generate." }
        } @else if m.job_status != "succeeded" {
            p.muted { "The model is still training: rows of a class wait for it; plain samples need it trained." }
        }
        @for mode in Mode::ALL {
            @if !mode.synthetic() || !src.labels.is_empty() {
                @let mine = failed.filter(|f| f.0 == mode);
                @let fresh = Typed::defaults(mode, src);
                (mode_form(s, src, mode, max_rows, mine.map_or(&fresh, |f| f.1), mine.map(|f| f.2)))
            }
        }
        @if src.labels.is_empty() {
            p.muted { "Rows per class, balancing and a quality report need a model conditioned on a categorical label "
                "(train one with the label among its conditions)." }
        }
    };
    page(s, "/models", &format!("Generate from model {}", m.id), body)
}

/// One mode's form; `refused` puts the reason above it and marks the field at fault.
fn mode_form(s: &Session, src: &Source, mode: Mode, max_rows: usize, t: &Typed, refused: Option<&Refusal>) -> Markup {
    let key = mode.key();
    let id = |field: &str| format!("{key}-{}", field.replace(['.', ' '], "-"));
    let error_id = format!("{key}-error");
    let bad = |field: &str| refused.is_some_and(|r| r.field.as_deref() == Some(field));
    let invalid = |field: &str| bad(field).then_some("true");
    let described = |field: &str| bad(field).then(|| error_id.clone());
    html! {
        section aria-labelledby=(id("heading")) {
            h2 id=(id("heading")) { (mode.heading()) }
            p.muted { (mode.help()) }
            @if let Some(r) = refused {
                p.error role="alert" id=(error_id) { strong { (r.label) } ": " (r.message) }
            }
            form method="post" action=(format!("/models/{}/generate", src.model.id)) {
                (csrf_field(s))
                input type="hidden" name="mode" value=(key);
                @if mode.has_rows() {
                    label for=(id("rows")) { "Rows" }
                    input id=(id("rows")) type="number" name="rows" min="1" max=(max_rows) step="1" required
                        value=(t.rows) aria-invalid=[invalid("rows")] autofocus[bad("rows")] aria-describedby=[described("rows")];
                }
                @if mode.synthetic() {
                    label for=(id("label")) { "Label column" }
                    select id=(id("label")) name="label" aria-invalid=[invalid("label")] autofocus[bad("label")] aria-describedby=[described("label")] {
                        @for l in &src.labels { option value=(l) selected[*l == t.label] { (l) } }
                    }
                }
                @if mode == Mode::Class {
                    label for=(id("class")) { "Class" }
                    select id=(id("class")) name="class" required aria-invalid=[invalid("class")] autofocus[bad("class")] aria-describedby=[described("class")] {
                        @for (col, levels) in src.conditions.iter().filter(|(c, _)| src.labels.contains(c)) {
                            optgroup label=(col) {
                                @for l in levels { option value=(l) selected[*l == t.class] { (l) } }
                            }
                        }
                    }
                }
                @if mode == Mode::Sample {
                    @for (col, levels) in &src.conditions {
                        @let field = format!("condition.{col}");
                        @let given = t.conditions.get(col).cloned().unwrap_or_default();
                        label for=(id(&field)) { "Condition " (col) }
                        select id=(id(&field)) name=(field) aria-invalid=[invalid(&field)] autofocus[bad(&field)] aria-describedby=[described(&field)] {
                            option value="" selected[given.is_empty()] { "(any: the model chooses)" }
                            @for l in levels { option value=(l) selected[*l == given] { (l) } }
                        }
                    }
                }
                label for=(id("seed")) { "Seed" }
                input id=(id("seed")) type="number" name="seed" min="0" step="1" value=(t.seed)
                    aria-invalid=[invalid("seed")] autofocus[bad("seed")] aria-describedby=[described("seed")];
                label for=(id("temperature")) { "Temperature (1 as trained; lower is closer to typical rows)" }
                input id=(id("temperature")) type="number" name="temperature" min="0" step="any" value=(t.temperature)
                    aria-invalid=[invalid("temperature")] autofocus[bad("temperature")] aria-describedby=[described("temperature")];
                label for=(id("name")) { "New dataset name (empty: one is made up)" }
                input id=(id("name")) type="text" name="name" maxlength="128" value=(t.name)
                    aria-invalid=[invalid("name")] autofocus[bad("name")] aria-describedby=[described("name")];
                @if mode.synthetic() {
                    fieldset {
                        legend { "Privacy gate (a failed check blocks export without an admin override)" }
                        label for=(id("max_exact_copies")) { "Exact copies of training rows allowed" }
                        input id=(id("max_exact_copies")) type="number" name="max_exact_copies" min="0" step="1"
                            value=(t.max_exact_copies) aria-invalid=[invalid("max_exact_copies")] autofocus[bad("max_exact_copies")]
                            aria-describedby=[described("max_exact_copies")];
                        label for=(id("max_close_share")) { "Largest share of too-close rows (0 to 1; unseen real rows show about 0.05)" }
                        input id=(id("max_close_share")) type="number" name="max_close_share" min="0" max="1" step="any"
                            value=(t.max_close_share) aria-invalid=[invalid("max_close_share")] autofocus[bad("max_close_share")]
                            aria-describedby=[described("max_close_share")];
                    }
                }
                p { button type="submit" { "Generate" } }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A generation job's progress
// ---------------------------------------------------------------------------------------------

/// `GET /generations/{job}`: the job's progress, reloading while it runs; when it is done, the
/// report (synthetic rows) or the dataset (samples).
async fn progress(s: Session, state: web::Data<AppState>, path: web::Path<i64>) -> PageResult {
    let id = path.into_inner();
    let job = state
        .store
        .get_job(id)
        .await
        .map_err(unexpected)?
        .filter(|j| matches!(j.kind.as_str(), "sample" | "synthesize"))
        .ok_or_else(|| actix_web::error::ErrorNotFound(format!("job {id} is not a generation")))?;
    let dataset = job.result.as_ref().and_then(|r| r.0["dataset_id"].as_i64());
    if let (true, Some(d)) = (job.status == "succeeded", dataset) {
        let to = if job.kind == "synthesize" { format!("/datasets/{d}/report") } else { format!("/datasets/{d}") };
        return Ok(see_other(to));
    }
    let before = match job.depends_on {
        Some(dep) => state.store.get_job(dep).await.map_err(unexpected)?,
        None => None,
    };
    let model = job.payload.0["model_id"].as_i64();
    let running = matches!(job.status.as_str(), "queued" | "running");
    let body = html! {
        p { "Job " (job.id) " (" (job.kind) ") · " span class=(format!("status-{}", job.status)) { (job.status) }
            @if let Some(m) = model { " · model " a href=(format!("/models/{m}")) { (m) } } }
        (job_progress(&job))
        @if let Some(b) = before.as_ref().filter(|b| b.status != "succeeded") {
            p { "It waits for job " (b.id) " (" (b.kind) "), which is " (b.status) ":" }
            (job_progress(b))
        }
        @if running {
            p.muted { "This page reloads every " (REFRESH_SECS) " seconds; it opens the new data when the job is done." }
        } @else {
            @if let Some(e) = &job.last_error { p.error role="alert" { (e) } }
            @if let Some(m) = model { p { a href=(format!("/models/{m}/generate")) { "Back to the generation forms" } } }
        }
    };
    let title = format!("Generation job {id}");
    Ok(page_with_refresh(&s, "/jobs", &title, body, running.then_some(REFRESH_SECS)))
}

fn job_progress(j: &JobRow) -> Markup {
    html! {
        p {
            progress value=(format!("{:.3}", j.progress)) max="1" aria-label=(format!("job {} progress", j.id)) {
                (format!("{:.0} %", 100.0 * j.progress))
            }
            " " (format!("{:.0} %", 100.0 * j.progress))
            @if let Some(m) = &j.message { " · " (m) }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The synthetic-data report
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct VersionQuery {
    version: Option<i32>,
}

/// The plots of a report, drawn off the async threads.
struct ReportPlots {
    columns: Vec<Markup>,
    heatmap: Option<String>,
}

/// `GET /datasets/{id}/report`: real against synthetic rows column by column, the correlation
/// differences, and the stored detection, usefulness and privacy measures.
async fn report(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<VersionQuery>,
) -> PageResult {
    let id = path.into_inner();
    let not_found = |m: String| actix_web::error::ErrorNotFound(m);
    let d = state
        .store
        .get_dataset(id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| not_found(format!("dataset {id} does not exist")))?;
    let version = q.version.unwrap_or(d.latest_version);
    let stored = state.store.get_report(id, version).await.map_err(unexpected)?.ok_or_else(|| {
        not_found(format!("dataset {id} version {version} has no report (only synthetic versions have one)"))
    })?;
    let rep = stored.report.0;
    let (meta, synthetic) =
        crate::catalog::read_version(&state.store, id, Some(version)).await.map_err(|e| match e {
            crate::catalog::CatalogError::Unexpected(e) => unexpected(format!("{e:#}")),
            other => not_found(other.to_string()),
        })?;
    let lineage = meta.lineage.as_ref().map(|l| l.0.clone()).unwrap_or(Value::Null);
    let source = lineage["source_dataset_id"].as_i64().zip(lineage["source_version"].as_i64());
    // the real rows may have gone since; the stored measures still stand
    let real = match source {
        Some((sid, sv)) => crate::catalog::read_version(&state.store, sid, Some(sv as i32)).await.ok().map(|r| r.1),
        None => None,
    };
    let shapes: Option<ColumnShapes> = serde_json::from_value(rep["column_shapes"].clone()).ok();
    let plots = match real {
        Some(real) => {
            let schema = meta.schema.0.clone();
            let shapes = shapes.clone();
            Some(
                web::block(move || report_plots(&real, &synthetic, &schema, shapes.as_ref()))
                    .await
                    .map_err(unexpected)?,
            )
        }
        None => None,
    };
    let overrides = state.store.export_overrides(id, version).await.map_err(unexpected)?;
    let body = report_body(id, version, &stored.privacy_check, &rep, &lineage, shapes.as_ref(), plots, &overrides);
    Ok(page(&s, "/datasets", &format!("Report on {} v{version}", d.name), body))
}

/// Values of a column, every `step`-th row, missing as NaN.
fn numbers(df: &DataFrame, name: &str, step: usize) -> Option<Vec<f64>> {
    let col = df.column(name).ok()?.cast(&DataType::Float64).ok()?;
    Some(col.f64().ok()?.iter().step_by(step).map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Rows per level of a column, every `step`-th row, missing left out.
fn level_counts(df: &DataFrame, name: &str, step: usize) -> Option<BTreeMap<String, f64>> {
    let col = df.column(name).ok()?.cast(&DataType::String).ok()?;
    let mut counts = BTreeMap::new();
    for v in col.str().ok()?.iter().step_by(step).flatten() {
        *counts.entry(v.to_string()).or_default() += 1.0;
    }
    Some(counts)
}

/// Pearson correlation of the rows where both are present; `None` for fewer than 2 or a constant.
fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let pairs: Vec<(f64, f64)> =
        a.iter().zip(b).filter(|(x, y)| x.is_finite() && y.is_finite()).map(|(x, y)| (*x, *y)).collect();
    let n = pairs.len() as f64;
    if pairs.len() < 2 {
        return None;
    }
    let (ma, mb) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in &pairs {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    let r = sab / (saa * sbb).sqrt();
    r.is_finite().then_some(r.clamp(-1.0, 1.0))
}

/// Synthetic minus real correlation of every pair of numeric columns (NaN where either is undefined).
fn correlation_difference(real: &[Vec<f64>], synthetic: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let k = real.len();
    let mut out = vec![vec![f64::NAN; k]; k];
    for i in 0..k {
        for j in i..k {
            let diff = match (pearson(&real[i], &real[j]), pearson(&synthetic[i], &synthetic[j])) {
                (Some(r), Some(s)) => s - r,
                _ => f64::NAN,
            };
            out[i][j] = diff;
            out[j][i] = diff;
        }
    }
    out
}

fn report_plots(
    real: &DataFrame,
    synthetic: &DataFrame,
    schema: &crate::domain::Schema,
    shapes: Option<&ColumnShapes>,
) -> ReportPlots {
    let (real_step, synth_step) =
        (real.height().div_ceil(PLOT_ROWS).max(1), synthetic.height().div_ceil(PLOT_ROWS).max(1));
    let shape_of = |name: &str| {
        shapes.and_then(|s| s.details.iter().find(|d| d.column == name)).map(|d| {
            let metric = match d.metric {
                ShapeMetric::KSComplement => "KS complement",
                ShapeMetric::TVComplement => "TV complement",
            };
            format!("{metric} {}", fixed(d.score, 3))
        })
    };
    let mut columns = vec![];
    let mut numeric: Vec<(String, Vec<f64>, Vec<f64>)> = vec![];
    for c in &schema.columns {
        let caption = |kind: &str| match shape_of(&c.name) {
            Some(score) => format!("{}: {kind}, {score}", c.name),
            None => format!("{}: {kind}", c.name),
        };
        if c.kind.is_numeric() {
            let (Some(r), Some(s)) = (numbers(real, &c.name, real_step), numbers(synthetic, &c.name, synth_step))
            else {
                continue;
            };
            let svg = plots::overlaid_histogram(&r, &s, 30, &c.name, &format!("{}: real and synthetic", c.name));
            columns.push(figure(svg, &caption("real rows as bars, synthetic as the dark outline")));
            numeric.push((c.name.clone(), r, s));
        } else if matches!(c.kind, ColumnKind::Categorical | ColumnKind::Boolean) {
            let (Some(r), Some(s)) =
                (level_counts(real, &c.name, real_step), level_counts(synthetic, &c.name, synth_step))
            else {
                continue;
            };
            let (nr, ns) = (r.values().sum::<f64>().max(1.0), s.values().sum::<f64>().max(1.0));
            // the real table's most frequent levels first, then levels only the synthetic rows have
            let mut levels: Vec<(&String, f64)> = r.iter().map(|(l, n)| (l, *n)).collect();
            levels.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut order: Vec<String> = levels.into_iter().map(|(l, _)| l.clone()).collect();
            order.extend(s.keys().filter(|l| !r.contains_key(*l)).cloned());
            order.truncate(PLOT_LEVELS);
            let share = |m: &BTreeMap<String, f64>, n: f64| -> Vec<f64> {
                order.iter().map(|l| m.get(l).copied().unwrap_or(0.0) / n).collect()
            };
            let (rs, ss) = (share(&r, nr), share(&s, ns));
            let svg = plots::grouped_bars(
                &order,
                &[("real", &rs), ("synthetic", &ss)],
                &c.name,
                "share of rows",
                &format!("{}: real and synthetic", c.name),
            );
            columns.push(figure(svg, &caption("share of rows per level")));
        }
    }
    let heatmap = (numeric.len() >= 2).then(|| {
        let names: Vec<String> = numeric.iter().map(|n| n.0.clone()).collect();
        let real: Vec<Vec<f64>> = numeric.iter().map(|n| n.1.clone()).collect();
        let synth: Vec<Vec<f64>> = numeric.iter().map(|n| n.2.clone()).collect();
        plots::heatmap(
            &names,
            &correlation_difference(&real, &synth),
            "Correlation: synthetic minus real",
            "synthetic − real (Pearson r)",
        )
    });
    ReportPlots { columns, heatmap }
}

/// The width in pixels an SVG of `plots` declares (720 when it does not say).
fn svg_width(svg: &str) -> u32 {
    let tag = &svg[..svg.find('>').unwrap_or(svg.len())];
    tag.split(" width=\"").nth(1).and_then(|w| w.split('"').next()).and_then(|w| w.parse().ok()).unwrap_or(720)
}

#[allow(clippy::too_many_arguments)]
fn report_body(
    id: i64,
    version: i32,
    privacy_check: &str,
    rep: &Value,
    lineage: &Value,
    shapes: Option<&ColumnShapes>,
    plots: Option<ReportPlots>,
    overrides: &[(i64, String, chrono::DateTime<chrono::Utc>)],
) -> Markup {
    let detection: Option<Detection> = serde_json::from_value(rep["detection_detail"].clone()).ok();
    let usefulness: Option<Usefulness> = serde_json::from_value(rep["usefulness"].clone()).ok();
    let privacy = &rep["privacy"];
    let measures: Option<Privacy> = serde_json::from_value(privacy["measures"].clone()).ok();
    let gate: PrivacyGate = serde_json::from_value(privacy["gate"].clone()).unwrap_or_default();
    let passed = privacy_check == "passed";
    let plan: BTreeMap<String, i64> = serde_json::from_value(rep["plan"].clone()).unwrap_or_default();
    let real_counts: Vec<(String, i64)> = serde_json::from_value(rep["real_class_counts"].clone()).unwrap_or_default();
    html! {
        p { "Synthetic rows of "
            @if let Some(src) = lineage["source_dataset_id"].as_i64() {
                a href=(format!("/datasets/{src}?version={}", lineage["source_version"])) { "dataset " (src) " v" (lineage["source_version"]) }
            } @else { "unknown rows" }
            @if let Some(m) = lineage["model_id"].as_i64() { " from model " a href=(format!("/models/{m}")) { (m) } }
            " · label " (lineage["label"].as_str().unwrap_or("–"))
            " · seed " (lineage["seed"]) " · temperature " (lineage["temperature"]) " · "
            a href=(format!("/datasets/{id}?version={version}")) { "the rows" } " · "
            a href=(format!("/api/v1/datasets/{id}/report?version={version}")) { "report as JSON (API)" } }
        section aria-label="Scores" { div.cards {
            div.card { div.n { (fixed(rep["quality"].as_f64(), 3)) } "quality (1 = shapes and trends as real)" }
            div.card { div.n { (fixed(rep["detection"].as_f64(), 3)) } "detection (1 = not told apart)" }
            div.card { div.n { span class=(if passed { "status-succeeded" } else { "status-failed" }) { (privacy_check) } } "privacy check" }
        } }

        h2 { "Columns" }
        @match &plots {
            Some(p) => { div.plots { @for f in &p.columns { (f) } } }
            None => { p.muted { "The real rows these were generated from are no longer stored; only the measures are shown." } }
        }
        @if let Some(sh) = shapes {
            div.table-wrap { table {
                caption { "Column shapes (mean " (fixed(sh.score, 3)) "): 1 = the synthetic column is distributed as the real one" }
                thead { tr { th { "Column" } th { "Metric" } th.num { "Score" } th { "Note" } } }
                tbody { @for c in &sh.details { tr {
                    td { (c.column) }
                    td { (match c.metric { ShapeMetric::KSComplement => "KS complement", ShapeMetric::TVComplement => "TV complement" }) }
                    td.num { (fixed(c.score, 3)) }
                    td { (c.error.clone().unwrap_or_default()) }
                } } }
            } }
        }

        h2 { "Correlations" }
        @if let Some(svg) = plots.as_ref().and_then(|p| p.heatmap.clone()) {
            // at its own size: stretched to the page, a small matrix would get huge letters
            div style=(format!("max-width: {}px", svg_width(&svg))) {
                (figure(svg, "Pearson correlation of each pair of numeric columns in the synthetic rows minus that in the real rows; 0 = kept"))
            }
        } @else { p.muted { "Fewer than two numeric columns, or no real rows to compare with." } }
        p { "Column pair trends: " (fixed(rep["column_pair_trends"]["score"].as_f64(), 3)) " (1 = every relevant pair's trend kept)." }

        h2 { "Detection" }
        @if let Some(det) = &detection {
            table {
                thead { tr { th { "Measure" } th.num { "Value" } } }
                tbody {
                    tr { td { "Detection score (1 − 2·max(AUC − 0.5, 0); 1 = a logistic regression cannot tell synthetic from real rows)" } td.num { (fixed(Some(det.score), 3)) } }
                    @for (i, auc) in det.fold_auc.iter().enumerate() {
                        tr { td { "ROC AUC, fold " (i + 1) } td.num { (fixed(Some(*auc), 3)) } }
                    }
                    tr { td { "Classifier inputs" } td.num { (det.n_features) } }
                }
            }
        } @else { p.muted { "Not measured." } }

        h2 { "Usefulness per class" }
        @if let Some(u) = &usefulness {
            p { "A " (u.classifier) " predicting " strong { (u.label) } ", tested on " (u.test_rows)
                " real rows the generator never saw, after training on real, synthetic, or real plus synthetic rows. Recall per class:" }
            div.table-wrap { table {
                thead { tr { th { "Class" } th.num { "Test rows" } th.num { "Trained on real" } th.num { "On synthetic" } th.num { "On real + synthetic" } } }
                tbody {
                    @for (class, n) in &u.test_class_counts { tr {
                        td { (class) @if u.rare_classes.contains(class) { " " span.muted { "(rare)" } } }
                        td.num { (n) }
                        td.num { (fixed(u.train_real.recall.get(class).copied(), 3)) }
                        td.num { (fixed(u.train_synthetic.recall.get(class).copied(), 3)) }
                        td.num { (fixed(u.train_real_plus_synthetic.recall.get(class).copied(), 3)) }
                    } }
                    tr { th { "Macro F1" } td.num {}
                        td.num { (fixed(Some(u.train_real.macro_f1), 3)) }
                        td.num { (fixed(Some(u.train_synthetic.macro_f1), 3)) }
                        td.num { (fixed(Some(u.train_real_plus_synthetic.macro_f1), 3)) } }
                    tr { th { "Training rows" } td.num {}
                        td.num { (u.train_real.train_rows) } td.num { (u.train_synthetic.train_rows) }
                        td.num { (u.train_real_plus_synthetic.train_rows) } }
                }
            } }
        } @else {
            p.muted { (rep["usefulness_error"].as_str().unwrap_or("Not measured.")) }
        }
        @if !plan.is_empty() {
            table {
                caption { "Rows generated per class" }
                thead { tr { th { "Class" } th.num { "Real rows" } th.num { "Synthetic rows" } } }
                tbody { @for (class, n) in &real_counts { tr {
                    td { (class) } td.num { (n) } td.num { (plan.get(class).copied().unwrap_or(0)) }
                } } }
            }
        }

        h2 { "Privacy gate" }
        p { "The check " strong class=(if passed { "status-succeeded" } else { "status-failed" }) { (privacy_check) } ". "
            @if !passed { "Export needs an admin's override with a reason." } }
        @if let Some(reasons) = privacy["reasons"].as_array().filter(|r| !r.is_empty()) {
            ul role="alert" { @for r in reasons { li.error { (r.as_str().unwrap_or("")) } } }
        }
        @if let Some(m) = &measures {
            table {
                thead { tr { th { "Measure" } th.num { "Synthetic rows" } th.num { "Allowed" } } }
                tbody {
                    tr { td { "Exact copies of a training row" } td.num { (m.exact_copies) } td.num { "at most " (gate.max_exact_copies) } }
                    tr { td { "Share closer to a training row than 95 % of unseen real rows are" }
                         td.num { (percent(m.share_syn_below_holdout_p5)) } td.num { "at most " (percent(Some(gate.max_close_share))) } }
                    tr { td { "Median distance to the closest training row (unseen real rows: " (fixed(m.dcr_median_holdout, 3)) ")" }
                         td.num { (fixed(m.dcr_median_syn, 3)) } td.num { "–" } }
                }
            }
            p.muted { "Holdout: " (privacy["holdout"].as_str().unwrap_or("–")) "; " (privacy["train_rows"]) " training rows, "
                (privacy["holdout_rows"]) " holdout rows. Distances over " (m.distance_columns.len()) " standardised numeric columns." }
        }
        @if !overrides.is_empty() {
            table {
                caption { "Exports despite the failed check" }
                thead { tr { th.num { "Token" } th { "Reason" } th { "At" } } }
                tbody { @for (token, reason, at) in overrides { tr { td.num { (token) } td { (reason) } td { (time(at)) } } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_fields_map_to_the_form_fields_that_hold_them() {
        for (api, field, label) in [
            ("n", "rows", "Rows"),
            ("counts", "rows", "Rows"),
            ("balance.total", "rows", "Rows"),
            ("counts.X", "class", "Class"),
            ("dataset_name", "name", "New dataset name"),
            ("privacy", "max_close_share", "Largest share of too-close rows"),
            ("conditions.Type", "condition.Type", "Condition Type"),
            ("model_id", "label", "Label column"),
        ] {
            assert_eq!(place(Some(api)), (Some(field.to_string()), label.to_string()), "{api}");
        }
        assert_eq!(place(Some("dataset_id")), (None, "dataset_id".to_string()));
        assert_eq!(place(None), (None, "Request".to_string()));
    }

    #[test]
    fn modes_round_trip_and_form_values_are_read_back() {
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.key()), Some(m));
        }
        assert_eq!(Mode::parse("evenly"), None);
        let pairs: Vec<(String, String)> = [("rows", "5"), ("condition.Type", "H"), ("name", " x "), ("csrf", "t")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let t = Typed::of(&pairs);
        assert_eq!((t.rows.as_str(), t.conditions["Type"].as_str()), ("5", "H"));
        assert_eq!(optional_name(&t).as_deref(), Some("x"));
        let r = parse_field::<usize>("rows", "-1", "a whole number of rows").unwrap_err();
        assert_eq!((r.field.as_deref(), r.status), (Some("rows"), StatusCode::BAD_REQUEST));
        assert!(r.message.contains("'-1'"), "{}", r.message);
    }

    #[test]
    fn correlation_differences_are_symmetric_and_undefined_for_constants() {
        let a: Vec<f64> = (0..50).map(|i| i as f64).collect();
        let b: Vec<f64> = a.iter().map(|x| 2.0 * x + 1.0).collect();
        let c = vec![3.0; 50];
        assert!((pearson(&a, &b).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(pearson(&a, &c), None);
        assert_eq!(pearson(&[1.0], &[2.0]), None);
        let anti: Vec<f64> = a.iter().map(|x| -x).collect();
        let d = correlation_difference(&[a.clone(), b.clone(), c.clone()], &[a.clone(), anti, c]);
        assert!((d[0][1] + 2.0).abs() < 1e-12 && d[0][1] == d[1][0], "{d:?}");
        assert_eq!(d[0][0], 0.0);
        assert!(d[2][0].is_nan() && d[2][2].is_nan());
    }
}
