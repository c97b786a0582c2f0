//! An ended job's result sets, read the way the README documents: the job record's
//! `resultLocation`, its listing (`filesystem/getDirFileTrees`, sorted by the number in each
//! name) and each set page by page (`filesystem/openFile`). Pages are printed as they arrive,
//! so a large result costs one page of memory; an aligned table takes its column widths from
//! its first page.

use std::io::Write;

use serde_json::Value;

use super::api::{field, text, Api};
use super::args::Output;
use super::error::CliError;
use super::render::{csv, json_row, Aligned};

/// Rows per `openFile` page.
const PAGE_SIZE: usize = 5000;

/// Prints every result set of the job whose history record is `task`.
pub fn print(api: &Api, task: &Value, output: Output) -> Result<(), CliError> {
    let Some(location) = task.get("resultLocation").and_then(Value::as_str).filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let listing = api.get("filesystem/getDirFileTrees", &[("path", location)])?;
    let children = listing.pointer("/dirFileTrees/children").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut files = Vec::new();
    for child in &children {
        let name = text(child, "filesystem/getDirFileTrees", "/name")?;
        let path = text(child, "filesystem/getDirFileTrees", "/path")?;
        let number: u64 = name.trim_start_matches('_').trim_end_matches(".dolphin").parse().unwrap_or(u64::MAX);
        files.push((number, path.to_string()));
    }
    files.sort();
    let mut printed_any = false;
    for (_, path) in files {
        printed_any |= print_set(api, &path, output, printed_any)?;
    }
    Ok(())
}

/// One page of a result set.
struct Page {
    table: bool,
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

fn open(api: &Api, path: &str, page: usize) -> Result<Page, CliError> {
    let what = "filesystem/openFile";
    let (number, size) = (page.to_string(), PAGE_SIZE.to_string());
    let data =
        api.get(what, &[("path", path), ("page", &number), ("pageSize", &size), ("nullValue", "LINKIS_NULL")])?;
    let table = field(&data, what, "/type")?.as_str() == Some("2");
    let columns = match data.get("metadata").and_then(Value::as_array) {
        Some(columns) if table => {
            columns.iter().map(|c| c.get("columnName").and_then(Value::as_str).unwrap_or("?").to_string()).collect()
        }
        _ => Vec::new(),
    };
    let rows = data
        .get("fileContent")
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    row.as_array()
                        .map(|cells| cells.iter().map(|c| c.as_str().map(str::to_string)).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Page { table, columns, rows })
}

/// Prints one result set, page by page; false when it was empty text (nothing printed).
fn print_set(api: &Api, path: &str, output: Output, after_another: bool) -> Result<bool, CliError> {
    let mut out = std::io::stdout().lock();
    let write = |out: &mut std::io::StdoutLock<'_>, text: &str| {
        out.write_all(text.as_bytes()).map_err(|e| CliError::Usage(format!("cannot write the results: {e}")))
    };
    let mut aligned: Option<Aligned> = None;
    for number in 1.. {
        let page = open(api, path, number)?;
        let full = page.rows.len() >= PAGE_SIZE;
        if number == 1 {
            if !page.table && page.rows.is_empty() {
                return Ok(false);
            }
            if after_another && output != Output::Json {
                write(&mut out, "\n")?;
            }
        }
        let text = match (page.table, output) {
            (false, Output::Json) => {
                page.rows.iter().map(|r| format!("{}\n", Value::from(r.first().cloned().flatten()))).collect()
            }
            (false, _) => {
                page.rows.iter().map(|r| format!("{}\n", r.first().cloned().flatten().unwrap_or_default())).collect()
            }
            (true, Output::Json) => page.rows.iter().map(|r| json_row(&page.columns, r)).collect(),
            (true, Output::Csv) => {
                let header: Vec<Option<String>> = page.columns.iter().cloned().map(Some).collect();
                let head = if number == 1 { csv(&header) } else { String::new() };
                head + &page.rows.iter().map(|r| csv(r)).collect::<String>()
            }
            (true, Output::Table) => match &aligned {
                Some(printer) => printer.rows(&page.rows),
                None => {
                    let (printer, head) = Aligned::new(&page.columns, &page.rows);
                    let text = head + &printer.rows(&page.rows);
                    aligned = Some(printer);
                    text
                }
            },
        };
        write(&mut out, &text)?;
        if !full {
            break;
        }
    }
    let _ = out.flush();
    Ok(true)
}
