//! A worker's job starts whose history commits are not confirmed yet.
//!
//! A job's start is durable once its worker's journal slot is flushed (`start_journal.rs`).
//! Its `Running` row, queued once the process runs, and the end of the worker's previous job
//! that shares its transaction, are then committed whenever the history's writer next
//! commits (within its `UNAWAITED_WITHIN`): a worker starting a job every millisecond or two
//! costs the history one disk flush every few jobs rather than one a job. The previous end is shown once that commit
//! is confirmed here, which the worker does as the outcome arrives (among its job's events),
//! and for all of them before it waits for work. Its starts go round a ring of
//! [`SLOTS_PER_WORKER`] journal slots and it never has more unconfirmed starts than slots, so a
//! slot is overwritten only once the start it held has its row. What this must not know: how
//! a job runs.

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::{Receiver, RecvError};

use super::finish::{commit_with_retries, Ending, Ledger};
use super::start_journal::Flush;
use super::store::JobEntry;
use crate::storage::history::{Commit, HistoryError, JobUpdate};

/// Journal slots a worker goes round; also how many of its starts may wait for their commit.
pub const SLOTS_PER_WORKER: usize = 64;

type Outcome = Result<(), HistoryError>;

/// A start whose row (and the previous job's end) is being committed.
struct PendingStart {
    task_id: u64,
    row: JobUpdate,
    previous: Option<(Arc<JobEntry>, Ending)>,
    outcome: Receiver<Outcome>,
}

/// One worker's unconfirmed starts, oldest first, and its next journal slot.
pub struct Starts {
    worker: usize,
    next_slot: u64,
    pending: VecDeque<PendingStart>,
}

impl Starts {
    pub fn new(worker: usize) -> Starts {
        Starts { worker, next_slot: 0, pending: VecDeque::new() }
    }

    /// Records that this worker is about to start job `task_id` (in its next journal slot),
    /// durably once the returned flush is waited for. Without the record the job must not
    /// start.
    pub fn journal<'a>(&mut self, ledger: &'a Ledger, task_id: u64) -> std::io::Result<Flush<'a>> {
        self.confirm_arrived(ledger);
        while self.pending.len() >= SLOTS_PER_WORKER {
            self.confirm_oldest(ledger, None);
        }
        let flush = ledger.journal.starting(self.worker, self.next_slot, task_id)?;
        self.next_slot += 1;
        Ok(flush)
    }

    /// Queues the row of job `task_id`, started after [`Starts::journal`] (its `Running`
    /// update), with the end decided for the worker's previous job (taken from `previous`).
    /// One update a job: a `Scheduled` row before the spawn and a `Running` one after were
    /// two, each moving the row's entries in the history's two status indexes.
    pub fn started(
        &mut self,
        ledger: &Ledger,
        task_id: u64,
        row: JobUpdate,
        previous: &mut Option<(Arc<JobEntry>, Ending)>,
    ) {
        let previous = previous.take();
        let ended = previous.iter().map(|(ended, ending)| (ended.spec.task_id, ending.update.clone()));
        let outcome = ledger.history.update_together_lazy(ended.chain([(task_id, row.clone())]).collect());
        self.pending.push_back(PendingStart { task_id, row, previous, outcome });
    }

    /// Where the outcome of the oldest unconfirmed start arrives, if there is one.
    pub fn oldest_outcome(&self) -> Option<Receiver<Outcome>> {
        self.pending.front().map(|pending| pending.outcome.clone())
    }

    /// Acts on the oldest unconfirmed start's outcome: `received` from its channel (see
    /// [`Starts::oldest_outcome`]), or waited for here. The
    /// previous end is shown once its commit is done. If the commit failed, the end is
    /// committed on its own (with retries) and so is the start; if that fails too, the server
    /// log says the job could run again after a crash (its slot will be reused).
    pub fn confirm_oldest(&mut self, ledger: &Ledger, received: Option<Result<Outcome, RecvError>>) {
        let Some(mut pending) = self.pending.pop_front() else { return };
        let outcome = Commit::received(received.unwrap_or_else(|| pending.outcome.recv()));
        if let Err(e) = &outcome {
            log::warn!("job {}: recording its start failed ({e}); retrying it on its own", pending.task_id);
        }
        if let Some((ended, ending)) = pending.previous.take() {
            ledger.settle(&ended, ending, outcome.is_ok());
        }
        if outcome.is_err() && !commit_with_retries(&ledger.history, pending.task_id, &pending.row) {
            log::error!("job {}: its start is not in the history; after a crash it could run again", pending.task_id);
        }
    }

    /// Confirms the oldest starts whose outcomes have arrived, without waiting.
    pub fn confirm_arrived(&mut self, ledger: &Ledger) {
        while let Some(outcome) = self.pending.front().and_then(|pending| pending.outcome.try_recv().ok()) {
            self.confirm_oldest(ledger, Some(Ok(outcome)));
        }
    }

    /// Confirms every start, waiting for their commits: before the worker waits for work (an
    /// end must not wait for a next job to be shown) and when it leaves.
    pub fn confirm_all(&mut self, ledger: &Ledger) {
        while !self.pending.is_empty() {
            self.confirm_oldest(ledger, None);
        }
    }
}
