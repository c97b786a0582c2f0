//! The config file's `[limits]` section: what one job may take of the machine (the size of
//! each result set, its processes and its memory) and how the process and memory limits are
//! enforced (cgroups, and where under them).

use serde::Deserialize;

use super::ConfigError;

/// What one job may take. The result-set cap is always on; the process and memory limits are
/// opt-in, because a Spark driver (a JVM) reserves far more address space than it uses and
/// real jobs' needs differ too much for a default to be safe.
#[derive(Clone, Debug)]
pub struct JobLimits {
    /// Bytes one result set may hold; past it the result set is cut and the log and the
    /// listing say so.
    pub max_result_set_bytes: u64,
    /// Processes (and threads) a job may have at once; `None`: no limit.
    pub max_processes: Option<u64>,
    /// Memory a job's processes may use together; `None`: no limit.
    pub max_memory_bytes: Option<u64>,
    /// Whether the limits are enforced with cgroups where the machine has them (otherwise, or
    /// when false, with `setrlimit` and the worker's once-a-second check).
    pub use_cgroups: bool,
    /// The cgroup under which jobs' cgroups are made (as `/proc/self/cgroup` spells paths);
    /// `None`: the server's own.
    pub cgroup_parent: Option<String>,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits {
            max_result_set_bytes: 1 << 30,
            max_processes: None,
            max_memory_bytes: None,
            use_cgroups: true,
            cgroup_parent: None,
        }
    }
}

impl JobLimits {
    /// Whether a job is limited in processes or memory at all.
    pub fn limits_processes_or_memory(&self) -> bool {
        self.max_processes.is_some() || self.max_memory_bytes.is_some()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    max_result_set_bytes: Option<u64>,
    max_job_processes: Option<u64>,
    max_job_memory_bytes: Option<u64>,
    use_cgroups: Option<bool>,
    cgroup_parent: Option<String>,
}

impl JobLimits {
    /// Applies the `[limits]` section; `file_error` names the file in errors.
    pub(super) fn apply(
        &mut self,
        section: LimitsSection,
        file_error: &dyn Fn(String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let at_least = |key: &str, value: Option<u64>, min: u64| match value {
            Some(n) if n < min => Err(file_error(format!("limits.{key}: {n} is below the least useful value, {min}"))),
            other => Ok(other),
        };
        // A result set must hold its header and a metadata row.
        if let Some(n) = at_least("max_result_set_bytes", section.max_result_set_bytes, 4096)? {
            self.max_result_set_bytes = n;
        }
        // A job is at least its shell and one command.
        if let Some(n) = at_least("max_job_processes", section.max_job_processes, 2)? {
            self.max_processes = Some(n);
        }
        // Below a few MiB not even the shell starts.
        if let Some(n) = at_least("max_job_memory_bytes", section.max_job_memory_bytes, 4 << 20)? {
            self.max_memory_bytes = Some(n);
        }
        if let Some(on) = section.use_cgroups {
            self.use_cgroups = on;
        }
        if let Some(parent) = section.cgroup_parent {
            let plain = parent.starts_with('/')
                && parent.split('/').skip(1).all(|part| !part.is_empty() && part != "." && part != "..");
            if !plain && parent != "/" {
                return Err(file_error(format!(
                    "limits.cgroup_parent: {parent:?} must be an absolute cgroup path like \"/portico\", without . or .."
                )));
            }
            self.cgroup_parent = Some(parent);
        }
        Ok(())
    }
}
