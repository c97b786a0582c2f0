//! A queue from threads that hand work over to threads that wait for it, whose waiters sleep
//! at once instead of spinning.
//!
//! A crossbeam channel's receive spins, then yields its core about four times, before it
//! sleeps. On a server whose threads wait for work most of the time (the history's writer
//! between commits, the HTTP handlers between requests) and whose cores are busy with jobs,
//! each of those yields is a switch to a job and back: the history's writer alone made 2.7 of
//! them a job in the job throughput benchmark. Here a waiter checks the queue once under its
//! lock and then sleeps on a condition variable until it is woken; a sender wakes one waiter,
//! and only if one is asleep. What this must not know: what the work is.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::lock;

struct State<T> {
    items: VecDeque<T>,
    /// Threads asleep in a receive: a send wakes one only if there is one.
    sleeping: usize,
    senders: usize,
    receivers: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

/// The sending end; the queue closes once every sender is dropped.
pub struct Sender<T>(Arc<Shared<T>>);

/// The receiving end; clones share the queue, each item going to one of them.
pub struct Receiver<T>(Arc<Shared<T>>);

/// Why a receive returned without an item.
#[derive(Debug, PartialEq, Eq)]
pub enum Empty {
    /// Nothing came before the deadline.
    Timeout,
    /// Every sender is gone and nothing is left.
    Closed,
}

/// A queue without a bound: what is handed over is already bounded by its senders.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let state = State { items: VecDeque::new(), sleeping: 0, senders: 1, receivers: 1 };
    let shared = Arc::new(Shared { state: Mutex::new(state), ready: Condvar::new() });
    (Sender(Arc::clone(&shared)), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `item`; gives it back if no receiver is left.
    pub fn send(&self, item: T) -> Result<(), T> {
        let mut state = lock(&self.0.state);
        if state.receivers == 0 {
            return Err(item);
        }
        state.items.push_back(item);
        let wake = state.sleeping > 0;
        drop(state);
        if wake {
            self.0.ready.notify_one();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.0.state).senders += 1;
        Sender(Arc::clone(&self.0))
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.senders -= 1;
        if state.senders == 0 {
            drop(state);
            self.0.ready.notify_all();
        }
    }
}

impl<T> Receiver<T> {
    /// The next item, sleeping until there is one; `None` once the queue is closed and empty.
    pub fn recv(&self) -> Option<T> {
        self.recv_until(None).ok()
    }

    /// The next item, sleeping until there is one or `deadline` passes.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, Empty> {
        self.recv_until(Some(deadline))
    }

    /// Up to `max` items already queued, oldest first, without waiting.
    pub fn take_queued(&self, into: &mut Vec<T>, max: usize) {
        let mut state = lock(&self.0.state);
        let count = state.items.len().min(max);
        into.extend(state.items.drain(..count));
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, Empty> {
        let mut state = lock(&self.0.state);
        loop {
            if let Some(item) = state.items.pop_front() {
                return Ok(item);
            }
            if state.senders == 0 {
                return Err(Empty::Closed);
            }
            state.sleeping += 1;
            let woken = match deadline {
                None => Ok(self.0.ready.wait(state).unwrap_or_else(PoisonError::into_inner)),
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => {
                        Ok(self.0.ready.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0)
                    }
                    _ => Err(state),
                },
            };
            let (mut guard, timed_out): (MutexGuard<'_, State<T>>, bool) = match woken {
                Ok(guard) => (guard, false),
                Err(guard) => (guard, true),
            };
            guard.sleeping -= 1;
            if timed_out {
                return guard.items.pop_front().ok_or(Empty::Timeout);
            }
            state = guard;
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        lock(&self.0.state).receivers += 1;
        Receiver(Arc::clone(&self.0))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.receivers -= 1;
        // Nobody will take what is left: dropped now, not whenever the last sender goes, so
        // that what it holds (a caller's answer, a connection) says so at once.
        let left = if state.receivers == 0 { std::mem::take(&mut state.items) } else { VecDeque::new() };
        drop(state);
        drop(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn items_arrive_in_order_across_threads_and_the_queue_closes_with_its_last_sender() {
        let (tx, rx) = channel();
        let second = tx.clone();
        let sender = std::thread::spawn(move || {
            for n in 0..1000 {
                tx.send(n).unwrap();
            }
        });
        let mut got = Vec::new();
        while got.len() < 1000 {
            got.push(rx.recv().unwrap());
        }
        sender.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_millis(20)), Err(Empty::Timeout));
        second.send(7).unwrap();
        drop(second);
        assert_eq!(rx.recv(), Some(7), "what was sent before the close is still received");
        assert_eq!(rx.recv(), None);
        assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(30)), Err(Empty::Closed));
    }

    #[test]
    fn sleeping_receivers_are_woken_each_item_goes_to_one_and_a_send_without_receivers_fails() {
        let (tx, rx) = channel::<u32>();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || std::iter::from_fn(|| rx.recv()).collect::<Vec<_>>())
            })
            .collect();
        for n in 0..400 {
            tx.send(n).unwrap();
        }
        let mut queued = Vec::new();
        rx.take_queued(&mut queued, 10);
        drop(tx);
        let mut all: Vec<u32> = waiters.into_iter().flat_map(|w| w.join().unwrap()).chain(queued).collect();
        all.sort_unstable();
        assert_eq!(all, (0..400).collect::<Vec<_>>(), "every item once");
        let (tx, rx) = channel();
        let held = Arc::new(());
        tx.send(Arc::clone(&held)).unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&held), 1, "what no receiver can take is dropped with the last one");
        assert!(tx.send(held).is_err());
    }
}
