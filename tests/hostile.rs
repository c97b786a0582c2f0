//! The hostile-input walk: one test sends every endpoint a table of bad inputs (`hostile/bodies.rs`, `hostile/targets.rs`)
//! and holds every answer to the same rule: HTTP 4xx, a Linkis envelope with status 1 or 2,
//! and a message saying what to fix. Afterwards the server has not panicked, its thread
//! count is back where it was, and a normal job still runs.

mod bodies;
mod expand;
mod raw;
mod targets;

use serde_json::Value;

use crate::helper::{eventually, proc_status, Portico, MULTI_USER_CONFIG, TEST_TOKEN};
use expand::{Case, Expect, Fixtures};

/// Threads the server may have above its count before the walk once the walk is over (the
/// thread of a job still being reaped, a history reader): a leak of one per request would
/// show as hundreds.
const THREAD_SLACK: u64 = 3;

#[test]
fn every_endpoint_refuses_hostile_input_clearly() {
    let log = tempfile::NamedTempFile::new().expect("a log file");
    let server = Portico::start_logging_to(MULTI_USER_CONFIG, &[], log.path());
    let fixtures = fixtures(&server);
    let threads_before = proc_status(server.pid(), "Threads");

    let cases = expand::all(&fixtures);
    let addr = server.base.trim_start_matches("http://").to_string();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            judge(case, raw::exchange(&addr, &case.bytes())).err().map(|why| format!("{}: {why}", case.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases were not refused as they should be:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("the walk sent {} hostile cases; every one was refused clearly", cases.len());

    // The server is whole: a normal job runs, no thread was left behind, nothing panicked.
    let (exec_id, _) = server.as_user("alice").submit_shell("echo after the walk");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    eventually(&format!("the server's threads to come back to {threads_before} (+{THREAD_SLACK})"), || {
        (proc_status(server.pid(), "Threads") <= threads_before + THREAD_SLACK).then_some(())
    });
    let logged = std::fs::read_to_string(log.path()).unwrap_or_default();
    assert!(!logged.contains("panicked"), "the server panicked during the walk:\n{logged}");
}

/// A head whose last line ends in LF and whose empty line is CRLF is whole (httparse reads it
/// so); the transport's scanner looked only for CRLF CRLF and LF LF, so such a request waited
/// for its 30 s deadline and was closed unanswered. Found by the `http_head` fuzz target.
#[test]
fn a_head_ending_in_lf_then_crlf_is_answered() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let addr = server.base.trim_start_matches("http://").to_string();
    let request = format!(
        "GET /api/rest_j/v1/user/userInfo HTTP/1.1\nToken-Code: {TEST_TOKEN}\nToken-User: alice\nConnection: close\n\r\n"
    );
    let answer = raw::exchange(&addr, request.as_bytes()).expect("an answer");
    let body = answer.body.expect("a JSON body");
    assert_eq!((answer.code, &body["data"]["userName"]), (200, &serde_json::json!("alice")), "{body}");
}

/// Two users' ended jobs and the URIs of Alice's files, for the walk to name.
fn fixtures(server: &Portico) -> Fixtures {
    let (alice, bob) = (server.as_user("alice"), server.as_user("bob"));
    let (alice_exec, alice_task) = alice.submit_shell("echo walk");
    let (bob_exec, bob_task) = bob.submit_shell("echo walk");
    let alice_record = alice.wait_record(alice_task);
    let bob_record = bob.wait_record(bob_task);
    assert_eq!(alice_record["status"], "Succeed", "{alice_record}");
    let result_file = alice.result_files(&alice_record).into_iter().next().expect("the job's stdout result set");
    let uri = |record: &Value, key: &str| record[key].as_str().expect("a URI").to_string();
    Fixtures {
        alice_exec,
        alice_task,
        bob_exec,
        bob_task,
        result_dir: uri(&alice_record, "resultLocation"),
        result_file,
        log: uri(&alice_record, "logPath"),
        bob_result: uri(&bob_record, "resultLocation"),
        users: server.data_dir.join("users").display().to_string(),
    }
}

/// Whether `answer` is what `case` expects; why not, otherwise.
fn judge(case: &Case, answer: Result<raw::Answer, String>) -> Result<(), String> {
    let answer = answer?;
    let body = answer.body.map_err(|text| format!("HTTP {} with a body that is not JSON: {text}", answer.code))?;
    let shown = || raw::shorten(&body.to_string());
    let status = body["status"].as_i64();
    let message = body["message"].as_str().unwrap_or_default();
    if !body.as_object().is_some_and(|o| ["method", "status", "message", "data"].iter().all(|k| o.contains_key(*k))) {
        return Err(format!("HTTP {}, not a Linkis envelope: {}", answer.code, shown()));
    }
    let refused = (400..500).contains(&answer.code) && matches!(status, Some(1 | 2));
    let ok = match &case.expect {
        Expect::Accepted => answer.code == 200 && status == Some(0),
        Expect::NotYours => refused || (answer.code == 403 && status == Some(3)),
        Expect::Refused(_) => refused,
    };
    if !ok {
        return Err(format!("HTTP {}: {}", answer.code, shown()));
    }
    if !matches!(case.expect, Expect::Accepted) && message.trim().is_empty() {
        return Err(format!("HTTP {} without a message: {}", answer.code, shown()));
    }
    if let Expect::Refused(Some(hint)) = &case.expect {
        if !message.to_lowercase().contains(&hint.to_lowercase()) {
            return Err(format!("HTTP {}, the message does not name {hint}: {message}", answer.code));
        }
    }
    Ok(())
}
