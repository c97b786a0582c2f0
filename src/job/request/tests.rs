//! Unit tests of submit/execute body parsing and its Linkis error codes.

use super::*;
use serde_json::json;

/// Parses with the default limits.
fn parse(body: &Value) -> Result<JobRequest, JobError> {
    super::parse(body, &RequestLimits::default())
}

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
fn substitution_and_runtime_parameters_are_checked_with_the_request() {
    let req = parse(&json!({
        "executionContent": {"code": "echo ${a}-${n}-${b}-${a", "runType": "shell"},
        "params": {"variable": {"a": "1", "n": 2}, "configuration": {"runtime": {"env.X": "1", "priority": 5}}},
        "labels": {"engineType": "shell-1"}
    }))
    .unwrap();
    assert_eq!(req.code, "echo 1-2-${b}-${a");
    assert!(req.notes.iter().any(|(level, line)| *level == Level::Warn && line.contains("[${b}]")), "{:?}", req.notes);
    let refused = parse(&json!({
        "executionContent": {"code": "echo", "runType": "shell"},
        "params": {"configuration": {"runtime": {"env.LINKIS_X": "1"}}},
        "labels": {"engineType": "shell-1"}
    }));
    assert_eq!(code_of(refused), 20010);
    let limits = RequestLimits { max_code_bytes: 8, ..RequestLimits::default() };
    let body = |code: &str| json!({"executionContent": {"code": code, "runType": "shell"}, "labels": {"engineType": "shell-1"}, "params": {"variable": {"v": "0123456789"}}});
    assert_eq!(code_of(super::parse(&body("echo 123456"), &limits)), 20007);
    assert_eq!(code_of(super::parse(&body("echo ${v}"), &limits)), 20007);
    assert!(super::parse(&body("echo ${"), &limits).is_ok());
}

#[test]
fn fields_of_the_wrong_type_are_refused_not_read_as_absent() {
    let submit = |extra: Value| {
        let mut body =
            json!({"executionContent": {"code": "echo ${v}", "runType": "sh"}, "labels": {"engineType": "shell-1"}});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        parse(&body).map(|req| req.code).map_err(|e| e.to_string())
    };
    assert_eq!(submit(json!({"params": {"variable": {"v": 1}}})), Ok("echo 1".to_string()));
    for (extra, said) in [
        (json!({"params": {"configuration": 5}}), "params.configuration must be an object"),
        (json!({"params": {"configuration": {"runtime": []}}}), "params.configuration.runtime must be an object"),
        (json!({"params": {"configuration": {"startup": "x"}}}), "params.configuration.startup must be an object"),
        (json!({"params": {"variable": {"v": "a\u{0}b"}}}), "holds a NUL character"),
        (json!({"executeUser": 5}), "executeUser must be a string, not a number"),
    ] {
        let refusal = submit(extra.clone()).expect_err(&extra.to_string());
        assert!(refusal.contains(said), "{extra}: {refusal}");
    }
    let execute = parse(&json!({"executeApplicationName": "shell", "executionCode": "x", "requestApplicationName": 7}));
    assert!(execute.expect_err("a number").to_string().contains("requestApplicationName must be a string"));
    let execute = parse(&json!({"executeApplicationName": "flink", "executionCode": "x"}));
    assert!(execute.expect_err("unknown").to_string().contains("Unsupported executeApplicationName flink"));
}
