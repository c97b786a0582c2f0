//! Settings: embedded defaults, then the TOML file, then `PORTICO_*` variables, then flags.
//!
//! The command line and the file format are a contract with scripts outside the repository
//! (see `docs/architecture.md`), so unknown keys and malformed values are errors at start-up,
//! never silently ignored. Nothing here knows about HTTP or jobs; it only produces a `Config`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Everything the server needs to start, with every value resolved.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// Where history, logs, results and job working directories live.
    pub data_dir: PathBuf,
    /// Jobs that may run at once: the size of the worker pool.
    pub workers: usize,
    /// How long a killed job may take to exit after SIGTERM before its group gets SIGKILL.
    pub kill_grace: Duration,
    /// Largest request body accepted; larger ones get HTTP 413 without being read.
    pub max_body_bytes: usize,
    /// How long an idle keep-alive connection is kept open.
    pub idle_timeout: Duration,
    /// Connections served at once; more are answered 503.
    pub max_connections: usize,
    /// Connections served at once from one client address.
    pub max_connections_per_address: usize,
    /// Threads that answer requests; connections wait in the poller without one.
    pub http_threads: usize,
    /// Large answers (log pages, result pages, whole logs) built at once.
    pub max_large_answers: usize,
    /// Clients following a job's log live at once; each holds an open file and a socket (no
    /// thread), so the bound is on descriptors and on the poller's sweep.
    pub max_log_followers: usize,
    /// Peers whose `X-Forwarded-For` / `Forwarded` header names the real client.
    pub trusted_proxies: Vec<IpAddr>,
    /// One log line per request.
    pub access_log: bool,
    /// Server log verbosity.
    pub log_level: log::LevelFilter,
    /// The interpreter that runs `python` jobs.
    pub python: String,
    /// Other interpreters a python job may choose with `python.version`.
    pub python_interpreters: Vec<String>,
    /// The shell that runs `shell` jobs.
    pub shell: String,
    /// SQL jobs: the databases besides each user's own, and the row cap of a result set.
    pub sqlite: SqliteSettings,
    /// Spark jobs: where Spark is and where their executors run.
    pub spark: SparkSettings,
    /// How many jobs may wait, and each user's share of the queue and the workers.
    pub queue: QueueSettings,
    /// How much one submission may carry.
    pub requests: RequestLimits,
    /// On SIGTERM/SIGINT, how long running jobs may go on before they are killed.
    pub shutdown_grace: Duration,
    /// A job's log stops taking the job's output past this many bytes (a note says so).
    pub max_log_bytes: u64,
    /// What one job may take: result-set size, processes, memory.
    pub limits: JobLimits,
    /// How long a login session lives without being used.
    pub session_timeout: Duration,
    /// Whether a token whose code contains `ADMIN-` may submit jobs for other users, as in
    /// Linkis. Off by default: a privilege should be granted by a setting someone chose, not
    /// by the spelling of a secret (`may_submit_for_others` on the token says it explicitly).
    pub linkis_admin_tokens: bool,
    /// Users from the config file; with none (and no tokens), the first-start credentials.
    pub users: Vec<UserEntry>,
    /// Tokens from the config file (authentication uses them).
    pub tokens: Vec<TokenEntry>,
    /// What is kept of ended jobs, and for how long (`[retention]`).
    pub retention: RetentionSettings,
    /// Who may scrape `/metrics` (`[metrics]`).
    pub metrics: MetricsSettings,
    /// Where `history.db` backups are written (`[backup] dir`); `None`: `<data-dir>/backups`.
    pub backup_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:9001".into(),
            data_dir: PathBuf::from("./portico-data"),
            workers: 4,
            kill_grace: Duration::from_secs(3),
            max_body_bytes: 10 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
            max_connections: 16_384,
            max_connections_per_address: 256,
            http_threads: default_http_threads(),
            max_large_answers: 4,
            max_log_followers: 64,
            trusted_proxies: Vec::new(),
            access_log: true,
            log_level: log::LevelFilter::Info,
            python: "python3".into(),
            python_interpreters: Vec::new(),
            shell: "sh".into(),
            sqlite: SqliteSettings::default(),
            spark: SparkSettings::default(),
            queue: QueueSettings::default(),
            requests: RequestLimits::default(),
            session_timeout: Duration::from_secs(3600),
            linkis_admin_tokens: false,
            shutdown_grace: Duration::from_secs(30),
            max_log_bytes: 1 << 30,
            limits: JobLimits::default(),
            users: Vec::new(),
            tokens: Vec::new(),
            retention: RetentionSettings::default(),
            backup_dir: None,
            metrics: MetricsSettings::default(),
        }
    }
}

/// A `[[users]]` entry of the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub name: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub admin: bool,
}

/// A `[[tokens]]` entry of the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub token: String,
    #[serde(default = "everyone")]
    pub users: Vec<String>,
    #[serde(default = "everyone")]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub expires: Option<String>,
    /// Whether the token may submit jobs that run as another of its `users` (`executeUser`).
    #[serde(default)]
    pub may_submit_for_others: bool,
}

/// Handler threads by default: enough that a few slow handlers (a submit waiting for its commit,
/// a large page) do not stall the rest, few enough to stay small: 4 per core, 4 to 32.
fn default_http_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).saturating_mul(4).clamp(4, 32)
}

fn everyone() -> Vec<String> {
    vec!["*".into()]
}

/// Why the settings could not be resolved; printed to stderr before exiting with status 2.
#[derive(Debug)]
pub enum ConfigError {
    /// The user asked for `--help` or `--version`: print this text and exit 0.
    Info(String),
    /// A flag the server does not know, or a flag without its value.
    Usage(String),
    /// A value that does not parse, named with where it came from.
    Invalid { setting: &'static str, source: String, reason: String },
    /// The config file could not be read or parsed.
    File { path: PathBuf, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Info(text) => f.write_str(text),
            ConfigError::Usage(msg) => write!(f, "{msg}\n\nRun `portico --help` for the flags."),
            ConfigError::Invalid { setting, source, reason } => {
                write!(f, "invalid {setting} from {source}: {reason}")
            }
            ConfigError::File { path, reason } => {
                write!(f, "cannot use config file {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}
pub use engines::SqliteSettings;
use flags::Flags;
pub use limits::JobLimits;
pub use metrics::MetricsSettings;
pub use queue::QueueSettings;
pub use requests::RequestLimits;
pub use retention::RetentionSettings;
pub use spark::SparkSettings;

impl Config {
    /// Resolves the settings from the process's arguments (without the program name) and
    /// environment, reading the config file if one is named.
    pub fn from_args_and_env<I, S>(args: I, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let flags = Flags::parse(args)?;
        let config_path =
            flags.get("config").map(|v| PathBuf::from(&v.1)).or_else(|| env("PORTICO_CONFIG").map(PathBuf::from));
        let mut config = Config::default();
        if let Some(path) = config_path {
            config.apply_file(&path)?;
        }
        for (name, var) in SETTINGS {
            if let Some(value) = env(var) {
                config.apply(name, &value, var)?;
            }
        }
        for (name, (source, value)) in flags.values {
            if name != "config" {
                config.apply(name, &value, &source)?;
            }
        }
        Ok(config)
    }

    /// Sets one named setting from its text form; `source` says where it came from for errors.
    fn apply(&mut self, name: &str, value: &str, source: &str) -> Result<(), ConfigError> {
        let invalid = |setting: &'static str, reason: &str| ConfigError::Invalid {
            setting,
            source: source.to_string(),
            reason: format!("{value:?}: {reason}"),
        };
        match name {
            "bind" => {
                value.parse::<SocketAddr>().map_err(|_| invalid("bind", "expected HOST:PORT with an IP address"))?;
                self.bind = value.to_string();
            }
            "data-dir" => self.data_dir = PathBuf::from(value),
            "workers" => {
                self.workers = positive(value).ok_or_else(|| invalid("workers", "expected a whole number from 1"))?
            }
            "max-running-per-user" => {
                self.queue.max_running_per_user = Some(
                    positive(value).ok_or_else(|| invalid("max-running-per-user", "expected a whole number from 1"))?,
                )
            }
            "kill-grace" => {
                self.kill_grace =
                    seconds(value, 3600.0).ok_or_else(|| invalid("kill-grace", "expected seconds from 0 to 3600"))?
            }
            "shutdown-grace" => {
                self.shutdown_grace = seconds(value, 86_400.0)
                    .ok_or_else(|| invalid("shutdown-grace", "expected seconds from 0 to 86400"))?
            }
            "max-log-followers" => {
                self.max_log_followers = positive(value)
                    .ok_or_else(|| invalid("max-log-followers", "expected a whole number from 1 to 4096"))?
            }
            "log-level" => {
                self.log_level = value
                    .parse()
                    .map_err(|_| invalid("log-level", "expected off, error, warn, info, debug or trace"))?
            }
            _ => return Err(ConfigError::Usage(format!("unknown setting {name}"))),
        }
        Ok(())
    }
}

/// Settings that flags and `PORTICO_*` variables can both set (the config path is handled apart).
const SETTINGS: [(&str, &str); 8] = [
    ("bind", "PORTICO_BIND"),
    ("data-dir", "PORTICO_DATA_DIR"),
    ("workers", "PORTICO_WORKERS"),
    ("max-running-per-user", "PORTICO_MAX_RUNNING_PER_USER"),
    ("kill-grace", "PORTICO_KILL_GRACE"),
    ("shutdown-grace", "PORTICO_SHUTDOWN_GRACE"),
    ("log-level", "PORTICO_LOG_LEVEL"),
    ("max-log-followers", "PORTICO_MAX_LOG_FOLLOWERS"),
];

/// A number of seconds from 0 to `max` (fractions allowed).
fn seconds(value: &str, max: f64) -> Option<Duration> {
    value.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0 && *s <= max).map(Duration::from_secs_f64)
}

fn positive(value: &str) -> Option<usize> {
    value.parse::<usize>().ok().filter(|n| *n >= 1 && *n <= 4096)
}

mod engines;
mod file;
mod flags;
mod limits;
mod metrics;
mod queue;
mod requests;
mod retention;
mod spark;

#[cfg(test)]
mod tests;
