//! Runaway jobs: output floods, result sets past their cap, and jobs past their process and
//! memory limits. The server must stay small and alive, and say what it cut or ended.

use crate::helper::{proc_status, Portico};

/// 300 MB on stdout and 150 MB on stderr, without a single newline, as fast as the pipes take
/// them.
const FLOOD: &str = "head -c 150000000 /dev/zero >&2 & head -c 300000000 /dev/zero; wait";

#[test]
fn floods_without_newlines_do_not_grow_the_server() {
    let server = Portico::start_with(&["--workers", "2"]);
    // The peak is reset to what is resident now (clear_refs 5, allowed on our own child), so
    // that the peak after the jobs, less the resident before them, is what they cost.
    std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").unwrap();
    let before = proc_status(server.pid(), "VmRSS");
    let floods = [server.submit_shell(FLOOD).0, server.submit_shell(FLOOD).0];
    for exec_id in &floods {
        assert_eq!(server.wait_done(exec_id), "Succeed");
    }
    let grew = proc_status(server.pid(), "VmHWM").saturating_sub(before);
    eprintln!("two floods grew the server's peak by {grew} KiB");
    // Two jobs at 2 MiB of output each, with the allocator's slack.
    assert!(grew < 16 * 1024, "two floods grew the server's peak by {grew} KiB");
}
