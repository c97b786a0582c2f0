//! The config file's `[queue]` section: how many jobs may wait, and each user's share of the
//! queue and of the workers.

use serde::Deserialize;

use super::ConfigError;

/// Bounds on waiting jobs and on each user's running jobs, as configured.
#[derive(Clone, Copy, Debug)]
pub struct QueueSettings {
    /// Jobs waiting at once over all users; past it a submit is refused (Linkis error 12001).
    pub capacity: usize,
    /// Jobs waiting at once for one user; `None`: the whole queue.
    pub capacity_per_user: Option<usize>,
    /// Jobs of one user running at once; `None`: one less than the workers, at least one, so
    /// one user's flood always leaves a worker for someone else.
    pub max_running_per_user: Option<usize>,
    /// The highest priority a job of a user who is not an admin may ask for: priority reorders
    /// the queue across users, so above this it is the operators' to give.
    pub max_user_priority: i32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings { capacity: 1000, capacity_per_user: None, max_running_per_user: None, max_user_priority: 10 }
    }
}

impl QueueSettings {
    /// Jobs one user may have waiting at once.
    pub fn per_user_capacity(&self) -> usize {
        self.capacity_per_user.unwrap_or(self.capacity)
    }

    /// Jobs one user may have running at once with `workers` workers.
    pub fn running_per_user(&self, workers: usize) -> usize {
        self.max_running_per_user.unwrap_or(workers.saturating_sub(1)).max(1)
    }

    pub(super) fn apply(
        &mut self,
        section: QueueSection,
        file_error: &dyn Fn(String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let positive = |key: &str, value: Option<usize>| match value {
            Some(0) => Err(file_error(format!("queue.{key}: must be at least 1"))),
            other => Ok(other),
        };
        if let Some(capacity) = positive("capacity", section.capacity)? {
            self.capacity = capacity;
        }
        if let Some(capacity) = positive("capacity_per_user", section.capacity_per_user)? {
            self.capacity_per_user = Some(capacity);
        }
        // A flag or variable, applied after the file, wins over this.
        if let Some(running) = positive("max_running_per_user", section.max_running_per_user)? {
            self.max_running_per_user = Some(running);
        }
        if let Some(max) = section.max_user_priority {
            self.max_user_priority = max;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueueSection {
    capacity: Option<usize>,
    capacity_per_user: Option<usize>,
    max_running_per_user: Option<usize>,
    max_user_priority: Option<i32>,
}
