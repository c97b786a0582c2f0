//! `${…}` substitution end to end: Linkis's built-in date variables and their arithmetic in
//! shell, Python and SQL jobs, the job log listing what was replaced and warning about what was
//! not, and refusals of arithmetic that cannot be done. Expected dates come from Linkis's own
//! documentation or from Python's `datetime`, never from the server's code.

use std::process::Command;

use serde_json::{json, Value};

use crate::helper::{Client, Portico};

/// Submits `code` to `engine_type` with `variables`; the taskID.
fn submit(client: &Client, engine_type: &str, run_type: &str, code: &str, variables: Value) -> u64 {
    client
        .try_submit(engine_type, run_type, code, json!({"variable": variables}))
        .unwrap_or_else(|answer| panic!("refused: {answer}"))
}

/// The rows of the job's first result set, once it has succeeded.
pub fn first_result(client: &Client, task_id: u64) -> Vec<Vec<String>> {
    let task = client.wait_record(task_id);
    assert_eq!(task["status"], "Succeed", "{task}");
    let files = client.result_files(&task);
    let page = client.ok(&format!("filesystem/openFile?path={}", files[0]));
    page["fileContent"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row.as_array().expect("a row").iter().map(|v| v.as_str().unwrap_or("").to_string()).collect())
        .collect()
}

/// What the job printed, one line per row.
pub fn printed(client: &Client, task_id: u64) -> Vec<String> {
    first_result(client, task_id).into_iter().map(|row| row.join(",")).collect()
}

/// The job's whole log, as `[error, warn, info, all]`.
pub fn log_slots(client: &Client, task_id: u64) -> [String; 4] {
    let log = client.ok(&format!("entrance/{task_id}/log?fromLine=0&size=-1"))["log"].clone();
    [0, 1, 2, 3].map(|slot| log[slot].as_str().expect("a slot").to_string())
}

/// Dates from Python's `datetime` for today in UTC: (run_date, run_date_std, run_today,
/// run_date-1, run_date+7, run_month_begin, run_month_end).
fn python_dates() -> Vec<String> {
    let script = "import calendar, datetime as dt\n\
        d = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)\n\
        end = d.replace(day=calendar.monthrange(d.year, d.month)[1])\n\
        f = lambda x: x.strftime('%Y%m%d')\n\
        print(f(d), d.isoformat(), f(d + dt.timedelta(days=1)), f(d - dt.timedelta(days=1)),\n\
              f(d + dt.timedelta(days=7)), f(d.replace(day=1)), f(end))";
    let out = Command::new("python3").arg("-c").arg(script).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").split_whitespace().map(str::to_string).collect()
}

#[test]
fn run_date_defaults_to_yesterday_in_utc_and_moves_by_days() {
    let server = Portico::start();
    let before = python_dates();
    let code = "echo ${run_date} ${run_date_std} ${run_today} ${run_date-1} ${run_date + 7} ${run_month_begin} ${run_month_end}";
    let task_id = submit(&server, "shell-1", "shell", code, json!({}));
    let after = python_dates();
    let got: Vec<String> = printed(&server, task_id)[0].split_whitespace().map(str::to_string).collect();
    // The job may be submitted across midnight UTC: either day is right, but only as a whole.
    assert!(got == before || got == after, "server {got:?}, datetime {before:?} / {after:?}");
}

#[test]
fn a_given_run_date_moves_every_built_in_as_linkis_documents() {
    let server = Portico::start();
    // Linkis's documentation of the built-in variables, for run_date 20240229.
    let documented = [
        ("run_date", "20240229"),
        ("run_date_std", "2024-02-29"),
        ("run_today", "20240301"),
        ("run_today_std", "2024-03-01"),
        ("run_mon", "202402"),
        ("run_mon_std", "2024-02"),
        ("run_month_begin", "20240201"),
        ("run_month_begin_std", "2024-02-01"),
        ("run_month_now_begin", "20240201"),
        ("run_month_now_begin_std", "2024-02-01"),
        ("run_month_end", "20240229"),
        ("run_month_end_std", "2024-02-29"),
        ("run_month_now_end", "20240229"),
        ("run_month_now_end_std", "2024-02-29"),
        ("run_quarter_begin", "20240101"),
        ("run_quarter_end", "20240331"),
        ("run_half_year_begin", "20240101"),
        ("run_half_year_end", "20240630"),
        ("run_year_begin", "20240101"),
        ("run_year_end", "20241231"),
        ("run_quarter_begin_std", "2024-01-01"),
        ("run_quarter_end_std", "2024-03-31"),
        ("run_half_year_begin_std", "2024-01-01"),
        ("run_half_year_end_std", "2024-06-30"),
        ("run_year_begin_std", "2024-01-01"),
        ("run_year_end_std", "2024-12-31"),
    ];
    // Arithmetic, each by its variable's unit: days, months, quarters, half-years, years.
    let arithmetic = [
        ("run_date-1", "20240228"),
        ("run_date+1", "20240301"),
        ("run_date_std-60", "2023-12-31"),
        ("run_today+7", "20240308"),
        ("run_month_begin-1", "20240101"),
        ("run_month_end+1", "20240331"),
        ("run_month_end-12", "20230228"),
        ("run_mon+11", "202501"),
        ("run_quarter_begin-1", "20231001"),
        ("run_quarter_end_std+1", "2024-06-30"),
        ("run_half_year_begin+1", "20240701"),
        ("run_year_end-1", "20231231"),
    ];
    let references: Vec<(String, &str)> = documented
        .iter()
        .chain(arithmetic.iter())
        .map(|(expression, value)| (format!("${{{expression}}}"), *value))
        .collect();
    let code: String = references.iter().map(|(reference, _)| format!("echo {reference}\n")).collect();
    let task_id = submit(&server, "shell-1", "shell", &code, json!({"run_date": "20240229"}));
    let lines = printed(&server, task_id);
    let expected: Vec<&str> = references.iter().map(|(_, value)| *value).collect();
    assert_eq!(lines, expected);

    // Every expression replaced is listed at INFO, once.
    let [_, _, info, _] = log_slots(&server, task_id);
    for (reference, value) in &references {
        let line = format!("Variable expression [{reference}] = {value}");
        assert_eq!(info.matches(&line).count(), 1, "{line} in {info}");
    }
}

#[test]
fn unknown_variables_stay_as_written_with_a_warning() {
    let server = Portico::start();
    let code = "echo '${nobody_set_this}' \"${greeting}\" '${a:-b}'";
    let task_id = submit(&server, "shell-1", "shell", code, json!({"greeting": "hello"}));
    assert_eq!(printed(&server, task_id), ["${nobody_set_this} hello ${a:-b}"]);
    let [_, warn, info, _] = log_slots(&server, task_id);
    assert!(warn.contains("WARN Use undefined variables or use the set method: [${nobody_set_this}]"), "{warn}");
    assert!(!warn.contains("${a:-b}"), "a shell expansion is not a variable: {warn}");
    assert!(info.contains("INFO Variable expression [${greeting}] = hello"), "{info}");
    // The code shown in the log is the code after substitution.
    assert!(info.contains("echo '${nobody_set_this}' \"hello\" '${a:-b}'"), "{info}");
}

#[test]
fn sql_and_python_jobs_are_substituted_too() {
    let server = Portico::start();
    let variables = json!({"run_date": "2023-12-31", "n": "21", "table": "items"});
    let sql = "create table ${table} (d text, x int);\n\
               insert into ${table} values ('${run_month_begin_std}', ${n*2});\n\
               select d, x, '${run_date+1}' as next from ${table}";
    let task_id = submit(&server, "sqlite-3", "sql", sql, variables.clone());
    assert_eq!(first_result(&server, task_id), [["2023-12-01", "42", "20240101"]]);
    let python = "print('${run_year_end_std}', ${n} + 1, '${table+_2024}')";
    let task_id = submit(&server, "python-python3", "python", python, variables);
    assert_eq!(printed(&server, task_id), ["2023-12-31 22 items_2024"]);
}

#[test]
fn arithmetic_that_cannot_be_done_is_refused_at_submit() {
    let server = Portico::start();
    for (code, variables, needle) in [
        ("echo ${run_date*2}", json!({}), "20046"),
        ("echo ${run_date-}", json!({}), "20042"),
        ("echo ${n/0}", json!({"n": "3"}), "20047"),
        ("echo ${s-1}", json!({"s": "text"}), "20049"),
        ("echo ${run_date}", json!({"run_date": "2024-02-30"}), "params.variable.run_date"),
        ("echo ${x}", json!({"x": {"nested": 1}}), "params.variable.x must be"),
    ] {
        let answer = server.try_submit("shell-1", "shell", code, json!({"variable": variables})).unwrap_err();
        let message = answer["message"].as_str().unwrap_or_default();
        assert_eq!(answer["status"], 1, "{answer}");
        assert!(message.contains(needle), "{code}: {message}");
    }
    let (code, _) = server.post(
        "entrance/submit",
        &json!({
            "executionContent": {"code": "echo ${run_date*2}", "runType": "shell"},
            "labels": {"engineType": "shell-1"}
        })
        .to_string(),
    );
    assert_eq!(code, 400);
    assert_eq!(server.ok("jobhistory/list")["tasks"], json!([]), "a refused job leaves no record");
}
