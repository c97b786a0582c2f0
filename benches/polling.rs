//! `cargo bench --bench polling`: status polls, the request clients send most, against what
//! the machine can answer at all.
//!
//! Portico is polled with token auth for a job that is running, while another runs beside it
//! and 10,000 finished jobs are in its history. The ceilings answer a JSON body of the same
//! size (the very bytes Portico answered) and are started by the benchmark itself:
//!
//! * the same transport (mio poller and handler pool) with no application behind it, which
//!   says what routing, authentication and the job lookup cost;
//! * bare rouille on a pool of 16, the reference of the figures (target: 0.8 of it in
//!   every mode);
//! * bare tiny_http answering from 4 threads (moonshot: 0.6 of it with keep-alive).
//!
//! Modes: 64 keep-alive connections, 64 clients with `Connection: close` (a new connection
//! per poll, as curl scripts poll), and 256 keep-alive connections. No error is allowed.
//! Rounds alternate between the servers, so that drift on a shared machine falls on all alike.
//!
//! `PORTICO_BENCH_ROUNDS` (default 3) rounds of `PORTICO_BENCH_ROUND_MS` (default 1000).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{config_file, env_size, exchange, figure, fill_history, status_request, Api, Server};

const HISTORY: u64 = 10_000;

/// One load shape.
struct Mode {
    name: &'static str,
    connections: usize,
    close: bool,
}

const MODES: [Mode; 3] = [
    Mode { name: "64 keep-alive connections", connections: 64, close: false },
    Mode { name: "64 clients, Connection: close", connections: 64, close: true },
    Mode { name: "256 keep-alive connections", connections: 256, close: false },
];

/// Answers and errors counted over one round.
#[derive(Default, Clone, Copy)]
struct Tally {
    per_second: f64,
    errors: u64,
}

/// Polls `addr` with `request` from `mode.connections` threads for `round`.
fn round(addr: SocketAddr, request: &[u8], mode: &Mode, round: Duration) -> Tally {
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let threads: Vec<_> = (0..mode.connections)
        .map(|_| {
            let (stop, answered, errors, request) =
                (Arc::clone(&stop), Arc::clone(&answered), Arc::clone(&errors), request.to_vec());
            let close = mode.close;
            std::thread::spawn(move || {
                let mut kept: Option<TcpStream> = None;
                while !stop.load(Ordering::Relaxed) {
                    let stream = match kept.take() {
                        Some(stream) => Ok(stream),
                        None => TcpStream::connect(addr).inspect(|s| {
                            let _ = s.set_nodelay(true);
                            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                        }),
                    };
                    let Ok(mut stream) = stream else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    match exchange(&mut stream, &request) {
                        Ok(200) => {
                            answered.fetch_add(1, Ordering::Relaxed);
                            if !close {
                                kept = Some(stream);
                            }
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(round);
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    Tally {
        per_second: answered.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64(),
        errors: errors.load(Ordering::Relaxed),
    }
}

fn plain_request(close: bool) -> Vec<u8> {
    let connection = if close { "close" } else { "keep-alive" };
    format!("GET /status HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\n\r\n").into_bytes()
}

/// The body Portico answers a status poll of `task` with, byte for byte.
fn status_body(server: &Server, task: u64) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream.write_all(&status_request(server, task, true)).expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    answer.split_off(end)
}

fn bare_rouille(body: Vec<u8>) -> SocketAddr {
    let server = rouille::Server::new("127.0.0.1:0", move |_request| {
        rouille::Response::from_data("application/json;charset=UTF-8", body.clone())
    })
    .expect("rouille server")
    .pool_size(16);
    let addr = server.server_addr();
    std::thread::spawn(move || server.run());
    addr
}

fn bare_tiny_http(body: Vec<u8>) -> SocketAddr {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("tiny_http server"));
    let addr = server.server_addr().to_ip().expect("an IP address");
    let header = tiny_http::Header::from_bytes("Content-Type", "application/json;charset=UTF-8").expect("header");
    for _ in 0..4 {
        let (server, body, header) = (Arc::clone(&server), body.clone(), header.clone());
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let _ = request.respond(tiny_http::Response::from_data(body.clone()).with_header(header.clone()));
            }
        });
    }
    addr
}

fn main() {
    let rounds = env_size("PORTICO_BENCH_ROUNDS", 3).max(1) as u32;
    let round_time = Duration::from_millis(env_size("PORTICO_BENCH_ROUND_MS", 1000));
    common::raise_fd_limit();

    // Three workers, two of them for the two running jobs of the one user.
    let (_config_dir, config) =
        config_file("[server]\nmax_connections_per_address = 1024\n[queue]\nmax_running_per_user = 2\n");
    let (server, _) =
        common::start_with(3, &["--config", &config])
            .restart_after_with(3, &["--config", &config], |data| fill_history(&data.join("history.db"), HISTORY));
    let api = Api::new(&server);
    let running: Vec<u64> = (0..2).map(|_| api.submit("sleep 600")).collect();
    for task in &running {
        api.wait_status(*task, "Running", Instant::now() + Duration::from_secs(30));
    }
    let body = status_body(&server, running[0]);
    let own_transport = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        portico::benching::HttpServer::fixed_answer(listener, body.clone()).expect("bare transport")
    };
    let (rouille, tiny) = (bare_rouille(body.clone()), bare_tiny_http(body.clone()));
    println!("status polls: {} history rows, 2 jobs running, a {}-byte answer, token auth", HISTORY, body.len());

    for mode in &MODES {
        let ours_request = status_request(&server, running[0], mode.close);
        let plain = plain_request(mode.close);
        let targets: [(SocketAddr, &[u8]); 4] =
            [(server.addr, &ours_request), (own_transport.addr(), &plain), (rouille, &plain), (tiny, &plain)];
        let mut tallies = [Tally::default(); 4];
        for _ in 0..rounds {
            for (tally, (addr, request)) in tallies.iter_mut().zip(targets) {
                let got = round(addr, request, mode, round_time);
                tally.per_second += got.per_second / f64::from(rounds);
                tally.errors += got.errors;
            }
        }
        let [ours, transport, rouille_rate, tiny_rate] = tallies;
        let of_rouille = ours.per_second / rouille_rate.per_second;
        let of_tiny = ours.per_second / tiny_rate.per_second;
        let moonshot = if mode.close { String::new() } else { format!(" (moonshot 0.60: {of_tiny:.2})") };
        figure(
            &format!("status polls, {}", mode.name),
            &format!("{:.0} req/s ({} errors)", ours.per_second, ours.errors),
            &format!(
                "bare rouille {:.0} (target ratio 0.80); bare tiny_http {:.0}{moonshot}; the same transport with \
                 nothing behind it {:.0} ({} errors; ratio {:.2})",
                rouille_rate.per_second,
                tiny_rate.per_second,
                transport.per_second,
                transport.errors,
                ours.per_second / transport.per_second,
            ),
            of_rouille,
            of_rouille >= 0.8 && ours.errors == 0,
        );
    }
    drop(own_transport);
}
