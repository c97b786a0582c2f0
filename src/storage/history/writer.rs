//! The history's one writer thread: every change to `history.db` is a [`Write`] queued here,
//! and whatever has queued up is committed in one transaction (group commit); writes nobody
//! waits for wait a moment for one that somebody does ([`UNAWAITED_WITHIN`]).
//!
//! If a batch fails, its writes are committed one by one, so one bad write cannot sink the
//! others that happened to share its transaction, and each caller is told its own outcome.
//! Jobs' own updates never change a row that has ended; retention's writes touch only rows
//! that have.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rusqlite::types::ToSql;
use rusqlite::Connection;

use super::HistoryError;
use crate::storage::job_row::{insert_sql, JobRecord, JobUpdate};
use crate::sync::handoff::{Empty, Receiver};

/// Where a caller is told its write's outcome: one waiting for it now, or a channel read later
/// (a worker selects on it among its job's events).
pub(super) enum Ack {
    Waiter(crate::sync::handoff::Sender<Result<(), HistoryError>>),
    Channel(Sender<Result<(), HistoryError>>),
}

impl Ack {
    fn send(self, outcome: Result<(), HistoryError>) {
        match self {
            Ack::Waiter(waiter) => {
                let _ = waiter.send(outcome);
            }
            Ack::Channel(channel) => {
                let _ = channel.send(outcome);
            }
        }
    }
}

/// A write, where to say it is done (for callers that want to know), and whether somebody is
/// waiting for it now (`urgent`: committed at once; otherwise it may wait for one that is).
pub(super) struct Queued {
    pub(super) write: Write,
    pub(super) ack: Option<Ack>,
    pub(super) urgent: bool,
}

/// Writes queued at once are committed together, up to this many.
const MAX_BATCH: usize = 1024;

pub(super) enum Write {
    /// A new row, and the lines of its log if they are held rather than a file.
    Insert(Box<JobRecord>, Vec<u8>),
    Update(u64, Box<JobUpdate>),
    /// Updates that must be committed in one transaction, with one outcome for all.
    Together(Vec<(u64, JobUpdate)>),
    /// Retention measured these ended jobs' files: (taskID, bytes).
    FilesMeasured(Vec<(u64, u64)>),
    /// Retention removed these ended jobs' files at this time (epoch ms).
    FilesRemoved(Vec<u64>, u64),
    /// Retention deleted these ended jobs' rows (their files are gone first).
    Delete(Vec<u64>),
}

/// How long a write nobody waits for now (a job's `Running` row with the previous job's end,
/// which its worker confirms later; a running job's pause flag) may wait for one that
/// somebody does, to share its transaction. A busy server has one coming
/// within a millisecond or two (submissions, job starts and ends), so these cost no flush of
/// their own: one fewer per job. An idle one commits them after this long, a moment longer
/// than before: a crash in between loses the `Running` row, whose process group is recovery's
/// second way to a job's processes (the first, their `PORTICO_JOB` marker, is unaffected).
const UNAWAITED_WITHIN: Duration = Duration::from_millis(10);

pub(super) fn write_loop(mut conn: Connection, writes: &Receiver<Queued>) {
    let mut batch: Vec<Queued> = Vec::new();
    // When the oldest write of `batch` nobody waits for was queued.
    let mut unawaited_since: Option<Instant> = None;
    loop {
        let next = match unawaited_since {
            None => writes.recv().ok_or(Empty::Closed),
            Some(since) => writes.recv_deadline(since + UNAWAITED_WITHIN),
        };
        match next {
            Ok(first) => {
                let already = batch.len();
                batch.push(first);
                let room = MAX_BATCH.saturating_sub(batch.len());
                writes.take_queued(&mut batch, room);
                let awaited = batch[already..].iter().any(|queued| queued.urgent);
                let since = *unawaited_since.get_or_insert_with(Instant::now);
                if !awaited && batch.len() < MAX_BATCH && since.elapsed() < UNAWAITED_WITHIN {
                    continue;
                }
            }
            Err(Empty::Timeout) => {}
            Err(Empty::Closed) => {
                commit_and_answer(&mut conn, std::mem::take(&mut batch));
                return;
            }
        }
        commit_and_answer(&mut conn, std::mem::take(&mut batch));
        unawaited_since = None;
    }
}

/// Commits `batch` in one transaction and tells each waiting caller; if that fails, commits
/// the writes one by one, so one bad write cannot sink the others that happened to share its
/// transaction, and tells each caller its own outcome.
fn commit_and_answer(conn: &mut Connection, batch: Vec<Queued>) {
    if batch.is_empty() {
        return;
    }
    if commit(conn, &batch).is_ok() {
        for Queued { ack, .. } in batch {
            if let Some(ack) = ack {
                ack.send(Ok(()));
            }
        }
        return;
    }
    for queued in batch {
        let result = commit(conn, std::slice::from_ref(&queued)).map_err(|e| {
            log::error!("job history write failed, the change is not durable: {e}");
            HistoryError(format!("write the job history: {e}"))
        });
        if let Some(ack) = queued.ack {
            ack.send(result);
        }
    }
}

/// Where a job update sits in a batch: its write's index, and its index in a `Together`.
type Position = (usize, usize);

/// Every job update of `batch` with its row and position, in order.
fn updates_of(batch: &[Queued]) -> impl Iterator<Item = (Position, u64, &JobUpdate)> {
    batch.iter().enumerate().flat_map(|(index, queued)| {
        // No allocation a write: a single update, or the slice of a `Together`.
        let together: &[(u64, JobUpdate)] = match &queued.write {
            Write::Together(updates) => updates,
            _ => &[],
        };
        let single = match &queued.write {
            Write::Update(task_id, update) => Some((*task_id, &**update)),
            _ => None,
        };
        let updates = single.into_iter().chain(together.iter().map(|(task_id, update)| (*task_id, update)));
        updates.enumerate().map(move |(within, (task_id, update))| ((index, within), task_id, update))
    })
}

/// For each row `batch` updates more than once, the one update that does what its updates
/// do in turn, and where to apply it: a job's `Running` row and its end are often queued
/// within one batch, and two statements moved the row's entries in the status indexes twice.
/// Updates after one that ends the row are left out, as the row's `ended = 0` condition would
/// leave them.
fn merged_updates(batch: &[Queued]) -> HashMap<u64, (Position, JobUpdate)> {
    let mut chains: HashMap<u64, Vec<(Position, &JobUpdate)>> = HashMap::new();
    for (position, task_id, update) in updates_of(batch) {
        chains.entry(task_id).or_default().push((position, update));
    }
    chains
        .into_iter()
        .filter(|(_, chain)| chain.len() > 1)
        .map(|(task_id, chain)| {
            let (mut at, first) = chain[0];
            let mut merged = first.clone();
            if first.ended != Some(true) {
                for &(position, update) in &chain[1..] {
                    merged.absorb(update);
                    at = position;
                    if update.ended == Some(true) {
                        break;
                    }
                }
            }
            (task_id, (at, merged))
        })
        .collect()
}

fn commit(conn: &mut Connection, batch: &[Queued]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let merged = merged_updates(batch);
    let apply = |position: Position, task_id: u64, update: &JobUpdate| match merged.get(&task_id) {
        Some((at, merged)) if *at == position => apply_update(&tx, task_id, merged),
        Some(_) => Ok(()),
        None => apply_update(&tx, task_id, update),
    };
    for (index, Queued { write, .. }) in batch.iter().enumerate() {
        match write {
            Write::Insert(record, held_log) => {
                let held_log = (!held_log.is_empty()).then_some(held_log);
                let mut params = record.named_params();
                params.push((":held_log", &held_log));
                tx.prepare_cached(insert_sql())?.execute(&params[..])?;
            }
            Write::Update(task_id, update) => apply((index, 0), *task_id, update)?,
            Write::Together(updates) => {
                for (within, (task_id, update)) in updates.iter().enumerate() {
                    apply((index, within), *task_id, update)?;
                }
            }
            Write::FilesMeasured(sizes) => {
                let mut stmt = tx.prepare_cached("UPDATE jobs SET files_bytes = ?2 WHERE id = ?1 AND ended = 1")?;
                for (task_id, bytes) in sizes {
                    stmt.execute([task_id, bytes])?;
                }
            }
            Write::FilesRemoved(task_ids, at_ms) => {
                let mut stmt = tx.prepare_cached(
                    "UPDATE jobs SET files_removed_ms = ?2, held_log = NULL \
                     WHERE id = ?1 AND ended = 1 AND files_removed_ms IS NULL",
                )?;
                for task_id in task_ids {
                    stmt.execute([task_id, at_ms])?;
                }
            }
            Write::Delete(task_ids) => {
                let mut stmt = tx.prepare_cached("DELETE FROM jobs WHERE id = ?1 AND ended = 1")?;
                for task_id in task_ids {
                    stmt.execute([task_id])?;
                }
            }
        }
    }
    tx.commit()
}

/// Sets the columns `update` carries on a row that has not ended: a row that has ended never
/// changes again, as in Linkis's job history.
fn apply_update(tx: &rusqlite::Transaction<'_>, task_id: u64, update: &JobUpdate) -> rusqlite::Result<()> {
    let assignments = update.assignments();
    let set: Vec<String> = assignments.iter().map(|(column, parameter, _)| format!("{column} = {parameter}")).collect();
    let mut params: Vec<(&str, &dyn ToSql)> =
        assignments.iter().map(|(_, parameter, value)| (*parameter, *value)).collect();
    params.push((":task_id", &task_id));
    tx.prepare_cached(&format!("UPDATE jobs SET {} WHERE id = :task_id AND ended = 0", set.join(", ")))?
        .execute(&params[..])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(status: &str, ended: bool) -> JobUpdate {
        JobUpdate { status: Some(status.into()), ended: ended.then_some(true), ..JobUpdate::default() }
    }

    fn queued(write: Write) -> Queued {
        Queued { write, ack: None, urgent: false }
    }

    #[test]
    fn a_rows_updates_in_one_batch_become_one_at_its_last_place_and_stop_at_its_end() {
        let running = JobUpdate { pgid: Some(42), held_log: Some(b"ran".to_vec()), ..update("Running", false) };
        let paused = JobUpdate { paused: Some(true), ..JobUpdate::default() };
        let batch = vec![
            queued(Write::Together(vec![(1, update("Succeed", true)), (2, running)])),
            queued(Write::Update(3, Box::new(update("Running", false)))),
            queued(Write::Update(2, Box::new(paused))),
            queued(Write::Together(vec![(2, update("Succeed", true)), (4, update("Running", false))])),
            queued(Write::Update(2, Box::new(update("Failed", true)))),
            queued(Write::Update(1, Box::new(update("Cancelled", true)))),
        ];
        let merged = merged_updates(&batch);
        let mut rows: Vec<u64> = merged.keys().copied().collect();
        rows.sort_unstable();
        assert_eq!(rows, [1, 2], "rows updated once are applied as they are");
        let (at, two) = &merged[&2];
        assert_eq!(*at, (3, 0), "applied where its end was queued; the late Failed is left out");
        assert_eq!(two.status.as_deref(), Some("Succeed"));
        assert_eq!((two.ended, two.pgid, two.paused), (Some(true), Some(42), Some(true)));
        assert_eq!(two.held_log.as_deref(), Some(&b"ran"[..]));
        let (at, one) = &merged[&1];
        assert_eq!((*at, one.status.as_deref()), ((0, 0), Some("Succeed")), "an end first stays the only one");
    }
}
