//! The engineer dashboard, rendered on the server with every asset inside the binary.
//! For now one page: what this service is and where its API is; the pages grow with the capabilities.

use actix_web::HttpResponse;

const PAGE: &str = include_str!("index.html");

pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'"))
        .body(PAGE.replace("{{version}}", env!("CARGO_PKG_VERSION")))
}
