//! Held logs (a log kept in memory and in its history row until it must be a file): what an
//! outside review found could lose lines, leak a file or keep file descriptors open.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::helper::{eventually, Portico, MULTI_USER_CONFIG};

/// Making a held log its file (`LogWriter::make_file`) creates the file empty and only then
/// writes the held lines into it. A SIGKILL between the two (or a write that fails, ENOSPC,
/// followed by a crash) leaves an empty file beside a row that still holds the lines; recovery
/// then trusts the file (`recovery.rs`: `if !log_path.exists()`) and the job's first lines,
/// which a client had been shown, are gone for good. Here the crash's leftover is written by
/// hand: an empty log file for a queued job whose lines are held.
#[test]
fn a_crash_while_a_held_log_is_being_made_its_file_loses_no_line() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Portico::start_in(data.path(), &["--workers", "1"]);
    let _blocker = server.hold_a_worker();
    let (queued, queued_task) = server.submit_shell("echo queued job ran");
    assert_eq!(server.state(&queued), "Inited");
    let log_path = server.log_path_of(queued_task);
    assert!(!log_path.exists(), "the queued job's log is held, not a file");
    server.crash();

    // What a SIGKILL between `create_new` and the write of the held bytes leaves.
    std::fs::create_dir_all(log_path.parent().unwrap()).unwrap();
    std::fs::write(&log_path, b"").unwrap();

    let server = Portico::start_in(data.path(), &["--workers", "1"]);
    assert_eq!(server.wait_done(&queued), "Succeed");
    let lines = server.log_lines(&queued);
    assert!(
        lines.iter().any(|l| l.contains("You have submitted a new job")),
        "the lines held in the row before the crash are lost: {lines:?}"
    );
}

/// Every request that reads a queued job's log makes it a file through the job's `LogWriter`,
/// which then keeps the file open (a `BufWriter<File>`, 8 KiB buffer) in the `JobEntry` until
/// the job ends (`close_log`). Linkis clients poll the log of the jobs they wait for, so a
/// queue of N waiting jobs holds N descriptors: 10,000 queued jobs exhaust a 1,024 or 4,096
/// `ulimit -n`. Before held logs a read opened nothing that outlived the request.
#[test]
fn reading_the_logs_of_queued_jobs_leaves_no_file_open() {
    let server = Portico::start_with(&["--workers", "1"]);
    let blocker = server.hold_a_worker();
    let open_logs = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.extension().is_some_and(|e| e == "log"))
            .count()
    };
    let before = open_logs();
    let mut queued = Vec::new();
    for i in 0..100 {
        let (id, _) = server.submit_shell(&format!("echo {i}"));
        let data = server.ok(&format!("entrance/{id}/log?fromLine=1&size=10"));
        assert!(data["log"][3].as_str().unwrap().contains("You have submitted a new job"), "{data}");
        queued.push(id);
    }
    let after = open_logs();
    blocker.release();
    assert!(
        after <= before + 2,
        "{} log files stay open for {} queued jobs whose logs were read",
        after - before,
        queued.len()
    );
    for id in &queued {
        assert_eq!(server.wait_done(id), "Succeed");
    }
}

/// Retention removes a page of jobs' files, and only then records `files_removed_ms` (which
/// also clears their rows' held lines). A read of an ended job's held log in between finds no
/// file and the row's lines, and makes the file again (`Scheduler::make_log_file`,
/// `make_held_file`); the flag then commits and nothing ever removes that file: it is leaked,
/// unmeasured, and served although the job's files are "expired". The window is widened here
/// by a second job in the same page whose working directory takes a while to remove.
#[test]
fn a_read_racing_retention_does_not_make_a_removed_log_again() {
    let config = format!("{MULTI_USER_CONFIG}\n[retention]\nmax_age = \"1h\"\ninterval = \"0.1s\"\n");
    let server = Portico::start_with_config(&config, &[]);
    let (silent, silent_task) = server.submit_shell("true");
    assert_eq!(server.wait_done(&silent), "Succeed");
    let (big, big_task) = server.submit_shell("mkdir many && cd many && seq 1 40000 | xargs touch");
    assert_eq!(server.wait_done(&big), "Succeed");
    let log_path = server.log_path_of(silent_task);
    assert!(!log_path.exists(), "the silent job's log is held");

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let client = (*server).clone();
        let stop = Arc::clone(&stop);
        let path = format!("entrance/{silent}/log?fromLine=1&size=5");
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let _ = client.get(&path);
            }
        })
    };
    age_jobs(&server.data_dir, &[silent_task, big_task], 2 * 3600 * 1000);
    eventually("retention to remove both jobs' files", || {
        let removed = |task| {
            let metrics: Value =
                serde_json::from_str(server.history_task(task)["metrics"].as_str().unwrap_or("{}")).unwrap();
            metrics["filesRemovedTime"].as_u64().is_some()
        };
        (removed(silent_task) && removed(big_task)).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    assert!(
        !log_path.exists(),
        "a read during the sweep made the removed log again, and nothing will remove it: {}",
        log_path.display()
    );
}

/// Moves these ended jobs back in time together (one statement, so they share a sweep's page).
fn age_jobs(data_dir: &Path, task_ids: &[u64], by_ms: i64) {
    let conn = rusqlite::Connection::open(data_dir.join("history.db")).expect("open the history");
    conn.busy_timeout(std::time::Duration::from_secs(10)).expect("busy timeout");
    let ids = task_ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let changed = conn
        .execute(
            &format!(
                "UPDATE jobs SET created_ms = created_ms - ?1, ended_ms = ended_ms - ?1 WHERE id IN ({ids}) AND ended = 1"
            ),
            [by_ms],
        )
        .expect("age the jobs");
    assert_eq!(changed, task_ids.len());
}
