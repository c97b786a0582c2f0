//! `GET /metrics`: the Prometheus text exposition, that its figures move with jobs and
//! requests, and who may scrape.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};

use crate::helper::{connect_from, eventually, Portico, MULTI_USER_CONFIG};

/// A raw GET of `/metrics` on `stream`: the status, the head and the body.
fn get_metrics(mut stream: TcpStream, extra_header: &str) -> (u16, String, String) {
    stream.set_read_timeout(Some(crate::helper::PATIENCE)).unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: portico\r\n{extra_header}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    (head[9..12].parse().unwrap(), head.to_string(), body.to_string())
}

fn scrape(server: &Portico) -> String {
    let stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    let (status, head, body) = get_metrics(stream, "");
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    body
}

/// The exposition's samples by series (`name{labels}`), checking every line's syntax and
/// that every sample belongs to a family announced by a `# TYPE` line.
fn samples(text: &str) -> HashMap<String, f64> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = if value == "+Inf" { f64::INFINITY } else { value.parse().expect("a number") };
        let name = series.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        assert!(types.contains_key(name) || types.contains_key(family), "{name} has no # TYPE line");
        samples.insert(series.to_string(), value);
    }
    samples
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

#[test]
fn a_scrape_is_the_exposition_format_and_its_counts_follow_jobs_and_requests() {
    let server = Portico::start();
    let before = samples(&scrape(&server));
    assert!(value(&before, "process_resident_memory_bytes") > 0.0 && value(&before, "process_threads") >= 2.0);

    let (exec_id, _) = server.submit_shell("echo hi");
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let text = scrape(&server);
    for family in [
        "portico_jobs gauge",
        "portico_jobs_ended_total counter",
        "portico_queue_depth gauge",
        "portico_job_duration_seconds histogram",
        "portico_http_requests_total counter",
        "portico_http_request_duration_seconds histogram",
        "portico_log_followers gauge",
        "process_resident_memory_bytes gauge",
        "process_cpu_seconds_total counter",
        "process_open_fds gauge",
        "process_threads gauge",
        "process_start_time_seconds gauge",
    ] {
        assert!(text.contains(&format!("# TYPE {family}\n")), "no {family} in\n{text}");
    }
    let after = samples(&text);
    let succeeded = r#"portico_jobs_ended_total{state="Succeed",engine="shell"}"#;
    assert_eq!(value(&after, succeeded), value(&before, succeeded) + 1.0);
    let durations = r#"portico_job_duration_seconds_count{state="Succeed",engine="shell"}"#;
    assert_eq!(value(&after, durations), value(&before, durations) + 1.0);
    let status = r#"portico_http_requests_total{route="/entrance/{id}/status",status="200"}"#;
    assert!(value(&after, status) >= 1.0, "the status polls are counted");
    let latency = r#"portico_http_request_duration_seconds_count{route="/entrance/{id}/status"}"#;
    assert_eq!(value(&after, latency), value(&after, status));
    for state in ["Inited", "Scheduled", "Running"] {
        assert_eq!(value(&after, &format!(r#"portico_jobs{{state="{state}",engine="shell"}}"#)), 0.0, "{state}");
    }

    // A request moves its route's count by one, under the route's template, not its path.
    let polls = value(&after, status);
    server.state(&exec_id);
    let later = samples(&scrape(&server));
    assert_eq!(value(&later, status), polls + 1.0);
    assert!(!later.keys().any(|k| k.contains(&exec_id)), "no raw path becomes a label");
}

#[test]
fn queue_depth_and_running_jobs_follow_the_queue() {
    let server = Portico::start_with(&["--workers", "1"]);
    let scratch = tempfile::tempdir().unwrap();
    let stop = scratch.path().join("stop");
    let (first, _) = server.submit_shell(&format!("while [ ! -e '{}' ]; do sleep 0.05; done", stop.display()));
    server.wait_state(&first, "Running");
    let queued: Vec<String> = (0..3).map(|_| server.submit_shell("echo queued").0).collect();
    let now = samples(&scrape(&server));
    assert_eq!(value(&now, "portico_queue_depth"), 3.0);
    assert_eq!(value(&now, r#"portico_jobs{state="Inited",engine="shell"}"#), 3.0);
    assert_eq!(value(&now, r#"portico_jobs{state="Running",engine="shell"}"#), 1.0);
    assert_eq!(value(&now, r#"portico_running_jobs{user="hadoop"}"#), 1.0);

    std::fs::write(&stop, "").unwrap();
    for id in &queued {
        assert_eq!(server.wait_done(id), "Succeed");
    }
    eventually("the queue and the running count to empty", || {
        let now = samples(&scrape(&server));
        let idle = value(&now, "portico_queue_depth") == 0.0
            && value(&now, r#"portico_jobs{state="Running",engine="shell"}"#) == 0.0
            && !now.keys().any(|k| k.starts_with("portico_running_jobs{"));
        idle.then_some(())
    });
}

#[test]
fn only_allowed_addresses_or_the_token_may_scrape() {
    let config =
        format!("{MULTI_USER_CONFIG}\n[metrics]\nallow = [\"127.0.0.1\"]\ntoken = \"scrape-token-0123456789\"\n");
    let server = Portico::start_with_config(&config, &[]);
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let elsewhere = || connect_from(Ipv4Addr::new(127, 0, 0, 2), addr).expect("connect from 127.0.0.2");

    let (status, head, body) = get_metrics(elsewhere(), "");
    assert_eq!(status, 403, "{head}");
    let envelope: serde_json::Value = serde_json::from_str(&body).expect("the Linkis envelope");
    assert_eq!(envelope["status"], 3);
    assert!(envelope["message"].as_str().unwrap().contains("[metrics] allow"), "{envelope}");

    let (status, _, _) = get_metrics(elsewhere(), "Authorization: Bearer wrong-token-0123456789\r\n");
    assert_eq!(status, 403, "a wrong token is no token");
    let (status, _, body) = get_metrics(elsewhere(), "Authorization: Bearer scrape-token-0123456789\r\n");
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE portico_jobs gauge"));
    assert!(scrape(&server).contains("# TYPE portico_queue_depth gauge"), "127.0.0.1 is allowed");
}
