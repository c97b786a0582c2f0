//! `${…}` substitution in a job's code, as Linkis's `VariableUtils` does it: the variables of
//! `params.variable`, Linkis's built-in date variables derived from `run_date`, and the
//! arithmetic Linkis accepts inside the braces (`${run_date-1}`, `${run_month_begin+2}`,
//! `${n*2}`, `${prefix+suffix}`).
//!
//! A reference is `${ name [op operand] }` with a name of letters, digits, `_` and `.` starting
//! with a letter, and `op` one of `+ - * /`; anything else between `${` and `}` (a shell's
//! `${VAR:-x}`, `${#list}`) is not a reference and stays as written without a word. A reference to
//! a name nobody defined also stays as written, with a WARN line in the job's log; every
//! reference replaced is listed there at INFO. Arithmetic a variable's type does not support is
//! refused at submission with Linkis's error codes. Days are UTC days (the server has no time
//! zone setting). What this must not know: HTTP, the queue, or how a job runs.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::dates::Day;
use crate::clock;
use crate::job::JobError;
use crate::storage::log_file::Level;
use value::{number, Var, BAD_PARAM, EXPRESSION_WRONG};

/// Lines of each kind (replaced, left as written) a job's log gets; the rest are counted.
const MAX_NOTES: usize = 100;
/// Longest expression or value shown in a log line.
const SHOWN_CHARS: usize = 200;

/// The code after substitution and what the job's log should say about it.
#[derive(Debug)]
pub struct Substituted {
    pub code: String,
    /// Lines for the job's log, before its code.
    pub notes: Vec<(Level, String)>,
}

/// Replaces the references in `code`. `given` is `params.variable`; `now_ms` decides which day
/// is today (UTC); code growing past `max_len` bytes is refused.
pub fn substitute(
    code: &str,
    given: &Map<String, Value>,
    now_ms: u64,
    max_len: usize,
) -> Result<Substituted, JobError> {
    let mut notes = Vec::new();
    let referenced = code.contains("${");
    let vars = variables(given, now_ms, referenced, &mut notes)?;
    if !referenced {
        return Ok(Substituted { code: code.to_string(), notes });
    }
    let mut out = String::with_capacity(code.len().min(max_len));
    let mut log = Notes::default();
    let mut rest = code;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some((reference, len)) = Reference::parse(after) else {
            // Not a reference: keep the `${` and look for one further on.
            out.push_str("${");
            rest = after;
            continue;
        };
        let written = &rest[start..start + 2 + len];
        match vars.get(reference.name) {
            None => {
                log.unknown(written);
                out.push_str(written);
            }
            Some(var) => {
                let value = match reference.op {
                    None => var.value(),
                    Some(_) if reference.operand.is_empty() => {
                        return Err(wrong(EXPRESSION_WRONG, written, "the expression is not right, please check"))
                    }
                    Some(op) => {
                        // An operand naming a variable stands for its value, as in Linkis.
                        let operand = vars.get(reference.operand).map(Var::value);
                        var.apply(op, operand.as_deref().unwrap_or(reference.operand))
                            .map_err(|(code, why)| wrong(code, written, &why))?
                    }
                };
                log.used(written, &value);
                out.push_str(&value);
            }
        }
        if out.len() > max_len {
            return Err(too_long(max_len));
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    if out.len() > max_len {
        return Err(too_long(max_len));
    }
    notes.extend(log.into_lines());
    Ok(Substituted { code: out, notes })
}

/// The variables a reference may name: the client's, then the built-ins, which win (Linkis
/// derives them from `run_date` and lets no one set them but through it). All are checked
/// for every submission; the built-in ones are only made (28 names and dates) when the code
/// refers to a variable (`referenced`).
fn variables(
    given: &Map<String, Value>,
    now_ms: u64,
    referenced: bool,
    notes: &mut Vec<(Level, String)>,
) -> Result<HashMap<String, Var>, JobError> {
    let mut vars = HashMap::with_capacity(given.len() + BUILT_IN.len());
    let mut run_date = None;
    let mut run_today_h = None;
    for (name, value) in given {
        let text = match value {
            Value::Null => continue,
            Value::String(text) => text.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(JobError::invalid(
                    BAD_PARAM,
                    format!("params.variable.{} must be a string, a number or a boolean", shown(name)),
                ))
            }
        };
        match name.as_str() {
            // An empty run_date is no run_date, as in Linkis.
            "run_date" | "run_today_h" if text.is_empty() => {}
            "run_date" => {
                let day = Day::parse(&text).ok_or_else(|| bad_date("run_date", &text, "yyyyMMdd (or yyyy-MM-dd)"))?;
                run_date = Some(day);
            }
            "run_today_h" => {
                let hour = parse_hour(&text).ok_or_else(|| bad_date("run_today_h", &text, "yyyyMMddHH"))?;
                run_today_h = Some(hour);
            }
            derived if BUILT_IN.contains(&derived) => notes.push((
                Level::Warn,
                format!(
                    "params.variable.{derived} is ignored: built-in date variables follow run_date; \
                     set run_date instead"
                ),
            )),
            _ => {
                let var = match number(text.trim()) {
                    Some(value) => Var::Number { value, text },
                    None => Var::Text(text),
                };
                vars.insert(name.clone(), var);
            }
        }
    }
    let today = Day::from_days((now_ms / clock::DAY_MS) as i64);
    let run_date = match run_date {
        Some(day) => day,
        None => today.and_then(|d| d.add_days(-1)).ok_or_else(|| bad_date("run_date", "", "a date"))?,
    };
    let edge = || bad_date("run_date", &run_date.format(false), "a date from 0001-01-31 to 9999-12-30");
    let run_today = run_date.add_days(1).ok_or_else(edge)?;
    let last_month = run_today.add_months(-1).ok_or_else(edge)?;
    let (hour_day, hour) = run_today_h.unwrap_or((run_today, (now_ms % clock::DAY_MS / 3_600_000) as i64));
    if !referenced {
        return Ok(vars);
    }
    for std in [false, true] {
        let suffix = if std { "_std" } else { "" };
        let mut put = |name: &str, var: Var| vars.insert(format!("{name}{suffix}"), var);
        put("run_date", Var::Day { day: run_date, std });
        put("run_today", Var::Day { day: run_today, std });
        put("run_mon", Var::Month { anchor: run_date, std });
        put("run_today_h", Var::Hour { day: hour_day, hour, std });
        for (name, anchor, months) in [
            ("run_month", run_date, 1),
            ("run_month_now", last_month, 1),
            ("run_quarter", run_date, 3),
            ("run_half_year", run_date, 6),
            ("run_year", run_date, 12),
        ] {
            put(&format!("{name}_begin"), Var::Period { anchor, months, std, end: false });
            put(&format!("{name}_end"), Var::Period { anchor, months, std, end: true });
        }
    }
    Ok(vars)
}

/// The built-in variables a client cannot set (besides `run_date` and `run_today_h`).
const BUILT_IN: [&str; 26] = [
    "run_date_std",
    "run_today",
    "run_today_std",
    "run_mon",
    "run_mon_std",
    "run_today_h_std",
    "run_month_begin",
    "run_month_begin_std",
    "run_month_end",
    "run_month_end_std",
    "run_month_now_begin",
    "run_month_now_begin_std",
    "run_month_now_end",
    "run_month_now_end_std",
    "run_quarter_begin",
    "run_quarter_begin_std",
    "run_quarter_end",
    "run_quarter_end_std",
    "run_half_year_begin",
    "run_half_year_begin_std",
    "run_half_year_end",
    "run_half_year_end_std",
    "run_year_begin",
    "run_year_begin_std",
    "run_year_end",
    "run_year_end_std",
];

/// `${ name [op operand] }`, the inside of the braces as Linkis's pattern reads it.
struct Reference<'a> {
    name: &'a str,
    op: Option<char>,
    operand: &'a str,
}

impl<'a> Reference<'a> {
    /// Reads a reference from the text after `${`; with it, the length up to and including `}`.
    fn parse(after: &'a str) -> Option<(Reference<'a>, usize)> {
        let bytes = after.as_bytes();
        let mut at = 0;
        let skip_space = |at: &mut usize| {
            while bytes.get(*at).is_some_and(u8::is_ascii_whitespace) {
                *at += 1;
            }
        };
        let word = |at: &mut usize| {
            let start = *at;
            while bytes.get(*at).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.') {
                *at += 1;
            }
            &after[start..*at]
        };
        skip_space(&mut at);
        if !bytes.get(at).is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        let name = word(&mut at);
        skip_space(&mut at);
        let op = match bytes.get(at) {
            Some(&b @ (b'+' | b'-' | b'*' | b'/')) => {
                at += 1;
                Some(char::from(b))
            }
            _ => None,
        };
        skip_space(&mut at);
        let operand = word(&mut at);
        skip_space(&mut at);
        if bytes.get(at) != Some(&b'}') || (op.is_none() && !operand.is_empty()) {
            return None;
        }
        Some((Reference { name, op, operand }, at + 1))
    }
}

/// What the log says about references: each distinct one once, a hundred of each kind at most.
#[derive(Default)]
struct Notes {
    seen: HashSet<String>,
    used: Vec<String>,
    unknown: Vec<String>,
    more_used: usize,
    more_unknown: usize,
}

impl Notes {
    fn used(&mut self, written: &str, value: &str) {
        if self.seen.insert(written.to_string()) {
            if self.used.len() < MAX_NOTES {
                self.used.push(format!("Variable expression [{}] = {}", shown(written), shown(value)));
            } else {
                self.more_used += 1;
            }
        }
    }

    fn unknown(&mut self, written: &str) {
        if self.seen.insert(written.to_string()) {
            if self.unknown.len() < MAX_NOTES {
                self.unknown.push(format!(
                    "Use undefined variables or use the set method: [{}], left as written (使用了未定义的变量)",
                    shown(written)
                ));
            } else {
                self.more_unknown += 1;
            }
        }
    }

    fn into_lines(self) -> Vec<(Level, String)> {
        let mut lines: Vec<(Level, String)> = self.used.into_iter().map(|l| (Level::Info, l)).collect();
        if self.more_used > 0 {
            lines.push((Level::Info, format!("… and {} more variable expressions", self.more_used)));
        }
        lines.extend(self.unknown.into_iter().map(|l| (Level::Warn, l)));
        if self.more_unknown > 0 {
            lines.push((Level::Warn, format!("… and {} more undefined variables, left as written", self.more_unknown)));
        }
        lines
    }
}

/// `yyyyMMddHH`.
fn parse_hour(text: &str) -> Option<(Day, i64)> {
    if text.len() != 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hour: i64 = text[8..].parse().ok()?;
    (hour < 24).then_some(())?;
    Some((Day::parse(&text[..8])?, hour))
}

/// Text from a request shown in a message or log line: one line (control characters
/// escaped), at most [`SHOWN_CHARS`] characters.
fn shown(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn wrong(code: u32, written: &str, why: &str) -> JobError {
    JobError::invalid(code, format!("[{}] cannot be replaced: {why}", shown(written)))
}

fn bad_date(name: &str, text: &str, form: &str) -> JobError {
    JobError::invalid(BAD_PARAM, format!("params.variable.{name} {:?} is not {form}", shown(text)))
}

fn too_long(max_len: usize) -> JobError {
    JobError::invalid(
        super::limits::CODE_TOO_LONG,
        format!("The code is longer than {max_len} bytes after variable substitution; this server runs at most {max_len} bytes"),
    )
}

mod value;

#[cfg(test)]
mod tests;
