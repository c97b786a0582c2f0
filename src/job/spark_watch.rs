//! Watching a Spark job's driver: once the driver has said where its UI is, a thread asks it
//! (from 5 s on, then every second) for its task counts and executors, and puts them in the job's live state:
//! `progress` and `progressInfo` from the tasks Spark has done (monotonic, at most 0.99 until
//! the job ends), `progressWithResource`'s figures from its executors. The thread ends with the
//! driver. What this must not know: HTTP handlers, or how the driver was started.

use std::sync::Arc;
use std::time::Duration;

use super::store::{JobEntry, StageCounts};
use crate::engine::spark_ui;

/// How often the driver is asked.
const EVERY: Duration = Duration::from_secs(1);
/// How long after the driver names its UI it is first asked. The first REST call makes a cold
/// driver start its REST server (Jersey): measured here, 5 to 10 CPU-seconds on a loaded
/// 2-core machine, about a second on a quiet one, as much as a short job's own work. A job
/// done sooner is never asked (its statements' progress comes from its driver's markers).
const FIRST_LOOK: Duration = Duration::from_secs(5);

/// What a Spark job's driver has told about its application.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparkApp {
    pub app_id: String,
    /// The driver's UI, `http://host:port`.
    pub ui: String,
    pub master: String,
    pub executors: spark_ui::Executors,
}

/// Starts watching the driver of `entry` (whose live state already names its application).
pub(super) fn watch(entry: &Arc<JobEntry>) {
    let entry = Arc::clone(entry);
    let started = std::thread::Builder::new().name("portico-spark-watch".into()).spawn(move || run(&entry));
    if let Err(e) = started {
        log::warn!("cannot watch a Spark driver's progress: {e}");
    }
}

fn run(entry: &JobEntry) {
    let mut pause = FIRST_LOOK;
    loop {
        std::thread::sleep(pause);
        pause = EVERY;
        let app = {
            let live = entry.live();
            if live.state.is_terminal() || live.process_exited {
                return;
            }
            live.spark.clone()
        };
        let Some(app) = app else { return };
        let tasks = spark_ui::tasks(&app.ui, &app.app_id);
        let executors = spark_ui::executors(&app.ui, &app.app_id);
        let mut live = entry.live();
        if let Some(tasks) = tasks.filter(|t| t.total > 0) {
            let done = tasks.done.min(tasks.total);
            live.reported_stages =
                Some(StageCounts { succeed: done, failed: tasks.failed, running: tasks.running, total: tasks.total });
            live.raise_progress(done as f64 / tasks.total as f64);
        }
        if let (Some(executors), Some(known)) = (executors, live.spark.as_mut()) {
            known.executors = executors;
        }
    }
}
