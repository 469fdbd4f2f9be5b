//! Building and running the application: store, migrations, first admin token, demo data,
//! HTTP server and the in-process worker. Tests build it on port 0 and read `port()` back.

use crate::api::{self, metrics::Metrics, AppState};
use crate::config::Settings;
use crate::store::Store;
use crate::{auth, demo, jobs, web as dashboard};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use tracing_actix_web::TracingLogger;

/// A built, not yet running, genfab server.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    /// The worker's own pool: connections the HTTP workers open belong to their runtimes, which
    /// are gone once the server has stopped, and the worker still has jobs to release then.
    worker_store: Option<Store>,
    worker: crate::config::WorkerConfig,
}

/// Connects, migrates and prepares the store as `serve` and `worker` both need it.
pub async fn prepare_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;
    Ok(store)
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        settings.limits.check()?;
        let store = prepare_store(&settings).await?;
        auth::bootstrap_admin(&store, settings.admin_token.as_ref(), &settings.state_dir).await?;
        if settings.demo {
            demo::load(&store, &settings.data_dir, &settings.limits).await?;
        }
        let listener =
            TcpListener::bind(settings.bind).with_context(|| format!("could not listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            store: store.clone(),
            limits: settings.limits.clone(),
            metrics: Metrics::new()?,
            threads: settings.threads,
            detectors: Default::default(),
            score_writer: crate::store::ScoreWriter::spawn(store.clone()),
            outage: Default::default(),
            audit: crate::store::AuditWriter::spawn(store.clone()),
            rate: api::limits::RateLimiter::new(&settings.limits),
            job_gate: Default::default(),
        });
        let server = HttpServer::new(move || {
            App::new()
                // innermost: it reads who asked (noted by the extractors) and the request id
                .wrap(from_fn(api::audit::record))
                .wrap(from_fn(api::metrics::track))
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .app_data(api::query_config())
                .configure(dashboard::configure)
                .configure(api::configure)
        })
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        tracing::info!(port, store = store.backend(), "genfab listening");
        let worker_store = match settings.run_worker {
            true => Some(Store::connect(&settings.database).await?),
            false => None,
        };
        Ok(Application { port, server, store, worker_store, worker: settings.worker })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server gracefully (finishing in-flight requests).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM or `handle().stop()`, then stops the worker, which puts
    /// the jobs it held back in the queue.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let worker = self.worker_store.clone().map(|s| tokio::spawn(jobs::run_worker(s, self.worker.clone(), rx)));
        let served = self.server.await;
        let _ = tx.send(true);
        if let Some(w) = worker {
            w.await.context("worker task failed")??;
        }
        if let Some(s) = &self.worker_store {
            s.close().await;
        }
        self.store.close().await;
        served.context("the HTTP server failed")
    }
}
