//! The order waiting jobs start in, and the counts that bound the queue and share the workers.
//!
//! Order: higher `priority` first; among equals, start-time fair queueing between users, each
//! priority level with tags of its own. A job's tag is the later of one past its user's
//! previous tag at that level and the level's round now, so a user who floods the queue has
//! their jobs spread one per round, and a newcomer's job is tagged with the round starting
//! now: it starts at the next free worker instead of behind the flood. Levels keep separate
//! rounds because tags only order jobs within a level: a job started from a higher level must
//! not move the round of a lower one, or a newcomer there would be placed behind every job of
//! that level already waiting. Ties (same tag) go to the job queued first. A worker takes the first job
//! in this order that is not held by a pause and whose user is below their running cap: a user
//! at the cap never blocks the users behind them.
//!
//! Capacity: places are reserved before a job gets its ids or files, so a refusal leaves
//! nothing behind, and a reservation holds its place until the job is queued or given up.
//! Jobs queued again at a restart are not counted against the capacity: all of them run.
//! What this must not know: how a job runs, its live state beyond the pause flag, or HTTP.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::super::store::JobEntry;
use super::super::TaskId;

/// Bounds on the queue and on each user's share of the workers.
#[derive(Clone, Copy, Debug)]
pub struct QueueLimits {
    /// Jobs waiting (or being admitted) at once, over all users.
    pub capacity: usize,
    /// Jobs one user may have waiting (or being admitted) at once.
    pub per_user_capacity: usize,
    /// Jobs of one user running at once.
    pub running_per_user: usize,
}

/// Which bound a refused submission hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The whole queue holds `capacity` jobs.
    Queue { capacity: usize },
    /// This user has `capacity` jobs waiting.
    User { capacity: usize },
}

/// A waiting job's place in the start order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    priority: Reverse<i64>,
    tag: u64,
    seq: u64,
}

/// One user's counts.
#[derive(Debug, Default)]
struct Share {
    waiting: usize,
    reserved: usize,
    running: usize,
    /// The earliest tag this user's next job at each priority level may have: one past their
    /// last job's at that level. Almost always one entry.
    next_tags: BTreeMap<i64, u64>,
}

impl Share {
    fn is_idle(&self) -> bool {
        self.waiting == 0 && self.reserved == 0 && self.running == 0
    }
}

/// The waiting jobs in start order, with the counts kept beside them.
#[derive(Default)]
pub(in crate::job) struct Waiting {
    order: BTreeMap<Place, Arc<JobEntry>>,
    places: HashMap<TaskId, Place>,
    /// The places of waiting jobs a pause holds, kept beside the order (pause and resume of a
    /// queued job change it under the queue lock) so a position is two counts of keys, with no
    /// job's live state locked: a status poll of a queued job used to lock every job ahead of
    /// it, which was 40% of the handler threads' CPU in the job throughput benchmark.
    held: BTreeSet<Place>,
    shares: HashMap<String, Share>,
    /// Each priority level's round, the tag of the latest job started from it: where a
    /// newcomer's job at that level is placed. A level goes when no active user has a tag there.
    rounds: BTreeMap<i64, u64>,
    next_seq: u64,
    reserved: usize,
}

/// How many of `len` ordered items lie `before` a place, given the items before it and the
/// items `from` it on: both are walked in step and the shorter settles it, so a status poll
/// of a job near either end of a long queue costs little (clients mostly poll their newest
/// job, at the back).
fn count_before<B: Iterator, F: Iterator>(mut before: B, mut from: F, len: usize) -> usize {
    let mut counted = 0;
    loop {
        if before.next().is_none() {
            return counted;
        }
        if from.next().is_none() {
            // `from` held exactly `counted` items.
            return len - counted;
        }
        counted += 1;
    }
}

impl Waiting {
    /// Holds a place for one more job of `user`, or says which bound is reached.
    pub(super) fn reserve(&mut self, user: &str, limits: &QueueLimits) -> Result<(), Full> {
        if self.order.len() + self.reserved >= limits.capacity {
            return Err(Full::Queue { capacity: limits.capacity });
        }
        let share = self.shares.entry(user.to_string()).or_default();
        if share.waiting + share.reserved >= limits.per_user_capacity {
            return Err(Full::User { capacity: limits.per_user_capacity });
        }
        share.reserved += 1;
        self.reserved += 1;
        Ok(())
    }

    /// Gives back a place `reserve` held for `user`.
    pub(super) fn release(&mut self, user: &str) {
        self.reserved = self.reserved.saturating_sub(1);
        if let Some(share) = self.shares.get_mut(user) {
            share.reserved = share.reserved.saturating_sub(1);
        }
        self.forget_if_idle(user);
    }

    /// Queues a job at its place in the start order.
    pub(super) fn insert(&mut self, entry: Arc<JobEntry>, priority: i64) {
        let share = self.shares.entry(entry.spec.execute_user.clone()).or_default();
        let round = self.rounds.get(&priority).copied().unwrap_or(0);
        let next_tag = share.next_tags.entry(priority).or_insert(0);
        let tag = (*next_tag).max(round);
        *next_tag = tag + 1;
        share.waiting += 1;
        let place = Place { priority: Reverse(priority), tag, seq: self.next_seq };
        self.next_seq += 1;
        self.places.insert(entry.spec.task_id, place);
        // A job can be queued already paused: paused while being submitted, or at a restart.
        if entry.live().paused {
            self.held.insert(place);
        }
        self.order.insert(place, entry);
        self.publish_depth();
    }

    /// The queue depth metric, set under the queue lock wherever the queue changes.
    fn publish_depth(&self) {
        crate::metrics::get().queue_depth.set(self.order.len() as i64);
    }

    /// Notes that a pause now holds (or no longer holds) a waiting job; call it under the
    /// queue lock whenever a queued job's pause flag changes.
    pub(in crate::job) fn set_held(&mut self, entry: &JobEntry, held: bool) {
        let Some(place) = self.places.get(&entry.spec.task_id) else { return };
        if held {
            self.held.insert(*place);
        } else {
            self.held.remove(place);
        }
    }

    pub(in crate::job) fn contains(&self, entry: &JobEntry) -> bool {
        self.places.contains_key(&entry.spec.task_id)
    }

    /// The waiting jobs, in start order.
    pub(in crate::job) fn iter(&self) -> impl Iterator<Item = &Arc<JobEntry>> {
        self.order.values()
    }

    /// Takes a job out of the queue (to end it), if it is there.
    pub(super) fn remove(&mut self, entry: &JobEntry) -> Option<Arc<JobEntry>> {
        let place = self.places.remove(&entry.spec.task_id)?;
        self.held.remove(&place);
        let removed = self.order.remove(&place)?;
        self.left_queue(&removed.spec.execute_user);
        self.forget_if_idle(&removed.spec.execute_user);
        self.publish_depth();
        Some(removed)
    }

    /// How many jobs not held by a pause are ahead of this one in the start order.
    pub(super) fn position(&self, entry: &JobEntry) -> Option<usize> {
        let place = *self.places.get(&entry.spec.task_id)?;
        let waiting = count_before(self.order.range(..place), self.order.range(place..), self.order.len());
        let held = count_before(self.held.range(..place), self.held.range(place..), self.held.len());
        Some(waiting - held)
    }

    /// Takes the first job in start order that no pause holds and whose user is below the
    /// running cap, counting it as running.
    pub(super) fn take_next(&mut self, limits: &QueueLimits) -> Option<Arc<JobEntry>> {
        let shares = &self.shares;
        // Every user with a job waiting is at the running cap: nothing can start, and the
        // walk below would look up the user of every waiting job to find that out (a free
        // worker asks each time a job ends; with 3,000 jobs of one user waiting, that lookup
        // was a quarter of the workers' CPU in the job throughput benchmark).
        if shares.values().all(|share| share.waiting == 0 || share.running >= limits.running_per_user) {
            return None;
        }
        let held = &self.held;
        let (place, _) = self.order.iter().find(|(place, entry)| {
            let running = shares.get(&entry.spec.execute_user).map_or(0, |share| share.running);
            running < limits.running_per_user && !held.contains(*place)
        })?;
        let place = *place;
        let entry = self.order.remove(&place)?;
        self.places.remove(&entry.spec.task_id);
        self.held.remove(&place);
        self.advance_round(place);
        self.left_queue(&entry.spec.execute_user);
        if let Some(share) = self.shares.get_mut(&entry.spec.execute_user) {
            share.running += 1;
            crate::metrics::get().set_running(&entry.spec.execute_user, share.running);
        }
        self.publish_depth();
        Some(entry)
    }

    /// A job `take_next` handed out has left its worker.
    pub(super) fn finished(&mut self, user: &str) {
        if let Some(share) = self.shares.get_mut(user) {
            share.running = share.running.saturating_sub(1);
            crate::metrics::get().set_running(user, share.running);
        }
        self.forget_if_idle(user);
    }

    /// Takes out every job `over` picks (in start order), and returns them.
    pub(super) fn take_where(&mut self, mut over: impl FnMut(&Arc<JobEntry>) -> bool) -> Vec<Arc<JobEntry>> {
        let picked: Vec<Place> = self.order.iter().filter(|(_, entry)| over(entry)).map(|(place, _)| *place).collect();
        let mut taken = Vec::with_capacity(picked.len());
        for place in picked {
            if let Some(entry) = self.order.remove(&place) {
                self.places.remove(&entry.spec.task_id);
                self.held.remove(&place);
                self.left_queue(&entry.spec.execute_user);
                self.forget_if_idle(&entry.spec.execute_user);
                taken.push(entry);
            }
        }
        self.publish_depth();
        taken
    }

    /// Moves the round of the level `started` was taken from up to its tag. Jobs it skipped
    /// (held by a pause or by their user's running cap) keep their earlier tags and start
    /// first once free; a newcomer joins the round the running users are in.
    fn advance_round(&mut self, started: Place) {
        let round = self.rounds.entry(started.priority.0).or_insert(0);
        *round = (*round).max(started.tag);
    }

    fn left_queue(&mut self, user: &str) {
        if let Some(share) = self.shares.get_mut(user) {
            share.waiting = share.waiting.saturating_sub(1);
        }
    }

    /// Drops the counts of a user with nothing queued, reserved or running, so the map stays
    /// as small as the set of active users. Their next tag goes too: a user coming back is a
    /// newcomer, placed at the round starting now.
    /// A level's round goes with the last active user who has a tag there: no job at that
    /// level waits, so the next one there is a newcomer's wherever the round restarts.
    fn forget_if_idle(&mut self, user: &str) {
        if !self.shares.get(user).is_some_and(Share::is_idle) {
            return;
        }
        let Some(gone) = self.shares.remove(user) else { return };
        for level in gone.next_tags.keys() {
            if !self.shares.values().any(|share| share.next_tags.contains_key(level)) {
                self.rounds.remove(level);
            }
        }
    }
}

#[cfg(test)]
#[path = "waiting_tests.rs"]
mod tests;
