//! A job's priority in the queue: `params.configuration.runtime.priority` (or Linkis's own
//! name for it, `wds.linkis.engine.runtime.priority`), an integer, higher first, default 0.
//!
//! Linkis clients send runtime parameters as strings as often as numbers, so a string holding
//! an integer is taken too. What this must not know: the queue itself.

use serde_json::Value;

use super::JobError;

/// Where the priority may be given, ours first.
const PLACES: [&str; 2] =
    ["/configuration/runtime/priority", "/configuration/runtime/wds.linkis.engine.runtime.priority"];

/// Linkis's error code for a runtime parameter it cannot use.
const BAD_PARAMETER: u32 = 20007;

/// The job's priority, or why the given one is not usable.
pub(crate) fn of(params: &Value) -> Result<i64, JobError> {
    let Some((place, value)) = PLACES.iter().find_map(|place| params.pointer(place).map(|value| (place, value))) else {
        return Ok(0);
    };
    let number = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        Value::Null => return Ok(0),
        _ => None,
    };
    let name = place.rsplit('/').next().unwrap_or(place);
    number.filter(|n| i32::try_from(*n).is_ok()).ok_or_else(|| {
        JobError::invalid(
            BAD_PARAMETER,
            format!(
                "runtime parameter {name} must be a whole number from {} to {} (higher runs first), not {value}",
                i32::MIN,
                i32::MAX
            ),
        )
    })
}

/// Whether a caller may ask for `priority`: admins any, others up to `max_for_users`.
pub(crate) fn allowed(priority: i64, max_for_users: i32, admin: bool) -> Result<(), JobError> {
    if admin || priority <= i64::from(max_for_users) {
        return Ok(());
    }
    Err(JobError::invalid(
        BAD_PARAMETER,
        format!(
            "runtime parameter priority {priority} is above {max_for_users}, the highest this server lets users \
             who are not administrators give (queue.max_user_priority)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn runtime(value: Value) -> Value {
        json!({"configuration": {"runtime": value}})
    }

    #[test]
    fn absent_is_zero_and_numbers_or_numeric_strings_are_taken() {
        assert_eq!(of(&json!({})).ok(), Some(0));
        assert_eq!(of(&runtime(json!({"priority": 7}))).ok(), Some(7));
        assert_eq!(of(&runtime(json!({"priority": " -3 "}))).ok(), Some(-3));
        assert_eq!(of(&runtime(json!({"wds.linkis.engine.runtime.priority": "2"}))).ok(), Some(2));
        assert_eq!(of(&runtime(json!({"priority": null}))).ok(), Some(0));
    }

    #[test]
    fn users_are_held_to_the_configured_highest_and_admins_are_not() {
        assert!(allowed(10, 10, false).is_ok());
        assert!(allowed(-2_000_000_000, 10, false).is_ok());
        let refused = allowed(11, 10, false).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("queue.max_user_priority"), "{refused}");
        assert!(allowed(i64::from(i32::MAX), 10, true).is_ok());
    }

    #[test]
    fn anything_else_is_refused_naming_the_parameter() {
        for bad in [json!(1.5), json!("high"), json!(true), json!([1]), json!(1u64 << 40)] {
            let error = of(&runtime(json!({"priority": bad}))).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.contains("priority must be a whole number"), "{bad}: {error}");
        }
    }
}
