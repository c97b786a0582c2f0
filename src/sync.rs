//! The one place that decides what a poisoned lock means, and a small counting semaphore for
//! bounding how many costly things (large answers, password checks) happen at once.
//!
//! A panic while a lock is held leaves the data behind it as the panicking thread left it. Every
//! structure Portico guards is kept consistent between statements (states only move forward,
//! counters only grow), so the policy is to keep serving with the data as it is rather than let
//! one bad request take every later request down with it.

pub mod handoff;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering the guard if an earlier holder panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A counting semaphore whose permits are owned values, so a permit can travel with the work
/// it pays for (an answer being written) and is given back however that work ends.
#[derive(Clone)]
pub struct Semaphore {
    inner: std::sync::Arc<(Mutex<usize>, std::sync::Condvar)>,
}

/// One permit of a [`Semaphore`], given back on drop.
pub struct Permit {
    inner: std::sync::Arc<(Mutex<usize>, std::sync::Condvar)>,
}

impl Semaphore {
    pub fn new(permits: usize) -> Semaphore {
        Semaphore { inner: std::sync::Arc::new((Mutex::new(permits), std::sync::Condvar::new())) }
    }

    /// A permit, waiting at most `patience` for one to be given back.
    pub fn acquire_within(&self, patience: std::time::Duration) -> Option<Permit> {
        let deadline = std::time::Instant::now() + patience;
        let (count, freed) = &*self.inner;
        let mut available = lock(count);
        while *available == 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            available = freed.wait_timeout(available, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        *available -= 1;
        Some(Permit { inner: std::sync::Arc::clone(&self.inner) })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let (count, freed) = &*self.inner;
        *lock(count) += 1;
        freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn permits_are_bounded_and_given_back_on_drop() {
        let semaphore = Semaphore::new(2);
        let first = semaphore.acquire_within(Duration::ZERO).unwrap();
        let _second = semaphore.acquire_within(Duration::ZERO).unwrap();
        assert!(semaphore.acquire_within(Duration::from_millis(10)).is_none());
        let waiter = {
            let semaphore = semaphore.clone();
            std::thread::spawn(move || semaphore.acquire_within(Duration::from_secs(30)).is_some())
        };
        drop(first);
        assert!(waiter.join().unwrap(), "a waiter gets the permit given back");
    }
}
