//! The limits the transport holds connections to: sizes, deadlines, counts and threads, set
//! from the configuration (`http::transport_limits`). Plain values; no behaviour.

use std::time::Duration;

/// The limits connections are held to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_head_bytes: usize,
    /// A body up to this size is read by the poller before the request is handed over, so that
    /// small bodies never hold a handler thread while they arrive.
    pub prefetch_body_bytes: usize,
    pub idle_timeout: Duration,
    /// How long a head may take, and the base allowance for a body or an answer.
    pub io_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Bytes all partial heads may hold together; past it the longest-waiting are closed.
    pub max_buffered_bytes: usize,
    pub handler_threads: usize,
    /// How long, and how much, a closing connection's unread input is read and thrown away.
    pub linger_time: Duration,
    pub linger_bytes: u64,
}

impl Limits {
    /// Limits small enough that every refusal is reached with a few bytes, for the head
    /// scanner's tests and fuzz target: one connection, one thread, second-long deadlines.
    pub(crate) fn small(max_head_bytes: usize, prefetch_body_bytes: usize) -> Limits {
        Limits {
            max_head_bytes,
            prefetch_body_bytes,
            idle_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(1),
            max_connections: 1,
            max_connections_per_address: 1,
            max_buffered_bytes: 1 << 20,
            handler_threads: 1,
            linger_time: Duration::from_secs(1),
            linger_bytes: 0,
        }
    }
}
