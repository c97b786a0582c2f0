use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::job::pipes::{BUDGET_BYTES, EVENT_BUFFER, MAX_LINE_BYTES};

fn start(script: &str) -> Child {
    Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn next(events: &crossbeam_channel::Receiver<Event>) -> Event {
    events.recv_timeout(Duration::from_secs(30)).expect("an event within 30 s")
}

#[test]
fn lines_from_both_pipes_then_their_ends_and_the_exit_arrive() {
    let budget = Budget::new();
    let (tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
    spawn(start("echo out1; echo err1 >&2; printf 'out2'; exit 3"), Arc::clone(&budget), tx).unwrap();
    let (mut out, mut err, mut closed, mut exit) = (Vec::new(), Vec::new(), 0, None);
    while closed < 2 || exit.is_none() {
        match next(&events) {
            Event::Lines(Stream::Stdout, lines) => out.extend(lines.iter().map(<[u8]>::to_vec)),
            Event::Lines(Stream::Stderr, lines) => err.extend(lines.iter().map(<[u8]>::to_vec)),
            Event::Closed => closed += 1,
            Event::Exited(info) => exit = Some(info),
        }
    }
    assert_eq!(out, vec![b"out1".to_vec(), b"out2".to_vec()]);
    assert_eq!(err, vec![b"err1".to_vec()]);
    assert_eq!(exit.map(|info| info.code), Some(3));
    assert_eq!(budget.held(), 0, "every line gave its bytes back");
}

#[test]
fn the_exit_is_told_while_something_the_job_left_holds_its_pipes() {
    let budget = Budget::new();
    let (tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
    // The background sleep keeps both pipes open after the shell exits.
    spawn(start("sleep 30 & echo $!; exit 0"), Arc::clone(&budget), tx).unwrap();
    let mut left_behind = None;
    loop {
        match next(&events) {
            Event::Lines(_, lines) => {
                left_behind = lines.iter().next().and_then(|l| std::str::from_utf8(l).ok()?.parse::<i32>().ok())
            }
            Event::Closed => panic!("the pipes closed while the sleep holds them"),
            Event::Exited(info) => {
                assert_eq!(info.code, 0);
                break;
            }
        }
    }
    let sleeper = left_behind.expect("the sleep's pid");
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(sleeper, libc::SIGKILL) };
    let closed = (0..2).filter(|_| matches!(next(&events), Event::Closed)).count();
    assert_eq!(closed, 2, "both pipes end once the sleep is gone");
}

/// Output without a newline, much larger than the budget: never more than the budget held,
/// and all of it arrives as lines of the longest length.
#[test]
fn a_job_printing_faster_than_its_worker_reads_waits_within_the_budget() {
    let budget = Budget::new();
    let (tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
    let total = 10 * MAX_LINE_BYTES;
    spawn(start(&format!("head -c {total} /dev/zero")), Arc::clone(&budget), tx).unwrap();
    let (mut seen, mut closed, mut exited) = (0, 0, false);
    while closed < 2 || !exited {
        assert!(budget.held() <= BUDGET_BYTES, "held {}", budget.held());
        match next(&events) {
            Event::Lines(_, lines) => {
                for line in lines.iter() {
                    assert_eq!(line.len(), MAX_LINE_BYTES);
                    seen += line.len();
                }
            }
            Event::Closed => closed += 1,
            Event::Exited(_) => exited = true,
        }
    }
    assert_eq!(seen, total);
}

#[test]
fn a_closed_budget_lets_the_thread_go_and_the_process_is_still_reaped() {
    let budget = Budget::new();
    let (tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
    let child = start("exec yes");
    let pid = child.id() as libc::pid_t;
    spawn(child, Arc::clone(&budget), tx).unwrap();
    assert!(matches!(next(&events), Event::Lines(..)));
    budget.close();
    drop(events);
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(30);
    // Reaped by the io thread: the pid is no longer our child. Asked with WNOWAIT, which never
    // reaps it here: a test that reaped it itself would pass whatever the io thread did.
    loop {
        // SAFETY: an all-zero siginfo is a valid value for waitid to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child, with a valid siginfo to fill.
        let rc = unsafe {
            libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
        };
        if rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            break;
        }
        assert!(Instant::now() < deadline, "the killed process was never reaped");
        std::thread::sleep(Duration::from_millis(10));
    }
}
