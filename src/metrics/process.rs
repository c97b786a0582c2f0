//! The process figures every Prometheus client exports (`process_*`), read from `/proc/self`
//! at each scrape: one small file (`stat`) and one directory listing (`fd`). The start time is
//! fixed, so it is computed once.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::procfs::{self, ProcStat};

/// The `process_*` collector.
pub struct ProcessCollector {
    ticks_per_second: f64,
    page_bytes: u64,
    /// Seconds since the epoch when the process started, if `/proc` said.
    start_time: Option<f64>,
}

impl fmt::Debug for ProcessCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessCollector").finish()
    }
}

impl ProcessCollector {
    pub fn new() -> ProcessCollector {
        let ticks_per_second = procfs::ticks_per_second();
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|text| {
            text.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse::<u64>().ok())
        });
        let start_time =
            boot_time.zip(own_stat()).map(|(boot, stat)| boot as f64 + stat.start_ticks as f64 / ticks_per_second);
        ProcessCollector { ticks_per_second, page_bytes: procfs::page_size(), start_time }
    }
}

/// This process's stat.
fn own_stat() -> Option<ProcStat> {
    procfs::read_stat(std::process::id() as i32)
}

/// Descriptors open now, and the soft limit on them.
fn descriptors() -> (Option<i64>, Option<i64>) {
    let open = std::fs::read_dir("/proc/self/fd").ok().map(|dir| dir.count() as i64);
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given.
    let max = (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0)
        .then(|| i64::try_from(limit.rlim_cur).unwrap_or(i64::MAX));
    (open, max)
}

fn gauge<N>(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: N) -> fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        if let Some(stat) = own_stat() {
            let cpu = ConstCounter::new(stat.own_cpu_ticks as f64 / self.ticks_per_second);
            let help = "User and system CPU time spent, in seconds";
            cpu.encode(encoder.encode_descriptor("process_cpu_seconds", help, None, cpu.metric_type())?)?;
            let resident = (stat.rss_pages * self.page_bytes) as i64;
            gauge(&mut encoder, "process_resident_memory_bytes", "Resident memory in bytes", resident)?;
            gauge(&mut encoder, "process_virtual_memory_bytes", "Virtual memory in bytes", stat.virtual_bytes as i64)?;
            gauge(&mut encoder, "process_threads", "Threads of the process", stat.threads as i64)?;
        }
        let (open, max) = descriptors();
        if let Some(open) = open {
            gauge(&mut encoder, "process_open_fds", "Open file descriptors", open)?;
        }
        if let Some(max) = max {
            gauge(&mut encoder, "process_max_fds", "The limit on open file descriptors", max)?;
        }
        if let Some(start) = self.start_time {
            gauge(&mut encoder, "process_start_time_seconds", "Start time since the Unix epoch, in seconds", start)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collector_reads_this_process() {
        let stat = own_stat().expect("our own stat");
        assert!(stat.threads >= 1 && stat.rss_pages > 0 && stat.virtual_bytes > 0);
        let collector = ProcessCollector::new();
        let started = collector.start_time.expect("a start time");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs_f64();
        assert!(started <= now + 1.0 && started > now - 86_400.0 * 365.0, "{started} against {now}");
    }
}
