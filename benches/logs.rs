//! `cargo bench --bench logs`: a job printing 1 GB in 100-byte lines, run to `Succeed`,
//! against the same command redirected into a file by a plain shell (measured in the same run,
//! on the same file system), with the server's resident memory sampled throughout; and paging
//! a finished 1,000,000-line log at `fromLine=500000&size=100`.
//!
//! `PORTICO_BENCH_LOG_MB` (default 1000) and `PORTICO_BENCH_LOG_LINES` (default 1000000) scale
//! it down.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{env_size, figure, millis, quantile, start, Api};

/// 99 characters and the newline: a 100-byte line.
fn printer(bytes: u64) -> String {
    format!("yes '{}' | head -c {bytes}", "x".repeat(99))
}

fn shell_ceiling(bytes: u64) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("out");
    let started = Instant::now();
    let status =
        Command::new("sh").arg("-c").arg(format!("{} > '{}'", printer(bytes), file.display())).status().expect("sh");
    let took = started.elapsed();
    assert!(status.success());
    assert_eq!(std::fs::metadata(&file).expect("output").len(), bytes);
    took
}

fn main() {
    let bytes = env_size("PORTICO_BENCH_LOG_MB", 1000) * 1_000_000;
    let lines = env_size("PORTICO_BENCH_LOG_LINES", 1_000_000);
    let (server, _) = start(2);
    let server = Arc::new(server);
    let api = Api::new(&server);

    let ceiling = shell_ceiling(bytes);
    let before = server.rss_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (server, peak, done) = (Arc::clone(&server), Arc::clone(&peak), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(server.rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let task = api.submit(&printer(bytes));
    api.wait_done_every(task, started + Duration::from_secs(300), Duration::from_millis(20));
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    assert_eq!(api.status(task), "Succeed");
    let ceiling_again = shell_ceiling(bytes);
    // The faster of the two shell runs: the machine is shared and either may be disturbed.
    let ceiling = ceiling.min(ceiling_again);
    let mb = bytes as f64 / 1e6;
    let rate = mb / took.as_secs_f64();
    let ceiling_rate = mb / ceiling.as_secs_f64();
    let ratio = rate / ceiling_rate;
    figure(
        &format!("log ingest ({mb:.0} MB in 100-byte lines, submit to Succeed)"),
        &format!("{rate:.0} MB/s"),
        &format!("{ceiling_rate:.0} MB/s for the command redirected to a file by sh (target ratio 0.50)"),
        ratio,
        ratio >= 0.5,
    );
    let growth = peak.load(Ordering::Relaxed).saturating_sub(before) as f64 / 1024.0;
    figure(
        "server resident memory growth during the ingest",
        &format!("{growth:.1} MiB (from {before} KiB)"),
        "target 16 MiB",
        growth / 16.0,
        growth < 16.0,
    );

    let task = api.submit(&format!("seq 1 {lines}"));
    api.wait_done_every(task, Instant::now() + Duration::from_secs(120), Duration::from_millis(20));
    assert_eq!(api.status(task), "Succeed");
    let from = lines / 2;
    let path = format!("entrance/{task}/log?fromLine={from}&size=100");
    let page = api.get(&path);
    let all = page["data"]["log"][3].as_str().unwrap_or_default();
    assert_eq!(all.lines().count(), 100, "a full page: {page}");
    let mut latencies: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            api.get_text(&path);
            t.elapsed()
        })
        .collect();
    let median = quantile(&mut latencies, 0.5);
    figure(
        &format!("log paging (fromLine={from}&size=100 on a finished {lines}-line log, one keep-alive client)"),
        &format!("median {:.2} ms", millis(median)),
        "target 2 ms",
        millis(median) / 2.0,
        millis(median) < 2.0,
    );
}
