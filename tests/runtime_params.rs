//! Runtime parameters end to end: environment variables a job sees, a working directory inside
//! the job's folder, the Python interpreter chosen from the config's list, and each refusal
//! naming the key it refuses.

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};

use crate::helper::{Client, Portico};
use crate::variables::printed;

fn runtime(runtime: Value) -> Value {
    json!({"configuration": {"runtime": runtime}})
}

/// Asserts a submission is refused in the envelope (HTTP 400, status 1) naming `key`.
fn assert_refused(client: &Client, engine_type: &str, run_type: &str, params: Value, key: &str) {
    let body = json!({
        "executionContent": {"code": "echo never", "runType": run_type},
        "params": params,
        "labels": {"engineType": engine_type}
    });
    let (code, answer) = client.post("entrance/submit", &body.to_string());
    assert_eq!((code, &answer["status"]), (400, &json!(1)), "{body}: {answer}");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("Runtime parameter {key} is not allowed")), "{body}: {message}");
}

#[test]
fn environment_variables_reach_a_job_but_never_replace_the_server_s() {
    let server = Portico::start();
    let params = runtime(json!({
        "env.GREETING": "hello world", "env.N": 5, "env.lower_case": true, "priority": 3, "database": "ignored"
    }));
    let code = "echo \"$GREETING|$N|$lower_case|$LINKIS_TASK_ID\"";
    let task_id = server.try_submit("shell-1", "shell", code, params).expect("accepted");
    assert_eq!(printed(&server, task_id), [format!("hello world|5|true|{task_id}")]);

    let python = "import os; print(os.environ['FROM_PARAMS'], os.environ['PYTHONUNBUFFERED'])";
    let task_id =
        server.try_submit("python-python3", "python", python, runtime(json!({"env.FROM_PARAMS": "x"}))).unwrap();
    assert_eq!(printed(&server, task_id), ["x 1"]);

    for (engine_type, run_type, key) in [
        ("shell-1", "shell", "env.LINKIS_TASK_ID"),
        ("shell-1", "shell", "env.LINKIS_ANYTHING"),
        ("shell-1", "shell", "env.PORTICO_JOB"),
        ("shell-1", "shell", "env.portico_result_dir"),
        ("python-python3", "python", "env.PYTHONUNBUFFERED"),
        ("shell-1", "shell", "env.9LIVES"),
        ("shell-1", "shell", "env.BAD-NAME"),
        ("shell-1", "shell", "env.SPACE NAME"),
        ("sqlite-3", "sql", "env.FOR_SQL"),
    ] {
        assert_refused(&server, engine_type, run_type, runtime(json!({key: "x"})), key);
    }
    assert_refused(&server, "shell-1", "shell", runtime(json!({"env.LIST": ["a"]})), "env.LIST");
}

#[test]
fn the_working_directory_is_made_inside_the_job_folder() {
    let server = Portico::start();
    let params = runtime(json!({"working.directory": "reports/2024"}));
    let task_id = server.try_submit("shell-1", "shell", "pwd; echo kept > out.txt", params).unwrap();
    let work = server.data_dir.join("work").join(task_id.to_string());
    let printed_dir = printed(&server, task_id);
    assert!(printed_dir[0].ends_with(&format!("/work/{task_id}/reports/2024")), "{printed_dir:?}");
    assert_eq!(std::fs::read_to_string(work.join("reports/2024/out.txt")).unwrap(), "kept\n");

    // Linkis's own key works the same way; a directory the job leaves empty goes away.
    let params = runtime(json!({"wds.linkis.shell.runtime.working.directory": "./scratch"}));
    let task_id = server.try_submit("python-python3", "python", "import os; print(os.getcwd())", params).unwrap();
    let work = server.data_dir.join("work").join(task_id.to_string());
    assert!(printed(&server, task_id)[0].ends_with(&format!("/work/{task_id}/scratch")));
    assert!(!work.exists(), "nothing was left in {}", work.display());

    for (value, key) in [
        ("../elsewhere", "working.directory"),
        ("a/../../b", "working.directory"),
        ("/tmp", "working.directory"),
        ("/tmp", "wds.linkis.shell.runtime.working.directory"),
    ] {
        assert_refused(&server, "shell-1", "shell", runtime(json!({key: value})), key);
    }
    assert_refused(&server, "sqlite-3", "sql", runtime(json!({"working.directory": "a"})), "working.directory");
}

#[test]
fn a_symlink_in_the_job_folder_cannot_lead_the_working_directory_out() {
    let server = Portico::start();
    let outside = tempfile::tempdir().unwrap();
    // The next job's folder, planted before it exists with a link pointing outside it.
    let (_, last) = server.submit_shell("true");
    server.wait_done(&last.to_string());
    let next = server.data_dir.join("work").join((last + 1).to_string());
    std::fs::create_dir_all(&next).unwrap();
    std::os::unix::fs::symlink(outside.path(), next.join("out")).unwrap();
    let params = runtime(json!({"working.directory": "out/escaped"}));
    let task_id = server.try_submit("shell-1", "shell", "touch planted", params).unwrap();
    assert_eq!(task_id, last + 1);
    let task = server.wait_record(task_id);
    assert_eq!(task["status"], "Failed", "{task}");
    assert!(
        task["errDesc"].as_str().unwrap_or_default().contains("not a plain directory inside the job's folder"),
        "{task}"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing was made outside");
}

#[test]
fn python_jobs_choose_an_interpreter_only_from_the_config_s_list() {
    // An allowed interpreter that marks what it runs: a wrapper around the usual python3.
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("marked-python");
    std::fs::write(&wrapper, "#!/bin/sh\nMARKED=yes exec python3 \"$@\"\n").unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!("[engines]\npython_interpreters = [\"{}\"]\n", wrapper.display());
    let server = Portico::start_with_config(&format!("{}{config}", crate::helper::MULTI_USER_CONFIG), &[]);
    let code = "import os; print(os.environ.get('MARKED', 'plain'))";
    let run = |version: Value| {
        let task_id = server.try_submit("python-python3", "python", code, runtime(json!({"python.version": version})));
        printed(&server, task_id.unwrap_or_else(|answer| panic!("{version}: {answer}")))
    };
    assert_eq!(run(json!("marked-python")), ["yes"], "by file name");
    assert_eq!(run(json!(wrapper.display().to_string())), ["yes"], "by path");
    assert_eq!(run(json!("python3")), ["plain"], "the configured default");
    // Linkis puts python.version among the startup parameters: read there too.
    let task_id = server
        .try_submit(
            "python-python3",
            "python",
            code,
            json!({"configuration": {"startup": {"python.version": "marked-python"}}}),
        )
        .unwrap();
    assert_eq!(printed(&server, task_id), ["yes"]);

    // A job's own PATH does not choose the interpreter behind an allowed name: the name is
    // looked up on the server's PATH, and the impostor never runs.
    let impostor = dir.path().join("bin");
    std::fs::create_dir(&impostor).unwrap();
    std::fs::write(impostor.join("python3"), "#!/bin/sh\necho impostor\n").unwrap();
    std::fs::set_permissions(impostor.join("python3"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", impostor.display());
    let task_id = server.try_submit("python-python3", "python", code, runtime(json!({"env.PATH": path}))).unwrap();
    assert_eq!(printed(&server, task_id), ["plain"]);

    for version in ["python2", "/usr/bin/python3", "/bin/sh"] {
        assert_refused(
            &server,
            "python-python3",
            "python",
            runtime(json!({"python.version": version})),
            "python.version",
        );
    }
    assert_refused(&server, "shell-1", "shell", runtime(json!({"python.version": "python3"})), "python.version");
}
