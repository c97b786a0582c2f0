//! What a followed job looks like on the terminal: its log lines, and below them one line
//! redrawn in place with the job's own progress. A hand-drawn bar (one `\r` line) rather than
//! a progress-bar crate: it is twenty lines and needs nothing the terminal does not have.
//! Without a terminal on stderr there is no bar, only the plain lines.

use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Cells in the bar.
const WIDTH: usize = 24;

/// Where a follower's output goes; shared by the thread reading the log and the one drawing
/// progress, so a line and the bar are never interleaved.
pub struct Screen {
    state: Mutex<State>,
    /// Draw the bar (stderr is a terminal and the command shows progress).
    bar: bool,
    /// Show log lines at all.
    show_log: bool,
    /// Log lines to stdout (`portico log`) instead of stderr (`run`, `wait`).
    log_to_stdout: bool,
    /// Tests: log lines kept here instead of printed.
    #[cfg(test)]
    recorded: Option<Mutex<Vec<String>>>,
}

struct State {
    /// The bar as last drawn, when it is on the screen.
    drawn: Option<String>,
    started: Instant,
}

impl Screen {
    /// A screen for `run`/`wait` (log on stderr, a bar when stderr is a terminal) or for `log`.
    pub fn new(show_log: bool, log_to_stdout: bool, progress: bool) -> Screen {
        // SAFETY: isatty only inspects the descriptor.
        let terminal = unsafe { libc::isatty(libc::STDERR_FILENO) } == 1;
        Screen {
            state: Mutex::new(State { drawn: None, started: Instant::now() }),
            bar: progress && terminal,
            show_log,
            log_to_stdout,
            #[cfg(test)]
            recorded: None,
        }
    }

    /// A screen that keeps the log lines it is given, for tests.
    #[cfg(test)]
    pub fn recording() -> Screen {
        Screen { recorded: Some(Mutex::new(Vec::new())), ..Screen::new(true, false, false) }
    }

    /// The lines a [`Screen::recording`] was given.
    #[cfg(test)]
    pub fn recorded(&self) -> Vec<String> {
        self.recorded.as_ref().map(|r| r.lock().unwrap_or_else(|p| p.into_inner()).clone()).unwrap_or_default()
    }

    /// Whether progress is drawn, so that followers fetch it only then.
    pub fn wants_progress(&self) -> bool {
        self.bar
    }

    /// The one place the lock is taken: a poisoned lock still guards a plain value.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One line of the job's log.
    pub fn line(&self, line: &str) {
        if !self.show_log {
            return;
        }
        #[cfg(test)]
        if let Some(recorded) = &self.recorded {
            recorded.lock().unwrap_or_else(|p| p.into_inner()).push(line.to_string());
            return;
        }
        let state = self.lock();
        let mut err = std::io::stderr().lock();
        if state.drawn.is_some() {
            let _ = err.write_all(b"\r\x1b[2K");
        }
        if self.log_to_stdout {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        } else {
            let _ = writeln!(err, "{line}");
        }
        if let Some(bar) = &state.drawn {
            let _ = err.write_all(bar.as_bytes());
        }
        let _ = err.flush();
    }

    /// Redraws the bar: the job's state and its progress (0 to 1).
    pub fn progress(&self, state_name: &str, fraction: f64, note: &str) {
        if !self.bar {
            return;
        }
        let mut state = self.lock();
        let bar = draw(state_name, fraction, note, state.started.elapsed());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{bar}");
        let _ = err.flush();
        state.drawn = Some(bar);
    }

    /// Removes the bar, before results or a final message are printed.
    pub fn clear(&self) {
        let mut state = self.lock();
        if state.drawn.take().is_some() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// `[##########--------------]  42%  Running  1:05`
fn draw(state: &str, fraction: f64, note: &str, elapsed: Duration) -> String {
    let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
    let filled = ((fraction * WIDTH as f64).round() as usize).min(WIDTH);
    let secs = elapsed.as_secs();
    let clock = if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    };
    let mut text = format!(
        "[{}{}] {:>3}%  {state}  {clock}",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        (fraction * 100.0) as u32
    );
    if !note.is_empty() {
        text.push_str("  ");
        text.push_str(note);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_the_fraction_state_and_time() {
        assert_eq!(
            draw("Running", 0.5, "", Duration::from_secs(65)),
            format!("[{}{}]  50%  Running  1:05", "#".repeat(12), "-".repeat(12))
        );
        assert_eq!(
            draw("Inited", f64::NAN, "queue position 3", Duration::from_secs(3725)),
            format!("[{}]   0%  Inited  1:02:05  queue position 3", "-".repeat(24))
        );
        assert!(draw("Succeed", 7.0, "", Duration::ZERO).starts_with(&format!("[{}] 100%", "#".repeat(24))));
    }
}
