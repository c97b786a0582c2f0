//! The example systemd unit (`deploy/portico.service`) says what the server does: its command
//! line starts a server, SIGTERM stops it cleanly within the stop timeout with a running job
//! recorded, and a server that cannot go on exits non-zero (which `Restart=on-failure` restarts).

use std::path::Path;

use crate::helper::{eventually, Portico};

const UNIT: &str = include_str!("../deploy/portico.service");

/// The value of the first active (uncommented) `key=` line.
fn setting<'a>(key: &str) -> &'a str {
    UNIT.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("the unit has no {key}="))
}

/// The flags of `ExecStart` after `serve`, with the unit's data directory replaced by `data`.
fn exec_start_flags(data: &Path) -> Vec<String> {
    let words: Vec<&str> = setting("ExecStart").split_whitespace().collect();
    assert!(words[0].ends_with("/portico") && words[1] == "serve", "ExecStart runs `portico serve`: {words:?}");
    words[2..]
        .iter()
        .map(|word| if *word == "/var/lib/portico" { data.display().to_string() } else { word.to_string() })
        .collect()
}

#[test]
fn the_systemd_unit_starts_stops_cleanly_and_restarts_only_on_failure() {
    assert_eq!(setting("KillMode"), "mixed", "SIGTERM must reach the server alone, not every job at once");
    assert_eq!(setting("Restart"), "on-failure");
    let flags_text = setting("ExecStart");
    let grace: u64 = flags_text
        .split_whitespace()
        .skip_while(|w| *w != "--shutdown-grace")
        .nth(1)
        .and_then(|g| g.parse().ok())
        .expect("ExecStart sets --shutdown-grace");
    let timeout: u64 = setting("TimeoutStopSec").parse().expect("TimeoutStopSec in seconds");
    // The server's own stop is the grace plus the kill grace (3 s by default) plus recording.
    assert!(timeout >= grace + 10, "TimeoutStopSec {timeout} leaves no room after a {grace} s grace");

    let data = tempfile::tempdir().expect("temp dir");
    let flags = exec_start_flags(data.path());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut server = Portico::start_in(data.path(), &flags);
    let (exec_id, _) = server.submit_shell("echo started; sleep 1; echo finished");
    server.wait_state(&exec_id, "Running");

    // The same data directory cannot be served twice: that server exits non-zero at once.
    // Waited for with a deadline: a second server that did start would otherwise never exit.
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(&flags)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run a second server");
    let exited = eventually("the second server to give up", || second.try_wait().expect("try_wait"));
    assert_ne!(exited.code(), Some(0), "a server that cannot go on must exit non-zero");

    // SIGTERM: a clean stop (exit 0, which Restart=on-failure leaves stopped), the running
    // job allowed to finish within the grace.
    assert_eq!(server.terminate(), Some(0));
    drop(server);
    let server = Portico::start_in(data.path(), &flags);
    assert_eq!(server.wait_done(&exec_id), "Succeed");
}
