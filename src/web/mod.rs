//! The engineer dashboard: pages rendered on the server (maud), plots as inline SVG (plotters),
//! one stylesheet inside the binary, no script, nothing from another host. Sign-in keeps the
//! token in an HttpOnly, SameSite=Strict cookie; forms that change something carry a CSRF token.

mod generate;
mod layout;
mod pages;
mod plan;
pub mod plots;
mod session;
mod train;

use crate::api::AppState;
use crate::auth::hash_token;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use layout::{bare, respond};
use maud::html;
use serde::Deserialize;
pub use session::Session;

/// Registers the dashboard's routes (everything outside `/api/v1` and the probes).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::overview))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/static/genfab.css", web::get().to(css))
        .route("/datasets", web::get().to(pages::datasets))
        .route("/datasets", web::post().to(pages::upload))
        .route("/datasets/{id}", web::get().to(pages::dataset))
        .route("/datasets/{id}/download", web::get().to(pages::download))
        .route("/models", web::get().to(pages::models))
        // digits only, so `/models/new` (train::routes) is not taken for a model id
        .route("/models/{id:\\d+}", web::get().to(pages::model))
        .route("/studies/{id}", web::get().to(pages::study))
        .route("/runs/{id}", web::get().to(pages::run))
        .route("/detectors", web::get().to(pages::detectors))
        .route("/detectors/{id}", web::get().to(pages::detector))
        .route("/jobs", web::get().to(pages::jobs))
        .route("/jobs/{id}/cancel", web::post().to(pages::cancel_job))
        .configure(train::routes)
        .configure(generate::routes)
        .configure(plan::routes);
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(layout::CSS)
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn login_page(status: StatusCode, next: &str, error: Option<&str>) -> HttpResponse {
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            // password managers (and Chromium's accessibility check) expect a user name beside a secret
            input type="text" name="username" value="genfab" autocomplete="username" hidden aria-hidden="true";
            label for="token" { "Access token" }
            input #token type="password" name="token" autocomplete="current-password" required autofocus;
            p.muted { "An admin creates tokens (the first one is printed at the first start and kept in the state directory)." }
            button type="submit" { "Sign in" }
        }
    };
    bare(status, "Sign in to genfab", body)
}

async fn login_form(q: web::Query<NextQuery>) -> HttpResponse {
    login_page(StatusCode::OK, &session::safe_next(q.next.as_deref()), None)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(req: HttpRequest, state: web::Data<AppState>, form: web::Form<LoginForm>) -> HttpResponse {
    let next = session::safe_next(form.next.as_deref());
    let token = form.token.trim();
    match state.store.find_token(&hash_token(token)).await {
        Ok(Some(info)) => {
            tracing::info!(token = info.id, "dashboard sign-in");
            if let Some(role) = info.role() {
                crate::api::audit::Actor::note(&req, info.id, &info.name, role);
            }
            let secure = req.connection_info().scheme() == "https";
            HttpResponse::SeeOther()
                .cookie(session::session_cookie(token, secure))
                .insert_header((header::LOCATION, next))
                .finish()
        }
        Ok(None) => login_page(StatusCode::UNAUTHORIZED, &next, Some("That token is unknown or revoked.")),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "sign-in lookup failed");
            login_page(StatusCode::SERVICE_UNAVAILABLE, &next, Some("The database is unreachable; try again shortly."))
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn logout(s: Session, form: web::Form<CsrfOnly>) -> HttpResponse {
    if !s.csrf_ok(&form.csrf) {
        return respond(
            StatusCode::FORBIDDEN,
            html! { p { "The form is stale; reload the page and sign out again." } },
        );
    }
    HttpResponse::SeeOther().cookie(session::cleared_cookie()).insert_header((header::LOCATION, "/login")).finish()
}
