//! `cargo bench`: start-up time, idle memory, trivial jobs per second end to end, status
//! requests per second from 16 keep-alive connections while jobs run, and job-history list
//! queries over a million rows. Prints its figures.
//!
//! The server is the real binary on 127.0.0.1 with a temporary data directory; the load comes
//! from this process over loopback and every loop is bounded in count and time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{fill_history, start, Api};
use portico::{History, ListFilter};

const TRIVIAL_JOBS: usize = 1000;
const SUBMITTERS: usize = 4;
const STATUS_CONNECTIONS: usize = 16;
const STATUS_SECONDS: u64 = 3;
const HISTORY_ROWS: u64 = 1_000_000;

fn trivial_jobs_per_second() -> (f64, u64) {
    let (server, _) = start(2);
    let server = Arc::new(server);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    let per_thread = TRIVIAL_JOBS / SUBMITTERS;
    let handles: Vec<_> = (0..SUBMITTERS)
        .map(|_| {
            let server = Arc::clone(&server);
            std::thread::spawn(move || {
                let api = Api::new(&server);
                let tasks: Vec<u64> = (0..per_thread).map(|_| api.submit("true")).collect();
                for task in tasks {
                    api.wait_done(task, deadline);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("submitter");
    }
    let rate = (per_thread * SUBMITTERS) as f64 / started.elapsed().as_secs_f64();
    (rate, server.rss_kib())
}

fn status_requests_per_second() -> (f64, Duration, Duration, u64) {
    let (server, _) = start(4);
    let submitter = Api::new(&server);
    // Jobs that run (and print) during the measurement.
    let busy: Vec<u64> = (0..2)
        .map(|_| submitter.submit("i=0; while [ $i -lt 200 ]; do echo $i; i=$((i+1)); sleep 0.05; done"))
        .collect();
    let path = format!("entrance/{}/status", busy[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let server = Arc::new(server);
    let handles: Vec<_> = (0..STATUS_CONNECTIONS)
        .map(|_| {
            let (path, stop, count, server) =
                (path.clone(), Arc::clone(&stop), Arc::clone(&count), Arc::clone(&server));
            std::thread::spawn(move || {
                let api = Api::new(&server);
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let answer = api.get(&path);
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
    (rate, pct(0.5), pct(0.99), server.rss_kib())
}

/// Fills a history of a million jobs (10 users) and times the list queries clients make.
fn history_queries() -> Vec<(String, Duration)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.db");
    let history = History::open(&path, &["Succeed", "Failed", "Cancelled", "Timeout"]).expect("open history");
    fill_history(&path, HISTORY_ROWS);
    let base = ListFilter { end_ms: u64::MAX >> 1, page: 1, page_size: 20, ..ListFilter::default() };
    let cases = [
        ("own jobs, first page", ListFilter { user: Some("user3".into()), ..base.clone() }),
        ("own jobs, page 500", ListFilter { user: Some("user3".into()), page: 500, ..base.clone() }),
        ("own failed jobs", ListFilter { user: Some("user3".into()), statuses: vec!["Failed".into()], ..base.clone() }),
        (
            "own jobs in one day",
            ListFilter {
                user: Some("user3".into()),
                start_ms: 1_700_000_000_000 + 500_000_000,
                end_ms: 1_700_000_000_000 + 500_000_000 + 86_400_000,
                ..base.clone()
            },
        ),
        ("all users (admin), first page", base.clone()),
    ];
    cases
        .into_iter()
        .map(|(name, filter)| {
            let started = Instant::now();
            let runs = 5;
            for _ in 0..runs {
                let (rows, _) = history.list(&filter).expect("list");
                assert!(!rows.is_empty(), "{name}");
            }
            (name.to_string(), started.elapsed() / runs)
        })
        .collect()
}

fn main() {
    let (server, startup) = start(4);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.rss_kib() == 0 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    let idle = server.rss_kib();
    // Again on the same data directory: the everyday case, with no credentials to create.
    let (again, restart) = server.restart(4);
    drop(again);
    println!(
        "startup: {:.1} ms to the listening line on an existing data directory ({:.1} ms on a fresh one, which \
         creates history.db and hashes the first-start password)",
        restart.as_secs_f64() * 1000.0,
        startup.as_secs_f64() * 1000.0
    );
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

    for (name, took) in history_queries() {
        println!(
            "history list over {HISTORY_ROWS} rows, {name}: {:.2} ms (page and total count)",
            took.as_secs_f64() * 1000.0
        );
    }
}
