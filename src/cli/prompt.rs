//! Asking for a password on the terminal without echoing it (termios, as `sudo` and `ssh` do).
//! Ctrl-C at the prompt must not leave the terminal without echo, so a SIGINT handler restores
//! it before the process ends.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

use super::error::CliError;

/// The terminal and its settings before echo was turned off, for the SIGINT handler.
static SAVED: OnceLock<(libc::c_int, libc::termios)> = OnceLock::new();

/// Exit code when Ctrl-C ends the password prompt (before any job exists): 128 + SIGINT.
const INTERRUPTED: libc::c_int = 130;

/// Reads one line from the controlling terminal with echo off.
pub fn password(prompt: &str) -> Result<String, CliError> {
    let no_terminal = |e: std::io::Error| {
        CliError::Usage(format!(
            "no token given and no terminal to ask for a password ({e}); set PORTICO_TOKEN or PORTICO_PASSWORD"
        ))
    };
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").map_err(no_terminal)?;
    let fd = tty.as_raw_fd();
    // SAFETY: a zeroed termios is a valid out-parameter; tcgetattr fills it or fails.
    let mut original: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is the open terminal; original is a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut original) } != 0 {
        return Err(no_terminal(std::io::Error::last_os_error()));
    }
    let mut quiet = original;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    if SAVED.set((fd, original)).is_ok() {
        // SAFETY: the handler only calls async-signal-safe functions (tcsetattr, write, _exit).
        unsafe { libc::signal(libc::SIGINT, restore_and_exit as *const () as libc::sighandler_t) };
    }
    let mut writer = &tty;
    let _ = writer.write_all(prompt.as_bytes());
    let _ = writer.flush();
    // SAFETY: as for tcgetattr; quiet is the original with echo off.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restores what tcgetattr read from this terminal.
    unsafe {
        libc::tcsetattr(fd, libc::TCSANOW, &original);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
    read.map_err(no_terminal)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

extern "C" fn restore_and_exit(_: libc::c_int) {
    if let Some((fd, original)) = SAVED.get() {
        // SAFETY: tcsetattr, write and _exit are async-signal-safe; the termios is immutable.
        unsafe {
            libc::tcsetattr(*fd, libc::TCSANOW, original);
            libc::write(*fd, b"\n".as_ptr().cast(), 1);
        }
    }
    // SAFETY: ends the process without running anything that is not async-signal-safe.
    unsafe { libc::_exit(INTERRUPTED) };
}
