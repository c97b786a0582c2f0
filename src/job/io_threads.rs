//! The threads that wait on a job's process for its worker (its io thread, `job_io.rs`), kept
//! for the next job when their work ends instead of ending with it.
//!
//! Threads made and ended per job cost more than the job in the job throughput benchmark (a
//! clone, a stack mapped and unmapped with the TLB flushes that brings on every core, for a
//! job that runs for a millisecond). A thread whose work is done waits up to
//! [`IDLE_FOR`] for the next; more are made only when none waits. What this must not know:
//! what the work is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::sync::handoff::{self, Empty, Receiver, Sender};

/// How long a thread without work waits for more before it ends: long enough to bridge the
/// gaps of a busy server, short enough that an idle one holds no spare threads for long.
const IDLE_FOR: Duration = Duration::from_secs(30);

type Work = Box<dyn FnOnce() + Send>;

struct Cache {
    work_tx: Sender<Work>,
    work_rx: Receiver<Work>,
    /// Threads waiting for work that no caller has claimed yet. Invariant: the threads in
    /// their wait are `idle` plus the work items sent and not yet received, so every item
    /// sent has a thread that takes it.
    idle: AtomicUsize,
}

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| {
        let (work_tx, work_rx) = handoff::channel();
        Cache { work_tx, work_rx, idle: AtomicUsize::new(0) }
    })
}

/// Runs `work` on a waiting thread, or on a new one when none waits; fails (dropping `work`)
/// only if no thread could be made.
pub(super) fn run(work: impl FnOnce() + Send + 'static) -> Result<(), std::io::Error> {
    let cache = cache();
    let claimed = cache.idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok();
    let mut work: Work = Box::new(work);
    if claimed {
        // The cache holds the receiving end for ever, so this cannot fail; if it did, the
        // work would still get a thread of its own below.
        match cache.work_tx.send(work) {
            Ok(()) => return Ok(()),
            Err(unsent) => work = unsent,
        }
    }
    std::thread::Builder::new().name("portico-job-io".into()).spawn(move || serve(cache, work)).map(drop)
}

/// A thread's life: the work it was made for, then whatever comes while it waits.
fn serve(cache: &Cache, first: Work) {
    first();
    loop {
        cache.idle.fetch_add(1, Ordering::AcqRel);
        loop {
            match cache.work_rx.recv_deadline(std::time::Instant::now() + IDLE_FOR) {
                Ok(work) => {
                    work();
                    break;
                }
                Err(Empty::Timeout) => {
                    // Leaves only if no caller counted on it; otherwise work is on its way.
                    if cache.idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
                        return;
                    }
                }
                Err(Empty::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_and_threads_are_reused() {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        for round in 0..50 {
            let done_tx = done_tx.clone();
            run(move || {
                let _ = done_tx.send((round, std::thread::current().id()));
            })
            .unwrap();
            // One at a time: the thread that ran the last item is waiting for this one.
            let (ran, _) = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(ran, round);
        }
        let threads: std::collections::HashSet<_> = (0..50)
            .map(|round| {
                let done_tx = done_tx.clone();
                run(move || {
                    let _ = done_tx.send((round, std::thread::current().id()));
                })
                .unwrap();
                done_rx.recv_timeout(Duration::from_secs(10)).unwrap().1
            })
            .collect();
        // Other tests of this process may use the cache at the same time; still, one at a
        // time, a handful of threads serve all 50.
        assert!(threads.len() <= 8, "{} threads for 50 items, one at a time", threads.len());
    }

    #[test]
    fn items_that_wait_on_each_other_each_get_a_thread() {
        // Blocking work (a reader waits for its pipe): two items waiting on each other must
        // run at the same time, never one behind the other on one thread.
        let (a_tx, a_rx) = crossbeam_channel::bounded::<()>(0);
        let (b_tx, b_rx) = crossbeam_channel::bounded::<()>(0);
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let done = done_tx.clone();
        run(move || {
            a_tx.send(()).unwrap();
            b_rx.recv().unwrap();
            done.send(()).unwrap();
        })
        .unwrap();
        run(move || {
            a_rx.recv().unwrap();
            b_tx.send(()).unwrap();
            done_tx.send(()).unwrap();
        })
        .unwrap();
        for _ in 0..2 {
            done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
    }
}
