//! `cargo bench --bench jobs`: the job path. Trivial `true` jobs submitted over HTTP by 8
//! clients and run to `Succeed` by 2 workers, against the machine's own ceiling (`sh -c true`
//! spawned and reaped 2 at a time, measured in the same run); and kill latency, from the kill
//! request to `Cancelled` for a job that obeys SIGTERM.
//!
//! `PORTICO_BENCH_JOBS` (default 1000) and `PORTICO_BENCH_KILLS` (default 20) scale it down.

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{config_file, env_size, figure, millis, quantile, start, start_with, Api};

const CLIENTS: usize = 8;
const WORKERS: usize = 2;

/// CPU time used so far by this process's reaped children (`RUSAGE_CHILDREN`) or by this
/// process itself (`RUSAGE_SELF`).
fn cpu_of(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

fn children_cpu() -> Duration {
    cpu_of(libc::RUSAGE_CHILDREN)
}

/// One client's connection, submitting `true` as bytes made once. Through ureq (a URL parsed,
/// headers built, the body serialized and the answer parsed as JSON, for every job) the eight
/// clients used about a tenth of the CPU of a run, on the two cores the server and its jobs
/// need; what a client spends is the client's machine's, not the server's, cost.
struct Submitter {
    stream: TcpStream,
    request: Vec<u8>,
}

impl Submitter {
    fn new(server: &common::Server) -> Submitter {
        let stream = TcpStream::connect(server.addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Submitter { stream, request: common::submit_request(server, "true") }
    }

    /// Submits once; the server must accept it (whether it ran is the watcher's to see).
    fn submit(&mut self) {
        let status = common::exchange(&mut self.stream, &self.request).expect("submit");
        assert_eq!(status, 200, "a submission was refused");
    }
}

/// `sh -c true` spawned and reaped by `WORKERS` threads at once for about `for_how_long`:
/// how many a second, and the CPU time each `sh` took.
fn spawn_ceiling(for_how_long: Duration) -> (f64, Duration) {
    let cpu_before = children_cpu();
    let started = Instant::now();
    let handles: Vec<_> = (0..WORKERS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut count = 0u64;
                while started.elapsed() < for_how_long {
                    let status = Command::new("sh").args(["-c", "true"]).status().expect("sh -c true");
                    assert!(status.success());
                    count += 1;
                }
                count
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().expect("spawner")).sum();
    let rate = total as f64 / started.elapsed().as_secs_f64();
    (rate, (children_cpu() - cpu_before) / total.max(1) as u32)
}

/// Where a run's CPU went, per job: the server's own threads, and the jobs' processes.
struct CpuPerJob {
    server: Duration,
    jobs: Duration,
    /// This benchmark's clients and watcher.
    harness: Duration,
}

fn trivial_jobs_per_second(jobs: usize) -> (f64, CpuPerJob) {
    // Every job is submitted before any is waited for: the queue must hold them all.
    // The one user may run as many jobs as there are workers (by default workers - 1): the
    // ceiling runs 2 at a time as well.
    let (_dir, config) = config_file(&format!(
        "[queue]\ncapacity = {jobs}\ncapacity_per_user = {jobs}\nmax_running_per_user = {WORKERS}\n"
    ));
    let server = start_with(WORKERS, &["--config", &config]);
    let per_client = jobs.div_ceil(CLIENTS);
    let ran = per_client * CLIENTS;
    let mut submitters: Vec<Submitter> = (0..CLIENTS).map(|_| Submitter::new(&server)).collect();
    let harness_before = cpu_of(libc::RUSAGE_SELF);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let handles: Vec<_> = submitters
        .drain(..)
        .map(|mut submitter| {
            std::thread::spawn(move || {
                for _ in 0..per_client {
                    submitter.submit();
                }
            })
        })
        .collect();
    // The run is over when the history, which is what survives a crash, holds every job as
    // `Succeed`. One watcher asks it for the count: eight clients polling their own jobs were
    // more requests than the submissions themselves, a cost no client of a real job pays.
    // It asks again when, at the rate so far, half of what is left should be done: asked every
    // 5 ms, its counts (each one reads every `Succeed` row's index entry) were a tenth of the
    // server's CPU; near the end it asks every 2 ms, so the end is seen within that.
    let api = Api::new(&server);
    loop {
        let answer = api.get("jobhistory/list?status=Succeed&pageSize=1");
        let succeeded = answer["data"]["totalPage"].as_u64().unwrap_or(0);
        if succeeded == ran as u64 {
            break;
        }
        if Instant::now() > deadline {
            let others = api.get("jobhistory/list?status=Failed,Cancelled,Timeout&pageSize=1");
            panic!("the jobs did not all succeed in time: {answer}; ended otherwise: {others}");
        }
        let per_job = started.elapsed().as_secs_f64() / succeeded.max(1) as f64;
        let half_of_what_is_left = per_job * (ran as u64 - succeeded.min(ran as u64)) as f64 / 2.0;
        std::thread::sleep(Duration::from_secs_f64(half_of_what_is_left.clamp(0.002, 0.1)));
    }
    let elapsed = started.elapsed();
    for handle in handles {
        handle.join().expect("client");
    }
    let cpu = CpuPerJob {
        server: server.cpu_time() / ran as u32,
        jobs: server.children_cpu_time() / ran as u32,
        harness: (cpu_of(libc::RUSAGE_SELF) - harness_before) / ran as u32,
    };
    (ran as f64 / elapsed.as_secs_f64(), cpu)
}

/// Kill request to `Cancelled`, for `sleep` (which SIGTERM ends at once); one at a time.
fn kill_latencies(kills: usize) -> Vec<Duration> {
    let (server, _) = start(WORKERS);
    let api = Api::new(&server);
    (0..kills)
        .map(|_| {
            let task = api.submit("sleep 600");
            api.wait_status(task, "Running", Instant::now() + Duration::from_secs(30));
            let asked = Instant::now();
            let answer = api.get(&format!("entrance/{task}/kill"));
            assert_eq!(answer["status"], 0, "kill: {answer}");
            api.wait_status(task, "Cancelled", Instant::now() + Duration::from_secs(30));
            asked.elapsed()
        })
        .collect()
}

fn main() {
    let jobs = env_size("PORTICO_BENCH_JOBS", 1000) as usize;
    let kills = env_size("PORTICO_BENCH_KILLS", 20) as usize;

    let (ceiling_before, sh_before) = spawn_ceiling(Duration::from_secs(3));
    let (rate, cpu) = trivial_jobs_per_second(jobs);
    // Measured on both sides of the run: the machine is shared and its rate drifts.
    let (ceiling_after, sh_after) = spawn_ceiling(Duration::from_secs(3));
    let ceiling = (ceiling_before + ceiling_after) / 2.0;
    let ratio = rate / ceiling;
    println!(
        "  CPU per job: server {:.2} ms, the job's own processes {:.2} ms, the clients {:.2} ms; one `sh -c true` of the ceiling {:.2} ms",
        millis(cpu.server),
        millis(cpu.jobs),
        millis(cpu.harness),
        millis((sh_before + sh_after) / 2),
    );
    figure(
        &format!("job throughput ({jobs} `true` jobs over HTTP, {CLIENTS} clients, {WORKERS} workers, to Succeed)"),
        &format!("{rate:.0} jobs/s"),
        &format!("{ceiling:.0}/s for `sh -c true` spawned and reaped {WORKERS} at a time (target ratio 0.50)"),
        ratio,
        ratio >= 0.5,
    );

    let mut latencies = kill_latencies(kills);
    let median = quantile(&mut latencies, 0.5);
    let worst = quantile(&mut latencies, 1.0);
    figure(
        &format!("kill latency ({kills} kills of a running `sleep 600`, kill request to Cancelled)"),
        &format!("median {:.1} ms (max {:.1} ms)", millis(median), millis(worst)),
        "target median 20 ms",
        millis(median) / 20.0,
        millis(median) < 20.0,
    );
}
