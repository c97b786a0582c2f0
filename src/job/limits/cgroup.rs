//! Cgroups as files: finding where the `memory` and `pids` controllers are (cgroup v2, or v1's
//! hierarchies as on this project's machines), making a job's cgroup with its limits, reading
//! what the kernel counted against them, and removing it.
//!
//! Jobs' cgroups are made under one base per controller: the configured `cgroup_parent`, or the
//! server's own cgroup (so a job never leaves the accounting of whatever runs the server). Each
//! is named `portico-<history id>-job-<taskID>`: unique to the data directory, so a restart
//! finds its own leftovers and never touches another server's. Nothing here signals a process
//! or knows about jobs beyond their taskID.

use std::io;
use std::path::{Path, PathBuf};

/// The two controllers Portico limits jobs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Pids,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
        }
    }
}

/// Where one controller's job cgroups go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The base directory, e.g. `/sys/fs/cgroup/memory/portico`.
    pub dir: PathBuf,
    /// cgroup v2 (one hierarchy, both controllers) or v1 (one hierarchy per controller).
    pub v2: bool,
}

/// A cgroup mount from `/proc/self/mountinfo`.
#[derive(Debug, PartialEq, Eq)]
struct Mount {
    /// The cgroup path the mount's root is (`/` unless the mount shows a subtree).
    root: String,
    point: PathBuf,
    v2: bool,
    /// v1: the controllers bound to this hierarchy.
    controllers: Vec<String>,
}

/// Parses `/proc/self/mountinfo`'s cgroup and cgroup2 mounts.
fn mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (root, point) = (unescape(left.get(3)?), unescape(left.get(4)?));
            let fstype = *right.first()?;
            let options = right.get(2).copied().unwrap_or("");
            match fstype {
                "cgroup2" => Some(Mount { root, point: point.into(), v2: true, controllers: Vec::new() }),
                "cgroup" => Some(Mount {
                    root,
                    point: point.into(),
                    v2: false,
                    controllers: options.split(',').map(str::to_string).collect(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// mountinfo escapes spaces and a few other bytes as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(digits)) = (bytes[i], octal) {
            out.push(digits.iter().fold(0u8, |n, d| n.wrapping_mul(8).wrapping_add(d - b'0')));
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The server's cgroup path for a v1 controller, or in v2 (`controller` `None`), from
/// `/proc/self/cgroup`.
fn own_path(proc_cgroup: &str, controller: Option<&str>) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            None => id == "0" && controllers.is_empty(),
            Some(name) => controllers.split(',').any(|c| c == name),
        };
        matches.then(|| path.to_string())
    })
}

/// The directory of cgroup `path` in a hierarchy mounted at `mount`.
fn dir_of(mount: &Mount, path: &str) -> Option<PathBuf> {
    let relative = if mount.root == "/" { path } else { path.strip_prefix(mount.root.as_str())? };
    let relative = relative.trim_start_matches('/');
    if relative.split('/').any(|part| part == "..") {
        return None;
    }
    Some(if relative.is_empty() { mount.point.clone() } else { mount.point.join(relative) })
}

/// Where `controller`'s job cgroups go: under `parent` (a cgroup path) or the server's own
/// cgroup; a v1 hierarchy with the controller wins (in a hybrid set-up the v2 one has none),
/// else v2 if the controller can be enabled for the base's children. The reason when neither.
pub fn place(controller: Controller, parent: Option<&str>) -> Result<Place, String> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    let mounts = mounts(&mountinfo);
    let name = controller.name();
    let (mount, own) = match mounts.iter().find(|m| !m.v2 && m.controllers.iter().any(|c| c == name)) {
        Some(v1) => (v1, own_path(&proc_cgroup, Some(name))),
        None => match mounts.iter().find(|m| m.v2) {
            Some(v2) => (v2, own_path(&proc_cgroup, None)),
            None => return Err(format!("no cgroup hierarchy with the {name} controller is mounted")),
        },
    };
    let path = parent.map(str::to_string).or(own).ok_or_else(|| format!("this process is in no {name} cgroup"))?;
    let dir = dir_of(mount, &path)
        .ok_or_else(|| format!("the {name} cgroup {path} is outside the mount at {}", mount.point.display()))?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if mount.v2 {
        enable_v2(&dir, name)?;
    }
    Ok(Place { dir, v2: mount.v2 })
}

/// Lets the children of the v2 cgroup `dir` use `controller`. The kernel refuses while `dir`
/// itself holds processes (v2's "no internal processes" rule), as the server's own cgroup does
/// unless it is a namespace's root: then `cgroup_parent` must name one that holds none.
fn enable_v2(dir: &Path, controller: &str) -> Result<(), String> {
    let subtree = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&subtree).map_err(|e| format!("{}: {e}", subtree.display()))?;
    if enabled.split_whitespace().any(|c| c == controller) {
        return Ok(());
    }
    std::fs::write(&subtree, format!("+{controller}")).map_err(|e| {
        format!(
            "cannot enable the {controller} controller in {} ({e}); set limits.cgroup_parent to a cgroup \
             that holds no processes",
            subtree.display()
        )
    })
}

/// The name of a job's cgroup for server `instance`, and the prefix of all of them.
pub fn job_prefix(instance: &str) -> String {
    format!("portico-{instance}-job-")
}

/// Makes the job cgroup `name` at `place` with `limit` for `controller`.
pub fn create(place: &Place, name: &str, controller: Controller, limit: u64) -> io::Result<PathBuf> {
    let dir = place.dir.join(name);
    match std::fs::create_dir(&dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let set = |file: &str, value: String| std::fs::write(dir.join(file), value);
    let written = match (controller, place.v2) {
        (Controller::Pids, _) => set("pids.max", limit.to_string()),
        (Controller::Memory, true) => set("memory.max", limit.to_string()).map(|()| {
            // Swap would let a job go past its limit slowly instead of ending; the whole job
            // is one unit for the OOM killer. Both are missing on some kernels: best effort.
            let _ = set("memory.swap.max", "0".into());
            let _ = set("memory.oom.group", "1".into());
        }),
        (Controller::Memory, false) => set("memory.limit_in_bytes", limit.to_string()).map(|()| {
            // Memory plus swap: absent where swap accounting is off.
            let _ = set("memory.memsw.limit_in_bytes", limit.to_string());
        }),
    };
    if let Err(e) = written {
        let _ = std::fs::remove_dir(&dir);
        return Err(e);
    }
    Ok(dir)
}

/// What the kernel counted against a job cgroup's limit: processes killed for memory, or
/// forks refused at the process limit.
pub fn hits(dir: &Path, controller: Controller, v2: bool) -> u64 {
    let (file, key) = match (controller, v2) {
        (Controller::Pids, _) => ("pids.events", "max"),
        (Controller::Memory, true) => ("memory.events", "oom_kill"),
        (Controller::Memory, false) => ("memory.oom_control", "oom_kill"),
    };
    std::fs::read_to_string(dir.join(file)).map_or(0, |text| counter(&text, key))
}

/// The value of `key` in a flat-keyed cgroup file (`key value` lines).
fn counter(text: &str, key: &str) -> u64 {
    text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0)
}

/// The processes in a job cgroup.
pub fn members(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Whether process `pid` is in the cgroup whose directory is named `name` (for any controller).
pub fn is_member(pid: i32, name: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .is_ok_and(|text| text.lines().any(|line| line.rsplit('/').next() == Some(name)))
}

/// The job cgroups left under `place` by a previous run of this server (those whose names
/// start with `prefix`).
pub fn leftovers(place: &Place, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(&place.dir) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
35 25 0:30 / /sys/fs/cgroup/memory rw,relatime shared:13 - cgroup cgroup rw,memory
36 25 0:31 / /sys/fs/cgroup/pids rw,relatime shared:14 - cgroup cgroup rw,pids
37 25 0:32 / /sys/fs/cgroup/unified rw,relatime shared:15 - cgroup2 cgroup2 rw
38 25 0:33 / /sys/fs/cgroup/cpu\\040x rw,relatime shared:16 - cgroup cgroup rw,cpu
";

    #[test]
    fn mounts_and_own_paths_are_read_from_proc() {
        let found = mounts(HYBRID);
        assert_eq!(found.len(), 4);
        assert_eq!(found[0].point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(found[0].controllers, ["rw", "memory"]);
        assert!(found[2].v2 && found[2].controllers.is_empty());
        assert_eq!(found[3].point, Path::new("/sys/fs/cgroup/cpu x"), "octal escapes");
        let proc_cgroup = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/48d6\n0::/user.slice\n";
        assert_eq!(own_path(proc_cgroup, Some("memory")).as_deref(), Some("/process_api/48d6"));
        assert_eq!(own_path(proc_cgroup, Some("pids")).as_deref(), Some("/"));
        assert_eq!(own_path(proc_cgroup, None).as_deref(), Some("/user.slice"));
    }

    #[test]
    fn a_cgroup_path_maps_into_its_mount() {
        let mount =
            |root: &str| Mount { root: root.into(), point: "/sys/fs/cgroup".into(), v2: true, controllers: vec![] };
        assert_eq!(dir_of(&mount("/"), "/"), Some(PathBuf::from("/sys/fs/cgroup")));
        assert_eq!(dir_of(&mount("/"), "/portico"), Some(PathBuf::from("/sys/fs/cgroup/portico")));
        assert_eq!(dir_of(&mount("/docker/abc"), "/docker/abc/x"), Some(PathBuf::from("/sys/fs/cgroup/x")));
        assert_eq!(dir_of(&mount("/docker/abc"), "/elsewhere"), None);
        assert_eq!(dir_of(&mount("/"), "/a/../b"), None);
    }

    #[test]
    fn counters_are_read_by_key() {
        assert_eq!(counter("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"), 3);
        assert_eq!(counter("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n", "max"), 12);
        assert_eq!(counter("max 0\n", "max"), 0);
        assert_eq!(counter("", "max"), 0);
    }
}
