//! What a running Spark driver says about itself through its UI's REST API
//! (`/api/v1/applications/{id}/jobs` and `/executors`): task counts for progress, and the
//! executors' memory and cores for `progressWithResource`.
//!
//! A deliberately small HTTP/1.0 GET to the driver's own address, with short timeouts and a
//! bounded answer: the UI is up only while the driver runs, answers "connection refused", 404
//! or nothing while it starts, and every failure simply means "no figures this time". What this
//! must not know: jobs, the store, or Portico's own HTTP side.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

/// How long one request to the UI may take in all.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// The most of an answer read (a `/jobs` list of a long application can be large).
const MAX_ANSWER: u64 = 8 * 1024 * 1024;

/// Task counts summed over the application's Spark jobs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tasks {
    pub total: u64,
    /// Completed or skipped (AQE skips tasks whose output exists): done either way.
    pub done: u64,
    pub running: u64,
    pub failed: u64,
}

/// The executors as the driver reports them (the driver's own entry excluded, unless it is
/// the only one: a local master runs its tasks in the driver).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Executors {
    pub instances: u64,
    pub cores: u64,
    pub memory_bytes: u64,
}

/// The task counts of application `app_id`, if the UI at `ui` answers.
pub fn tasks(ui: &str, app_id: &str) -> Option<Tasks> {
    let jobs = get_json(ui, &format!("/api/v1/applications/{app_id}/jobs"))?;
    let mut tasks = Tasks::default();
    for job in jobs.as_array()? {
        let n = |key: &str| job[key].as_u64().unwrap_or(0);
        tasks.total += n("numTasks");
        tasks.done += n("numCompletedTasks") + n("numSkippedTasks");
        tasks.running += n("numActiveTasks");
        tasks.failed += n("numFailedTasks");
    }
    Some(tasks)
}

/// The executors of application `app_id`, if the UI at `ui` answers.
pub fn executors(ui: &str, app_id: &str) -> Option<Executors> {
    let list = get_json(ui, &format!("/api/v1/applications/{app_id}/executors"))?;
    let list = list.as_array()?;
    let workers: Vec<&Value> = list.iter().filter(|e| e["id"] != "driver").collect();
    let counted: Vec<&Value> = if workers.is_empty() { list.iter().collect() } else { workers };
    let mut executors = Executors::default();
    for executor in counted.iter().filter(|e| e["isActive"] != false) {
        executors.instances += 1;
        executors.cores += executor["totalCores"].as_u64().unwrap_or(0);
        executors.memory_bytes += executor["maxMemory"].as_u64().unwrap_or(0);
    }
    Some(executors)
}

/// `GET path` on the UI at `ui` (`http://host:port`), its body as JSON if it answered 200.
fn get_json(ui: &str, path: &str) -> Option<Value> {
    let authority = ui.strip_prefix("http://")?.trim_end_matches('/');
    let address = authority.to_socket_addrs().ok()?.next()?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT).ok()?;
    stream.set_read_timeout(Some(TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(TIMEOUT)).ok()?;
    // One write: a request in pieces could meet a server that answers after the first.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer).ok()?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = response.parse(&answer).ok()? else { return None };
    if response.code != Some(200) {
        return None;
    }
    serde_json::from_slice(&answer[head..]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server answering `body` to whatever it is asked.
    fn serve(body: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                // Read the whole head first: closing with unread bytes would reset the answer.
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    request.push(byte[0]);
                }
                let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{body}");
            }
        });
        format!("http://{address}")
    }

    #[test]
    fn task_counts_are_summed_over_spark_jobs_with_skipped_tasks_done() {
        // Shapes as a Spark 4.3 driver answers (see shared/docs/spark-engine.md §4).
        let ui = serve(
            r#"[{"jobId": 1, "status": "RUNNING", "numTasks": 12, "numActiveTasks": 2, "numCompletedTasks": 2, "numSkippedTasks": 8, "numFailedTasks": 0},
                {"jobId": 0, "status": "SUCCEEDED", "numTasks": 8, "numActiveTasks": 0, "numCompletedTasks": 8, "numSkippedTasks": 0, "numFailedTasks": 1}]"#,
        );
        assert_eq!(tasks(&ui, "local-1"), Some(Tasks { total: 20, done: 18, running: 2, failed: 1 }));
    }

    #[test]
    fn executors_exclude_the_driver_unless_it_runs_the_tasks() {
        let ui = serve(
            r#"[{"id": "driver", "isActive": true, "totalCores": 0, "maxMemory": 100},
                {"id": "0", "isActive": true, "totalCores": 2, "maxMemory": 1000},
                {"id": "1", "isActive": false, "totalCores": 2, "maxMemory": 1000}]"#,
        );
        assert_eq!(executors(&ui, "app-1"), Some(Executors { instances: 1, cores: 2, memory_bytes: 1000 }));
        let local = serve(r#"[{"id": "driver", "isActive": true, "totalCores": 2, "maxMemory": 434}]"#);
        assert_eq!(executors(&local, "local-1"), Some(Executors { instances: 1, cores: 2, memory_bytes: 434 }));
    }

    #[test]
    fn a_ui_that_is_not_there_gives_no_figures() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert_eq!(tasks(&format!("http://127.0.0.1:{port}"), "x"), None);
        assert_eq!(tasks("not a url", "x"), None);
    }
}
