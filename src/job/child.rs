//! A job's process and its plumbing: how it is started, how its output becomes line events,
//! and how its end is collected.
//!
//! The worker thread owns the child; its io thread (`job_io.rs`) only turns what the process
//! does into [`Event`]s on a bounded channel. Nothing here signals a process.

use std::io;
use std::process::{Command, Stdio};

use super::limits::Confinement;
use super::pipes::{Lines, Stream};
use super::request::runtime;
use super::store::JobEntry;
use crate::config::Config;
use crate::engine::{EngineError, Launch};
use crate::storage::history::History;

/// What a job's io thread tells its worker.
pub(super) enum Event {
    Lines(Stream, Lines),
    Closed,
    Exited(ExitInfo),
}

/// How a job's main process ended, with what it used.
#[derive(Clone, Copy, Debug)]
pub(super) struct ExitInfo {
    /// The exit code, or 128 + the signal number for a process ended by a signal.
    pub(super) code: i32,
    pub(super) signal: Option<i32>,
    pub(super) cpu_seconds: f64,
    pub(super) max_rss_bytes: u64,
}

impl ExitInfo {
    /// The end of a process that could not be waited for (no longer our child).
    const UNKNOWN: ExitInfo = ExitInfo { code: -1, signal: None, cpu_seconds: 0.0, max_rss_bytes: 0 };
}

/// The value of the `PORTICO_JOB` variable every process of a job inherits: the history's own
/// random id and the taskID, unique across data directories and restarts, so that recovery can
/// recognise the job's processes and nothing else.
pub fn job_marker(history: &History, task_id: u64) -> String {
    format!("{}:{task_id}", history.instance_id())
}

/// The environment variable carrying [`job_marker`].
pub const JOB_MARKER_VAR: &str = "PORTICO_JOB";

/// The environment variable telling a job's own result writers the size cap of a result set.
const RESULT_LIMIT_VAR: &str = "PORTICO_RESULT_MAX_BYTES";

/// The names of the server's own `PORTICO_*` variables, read once (the server never changes
/// its environment): going through the whole environment for them was a copy of every
/// variable for every job.
fn server_settings() -> &'static [std::ffi::OsString] {
    static NAMES: std::sync::OnceLock<Vec<std::ffi::OsString>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        std::env::vars_os()
            .map(|(name, _)| name)
            .filter(|name| name.to_string_lossy().starts_with("PORTICO_"))
            .collect()
    })
}

/// The command that starts the job's process, held to `limits` from its first instruction
/// (its working directory made, its environment set).
pub(super) fn prepare(config: &Config, entry: &JobEntry, marker: &str, limits: &Confinement) -> io::Result<Command> {
    let spec = &entry.spec;
    super::spare_dirs::make(&spec.work_dir)?;
    let launch = Launch {
        task_id: spec.task_id,
        code: &spec.code,
        run_type: &spec.run_type,
        work_dir: &spec.work_dir,
        result_dir: &spec.result_dir,
        user: &spec.execute_user,
        params: &spec.params,
    };
    let mut command: Command = spec.engine.command(&launch, config).map_err(|e| match e {
        EngineError::Io(e) => e,
        refused => io::Error::new(io::ErrorKind::PermissionDenied, refused.to_string()),
    })?;
    // The server's own settings (and any secrets among them) stay out of jobs; what the engine
    // set for the job itself stays.
    let own: Vec<_> = command.get_envs().map(|(name, _)| name.to_os_string()).collect();
    for name in server_settings() {
        if !own.contains(name) {
            command.env_remove(name);
        }
    }
    // The job's own runtime parameters, as accepted at submission; the server's variables
    // below are set after them, so none of them can be overridden.
    let runtime = runtime::of(spec.engine, &spec.params)
        .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))?;
    command.envs(runtime.env);
    command
        .current_dir(runtime::prepare_working_dir(&spec.work_dir, runtime.working_dir.as_deref())?)
        .env("LINKIS_TASK_ID", spec.task_id.to_string())
        .env("LINKIS_EXEC_ID", &spec.exec_id)
        .env(JOB_MARKER_VAR, marker)
        // Python's and Spark's show() stop their tables there; anything else is cut to it.
        .env(RESULT_LIMIT_VAR, config.limits.max_result_set_bytes.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if spec.engine.leaves_its_group() {
        // A session of its own (so a process group too, both with the leader's pid):
        // processes that leave the group (PySpark's worker daemon calls setpgid) stay in the
        // session, where the end of the job still finds them.
        // SAFETY: setsid is async-signal-safe and touches nothing of the parent's.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    } else {
        // A process group of its own, without pre_exec: the job is started with posix_spawn
        // rather than a fork of the server (unless it has process or memory limits to join).
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
    }
    limits.apply(&mut command);
    Ok(command)
}

/// The peak resident memory `wait4` reported for a job's process (`max_rss_kib`), if it is the
/// job's own. A job started with posix_spawn runs in the server's memory until its exec, and
/// the exec records the server's peak as the process's: every trivial job reported the
/// server's size (24 MiB for `true`). A figure no larger than the server's own peak can be
/// that, so it is left out (0) and the job's samples say what it used.
fn own_peak(max_rss_kib: libc::c_long) -> u64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut own: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call.
    let server_peak_kib = if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut own) } == 0 { own.ru_maxrss } else { 0 };
    if max_rss_kib <= server_peak_kib {
        return 0;
    }
    (max_rss_kib.max(0) as u64) * 1024
}

/// Waits for the main process to end and reaps it.
pub(super) fn wait_for(pid: libc::pid_t) -> ExitInfo {
    reap(pid, true).unwrap_or(ExitInfo::UNKNOWN)
}

/// Reaps the main process if it has ended (waiting for that if `block`): how it ended and what
/// it used, or `None` while it runs. One that cannot be waited for (not our child any more)
/// counts as ended with code -1.
pub(super) fn reap(pid: libc::pid_t, block: bool) -> Option<ExitInfo> {
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call; pid is our own unreaped child.
        let rc = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if rc == 0 {
            return None;
        }
        if rc == pid {
            let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            let (code, signal) = if libc::WIFEXITED(status) {
                (libc::WEXITSTATUS(status), None)
            } else if libc::WIFSIGNALED(status) {
                let sig = libc::WTERMSIG(status);
                (128 + sig, Some(sig))
            } else {
                continue;
            };
            return Some(ExitInfo {
                code,
                signal,
                cpu_seconds: cpu(usage.ru_utime) + cpu(usage.ru_stime),
                max_rss_bytes: own_peak(usage.ru_maxrss),
            });
        }
        if rc == -1 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Some(ExitInfo::UNKNOWN);
        }
    }
}
