//! SQL jobs end to end, read the way a Linkis SDK reads them: log in with a password, submit
//! with `labels {engineType, userCreator}`, poll `jobhistory/{taskID}/get`, list
//! `resultLocation`, open every file.

use serde_json::{json, Value};

use crate::helper::{eventually, proc_state, proc_status, processes_matching, Client, Portico, MULTI_USER_CONFIG};
use crate::tables::{download, python, READ_XLSX};

/// The multi-user config plus a database only alice may use.
fn server() -> (Portico, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{MULTI_USER_CONFIG}\n[engines.sqlite]\nrow_cap = 2000000\n\n[[engines.sqlite.databases]]\nname = \"shared\"\npath = \"{}\"\nusers = [\"alice\"]\n\n[engines.jdbc]\ndatabase = \"shared\"\n",
        dir.path().join("shared.db").display()
    );
    (Portico::start_with_config(&config, &[]), dir)
}

fn submit_sql(client: &Client, code: &str, runtime: Value) -> Result<u64, Value> {
    client.try_submit("sqlite-3", "sql", code, json!({"configuration": {"runtime": runtime}}))
}

fn wait_record(client: &Client, task_id: u64) -> Value {
    client.wait_record(task_id)
}

fn result_files(client: &Client, task: &Value) -> Vec<String> {
    client.result_files(task)
}

fn column_names_and_types(page: &Value) -> Vec<(String, String)> {
    page["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["columnName"].as_str().unwrap().to_string(), c["dataType"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn sql_results_read_as_a_linkis_sdk_reads_them() {
    let (server, _dir) = server();
    let alice = server.anonymous().login("alice", "alice-pass");
    let script = "
        create table people (id integer primary key, name text, score real, born date, joined datetime,
                             active boolean, balance decimal(10,2), photo blob);
        insert into people values
            (1, 'Zoë 🚀; \"quoted\"', 1.5, '1990-01-02', '2024-05-01 10:00:00', 1, 12.50, x'00ff'),
            (2, NULL, NULL, NULL, NULL, 0, NULL, NULL),
            (3, 'NULL', 2, NULL, NULL, 1, 7, NULL);
        select * from people order by id; -- a comment; with a semicolon
        select count(*) as n, max(score) as top from people;
        select id from people where id < 0;
        update people set score = score + 1";
    let task_id = submit_sql(&alice, script, json!({})).expect("accepted");
    let task = wait_record(&alice, task_id);
    assert_eq!(task["status"], "Succeed", "{task}");

    let files = result_files(&alice, &task);
    assert_eq!(files.len(), 3, "one result set per statement that returns columns: {files:?}");
    let people = alice.ok(&format!("filesystem/openFile?path={}", files[0]));
    assert_eq!(people["type"], "2");
    assert_eq!(people["totalColumn"], 8);
    assert_eq!(
        column_names_and_types(&people),
        [
            ("id", "bigint"),
            ("name", "string"),
            ("score", "double"),
            ("born", "date"),
            ("joined", "timestamp"),
            ("active", "boolean"),
            ("balance", "decimal"),
            ("photo", "binary")
        ]
        .map(|(n, t)| (n.to_string(), t.to_string()))
    );
    assert_eq!(
        people["fileContent"][0],
        json!(["1", "Zoë 🚀; \"quoted\"", "1.5", "1990-01-02", "2024-05-01 10:00:00", "true", "12.5", "00ff"])
    );
    // By default a NULL reads "NULL", like the string "NULL"; LINKIS_NULL tells them apart.
    assert_eq!(people["fileContent"][1], json!(["2", "NULL", "NULL", "NULL", "NULL", "false", "NULL", "NULL"]));
    let distinct = alice.ok(&format!("filesystem/openFile?path={}&nullValue=LINKIS_NULL", files[0]));
    assert_eq!(distinct["fileContent"][1][1], Value::Null);
    assert_eq!(distinct["fileContent"][1][2], Value::Null);
    assert_eq!(distinct["fileContent"][2][1], "NULL");

    // The table as the console downloads it, opened with a real reader.
    let out = tempfile::tempdir().unwrap();
    let workbook = out.path().join("people.xlsx");
    let query = format!("filesystem/resultsetToExcel?path={}&outputFileType=xlsx", files[0]);
    assert_eq!(download(&server, "alice", &query, &workbook).0, 200);
    let sheets = python(READ_XLSX, &workbook);
    let rows = sheets.as_object().unwrap().values().next().unwrap()["rows"].clone();
    assert_eq!(rows[0][0], "id");
    assert_eq!(rows[1][1], "Zoë 🚀; \"quoted\"");
    assert_eq!(rows.as_array().unwrap().len(), 4, "a header and three rows: {rows}");

    let counts = alice.ok(&format!("filesystem/openFile?path={}", files[1]));
    assert_eq!(column_names_and_types(&counts), [("n".into(), "bigint".into()), ("top".into(), "double".into())]);
    assert_eq!(counts["fileContent"], json!([["3", "2.0"]]));
    let empty = alice.ok(&format!("filesystem/openFile?path={}", files[2]));
    assert_eq!(column_names_and_types(&empty), [("id".to_string(), "bigint".to_string())]);
    assert_eq!(empty["fileContent"], json!([]));

    let progress = alice.ok(&format!("entrance/{task_id}/progress"));
    assert_eq!(progress["progress"], 1.0);
    assert_eq!(progress["progressInfo"][0]["totalTasks"], 6);
    assert_eq!(progress["progressInfo"][0]["succeedTasks"], 6);
    let log = alice.ok(&format!("filesystem/openLog?path={}", task["logPath"].as_str().unwrap()))["log"][2].clone();
    let log = log.as_str().unwrap();
    assert!(log.contains("Statement 2 of 6 (line 4) changed 3 rows"), "{log}");
    assert!(log.contains("Statement 3 of 6 (line 8) returned 3 rows"), "{log}");
    assert!(log.contains("Statement 6 of 6 (line 11) changed 3 rows"), "{log}");
}

#[test]
fn a_failing_statement_fails_the_job_with_its_number_and_message() {
    let (server, _dir) = server();
    let alice = server.as_user("alice");
    let task_id =
        submit_sql(&alice, "create table t (a);\n\ninsert into nope values (1);\nselect 1", json!({})).unwrap();
    let task = wait_record(&alice, task_id);
    assert_eq!(task["status"], "Failed");
    let error = task["errDesc"].as_str().unwrap();
    assert!(error.contains("statement 2 of 3 (line 3: insert into nope values (1))"), "{error}");
    assert!(error.contains("no such table: nope"), "{error}");
    let progress = alice.ok(&format!("entrance/{task_id}/progress"))["progressInfo"][0].clone();
    assert_eq!((progress["succeedTasks"].as_u64(), progress["totalTasks"].as_u64()), (Some(1), Some(3)));
    assert!(result_files(&alice, &task).is_empty(), "no statement returned columns");
}

/// The pid of the SQL engine process running job `task_id`.
fn engine_pid(server: &Portico, task_id: u64) -> i32 {
    let needle = format!("{}/work/{task_id}/job.sql", server.data_dir.canonicalize().unwrap().display());
    eventually("the SQL engine process", || processes_matching(&needle).first().copied())
}

#[test]
fn pause_stops_a_long_query_and_kill_interrupts_it() {
    let (server, _dir) = server();
    let alice = server.as_user("alice");
    let endless = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c";
    let task_id = submit_sql(&alice, endless, json!({})).unwrap();
    let pid = engine_pid(&server, task_id);
    eventually("the query to run", || (proc_state(pid)? == "R").then_some(()));

    let paused = alice.ok(&format!("entrance/{task_id}/pause"));
    assert_eq!(paused["paused"], true);
    eventually("the query's process to be stopped", || (proc_state(pid)? == "T").then_some(()));
    assert_eq!(alice.ok(&format!("entrance/{task_id}/status"))["paused"], true);
    let resumed = alice.ok(&format!("entrance/{task_id}/resume"));
    assert_eq!(resumed["paused"], false);
    eventually("the query to run again", || (proc_state(pid)? != "T").then_some(()));

    alice.ok(&format!("entrance/{task_id}/kill"));
    let task = wait_record(&alice, task_id);
    assert_eq!(task["status"], "Cancelled");
    // Gone: no live process runs this job's SQL (its pid may be another's by now).
    let needle = format!("{}/work/{task_id}/job.sql", server.data_dir.canonicalize().unwrap().display());
    eventually("the query's process to be gone", || processes_matching(&needle).is_empty().then_some(()));
}

#[test]
fn databases_and_results_of_other_users_are_refused() {
    let (server, _dir) = server();
    let alice = server.as_user("alice");
    let bob = server.as_user("bob");

    let refused = submit_sql(&bob, "select 1", json!({"database": "shared"})).unwrap_err();
    assert!(
        refused["message"].as_str().unwrap().contains("No database named \"shared\" is open to user bob"),
        "{refused}"
    );
    let refused = submit_sql(&bob, "select 1", json!({"database": "/etc/passwd"})).unwrap_err();
    assert!(refused["message"].as_str().unwrap().contains("No database named"), "{refused}");

    let shared = submit_sql(
        &alice,
        "create table s (a); insert into s values (42); select a from s",
        json!({"database": "shared"}),
    );
    assert_eq!(wait_record(&alice, shared.unwrap())["status"], "Succeed");
    let own = submit_sql(&alice, "create table mine (secret text); insert into mine values ('alice only')", json!({}));
    assert_eq!(wait_record(&alice, own.unwrap())["status"], "Succeed");

    // jdbc-* jobs run against the database the config maps them to, for its users only.
    let jdbc = |client: &Client, user: &str| {
        let body = json!({
            "executionContent": {"code": "select a from s", "runType": "jdbc"},
            "labels": {"engineType": "jdbc-4", "userCreator": format!("{user}-IDE")}
        });
        client.post("entrance/submit", &body.to_string()).1
    };
    let refused = jdbc(&bob, "bob");
    assert!(refused["message"].as_str().unwrap().contains("is open to user bob"), "{refused}");
    let accepted = jdbc(&alice, "alice");
    let task = wait_record(&alice, accepted["data"]["taskID"].as_u64().expect("accepted"));
    assert_eq!(
        alice.ok(&format!("filesystem/openFile?path={}", result_files(&alice, &task)[0]))["fileContent"],
        json!([["42"]])
    );

    // Bob's own database is his: alice's table is not in it.
    let peek = wait_record(&bob, submit_sql(&bob, "select * from mine", json!({})).unwrap());
    assert_eq!(peek["status"], "Failed");
    assert!(peek["errDesc"].as_str().unwrap().contains("no such table: mine"), "{peek}");
    // Nor can SQL reach another file.
    let attach =
        format!("attach database '{}' as other", server.data_dir.join("users/alice/sqlite/default.db").display());
    let attach = wait_record(&bob, submit_sql(&bob, &attach, json!({})).unwrap());
    assert_eq!(attach["status"], "Failed");
    assert!(attach["errDesc"].as_str().unwrap().contains("not authorized"), "{attach}");

    // Nor read alice's results.
    let task = wait_record(&alice, submit_sql(&alice, "select 'alice only' as secret", json!({})).unwrap());
    let file = &result_files(&alice, &task)[0];
    let (_, answer) = bob.get(&format!("filesystem/openFile?path={file}"));
    assert_ne!(answer["status"], 0);
    assert!(answer["message"].as_str().unwrap().contains("80010"), "{answer}");
}

#[test]
fn a_python_job_shows_a_table_beside_its_printed_text() {
    let (server, _dir) = server();
    let alice = server.as_user("alice");
    let code = "from portico import show\nprint('hello')\nshow([(1, 'a', 1.5, None), (2, 'ü', 2.0, True)], columns=['id', 'name', 'x', 'flag'])\n";
    let (_, task_id) = alice.submit(&json!({
        "executionContent": {"code": code, "runType": "python"},
        "labels": {"engineType": "python-python3", "userCreator": "alice-IDE"}
    }));
    let task = wait_record(&alice, task_id);
    assert_eq!(task["status"], "Succeed", "{task}");
    let pages: Vec<Value> =
        result_files(&alice, &task).iter().map(|f| alice.ok(&format!("filesystem/openFile?path={f}"))).collect();
    assert_eq!(pages.len(), 2);
    // Numbered in the order of the job's output: the text printed first is _0, the table _1.
    let (text, table) = (&pages[0], &pages[1]);
    assert_eq!((text["type"].as_str(), table["type"].as_str()), (Some("1"), Some("2")));
    assert_eq!(text["fileContent"], json!([["hello"]]));
    assert_eq!(
        column_names_and_types(table),
        [("id", "bigint"), ("name", "string"), ("x", "double"), ("flag", "boolean")]
            .map(|(n, t)| (n.to_string(), t.to_string()))
    );
    assert_eq!(table["fileContent"], json!([["1", "a", "1.5", "NULL"], ["2", "ü", "2.0", "true"]]));

    // A big shown table gets the row index Portico's own writer keeps, under its final name.
    let (_, task_id) = alice.submit(&json!({
        "executionContent": {"code": "from portico import show\nshow([(i,) for i in range(1000)], columns=['n'])\n", "runType": "python"},
        "labels": {"engineType": "python-python3", "userCreator": "alice-IDE"}
    }));
    let task = wait_record(&alice, task_id);
    let file = &result_files(&alice, &task)[0];
    let local = std::path::Path::new(file.strip_prefix("file://").unwrap());
    let index = std::fs::read(local.with_file_name("._0.dolphin.idx")).expect("the row index");
    assert_eq!(index.len(), 3 * 8, "offsets of rows 256, 512 and 768");
    let deep = alice.ok(&format!("filesystem/openFile?path={file}&page=4&pageSize=256"));
    assert_eq!(deep["fileContent"][0], json!(["768"]));
}

#[test]
fn a_job_that_writes_nothing_lists_an_empty_result_directory() {
    let (server, _dir) = server();
    let alice = server.as_user("alice");
    let (_, task_id) = alice.submit_shell("true");
    let task = wait_record(&alice, task_id);
    assert!(result_files(&alice, &task).is_empty());
}

#[test]
fn a_million_row_result_is_paged_without_reading_it_all() {
    let (server, _dir) = server();
    let alice = server.as_user("alice");
    let million = "with recursive s(x) as (select 1 union all select x + 1 from s where x < 1000000) select x, 'row ' || x as label from s order by x desc";
    let peak_before = proc_status(server.pid(), "VmHWM");
    let task = wait_record(&alice, submit_sql(&alice, million, json!({})).unwrap());
    assert_eq!(task["status"], "Succeed", "{task}");
    // The query (a sort of a million rows) and its result ran in the engine's process: the
    // server's own peak memory hardly moved.
    let grown = proc_status(server.pid(), "VmHWM").saturating_sub(peak_before);
    assert!(grown < 16 * 1024, "the server's peak memory grew by {grown} KiB");
    let file = &result_files(&alice, &task)[0];
    let first = alice.ok(&format!("filesystem/openFile?path={file}&page=1&pageSize=200"));
    assert_eq!(first["fileContent"][0], json!(["1000000", "row 1000000"]));
    let deep = alice.ok(&format!("filesystem/openFile?path={file}&page=2500&pageSize=200"));
    assert_eq!(deep["totalLine"], 200);
    assert_eq!(deep["fileContent"][0], json!(["500200", "row 500200"]));
    assert_eq!(deep["fileContent"][199], json!(["500001", "row 500001"]));
    assert_eq!(task["metrics"].as_str().map(|m| m.contains("\"resultSets\":1")), Some(true), "{}", task["metrics"]);

    // The whole result downloaded as CSV and read back with Python's csv module.
    let out = tempfile::tempdir().unwrap();
    let csv_file = out.path().join("million.csv");
    assert_eq!(download(&server, "alice", &format!("filesystem/resultsetToExcel?path={file}"), &csv_file).0, 200);
    let summary = python(
        "import csv, json, sys\n\
         rows = list(csv.reader(open(sys.argv[1], newline='')))\n\
         print(json.dumps([len(rows), rows[0], rows[1], rows[-1]]))",
        &csv_file,
    );
    assert_eq!(summary, json!([1_000_001, ["x", "label"], ["1000000", "row 1000000"], ["1", "row 1"]]));
}

#[test]
fn scripts_keep_their_data_or_say_why_not() {
    let (server, _dir) = server();
    let alice = server.as_user("alice");
    // Plain VACUUM works (it attaches a nameless database of its own); a transaction left open
    // fails the job rather than losing its changes without a word.
    let vacuum = wait_record(
        &alice,
        submit_sql(&alice, "create table v (a); insert into v values (1); vacuum", json!({})).unwrap(),
    );
    assert_eq!(vacuum["status"], "Succeed", "{vacuum}");
    let open = wait_record(&alice, submit_sql(&alice, "begin; insert into v values (2); select 1", json!({})).unwrap());
    assert_eq!(open["status"], "Failed");
    assert!(open["errDesc"].as_str().unwrap().contains("did not end it"), "{open}");
    let count = wait_record(&alice, submit_sql(&alice, "select count(*) as n from v", json!({})).unwrap());
    let page = alice.ok(&format!("filesystem/openFile?path={}", result_files(&alice, &count)[0]));
    assert_eq!(page["fileContent"], json!([["1"]]), "the open transaction's row was rolled back");

    // A column of integers and reals with no declared type is double; a statement that fails
    // halfway through its rows leaves no partial result behind.
    let mixed = "select x, case when x % 2 = 0 then x else x + 0.5 end as y from (select 1 as x union all select 2)";
    let mixed = wait_record(&alice, submit_sql(&alice, mixed, json!({})).unwrap());
    let page = alice.ok(&format!("filesystem/openFile?path={}", result_files(&alice, &mixed)[0]));
    assert_eq!(column_names_and_types(&page)[1].1, "double");
    let broken = "with recursive s(n) as (select 1 union all select n + 1 from s where n < 300) \
                  select n, case when n = 250 then json('not json') else n end from s";
    let broken = wait_record(&alice, submit_sql(&alice, broken, json!({})).unwrap());
    assert_eq!(broken["status"], "Failed");
    assert!(broken["errDesc"].as_str().unwrap().contains("malformed JSON"), "{broken}");
    assert!(result_files(&alice, &broken).is_empty(), "no partial result set");
}

#[test]
fn hostile_parameters_and_files_in_a_result_directory_are_refused_without_hanging() {
    let (server, _dir) = server();
    let alice = server.as_user("alice");
    let rows =
        "with recursive s(n) as (select 1 union all select n + 1 from s where n < 600) select n, null as gap from s";
    let task = wait_record(&alice, submit_sql(&alice, rows, json!({})).unwrap());
    let file = result_files(&alice, &task)[0].clone();

    // nullValue stands in for every NULL of an answer: a long one is refused, not multiplied.
    let (_, answer) = alice.get(&format!("filesystem/openFile?path={file}&nullValue={}", "x".repeat(65)));
    assert_ne!(answer["status"], 0);
    assert!(answer["message"].as_str().unwrap().contains("at most 64"), "{answer}");
    let shown = alice.ok(&format!("filesystem/openFile?path={file}&pageSize=2&nullValue={}", "y".repeat(64)));
    assert_eq!(shown["fileContent"][0][1], "y".repeat(64));

    // A FIFO where the row index should be (a job could make one) is not waited on.
    let local = file.strip_prefix("file://").unwrap();
    let index = std::path::Path::new(local).with_file_name("._0.dolphin.idx");
    let _ = std::fs::remove_file(&index);
    let made = std::process::Command::new("mkfifo").arg(&index).status().unwrap();
    assert!(made.success());
    let page = alice.ok(&format!("filesystem/openFile?path={file}&page=3&pageSize=256"));
    assert_eq!(page["fileContent"][0][0], "513", "read by skipping rows instead");
}
