//! Prometheus metrics: what the server counts as it works, and the text a scrape reads.
//!
//! Every figure is kept up to date where the thing it counts happens (the job ledger and the
//! runner on each state change, the queue under its lock, the HTTP pipeline per request), so a
//! scrape only encodes numbers already in memory and reads a few files in `/proc/self`
//! (`process.rs`). This module holds no handle to the job history: a scrape cannot reach the
//! database, by construction.
//!
//! There is one set of metrics per process (as there is one set of process figures), so they
//! live in a process-wide static rather than being threaded through every constructor. Only
//! `prometheus-client`'s atomics and its families' short read-write locks are touched on the
//! job and request paths; nothing here waits on I/O.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

mod process;

/// The media type of the text exposition format a scrape answers.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub state: &'static str,
    pub engine: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EngineLabel {
    pub engine: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UserLabel {
    pub user: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: &'static str,
}

/// Everything the server counts.
pub struct Metrics {
    registry: Registry,
    /// Jobs in memory by their current, not yet final, state.
    pub jobs: Family<JobLabels, Gauge>,
    /// Jobs that reached each final state since the server started.
    pub jobs_ended: Family<JobLabels, Counter>,
    /// Jobs waiting in the queue (held by a pause or not).
    pub queue_depth: Gauge,
    /// Jobs each user has running (the queue's count, which its per-user cap reads).
    pub running_per_user: Family<UserLabel, Gauge>,
    /// From a job's start to its end, for jobs that got a process.
    pub job_duration: Family<JobLabels, Histogram>,
    /// From a job's submission to its start.
    pub queue_wait: Family<EngineLabel, Histogram>,
    pub http_requests: Family<RequestLabels, Counter>,
    /// From a complete request head to the answer being ready to write.
    pub http_latency: Family<RouteLabel, Histogram>,
    /// Clients following a log live.
    pub log_followers: Gauge,
}

/// Job durations: a second to a day.
fn job_buckets() -> Histogram {
    Histogram::new([0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4.0 * 3600.0, 86_400.0])
}

/// Request latencies: 100 µs to 10 s.
fn request_buckets() -> Histogram {
    Histogram::new([0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0])
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let metrics = Metrics {
            jobs: Family::default(),
            jobs_ended: Family::default(),
            queue_depth: Gauge::default(),
            running_per_user: Family::default(),
            job_duration: Family::new_with_constructor(job_buckets),
            queue_wait: Family::new_with_constructor(job_buckets),
            http_requests: Family::default(),
            http_latency: Family::new_with_constructor(request_buckets),
            log_followers: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "portico_jobs",
            "Jobs in memory by state (Inited, Scheduled, Running) and engine",
            metrics.jobs.clone(),
        );
        registry.register(
            "portico_jobs_ended",
            "Jobs that ended since the server started, by final state and engine",
            metrics.jobs_ended.clone(),
        );
        registry.register("portico_queue_depth", "Jobs waiting in the queue", metrics.queue_depth.clone());
        registry.register("portico_running_jobs", "Jobs running per user", metrics.running_per_user.clone());
        registry.register(
            "portico_job_duration_seconds",
            "Run time of ended jobs (start to end), by final state and engine",
            metrics.job_duration.clone(),
        );
        registry.register(
            "portico_job_queue_wait_seconds",
            "Time from submission to start, by engine",
            metrics.queue_wait.clone(),
        );
        registry.register(
            "portico_http_requests",
            "HTTP requests answered, by route (the router's path template) and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "portico_http_request_duration_seconds",
            "Time from a complete request head to its answer being ready, by route",
            metrics.http_latency.clone(),
        );
        registry.register("portico_log_followers", "Clients following a job log live", metrics.log_followers.clone());
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        Metrics { registry, ..metrics }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry) {
            log::error!("cannot encode the metrics: {e}");
        }
        text
    }

    /// Counts one answered request.
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        self.http_requests.get_or_create(&RequestLabels { route, status }).inc();
        self.http_latency.get_or_create(&RouteLabel { route }).observe(took.as_secs_f64());
    }

    /// Sets a user's running count; a user with none leaves the family, so its size follows
    /// the active users, not every user ever seen.
    pub fn set_running(&self, user: &str, running: usize) {
        let label = UserLabel { user: user.to_string() };
        if running == 0 {
            self.running_per_user.remove(&label);
        } else {
            self.running_per_user.get_or_create(&label).set(running as i64);
        }
    }
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_with_its_type() {
        let metrics = Metrics::new();
        metrics.request("/entrance/{id}/status", 200, Duration::from_millis(2));
        metrics.jobs.get_or_create(&JobLabels { state: "Running", engine: "shell" }).inc();
        metrics.set_running("alice", 1);
        let text = metrics.encode();
        for line in [
            "# TYPE portico_jobs gauge",
            "# TYPE portico_http_requests_total counter",
            "# TYPE portico_http_request_duration_seconds histogram",
            "portico_http_requests_total{route=\"/entrance/{id}/status\",status=\"200\"} 1",
            "portico_jobs{state=\"Running\",engine=\"shell\"} 1",
            "portico_running_jobs{user=\"alice\"} 1",
            "# TYPE process_resident_memory_bytes gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        metrics.set_running("alice", 0);
        assert!(!metrics.encode().contains("user=\"alice\""), "an idle user leaves the family");
    }
}
