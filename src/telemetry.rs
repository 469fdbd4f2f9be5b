//! Logging with `tracing`: level from `GENFAB_LOG` or `RUST_LOG`, JSON or human-readable lines.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing (tests start many apps).
pub fn init(format: &str) {
    let filter = std::env::var("GENFAB_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,egobox_ego=warn,egobox_gp=warn,egobox_moe=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        // A closed log pipe must not take the service down (internal errors go to eprintln!, which panics).
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}
