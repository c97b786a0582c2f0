//! Kill, killJobs, pause and resume, and timeouts.

use serde_json::json;

use crate::helper::{alive, eventually, Portico};

/// Pids a job printed as `pid NAME N` lines.
fn printed_pids(server: &Portico, exec_id: &str, expected: usize) -> Vec<i32> {
    eventually("the job to print its pids", || {
        let pids: Vec<i32> = server
            .log_lines(exec_id)
            .iter()
            .filter_map(|l| l.strip_prefix("pid ")?.split_whitespace().nth(1)?.parse().ok())
            .collect();
        (pids.len() >= expected).then_some(pids)
    })
}

#[test]
fn kill_takes_down_a_tree_that_ignores_sigterm() {
    let server = Portico::start();
    let code = r#"trap '' TERM
sh -c 'trap "" TERM; sleep 300 & echo "pid grandchild $!"; sh -c "sleep 300" & echo "pid grandchild2 $!"; wait' &
echo "pid child $!"
echo "pid main $$"
wait"#;
    let (exec_id, _) = server.submit_shell(code);
    let pids = printed_pids(&server, &exec_id, 4);
    assert!(pids.iter().all(|pid| alive(*pid)), "all of {pids:?} run before the kill");

    let (code, answer) = server.get(&format!("entrance/{exec_id}/kill"));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["message"], "Successfully killed the job(成功kill了job)");
    assert_eq!(answer["data"]["execID"], exec_id.as_str());

    assert_eq!(server.wait_done(&exec_id), "Cancelled");
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} survived the kill");
    }
    let lines = server.log_lines(&exec_id).join("\n");
    assert!(lines.contains("sent SIGKILL"), "the TERM-ignoring tree needed SIGKILL:\n{lines}");
    assert!(lines.contains("no process of the group is left"), "{lines}");
    assert!(
        lines.contains("ERROR Sorry, your job executed failed with reason: Job is killed by user hadoop!"),
        "{lines}"
    );

    let (code, again) = server.post(&format!("entrance/{exec_id}/kill"), "");
    assert_eq!(code, 200, "killing an ended job is not an error: {again}");
    assert!(again["message"].as_str().unwrap().contains("already completed with status Cancelled"), "{again}");
    assert_eq!(server.state(&exec_id), "Cancelled");
}

#[test]
fn pause_stops_a_counting_job_and_resume_continues_it() {
    let server = Portico::start();
    let (exec_id, _) =
        server.submit_shell("echo \"pid main $$\"; i=0; while true; do i=$((i+1)); echo \"tick $i\"; sleep 0.02; done");
    let pid = printed_pids(&server, &exec_id, 1)[0];
    let ticks = || server.log_lines(&exec_id).iter().filter(|l| l.starts_with("tick ")).count();
    eventually("the job to count", || (ticks() >= 3).then_some(()));

    let paused = server.ok(&format!("entrance/{exec_id}/pause"));
    assert_eq!(paused["paused"], true);
    // The job's shell really is stopped (state T in /proc), not just flagged.
    eventually("the job's process to be stopped", || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        (stat.rsplit(')').next()?.split_whitespace().next()? == "T").then_some(())
    });
    let paused_for = |at_least: u64| {
        eventually(&format!("{at_least} ms of pause"), || {
            let status = server.ok(&format!("entrance/{exec_id}/status"));
            assert_eq!(status["status"], "Running", "a paused job stays Running for Linkis clients");
            (status["paused"] == true && status["pausedMillis"].as_u64().unwrap() >= at_least).then_some(())
        })
    };
    // Output written just before the stop may still be on its way through the pipe: take the
    // count once it holds still over 100 ms of pause, then check it a whole second later.
    let before = eventually("the log to catch up with the stopped job", || {
        let first = ticks();
        paused_for(server.ok(&format!("entrance/{exec_id}/status"))["pausedMillis"].as_u64().unwrap() + 100);
        (ticks() == first).then_some(first)
    });
    let now = server.ok(&format!("entrance/{exec_id}/status"))["pausedMillis"].as_u64().unwrap();
    paused_for(now + 1000);
    assert_eq!(ticks(), before, "the job counted while paused");
    assert_eq!(server.ok(&format!("entrance/{exec_id}/progress"))["paused"], true);

    let resumed = server.ok(&format!("entrance/{exec_id}/resume"));
    assert_eq!(resumed["paused"], false);
    eventually("the count to move again", || (ticks() > before + 2).then_some(()));
    let status = server.ok(&format!("entrance/{exec_id}/status"));
    assert_eq!(status["paused"], false);
    assert!(status["pausedMillis"].as_u64().unwrap() >= 1000, "{status}");

    server.ok(&format!("entrance/{exec_id}/kill"));
    assert_eq!(server.wait_done(&exec_id), "Cancelled");
    let log = server.log_lines(&exec_id).join("\n");
    assert!(log.contains("Job paused by user hadoop") && log.contains("Job resumed by user hadoop"), "{log}");
}

#[test]
fn kill_jobs_handles_running_queued_and_finished_jobs() {
    let server = Portico::start_with(&["--workers", "1"]);
    let (done_id, done_task) = server.submit_shell("echo done");
    assert_eq!(server.wait_done(&done_id), "Succeed");
    let (running_id, running_task) = server.submit_shell("sleep 300");
    server.wait_state(&running_id, "Running");
    let (queued_id, queued_task) = server.submit_shell("echo never");
    assert_eq!(server.state(&queued_id), "Inited");
    assert_eq!(server.ok(&format!("entrance/{queued_id}/status"))["queuePosition"], 0);

    let body =
        json!({"idList": [running_id, queued_id, done_id], "taskIDList": [running_task, queued_task, done_task]});
    let (code, answer) = server.post(&format!("entrance/{running_id}/killJobs"), &body.to_string());
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["message"], "success");
    let messages = answer["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert!(messages.iter().all(|m| m["status"] == 0), "{answer}");
    assert_eq!(messages[0]["data"]["execID"], running_id.as_str());
    assert!(messages[2]["message"].as_str().unwrap().contains("already completed with status Succeed"));

    assert_eq!(server.wait_done(&running_id), "Cancelled");
    assert_eq!(server.wait_done(&queued_id), "Cancelled");
    assert_eq!(server.state(&done_id), "Succeed");
    let queued_log = server.log_lines(&queued_id);
    assert!(!queued_log.iter().any(|l| l.contains("Running now") || l == "never"), "{queued_log:?}");

    let (code, mismatch) =
        server.post("entrance/killJobs", &json!({"idList": ["a"], "taskIDList": [1, 2]}).to_string());
    assert_eq!((code, mismatch["status"].as_i64()), (400, Some(1)), "{mismatch}");
    let (code, unknown) = server.post("entrance/killJobs", &json!({"taskIDList": [999]}).to_string());
    assert_eq!(code, 200);
    assert_eq!(unknown["data"]["messages"][0]["status"], 1);
}

#[test]
fn a_paused_queued_job_is_held_while_later_jobs_run() {
    let server = Portico::start_with(&["--workers", "1"]);
    let blocker = server.hold_a_worker();
    let (held, _) = server.submit_shell("echo held");
    let (later, _) = server.submit_shell("echo later");
    assert_eq!(server.ok(&format!("entrance/{held}/pause"))["paused"], true);
    blocker.release();

    assert_eq!(server.wait_done(&later), "Succeed");
    let status = server.ok(&format!("entrance/{held}/status"));
    assert_eq!((status["status"].as_str(), status["paused"].as_bool()), (Some("Inited"), Some(true)));

    server.ok(&format!("entrance/{held}/resume"));
    assert_eq!(server.wait_done(&held), "Succeed");
    assert!(server.log_lines(&held).join("\n").contains("while queued"));
}

#[test]
fn a_running_timeout_ends_the_job_as_timeout() {
    let server = Portico::start();
    let (exec_id, _) = server.submit(&json!({
        "executionContent": {"code": "sleep 300", "runType": "shell"},
        "labels": {"engineType": "shell-1", "jobRunningTimeout": 1}
    }));
    assert_eq!(server.wait_done(&exec_id), "Timeout");
    let log = server.log_lines(&exec_id).join("\n");
    assert!(log.contains("over max run time : 1 seconds"), "{log}");
}

#[test]
fn pause_and_kill_of_ended_or_unknown_jobs_are_answered() {
    let server = Portico::start();
    let (exec_id, _) = server.submit_shell("true");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let (code, answer) = server.get(&format!("entrance/{exec_id}/pause"));
    assert_eq!((code, answer["status"].as_i64()), (200, Some(0)), "found jobs are answered as Linkis does: {answer}");
    assert!(answer["message"].as_str().unwrap().contains("already completed with status Succeed"), "{answer}");
    assert_eq!(answer["data"]["paused"], false);
    let (code, answer) = server.get("entrance/exec_id018014linkis-cg-entrance127.0.0.1:9104IDE_x_shell_9/kill");
    assert_eq!((code, answer["status"].as_i64()), (400, Some(1)), "{answer}");
}

#[test]
fn a_job_that_waits_too_long_in_the_queue_ends_as_timeout_without_running() {
    let server = Portico::start_with(&["--workers", "1"]);
    let blocker = server.hold_a_worker();
    let (waiting, _) = server.submit(&json!({
        "executionContent": {"code": "echo should not run", "runType": "shell"},
        "labels": {"engineType": "shell-1", "jobQueuingTimeout": "1"}
    }));
    // It times out while the only worker is still busy, not when the worker frees up.
    assert_eq!(server.wait_done(&waiting), "Timeout");
    assert_eq!(server.state(&blocker.id), "Running");
    blocker.release();
    assert_eq!(server.wait_done(&blocker.id), "Succeed");
    let log = server.log_lines(&waiting);
    assert!(log.join("\n").contains("over max queue time : 1 seconds"), "{log:?}");
    assert!(!log.iter().any(|l| l == "should not run" || l.contains("Running now")), "{log:?}");
}

#[test]
fn processes_a_job_leaves_behind_are_killed_when_it_ends() {
    let server = Portico::start();
    // One leftover still holds the job's output open, the other has let go of it.
    let (holding, _) = server.submit_shell("sleep 300 & echo \"pid holder $!\"");
    let (detached, _) = server.submit_shell("sleep 300 >/dev/null 2>&1 & echo \"pid detached $!\"");
    for exec_id in [&holding, &detached] {
        assert_eq!(server.wait_done(exec_id), "Succeed");
        let pid = printed_pids(&server, exec_id, 1)[0];
        eventually(&format!("leftover {pid} of {exec_id} to be gone"), || (!alive(pid)).then_some(()));
    }
}

#[test]
fn paused_time_does_not_count_against_the_running_timeout() {
    let server = Portico::start();
    let (exec_id, _) = server.submit(&json!({
        "executionContent": {"code": "sleep 300", "runType": "shell"},
        "labels": {"engineType": "shell-1", "jobRunningTimeout": "2"}
    }));
    server.wait_state(&exec_id, "Running");
    server.ok(&format!("entrance/{exec_id}/pause"));
    eventually("3 s of pause", || {
        let status = server.ok(&format!("entrance/{exec_id}/status"));
        assert_eq!(status["status"], "Running", "a paused job must not time out: {status}");
        (status["pausedMillis"].as_u64().unwrap() >= 3000).then_some(())
    });
    server.ok(&format!("entrance/{exec_id}/resume"));
    assert_eq!(server.wait_done(&exec_id), "Timeout");
}
