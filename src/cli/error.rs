//! What can go wrong in a client subcommand, and the exit code each failure means. Scripts
//! branch on these codes, so they are fixed here and documented in `portico run --help`.

use std::fmt;
use std::process::ExitCode;

/// The job ended in `Failed`.
pub const EXIT_FAILED: u8 = 1;
/// The job ended in `Cancelled` or `Timeout` (a kill, Ctrl-C, a timeout label).
pub const EXIT_CANCELLED: u8 = 2;
/// The server could not be reached, refused the request, or answered something unreadable.
pub const EXIT_SERVER: u8 = 3;
/// The command line, the client config or a local file is wrong; nothing was asked of a server.
pub const EXIT_USAGE: u8 = 4;

/// A failure of a client subcommand; each maps to one exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad options, or something local (a script file, the client config, no terminal).
    Usage(String),
    /// No HTTP answer at all: connection refused, DNS, timeout.
    Unreachable { url: String, reason: String },
    /// The server answered with an error envelope (`status` other than 0).
    Refused { path: String, http: u16, status: i64, message: String },
    /// The server answered, but not in a shape this client understands.
    Protocol { path: String, detail: String },
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable { .. } | CliError::Refused { .. } | CliError::Protocol { .. } => EXIT_SERVER,
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(text) => write!(f, "{text}"),
            CliError::Unreachable { url, reason } => write!(f, "cannot reach the server at {url} ({reason})"),
            CliError::Refused { path, http, status, message } => {
                write!(f, "the server refused {path} (HTTP {http}, status {status}): {message}")
            }
            CliError::Protocol { path, detail } => write!(f, "unexpected answer to {path}: {detail}"),
        }
    }
}

/// How a job ended, as the exit code of `run` and `wait` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    Succeed,
    Failed,
    Cancelled,
    Timeout,
}

impl JobEnd {
    /// The terminal state named by a status string; `None` while the job has not ended.
    pub fn from_state(state: &str) -> Option<JobEnd> {
        match state {
            "Succeed" => Some(JobEnd::Succeed),
            "Failed" => Some(JobEnd::Failed),
            "Cancelled" => Some(JobEnd::Cancelled),
            "Timeout" => Some(JobEnd::Timeout),
            _ => None,
        }
    }

    pub fn exit_code(self) -> ExitCode {
        match self {
            JobEnd::Succeed => ExitCode::SUCCESS,
            JobEnd::Failed => ExitCode::from(EXIT_FAILED),
            JobEnd::Cancelled | JobEnd::Timeout => ExitCode::from(EXIT_CANCELLED),
        }
    }
}
