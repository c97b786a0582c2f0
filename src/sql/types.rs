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
    } else if has("BIGINT") || upper.trim() == "INTEGER" {
        "bigint"
    } else if has("INT") {
        "int"
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

/// The type of an undeclared (expression) column, from a value of it.
pub fn from_value(value: ValueRef<'_>) -> Option<&'static str> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(_) => Some("bigint"),
        ValueRef::Real(_) => Some("double"),
        ValueRef::Text(_) => Some("string"),
        ValueRef::Blob(_) => Some("binary"),
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
            ("int", "int"),
            ("BIGINT", "bigint"),
            ("smallint", "int"),
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
    }
}
