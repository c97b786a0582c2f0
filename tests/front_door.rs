//! The front door as an attacker would try it, before logging in: idle and half-sent
//! connections, big unauthenticated bodies, login storms, log floods, forged forwarding headers.
//! Each test failed on the transport that had a thread per connection and read login bodies
//! whole; the figures (10,000 idle connections, latency, speed) are in `cargo bench`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};

use serde_json::{json, Value};

use crate::helper::{connect_from, eventually, proc_status, Portico, MULTI_USER_CONFIG, TEST_TOKEN};

fn addr_of(server: &Portico) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().expect("server address")
}

fn config_with(server_lines: &str) -> String {
    MULTI_USER_CONFIG.replace("session_timeout_secs = 3600", &format!("session_timeout_secs = 3600\n{server_lines}"))
}

/// Whether the server has closed `stream` by now (end of file or a reset is waiting), looked
/// at without waiting: callers that expect a close poll for it with a deadline.
fn closed_by_server(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut byte = [0u8; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

/// Reads whatever the server answers until it closes or `PATIENCE` passes.
fn answer_of(mut stream: &TcpStream) -> String {
    stream.set_read_timeout(Some(crate::helper::PATIENCE)).expect("timeout");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A connection made busy: an authenticated request with a large body it never sends. Returns
/// once a handler is reading that body (it has answered the head with `100 Continue`).
fn busy_connection(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\nToken-Code: {TEST_TOKEN}\r\nToken-User: alice\r\n\
         Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.set_read_timeout(Some(crate::helper::PATIENCE)).expect("timeout");
    let mut answer = [0u8; 25];
    stream.read_exact(&mut answer).expect("100 Continue");
    assert!(answer.starts_with(b"HTTP/1.1 100 Continue"), "{}", String::from_utf8_lossy(&answer));
    stream
}

#[test]
fn idle_connections_make_way_and_only_busy_ones_are_refused() {
    let server = Portico::start_with_config(&config_with("max_connections_per_address = 3"), &[]);
    let addr = addr_of(&server);
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).expect("connect")).collect();
    // A fourth client from the same address is served: the longest-idle connection makes way.
    let (exec_id, _) = server.submit_shell("echo room");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    eventually("the longest-idle connection to be closed", || closed_by_server(&idle[0]).then_some(()));
    drop(idle);
    // Connections in the middle of a request are not closed for others: with all three busy,
    // a fourth is refused, and served again once they are gone.
    let busy: Vec<TcpStream> = (0..3).map(|_| busy_connection(addr)).collect();
    let refused = answer_of(&TcpStream::connect(addr).expect("connect"));
    assert!(refused.contains("Too many open connections"), "{refused}");
    drop(busy);
    let (exec_id, _) = eventually("a place to free up", || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.submit_shell("echo room again"))).ok()
    });
    assert_eq!(server.wait_done(&exec_id), "Succeed");
}

#[test]
fn a_tiny_descriptor_limit_closes_idle_connections_instead_of_failing() {
    let mut server = Portico::start_with_fd_limit(48);
    let addr = addr_of(&server);
    let held: Vec<TcpStream> = (0..60).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    assert!(held.len() >= 40, "connections could be opened");
    let (exec_id, _) = server.submit_shell("echo still serving");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    eventually("some idle connections to be closed to make room", || held.iter().any(closed_by_server).then_some(()));
    assert_eq!(server.try_exit_code(), None, "the server keeps running");
}

#[test]
fn idle_and_half_sent_connections_cost_no_thread() {
    let server = Portico::start_with_config(&config_with("http_threads = 2"), &[]);
    let addr = addr_of(&server);
    assert_eq!(server.ok("user/userInfo")["userName"], "root");
    let threads_before = proc_status(server.pid(), "Threads");
    let mut held = Vec::new();
    for source in 1..=3u8 {
        for i in 0..200 {
            let mut stream = connect_from(Ipv4Addr::new(127, 0, 0, source), addr).expect("connect");
            if i % 2 == 0 {
                // Half a head, as a slowloris client sends it.
                stream.write_all(b"GET /api/rest_j/v1/user/userInfo HTTP/1.1\r\nX-Slow: ").expect("send");
            }
            held.push(stream);
        }
    }
    // Small bodies that never come, on the public routes, with and without Expect.
    for expect in ["", "Expect: 100-continue\r\n"] {
        for _ in 0..4 {
            let mut stream = TcpStream::connect(addr).expect("connect");
            let head = format!("POST /api/rest_j/v1/user/login HTTP/1.1\r\nContent-Length: 100\r\n{expect}\r\n");
            stream.write_all(head.as_bytes()).expect("send");
            held.push(stream);
        }
    }
    for _ in 0..20 {
        assert_eq!(server.ok("user/userInfo")["userName"], "root", "served with two handler threads");
    }
    let threads_after = proc_status(server.pid(), "Threads");
    assert!(threads_after <= threads_before + 1, "threads grew with connections: {threads_before} → {threads_after}");
    let open = held.iter().filter(|s| !closed_by_server(s)).count();
    assert_eq!(open, held.len(), "no connection was refused or dropped while there was room");
}

#[test]
fn big_unauthenticated_bodies_cost_a_small_constant() {
    let server = Portico::start();
    let addr = addr_of(&server);
    let idle_kib = proc_status(server.pid(), "VmRSS");
    let body: Vec<u8> = b"[".iter().chain(b"0,".repeat(5 * 1024 * 1024 - 1).iter()).chain(b"0]").copied().collect();
    let body = std::sync::Arc::new(body);
    let floods: Vec<_> = (0..16)
        .map(|i| {
            let body = std::sync::Arc::clone(&body);
            std::thread::spawn(move || {
                let path = if i % 2 == 0 { "user/login" } else { "entrance/submit" };
                let mut stream = TcpStream::connect(addr).expect("connect");
                let head = format!("POST /api/rest_j/v1/{path} HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len());
                stream.write_all(head.as_bytes()).expect("head");
                // The server may stop reading at any point; a failed write is the expected end.
                let _ = stream.write_all(&body);
                (path, answer_of(&stream))
            })
        })
        .collect();
    let mut answered = 0;
    for flood in floods {
        let (path, answer) = flood.join().expect("flood thread");
        let expected = if path == "user/login" { "HTTP/1.1 413" } else { "HTTP/1.1 401" };
        // A client still sending may see the refusal's reset before its answer; every answer
        // that arrives must be the refusal, and they must arrive.
        assert!(answer.is_empty() || answer.starts_with(expected), "{path}: {answer}");
        answered += usize::from(!answer.is_empty());
    }
    assert!(answered > 0, "the refusals were answered, not just cut off");
    let peak_kib = proc_status(server.pid(), "VmHWM");
    assert!(peak_kib < idle_kib + 64 * 1024, "peak {peak_kib} KiB against {idle_kib} KiB idle");
    assert_eq!(server.ok("user/userInfo")["userName"], "hadoop");
}

#[test]
fn a_login_storm_verifies_only_the_free_attempts_and_locks_no_one_else_out() {
    let server = Portico::start_with_config(&config_with("trusted_proxies = [\"127.0.0.1\"]"), &[]);
    let base = server.base.clone();
    let storm: Vec<_> = (0..48)
        .map(|_| {
            let client = server.anonymous();
            std::thread::spawn(move || {
                client.post("user/login", &json!({"userName": "alice", "password": "guess"}).to_string())
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = storm.into_iter().map(|t| t.join().expect("login thread")).collect();
    let verified = answers
        .iter()
        .filter(|(_, body)| body["message"].as_str().is_some_and(|m| m.contains("wrong user name")))
        .count();
    assert!(verified <= 3, "{verified} wrong passwords were verified; the throttle allows 3");
    assert!(answers.iter().all(|(code, _)| matches!(code, 400 | 429 | 503)), "{answers:?}");
    assert!(answers.iter().any(|(code, _)| *code == 429), "the throttle turned attempts away: {answers:?}");
    let login = |client: &crate::helper::Client, user: &str, password: &str| {
        client.post("user/login", &json!({"userName": user, "password": password}).to_string()).0
    };
    assert_eq!(login(&server.anonymous(), "bob", "bob-pass"), 200, "another user from the same address gets in");
    assert_eq!(login(&server.anonymous(), "alice", "alice-pass"), 429, "alice from this address waits");
    let elsewhere = server.anonymous().with_header("X-Forwarded-For", "10.1.2.3");
    assert_eq!(login(&elsewhere, "alice", "alice-pass"), 200, "alice from another address gets in: {base}");
}

#[test]
fn bogus_tokens_cannot_flood_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("server.log");
    let server = Portico::start_logging_to(MULTI_USER_CONFIG, &[], &log);
    let flood_began = std::time::Instant::now();
    let quoting = server.anonymous().with_token("NOT-A-TOKEN-123", "mallory\" forged=\"yes");
    assert_eq!(quoting.get("user/userInfo").0, 401);
    let long_name = "x".repeat(60_000);
    let forger = server.anonymous().with_token("NOT-A-TOKEN-123", &long_name);
    for _ in 0..300 {
        assert_eq!(forger.get("user/userInfo").0, 401);
    }
    let (exec_id, _) = server.submit_shell("echo the log writer keeps up");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let text = eventually("the log to be written", || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("token authentication failed").then_some(text)
    });
    assert!(text.len() < 64 * 1024, "the log grew to {} bytes", text.len());
    assert!(text.lines().all(|line| line.len() < 1024), "no long lines");
    assert!(text.contains(r#""mallory\" forged=\"yes""#), "quotes in names are escaped: {text}");
    // 20 lines per 10-second window: a flood slowed down by a loaded machine spans more windows.
    let windows = flood_began.elapsed().as_secs() as usize / 10 + 1;
    let failures = text.lines().filter(|l| l.contains("token authentication failed")).count();
    assert!((1..=20 * windows).contains(&failures), "{failures} failure lines over {windows} windows");
}

#[test]
fn forwarding_headers_count_only_from_trusted_proxies() {
    let config = format!(
        "{}\n[[tokens]]\ntoken = \"FROM-THE-OFFICE-1\"\nusers = [\"alice\"]\nhosts = [\"10.9.9.9\"]\n",
        MULTI_USER_CONFIG
    );
    let direct = Portico::start_with_config(&config, &[]);
    let from_office = |server: &Portico| {
        server.anonymous().with_token("FROM-THE-OFFICE-1", "alice").with_header("X-Forwarded-For", "10.9.9.9")
    };
    assert_eq!(from_office(&direct).get("user/userInfo").0, 401, "an untrusted peer cannot claim an address");
    let proxied_config =
        config.replace("session_timeout_secs = 3600", "session_timeout_secs = 3600\ntrusted_proxies = [\"127.0.0.1\"]");
    let proxied = Portico::start_with_config(&proxied_config, &[]);
    assert_eq!(from_office(&proxied).get("user/userInfo").0, 200, "a trusted proxy names the client");
    let forwarded =
        proxied.anonymous().with_token("FROM-THE-OFFICE-1", "alice").with_header("Forwarded", "for=10.9.9.9");
    assert_eq!(forwarded.get("user/userInfo").0, 200);
}

#[test]
fn history_lists_carry_a_bounded_preview_of_code() {
    let server = Portico::start();
    let code = format!("echo short # {}", "y".repeat(5000));
    let (_, task_id) = server.submit_shell(&code);
    let listed = server.ok(&format!("jobhistory/list?taskID={task_id}"));
    let preview = listed["tasks"][0]["executionCode"].as_str().expect("code");
    assert!(preview.chars().count() <= 2001 && preview.ends_with('…'), "{} chars", preview.len());
    let whole = server.ok(&format!("jobhistory/{task_id}/get"));
    assert_eq!(whole["task"]["executionCode"], code.as_str());
}
