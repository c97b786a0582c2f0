//! Who may try a password now, and how many password checks may run at once.
//!
//! Every guess costs the server an Argon2 verification (tens of milliseconds of CPU and 19 MiB of
//! memory), so both questions are settled before any hashing starts: a guess that was not let
//! through costs a map look-up, and the guesses that were cost at most a few hashes at a time.
//!
//! Failures are counted per (user name, address) pair, so that one user's mistakes, or an
//! attack on one account, do not lock other users of the same address (a NAT, a proxy) out; and
//! per address across all names, with a looser limit, so that trying one password on many names
//! (spraying) is slowed down as well. Unknown names are counted exactly like known ones, so the
//! answers do not tell which names exist.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
#[cfg(test)]
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::sync::lock;

/// Failed logins for one user name from one address before that pair has to wait.
pub(super) const FREE_FAILURES: u32 = 3;

/// Failed logins from one address, across all user names, before the address has to wait. Loose
/// enough for the typos of everyone behind one NAT, tight enough that spraying gains little.
pub(super) const FREE_ADDRESS_FAILURES: u32 = 30;

/// The longest wait a run of failures earns.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// A record without a failure for this long is forgotten, so the maps can be pruned. Waiting
/// for a fresh start is then slower for a guesser than going on at the longest wait (3 guesses
/// an hour for a pair against 12), and holds a sprayer to about 30 names an hour per address.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Records kept in each map. The maps are filled by unauthenticated requests, so they must not
/// grow with an attacker's supply of names and addresses.
const MAX_RECORDS: usize = 10_000;

/// Bytes of a user name kept as a key: enough for any real name, and bounded because the name
/// is whatever the client sent.
const MAX_NAME_BYTES: usize = 64;

/// How long to wait after `count` failures when `free` of them are allowed: nothing for the
/// free ones, then 1 s doubling up to `MAX_WAIT`.
fn backoff(count: u32, free: u32) -> Option<Duration> {
    let over = count.checked_sub(free)?;
    Some(Duration::from_secs(1u64 << over.min(9)).min(MAX_WAIT))
}

/// The failures charged to one key (a pair, or an address).
struct Record {
    failures: u32,
    /// Attempts let through whose password is still being checked. They count as failures
    /// until they turn out otherwise: concurrent attempts must not all pass one check.
    pending: u32,
    /// When the last failure was recorded (or the record made): the wait runs from here.
    last: Instant,
}

impl Record {
    fn new(now: Instant) -> Record {
        Record { failures: 0, pending: 0, last: now }
    }

    fn forgotten(&self, now: Instant) -> bool {
        self.pending == 0 && now.saturating_duration_since(self.last) >= FORGET_AFTER
    }

    /// How long until another attempt may start, if it may not start now.
    fn wait(&self, free: u32, now: Instant) -> Option<Duration> {
        let charged = self.failures.saturating_add(self.pending);
        if charged < free {
            return None;
        }
        if self.pending > 0 {
            // Past the free attempts, one at a time: the one in progress decides the next wait.
            return backoff(charged, free);
        }
        let wait = backoff(self.failures, free)?;
        wait.checked_sub(now.saturating_duration_since(self.last)).filter(|w| !w.is_zero())
    }
}

/// How a charged attempt ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Outcome {
    Failed,
    Succeeded,
    /// The password was never checked (no verification slot was free).
    NotTried,
}

/// Failure records under one kind of key, bounded in number.
struct Records<K> {
    map: HashMap<K, Record>,
    free: u32,
}

impl<K: Hash + Eq + Clone> Records<K> {
    fn new(free: u32) -> Records<K> {
        Records { map: HashMap::new(), free }
    }

    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        self.map.get(key).filter(|r| !r.forgotten(now)).and_then(|r| r.wait(self.free, now))
    }

    fn charge(&mut self, key: K, now: Instant) {
        self.record(key, now).pending += 1;
    }

    /// `clears`: whether a success wipes the key's failures (a pair's, not an address's: one
    /// good password must not buy a sprayer thirty more guesses).
    fn settle(&mut self, key: &K, outcome: Outcome, clears: bool, now: Instant) {
        if outcome == Outcome::Failed {
            // The record may have been evicted while the password was checked: count it anew.
            let record = self.record(key.clone(), now);
            record.pending = record.pending.saturating_sub(1);
            record.failures = record.failures.saturating_add(1);
            record.last = now;
            return;
        }
        let Some(record) = self.map.get_mut(key) else { return };
        record.pending = record.pending.saturating_sub(1);
        if outcome == Outcome::Succeeded && clears {
            record.failures = 0;
        }
        if record.failures == 0 && record.pending == 0 {
            self.map.remove(key);
        }
    }

    /// The live record for `key`, made (room permitting) if there is none.
    fn record(&mut self, key: K, now: Instant) -> &mut Record {
        if !self.map.contains_key(&key) && self.map.len() >= MAX_RECORDS {
            self.map.retain(|_, r| !r.forgotten(now));
            if self.map.len() >= MAX_RECORDS {
                let oldest = self.map.iter().min_by_key(|(_, r)| r.last).map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.map.remove(&oldest);
                }
            }
        }
        let record = self.map.entry(key).or_insert_with(|| Record::new(now));
        if record.forgotten(now) {
            *record = Record::new(now);
        }
        record
    }
}

type Pair = (Box<str>, IpAddr);

struct State {
    pairs: Records<Pair>,
    addresses: Records<IpAddr>,
}

/// The failed-login throttle. Both maps sit under one lock so that checking an attempt and
/// charging it are one step.
pub(super) struct Throttle {
    state: Mutex<State>,
}

impl Throttle {
    pub(super) fn new() -> Throttle {
        Throttle {
            state: Mutex::new(State {
                pairs: Records::new(FREE_FAILURES),
                addresses: Records::new(FREE_ADDRESS_FAILURES),
            }),
        }
    }

    /// Lets an attempt by `user` from `from` go ahead, charged as a failure until it is settled;
    /// or says how long to wait.
    pub(super) fn begin(&self, user: &str, from: IpAddr) -> Result<Charge<'_>, Duration> {
        self.begin_at(user, from, Instant::now())
    }

    fn begin_at(&self, user: &str, from: IpAddr, now: Instant) -> Result<Charge<'_>, Duration> {
        // One client, one key: an IPv4 client seen through an IPv6 socket is the same client.
        let from = from.to_canonical();
        let pair: Pair = (name_key(user).into(), from);
        let mut state = lock(&self.state);
        if let Some(wait) = state.pairs.wait(&pair, now).max(state.addresses.wait(&from, now)) {
            return Err(wait);
        }
        state.pairs.charge(pair.clone(), now);
        state.addresses.charge(from, now);
        Ok(Charge { throttle: self, pair, settled: false })
    }
}

/// The prefix of `user` kept as a key, cut at a character boundary.
fn name_key(user: &str) -> &str {
    let mut end = user.len().min(MAX_NAME_BYTES);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    &user[..end]
}

/// An attempt let through by [`Throttle::begin`]. Dropping it unsettled gives the charge back
/// (the password was not checked), so that no path out of a login can leave a charge behind.
#[must_use = "dropping a charge gives it back"]
pub(super) struct Charge<'a> {
    throttle: &'a Throttle,
    pair: Pair,
    settled: bool,
}

impl Charge<'_> {
    /// The password was wrong (or the user unknown): the charge stays.
    pub(super) fn failed(mut self) {
        self.settle(Outcome::Failed, Instant::now());
    }

    /// The password was right: the pair starts afresh; the address only gets this charge back.
    pub(super) fn succeeded(mut self) {
        self.settle(Outcome::Succeeded, Instant::now());
    }

    fn settle(&mut self, outcome: Outcome, now: Instant) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let mut state = lock(&self.throttle.state);
        state.pairs.settle(&self.pair, outcome, true, now);
        state.addresses.settle(&self.pair.1, outcome, false, now);
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        self.settle(Outcome::NotTried, Instant::now());
    }
}

/// A counting semaphore with a bounded queue: at most `size` holders, at most `max_waiting`
/// waiters, each for a bounded time. Password checks are refused rather than queued without
/// limit, because every queued one holds a connection and will take memory when it runs.
pub(super) struct Slots {
    state: Mutex<SlotState>,
    freed: Condvar,
    max_waiting: usize,
}

struct SlotState {
    free: usize,
    waiting: usize,
}

/// A slot of [`Slots`], given back on drop however the work it pays for ends.
pub(super) struct Slot<'a> {
    slots: &'a Slots,
}

impl Slots {
    pub(super) fn new(size: usize, max_waiting: usize) -> Slots {
        Slots { state: Mutex::new(SlotState { free: size, waiting: 0 }), freed: Condvar::new(), max_waiting }
    }

    /// Sized to the cores (2 to 4): more hashes at once than cores only adds memory and makes
    /// each one slower; fewer than 2 would let one slow check stall every login.
    pub(super) fn for_this_machine() -> Slots {
        let size = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
        Slots::new(size, size * 16)
    }

    /// A slot, waiting at most `patience` for one; `None` at once if the queue is full.
    pub(super) fn acquire_within(&self, patience: Duration) -> Option<Slot<'_>> {
        let deadline = Instant::now().checked_add(patience);
        let mut state = lock(&self.state);
        if state.free == 0 && state.waiting >= self.max_waiting {
            return None;
        }
        state.waiting += 1;
        while state.free == 0 {
            let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                state.waiting -= 1;
                return None;
            }
            state = self.freed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        state.waiting -= 1;
        state.free -= 1;
        Some(Slot { slots: self })
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        lock(&self.state).waiting
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        lock(&self.slots.state).free += 1;
        self.slots.freed.notify_one();
    }
}

/// Counts how many threads are inside a section at once and the most there ever were: lets the
/// tests see that logins check passwords only within the bound.
#[cfg(test)]
#[derive(Default)]
pub(super) struct Gauge {
    inside: AtomicUsize,
    most: AtomicUsize,
}

/// One thread inside a [`Gauge`]'s section, until dropped.
#[cfg(test)]
pub(super) struct Inside<'a>(&'a Gauge);

#[cfg(test)]
impl Gauge {
    pub(super) fn enter(&self) -> Inside<'_> {
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        Inside(self)
    }

    pub(super) fn most(&self) -> usize {
        self.most.load(SeqCst)
    }
}

#[cfg(test)]
impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, SeqCst);
    }
}

#[cfg(test)]
mod tests;
