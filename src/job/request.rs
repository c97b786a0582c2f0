//! Submit and execute bodies → one validated [`JobRequest`].
//!
//! Linkis has two request dialects sharing one parser: the 1.x `submit` body
//! (`executionContent`, `labels.engineType`, `labels.userCreator`) and the 0.x `execute` body
//! (`executeApplicationName`, `executionCode`, `runType`). A body without `executionContent` is
//! read as an execute body whatever the endpoint. Errors carry the Linkis error codes so clients
//! that match on them keep working.
//!
//! Beside it: `limits.rs` (how much a body may carry, checked first), `fields.rs` (each field's
//! type and value, refused with a message naming it), `variables.rs` and
//! `dates.rs` (`${…}` substitution with Linkis's date variables), `runtime.rs` (environment and
//! working directory from `params.configuration.runtime`).

mod dates;
mod fields;
mod limits;
pub mod runtime;
mod variables;

use std::time::Duration;

use serde_json::{Map, Value};

use super::JobError;
use crate::clock;
use crate::config::RequestLimits;
use crate::engine::Engine;
use crate::storage::log_file::Level;
use fields::{check_code, check_configuration, check_labels, optional_string, required_code, timeout_label};

/// A job as the client asked for it, checked and with variables substituted.
#[derive(Clone, Debug)]
pub struct JobRequest {
    /// The code to run, after `${name}` substitution.
    pub code: String,
    pub engine: Engine,
    /// The `engineType` label as given (or completed with the default version).
    pub engine_type: String,
    /// The run type, as given or the engine's canonical one.
    pub run_type: String,
    /// The creator (`requestApplicationName`, or the creator half of `userCreator`).
    pub creator: String,
    /// The user half of the `userCreator` label, which must match the executing user.
    pub label_user: Option<String>,
    /// `executeUser` from the body; honoured only for admin tokens.
    pub execute_user: Option<String>,
    /// `params` as given (variables and configuration), kept for job history.
    pub params: Value,
    /// `source` as given (e.g. `scriptPath`), kept for job history.
    pub source: Map<String, Value>,
    /// Longest time the job may run, paused time excluded (`jobRunningTimeout`, seconds).
    pub running_timeout: Option<Duration>,
    /// Longest time the job may wait in the queue (`jobQueuingTimeout`, seconds).
    pub queuing_timeout: Option<Duration>,
    /// Lines for the job's log, before its code: the variables replaced, and those left as
    /// written.
    pub notes: Vec<(Level, String)>,
}

/// The creator Linkis assumes when a request names none.
pub const DEFAULT_CREATOR: &str = "IDE";

/// Parses a submit or execute body, within `limits`; date variables count from today.
pub fn parse(body: &Value, limits: &RequestLimits) -> Result<JobRequest, JobError> {
    parse_at(body, limits, clock::now_millis())
}

/// [`parse`] as if it were `now_ms` (epoch milliseconds) for the date variables.
pub fn parse_at(body: &Value, limits: &RequestLimits, now_ms: u64) -> Result<JobRequest, JobError> {
    let Some(body) = body.as_object() else {
        return Err(JobError::invalid(20008, "params cannot be empty: the request body must be a JSON object"));
    };
    limits::check(body, limits)?;
    let context = Context { limits, now_ms };
    if body.contains_key("executionContent") {
        parse_submit(body, &context)
    } else {
        parse_execute(body, &context)
    }
}

/// What parsing needs besides the body.
struct Context<'a> {
    limits: &'a RequestLimits,
    now_ms: u64,
}

fn parse_submit(body: &Map<String, Value>, context: &Context<'_>) -> Result<JobRequest, JobError> {
    let labels = match body.get("labels") {
        Some(Value::Object(labels)) if !labels.is_empty() => labels,
        _ => return Err(JobError::invalid(20008, "params cannot be empty ,  labels is null")),
    };
    let engine_type = optional_string(labels, "engineType", 20009)?.ok_or_else(|| {
        JobError::invalid(
            20009,
            format!(
                "Label params invalid You need to specify engineTypeLabel in labels,such as shell-1. Supported: {}",
                Engine::supported_list()
            ),
        )
    })?;
    let engine = engine_for("engineType", &engine_type)?;
    let content = match body.get("executionContent") {
        Some(Value::Object(content)) => content,
        _ => return Err(JobError::invalid(20010, "executionContent must be an object with code and runType")),
    };
    let code_type = optional_string(labels, "codeType", 20009)?;
    let run_type = match optional_string(content, "runType", 20009)? {
        Some(run_type) => run_type,
        None => code_type.ok_or_else(|| {
            JobError::invalid(
                20009,
                format!(
                    "Label params invalid You need to specify runType in execution content, such as {}",
                    engine.run_types()[0]
                ),
            )
        })?,
    };
    check_run_type(engine, &run_type)?;
    if !content.contains_key("code") {
        return Err(JobError::invalid(20010, "The param executionContent has no code (executionContent 中没有 code)"));
    }
    let code = required_code(content, "code")?;
    let (label_user, creator) = match optional_string(labels, "userCreator", 20009)? {
        Some(user_creator) => split_user_creator(&user_creator)?,
        None => (None, DEFAULT_CREATOR.to_string()),
    };
    let names = Names { engine, engine_type, run_type, creator, label_user };
    finish(body, code, names, Some(labels), context)
}

fn parse_execute(body: &Map<String, Value>, context: &Context<'_>) -> Result<JobRequest, JobError> {
    let labels = match body.get("labels") {
        Some(Value::Object(labels)) => Some(labels),
        None | Some(Value::Null) => None,
        Some(_) => return Err(JobError::invalid(20009, "labels must be an object")),
    };
    let label_engine_type = match labels {
        Some(labels) => optional_string(labels, "engineType", 20009)?,
        None => None,
    };
    let app_name = optional_string(body, "executeApplicationName", 20009)?;
    let run_type = optional_string(body, "runType", 20009)?;
    // The engine type, and the field that named it (for a refusal to point at).
    let (engine_type, named_by) = match (label_engine_type, app_name, &run_type) {
        (Some(engine_type), _, _) => (engine_type, "engineType"),
        (None, Some(name), _) if name.contains('-') => (name, "executeApplicationName"),
        (None, Some(name), _) => {
            let engine = engine_for("executeApplicationName", &name)?;
            (engine.default_engine_type(), "executeApplicationName")
        }
        (None, None, Some(run_type)) => {
            let engine = Engine::from_run_type(run_type).ok_or_else(|| unsupported_run_type(None, run_type))?;
            (engine.default_engine_type(), "runType")
        }
        (None, None, None) => {
            return Err(JobError::invalid(
                20009,
                format!(
                    "You need to specify executeApplicationName (or labels.engineType). Supported: {}",
                    Engine::supported_list()
                ),
            ))
        }
    };
    let engine = engine_for(named_by, &engine_type)?;
    let run_type = run_type.unwrap_or_else(|| engine.run_types()[0].to_string());
    check_run_type(engine, &run_type)?;
    let code = required_code(body, "executionCode")?;
    let (label_user, creator) = match labels.map(|l| optional_string(l, "userCreator", 20009)).transpose()?.flatten() {
        Some(user_creator) => split_user_creator(&user_creator)?,
        None => {
            let creator =
                optional_string(body, "requestApplicationName", 20009)?.unwrap_or_else(|| DEFAULT_CREATOR.to_string());
            check_name("creator (requestApplicationName)", &creator)?;
            (None, creator)
        }
    };
    let names = Names { engine, engine_type, run_type, creator, label_user };
    finish(body, code, names, labels, context)
}

/// What the two dialects each find in their own places.
struct Names {
    engine: Engine,
    engine_type: String,
    run_type: String,
    creator: String,
    label_user: Option<String>,
}

/// The parts both dialects share: params, variables, runtime parameters, source, timeouts.
fn finish(
    body: &Map<String, Value>,
    code: String,
    names: Names,
    labels: Option<&Map<String, Value>>,
    context: &Context<'_>,
) -> Result<JobRequest, JobError> {
    let Names { engine, engine_type, run_type, creator, label_user } = names;
    let params = match body.get("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(params)) => Value::Object(params.clone()),
        Some(_) => return Err(JobError::invalid(20009, "params must be an object")),
    };
    let empty = Map::new();
    let given = match params.get("variable") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(vars)) => vars,
        Some(_) => return Err(JobError::invalid(20009, "params.variable must be an object")),
    };
    let source = match body.get("source") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(source)) => source.clone(),
        Some(_) => return Err(JobError::invalid(20009, "source must be an object")),
    };
    // Linkis honours executeUser only on submit; execute always runs as the caller.
    let execute_user =
        if body.contains_key("executionContent") { optional_string(body, "executeUser", 20009)? } else { None };
    if let Some(labels) = labels {
        check_labels(labels)?;
    }
    check_configuration(&params)?;
    let (running_timeout, queuing_timeout) = match labels {
        Some(labels) => (timeout_label(labels, "jobRunningTimeout")?, timeout_label(labels, "jobQueuingTimeout")?),
        None => (None, None),
    };
    // Read here to refuse what is not allowed; the job reads it again from `params` as it starts.
    runtime::of(engine, &params)?;
    let substituted = variables::substitute(&code, given, context.now_ms, context.limits.max_code_bytes)?;
    check_code("code, after its variables were substituted,", &substituted.code)?;
    Ok(JobRequest {
        code: substituted.code,
        engine,
        engine_type,
        run_type,
        creator,
        label_user,
        execute_user,
        params,
        source,
        running_timeout,
        queuing_timeout,
        notes: substituted.notes,
    })
}

/// The engine `engine_type` names; `what` is the field it came from, for the refusal.
fn engine_for(what: &str, engine_type: &str) -> Result<Engine, JobError> {
    Engine::from_engine_type(engine_type).ok_or_else(|| {
        JobError::invalid(
            20009,
            format!("Unsupported {what} {engine_type}: this server runs {}", Engine::supported_list()),
        )
    })
}

fn check_run_type(engine: Engine, run_type: &str) -> Result<(), JobError> {
    if engine.accepts_run_type(run_type) {
        Ok(())
    } else {
        Err(unsupported_run_type(Some(engine), run_type))
    }
}

fn unsupported_run_type(engine: Option<Engine>, run_type: &str) -> JobError {
    let detail = match engine {
        Some(engine) => format!("engine {} accepts runType {}", engine.name(), engine.run_types().join("|")),
        None => format!("this server runs {}", Engine::supported_list()),
    };
    JobError::invalid(20009, format!("Unsupported runType {run_type}: {detail}"))
}

fn split_user_creator(value: &str) -> Result<(Option<String>, String), JobError> {
    match value.split_once('-') {
        Some((user, creator)) if !user.is_empty() && !creator.is_empty() => {
            check_name("creator (labels.userCreator)", creator)?;
            Ok((Some(user.to_string()), creator.to_string()))
        }
        _ => Err(JobError::invalid(
            20009,
            format!("Label params invalid: userCreator {value:?} must look like user-creator, such as hadoop-IDE"),
        )),
    }
}

/// Names end up in short ids and directory names, so only a safe alphabet is accepted.
pub fn check_name(what: &str, name: &str) -> Result<(), JobError> {
    if crate::names::is_safe(name) {
        Ok(())
    } else {
        Err(JobError::invalid(21304, format!("Invalid {what} : {name}")))
    }
}

#[cfg(test)]
mod tests;
