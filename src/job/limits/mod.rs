//! A job's process and memory limits (`[limits] max_job_processes`, `max_job_memory_bytes`):
//! how they are enforced on this machine, decided once at start-up, and each job's
//! [`Confinement`]: made before its process starts, checked while it runs, released at its end.
//!
//! Where the machine has the controller (cgroup v2, or v1's `memory` and `pids` hierarchies),
//! each job gets a cgroup per controller and the kernel enforces the limit for the whole job:
//! a fork past `pids.max` fails, memory past the limit is reclaimed and then OOM-killed. The
//! worker reads the kernel's counters (`pids.events`, `memory.events` / `memory.oom_control`)
//! once a second and at the end, and a job that hit either ends `Failed` saying which.
//!
//! **How the process gets into its cgroups.** The child joins them itself between fork and
//! exec (`pre_exec` writing `0`, "this process", to each `cgroup.procs`), so nothing the job
//! runs is ever outside them. Writing the pid from the server after the spawn would leave a
//! window in which the job's first forks and allocations land in the server's cgroup, and a
//! stop/continue handshake needs a helper process; `pre_exec` needs neither. It runs in the
//! forked child of a multithreaded server, so it only calls `open`, `write`, `close` and
//! `setrlimit` (async-signal-safe system calls) on paths made into C strings before the fork,
//! and allocates nothing. The cost is that limited jobs start with fork + exec instead of
//! `posix_spawn`; jobs without limits are started as before.
//!
//! **Without cgroups** (none mounted, not writable, or `use_cgroups = false`) memory falls
//! back to `RLIMIT_AS` per process (address space, not resident memory), and both limits are
//! checked by the worker's once-a-second sample of the job's processes: weaker, and said so in
//! the README. `RLIMIT_NPROC` is not used: it counts every process of the user, the server's
//! threads included, and does not bind root. It must not know HTTP, the queue or the history.

mod cgroup;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::control;
use super::view::Resources;
use crate::config::JobLimits;
use cgroup::{Controller, Place};

/// How this server enforces its jobs' limits; set once by [`start`].
static LIMITER: OnceLock<Limiter> = OnceLock::new();

struct Limiter {
    max_processes: Option<u64>,
    max_memory: Option<u64>,
    /// The name every job cgroup of this server starts with.
    prefix: String,
    /// Where the cgroups of each limited controller go; `None`: the fallback.
    memory: Option<Place>,
    pids: Option<Place>,
}

/// Decides how the configured limits are enforced (and says so in the server log), and removes
/// the job cgroups a previous run of this server left behind. `instance` is unique to the data
/// directory. Called once, before any job starts.
pub fn start(limits: &JobLimits, instance: &str) {
    let find = |controller: Controller, wanted: bool| -> Option<Place> {
        if !wanted {
            return None;
        }
        if !limits.use_cgroups {
            log::info!("job limits: cgroups are off (limits.use_cgroups = false)");
            return None;
        }
        match cgroup::place(controller, limits.cgroup_parent.as_deref()) {
            Ok(place) => {
                let version = if place.v2 { "v2" } else { "v1" };
                log::info!("job limits: {} by cgroup {version} under {}", controller.name(), place.dir.display());
                Some(place)
            }
            Err(why) => {
                log::warn!("job limits: no {} cgroup for jobs ({why}); using the fallback", controller.name());
                None
            }
        }
    };
    let limiter = Limiter {
        max_processes: limits.max_processes,
        max_memory: limits.max_memory_bytes,
        prefix: cgroup::job_prefix(instance),
        memory: find(Controller::Memory, limits.max_memory_bytes.is_some()),
        pids: find(Controller::Pids, limits.max_processes.is_some()),
    };
    for place in [&limiter.memory, &limiter.pids].into_iter().flatten() {
        for dir in cgroup::leftovers(place, &limiter.prefix) {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let stuck = empty_and_remove(&dir, &name);
            if stuck.is_empty() {
                log::warn!("job limits: removed {}, left by an earlier run", dir.display());
            } else {
                log::error!("job limits: cannot remove {} (processes {stuck:?} would not die)", dir.display());
            }
        }
    }
    if LIMITER.set(limiter).is_err() {
        log::error!("job limits were set up twice; keeping the first");
    }
}

/// One job's cgroup for one controller.
struct JobCgroup {
    controller: Controller,
    dir: PathBuf,
    v2: bool,
    /// `<dir>/cgroup.procs`, ready for the child to write to after the fork.
    procs: CString,
}

/// A job held to its limits: its cgroups, and the limits that fall back to rlimits and sampling.
pub struct Confinement {
    /// The cgroups' directory name (the same under every controller).
    name: String,
    cgroups: Vec<JobCgroup>,
    /// `RLIMIT_AS` for each process, when memory has no cgroup.
    address_space: Option<u64>,
    /// Limits checked against the worker's samples, when their controller has no cgroup.
    sampled_processes: Option<u64>,
    sampled_memory: Option<u64>,
    max_processes: Option<u64>,
    max_memory: Option<u64>,
}

impl Confinement {
    /// Makes job `task_id`'s cgroups with its limits; nothing at all when no limit is set.
    pub fn for_job(task_id: u64) -> io::Result<Confinement> {
        let mut confinement = Confinement {
            name: String::new(),
            cgroups: Vec::new(),
            address_space: None,
            sampled_processes: None,
            sampled_memory: None,
            max_processes: None,
            max_memory: None,
        };
        let Some(limiter) = LIMITER.get() else { return Ok(confinement) };
        confinement.name = format!("{}{task_id}", limiter.prefix);
        confinement.max_processes = limiter.max_processes;
        confinement.max_memory = limiter.max_memory;
        let wanted = [
            (Controller::Memory, limiter.max_memory, &limiter.memory),
            (Controller::Pids, limiter.max_processes, &limiter.pids),
        ];
        for (controller, limit, place) in wanted {
            let Some(limit) = limit else { continue };
            let Some(place) = place else {
                match controller {
                    Controller::Memory => {
                        confinement.address_space = Some(limit);
                        confinement.sampled_memory = Some(limit);
                    }
                    Controller::Pids => confinement.sampled_processes = Some(limit),
                }
                continue;
            };
            // v2 has one cgroup for both controllers: its limits are set in the same directory.
            let dir = cgroup::create(place, &confinement.name, controller, limit)?;
            if confinement.cgroups.iter().any(|c| c.dir == dir) {
                confinement.cgroups.push(JobCgroup { controller, dir, v2: place.v2, procs: CString::default() });
                continue;
            }
            let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a cgroup path with a NUL byte"))?;
            confinement.cgroups.push(JobCgroup { controller, dir, v2: place.v2, procs });
        }
        Ok(confinement)
    }

    /// The job's limits and how they hold, for its log; `None` without limits.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        for (limit, what, controller) in [
            (self.max_processes, "processes", Controller::Pids),
            (self.max_memory.map(|b| b / (1 << 20)), "MiB of memory", Controller::Memory),
        ] {
            let Some(limit) = limit else { continue };
            let how = match self.cgroups.iter().find(|c| c.controller == controller) {
                Some(c) => format!("cgroup {}", if c.v2 { "v2" } else { "v1" }),
                None if controller == Controller::Memory => "RLIMIT_AS per process, and checked every second".into(),
                None => "checked every second".into(),
            };
            parts.push(format!("at most {limit} {what} ({how})"));
        }
        (!parts.is_empty()).then(|| format!("The job's limits: {}.", parts.join(", ")))
    }

    /// Has the job's process join its cgroups and take its rlimits between fork and exec.
    pub fn apply(&self, command: &mut Command) {
        let procs: Vec<CString> =
            self.cgroups.iter().filter(|c| !c.procs.is_empty()).map(|c| c.procs.clone()).collect();
        let address_space = self.address_space;
        if procs.is_empty() && address_space.is_none() {
            return;
        }
        // SAFETY: the closure runs in the forked child and only makes async-signal-safe system
        // calls (open, write, close, setrlimit) on memory prepared before the fork.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(command, move || {
                for path in &procs {
                    join_cgroup(path)?;
                }
                if let Some(bytes) = address_space {
                    let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }

    /// Which limit the job went past, in words for its error slot: the kernel's counters for
    /// limits held by cgroups, `sample` for those that fall back.
    pub fn breach(&self, sample: &Resources) -> Option<String> {
        for group in &self.cgroups {
            if cgroup::hits(&group.dir, group.controller, group.v2) == 0 {
                continue;
            }
            return Some(match group.controller {
                Controller::Memory => format!(
                    "the job went over its memory limit of {} (limits.max_job_memory_bytes): the kernel killed \
                     its processes for want of memory",
                    mib(self.max_memory.unwrap_or_default())
                ),
                Controller::Pids => format!(
                    "the job reached its limit of {} processes (limits.max_job_processes): the kernel refused it \
                     more, and the job was ended",
                    self.max_processes.unwrap_or_default()
                ),
            });
        }
        if let Some(limit) = self.sampled_processes.filter(|l| u64::from(sample.processes) > *l) {
            return Some(format!(
                "the job had {} processes, over its limit of {limit} (limits.max_job_processes), and was ended",
                sample.processes
            ));
        }
        if let Some(limit) = self.sampled_memory.filter(|l| sample.memory_bytes > *l) {
            return Some(format!(
                "the job's processes held {} of memory, over its limit of {} (limits.max_job_memory_bytes), and \
                 the job was ended",
                mib(sample.memory_bytes),
                mib(limit)
            ));
        }
        None
    }

    /// Kills whatever is left in the job's cgroups (a process that left its session is still
    /// there) and removes them; returns the pids that would not die.
    pub fn release(&mut self) -> Vec<i32> {
        let mut stuck = Vec::new();
        for group in std::mem::take(&mut self.cgroups) {
            stuck.extend(empty_and_remove(&group.dir, &self.name));
        }
        stuck.sort_unstable();
        stuck.dedup();
        stuck
    }
}

impl Drop for Confinement {
    /// A run that ended without [`Confinement::release`] (a panic) removes what it can; a
    /// cgroup still busy is removed at the next start.
    fn drop(&mut self) {
        for group in &self.cgroups {
            let _ = std::fs::remove_dir(&group.dir);
        }
    }
}

/// Kills the processes in the job cgroup `dir` (named `name`) and removes it, trying for up to
/// two seconds; the pids that would not die.
fn empty_and_remove(dir: &std::path::Path, name: &str) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let members = cgroup::members(dir);
        for pid in &members {
            control::kill_if(*pid, || cgroup::is_member(*pid, name));
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Vec::new(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(_) if Instant::now() >= deadline => return members,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is `procs`. Runs between
/// fork and exec: system calls only.
fn join_cgroup(procs: &CString) -> io::Result<()> {
    // SAFETY: a NUL-terminated path; the descriptor is closed before returning.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let error = io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(error);
        }
    }
    Ok(())
}

/// Bytes as MiB for people.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}
