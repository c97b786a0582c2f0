//! Spark jobs, fast: a stand-in `spark-submit` (a shell script that follows the real one's
//! contract: the arguments Portico passes, the drivers' marker lines, exit codes). The helpers
//! here serve the real-Spark tests too (`spark_real.rs`).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::helper::{alive, eventually, eventually_within, processes_where, Client, Portico, MULTI_USER_CONFIG};

/// A stand-in `spark-submit`: records its arguments in the job's working directory, then acts
/// on the job's code: `sleep` runs for ever, `fail` fails as the SQL driver reports a failure,
/// anything else succeeds with the driver's progress lines.
const STAND_IN: &str = r###"#!/bin/sh
printf '%s\n' "$@" > "$PWD/args.txt"
# The driver's arguments end with: CODE ROW_CAP
n=$#; i=0; code=""
for arg; do i=$((i+1)); if [ $i -eq $((n-1)) ]; then code="$arg"; fi; done
case "$(cat "$code")" in
  *sleep*) echo "$$" > "$PWD/pid.txt"; echo "##portico:progress 0/1"; exec sleep 600 ;;
  *fail*) echo "##portico:error Spark SQL statement 1 of 1 (line 1: fail) failed: [BOOM] it broke SQLSTATE: 42000"; exit 1 ;;
  *) echo "##portico:progress 1/1"; echo "driver output"; exit 0 ;;
esac
"###;

/// A Spark home holding the stand-in.
fn stand_in_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let launcher = bin.join("spark-submit");
    std::fs::write(&launcher, STAND_IN).unwrap();
    let mut permissions = std::fs::metadata(&launcher).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&launcher, permissions).unwrap();
    home
}

/// The row cap of the tests' Spark result sets: small, so a test can cross it cheaply.
pub(crate) const SPARK_ROW_CAP: u64 = 1000;

pub(crate) fn server_with_spark(home: &Path, python: &str) -> Portico {
    let config = format!(
        "{MULTI_USER_CONFIG}\n[engines.spark]\nspark_home = \"{}\"\npython = \"{python}\"\nrow_cap = {SPARK_ROW_CAP}\n",
        home.display()
    );
    Portico::start_with_config(&config, &[])
}

pub(crate) fn submit_spark(client: &Client, code: &str, run_type: &str, params: Value) -> Result<u64, Value> {
    client.try_submit("spark-4.3.0", run_type, code, params)
}

/// Real Spark drivers are JVMs of half a gigabyte that take seconds to start: the real-Spark
/// tests run one at a time, and wait longer than the others.
pub(crate) static REAL_SPARK: std::sync::Mutex<()> = std::sync::Mutex::new(());
const SPARK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(240);

/// [`eventually`] with the patience a real Spark driver needs.
pub(crate) fn poll_until<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    eventually_within(SPARK_PATIENCE, what, check)
}

/// The live processes of the job whose working directory is `work`: its driver names the
/// directory on its command line, and its Python processes run in it.
pub(crate) fn job_processes(work: &Path) -> Vec<i32> {
    let needle = work.display().to_string();
    processes_where(|cmdline, cwd| cmdline.contains(&needle) || cwd.starts_with(work))
}

pub(crate) fn work_dir(server: &Portico, task_id: u64) -> PathBuf {
    server.data_dir.canonicalize().unwrap().join("work").join(task_id.to_string())
}

#[test]
fn spark_jobs_are_refused_at_submit_when_spark_is_not_there() {
    let missing = tempfile::tempdir().unwrap();
    let server = server_with_spark(missing.path(), "python3");
    let alice = server.as_user("alice");
    let refused = submit_spark(&alice, "select 1", "sql", json!({})).unwrap_err();
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("Spark is not installed") && message.contains("bin/spark-submit"), "{refused}");
}

#[test]
fn a_spark_job_gets_its_settings_and_reports_its_progress_and_errors() {
    let home = stand_in_home();
    let server = server_with_spark(home.path(), "python3");
    let alice = server.as_user("alice");

    // A job may set only the settings the config lets it.
    let refused = submit_spark(
        &alice,
        "select 1",
        "sql",
        json!({"configuration": {"startup": {"spark.driver.extraJavaOptions": "-X"}}}),
    )
    .unwrap_err();
    assert!(refused["message"].as_str().unwrap().contains("may not be set by a job"), "{refused}");

    let params = json!({"configuration": {"startup": {"spark.executor.memory": "2g"}}});
    let task_id = submit_spark(&alice, "select 1", "sql", params).unwrap();
    let task = alice.wait_record(task_id);
    assert_eq!(task["status"], "Succeed", "{task}");
    let args = std::fs::read_to_string(work_dir(&server, task_id).join("args.txt")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    let after = |flag: &str| args.windows(2).filter(|w| w[0] == flag).map(|w| w[1]).collect::<Vec<_>>();
    assert_eq!(after("--master"), ["local[2]"]);
    assert_eq!(after("--name"), [format!("portico-{task_id}").as_str()]);
    let confs = after("--conf");
    for expected in
        ["spark.sql.session.timeZone=UTC", "spark.ui.port=0", "spark.driver.host=127.0.0.1", "spark.executor.memory=2g"]
    {
        assert!(confs.contains(&expected), "{expected} in {confs:?}");
    }
    assert!(confs.iter().any(|c| c.starts_with("spark.local.dir=") && c.ends_with("/tmp")), "{confs:?}");
    assert!(after("--driver-java-options")[0].contains("-Dlog4j2.configurationFile=file:"), "{args:?}");
    assert!(args[args.len() - 3].ends_with("portico_spark_sql.py"), "{args:?}");
    // SQL jobs' stdout is the driver's, not a result: the stray line went to the log.
    let location = task["resultLocation"].as_str().unwrap();
    let listing = alice.ok(&format!("filesystem/getDirFileTrees?path={location}"))["dirFileTrees"]["children"].clone();
    assert_eq!(listing, json!([]));

    let failing = alice.wait_record(submit_spark(&alice, "fail", "sql", json!({})).unwrap());
    assert_eq!(failing["status"], "Failed");
    assert_eq!(failing["errDesc"], "Spark SQL statement 1 of 1 (line 1: fail) failed: [BOOM] it broke SQLSTATE: 42000");
    assert_eq!(failing["errCode"], 43007);
}

#[test]
fn killing_a_spark_job_ends_its_driver() {
    let home = stand_in_home();
    let server = server_with_spark(home.path(), "python3");
    let alice = server.as_user("alice");
    let task_id = submit_spark(&alice, "sleep", "py", json!({})).unwrap();
    alice.wait_state(&task_id.to_string(), "Running");
    let pid_file = work_dir(&server, task_id).join("pid.txt");
    let pid: i32 = eventually("the driver to start", || std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok());
    assert!(alive(pid));
    alice.ok(&format!("entrance/{task_id}/kill"));
    assert_eq!(alice.wait_record(task_id)["status"], "Cancelled");
    assert!(!alive(pid), "the driver outlived its job's end");
}
