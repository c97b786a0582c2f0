//! `portico run`: submit, follow the log and progress until the job ends (Ctrl-C kills it),
//! print how it ended and its results; the exit code is the job's outcome.

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value;

use super::api::{number, text, Api};
use super::args::RunArgs;
use super::error::{CliError, JobEnd, EXIT_CANCELLED};
use super::screen::Screen;
use super::{follow, interrupt, jobs, results, submit};

pub fn run(api: &Api, user: &str, args: &RunArgs) -> Result<ExitCode, CliError> {
    let body = submit::body(args, user)?;
    if !args.detach {
        interrupt::block_sigint()?;
    }
    let path = "entrance/submit";
    let data = api.post(path, &body)?;
    let task_id = number(&data, path, "/taskID")?;
    let exec_id = text(&data, path, "/execID")?.to_string();
    if args.detach {
        println!("taskID={task_id}");
        println!("execID={exec_id}");
        return Ok(ExitCode::SUCCESS);
    }
    let screen = Arc::new(Screen::new(!args.quiet, false, true));
    if !args.quiet {
        eprintln!("portico: job {task_id} submitted ({exec_id})");
    }
    let (killer, shown) = (api.clone(), Arc::clone(&screen));
    interrupt::on_sigint(move || {
        shown.clear();
        match killer.get(&format!("entrance/{task_id}/kill"), &[]) {
            Ok(_) => eprintln!("portico: interrupted: job {task_id} killed"),
            Err(e) => eprintln!("portico: interrupted: could not kill job {task_id}: {e}"),
        }
        std::process::exit(i32::from(EXIT_CANCELLED));
    });
    let end = follow::follow(api, task_id, &screen)?;
    interrupt::unblock_sigint();
    screen.clear();
    let task = jobs::record(api, task_id)?;
    match end {
        JobEnd::Succeed if args.quiet => {}
        JobEnd::Succeed => eprintln!("portico: job {task_id} Succeed"),
        _ => {
            let reason = task.get("errDesc").and_then(Value::as_str).filter(|d| !d.is_empty());
            match reason {
                Some(reason) => eprintln!("portico: job {task_id} {end:?}: {reason}"),
                None => eprintln!("portico: job {task_id} {end:?}"),
            }
        }
    }
    results::print(api, &task, args.output.output)?;
    Ok(end.exit_code())
}
