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

/// The run types of each kind of Spark job.
const SQL_RUN_TYPES: [&str; 3] = ["sql", "hql", "spark-sql"];

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

/// What a job asks of Spark, checked at submission: Spark must be there, and the job may set
/// only the `spark.*` settings the config lets jobs choose.
pub(super) fn check(config: &Config, params: &Value) -> Result<(), EngineError> {
    if launcher(config).is_none() {
        return Err(EngineError::Refused(match &config.spark.spark_home {
            Some(home) => {
                format!("Spark is not installed where the config says: {} has no bin/spark-submit", home.display())
            }
            None => "Spark is not installed on this server: install it (for example `pip install pyspark==4.3.0`, \
                     which brings spark-submit and Spark's jars) and put spark-submit on the PATH, or set \
                     [engines.spark] spark_home"
                .to_string(),
        }));
    }
    job_settings(config, params).map(drop)
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

/// Whether `run_type` is Spark SQL (the rest are PySpark).
pub(super) fn is_sql(run_type: &str) -> bool {
    SQL_RUN_TYPES.iter().any(|t| t.eq_ignore_ascii_case(run_type))
}

/// `spark-submit … <driver> <code> <result dir> <row cap>` for the job.
pub(super) fn command(job: &Launch<'_>, config: &Config) -> Result<Command, EngineError> {
    check(config, job.params)?;
    let launcher = launcher(config).ok_or_else(|| EngineError::Refused("Spark is not installed".into()))?;
    let settings = &config.spark;
    let tmp = job.work_dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    std::fs::write(job.work_dir.join(CODE), job.code)?;
    let log_config = job.work_dir.join(LOG_CONFIG);
    std::fs::write(&log_config, log4j_config(&settings.log_level))?;
    let scala = job.run_type.eq_ignore_ascii_case("scala");
    let driver = if is_sql(job.run_type) { (SQL_DRIVER, SQL_DRIVER_SOURCE) } else { (PY_DRIVER, PY_DRIVER_SOURCE) };
    if !scala {
        std::fs::write(job.work_dir.join(driver.0), driver.1)?;
        std::fs::write(job.work_dir.join(super::python::HELPER), super::python::HELPER_SOURCE)?;
    }

    let mut java_options =
        format!("-Dlog4j2.configurationFile=file:{} -Djava.io.tmpdir={}", log_config.display(), tmp.display());
    if let Some(archive) = &settings.cds_archive {
        java_options.push_str(&format!(" -XX:SharedArchiveFile={} -XX:TieredStopAtLevel=1", archive.display()));
    }
    let mut command = if scala {
        // Compiled with the Scala compiler in Spark's jars, then submitted (see spark_scala.rs).
        let source = job.work_dir.join(spark_scala::SOURCE);
        std::fs::write(&source, spark_scala::wrap(job.code))?;
        let jars = launcher.parent().and_then(Path::parent).map(|home| home.join("jars").join("*")).unwrap_or_default();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(spark_scala::COMPILE_THEN_SUBMIT)
            .arg("sh")
            .arg(jars)
            .arg(source)
            .arg(job.work_dir.join(spark_scala::JAR))
            .arg(&launcher);
        command
    } else {
        Command::new(&launcher)
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
    for (key, value) in &settings.conf {
        conf(key, value);
    }
    for (key, value) in job_settings(config, job.params)? {
        conf(&key, &value);
    }
    command.arg("--driver-java-options").arg(java_options);
    if scala {
        command.arg("--class").arg(spark_scala::MAIN_CLASS).arg(job.work_dir.join(spark_scala::JAR));
    } else {
        command
            .arg(job.work_dir.join(driver.0))
            .arg(job.work_dir.join(CODE))
            .arg(job.result_dir)
            .arg(settings.row_cap.to_string());
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
