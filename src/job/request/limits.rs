//! How much one submission may carry, checked before anything of it is copied or worked on:
//! the code's length, and how many labels, variables and runtime parameters it has (the
//! config's `[requests]` section). Nesting depth is bounded earlier, before the body is parsed
//! at all (`http/json_depth.rs`). It must not know HTTP.

use serde_json::{Map, Value};

use crate::config::RequestLimits;
use crate::job::JobError;

/// The code for code that is too long: the `executionCode` family of Linkis's codes.
pub const CODE_TOO_LONG: u32 = 20007;
/// The code for too many entries: Portico's code for every malformed parameter.
const TOO_MANY: u32 = 20009;

/// Refuses a body (either dialect) that holds more than `limits` allow.
pub fn check(body: &Map<String, Value>, limits: &RequestLimits) -> Result<(), JobError> {
    let code = body.get("executionContent").and_then(|c| c.get("code")).or_else(|| body.get("executionCode"));
    if let Some(Value::String(code)) = code {
        if code.len() > limits.max_code_bytes {
            return Err(JobError::invalid(
                CODE_TOO_LONG,
                format!(
                    "The code is {} bytes long; this server runs at most {} bytes (requests.max_code_bytes)",
                    code.len(),
                    limits.max_code_bytes
                ),
            ));
        }
    }
    let params = body.get("params");
    for (what, value, max, setting) in [
        ("labels", body.get("labels"), limits.max_labels, "max_labels"),
        ("params.variable", params.and_then(|p| p.get("variable")), limits.max_variables, "max_variables"),
        (
            "params.configuration.runtime",
            params.and_then(|p| p.pointer("/configuration/runtime")),
            limits.max_runtime_params,
            "max_runtime_params",
        ),
        (
            "params.configuration.startup",
            params.and_then(|p| p.pointer("/configuration/startup")),
            limits.max_runtime_params,
            "max_runtime_params",
        ),
    ] {
        if let Some(Value::Object(map)) = value {
            if map.len() > max {
                return Err(JobError::invalid(
                    TOO_MANY,
                    format!("{what} has {} entries; this server accepts at most {max} (requests.{setting})", map.len()),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refusal(body: Value, limits: &RequestLimits) -> String {
        let body = body.as_object().cloned().unwrap_or_default();
        check(&body, limits).expect_err("refused").to_string()
    }

    #[test]
    fn each_limit_is_its_own_refusal() {
        let limits = RequestLimits { max_code_bytes: 10, max_labels: 2, max_variables: 1, max_runtime_params: 1 };
        let ok = json!({"executionContent": {"code": "0123456789"}, "labels": {"a": 1, "b": 2},
                        "params": {"variable": {"x": 1}, "configuration": {"runtime": {"r": 1}, "startup": {"s": 1}}}});
        assert!(check(ok.as_object().unwrap(), &limits).is_ok());
        let long = refusal(json!({"executionCode": "01234567890"}), &limits);
        assert!(long.contains("error 20007") && long.contains("11 bytes") && long.contains("max_code_bytes"), "{long}");
        let labels = refusal(json!({"labels": {"a": 1, "b": 2, "c": 3}}), &limits);
        assert!(labels.contains("labels has 3 entries") && labels.contains("at most 2"), "{labels}");
        let vars = refusal(json!({"params": {"variable": {"x": 1, "y": 2}}}), &limits);
        assert!(vars.contains("params.variable has 2 entries"), "{vars}");
        let runtime = refusal(json!({"params": {"configuration": {"runtime": {"a": 1, "b": 2}}}}), &limits);
        assert!(runtime.contains("params.configuration.runtime has 2"), "{runtime}");
        let startup = refusal(json!({"params": {"configuration": {"startup": {"a": 1, "b": 2}}}}), &limits);
        assert!(startup.contains("params.configuration.startup has 2"), "{startup}");
    }
}
