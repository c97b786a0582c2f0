//! Entry points for fuzzing: each takes arbitrary bytes, runs one of the parsers a request
//! meets (a submit or execute body, ids in a path, query parameters and cookies, the HTTP head
//! as the transport scans it, a chunked body), and panics when the bytes break a rule that
//! must hold whatever the input. A panic is the finding.
//!
//! They run under `cargo fuzz` (`fuzz/`) and, bounded, under `cargo test` (`tests/fuzz.rs`);
//! both reach them through `portico::fuzzing`. Nothing here runs in the server.

use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::Value;

use super::call::integer_param;
use super::incoming::{scan_buffered, Scan, Scanned};
use super::json_depth::{self, MAX_DEPTH};
use super::request::{percent_decode, Request};
use super::routes::{Route, PREFIX};
use super::transport::Limits;
use super::wire::{self, BodyError, Framing, Head};
use crate::config::RequestLimits;
use crate::job::{request, task_id_of};

/// A submit or execute body: the depth scan agrees with the nesting serde_json finds, and a
/// body the job parser accepts has code a job can run.
pub fn submit_body(data: &[u8]) {
    let scanned = json_depth::check(data, MAX_DEPTH);
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let depth = depth_of(&value);
    assert_eq!(scanned.is_ok(), depth <= MAX_DEPTH, "the depth scan disagrees with serde_json: depth {depth}");
    let limits = RequestLimits { max_code_bytes: 4096, max_labels: 8, max_variables: 8, max_runtime_params: 8 };
    // A fixed day, so a failure reproduces: 2024-02-29 (a leap day) at 23:30 UTC.
    if let Ok(job) = request::parse_at(&value, &limits, 1_709_249_400_000) {
        assert!(!job.code.trim().is_empty(), "accepted blank code");
        assert!(!job.code.contains('\0'), "accepted code holding a NUL");
        assert!(job.code.len() <= limits.max_code_bytes, "substitution grew the code past its limit");
    }
}

/// How deeply `value` nests arrays and objects, without recursion.
fn depth_of(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    deepest
}

/// A path as the router sees it: classifying never fails, an id survives being
/// percent-encoded and routed again, and a taskID is only ever plain digits.
pub fn job_id(data: &[u8]) {
    let path = String::from_utf8_lossy(data);
    for method in ["GET", "POST", "PUT"] {
        let _ = Route::classify(method, &format!("{PREFIX}{path}"));
    }
    let id = percent_decode(&path);
    if let Some(task_id) = task_id_of(&id) {
        assert!(id.bytes().all(|b| b.is_ascii_digit()) && task_id <= i64::MAX as u64, "taskID {id:?}");
        assert_eq!(id.trim_start_matches('0').parse::<u64>().unwrap_or(0), task_id);
    }
    if !id.is_empty() {
        let routed = Route::classify("GET", &format!("{PREFIX}entrance/{}/status", percent_encode(&id)));
        assert_eq!(routed, Route::Status(id.clone()), "the id {id:?} did not survive routing");
    }
}

/// Every byte but the unreserved ones as `%XX`, as a careful client encodes a path segment.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A query string, a cookie header and a forwarding chain: parameters decode, an integer
/// parameter is the integer its text says, and a forwarded client is an address.
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let header = |name: &str| (name.to_string(), text.replace(['\r', '\n'], ""));
    let head = Head {
        method: "GET".into(),
        target: format!("/x?{text}"),
        http11: true,
        headers: vec![header("Cookie"), header("X-Forwarded-For"), header("Forwarded")],
    };
    let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
    let request = Request::new(head, peer, &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    for name in ["fromLine", "size", "page", "pageSize", "pageNow", "taskID", "path", ""] {
        let value = request.param(name);
        match integer_param(&request, name) {
            Ok(Some(n)) => assert_eq!(value.as_deref().map(str::trim).and_then(|v| v.parse().ok()), Some(n)),
            Ok(None) => {
                assert!(value.as_deref().is_none_or(|v| v.trim().is_empty()), "{name}={value:?} read as absent")
            }
            Err(_) => assert!(value.as_deref().is_some_and(|v| v.trim().parse::<i64>().is_err()), "{name} refused"),
        }
        let _ = request.cookie(name);
    }
    let _ = request.client();
    assert_eq!(percent_decode(&percent_encode(&text)), text, "percent-decoding is not the inverse of encoding");
}

/// The limits the head target scans with: small, so that the size refusals are reached.
fn fuzz_limits() -> Limits {
    Limits::small(512, 32)
}

/// The largest body the head target reads.
const BODY_LIMIT: usize = 256;

/// What one connection's bytes amount to, request after request.
#[derive(Debug, PartialEq)]
enum Outcome {
    Request { method: String, target: String, headers: Vec<(String, String)>, body: Result<Vec<u8>, String> },
    Refused(u16),
    Waiting,
}

/// A connection's bytes, cut into reads: the first two bytes choose the cuts, the rest is what
/// the client sends (pipelined requests and their bodies). Cut anywhere, the same bytes must
/// make the same requests; and a head that httparse finds complete is never left waiting.
pub fn http_head(data: &[u8]) {
    let (cuts, stream) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => return,
    };
    let whole = outcomes(stream, &mut std::iter::repeat(usize::MAX));
    let mut state = u32::from(cuts) | 1;
    let mut sizes = std::iter::from_fn(|| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        Some(1 + (state >> 16) as usize % 24)
    });
    let cut = outcomes(stream, &mut sizes);
    assert_eq!(whole, cut, "the same bytes, read in other pieces, made other requests");
}

/// The requests `stream` makes when it arrives in reads of the sizes `reads` gives.
fn outcomes(stream: &[u8], reads: &mut dyn Iterator<Item = usize>) -> Vec<Outcome> {
    let limits = fuzz_limits();
    let mut found = Vec::new();
    let (mut start, mut received) = (0, 0);
    let mut scan = Scan::default();
    loop {
        let buf = &stream[start..received];
        match scan_buffered(buf, &mut scan, &limits) {
            Err((code, _)) => {
                found.push(Outcome::Refused(code));
                return found;
            }
            Ok(Scanned::Ready(head, length)) => {
                let (outcome, used) = request_of(head, &stream[start + length..]);
                let next = start + length + used;
                found.push(outcome);
                // A body that could not be read leaves nothing the connection can go on with.
                if matches!(found.last(), Some(Outcome::Request { body: Err(_), .. })) || next >= stream.len() {
                    return found;
                }
                start = next;
                received = received.max(start);
                continue;
            }
            Ok(Scanned::Incomplete { .. }) if received == stream.len() => {
                if !scan.has_head() {
                    assert_httparse_waits(buf, limits.max_head_bytes);
                }
                found.push(Outcome::Waiting);
                return found;
            }
            Ok(Scanned::Incomplete { .. }) => {}
        }
        received = received.saturating_add(reads.next().unwrap_or(usize::MAX)).min(stream.len());
    }
}

/// The request `head` makes, its body read from what follows it, and how many bytes that took.
fn request_of(head: Head, after: &[u8]) -> (Outcome, usize) {
    let mut reader = BufReader::with_capacity(7, after);
    let body = wire::framing(&head)
        .and_then(|framing| wire::read_body(&mut reader, framing, BODY_LIMIT))
        .map_err(|e| format!("{e:?}"));
    // What the reader took: neither in its buffer nor still in its source.
    let used = after.len() - reader.buffer().len() - reader.get_ref().len();
    let Head { method, target, headers, .. } = head;
    (Outcome::Request { method, target, headers, body }, used)
}

/// A head httparse finds complete must not be waiting for more.
fn assert_httparse_waits(buf: &[u8], max: usize) {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let parsed = httparse::Request::new(&mut headers).parse(&buf[..buf.len().min(max)]);
    assert!(
        !matches!(parsed, Ok(httparse::Status::Complete(_))),
        "httparse reads a whole head in {:?}, but the scanner waits for more",
        String::from_utf8_lossy(buf)
    );
}

/// A chunked body: read through buffers of any size it is the same body (or the same
/// refusal), never over its limit, and framed again it reads back the same.
pub fn chunked_body(data: &[u8]) {
    let (capacity, limit, body) = match data {
        [a, b, rest @ ..] => (1 + usize::from(*a % 16), 16 * usize::from(*b), rest),
        _ => return,
    };
    let read = |capacity: usize, bytes: &[u8]| {
        wire::read_body(&mut BufReader::with_capacity(capacity, bytes), Framing::Chunked, limit)
            .map_err(|e| format!("{:?}", discriminant(&e)))
    };
    let small = read(capacity, body);
    assert_eq!(small, read(64 * 1024, body), "the buffer size changed what the body is");
    if let Ok(decoded) = small {
        assert!(decoded.len() <= limit, "a body of {} bytes passed the limit {limit}", decoded.len());
        let framed = [format!("{:x}\r\n", decoded.len()).as_bytes(), &decoded, b"\r\n0\r\n\r\n"].concat();
        let again = wire::read_body(&mut BufReader::with_capacity(capacity, &framed[..]), Framing::Chunked, usize::MAX);
        assert!(again.is_ok_and(|b| b == decoded), "a body framed again read back otherwise");
    }
}

/// A body error's kind (the I/O errors' texts differ with where the reader stopped).
fn discriminant(error: &BodyError) -> &'static str {
    match error {
        BodyError::TooLarge => "too large",
        BodyError::Malformed(why) => why,
        BodyError::Io(_) => "io",
    }
}
