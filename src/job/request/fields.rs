//! Reading one field of a submit or execute body: its type first, then its value, with a
//! message that names the field, so a client is told what to fix and not only that something
//! is wrong. Both dialects read their fields through here. It must not know HTTP.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::job::JobError;

/// Portico's code for a malformed parameter (Linkis's "label params invalid" family).
pub const BAD_PARAM: u32 = 20009;
/// Linkis's code for bad code (`executionCode` cannot be empty).
pub const BAD_CODE: u32 = 20007;

/// The longest timeout label accepted: a year, far below anything that could overflow a clock.
pub const MAX_TIMEOUT_SECS: u64 = 366 * 24 * 3600;

/// A text field: `None` when absent, null or blank. Any other type is refused with `code`:
/// a name (`engineType`, `runType`, a creator, a user) is never a number.
pub fn optional_string(map: &Map<String, Value>, key: &str, code: u32) -> Result<Option<String>, JobError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            Err(JobError::invalid(code, format!("{key} must not contain control characters")))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(JobError::invalid(code, format!("{key} must be a string, not {}", type_of(other)))),
    }
}

/// The job's code under `key`: a string that is not blank and holds no NUL (no engine can be
/// given one: a shell's argument or a file of Python would end there, or fail to start).
pub fn required_code(map: &Map<String, Value>, key: &str) -> Result<String, JobError> {
    match map.get(key) {
        Some(Value::String(code)) if !code.trim().is_empty() => {
            check_code(key, code)?;
            Ok(code.clone())
        }
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(JobError::invalid(BAD_CODE, "The param executionCode cannot be empty (参数 executionCode 不能为空)"))
        }
        Some(other) => {
            Err(JobError::invalid(BAD_CODE, format!("The param {key} must be a string, not {}", type_of(other))))
        }
    }
}

/// Refuses code (as given, or after its variables were substituted) that holds a NUL.
pub fn check_code(key: &str, code: &str) -> Result<(), JobError> {
    match code.bytes().position(|b| b == 0) {
        Some(at) => Err(JobError::invalid(
            BAD_CODE,
            format!("The param {key} holds a NUL character (at byte {at}); no engine can run such code"),
        )),
        None => Ok(()),
    }
}

/// Labels are stored and shown back: each is text (numbers and booleans are taken as their
/// text, as Linkis's SDKs send timeouts both ways), and none may smuggle control characters.
pub fn check_labels(labels: &Map<String, Value>) -> Result<(), JobError> {
    for (key, value) in labels {
        if key.chars().any(char::is_control) {
            return Err(JobError::invalid(
                BAD_PARAM,
                "Label params invalid: a label's name must not contain control characters",
            ));
        }
        match value {
            Value::String(text) if text.chars().any(char::is_control) => {
                return Err(JobError::invalid(
                    BAD_PARAM,
                    format!("Label params invalid: labels.{key} must not contain control characters"),
                ))
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(JobError::invalid(
                    BAD_PARAM,
                    format!("Label params invalid: labels.{key} must be a string, not {}", type_of(value)),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `params.configuration` and its sections must be objects when given: a section of another
/// type would otherwise be read as no section at all, and a runtime parameter the client
/// believes it set would silently not be.
pub fn check_configuration(params: &Value) -> Result<(), JobError> {
    let configuration = match params.get("configuration") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(configuration)) => configuration,
        Some(other) => {
            return Err(JobError::invalid(
                BAD_PARAM,
                format!("params.configuration must be an object, not {}", type_of(other)),
            ))
        }
    };
    for section in ["runtime", "startup", "special"] {
        match configuration.get(section) {
            None | Some(Value::Null | Value::Object(_)) => {}
            Some(other) => {
                return Err(JobError::invalid(
                    BAD_PARAM,
                    format!("params.configuration.{section} must be an object, not {}", type_of(other)),
                ))
            }
        }
    }
    Ok(())
}

/// A timeout label in whole seconds, as text or a number; `None` when absent, null or blank.
pub fn timeout_label(labels: &Map<String, Value>, key: &str) -> Result<Option<Duration>, JobError> {
    let text = match labels.get(key) {
        Some(Value::Number(n)) => n.to_string(),
        _ => match optional_string(labels, key, BAD_PARAM)? {
            Some(text) => text,
            None => return Ok(None),
        },
    };
    match text.parse::<u64>() {
        Ok(secs) if text.bytes().all(|b| b.is_ascii_digit()) && secs > 0 && secs <= MAX_TIMEOUT_SECS => {
            Ok(Some(Duration::from_secs(secs)))
        }
        Ok(secs) if secs > MAX_TIMEOUT_SECS => Err(JobError::invalid(
            BAD_PARAM,
            format!("The task time tag {key} may be at most {MAX_TIMEOUT_SECS} seconds (a year)."),
        )),
        // Linkis's sentence, then what it means.
        _ => Err(JobError::invalid(
            BAD_PARAM,
            format!(
                "The task time tag is not set incorrectly, execution is not allowed. \
                 (labels.{key} must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECS}, not {text:?})"
            ),
        )),
    }
}

/// What a JSON value is, for a message.
pub fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn refusal(result: Result<impl std::fmt::Debug, JobError>) -> String {
        result.expect_err("refused").to_string()
    }

    #[test]
    fn each_refusal_names_the_field_to_fix() {
        let m = map(json!({"engineType": 5, "t": "abc", "n": -1, "code": "echo \u{0}"}));
        assert!(
            refusal(optional_string(&m, "engineType", BAD_PARAM)).contains("engineType must be a string, not a number")
        );
        assert!(refusal(timeout_label(&m, "t")).contains("labels.t must be a whole number of seconds"));
        assert!(refusal(timeout_label(&m, "n")).contains("not \"-1\""));
        assert!(refusal(required_code(&m, "code")).contains("code holds a NUL character (at byte 5)"));
        assert!(refusal(check_labels(&map(json!({"tenant": [1]})))).contains("labels.tenant must be a string"));
        assert!(refusal(check_labels(&map(json!({"tenant": "a\u{1b}"})))).contains("labels.tenant must not"));
        assert!(refusal(check_configuration(&json!({"configuration": 5}))).contains("params.configuration must be"));
        let runtime = json!({"configuration": {"runtime": "x"}});
        assert!(refusal(check_configuration(&runtime)).contains("params.configuration.runtime must be an object"));
    }

    #[test]
    fn what_clients_send_is_taken() {
        let m = map(json!({"a": " x ", "b": null, "c": "  ", "t": 30, "s": "30"}));
        assert_eq!(optional_string(&m, "a", BAD_PARAM).ok(), Some(Some("x".into())));
        assert_eq!(optional_string(&m, "b", BAD_PARAM).ok(), Some(None));
        assert_eq!(optional_string(&m, "c", BAD_PARAM).ok(), Some(None));
        assert_eq!(timeout_label(&m, "t").ok(), Some(Some(Duration::from_secs(30))));
        assert_eq!(timeout_label(&m, "s").ok(), Some(Some(Duration::from_secs(30))));
        assert!(check_labels(&map(json!({"engineType": "shell-1", "n": 1, "b": true, "z": null}))).is_ok());
        assert!(check_configuration(&json!({"configuration": {"runtime": {}, "startup": null}})).is_ok());
        assert!(check_configuration(&json!({})).is_ok());
    }
}
