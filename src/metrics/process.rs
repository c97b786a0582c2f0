//! The process figures every Prometheus client exports (`process_*`), read from `/proc/self`
//! at each scrape: one small file (`stat`) and one directory listing (`fd`). The start time is
//! fixed, so it is computed once.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// What `/proc/self/stat` says, in the units the metrics use.
#[derive(Debug, Default, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    threads: i64,
    virtual_bytes: i64,
    resident_bytes: i64,
    /// Clock ticks after boot when the process started.
    start_ticks: u64,
}

/// Parses `/proc/<pid>/stat`: fields are counted after the command name's closing parenthesis,
/// since the name itself may hold spaces and parentheses.
fn parse_stat(text: &str, ticks_per_second: f64, page_bytes: i64) -> Option<Stat> {
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    // After the name: state is field 3 of proc(5), so field N is at index N - 3.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks_per_second,
        threads: field(20)? as i64,
        start_ticks: field(22)?,
        virtual_bytes: field(23)? as i64,
        resident_bytes: field(24)? as i64 * page_bytes,
    })
}

/// The `process_*` collector.
pub struct ProcessCollector {
    ticks_per_second: f64,
    page_bytes: i64,
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
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        let ticks_per_second = if ticks > 0 { ticks as f64 } else { 100.0 };
        let page_bytes: i64 = if page > 0 { page } else { 4096 };
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|text| {
            text.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse::<u64>().ok())
        });
        let stat = read_stat(ticks_per_second, page_bytes);
        let start_time = boot_time.zip(stat).map(|(boot, s)| boot as f64 + s.start_ticks as f64 / ticks_per_second);
        ProcessCollector { ticks_per_second, page_bytes, start_time }
    }
}

fn read_stat(ticks_per_second: f64, page_bytes: i64) -> Option<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&text, ticks_per_second, page_bytes)
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
        if let Some(stat) = read_stat(self.ticks_per_second, self.page_bytes) {
            let cpu = ConstCounter::new(stat.cpu_seconds);
            let help = "User and system CPU time spent, in seconds";
            cpu.encode(encoder.encode_descriptor("process_cpu_seconds", help, None, cpu.metric_type())?)?;
            gauge(&mut encoder, "process_resident_memory_bytes", "Resident memory in bytes", stat.resident_bytes)?;
            gauge(&mut encoder, "process_virtual_memory_bytes", "Virtual memory in bytes", stat.virtual_bytes)?;
            gauge(&mut encoder, "process_threads", "Threads of the process", stat.threads)?;
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
    fn stat_fields_are_counted_after_the_name() {
        let text = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 12345 \
                    104857600 2560 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let stat = parse_stat(text, 100.0, 4096).unwrap();
        assert_eq!(
            stat,
            Stat {
                cpu_seconds: 4.0,
                threads: 7,
                virtual_bytes: 104_857_600,
                resident_bytes: 2560 * 4096,
                start_ticks: 12345
            }
        );
        assert!(parse_stat("garbage", 100.0, 4096).is_none());
        assert!(read_stat(100.0, 4096).is_some_and(|s| s.threads >= 1 && s.resident_bytes > 0));
    }
}
