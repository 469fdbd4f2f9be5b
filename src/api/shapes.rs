//! `/api/v1/shapes` and the shape views of datasets and models: upload a profile family, read
//! its outlines with validity and measures, draw them, and generate new ones from a model.

use super::body::collect;
use super::caller::Caller;
use super::error::ApiError;
use super::jobs::parse_id;
use super::AppState;
use crate::domain::{DatasetName, Permission};
use crate::ml::FittedVae;
use crate::profiles::{self, Outline, ProfilesError};
use crate::shapes::family::Options;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use rand::SeedableRng;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes(r: &mut super::Routes) {
    r.post("/shapes", create)
        .get("/datasets/{id}/shapes", dataset_shapes)
        .get("/datasets/{id}/shapes.svg", dataset_svg)
        .post("/models/{id}/shapes", model_shapes);
}

/// Most outlines in one answer.
pub const MAX_OUTLINES: usize = 500;

impl From<ProfilesError> for ApiError {
    fn from(e: ProfilesError) -> Self {
        match e {
            ProfilesError::Invalid(issues) => {
                let first = issues.first();
                ApiError::Client {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    title: "Invalid profiles",
                    row: first.and_then(|i| i.line).map(|l| l as u64),
                    column: None,
                    field: first.map(|i| match i.point {
                        Some(p) => format!("shape '{}' point {p}", i.shape),
                        None => format!("shape '{}'", i.shape),
                    }),
                    detail: profiles::describe(&issues),
                }
            }
            ProfilesError::Catalog(c) => c.into(),
        }
    }
}

#[derive(Deserialize)]
struct CreateQuery {
    name: Option<String>,
    frame: Option<String>,
    spacing: Option<String>,
    points: Option<usize>,
    closed: Option<bool>,
}

fn options(q: &CreateQuery) -> Result<Options, ApiError> {
    profiles::options(q.frame.as_deref(), q.spacing.as_deref(), q.points, q.closed)
        .map_err(|(field, e)| ApiError::bad_field(field, e))
}

#[utoipa::path(
    post,
    path = "/api/v1/shapes",
    tag = "shapes",
    params(
        ("name" = String, Query, description = "dataset name: letters, digits, - _ ."),
        ("frame" = Option<String>, Query, description = "`chord` (airfoil-like: leading edge at the origin, chord 1 along x; default) or `bbox` (closed outlines: centroid at the origin, the larger side 1)"),
        ("spacing" = Option<String>, Query, description = "resampling: `cosine` (clustered at the leading and trailing edges; chord only, its default) or `arc` (uniform in arc length)"),
        ("points" = Option<usize>, Query, minimum = 16, maximum = 501, description = "points per outline after resampling (odd for `chord`; default 65 or 64)"),
        ("closed" = Option<bool>, Query, description = "whether every outline must end where it starts (default: false for chord, true for bbox)")
    ),
    request_body(description = "the profiles: a long CSV (`shape_id,x,y` rows in order along each outline), an SVG (one path per shape), a zip of .dat/.csv/.svg files with an optional attributes.csv, or multipart/form-data with one or more `file` parts (named .csv, .dat, .svg or .zip) and an optional `attributes` part (CSV keyed by shape_id)", content((String = "text/csv"), (String = "image/svg+xml"), (Vec<u8> = "application/zip"), (Object = "multipart/form-data"))),
    responses(
        (status = 201, description = "the dataset holding the family, one row per shape", body = Object, content_type = "application/json"),
        (status = 422, description = "profiles that are not valid, each named with its point or line; nothing is stored", body = Object, content_type = "application/problem+json")
    )
)]
async fn create(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<CreateQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateResources)?;
    let name = DatasetName::parse(q.name.as_deref().unwrap_or("")).map_err(|e| ApiError::bad_field("name", e))?;
    let opts = options(&q)?;
    let limit = state.limits.max_body_bytes;
    let media = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let essence = media.split(';').next().unwrap_or("").trim().to_string();
    let (files, attributes) = match essence.as_str() {
        "multipart/form-data" => read_form(&req, payload, limit).await?,
        "text/csv" | "application/csv" => (vec![("profiles.csv".to_string(), body(payload, limit).await?)], None),
        "image/svg+xml" => (vec![("profiles.svg".to_string(), body(payload, limit).await?)], None),
        "application/zip" | "application/x-zip-compressed" => {
            (vec![("profiles.zip".to_string(), body(payload, limit).await?)], None)
        }
        "" => return Err(ApiError::unsupported("the request has no Content-Type; send text/csv, image/svg+xml, application/zip or multipart/form-data")),
        other => {
            return Err(ApiError::unsupported(format!(
                "Content-Type '{other}' is not a profile format; send text/csv (shape_id,x,y), image/svg+xml, application/zip or multipart/form-data"
            )))
        }
    };
    let (d, v) = profiles::upload(&state.store, name.as_str(), files, attributes, opts, state.limits.clone()).await?;
    tracing::info!(dataset = d.id, shapes = v.row_count, "shape family created");
    let mut out = super::datasets::dataset_json(&d, &v);
    out["shapes"] = v.lineage.as_ref().and_then(|l| l.0.get("shapes").cloned()).unwrap_or(Value::Null);
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/v1/datasets/{}", d.id))).json(out))
}

async fn body(payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    Ok(collect(payload, limit, "body").await?.to_vec())
}

async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<(Vec<profiles::File>, Option<Vec<u8>>), ApiError> {
    let mut mp = Multipart::new(req.headers(), payload);
    let mut files = Vec::new();
    let mut attributes = None;
    let mut total = 0usize;
    while let Some(field) = mp.next().await {
        let field = field.map_err(|e| ApiError::bad_request(format!("the multipart body is malformed: {e}")))?;
        let part = field.name().unwrap_or("").to_string();
        let filename = field.content_disposition().and_then(|d| d.get_filename()).map(str::to_string);
        let bytes = collect(field, limit.saturating_sub(total), &part).await?;
        total += bytes.len();
        match part.as_str() {
            "file" => {
                let name = filename.ok_or_else(|| {
                    ApiError::bad_field("file", "a 'file' part needs a file name ending .csv, .dat, .svg or .zip")
                })?;
                files.push((name, bytes.to_vec()));
            }
            "attributes" => attributes = Some(bytes.to_vec()),
            other => {
                return Err(ApiError::bad_field(
                    other,
                    format!("unexpected form part '{other}'; send 'file' parts and optionally 'attributes'"),
                ))
            }
        }
    }
    if files.is_empty() {
        return Err(ApiError::bad_field("file", "the form has no 'file' part"));
    }
    Ok((files, attributes))
}

/// Which stored outlines, in which units.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ViewQuery {
    /// The version (default: latest).
    version: Option<i32>,
    /// First row (default 0).
    offset: Option<usize>,
    /// Rows (default 24, at most 500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// `frame` (normalised, default) or `user` (the units the profiles came in).
    units: Option<String>,
    /// Outlines per row of the drawing (default 6; the .svg view only).
    #[param(minimum = 1, maximum = 50)]
    columns: Option<usize>,
}

async fn stored_outlines(
    state: &AppState,
    raw: &str,
    q: &ViewQuery,
) -> Result<(i64, i32, usize, Vec<Outline>), ApiError> {
    let id = parse_id(raw, "dataset")?;
    let user = match q.units.as_deref().unwrap_or("frame") {
        "frame" => false,
        "user" => true,
        other => return Err(ApiError::bad_field("units", format!("units must be 'frame' or 'user', not '{other}'"))),
    };
    let limit = q.limit.unwrap_or(24);
    if limit == 0 || limit > MAX_OUTLINES {
        return Err(ApiError::bad_field("limit", format!("limit must be from 1 to {MAX_OUTLINES}")));
    }
    let (meta, df) = crate::catalog::read_version(&state.store, id, q.version).await?;
    let offset = q.offset.unwrap_or(0);
    let total = df.height();
    let outlines = web::block(move || profiles::outlines_of_frame(&df, offset, limit, user))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "Not a shape family", e))?;
    Ok((id, meta.version, total, outlines))
}

#[utoipa::path(
    get,
    path = "/api/v1/datasets/{id}/shapes",
    tag = "shapes",
    params(
        ("id" = i64, Path, description = "a dataset made by POST /api/v1/shapes"),
        ViewQuery
    ),
    responses((status = 200, description = "the outlines with validity and measures", body = Object, content_type = "application/json"))
)]
async fn dataset_shapes(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (id, version, total, outlines) = stored_outlines(&state, &path, &q).await?;
    Ok(HttpResponse::Ok().json(json!({
        "dataset_id": id, "version": version, "total": total, "offset": q.offset.unwrap_or(0),
        "valid_share": profiles::valid_share(&outlines), "shapes": outlines,
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/datasets/{id}/shapes.svg",
    tag = "shapes",
    params(
        ("id" = i64, Path, description = "a dataset made by POST /api/v1/shapes"),
        ViewQuery
    ),
    responses((status = 200, description = "a grid of the outlines", body = String, content_type = "image/svg+xml"))
)]
async fn dataset_svg(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<ViewQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let columns = columns(q.columns)?;
    let (id, version, _, outlines) = stored_outlines(&state, &path, &q).await?;
    let svg = profiles::svg_grid(&outlines, columns, &format!("dataset {id} version {version}: shapes"));
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}

fn columns(c: Option<usize>) -> Result<usize, ApiError> {
    let c = c.unwrap_or(6);
    if c == 0 || c > 50 {
        return Err(ApiError::bad_field("columns", "columns must be from 1 to 50"));
    }
    Ok(c)
}

/// What to generate from a model of a shape family.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShapeRequest {
    /// Outlines to draw from the prior (default 24), or the steps of an interpolation or traversal.
    #[serde(default)]
    n: Option<usize>,
    #[serde(default)]
    seed: u64,
    /// Spread of the prior draws, z ~ N(0, temperature² I) (default 1); outlines are the
    /// decoder's most likely values, without output noise.
    #[serde(default)]
    temperature: Option<f64>,
    /// For a model trained with conditions: `{"kind": "cambered"}` (unnamed conditions are drawn
    /// by their frequency in the training data; an interpolation follows its two shapes').
    #[serde(default)]
    conditions: std::collections::BTreeMap<String, String>,
    /// Between two shapes of the training family: `{"from": "naca2412", "to": "naca4415"}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    interpolate: Option<Between>,
    /// Along one latent dimension: `{"dim": 0, "from": -3, "to": 3}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    traverse: Option<Along>,
    /// Project each outline on the principal modes holding 99.9 % of the training family's
    /// variance (default false: the decoder's own outlines).
    #[serde(default)]
    smooth: bool,
    /// `json` (default) or `svg`.
    #[serde(default)]
    format: Option<String>,
    /// Outlines per row of the SVG (default 6; a strip for interpolations and traversals).
    #[serde(default)]
    columns: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Between {
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Along {
    dim: usize,
    #[serde(default = "minus_three")]
    from: f64,
    #[serde(default = "three")]
    to: f64,
}

fn minus_three() -> f64 {
    -3.0
}

fn three() -> f64 {
    3.0
}

/// A one-row table of a training shape, for encoding.
async fn training_row(
    state: &AppState,
    m: &crate::store::ModelRow,
    field: &str,
    shape: &str,
) -> Result<crate::ml::Table, ApiError> {
    let dataset = m.dataset_id;
    let (meta, df) = crate::catalog::read_version(&state.store, dataset, Some(m.dataset_version)).await?;
    let schema = meta.schema.0.clone();
    let shape = shape.to_string();
    let field = field.to_string();
    web::block(move || -> Result<crate::ml::Table, ApiError> {
        let ids = df
            .column(crate::shapes::layout::ID)
            .and_then(|c| c.cast(&polars::prelude::DataType::String))
            .map_err(|_| ApiError::bad_field(&field, "the model's dataset has no shape_id column"))?;
        let ids = ids.str().map_err(|e| anyhow::anyhow!("{e}"))?;
        let row = ids.iter().position(|v| v == Some(shape.as_str())).ok_or_else(|| {
            ApiError::bad_field(
                &field,
                format!(
                    "shape '{shape}' is not in the model's training data (dataset {dataset} version {})",
                    meta.version
                ),
            )
        })?;
        let one = df.slice(row as i64, 1);
        crate::bridge::to_ml_table(&one, &schema).map_err(|e| ApiError::Unexpected(anyhow::anyhow!(e)))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
}

#[utoipa::path(
    post,
    path = "/api/v1/models/{id}/shapes",
    tag = "shapes",
    params(("id" = i64, Path, description = "a model trained on a shape family")),
    request_body(content = ShapeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "generated outlines with validity, measures and the share that is valid (JSON), or an SVG grid or strip", body = Object, content_type = "application/json"),
        (status = 409, description = "the model is not trained, or not trained on a shape family", body = Object, content_type = "application/problem+json")
    )
)]
async fn model_shapes(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let r: ShapeRequest = super::models::json_body(&body)?;
    let m = super::models::load(&state, &path).await?;
    let n = r.n.unwrap_or(if r.interpolate.is_some() || r.traverse.is_some() { 8 } else { 24 });
    if n == 0 || n > MAX_OUTLINES {
        return Err(ApiError::bad_field("n", format!("n must be from 1 to {MAX_OUTLINES}")));
    }
    let temperature = r.temperature.unwrap_or(1.0);
    if !(temperature.is_finite() && temperature >= 0.0) {
        return Err(ApiError::bad_field("temperature", "temperature must be a finite number >= 0"));
    }
    let svg = match r.format.as_deref().unwrap_or("json") {
        "json" => false,
        "svg" => true,
        other => return Err(ApiError::bad_field("format", format!("format must be 'json' or 'svg', not '{other}'"))),
    };
    if r.interpolate.is_some() && r.traverse.is_some() {
        return Err(ApiError::bad_field("interpolate", "ask for an interpolation or a traversal, not both"));
    }
    let bytes = state.store.model_file(m.id).await?.ok_or_else(|| {
        ApiError::conflict(format!("model {} cannot generate yet: its training is {}", m.id, m.job_status))
    })?;
    let ends = match &r.interpolate {
        Some(b) => Some((
            training_row(&state, &m, "interpolate.from", &b.from).await?,
            training_row(&state, &m, "interpolate.to", &b.to).await?,
        )),
        None => None,
    };
    let modes = match r.smooth {
        true => Some(family_modes(&state, &m).await?),
        false => None,
    };
    let model_id = m.id;
    let strip = r.interpolate.is_some() || r.traverse.is_some();
    let columns_asked = r.columns;
    let (outlines, title) = web::block(move || -> Result<(Vec<Outline>, String), ApiError> {
        let fitted = FittedVae::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("model {model_id} file: {e}"))?;
        let conditions: Vec<(&str, &str)> = r.conditions.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let not_shape = |e: String| ApiError::new(StatusCode::CONFLICT, "Not a shape model", e);
        let vae_err = |f: &str, e: crate::ml::VaeError| match &e {
            crate::ml::VaeError::NotACondition(c) | crate::ml::VaeError::UnknownLevel { column: c, .. } => {
                ApiError::bad_field(&format!("conditions.{c}"), e.to_string())
            }
            e => ApiError::bad_field(f, e.to_string()),
        };
        if let Some((a, b)) = ends {
            let between = r.interpolate.as_ref().expect("ends come from interpolate");
            let t = fitted.interpolate(&a, &b, n.max(2)).map_err(|e| vae_err("interpolate", e))?;
            let steps = t.n_rows();
            let o = profiles::outlines_of_table(&t, |i| format!("t={:.2}", i as f64 / (steps - 1).max(1) as f64))
                .map_err(not_shape)?;
            return Ok((o, format!("model {model_id}: from {} to {}", between.from, between.to)));
        }
        if let Some(t) = &r.traverse {
            if !(t.from.is_finite() && t.to.is_finite()) {
                return Err(ApiError::bad_field("traverse.from", "from and to must be finite numbers"));
            }
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(r.seed);
            let tr = crate::ml::explore::Traversal { dim: t.dim, from: t.from, to: t.to, steps: n.max(2) };
            let table = fitted.traverse(None, tr, &conditions, &mut rng).map_err(|e| vae_err("traverse.dim", e))?;
            let steps = table.n_rows();
            let o = profiles::outlines_of_table(&table, |i| {
                format!("z{}={:.2}", t.dim, t.from + (t.to - t.from) * i as f64 / (steps - 1).max(1) as f64)
            })
            .map_err(not_shape)?;
            return Ok((o, format!("model {model_id}: latent dimension {} from {} to {}", t.dim, t.from, t.to)));
        }
        let table = crate::ml::explore::prior_means(&fitted, n, temperature, &conditions, r.seed)
            .map_err(|e| vae_err("n", e))?;
        let o = profiles::outlines_of_table(&table, |i| format!("sample {}", i + 1)).map_err(not_shape)?;
        Ok((o, format!("model {model_id}: {n} samples (seed {})", r.seed)))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))??;
    let outlines = match &modes {
        Some(m) => outlines.into_iter().map(|o| Outline::of(o.label, m.project(&o.points))).collect(),
        None => outlines,
    };
    if svg {
        let cols = if strip && columns_asked.is_none() { outlines.len() } else { columns(columns_asked)? };
        return Ok(HttpResponse::Ok().content_type("image/svg+xml").body(profiles::svg_grid(&outlines, cols, &title)));
    }
    let valid = outlines.iter().filter(|o| o.valid).count();
    Ok(HttpResponse::Ok().json(json!({
        "model_id": model_id, "title": title, "count": outlines.len(), "valid": valid,
        "valid_share": profiles::valid_share(&outlines),
        "modes": modes.as_ref().map(|m| json!({"count": m.len(), "explained": m.explained})),
        "shapes": outlines,
    })))
}

/// The principal modes of a model's training family.
async fn family_modes(state: &AppState, m: &crate::store::ModelRow) -> Result<crate::shapes::modes::Modes, ApiError> {
    let (_, df) = crate::catalog::read_version(&state.store, m.dataset_id, Some(m.dataset_version)).await?;
    web::block(move || {
        let outlines = profiles::outlines_of_frame(&df, 0, df.height(), false)
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, "Not a shape model", e))?;
        let points: Vec<Vec<crate::shapes::Point>> = outlines.into_iter().map(|o| o.points).collect();
        crate::shapes::modes::Modes::fit(&points, 0.999)
            .ok_or_else(|| ApiError::bad_field("smooth", "the model's family has too few outlines to find its modes"))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, dataset_shapes, dataset_svg, model_shapes))]
pub struct Doc;
