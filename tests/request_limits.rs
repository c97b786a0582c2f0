//! What one request may carry: code length, labels, variables and runtime parameters (each
//! limit refused on its own, with a message naming the setting), and JSON nesting, refused
//! before it is parsed whatever its depth, on every route that reads a JSON body.

use serde_json::{json, Value};

use crate::helper::{Portico, MULTI_USER_CONFIG};
use crate::variables::printed;

/// A submit body with `code`, `labels` (besides engineType) and `params`.
fn body(code: &str, labels: Value, params: Value) -> String {
    let mut labels = labels;
    labels["engineType"] = json!("shell-1");
    json!({"executionContent": {"code": code, "runType": "shell"}, "labels": labels, "params": params}).to_string()
}

fn entries(prefix: &str, n: usize) -> Value {
    Value::Object((0..n).map(|i| (format!("{prefix}{i}"), json!("v"))).collect())
}

fn assert_refused(answer: (u16, Value), needle: &str) {
    let (code, body) = answer;
    assert_eq!((code, &body["status"]), (400, &json!(1)), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[test]
fn each_request_limit_is_refused_naming_its_setting() {
    let config = format!(
        "{MULTI_USER_CONFIG}\n[requests]\nmax_code_bytes = 1000\nmax_labels = 3\nmax_variables = 2\nmax_runtime_params = 2\n"
    );
    let server = Portico::start_with_config(&config, &[]);
    let at_limit = body(
        &format!("echo {}", "x".repeat(995)),
        entries("label", 2),
        json!({"variable": entries("v", 2), "configuration": {"runtime": entries("r", 2)}}),
    );
    let (code, answer) = server.post("entrance/submit", &at_limit);
    assert_eq!(code, 200, "everything at its limit is accepted: {answer}");

    let long = body(&format!("echo {}", "x".repeat(996)), json!({}), json!({}));
    assert_refused(
        server.post("entrance/submit", &long),
        "The code is 1001 bytes long; this server runs at most 1000 bytes (requests.max_code_bytes)",
    );
    let grown = body("echo ${v}${v}", json!({}), json!({"variable": {"v": "y".repeat(600)}}));
    assert_refused(server.post("entrance/submit", &grown), "after variable substitution");
    let labels = body("echo", entries("label", 3), json!({}));
    assert_refused(
        server.post("entrance/submit", &labels),
        "labels has 4 entries; this server accepts at most 3 (requests.max_labels)",
    );
    let variables = body("echo", json!({}), json!({"variable": entries("v", 3)}));
    assert_refused(
        server.post("entrance/submit", &variables),
        "params.variable has 3 entries; this server accepts at most 2",
    );
    let runtime = body("echo", json!({}), json!({"configuration": {"runtime": entries("r", 3)}}));
    assert_refused(server.post("entrance/submit", &runtime), "params.configuration.runtime has 3 entries");
    let execute = json!({"executeApplicationName": "shell", "executionCode": "x".repeat(1001)}).to_string();
    assert_refused(server.post("entrance/execute", &execute), "requests.max_code_bytes");
}

#[test]
fn the_default_code_limit_is_one_mebibyte() {
    let server = Portico::start();
    // A comment line pads the code to exactly 1 MiB; one byte more is refused.
    let script = |len: usize| format!("echo ran\n#{}", "x".repeat(len - "echo ran\n#".len()));
    let (code, answer) = server.post("entrance/submit", &body(&script(1 << 20), json!({}), json!({})));
    assert_eq!(code, 200, "{answer}");
    let task_id = answer["data"]["taskID"].as_u64().unwrap();
    assert_eq!(printed(&server, task_id), ["ran"]);
    assert_refused(server.post("entrance/submit", &body(&script((1 << 20) + 1), json!({}), json!({}))), "1048576");
}

#[test]
fn deep_json_is_refused_before_it_is_parsed_on_every_route() {
    let server = Portico::start();
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let deep_in_params = |depth: usize| {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let template = body("echo deep", json!({}), json!({"configuration": {"special": {"x": "HOLE"}}}));
        template.replace("\"HOLE\"", &nested)
    };
    let deep_kill = format!("{{\"idList\": {deep_array}}}");
    for (path, text, needle) in [
        ("entrance/submit", deep_array.clone(), "levels deep"),
        ("entrance/submit", deep_object.clone(), "levels deep"),
        ("entrance/execute", deep_array.clone(), "levels deep"),
        ("entrance/submit", deep_in_params(100_000), "levels deep"),
        ("entrance/submit", deep_in_params(29), "33 levels deep"),
        ("entrance/killJobs", deep_kill, "levels deep"),
        // Login answers every bad body with its own sentence.
        ("user/login", "[".repeat(4000), "login body must be a JSON object"),
    ] {
        assert_refused(server.post(path, &text), needle);
    }
    // Unclosed nesting is refused the same way, before the parser reports the missing end.
    assert_refused(server.post("entrance/submit", &"{\"a\":[".repeat(50_000)), "levels deep");

    // 32 levels is allowed (the hole is 4 deep), and such params go into the history and come
    // back intact.
    let (code, answer) = server.post("entrance/submit", &deep_in_params(28));
    assert_eq!(code, 200, "{answer}");
    let task_id = answer["data"]["taskID"].as_u64().unwrap();
    assert_eq!(printed(&server, task_id), ["deep"]);
    let task = server.wait_record(task_id);
    let params: Value = serde_json::from_str(task["paramsJson"].as_str().unwrap()).unwrap();
    let mut level = &params["configuration"]["special"]["x"];
    for _ in 0..28 {
        level = &level[0];
    }
    assert_eq!(level, &json!(1), "{params}");
}
