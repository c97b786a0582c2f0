//! `cargo bench`: start-up time, idle memory, trivial jobs per second end to end, and status
//! requests per second from 16 keep-alive connections while jobs run. Prints its figures.
//!
//! The server is the real binary on 127.0.0.1 with a temporary data directory; the load comes
//! from this process over loopback and every loop is bounded in count and time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TRIVIAL_JOBS: usize = 1000;
const SUBMITTERS: usize = 4;
const STATUS_CONNECTIONS: usize = 16;
const STATUS_SECONDS: u64 = 3;

struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(workers: usize) -> (Server, Duration) {
    let data = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["--bind", "127.0.0.1:0", "--workers", &workers.to_string(), "--http-threads", "8"])
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portico");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
    let startup = started.elapsed();
    let base = line.trim().strip_prefix("portico listening on ").expect("listening line").to_string();
    (Server { child, base, _data: data }, startup)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).max_idle_connections_per_host(1).build()
}

fn get(agent: &ureq::Agent, url: &str) -> Value {
    agent.get(url).call().expect("GET").into_json().expect("JSON")
}

fn submit(agent: &ureq::Agent, base: &str, code: &str) -> u64 {
    let body = json!({"executionContent": {"code": code, "runType": "shell"}, "labels": {"engineType": "shell-1"}});
    let answer: Value = agent
        .post(&format!("{base}/api/rest_j/v1/entrance/submit"))
        .send_json(body)
        .expect("submit")
        .into_json()
        .expect("JSON");
    answer["data"]["taskID"].as_u64().expect("taskID")
}

fn wait_done(agent: &ureq::Agent, base: &str, task: u64, deadline: Instant) {
    loop {
        let status = get(agent, &format!("{base}/api/rest_j/v1/entrance/{task}/status"));
        if matches!(status["data"]["status"].as_str(), Some("Succeed" | "Failed" | "Cancelled" | "Timeout")) {
            return;
        }
        assert!(Instant::now() < deadline, "job {task} did not finish in time");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn trivial_jobs_per_second() -> (f64, u64) {
    let (server, _) = start(2);
    let base = server.base.clone();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let per_thread = TRIVIAL_JOBS / SUBMITTERS;
    let handles: Vec<_> = (0..SUBMITTERS)
        .map(|_| {
            let base = base.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let tasks: Vec<u64> = (0..per_thread).map(|_| submit(&agent, &base, "true")).collect();
                for task in tasks {
                    wait_done(&agent, &base, task, deadline);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("submitter");
    }
    let rate = (per_thread * SUBMITTERS) as f64 / started.elapsed().as_secs_f64();
    (rate, rss_kib(server.child.id()))
}

fn status_requests_per_second() -> (f64, Duration, Duration, u64) {
    let (server, _) = start(4);
    let base = server.base.clone();
    let submitter = agent();
    // Jobs that run (and print) during the measurement.
    let busy: Vec<u64> = (0..2)
        .map(|_| submit(&submitter, &base, "i=0; while [ $i -lt 200 ]; do echo $i; i=$((i+1)); sleep 0.05; done"))
        .collect();
    let url = format!("{base}/api/rest_j/v1/entrance/{}/status", busy[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..STATUS_CONNECTIONS)
        .map(|_| {
            let (url, stop, count) = (url.clone(), Arc::clone(&stop), Arc::clone(&count));
            std::thread::spawn(move || {
                let agent = agent();
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let answer = get(&agent, &url);
                    latencies.push(t.elapsed());
                    assert_eq!(answer["status"], 0);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(STATUS_SECONDS));
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = handles.into_iter().flat_map(|h| h.join().expect("client")).collect();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let rate = count.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64();
    (rate, pct(0.5), pct(0.99), rss_kib(server.child.id()))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than that selects nothing here.
    let (server, startup) = start(4);
    let deadline = Instant::now() + Duration::from_secs(5);
    while rss_kib(server.child.id()) == 0 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    let idle = rss_kib(server.child.id());
    drop(server);
    println!("startup: {:.1} ms to the listening line", startup.as_secs_f64() * 1000.0);
    println!("idle memory: {idle} KiB resident");

    let (jobs, rss_after_jobs) = trivial_jobs_per_second();
    println!(
        "trivial jobs: {jobs:.0} jobs/s end to end ({TRIVIAL_JOBS} `true` jobs, 2 workers, {SUBMITTERS} HTTP clients); \
         server resident afterwards {rss_after_jobs} KiB"
    );

    let (rate, p50, p99, rss) = status_requests_per_second();
    println!(
        "status: {rate:.0} requests/s from {STATUS_CONNECTIONS} keep-alive connections over {STATUS_SECONDS} s while jobs run \
         (p50 {:.0} us, p99 {:.0} us); server resident {rss} KiB",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
}
