//! `cargo bench --bench queue`: a deep queue. One worker is held by a long job while 10,000
//! jobs are submitted behind it (8 clients); then the server's resident memory, and the p50 and
//! p99 of 500 more submits from one keep-alive client with those 10,000 waiting.
//!
//! `PORTICO_BENCH_QUEUED` (default 10000) scales it down.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{config_file, env_size, figure, millis, quantile, start_with, Api};

const CLIENTS: u64 = 8;
const SUBMITS: usize = 500;

fn main() {
    let queued = env_size("PORTICO_BENCH_QUEUED", 10_000);
    let capacity = queued + SUBMITS as u64 + 100;
    let (_dir, config) = config_file(&format!(
        "[queue]\ncapacity = {capacity}\ncapacity_per_user = {capacity}\nmax_running_per_user = 1\n"
    ));
    let server = Arc::new(start_with(1, &["--config", &config, "--log-level", "warn"]));
    let api = Api::new(&server);
    let blocker = api.submit("sleep 120");
    api.wait_status(blocker, "Running", Instant::now() + Duration::from_secs(30));
    let idle = server.rss_kib();

    let filled = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let server = Arc::clone(&server);
            std::thread::spawn(move || {
                let api = Api::new(&server);
                for _ in 0..queued / CLIENTS {
                    api.submit("true");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("client");
    }
    let fill_rate = (queued / CLIENTS * CLIENTS) as f64 / filled.elapsed().as_secs_f64();
    let waiting = api.status(api.submit("true"));
    assert_eq!(waiting, "Inited", "jobs must be waiting behind the blocker");
    let rss = server.rss_kib();

    let mut latencies: Vec<Duration> = (0..SUBMITS)
        .map(|_| {
            let t = Instant::now();
            api.submit("true");
            t.elapsed()
        })
        .collect();
    let p50 = quantile(&mut latencies, 0.5);
    let p99 = quantile(&mut latencies, 0.99);
    figure(
        &format!("submit latency with {queued} jobs waiting ({SUBMITS} submits, one keep-alive client)"),
        &format!("p50 {:.2} ms, p99 {:.2} ms", millis(p50), millis(p99)),
        "target p99 5 ms",
        millis(p99) / 5.0,
        millis(p99) < 5.0,
    );
    let mib = rss as f64 / 1024.0;
    figure(
        &format!("resident memory with {queued} jobs queued (idle with one job running: {idle} KiB)"),
        &format!("{mib:.1} MiB"),
        "target 64 MiB",
        mib / 64.0,
        mib < 64.0,
    );
    println!("(queue filled at {fill_rate:.0} submits/s from {CLIENTS} clients)");
    // Ended before the server is dropped: a SIGKILLed server leaves its jobs running.
    api.get(&format!("entrance/{blocker}/kill"));
    api.wait_done(blocker, Instant::now() + Duration::from_secs(30));
}
