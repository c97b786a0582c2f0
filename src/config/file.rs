//! The config file: its sections as TOML sees them, and how they are applied over the
//! current values. Unknown keys are errors (`deny_unknown_fields`), never silently ignored.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::engines::EngineSection;
use super::limits::LimitsSection;
use super::metrics::MetricsSection;
use super::retention::{BackupSection, RetentionSection};
use super::{queue, requests, Config, ConfigError, TokenEntry, UserEntry};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    engines: EngineSection,
    #[serde(default)]
    queue: queue::QueueSection,
    #[serde(default)]
    requests: requests::RequestSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    users: Vec<UserEntry>,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
    #[serde(default)]
    retention: RetentionSection,
    #[serde(default)]
    backup: BackupSection,
    #[serde(default)]
    metrics: MetricsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    bind: Option<String>,
    data_dir: Option<PathBuf>,
    workers: Option<usize>,
    kill_grace_secs: Option<f64>,
    shutdown_grace_secs: Option<f64>,
    max_log_bytes: Option<u64>,
    max_body_bytes: Option<usize>,
    idle_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    http_threads: Option<usize>,
    max_large_answers: Option<usize>,
    max_log_followers: Option<usize>,
    trusted_proxies: Option<Vec<String>>,
    access_log: Option<bool>,
    log_level: Option<String>,
    session_timeout_secs: Option<u64>,
    linkis_admin_tokens: Option<bool>,
}

impl Config {
    /// Reads the TOML file at `path` over the current values.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let file_error = |reason: String| ConfigError::File { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let file: FileConfig = toml::from_str(&text).map_err(|e| file_error(e.to_string()))?;
        let source = path.display().to_string();
        let server = file.server;
        if let Some(bind) = server.bind {
            self.apply("bind", &bind, &source)?;
        }
        if let Some(dir) = server.data_dir {
            self.data_dir = dir;
        }
        if let Some(n) = server.workers {
            self.apply("workers", &n.to_string(), &source)?;
        }
        if let Some(secs) = server.kill_grace_secs {
            self.apply("kill-grace", &secs.to_string(), &source)?;
        }
        if let Some(secs) = server.shutdown_grace_secs {
            self.apply("shutdown-grace", &secs.to_string(), &source)?;
        }
        let at_least = |setting: &'static str, value: Option<u64>, min: u64| -> Result<Option<u64>, ConfigError> {
            match value {
                Some(n) if n < min => Err(ConfigError::Invalid {
                    setting,
                    source: source.clone(),
                    reason: format!("{n}: must be at least {min}"),
                }),
                other => Ok(other),
            }
        };
        if let Some(n) = at_least("max_log_bytes", server.max_log_bytes, 4096)? {
            self.max_log_bytes = n;
        }
        if let Some(n) = server.max_body_bytes {
            self.max_body_bytes = n;
        }
        if let Some(secs) = at_least("idle_timeout_secs", server.idle_timeout_secs, 1)? {
            self.idle_timeout = Duration::from_secs(secs);
        }
        if let Some(n) = at_least("max_connections", server.max_connections.map(|n| n as u64), 1)? {
            self.max_connections = n as usize;
        }
        let per_address = server.max_connections_per_address.map(|n| n as u64);
        if let Some(n) = at_least("max_connections_per_address", per_address, 1)? {
            self.max_connections_per_address = n as usize;
        }
        if let Some(n) = at_least("http_threads", server.http_threads.map(|n| n as u64), 1)? {
            self.http_threads = (n as usize).min(1024);
        }
        if let Some(n) = at_least("max_large_answers", server.max_large_answers.map(|n| n as u64), 1)? {
            self.max_large_answers = n as usize;
        }
        if let Some(n) = server.max_log_followers {
            self.apply("max-log-followers", &n.to_string(), &source)?;
        }
        if let Some(proxies) = server.trusted_proxies {
            self.trusted_proxies = proxies
                .iter()
                .map(|text| {
                    text.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()).map_err(|_| ConfigError::Invalid {
                        setting: "trusted_proxies",
                        source: source.clone(),
                        reason: format!("{text:?} is not an IP address"),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(on) = server.access_log {
            self.access_log = on;
        }
        if let Some(level) = server.log_level {
            self.apply("log-level", &level, &source)?;
        }
        if let Some(secs) = at_least("session_timeout_secs", server.session_timeout_secs, 1)? {
            self.session_timeout = Duration::from_secs(secs);
        }
        if let Some(on) = server.linkis_admin_tokens {
            self.linkis_admin_tokens = on;
        }
        self.apply_engines(file.engines, &file_error)?;
        self.queue.apply(file.queue, &file_error)?;
        self.requests.apply(file.requests, &file_error)?;
        self.limits.apply(file.limits, &file_error)?;
        self.metrics.apply(file.metrics, &file_error)?;
        self.apply_retention(file.retention, file.backup, &source)?;
        self.users = file.users;
        self.tokens = file.tokens;
        Ok(())
    }
}
