//! The one place that decides what a poisoned lock means.
//!
//! A panic while a lock is held leaves the data behind it as the panicking thread left it. Every
//! structure Portico guards is kept consistent between statements (states only move forward,
//! counters only grow), so the policy is to keep serving with the data as it is rather than let
//! one bad request take every later request down with it.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering the guard if an earlier holder panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
