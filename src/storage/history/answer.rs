//! A commit's outcome, handed from the writer thread to the one caller waiting for it.
//!
//! A channel's receive spins and yields its core several times before it sleeps: with eight
//! submissions waiting for their group commit (a disk flush, hundreds of microseconds away),
//! that was an eighth of the server's CPU while jobs were being submitted, taken from the jobs
//! running beside them. Here the waiter sleeps at once and is woken once. What this must not
//! know: what was written.

use std::sync::{Arc, Condvar, Mutex};

use super::HistoryError;
use crate::sync::lock;

type Outcome = Result<(), HistoryError>;

struct Slot {
    outcome: Mutex<Option<Outcome>>,
    ready: Condvar,
}

/// The writer's end: [`Answer::send`] the outcome. Dropped unsent (the writer stopped first),
/// it answers that the writer stopped.
pub(super) struct Answer(Arc<Slot>);

/// The waiting caller's end.
pub(super) struct Waiting(Arc<Slot>);

pub(super) fn pair() -> (Answer, Waiting) {
    let slot = Arc::new(Slot { outcome: Mutex::new(None), ready: Condvar::new() });
    (Answer(Arc::clone(&slot)), Waiting(slot))
}

impl Answer {
    pub(super) fn send(self, outcome: Outcome) {
        self.set(outcome);
    }

    fn set(&self, outcome: Outcome) {
        let mut slot = lock(&self.0.outcome);
        if slot.is_none() {
            *slot = Some(outcome);
            self.0.ready.notify_one();
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.set(Err(HistoryError("the history writer stopped".into())));
    }
}

impl Waiting {
    /// Sleeps until the outcome is there.
    pub(super) fn wait(self) -> Outcome {
        let mut slot = lock(&self.0.outcome);
        loop {
            if let Some(outcome) = slot.take() {
                return outcome;
            }
            slot = self.0.ready.wait(slot).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiter_gets_the_outcome_sent_from_another_thread_or_hears_the_writer_stopped() {
        let (answer, waiting) = pair();
        let sender = std::thread::spawn(move || answer.send(Err(HistoryError("disk full".into()))));
        assert_eq!(waiting.wait().unwrap_err().0, "disk full");
        sender.join().unwrap();

        let (answer, waiting) = pair();
        std::thread::spawn(move || answer.send(Ok(()))).join().unwrap();
        assert!(waiting.wait().is_ok(), "an outcome sent before the wait is kept for it");

        let (answer, waiting) = pair();
        drop(answer);
        assert!(waiting.wait().unwrap_err().0.contains("stopped"));
    }
}
