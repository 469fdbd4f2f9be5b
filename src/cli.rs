//! The command line: `serve`, `worker`, `migrate`, `token create`, and offline model commands.
//! Every value comes from a flag, then the environment, then a default.

use crate::config::{DatabaseConfig, Limits, Secret, Settings};
use crate::domain::Role;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "genfab",
    version,
    about = "Generative models for the factory floor: datasets, VAEs, synthetic data, design studies, anomaly detection"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Postgres URL (postgres://user:pass@host/db). Unset: the embedded SQLite store at $GENFAB_STATE_DIR/genfab.db.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Folder for the SQLite store and the first admin token.
    #[arg(long, env = "GENFAB_STATE_DIR", default_value = "./.genfab", global = true)]
    pub state_dir: PathBuf,
    /// Log line format: json (for log collectors) or pretty (for people). Level: GENFAB_LOG or RUST_LOG.
    #[arg(long, env = "GENFAB_LOG_FORMAT", default_value = "pretty", value_parser = ["json", "pretty"], global = true)]
    pub log_format: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API, the dashboard and one in-process worker.
    Serve(ServeArgs),
    /// Run only a worker that executes queued jobs (scale these out against Postgres).
    Worker(WorkerArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Part shapes: write the NACA development family, check profile files, upload a family to a server.
    Shapes {
        #[command(subcommand)]
        command: ShapesCommand,
    },
    /// Train a VAE on a CSV/Parquet/JSON file and write the model file (offline, no database).
    Train(TrainArgs),
    /// Sample rows from a model file into a CSV/Parquet/JSON file (offline).
    Sample(SampleArgs),
    /// Generate synthetic rows per class from a file, with a quality and privacy report (offline).
    Synth(SynthArgs),
    /// Run a design study on files (offline): spec JSON, optional data and model, one solver.
    Optimize(OptimizeArgs),
    /// Measure a synthetic file against a real one: quality and detection (SDMetrics' definitions), privacy, usefulness.
    Report {
        /// The real table.
        real: PathBuf,
        /// The synthetic table (needs the real table's modelled columns).
        synthetic: PathBuf,
        /// Class column for the usefulness check.
        #[arg(long)]
        label: Option<String>,
        /// Seed of the detection folds and the holdout.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Run a schedule's template now, for plants that drive batches from their own scheduler.
    Batch {
        #[command(subcommand)]
        command: BatchCommand,
    },
    /// Measure throughput (prints one JSON line per measurement).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The table to learn (.csv, .parquet, .json; other extensions are read as CSV).
    pub data: PathBuf,
    /// Where to write the model (.safetensors with JSON metadata; see docs/model-format.md).
    #[arg(long)]
    pub out: PathBuf,
    /// Whether the CSV has a header row (default: detected).
    #[arg(long)]
    pub header: Option<bool>,
    /// Maximum epochs.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Hidden layer sizes of the encoder, comma-separated (the decoder mirrors them).
    #[arg(long, default_value = "128,128", value_delimiter = ',')]
    pub hidden: Vec<usize>,
    /// Latent size.
    #[arg(long, default_value_t = 16)]
    pub latent: usize,
    /// KL weight (beta).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Condition on this categorical column (repeat for several); sampling can then ask for a class.
    #[arg(long)]
    pub condition: Vec<String>,
    /// Seed for the split, initialisation, batches and noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Fraction of rows held out for validation and early stopping.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Stop after this many epochs without a better validation loss (0: never).
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Print one JSON summary at the end instead of progress.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// The study spec (JSON, as `spec` in POST /api/v1/studies).
    pub spec: PathBuf,
    /// The table for bounds, surrogates and distance to the data (.csv, .parquet, .json).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Whether the CSV has a header row (default: detected).
    #[arg(long)]
    pub header: Option<bool>,
    /// A model file, for a study in its latent space.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// random, latin_hypercube, nelder_mead, particle_swarm, simulated_annealing, lbfgs, bayesian, ego, nsga2.
    #[arg(long, default_value = "bayesian")]
    pub solver: String,
    /// Evaluations.
    #[arg(long, default_value_t = 100)]
    pub budget: usize,
    /// Seed of the solver (the same seed gives the same candidates).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write every candidate here (.csv or .parquet).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// The real table (.csv, .parquet, .json).
    pub data: PathBuf,
    /// The class column (categorical or boolean) to condition on and balance.
    #[arg(long)]
    pub label: String,
    /// CLASS=N rows to generate (repeat); or use --to-majority or --total.
    #[arg(long)]
    pub count: Vec<String>,
    /// Generate every class up to the most frequent one's count.
    #[arg(long)]
    pub to_majority: bool,
    /// Generate this many rows in all, split evenly over the classes.
    #[arg(long)]
    pub total: Option<usize>,
    /// Generate as many rows of each class as the real table has.
    #[arg(long)]
    pub like_real: bool,
    /// Maximum epochs (early stopping on validation loss with patience 20).
    #[arg(long, default_value_t = 300)]
    pub epochs: usize,
    /// Seed of the split, training and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Where to write the synthetic rows (.csv, .parquet, .json).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the quality and privacy report (JSON).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Most Gaussian modes per numeric column (chosen by BIC); 1 standardises instead.
    #[arg(long)]
    pub max_modes: Option<usize>,
    /// Epochs without validation improvement before stopping (0: run every epoch).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Mini-batch size (default: by table size).
    #[arg(long)]
    pub batch_size: Option<usize>,
}

impl SynthArgs {
    pub fn balance(&self) -> anyhow::Result<crate::synth::Balance> {
        use crate::synth::Balance;
        let given = usize::from(!self.count.is_empty())
            + usize::from(self.to_majority)
            + usize::from(self.total.is_some())
            + usize::from(self.like_real);
        anyhow::ensure!(given == 1, "give exactly one of --count CLASS=N, --to-majority, --total N, --like-real");
        if self.like_real {
            return Ok(Balance::LikeReal);
        }
        if self.to_majority {
            return Ok(Balance::ToMajority);
        }
        if let Some(n) = self.total {
            return Ok(Balance::Total(n));
        }
        let mut counts = std::collections::BTreeMap::new();
        for (class, n) in crate::offline::parse_conditions(&self.count)? {
            let n: usize = n.parse().map_err(|_| anyhow::anyhow!("--count {class}={n}: N must be a whole number"))?;
            counts.insert(class, n);
        }
        Ok(Balance::Counts(counts))
    }
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The model file written by `genfab train`.
    pub model: PathBuf,
    /// How many rows.
    #[arg(long)]
    pub n: usize,
    /// Fix a condition column, COL=VALUE (repeat for several).
    #[arg(long)]
    pub condition: Vec<String>,
    /// Seed of the sampling noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Spread of the prior (1: as trained; below 1: closer to typical rows).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Output file (.csv, .parquet or .json).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Queue one slot of SCHEDULE (its id or name) now, run its jobs here, exit 0 if all succeed.
    Run {
        /// The schedule's id or name.
        schedule: String,
        /// Only queue the jobs (workers run them); print their ids and exit.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        jobs: JobArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The panel method against the exact Joukowski flow (cl and cp error as panels double), and
    /// its time per solve at 129, 257 and 501 points; one JSON line each.
    Shapes,
    /// Empty jobs through the queue: jobs per second and claim latency with N workers.
    Queue {
        /// Empty jobs to run.
        #[arg(long, default_value_t = 2000)]
        jobs: usize,
        /// Worker loops, each with its own connection pool (as separate processes would have).
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
    /// Train and decode on the reference shape of the PyTorch peer (shared/bench/torch_vae.py).
    Vae {
        /// Rows of the synthetic table.
        #[arg(long, default_value_t = 50_000)]
        rows: usize,
        /// Columns of the synthetic table.
        #[arg(long, default_value_t = 32)]
        dims: usize,
        /// Epochs.
        #[arg(long, default_value_t = 20)]
        epochs: usize,
        /// Threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Mini-batch size.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Prior samples to decode.
        #[arg(long, default_value_t = 100_000)]
        decode_rows: usize,
        /// Train on this CSV's columns instead of the synthetic table (give the peer the same file with --csv).
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Write the synthetic table to this CSV and exit (to hand both engines identical data).
        #[arg(long)]
        dump_csv: Option<PathBuf>,
    },
    /// Solvers on Branin, Hartmann6 and Rosenbrock-10 at a fixed budget, as shared/bench/optuna_peer.py measures Optuna.
    Optimize {
        /// Evaluations per run.
        #[arg(long, default_value_t = 50)]
        budget: usize,
        /// Seeds 0..N; the median over them is reported.
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Solvers, comma-separated (default: all single-objective ones).
        #[arg(long)]
        solvers: Option<String>,
    },
    /// VAE anomaly detectors on Tennessee Eastman, AI4I 2020 and SECOM, on the splits of shared/bench/anomaly_peer.py: AUROC per detector.
    Anomaly {
        /// The folder of the shared datasets (tennessee-eastman/, ai4i2020/, secom/).
        #[arg(long, default_value = "../shared/data")]
        data_dir: PathBuf,
        /// Seed of training and scoring (the splits use the peer's seed).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Only these datasets, comma-separated (tennessee-eastman, ai4i2020, secom).
        #[arg(long)]
        only: Option<String>,
    },
    /// An MES's load against a running `genfab serve` (see scripts/load.sh): appends with
    /// idempotency keys and deliberate resends, scoring and reads from concurrent clients, with an
    /// optional database outage; latency per route and an exactly-once check of the appends.
    Load {
        /// The server's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// A token that may append, score and read (env GENFAB_LOAD_TOKEN).
        #[arg(long, env = "GENFAB_LOAD_TOKEN", hide_env_values = true)]
        token: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Seconds of load.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// The dataset appended to.
        #[arg(long)]
        dataset: i64,
        /// A CSV file (header and rows) sent by every append.
        #[arg(long)]
        append_csv: PathBuf,
        /// A calibrated detector to score with.
        #[arg(long, requires = "score_csv")]
        detector: Option<i64>,
        /// A CSV file of parts sent by every scoring call.
        #[arg(long)]
        score_csv: Option<PathBuf>,
        /// A study run whose candidates are read.
        #[arg(long)]
        run: Option<i64>,
        /// Share of acknowledged appends sent again with the same Idempotency-Key.
        #[arg(long, default_value_t = 0.1)]
        resend_share: f64,
        /// Seconds into the load when `--stop-cmd` runs.
        #[arg(long, requires_all = ["stop_cmd", "start_cmd"])]
        outage_after: Option<u64>,
        /// Seconds between `--stop-cmd` and `--start-cmd`.
        #[arg(long, default_value_t = 30)]
        outage_seconds: u64,
        /// A shell command that stops the database.
        #[arg(long)]
        stop_cmd: Option<String>,
        /// A shell command that starts it again.
        #[arg(long)]
        start_cmd: Option<String>,
        /// Seed of the clients' choices.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// A random search that stores every candidate, as a job against the store, beside the same search in memory.
    Study {
        /// Evaluations.
        #[arg(long, default_value_t = 100_000)]
        evaluations: usize,
    },
    /// Upload a CSV into the store (DATABASE_URL, or a temporary SQLite file) and time it.
    Upload {
        /// CSV file to upload; without it, a synthetic table of --rows x --columns.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Rows of the synthetic table.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Columns of the synthetic table.
        #[arg(long, default_value_t = 20)]
        columns: usize,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GENFAB_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Load the datasets bundled in --data-dir into an empty store.
    #[arg(long)]
    pub demo: bool,
    /// Folder with the bundled demo datasets.
    #[arg(long, env = "GENFAB_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Admin token to accept (at least 16 characters); unset: one is generated on first start.
    #[arg(long, env = "GENFAB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
    /// Do not run the in-process worker (when separate `genfab worker` processes run the jobs).
    #[arg(long)]
    pub no_worker: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Threads for CPU-heavy work (default: all cores).
    #[arg(long, env = "GENFAB_THREADS")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub jobs: JobArgs,
}

#[derive(Debug, Args)]
pub struct JobArgs {
    /// Jobs this process runs at once.
    #[arg(long, env = "GENFAB_CONCURRENCY", default_value_t = 1)]
    pub concurrency: usize,
    /// Seconds a claimed job stays leased without a heartbeat; after that another worker takes it over.
    #[arg(long, env = "GENFAB_JOB_LEASE_SECONDS", default_value_t = 60.0)]
    pub lease_seconds: f64,
    /// Seconds between heartbeats of a running job (keep well below the lease).
    #[arg(long, env = "GENFAB_JOB_HEARTBEAT_SECONDS", default_value_t = 15.0)]
    pub heartbeat_seconds: f64,
    /// Seconds before the first retry of a failed job; each further retry waits twice as long.
    #[arg(long, env = "GENFAB_JOB_RETRY_SECONDS", default_value_t = 10.0)]
    pub retry_seconds: f64,
    /// Seconds between polls of an empty queue.
    #[arg(long, env = "GENFAB_JOB_POLL_SECONDS", default_value_t = 0.5)]
    pub poll_seconds: f64,
    /// Do not fire schedules from this process (some other process does).
    #[arg(long, env = "GENFAB_NO_SCHEDULES")]
    pub no_schedules: bool,
}

fn seconds(what: &str, s: f64) -> anyhow::Result<std::time::Duration> {
    anyhow::ensure!(s.is_finite() && s > 0.0 && s < 1e7, "--{what} must be a positive number of seconds");
    Ok(std::time::Duration::from_secs_f64(s))
}

impl JobArgs {
    pub fn config(&self) -> anyhow::Result<crate::config::WorkerConfig> {
        anyhow::ensure!((1..=256).contains(&self.concurrency), "--concurrency must be from 1 to 256");
        let c = crate::config::WorkerConfig {
            concurrency: self.concurrency,
            lease: seconds("lease-seconds", self.lease_seconds)?,
            heartbeat: seconds("heartbeat-seconds", self.heartbeat_seconds)?,
            retry_base: seconds("retry-seconds", self.retry_seconds)?,
            poll: seconds("poll-seconds", self.poll_seconds)?,
            schedules: !self.no_schedules,
            ..Default::default()
        };
        anyhow::ensure!(c.heartbeat < c.lease, "--heartbeat-seconds must be below --lease-seconds");
        Ok(c)
    }
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "GENFAB_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Most rows one upload or append may hold.
    #[arg(long, env = "GENFAB_MAX_ROWS", default_value_t = Limits::default().max_rows)]
    pub max_rows: usize,
    /// Most columns a table may have.
    #[arg(long, env = "GENFAB_MAX_COLUMNS", default_value_t = Limits::default().max_columns)]
    pub max_columns: usize,
    /// Deepest nesting of arrays and objects in a JSON body.
    #[arg(long, env = "GENFAB_MAX_JSON_DEPTH", default_value_t = Limits::default().max_json_depth)]
    pub max_json_depth: usize,
    /// Longest string in a JSON body, in bytes.
    #[arg(long, env = "GENFAB_MAX_STRING_BYTES", default_value_t = Limits::default().max_string_bytes)]
    pub max_string_bytes: usize,
    /// Requests per second one token may sustain (0: no limit).
    #[arg(long, env = "GENFAB_RATE_PER_SECOND", default_value_t = Limits::default().rate_per_second)]
    pub rate_per_second: f64,
    /// Requests one token may send in a burst above that rate.
    #[arg(long, env = "GENFAB_RATE_BURST", default_value_t = Limits::default().rate_burst)]
    pub rate_burst: u32,
    /// Jobs one token may have queued or running at once (0: no limit).
    #[arg(long, env = "GENFAB_MAX_JOBS_PER_TOKEN", default_value_t = Limits::default().max_jobs_per_token)]
    pub max_jobs_per_token: usize,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Threads for CPU-heavy work (default: all cores).
    #[arg(long, env = "GENFAB_THREADS")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub jobs: JobArgs,
}

/// How profiles are read (as the query parameters of POST /api/v1/shapes).
#[derive(Debug, Args, Clone)]
pub struct ShapeFlags {
    /// `chord` (airfoil-like; default) or `bbox` (closed outlines).
    #[arg(long)]
    pub frame: Option<String>,
    /// `cosine` (chord only, its default) or `arc`.
    #[arg(long)]
    pub spacing: Option<String>,
    /// Points per outline after resampling (odd for chord; default 65 or 64).
    #[arg(long)]
    pub points: Option<usize>,
    /// Whether every outline must end where it starts (default: false for chord, true for bbox).
    #[arg(long)]
    pub closed: Option<bool>,
    /// A CSV of attributes keyed by shape_id.
    #[arg(long)]
    pub attributes: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ShapesCommand {
    /// Write NACA 4-digit sections from their published equations: profiles.csv (long CSV) and attributes.csv.
    Naca {
        /// Folder to write into (made if missing).
        #[arg(long)]
        out: PathBuf,
        /// Points per surface.
        #[arg(long, default_value_t = 41)]
        points_per_side: usize,
    },
    /// Read, check and normalise profile files (.csv, .dat, .svg, .zip, or folders of them) without storing anything.
    Check {
        /// Files or folders.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        flags: ShapeFlags,
    },
    /// Upload profile files to a running genfab as a new shape family (POST /api/v1/shapes).
    Upload {
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long, env = "GENFAB_URL")]
        url: String,
        /// A token that may create datasets.
        #[arg(long, env = "GENFAB_TOKEN", hide_env_values = true)]
        token: Secret,
        /// The dataset's name.
        #[arg(long)]
        name: String,
        /// Files or folders.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        flags: ShapeFlags,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// What the token may do.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Who or what uses it, e.g. "line 3 MES".
        #[arg(long)]
        name: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("'{s}' is not a role; use admin, engineer, viewer or mes"))
}

impl Global {
    pub fn database(&self) -> anyhow::Result<DatabaseConfig> {
        DatabaseConfig::from_url(self.database_url.as_ref(), &self.state_dir)
    }
}

impl ServeArgs {
    pub fn settings(&self, global: &Global) -> anyhow::Result<Settings> {
        let mut s = Settings::for_database(global.database()?, global.state_dir.clone());
        s.bind = self.bind;
        s.admin_token = self.admin_token.clone();
        s.demo = self.demo;
        s.data_dir = self.data_dir.clone();
        s.run_worker = !self.no_worker;
        s.limits = Limits {
            max_body_bytes: self.limits.max_body_bytes,
            max_rows: self.limits.max_rows,
            max_columns: self.limits.max_columns,
            max_json_depth: self.limits.max_json_depth,
            max_string_bytes: self.limits.max_string_bytes,
            rate_per_second: self.limits.rate_per_second,
            rate_burst: self.limits.rate_burst,
            max_jobs_per_token: self.limits.max_jobs_per_token,
        };
        if let Some(t) = self.threads {
            s.threads = t.max(1);
        }
        s.worker = self.jobs.config()?;
        Ok(s)
    }
}

/// Sizes the one pool that heavy numerics draw their threads from.
pub fn init_threads(threads: Option<usize>) {
    if let Some(n) = threads {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global();
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    crate::telemetry::init(&cli.global.log_format);
    match &cli.command {
        Command::Serve(args) => {
            init_threads(args.threads);
            let settings = args.settings(&cli.global)?;
            let app = crate::startup::Application::build(settings).await?;
            app.run_until_stopped().await
        }
        Command::Worker(args) => {
            init_threads(args.threads);
            let settings = Settings::for_database(cli.global.database()?, cli.global.state_dir.clone());
            let store = crate::startup::prepare_store(&settings).await?;
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = tx.send(true);
            });
            let cfg = args.jobs.config()?;
            if matches!(store, crate::store::Store::Sqlite(_)) {
                tracing::warn!(
                    "a worker on the SQLite store: run one worker per SQLite file (use Postgres to scale out)"
                );
            }
            crate::jobs::run_worker(store, cfg, rx).await
        }
        Command::Shapes { command } => crate::profiles::cli::run(command).await,
        Command::Report { real, synthetic, label, seed } => {
            let (real, synthetic, label, seed) = (real.clone(), synthetic.clone(), label.clone(), *seed);
            let v =
                tokio::task::spawn_blocking(move || crate::offline::judge(&real, &synthetic, label.as_deref(), seed))
                    .await??;
            println!("{v}");
            Ok(())
        }
        Command::Optimize(a) => {
            let a = (
                a.spec.clone(),
                a.data.clone(),
                a.header,
                a.model.clone(),
                a.solver.clone(),
                a.budget,
                a.seed,
                a.out.clone(),
            );
            let report = tokio::task::spawn_blocking(move || {
                crate::offline::optimize(&a.0, a.1.as_deref(), a.2, a.3.as_deref(), &a.4, a.5, a.6, a.7.as_deref())
            })
            .await??;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Bench { command: BenchCommand::Optimize { budget, seeds, solvers } } => {
            use crate::optimize::solvers::{self, SolverKind};
            let kinds: Vec<SolverKind> = match solvers {
                None => SolverKind::ALL.into_iter().filter(|k| *k != SolverKind::Nsga2).collect(),
                Some(list) => list
                    .split(',')
                    .map(|s| SolverKind::parse(s.trim()).ok_or_else(|| anyhow::anyhow!("unknown solver '{s}'")))
                    .collect::<anyhow::Result<_>>()?,
            };
            let (budget, seeds) = (*budget, *seeds);
            let rows = tokio::task::spawn_blocking(move || solvers::benchmark(budget, 0..seeds, &kinds)).await?;
            for r in rows {
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(())
        }
        Command::Synth(a) => {
            let balance = a.balance()?;
            let (data, label, seed, out, report) =
                (a.data.clone(), a.label.clone(), a.seed, a.out.clone(), a.report.clone());
            let tune = crate::offline::SynthTuning {
                epochs: a.epochs,
                threads: a.threads,
                max_modes: a.max_modes,
                patience: a.patience,
                batch_size: a.batch_size,
            };
            let summary = tokio::task::spawn_blocking(move || {
                crate::offline::synth(&data, &label, balance, tune, seed, &out, report.as_deref(), true)
            })
            .await??;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(())
        }
        Command::Batch { command: BatchCommand::Run { schedule, no_wait, jobs } } => {
            let settings = Settings::for_database(cli.global.database()?, cli.global.state_dir.clone());
            let store = crate::startup::prepare_store(&settings).await?;
            let cfg = jobs.config()?;
            let ok = crate::jobs::batch::run(&store, schedule, *no_wait, &cfg).await;
            store.close().await;
            if !ok? {
                anyhow::bail!("some jobs of schedule '{schedule}' did not succeed");
            }
            Ok(())
        }
        Command::Bench { command: BenchCommand::Anomaly { data_dir, seed, only } } => {
            let (dir, seed) = (data_dir.clone(), *seed);
            let only: Option<Vec<String>> = only.as_ref().map(|o| o.split(',').map(|s| s.trim().to_owned()).collect());
            let rows = tokio::task::spawn_blocking(move || {
                crate::anomaly_eval::evaluate_with(&dir, seed, &crate::anomaly_eval::default_specs(), only.as_deref())
            })
            .await??;
            for r in rows {
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Load {
                    url,
                    token,
                    clients,
                    seconds,
                    dataset,
                    append_csv,
                    detector,
                    score_csv,
                    run,
                    resend_share,
                    outage_after,
                    outage_seconds,
                    stop_cmd,
                    start_cmd,
                    seed,
                },
        } => {
            use anyhow::Context as _;
            let read =
                |p: &PathBuf| std::fs::read_to_string(p).with_context(|| format!("could not read {}", p.display()));
            let score = match (detector, score_csv) {
                (Some(d), Some(f)) => Some((*d, read(f)?)),
                _ => None,
            };
            let outage = outage_after.map(|after| crate::load::Outage {
                after: std::time::Duration::from_secs(after),
                length: std::time::Duration::from_secs(*outage_seconds),
                stop_cmd: stop_cmd.clone().unwrap_or_default(),
                start_cmd: start_cmd.clone().unwrap_or_default(),
            });
            let cfg = crate::load::LoadConfig {
                url: url.trim_end_matches('/').to_string(),
                token: token.clone(),
                clients: *clients,
                duration: std::time::Duration::from_secs(*seconds),
                dataset: *dataset,
                append_csv: read(append_csv)?,
                score,
                run: *run,
                resend_share: *resend_share,
                outage,
                seed: *seed,
            };
            let report = crate::load::run(cfg).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.exactly_once {
                anyhow::bail!("rows expected {} but found {}", report.rows_expected, report.rows_found);
            }
            Ok(())
        }
        Command::Bench { command: BenchCommand::Shapes } => {
            for line in tokio::task::spawn_blocking(crate::profiles::cli::bench).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Bench { command: BenchCommand::Study { evaluations } } => {
            let (store, temp) = crate::bench::bench_store(&cli.global.database()?).await?;
            let report = crate::bench::study(&store, *evaluations).await;
            crate::bench::close_store(store, temp).await;
            println!("{}", serde_json::to_string(&report?)?);
            Ok(())
        }
        Command::Bench { command: BenchCommand::Queue { jobs, workers } } => {
            let (store, temp) = crate::bench::bench_store(&cli.global.database()?).await?;
            let report = crate::bench::queue(&store, &cli.global.database()?, *jobs, *workers).await;
            crate::bench::close_store(store, temp).await;
            println!("{}", serde_json::to_string(&report?)?);
            Ok(())
        }
        Command::Migrate => {
            let settings = Settings::for_database(cli.global.database()?, cli.global.state_dir.clone());
            let store = crate::startup::prepare_store(&settings).await?;
            println!("migrations applied ({})", store.backend());
            Ok(())
        }
        Command::Train(a) => {
            let params = crate::ml::VaeParams::new()
                .hidden(a.hidden.clone())
                .latent(a.latent)
                .batch_size(a.batch_size)
                .epochs(a.epochs)
                .learning_rate(a.lr)
                .beta(a.beta)
                .seed(a.seed)
                .threads(a.threads)
                .val_fraction(a.val_fraction)
                .patience((a.patience > 0).then_some(a.patience))
                .conditions(a.condition.clone());
            let (data, header, out, json) = (a.data.clone(), a.header, a.out.clone(), a.json);
            let report =
                tokio::task::spawn_blocking(move || crate::offline::train(&data, header, params, &out, json)).await??;
            if a.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                eprintln!(
                    "trained on {} rows x {} columns: {} epochs (best {}), {:.1} s, validation loss {}; model written to {}",
                    report.rows,
                    report.columns,
                    report.epochs_run,
                    report.best_epoch,
                    report.seconds,
                    report.final_val_loss.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into()),
                    report.model
                );
            }
            Ok(())
        }
        Command::Sample(a) => {
            let conditions = crate::offline::parse_conditions(&a.condition)?;
            let (model, n, seed, t, threads, out) =
                (a.model.clone(), a.n, a.seed, a.temperature, a.threads, a.out.clone());
            let rows = tokio::task::spawn_blocking(move || {
                crate::offline::sample(&model, n, &conditions, seed, t, threads, &out)
            })
            .await??;
            eprintln!("{rows} rows written to {}", a.out.display());
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Vae { rows, dims, epochs, threads, batch, decode_rows, csv, dump_csv },
        } => {
            let cfg = crate::ml::bench::BenchConfig {
                rows: *rows,
                dims: *dims,
                epochs: *epochs,
                threads: *threads,
                batch: *batch,
                decode_rows: *decode_rows,
                ..Default::default()
            };
            if let Some(path) = dump_csv {
                let table = crate::ml::bench::synthetic_table(cfg.rows, cfg.dims, cfg.seed);
                let mut df = crate::bridge::from_ml_table(&table)?;
                crate::offline::write_file(path, &mut df)?;
                eprintln!("{} rows x {} columns written to {}", cfg.rows, cfg.dims, path.display());
                return Ok(());
            }
            let csv = csv.clone();
            let report = tokio::task::spawn_blocking(move || -> anyhow::Result<crate::ml::bench::BenchReport> {
                match csv {
                    Some(path) => {
                        let (df, schema, _) = crate::offline::read_file(&path, None)?;
                        let table = crate::bridge::to_ml_table(&df, &schema).map_err(|e| anyhow::anyhow!(e))?;
                        crate::ml::bench::run_on(&table, &cfg).map_err(|e| anyhow::anyhow!("{e}"))
                    }
                    None => crate::ml::bench::run(&cfg).map_err(|e| anyhow::anyhow!("{e}")),
                }
            })
            .await??;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Bench { command: BenchCommand::Upload { file, rows, columns } } => {
            let (body, source) = match file {
                Some(f) => (
                    std::fs::read(f).map_err(|e| anyhow::anyhow!("could not read {}: {e}", f.display()))?,
                    f.display().to_string(),
                ),
                None => (crate::bench::synthetic_csv(*rows, *columns, 42), format!("synthetic {rows}x{columns}")),
            };
            let (store, temp) = crate::bench::bench_store(&cli.global.database()?).await?;
            let name = format!("bench-{}-{}", std::process::id(), chrono::Utc::now().timestamp_millis());
            let report = crate::bench::upload(&store, source, body, &name).await;
            if let (Ok(r), crate::store::Store::Postgres(_)) = (&report, &store) {
                store.delete_dataset(r.dataset_id).await?;
            }
            crate::bench::close_store(store, temp).await;
            println!("{}", serde_json::to_string(&report?)?);
            Ok(())
        }
        Command::Token { command: TokenCommand::Create { role, name } } => {
            let settings = Settings::for_database(cli.global.database()?, cli.global.state_dir.clone());
            let store = crate::startup::prepare_store(&settings).await?;
            let (info, token) = crate::auth::create_token(&store, name, *role).await?;
            eprintln!("token {} ({}, {}) created; it is shown only now:", info.id, info.name, info.role);
            println!("{}", token.expose());
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_and_flag_has_help() {
        Cli::command().debug_assert();
        fn walk(c: &clap::Command) {
            for a in c.get_arguments() {
                if a.get_id() != "help" && a.get_id() != "version" {
                    assert!(a.get_help().is_some(), "flag --{} of `{}` has no help", a.get_id(), c.get_name());
                }
            }
            for s in c.get_subcommands() {
                assert!(s.get_about().is_some(), "command `{}` has no help", s.get_name());
                walk(s);
            }
        }
        walk(&Cli::command());
    }
}
