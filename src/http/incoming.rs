//! A request arriving in the poller: finding where its head ends, parsing it, and waiting for a
//! small body, each byte looked at once however slowly the client sends.

use std::io::Write;

use super::conn::Conn;
use super::response::Response;
use super::transport::Limits;
use super::wire::{self, Framing, Head, HeadError};

/// Empty lines tolerated before a request line (RFC 9112 §2.2 allows "at least one").
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// How far a head has been looked at, so that each byte is scanned once however slowly the
/// head arrives (re-parsing everything on every byte would let a slow client burn the poller).
#[derive(Default)]
pub struct Scan {
    /// Bytes already searched for the end of the head.
    searched: usize,
    /// The parsed head, its length, and the bytes (head plus small body) to wait for.
    parsed: Option<(Head, usize, usize)>,
    continue_sent: bool,
}

/// What the buffered input of `conn` amounts to: a request ready to hand over (`Some`), more
/// to wait for (`None`), or an answer refusing it.
pub fn parse_ready(conn: &mut Conn, scan: &mut Scan, limits: &Limits) -> Result<Option<Head>, Response> {
    if scan.parsed.is_none() {
        let leading = conn.buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        if leading > 2 * MAX_LEADING_EMPTY_LINES {
            return Err(transport_error(400, "Malformed HTTP request: empty lines instead of a request"));
        }
        let from = scan.searched.saturating_sub(3).max(leading);
        let window = &conn.buf[from.min(conn.buf.len())..];
        let ended = window.windows(2).any(|w| w == b"\n\n") || window.windows(4).any(|w| w == b"\r\n\r\n");
        scan.searched = conn.buf.len();
        if !ended {
            if conn.buf.len() >= limits.max_head_bytes {
                return Err(transport_error(431, "The request head is too large"));
            }
            return Ok(None);
        }
        let (head, length) = match wire::parse_head(&conn.buf, limits.max_head_bytes) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            Err(HeadError::TooLarge) => return Err(transport_error(431, "The request head is too large")),
            Err(HeadError::Malformed(why)) => {
                return Err(transport_error(400, &format!("Malformed HTTP request: {why}")))
            }
        };
        // A small body is waited for here, so that it never holds a handler thread while it comes.
        let wanted = match wire::framing(&head) {
            Ok(Framing::Length(n)) if n <= limits.prefetch_body_bytes as u64 => length + n as usize,
            _ => length,
        };
        scan.parsed = Some((head, length, wanted));
    }
    let Some((head, _, wanted)) = &scan.parsed else { return Ok(None) };
    if conn.buf.len() < *wanted {
        if head.expects_continue() && !scan.continue_sent {
            scan.continue_sent = true;
            // Small enough to go out at once; if it does not, the client sends anyway after
            // its own wait (curl: 1 s) or meets the head's deadline.
            let _ = (&conn.stream).write(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        return Ok(None);
    }
    let Some((head, length, _)) = scan.parsed.take() else { return Ok(None) };
    *scan = Scan::default();
    conn.buf.drain(..length);
    Ok(Some(head))
}

/// A short error answer written by the transport itself (before the application is reached).
pub fn transport_error(code: u16, message: &str) -> Response {
    let body = serde_json::json!({"method": null, "status": 1, "message": message, "data": {}});
    Response::json(code, body.to_string().into_bytes())
}
