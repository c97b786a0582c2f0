//! The OpenAPI document: served without login, its paths exactly the router's endpoints, each
//! documented operation answered by a real server, and schemathesis run against a live server
//! (when `PORTICO_SCHEMATHESIS` names it; `.ci/run` installs it and requires it).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helper::{eventually_within, Portico, MULTI_USER_CONFIG, TEST_TOKEN};

/// One raw call: (HTTP code, Content-Type, Allow, body text), whatever the body is.
fn call(base: &str, method: &str, path: &str, user: Option<&str>, body: Option<&str>) -> (u16, String, String, String) {
    let agent = ureq::AgentBuilder::new().timeout(crate::helper::PATIENCE).build();
    let mut request = agent.request(method, &format!("{base}/api/rest_j/v1{path}"));
    if let Some(user) = user {
        request = request.set("Token-Code", TEST_TOKEN).set("Token-User", user);
    }
    let result = match body {
        Some(body) => request.set("Content-Type", "application/json").send_string(body),
        None => request.call(),
    };
    let response = match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let code = response.status();
    let content_type = response.header("Content-Type").unwrap_or_default().to_string();
    let allow = response.header("Allow").unwrap_or_default().to_string();
    let mut bytes = Vec::new();
    response.into_reader().take(64 << 20).read_to_end(&mut bytes).expect("read the body");
    (code, content_type, allow, String::from_utf8_lossy(&bytes).into_owned())
}

/// The document as a public client gets it.
fn fetch_document(base: &str) -> Value {
    let (code, content_type, _, text) = call(base, "GET", "/openapi.json", None, None);
    assert_eq!(code, 200, "{text}");
    assert!(content_type.starts_with("application/json"), "{content_type}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the document is not JSON: {e}"))
}

/// (METHOD, path template) of every operation in `document`.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            methods.iter().filter(|m| item.get(**m).is_some()).map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn the_served_document_is_the_router_and_every_operation_is_answered() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let document = fetch_document(&server.base);
    assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", document["openapi"]);
    assert_eq!(document["servers"][0]["url"], "/api/rest_j/v1");
    let documented = operations(&document);
    let listed: BTreeSet<(String, String)> =
        portico::OPENAPI_ENDPOINTS.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, listed);

    // Real ids for the path and query parameters: a finished SQL job with a table result.
    let body =
        json!({"executionContent": {"code": "select 1 as a", "runType": "sql"}, "labels": {"engineType": "sqlite-3"}});
    let (exec_id, task_id) = server.submit(&body);
    assert_eq!(server.wait_done(&exec_id), "Succeed");
    let task = server.wait_record(task_id);
    let (results, log) = (task["resultLocation"].as_str().unwrap(), task["logPath"].as_str().unwrap());
    let sets = server.result_files(&task);
    let table = sets.last().expect("the job's table result");
    let id = exec_id.replace(':', "%3A");
    for (method, template) in &documented {
        let path = template
            .replace("{id}", &id)
            .replace("{taskID}", &task_id.to_string())
            .replace("/getDirFileTrees", &format!("/getDirFileTrees?path={results}"))
            .replace("/resultsetsToExcel", &format!("/resultsetsToExcel?path={results}"))
            .replace("/openFile", &format!("/openFile?path={table}"))
            .replace("/resultsetToExcel", &format!("/resultsetToExcel?path={table}"))
            .replace("/openLog", &format!("/openLog?path={log}"));
        let body = match template.as_str() {
            "/user/login" => Some(r#"{"userName": "alice", "password": "alice-pass"}"#),
            "/entrance/submit" | "/entrance/execute" => Some(r#"{"executionCode": "true", "runType": "shell"}"#),
            "/entrance/killJobs" | "/entrance/{id}/killJobs" => Some(r#"{"idList": ["none"]}"#),
            _ => None,
        };
        let (code, _, _, text) = call(&server.base, method, &path, Some("root"), body);
        // Every one succeeds with these ids; an answer of 404/405 would say the router does not
        // know the documented operation.
        assert!(code == 200, "{method} {path}: {code} {text}");
    }
}

#[test]
fn a_wrong_method_is_answered_405_with_allow() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    for (method, path, allow) in [
        ("PUT", "/entrance/1/kill", "GET, HEAD, POST"),
        ("GET", "/entrance/submit", "POST"),
        ("DELETE", "/jobhistory/list", "GET, HEAD"),
        ("POST", "/openapi.json", "GET, HEAD"),
    ] {
        let (code, _, allowed, text) = call(&server.base, method, path, Some("alice"), None);
        assert_eq!((code, allowed.as_str()), (405, allow), "{method} {path}: {text}");
    }
}

/// A server on which jobs run nothing: schemathesis submits whatever it makes up, so the
/// shell and Python "interpreters" are `true`, which ignores its arguments.
const FUZZ_CONFIG: &str = r#"
[engines]
shell = "true"
python = "true"
"#;

/// The tools named by the environment, or `None` (and a note) when they are not; where they
/// are required (`PORTICO_REQUIRE_SCHEMATHESIS`, which `.ci/run` sets), their absence fails.
fn schemathesis() -> Option<(String, String)> {
    match (std::env::var("PORTICO_SCHEMATHESIS"), std::env::var("PORTICO_OPENAPI_VALIDATOR")) {
        (Ok(tool), Ok(validator)) => Some((tool, validator)),
        _ => {
            assert!(
                std::env::var_os("PORTICO_REQUIRE_SCHEMATHESIS").is_none(),
                "set PORTICO_SCHEMATHESIS and PORTICO_OPENAPI_VALIDATOR (.ci/run installs both)"
            );
            eprintln!("skipped: set PORTICO_SCHEMATHESIS and PORTICO_OPENAPI_VALIDATOR to run schemathesis");
            None
        }
    }
}

/// Runs `command` to its end, its output into `output`; fails when it does not end within
/// `patience` (a hang, of the tool or of the server it is talking to).
fn run_to_end(mut command: Command, output: &Path, patience: Duration) -> (bool, String) {
    let file = std::fs::File::create(output).expect("output file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let ended = eventually_within(patience, "the tool to finish", || {
        let status = child.try_wait().expect("try_wait");
        if status.is_none() {
            std::thread::sleep(Duration::from_millis(200));
        }
        status
    });
    let text = std::fs::read_to_string(output).unwrap_or_default();
    (ended.success(), text)
}

#[test]
fn schemathesis_finds_no_server_error_nor_a_broken_schema() {
    let Some((tool, validator)) = schemathesis() else { return };
    let mut config = String::from(FUZZ_CONFIG);
    config.push_str(MULTI_USER_CONFIG);
    let server = Portico::start_with_config(&config, &[]);
    let document = fetch_document(&server.base);
    let scratch = tempfile::tempdir().expect("temp dir");
    let file = scratch.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).expect("write the document");

    let mut validate = Command::new(&validator);
    validate.arg(&file);
    let (valid, text) = run_to_end(validate, &scratch.path().join("validator.txt"), Duration::from_secs(60));
    assert!(valid, "the document is not valid OpenAPI:\n{text}");

    // As the admin, so that the admin operations are exercised too; links from submit lead
    // the stateful phase to real jobs and their files.
    let mut run = Command::new(&tool);
    run.arg("run")
        .arg(format!("{}/api/rest_j/v1/openapi.json", server.base))
        .args(["-H", &format!("Token-Code: {TEST_TOKEN}"), "-H", "Token-User: root"])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"])
        .args(["--max-examples", "25", "--workers", "1", "--seed", "20261203"])
        .args(["--max-response-time", "10", "--request-timeout", "20"])
        .args(["--generation-database", "none", "--no-color"])
        .arg("--report-dir")
        .arg(scratch.path().join("report"))
        .current_dir(scratch.path());
    let (passed, text) = run_to_end(run, &scratch.path().join("schemathesis.txt"), Duration::from_secs(300));
    assert!(passed, "schemathesis found failures:\n{text}");
    // The run reached real jobs, not only made-up ids.
    let jobs = server.ok("jobhistory/list?isAdminView=true&pageSize=1");
    assert!(jobs["totalPage"].as_u64().unwrap_or(0) > 0, "{jobs}");
    assert_eq!(server.get("user/userInfo").0, 200, "the server answers after the run");
}
