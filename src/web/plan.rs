//! Studies, schedules, jobs and tokens operated from the dashboard: create forms, next firings, retry, revoke.
//! Every form checks through the API's own functions, so a refusal names the same field with the same message.

use super::layout::{csrf_field, page};
use super::pages::{time, unexpected, with_status};
use super::session::Session;
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::domain::Permission;
use crate::jobs::scheduler::{self, Cron};
use crate::optimize::solvers::SolverKind;
use crate::store::{JobRow, Retried, ScheduleRow, StudyRow};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{html, Markup};
use serde::Deserialize;

type PageResult = Result<HttpResponse, actix_web::Error>;

/// Largest study form accepted (the spec is a JSON textarea).
const STUDY_FORM_LIMIT: usize = 1 << 20;
/// Firing times shown per schedule.
const NEXT_FIRINGS: usize = 3;
/// Schedules on the overview's "Next scheduled runs".
const OVERVIEW_RUNS: usize = 5;
/// Roles offered for a new token, least power first.
const ROLES: [&str; 4] = ["viewer", "mes", "engineer", "admin"];

/// A small study that works without a dataset: bounded variables, two objectives, one constraint.
const EXAMPLE_SPEC: &str = r#"{
  "variables": [
    {"name": "width_mm", "kind": "continuous", "lo": 10, "hi": 50},
    {"name": "height_mm", "kind": "continuous", "lo": 5, "hi": 30},
    {"name": "ribs", "kind": "integer", "lo": 0, "hi": 6}
  ],
  "objectives": [
    {"name": "mass_g", "expr": "0.8 * width_mm * height_mm / 10 + 2 * ribs"},
    {"name": "stiffness", "expr": "width_mm * height_mm^3 / 1000 + 5 * ribs", "goal": "maximize"}
  ],
  "constraints": [
    {"name": "fits the housing", "expr": "width_mm + height_mm <= 70"}
  ]
}"#;

/// Registers this part's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/studies")
            .app_data(web::FormConfig::default().limit(STUDY_FORM_LIMIT))
            .route(web::get().to(studies))
            .route(web::post().to(create_study)),
    )
    .route("/studies/{id}/runs", web::post().to(start_run))
    .route("/schedules", web::get().to(schedules))
    .route("/schedules/{id}/{action}", web::post().to(schedule_action))
    .route("/jobs/{id}/retry", web::post().to(retry_job))
    .route("/admin", web::get().to(admin))
    .route("/admin/tokens", web::post().to(create_token))
    .route("/admin/tokens/{id}/revoke", web::post().to(revoke_token))
    .route("/admin/webhooks/{id}/deliveries/{delivery}/replay", web::post().to(replay_delivery));
}

/// A time for people, with the machine-readable instant (as the API writes it) beside it.
fn time_cell(t: &DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)) { (time(t)) } }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// The two checks every state-changing form passes first: its CSRF token, then the role.
fn guard(s: &Session, csrf: &str, p: Permission, what: &str) -> Result<(), actix_web::Error> {
    if !s.csrf_ok(csrf) {
        return Err(actix_web::error::ErrorForbidden(
            "the form is stale or was not sent from this dashboard; reload the page",
        ));
    }
    if !s.may(p) {
        return Err(actix_web::error::ErrorForbidden(format!("the role '{}' may not {what}", s.role.as_str())));
    }
    Ok(())
}

/// Why a form was refused: the field the API named (if any) and the API's message.
struct Refusal {
    field: Option<String>,
    message: String,
}

impl Refusal {
    fn new(field: &str, message: impl Into<String>) -> Refusal {
        Refusal { field: Some(field.to_string()), message: message.into() }
    }

    /// A client error becomes a refusal shown on the form; anything else is a 500.
    fn from_api(e: ApiError) -> Result<Refusal, actix_web::Error> {
        match e {
            ApiError::Client { detail, field, .. } => Ok(Refusal { field, message: detail }),
            ApiError::Retry { detail, .. } => Ok(Refusal { field: None, message: detail }),
            ApiError::Unexpected(e) => Err(unexpected(format!("{e:#}"))),
        }
    }

    /// Whether the refusal is about `field` or something inside it (`spec` for `spec.objectives[0].expr`).
    fn is_about(&self, field: &str) -> bool {
        self.field
            .as_deref()
            .is_some_and(|f| f == field || f.strip_prefix(field).is_some_and(|rest| rest.starts_with(['.', '['])))
    }
}

/// The refusal above a form, announced to screen readers.
fn alert(e: Option<&Refusal>) -> Markup {
    html! {
        @if let Some(e) = e {
            p.error role="alert" id="form-error" {
                "Refused: " @if let Some(f) = &e.field { code { (f) } ": " } (e.message)
            }
        }
    }
}

/// `aria-invalid` and `aria-describedby` for an input the refusal is about.
fn invalid(e: Option<&Refusal>, field: &str) -> (Option<&'static str>, Option<&'static str>) {
    match e {
        Some(e) if e.is_about(field) => (Some("true"), Some("form-error")),
        _ => (None, None),
    }
}

// ---------------------------------------------------------------- studies

#[derive(Deserialize, Default)]
struct StudyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    dataset_id: String,
    #[serde(default)]
    spec: String,
}

async fn studies(s: Session, state: web::Data<AppState>) -> PageResult {
    let form = StudyForm { spec: EXAMPLE_SPEC.into(), ..Default::default() };
    studies_page(&s, &state, &form, None).await
}

/// The studies and, for those who may create one, the form (with a refusal inline).
async fn studies_page(s: &Session, state: &AppState, form: &StudyForm, error: Option<Refusal>) -> PageResult {
    let rows = state.store.list_studies(0, 500).await.map_err(unexpected)?;
    let datasets = state.store.list_datasets(0, 500).await.map_err(unexpected)?;
    let e = error.as_ref();
    let body = html! {
        @if s.may(Permission::CreateResources) {
            h2 { "New study" }
            (alert(e))
            form method="post" action="/studies" {
                (csrf_field(s))
                @let (bad, why) = invalid(e, "name");
                label for="name" { "Name" }
                input #name type="text" name="name" required maxlength="200" value=(form.name)
                    aria-invalid=[bad] aria-describedby=[why];
                @let (bad, why) = invalid(e, "dataset_id");
                label for="dataset_id" { "Dataset (optional: fills missing bounds, fits surrogates)" }
                select #dataset_id name="dataset_id" aria-invalid=[bad] aria-describedby=[why] {
                    option value="" selected[form.dataset_id.is_empty()] { "none" }
                    @for d in &datasets {
                        @let v = d.id.to_string();
                        option value=(v) selected[form.dataset_id == v] { (d.name) " (" (d.id) ")" }
                    }
                }
                @let (bad, why) = invalid(e, "spec");
                label for="spec" { "Spec (JSON: variables, surrogates, objectives, constraints)" }
                textarea #spec name="spec" rows="18" spellcheck="false" required style="max-width: 60rem; font-family: monospace"
                    aria-invalid=[bad] aria-describedby=[why] { (form.spec) }
                p.muted { "Expressions may use the design variables, each surrogate's name and "
                    code { "NAME_std" } ", numbers, + - * / ^ and abs, sqrt, exp, ln, log10, sin, cos, tan, pow, min, max. "
                    "A constraint compares two expressions with " code { "<=" } ", " code { ">=" } " or " code { "==" } "." }
                p { button type="submit" { "Create study" } }
            }
        }
        h2 { "All studies" }
        div.table-wrap { table {
            thead { tr { th.num { "Study" } th { "Name" } th { "Dataset" } th { "Created" } } }
            tbody { @for r in &rows { tr {
                td.num { (r.id) } td { a href=(format!("/studies/{}", r.id)) { (r.name) } }
                td { @if let Some(d) = r.dataset_id { a href=(format!("/datasets/{d}")) { (d) } } }
                td { (time(&r.created_at)) }
            } } }
        } }
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(with_status(page(s, "/studies", "Studies", body), status))
}

/// `POST /studies`: the study, or the form again with the API's refusal (field and position) inline.
async fn create_study(s: Session, state: web::Data<AppState>, form: web::Form<StudyForm>) -> PageResult {
    guard(&s, &form.csrf, Permission::CreateResources, "create studies")?;
    let dataset_id = match form.dataset_id.trim() {
        "" => None,
        raw => match raw.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                let e = Refusal::new("dataset_id", format!("'{raw}' is not a dataset id"));
                return studies_page(&s, &state, &form, Some(e)).await;
            }
        },
    };
    let spec: serde_json::Value = match serde_json::from_str(&form.spec) {
        Ok(v) => v,
        Err(e) => {
            let m = format!("the spec is not valid JSON at line {} column {}: {e}", e.line(), e.column());
            return studies_page(&s, &state, &form, Some(Refusal::new("spec", m))).await;
        }
    };
    match crate::api::studies::create_study(&state, &form.name, dataset_id, None, spec).await {
        Ok(id) => {
            tracing::info!(study = id, by = s.token_id, "study created from the dashboard");
            Ok(see_other(&format!("/studies/{id}")))
        }
        Err(e) => studies_page(&s, &state, &form, Some(Refusal::from_api(e)?)).await,
    }
}

#[derive(Deserialize, Default)]
struct RunForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    solver: String,
    #[serde(default)]
    budget: String,
    #[serde(default)]
    seed: String,
}

/// The "Start a run" form of a study page (nothing for a role that may not start one).
pub fn start_run_form(s: &Session, study: &StudyRow) -> Markup {
    let objectives = study.spec.0["objectives"].as_array().map_or(1, |o| o.len());
    let solver = if objectives > 1 { SolverKind::Nsga2 } else { SolverKind::Random };
    let form = RunForm { solver: solver.name().into(), budget: "200".into(), seed: "0".into(), ..Default::default() };
    run_form(s, study.id, &form, None)
}

fn run_form(s: &Session, study_id: i64, form: &RunForm, error: Option<&Refusal>) -> Markup {
    if !s.may(Permission::CreateResources) {
        return html! {};
    }
    html! {
        h2 { "Start a run" }
        (alert(error))
        form method="post" action=(format!("/studies/{study_id}/runs")) {
            (csrf_field(s))
            @let (bad, why) = invalid(error, "solver");
            label for="solver" { "Solver" }
            select #solver name="solver" aria-invalid=[bad] aria-describedby=[why] {
                @for k in SolverKind::ALL {
                    option value=(k.name()) selected[form.solver == k.name()] {
                        (k.name()) @if k.multi_objective() { " (any number of objectives)" }
                    }
                }
            }
            @let (bad, why) = invalid(error, "budget");
            label for="budget" { "Budget (evaluations)" }
            input #budget type="number" name="budget" min="1" max=(crate::api::studies::MAX_BUDGET) required
                value=(form.budget) aria-invalid=[bad] aria-describedby=[why];
            @let (bad, why) = invalid(error, "seed");
            label for="seed" { "Seed" }
            input #seed type="number" name="seed" min="0" value=(form.seed) aria-invalid=[bad] aria-describedby=[why];
            p { button type="submit" { "Start run" } }
        }
    }
}

/// `POST /studies/{id}/runs`: the run's page, or the form again with the refusal.
async fn start_run(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: web::Form<RunForm>,
) -> PageResult {
    guard(&s, &form.csrf, Permission::CreateResources, "start runs")?;
    let id = path.into_inner();
    let study = state
        .store
        .get_study(id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| actix_web::error::ErrorNotFound(format!("study {id} does not exist")))?;
    // text that is no whole number is refused by the API's range checks, with their messages
    let budget = form.budget.trim().parse::<i64>().unwrap_or(0);
    let seed = match form.seed.trim() {
        "" => 0,
        raw => raw.parse::<i64>().unwrap_or(-1),
    };
    match crate::api::studies::start_run(&state, &study, &form.solver, budget, seed).await {
        Ok((run, job)) => {
            tracing::info!(study = id, run, job, by = s.token_id, "run started from the dashboard");
            Ok(see_other(&format!("/runs/{run}")))
        }
        Err(e) => {
            let e = Refusal::from_api(e)?;
            let body = html! {
                p { a href=(format!("/studies/{id}")) { "Back to the study" } }
                (run_form(&s, id, &form, Some(&e)))
            };
            let title = format!("Study {id}: {}", study.name);
            Ok(with_status(page(&s, "/studies", &title, body), StatusCode::BAD_REQUEST))
        }
    }
}

// ---------------------------------------------------------------- schedules

/// The next `n` slots of a schedule as the scheduler will fire them: its stored next slot, then
/// the cron's slots after it (or after now, if that slot is overdue and fires at the next tick).
/// None while paused; a cron with no further slot ends the list.
pub fn next_firings(s: &ScheduleRow, n: usize, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    // `scheduler` parks a schedule without further slots in the year 9999
    let real = |t: &DateTime<Utc>| chrono::Datelike::year(t) < 9999;
    if s.paused || n == 0 || !real(&s.next_fire_at) {
        return vec![];
    }
    let mut out = vec![s.next_fire_at];
    let Ok(cron) = Cron::parse(&s.cron, &s.timezone) else { return out };
    let mut after = s.next_fire_at.max(now);
    while out.len() < n {
        match cron.next_after(after).filter(real) {
            Some(t) => {
                out.push(t);
                after = t;
            }
            None => break,
        }
    }
    out
}

/// A slot in UTC and, when the schedule has another zone, at the schedule's local time.
fn slot_cell(t: &DateTime<Utc>, tz: &str) -> Markup {
    let local = tz
        .parse::<chrono_tz::Tz>()
        .ok()
        .filter(|z| *z != chrono_tz::UTC)
        .map(|z| t.with_timezone(&z).format("%H:%M %Z").to_string());
    html! { (time_cell(t)) @if let Some(l) = local { " " span.muted { "(" (l) ")" } } }
}

/// The overview's "Next scheduled runs": the soonest slot of each active schedule.
pub fn next_runs(schedules: &[ScheduleRow]) -> Markup {
    let now = Utc::now();
    let mut next: Vec<(&ScheduleRow, DateTime<Utc>)> =
        schedules.iter().filter_map(|s| Some((s, *next_firings(s, 1, now).first()?))).collect();
    next.sort_by_key(|(s, t)| (*t, s.id));
    next.truncate(OVERVIEW_RUNS);
    html! {
        @if next.is_empty() { p.muted { "No active schedules. " a href="/schedules" { "Schedules" } } } @else {
            table {
                thead { tr { th { "Schedule" } th { "Cron" } th { "Next run" } } }
                tbody { @for (sc, t) in &next { tr {
                    td { (sc.name) } td { code { (sc.cron) } " " span.muted { (sc.timezone) } }
                    td { (slot_cell(t, &sc.timezone)) }
                } } }
            }
            p { a href="/schedules" { "All schedules" } }
        }
    }
}

async fn schedules(s: Session, state: web::Data<AppState>) -> PageResult {
    let rows = state.store.list_schedules(0, 500).await.map_err(unexpected)?;
    let now = Utc::now();
    let may = s.may(Permission::CreateResources);
    let button = |id: i64, action: &str, label: &str, name: &str| {
        html! {
            form.inline method="post" action=(format!("/schedules/{id}/{action}")) {
                (csrf_field(&s))
                button.secondary type="submit" aria-label=(format!("{label} schedule {name}")) { (label) }
            }
        }
    };
    let body = html! {
        p.muted { "Create schedules through the API (" code { "POST /api/v1/schedules" } "). Times are when the scheduler fires each slot." }
        @if rows.is_empty() { p.muted { "No schedules." } } @else {
            div.table-wrap { table {
                thead { tr { th.num { "Id" } th { "Name" } th { "Cron" } th { "Time zone" } th { "State" } th { "Last fired" }
                    th { "Next " (NEXT_FIRINGS) " firings" } @if may { th { span.muted { "Action" } } } } }
                tbody { @for sc in &rows { tr {
                    td.num { (sc.id) }
                    td { (sc.name) }
                    td { code { (sc.cron) } }
                    td { (sc.timezone) }
                    td { @if sc.paused { "paused" } @else { "active" } }
                    td { @if let Some(t) = &sc.last_fired_at { (time_cell(t)) } @else { span.muted { "never" } } }
                    td {
                        @let next = next_firings(sc, NEXT_FIRINGS, now);
                        @if next.is_empty() { span.muted { @if sc.paused { "paused" } @else { "no further slot" } } } @else {
                            ol.firings { @for t in &next { li { (slot_cell(t, &sc.timezone)) } } }
                        }
                    }
                    @if may { td {
                        @if sc.paused { (button(sc.id, "resume", "Resume", &sc.name)) } @else { (button(sc.id, "pause", "Pause", &sc.name)) }
                        " " (button(sc.id, "run", "Run now", &sc.name))
                        " " (button(sc.id, "delete", "Delete", &sc.name))
                    } }
                } } }
            } }
        }
    };
    Ok(page(&s, "/schedules", "Schedules", body))
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /schedules/{id}/pause|resume|run|delete`, then back to the schedules (or to the jobs a
/// run queued).
async fn schedule_action(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    let (id, action) = path.into_inner();
    if !["pause", "resume", "run", "delete"].contains(&action.as_str()) {
        return Err(actix_web::error::ErrorNotFound(format!("'{action}' is not pause, resume, run or delete")));
    }
    guard(&s, &form.csrf, Permission::CreateResources, "change schedules")?;
    let missing = || actix_web::error::ErrorNotFound(format!("schedule {id} does not exist"));
    let api = |e: ApiError| match e {
        ApiError::Client { status, detail, .. } if status == StatusCode::NOT_FOUND => {
            actix_web::error::ErrorNotFound(detail)
        }
        e => unexpected(format!("{e:#}")),
    };
    let to = match action.as_str() {
        "pause" | "resume" => {
            crate::api::schedules::pause_or_resume(&state, id, action == "pause").await.map_err(api)?;
            "/schedules"
        }
        "run" => {
            let sc = state.store.get_schedule(id).await.map_err(unexpected)?.ok_or_else(missing)?;
            let jobs = scheduler::fire_now(&state.store, &sc).await.map_err(unexpected)?;
            tracing::info!(schedule = id, ?jobs, by = s.token_id, "schedule run from the dashboard");
            "/jobs"
        }
        _ => {
            if !state.store.delete_schedule(id).await.map_err(unexpected)? {
                return Err(missing());
            }
            "/schedules"
        }
    };
    tracing::info!(schedule = id, action = %action, by = s.token_id, "schedule changed from the dashboard");
    Ok(see_other(to))
}

// ---------------------------------------------------------------- jobs

/// The "Retry" button of an ended job (failed or cancelled), for roles that may queue jobs.
pub fn retry_button(s: &Session, j: &JobRow) -> Markup {
    html! {
        @if s.may(Permission::CreateResources) && matches!(j.status.as_str(), "failed" | "cancelled") {
            form.inline method="post" action=(format!("/jobs/{}/retry", j.id)) {
                (csrf_field(s))
                button.secondary type="submit" aria-label=(format!("Retry job {}", j.id)) { "Retry" }
            }
        }
    }
}

/// `POST /jobs/{id}/retry`: a new queued job with the same kind and payload (see
/// `Store::retry_job`), then back to the jobs.
async fn retry_job(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    guard(&s, &form.csrf, Permission::CreateResources, "retry jobs")?;
    let id = path.into_inner();
    let refused = match state.store.retry_job(id).await.map_err(unexpected)? {
        None => return Err(actix_web::error::ErrorNotFound(format!("job {id} does not exist"))),
        Some(Retried::Queued(new)) => {
            tracing::info!(job = id, new, by = s.token_id, "job retried from the dashboard");
            return Ok(see_other("/jobs"));
        }
        Some(Retried::NotEnded(status)) => {
            format!("job {id} is {status}; only a failed or cancelled job can be retried")
        }
        Some(Retried::Superseded(newer)) => {
            format!("job {id} was retried already: its work belongs to job {newer} now; retry that one")
        }
    };
    let body = html! { p.error role="alert" { (refused) } p { a href="/jobs" { "Back to the jobs" } } };
    Ok(with_status(page(&s, "/jobs", "Retry refused", body), StatusCode::CONFLICT))
}

// ---------------------------------------------------------------- tokens

#[derive(Deserialize, Default)]
struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

fn may_manage(s: &Session) -> Result<(), actix_web::Error> {
    if s.may(Permission::ManageTokens) {
        Ok(())
    } else {
        Err(actix_web::error::ErrorForbidden(format!("the role '{}' may not manage tokens", s.role.as_str())))
    }
}

async fn admin(s: Session, state: web::Data<AppState>) -> PageResult {
    may_manage(&s)?;
    let form = TokenForm { role: "viewer".into(), ..Default::default() };
    admin_page(&s, &state, &form, None).await
}

/// The tokens with their revoke buttons, and the form for a new one (with a refusal inline).
async fn admin_page(s: &Session, state: &AppState, form: &TokenForm, error: Option<Refusal>) -> PageResult {
    let tokens = state.store.list_tokens().await.map_err(unexpected)?;
    let hooks = state.store.webhook_summaries(RECENT_DELIVERIES).await.map_err(unexpected)?;
    let audit = state
        .store
        .list_audit(&crate::store::AuditQuery { limit: AUDIT_SHOWN, ..Default::default() })
        .await
        .map_err(unexpected)?;
    let e = error.as_ref();
    let body = html! {
        h2 { "New token" }
        (alert(e))
        form method="post" action="/admin/tokens" {
            (csrf_field(s))
            @let (bad, why) = invalid(e, "name");
            label for="token-name" { "Name (who or what uses it)" }
            input #token-name type="text" name="name" required maxlength="128" value=(form.name)
                aria-invalid=[bad] aria-describedby=[why];
            @let (bad, why) = invalid(e, "role");
            label for="token-role" { "Role" }
            select #token-role name="role" aria-invalid=[bad] aria-describedby=[why] {
                @for r in ROLES { option value=(r) selected[form.role == r] { (r) } }
            }
            p.muted { "viewer reads; mes reads and appends rows; engineer also creates and runs things; admin also manages tokens." }
            p { button type="submit" { "Create token" } }
        }
        h2 { "Tokens" }
        div.table-wrap { table {
            thead { tr { th.num { "Id" } th { "Name" } th { "Role" } th { "Created" } th { "Last used" } th { "Revoked" } th { span.muted { "Action" } } } }
            tbody { @for t in &tokens { tr {
                td.num { (t.id) } td { (t.name) } td { (t.role) }
                td { (time(&t.created_at)) }
                td { (t.last_used_at.as_ref().map(time).unwrap_or_default()) }
                td { (t.revoked_at.as_ref().map(time).unwrap_or_default()) }
                td {
                    @if t.id == s.token_id { span.muted { "this session" } }
                    @else if t.revoked_at.is_none() {
                        form.inline method="post" action=(format!("/admin/tokens/{}/revoke", t.id)) {
                            (csrf_field(s))
                            button.secondary type="submit" aria-label=(format!("Revoke token {}", t.name)) { "Revoke" }
                        }
                    }
                }
            } } }
        } }
        (webhooks_section(s, &hooks))
        (audit_section(&audit))
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(with_status(page(s, "/admin", "Admin", body), status))
}

/// Audit entries the admin page shows (the API pages through all of them).
const AUDIT_SHOWN: i64 = 100;

/// The latest audit entries: who created, changed, exported or deleted what.
fn audit_section(entries: &[crate::store::AuditEntry]) -> Markup {
    html! {
        h2 { "Audit log" }
        p.muted { "The latest " (AUDIT_SHOWN) " requests that created, changed, exported or deleted something, and sign-ins; all of them: GET /api/v1/audit." }
        @if entries.is_empty() { p { "Nothing recorded yet." } }
        @else {
            div.table-wrap { table {
                thead { tr { th { "When" } th { "Token" } th { "Role" } th { "Action" } th { "Request" } th { "Resource" } th.num { "Status" } } }
                tbody { @for a in entries { tr {
                    td { (time(&a.at)) }
                    td { @match (a.token_id, &a.token_name) {
                        (Some(id), Some(n)) => { (n) " (" (id) ")" },
                        _ => { span.muted { "unknown" } },
                    } }
                    td { (a.role.as_deref().unwrap_or("")) }
                    td { (a.action) }
                    td { code { (a.method) " " (a.path) } }
                    td { (a.resource_kind.as_deref().unwrap_or("")) " " (a.resource_id.as_deref().unwrap_or("")) }
                    td.num { (a.status) }
                } } }
            } }
        }
    }
}

/// `POST /admin/tokens`: the new secret, shown on this page only, or the form with the refusal.
async fn create_token(s: Session, state: web::Data<AppState>, form: web::Form<TokenForm>) -> PageResult {
    guard(&s, &form.csrf, Permission::ManageTokens, "manage tokens")?;
    let (name, role) = match crate::api::tokens::check_new_token(&form.name, &form.role) {
        Ok(v) => v,
        Err(e) => return admin_page(&s, &state, &form, Some(Refusal::from_api(e)?)).await,
    };
    let (info, secret) = crate::auth::create_token(&state.store, name, role).await.map_err(unexpected)?;
    tracing::info!(token = info.id, role = role.as_str(), by = s.token_id, "token created from the dashboard");
    let body = html! {
        p role="status" { "Token " (info.id) " for " strong { (info.name) } " (" (info.role) ") is ready. "
            strong { "Copy it now: it is shown only on this page." } }
        label for="secret" { "Token" }
        input #secret type="text" readonly value=(secret.expose()) autocomplete="off" spellcheck="false";
        p { a href="/admin" { "Back to the tokens" } }
    };
    Ok(page(&s, "/admin", "Token created", body))
}

/// `POST /admin/tokens/{id}/revoke`: the token signs in no more; back to the tokens.
async fn revoke_token(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    guard(&s, &form.csrf, Permission::ManageTokens, "manage tokens")?;
    let id = path.into_inner();
    state
        .store
        .revoke_token(id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| actix_web::error::ErrorNotFound(format!("token {id} does not exist")))?;
    tracing::info!(token = id, by = s.token_id, "token revoked from the dashboard");
    Ok(see_other("/admin"))
}

// ---------------------------------------------------------------- webhooks

/// Deliveries shown per subscription on the Admin page.
const RECENT_DELIVERIES: i64 = 5;

/// The subscriptions (managed through `/api/v1/webhooks`) with how their newest deliveries went;
/// a failed delivery can be sent again.
fn webhooks_section(s: &Session, hooks: &[crate::store::WebhookSummary]) -> Markup {
    html! {
        h2 { "Webhook subscriptions" }
        @if hooks.is_empty() {
            p.muted { "None yet. Subscribe a URL with " code { "POST /api/v1/webhooks" } " (see docs/mes-integration.md)." }
        } @else {
            div.table-wrap { table {
                thead { tr { th.num { "Id" } th { "Name" } th { "URL" } th { "Events" } th { "Recent deliveries (newest first)" } } }
                tbody { @for h in hooks { tr {
                    td.num { (h.webhook.id) } td { (h.webhook.name) } td { code { (h.webhook.url) } }
                    td { (h.webhook.events.0.join(", ")) @if !h.webhook.active { " " span.muted { "(inactive)" } } }
                    td {
                        @if h.recent.is_empty() { span.muted { "none yet" } }
                        ul { @for d in &h.recent { li {
                            (d.id) " " (d.event) " · " span class=(format!("status-{}", d.status)) { (d.status) }
                            " · " (d.attempts) " attempt(s)"
                            @if let Some(code) = d.last_status { " · HTTP " (code) }
                            @if d.status == "failed" {
                                " "
                                form.inline method="post" action=(format!("/admin/webhooks/{}/deliveries/{}/replay", h.webhook.id, d.id)) {
                                    (csrf_field(s))
                                    button.secondary type="submit" aria-label=(format!("Replay delivery {}", d.id)) { "Replay" }
                                }
                            }
                        } } }
                    }
                } } }
            } }
        }
    }
}

/// `POST /admin/webhooks/{id}/deliveries/{delivery}/replay`: a new delivery of the same event; back to Admin.
async fn replay_delivery(
    s: Session,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    guard(&s, &form.csrf, Permission::ManageWebhooks, "manage webhooks")?;
    let (webhook_id, id) = path.into_inner();
    let old = state
        .store
        .get_delivery(webhook_id, id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| actix_web::error::ErrorNotFound(format!("webhook {webhook_id} has no delivery {id}")))?;
    let new = state.store.queue_delivery(webhook_id, &old.event, &old.payload.0).await.map_err(unexpected)?;
    tracing::info!(webhook = webhook_id, delivery = id, replay = ?new.map(|d| d.id), by = s.token_id, "delivery replayed from the dashboard");
    Ok(see_other("/admin"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::types::Json;

    fn schedule(cron: &str, tz: &str, next: &str, paused: bool) -> ScheduleRow {
        let t = next.parse().unwrap();
        ScheduleRow {
            id: 1,
            name: "s".into(),
            cron: cron.into(),
            timezone: tz.into(),
            template: Json(serde_json::json!({"steps": [{"kind": "noop"}]})),
            paused,
            grace_seconds: 3600,
            next_fire_at: t,
            last_fired_at: None,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn next_firings_start_at_the_stored_slot_and_follow_the_cron() {
        let now = "2026-10-23T12:00:00Z".parse().unwrap();
        let s = schedule("30 12 * * *", "Europe/Berlin", "2026-10-24T10:30:00Z", false);
        let got: Vec<String> = next_firings(&s, 3, now).iter().map(|t| t.to_rfc3339()).collect();
        // Berlin leaves summer time on 2026-10-25: 12:30 local moves from 10:30 to 11:30 UTC
        assert_eq!(got, ["2026-10-24T10:30:00+00:00", "2026-10-25T11:30:00+00:00", "2026-10-26T11:30:00+00:00"]);
        // an overdue slot fires at the next tick; the ones after it follow now
        let late = schedule("0 * * * *", "UTC", "2026-10-23T09:00:00Z", false);
        let got: Vec<String> = next_firings(&late, 2, now).iter().map(|t| t.to_rfc3339()).collect();
        assert_eq!(got, ["2026-10-23T09:00:00+00:00", "2026-10-23T13:00:00+00:00"]);
        assert!(next_firings(&schedule("0 * * * *", "UTC", "2026-10-24T00:00:00Z", true), 3, now).is_empty());
    }

    #[test]
    fn a_refusal_is_about_its_field_and_what_is_inside_it() {
        let r = Refusal::new("spec.objectives[0].expr", "x");
        assert!(r.is_about("spec") && r.is_about("spec.objectives") && r.is_about("spec.objectives[0].expr"));
        assert!(!r.is_about("name") && !r.is_about("spe"));
    }
}
