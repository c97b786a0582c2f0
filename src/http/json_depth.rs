//! How deep a JSON body nests, found in one pass over its bytes before it is parsed.
//!
//! serde_json refuses nesting past 128 levels, but only after it has recursed that far and
//! built (and must then drop, recursively) everything up to there; and a `Value` that deep is
//! walked recursively again whenever it is cloned, compared or written back out (params go
//! into the job history). No Linkis body needs more than a handful of levels, so anything past
//! [`MAX_DEPTH`] is refused here, with no allocation and no recursion, whatever the body's
//! size. Strings are skipped with their escapes, so brackets inside them do not count. The
//! scan does not validate JSON; serde_json does that next. It must not know any route.

/// The deepest nesting of arrays and objects a request body may have. A submit body needs 5
/// (`params.configuration.runtime` holding a list); 32 leaves room for any client's habits.
pub const MAX_DEPTH: usize = 32;

/// Checks `body` nests no deeper than `max`; on failure, the depth it reached (`max + 1`) and
/// the byte offset where it did.
pub fn check(body: &[u8], max: usize) -> Result<(), (usize, usize)> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &byte) in body.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err((depth, offset));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert_eq!(check(br#"{"a": [1, {"b": []}]}"#, 4), Ok(()));
        assert_eq!(check(br#"{"a": [1, {"b": []}]}"#, 2), Err((3, 10)));
        assert_eq!(check(br#"{"a": [1, {"b": []}]}"#, 3), Err((4, 16)));
        assert_eq!(check(br#"{"a": "[[[[[[\"[[[["}"#, 1), Ok(()));
        assert_eq!(check(br#"{"a\\": [[]]}"#, 2), Err((3, 9)));
        assert_eq!(check(b"]]]]{", 1), Ok(()));
        let deep = "[".repeat(100_000);
        assert_eq!(check(deep.as_bytes(), MAX_DEPTH), Err((MAX_DEPTH + 1, MAX_DEPTH)));
        let just_right = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(check(just_right.as_bytes(), MAX_DEPTH), Ok(()));
    }
}
