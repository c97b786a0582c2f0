//! A bounded cache of ended jobs' views. A job's end never changes once committed, so its view
//! can be kept instead of being read from the history on every status poll: clients poll ended
//! jobs too (a client that missed the end, a dashboard), and a poll then costs a map lookup
//! instead of a database query. What this must not know: how a job ran, or HTTP.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use super::view::JobView;
use super::TaskId;
use crate::sync::lock;

/// Views kept; the oldest cached is dropped first (about half a KiB each).
const CAPACITY: usize = 1024;

#[derive(Default)]
pub(super) struct EndedViews {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_task: HashMap<TaskId, JobView>,
    by_exec_id: HashMap<String, TaskId>,
    order: VecDeque<TaskId>,
    /// Jobs whose rows are being deleted: neither answered from here nor kept, from before
    /// their delete is committed until after.
    deleting: HashSet<TaskId>,
    /// Counts finished deletions: a view read from the history before one finished is not
    /// kept after it (its row may be gone by then).
    deletions: u64,
}

/// When a view was read, for [`EndedViews::keep`]: the deletions finished by then.
#[derive(Clone, Copy)]
pub(super) struct ReadAt(u64);

impl EndedViews {
    /// The cached view of the job with this taskID or execID.
    pub(super) fn get(&self, id: &str) -> Option<JobView> {
        let inner = lock(&self.inner);
        let task_id = match super::task_id_of(id) {
            Some(task_id) => task_id,
            None => *inner.by_exec_id.get(id)?,
        };
        inner.by_task.get(&task_id).cloned()
    }

    /// Called before these jobs' history rows are deleted: their views are dropped and none
    /// is kept again until [`EndedViews::deleted`]. Without that, a poll between the delete's
    /// commit and the forgetting answered a deleted job as `Succeed` from here.
    pub(super) fn deleting(&self, task_ids: &[TaskId]) {
        let mut inner = lock(&self.inner);
        for task_id in task_ids {
            inner.deleting.insert(*task_id);
            if let Some(old) = inner.by_task.remove(task_id) {
                inner.by_exec_id.remove(&old.exec_id);
                inner.order.retain(|kept| kept != task_id);
            }
        }
    }

    /// Called once the rows are deleted (or the delete failed): they are gone, not ended.
    pub(super) fn deleted(&self, task_ids: &[TaskId]) {
        let mut inner = lock(&self.inner);
        for task_id in task_ids {
            inner.deleting.remove(task_id);
        }
        inner.deletions += 1;
    }

    /// Taken before reading a view from the history, to hand to [`EndedViews::keep`].
    pub(super) fn read_at(&self) -> ReadAt {
        ReadAt(lock(&self.inner).deletions)
    }

    /// Keeps `view`, read from the history at `read_at`, if its job has ended (a view of a job
    /// still going is never cached) and no deletion could have removed its row since.
    pub(super) fn keep(&self, view: &JobView, read_at: ReadAt) {
        if !view.state.is_terminal() {
            return;
        }
        let mut inner = lock(&self.inner);
        if inner.by_task.contains_key(&view.task_id)
            || inner.deleting.contains(&view.task_id)
            || inner.deletions != read_at.0
        {
            return;
        }
        if inner.order.len() >= CAPACITY {
            if let Some(oldest) = inner.order.pop_front() {
                if let Some(old) = inner.by_task.remove(&oldest) {
                    inner.by_exec_id.remove(&old.exec_id);
                }
            }
        }
        inner.order.push_back(view.task_id);
        inner.by_exec_id.insert(view.exec_id.clone(), view.task_id);
        inner.by_task.insert(view.task_id, view.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::history::JobRecord;

    fn ended_view(task_id: TaskId) -> JobView {
        let record = JobRecord {
            task_id,
            exec_id: format!("exec_{task_id}"),
            engine: "shell".into(),
            engine_type: "shell-1".into(),
            status: "Succeed".into(),
            ..JobRecord::default()
        };
        JobView::of_record(&record).expect("a view of an ended row")
    }

    #[test]
    fn no_view_is_kept_or_answered_across_the_deletion_of_its_row() {
        let views = EndedViews::default();
        let read_at = views.read_at();
        views.keep(&ended_view(1), read_at);
        assert!(views.get("1").is_some() && views.get("exec_1").is_some());

        views.deleting(&[1]);
        assert!(views.get("1").is_none(), "dropped before the delete is committed");
        // A poll that reads the row before the delete commits must not bring it back.
        views.keep(&ended_view(1), views.read_at());
        assert!(views.get("1").is_none(), "kept while its row was being deleted");
        views.deleted(&[1]);
        // Nor one that read it before and keeps it after.
        views.keep(&ended_view(1), read_at);
        assert!(views.get("1").is_none() && views.get("exec_1").is_none(), "kept after its row was deleted");

        // Views read after the deletion are kept as before.
        views.keep(&ended_view(2), views.read_at());
        assert!(views.get("2").is_some());
    }
}
