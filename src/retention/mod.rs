//! Retention: so that a server that runs for years does not fill its disk.
//!
//! One background thread sweeps once at start-up and then every `retention.interval`: it
//! deletes history rows older than `history_max_age` (with their files), removes the files of
//! jobs that ended longer ago than `max_age`, and, while the ended jobs' files together take
//! more than `max_bytes`, removes those of the jobs that ended first (`sweep.rs`). A job's
//! files (log, result sets, working directory) go together (`files.rs`), and its history row
//! keeps a flag saying when, so that clients asking for them are told they expired rather than
//! that they never existed. Only jobs whose end is committed are ever touched.
//!
//! What this must not know: HTTP, or how jobs are queued and run. It sees the history and the
//! data directory's layout, nothing else; requests and workers never wait for it.

mod files;
mod sweep;

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock;
use crate::config::RetentionSettings;
use crate::data_dir::Layout;
use crate::job::scheduler::Scheduler;
use crate::sync::lock;

use sweep::Sweep;

/// The retention thread, stopped when this is dropped.
pub struct Retention {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// A job's files can sit in a directory tree a job made as deep as it liked: removing such a
/// tree recurses, so the thread gets room for it.
const STACK_BYTES: usize = 16 << 20;

impl Retention {
    /// Starts the sweeps, the first one at once; `None` when the settings keep everything.
    pub fn start(
        settings: RetentionSettings,
        scheduler: Scheduler,
        layout: Layout,
    ) -> std::io::Result<Option<Retention>> {
        if !settings.enabled() {
            return Ok(None);
        }
        let shown = |age: Option<Duration>| age.map_or("forever".to_string(), |a| format!("for {}", shown_age(a)));
        log::info!(
            "retention: ended jobs' files kept {} (up to {} bytes in all), their history rows {}; a sweep every {}",
            shown(settings.max_age),
            settings.max_bytes.map_or("any number of".to_string(), |b| b.to_string()),
            shown(settings.history_max_age),
            shown_age(settings.interval),
        );
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("portico-retention".into())
            .stack_size(STACK_BYTES)
            .spawn(move || run(&settings, &scheduler, &layout, &flag))?;
        Ok(Some(Retention { stop, thread: Some(thread) }))
    }

    /// Stops the thread between two pages of its sweep and waits for it.
    pub fn stop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *lock(stopped) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Retention {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `30d`, `12h`, `90s`, `0.5s`: an age as the config file spells it.
fn shown_age(age: Duration) -> String {
    let secs = age.as_secs();
    match (secs, age.subsec_nanos()) {
        (s, 0) if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        (s, 0) if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        (s, 0) if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{}s", age.as_secs_f64()),
    }
}

fn run(settings: &RetentionSettings, scheduler: &Scheduler, layout: &Layout, stop: &(Mutex<bool>, Condvar)) {
    let (stopped, wake) = stop;
    let stopping = || *lock(stopped);
    loop {
        let started = Instant::now();
        let sweep = Sweep {
            history: scheduler.history(),
            layout,
            settings,
            stopping: &stopping,
            deleting: &|task_ids| scheduler.deleting(task_ids),
            deleted: &|task_ids| scheduler.deleted(task_ids),
            now_ms: clock::now_millis(),
        };
        match sweep.run() {
            Ok(swept) if swept == sweep::Swept::default() => log::debug!("retention: nothing to remove"),
            Ok(swept) => log::info!(
                "retention: removed the files of {} jobs and {} history rows ({} bytes) in {:?}",
                swept.files_removed,
                swept.rows_deleted,
                swept.bytes,
                started.elapsed()
            ),
            Err(e) => log::warn!("retention: the sweep stopped, trying again in {:?}: {e}", settings.interval),
        }
        let deadline = Instant::now() + settings.interval;
        let mut guard = lock(stopped);
        while !*guard {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            guard = wake.wait_timeout(guard, left).map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
        if *guard {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_shown_as_the_config_spells_them() {
        let shown: Vec<String> = [86_400 * 30, 3600 * 12, 120, 90].map(|s| shown_age(Duration::from_secs(s))).into();
        assert_eq!(shown, ["30d", "12h", "2m", "90s"]);
        assert_eq!(shown_age(Duration::from_millis(500)), "0.5s");
    }
}
