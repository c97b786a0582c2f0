//! A bounded cache of ended jobs' views. A job's end never changes once committed, so its view
//! can be kept instead of being read from the history on every status poll: clients poll ended
//! jobs too (a client that missed the end, a dashboard), and a poll then costs a map lookup
//! instead of a database query. What this must not know: how a job ran, or HTTP.

use std::collections::{HashMap, VecDeque};
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
}

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

    /// Drops the views of jobs whose history rows were deleted: they are gone, not ended.
    pub(super) fn forget(&self, task_ids: &[TaskId]) {
        let mut inner = lock(&self.inner);
        for task_id in task_ids {
            if let Some(old) = inner.by_task.remove(task_id) {
                inner.by_exec_id.remove(&old.exec_id);
                inner.order.retain(|kept| kept != task_id);
            }
        }
    }

    /// Keeps `view` if its job has ended (a view of a job still going is never cached).
    pub(super) fn keep(&self, view: &JobView) {
        if !view.state.is_terminal() {
            return;
        }
        let mut inner = lock(&self.inner);
        if inner.by_task.contains_key(&view.task_id) {
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
