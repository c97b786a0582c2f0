//! The lines a job prints to speak to its runner rather than to its reader: each starts with
//! `##portico:`, is kept out of the text result set (it stays in the log), and is heard only
//! from the engines that speak it. Which engine speaks which marker lives here, beside the
//! engines; the runner only asks [`Marker::of`] once per line.

use super::Engine;

/// What every marker line starts with: one comparison tells output from a marker.
const PREFIX: &[u8] = b"##portico:";

/// The prefix of the hidden files Python's `show()` writes before the runner numbers them.
pub const PENDING_RESULT_PREFIX: &str = ".portico-table-";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// `##portico:progress 0.42` or `3/10` (any engine, stdout or stderr).
    Progress,
    /// `##portico:error <text>`: why the job failed, in its own words (its `errDesc` if it
    /// fails). The SQL and Spark engines' drivers.
    Error,
    /// `##portico:result <hidden file>`: `show()` wrote a table; the runner numbers it in the
    /// order of the job's output. Python and Spark.
    Result,
    /// `##portico:log <text>`: for the log only. Python and Spark helpers.
    Log,
    /// `##portico:spark <application id> <UI address>`: a Spark driver is up.
    Spark,
}

impl Marker {
    const ALL: [Marker; 5] = [Marker::Progress, Marker::Error, Marker::Result, Marker::Log, Marker::Spark];

    /// The marker as the job prints it (a space and its text follow).
    pub const fn text(self) -> &'static str {
        match self {
            Marker::Progress => "##portico:progress",
            Marker::Error => "##portico:error",
            Marker::Result => "##portico:result",
            Marker::Log => "##portico:log",
            Marker::Spark => "##portico:spark",
        }
    }

    /// The marker `line` carries from a job of `engine` (on stdout, or stderr), with the text
    /// after it; `None` for a line that is output.
    pub fn of(line: &[u8], engine: Engine, on_stdout: bool) -> Option<(Marker, &[u8])> {
        if !line.starts_with(PREFIX) {
            return None;
        }
        Marker::ALL
            .into_iter()
            .find(|m| line.starts_with(m.text().as_bytes()) && m.spoken_by(engine, on_stdout))
            .map(|m| (m, &line[m.text().len()..]))
    }

    fn spoken_by(self, engine: Engine, on_stdout: bool) -> bool {
        match self {
            Marker::Progress => true,
            Marker::Error => on_stdout && matches!(engine, Engine::Sqlite | Engine::Jdbc | Engine::Spark),
            Marker::Result | Marker::Log => on_stdout && matches!(engine, Engine::Python | Engine::Spark),
            Marker::Spark => on_stdout && engine == Engine::Spark,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_heard_only_from_the_engines_that_speak_them() {
        let line = b"##portico:error it broke";
        assert_eq!(Marker::of(line, Engine::Sqlite, true), Some((Marker::Error, &b" it broke"[..])));
        assert_eq!(Marker::of(line, Engine::Shell, true), None, "a shell job's line is its output");
        assert_eq!(Marker::of(line, Engine::Sqlite, false), None, "markers other than progress are stdout's");
        assert_eq!(Marker::of(b"##portico:progress 1/2", Engine::Shell, false).map(|m| m.0), Some(Marker::Progress));
        assert_eq!(
            Marker::of(b"##portico:result .portico-table-x", Engine::Python, true).map(|m| m.0),
            Some(Marker::Result)
        );
        assert_eq!(Marker::of(b"plain output", Engine::Spark, true), None);
    }
}
