//! The client subcommands (`portico run`, `wait`, `result`, `history`, …) run as the built
//! binary against a real server: output, exit codes, linkis-cli aliases, password login and
//! Ctrl-C.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use crate::helper::{eventually, Portico, MULTI_USER_CONFIG, TEST_TOKEN};

/// What one client command did.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The client as `alice` with the test token, and nothing from this process's environment
/// (no client config file, no PORTICO_* variables).
fn client(server: &Portico, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portico"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORTICO_CLIENT_CONFIG", "/dev/null")
        .env("PORTICO_URL", &server.base)
        .env("PORTICO_USER", "alice")
        .env("PORTICO_TOKEN", TEST_TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits (with a deadline) for a started client to exit and collects its output.
fn finish(mut child: Child) -> Ran {
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = eventually("the client to exit", || child.try_wait().expect("try_wait"));
    Ran { code: status.code(), stdout: out.join().expect("stdout reader"), stderr: err.join().expect("stderr reader") }
}

fn run(command: &mut Command) -> Ran {
    finish(command.spawn().expect("start the client"))
}

fn cli(server: &Portico, args: &[&str]) -> Ran {
    run(&mut client(server, args))
}

/// Waits until job `task` exists (the client may not have submitted it yet) and is Running.
fn wait_running(server: &Portico, task: &str) {
    let alice = server.as_user("alice");
    eventually(&format!("job {task} to be Running"), || {
        let (_, answer) = alice.get(&format!("entrance/{task}/status"));
        (answer["data"]["status"] == "Running").then_some(())
    });
}

/// The taskID a `run --detach` printed.
fn detached(ran: &Ran) -> String {
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let task = ran.stdout.lines().find_map(|l| l.strip_prefix("taskID=")).expect("a taskID= line");
    assert!(ran.stdout.lines().any(|l| l.starts_with("execID=exec_id")), "{ran:?}");
    task.to_string()
}

#[test]
fn run_prints_the_text_result_follows_the_log_and_exits_0() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let ran = cli(&server, &["run", "-e", "shell", "-c", "echo hi; echo to-stderr >&2"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "hi\n");
    assert!(ran.stderr.contains("job 1 submitted"), "{}", ran.stderr);
    assert!(ran.stderr.lines().any(|l| l == "to-stderr"), "the log is followed on stderr: {}", ran.stderr);
    assert!(ran.stderr.contains("Succeed"), "{}", ran.stderr);
    assert_eq!(server.as_user("alice").state("1"), "Succeed");
}

#[test]
fn a_failing_script_exits_1_and_says_why() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let ran = cli(&server, &["run", "-q", "-c", "echo partial; exit 3"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(ran.stdout, "partial\n", "what it printed is still shown");
    assert!(ran.stderr.contains("job 1 Failed") && ran.stderr.contains("code 3"), "{}", ran.stderr);
}

#[test]
fn a_job_killed_while_followed_exits_2() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let child = client(&server, &["run", "-c", "sleep 60"]).spawn().expect("start the client");
    wait_running(&server, "1");
    let alice = server.as_user("alice");
    let (code, answer) = alice.get("entrance/1/kill");
    assert_eq!(code, 200, "{answer}");
    let ran = finish(child);
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(ran.stderr.contains("job 1 Cancelled"), "{}", ran.stderr);
}

#[test]
fn ctrl_c_kills_the_job_says_so_and_exits_2() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let child = client(&server, &["run", "-c", "sleep 60"]).spawn().expect("start the client");
    wait_running(&server, "1");
    // SAFETY: kill(2) on the client process this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let ran = finish(child);
    assert_eq!(ran.code, Some(2), "{ran:?}");
    assert!(ran.stderr.contains("interrupted: job 1 killed"), "{}", ran.stderr);
    assert_eq!(server.as_user("alice").wait_done("1"), "Cancelled");
}

#[test]
fn an_unreachable_server_exits_3() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let ran = run(client(&server, &["run", "-c", "echo hi"]).env("PORTICO_URL", format!("http://127.0.0.1:{port}")));
    assert_eq!(ran.code, Some(3), "{ran:?}");
    assert!(ran.stderr.contains("cannot reach the server"), "{}", ran.stderr);
}

#[test]
fn a_refused_submit_exits_3_with_the_servers_message() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let ran = cli(&server, &["run", "-e", "nope", "-c", "echo hi"]);
    assert_eq!(ran.code, Some(3), "{ran:?}");
    assert!(ran.stderr.contains("Unsupported engineType nope"), "{}", ran.stderr);
    let bad_token = run(client(&server, &["status", "1"]).env("PORTICO_TOKEN", "WRONG-TOKEN"));
    assert_eq!(bad_token.code, Some(3), "{bad_token:?}");
    let bad_option = cli(&server, &["run", "--no-such-option", "-c", "x"]);
    assert_eq!(bad_option.code, Some(4), "a usage error is not a job outcome: {bad_option:?}");
}

#[test]
fn detach_prints_the_ids_and_wait_returns_the_jobs_outcome() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let failed = detached(&cli(&server, &["run", "--detach", "-c", "exit 1"]));
    let succeeded = detached(&cli(&server, &["run", "-d", "-c", "echo done"]));
    let killed = detached(&cli(&server, &["run", "-d", "-c", "sleep 60"]));
    assert_eq!(cli(&server, &["wait", &failed]).code, Some(1));
    assert_eq!(cli(&server, &["wait", &succeeded]).code, Some(0));
    let exec_id = server.as_user("alice").ok(&format!("entrance/{killed}/status"))["execID"]
        .as_str()
        .expect("execID")
        .to_string();
    let kill = cli(&server, &["kill", &exec_id]);
    assert_eq!(kill.code, Some(0), "an execID names the job too: {kill:?}");
    let waited = cli(&server, &["wait", &killed]);
    assert_eq!(waited.code, Some(2), "{waited:?}");
    assert!(waited.stderr.contains("Cancelled"), "{}", waited.stderr);
}

#[test]
fn status_log_pause_and_resume_report_the_job() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let task = detached(&cli(&server, &["run", "-d", "-c", "echo started; sleep 60"]));
    let alice = server.as_user("alice");
    alice.wait_state(&task, "Running");
    let paused = cli(&server, &["pause", &task]);
    assert_eq!(paused.code, Some(0), "{paused:?}");
    let status = cli(&server, &["status", &task]);
    assert!(status.stdout.contains("status:    Running (paused)"), "{status:?}");
    assert_eq!(cli(&server, &["resume", &task]).code, Some(0));
    assert!(!cli(&server, &["status", &task]).stdout.contains("paused"));
    eventually("the job's output in its log", || {
        let log = cli(&server, &["log", &task]);
        log.stdout.lines().any(|l| l == "started").then_some(())
    });
    assert_eq!(cli(&server, &["kill", &task]).code, Some(0));
    assert_eq!(alice.wait_done(&task), "Cancelled");
    let ended = cli(&server, &["status", &task]);
    assert!(ended.stdout.contains("status:    Cancelled"), "{ended:?}");
    let again = cli(&server, &["pause", &task]);
    assert!(again.stdout.contains("had already ended (Cancelled): nothing to pause"), "{again:?}");
    let unknown = cli(&server, &["status", "999"]);
    assert_eq!(unknown.code, Some(3), "{unknown:?}");
}

#[test]
fn table_results_print_aligned_and_as_csv_and_json() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let sql = "select 1 as a, 'x' as b union all select 22, null";
    let ran = cli(&server, &["run", "-q", "-e", "sqlite", "-c", sql]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "a   b\n--  ----\n1   x\n22  NULL\n");
    let csv = cli(&server, &["result", "1", "-o", "csv"]);
    assert_eq!(csv.stdout, "a,b\n1,x\n22,\n", "{csv:?}");
    let json = cli(&server, &["result", "1", "--output", "json"]);
    assert_eq!(json.stdout, "{\"a\":\"1\",\"b\":\"x\"}\n{\"a\":\"22\",\"b\":null}\n", "{json:?}");

    let python = "print('before')\nfrom portico import show\nshow([(1, 'Zoë'), (100, None)], columns=['id', 'name'])";
    let ran = cli(&server, &["run", "-q", "-e", "python", "-c", python]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "before\n\nid   name\n---  ----\n1    Zoë\n100  NULL\n");
}

#[test]
fn result_of_a_job_still_running_is_refused_without_a_server_error() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let task = detached(&cli(&server, &["run", "-d", "-c", "sleep 60"]));
    let ran = cli(&server, &["result", &task]);
    assert_eq!(ran.code, Some(4), "{ran:?}");
    assert!(ran.stderr.contains("portico wait"), "{}", ran.stderr);
}

#[test]
fn history_lists_the_jobs_newest_first_and_filters_by_state() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    assert_eq!(cli(&server, &["run", "-q", "-c", "true"]).code, Some(0));
    assert_eq!(cli(&server, &["run", "-q", "-e", "sqlite", "-c", "select 1"]).code, Some(0));
    assert_eq!(cli(&server, &["run", "-q", "-c", "exit 1"]).code, Some(1));
    let ran = cli(&server, &["history"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["id", "state", "engine", "user", "created", "duration"]
    );
    let rows: Vec<Vec<&str>> = lines[2..].iter().map(|l| l.split_whitespace().take(4).collect()).collect();
    assert_eq!(
        rows,
        [["3", "Failed", "shell", "alice"], ["2", "Succeed", "sqlite", "alice"], ["1", "Succeed", "shell", "alice"]]
    );
    let failed = cli(&server, &["history", "--status", "Failed"]);
    assert_eq!(failed.stdout.lines().count(), 3, "{failed:?}");
    let page = cli(&server, &["history", "--limit", "1", "--page", "2"]);
    assert!(page.stdout.lines().nth(2).is_some_and(|l| l.starts_with("2 ")), "{page:?}");
    assert!(page.stderr.contains("--page 3"), "{page:?}");
}

#[test]
fn linkis_cli_options_are_accepted() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let args = ["-engineType", "shell-1", "-codeType", "shell", "-code", "echo hi ${who}", "-varMap", "who=there"];
    let ran = cli(&server, &[&["run"], &args[..]].concat());
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "hi there\n");
    let bare = cli(&server, &args);
    assert_eq!(bare.code, Some(0), "a linkis-cli command line without `run`: {bare:?}");
    assert_eq!(bare.stdout, "hi there\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("job.py");
    std::fs::write(&script, "print('from a file')\n").expect("write");
    let file = cli(&server, &["-codePath", script.to_str().expect("utf-8"), "-submitUser", "bob"]);
    assert_eq!(file.stdout, "from a file\n", "{file:?}");
    assert_eq!(server.as_user("bob").ok("jobhistory/3/get")["task"]["executeApplicationName"], "python");
}

#[test]
fn a_password_login_works_without_a_token() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let ran = run(client(&server, &["run", "-c", "echo hi"])
        .env_remove("PORTICO_TOKEN")
        .env("PORTICO_PASSWORD", "alice-pass"));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "hi\n");
    assert_eq!(server.ok("jobhistory/1/get")["task"]["executeUser"], "alice");
    let wrong = run(client(&server, &["history"]).env_remove("PORTICO_TOKEN").env("PORTICO_PASSWORD", "nope"));
    assert_eq!(wrong.code, Some(3), "{wrong:?}");
    let mut detached = client(&server, &["history"]);
    detached.env_remove("PORTICO_TOKEN");
    // SAFETY: setsid is async-signal-safe; it leaves the child without a controlling terminal,
    // so the client cannot ask for a password even when the tests run in one.
    unsafe {
        detached.pre_exec(|| if libc::setsid() < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) });
    }
    let no_terminal = run(&mut detached);
    assert_eq!(no_terminal.code, Some(4), "no token, no password, no terminal: {no_terminal:?}");
    assert!(no_terminal.stderr.contains("PORTICO_PASSWORD"), "{}", no_terminal.stderr);
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    for shell in ["bash", "zsh", "fish"] {
        let ran = cli(&server, &["completions", shell]);
        assert_eq!(ran.code, Some(0), "{ran:?}");
        assert!(ran.stdout.contains("history") && ran.stdout.contains("output"), "{shell}: {}", ran.stdout);
    }
}

#[test]
fn run_options_reach_the_job_and_code_can_come_from_stdin() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let ran =
        cli(&server, &["run", "-q", "--var", "who=you", "--conf", "env.GREETING=hey", "-c", "echo $GREETING ${who}"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), "hey you\n"), "{ran:?}");
    let mut child = client(&server, &["run", "-q", "-f", "-"]).stdin(Stdio::piped()).spawn().expect("start the client");
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"echo from stdin\n").expect("write the code");
    drop(stdin);
    let ran = finish(child);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), "from stdin\n"), "{ran:?}");
    let timed_out = cli(&server, &["run", "-q", "--timeout", "1", "-c", "sleep 60"]);
    assert_eq!(timed_out.code, Some(2), "a Timeout exits 2: {timed_out:?}");
    assert!(timed_out.stderr.contains("Timeout"), "{}", timed_out.stderr);
}

#[test]
fn a_client_config_file_names_the_server_and_flags_win_over_it() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("client.toml");
    std::fs::write(&config, format!("url = \"{}\"\nuser = \"bob\"\ntoken = \"{TEST_TOKEN}\"\n", server.base))
        .expect("write the client config");
    let from_file = || {
        let mut command = client(&server, &[]);
        command.env_remove("PORTICO_URL").env_remove("PORTICO_USER").env_remove("PORTICO_TOKEN");
        command.env("PORTICO_CLIENT_CONFIG", &config);
        command
    };
    let ran = run(from_file().args(["run", "-q", "-c", "echo hi"]));
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), "hi\n"), "{ran:?}");
    assert_eq!(server.ok("jobhistory/1/get")["task"]["executeUser"], "bob");
    let ran = run(from_file().args(["run", "-q", "--user", "alice", "-c", "echo hi"]));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(server.ok("jobhistory/2/get")["task"]["executeUser"], "alice", "--user wins over the file");
    std::fs::write(&config, "adress = \"http://typo\"\n").expect("write");
    let ran = run(from_file().args(["history"]));
    assert_eq!(ran.code, Some(4), "{ran:?}");
    assert!(ran.stderr.contains("adress"), "the unknown key is named: {}", ran.stderr);
}

#[test]
fn a_command_line_starting_with_a_client_option_is_the_clients() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let ran = cli(&server, &["-c", "echo implied run"]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout.trim(), "implied run");
    let submitted = cli(&server, &["run", "-d", "-c", "true"]);
    let task = detached(&submitted);
    let status = cli(&server, &["--token", TEST_TOKEN, "status", &task]);
    assert_eq!(status.code, Some(0), "connection options before the subcommand: {status:?}");
}

#[test]
fn a_reader_that_stops_early_ends_the_client_quietly() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    // stdout closed after the first bytes, as `portico history | head -c 10` does.
    let mut child = client(&server, &["run", "-q", "-c", "seq 1 200000"]).spawn().expect("start the client");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).expect("the first bytes of the result");
    drop(stdout);
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr");
    let status = eventually("the client to exit", || child.try_wait().expect("try_wait"));
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(status.code(), Some(101), "a panic's exit code: {stderr}");
    assert_ne!(status.code(), Some(4), "not a usage error: {stderr}");
}

#[test]
fn a_second_ctrl_c_leaves_when_the_server_does_not_answer_the_kill() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let child = client(&server, &["run", "-c", "sleep 60"]).spawn().expect("start the client");
    wait_running(&server, "1");
    // SAFETY: signals to the server and the client this test started.
    unsafe {
        assert_eq!(libc::kill(server.pid(), libc::SIGSTOP), 0);
        assert_eq!(libc::kill(child.id() as i32, libc::SIGINT), 0);
    }
    let client_pid = child.id() as i32;
    // The first Ctrl-C's kill request waits on the stopped server; the second leaves.
    let second = std::thread::spawn(move || {
        // Two SIGINTs pending at once would be one: the second goes once the first is taken.
        eventually("the client to take the first Ctrl-C", || {
            let status = std::fs::read_to_string(format!("/proc/{client_pid}/status")).ok()?;
            let pending = status.lines().find_map(|l| l.strip_prefix("ShdPnd:"))?;
            let pending = u64::from_str_radix(pending.trim(), 16).ok()?;
            (pending & (1 << (libc::SIGINT - 1)) == 0).then_some(())
        });
        // SAFETY: as above.
        unsafe { libc::kill(client_pid, libc::SIGINT) }
    });
    let ran = finish(child);
    assert_eq!(second.join().expect("signaller"), 0);
    // SAFETY: as above.
    unsafe { libc::kill(server.pid(), libc::SIGCONT) };
    assert_eq!(ran.code, Some(3), "{ran:?}");
    assert!(ran.stderr.contains("interrupted again"), "{}", ran.stderr);
}
