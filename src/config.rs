//! Typed configuration: command-line flags, then environment, then defaults.
//! Secrets live in [`Secret`], whose `Debug` and `Display` never print the value.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A value that must never reach a log line or a `Debug` dump.
#[derive(Clone)]
pub struct Secret(String);

/// In constant time (`subtle`): how soon `==` stopped would tell how much of a guess is right.
impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret value itself; call only where it is really used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Where the data lives.
#[derive(Clone, Debug)]
pub enum DatabaseConfig {
    /// Production store; the URL may carry a password, hence `Secret`.
    Postgres(Secret),
    /// Embedded store in one file.
    Sqlite(PathBuf),
}

impl DatabaseConfig {
    /// Postgres when a `postgres://` URL is given, else SQLite under the state directory.
    pub fn from_url(url: Option<&Secret>, state_dir: &std::path::Path) -> anyhow::Result<Self> {
        match url {
            None => Ok(DatabaseConfig::Sqlite(state_dir.join("genfab.db"))),
            Some(u) if u.expose().trim().is_empty() => Ok(DatabaseConfig::Sqlite(state_dir.join("genfab.db"))),
            Some(u) => {
                let s = u.expose();
                if s.starts_with("postgres://") || s.starts_with("postgresql://") {
                    Ok(DatabaseConfig::Postgres(u.clone()))
                } else if let Some(path) = s.strip_prefix("sqlite://") {
                    Ok(DatabaseConfig::Sqlite(PathBuf::from(path)))
                } else {
                    anyhow::bail!(
                        "DATABASE_URL must start with postgres:// or sqlite:// (or be unset for the embedded SQLite store)"
                    )
                }
            }
        }
    }
}

/// Limits on what one request, and one token, may bring (`crate::api::limits` enforces the last five).
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_rows: usize,
    pub max_columns: usize,
    /// Deepest nesting of arrays and objects in a JSON body.
    pub max_json_depth: usize,
    /// Longest string (a value or a member name) in a JSON body, in bytes as sent.
    pub max_string_bytes: usize,
    /// Requests per second one token may sustain (0: no limit).
    pub rate_per_second: f64,
    /// Requests one token may send at once above that rate.
    pub rate_burst: u32,
    /// Jobs one token may have queued or running (0: no limit).
    pub max_jobs_per_token: usize,
}

impl Default for Limits {
    /// Generous enough that a line's MES pushing every part and an engineer's scripts never meet
    /// them; tight enough that one runaway client cannot starve the others.
    fn default() -> Self {
        Limits {
            max_body_bytes: 512 * 1024 * 1024,
            max_rows: 10_000_000,
            max_columns: 2_000,
            // specs nest 4 to 6 levels; 32 leaves room and stops stack-hungry bodies
            max_json_depth: 32,
            // an expression or a description is a few hundred bytes; a cell is a value
            max_string_bytes: 64 * 1024,
            rate_per_second: 50.0,
            rate_burst: 200,
            max_jobs_per_token: 8,
        }
    }
}

impl Limits {
    /// Refuses values no plant means (a zero depth would refuse every JSON body).
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_json_depth >= 1, "GENFAB_MAX_JSON_DEPTH must be at least 1");
        anyhow::ensure!(self.max_string_bytes >= 1, "GENFAB_MAX_STRING_BYTES must be at least 1");
        anyhow::ensure!(
            self.rate_per_second.is_finite() && self.rate_per_second >= 0.0,
            "GENFAB_RATE_PER_SECOND must be a number of requests per second, 0 for no limit"
        );
        anyhow::ensure!(self.rate_burst >= 1, "GENFAB_RATE_BURST must be at least 1");
        Ok(())
    }
}

/// Everything the service needs to start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub database: DatabaseConfig,
    pub bind: SocketAddr,
    pub state_dir: PathBuf,
    pub admin_token: Option<Secret>,
    pub limits: Limits,
    /// Run the in-process worker (`serve` does, tests may not want it).
    pub run_worker: bool,
    /// Load the bundled datasets into an empty store.
    pub demo: bool,
    /// Where the bundled demo datasets are.
    pub data_dir: PathBuf,
    /// Worker threads for CPU-heavy work.
    pub threads: usize,
    /// How the in-process worker runs jobs.
    pub worker: WorkerConfig,
}

impl Settings {
    /// Defaults for a store, used by tests and as the base for the command line.
    pub fn for_database(database: DatabaseConfig, state_dir: PathBuf) -> Self {
        Settings {
            database,
            bind: "127.0.0.1:0".parse().expect("valid address"),
            state_dir,
            admin_token: None,
            limits: Limits::default(),
            run_worker: false,
            demo: false,
            data_dir: PathBuf::from("data"),
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            worker: WorkerConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        let db = DatabaseConfig::Postgres(Secret::new("postgres://u:pw@h/db"));
        assert!(!format!("{db:?}").contains("pw"));
    }

    #[test]
    fn database_url_selects_store() {
        let dir = std::path::Path::new("/tmp/x");
        assert!(matches!(
            DatabaseConfig::from_url(None, dir).unwrap(),
            DatabaseConfig::Sqlite(p) if p == dir.join("genfab.db")
        ));
        assert!(matches!(
            DatabaseConfig::from_url(Some(&Secret::new("postgres://a/b")), dir).unwrap(),
            DatabaseConfig::Postgres(_)
        ));
        assert!(DatabaseConfig::from_url(Some(&Secret::new("mysql://a/b")), dir).is_err());
    }
}

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Jobs run at once by this worker.
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat before another worker may take the job.
    pub lease: Duration,
    /// How often a running job's lease is renewed (and a cancel request noticed).
    pub heartbeat: Duration,
    /// How long to wait before asking again when the queue is empty.
    pub poll: Duration,
    /// First retry delay; it doubles with each attempt.
    pub retry_base: Duration,
    /// Fire due schedule slots from this worker (any number of workers may; each slot fires once).
    pub schedules: bool,
    /// How long running jobs get to stop (and checkpoint) at shutdown before they are released.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 1,
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(15),
            poll: Duration::from_millis(500),
            retry_base: Duration::from_secs(10),
            schedules: true,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

impl WorkerConfig {
    pub fn lease_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(60))
    }
}
