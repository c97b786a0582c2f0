//! Nothing lost: a crash (SIGKILL) or a shutdown (SIGTERM) leaves every accepted job accounted
//! for after a restart on the same data directory.

use crate::helper::{alive, eventually, Portico};

#[test]
fn after_a_crash_queued_jobs_run_and_interrupted_ones_fail_with_their_processes_killed() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Portico::start_in(data.path(), &["--workers", "1"]);
    let (done_id, done_task) = server.submit_shell("echo finished before the crash");
    assert_eq!(server.wait_done(&done_id), "Succeed");
    let (running_id, running_task) =
        server.submit_shell("sleep 300 & echo \"pid child $!\"; echo \"pid main $$\"; wait");
    let pids: Vec<i32> = eventually("the running job to print its pids", || {
        let pids: Vec<i32> = server
            .log_lines(&running_id)
            .iter()
            .filter_map(|l| l.strip_prefix("pid ")?.split_whitespace().nth(1)?.parse().ok())
            .collect();
        (pids.len() == 2).then_some(pids)
    });
    let (queued_a, queued_a_task) = server.submit_shell("echo queued a");
    let (queued_b, _) = server.submit(&serde_json::json!({
        "executeApplicationName": "python", "executionCode": "print('queued b')"
    }));
    assert_eq!(server.state(&queued_a), "Inited");

    server.crash();
    assert!(pids.iter().all(|pid| alive(*pid)), "the job's processes outlive the crashed server");

    let server = Portico::start_in(data.path(), &["--workers", "1"]);
    // The interrupted job is Failed, says why, and its processes are gone.
    assert_eq!(server.state(&running_id), "Failed");
    let task = server.history_task(running_task);
    assert!(task["errDesc"].as_str().unwrap().contains("server restarted"), "{task}");
    for pid in &pids {
        eventually(&format!("leftover process {pid} to be killed"), || (!alive(*pid)).then_some(()));
    }
    assert!(server.log_lines(&running_id).join("\n").contains("completed with a status Failed"));

    // The queued jobs run now, in order, by execID and by taskID.
    assert_eq!(server.wait_done(&queued_a), "Succeed");
    assert_eq!(server.wait_done(&queued_b), "Succeed");
    assert!(server.log_lines(&queued_a_task.to_string()).contains(&"queued a".to_string()));
    assert!(server.log_lines(&queued_a).join("\n").contains("The server restarted: the job is queued again."));

    // The job that ended before the crash is all still there.
    assert_eq!(server.state(&done_task.to_string()), "Succeed");
    assert_eq!(server.ok(&format!("entrance/{done_id}/progress"))["progress"], 1.0);
    assert!(server.log_lines(&done_id).contains(&"finished before the crash".to_string()));
    let location = server.history_task(done_task)["resultLocation"].as_str().unwrap().to_string();
    let page = server.ok(&format!("filesystem/openFile?path={location}/_0.dolphin"));
    assert_eq!(page["fileContent"], serde_json::json!([["finished before the crash"]]));

    // taskIDs keep growing.
    let (_, next) = server.submit_shell("true");
    assert!(next > queued_a_task + 1, "taskID {next} was used before the restart");
}

#[test]
fn a_queued_job_answered_paused_stays_paused_after_a_crash() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Portico::start_in(data.path(), &["--workers", "1"]);
    let _blocker = server.hold_a_worker();
    let (held, _) = server.submit_shell("echo held");
    assert_eq!(server.ok(&format!("entrance/{held}/pause"))["paused"], true);
    // Right after the answer: the pause must already be durable.
    server.crash();

    let server = Portico::start_in(data.path(), &["--workers", "1"]);
    let (later, _) = server.submit_shell("echo later");
    assert_eq!(server.wait_done(&later), "Succeed");
    let status = server.ok(&format!("entrance/{held}/status"));
    assert_eq!((status["status"].as_str(), status["paused"].as_bool()), (Some("Inited"), Some(true)), "{status}");
    server.ok(&format!("entrance/{held}/resume"));
    assert_eq!(server.wait_done(&held), "Succeed");
}

/// A worker records the job it is about to start in its slot of `starts.journal` (8 bytes, the
/// taskID little-endian) before the spawn, and commits the job's `Running` row once the
/// process runs. A crash between the two leaves the row queued: the journal must keep the
/// job from running a second time.
#[test]
fn a_job_a_worker_was_starting_when_the_server_crashed_is_not_run_again() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Portico::start_in(data.path(), &["--workers", "1"]);
    let blocker = server.hold_a_worker();
    let ran = blocker.dir().join("ran");
    let (starting, starting_task) = server.submit_shell(&format!("echo ran > {}", ran.display()));
    let (queued, _) = server.submit_shell("echo still queued");
    assert_eq!(server.state(&starting), "Inited");
    server.crash();

    // What a crash after the journal's flush and before the row's commit leaves behind.
    let journal = data.path().join("starts.journal");
    let mut slots = std::fs::read(&journal).expect("the start journal");
    slots[..8].copy_from_slice(&starting_task.to_le_bytes());
    std::fs::write(&journal, slots).unwrap();

    let server = Portico::start_in(data.path(), &["--workers", "1"]);
    assert_eq!(server.wait_done(&queued), "Succeed", "a job that was only queued runs");
    assert_eq!(server.state(&starting), "Failed");
    let task = server.history_task(starting_task);
    assert!(task["errDesc"].as_str().unwrap().contains("while the job was starting"), "{task}");
    assert!(!ran.exists(), "the job that may have started before the crash ran again");
    assert_eq!(server.wait_done(&blocker.id), "Failed");
}

#[test]
fn sigterm_lets_running_jobs_finish_within_the_grace_and_keeps_queued_ones() {
    let data = tempfile::tempdir().unwrap();
    let gate = tempfile::tempdir().unwrap();
    let go = gate.path().join("go");
    let mut server =
        Portico::start_in(data.path(), &["--workers", "2", "--max-running-per-user", "2", "--shutdown-grace", "5"]);
    let (short, _) = server.submit_shell(&format!("while [ ! -f {} ]; do sleep 0.01; done; echo done", go.display()));
    let (long, _) = server.submit_shell("trap '' TERM; sleep 300");
    server.wait_state(&short, "Running");
    server.wait_state(&long, "Running");
    let (queued, _) = server.submit_shell("echo after the restart");
    assert_eq!(server.state(&queued), "Inited");

    // Let the short job finish during the grace; the long one outlives it and is killed.
    std::fs::write(&go, "").unwrap();
    assert_eq!(server.terminate(), Some(0), "a graceful shutdown exits 0");

    let server = Portico::start_in(data.path(), &["--workers", "2"]);
    assert_eq!(server.state(&short), "Succeed");
    assert_eq!(server.state(&long), "Cancelled");
    assert!(server.log_lines(&long).join("\n").contains("shutting down"));
    assert_eq!(server.wait_done(&queued), "Succeed");
    assert!(server.log_lines(&queued).contains(&"after the restart".to_string()));
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused_until_the_first_is_gone() {
    let data = tempfile::tempdir().unwrap();
    let mut first = Portico::start_in(data.path(), &["--max-running-per-user", "2"]);
    let (running_id, _) = first.submit_shell("sleep 300");
    first.wait_state(&running_id, "Running");
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = eventually("the second server to give up", || second.try_wait().ok().flatten());
    let mut refusal = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut refusal).unwrap();
    assert_eq!(status.code(), Some(1), "{refusal}");
    assert!(refusal.contains(&format!("pid={}", first.pid())) && refusal.contains(&first.base), "{refusal}");
    assert_eq!(first.state(&running_id), "Running", "the first server's job is untouched");
    let (exec_id, _) = first.submit_shell("echo still the only one");
    assert_eq!(first.wait_done(&exec_id), "Succeed");
    first.crash();
    let after_crash = Portico::start_in(data.path(), &[]);
    assert_eq!(after_crash.state(&running_id), "Failed", "the lock died with the crashed server");
}
