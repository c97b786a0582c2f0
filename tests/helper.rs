//! A real server per test, HTTP clients acting as its users, and waiting with deadlines.

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A config file with three users and tokens, for tests about who may do what.
pub const MULTI_USER_CONFIG: &str = r#"
[server]
session_timeout_secs = 3600

[[users]]
name = "alice"
password = "alice-pass"

[[users]]
name = "bob"
password = "bob-pass"

[[users]]
name = "root"
password = "root-pass"
admin = true

[[tokens]]
token = "TEST-AUTH-0123456789"
users = ["*"]
hosts = ["*"]

[[tokens]]
token = "TEST-ADMIN-0123456789"
users = ["*"]
hosts = ["127.0.0.1"]
may_submit_for_others = true
"#;

/// The ordinary token of [`MULTI_USER_CONFIG`].
pub const TEST_TOKEN: &str = "TEST-AUTH-0123456789";

/// A `portico` process serving on a free loopback port with its own data directory. It derefs
/// to a [`Client`] authenticated as the admin (the first-start `hadoop`, or `root` with
/// [`MULTI_USER_CONFIG`]).
pub struct Portico {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    _data: Option<tempfile::TempDir>,
    admin: Client,
}

impl Portico {
    /// A server with test-friendly defaults (2 workers, 1 s kill grace).
    pub fn start() -> Portico {
        Portico::start_with(&[])
    }

    /// A server with extra flags (later flags win over the defaults given here).
    pub fn start_with(extra: &[&str]) -> Portico {
        let data = tempfile::tempdir().expect("temp dir");
        let mut server = Portico::start_in(data.path(), extra);
        server._data = Some(data);
        server
    }

    /// A server reading `config` (TOML) as its config file.
    pub fn start_with_config(config: &str, extra: &[&str]) -> Portico {
        let data = tempfile::tempdir().expect("temp dir");
        let path = data.path().join("portico-test.toml");
        std::fs::write(&path, config).expect("write config");
        let mut args = vec!["--config", path.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        let mut server = Portico::start_in(data.path(), &args);
        server._data = Some(data);
        server
    }

    /// A server on an existing data directory (for restarts); the caller keeps the directory.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Portico {
        Portico::launch(Command::new(env!("CARGO_BIN_EXE_portico")), data_dir, extra, Stdio::inherit())
    }

    /// A server reading `config`, its log (stderr) going to the file `log`.
    pub fn start_logging_to(config: &str, extra: &[&str], log: &Path) -> Portico {
        let data = tempfile::tempdir().expect("temp dir");
        let path = data.path().join("portico-test.toml");
        std::fs::write(&path, config).expect("write config");
        let mut args = vec!["--config", path.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        let stderr = std::fs::File::create(log).expect("log file");
        let mut server =
            Portico::launch(Command::new(env!("CARGO_BIN_EXE_portico")), data.path(), &args, stderr.into());
        server._data = Some(data);
        server
    }

    /// A server started through `sh -c 'ulimit -n LIMIT; exec portico …'`.
    pub fn start_with_fd_limit(limit: u32) -> Portico {
        let data = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\"")).arg(env!("CARGO_BIN_EXE_portico"));
        let mut server = Portico::launch(command, data.path(), &[], Stdio::inherit());
        server._data = Some(data);
        server
    }

    fn launch(mut command: Command, data_dir: &Path, extra: &[&str], stderr: Stdio) -> Portico {
        command
            .args(["--bind", "127.0.0.1:0", "--workers", "2", "--kill-grace", "1", "--log-level", "warn"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command.spawn().expect("start portico");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(PATIENCE).expect("portico printed no listening line");
        let base = line.strip_prefix("portico listening on ").expect("listening line").trim().to_string();
        let anonymous = Client::anonymous(&base);
        let admin = if extra.contains(&"--config") {
            anonymous.with_token(TEST_TOKEN, "root")
        } else {
            let (_, token) = bootstrap_credentials(data_dir);
            anonymous.with_token(&token, "hadoop")
        };
        Portico { child, base, data_dir: data_dir.to_path_buf(), _data: None, admin }
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client {
        Client::anonymous(&self.base)
    }

    /// A client authenticated by token as `user`.
    pub fn as_user(&self, user: &str) -> Client {
        self.anonymous().with_token(TEST_TOKEN, user)
    }

    /// The server's process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it.
    pub fn crash(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }

    /// Sends SIGTERM and waits for the server to exit; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGTERM) }, 0);
        let child = &mut self.child;
        eventually("the server to exit after SIGTERM", || child.try_wait().expect("try_wait")).code()
    }

    /// The server's exit code once it has exited by itself (`Some(None)` for a signal).
    pub fn try_exit_code(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().expect("try_wait").map(|status| status.code())
    }
}

impl Deref for Portico {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.admin
    }
}

impl Drop for Portico {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first-start admin's password and token, from the data directory.
pub fn bootstrap_credentials(data_dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(data_dir.join("credentials.toml")).expect("credentials.toml");
    let file: toml::Value = toml::from_str(&text).expect("credentials TOML");
    let password = file["login_password"].as_str().expect("login_password").to_string();
    let token = file["tokens"][0]["token"].as_str().expect("token").to_string();
    (password, token)
}

/// A job holding a worker (it waits for a file to appear), from [`Client::hold_a_worker`].
pub struct Holder {
    pub id: String,
    gate: tempfile::TempDir,
}

impl Holder {
    /// Lets the job end.
    pub fn release(&self) {
        std::fs::write(self.gate.path().join("go"), "").expect("open the gate");
    }

    /// A folder for the test's own files, gone with the holder.
    pub fn dir(&self) -> &Path {
        self.gate.path()
    }
}

/// An HTTP client acting as one user (or as nobody).
#[derive(Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
    headers: Vec<(String, String)>,
}

impl Client {
    fn anonymous(base: &str) -> Client {
        Client {
            base: base.to_string(),
            agent: ureq::AgentBuilder::new().timeout(PATIENCE).build(),
            headers: Vec::new(),
        }
    }

    /// This client with `Token-Code`/`Token-User` headers.
    pub fn with_token(&self, code: &str, user: &str) -> Client {
        self.with_header("Token-Code", code).with_header("Token-User", user)
    }

    /// This client with one more request header.
    pub fn with_header(&self, name: &str, value: &str) -> Client {
        let mut client = self.clone();
        client.headers.push((name.to_string(), value.to_string()));
        client
    }

    /// Logs in with a password; returns a client carrying the session cookie.
    pub fn login(&self, user: &str, password: &str) -> Client {
        let (code, body, cookie) =
            self.post_full("user/login", &serde_json::json!({"userName": user, "password": password}).to_string());
        assert_eq!(code, 200, "login of {user} failed: {body}");
        let cookie = cookie.expect("login sets a cookie");
        let pair = cookie.split(';').next().expect("cookie pair").to_string();
        assert!(pair.starts_with("linkis_user_session_ticket_id_v1="), "{cookie}");
        Client::anonymous(&self.base).with_header("Cookie", &pair)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/rest_j/v1/{}", self.base, path.trim_start_matches('/'))
    }

    fn send(&self, request: ureq::Request, body: Option<&str>) -> (u16, Value, Option<String>) {
        self.send_reading(request, body, "Set-Cookie")
    }

    fn send_reading(&self, request: ureq::Request, body: Option<&str>, header: &str) -> (u16, Value, Option<String>) {
        let request = self.headers.iter().fold(request, |r, (name, value)| r.set(name, value));
        let result = match body {
            Some(body) => request.set("Content-Type", "application/json").send_string(body),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("request failed: {e}"),
        };
        let code = response.status();
        let header = response.header(header).map(str::to_string);
        let text = response.into_string().expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (code, body, header)
    }

    /// GET a path under `/api/rest_j/v1/`; returns the HTTP code and the JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let (code, body, _) = self.send(self.agent.get(&self.url(path)), None);
        (code, body)
    }

    /// POST a raw body to a path under `/api/rest_j/v1/`.
    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let (code, body, _) = self.post_full(path, body);
        (code, body)
    }

    /// POST, also returning the Set-Cookie header.
    pub fn post_full(&self, path: &str, body: &str) -> (u16, Value, Option<String>) {
        self.send(self.agent.post(&self.url(path)), Some(body))
    }

    /// POST, also returning the response header `name`.
    pub fn post_header(&self, path: &str, body: &str, name: &str) -> (u16, Value, Option<String>) {
        self.send_reading(self.agent.post(&self.url(path)), Some(body), name)
    }

    /// GET that must succeed (status 0); returns `data`.
    pub fn ok(&self, path: &str) -> Value {
        let (code, body) = self.get(path);
        assert_eq!((code, &body["status"]), (200, &Value::from(0)), "GET {path}: {body}");
        body["data"].clone()
    }

    /// Submits a job that holds a worker until [`Holder::release`], and waits until it runs.
    pub fn hold_a_worker(&self) -> Holder {
        let gate = tempfile::tempdir().expect("gate folder");
        let go = gate.path().join("go");
        let (id, _) = self.submit_shell(&format!("while [ ! -f {} ]; do sleep 0.01; done", go.display()));
        self.wait_state(&id, "Running");
        Holder { id, gate }
    }

    /// Submits shell code (1.x body); returns (execID, taskID).
    pub fn submit_shell(&self, code: &str) -> (String, u64) {
        self.submit(&serde_json::json!({
            "executionContent": {"code": code, "runType": "shell"},
            "labels": {"engineType": "shell-1"}
        }))
    }

    /// Submits any body that must be accepted; returns (execID, taskID).
    pub fn submit(&self, body: &Value) -> (String, u64) {
        let (code, answer) = self.post("entrance/submit", &body.to_string());
        assert_eq!(code, 200, "submit refused: {answer}");
        let exec_id = answer["data"]["execID"].as_str().expect("execID").to_string();
        let task_id = answer["data"]["taskID"].as_u64().expect("numeric taskID");
        (exec_id, task_id)
    }

    /// The job's status name.
    pub fn state(&self, id: &str) -> String {
        self.ok(&format!("entrance/{id}/status"))["status"].as_str().expect("status").to_string()
    }

    /// Waits until the job reaches a terminal state; returns it.
    pub fn wait_done(&self, id: &str) -> String {
        eventually(&format!("job {id} to end"), || {
            let state = self.state(id);
            matches!(state.as_str(), "Succeed" | "Failed" | "Cancelled" | "Timeout").then_some(state)
        })
    }

    /// Waits until the job is in `state`.
    pub fn wait_state(&self, id: &str, state: &str) {
        eventually(&format!("job {id} to be {state}"), || (self.state(id) == state).then_some(()));
    }

    /// Submits `code` to `engine_type` as `run_type` with `params` (labels as a Linkis SDK
    /// sends them); the taskID, or the refusal's whole answer.
    pub fn try_submit(&self, engine_type: &str, run_type: &str, code: &str, params: Value) -> Result<u64, Value> {
        let user = self.ok("user/userInfo")["userName"].as_str().expect("userName").to_string();
        let body = serde_json::json!({
            "executionContent": {"code": code, "runType": run_type},
            "params": params,
            "labels": {"engineType": engine_type, "userCreator": format!("{user}-IDE")}
        });
        let (_, answer) = self.post("entrance/submit", &body.to_string());
        match answer["data"]["taskID"].as_u64() {
            Some(task_id) if answer["status"] == 0 => Ok(task_id),
            _ => Err(answer),
        }
    }

    /// The job's history record (`jobhistory/{taskID}/get`), as it is now.
    pub fn history_task(&self, task_id: u64) -> Value {
        self.ok(&format!("jobhistory/{task_id}/get"))["task"].clone()
    }

    /// Where the job's log is on disk, from its record's `logPath` (a `file://` URI).
    pub fn log_path_of(&self, task_id: u64) -> PathBuf {
        let task = self.history_task(task_id);
        PathBuf::from(task["logPath"].as_str().expect("logPath").strip_prefix("file://").expect("a file:// URI"))
    }

    /// The job's history record once it has ended (`None` before).
    pub fn ended_record(&self, task_id: u64) -> Option<Value> {
        let task = self.history_task(task_id);
        matches!(task["status"].as_str(), Some("Succeed" | "Failed" | "Cancelled" | "Timeout")).then_some(task)
    }

    /// Polls the job's history record, as a Linkis SDK does, until it has ended.
    pub fn wait_record(&self, task_id: u64) -> Value {
        eventually(&format!("job {task_id} to end"), || self.ended_record(task_id))
    }

    /// Every result file of an ended job's record, in the order clients sort them (by number).
    pub fn result_files(&self, task: &Value) -> Vec<String> {
        let location = task["resultLocation"].as_str().expect("resultLocation");
        let tree = self.ok(&format!("filesystem/getDirFileTrees?path={location}"))["dirFileTrees"].clone();
        let mut files: Vec<(u64, String)> = tree["children"]
            .as_array()
            .expect("a listing, even when empty")
            .iter()
            .map(|child| {
                let name = child["name"].as_str().expect("name");
                let n = name.trim_start_matches('_').trim_end_matches(".dolphin").parse().expect("a numbered result");
                (n, child["path"].as_str().expect("path").to_string())
            })
            .collect();
        files.sort();
        files.into_iter().map(|(_, path)| path).collect()
    }

    /// Every log line of a job, read page by page through `fromLine`.
    pub fn log_lines(&self, id: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let mut from = 1;
        loop {
            let data = self.ok(&format!("entrance/{id}/log?fromLine={from}&size=500"));
            let all = data["log"][3].as_str().expect("four-slot log").to_string();
            let next = data["fromLine"].as_u64().expect("fromLine");
            if next == from {
                return lines;
            }
            lines.extend(all.split('\n').map(str::to_string));
            from = next;
        }
    }
}

/// Polls `check` every 10 ms until it returns `Some`, failing the test after [`PATIENCE`] with
/// a message naming `what` it waited for.
pub fn eventually<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    eventually_within(PATIENCE, what, check)
}

/// [`eventually`] with a patience of its own (a real Spark driver takes longer).
pub fn eventually_within<T>(patience: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process's state letter from `/proc/<pid>/stat` (`R`, `S`, `T`, `Z`…); `None` once gone.
pub fn proc_state(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit(')').next()?.split_whitespace().next()?.to_string())
}

/// Whether a process is alive (a zombie waiting for its parent to reap it counts as dead).
pub fn alive(pid: i32) -> bool {
    proc_state(pid).is_some_and(|state| state != "Z" && state != "X")
}

/// The live processes whose command line contains `needle`.
pub fn processes_matching(needle: &str) -> Vec<i32> {
    processes_where(|cmdline, _| cmdline.contains(needle))
}

/// The live processes for which `keep(command line, working directory)` holds.
pub fn processes_where(keep: impl Fn(&str, &Path) -> bool) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
            (keep(&String::from_utf8_lossy(&cmdline), &cwd) && alive(pid)).then_some(pid)
        })
        .collect()
}

/// A TCP connection to `addr` from the local address `source` (another loopback address, for
/// tests of per-address limits): std cannot bind before connecting, so this goes through libc.
pub fn connect_from(source: std::net::Ipv4Addr, addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    let std::net::SocketAddr::V4(target) = addr else { panic!("IPv4 only") };
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns until it hands it over.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = std::net::TcpStream::from_raw_fd(fd);
        let local = sockaddr(source, 0);
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let remote = sockaddr(*target.ip(), target.port());
        if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// A value from `/proc/<pid>/status` (`VmRSS`, `VmHWM` in KiB, `Threads`).
pub fn proc_status(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(&format!("{field}:")))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}
