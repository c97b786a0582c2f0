//! Dolphin result-set files, the format Linkis clients page through with `openFile` and
//! download with `resultsetToExcel`.
//!
//! A result set is the 7 bytes `dolphin`, its type as a 10-digit number, then rows, each a
//! 10-digit byte length followed by that many bytes; the first row is the metadata. In a TEXT
//! result set (type 1) rows are lines and the metadata is `NULL`. In a TABLE result set (type
//! 2) each row carries its own index: a 10-digit index length, the index (each value's byte
//! length followed by a comma), then the values back to back; the metadata row is (name, type,
//! comment) per column. NULL is written as `LINKIS_NULL`. These are the bytes Linkis's own
//! reader expects (linkis-api.md §7.5).
//!
//! `text.rs` and `table.rs` write, `read.rs` reads without ever loading a file whole, helped by
//! the sparse row index a table writer keeps beside its file (`index.rs`, a hidden
//! `._N.dolphin.idx`); a job's result files are named `_0.dolphin`, `_1.dolphin`, … in
//! creation order by [`create_next`]. `cap.rs` holds result sets to their size cap and keeps
//! the note that one was cut. Nothing here knows about jobs, engines or HTTP.

mod cap;
mod index;
mod read;
mod table;
mod text;

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

pub use cap::{trim_over, was_cut};
pub use read::{ReadError, ResultReader, Row};
pub use table::{TableResultWriter, TableWriteError};
pub use text::TextResultWriter;

/// Longest row Linkis writes (2 MB): TEXT lines are cut to it, TABLE rows over it are refused.
pub const MAX_ROW_BYTES: usize = 2 * 1024 * 1024;

/// How Linkis writes a NULL value in a TABLE result set, and reads it back.
pub const NULL_VALUE: &str = "LINKIS_NULL";

/// The file name suffix of every result set.
pub const EXTENSION: &str = "dolphin";

/// The result-set types Linkis clients know, by their wire code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultKind {
    Text = 1,
    Table = 2,
}

/// One column of a TABLE result set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// Linkis's type name (`string`, `int`, `bigint`, `double`, `decimal`, `date`, …); clients
    /// show it, nothing here interprets it.
    pub data_type: String,
    /// `None` when the file stores no comment (Linkis shows the string `NULL`).
    pub comment: Option<String>,
}

impl Column {
    /// A column without a comment.
    pub fn new(name: impl Into<String>, data_type: impl Into<String>) -> Column {
        Column { name: name.into(), data_type: data_type.into(), comment: None }
    }
}

/// The number in a result file's name (`_12.dolphin` → 12, `alias_3.dolphin` → 3): clients
/// order result sets by it, numerically.
pub fn number_in_name(name: &str) -> Option<u64> {
    name.strip_suffix(EXTENSION)?.strip_suffix('.')?.rsplit('_').next()?.parse().ok()
}

/// Whether a file named `name` is a result set a client may be shown: `*.dolphin`, and not one
/// of Portico's own hidden files beside them (a row index, a table not yet numbered).
pub fn is_result_file(name: &str) -> bool {
    !name.starts_with('.') && name.strip_suffix(EXTENSION).is_some_and(|stem| stem.ends_with('.'))
}

/// What a job's result directory holds once the job is over.
#[derive(Debug, Default)]
pub struct Settled {
    /// Result sets (none if the directory does not exist).
    pub count: u32,
    /// The names of those [`settle`] cut at the size cap, with the length each was cut to.
    pub cut: Vec<(String, u64)>,
}

/// Settles a job's result directory once the job is over (nothing writes there any more):
/// removes the files whose names start with `pending_prefix` (results written but never
/// numbered), cuts every result set over `limit` bytes at its last whole row within it (see
/// [`cap`]), and counts the result sets. One pass over the directory.
pub fn settle(dir: &Path, pending_prefix: &str, limit: u64) -> Settled {
    let mut settled = Settled::default();
    let Ok(entries) = std::fs::read_dir(dir) else { return settled };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(pending_prefix) {
            let _ = std::fs::remove_file(entry.path());
        } else if number_in_name(&name).is_some() {
            settled.count += 1;
            if let Ok(Some(len)) = cap::cut_to(&entry.path(), limit) {
                settled.cut.push((name.into_owned(), len));
            }
        }
    }
    settled
}

/// Numbers a result set written elsewhere in `dir` (`pending`, a hidden file): the next
/// number is claimed and the file renamed onto it, with its row index (`pending` + `.idx`)
/// and its note of a cut (`pending` + `.cut`), if it was written with them. A file over
/// `limit` bytes is cut at its last whole row within it. Returns the new path, and whether the
/// result set was cut (by its writer or here).
pub fn adopt(dir: &Path, pending: &Path, limit: u64) -> io::Result<(PathBuf, bool)> {
    let (path, _) = create_next(dir)?;
    std::fs::rename(pending, &path)?;
    let beside = |suffix: &str| {
        let mut name = pending.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    for (from, to) in [(beside(".idx"), index::index_path(&path)), (beside(".cut"), cap::cut_note_path(&path))] {
        match std::fs::rename(&from, to) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let cut_here = cap::cut_to(&path, limit)?.is_some();
    Ok((path.clone(), cut_here || was_cut(&path)))
}

/// Creates the next result file of `dir` (creating `dir` if needed): `_N.dolphin` for the
/// smallest N above every number already used there.
///
/// Two writers of one job (the runner's stdout TEXT set and an engine's TABLE sets) may ask at
/// the same moment; the file is created with `O_EXCL`, so each gets a name of its own and the
/// loser of a race simply takes the next number. The numbers follow creation order.
pub fn create_next(dir: &Path) -> io::Result<(PathBuf, File)> {
    std::fs::create_dir_all(dir)?;
    let mut next = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| number_in_name(&entry.file_name().to_string_lossy()))
        .max()
        .map_or(0, |n| n.saturating_add(1));
    loop {
        let path = dir.join(format!("_{next}.{EXTENSION}"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => next += 1,
            Err(e) => return Err(e),
        }
    }
}

/// `n` as the format's 10-digit number (callers keep `n` below 10^10).
pub(super) fn number(n: usize) -> [u8; 10] {
    let mut digits = [b'0'; 10];
    let mut rest = n;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    digits
}

/// Writes `n` in decimal (an index entry) into `out`.
fn push_decimal(out: &mut Vec<u8>, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests;
