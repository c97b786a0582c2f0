//! Backups of the job history (`history.db`), taken while the server runs: by an admin through
//! the API, into the configured backup directory under a name the server chooses or checks
//! (never a path a client gives), or by the operator with `portico backup DEST`, a process of
//! its own that opens the history read-only and takes no lock, so it works beside the running
//! server. The copying itself is `storage::history::backup`.
//!
//! Restoring is done with the server stopped: the README says how.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::clock;
use crate::config::{Config, ConfigError};
use crate::data_dir::Layout;
use crate::storage::history::{backup, BackupReport, HistoryError};

/// Why a backup was not made.
#[derive(Debug)]
pub enum BackupError {
    /// The name asked for is not a plain file name.
    BadName(String),
    /// A file of that name is there already; a backup never replaces one.
    Exists(PathBuf),
    /// The backup directory could not be made, or the copy failed.
    Failed(HistoryError),
}

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupError::BadName(reason) => f.write_str(reason),
            BackupError::Exists(path) => {
                write!(f, "{} already exists; a backup never replaces a file: choose another name", path.display())
            }
            BackupError::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// The longest backup name accepted.
const MAX_NAME_CHARS: usize = 100;

/// A name a client may give its backup: a plain file name of letters, digits, `.`, `_` and
/// `-`, not starting with a dot (so never `..`, a path, or a hidden file).
pub fn check_name(name: &str) -> Result<(), BackupError> {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > MAX_NAME_CHARS || !plain || name.starts_with('.') {
        return Err(BackupError::BadName(format!(
            "A backup name is a plain file name: 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-', \
             not starting with '.'; not {}",
            crate::logging::shown(name)
        )));
    }
    Ok(())
}

/// `history-YYYYMMDD-HHMMSS-mmm.db` for a backup taken at `now_ms` (UTC).
pub fn default_name(now_ms: u64) -> String {
    let (year, month, day) = clock::civil_from_days((now_ms / clock::DAY_MS) as i64);
    let in_day = now_ms % clock::DAY_MS;
    let (hour, minute, second) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60);
    format!("history-{year:04}{month:02}{day:02}-{hour:02}{minute:02}{second:02}-{:03}.db", now_ms % 1000)
}

/// Backs the history at `history_db` up into `dir` (created, private, if missing) as `name`
/// (checked) or a name made from the time.
pub fn into_dir(history_db: &Path, dir: &Path, name: Option<&str>) -> Result<BackupReport, BackupError> {
    let name = match name {
        Some(name) => {
            check_name(name)?;
            name.to_string()
        }
        None => default_name(clock::now_millis()),
    };
    if !history_db.is_file() {
        return Err(BackupError::Failed(HistoryError(format!("there is no job history at {}", history_db.display()))));
    }
    if !dir.is_dir() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
            BackupError::Failed(HistoryError(format!("create the backup directory {}: {e}", dir.display())))
        })?;
    }
    let dest = dir.join(name);
    if dest.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(dest));
    }
    backup(history_db, &dest).map_err(BackupError::Failed)
}

/// The text of `portico backup --help`.
const HELP: &str = "\
portico backup: copy the job history (history.db) of a data directory while its server runs

USAGE:
    portico backup [--data-dir DIR] [--config FILE] DEST

DEST is a new file, or an existing directory to write history-YYYYMMDD-HHMMSS-mmm.db into; an
existing file is never replaced. The data directory is found as the server finds it (--data-dir,
PORTICO_DATA_DIR, the config file's data_dir, ./portico-data). The history is opened read-only,
without the server's lock, and copied with SQLite's online backup; the server goes on meanwhile.
";

/// `portico backup [flags] DEST`: the exit code is 0 once the backup is whole on disk, 1 if it
/// failed, 2 for a usage error.
pub fn command(args: impl Iterator<Item = String>) -> ExitCode {
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        if arg.starts_with("--") {
            let takes_value = !arg.contains('=');
            flags.push(arg);
            if takes_value {
                flags.extend(args.next());
            }
        } else {
            positional.push(arg);
        }
    }
    let usage = |msg: &str| {
        eprintln!("portico backup: {msg}\n\n{HELP}");
        ExitCode::from(2)
    };
    let [dest] = positional.as_slice() else {
        return usage("give one destination (a new file, or a directory)");
    };
    let config = match Config::from_args_and_env(flags, &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(ConfigError::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage(&e.to_string()),
    };
    let history_db = Layout::new(&config.data_dir).history_db();
    let dest = PathBuf::from(dest);
    let result = if dest.is_dir() {
        into_dir(&history_db, &dest, None)
    } else {
        backup(&history_db, &dest).map_err(BackupError::Failed)
    };
    match result {
        Ok(report) => {
            println!(
                "backed up {} to {}: {} jobs, {} bytes, in {:?}",
                history_db.display(),
                report.path.display(),
                report.jobs,
                report.bytes,
                report.took
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("portico backup: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_are_plain_file_names() {
        for good in ["nightly.db", "history-2024_05_01.db", "a"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "..", ".hidden", "../x.db", "a/b", "/etc/passwd", "a b", "x\0", &"x".repeat(101)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(default_name(1_714_558_053_007), "history-20240501-100733-007.db");
    }
}
