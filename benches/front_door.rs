//! `cargo bench --bench front_door`: the transport under the loads an attacker (or a crowd of
//! curl scripts) brings, each figure printed beside its ceiling.
//!
//! * 10,000 idle connections from 40 loopback addresses, and 1,000 slowloris connections (a
//!   byte every 5 s), while a normal client polls status: every poll must succeed, p99 < 100 ms;
//! * resident memory with 256 concurrent 10 MiB unauthenticated bodies: within 64 MB of idle.
//!
//! Status polls per second against bare servers are `cargo bench --bench polling`.
//!
//! Everything is on 127.0.0.x, every loop bounded in count and time.

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{exchange, millis, proc_status, quantile, start_with, status_request, Server};

const IDLE_CONNECTIONS: usize = 10_000;
const IDLE_ADDRESSES: u8 = 40;
const SLOWLORIS: usize = 1_000;
const FLOOD_BODIES: usize = 256;
const FLOOD_BODY_BYTES: usize = 10 * 1024 * 1024;

/// A connection from `source`, bound before connecting (std cannot), as another loopback client.
fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(target) = addr else { return Err(std::io::ErrorKind::Unsupported.into()) };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor owned by the returned stream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let local = sockaddr(source, 0);
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) != 0
            || libc::connect(fd, (&sockaddr(*target.ip(), target.port()) as *const libc::sockaddr_in).cast(), len) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

fn submit_one(server: &Server) -> u64 {
    let body = r#"{"executionContent":{"code":"sleep 600","runType":"shell"},"labels":{"engineType":"shell-1"}}"#;
    let answer: serde_json::Value = ureq::post(&format!("{}/api/rest_j/v1/entrance/submit", server.base))
        .set("Token-Code", &server.token)
        .set("Token-User", "hadoop")
        .send_string(body)
        .expect("submit")
        .into_json()
        .expect("JSON");
    answer["data"]["taskID"].as_u64().expect("taskID")
}

/// Polls status on a new connection each time for `seconds`, 50 a second; returns the number
/// that failed and the latencies of all.
fn poll_status(server: &Server, task: u64, seconds: u64) -> (usize, Vec<Duration>) {
    let request = status_request(server, task, true);
    let (mut failed, mut latencies) = (0, Vec::new());
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let started = Instant::now();
        let ok = TcpStream::connect(server.addr)
            .and_then(|mut stream| {
                stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                exchange(&mut stream, &request)
            })
            .is_ok_and(|code| code == 200);
        latencies.push(started.elapsed());
        failed += usize::from(!ok);
        std::thread::sleep(Duration::from_millis(20));
    }
    (failed, latencies)
}

fn report_polls(what: &str, failed: usize, mut latencies: Vec<Duration>) {
    let p99 = quantile(&mut latencies, 0.99);
    let verdict = if failed == 0 && p99 < Duration::from_millis(100) { "ok" } else { "OVER" };
    println!(
        "{what}: {}/{} status polls answered, p99 {:.1} ms (ceiling: all, p99 100 ms) [{verdict}]",
        latencies.len() - failed,
        latencies.len(),
        millis(p99)
    );
}

fn idle_connections(server: &Server, task: u64) {
    let mut held = Vec::with_capacity(IDLE_CONNECTIONS);
    let per_address = IDLE_CONNECTIONS / IDLE_ADDRESSES as usize;
    for a in 0..IDLE_ADDRESSES {
        let source = Ipv4Addr::new(127, 0, 1, a + 1);
        for _ in 0..per_address {
            match connect_from(source, server.addr) {
                Ok(stream) => held.push(stream),
                Err(e) => {
                    println!("idle connections: could only open {} ({e})", held.len());
                    break;
                }
            }
        }
    }
    let threads = proc_status(server.child.id(), "Threads");
    let (failed, latencies) = poll_status(server, task, 4);
    let alive = held.iter().filter(|s| still_open(s)).count();
    report_polls(
        &format!(
            "{} idle connections from {IDLE_ADDRESSES} addresses ({alive} still open after, server threads {threads})",
            held.len()
        ),
        failed,
        latencies,
    );
}

fn still_open(stream: &TcpStream) -> bool {
    let _ = stream.set_nonblocking(true);
    let mut byte = [0u8; 1];
    matches!(std::io::Read::read(&mut &*stream, &mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

fn slowloris(server: &Server, task: u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let addr = server.addr;
    let attacker = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut streams: Vec<TcpStream> = (0..SLOWLORIS)
                .filter_map(|i| connect_from(Ipv4Addr::new(127, 0, 2, (i % 8) as u8 + 1), addr).ok())
                .collect();
            let opened = streams.len();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let piece: &[u8] = if round == 0 { b"GET /api/rest_j/v1/user/userInfo HTTP/1.1\r\n" } else { b"X" };
                streams.retain_mut(|s| s.write_all(piece).is_ok());
                round += 1;
                let wake = Instant::now() + Duration::from_secs(5);
                while Instant::now() < wake && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            (opened, streams.len())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let (failed, latencies) = poll_status(server, task, 11);
    stop.store(true, Ordering::Relaxed);
    let (opened, left) = attacker.join().expect("slowloris thread");
    report_polls(&format!("{opened} slowloris connections, a byte every 5 s ({left} still open)"), failed, latencies);
}

fn unauthenticated_floods(server: &Server) {
    let idle = server.rss_kib();
    let body = Arc::new(vec![b'0'; FLOOD_BODY_BYTES]);
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (Arc::clone(&peak), Arc::clone(&done), server.child.id());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(proc_status(pid, "VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let addr = server.addr;
    let senders: Vec<_> = (0..FLOOD_BODIES)
        .map(|i| {
            let body = Arc::clone(&body);
            std::thread::spawn(move || {
                let path = if i % 2 == 0 { "user/login" } else { "entrance/submit" };
                let Ok(mut stream) = TcpStream::connect(addr) else { return };
                let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
                let head = format!("POST /api/rest_j/v1/{path} HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body));
            })
        })
        .collect();
    for sender in senders {
        let _ = sender.join();
    }
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    // The server is fresh (see main), so its high-water mark is this flood's.
    let peak = peak.load(Ordering::Relaxed).max(proc_status(server.child.id(), "VmHWM"));
    let grew = peak.saturating_sub(idle) / 1024;
    let verdict = if grew <= 64 { "ok" } else { "OVER" };
    println!(
        "{FLOOD_BODIES} concurrent 10 MiB unauthenticated bodies (login and submit): resident peak {} MB, {grew} MB over idle (ceiling 64 MB) [{verdict}]",
        peak / 1024
    );
}

fn main() {
    let limit = common::raise_fd_limit();
    if limit < (IDLE_CONNECTIONS + SLOWLORIS) as u64 * 2 + 512 {
        println!("note: open-file limit {limit}; the idle-connection figure needs about {}", IDLE_CONNECTIONS * 2);
    }
    let config_dir = tempfile::tempdir().expect("temp dir");
    let config = config_dir.path().join("portico.toml");
    std::fs::write(&config, "[server]\nmax_connections = 16384\n").expect("config");
    let config_arg = config.to_str().expect("utf-8 path");
    // The first-start credentials are needed: the config names no users, so the server makes them.
    let server = start_with(2, &["--config", config_arg]);
    let task = submit_one(&server);
    idle_connections(&server, task);
    slowloris(&server, task);
    drop(server);
    unauthenticated_floods(&start_with(2, &["--config", config_arg]));
}
