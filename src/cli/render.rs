//! Rows as text: aligned tables (results and `history`), CSV, JSON Lines. Pure functions, so
//! the formats are tested without a server.

use serde_json::Value;

/// The text of a cell in a table: one line, so the columns stay aligned.
fn cell(value: Option<&str>) -> String {
    match value {
        None => "NULL".to_string(),
        Some(text) => text.replace('\n', "\\n").replace('\r', "\\r").replace('\t', "\\t"),
    }
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// An aligned table, columns two spaces apart, the header underlined with dashes. Widths come
/// from the rows given; [`Aligned::rows`] prints later pages to the same widths.
pub struct Aligned {
    widths: Vec<usize>,
}

impl Aligned {
    /// Sizes the columns for `header` and `rows`; returns the printer and the header lines.
    pub fn new(header: &[String], rows: &[Vec<Option<String>>]) -> (Aligned, String) {
        let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
        for row in rows {
            for (i, value) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(width(&cell(value.as_deref())));
                }
            }
        }
        let aligned = Aligned { widths };
        let header_cells: Vec<String> = header.to_vec();
        let underline: Vec<String> = aligned.widths.iter().map(|w| "-".repeat(*w)).collect();
        let text = format!("{}{}", aligned.line(&header_cells), aligned.line(&underline));
        (aligned, text)
    }

    fn line(&self, cells: &[String]) -> String {
        let mut line = String::new();
        for (i, text) in cells.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(text);
            let pad = self.widths.get(i).copied().unwrap_or(0).saturating_sub(width(text));
            line.extend(std::iter::repeat_n(' ', pad));
        }
        let mut line = line.trim_end().to_string();
        line.push('\n');
        line
    }

    /// The rows, each on one line.
    pub fn rows(&self, rows: &[Vec<Option<String>>]) -> String {
        rows.iter().map(|row| self.line(&row.iter().map(|v| cell(v.as_deref())).collect::<Vec<_>>())).collect()
    }
}

/// One CSV record (RFC 4180: quoted when it holds a comma, quote or line break; NULL empty).
pub fn csv(fields: &[Option<String>]) -> String {
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let text = field.as_deref().unwrap_or("");
        if text.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&text.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(text);
        }
    }
    line.push('\n');
    line
}

/// One row as a JSON object keyed by column name in the table's order (NULL as null); written
/// by hand because a JSON map would sort the keys and merge repeated column names.
pub fn json_row(columns: &[String], row: &[Option<String>]) -> String {
    let mut line = String::from("{");
    for (i, (name, value)) in columns.iter().zip(row).enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&Value::from(name.as_str()).to_string());
        line.push(':');
        line.push_str(&value.as_deref().map_or(Value::Null, Value::from).to_string());
    }
    line.push_str("}\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[Option<&str>]) -> Vec<Option<String>> {
        cells.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn tables_align_on_the_widest_cell_and_show_null() {
        let header = vec!["a".to_string(), "name".to_string()];
        let rows = vec![row(&[Some("1"), Some("Zoë")]), row(&[Some("100"), None])];
        let (aligned, head) = Aligned::new(&header, &rows);
        assert_eq!(head + &aligned.rows(&rows), "a    name\n---  ----\n1    Zoë\n100  NULL\n");
        assert_eq!(aligned.rows(&[row(&[Some("a\nb"), Some("x")])]), "a\\nb  x\n");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv(&row(&[Some("1"), Some("a,b"), Some("say \"hi\""), None])), "1,\"a,b\",\"say \"\"hi\"\"\",\n");
    }

    #[test]
    fn json_rows_are_objects_with_null() {
        let columns = vec!["b".to_string(), "a\"".to_string()];
        assert_eq!(json_row(&columns, &row(&[Some("1"), None])), "{\"b\":\"1\",\"a\\\"\":null}\n");
    }
}
