//! SIGTERM and SIGINT as ordinary events.
//!
//! The handler only writes the signal number to a pipe (the one thing that is safe to do in a
//! signal handler); a thread reads the pipe and calls the action, which may do anything.
//! Handlers are reset to the default in every job at `exec`, so jobs are unaffected.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

static PIPE_WRITE_END: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = PIPE_WRITE_END.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is a valid local byte.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// Calls `action` with the signal number each time the process receives SIGTERM or SIGINT.
pub fn on_termination(action: impl Fn(i32) + Send + 'static) -> io::Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    PIPE_WRITE_END.store(write_end, Ordering::Relaxed);
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the sigaction struct is fully initialised (zeroed, then the handler and an
        // empty mask set); the handler only calls async-signal-safe functions.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    std::thread::Builder::new().name("portico-signals".into()).spawn(move || loop {
        let mut byte = 0u8;
        // SAFETY: reading one byte into a valid local buffer.
        let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
        if n == 1 {
            action(i32::from(byte));
        } else if n == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    })?;
    Ok(())
}
