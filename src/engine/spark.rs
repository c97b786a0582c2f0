//! Spark jobs: `spark-submit` in client mode as the job's child process, so the driver is a
//! process Portico owns (kill, pause, logs and resource figures work as for every engine)
//! while the executors run wherever the configured master says.
//!
//! The code never runs as given: SQL goes through `spark_sql.py`, a PySpark driver that runs
//! each statement and writes each result as a TABLE result set; PySpark code runs inside
//! `spark_py.py`, which prepares `spark`, `sc` and `sqlContext` and a `show(df)`. Both are
//! shipped in the binary and written beside the job's code. Spark's own log goes to stderr in
//! Linkis's line format (a log4j2 configuration written per job), so its lines land in the
//! right slots of the job's log. What this must not know: the queue, HTTP, or signals.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{spark_scala, EngineError, Launch};
use crate::config::Config;

/// The SQL driver.
pub(super) const SQL_DRIVER: &str = "portico_spark_sql.py";
/// The PySpark wrapper.
pub(super) const PY_DRIVER: &str = "portico_spark_py.py";
/// The job's own code, as the drivers read it.
pub(super) const CODE: &str = "job.code";
/// Spark's log configuration for the job.
pub(super) const LOG_CONFIG: &str = "log4j2.properties";

const SQL_DRIVER_SOURCE: &str = include_str!("spark_sql.py");
const PY_DRIVER_SOURCE: &str = include_str!("spark_py.py");

/// The three kinds of Spark job, by run type: what runs and what it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// `sql`, `hql`, `spark-sql`: the SQL driver script.
    Sql,
    /// `scala`: compiled, then submitted with `--class`.
    Scala,
    /// `py`, `python`, `pyspark`: the PySpark wrapper.
    Py,
}

impl Kind {
    pub(super) fn of(run_type: &str) -> Kind {
        let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(run_type));
        if is(&["sql", "hql", "spark-sql"]) {
            Kind::Sql
        } else if is(&["scala"]) {
            Kind::Scala
        } else {
            Kind::Py
        }
    }
}

/// Where the settings a job may choose are read from in its `params`.
const JOB_SETTING_PLACES: [&str; 2] = ["/configuration/startup", "/configuration/runtime"];

/// The `spark-submit` that runs jobs: `spark_home/bin/spark-submit`, else the one on the PATH.
pub fn launcher(config: &Config) -> Option<PathBuf> {
    if let Some(home) = &config.spark.spark_home {
        let path = home.join("bin").join("spark-submit");
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("spark-submit")).find(|p| p.is_file())
}

/// What a job needs from Spark, found at submission and again when it starts.
pub(super) struct Ready {
    launcher: PathBuf,
    /// The `spark.*` settings the job chose, each one the config allows.
    settings: Vec<(String, String)>,
}

/// What a job asks of Spark, checked at submission: Spark must be there, and the job may set
/// only the `spark.*` settings the config lets jobs choose.
pub(super) fn check(config: &Config, params: &Value) -> Result<Ready, EngineError> {
    let Some(launcher) = launcher(config) else {
        return Err(EngineError::Refused(match &config.spark.spark_home {
            Some(home) => {
                format!("Spark is not installed where the config says: {} has no bin/spark-submit", home.display())
            }
            None => "Spark is not installed on this server: install it (for example `pip install pyspark==4.3.0`, \
                     which brings spark-submit and Spark's jars) and put spark-submit on the PATH, or set \
                     [engines.spark] spark_home"
                .to_string(),
        }));
    };
    Ok(Ready { launcher, settings: job_settings(config, params)? })
}

/// Spark's own directory (its `jars/` hold the Scala compiler): the configured one, else the
/// one the launcher belongs to: a distribution's `bin/..`, or, for a launcher that pip put in
/// a virtualenv's `bin/`, what that package's own `find_spark_home.py` answers.
fn spark_home(config: &Config, launcher: &Path) -> PathBuf {
    if let Some(home) = &config.spark.spark_home {
        return home.clone();
    }
    let bin = launcher.parent().unwrap_or(Path::new("."));
    let distribution = bin.parent().unwrap_or(bin).to_path_buf();
    if distribution.join("jars").is_dir() {
        return distribution;
    }
    Command::new(&config.spark.python)
        .arg(bin.join("find_spark_home.py"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .unwrap_or(distribution)
}

/// The `spark.*` settings the job chose, each one the config allows.
fn job_settings(config: &Config, params: &Value) -> Result<Vec<(String, String)>, EngineError> {
    let mut chosen = Vec::new();
    for place in JOB_SETTING_PLACES {
        let Some(settings) = params.pointer(place).and_then(Value::as_object) else { continue };
        for (key, value) in settings.iter().filter(|(key, _)| key.starts_with("spark.")) {
            if !config.spark.job_settings.iter().any(|allowed| allowed == key) {
                return Err(EngineError::Refused(format!(
                    "{key} may not be set by a job here; the server's config allows {}",
                    config.spark.job_settings.join(", ")
                )));
            }
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(EngineError::Refused(format!("{key} must be a string or a number"))),
            };
            if value.chars().any(char::is_control) {
                return Err(EngineError::Refused(format!("{key} holds a control character")));
            }
            chosen.push((key.clone(), value));
        }
    }
    Ok(chosen)
}

/// `spark-submit …` for the job: for SQL and PySpark, `<driver> <code> <row cap>`; for Scala,
/// `--class PorticoJob <jar>` behind the compile step (`sh`, see `spark_scala.rs`).
pub(super) fn command(job: &Launch<'_>, config: &Config) -> Result<Command, EngineError> {
    let Ready { launcher, settings: chosen } = check(config, job.params)?;
    let settings = &config.spark;
    let kind = Kind::of(job.run_type);
    let tmp = job.work_dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let log_config = job.work_dir.join(LOG_CONFIG);
    std::fs::write(&log_config, log4j_config(&settings.log_level))?;
    let mut java_options =
        format!("-Dlog4j2.configurationFile=file:{} -Djava.io.tmpdir={}", log_config.display(), tmp.display());
    if let Some(archive) = &settings.cds_archive {
        java_options.push_str(&format!(" -XX:SharedArchiveFile={} -XX:TieredStopAtLevel=1", archive.display()));
    }

    let mut command = match kind {
        Kind::Scala => {
            let source = job.work_dir.join(spark_scala::SOURCE);
            std::fs::write(&source, spark_scala::wrap(job.code))?;
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(spark_scala::COMPILE_THEN_SUBMIT)
                .arg("sh")
                .arg(spark_home(config, &launcher).join("jars").join("*"))
                .arg(source)
                .arg(job.work_dir.join(spark_scala::JAR))
                .arg(&launcher);
            command
        }
        Kind::Sql | Kind::Py => Command::new(&launcher),
    };
    command.arg("--master").arg(&settings.master).arg("--name").arg(format!("portico-{}", job.task_id));
    let mut conf = |key: &str, value: &str| {
        command.arg("--conf").arg(format!("{key}={value}"));
    };
    conf("spark.driver.host", &settings.driver_host);
    conf("spark.ui.port", "0");
    conf("spark.local.dir", &tmp.to_string_lossy());
    conf("spark.sql.session.timeZone", &settings.time_zone);
    conf("spark.sql.catalogImplementation", "in-memory");
    conf("spark.pyspark.python", &settings.python);
    for (key, value) in settings.conf.iter().chain(chosen.iter().map(|(k, v)| (k, v))) {
        conf(key, value);
    }
    command.arg("--driver-java-options").arg(java_options);
    match kind {
        Kind::Scala => {
            command.arg("--class").arg(spark_scala::MAIN_CLASS).arg(job.work_dir.join(spark_scala::JAR));
        }
        Kind::Sql | Kind::Py => {
            let (driver, source) =
                if kind == Kind::Sql { (SQL_DRIVER, SQL_DRIVER_SOURCE) } else { (PY_DRIVER, PY_DRIVER_SOURCE) };
            std::fs::write(job.work_dir.join(driver), source)?;
            std::fs::write(job.work_dir.join(super::python::HELPER), super::python::HELPER_SOURCE)?;
            std::fs::write(job.work_dir.join(CODE), job.code)?;
            command.arg(job.work_dir.join(driver)).arg(job.work_dir.join(CODE)).arg(settings.row_cap.to_string());
        }
    }
    command.env("PYSPARK_PYTHON", &settings.python).env("PORTICO_RESULT_DIR", job.result_dir);
    if is_local(&settings.master) {
        // Everything on this host: every port Spark opens listens on loopback only.
        command.env("SPARK_LOCAL_IP", "127.0.0.1");
    }
    Ok(command)
}

fn is_local(master: &str) -> bool {
    master == "local" || master.starts_with("local[")
}

/// log4j2 in Linkis's line format (`yyyy-MM-dd HH:mm:ss.SSS LEVEL logger: message`) on
/// stderr, so the job log's level split reads Spark's lines as it reads Portico's.
fn log4j_config(level: &str) -> String {
    format!(
        "rootLogger.level = {level}\n\
         rootLogger.appenderRef.stderr.ref = console\n\
         appender.console.type = Console\n\
         appender.console.name = console\n\
         appender.console.target = SYSTEM_ERR\n\
         appender.console.layout.type = PatternLayout\n\
         appender.console.layout.pattern = %d{{yyyy-MM-dd HH:mm:ss.SSS}} %p %c{{1}}: %m%n%ex\n"
    )
}

/// The files [`command`] writes into a job's working directory, for clean-up.
pub(super) fn written_files(work_dir: &Path) -> Vec<PathBuf> {
    [SQL_DRIVER, PY_DRIVER, CODE, LOG_CONFIG, spark_scala::SOURCE, spark_scala::JAR]
        .iter()
        .map(|f| work_dir.join(f))
        .collect()
}
