//! The queue under pressure: a full queue refuses at once and records nothing, one user's
//! flood does not starve another, higher priorities start first, and a restart runs every
//! queued job whatever the capacity. Jobs wait on gate files the test creates, so what runs
//! when is decided by the test, not by timing.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::helper::{eventually, Client, Portico, MULTI_USER_CONFIG};

/// Gate files: a job made by [`Gates::job`] runs until its own gate, or the `all` gate, exists.
struct Gates {
    dir: tempfile::TempDir,
}

impl Gates {
    fn new() -> Gates {
        Gates { dir: tempfile::tempdir().expect("gate dir") }
    }

    /// Shell code that waits for gate `name`, then appends `name` to the order file.
    fn job(&self, name: &str) -> String {
        let dir = self.dir.path().display();
        format!("until [ -e {dir}/{name} ] || [ -e {dir}/all ]; do sleep 0.02; done; echo {name} >> {dir}/order")
    }

    fn open(&self, name: &str) {
        std::fs::write(self.dir.path().join(name), b"").expect("open gate");
    }

    /// The names of the jobs that have passed their gate, in the order they did.
    fn order(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("order")).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

fn config(queue: &str) -> String {
    format!("{MULTI_USER_CONFIG}\n[queue]\n{queue}\n")
}

fn submit_with(client: &Client, code: &str, runtime: Value) -> (u16, Value) {
    let body = json!({
        "executionContent": {"code": code, "runType": "shell"},
        "params": {"configuration": {"runtime": runtime}},
        "labels": {"engineType": "shell-1"}
    });
    client.post("entrance/submit", &body.to_string())
}

fn accepted(answer: (u16, Value)) -> (String, u64) {
    assert_eq!((answer.0, &answer.1["status"]), (200, &json!(0)), "submit refused: {}", answer.1);
    let data = &answer.1["data"];
    (data["execID"].as_str().expect("execID").to_string(), data["taskID"].as_u64().expect("taskID"))
}

/// Every file under the data directory's per-user tree (logs, result directories).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path.clone());
            }
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn a_full_queue_refuses_at_once_leaving_nothing_and_takes_jobs_again_once_it_drains() {
    let server = Portico::start_with_config(&config("capacity = 2"), &["--workers", "1"]);
    let gates = Gates::new();
    let alice = server.as_user("alice");
    let (running, _) = accepted(submit_with(&alice, &gates.job("first"), json!({})));
    server.wait_state(&running, "Running");
    let (_, second) = accepted(submit_with(&alice, &gates.job("second"), json!({})));
    let (third_id, third) = accepted(submit_with(&server.as_user("bob"), &gates.job("third"), json!({})));
    assert_eq!(server.state(&third_id), "Inited");
    let files = files_under(&server.data_dir.join("users"));

    let (code, body, retry_after) =
        server.as_user("carol").post_header("entrance/submit", &submit_body("true"), "Retry-After");
    assert_eq!((code, &body["status"]), (400, &json!(1)), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("12001") && message.contains("queue is full"), "{message}");
    assert_eq!(body["data"]["errorMsg"]["errCode"], 12001, "{body}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    // Nothing half-made: no row, no file, and no taskID used up.
    assert_eq!(server.as_user("carol").ok("jobhistory/list")["totalPage"], 0);
    assert_eq!(files_under(&server.data_dir.join("users")), files);

    gates.open("all");
    for task in [second, third] {
        assert_eq!(server.wait_record(task)["status"], "Succeed");
    }
    let (_, next) = accepted(submit_with(&server.as_user("carol"), "true", json!({})));
    assert_eq!(next, third + 1, "the refused submission used no taskID");
    // Bob, who had not had a turn, went before alice's second job.
    assert_eq!(gates.order(), ["first", "third", "second"]);
}

fn submit_body(code: &str) -> String {
    json!({"executionContent": {"code": code, "runType": "shell"}, "labels": {"engineType": "shell-1"}}).to_string()
}

#[test]
fn a_user_past_their_share_of_the_queue_is_refused_while_others_are_not() {
    let server = Portico::start_with_config(&config("capacity_per_user = 1"), &["--workers", "1"]);
    let gates = Gates::new();
    let alice = server.as_user("alice");
    let (running, _) = accepted(submit_with(&alice, &gates.job("a1"), json!({})));
    server.wait_state(&running, "Running");
    accepted(submit_with(&alice, &gates.job("a2"), json!({})));
    let (code, body) = submit_with(&alice, &gates.job("a3"), json!({}));
    assert_eq!((code, &body["status"]), (400, &json!(1)), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("your share of the queue"), "{body}");
    let (bobs, _) = accepted(submit_with(&server.as_user("bob"), &gates.job("b1"), json!({})));
    gates.open("all");
    assert_eq!(server.wait_done(&bobs), "Succeed");
}

#[test]
fn one_users_flood_leaves_a_worker_for_others_and_a_newcomer_starts_at_the_next_free_one() {
    // Two workers: each user may run one job at a time (one less than the workers).
    let server = Portico::start_with_config(&config(""), &["--workers", "2"]);
    let gates = Gates::new();
    let (alice, bob) = (server.as_user("alice"), server.as_user("bob"));
    let alices: Vec<String> =
        (1..=4).map(|n| accepted(submit_with(&alice, &gates.job(&format!("a{n}")), json!({}))).0).collect();
    let bobs: Vec<String> =
        (1..=4).map(|n| accepted(submit_with(&bob, &gates.job(&format!("b{n}")), json!({}))).0).collect();
    // Both make progress from the start: alice's flood, queued first, does not take both workers.
    server.wait_state(&alices[0], "Running");
    server.wait_state(&bobs[0], "Running");
    assert_eq!(server.state(&alices[1]), "Inited", "alice is at her running cap");
    let carols = accepted(submit_with(&server.as_user("carol"), &gates.job("c1"), json!({}))).0;
    gates.open("a1");
    // The worker alice's job leaves goes to carol, not to alice's or bob's next job.
    server.wait_state(&carols, "Running");
    assert_eq!(server.state(&alices[1]), "Inited");
    assert_eq!(server.state(&bobs[1]), "Inited");
    gates.open("all");
    for id in alices.iter().chain(&bobs) {
        assert_eq!(server.wait_done(id), "Succeed");
    }
    assert_eq!(server.wait_done(&carols), "Succeed");
}

#[test]
fn two_floods_of_two_hundred_jobs_both_progress_from_the_first_job() {
    const FLOOD: usize = 200;
    let server = Portico::start_with_config(&config(""), &["--workers", "2"]);
    let gates = Gates::new();
    // Both workers held, so the floods are queued whole before anything of theirs starts.
    let holders: Vec<String> = ["u1", "u2"]
        .iter()
        .map(|user| accepted(submit_with(&server.as_user(user), &gates.job(&format!("hold-{user}")), json!({}))).0)
        .collect();
    for id in &holders {
        server.wait_state(id, "Running");
    }
    let (alice, bob) = (server.as_user("alice"), server.as_user("bob"));
    let mut last = String::new();
    for n in 0..FLOOD {
        accepted(submit_with(&alice, &format!("echo a{n} >> {}/order", gates.dir.path().display()), json!({})));
    }
    for n in 0..FLOOD {
        last = accepted(submit_with(&bob, &format!("echo b{n} >> {}/order", gates.dir.path().display()), json!({}))).0;
    }
    gates.open("all");
    server.wait_done(&last);
    let order: Vec<String> = eventually("every flood job to have run", || {
        let order: Vec<String> = gates.order().into_iter().filter(|name| !name.starts_with("hold")).collect();
        (order.len() == 2 * FLOOD).then_some(order)
    });
    // Both made progress from the start: each has about half of the first twenty (each user
    // runs one job at a time, one worker each; the order is the order the jobs ended).
    for first in [20, 100, 200] {
        let alices = order[..first].iter().filter(|name| name.starts_with('a')).count();
        assert!(alices.abs_diff(first / 2) <= 2 + first / 50, "one user ran ahead in the first {first}: {order:?}");
    }
}

#[test]
fn higher_priority_starts_first_equals_in_order_and_positions_say_so() {
    let server = Portico::start_with_config(&config(""), &["--workers", "1"]);
    let gates = Gates::new();
    let alice = server.as_user("alice");
    let holder = accepted(submit_with(&server.as_user("u1"), &gates.job("hold"), json!({}))).0;
    server.wait_state(&holder, "Running");
    let mut ids = Vec::new();
    for (name, priority) in [("p0a", json!(0)), ("p5", json!(5)), ("p0b", json!(null)), ("p10", json!("10"))] {
        let runtime = if priority.is_null() { json!({}) } else { json!({"priority": priority}) };
        ids.push((name, accepted(submit_with(&alice, &gates.job(name), runtime)).0));
    }
    let position = |name: &str| {
        let id = &ids.iter().find(|(n, _)| *n == name).expect("job").1;
        server.ok(&format!("entrance/{id}/status"))["queuePosition"].clone()
    };
    assert_eq!([position("p10"), position("p5"), position("p0a"), position("p0b")], [0, 1, 2, 3].map(Value::from));
    gates.open("all");
    for (_, id) in &ids {
        assert_eq!(server.wait_done(id), "Succeed");
    }
    assert_eq!(gates.order(), ["hold", "p10", "p5", "p0a", "p0b"]);

    let (code, body) = submit_with(&alice, "true", json!({"priority": "high"}));
    assert_eq!((code, &body["status"]), (400, &json!(1)), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("priority must be a whole number"), "{body}");

    // Above queue.max_user_priority (10 by default) only an admin may go.
    let (code, body) = submit_with(&alice, "true", json!({"priority": 11}));
    assert_eq!((code, &body["status"]), (400, &json!(1)), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("queue.max_user_priority"), "{body}");
    let (urgent, _) = accepted(submit_with(&server, "true", json!({"priority": 1_000_000})));
    assert_eq!(server.wait_done(&urgent), "Succeed");
}

#[test]
fn a_restart_runs_every_queued_job_even_past_a_smaller_capacity() {
    let data = tempfile::tempdir().expect("data dir");
    let config_at = |capacity: usize| {
        let path = data.path().join(format!("portico-{capacity}.toml"));
        std::fs::write(&path, config(&format!("capacity = {capacity}"))).expect("config");
        path
    };
    let (big, small) = (config_at(10), config_at(2));
    let gates = Gates::new();
    let mut server = Portico::start_in(data.path(), &["--config", big.to_str().expect("path"), "--workers", "1"]);
    let holder = accepted(submit_with(&server.as_user("alice"), &gates.job("hold"), json!({}))).0;
    server.wait_state(&holder, "Running");
    let queued: Vec<String> = (1..=5)
        .map(|n| accepted(submit_with(&server.as_user("alice"), &gates.job(&format!("q{n}")), json!({}))).0)
        .collect();
    server.crash();

    let server = Portico::start_in(data.path(), &["--config", small.to_str().expect("path"), "--workers", "1"]);
    gates.open("all");
    for id in &queued {
        assert_eq!(server.wait_done(id), "Succeed");
    }
    let order: Vec<String> = gates.order().into_iter().filter(|name| name != "hold").collect();
    assert_eq!(order, ["q1", "q2", "q3", "q4", "q5"]);
}
