//! A raw HTTP/1.1 exchange for the walk: bytes out exactly as the case gives them (invalid
//! UTF-8 and NUL included, which no ordinary client would send), one answer back.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use serde_json::Value;

use crate::helper::PATIENCE;

/// What the server answered: the HTTP code and the body as JSON (`Err` with the text when it
/// is not JSON).
pub struct Answer {
    pub code: u16,
    pub body: Result<Value, String>,
}

/// Sends `request` on a fresh connection and reads the answer up to the server's close (every
/// walk request says `Connection: close`). A write error is not fatal: a server refusing a
/// large body early may close before the client has sent it all, and its answer still counts.
pub fn exchange(addr: &str, request: &[u8]) -> Result<Answer, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect: {e}"))?;
    stream.set_read_timeout(Some(PATIENCE)).map_err(|e| e.to_string())?;
    let sent = stream.write_all(request);
    let mut bytes = Vec::new();
    let read = stream.read_to_end(&mut bytes);
    let _ = stream.shutdown(Shutdown::Both);
    if bytes.is_empty() {
        return Err(format!("no answer (write: {sent:?}, read: {read:?})"));
    }
    parse(&bytes)
}

/// The code and the decoded body of one HTTP/1.1 answer.
fn parse(bytes: &[u8]) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(bytes);
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(format!("an answer without a complete head: {}", shorten(&text)));
    };
    let head = String::from_utf8_lossy(&bytes[..end]);
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line: {}", shorten(&head)))?;
    let raw = &bytes[end + 4..];
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked"));
    let payload = if chunked { dechunk(raw) } else { raw.to_vec() };
    let body = serde_json::from_slice(&payload).map_err(|_| shorten(&String::from_utf8_lossy(&payload)));
    Ok(Answer { code, body })
}

/// The data of a chunked body (only the downloads answer so; enough to show what came).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..line_end]).trim(), 16).unwrap_or(0);
        let start = line_end + 2;
        if size == 0 || start + size > raw.len() {
            break;
        }
        out.extend_from_slice(&raw[start..start + size]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}

/// At most 300 characters of `text`, for a failure line.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
