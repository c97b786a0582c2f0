//! `entrance/{id}/log?follow=true`: the log streamed live over a raw socket, as `curl -N` reads
//! it; the bound on followers; and that followers hold no handler thread.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;

use serde_json::Value;

use crate::helper::{eventually, Portico, MULTI_USER_CONFIG, PATIENCE, TEST_TOKEN};

/// A job that writes a log line every 100 ms until the file `stop` exists.
fn ticking_job(stop: &Path) -> String {
    format!("i=0; while [ ! -e '{}' ]; do i=$((i+1)); echo \"tick $i\" >&2; sleep 0.1; done", stop.display())
}

/// The `portico_log_followers` gauge, read from `/metrics` (loopback may scrape).
fn followers_gauge(server: &Portico) -> u64 {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: portico\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let line = text.lines().find(|l| l.starts_with("portico_log_followers ")).expect("the followers gauge");
    line["portico_log_followers ".len()..].parse().unwrap()
}

/// One follower's connection, read as the client of a chunked answer.
struct Follower {
    reader: BufReader<TcpStream>,
    status: u16,
    head: String,
    /// Bytes of the current chunk still to read; `None` after the last chunk.
    left_in_chunk: Option<usize>,
    partial: Vec<u8>,
}

impl Follower {
    fn open(server: &Portico, user: &str, id: &str, query: &str) -> Follower {
        let addr = server.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let request = format!(
            "GET /api/rest_j/v1/entrance/{id}/log?follow=true{query} HTTP/1.1\r\nHost: {addr}\r\n\
             Token-Code: {TEST_TOKEN}\r\nToken-User: {user}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            assert!(reader.read_line(&mut head).unwrap() > 0, "the head ended early: {head}");
        }
        let status = head[9..12].parse().unwrap();
        Follower { reader, status, head, left_in_chunk: Some(0), partial: Vec::new() }
    }

    /// The body of an answer that is not a stream (a refusal).
    fn envelope(mut self) -> Value {
        let length: usize = self
            .head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("a refusal says its length")
            .parse()
            .unwrap();
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The next line, `None` once the stream has ended.
    fn line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                return Some(String::from_utf8(line[..end].to_vec()).unwrap());
            }
            match self.left_in_chunk {
                None => {
                    assert!(self.partial.is_empty(), "every line ends with a newline");
                    return None;
                }
                Some(0) => {
                    let mut size = String::new();
                    self.reader.read_line(&mut size).unwrap();
                    if size == "\r\n" {
                        size.clear();
                        self.reader.read_line(&mut size).unwrap();
                    }
                    let n = usize::from_str_radix(size.trim(), 16).unwrap_or_else(|_| panic!("chunk size {size:?}"));
                    if n == 0 {
                        let mut end = String::new();
                        self.reader.read_line(&mut end).unwrap();
                        assert_eq!(end, "\r\n");
                        self.left_in_chunk = None;
                    } else {
                        self.left_in_chunk = Some(n);
                    }
                }
                Some(n) => {
                    let mut buf = vec![0; n.min(64 * 1024)];
                    let got = self.reader.read(&mut buf).unwrap();
                    assert!(got > 0, "the connection closed inside a chunk");
                    self.partial.extend_from_slice(&buf[..got]);
                    self.left_in_chunk = Some(n - got);
                }
            }
        }
    }

    fn rest(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.line()).collect()
    }
}

#[test]
fn lines_arrive_while_the_job_runs_and_the_stream_ends_with_the_whole_log() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let scratch = tempfile::tempdir().unwrap();
    let stop = scratch.path().join("stop");
    let (exec_id, _) = alice.submit_shell(&ticking_job(&stop));
    let mut follower = Follower::open(&server, "alice", &exec_id, "");
    assert_eq!(follower.status, 200, "{}", follower.head);
    assert!(follower.head.contains("Content-Type: text/plain; charset=utf-8\r\n"), "{}", follower.head);
    assert!(follower.head.contains("Transfer-Encoding: chunked\r\n"), "{}", follower.head);
    let mut streamed = Vec::new();
    while !streamed.iter().any(|l: &String| l == "tick 1") {
        streamed.push(follower.line().expect("the stream goes on while the job runs"));
    }
    assert_eq!(alice.state(&exec_id), "Running", "the first line came while the job runs");
    streamed.push(follower.line().expect("more lines while the job runs"));
    std::fs::write(&stop, "").unwrap();
    streamed.extend(follower.rest());
    assert_eq!(alice.wait_done(&exec_id), "Succeed");
    let paged = alice.log_lines(&exec_id);
    assert_eq!(streamed, paged, "the stream is the whole log, each line once");

    // A finished job: the log, then the end at once; fromLine as the paged endpoint counts.
    assert_eq!(Follower::open(&server, "alice", &exec_id, "").rest(), paged);
    assert_eq!(Follower::open(&server, "alice", &exec_id, "&fromLine=3").rest(), paged[2..]);
    let past = format!("&fromLine={}", paged.len() + 5);
    assert_eq!(Follower::open(&server, "alice", &exec_id, &past).rest(), Vec::<String>::new());
}

#[test]
fn someone_elses_job_is_refused_as_the_log_endpoint_refuses_it() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let (exec_id, _) = server.as_user("alice").submit_shell("echo hi");
    let (code, paged) = server.as_user("bob").get(&format!("entrance/{exec_id}/log"));
    let refused = Follower::open(&server, "bob", &exec_id, "");
    assert_eq!(refused.status, code);
    let body = refused.envelope();
    assert_eq!((&body["status"], &body["message"]), (&paged["status"], &paged["message"]));
    assert_ne!(body["status"], 0);
    let missing = Follower::open(&server, "bob", "999999", "");
    assert_ne!(missing.envelope()["status"], 0);
    let (code, bad) = server.as_user("alice").get(&format!("entrance/{exec_id}/log?follow=maybe"));
    assert_eq!(code, 400, "{bad}");
}

#[test]
fn followers_are_bounded_and_one_that_hangs_up_frees_its_place() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &["--max-log-followers", "2"]);
    let scratch = tempfile::tempdir().unwrap();
    let stop = scratch.path().join("stop");
    let (exec_id, _) = server.as_user("alice").submit_shell(&ticking_job(&stop));
    let mut first = Follower::open(&server, "alice", &exec_id, "");
    let mut second = Follower::open(&server, "alice", &exec_id, "");
    assert_eq!((first.status, second.status), (200, 200));
    assert!(first.line().is_some() && second.line().is_some());
    let third = Follower::open(&server, "alice", &exec_id, "");
    assert_eq!(third.status, 503, "{}", third.head);
    assert!(third.head.contains("Retry-After: "), "{}", third.head);
    let body = third.envelope();
    assert_eq!(body["status"], 1);
    assert!(body["message"].as_str().unwrap().contains("max_log_followers"), "{body}");
    assert_eq!(followers_gauge(&server), 2, "the refused one is not counted");

    // The first follower hangs up mid-stream: its place comes back.
    drop(first);
    eventually("the hang-up to be noticed", || (followers_gauge(&server) == 1).then_some(()));
    let mut admitted = eventually("a follower to be admitted after one hung up", || {
        let follower = Follower::open(&server, "alice", &exec_id, "");
        (follower.status == 200).then_some(follower)
    });
    std::fs::write(&stop, "").unwrap();
    let (a, b) = (admitted.rest(), second.rest());
    assert!(a.last().unwrap().contains("Congratulations"), "{a:?}");
    assert_eq!(a.len(), b.len() + 1, "both end with the whole log");
    eventually("the ended streams to give their places back", || (followers_gauge(&server) == 0).then_some(()));
}

#[test]
fn open_followers_hold_no_handler_thread() {
    let config = MULTI_USER_CONFIG.replace("session_timeout_secs = 3600", "http_threads = 2\nmax_log_followers = 4");
    let server = Portico::start_with_config(&config, &[]);
    let alice = server.as_user("alice");
    let scratch = tempfile::tempdir().unwrap();
    let stop = scratch.path().join("stop");
    let (exec_id, _) = alice.submit_shell(&ticking_job(&stop));
    let mut followers: Vec<Follower> = (0..4).map(|_| Follower::open(&server, "alice", &exec_id, "")).collect();
    for follower in &mut followers {
        assert_eq!(follower.status, 200);
        while follower.line().is_some_and(|l| l != "tick 1") {}
    }
    // Four open streams, two handler threads: polls are answered all the same.
    for _ in 0..20 {
        assert_eq!(alice.state(&exec_id), "Running");
    }
    for follower in &mut followers {
        assert_eq!(follower.line().as_deref(), Some("tick 2"), "each follower still gets new lines");
    }
    std::fs::write(&stop, "").unwrap();
    for follower in &mut followers {
        assert!(follower.rest().last().unwrap().contains("Congratulations"));
    }
}
