//! Streamed answers over a loopback pair: framing, yielding, deadlines, waiting sources.
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};

use super::*;
use crate::http::wire::{read_body, Framing};

/// A connected pair on loopback: the server's end non-blocking, as the transport keeps it.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    (server, client)
}

/// Reads a whole answer: its head, and its body as the head frames it.
fn read_answer(client: TcpStream) -> (String, Vec<u8>) {
    let mut reader = BufReader::new(client);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        reader.read_line(&mut head).unwrap();
    }
    let body = if head.contains("chunked") {
        read_body(&mut reader, Framing::Chunked, 1 << 30).unwrap()
    } else {
        let mut body = Vec::new();
        reader.read_to_end(&mut body).unwrap();
        body
    };
    (head, body)
}

fn stream(bytes: u64, length: Option<u64>) -> Response {
    Response::stream(200, Box::new(io::repeat(b'x').take(bytes)), length)
}

/// Writes `out` as the poller would: a budget per turn, waiting for room when blocked.
fn drive(mut out: Outgoing, server: &TcpStream) -> (io::Result<()>, usize) {
    let mut yields = 0;
    loop {
        match out.write_some(server, POLLER_BUDGET) {
            Ok(Progress::Done) => return (Ok(()), yields),
            Ok(Progress::Yielded) => yields += 1,
            Ok(Progress::Blocked | Progress::Waiting) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return (Err(e), yields),
        }
    }
}

#[test]
fn a_stream_of_unknown_size_is_chunked_and_yields_to_others() {
    let (server, client) = pair();
    let reader = std::thread::spawn(move || read_answer(client));
    let out = Outgoing::new(stream(3 << 20, None), After::Close, false, true, Duration::from_secs(30));
    let (result, yields) = drive(out, &server);
    result.unwrap();
    drop(server);
    let (head, body) = reader.join().unwrap();
    assert!(head.contains("Transfer-Encoding: chunked") && !head.contains("Content-Length"), "{head}");
    assert_eq!(body.len(), 3 << 20);
    assert!(body.iter().all(|b| *b == b'x'));
    assert!(yields >= 1, "3 MiB is more than one turn's budget");
}

#[test]
fn a_stream_of_known_size_says_so_and_must_keep_its_word() {
    let (server, client) = pair();
    let reader = std::thread::spawn(move || read_answer(client));
    let out = Outgoing::new(stream(100_000, Some(100_000)), After::Close, false, true, Duration::from_secs(30));
    drive(out, &server).0.unwrap();
    drop(server);
    let (head, body) = reader.join().unwrap();
    assert!(head.contains("Content-Length: 100000\r\n"), "{head}");
    assert_eq!(body.len(), 100_000);

    let (server, _client) = pair();
    let short = Outgoing::new(stream(10, Some(100)), After::Close, false, true, Duration::from_secs(30));
    assert_eq!(drive(short, &server).0.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn an_http10_client_reads_a_stream_until_the_connection_closes() {
    let (server, client) = pair();
    let reader = std::thread::spawn(move || read_answer(client));
    let out = Outgoing::new(stream(70_000, None), After::KeepAlive(60), false, false, Duration::from_secs(30));
    assert!(out.ends_with_connection());
    drive(out, &server).0.unwrap();
    drop(server);
    let (head, body) = reader.join().unwrap();
    assert!(head.ends_with("Connection: close\r\n\r\n") && !head.contains("chunked"), "{head}");
    assert_eq!(body.len(), 70_000);
}

#[test]
fn the_deadline_of_a_stream_grows_with_what_it_has_produced() {
    let (server, _client) = pair();
    // Nobody reads: the socket fills, and the deadline covers only what was produced.
    let mut out = Outgoing::new(stream(1 << 30, None), After::Close, false, true, Duration::ZERO);
    let first = out.deadline;
    loop {
        match out.write_some(&server, POLLER_BUDGET).unwrap() {
            Progress::Yielded => continue,
            Progress::Blocked => break,
            Progress::Done | Progress::Waiting => panic!("a gigabyte cannot fit in a socket buffer"),
        }
    }
    let OutBody::Stream(s) = &out.body else { panic!("a stream") };
    let allowed = out.deadline - out.clock_from;
    assert!(out.deadline > first && s.produced > 0);
    assert_eq!(allowed, allowance(Duration::ZERO, out.head.len() as u64 + s.produced));
    assert!(s.produced < 64 << 20, "production stops when the client stops taking");
}

/// Yields `first` bytes, then "nothing yet" for ever.
struct Stalls(u64);

impl Read for Stalls {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.0 == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = out.len().min(self.0 as usize);
        out[..n].fill(b'x');
        self.0 -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_source_with_nothing_yet_waits_and_its_wait_is_not_held_against_the_client() {
    let (server, client) = pair();
    let response = Response::stream(200, Box::new(Stalls(100_000)), None);
    let mut out = Outgoing::new(response, After::Close, false, true, Duration::ZERO);
    let reader = std::thread::spawn(move || {
        let mut client = client;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") || seen.len() < 100_000 {
            let n = client.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
    });
    loop {
        match out.write_some(&server, POLLER_BUDGET).unwrap() {
            Progress::Waiting => break,
            Progress::Done => panic!("the source never ends"),
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    reader.join().unwrap();
    assert!(out.is_waiting());
    // Everything produced is out: the clock starts again, owing nothing.
    let before = Instant::now();
    assert_eq!(out.write_some(&server, POLLER_BUDGET).unwrap(), Progress::Waiting);
    assert!(out.clock_from >= before && out.deadline == out.clock_from, "a wait owes nothing");
}

#[test]
fn a_head_answer_keeps_the_heads_word_about_the_connection() {
    // HTTP/1.0 and a body of unknown length: the head says the connection ends with it,
    // and so it must, though a HEAD answer sends no body.
    let stream = || Response::stream(200, Box::new(std::io::Cursor::new(b"abc".to_vec())), None);
    let keep = After::KeepAlive(60);
    let head_only = Outgoing::new(stream(), keep, true, false, Duration::from_secs(1));
    assert!(String::from_utf8_lossy(&head_only.head).contains("Connection: close"));
    assert!(head_only.ends_with_connection());
    assert!(Outgoing::new(stream(), keep, false, false, Duration::from_secs(1)).ends_with_connection());
    assert!(!Outgoing::new(stream(), keep, true, true, Duration::from_secs(1)).ends_with_connection());
}

/// Yields what `available` allows (shared with the test), then "nothing yet".
struct Grows(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Read for Grows {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        use std::sync::atomic::Ordering;
        let left = self.0.load(Ordering::SeqCst);
        if left == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        out[..n].fill(b'y');
        self.0.fetch_sub(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}

#[test]
fn a_client_that_stops_reading_after_a_wait_owes_what_was_produced_since() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let (server, _client) = pair();
    let available = std::sync::Arc::new(AtomicU64::new(1000));
    let response = Response::open_ended(200, Box::new(Grows(std::sync::Arc::clone(&available))));
    let mut out = Outgoing::new(response, After::Close, false, true, Duration::ZERO);
    assert_eq!(out.write_some(&server, POLLER_BUDGET).unwrap(), Progress::Waiting);
    let (restarted, taken) = (out.clock_from, out.taken_before);
    assert!(taken > 1000, "the head and the first kilobyte were taken");
    // Now the source has plenty and nobody reads: the socket fills.
    available.store(1 << 30, Ordering::SeqCst);
    loop {
        match out.write_some(&server, POLLER_BUDGET).unwrap() {
            Progress::Yielded => continue,
            Progress::Blocked => break,
            other => panic!("{other:?}: a gigabyte cannot fit in a socket buffer"),
        }
    }
    assert_eq!(out.clock_from, restarted, "no wait since: the clock runs on");
    assert_eq!(out.deadline, restarted + allowance(Duration::ZERO, out.known_bytes() - taken));
    assert!(out.is_open_ended() && !out.is_waiting());
}
