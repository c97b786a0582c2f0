//! Bad requests get a Linkis envelope with status 1 and a clear message, and the server keeps
//! serving.

use serde_json::{json, Value};

use crate::helper::{eventually, Portico, MULTI_USER_CONFIG};

fn assert_refused(answer: &(u16, Value), http: u16, needle: &str) {
    let (code, body) = answer;
    assert_eq!(*code, http, "{body}");
    assert_eq!(body["status"], 1, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "message {message:?} lacks {needle:?}");
    assert!(body.get("method").is_some() && body.get("data").is_some(), "envelope keys: {body}");
}

#[test]
fn malformed_and_incomplete_bodies_are_refused_clearly() {
    let server = Portico::start();
    assert_refused(&server.post("entrance/submit", "{not json"), 400, "not valid JSON");
    assert_refused(&server.post("entrance/submit", ""), 400, "empty");
    assert_refused(&server.post("entrance/submit", "[1,2]"), 400, "20008");
    assert_refused(
        &server.post(
            "entrance/submit",
            &json!({"executionContent": {"runType": "sh"}, "labels": {"engineType": "shell-1"}}).to_string(),
        ),
        400,
        "20010",
    );
    assert_refused(
        &server.post(
            "entrance/submit",
            &json!({"executionContent": {"code": " ", "runType": "sh"}, "labels": {"engineType": "shell-1"}})
                .to_string(),
        ),
        400,
        "executionCode cannot be empty",
    );
    assert_refused(
        &server.post("entrance/execute", &json!({"executeApplicationName": "shell", "executionCode": 42}).to_string()),
        400,
        "must be a string",
    );
    assert_refused(
        &server.post("entrance/submit", &json!({"executionContent": {"code": "select 1", "runType": "sql"}, "labels": {"engineType": "spark-2.4.3"}}).to_string()),
        400,
        "shell-* (runType shell|sh), python-* (runType python|py|py3|python3)",
    );
    assert_refused(
        &server.post(
            "entrance/submit",
            &json!({"executionContent": {"code": "x", "runType": "python"}, "labels": {"engineType": "shell-1"}})
                .to_string(),
        ),
        400,
        "engine shell accepts runType shell|sh",
    );
    assert_refused(
        &server.post("entrance/submit", &json!({"executionContent": {"code": "x", "runType": "sh"}, "labels": {"engineType": "shell-1", "userCreator": "mallory-IDE"}}).to_string()),
        400,
        "50080",
    );
}

#[test]
fn unknown_and_garbage_ids_are_refused() {
    let server = Portico::start();
    for id in [
        "424242",
        "exec_id018014linkis-cg-entrance127.0.0.1:9104IDE_hadoop_shell_0",
        "..%2F..%2Fetc",
        "%00",
        "-1",
        "99999999999999999999999",
    ] {
        for endpoint in ["status", "progress", "progressWithResource", "log", "kill", "pause", "resume"] {
            let answer = server.get(&format!("entrance/{id}/{endpoint}"));
            assert_eq!(answer.0, 400, "{endpoint} of {id}: {}", answer.1);
            assert_eq!(answer.1["status"], 1);
        }
    }
    let (exec_id, _) = server.submit_shell("true");
    assert_refused(&server.get(&format!("entrance/{exec_id}/log?fromLine=abc")), 400, "integer");
    assert_refused(&server.get(&format!("entrance/{exec_id}/log?size=1e3")), 400, "integer");
}

#[test]
fn wrong_routes_methods_and_huge_bodies_are_refused_in_the_envelope() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    assert_refused(&server.get("entrance/nothing/here/at/all"), 404, "No API");
    assert_refused(&server.get("entrance/submit"), 405, "use POST");
    assert_refused(&server.post("entrance/1/status", "{}"), 405, "use GET");
    let huge = format!("{{\"executionCode\": \"{}\"}}", "x".repeat(11 * 1024 * 1024));
    assert_refused(&server.post("entrance/execute", &huge), 413, "larger than");

    // After all of that the server still runs jobs.
    let (exec_id, _) = server.submit_shell("echo still alive");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
}

#[test]
fn running_out_of_descriptors_ends_the_server_instead_of_leaving_it_deaf() {
    let mut server = Portico::start_with_fd_limit(48);
    let (exec_id, _) = server.submit_shell("echo fine");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let addr = server.base.trim_start_matches("http://").to_string();
    // Hold connections open until accepting one more fails inside the server.
    let mut held = Vec::new();
    let code = eventually("the server to give up accepting", || {
        if let Ok(stream) = std::net::TcpStream::connect(&addr) {
            held.push(stream);
        }
        server.try_exit_code()
    });
    assert_eq!(code, Some(1), "a server that cannot accept must exit non-zero");
}
