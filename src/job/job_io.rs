//! A job's process watched for its worker by one thread (one of `io_threads`): its stdout and
//! stderr cut into lines ([`Cutter`]), and its end, seen on a pidfd and reaped with its
//! rusage, all as [`Event`]s.
//!
//! Two pipe readers and a reaper per job were three threads to hand work to and three to
//! wake when the job ended, each waking its worker in turn: in the job throughput benchmark
//! (3,000 `true` jobs) that was 11 context switches a job on those threads alone. One thread
//! polling both pipes and the process is woken once when a short job ends. Where no pidfd can
//! be had (Linux before 5.3), it looks at the process every [`WITHOUT_PIDFD_MS`] instead.
//!
//! The worker watches first, for [`INLINE_FOR`], on its own thread: a job that ends within it
//! with little output (most trivial jobs) needs no second thread at all, which in the job
//! throughput benchmark was a hand-over and two wake-ups a job. Only then does an io thread
//! take over what is left. It must not know what a job is, and never signals a process.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::child::{self, Event};
use super::pipes::{Budget, Cutter, Stream, EVENT_BUFFER};

/// Bytes read from a pipe at once: a pipe's default capacity.
const READ_BUFFER: usize = 64 * 1024;

/// How often the process is looked at without a pidfd to wake the thread when it ends.
const WITHOUT_PIDFD_MS: i32 = 50;

/// How long the worker watches its job's process itself before an io thread takes over, and
/// how long it sleeps at a time in between (a kill or pause asked for meanwhile waits at most
/// that long: the worker then hands over at once and acts on it).
const INLINE_FOR: Duration = Duration::from_millis(5);
const INLINE_SLICE: Duration = Duration::from_millis(2);

/// Output the worker takes in while it watches, and its reads: far inside the job's budget
/// and its event channel, so that nothing it sends can wait for room only it would make.
const INLINE_OUTPUT_MAX: usize = 64 * 1024;
const INLINE_READ: usize = 16 * 1024;

/// How often a thread whose job has ended, with its pipes still held open by something the job
/// left, looks whether its worker still listens.
const RECHECK_MS: i32 = 1000;

/// Watches `child` until it has ended and its pipes are closed: on the caller's own thread
/// for [`INLINE_FOR`] (or until `wanted_elsewhere` says the caller has something else to do),
/// then on a thread of its own. Gives the pid back if the job outlasted the caller's watch and
/// no thread could be had (the child's pipes are then closed, and the caller must reap it).
pub(super) fn spawn(
    mut child: Child,
    budget: Arc<Budget>,
    events: Sender<Event>,
    wanted_elsewhere: impl Fn() -> bool,
) -> Result<Watcher, libc::pid_t> {
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.take().map(|out| (Stream::Stdout, OwnedFd::from(out)));
    let stderr = child.stderr.take().map(|err| (Stream::Stderr, OwnedFd::from(err)));
    // Reaped with wait4 (std's wait does not report rusage); dropping the handle neither kills
    // nor waits.
    drop(child);
    let mut pipes: Vec<Pipe> = [stdout, stderr].into_iter().flatten().map(|(which, fd)| Pipe::new(which, fd)).collect();
    let pidfd = pidfd_open(pid);
    if watch_inline(pid, pidfd.as_ref(), &mut pipes, (&budget, &events), wanted_elsewhere) {
        return Ok(Watcher::Caller);
    }
    super::io_threads::run(move || watch(pid, pidfd, pipes, &budget, &events)).map(|()| Watcher::Thread).map_err(|e| {
        log::error!("cannot start an io thread for pid {pid}: {e}");
        pid
    })
}

/// Who watched a job to its end: its worker, or an io thread that took over.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Watcher {
    Caller,
    Thread,
}

/// The worker's own watch, for up to [`INLINE_FOR`]: `true` once the process has ended and
/// been reaped and both pipes are closed. It reads little at a time and reaps only when
/// nothing else is left, so an io thread can take over from wherever it stops.
fn watch_inline(
    pid: libc::pid_t,
    pidfd: Option<&OwnedFd>,
    pipes: &mut Vec<Pipe>,
    (budget, events): (&Arc<Budget>, &Sender<Event>),
    wanted_elsewhere: impl Fn() -> bool,
) -> bool {
    let deadline = Instant::now() + INLINE_FOR;
    let mut buffer = [0u8; INLINE_READ];
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
    loop {
        if pipes.is_empty() && has_exited(pid) {
            if let Some(info) = child::reap(pid, false) {
                let _ = events.send(Event::Exited(info));
                return true;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now()).min(INLINE_SLICE);
        if left.is_zero() || budget.held() > INLINE_OUTPUT_MAX || events.len() > EVENT_BUFFER / 2 || wanted_elsewhere()
        {
            return false;
        }
        // Without a pidfd the process is looked at when the time is up, or a pipe moves.
        poll_set(&mut fds, pipes, pidfd.filter(|_| pipes.is_empty()));
        let timeout = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        // SAFETY: `fds` is a valid array of its length for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if ready < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        if !read_ready(pipes, &fds, (&mut buffer, 1), budget, events) {
            return false;
        }
    }
}

/// Whether the process has ended, asked without reaping it.
fn has_exited(pid: libc::pid_t) -> bool {
    // SAFETY: an all-zero siginfo is a valid value for waitid to overwrite.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call; WNOWAIT leaves the child to be reaped.
    let rc = unsafe {
        libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
    };
    // SAFETY: si_pid is set by waitid when it reports a child (and left zero otherwise).
    rc == 0 && unsafe { info.si_pid() } == pid
}

/// One of the job's output pipes, read without blocking.
struct Pipe {
    fd: OwnedFd,
    cutter: Cutter,
}

impl Pipe {
    fn new(which: Stream, fd: OwnedFd) -> Pipe {
        // SAFETY: fcntl on a descriptor we own; a failure leaves it blocking, which only
        // makes a read wait for data that poll said is there.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        Pipe { fd, cutter: Cutter::new(which) }
    }
}

/// What a pipe said when read until it had nothing more.
enum Drained {
    /// Nothing more now; it is still open.
    Open,
    /// It reached its end.
    Ended,
    /// The worker no longer listens.
    Unheard,
}

/// Reads what `pipe` holds (at most `reads` reads of `buffer`'s size), into `buffer` and on to
/// the worker.
fn drain(pipe: &mut Pipe, buffer: &mut [u8], budget: &Arc<Budget>, events: &Sender<Event>, reads: usize) -> Drained {
    for _ in 0..reads {
        // SAFETY: the buffer is valid for writes of its length; the descriptor is ours.
        let n = unsafe { libc::read(pipe.fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
        match n {
            0 => return Drained::Ended,
            n if n > 0 => {
                let n = n as usize;
                if !pipe.cutter.feed(&buffer[..n], budget, events) {
                    return Drained::Unheard;
                }
                if n < buffer.len() {
                    // A short read emptied the pipe: another would only say so.
                    return Drained::Open;
                }
            }
            _ => match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => return Drained::Open,
                _ => return Drained::Ended,
            },
        }
    }
    Drained::Open
}

fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a descriptor the kernel just gave us, owned by nothing else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn watch(pid: libc::pid_t, pidfd: Option<OwnedFd>, pipes: Vec<Pipe>, budget: &Arc<Budget>, events: &Sender<Event>) {
    thread_local! {
        /// The thread's read buffer, kept for its next job: made and zeroed for every job, it
        /// was 64 KiB of memory set for a job that printed nothing.
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|buffer| {
        buffer.resize(READ_BUFFER, 0);
        watch_with(pid, pidfd, pipes, budget, events, buffer);
    });
}

fn watch_with(
    pid: libc::pid_t,
    pidfd: Option<OwnedFd>,
    mut pipes: Vec<Pipe>,
    budget: &Arc<Budget>,
    events: &Sender<Event>,
    buffer: &mut [u8],
) {
    let mut ended = false;
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
    let mut process_ready = pidfd.is_none();
    loop {
        if !ended && process_ready {
            if let Some(info) = child::reap(pid, false) {
                ended = true;
                if events.send(Event::Exited(info)).is_err() {
                    pipes.clear();
                }
            }
        }
        if ended && !pipes.is_empty() && budget.is_closed() {
            // The worker has given up on output something the job left still holds open.
            pipes.clear();
        }
        if ended && pipes.is_empty() {
            return;
        }
        let watching = pidfd.is_some() && !ended;
        poll_set(&mut fds, &pipes, pidfd.as_ref().filter(|_| watching));
        let timeout = match (ended, watching) {
            (true, _) => RECHECK_MS,
            (false, true) => -1,
            (false, false) => WITHOUT_PIDFD_MS,
        };
        // SAFETY: `fds` is a valid array of its length for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EINTR) {
                log::error!("job process {pid}: cannot poll its pipes: {error}");
                std::thread::sleep(std::time::Duration::from_millis(WITHOUT_PIDFD_MS as u64));
            }
            continue;
        }
        process_ready = !watching || fds.last().is_some_and(|fd| fd.revents != 0);
        if !read_ready(&mut pipes, &fds, (buffer, usize::MAX), budget, events) {
            pipes.clear();
        }
    }
}

/// `fds` made the poll set of `pipes`, then of `process` if given.
fn poll_set(fds: &mut Vec<libc::pollfd>, pipes: &[Pipe], process: Option<&OwnedFd>) {
    fds.clear();
    let watched = pipes.iter().map(|pipe| pipe.fd.as_raw_fd()).chain(process.map(AsRawFd::as_raw_fd));
    fds.extend(watched.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }));
}

/// Reads the pipes `polled` (their poll set) says are ready, at most `reads` reads of the
/// buffer each, and lets go of those that ended; `false` once the worker no longer listens.
fn read_ready(
    pipes: &mut Vec<Pipe>,
    polled: &[libc::pollfd],
    (buffer, reads): (&mut [u8], usize),
    budget: &Arc<Budget>,
    events: &Sender<Event>,
) -> bool {
    let mut index = 0;
    let mut polled = polled.iter();
    while index < pipes.len() {
        if polled.next().is_none_or(|fd| fd.revents == 0) {
            index += 1;
            continue;
        }
        match drain(&mut pipes[index], buffer, budget, events, reads) {
            Drained::Open => index += 1,
            Drained::Ended => pipes.remove(index).cutter.finish(budget, events),
            Drained::Unheard => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;
