//! Training from the dashboard: the form, live loss curves, the latent-space map.
//! The form becomes the API's training request and goes through the API's own checks.

use super::layout::{csrf_field, figure, page};
use super::pages::unexpected;
use super::plots::{self, Series};
use super::session::Session;
use crate::api::error::ApiError;
use crate::api::{parse_spec, queue_training, AppState, CreateModel};
use crate::domain::{ColumnKind, ColumnRole, Permission, Schema};
use crate::ml::{FittedVae, VaeParams};
use crate::store::ModelRow;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use ndarray::{Array1, Array2, Axis};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Rows of a dataset encoded for the latent map (evenly strided beyond that).
const MAP_ROWS: usize = 2_000;
/// Colour groups on the latent map; rarer values are pooled into one "other" group.
const MAX_GROUPS: usize = 8;
/// Datasets whose categorical columns the form offers to condition on (plus the chosen one).
const CONDITION_DATASETS: usize = 50;

type PageResult = Result<HttpResponse, actix_web::Error>;

/// Registers this part's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/models/new").route(web::get().to(form)).route(web::post().to(submit)));
}

fn require_create(s: &Session) -> Result<(), actix_web::Error> {
    if s.may(Permission::CreateResources) {
        Ok(())
    } else {
        Err(actix_web::error::ErrorForbidden(format!("the role '{}' may not train models", s.role.as_str())))
    }
}

/// The spec fields of the form: (input name = spec key, label, hint).
const SPEC_INPUTS: [(&str, &str, &str); 6] = [
    ("epochs", "Epochs", "Most epochs to run; training stops early when validation loss stops improving."),
    ("latent", "Latent dimensions", "Size of the latent space."),
    ("hidden", "Hidden layer sizes", "Comma-separated widths of the encoder's layers (the decoder mirrors them)."),
    ("batch_size", "Batch size", "Rows per gradient step."),
    ("learning_rate", "Learning rate", "Adam step size, a positive number such as 0.001."),
    ("seed", "Seed", "The same seed and data give the same model."),
];

/// The form as sent: every field as text, so a refused value comes back as it was typed.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(default)]
pub struct TrainForm {
    csrf: String,
    dataset_id: String,
    name: String,
    epochs: String,
    latent: String,
    hidden: String,
    batch_size: String,
    learning_rate: String,
    seed: String,
    condition: String,
}

impl TrainForm {
    /// The API's defaults (`VaeParams::default()`), so the form trains what `POST /api/v1/models` would.
    fn defaults(dataset: Option<i64>) -> TrainForm {
        let p = VaeParams::default();
        TrainForm {
            dataset_id: dataset.map(|d| d.to_string()).unwrap_or_default(),
            epochs: p.epochs.to_string(),
            latent: p.latent.to_string(),
            hidden: p.hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(", "),
            batch_size: p.batch_size.to_string(),
            learning_rate: p.learning_rate.to_string(),
            seed: p.seed.to_string(),
            ..Default::default()
        }
    }

    fn spec_text(&self, key: &str) -> &str {
        match key {
            "epochs" => &self.epochs,
            "latent" => &self.latent,
            "hidden" => &self.hidden,
            "batch_size" => &self.batch_size,
            "learning_rate" => &self.learning_rate,
            _ => &self.seed,
        }
    }
}

/// A refusal: the input it is about (`None`: the form as a whole) and the message.
type Refusal = (Option<&'static str>, String);

/// A field's text as the JSON the API's spec parser reads: numbers as numbers, the hidden sizes as
/// an array of numbers, anything else as the text itself (which the parser then refuses).
fn json_of(key: &str, text: &str) -> Value {
    let t = text.trim();
    let number = |s: &str| serde_json::from_str::<Value>(s).ok().filter(Value::is_number);
    if key == "hidden" {
        let parts: Option<Vec<Value>> =
            t.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()).map(number).collect();
        return parts.map(Value::Array).unwrap_or_else(|| Value::String(t.to_string()));
    }
    number(t).unwrap_or_else(|| Value::String(t.to_string()))
}

/// The spec of a submitted form. Each field goes alone through the API's parser (the other fields
/// at their defaults), so a refusal carries the API's words and names the one input at fault.
fn spec_of(v: &TrainForm, threads: usize, refusals: &mut Vec<Refusal>) -> Map<String, Value> {
    let mut spec = Map::new();
    for (key, label, _) in SPEC_INPUTS {
        let text = v.spec_text(key);
        if text.trim().is_empty() {
            refusals.push((Some(key), format!("{label}: enter a value")));
            continue;
        }
        let value = json_of(key, text);
        let alone = Value::Object(Map::from_iter([(key.to_string(), value.clone())]));
        match parse_spec(Some(&alone), threads) {
            Ok(_) => {
                spec.insert(key.to_string(), value);
            }
            Err(e) => refusals.push((Some(key), e.to_string())),
        }
    }
    if !v.condition.trim().is_empty() {
        spec.insert("conditions".into(), json!([v.condition.trim()]));
    }
    spec
}

/// The form input an API refusal is about.
fn input_of(field: Option<&str>) -> Option<&'static str> {
    match field? {
        "dataset_id" | "version" => Some("dataset_id"),
        "name" => Some("name"),
        "spec.conditions" => Some("condition"),
        f => SPEC_INPUTS.iter().map(|(k, _, _)| *k).find(|k| f.strip_prefix("spec.") == Some(*k)),
    }
}

#[derive(Deserialize)]
pub struct NewQuery {
    dataset: Option<String>,
}

/// `GET /models/new`: the training form, at the API's defaults (`?dataset=ID` preselects).
async fn form(s: Session, state: web::Data<AppState>, q: web::Query<NewQuery>) -> PageResult {
    require_create(&s)?;
    let dataset = q.dataset.as_deref().and_then(|d| d.trim().parse::<i64>().ok());
    form_page(&s, &state, &TrainForm::defaults(dataset), &[], StatusCode::OK).await
}

/// `POST /models/new`: a queued model (303 to its page), or the form again with the refusals.
async fn submit(s: Session, state: web::Data<AppState>, form: web::Form<TrainForm>) -> PageResult {
    let v = form.into_inner();
    if !s.csrf_ok(&v.csrf) {
        return Err(actix_web::error::ErrorForbidden(
            "the form is stale or was not sent from this dashboard; reload the page",
        ));
    }
    require_create(&s)?;
    let mut refusals: Vec<Refusal> = vec![];
    let dataset_id = match v.dataset_id.trim() {
        "" => {
            refusals.push((Some("dataset_id"), "dataset_id: choose a dataset to train on".into()));
            None
        }
        t => match t.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                refusals.push((Some("dataset_id"), format!("dataset_id: '{t}' is not a dataset id")));
                None
            }
        },
    };
    let spec = spec_of(&v, state.threads, &mut refusals);
    let Some(dataset_id) = dataset_id.filter(|_| refusals.is_empty()) else {
        return form_page(&s, &state, &v, &refusals, StatusCode::BAD_REQUEST).await;
    };
    let name = v.name.trim();
    let req = CreateModel {
        dataset_id,
        version: None,
        spec: Some(Value::Object(spec)),
        name: (!name.is_empty()).then(|| name.to_string()),
        checkpoint_every: None,
    };
    match queue_training(&state, &req).await {
        Ok((model_id, job_id)) => {
            tracing::info!(model = model_id, job = job_id, by = s.token_id, "training queued from the dashboard");
            Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/models/{model_id}"))).finish())
        }
        Err(ApiError::Client { status, detail, field, .. }) => {
            form_page(&s, &state, &v, &[(input_of(field.as_deref()), detail)], status).await
        }
        Err(ApiError::Retry { status, detail, .. }) => {
            form_page(&s, &state, &v, &[(input_of(None), detail)], status).await
        }
        Err(ApiError::Unexpected(e)) => Err(unexpected(format!("{e:#}"))),
    }
}

/// The categorical columns a model of this schema may condition on (modelled, categorical or yes/no).
fn condition_columns(schema: &Schema) -> Vec<String> {
    schema
        .columns
        .iter()
        .filter(|c| {
            crate::bridge::modelled(c.kind, c.role) && matches!(c.kind, ColumnKind::Categorical | ColumnKind::Boolean)
        })
        .map(|c| c.name.clone())
        .collect()
}

async fn form_page(
    s: &Session,
    state: &AppState,
    v: &TrainForm,
    refusals: &[Refusal],
    status: StatusCode,
) -> PageResult {
    let datasets = state.store.list_datasets(0, 500).await.map_err(unexpected)?;
    let chosen: Option<i64> = v.dataset_id.trim().parse().ok();
    // per dataset, the columns it could condition on (no script: every dataset's are listed, grouped)
    let mut conditions: Vec<(String, bool, Vec<String>)> = vec![];
    for (i, d) in datasets.iter().enumerate() {
        let is_chosen = chosen == Some(d.id);
        if i >= CONDITION_DATASETS && !is_chosen {
            continue;
        }
        if let Some(ver) = state.store.get_version(d.id, None).await.map_err(unexpected)? {
            let cols = condition_columns(&ver.schema.0);
            if !cols.is_empty() {
                conditions.push((d.name.clone(), is_chosen, cols));
            }
        }
    }
    let errors_of =
        |id: &str| -> Vec<&str> { refusals.iter().filter(|(f, _)| *f == Some(id)).map(|(_, m)| m.as_str()).collect() };
    let general: Vec<&str> = refusals.iter().filter(|(f, _)| f.is_none()).map(|(_, m)| m.as_str()).collect();
    // an input's error paragraph, and the attributes that tie it to the input
    let described = |id: &str| (!errors_of(id).is_empty()).then(|| format!("{id}-error"));
    let invalid = |id: &str| (!errors_of(id).is_empty()).then_some("true");
    let alert = |id: &str| {
        let errors = errors_of(id);
        html! { @if !errors.is_empty() { p.error role="alert" id=(format!("{id}-error")) { (errors.join("; ")) } } }
    };
    let body = html! {
        p.muted { "Training runs as a job on the worker; its page shows the loss curves as they come. "
            "The same request through the API: " code { "POST /api/v1/models" } "." }
        @if !refusals.is_empty() {
            p.error role="alert" { "Nothing was queued: "
                @if general.is_empty() { "correct the fields marked below." } @else { (general.join("; ")) } }
        }
        form method="post" action="/models/new" {
            (csrf_field(s))
            label for="dataset_id" { "Dataset" }
            (alert("dataset_id"))
            select #dataset_id name="dataset_id" required aria-invalid=[invalid("dataset_id")] aria-describedby=[described("dataset_id")] {
                option value="" selected[chosen.is_none()] { "Choose a dataset" }
                @for d in &datasets {
                    option value=(d.id) selected[chosen == Some(d.id)] {
                        (d.name) " (v" (d.latest_version) ", " (d.row_count) " rows)"
                    }
                }
            }
            label for="name" { "Model name" }
            (alert("name"))
            input #name type="text" name="name" maxlength="200" value=(v.name) placeholder="default: the dataset's name and “vae”"
                aria-invalid=[invalid("name")] aria-describedby=[described("name")];
            @for (key, label, hint) in SPEC_INPUTS {
                label for=(key) { (label) }
                (alert(key))
                @let hint_id = format!("{key}-hint");
                @let describedby = described(key).map_or(hint_id.clone(), |e| format!("{e} {hint_id}"));
                @match key {
                    "hidden" => {
                        input id=(key) type="text" name=(key) value=(v.spec_text(key)) required
                            aria-invalid=[invalid(key)] aria-describedby=(describedby);
                    }
                    "learning_rate" => {
                        input id=(key) type="number" name=(key) value=(v.spec_text(key)) required
                            step="any" min="0" aria-invalid=[invalid(key)] aria-describedby=(describedby);
                    }
                    "seed" => {
                        input id=(key) type="number" name=(key) value=(v.spec_text(key)) required
                            step="1" min="0" aria-invalid=[invalid(key)] aria-describedby=(describedby);
                    }
                    _ => {
                        input id=(key) type="number" name=(key) value=(v.spec_text(key)) required
                            step="1" min="1" aria-invalid=[invalid(key)] aria-describedby=(describedby);
                    }
                }
                p.muted id=(hint_id) { (hint) }
            }
            label for="condition" { "Condition on (optional)" }
            (alert("condition"))
            select #condition name="condition" aria-invalid=[invalid("condition")]
                aria-describedby=(described("condition").map_or("condition-hint".to_string(), |e| format!("{e} condition-hint"))) {
                option value="" selected[v.condition.is_empty()] { "Nothing" }
                @for (dataset, is_chosen, cols) in &conditions {
                    optgroup label=(dataset) {
                        @for c in cols {
                            option value=(c) selected[*is_chosen && v.condition.trim() == c] { (c) }
                        }
                    }
                }
            }
            p.muted id="condition-hint" { "A categorical column of the chosen dataset (grouped by dataset here). "
                "The model learns the other columns given it, and you pick its value when sampling." }
            p { button type="submit" { "Train" } " " a href="/models" { "Cancel" } }
        }
    };
    let mut r = page(s, "/models", "Train a model", body);
    *r.status_mut() = status;
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// The latent-space map of a trained model
// ---------------------------------------------------------------------------------------------

/// The model page's query: which column colours the latent map (`color=` for one group).
#[derive(Deserialize, Default)]
pub struct LatentQuery {
    pub color: Option<String>,
}

/// The columns that can colour a latent map: categorical or yes/no, not identifiers.
fn colour_columns(schema: &Schema) -> Vec<(String, ColumnRole)> {
    schema
        .columns
        .iter()
        .filter(|c| matches!(c.kind, ColumnKind::Categorical | ColumnKind::Boolean) && c.role != ColumnRole::Id)
        .map(|c| (c.name.clone(), c.role))
        .collect()
}

/// A latent map ready to draw.
struct LatentMap {
    latent: usize,
    rows: usize,
    step: usize,
    /// Share of the latent means' variance on each plotted axis.
    explained: [f64; 2],
    groups: Vec<(String, Vec<(f64, f64)>)>,
}

/// The map of a trained model: up to 2,000 rows of its dataset version (evenly strided) encoded
/// to their latent means, projected on two principal axes, coloured by `color` (default: the
/// dataset's label column, if any), with the form that picks the colour. Loads and encodes on
/// the blocking pool.
pub async fn latent_map(state: &AppState, m: &ModelRow, color: Option<&str>) -> Result<Markup, actix_web::Error> {
    let note = |m: String| html! { p.muted { (m) } };
    let Some(bytes) = state.store.model_file(m.id).await.map_err(unexpected)? else {
        return Ok(note("The latent map appears when the model file is stored.".into()));
    };
    let (meta, df) = match crate::catalog::read_version(&state.store, m.dataset_id, Some(m.dataset_version)).await {
        Ok(r) => r,
        Err(crate::catalog::CatalogError::Unexpected(e)) => return Err(unexpected(format!("{e:#}"))),
        Err(e) => return Ok(note(format!("No latent map: the training data is gone ({e})."))),
    };
    let schema = meta.schema.0;
    let choices = colour_columns(&schema);
    let (chosen, unknown) = match color {
        Some("") => (None, None),
        Some(c) if choices.iter().any(|(n, _)| n == c) => (Some(c.to_string()), None),
        Some(c) => (None, Some(c.to_string())),
        None => (choices.iter().find(|(_, r)| *r == ColumnRole::Label).map(|(n, _)| n.clone()), None),
    };
    let colour = chosen.clone();
    let map = web::block(move || project(&bytes, &df, &schema, colour.as_deref())).await.map_err(unexpected)?;
    let map = match map {
        Ok(map) => map,
        Err(e) => return Ok(html! { p.error { "The latent map could not be drawn: " (e) } }),
    };
    let series: Vec<Series> = map.groups.iter().map(|(name, points)| Series { name, points }).collect();
    let (x_label, y_label) = if map.latent == 1 {
        ("latent mean (the only dimension)".to_string(), "0".to_string())
    } else {
        (
            format!("principal axis 1 ({:.0} % of variance)", 100.0 * map.explained[0]),
            format!("principal axis 2 ({:.0} % of variance)", 100.0 * map.explained[1]),
        )
    };
    let title = match &chosen {
        Some(c) => format!("Latent space by {c}"),
        None => "Latent space".to_string(),
    };
    let svg = plots::scatter(&series, &x_label, &y_label, &title);
    let sampled = if map.step > 1 { format!(" (every {}th row)", map.step) } else { String::new() };
    let projection = if map.latent == 1 {
        "the model has one latent dimension, drawn against 0".to_string()
    } else {
        format!("projected from {} latent dimensions onto their two principal axes", map.latent)
    };
    let caption = format!(
        "{} rows of dataset {} v{}{sampled}, encoded to their latent means and {projection}",
        map.rows, m.dataset_id, m.dataset_version
    );
    Ok(html! {
        @if let Some(c) = &unknown {
            p.error role="alert" { "The dataset has no categorical column '" (c) "' to colour by; showing one group." }
        }
        form method="get" action=(format!("/models/{}", m.id)) {
            label for="color" { "Colour by" }
            select #color name="color" {
                option value="" selected[chosen.is_none()] { "Nothing (one group)" }
                @for (name, role) in &choices {
                    option value=(name) selected[chosen.as_deref() == Some(name.as_str())] {
                        (name) @if *role == ColumnRole::Label { " (label)" }
                    }
                }
            }
            p { button type="submit" { "Redraw" } }
        }
        div.plots { (figure(svg, &caption)) }
    })
}

/// Encodes the strided rows and projects them (CPU work: call on the blocking pool).
fn project(
    bytes: &[u8],
    df: &polars::prelude::DataFrame,
    schema: &Schema,
    colour: Option<&str>,
) -> Result<LatentMap, String> {
    let fitted = FittedVae::from_bytes(bytes).map_err(|e| e.to_string())?;
    let table = crate::bridge::to_ml_table(df, schema)?;
    let n = table.n_rows();
    let step = n.div_ceil(MAP_ROWS).max(1);
    let idx: Vec<usize> = (0..n).step_by(step).collect();
    let (mu, _) = fitted.encode(&table.select_rows(&idx)).map_err(|e| e.to_string())?;
    let z = mu.mapv(f64::from);
    let (points, explained) =
        if z.ncols() == 1 { (z.column(0).iter().map(|&x| (x, 0.0)).collect(), [1.0, 0.0]) } else { pca_2d(&z) };
    let labels = colour.map(|c| column_labels(df, c, &idx)).transpose()?;
    Ok(LatentMap { latent: z.ncols(), rows: idx.len(), step, explained, groups: groups_of(points, colour, labels) })
}

/// The values of column `name` at rows `idx`, as text ("(missing)" for a missing value).
fn column_labels(df: &polars::prelude::DataFrame, name: &str, idx: &[usize]) -> Result<Vec<String>, String> {
    let col = df.column(name).map_err(|e| format!("column '{name}': {e}"))?;
    let text = col.cast(&polars::prelude::DataType::String).map_err(|e| format!("column '{name}': {e}"))?;
    let ca = text.str().map_err(|e| format!("column '{name}': {e}"))?;
    Ok(idx.iter().map(|&i| ca.get(i).map_or_else(|| "(missing)".to_string(), str::to_string)).collect())
}

/// Points grouped by label, largest group first (so rare values are drawn last, on top); past
/// `MAX_GROUPS` the rarest values share one "other" group.
fn groups_of(
    points: Vec<(f64, f64)>,
    column: Option<&str>,
    labels: Option<Vec<String>>,
) -> Vec<(String, Vec<(f64, f64)>)> {
    let (Some(column), Some(labels)) = (column, labels) else {
        return vec![("all rows".to_string(), points)];
    };
    let mut by: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for (p, l) in points.into_iter().zip(labels) {
        by.entry(l).or_default().push(p);
    }
    let mut groups: Vec<(String, Vec<(f64, f64)>)> = by.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    let mut out: Vec<(String, Vec<(f64, f64)>)> =
        groups.iter().take(MAX_GROUPS - 1).map(|(l, p)| (format!("{column} = {l}"), p.clone())).collect();
    if groups.len() >= MAX_GROUPS {
        let rest = &groups[MAX_GROUPS - 1..];
        if rest.len() == 1 {
            out.push((format!("{column} = {}", rest[0].0), rest[0].1.clone()));
        } else {
            let pooled = rest.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            out.push((format!("{column}: {} other values", rest.len()), pooled));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// PCA by hand
// ---------------------------------------------------------------------------------------------
//
// linfa-reduction (linfa's PCA) is not a dependency, and ndarray-linalg's BLAS/LAPACK does not link
// here (see the note on argmin-math in Cargo.toml). Two eigenvectors of a small symmetric matrix (latent × latent, latent is
// tens at most) need neither: power iteration converges at the rate λ2/λ1 per step on a few hundred
// multiply-adds, and deflation (subtracting λ1·v1·v1ᵀ) turns the second eigenvector into the first
// of what is left. Each iterate is also kept orthogonal to the axes already found, so rounding (or
// a covariance of rank 1, where the deflated matrix is zero) cannot bring back the first axis.

/// Power-iteration steps at most per eigenvector.
const MAX_POWER_STEPS: usize = 5_000;

fn norm(v: &Array1<f64>) -> f64 {
    v.dot(v).sqrt()
}

/// `v` without its components along the (unit) vectors of `found`.
fn orthogonal_to(mut v: Array1<f64>, found: &[Array1<f64>]) -> Array1<f64> {
    for u in found {
        let p = v.dot(u);
        v.scaled_add(-p, u);
    }
    v
}

/// The largest eigenpair of the symmetric positive semi-definite `a` among vectors orthogonal to
/// `found`; the vector has unit length and its largest component positive (a stable sign).
/// `scale` is the size of the entries of the matrix before any deflation: what is left below
/// 1e-14 of it is rounding, not variance.
fn top_eigen(a: &Array2<f64>, found: &[Array1<f64>], scale: f64) -> (f64, Array1<f64>) {
    let d = a.nrows();
    // start with unequal weight on every axis (not orthogonal to a symmetric pattern like (1, -1));
    // if that lies along the axes found already, fall back to the first coordinate axis that does not
    let starts = std::iter::once(Array1::from_iter((0..d).map(|i| 1.0 + i as f64 / d as f64)))
        .chain((0..d).map(|i| Array1::from_iter((0..d).map(|j| if i == j { 1.0 } else { 0.0 }))));
    let Some(mut v) = starts.map(|s| orthogonal_to(s, found)).find(|v| norm(v) > 1e-6) else {
        return (0.0, Array1::zeros(d));
    };
    let length = norm(&v);
    v /= length;
    for _ in 0..MAX_POWER_STEPS {
        let w = orthogonal_to(a.dot(&v), found);
        let length = norm(&w);
        if length <= 1e-14 * scale.max(f64::MIN_POSITIVE) {
            break; // no variance left off the axes found: any remaining direction will do
        }
        let next = w / length;
        let change = norm(&(&next - &v));
        v = next;
        if change < 1e-12 {
            break;
        }
    }
    let lambda = v.dot(&a.dot(&v)).max(0.0);
    let biggest = v.iter().copied().fold(0.0_f64, |m, x| if x.abs() > m.abs() { x } else { m });
    if biggest < 0.0 {
        v.mapv_inplace(|x| -x);
    }
    (lambda, v)
}

/// The two largest eigenpairs of a symmetric positive semi-definite matrix (power iteration with
/// deflation), largest first.
fn top_two_eigen(cov: &Array2<f64>) -> [(f64, Array1<f64>); 2] {
    let scale = cov.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    let (l1, v1) = top_eigen(cov, &[], scale);
    let v1_col = v1.view().insert_axis(Axis(1));
    let deflated = cov - &(l1 * v1_col.dot(&v1_col.t()));
    let (l2, v2) = top_eigen(&deflated, std::slice::from_ref(&v1), scale);
    [(l1, v1), (l2, v2)]
}

/// Rows of `x` (n × d, d ≥ 2) centred and projected on their first two principal axes, and the
/// share of the total variance each axis carries.
fn pca_2d(x: &Array2<f64>) -> (Vec<(f64, f64)>, [f64; 2]) {
    let n = x.nrows();
    let Some(mean) = x.mean_axis(Axis(0)) else {
        return (vec![], [0.0, 0.0]);
    };
    let c = x - &mean;
    let cov = c.t().dot(&c) / n.saturating_sub(1).max(1) as f64;
    let total = cov.diag().sum();
    let [(l1, v1), (l2, v2)] = top_two_eigen(&cov);
    let (p1, p2) = (c.dot(&v1), c.dot(&v2));
    let share = |l: f64| if total > 0.0 { (l / total).clamp(0.0, 1.0) } else { 0.0 };
    (p1.iter().zip(p2.iter()).map(|(a, b)| (*a, *b)).collect(), [share(l1), share(l2)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::array;

    #[test]
    fn power_iteration_finds_the_known_eigenpairs_of_a_covariance() {
        // The upper 2×2 block [[4, 1], [1, 3]] has λ² − 7λ + 11 = 0, so λ = (7 ± √5) / 2, with
        // eigenvectors (1, λ − 4); the third axis is an eigenvector with λ = 1.
        let cov = array![[4.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 1.0]];
        let [(l1, v1), (l2, v2)] = top_two_eigen(&cov);
        let s5 = 5.0_f64.sqrt();
        assert_abs_diff_eq!(l1, (7.0 + s5) / 2.0, epsilon = 1e-9);
        assert_abs_diff_eq!(l2, (7.0 - s5) / 2.0, epsilon = 1e-9);
        let unit = |v: Array1<f64>| &v / norm(&v);
        let e1 = unit(array![1.0, (7.0 + s5) / 2.0 - 4.0, 0.0]);
        let e2 = unit(array![1.0, (7.0 - s5) / 2.0 - 4.0, 0.0]);
        assert_abs_diff_eq!(v1.dot(&e1).abs(), 1.0, epsilon = 1e-9);
        assert_abs_diff_eq!(v2.dot(&e2).abs(), 1.0, epsilon = 1e-9);
        assert_abs_diff_eq!(v1.dot(&v2), 0.0, epsilon = 1e-9);
        // the sign is fixed: the largest component is positive
        assert!(v1[0] > 0.0 && v2[1] > 0.0, "{v1} {v2}");
    }

    #[test]
    fn degenerate_covariances_still_give_two_orthogonal_unit_axes() {
        // equal eigenvalues: any orthonormal pair is right
        let [(l1, v1), (l2, v2)] = top_two_eigen(&array![[2.0, 0.0], [0.0, 2.0]]);
        assert_abs_diff_eq!(l1, 2.0, epsilon = 1e-9);
        assert_abs_diff_eq!(l2, 2.0, epsilon = 1e-9);
        assert_abs_diff_eq!(v1.dot(&v2), 0.0, epsilon = 1e-9);
        assert_abs_diff_eq!(norm(&v2), 1.0, epsilon = 1e-9);
        // rank 1: the deflated matrix is zero, the second axis is still orthogonal
        let [(l1, v1), (l2, v2)] = top_two_eigen(&array![[1.0, 1.0], [1.0, 1.0]]);
        assert_abs_diff_eq!(l1, 2.0, epsilon = 1e-9);
        assert_abs_diff_eq!(l2, 0.0, epsilon = 1e-9);
        assert_abs_diff_eq!(v1.dot(&v2), 0.0, epsilon = 1e-9);
        assert_abs_diff_eq!(norm(&v2), 1.0, epsilon = 1e-9);
        // nothing at all
        let [(l1, _), (l2, _)] = top_two_eigen(&Array2::zeros((3, 3)));
        assert_eq!((l1, l2), (0.0, 0.0));
    }

    #[test]
    fn pca_of_points_on_a_line_puts_all_variance_on_the_first_axis() {
        let dir = array![1.0, 2.0, 2.0] / 3.0;
        let mut x = Array2::zeros((50, 3));
        for (i, mut row) in x.rows_mut().into_iter().enumerate() {
            row.assign(&(&dir * (i as f64 - 10.0) + &array![5.0, -1.0, 0.5]));
        }
        let (points, explained) = pca_2d(&x);
        assert_eq!(points.len(), 50);
        assert_abs_diff_eq!(explained[0], 1.0, epsilon = 1e-9);
        assert_abs_diff_eq!(explained[1], 0.0, epsilon = 1e-9);
        for (i, (a, b)) in points.iter().enumerate() {
            // centred: the first coordinate is the distance along the line from the mean (i = 24.5)
            assert_abs_diff_eq!(a.abs(), (i as f64 - 24.5).abs(), epsilon = 1e-9);
            assert_abs_diff_eq!(*b, 0.0, epsilon = 1e-9);
        }
    }

    #[test]
    fn form_fields_become_the_json_the_api_parses() {
        assert_eq!(json_of("hidden", " 64, 32 "), json!([64, 32]));
        assert_eq!(json_of("hidden", "64 32"), json!([64, 32]));
        assert_eq!(json_of("hidden", "64, x"), json!("64, x"));
        assert_eq!(json_of("epochs", "12"), json!(12));
        assert_eq!(json_of("learning_rate", "-0.5"), json!(-0.5));
        assert_eq!(json_of("epochs", "many"), json!("many"));
        let mut refusals = vec![];
        let v = TrainForm { epochs: "0".into(), learning_rate: "-1".into(), ..TrainForm::defaults(Some(1)) };
        let spec = spec_of(&v, 1, &mut refusals);
        let fields: Vec<_> = refusals.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec![Some("epochs"), Some("learning_rate")], "{refusals:?}");
        assert!(refusals[0].1.contains("epochs must be at least 1"), "{refusals:?}");
        assert!(refusals[1].1.contains("learning rate must be positive"), "{refusals:?}");
        assert_eq!(spec["latent"], json!(16));
        assert_eq!(input_of(Some("spec.conditions")), Some("condition"));
        assert_eq!(input_of(Some("spec.epochs")), Some("epochs"));
        assert_eq!(input_of(Some("spec")), None);
    }

    #[test]
    fn rare_labels_are_drawn_last_and_pooled_past_the_group_limit() {
        let labels: Vec<String> = (0..20).map(|i| if i < 12 { "a".into() } else { format!("r{i}") }).collect();
        let points = vec![(0.0, 0.0); 20];
        let groups = groups_of(points.clone(), Some("c"), Some(labels));
        assert_eq!(groups.len(), MAX_GROUPS);
        assert_eq!(groups[0].0, "c = a");
        assert_eq!(groups[MAX_GROUPS - 1].0, "c: 2 other values");
        assert_eq!(groups.iter().map(|g| g.1.len()).sum::<usize>(), 20);
        assert_eq!(groups_of(points, None, None)[0].0, "all rows");
    }
}
