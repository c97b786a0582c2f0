use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::job::child::ExitInfo;
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
    spawn(start("echo out1; echo err1 >&2; printf 'out2'; exit 3"), Arc::clone(&budget), tx, || false).unwrap();
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
    spawn(start("sleep 30 & echo $!; exit 0"), Arc::clone(&budget), tx, || false).unwrap();
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
    spawn(start(&format!("head -c {total} /dev/zero")), Arc::clone(&budget), tx, || false).unwrap();
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
    spawn(child, Arc::clone(&budget), tx, || false).unwrap();
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

#[test]
fn a_job_that_ends_at_once_is_watched_to_its_end_by_its_caller_and_one_that_lasts_by_a_thread() {
    let budget = Budget::new();
    let mut by_caller = 0;
    for _ in 0..10 {
        let (tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
        if spawn(start("echo one"), Arc::clone(&budget), tx, || false).unwrap() == Watcher::Caller {
            by_caller += 1;
            // Everything is told by the time the caller has it back.
            let told: Vec<Event> = events.try_iter().collect();
            assert_eq!(told.len(), 4, "a line, two ends and the exit");
            assert!(
                matches!(&told[0], Event::Lines(Stream::Stdout, lines) if lines.iter().next() == Some(&b"one"[..]))
            );
            assert!(matches!(told[3], Event::Exited(ExitInfo { code: 0, .. })));
        }
    }
    // Ten tries: a loaded machine may keep one `echo` past the caller's watch, not all of them.
    assert!(by_caller > 0, "no job was watched to its end by its caller");

    let (tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
    let watcher = spawn(start("sleep 0.2; echo late"), Arc::clone(&budget), tx, || false).unwrap();
    assert_eq!(watcher, Watcher::Thread, "a job outlasting the caller's watch is handed over");
    let late = loop {
        if let Event::Lines(_, lines) = next(&events) {
            break lines.iter().next().map(<[u8]>::to_vec);
        }
    };
    assert_eq!(late.as_deref(), Some(&b"late"[..]));

    let (tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
    let child = start("sleep 30");
    let pid = child.id() as libc::pid_t;
    let watcher = spawn(child, Arc::clone(&budget), tx, || true).unwrap();
    assert_eq!(watcher, Watcher::Thread, "a caller wanted elsewhere hands over at once");
    assert!(events.try_recv().is_err(), "nothing was told yet: the caller did not wait for the job");
    // SAFETY: signalling the test's own child, which the io thread has not reaped yet.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    while !matches!(next(&events), Event::Exited(_)) {}
}

#[test]
fn output_beyond_what_the_caller_takes_in_reaches_the_thread_that_takes_over_whole_and_in_order() {
    let budget = Budget::new();
    let (tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
    // Four times what the caller reads before it hands over, written at once.
    let long = 4 * INLINE_OUTPUT_MAX;
    spawn(start(&format!("head -c {long} /dev/zero | tr '\\0' x; echo; echo end")), Arc::clone(&budget), tx, || false)
        .unwrap();
    let (mut lines, mut closed, mut exited) = (Vec::new(), 0, false);
    while closed < 2 || !exited {
        match next(&events) {
            Event::Lines(_, got) => lines.extend(got.iter().map(<[u8]>::to_vec)),
            Event::Closed => closed += 1,
            Event::Exited(info) => {
                assert_eq!(info.code, 0);
                exited = true;
            }
        }
    }
    assert_eq!(lines.len(), 2, "the long line and the last");
    assert_eq!(lines[0].len(), long);
    assert!(lines[0].iter().all(|b| *b == b'x'));
    assert_eq!(lines[1], b"end");
    assert_eq!(budget.held(), 0);
}
