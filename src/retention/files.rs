//! One ended job's files on disk: its log (and the log's line index), its result directory and
//! its working directory, measured and removed together.
//!
//! The paths come from the job's history row, and a row is only text: each path is used only
//! if it lies inside its own tree of this data directory (`users/` for the log and results,
//! `work/` for the working directory), with no `..` in it, so a row edited by hand or written
//! under another data directory can never make retention remove anything else. Directories are
//! walked without following symlinks (a job may leave a link to anywhere in its working
//! directory): a link is removed, never what it points to.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::clock;
use crate::data_dir::Layout;
use crate::storage::history::FilesOfJob;
use crate::storage::log_file::index_path;

/// Entries a measurement looks at, at most, in one job's files: a working directory with
/// millions of files is counted as far as this and no further.
const MEASURE_BUDGET: usize = 100_000;

/// The job's paths that retention may touch, each inside its own tree of `layout`.
fn paths(layout: &Layout, job: &FilesOfJob) -> Vec<PathBuf> {
    let users = layout.users();
    let work = layout.work();
    let candidates = [
        (job.log_path.clone(), &users),
        (index_path(&job.log_path), &users),
        (job.result_dir.clone(), &users),
        (job.work_dir.clone(), &work),
    ];
    candidates
        .into_iter()
        .filter_map(|(path, root)| {
            if inside(&path, root) {
                Some(path)
            } else {
                log::warn!(
                    "retention: job {}: {} is not under {}; leaving it alone",
                    job.task_id,
                    path.display(),
                    root.display()
                );
                None
            }
        })
        .collect()
}

/// Whether `path` is strictly below `root`, spelled without `.` or `..`.
fn inside(path: &Path, root: &Path) -> bool {
    path.is_absolute()
        && path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && path.starts_with(root)
        && path != root
}

/// The bytes of the job's files (file lengths), as far as [`MEASURE_BUDGET`] entries go, and
/// those of its log's lines in its row while the log is not a file (reading it makes them one).
pub(super) fn measure(layout: &Layout, job: &FilesOfJob) -> u64 {
    let mut budget = MEASURE_BUDGET;
    let held = if job.log_path.exists() { 0 } else { job.held_log_bytes };
    paths(layout, job).iter().map(|path| tree_bytes(path, &mut budget)).sum::<u64>() + held
}

/// The bytes below `path`, walked with a stack of its own (a job can nest directories deeper
/// than a thread's stack would take), never following a symlink.
fn tree_bytes(path: &Path, budget: &mut usize) -> u64 {
    let mut total = 0u64;
    let mut pending = vec![path.to_path_buf()];
    while let Some(next) = pending.pop() {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let Ok(meta) = next.symlink_metadata() else { continue };
        if !meta.is_dir() {
            total = total.saturating_add(meta.len());
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&next) {
            pending.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    total
}

/// Removes the job's files, all of them or, on the first failure, stops and says which one
/// (what was already removed stays removed; the next sweep tries the rest again). Files that
/// are already gone count as removed. Then removes the day folders they were in if that left
/// them empty, unless they are today's or yesterday's, where new jobs may be creating files.
pub(super) fn remove(layout: &Layout, job: &FilesOfJob, now_ms: u64) -> io::Result<()> {
    for path in paths(layout, job) {
        let removed = match path.symlink_metadata() {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("remove {}: {e}", path.display()))),
        }
    }
    let recent = [clock::utc_date(now_ms), clock::utc_date(now_ms.saturating_sub(clock::DAY_MS))];
    for file in [&job.log_path, &job.result_dir] {
        let Some(day) = file.parent().filter(|day| inside(day, &layout.users())) else { continue };
        let is_recent = day.file_name().is_some_and(|name| recent.iter().any(|r| name == r.as_str()));
        if !is_recent {
            // Fails, as it should, when the folder still holds other jobs' files.
            let _ = std::fs::remove_dir(day);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(layout: &Layout, task_id: u64, date: &str) -> FilesOfJob {
        let paths = layout.job("alice", date, task_id);
        FilesOfJob {
            task_id,
            execute_user: "alice".into(),
            log_path: paths.log,
            result_dir: paths.result_dir,
            work_dir: paths.work_dir,
            created_ms: 0,
            ended_ms: 0,
            files_bytes: None,
            held_log_bytes: 0,
            files_removed_ms: None,
        }
    }

    fn write(path: &Path, bytes: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![b'x'; bytes]).unwrap();
    }

    #[test]
    fn a_jobs_files_are_measured_and_removed_together_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let old = job(&layout, 7, "2001-02-03");
        let neighbour = job(&layout, 8, "2001-02-03");
        write(&old.log_path, 100);
        write(&index_path(&old.log_path), 8);
        write(&old.result_dir.join("_0.dolphin"), 1000);
        write(&old.work_dir.join("deep/er/file"), 10);
        let outside = dir.path().join("outside");
        write(&outside.join("precious"), 5);
        std::os::unix::fs::symlink(&outside, old.work_dir.join("link")).unwrap();
        write(&neighbour.log_path, 1);
        assert_eq!(measure(&layout, &old), 100 + 8 + 1000 + 10 + outside.as_os_str().len() as u64);

        remove(&layout, &old, clock::now_millis()).unwrap();
        for path in [&old.log_path, &old.result_dir, &old.work_dir] {
            assert!(!path.exists(), "{} is gone", path.display());
        }
        assert!(outside.join("precious").exists(), "a symlink's target is never touched");
        assert!(neighbour.log_path.exists(), "another job's file in the same day folder stays");
        assert!(!old.result_dir.parent().unwrap().exists(), "an old day folder left empty goes");
        remove(&layout, &old, clock::now_millis()).unwrap();
    }

    #[test]
    fn a_log_held_in_the_history_counts_until_it_is_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let silent = FilesOfJob { held_log_bytes: 300, ..job(&layout, 9, "2001-02-03") };
        assert_eq!(measure(&layout, &silent), 300, "its lines are in history.db, not in a file");
        write(&silent.log_path, 300);
        assert_eq!(measure(&layout, &silent), 300, "made its file (read), the lines count once");
    }

    #[test]
    fn paths_outside_the_data_directory_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(&dir.path().join("data"));
        let mut stray = job(&layout, 9, "2001-02-03");
        let elsewhere = dir.path().join("elsewhere.log");
        write(&elsewhere, 3);
        stray.log_path = elsewhere.clone();
        stray.work_dir = layout.work().join("..").join("..").join("elsewhere.log");
        assert_eq!(measure(&layout, &stray), 0);
        remove(&layout, &stray, 0).unwrap();
        assert!(elsewhere.exists());
        assert!(!inside(&layout.users(), &layout.users()), "a tree's root is not inside it");
    }
}
