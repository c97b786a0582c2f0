//! What the benchmarks share: starting the real binary on 127.0.0.1, reading its memory, and a
//! minimal raw HTTP/1.1 client (so the load generator costs as little as it can on 2 cores).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A `portico` process on a free loopback port with a temporary data directory.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub addr: SocketAddr,
    pub token: String,
    pub data: Option<tempfile::TempDir>,
}

impl Server {
    /// Stops this server and starts a new one on the same data directory.
    pub fn restart(mut self, workers: usize) -> (Server, Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        start_in(self.data.take().expect("data dir"), workers, &[])
    }

    /// Stops this server, lets `prepare` change its data directory, and starts a new one there.
    pub fn restart_after(self, workers: usize, prepare: impl FnOnce(&std::path::Path)) -> (Server, Duration) {
        self.restart_after_with(workers, &[], prepare)
    }

    /// As [`Server::restart_after`], with more command-line arguments.
    #[allow(dead_code)]
    pub fn restart_after_with(
        mut self,
        workers: usize,
        extra: &[&str],
        prepare: impl FnOnce(&std::path::Path),
    ) -> (Server, Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let data = self.data.take().expect("data dir");
        prepare(data.path());
        start_in(data, workers, extra)
    }

    /// CPU time the server has used so far (user + system), from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Duration {
        self.stat_ticks(11)
    }

    /// CPU time the server's children (its jobs' processes) used, counted as they are reaped.
    pub fn children_cpu_time(&self) -> Duration {
        self.stat_ticks(13)
    }

    /// The sum of the user and system clock ticks at `first` and `first + 1` of the fields
    /// after the command name in `/proc/<pid>/stat`, as a duration.
    fn stat_ticks(&self, first: usize) -> Duration {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let rest = text.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = rest.split_ascii_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        let ticks = fields.get(first).copied().unwrap_or(0) + fields.get(first + 1).copied().unwrap_or(0);
        // SAFETY: sysconf only reads a configuration value.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_micros(ticks * 1_000_000 / per_second)
    }

    pub fn rss_kib(&self) -> u64 {
        proc_status(self.child.id(), "VmRSS")
    }
}

impl Drop for Server {
    /// Asks the server to shut down, which ends its running jobs (a SIGKILLed server would
    /// leave them running, holding whatever they inherited, such as the cargo lock's
    /// descriptor), and SIGKILLs it only if it has not gone in 10 s.
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(workers: usize) -> (Server, Duration) {
    start_in(tempfile::tempdir().expect("temp dir"), workers, &[])
}

pub fn start_with(workers: usize, extra: &[&str]) -> Server {
    start_in(tempfile::tempdir().expect("temp dir"), workers, extra).0
}

/// Marks every descriptor this process inherited (above stderr) close-on-exec: `flock
/// lock cargo bench` hands the lock's descriptor down, and a server or job that outlived the
/// benchmark would hold the lock for everyone.
fn keep_inherited_descriptors_to_ourselves() {
    for fd in 3..1024 {
        // SAFETY: F_GETFD/F_SETFD on any number only reads or sets that descriptor's flags.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

fn start_in(data: tempfile::TempDir, workers: usize, extra: &[&str]) -> (Server, Duration) {
    keep_inherited_descriptors_to_ourselves();
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portico"));
    // A benchmark that panics does not drop its server: the server shuts down (ending its
    // jobs) when the benchmark's process dies.
    // SAFETY: prctl is async-signal-safe and only sets this child's own death signal.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = command
        .args(["--bind", "127.0.0.1:0", "--workers", &workers.to_string(), "--shutdown-grace", "1"])
        .arg("--data-dir")
        .arg(data.path())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portico");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
    let startup = started.elapsed();
    let base = line.trim().strip_prefix("portico listening on ").expect("listening line").to_string();
    let addr = base.trim_start_matches("http://").parse().expect("address");
    let credentials: toml::Value =
        toml::from_str(&std::fs::read_to_string(data.path().join("credentials.toml")).expect("credentials"))
            .expect("TOML");
    let token = credentials["tokens"][0]["token"].as_str().expect("token").to_string();
    (Server { child, base, addr, token, data: Some(data) }, startup)
}

/// A raw status poll of `task` with the server's token, keeping the connection or not.
pub fn status_request(server: &Server, task: u64, close: bool) -> Vec<u8> {
    let connection = if close { "close" } else { "keep-alive" };
    format!(
        "GET /api/rest_j/v1/entrance/{task}/status HTTP/1.1\r\nHost: x\r\nToken-Code: {}\r\nToken-User: hadoop\r\n\
         Connection: {connection}\r\n\r\n",
        server.token
    )
    .into_bytes()
}

/// A raw keep-alive submission of the shell `code` (a JSON string's contents) with the
/// server's token.
pub fn submit_request(server: &Server, code: &str) -> Vec<u8> {
    let body =
        format!(r#"{{"executionContent":{{"code":"{code}","runType":"shell"}},"labels":{{"engineType":"shell-1"}}}}"#);
    format!(
        "POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\nHost: x\r\nToken-Code: {}\r\nToken-User: hadoop\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.token,
        body.len()
    )
    .into_bytes()
}

/// A value from `/proc/<pid>/status` (`VmRSS`, `VmHWM` in KiB, `Threads`).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(&format!("{field}:")))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Raises this process's open-file limit to the hard limit (the load holds many sockets).
pub fn raise_fd_limit() -> u64 {
    portico::raise_fd_limit().unwrap_or(1024)
}

/// Sends one request on `stream` and reads its answer; returns the status code.
pub fn exchange(stream: &mut TcpStream, request: &[u8]) -> std::io::Result<u16> {
    stream.write_all(request)?;
    read_response(stream)
}

/// Reads one response (head plus a `Content-Length` body); returns the status code.
pub fn read_response(stream: &mut TcpStream) -> std::io::Result<u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            return Ok(status);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The `q`-quantile of `samples` (sorted here).
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples.get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1))).copied().unwrap_or_default()
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A size from the environment (`PORTICO_BENCH_*`), so a slow machine can scale a benchmark
/// down; the default is the issue's figure.
pub fn env_size(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Prints one figure the way every benchmark does: what, the figure, its ceiling (or target),
/// and the ratio, with whether the issue's bound holds.
pub fn figure(what: &str, figure: &str, ceiling: &str, ratio: f64, holds: bool) {
    let verdict = if holds { "ok" } else { "UNDER" };
    println!("{what}: {figure}, ceiling {ceiling}, ratio {ratio:.2} [{verdict}]");
}

/// Writes a config file into a fresh directory; the directory must outlive the server.
pub fn config_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("portico.toml");
    std::fs::write(&path, text).expect("config");
    let arg = path.to_str().expect("utf-8 path").to_string();
    (dir, arg)
}

/// One keep-alive connection acting as the admin, through a real HTTP client.
pub struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Api {
    pub fn new(server: &Server) -> Api {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).max_idle_connections_per_host(1).build();
        Api { agent, base: server.base.clone(), token: server.token.clone() }
    }

    /// A GET under `/api/rest_j/v1/` that must get an answer.
    pub fn call(&self, path: &str) -> ureq::Response {
        self.agent
            .get(&format!("{}/api/rest_j/v1/{path}", self.base))
            .set("Token-Code", &self.token)
            .set("Token-User", "hadoop")
            .call()
            .expect("GET")
    }

    pub fn get_text(&self, path: &str) -> String {
        self.call(path).into_string().expect("body")
    }

    pub fn get(&self, path: &str) -> Value {
        serde_json::from_str(&self.get_text(path)).expect("JSON")
    }

    /// Submits shell `code`; returns its taskID.
    pub fn submit(&self, code: &str) -> u64 {
        self.submit_as("shell-1", "shell", code)
    }

    /// Submits `code` to engine `engine_type` as run type `run_type`; returns its taskID.
    pub fn submit_as(&self, engine_type: &str, run_type: &str, code: &str) -> u64 {
        let body =
            json!({"executionContent": {"code": code, "runType": run_type}, "labels": {"engineType": engine_type}});
        let answer: Value = self
            .agent
            .post(&format!("{}/api/rest_j/v1/entrance/submit", self.base))
            .set("Token-Code", &self.token)
            .set("Token-User", "hadoop")
            .send_json(body)
            .expect("submit")
            .into_json()
            .expect("JSON");
        answer["data"]["taskID"].as_u64().expect("taskID")
    }

    /// A POST under `/api/rest_j/v1/` with a JSON body; returns the answer.
    pub fn post(&self, path: &str, body: Value) -> Value {
        self.agent
            .post(&format!("{}/api/rest_j/v1/{path}", self.base))
            .set("Token-Code", &self.token)
            .set("Token-User", "hadoop")
            .send_json(body)
            .expect("POST")
            .into_json()
            .expect("JSON")
    }

    /// The job's status word (`Inited`, `Running`, `Succeed`, ...).
    pub fn status(&self, task: u64) -> String {
        self.get(&format!("entrance/{task}/status"))["data"]["status"].as_str().unwrap_or_default().to_string()
    }

    /// Polls until the job's status is `state`, failing the benchmark after `deadline`.
    pub fn wait_status(&self, task: u64, state: &str, deadline: Instant) {
        while self.status(task) != state {
            assert!(Instant::now() < deadline, "job {task} did not reach {state} in time");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Polls the job until it has ended, failing the benchmark after `deadline`.
    pub fn wait_done(&self, task: u64, deadline: Instant) {
        self.wait_done_every(task, deadline, Duration::from_millis(1));
    }

    /// [`Api::wait_done`] polling every `every`: a long job polled every millisecond would
    /// measure the polling's cost on a 2-core machine as much as the job.
    pub fn wait_done_every(&self, task: u64, deadline: Instant, every: Duration) {
        loop {
            let status = self.get(&format!("entrance/{task}/status"));
            if matches!(status["data"]["status"].as_str(), Some("Succeed" | "Failed" | "Cancelled" | "Timeout")) {
                return;
            }
            assert!(Instant::now() < deadline, "job {task} did not finish in time");
            std::thread::sleep(every);
        }
    }
}

/// Bulk-loads `rows` finished jobs into the history database at `db`, straight through SQLite
/// (a million acknowledged single inserts would measure the disk, not what is benchmarked), as a long-lived
/// server's would be (10 users, one job in 7 failed), ended and with their files measured.
pub fn fill_history(db: &std::path::Path, rows: u64) {
    let mut conn = rusqlite::Connection::open(db).expect("open history");
    let tx = conn.transaction().expect("transaction");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO jobs (id, exec_id, short_id, instance, submit_user, execute_user, creator, engine, \
                 engine_type, run_type, code, params, source, log_path, result_dir, work_dir, status, ended, progress, \
                 created_ms, updated_ms, started_ms, ended_ms, exit_code, files_bytes) VALUES (?1, ?2, ?3, \
                 '127.0.0.1:9001', ?4, ?4, 'IDE', 'shell', 'shell-1', 'shell', 'echo hello', '{}', '{}', \
                 '/data/x.log', '/data/x', '/data/w', ?5, 1, 1.0, ?6, ?6, ?6, ?6, 0, 100)",
            )
            .expect("prepare");
        for id in 1..=rows {
            let user = format!("user{}", id % 10);
            let status = if id % 7 == 0 { "Failed" } else { "Succeed" };
            let created = 1_700_000_000_000 + id * 1000;
            insert
                .execute(rusqlite::params![
                    id,
                    format!("exec_{id}"),
                    format!("IDE_{user}_shell_{id}"),
                    user,
                    status,
                    created
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}
