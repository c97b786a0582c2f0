use std::path::PathBuf;
use std::time::Instant;

use serde_json::{Map, Value};

use super::*;
use crate::engine::Engine;
use crate::job::store::JobSpec;

const LIMITS: QueueLimits = QueueLimits { capacity: 1000, per_user_capacity: 1000, running_per_user: 1 };

fn job(task_id: TaskId, user: &str) -> Arc<JobEntry> {
    Arc::new(JobEntry::new(JobSpec {
        task_id,
        exec_id: format!("exec{task_id}"),
        short_id: format!("IDE_{user}_shell_{task_id}"),
        submit_user: user.into(),
        execute_user: user.into(),
        creator: "IDE".into(),
        engine: Engine::Shell,
        engine_type: "shell-1".into(),
        run_type: "shell".into(),
        code: String::new(),
        params: Value::Object(Map::new()),
        source: Map::new(),
        running_timeout: None,
        queuing_timeout: None,
        created_at_ms: 0,
        created: Instant::now(),
        log_path: PathBuf::new(),
        result_dir: PathBuf::new(),
        work_dir: PathBuf::new(),
    }))
}

/// Takes jobs one at a time, each finishing before the next is taken: the pure start order.
fn start_order(waiting: &mut Waiting, limits: &QueueLimits) -> Vec<TaskId> {
    let mut order = Vec::new();
    while let Some(entry) = waiting.take_next(limits) {
        order.push(entry.spec.task_id);
        waiting.finished(&entry.spec.execute_user);
    }
    order
}

#[test]
fn equal_jobs_of_one_user_start_first_in_first_out() {
    let mut waiting = Waiting::default();
    for id in 1..=5 {
        waiting.insert(job(id, "alice"), 0);
    }
    assert_eq!(start_order(&mut waiting, &LIMITS), vec![1, 2, 3, 4, 5]);
}

#[test]
fn higher_priority_starts_first_and_equals_keep_their_order() {
    let mut waiting = Waiting::default();
    waiting.insert(job(1, "alice"), 0);
    waiting.insert(job(2, "alice"), 5);
    waiting.insert(job(3, "alice"), -1);
    waiting.insert(job(4, "alice"), 5);
    assert_eq!(start_order(&mut waiting, &LIMITS), vec![2, 4, 1, 3]);
}

#[test]
fn two_floods_interleave_and_a_newcomer_goes_next() {
    let mut waiting = Waiting::default();
    for id in 0..100 {
        waiting.insert(job(1 + id, "alice"), 0);
    }
    for id in 0..100 {
        waiting.insert(job(101 + id, "bob"), 0);
    }
    let first: Vec<TaskId> = (0..4).map_while(|_| take_and_finish(&mut waiting)).collect();
    assert_eq!(first, vec![1, 101, 2, 102], "both users make progress from the start");
    waiting.insert(job(500, "carol"), 0);
    assert_eq!(take_and_finish(&mut waiting), Some(500), "carol's one job starts at the next free worker");
    let next: Vec<TaskId> = (0..2).map_while(|_| take_and_finish(&mut waiting)).collect();
    assert_eq!(next, vec![3, 103]);
}

fn take_and_finish(waiting: &mut Waiting) -> Option<TaskId> {
    let entry = waiting.take_next(&LIMITS)?;
    waiting.finished(&entry.spec.execute_user);
    Some(entry.spec.task_id)
}

#[test]
fn a_user_at_the_running_cap_does_not_block_the_others() {
    let mut waiting = Waiting::default();
    for id in 1..=3 {
        waiting.insert(job(id, "alice"), 0);
    }
    waiting.insert(job(4, "bob"), 0);
    let first = waiting.take_next(&LIMITS).map(|e| e.spec.task_id);
    assert_eq!(first, Some(1));
    // Alice is at her cap of one: bob's job, behind hers, starts.
    assert_eq!(waiting.take_next(&LIMITS).map(|e| e.spec.task_id), Some(4));
    assert!(waiting.take_next(&LIMITS).is_none(), "both users are at their cap");
    waiting.finished("alice");
    assert_eq!(waiting.take_next(&LIMITS).map(|e| e.spec.task_id), Some(2));
}

#[test]
fn paused_jobs_are_skipped_and_not_counted_in_positions() {
    let mut waiting = Waiting::default();
    let held = job(1, "alice");
    waiting.insert(Arc::clone(&held), 0);
    let second = job(2, "alice");
    waiting.insert(Arc::clone(&second), 0);
    held.live().paused = true;
    waiting.set_held(&held, true);
    assert_eq!(waiting.position(&second), Some(0));
    assert_eq!(waiting.take_next(&LIMITS).map(|e| e.spec.task_id), Some(2));
    assert!(waiting.contains(&held));
}

#[test]
fn positions_follow_pauses_resumes_and_jobs_queued_paused() {
    let mut waiting = Waiting::default();
    let first = job(1, "alice");
    waiting.insert(Arc::clone(&first), 0);
    let already_paused = job(2, "bob");
    already_paused.live().paused = true;
    waiting.insert(Arc::clone(&already_paused), 0);
    let last = job(3, "carol");
    waiting.insert(Arc::clone(&last), 0);
    assert_eq!(waiting.position(&last), Some(1), "a job queued paused is not ahead of anyone");
    first.live().paused = true;
    waiting.set_held(&first, true);
    assert_eq!(waiting.position(&last), Some(0));
    assert_eq!(waiting.position(&first), Some(0));
    already_paused.live().paused = false;
    waiting.set_held(&already_paused, false);
    assert_eq!(waiting.position(&last), Some(1));
    // A held job taken out (killed in the queue) no longer counts as held either.
    assert!(waiting.remove(&first).is_some());
    assert_eq!(waiting.position(&last), Some(1));
    assert_eq!(waiting.take_next(&LIMITS).map(|e| e.spec.task_id), Some(2));
    assert_eq!(waiting.position(&last), Some(0));
}

#[test]
fn every_position_in_a_long_queue_is_counted_from_either_end() {
    let mut waiting = Waiting::default();
    let jobs: Vec<_> = (1..=41).map(|id| job(id, "alice")).collect();
    for entry in &jobs {
        waiting.insert(Arc::clone(entry), 0);
    }
    // Every third job of the first half paused: held places are counted from either end too.
    for entry in jobs.iter().take(20).step_by(3) {
        entry.live().paused = true;
        waiting.set_held(entry, true);
    }
    let held_before = |i: usize| (0..i).filter(|j| *j < 20 && j % 3 == 0).count();
    for (i, entry) in jobs.iter().enumerate() {
        assert_eq!(waiting.position(entry), Some(i - held_before(i)), "job {}", i + 1);
    }
    assert_eq!(count_before(std::iter::empty::<()>(), std::iter::empty::<()>(), 0), 0);
}

#[test]
fn capacity_counts_reservations_per_queue_and_per_user() {
    let limits = QueueLimits { capacity: 3, per_user_capacity: 2, running_per_user: 1 };
    let mut waiting = Waiting::default();
    assert_eq!(waiting.reserve("alice", &limits), Ok(()));
    waiting.insert(job(1, "alice"), 0);
    waiting.release("alice");
    assert_eq!(waiting.reserve("alice", &limits), Ok(()));
    assert_eq!(waiting.reserve("alice", &limits), Err(Full::User { capacity: 2 }));
    assert_eq!(waiting.reserve("bob", &limits), Ok(()));
    assert_eq!(waiting.reserve("carol", &limits), Err(Full::Queue { capacity: 3 }));
    waiting.release("bob");
    assert_eq!(waiting.reserve("carol", &limits), Ok(()));
    // A job taken to run frees its place in the queue.
    assert!(waiting.take_next(&limits).is_some());
    assert_eq!(waiting.reserve("dave", &limits), Ok(()));
}

#[test]
fn idle_users_are_forgotten() {
    let mut waiting = Waiting::default();
    waiting.insert(job(1, "alice"), 0);
    let entry = waiting.take_next(&LIMITS);
    assert!(entry.is_some());
    waiting.finished("alice");
    assert!(waiting.shares.is_empty());
    assert!(waiting.reserve("bob", &LIMITS).is_ok());
    waiting.release("bob");
    assert!(waiting.shares.is_empty());
}

#[test]
fn a_job_started_from_a_higher_priority_does_not_move_a_newcomer_behind_a_lower_level_flood() {
    let mut waiting = Waiting::default();
    for id in 1..=5 {
        waiting.insert(job(id, "alice"), 0);
    }
    // Alice's urgent job starts first. With one round for all levels, it moved the round to
    // its tag, one past her flood's, and Bob's job below was placed behind the whole flood.
    waiting.insert(job(6, "alice"), 10);
    let urgent = waiting.take_next(&LIMITS).map(|entry| entry.spec.task_id);
    assert_eq!(urgent, Some(6));
    waiting.finished("alice");
    // Bob arrives at level 0: he is placed at that level's round, not at the urgent job's tag.
    waiting.insert(job(7, "bob"), 0);
    assert_eq!(start_order(&mut waiting, &LIMITS), vec![1, 7, 2, 3, 4, 5]);
}

#[test]
fn a_level_whose_users_all_left_is_forgotten() {
    let mut waiting = Waiting::default();
    waiting.insert(job(1, "alice"), 7);
    assert_eq!(start_order(&mut waiting, &LIMITS), vec![1]);
    assert!(waiting.rounds.is_empty() && waiting.shares.is_empty());
}
