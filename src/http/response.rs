//! What a handler answers: a status, headers and a body already in memory, plus whatever must
//! stay held until the body has left (a permit of a bounded resource).
//!
//! The transport writes the head and then the body straight from this buffer (one vectored
//! write, no copy), on a deadline for the whole answer.

use std::any::Any;

/// One HTTP answer.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Dropped once the body is written or the connection is given up: a permit counting a
    /// large answer lives until its bytes have left our memory.
    pub hold: Option<Box<dyn Any + Send>>,
}

impl Response {
    /// A JSON answer.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json;charset=UTF-8".into())],
            body,
            hold: None,
        }
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response").field("status", &self.status).field("body_bytes", &self.body.len()).finish()
    }
}
