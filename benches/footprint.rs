//! `cargo bench --bench footprint`: idle resident memory; start-up on a history of 1,000,000
//! jobs (against start-up on an empty one, measured in the same run); and what the running
//! jobs' resource sampling costs the server while the host has thousands of processes that are
//! not the jobs' (against the same with none). Resident memory with 10,000 queued jobs is in
//! `cargo bench --bench queue`.
//!
//! `PORTICO_BENCH_HISTORY` (default 1000000) and `PORTICO_BENCH_FOREIGN` (default 2000) scale
//! it down.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{env_size, figure, fill_history, millis, start, Api, Server};

const SAMPLED_SECONDS: u64 = 6;

/// Resident memory once it has stopped moving (at most 3 s after start).
fn settled_rss(server: &Server) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = server.rss_kib();
        if (now == last && now > 0) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// Each of the server's threads' CPU time so far, in nanoseconds (`/proc/<pid>/task/*/schedstat`):
/// the clock ticks of `/proc/<pid>/stat` are 10 ms, one or two in the whole window, so the
/// figure read 1.7 or 3.3 ms/s by chance.
fn threads_cpu(server: &Server) -> HashMap<u64, u64> {
    let tasks = std::fs::read_dir(format!("/proc/{}/task", server.child.id())).expect("the server's threads");
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let tid = task.file_name().to_str()?.parse().ok()?;
            let schedstat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            Some((tid, schedstat.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// The server's CPU time per second over `SAMPLED_SECONDS` while 2 `sleep` jobs run.
fn cpu_while_jobs_run(server: &Server) -> Duration {
    let api = Api::new(server);
    let tasks: Vec<u64> = (0..2).map(|_| api.submit("sleep 120")).collect();
    for task in &tasks {
        api.wait_status(*task, "Running", Instant::now() + Duration::from_secs(30));
    }
    let before = threads_cpu(server);
    std::thread::sleep(Duration::from_secs(SAMPLED_SECONDS));
    let after = threads_cpu(server);
    // Each thread's own time in the window; a thread that started in it, all of its time.
    let used = after.iter().map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0))).sum::<u64>();
    let used = Duration::from_nanos(used);
    // Ended before the server is dropped: a SIGKILLed server leaves its jobs running.
    for task in tasks {
        api.get(&format!("entrance/{task}/kill"));
        api.wait_done(task, Instant::now() + Duration::from_secs(30));
    }
    used / SAMPLED_SECONDS as u32
}

fn main() {
    let history = env_size("PORTICO_BENCH_HISTORY", 1_000_000);
    let foreign = env_size("PORTICO_BENCH_FOREIGN", 2000) as usize;

    let (server, _) = start(2);
    let idle = settled_rss(&server) as f64 / 1024.0;
    figure("idle resident memory", &format!("{idle:.1} MiB"), "target 10 MiB", idle / 10.0, idle < 10.0);

    let (server, empty) = server.restart_after(2, |_| {});
    let (server, full) = server.restart_after(2, |data| fill_history(&data.join("history.db"), history));
    let rss = settled_rss(&server) as f64 / 1024.0;
    figure(
        &format!("start-up with {history} jobs in history (resident afterwards {rss:.1} MiB)"),
        &format!("{:.1} ms", millis(full)),
        &format!("{:.1} ms on an empty history; target 500 ms", millis(empty)),
        millis(full) / 500.0,
        millis(full) < 500.0,
    );
    drop(server);

    // 3 workers: by default one user may run workers - 1 jobs at once.
    let (server, _) = start(3);
    let alone = cpu_while_jobs_run(&server);
    let mut others: Vec<Child> = (0..foreign)
        .map(|_| {
            Command::new("sleep")
                .arg("120")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn a foreign process")
        })
        .collect();
    let crowded = cpu_while_jobs_run(&server);
    for other in &mut others {
        let _ = other.kill();
        let _ = other.wait();
    }
    // A floor for a server so quiet that the ratio of two tiny figures would mean nothing.
    let floor = Duration::from_micros(500);
    let ratio = crowded.max(floor).as_secs_f64() / alone.max(floor).as_secs_f64();
    figure(
        &format!("server CPU while 2 jobs run and the host has {foreign} other processes"),
        &format!("{:.1} ms/s", millis(crowded)),
        &format!("{:.1} ms/s with no other processes (target ratio 1.5)", millis(alone)),
        ratio,
        ratio < 1.5,
    );
}
