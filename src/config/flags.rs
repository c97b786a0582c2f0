//! The command line: `portico [serve] [--flag value | --flag=value]…`, `--help`, `--version`.

use super::ConfigError;

/// The text of `portico --help`.
pub const HELP: &str = "\
portico: a Linkis-compatible job entrance in one small binary

USAGE:
    portico [serve] [FLAGS]
    portico hash-password        read a password on stdin, print its password_hash
    portico backup [--data-dir DIR] [--config FILE] DEST
                                 copy the job history while the server runs (see --help there)
    portico run|status|log|kill|pause|resume|wait|result|history|completions …
                                 a client of a running server (`portico run --help`,
                                 `portico help`)

FLAGS (each also settable in the config file; flags win over PORTICO_* variables,
which win over the file, which wins over the embedded defaults):
    --bind ADDR          listen address [default: 127.0.0.1:9001; env PORTICO_BIND]
                         port 0 picks a free port; the server then prints
                         `portico listening on http://HOST:PORT` once it accepts connections
    --data-dir DIR       history, logs, results and job working directories
                         [default: ./portico-data, created if missing; env PORTICO_DATA_DIR]
    --workers N          jobs that run at once (the worker pool) [default: 4; env PORTICO_WORKERS]
    --max-running-per-user N
                         jobs one user may run at once, so one user's flood leaves workers
                         for others [default: workers - 1, at least 1;
                         env PORTICO_MAX_RUNNING_PER_USER]
    --kill-grace SECS    time between SIGTERM and SIGKILL when a job is killed
                         [default: 3; env PORTICO_KILL_GRACE]
    --shutdown-grace SECS
                         on SIGTERM or SIGINT, how long running jobs may finish before they
                         are killed; queued jobs stay queued for the next start
                         [default: 30; env PORTICO_SHUTDOWN_GRACE]
    --max-log-followers N
                         clients following job logs live (`log?follow=true`) at once; more
                         are refused with 503 [default: 64; env PORTICO_MAX_LOG_FOLLOWERS]
    --config FILE        TOML config file [env PORTICO_CONFIG; none by default]
    --log-level LEVEL    off, error, warn, info, debug or trace [default: info; env PORTICO_LOG_LEVEL]
    -h, --help           print this help
    -V, --version        print the version
";

/// Flags in the order given; a later flag of the same name wins.
pub(super) struct Flags {
    pub(super) values: Vec<(&'static str, (String, String))>,
}

impl Flags {
    pub(super) fn get(&self, name: &str) -> Option<&(String, String)> {
        self.values.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub(super) fn parse<I, S>(args: I) -> Result<Flags, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        const NAMES: [&str; 9] = [
            "bind",
            "data-dir",
            "workers",
            "max-running-per-user",
            "kill-grace",
            "shutdown-grace",
            "config",
            "log-level",
            "max-log-followers",
        ];
        let mut values = Vec::new();
        let mut args = args.into_iter().map(Into::into).peekable();
        let mut first = true;
        while let Some(arg) = args.next() {
            if first && arg == "serve" {
                first = false;
                continue;
            }
            first = false;
            match arg.as_str() {
                "-h" | "--help" => return Err(ConfigError::Info(HELP.to_string())),
                "-V" | "--version" => {
                    return Err(ConfigError::Info(format!("portico {}\n", env!("CARGO_PKG_VERSION"))))
                }
                _ => {}
            }
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(ConfigError::Usage(format!("unexpected argument {arg:?}")));
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            let Some(&name) = NAMES.iter().find(|n| **n == name) else {
                return Err(ConfigError::Usage(format!("unknown flag --{name}")));
            };
            let value = match inline {
                Some(v) => v,
                None => args.next().ok_or_else(|| ConfigError::Usage(format!("--{name} needs a value")))?,
            };
            values.push((name, (format!("--{name}"), value)));
        }
        Ok(Flags { values })
    }
}
