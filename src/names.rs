//! The one alphabet for names that end up in ids and directory names (users, creators): a
//! name a client sends is checked here before it reaches the disk or another user's view.

/// Whether `name` is safe as an id part and a directory name: 1–64 of letters, digits, `_`,
/// `.` and `-`, and not `.` or `..`.
pub fn is_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && name != "."
        && name != ".."
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_safe_alphabet_passes() {
        for good in ["alice", "a.b-c_1", "X"] {
            assert!(super::is_safe(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ä", &"x".repeat(65)] {
            assert!(!super::is_safe(bad), "{bad:?}");
        }
    }
}
