//! Spark jobs on a real Spark: the `pyspark` package whose `SPARK_HOME` is in
//! `PORTICO_SPARK_HOME`, with `PORTICO_SPARK_PYTHON`, the Python that has it. CI installs it
//! and sets both; locally these tests say they are skipped unless the variables are set. They
//! run one at a time: each driver is a JVM of half a gigabyte.

use std::path::Path;

use serde_json::{json, Value};

use crate::helper::{proc_state, processes_matching, Client, Portico, MULTI_USER_CONFIG};
use crate::spark::{job_processes, poll_until, server_with_spark, submit_spark, work_dir, REAL_SPARK, SPARK_ROW_CAP};

/// The real Spark named by the environment, held for one test at a time.
struct RealSpark {
    home: String,
    python: String,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// The real Spark, or `None` (and a note) when it is not set up. Where Spark is required
/// (`PORTICO_REQUIRE_SPARK`, which `.ci/run` sets), its absence fails the test instead.
fn real_spark() -> Option<RealSpark> {
    match (std::env::var("PORTICO_SPARK_HOME"), std::env::var("PORTICO_SPARK_PYTHON")) {
        (Ok(home), Ok(python)) => {
            let turn = REAL_SPARK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Some(RealSpark { home, python, _turn: turn })
        }
        _ => {
            assert!(
                std::env::var_os("PORTICO_REQUIRE_SPARK").is_none() && std::env::var_os("CI").is_none(),
                "the real-Spark tests must run here: set PORTICO_SPARK_HOME and PORTICO_SPARK_PYTHON"
            );
            eprintln!("skipped: set PORTICO_SPARK_HOME and PORTICO_SPARK_PYTHON to run the real-Spark tests");
            None
        }
    }
}

/// A server on the real Spark and alice's client, for one test at a time.
fn real_spark_server() -> Option<(RealSpark, Portico, Client)> {
    let spark = real_spark()?;
    let server = server_with_spark(Path::new(&spark.home), &spark.python);
    let alice = server.as_user("alice");
    Some((spark, server, alice))
}

#[test]
fn real_spark_sql_and_pyspark_write_typed_tables() {
    let Some((_spark, _server, alice)) = real_spark_server() else { return };
    let sql = "select 1 as i, cast(null as string) as s_null, 2.5d as d, 1.10BD as dec, \
               date'2024-01-02' as dt, timestamp'2024-01-02 03:04:05' as ts, array(1, 2) as arr, \
               'NULL' as strnull;\nselect id, id * 2 as dbl from range(3);\n\
               select id from range(0, 100000, 1, 4);\nselect * from nope";
    let sql_task = submit_spark(&alice, sql, "sql", json!({})).unwrap();
    let py = "df = spark.range(4).selectExpr('id', 'id % 2 = 0 as even')\nshow(df)\nprint('printed')";
    let py_task = submit_spark(&alice, py, "py", json!({})).unwrap();

    let task = poll_until("the SQL job to end", || alice.ended_record(sql_task));
    assert_eq!(task["status"], "Failed", "{task}");
    let error = task["errDesc"].as_str().unwrap();
    assert!(
        error.contains("statement 4 of 4") && error.contains("TABLE_OR_VIEW_NOT_FOUND") && error.contains("42P01"),
        "{error}"
    );
    let location = task["resultLocation"].as_str().unwrap();
    let open = |name: &str| alice.ok(&format!("filesystem/openFile?path={location}/{name}&nullValue=LINKIS_NULL"));
    let first = open("_0.dolphin");
    let types: Vec<&str> =
        first["metadata"].as_array().unwrap().iter().map(|c| c["dataType"].as_str().unwrap()).collect();
    assert_eq!(types, ["int", "string", "double", "decimal", "date", "timestamp", "array", "string"]);
    assert_eq!(
        first["fileContent"],
        json!([["1", null, "2.5", "1.10", "2024-01-02", "2024-01-02 03:04:05", "[1,2]", "NULL"]])
    );
    assert_eq!(open("_1.dolphin")["fileContent"], json!([["0", "0"], ["1", "2"], ["2", "4"]]));
    // Cut at the row cap, in order, and the log says so (partitions past the cap are not read).
    let capped = alice.ok(&format!("filesystem/openFile?path={location}/_2.dolphin&pageSize=5000"));
    let rows = capped["fileContent"].as_array().unwrap();
    assert_eq!(rows.len() as u64, SPARK_ROW_CAP);
    assert_eq!(rows[rows.len() - 1], json!([(SPARK_ROW_CAP - 1).to_string()]));
    assert!(alice.log_lines(&sql_task.to_string()).iter().any(|l| l.contains("cut at 1000 rows")));

    let task = poll_until("the PySpark job to end", || alice.ended_record(py_task));
    assert_eq!(task["status"], "Succeed", "{task}");
    let location = task["resultLocation"].as_str().unwrap();
    let table = alice.ok(&format!("filesystem/openFile?path={location}/_0.dolphin"));
    assert_eq!(table["type"], "2");
    assert_eq!(table["fileContent"], json!([["0", "true"], ["1", "false"], ["2", "true"], ["3", "false"]]));
    let text = alice.ok(&format!("filesystem/openFile?path={location}/_1.dolphin"));
    assert_eq!(text["fileContent"], json!([["printed"]]));
}

#[test]
fn real_spark_kill_ends_the_driver_and_its_python() {
    let Some((_spark, server, alice)) = real_spark_server() else { return };
    let endless = "import time\nwhile True:\n    spark.range(1000).count()\n    time.sleep(0.2)";
    let task_id = submit_spark(&alice, endless, "py", json!({})).unwrap();
    let work = work_dir(&server, task_id);
    // Running as far as Spark is concerned: the code's first Spark job has been logged.
    poll_until("the driver to run Spark jobs", || {
        let log = alice.ok(&format!("entrance/{task_id}/log?fromLine=0&size=1000"))["log"][3].clone();
        log.as_str().is_some_and(|l| l.contains("Spark application")).then_some(())
    });
    assert!(!job_processes(&work).is_empty());
    // Progress and resources come from the driver itself while it runs.
    let metrics = poll_until("the driver's figures", || {
        let data = alice.ok(&format!("entrance/{task_id}/progressWithResource"));
        let tasks = data["progressInfo"][0]["totalTasks"].as_u64()?;
        (tasks > 1 && data["yarnMetrics"]["yarnResource"][0]["queueCores"].as_u64()? > 0).then_some(data)
    });
    let app = &metrics["yarnMetrics"]["yarnResource"][0];
    assert!(app["applicationId"].as_str().unwrap().starts_with("local-"), "{metrics}");
    assert_eq!(app["queue"], "local[2]");
    assert!(metrics["yarnMetrics"]["sparkUi"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{metrics}");
    assert!(metrics["progress"].as_f64().unwrap() <= 0.99);
    alice.ok(&format!("entrance/{task_id}/kill"));
    assert_eq!(poll_until("the job to end", || alice.ended_record(task_id))["status"], "Cancelled");
    poll_until("no process of the job left", || job_processes(&work).is_empty().then_some(()));
}

/// A Spark standalone master and one worker on 127.0.0.1, started from the same package with
/// `spark-class`; both are stopped when this is dropped.
struct Cluster {
    processes: Vec<std::process::Child>,
    master_url: String,
    web: String,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    fn start(home: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let (port, web, worker_web) = (free_port(), free_port(), free_port());
        let master_url = format!("spark://127.0.0.1:{port}");
        let spark_class = Path::new(home).join("bin").join("spark-class");
        let spawn = |args: &[String], log: &str| {
            std::process::Command::new(&spark_class)
                .args(args)
                .env("SPARK_LOCAL_IP", "127.0.0.1")
                .current_dir(dir.path())
                .stdout(std::fs::File::create(dir.path().join(log)).unwrap())
                .stderr(std::fs::File::create(dir.path().join(format!("{log}.err"))).unwrap())
                .spawn()
                .unwrap()
        };
        let owned = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let master = spawn(
            &owned(&[
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--webui-port",
                &web.to_string(),
            ]),
            "master.log",
        );
        let worker = spawn(
            &owned(&[
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--cores",
                "2",
                "--memory",
                "2g",
                "--webui-port",
                &worker_web.to_string(),
                "--work-dir",
                &dir.path().join("work").display().to_string(),
                &master_url,
            ]),
            "worker.log",
        );
        let cluster = Cluster {
            processes: vec![master, worker],
            master_url,
            web: format!("http://127.0.0.1:{web}/json/"),
            _dir: dir,
        };
        poll_until("the worker to register with the master", || {
            let state = cluster.state()?;
            state["workers"].as_array()?.iter().any(|w| w["state"] == "ALIVE").then_some(())
        });
        cluster
    }

    /// The master's own JSON view (workers, active and completed applications).
    fn state(&self) -> Option<Value> {
        ureq::get(&self.web).timeout(std::time::Duration::from_secs(2)).call().ok()?.into_json().ok()
    }

    fn app_named<'a>(state: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
        state[list].as_array()?.iter().find(|app| app["name"] == name)
    }
}

#[test]
fn real_spark_jobs_run_on_a_standalone_master_and_a_kill_leaves_it() {
    let Some(spark) = real_spark() else { return };
    let (home, python) = (&spark.home, &spark.python);
    let cluster = Cluster::start(home);
    let config = format!(
        "{MULTI_USER_CONFIG}\n[engines.spark]\nspark_home = \"{home}\"\npython = \"{python}\"\nmaster = \"{}\"\n\
         conf = {{ \"spark.executor.memory\" = \"512m\" }}\n",
        cluster.master_url
    );
    let server = Portico::start_with_config(&config, &[]);
    let alice = server.as_user("alice");

    let sql = submit_spark(&alice, "select id, id * id as square from range(4)", "sql", json!({})).unwrap();
    let task = poll_until("the SQL job to end", || alice.ended_record(sql));
    assert_eq!(task["status"], "Succeed", "{task}");
    let location = task["resultLocation"].as_str().unwrap();
    let rows = alice.ok(&format!("filesystem/openFile?path={location}/_0.dolphin"))["fileContent"].clone();
    assert_eq!(rows, json!([["0", "0"], ["1", "1"], ["2", "4"], ["3", "9"]]));
    let state = cluster.state().unwrap();
    assert!(
        Cluster::app_named(&state, "completedapps", &format!("portico-{sql}")).is_some(),
        "ran on the master: {state}"
    );

    let py = "show(spark.range(3).selectExpr('id', 'id * 10 as tens'))";
    let py = submit_spark(&alice, py, "py", json!({})).unwrap();
    let task = poll_until("the PySpark job to end", || alice.ended_record(py));
    assert_eq!(task["status"], "Succeed", "{task}");
    let location = task["resultLocation"].as_str().unwrap();
    let rows = alice.ok(&format!("filesystem/openFile?path={location}/_0.dolphin"))["fileContent"].clone();
    assert_eq!(rows, json!([["0", "0"], ["1", "10"], ["2", "20"]]));

    let endless = "import time\nwhile True:\n    spark.range(100).count()\n    time.sleep(0.2)";
    let long = submit_spark(&alice, endless, "py", json!({})).unwrap();
    let name = format!("portico-{long}");
    poll_until("the application to be active on the master", || {
        Cluster::app_named(&cluster.state()?, "activeapps", &name).map(drop)
    });
    alice.ok(&format!("entrance/{long}/kill"));
    assert_eq!(poll_until("the job to end", || alice.ended_record(long))["status"], "Cancelled");
    poll_until("the application to be gone from the master's active list", || {
        let state = cluster.state()?;
        (Cluster::app_named(&state, "activeapps", &name).is_none()
            && Cluster::app_named(&state, "completedapps", &name).is_some())
        .then_some(())
    });
}

/// The job's live processes with their `/proc` states.
fn job_process_states(work: &Path) -> Vec<(i32, String)> {
    job_processes(work).into_iter().filter_map(|pid| Some((pid, proc_state(pid)?))).collect()
}

#[test]
fn real_spark_pause_stops_the_driver_and_resume_lets_it_finish() {
    let Some((_spark, server, alice)) = real_spark_server() else { return };
    let code = "import time\nfor i in range(40):\n    spark.range(100).count()\n    time.sleep(0.1)\nprint('done')";
    let task_id = submit_spark(&alice, code, "py", json!({})).unwrap();
    let work = work_dir(&server, task_id);
    poll_until("the driver to run Spark jobs", || {
        let data = alice.ok(&format!("entrance/{task_id}/progress"));
        (data["progressInfo"][0]["totalTasks"].as_u64()? > 0).then_some(())
    });
    assert_eq!(alice.ok(&format!("entrance/{task_id}/pause"))["paused"], true);
    // The driver JVM (its command line names the job's scratch directory) and the Python
    // driver it started (running the wrapper in the job's directory), by their command lines.
    let driver = format!("{}/tmp", work.display());
    let python_driver = format!("{}/portico_spark_py.py", work.display());
    poll_until("the driver and its Python to be stopped", || {
        let pids: Vec<i32> = [&driver, &python_driver]
            .iter()
            .map(|needle| processes_matching(needle).first().copied())
            .collect::<Option<_>>()?;
        pids.iter().all(|pid| proc_state(*pid).as_deref() == Some("T")).then_some(())
    });
    let before = alice.ok(&format!("entrance/{task_id}/progress"))["progress"].clone();
    assert_eq!(alice.ok(&format!("entrance/{task_id}/resume"))["paused"], false);
    let task = poll_until("the job to end", || alice.ended_record(task_id));
    assert_eq!(task["status"], "Succeed", "{task}");
    assert!(before.as_f64().unwrap() < 1.0);
    let location = task["resultLocation"].as_str().unwrap();
    assert_eq!(alice.ok(&format!("filesystem/openFile?path={location}/_0.dolphin"))["fileContent"], json!([["done"]]));
}

#[test]
fn real_spark_scala_compiles_runs_and_fails_loudly() {
    let Some((_spark, _server, alice)) = real_spark_server() else { return };
    let good = "case class P(a: Int, b: String)\nval ds = Seq(P(1, \"x\"), P(2, \"y\"), P(3, \"z\")).toDS()\n\
                println(\"count=\" + ds.filter(_.a > 1).count())";
    let good = submit_spark(&alice, good, "scala", json!({})).unwrap();
    let broken = submit_spark(&alice, "val x: Int = \"not a number\"", "scala", json!({})).unwrap();
    let throws =
        submit_spark(&alice, "println(1 / (sc.defaultParallelism - sc.defaultParallelism))", "scala", json!({}))
            .unwrap();

    let task = poll_until("the Scala job to end", || alice.ended_record(good));
    assert_eq!(task["status"], "Succeed", "{task}");
    let location = task["resultLocation"].as_str().unwrap();
    let text = alice.ok(&format!("filesystem/openFile?path={location}/_0.dolphin"))["fileContent"].clone();
    assert!(text.as_array().unwrap().contains(&json!(["count=2"])), "{text}");

    let task = poll_until("the broken Scala job to end", || alice.ended_record(broken));
    assert_eq!(task["status"], "Failed", "a compile error fails the job: {task}");
    assert!(task["errDesc"].as_str().unwrap().contains("type mismatch"), "{task}");
    let task = poll_until("the throwing Scala job to end", || alice.ended_record(throws));
    assert_eq!(task["status"], "Failed", "an uncaught exception fails the job: {task}");
    assert!(task["errDesc"].as_str().unwrap().contains("ArithmeticException"), "{task}");
}

#[test]
fn real_spark_kill_ends_python_workers_that_left_the_group() {
    let Some((_spark, server, alice)) = real_spark_server() else { return };
    // A Python UDF: Spark starts pyspark.daemon, which moves to a process group of its own.
    let code = "import time\nspark.range(2).rdd.map(lambda x: (time.sleep(600), x)[1]).count()";
    let task_id = submit_spark(&alice, code, "py", json!({})).unwrap();
    let work = work_dir(&server, task_id);
    let daemon = poll_until("the Python worker daemon", || {
        job_process_states(&work).into_iter().find_map(|(pid, _)| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline).contains("pyspark.daemon").then_some(pid)
        })
    });
    alice.ok(&format!("entrance/{task_id}/kill"));
    assert_eq!(poll_until("the job to end", || alice.ended_record(task_id))["status"], "Cancelled");
    // Gone when the job's end is recorded, not some seconds later.
    assert!(!processes_matching("pyspark.daemon").contains(&daemon), "the worker daemon outlived the job");
    poll_until("no process of the job left", || job_processes(&work).is_empty().then_some(()));
}
