//! The config file's `[engines.spark]` section: where Spark is, which master its jobs go to,
//! and what each job may change.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

/// Settings of the `spark` engine.
#[derive(Clone, Debug)]
pub struct SparkSettings {
    /// Spark's installation (its `bin/spark-submit` runs jobs); without it, `spark-submit` is
    /// looked for on the PATH.
    pub spark_home: Option<PathBuf>,
    /// Where executors run: `local[2]`, `spark://host:7077`, `yarn`, `k8s://…`.
    pub master: String,
    /// The address executors reach the driver at (client mode): `127.0.0.1` is right only while
    /// everything runs on this host.
    pub driver_host: String,
    /// The Python of PySpark drivers and workers (`PYSPARK_PYTHON`).
    pub python: String,
    /// `spark.sql.session.timeZone`: the zone timestamps are shown in.
    pub time_zone: String,
    /// Spark's own log level in the job's log (`WARN` by default).
    pub log_level: String,
    /// Rows a result set keeps; past it the result is cut and the log says so.
    pub row_cap: u64,
    /// Extra `--conf` pairs for every job.
    pub conf: BTreeMap<String, String>,
    /// The `spark.*` settings a job may set itself (`params.configuration.startup`/`runtime`).
    pub job_settings: Vec<String>,
    /// A class-data-sharing archive for the driver JVM (built once; cuts its start-up).
    pub cds_archive: Option<PathBuf>,
}

impl Default for SparkSettings {
    fn default() -> Self {
        SparkSettings {
            spark_home: None,
            master: "local[2]".into(),
            driver_host: "127.0.0.1".into(),
            python: "python3".into(),
            time_zone: "UTC".into(),
            log_level: "WARN".into(),
            row_cap: 5_000_000,
            conf: BTreeMap::new(),
            job_settings: [
                "spark.executor.memory",
                "spark.executor.cores",
                "spark.executor.instances",
                "spark.yarn.queue",
            ]
            .map(String::from)
            .to_vec(),
            cds_archive: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SparkSection {
    spark_home: Option<PathBuf>,
    master: Option<String>,
    driver_host: Option<String>,
    python: Option<String>,
    time_zone: Option<String>,
    log_level: Option<String>,
    row_cap: Option<u64>,
    conf: Option<BTreeMap<String, String>>,
    job_settings: Option<Vec<String>>,
    cds_archive: Option<PathBuf>,
}

/// Spark's log levels, as log4j names them.
const LOG_LEVELS: [&str; 7] = ["OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

impl SparkSettings {
    /// Applies the section; `file_error` names the file in errors.
    pub(super) fn apply(
        &mut self,
        section: SparkSection,
        file_error: &dyn Fn(String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let refuse = |what: String| Err(file_error(format!("engines.spark: {what}")));
        if let Some(home) = section.spark_home {
            if !home.is_absolute() {
                return refuse(format!("spark_home {} must be an absolute path", home.display()));
            }
            self.spark_home = Some(home);
        }
        if let Some(level) = section.log_level {
            let upper = level.to_ascii_uppercase();
            if !LOG_LEVELS.contains(&upper.as_str()) {
                return refuse(format!("log_level {level:?} is not one of {}", LOG_LEVELS.join(", ")));
            }
            self.log_level = upper;
        }
        match section.row_cap {
            Some(0) => return refuse("row_cap must be at least 1".into()),
            Some(cap) => self.row_cap = cap,
            None => {}
        }
        if let Some(conf) = &section.conf {
            if let Some(key) = conf.keys().find(|k| !k.starts_with("spark.")) {
                return refuse(format!("conf key {key:?} is not a spark.* setting"));
            }
        }
        for (value, slot) in [
            (section.master, &mut self.master),
            (section.driver_host, &mut self.driver_host),
            (section.python, &mut self.python),
            (section.time_zone, &mut self.time_zone),
        ] {
            if let Some(value) = value {
                if value.trim().is_empty() || value.chars().any(char::is_control) {
                    return refuse(format!("{value:?} is not a usable value"));
                }
                *slot = value;
            }
        }
        self.conf = section.conf.unwrap_or_default();
        if let Some(settings) = section.job_settings {
            self.job_settings = settings;
        }
        self.cds_archive = section.cds_archive;
        Ok(())
    }
}
