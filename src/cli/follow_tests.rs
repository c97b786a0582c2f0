//! The follower against a scripted HTTP server: a streamed log (the server a sibling branch
//! adds), and the fallback when `follow=true` is answered with an envelope.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;

/// Serves requests one connection at a time with `answer(request line)` → (content type,
/// body, chunked), each with `Connection: close`; returns the base URL.
fn serve(answer: impl Fn(&str) -> (&'static str, String, bool) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let (content_type, body, chunked) = answer(&request_line);
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n");
            let reply = if chunked {
                let chunks: String = body.split_inclusive('\n').map(|c| format!("{:x}\r\n{c}\r\n", c.len())).collect();
                format!("{head}Transfer-Encoding: chunked\r\n\r\n{chunks}0\r\n\r\n")
            } else {
                format!("{head}Content-Length: {}\r\n\r\n{body}", body.len())
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    base
}

fn envelope(data: serde_json::Value) -> String {
    serde_json::json!({"method": "/api/x", "status": 0, "message": "OK", "data": data}).to_string()
}

fn page(lines: &str, from: u64) -> String {
    envelope(serde_json::json!({"log": ["", "", "", lines], "fromLine": from, "execID": "e"}))
}

#[test]
fn a_streamed_log_is_shown_line_by_line_and_its_end_is_the_jobs() {
    let base = serve(|request| {
        if request.contains("follow=true") {
            assert!(request.contains("fromLine=1"), "{request}");
            ("text/plain; charset=utf-8", "one\ntwo\n".to_string(), true)
        } else if request.contains("/status") {
            ("application/json", envelope(serde_json::json!({"status": "Failed", "taskID": 7})), false)
        } else {
            assert!(request.contains("fromLine=3"), "after two streamed lines the page starts at 3: {request}");
            ("application/json", page("", 3), false)
        }
    });
    let screen = Screen::recording();
    let end = follow(&Api::new(&base), 7, &screen).expect("followed");
    assert_eq!(end, JobEnd::Failed);
    assert_eq!(screen.recorded(), ["one", "two"]);
}

#[test]
fn an_envelope_to_follow_means_polling_pages_and_status() {
    let statuses = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&statuses);
    let base = serve(move |request| {
        if request.contains("follow=true") {
            let full = serde_json::json!({"status": 1, "message": "too many followers", "data": {}});
            ("application/json", full.to_string(), false)
        } else if request.contains("/status") {
            let state = if seen.fetch_add(1, Ordering::SeqCst) == 0 { "Running" } else { "Succeed" };
            ("application/json", envelope(serde_json::json!({"status": state, "taskID": 7})), false)
        } else if request.contains("fromLine=1&") {
            ("application/json", page("a\nb", 3), false)
        } else {
            ("application/json", page("", 3), false)
        }
    });
    let screen = Screen::recording();
    let end = follow(&Api::new(&base), 7, &screen).expect("followed");
    assert_eq!(end, JobEnd::Succeed);
    assert_eq!(screen.recorded(), ["a", "b"]);
    assert_eq!(statuses.load(Ordering::SeqCst), 2, "polled until the job ended");
}
