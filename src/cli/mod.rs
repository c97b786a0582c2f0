//! The client side of the `portico` binary: `run`, `status`, `log`, `kill`, `pause`, `resume`,
//! `wait`, `result`, `history` and `completions`, against a Portico (or Linkis) server's REST
//! API. It speaks HTTP only and must know nothing of the server's internals: it uses no item of
//! the `portico` library, so everything it relies on is what any client sees on the wire (and
//! the README documents). It is dispatched from `main` before the server's own command-line
//! parser, which therefore reads `portico [serve] [flags]` exactly as before.

mod aliases;
mod api;
mod args;
mod error;
mod follow;
mod history;
mod interrupt;
mod jobs;
mod prompt;
mod render;
mod results;
mod run;
mod screen;
mod settings;
mod submit;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Cli, Command};
use error::{CliError, EXIT_USAGE};
use settings::Settings;

/// The first arguments that make a command line a client command.
const COMMANDS: &[&str] =
    &["run", "status", "log", "kill", "pause", "resume", "wait", "result", "history", "completions", "help"];

/// Connection options, which the server does not take: a command line starting with one is the
/// client's (`portico --token T status 1`).
const CONNECTION_FLAGS: &[&str] = &["--url", "--user", "--token"];

/// `run`'s options that a command line may start with, meaning `run` (`portico -c 'echo hi'`).
const RUN_SHORTHANDS: &[&str] = &["-c", "-e", "-f", "--engine", "--code", "--file"];

/// Runs a client command when `args` (the whole command line) is one; `None` leaves the
/// command line to the server.
pub fn dispatch(args: &[OsString]) -> Option<ExitCode> {
    let first = args.get(1)?.to_str()?;
    let connection = CONNECTION_FLAGS.iter().any(|flag| first == *flag || first.starts_with(&format!("{flag}=")));
    let implied_run = RUN_SHORTHANDS.contains(&first);
    if !COMMANDS.contains(&first) && !aliases::is_linkis_option(first) && !connection && !implied_run {
        return None;
    }
    let Some(mut args) = args[1..].iter().map(|a| a.to_str().map(str::to_string)).collect::<Option<Vec<_>>>() else {
        eprintln!("portico: an argument is not valid UTF-8");
        return Some(ExitCode::from(EXIT_USAGE));
    };
    if implied_run {
        args.insert(0, "run".to_string());
    }
    // `portico history | head`: a closed stdout ends the client quietly, as it ends other
    // Unix tools, instead of every print failing (Rust ignores SIGPIPE, and print! panics).
    // SAFETY: restores the default action of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let rewritten = aliases::rewrite(args);
    let cli = match Cli::try_parse_from(std::iter::once("portico".to_string()).chain(rewritten)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return Some(if e.use_stderr() { ExitCode::from(EXIT_USAGE) } else { ExitCode::SUCCESS });
        }
    };
    Some(execute(cli).unwrap_or_else(|e| {
        eprintln!("portico: {e}");
        e.exit_code()
    }))
}

fn execute(cli: Cli) -> Result<ExitCode, CliError> {
    let env = |name: &str| std::env::var(name).ok();
    let connect = || {
        let settings = Settings::resolve(&cli.connection, &env)?;
        let api = settings.connect(&env)?;
        Ok::<_, CliError>((settings, api))
    };
    match &cli.command {
        Command::Completions(args) => {
            // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "portico", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map_err(|e| CliError::Usage(format!("cannot write the completion script: {e}")))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(_) | Command::HashPassword(_) | Command::Backup(_) => {
            Err(CliError::Usage("this subcommand is the server's: run it as `portico serve …`".into()))
        }
        Command::Run(args) => {
            let (settings, api) = connect()?;
            run::run(&api, &settings.user, args)
        }
        Command::Status(id) => jobs::status(&connect()?.1, &id.id),
        Command::Log(args) => jobs::log(&connect()?.1, args),
        Command::Kill(id) => jobs::control(&connect()?.1, &id.id, "kill"),
        Command::Pause(id) => jobs::control(&connect()?.1, &id.id, "pause"),
        Command::Resume(id) => jobs::control(&connect()?.1, &id.id, "resume"),
        Command::Wait(args) => jobs::wait(&connect()?.1, args),
        Command::Result(args) => jobs::result(&connect()?.1, &args.id, args.output.output),
        Command::History(args) => history::history(&connect()?.1, args),
    }
}
