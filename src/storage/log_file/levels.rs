//! Linkis's split of a log by level: the four slots (error, warn, info, all) that log answers
//! carry, and the rule that files a line under one.

use super::Level;

/// Files a line under a level the way Linkis does: by the level word after a leading
/// timestamp; lines without one (a job's raw output) are info.
pub(super) fn classify(line: &str) -> Level {
    let bytes = line.as_bytes();
    let date_ok = bytes.len() > 20
        && bytes[..10].iter().all(|b| b.is_ascii_digit() || *b == b'-' || *b == b'/')
        && bytes[10] == b' ';
    if !date_ok {
        return Level::Info;
    }
    // After the 8-character time, an optional separator and up to three digits, then a space.
    let mut i = 19;
    if matches!(bytes.get(i), Some(b'.' | b',' | b':')) {
        i += 1;
        let digits = bytes[i..].iter().take(3).take_while(|b| b.is_ascii_digit()).count();
        i += digits;
    }
    if bytes.get(i) != Some(&b' ') {
        return Level::Info;
    }
    let word = &line[i + 1..];
    let word = word.strip_prefix("SYSTEM-").unwrap_or(word);
    if word.starts_with("ERROR ") {
        Level::Error
    } else if word.starts_with("WARN ") {
        Level::Warn
    } else {
        Level::Info
    }
}

/// The four Linkis log slots: error, warn, info and all lines, each `\n`-joined.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LevelSplit {
    pub error: String,
    pub warn: String,
    pub info: String,
    pub all: String,
}

impl LevelSplit {
    /// Splits `lines` by level. Blank lines stay in `all` only, as Linkis drops them elsewhere.
    /// With `keep_newlines` every line keeps its `\n` (the `openLog` form) instead of being
    /// joined with `\n` (the `entrance/{id}/log` form).
    pub fn of<S: AsRef<str>>(lines: &[S], keep_newlines: bool) -> LevelSplit {
        let mut split = LevelSplit::default();
        for line in lines {
            let line = line.as_ref();
            push(&mut split.all, line, keep_newlines);
            if line.trim().is_empty() {
                continue;
            }
            let slot = match classify(line) {
                Level::Error => &mut split.error,
                Level::Warn => &mut split.warn,
                Level::Info => &mut split.info,
            };
            push(slot, line, keep_newlines);
        }
        split
    }

    /// The array clients index as `[error, warn, info, all]`.
    pub fn into_array(self) -> [String; 4] {
        [self.error, self.warn, self.info, self.all]
    }
}

fn push(slot: &mut String, line: &str, keep_newlines: bool) {
    if keep_newlines {
        slot.push_str(line);
        slot.push('\n');
    } else {
        if !slot.is_empty() {
            slot.push('\n');
        }
        slot.push_str(line);
    }
}
