//! Retention: ended jobs' files removed by age and by total size (their rows kept, and a clear
//! "expired" answer for them), the history capped by age, and backups of the history taken
//! while the server runs, through the admin endpoint and `portico backup`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::helper::{eventually, Client, Portico, MULTI_USER_CONFIG};

/// How far back a test moves a job in time: well past any age the tests configure.
const TWO_HOURS_MS: i64 = 2 * 3600 * 1000;

/// Makes a job look as if it had been created and had ended `by_ms` earlier, as the server
/// would find it after running for that long: the history is a real SQLite file that another
/// process may write while the server runs.
fn age_job(data_dir: &Path, task_id: u64, by_ms: i64) {
    let conn = rusqlite::Connection::open(data_dir.join("history.db")).expect("open the history");
    conn.busy_timeout(std::time::Duration::from_secs(10)).expect("busy timeout");
    let changed = conn
        .execute(
            "UPDATE jobs SET created_ms = created_ms - ?2, ended_ms = ended_ms - ?2 WHERE id = ?1 AND ended = 1",
            rusqlite::params![task_id as i64, by_ms],
        )
        .expect("age the job");
    assert_eq!(changed, 1, "job {task_id} has ended");
}

/// The job's record, log path and result directory (as `file://` URIs).
fn paths(client: &Client, task_id: u64) -> (Value, String, String) {
    let task = client.wait_record(task_id);
    let log = task["logPath"].as_str().expect("logPath").to_string();
    let result = task["resultLocation"].as_str().expect("resultLocation").to_string();
    (task, log, result)
}

/// Whether a GET answers the "expired" error for `task_id`: HTTP 410, status 1, naming the
/// job and retention.
fn is_expired(client: &Client, path: &str, task_id: u64) -> bool {
    let (code, body) = client.get(path);
    if code != 410 {
        return false;
    }
    assert_eq!(body["status"], 1, "{path}: {body}");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains(&format!("job {task_id} ")), "{message}");
    assert!(message.contains("removed by retention on 20"), "{message}");
    assert_eq!(body["data"]["taskID"], task_id, "{body}");
    true
}

fn local(uri: &str) -> PathBuf {
    PathBuf::from(uri.strip_prefix("file://").expect("a file:// URI"))
}

#[test]
fn retention_by_age_removes_an_old_jobs_files_keeps_its_row_and_says_they_expired() {
    let data = tempfile::tempdir().expect("temp dir");
    let log = data.path().join("server.log");
    let config = format!("{MULTI_USER_CONFIG}\n[retention]\nmax_age = \"1h\"\ninterval = \"0.1s\"\n");
    let server = Portico::start_logging_to(&config, &["--log-level", "info"], &log);
    let alice = server.as_user("alice");
    let client = &alice;
    let (_, old) = client.submit_shell("echo old; mkdir keep; echo left > keep/file");
    let (_, young) = client.submit_shell("echo young");
    let (old_task, old_log, old_result) = paths(client, old);
    let (_, young_log, young_result) = paths(client, young);
    let work_dir = server.data_dir.join("work").join(old.to_string());
    assert!(work_dir.join("keep/file").exists(), "the job left files in its working directory");
    assert_eq!(client.ok(&format!("filesystem/openLog?path={old_log}"))["log"].as_array().map(Vec::len), Some(4));

    age_job(&server.data_dir, old, TWO_HOURS_MS);
    eventually("the old job's files to expire", || {
        is_expired(client, &format!("filesystem/openLog?path={old_log}"), old).then_some(())
    });
    for path in [
        format!("filesystem/openFile?path={old_result}/_0.dolphin"),
        format!("filesystem/getDirFileTrees?path={old_result}"),
        format!("filesystem/resultsetToExcel?path={old_result}/_0.dolphin"),
        format!("entrance/{old}/log?fromLine=0&size=10"),
    ] {
        assert!(is_expired(client, &path, old), "{path}");
    }
    for gone in [local(&old_log), local(&old_result), work_dir] {
        assert!(!gone.exists(), "{} is removed", gone.display());
    }
    let task = client.ok(&format!("jobhistory/{old}/get"))["task"].clone();
    assert_eq!((task["status"].as_str(), task["taskID"].as_u64()), (Some("Succeed"), Some(old)), "the row stays");
    assert_eq!(task["createdTime"], old_task["createdTime"].as_i64().unwrap() - TWO_HOURS_MS);
    let metrics: Value = serde_json::from_str(task["metrics"].as_str().unwrap()).unwrap();
    assert!(metrics["filesRemovedTime"].as_u64().is_some(), "{metrics}");
    assert_eq!(client.ok(&format!("entrance/{old}/status"))["status"], "Succeed");

    let young_page = client.ok(&format!("filesystem/openFile?path={young_result}/_0.dolphin"));
    assert_eq!(young_page["fileContent"], serde_json::json!([["young"]]), "a young job keeps its files");
    assert!(local(&young_log).exists());
    // The server log is written by a thread of its own, a moment after the line is logged.
    let server_log = eventually("the removal to be in the server log", || {
        let server_log = std::fs::read_to_string(&log).expect("server log");
        server_log
            .lines()
            .any(|l| l.contains(&format!("retention: job {old} (alice) files removed")))
            .then_some(server_log)
    });
    assert!(!server_log.contains(&format!("retention: job {young} ")), "{server_log}");
}

#[test]
fn retention_by_size_removes_the_files_of_the_jobs_that_ended_first() {
    // Each job writes 50,000 bytes to stdout, which lands in its result set and in its log:
    // about 100 KB a job, so two fit in 250,000 bytes and three do not.
    let config = "[retention]\nmax_bytes = 250_000\ninterval = \"0.1s\"\n";
    let server = Portico::start_with_config(&format!("{MULTI_USER_CONFIG}\n{config}"), &[]);
    let alice = server.as_user("alice");
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let (_, task_id) = alice.submit_shell("head -c 50000 /dev/zero | tr '\\0' x; echo");
        jobs.push(paths(&alice, task_id));
    }
    let task_id = |i: usize| jobs[i].0["taskID"].as_u64().unwrap();
    // The second job's files go only once the fourth has ended and been counted.
    eventually("the two oldest jobs' files to expire", || {
        (is_expired(&alice, &format!("filesystem/openLog?path={}", jobs[0].1), task_id(0))
            && is_expired(&alice, &format!("filesystem/openLog?path={}", jobs[1].1), task_id(1)))
        .then_some(())
    });
    assert!(is_expired(&alice, &format!("filesystem/getDirFileTrees?path={}", jobs[0].2), task_id(0)));
    for (_, log, result) in &jobs[2..] {
        let page = alice.ok(&format!("filesystem/openFile?path={result}/_0.dolphin"));
        assert_eq!(page["fileContent"][0][0].as_str().map(str::len), Some(50_000), "the newest jobs keep theirs");
        assert!(local(log).exists());
    }
    for i in 0..4 {
        assert_eq!(alice.ok(&format!("jobhistory/{}/get", task_id(i)))["task"]["status"], "Succeed", "rows stay");
    }
    let listed = alice.ok("jobhistory/list?pageSize=10")["tasks"].as_array().map(Vec::len);
    assert_eq!(listed, Some(4));
}

#[test]
fn the_history_cap_deletes_old_rows_with_their_files_and_never_reuses_their_ids() {
    let config = "[retention]\nhistory_max_age = \"1h\"\ninterval = \"0.1s\"\n";
    let server = Portico::start_with_config(&format!("{MULTI_USER_CONFIG}\n{config}"), &[]);
    let alice = server.as_user("alice");
    let (_, old) = alice.submit_shell("echo old");
    let (_, young) = alice.submit_shell("echo young");
    let (_, old_log, old_result) = paths(&alice, old);
    paths(&alice, young);
    // Polled once ended, so its view is in the server's cache of ended jobs.
    assert_eq!(alice.ok(&format!("entrance/{old}/status"))["status"], "Succeed");
    age_job(&server.data_dir, old, TWO_HOURS_MS);
    eventually("the old job's row to be deleted", || {
        let (code, body) = alice.get(&format!("jobhistory/{old}/get"));
        (code == 400 && body["status"] == 1).then_some(())
    });
    assert!(!local(&old_log).exists() && !local(&old_result).exists(), "its files went with it");
    let (code, body) = alice.get(&format!("entrance/{old}/status"));
    assert!((400..500).contains(&code) && body["status"] != 0, "a deleted job is not answered from a cache: {body}");
    let tasks = alice.ok("jobhistory/list?pageSize=10")["tasks"].clone();
    let ids: Vec<u64> = tasks.as_array().unwrap().iter().map(|t| t["taskID"].as_u64().unwrap()).collect();
    assert_eq!(ids, [young]);
    let (_, next) = alice.submit_shell("true");
    assert!(next > young, "taskID {next} is new");
}

/// Opens a backup as a client would and checks it: `integrity_check` says ok; returns its
/// jobs' taskIDs.
fn check_backup(path: &Path) -> Vec<u64> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(check, "ok", "{}", path.display());
    let mut stmt = conn.prepare("SELECT id FROM jobs ORDER BY id").expect("select");
    let ids = stmt.query_map([], |r| r.get::<_, i64>(0)).expect("rows").map(|id| id.expect("id") as u64).collect();
    ids
}

#[test]
fn a_backup_taken_while_jobs_are_submitted_and_run_opens_cleanly() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let submitted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (alice, submitted, stop) = (server.as_user("alice"), Arc::clone(&submitted), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let (_, task_id) = alice.submit_shell("echo load");
                submitted.store(task_id, Ordering::SeqCst);
            }
        })
    };
    eventually("the load to be under way", || (submitted.load(Ordering::SeqCst) >= 5).then_some(()));
    let (code, body) = server.post("portico/admin/backup", r#"{"name": "under-load.db"}"#);
    assert_eq!((code, &body["status"]), (200, &Value::from(0)), "{body}");
    let path = PathBuf::from(body["data"]["path"].as_str().expect("path"));
    assert_eq!(path, server.data_dir.join("backups").join("under-load.db"));
    let ids = check_backup(&path);
    assert_eq!(body["data"]["jobs"], ids.len(), "{body}");
    assert!(ids.len() >= 5 && ids.iter().zip(1..).all(|(id, n)| *id == n), "the first jobs, in order: {ids:?}");
    let (code, body) = server.post("portico/admin/backup", "");
    assert_eq!(code, 200, "{body}");
    let named = PathBuf::from(body["data"]["path"].as_str().expect("path"));
    assert!(named.file_name().unwrap().to_string_lossy().starts_with("history-"), "{}", named.display());
    assert!(check_backup(&named).len() >= ids.len());
    let more = ids.len() as u64 + 5;
    eventually("jobs to go on being accepted after the backups", || {
        (submitted.load(Ordering::SeqCst) >= more).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    load.join().expect("the load thread");

    let (code, body) = server.as_user("alice").post("portico/admin/backup", "");
    assert_eq!((code, &body["status"]), (403, &Value::from(3)), "admins only: {body}");
    for name in ["../escape.db", "/tmp/abs.db", "a/b.db", ".hidden", "under-load.db"] {
        let (code, body) = server.post("portico/admin/backup", &serde_json::json!({ "name": name }).to_string());
        assert_eq!((code, &body["status"]), (400, &Value::from(1)), "{name}: {body}");
    }
    assert!(!server.data_dir.join("escape.db").exists() && !Path::new("/tmp/abs.db").exists());
    let names: Vec<String> = std::fs::read_dir(server.data_dir.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "nothing else was written: {names:?}");
}

#[test]
fn a_backup_can_be_downloaded_by_an_admin() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let (_, task_id) = server.as_user("alice").submit_shell("true");
    server.wait_done(&task_id.to_string());
    let url = format!("{}/api/rest_j/v1/portico/admin/backup", server.base);
    let response = ureq::get(&url)
        .set("Token-Code", crate::helper::TEST_TOKEN)
        .set("Token-User", "root")
        .call()
        .expect("download");
    assert!(response.header("Content-Disposition").unwrap_or_default().contains("history-"));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect("body");
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("downloaded.db");
    std::fs::write(&copy, bytes).expect("write");
    assert_eq!(check_backup(&copy), [task_id]);
    let leftovers = std::fs::read_dir(server.data_dir.join("tmp")).unwrap().count();
    assert_eq!(leftovers, 0, "the scratch copy is gone");
    let (code, _) = server.as_user("alice").get("portico/admin/backup");
    assert_eq!(code, 403);
}

fn portico_backup(args: &[&str]) -> (bool, String, String) {
    let output =
        Command::new(env!("CARGO_BIN_EXE_portico")).arg("backup").args(args).output().expect("run portico backup");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn portico_backup_copies_a_running_servers_history_which_restores_as_the_readme_says() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut server = Portico::start_in(data.path(), &[]);
    let ids: Vec<u64> = (0..3).map(|i| server.submit_shell(&format!("echo {i}")).1).collect();
    for id in &ids {
        server.wait_done(&id.to_string());
    }
    let out = tempfile::tempdir().expect("temp dir");
    let dest = out.path().join("copy.db");
    let data_dir = data.path().to_str().unwrap();
    let (ok, stdout, stderr) = portico_backup(&["--data-dir", data_dir, dest.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("3 jobs"), "{stdout}");
    assert_eq!(check_backup(&dest), ids);
    let (ok, _, stderr) = portico_backup(&[dest.to_str().unwrap(), "--data-dir", data_dir]);
    assert!(!ok && stderr.contains("already exists"), "an existing file is never replaced: {stderr}");
    let (ok, stdout, stderr) = portico_backup(&["--data-dir", data_dir, out.path().to_str().unwrap()]);
    assert!(ok && stdout.contains("history-"), "into a directory: {stdout}{stderr}");
    let (ok, _, stderr) = portico_backup(&["--data-dir", out.path().to_str().unwrap(), dest.to_str().unwrap()]);
    assert!(!ok && stderr.contains("no job history"), "{stderr}");

    let (_, after) = server.submit_shell("echo after");
    server.wait_done(&after.to_string());
    assert_eq!(server.terminate(), Some(0));
    // The README's restore: with the server stopped, put the backup in history.db's place.
    for stale in ["history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(data.path().join(stale));
    }
    std::fs::copy(&dest, data.path().join("history.db")).expect("restore");
    let restored = Portico::start_in(data.path(), &[]);
    for id in &ids {
        assert_eq!(restored.ok(&format!("jobhistory/{id}/get"))["task"]["status"], "Succeed");
    }
    let (code, _) = restored.get(&format!("jobhistory/{after}/get"));
    assert_eq!(code, 400, "a job accepted after the backup is not in it");
}
