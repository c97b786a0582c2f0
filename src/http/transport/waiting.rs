//! Open-ended answers (a log being followed) while their source has nothing new: asked again
//! on every sweep, five times a second, and watched for a client that hangs up meanwhile.
//!
//! Polling on the sweep rather than being woken by the job's log writer keeps the job domain
//! ignorant of the transport and costs one `pread` per waiting follower per sweep (64
//! followers: 320 reads a second, each a few microseconds); a new line reaches a follower
//! within 200 ms of its flush.

use std::io::{self, Read};

use super::{Poller, State};

impl Poller {
    /// Writes what the waiting streams' sources have now.
    pub(super) fn ask_waiting(&mut self) {
        let waiting: Vec<usize> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(&e.state, State::Writing(out, _) if out.is_waiting()))
            .map(|(token, _)| *token)
            .collect();
        for token in waiting {
            self.write_pending(token);
        }
    }

    /// Reads and throws away what the client of an open-ended answer sends (it closes the
    /// connection when it ends, so nothing sent meanwhile is a request to keep); closes the
    /// connection when the client has hung up, or has sent more than a lingering closer may.
    pub(super) fn discard_input(&mut self, token: usize) {
        let Some(entry) = self.entries.get_mut(&token) else { return };
        let (Some(conn), State::Writing(out, _)) = (&entry.conn, &mut entry.state) else { return };
        loop {
            match (&conn.stream).read(&mut self.scratch) {
                Ok(n) if n > 0 && out.discarded + (n as u64) < self.limits.linger_bytes => {
                    out.discarded += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => return self.close(token),
            }
        }
    }
}
