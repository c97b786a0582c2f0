//! The data directory as a whole: created private, held by one server at a time, and laid
//! out in one place ([`Layout`]) that both the code writing files and the endpoints reading
//! them use.
//!
//! Two servers on one directory would hand out the same taskIDs, and the second one's start-up
//! recovery would mark the first one's running jobs `Failed` and kill their processes. So a
//! server takes an exclusive `flock` on `portico.lock` before it touches anything else there,
//! holds it for its whole life, and writes its pid and address into the file for whoever is
//! refused. The kernel releases the lock when the process ends, however it ends, so a restart
//! after a crash finds the directory free.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The lock file in the data directory.
pub const LOCK_FILE: &str = "portico.lock";

/// Where each thing lives in the data directory. Per user: `users/<user>/log/<date>/<task>.log`
/// and `users/<user>/result/<date>/<task>/_N.dolphin`; per job: `work/<task>`; per server:
/// `history.db`, `credentials.toml`, `tmp/` and `backups/`. Nothing else spells these names.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

/// The two trees every user has, which the filesystem endpoints serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserTree {
    Log,
    Result,
}

impl UserTree {
    /// The directory's name under `users/<user>/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            UserTree::Log => "log",
            UserTree::Result => "result",
        }
    }
}

/// The files of one job.
#[derive(Clone, Debug)]
pub struct JobPaths {
    pub log: PathBuf,
    /// Holds the job's `_N.dolphin` result sets.
    pub result_dir: PathBuf,
    /// The job's working directory while it runs.
    pub work_dir: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout { root: root.to_path_buf() }
    }

    pub fn history_db(&self) -> PathBuf {
        self.root.join("history.db")
    }

    /// The start journal: which job each worker last started (`job/start_journal.rs`).
    pub fn start_journal(&self) -> PathBuf {
        self.root.join("starts.journal")
    }

    pub fn credentials(&self) -> PathBuf {
        self.root.join("credentials.toml")
    }

    /// The directory holding every user's trees.
    pub fn users(&self) -> PathBuf {
        self.root.join("users")
    }

    /// The server's private scratch directory (XLSX downloads are built there).
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where `history.db` backups go unless the config names another directory.
    pub fn backups(&self) -> PathBuf {
        self.root.join("backups")
    }

    /// The directory holding the running jobs' working directories.
    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    /// A user's own SQLite database for SQL jobs: `users/<user>/sqlite/default.db`.
    pub fn user_database(&self, user: &str) -> PathBuf {
        self.users().join(user).join("sqlite").join("default.db")
    }

    /// Where a job's files go; `date` is its creation day, `YYYY-MM-DD`.
    pub fn job(&self, user: &str, date: &str, task_id: u64) -> JobPaths {
        let user_dir = self.users().join(user);
        JobPaths {
            log: user_dir.join(UserTree::Log.dir_name()).join(date).join(format!("{task_id}.log")),
            result_dir: user_dir.join(UserTree::Result.dir_name()).join(date).join(task_id.to_string()),
            work_dir: self.work().join(task_id.to_string()),
        }
    }
}

/// The data directory, held by this process until it is dropped.
pub struct DataDirLock {
    file: File,
}

impl DataDirLock {
    /// Creates `dir` (mode 0700) if needed, takes the lock, and returns the directory's
    /// absolute path with the lock. Refuses, naming the holder, when another server has it.
    pub fn acquire(dir: &Path) -> io::Result<(PathBuf, DataDirLock)> {
        if !dir.exists() {
            // Job code, logs and results are the users' own: keep a new data directory private.
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create the data directory {}: {e}", dir.display()))
            })?;
        }
        // Absolute from here on: log paths and result locations are handed out as file:// URIs.
        let dir = std::fs::canonicalize(dir)?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io::Error::new(error.kind(), format!("cannot lock {}: {error}", path.display())));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.split_whitespace().collect::<Vec<_>>().join(", ");
            let holder = if holder.is_empty() { "a server that is still starting".to_string() } else { holder };
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "the data directory {} is in use by another portico ({holder}); stop it or use another --data-dir",
                    dir.display()
                ),
            ));
        }
        Ok((dir, DataDirLock { file }))
    }

    /// Records who holds the directory, for a server that is refused it.
    pub fn record_holder(&mut self, address: &str) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        writeln!(self.file, "pid={} address=http://{address}", std::process::id())?;
        self.file.sync_all()
    }
}
