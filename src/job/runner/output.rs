//! A running job's output: log lines (up to the log cap), progress markers, the stdout result
//! set, and the stderr tail a failure quotes. It must not know how the process is signalled.

use std::path::Path;

use super::Run;
use crate::engine::{Marker, PENDING_RESULT_PREFIX};
use crate::job::pipes::Stream;
use crate::job::spark_watch::{self, SparkApp};
use crate::job::store::StageCounts;
use crate::storage::log_file::Level;
use crate::storage::result_set;
use crate::storage::result_set::TextResultWriter;

/// The most stages a `n/m` progress marker may report; larger markers are ignored.
const MAX_STAGES: u64 = 1_000_000_000_000;

/// How many trailing stderr lines a failed job's error description quotes.
pub(super) const STDERR_TAIL_LINES: usize = 5;

/// How much of each of those lines is kept: a job printing megabytes to stderr without a
/// newline must not make its error description (and the worker's memory) that big.
const STDERR_TAIL_LINE_BYTES: usize = 4096;

impl Run<'_> {
    pub(super) fn on_line(&mut self, stream: Stream, line: &[u8]) {
        match Marker::of(line, self.entry.spec.engine, stream == Stream::Stdout) {
            Some((marker, text)) => {
                let text = String::from_utf8_lossy(text);
                let text = text.trim();
                match marker {
                    Marker::Progress => self.on_progress_marker(text),
                    Marker::Error => self.reported_error = Some(text.to_string()),
                    Marker::Result => self.on_result_marker(text),
                    Marker::Spark => self.on_spark_marker(text),
                    Marker::Log => {}
                }
            }
            None if stream == Stream::Stdout && self.stdout_is_result => self.append_result(line),
            None => {}
        }
        if stream == Stream::Stderr {
            if self.stderr_tail.len() == STDERR_TAIL_LINES {
                self.stderr_tail.pop_front();
            }
            let kept = &line[..line.len().min(STDERR_TAIL_LINE_BYTES)];
            let mut text = String::from_utf8_lossy(kept).into_owned();
            if kept.len() < line.len() {
                text.push('…');
            }
            self.stderr_tail.push_back(text);
        }
        if self.log_full {
            return;
        }
        let cap = self.config.max_log_bytes;
        let written = self.entry.write_log(|log| {
            // The job's own output goes to a file at once: it may be much, and it must outlive
            // a crash of the server as well as the job's own lines did before.
            log.make_file()?;
            if log.bytes() + (line.len() as u64) < cap {
                return log.line(line).map(|()| true);
            }
            log.event(
                Level::Warn,
                &format!(
                    "The log reached its limit of {cap} bytes here: the job's further output is not logged \
                     (its stdout still goes to the result set)."
                ),
            )?;
            Ok(false)
        });
        match written {
            Ok(true) => {}
            Ok(false) => self.log_full = true,
            Err(e) => log::error!("job {}: cannot write its log: {e}", self.entry.spec.task_id),
        }
    }

    /// A Spark driver's application and UI: logged, and watched for progress and executors.
    fn on_spark_marker(&mut self, text: &str) {
        let mut parts = text.split_whitespace();
        let (Some(app_id), Some(ui)) = (parts.next(), parts.next()) else { return };
        let master = self.config.spark.master.clone();
        {
            let mut live = self.entry.live();
            if live.spark.is_some() {
                return;
            }
            live.spark =
                Some(SparkApp { app_id: app_id.into(), ui: ui.into(), master: master.clone(), ..SparkApp::default() });
        }
        self.entry.log_event(Level::Info, &format!("Spark application {app_id} on {master}; its UI is at {ui}"));
        spark_watch::watch(self.entry);
    }

    fn on_progress_marker(&mut self, text: &str) {
        let text = text.trim();
        let mut live = self.entry.live();
        // A Spark job's progress comes from its tasks (the driver's UI): its statement counts
        // only move the fraction.
        let counts_stages = !self.entry.spec.engine.counts_its_own_tasks();
        if let Some((done, total)) = text.split_once('/') {
            if let (Ok(done), Ok(total)) = (done.trim().parse::<u64>(), total.trim().parse::<u64>()) {
                if total > 0 && total <= MAX_STAGES {
                    let done = done.min(total);
                    if counts_stages {
                        live.reported_stages =
                            Some(StageCounts { succeed: done, failed: 0, running: u64::from(done < total), total });
                    }
                    live.raise_progress(done as f64 / total as f64);
                }
            }
        } else if let Ok(fraction) = text.parse::<f64>() {
            live.raise_progress(fraction);
        }
    }

    /// Numbers a table a Python job's `show()` has written to a hidden file: the next result
    /// number (taken now, in the order of the job's output) is claimed and the file renamed
    /// onto it. Only a pending file of the job's own result directory is taken.
    fn on_result_marker(&mut self, name: &str) {
        let name = name.trim();
        let dir = &self.entry.spec.result_dir;
        let pending = dir.join(name);
        let valid = name.starts_with(PENDING_RESULT_PREFIX) && !name.contains('/') && pending.is_file();
        if !valid {
            self.entry
                .log_event(Level::Warn, &format!("Ignored a result announcement for {name:?}: no such pending table"));
            return;
        }
        match result_set::adopt(dir, &pending, self.config.limits.max_result_set_bytes) {
            Ok((path, true)) => self.note_cut(&path),
            Ok((_, false)) => {}
            Err(e) => self.entry.log_event(Level::Error, &format!("Cannot keep a shown table as a result set: {e}")),
        }
    }

    /// Says in the job's log (once per file) that a result set was cut at its size cap.
    pub(super) fn note_cut(&mut self, path: &Path) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !self.cut_noted.insert(name.clone()) {
            return;
        }
        let limit = self.config.limits.max_result_set_bytes;
        self.entry.log_event(
            Level::Warn,
            &format!(
                "The result set {name} reached its limit of {limit} bytes (max_result_set_bytes): it was cut \
                 after its last whole row within the limit, and what the job wrote past it is not kept."
            ),
        );
    }

    /// Holds the files a job writes into its result directory by itself to the size cap while
    /// it runs (Portico's own writers stop there by themselves): the disk never holds much more
    /// than the cap of any of them. They are cut at a whole row when the job ends.
    pub(super) fn trim_results(&mut self) {
        let dir = &self.entry.spec.result_dir;
        for name in result_set::trim_over(dir, self.config.limits.max_result_set_bytes) {
            self.note_cut(&dir.join(name));
        }
    }

    fn append_result(&mut self, line: &[u8]) {
        if self.result_broken {
            return;
        }
        if self.result.is_none() {
            match TextResultWriter::create_next(&self.entry.spec.result_dir, self.config.limits.max_result_set_bytes) {
                Ok(writer) => self.result = Some(writer),
                Err(e) => {
                    self.result_broken = true;
                    log::error!("job {}: cannot create its result set: {e}", self.entry.spec.task_id);
                    self.entry.log_event(Level::Error, &format!("Cannot write the result set: {e}"));
                    return;
                }
            }
        }
        let Some(result) = &mut self.result else { return };
        match result.row(line) {
            Ok(true) => {}
            Ok(false) => {
                // Full: the rest of stdout still goes to the log (while it has room).
                self.result_broken = true;
                let path = result.path().to_path_buf();
                self.note_cut(&path);
            }
            Err(e) => {
                self.result_broken = true;
                self.entry.log_event(Level::Error, &format!("Cannot write the result set: {e}"));
            }
        }
    }

    pub(super) fn flush(&mut self) {
        if let Err(e) = self.entry.write_log(|log| log.flush()) {
            log::error!("job {}: cannot flush its log: {e}", self.entry.spec.task_id);
        }
        if let Some(result) = &mut self.result {
            if let Err(e) = result.flush() {
                log::error!("job {}: cannot flush its result set: {e}", self.entry.spec.task_id);
            }
        }
    }
}
