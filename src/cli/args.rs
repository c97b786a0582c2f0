//! The client subcommands' options and help text (clap derive: each option's help sits beside
//! its field). The server's own command line (`portico [serve] [flags]`) is parsed elsewhere
//! and never reaches these definitions; `serve`, `hash-password` and `backup` are listed here
//! only so that `--help` and the completion scripts name them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where the server, user and token come from; shown under every subcommand's help.
macro_rules! connection_help {
    () => {
        "\
Connection: --url, --user and --token win over PORTICO_URL, PORTICO_USER and PORTICO_TOKEN,
which win over the client config file (PORTICO_CLIENT_CONFIG, else
~/.config/portico/client.toml, keys url, user, token). Without a token the client logs in
with the password in PORTICO_PASSWORD, or asks for it on the terminal."
    };
}

const CONNECTION: &str = connection_help!();

const RUN_HELP: &str = concat!(
    "\
Exit codes:
  0  the job ended Succeed
  1  the job ended Failed
  2  the job ended Cancelled or Timeout (including Ctrl-C, which kills the job)
  3  the server could not be reached, or refused a request (its message is printed)
  4  bad options, an unreadable script file or client config; nothing was submitted

The log goes to stderr (with a progress bar when stderr is a terminal), the results to stdout.

linkis-cli options are accepted too: -engineType, -codeType, -code, -codePath, -varMap,
-labelMap, -confMap (startup), -runtimeMap, -submitUser, -proxyUser, -creator.

",
    connection_help!()
);

const WAIT_HELP: &str = concat!(
    "Exit codes: 0 Succeed, 1 Failed, 2 Cancelled or Timeout, 3 the server could not be reached or\nrefused, 4 bad options.\n\n",
    connection_help!()
);

const OTHER_HELP: &str =
    concat!("Exit codes: 0 done, 3 the server could not be reached or refused, 4 bad options.\n\n", connection_help!());

/// Client commands against a running Portico server (the server itself: `portico serve --help`).
#[derive(Debug, Parser)]
#[command(name = "portico", version, after_help = CONNECTION)]
pub struct Cli {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: Command,
}

/// Which server and as whom; accepted before or after the subcommand.
#[derive(Debug, Default, Args)]
pub struct Connection {
    /// The server's URL [env PORTICO_URL; default http://127.0.0.1:9001]
    #[arg(long, global = true, value_name = "URL", help_heading = "Connection")]
    pub url: Option<String>,
    /// The user to act as (Token-User, or the login name) [env PORTICO_USER; default hadoop]
    #[arg(long, global = true, value_name = "USER", help_heading = "Connection")]
    pub user: Option<String>,
    /// A token (sent as Token-Code); without one, a password login [env PORTICO_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN", help_heading = "Connection")]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a job, follow its log and progress, print its results; the exit code is how it ended
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Print a job's state, progress, queue position and exit code
    #[command(after_help = OTHER_HELP)]
    Status(IdArg),
    /// Print a job's log (all of it so far; --follow for the rest as it comes)
    #[command(after_help = OTHER_HELP)]
    Log(LogArgs),
    /// Kill a job (queued or running); it ends Cancelled
    #[command(after_help = OTHER_HELP)]
    Kill(IdArg),
    /// Pause a job (a running one is stopped with SIGSTOP, a queued one held)
    #[command(after_help = OTHER_HELP)]
    Pause(IdArg),
    /// Resume a paused job
    #[command(after_help = OTHER_HELP)]
    Resume(IdArg),
    /// Wait for a job to end; exit 0 Succeed, 1 Failed, 2 Cancelled/Timeout, 3 server error
    /// (Ctrl-C stops waiting and leaves the job running)
    #[command(after_help = WAIT_HELP)]
    Wait(WaitArgs),
    /// Print an ended job's result sets (tables aligned, or as CSV or JSON)
    #[command(after_help = OTHER_HELP)]
    Result(ResultArgs),
    /// List jobs, newest first: id, state, engine, user, created, duration
    #[command(after_help = OTHER_HELP)]
    History(HistoryArgs),
    /// Print a shell completion script: `portico completions bash > /etc/bash_completion.d/portico`
    Completions(CompletionArgs),
    /// Run the server (the default without a subcommand; see `portico serve --help`)
    Serve(Passed),
    /// Read a password on stdin and print its password_hash for the config file
    HashPassword(Passed),
    /// Copy a data directory's job history while the server runs (see `portico backup --help`)
    Backup(Passed),
}

/// Arguments of a server-side subcommand, which its own parser reads.
#[derive(Debug, Args)]
pub struct Passed {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The engine: shell, python, sqlite, spark, jdbc, or a Linkis engine type such as shell-1
    /// or spark-3.4.4 [default: from the file's extension (.sh, .py, .sql), else shell]
    #[arg(short, long, value_name = "ENGINE", visible_alias = "engine-type")]
    pub engine: Option<String>,
    /// The code's type (Linkis runType: shell, python, sql, scala, pyspark, …) [default: the
    /// engine's own: shell, python, or sql for sqlite, spark and jdbc]
    #[arg(long, value_name = "TYPE", visible_alias = "code-type")]
    pub run_type: Option<String>,
    /// The code to run
    #[arg(short, long, value_name = "CODE", required_unless_present = "file", conflicts_with = "file")]
    pub code: Option<String>,
    /// Read the code from a file (`-` for stdin)
    #[arg(short, long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// A variable for ${name} substitution in the code (params.variable); repeatable
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = pair)]
    pub vars: Vec<(String, String)>,
    /// A label (e.g. jobRunningTimeout=600, jobQueuingTimeout=60); repeatable
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = pair)]
    pub labels: Vec<(String, String)>,
    /// A runtime parameter (params.configuration.runtime: env.NAME, working.directory,
    /// database, priority, spark.*, …); repeatable
    #[arg(long = "conf", value_name = "KEY=VALUE", value_parser = pair)]
    pub runtime: Vec<(String, String)>,
    /// A startup parameter (params.configuration.startup, e.g. python.version); repeatable
    #[arg(long = "startup-conf", value_name = "KEY=VALUE", value_parser = pair)]
    pub startup: Vec<(String, String)>,
    /// The job's queue priority (higher starts first; runtime parameter `priority`)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Kill the job if it runs longer than this (label jobRunningTimeout); it ends Timeout
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// The creator part of the userCreator label [default: the server's, IDE]
    #[arg(long, value_name = "NAME")]
    pub creator: Option<String>,
    /// Run the job as this user (executeUser; needs a token allowed to submit for others)
    #[arg(long, value_name = "USER")]
    pub proxy_user: Option<String>,
    /// Only submit: print the taskID and execID and exit 0 (follow later with `wait`, `log`)
    #[arg(short, long)]
    pub detach: bool,
    /// Do not show the job's log on stderr (results and errors are still printed)
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub output: OutputArg,
}

/// How result sets are printed.
#[derive(Debug, Args)]
pub struct OutputArg {
    /// How table result sets are printed: an aligned table, CSV with a header, or JSON Lines
    /// (one object per row, NULL as null; text lines as JSON strings). Text result sets are
    /// printed as they are in table and csv form
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// The job: its taskID (a number) or its execID
    pub id: String,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// The job: its taskID (a number) or its execID
    pub id: String,
    /// Keep printing new lines until the job ends
    #[arg(short, long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The job: its taskID (a number) or its execID
    pub id: String,
    /// Also show the job's log on stderr while waiting
    #[arg(long)]
    pub log: bool,
}

#[derive(Debug, Args)]
pub struct ResultArgs {
    /// The job: its taskID (a number) or its execID
    pub id: String,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only jobs in these states (comma list: Inited,Running,Succeed,Failed,Cancelled,Timeout)
    #[arg(short, long, value_name = "STATES")]
    pub status: Option<String>,
    /// Only jobs of this engine (shell, python, sqlite, spark, jdbc)
    #[arg(short, long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Admins: every user's jobs, not only those run as you
    #[arg(short, long)]
    pub all: bool,
    /// Admins: the jobs run as this user
    #[arg(long, value_name = "USER")]
    pub owner: Option<String>,
    /// How many jobs per page (at most 1000)
    #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
    pub limit: u32,
    /// Which page, from 1 (newest first)
    #[arg(short, long, value_name = "N", default_value_t = 1)]
    pub page: u32,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `KEY=VALUE` split at the first `=`; the key must not be empty.
fn pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        assert_eq!(pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(pair("a="), Ok(("a".into(), String::new())));
        assert!(pair("=b").is_err());
        assert!(pair("ab").is_err());
    }
}
