//! A SQL script cut into statements: at each `;` outside quotes (`'…'`, `"…"`, `` `…` ``,
//! `[…]`) and comments (`-- …`, `/* … */`), except inside a `CREATE TRIGGER … BEGIN … END`
//! body, which ends at the `;` after its `END`. One pass over the text; nothing is parsed
//! beyond that, so SQLite alone decides what a statement means.

/// One statement of a script, with the line it starts on (1-based) for error messages.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement {
    pub text: String,
    pub line: usize,
}

impl Statement {
    /// Its first line, cut short, for the log and error messages.
    pub fn first_line(&self) -> String {
        let first = self.text.lines().next().unwrap_or_default().trim();
        match first.char_indices().nth(120) {
            Some((cut, _)) => format!("{}…", &first[..cut]),
            None => first.to_string(),
        }
    }
}

/// The statements of `script`, in order; empty statements (`;;`, comments only) are dropped.
pub fn statements(script: &str) -> Vec<Statement> {
    let bytes = script.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i, mut line, mut start_line) = (0, 0, 1, 1);
    let mut words = Words::default();
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => line += 1,
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if b == b'[' { b']' } else { b };
                i += 1;
                while i < bytes.len() && bytes[i] != close {
                    line += usize::from(bytes[i] == b'\n');
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    line += usize::from(bytes[i] == b'\n');
                    i += 1;
                }
                i += 1;
            }
            b';' if !words.in_trigger_body() => {
                push(&mut out, &script[start..i], start_line);
                start = i + 1;
                start_line = line;
                words = Words::default();
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let word_start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                words.see(&script[word_start..i]);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    push(&mut out, &script[start.min(script.len())..], start_line);
    out
}

/// Adds the statement in `text` (which starts on `start_line`), without its leading comments
/// and blank lines; nothing if nothing else is left.
fn push(out: &mut Vec<Statement>, text: &str, start_line: usize) {
    let body = after_leading_comments(text);
    let skipped = &text[..text.len() - body.len()];
    let trimmed = body.trim_end();
    if !trimmed.is_empty() {
        out.push(Statement { text: trimmed.to_string(), line: start_line + skipped.matches('\n').count() });
    }
}

fn after_leading_comments(text: &str) -> &str {
    let mut rest = text.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail).trim_start();
        } else {
            return rest;
        }
    }
}

/// The words of the current statement that decide whether a `;` ends it: a trigger's body
/// runs from `BEGIN` to `END`.
#[derive(Default)]
struct Words {
    count: usize,
    creating: bool,
    trigger: bool,
    in_body: bool,
    /// `CASE … END` expressions open inside the body: their `END` does not end it.
    cases: usize,
    last_was_end: bool,
}

impl Words {
    fn see(&mut self, word: &str) {
        self.count += 1;
        if self.count == 1 {
            self.creating = word.eq_ignore_ascii_case("create");
        } else if self.creating && self.count <= 4 && word.eq_ignore_ascii_case("trigger") {
            self.trigger = true;
        } else if self.trigger && !self.in_body && word.eq_ignore_ascii_case("begin") {
            self.in_body = true;
        } else if self.in_body && word.eq_ignore_ascii_case("case") {
            self.cases += 1;
        }
        let end = word.eq_ignore_ascii_case("end");
        if end && self.cases > 0 {
            self.cases -= 1;
            self.last_was_end = false;
        } else {
            self.last_was_end = end;
        }
    }

    /// Inside a trigger body a `;` ends a body statement, not the trigger, unless it follows
    /// the body's `END`.
    fn in_trigger_body(&self) -> bool {
        self.in_body && !self.last_was_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<String> {
        statements(script).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_at_semicolons_outside_quotes_and_comments() {
        let script = "select 'a;b', \"c;d\", `e;f`, [g;h]; -- x; y\nselect 2 /* ; */ ;;\n  select 3";
        assert_eq!(texts(script), ["select 'a;b', \"c;d\", `e;f`, [g;h]", "select 2 /* ; */", "select 3"]);
    }

    #[test]
    fn a_trigger_body_stays_whole() {
        let script =
            "create temp trigger t after insert on x begin insert into y values (1); update z set a = 1; end; select 1";
        let got = texts(script);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("end"));
        assert_eq!(got[1], "select 1");
        let with_case = "create trigger tr after insert on t begin insert into log values (case when new.a > 0 then 1 else 0 end); insert into log values (2); end; select 2";
        let got = texts(with_case);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("values (2); end"), "{got:?}");
        assert_eq!(texts("begin transaction; insert into t values (1); end; select 1").len(), 4);
    }

    #[test]
    fn lines_are_counted_and_comment_only_parts_dropped() {
        let got = statements("-- only a comment;\n\nselect 1;\n/* c */\n\nselect\n 2;\n-- tail");
        assert_eq!(got.iter().map(|s| s.line).collect::<Vec<_>>(), [3, 6]);
        assert_eq!(got[1].first_line(), "select");
        assert_eq!(got[1].text, "select\n 2");
        assert!(statements("  ;  -- nothing\n").is_empty());
        assert_eq!(texts("select 'it''s'; select 1"), ["select 'it''s'", "select 1"]);
    }
}
