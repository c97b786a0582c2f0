//! Unit tests of submit/execute body parsing and its Linkis error codes.

use super::*;
use serde_json::json;

fn code_of(result: Result<JobRequest, JobError>) -> u32 {
    match result {
        Err(JobError::InvalidRequest { code, .. }) => code,
        other => panic!("expected an invalid request, got {other:?}"),
    }
}

#[test]
fn submit_body_parses() {
    let req = parse(&json!({
        "executionContent": {"code": "echo ${name}", "runType": "shell"},
        "params": {"variable": {"name": "world"}},
        "labels": {"engineType": "shell-1", "userCreator": "alice-IDE", "jobRunningTimeout": "30"}
    }))
    .unwrap();
    assert_eq!(req.code, "echo world");
    assert_eq!(req.engine, Engine::Shell);
    assert_eq!(req.label_user.as_deref(), Some("alice"));
    assert_eq!(req.creator, "IDE");
    assert_eq!(req.running_timeout, Some(Duration::from_secs(30)));
}

#[test]
fn execute_body_parses_and_gets_a_default_version() {
    let req = parse(&json!({
        "executeApplicationName": "python", "executionCode": "print(1)",
        "runType": "py", "requestApplicationName": "nb"
    }))
    .unwrap();
    assert_eq!(req.engine, Engine::Python);
    assert_eq!(req.engine_type, "python-python3");
    assert_eq!(req.creator, "nb");
}

#[test]
fn linkis_error_codes_for_bad_bodies() {
    assert_eq!(code_of(parse(&json!({"executionContent": {"code": "x"}}))), 20008);
    for labels in [
        json!({"engineType": "shell-1\u{0}"}),
        json!({"engineType": "shell-1", "tenant": "a\nb"}),
        json!({"engineType": "shell-1", "k\u{7}": "v"}),
    ] {
        let body = json!({"executionContent": {"code": "x", "runType": "sh"}, "labels": labels});
        assert_eq!(code_of(parse(&body)), 20009, "{body}");
    }
    assert_eq!(code_of(parse(&json!({"executionContent": {"code": "x", "runType": "sh"}, "labels": {"x": 1}}))), 20009);
    assert_eq!(
        code_of(parse(&json!({"executionContent": {"runType": "sh"}, "labels": {"engineType": "shell-1"}}))),
        20010
    );
    assert_eq!(
        code_of(parse(
            &json!({"executionContent": {"code": "  ", "runType": "sh"}, "labels": {"engineType": "shell-1"}})
        )),
        20007
    );
    assert_eq!(code_of(parse(&json!({"executeApplicationName": "flink", "executionCode": "x"}))), 20009);
    assert_eq!(code_of(parse(&json!({"executeApplicationName": "shell", "executionCode": 5}))), 20007);
    assert_eq!(
        code_of(parse(&json!({"executeApplicationName": "shell", "executionCode": "x", "runType": "python"}))),
        20009
    );
    assert_eq!(code_of(parse(&json!([1, 2]))), 20008);
    assert_eq!(
        code_of(parse(
            &json!({"executionContent": {"code": "x", "runType": "sh"}, "labels": {"engineType": "shell-1", "jobRunningTimeout": "1h"}})
        )),
        20009
    );
    assert_eq!(
        code_of(parse(
            &json!({"executeApplicationName": "shell", "executionCode": "x", "requestApplicationName": "../x"})
        )),
        21304
    );
}

#[test]
fn unknown_engine_error_lists_what_is_supported() {
    let err =
        parse(&json!({"executionContent": {"code": "x", "runType": "sql"}, "labels": {"engineType": "hive-2.3.3"}}))
            .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("shell-*") && text.contains("python-*"), "{text}");
}

#[test]
fn substitution_leaves_unknown_and_broken_references_alone() {
    let vars = json!({"a": "1", "n": 2}).as_object().cloned().unwrap();
    assert_eq!(substitute("${a}-${n}-${b}-${a", &vars), "1-2-${b}-${a");
}
