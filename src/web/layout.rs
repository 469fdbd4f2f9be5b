//! The frame of every dashboard page: navigation, who is signed in, security headers. Pages are
//! HTML from maud (escaped at compile time); the one stylesheet ships inside the binary.

use super::session::Session;
use crate::domain::Permission;
use actix_web::HttpResponse;
use maud::{html, Markup, PreEscaped, DOCTYPE};

pub const CSS: &str = include_str!("static/genfab.css");

/// No script at all, nothing from another host, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                       font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The navigation: (path, label, who may see it).
const NAV: [(&str, &str, Permission); 8] = [
    ("/", "Overview", Permission::Read),
    ("/datasets", "Datasets", Permission::Read),
    ("/models", "Models", Permission::Read),
    ("/studies", "Studies", Permission::Read),
    ("/schedules", "Schedules", Permission::Read),
    ("/detectors", "Detectors", Permission::Read),
    ("/jobs", "Jobs", Permission::Read),
    ("/admin", "Admin", Permission::ManageTokens),
];

/// An HTML answer with the dashboard's security headers.
pub fn respond(status: actix_web::http::StatusCode, body: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-store"))
        .body(body.into_string())
}

fn head(title: &str, refresh_secs: Option<u32>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // the page reloads itself while something it shows is still changing (no script needed)
            @if let Some(secs) = refresh_secs { meta http-equiv="refresh" content=(secs); }
            title { (title) " · genfab" }
            link rel="stylesheet" href="/static/genfab.css";
            // no favicon request (it would be a 404 in the log)
            link rel="icon" href="data:,";
        }
    }
}

/// A page for a signed-in user; `current` is the navigation entry to mark.
pub fn page(s: &Session, current: &str, title: &str, body: Markup) -> HttpResponse {
    page_with_refresh(s, current, title, body, None)
}

/// As [`page`], reloading itself every `refresh_secs` seconds when given (e.g. while a job runs).
pub fn page_with_refresh(
    s: &Session,
    current: &str,
    title: &str,
    body: Markup,
    refresh_secs: Option<u32>,
) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, refresh_secs))
            body {
                a.skip href="#main" { "Skip to the page's content" }
                header.top {
                    a href="/" { strong { "genfab" } }
                    nav aria-label="Main" {
                        ul {
                            @for (path, label, p) in NAV {
                                @if s.may(p) {
                                    li { a href=(path) aria-current=[(path == current).then_some("page")] { (label) } }
                                }
                            }
                        }
                    }
                    div.who {
                        span { (s.name) " (" (s.role.as_str()) ")" }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    respond(actix_web::http::StatusCode::OK, markup)
}

/// A page without a session (sign-in).
pub fn bare(status: actix_web::http::StatusCode, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body { main.signin { h1 { (title) } (body) } }
        }
    };
    respond(status, markup)
}

/// An SVG plot (made by `plots`, which escapes its text) in a figure with a caption.
pub fn figure(svg: String, caption: &str) -> Markup {
    html! { figure { (PreEscaped(svg)) figcaption { (caption) } } }
}

/// The hidden CSRF field of a state-changing form.
pub fn csrf_field(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}
