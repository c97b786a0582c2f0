//! SQLite's dynamic types as the Linkis type names a table result set carries, and values as
//! the text a result set stores.
//!
//! A column's type comes from its declared type, by SQLite's own affinity rules (a name
//! containing `INT` is an integer, `CHAR`/`CLOB`/`TEXT` text, `BLOB` or nothing binary,
//! `REAL`/`FLOA`/`DOUB` floating point, anything else numeric), refined by the names people
//! declare (`BOOLEAN`, `DATE`, `DATETIME`/`TIMESTAMP`, `DECIMAL`/`NUMERIC`, `BIGINT`). An
//! expression column has no declared type: its type is that of its first non-NULL value
//! (integer → `bigint`, real → `double`, text → `string`, blob → `binary`; all NULL → `string`).

use rusqlite::types::ValueRef;

/// The Linkis type name for a column declared as `declared`.
pub fn from_declared(declared: &str) -> &'static str {
    let upper = declared.to_ascii_uppercase();
    let has = |part: &str| upper.contains(part);
    if has("BOOL") {
        "boolean"
    } else if has("DATETIME") || has("TIMESTAMP") {
        "timestamp"
    } else if has("DATE") {
        "date"
    } else if has("TINYINT") || has("SMALLINT") || has("MEDIUMINT") {
        // Declared small: clients may read these as 32-bit `int`.
        "int"
    } else if has("INT") {
        // SQLite's integers are 64-bit whatever the declaration says (`INT` included).
        "bigint"
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        "string"
    } else if has("BLOB") || upper.trim().is_empty() {
        "binary"
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        "double"
    } else {
        "decimal"
    }
}

/// What kinds of values the sampled rows held, per column.
#[derive(Default)]
pub struct Sampled {
    /// Per column: integers, reals, texts, blobs seen.
    seen: Vec<[bool; 4]>,
}

impl Sampled {
    pub fn see(&mut self, values: &[ValueRef<'_>]) {
        self.seen.resize(values.len(), [false; 4]);
        for (seen, value) in self.seen.iter_mut().zip(values) {
            match value {
                ValueRef::Null => {}
                ValueRef::Integer(_) => seen[0] = true,
                ValueRef::Real(_) => seen[1] = true,
                ValueRef::Text(_) => seen[2] = true,
                ValueRef::Blob(_) => seen[3] = true,
            }
        }
    }

    /// The type of column `i` from what was seen in it.
    pub fn type_of(&self, i: usize) -> &'static str {
        match self.seen.get(i).copied().unwrap_or_default() {
            [true, false, false, false] => "bigint",
            [_, true, false, false] => "double",
            [false, false, false, true] => "binary",
            _ => "string",
        }
    }
}

/// The bytes a value takes in a result set (about: a number's text is short).
pub fn size(value: &ValueRef<'_>) -> usize {
    match value {
        ValueRef::Null => 11,
        ValueRef::Integer(_) | ValueRef::Real(_) => 24,
        ValueRef::Text(bytes) => bytes.len(),
        ValueRef::Blob(bytes) => bytes.len() * 2,
    }
}

/// A value as result-set text, into `out`; `false` for NULL. Booleans read as `true`/`false`,
/// reals in their shortest exact form, blobs as lower-case hex, text as it is.
pub fn render(value: ValueRef<'_>, linkis_type: &str, out: &mut Vec<u8>) -> bool {
    use std::io::Write;
    out.clear();
    match value {
        ValueRef::Null => return false,
        ValueRef::Integer(n) if linkis_type == "boolean" => {
            out.extend_from_slice(if n != 0 { b"true" } else { b"false" })
        }
        ValueRef::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        // Java's spelling of the values that are not numbers, which Linkis clients parse.
        ValueRef::Real(x) if x.is_nan() => out.extend_from_slice(b"NaN"),
        ValueRef::Real(x) if x.is_infinite() => out.extend_from_slice(if x > 0.0 { b"Infinity" } else { b"-Infinity" }),
        ValueRef::Real(x) => {
            let _ = write!(out, "{x:?}");
        }
        ValueRef::Text(text) => out.extend_from_slice(text),
        ValueRef::Blob(bytes) => {
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_to_linkis_names() {
        for (declared, linkis) in [
            ("INTEGER", "bigint"),
            ("int", "bigint"),
            ("BIGINT", "bigint"),
            ("smallint", "int"),
            ("TINYINT", "int"),
            ("VARCHAR(20)", "string"),
            ("TEXT", "string"),
            ("REAL", "double"),
            ("double precision", "double"),
            ("DECIMAL(10,2)", "decimal"),
            ("NUMERIC", "decimal"),
            ("BOOLEAN", "boolean"),
            ("DATE", "date"),
            ("DATETIME", "timestamp"),
            ("TIMESTAMP", "timestamp"),
            ("BLOB", "binary"),
            ("", "binary"),
        ] {
            assert_eq!(from_declared(declared), linkis, "{declared}");
        }
    }

    #[test]
    fn values_render_as_linkis_text() {
        let mut out = Vec::new();
        assert!(render(ValueRef::Integer(-7), "bigint", &mut out) && out == b"-7");
        assert!(render(ValueRef::Integer(1), "boolean", &mut out) && out == b"true");
        assert!(render(ValueRef::Real(0.1), "double", &mut out) && out == b"0.1");
        assert!(render(ValueRef::Real(3.0), "double", &mut out) && out == b"3.0");
        assert!(render(ValueRef::Blob(&[0, 255]), "binary", &mut out) && out == b"00ff");
        assert!(render(ValueRef::Text("héllo".as_bytes()), "string", &mut out) && out == "héllo".as_bytes());
        assert!(!render(ValueRef::Null, "string", &mut out));
        assert!(render(ValueRef::Real(f64::INFINITY), "double", &mut out) && out == b"Infinity");
    }

    #[test]
    fn undeclared_columns_take_their_type_from_the_sample() {
        let mut sampled = Sampled::default();
        sampled.see(&[
            ValueRef::Integer(1),
            ValueRef::Integer(1),
            ValueRef::Null,
            ValueRef::Blob(b"x"),
            ValueRef::Text(b"a"),
        ]);
        sampled.see(&[
            ValueRef::Integer(2),
            ValueRef::Real(0.5),
            ValueRef::Null,
            ValueRef::Blob(b"y"),
            ValueRef::Integer(3),
        ]);
        let types: Vec<&str> = (0..5).map(|i| sampled.type_of(i)).collect();
        assert_eq!(types, ["bigint", "double", "string", "binary", "string"]);
    }
}
