//! Submitting jobs and following them through status, progress, log and result.

use serde_json::{json, Value};

use crate::helper::{eventually, Portico};

#[test]
fn a_shell_job_runs_to_success_with_linkis_shapes() {
    let server = Portico::start();
    let (exec_id, task_id) = server.submit_shell("echo hello; echo world");
    assert!(exec_id.starts_with("exec_id018"), "{exec_id}");
    assert!(exec_id.ends_with(&format!("IDE_hadoop_shell_{task_id}")), "{exec_id}");

    let mut seen = Vec::new();
    let mut last_progress = 0.0;
    eventually("the job to succeed", || {
        let status = server.ok(&format!("entrance/{exec_id}/status"));
        let state = status["status"].as_str().unwrap().to_string();
        assert!(["Inited", "Scheduled", "Running", "Succeed"].contains(&state.as_str()), "unexpected state {state}");
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        let progress = server.ok(&format!("entrance/{exec_id}/progress"))["progress"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&progress) && progress >= last_progress,
            "progress {progress} after {last_progress}"
        );
        last_progress = progress;
        (state == "Succeed").then_some(())
    });
    let order = ["Inited", "Scheduled", "Running", "Succeed"];
    let positions: Vec<usize> = seen.iter().map(|s| order.iter().position(|o| o == s).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "states went backwards: {seen:?}");

    let status = server.ok(&format!("entrance/{exec_id}/status"));
    assert_eq!(status["execID"], exec_id.as_str());
    assert_eq!(status["exitCode"], 0);

    let progress = server.ok(&format!("entrance/{task_id}/progress"));
    assert_eq!(progress["progress"], 1.0);
    assert_eq!(
        progress["progressInfo"],
        json!([{"id": task_id.to_string(), "succeedTasks": 1, "failedTasks": 0, "runningTasks": 0, "totalTasks": 1}])
    );

    let log = server.ok(&format!("entrance/{exec_id}/log?fromLine=1&size=1000"));
    let slots = log["log"].as_array().expect("four slots");
    assert_eq!(slots.len(), 4);
    let all = slots[3].as_str().unwrap();
    assert!(all.contains("\nhello\nworld\n"), "{all}");
    assert!(all.ends_with("INFO Congratulations. Your job completed with status Success."), "{all}");
    assert_eq!(slots[0], "", "no error lines expected");

    let results: Vec<_> = std::fs::read_dir(server.data_dir.join("users/hadoop/result"))
        .unwrap()
        .flat_map(|day| std::fs::read_dir(day.unwrap().path().join(task_id.to_string())).unwrap())
        .map(|file| std::fs::read(file.unwrap().path()).unwrap())
        .collect();
    assert_eq!(results, [b"dolphin00000000010000000004NULL0000000005hello0000000005world".to_vec()]);
}

#[test]
fn the_legacy_execute_body_runs_python_with_the_job_ids_in_its_environment() {
    let server = Portico::start();
    let (code, answer) = server.post(
        "entrance/execute",
        &json!({
            "executeApplicationName": "python",
            "requestApplicationName": "nb",
            "executionCode": "import os\nprint('task', os.environ['LINKIS_TASK_ID'])\nprint(os.environ['LINKIS_EXEC_ID'])",
            "runType": "python",
        })
        .to_string(),
    );
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["method"], "/api/entrance/execute");
    let exec_id = answer["data"]["execID"].as_str().unwrap();
    let task_id = answer["data"]["taskID"].as_u64().unwrap();
    assert!(exec_id.ends_with(&format!("nb_hadoop_python_{task_id}")), "{exec_id}");
    assert_eq!(server.wait_done(exec_id), "Succeed");
    let lines = server.log_lines(exec_id);
    assert!(lines.contains(&format!("task {task_id}")), "{lines:?}");
    assert!(lines.contains(&exec_id.to_string()), "{lines:?}");
}

#[test]
fn a_failing_job_reports_its_exit_code_and_stderr() {
    let server = Portico::start();
    let (exec_id, _) = server.submit_shell("echo partial; echo 'something broke' >&2; exit 7");
    assert_eq!(server.wait_done(&exec_id), "Failed");
    let status = server.ok(&format!("entrance/{exec_id}/status"));
    assert_eq!(status["exitCode"], 7);
    let log = server.ok(&format!("entrance/{exec_id}/log?size=-1"));
    let errors = log["log"][0].as_str().unwrap();
    assert!(errors.contains("exited with code 7") && errors.contains("something broke"), "{errors}");
    assert!(log["log"][3].as_str().unwrap().contains("Sorry. Your job completed with a status Failed."));
    let progress = server.ok(&format!("entrance/{exec_id}/progress"));
    assert_eq!(progress["progressInfo"][0]["failedTasks"], 1);
}

#[test]
fn a_python_exception_fails_the_job() {
    let server = Portico::start();
    let (exec_id, _) = server.submit(&json!({
        "executionContent": {"code": "print('before')\nraise ValueError('bad value')", "runType": "py"},
        "labels": {"engineType": "python-python3"}
    }));
    assert_eq!(server.wait_done(&exec_id), "Failed");
    let errors = server.ok(&format!("entrance/{exec_id}/log?size=-1"))["log"][0].as_str().unwrap().to_string();
    assert!(errors.contains("ValueError: bad value"), "{errors}");
}

#[test]
fn variables_are_substituted_and_any_id_form_works() {
    let server = Portico::start();
    let (exec_id, task_id) = server.submit(&json!({
        "executionContent": {"code": "echo \"hi ${who}\"", "runType": "sh"},
        "params": {"variable": {"who": "portico"}},
        "labels": {"engineType": "shell-1"}
    }));
    assert_eq!(server.wait_done(&task_id.to_string()), "Succeed");
    assert!(server.log_lines(&exec_id).contains(&"hi portico".to_string()));
    // A percent-encoded execID and the taskID query fallback reach the same job.
    let encoded = exec_id.replace(':', "%3A");
    assert_eq!(server.ok(&format!("entrance/{encoded}/status"))["taskID"], task_id);
    assert_eq!(server.ok(&format!("entrance/exec_id000000gone/status?taskID={task_id}"))["execID"], exec_id.as_str());
}

#[test]
fn progress_markers_drive_progress_and_stay_out_of_the_result() {
    let server = Portico::start();
    let gate = tempfile::tempdir().unwrap();
    let go = gate.path().join("go");
    let step = |n: u32| gate.path().join(format!("step{n}"));
    let code = format!(
        "echo data1\necho '##portico:progress 3/10'\nwhile [ ! -f {s1} ]; do sleep 0.01; done\n\
         echo '##portico:progress 0.5'\nwhile [ ! -f {s2} ]; do sleep 0.01; done\n\
         echo '##portico:progress 1.0'\nwhile [ ! -f {go} ]; do sleep 0.01; done\necho data2",
        s1 = step(1).display(),
        s2 = step(2).display(),
        go = go.display()
    );
    let (exec_id, task_id) = server.submit_shell(&code);
    let progress = || server.ok(&format!("entrance/{exec_id}/progress"));

    let first = eventually("progress 0.3", || {
        let p = progress();
        (p["progress"].as_f64() == Some(0.3)).then_some(p)
    });
    assert_eq!(
        first["progressInfo"],
        json!([{"id": task_id.to_string(), "succeedTasks": 3, "failedTasks": 0, "runningTasks": 1, "totalTasks": 10}])
    );
    std::fs::write(step(1), "").unwrap();
    eventually("progress 0.5", || (progress()["progress"].as_f64() == Some(0.5)).then_some(()));
    std::fs::write(step(2), "").unwrap();
    eventually("progress capped at 0.99", || (progress()["progress"].as_f64() == Some(0.99)).then_some(()));
    assert_eq!(server.state(&exec_id), "Running");
    std::fs::write(&go, "").unwrap();
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    assert_eq!(progress()["progress"], 1.0);

    let lines = server.log_lines(&exec_id);
    assert!(lines.contains(&"##portico:progress 0.5".to_string()), "markers stay in the log");
    let result_dir =
        std::fs::read_dir(server.data_dir.join("users/hadoop/result")).unwrap().next().unwrap().unwrap().path();
    let result = std::fs::read(result_dir.join(task_id.to_string()).join("_0.dolphin")).unwrap();
    assert_eq!(result, b"dolphin00000000010000000004NULL0000000005data10000000005data2");
}

#[test]
fn progress_with_resource_reports_the_process_group() {
    let server = Portico::start();
    let gate = tempfile::tempdir().unwrap();
    let go = gate.path().join("go");
    let (exec_id, _) = server.submit_shell(&format!(
        "sleep 30 & a=$!; sleep 30 & b=$!; while [ ! -f {} ]; do sleep 0.01; done; kill $a $b",
        go.display()
    ));
    let data = eventually("three live processes", || {
        let data = server.ok(&format!("entrance/{exec_id}/progressWithResource"));
        (data["resource"]["processes"].as_u64().unwrap_or(0) >= 3).then_some(data)
    });
    assert!(data.as_object().unwrap().contains_key("yarnResource"));
    assert_eq!(data["yarnResource"], Value::Null);
    assert!(data["resource"]["memoryBytes"].as_u64().unwrap() > 0, "{data}");
    std::fs::write(&go, "").unwrap();
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let data = server.ok(&format!("entrance/{exec_id}/progressWithResource"));
    assert_eq!(data["resource"]["processes"], 0);
    assert!(data["resource"]["peakMemoryBytes"].as_u64().unwrap() > 0, "{data}");
}

#[test]
fn a_jobs_peak_memory_is_its_own_not_the_servers() {
    let server = Portico::start();
    // A job started with posix_spawn runs in the server's memory until its exec, which records
    // the server's peak as the job's: every job reported at least the server's size.
    let server_peak = || crate::helper::proc_status(server.pid(), "VmHWM") * 1024;
    let peak = |exec_id: &str| {
        assert_eq!(server.wait_done(exec_id), "Succeed");
        server.ok(&format!("entrance/{exec_id}/progressWithResource"))["resource"]["peakMemoryBytes"].as_u64().unwrap()
    };
    // Sampled right after its start, a job that lives a moment has a peak of its own.
    let (sampled, _) = server.submit_shell("sleep 0.2");
    let (sampled_peak, server_peak_then) = (peak(&sampled), server_peak());
    assert!(
        sampled_peak > 0 && sampled_peak < server_peak_then,
        "{sampled_peak} against the server's {server_peak_then}"
    );
    // One gone before its first sample has none to show (0), rather than the server's.
    let (gone, _) = server.submit_shell("true");
    let (gone_peak, server_peak_then) = (peak(&gone), server_peak());
    assert!(gone_peak < server_peak_then, "{gone_peak} against the server's {server_peak_then}");
}

#[test]
fn the_first_poll_of_a_running_job_has_its_figures() {
    let server = Portico::start();
    let gate = tempfile::tempdir().unwrap();
    let go = gate.path().join("go");
    let (exec_id, _) = server.submit_shell(&format!("while [ ! -f {} ]; do sleep 0.01; done", go.display()));
    // The first answer that says Running: the once-a-second sample has not come yet.
    eventually("the job to run", || (server.state(&exec_id) == "Running").then_some(()));
    let data = server.ok(&format!("entrance/{exec_id}/progressWithResource"));
    std::fs::write(&go, "").unwrap();
    assert!(data["resource"]["memoryBytes"].as_u64().unwrap() > 0, "{data}");
    assert!(data["resource"]["processes"].as_u64().unwrap() >= 1, "{data}");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
}

#[test]
fn a_jobs_working_directory_goes_away_unless_the_job_left_files_in_it() {
    let server = Portico::start();
    let (clean, clean_task) = server.submit(&json!({
        "executeApplicationName": "python", "executionCode": "print('nothing left behind')"
    }));
    let (keeps, keeps_task) = server.submit_shell("pwd; echo kept > out.txt");
    assert_eq!(server.wait_done(&clean), "Succeed");
    assert_eq!(server.wait_done(&keeps), "Succeed");
    let work = |task: u64| server.data_dir.join("work").join(task.to_string());
    assert!(!work(clean_task).exists(), "an empty working directory is removed");
    assert_eq!(std::fs::read_to_string(work(keeps_task).join("out.txt")).unwrap(), "kept\n");
    assert!(!work(keeps_task).join("job.py").exists() && !work(keeps_task).join("job.sh").exists());
    let printed = server.log_lines(&keeps);
    assert!(
        printed.iter().any(|l| l.ends_with(&format!("/work/{keeps_task}"))),
        "jobs run in their own directory: {printed:?}"
    );
}

#[test]
fn an_output_line_longer_than_a_mebibyte_is_cut_into_pieces() {
    let server = Portico::start();
    let (exec_id, task_id) = server.submit(&json!({
        "executeApplicationName": "python",
        "executionCode": "import sys\nsys.stdout.write('x' * (1024 * 1024 + 10) + '\\nend\\n')"
    }));
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let location =
        server.ok(&format!("jobhistory/{task_id}/get"))["task"]["resultLocation"].as_str().unwrap().to_string();
    let rows = server.ok(&format!("filesystem/openFile?path={location}/_0.dolphin"))["fileContent"].clone();
    let lengths: Vec<usize> = rows.as_array().unwrap().iter().map(|r| r[0].as_str().unwrap().len()).collect();
    assert_eq!(lengths, [1024 * 1024, 10, 3], "a line is cut at 1 MiB and nothing is lost");
}

#[test]
fn a_new_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("fresh");
    let server = Portico::start_in(&data, &[]);
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    let (exec_id, _) = server.submit_shell("true");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
}
