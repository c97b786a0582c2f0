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

/// What the bytes buffered so far amount to, when they are not a refusal.
#[derive(Debug)]
pub enum Scanned {
    /// Not a whole request yet: wait for more. `send_continue` is set once, when the head is
    /// complete, asks for `100 Continue`, and its small body has not all come.
    Incomplete { send_continue: bool },
    /// A whole request: its head, and the head's length in bytes (the small body, if any,
    /// follows it in the buffer).
    Ready(Head, usize),
}

/// Why a head is refused: the HTTP code and what the client is told.
pub type Refusal = (u16, String);

/// What the buffered input of `conn` amounts to: a request ready to hand over (`Some`), more
/// to wait for (`None`), or an answer refusing it.
pub fn parse_ready(conn: &mut Conn, scan: &mut Scan, limits: &Limits) -> Result<Option<Head>, Response> {
    match scan_buffered(&conn.buf, scan, limits) {
        Ok(Scanned::Incomplete { send_continue }) => {
            if send_continue {
                // Small enough to go out at once; if it does not, the client sends anyway after
                // its own wait (curl: 1 s) or meets the head's deadline.
                let _ = (&conn.stream).write(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            Ok(None)
        }
        Ok(Scanned::Ready(head, length)) => {
            conn.buf.drain(..length);
            Ok(Some(head))
        }
        Err((code, message)) => Err(transport_error(code, &message)),
    }
}

/// The decision [`parse_ready`] makes, on the bytes alone (the fuzz targets call it with the
/// bytes cut into arbitrary reads): `buf` is everything received so far, `scan` what earlier
/// calls on a shorter `buf` found. Once a request is ready, `scan` is reset for the next one,
/// and the caller removes the head from its buffer.
pub fn scan_buffered(buf: &[u8], scan: &mut Scan, limits: &Limits) -> Result<Scanned, Refusal> {
    if scan.parsed.is_none() {
        let leading = buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        if leading > 2 * MAX_LEADING_EMPTY_LINES {
            return Err((400, "Malformed HTTP request: empty lines instead of a request".into()));
        }
        // The head ends at an empty line, and a line ends at LF with or without a CR before it
        // (as httparse reads it): LF LF, or LF CR LF, which CRLF CRLF contains. Looking for CRLF
        // CRLF and LF LF only left a head ending LF CR LF waiting for its deadline.
        let from = scan.searched.saturating_sub(2).max(leading);
        let window = &buf[from.min(buf.len())..];
        let ended = window.windows(2).any(|w| w == b"\n\n") || window.windows(3).any(|w| w == b"\n\r\n");
        scan.searched = buf.len();
        if !ended && buf.len() < limits.max_head_bytes {
            return Ok(Scanned::Incomplete { send_continue: false });
        }
        // Ended, or as long as a head may be: httparse decides. A head past the limit that is
        // already malformed within it is a 400, as it is when its end comes in the same read;
        // refusing it 431 unread made the answer depend on how the bytes were cut.
        let (head, length) = match wire::parse_head(buf, limits.max_head_bytes) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(Scanned::Incomplete { send_continue: false }),
            Err(HeadError::TooLarge) => return Err((431, "The request head is too large".into())),
            Err(HeadError::Malformed(why)) => return Err((400, format!("Malformed HTTP request: {why}"))),
        };
        // A small body is waited for here, so that it never holds a handler thread while it comes.
        let wanted = match wire::framing(&head) {
            Ok(Framing::Length(n)) if n <= limits.prefetch_body_bytes as u64 => length + n as usize,
            _ => length,
        };
        scan.parsed = Some((head, length, wanted));
    }
    let Some((head, _, wanted)) = &scan.parsed else { return Ok(Scanned::Incomplete { send_continue: false }) };
    if buf.len() < *wanted {
        let send_continue = head.expects_continue() && !scan.continue_sent;
        scan.continue_sent |= send_continue;
        return Ok(Scanned::Incomplete { send_continue });
    }
    let Some((head, length, _)) = scan.parsed.take() else { return Ok(Scanned::Incomplete { send_continue: false }) };
    *scan = Scan::default();
    Ok(Scanned::Ready(head, length))
}

impl Scan {
    /// Whether the head has been parsed (what follows is its small body, still arriving).
    pub fn has_head(&self) -> bool {
        self.parsed.is_some()
    }
}

/// A short error answer written by the transport itself (before the application is reached).
pub fn transport_error(code: u16, message: &str) -> Response {
    let body = serde_json::json!({"method": null, "status": 1, "message": message, "data": {}});
    Response::json(code, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::small(1024, 16)
    }

    /// Feeds `request` one byte at a time; the length of the buffer when it was ready.
    fn ready_at(request: &[u8]) -> Option<usize> {
        let mut scan = Scan::default();
        (0..=request.len())
            .find(|&n| matches!(scan_buffered(&request[..n], &mut scan, &limits()), Ok(Scanned::Ready(..))))
    }

    #[test]
    fn a_head_is_ready_at_its_empty_line_however_its_lines_end() {
        for head in [
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\nHost: x\n\n",
            "GET / HTTP/1.1\r\nHost: x\n\n",
            // Found by the http_head fuzz target: LF then CRLF waited for the head's deadline.
            "GET / HTTP/1.1\nHost: x\n\r\n",
            "GET / HTTP/1.0\n\r\n",
            "\r\n\nGET / HTTP/1.1\r\n\n",
        ] {
            assert_eq!(ready_at(head.as_bytes()), Some(head.len()), "{head:?}");
        }
        let with_body = b"POST / HTTP/1.1\nContent-Length: 3\n\r\nabc";
        assert_eq!(ready_at(with_body), Some(with_body.len()), "a small body is waited for");
    }

    #[test]
    fn a_head_that_never_ends_is_refused_at_the_limit() {
        let endless = format!("GET / HTTP/1.1\r\n{}", "X: y\r\n".repeat(200));
        let mut scan = Scan::default();
        let refused = scan_buffered(endless.as_bytes(), &mut scan, &limits());
        assert!(matches!(refused, Err((431, _))), "{refused:?}");
        let malformed = format!("GET / HTTP/1.1\r\nNo colon here\r\n{}", "X: y\r\n".repeat(200));
        let refused = scan_buffered(malformed.as_bytes(), &mut Scan::default(), &limits());
        assert!(matches!(refused, Err((400, _))), "malformed within the limit: {refused:?}");
        let blank = b"\r\n\r\n\r\n\r\n\r\n";
        assert!(matches!(scan_buffered(blank, &mut Scan::default(), &limits()), Err((400, _))));
    }
}
