//! Bad requests get a Linkis envelope with status 1 and a clear message, and the server keeps
//! serving.

use serde_json::{json, Value};

use crate::helper::{Portico, MULTI_USER_CONFIG};

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
        &server.post("entrance/submit", &json!({"executionContent": {"code": "select 1", "runType": "sql"}, "labels": {"engineType": "flink-1.16"}}).to_string()),
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

/// Sends raw bytes on a fresh connection and returns what the server answers before closing.
fn raw_exchange(server: &Portico, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(crate::helper::PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn hostile_requests_are_answered_without_harming_the_server() {
    let server = Portico::start();
    let (_, token) = crate::helper::bootstrap_credentials(&server.data_dir);
    let huge = "Content-Length: 99999999999999\r\n";
    // Unauthenticated, with a body that will never come: refused at once from the head alone.
    let answer = raw_exchange(
        &server,
        format!("POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\nHost: x\r\n{huge}\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // Authenticated, declaring more than the body limit: refused unread.
    let answer = raw_exchange(
        &server,
        format!(
            "POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\nToken-Code: {token}\r\nToken-User: hadoop\r\n{huge}\r\n"
        )
        .as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(raw_exchange(&server, b"GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(raw_exchange(&server, b"GET / HTTP/9.9\r\n\r\n").starts_with("HTTP/1.1 400"));
    let long_header = format!("GET /api/rest_j/v1/user/userInfo HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(70_000));
    assert!(raw_exchange(&server, long_header.as_bytes()).starts_with("HTTP/1.1 431"));
    let bad_chunks = format!(
        "POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\nToken-Code: {token}\r\nToken-User: hadoop\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    );
    assert!(raw_exchange(&server, bad_chunks.as_bytes()).starts_with("HTTP/1.1 400"));
    // Ambiguous framing (the stuff of request smuggling) is refused, never guessed at.
    let auth = format!("Token-Code: {token}\r\nToken-User: hadoop\r\n");
    for framing in [
        "Content-Length: 0\r\nContent-Length: 44\r\n",
        "Content-Length: +44\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ] {
        let request = format!("POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\n{auth}{framing}\r\n");
        let answer = raw_exchange(&server, request.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 400"), "{framing:?}: {answer}");
        let answers = answer.split("\r\n").filter(|line| line.starts_with("HTTP/1.1 ")).count();
        assert_eq!(answers, 1, "exactly one answer for {framing:?}: {answer}");
    }
    // A flood of empty lines is not a request.
    assert!(raw_exchange(&server, "\n".repeat(100_000).as_bytes()).starts_with("HTTP/1.1 400"));
    // A chunked body that is well formed is read like any other.
    let body =
        r#"{"executionContent": {"code": "echo chunked", "runType": "sh"}, "labels": {"engineType": "shell-1"}}"#;
    let chunked = format!(
        "POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\nToken-Code: {token}\r\nToken-User: hadoop\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let answer = raw_exchange(&server, chunked.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("execID"), "{answer}");

    // After all of that the server still runs jobs.
    let (exec_id, _) = server.submit_shell("echo still here");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
}

#[test]
fn small_defects_stay_fixed() {
    let server = Portico::start();
    for body in ["null", "123", "[]", "\"idList\""] {
        assert_refused(&server.post("entrance/killJobs", body), 400, "please use array");
    }
    assert_refused(&server.post("entrance/killJobs", r#"{"idList": 5}"#), 400, "please use array");
    for id in ["9223372036854775808", "18446744073709551615", "99999999999999999999"] {
        assert_refused(&server.get(&format!("jobhistory/{id}/get")), 400, "not a job's number");
    }
    for labels in [json!({"engineType": "shell-1\u{0}"}), json!({"engineType": "shell-1", "tenant": "a\u{1b}[31m"})] {
        let body = json!({"executionContent": {"code": "echo x", "runType": "sh"}, "labels": labels});
        assert_refused(&server.post("entrance/submit", &body.to_string()), 400, "control characters");
    }
}
