//! Accepting connections: admission against the connection limits (evicting the
//! longest-waiting when one is reached), and surviving a process out of file descriptors.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::{Entry, Poller, State};
use crate::http::admission::Full;
use crate::http::conn::Conn;
use crate::http::incoming::{transport_error, Scan};
use crate::http::outgoing::Outgoing;
use crate::http::wire::After;

impl Poller {
    /// Takes every connection waiting in the backlog (the listener is edge-triggered, so all of
    /// them, until none is left), admitting each within the limits.
    pub(super) fn accept(&mut self) -> io::Result<()> {
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    log::warn!("out of file descriptors: refusing new connections until some close ({e})");
                    drop(self.reserve.take());
                    if let Ok((stream, _)) = self.listener.accept() {
                        refuse(&into_std(stream), "The server is out of file descriptors; retry shortly");
                    }
                    self.reserve = File::open("/dev/null").ok();
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::ENOBUFS | libc::ENOMEM)
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            let stream = into_std(stream);
            let address = peer.ip().to_canonical();
            if !self.make_room(address) {
                refuse(&stream, "Too many open connections; retry shortly");
                continue;
            }
            let _ = stream.set_nodelay(true);
            let token = self.next_token;
            self.next_token += 1;
            let fd = stream.as_raw_fd();
            if self
                .poll
                .registry()
                .register(&mut SourceFd(&fd), Token(token), Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            self.admission.opened(address);
            let now = Instant::now();
            let conn = Conn { stream, peer, token, buf: Vec::new() };
            let entry = Entry {
                conn: Some(conn),
                address,
                state: State::Idle,
                since: now,
                deadline: now + self.limits.idle_timeout,
                scan: Scan::default(),
            };
            self.entries.insert(token, entry);
            self.mark_evictable(token);
        }
    }

    /// Makes room for one more connection from `address`, closing the longest-waiting
    /// connection of that address, or of anyone, when a limit is reached.
    fn make_room(&mut self, address: IpAddr) -> bool {
        loop {
            match self.admission.victim_for(address) {
                Ok(None) => return true,
                Ok(Some(victim)) => self.close(victim),
                Err(Full) => return false,
            }
        }
    }
}

fn into_std(stream: mio::net::TcpStream) -> TcpStream {
    // SAFETY: the descriptor is moved out of the mio stream and owned by the std one alone.
    unsafe { TcpStream::from_raw_fd(stream.into_raw_fd()) }
}

/// Answers 503 and closes, without waiting for the client.
fn refuse(stream: &TcpStream, message: &str) {
    let mut out = Outgoing::new(transport_error(503, message), After::Close, false, true, Duration::from_millis(200));
    let _ = out.write_some(stream, 0);
    let _ = stream.shutdown(Shutdown::Write);
}
