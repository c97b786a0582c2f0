//! A variable's value and the arithmetic Linkis allows on it: dates move by days, months,
//! quarters, half-years, years or hours (each built-in by its own unit), numbers take
//! `+ - * /`, text takes `+`. Anything else is refused with Linkis's codes.

use crate::job::request::dates::Day;

/// Linkis's codes for a reference whose arithmetic cannot be done.
pub(super) const EXPRESSION_WRONG: u32 = 20042;
pub(super) const DATE_OPERATION: u32 = 20046;
pub(super) const NUMBER_OPERATION: u32 = 20047;
pub(super) const TEXT_OPERATION: u32 = 20049;
/// Portico's code for a bad `params` value (as for every other malformed parameter).
pub(super) const BAD_PARAM: u32 = 20009;

/// A variable's value and the arithmetic it allows: dates move by days, months, quarters…,
/// numbers take `+ - * /`, text takes `+`.
#[derive(Clone, Debug)]
pub(super) enum Var {
    Day {
        day: Day,
        std: bool,
    },
    /// The first or last day of the period of `months` months holding `anchor`; moves by periods.
    Period {
        anchor: Day,
        months: u32,
        std: bool,
        end: bool,
    },
    /// `yyyyMM` of `anchor`; moves by months.
    Month {
        anchor: Day,
        std: bool,
    },
    /// An hour of a day (`yyyyMMddHH`); moves by hours.
    Hour {
        day: Day,
        hour: i64,
        std: bool,
    },
    /// A number; `text` is what the client wrote, shown when no arithmetic is asked for.
    Number {
        value: f64,
        text: String,
    },
    Text(String),
}

impl Var {
    pub(super) fn value(&self) -> String {
        match self {
            Var::Day { day, std } => day.format(*std),
            Var::Period { anchor, months, std, end } => {
                if *end { anchor.period_end(*months) } else { anchor.period_begin(*months) }.format(*std)
            }
            Var::Month { anchor, std } => anchor.format_month(*std),
            Var::Hour { day, hour, std } => {
                if *std {
                    format!("{} {hour:02}", day.format(true))
                } else {
                    format!("{}{hour:02}", day.format(false))
                }
            }
            Var::Number { text, .. } => text.clone(),
            Var::Text(text) => text.clone(),
        }
    }

    /// `self op operand`, or why not (a Linkis code and the reason, to be said with the
    /// expression).
    pub(super) fn apply(&self, op: char, operand: &str) -> Result<String, (u32, String)> {
        let steps = || -> Result<i64, (u32, String)> {
            let n = operand.parse::<i64>().ok().filter(|_| operand.bytes().all(|b| b.is_ascii_digit()));
            let n = n.ok_or((EXPRESSION_WRONG, format!("{operand:?} is not a whole number")))?;
            match op {
                '+' => Ok(n),
                '-' => Ok(-n),
                _ => Err((DATE_OPERATION, format!("a date variable supports only + and -, not {op}"))),
            }
        };
        let out_of_range = || (EXPRESSION_WRONG, "the date is outside the years 1 to 9999".to_string());
        match self {
            Var::Day { day, std } => Ok(day.add_days(steps()?).ok_or_else(out_of_range)?.format(*std)),
            Var::Period { anchor, months, std, end } => {
                let shift = steps()?.checked_mul(i64::from(*months)).ok_or_else(out_of_range)?;
                let moved = anchor.period_begin(*months).add_months(shift).ok_or_else(out_of_range)?;
                Ok(Var::Period { anchor: moved, months: *months, std: *std, end: *end }.value())
            }
            Var::Month { anchor, std } => Ok(anchor.add_months(steps()?).ok_or_else(out_of_range)?.format_month(*std)),
            Var::Hour { day, hour, std } => {
                let hours = steps()?.checked_add(*hour).ok_or_else(out_of_range)?;
                let day = day.add_days(hours.div_euclid(24)).ok_or_else(out_of_range)?;
                Ok(Var::Hour { day, hour: hours.rem_euclid(24), std: *std }.value())
            }
            Var::Number { value, .. } => {
                let right = number(operand).ok_or((NUMBER_OPERATION, format!("{operand:?} is not a number")))?;
                let result = match op {
                    '+' => value + right,
                    '-' => value - right,
                    '*' => value * right,
                    _ if right == 0.0 => return Err((NUMBER_OPERATION, "division by zero".into())),
                    _ => value / right,
                };
                if !result.is_finite() {
                    return Err((NUMBER_OPERATION, "the result is not a finite number".into()));
                }
                Ok(number_text(result))
            }
            Var::Text(text) if op == '+' => Ok(format!("{text}{operand}")),
            Var::Text(_) => Err((TEXT_OPERATION, format!("a text variable supports only +, not {op}"))),
        }
    }
}

/// A finite number in the usual decimal notations, as Linkis reads a variable's value.
pub(super) fn number(text: &str) -> Option<f64> {
    let plain = text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    text.parse::<f64>().ok().filter(|x| plain && x.is_finite())
}

/// A whole result without a fraction (`20` rather than `20.0`), as Linkis prints it.
fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}
