//! Ctrl-C while `run` follows a job: the job is killed, the user is told, and the exit code is
//! 2. SIGINT is blocked in every thread and taken by one thread in `sigwait`, so the kill runs
//! as ordinary code (an HTTP request), not inside a signal handler, and whatever the main
//! thread is blocked on (a streamed log, a poll) needs no interrupting.

use super::error::CliError;

fn sigint_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set it is given; sigaddset adds a valid signal.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Holds SIGINT pending from now on (call before any thread is started, and before the job is
/// submitted, so that a Ctrl-C during the submit still reaches [`on_sigint`]).
pub fn block_sigint() -> Result<(), CliError> {
    let set = sigint_set();
    // SAFETY: changes this thread's mask; threads started later inherit it.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(CliError::Usage(format!("cannot block SIGINT: {}", std::io::Error::from_raw_os_error(rc))));
    }
    Ok(())
}

/// Lets SIGINT end the process again (the job has ended: there is nothing left to kill).
pub fn unblock_sigint() {
    let set = sigint_set();
    // SAFETY: changes this thread's mask only; a SIGINT now ends the process as by default.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
}

/// Runs `action` on its own thread when SIGINT arrives (it is expected to end the process).
pub fn on_sigint(action: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new().name("portico-sigint".into()).spawn(move || {
        let set = sigint_set();
        let mut signal: libc::c_int = 0;
        // SAFETY: waits for a signal of a set that every thread blocks.
        if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
            // The kill is an HTTP request to a server that may not answer (stopped, cut off):
            // a second Ctrl-C leaves at once rather than after the request's time-out.
            let _ = std::thread::Builder::new().name("portico-sigint-again".into()).spawn(move || {
                let mut again: libc::c_int = 0;
                // SAFETY: as above.
                if unsafe { libc::sigwait(&set, &mut again) } == 0 {
                    eprintln!("portico: interrupted again: leaving without knowing whether the job was killed");
                    std::process::exit(i32::from(super::error::EXIT_SERVER));
                }
            });
            action();
        }
    });
    if let Err(e) = spawned {
        eprintln!("portico: cannot watch for Ctrl-C ({e}); Ctrl-C will end the client but not the job");
        unblock_sigint();
    }
}
