//! `portico run`'s options turned into the 1.x submit body the README documents: engine type
//! and run type (from the options, the file's extension, or the defaults), the code, variables,
//! labels and runtime/startup parameters.

use std::io::Read;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::args::RunArgs;
use super::error::CliError;

/// The engine type sent for an engine named without a version (`-e shell` → `shell-1`), from
/// the server's own table; `sh` and `py` are the client's short names. Anything else (a
/// versioned type, an engine this build does not know) is sent as it is.
fn engine_type(engine: &str) -> String {
    let name = match engine {
        "sh" => "shell",
        "py" => "python",
        other => other,
    };
    portico::versioned_engine_type(name).unwrap_or_else(|| engine.to_string())
}

/// The engine a script file implies by its extension.
fn engine_of_file(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()? {
        "sh" | "bash" => Some("shell"),
        "py" => Some("python"),
        "sql" => Some("sqlite"),
        _ => None,
    }
}

/// The run type when none is given: the engine's own, or for Spark the file's language.
fn default_run_type(engine_type: &str, file: Option<&Path>) -> String {
    let family = engine_type.split('-').next().unwrap_or(engine_type);
    let extension = file.and_then(Path::extension).and_then(|e| e.to_str());
    match (family, extension) {
        ("shell", _) => "shell".into(),
        ("python", _) => "python".into(),
        ("spark", Some("py")) => "pyspark".into(),
        ("spark", Some("scala")) => "scala".into(),
        ("sqlite" | "spark" | "jdbc", _) => "sql".into(),
        (other, _) => other.into(),
    }
}

/// The code to run: `--code`, or the file (`-` is stdin).
fn code(args: &RunArgs) -> Result<String, CliError> {
    if let Some(code) = &args.code {
        return Ok(code.clone());
    }
    let Some(path) = &args.file else {
        return Err(CliError::Usage("give the code with --code or --file".into()));
    };
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text)).map(|_| ())
    };
    read.map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(text)
}

fn object(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect()
}

/// The submit body for `args`, submitted by `user`.
pub fn body(args: &RunArgs, user: &str) -> Result<Value, CliError> {
    let code = code(args)?;
    let file = args.file.as_deref().filter(|p| p.as_os_str() != "-");
    let engine = args.engine.as_deref().or_else(|| file.and_then(engine_of_file)).unwrap_or("shell");
    let engine_type = engine_type(engine);
    let run_type = args.run_type.clone().unwrap_or_else(|| default_run_type(&engine_type, file));

    let mut labels = Map::new();
    labels.insert("engineType".into(), engine_type.into());
    if let Some(creator) = &args.creator {
        let runs_as = args.proxy_user.as_deref().unwrap_or(user);
        labels.insert("userCreator".into(), format!("{runs_as}-{creator}").into());
    }
    if let Some(timeout) = args.timeout {
        labels.insert("jobRunningTimeout".into(), timeout.to_string().into());
    }
    labels.extend(object(&args.labels));

    let mut runtime = object(&args.runtime);
    if let Some(priority) = args.priority {
        runtime.insert("priority".into(), priority.into());
    }
    let mut body = json!({
        "executionContent": {"code": code, "runType": run_type},
        "params": {
            "variable": object(&args.vars),
            "configuration": {"runtime": runtime, "startup": object(&args.startup)}
        },
        "labels": labels,
    });
    if let Some(path) = file {
        body["source"] = json!({"scriptPath": path.display().to_string()});
    }
    if let Some(proxy) = &args.proxy_user {
        body["executeUser"] = proxy.as_str().into();
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Cli, Command};
    use clap::Parser;

    fn run_args(line: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(["portico", "run"].iter().chain(line)).expect("parses");
        match cli.command {
            Command::Run(args) => args,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn a_short_engine_name_gets_a_version_and_its_run_type() {
        let body = body(&run_args(&["-e", "sqlite", "-c", "select 1"]), "alice").expect("body");
        assert_eq!(body["labels"]["engineType"], "sqlite-3");
        assert_eq!(body["executionContent"], json!({"code": "select 1", "runType": "sql"}));
        let body = super::body(&run_args(&["-c", "echo hi"]), "alice").expect("body");
        assert_eq!(body["labels"]["engineType"], "shell-1");
        assert_eq!(body["executionContent"]["runType"], "shell");
        // The server's default Spark version, not one of the client's own.
        let body = super::body(&run_args(&["-e", "spark", "-c", "select 1"]), "alice").expect("body");
        assert_eq!(body["labels"]["engineType"], "spark-4.3.0");
    }

    #[test]
    fn options_land_where_the_api_reads_them() {
        let args = run_args(&[
            "-e",
            "spark-3.4.4",
            "--run-type",
            "scala",
            "-c",
            "1",
            "--var",
            "day=20240229",
            "--label",
            "jobQueuingTimeout=60",
            "--conf",
            "env.A=1",
            "--startup-conf",
            "python.version=python3",
            "--priority",
            "-3",
            "--timeout",
            "600",
            "--creator",
            "BATCH",
            "--proxy-user",
            "bob",
        ]);
        let body = body(&args, "alice").expect("body");
        assert_eq!(body["executionContent"]["runType"], "scala");
        assert_eq!(body["params"]["variable"], json!({"day": "20240229"}));
        assert_eq!(body["params"]["configuration"]["runtime"], json!({"env.A": "1", "priority": -3}));
        assert_eq!(body["params"]["configuration"]["startup"], json!({"python.version": "python3"}));
        assert_eq!(
            body["labels"],
            json!({"engineType": "spark-3.4.4", "userCreator": "bob-BATCH", "jobRunningTimeout": "600", "jobQueuingTimeout": "60"})
        );
        assert_eq!(body["executeUser"], "bob");
    }

    #[test]
    fn a_file_names_its_engine_and_a_missing_one_is_a_usage_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("job.py");
        std::fs::write(&script, "print(1)\n").expect("write");
        let body = body(&run_args(&["-f", script.to_str().expect("utf-8")]), "alice").expect("body");
        assert_eq!(body["labels"]["engineType"], "python-python3");
        assert_eq!(body["executionContent"], json!({"code": "print(1)\n", "runType": "python"}));
        assert_eq!(body["source"]["scriptPath"], script.display().to_string());
        let missing = run_args(&["-f", "/nonexistent/x.sh"]);
        assert!(matches!(super::body(&missing, "alice"), Err(CliError::Usage(_))));
    }
}
