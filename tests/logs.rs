//! Log paging: every line exactly once, in order, whatever the page size.

use std::time::{Duration, Instant};

use crate::helper::{Portico, PATIENCE};

#[test]
fn paging_a_ten_thousand_line_log_sees_every_line_once_in_order() {
    let server = Portico::start();
    let (exec_id, _) = server.submit_shell("i=1; while [ $i -le 10000 ]; do echo \"line $i\"; i=$((i+1)); done");
    // Page while the job is still writing, then drain what is left once it has ended: a job
    // whose state is terminal has flushed its last line, so an empty page after that is the end.
    let mut lines = Vec::new();
    let mut from = 0u64;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ended = matches!(server.state(&exec_id).as_str(), "Succeed" | "Failed");
        let data = server.ok(&format!("entrance/{exec_id}/log?fromLine={from}&size=100"));
        let next = data["fromLine"].as_u64().unwrap();
        assert!(next >= from, "fromLine went backwards");
        let all = data["log"][3].as_str().unwrap();
        if !all.is_empty() {
            let page: Vec<&str> = all.split('\n').collect();
            assert!(page.len() <= 100, "page of {} lines", page.len());
            assert_eq!(page.len() as u64, next - from.max(1), "fromLine advances by the lines returned");
            lines.extend(page.into_iter().map(str::to_string));
        } else if ended {
            break;
        }
        assert!(Instant::now() < deadline, "timed out paging the log");
        if all.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        from = next;
    }
    let job_lines: Vec<&String> = lines.iter().filter(|l| l.starts_with("line ")).collect();
    let expected: Vec<String> = (1..=10_000).map(|i| format!("line {i}")).collect();
    assert_eq!(job_lines.len(), 10_000);
    assert!(job_lines.iter().zip(&expected).all(|(a, b)| *a == b), "lines out of order or repeated");
    assert!(lines.last().unwrap().contains("Congratulations"), "{:?}", lines.last());
    assert_eq!(lines.len(), server.log_lines(&exec_id).len(), "paging by 100 and by 500 agree");
}

#[test]
fn log_levels_split_into_four_slots_and_distinct_level_false_gives_one_string() {
    let server = Portico::start();
    let (exec_id, _) = server.submit_shell("echo out; echo '2024-05-01 10:07:33.007 WARN careful'; exit 3");
    assert_eq!(server.wait_done(&exec_id), "Failed");
    let data = server.ok(&format!("entrance/{exec_id}/log?size=-1"));
    let slots: Vec<&str> = data["log"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(slots[0].contains("ERROR Sorry, your job executed failed") && !slots[0].contains("out"), "{}", slots[0]);
    assert_eq!(slots[1], "2024-05-01 10:07:33.007 WARN careful");
    assert!(slots[2].contains("\nout\n") && !slots[2].contains("\n2024-05-01 10:07:33.007 WARN"), "{}", slots[2]);
    assert_eq!(slots[3].lines().count(), data["fromLine"].as_u64().unwrap() as usize - 1);

    let single = server.ok(&format!("entrance/{exec_id}/log?size=-1&distinctLevel=false"));
    assert_eq!(single["log"].as_str().unwrap(), slots[3]);

    let first = server.ok(&format!("entrance/{exec_id}/log?fromLine=0&size=3"));
    assert_eq!(first["fromLine"], 3, "slot 0 is Linkis's empty placeholder");
    assert_eq!(first["log"][3].as_str().unwrap().lines().count(), 2);
    let nothing = server.ok(&format!("entrance/{exec_id}/log?fromLine=5&size=0"));
    assert_eq!((nothing["fromLine"].as_u64(), nothing["log"][3].as_str()), (Some(5), Some("")));
}

/// Resident memory high-water mark of a process, in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap()))
        .unwrap()
}

#[test]
fn any_page_of_a_million_line_log_is_served_and_memory_stays_flat() {
    let server = Portico::start();
    let (exec_id, _) = server.submit_shell("seq 1 1000000");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let head = server.ok(&format!("entrance/{exec_id}/log?fromLine=1&size=20"));
    let first =
        head["log"][3].as_str().unwrap().split('\n').position(|l| l == "1").expect("the first output line") as u64 + 1;

    for n in [1u64, 256, 257, 500_000, 999_991] {
        let page = server.ok(&format!("entrance/{exec_id}/log?fromLine={}&size=10", first + n - 1));
        let lines: Vec<&str> = page["log"][3].as_str().unwrap().split('\n').collect();
        let expected: Vec<String> = (n..n + 10).map(|i| i.to_string()).collect();
        assert_eq!(lines, expected, "page at output line {n}");
        assert_eq!(page["fromLine"], first + n + 9);
    }
    let tail = server.ok(&format!("entrance/{exec_id}/log?fromLine={}&size=100", first + 999_999));
    let tail_lines: Vec<&str> = tail["log"][3].as_str().unwrap().split('\n').collect();
    assert_eq!(tail_lines[0], "1000000");
    assert!(tail_lines.last().unwrap().contains("Congratulations"));
    // About 7 MB went through the server; it must not have kept it.
    let peak = peak_rss_kib(server.pid());
    assert!(peak < 64 * 1024, "server peak resident memory {peak} KiB");
}

#[test]
fn the_log_size_cap_cuts_the_log_and_says_where() {
    let server = Portico::start_with_config(
        &crate::helper::MULTI_USER_CONFIG.replace("session_timeout_secs = 3600", "max_log_bytes = 8192"),
        &[],
    );
    let (exec_id, task_id) = server.submit_shell("seq 1 10000");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let lines = server.log_lines(&exec_id);
    let note =
        lines.iter().position(|l| l.contains("The log reached its limit of 8192 bytes")).expect("the cut is noted");
    assert!(!lines.contains(&"10000".to_string()), "output after the cut is not logged");
    assert!(lines[note + 1..].iter().any(|l| l.contains("Congratulations")), "server events still follow the cut");
    let log_path = server.ok(&format!("jobhistory/{task_id}/get"))["task"]["logPath"].as_str().unwrap().to_string();
    let size = std::fs::metadata(log_path.strip_prefix("file://").unwrap()).unwrap().len();
    assert!(size < 8192 + 2048, "log of {size} bytes");
    let location =
        server.ok(&format!("jobhistory/{task_id}/get"))["task"]["resultLocation"].as_str().unwrap().to_string();
    let all = server.ok(&format!("filesystem/openFile?path={location}/_0.dolphin&page=1&pageSize=100000"));
    assert_eq!(all["totalLine"], 10000, "the result set keeps everything");
}

/// A job that prints nothing makes no log file: its lines are held in memory and in its history
/// row, and made the file when someone reads them (a file per job costs an inode, which on some
/// disks costs more than running a trivial job). Every way of reading a log still sees them,
/// before and after a crash; a job that prints has its file from its first line.
#[test]
fn a_silent_jobs_log_is_a_file_only_once_read_and_survives_a_crash_either_way() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Portico::start_in(data.path(), &[]);
    let (silent, silent_task) = server.submit_shell("true");
    let (unread, unread_task) = server.submit_shell("true");
    let (printing, printing_task) = server.submit_shell("echo printed");
    for id in [&silent, &unread, &printing] {
        assert_eq!(server.wait_done(id), "Succeed");
    }
    assert!(!server.log_path_of(silent_task).exists(), "a silent job's log is not a file until read");
    assert!(server.log_path_of(printing_task).exists(), "a job that printed has its log file");

    let lines = server.log_lines(&silent);
    assert!(lines.iter().any(|l| l.contains("You have submitted a new job")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("completed with status Success")), "{lines:?}");
    assert!(server.log_path_of(silent_task).exists(), "reading it made the file");
    let uri = format!("file://{}", server.log_path_of(unread_task).display());
    server.crash();

    let server = Portico::start_in(data.path(), &[]);
    assert!(!server.log_path_of(unread_task).exists(), "the crash made no file either");
    let opened = server.ok(&format!("filesystem/openLog?path={uri}"));
    let text = opened["log"].to_string();
    assert!(text.contains("completed with status Success"), "openLog by its path: {opened}");
    assert!(server.log_path_of(unread_task).exists());
    assert_eq!(server.log_lines(&silent), lines, "the file made before the crash is the same log");
    assert!(server.log_lines(&printing).contains(&"printed".to_string()));
}

/// A job's summary says how long it ran, counted from its spawn: a job that ends within the
/// first milliseconds its worker watches it itself must not read `ran 0.000s`.
#[test]
fn a_short_jobs_summary_counts_its_run_from_the_spawn() {
    let server = Portico::start();
    let (exec_id, _) = server.submit_shell("sleep 0.003");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let lines = server.log_lines(&exec_id);
    let summary = lines.iter().find(|l| l.contains("Job ended: exit code")).expect("the summary line");
    let ran: f64 = summary
        .split("ran ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("no run time in {summary}"));
    assert!(ran >= 0.003, "a 3 ms sleep ran {ran}s by its summary: {summary}");
}
