//! TABLE result sets through openFile and the downloads, with the real server.
//!
//! No engine writes tables yet, so each test runs a real job and then puts dolphin table files
//! into that job's result directory, encoded here from linkis-api.md §7.5 independently of the
//! server's own writer. Downloads are checked with Python's `csv` module and `openpyxl` (the
//! interpreter is `$PORTICO_TEST_PYTHON`, else `python3`; it needs `openpyxl`).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::helper::{proc_status, Client, Portico, MULTI_USER_CONFIG, TEST_TOKEN};

/// A column as (name, type name, comment).
type ColumnSpec = (&'static str, &'static str, Option<&'static str>);

/// One TABLE row as Linkis writes it: row length, index length, index, values.
fn table_row(values: &[Option<&str>]) -> Vec<u8> {
    let mut index = String::new();
    let mut data = Vec::new();
    for value in values {
        let value = value.unwrap_or("LINKIS_NULL");
        index.push_str(&format!("{},", value.len()));
        data.extend_from_slice(value.as_bytes());
    }
    let mut row = format!("{:010}{:010}{index}", 10 + index.len() + data.len(), index.len()).into_bytes();
    row.extend_from_slice(&data);
    row
}

/// The header and metadata row of a TABLE result set with these (name, type, comment) columns.
fn table_head(columns: &[(&str, &str, Option<&str>)]) -> Vec<u8> {
    let metadata: Vec<Option<&str>> = columns.iter().flat_map(|(n, t, c)| [Some(*n), Some(*t), *c]).collect();
    let mut bytes = b"dolphin0000000002".to_vec();
    bytes.extend_from_slice(&table_row(&metadata));
    bytes
}

fn write_table(path: &Path, columns: &[(&str, &str, Option<&str>)], rows: &[Vec<Option<&str>>]) {
    let mut bytes = table_head(columns);
    for row in rows {
        bytes.extend_from_slice(&table_row(row));
    }
    std::fs::write(path, bytes).unwrap();
}

/// The result directory of a job `client` ran to the end (it holds the job's stdout as `_0`).
fn finished_job_results(client: &Client) -> PathBuf {
    let (exec_id, task_id) = client.submit_shell("echo from stdout");
    assert_eq!(client.wait_done(&exec_id), "Succeed");
    let location =
        client.ok(&format!("jobhistory/{task_id}/get"))["task"]["resultLocation"].as_str().unwrap().to_string();
    PathBuf::from(location.strip_prefix("file://").unwrap())
}

/// A finished job's result directory with the `people()` table written as its `_1.dolphin`.
fn people_table(client: &Client) -> (PathBuf, PathBuf) {
    let dir = finished_job_results(client);
    let (columns, rows) = people();
    let table = dir.join("_1.dolphin");
    write_table(&table, &columns, &rows);
    (dir, table)
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A raw GET as `user`: status, the named response headers, the body as it came.
pub(crate) fn download(server: &Portico, user: &str, query: &str, to: &Path) -> (u16, Value, String) {
    let url = format!("{}/api/rest_j/v1/{query}", server.base);
    let response = match ureq::get(&url).set("Token-Code", TEST_TOKEN).set("Token-User", user).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("GET {query}: {e}"),
    };
    let status = response.status();
    let headers = json!({
        "type": response.header("Content-Type"),
        "disposition": response.header("Content-Disposition"),
        "encoding": response.header("Transfer-Encoding"),
    });
    let mut file = BufWriter::new(std::fs::File::create(to).unwrap());
    std::io::copy(&mut response.into_reader(), &mut file).unwrap();
    file.flush().unwrap();
    let text = if status == 200 { String::new() } else { std::fs::read_to_string(to).unwrap() };
    (status, headers, text)
}

/// Runs a Python script on `file`; returns what it printed as JSON.
pub(crate) fn python(script: &str, file: &Path) -> Value {
    let interpreter = std::env::var("PORTICO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&interpreter).arg("-c").arg(script).arg(file).output().expect("run python");
    assert!(
        output.status.success(),
        "{interpreter} failed (the XLSX tests need openpyxl: see README, Set-up): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("python printed JSON")
}

const READ_CSV: &str = "import csv, json, sys\n\
    with open(sys.argv[1], newline='', encoding='utf-8') as f:\n\
    \x20   print(json.dumps(list(csv.reader(f, delimiter=sys.argv[2] if len(sys.argv) > 2 else ','))))";

pub(crate) const READ_XLSX: &str = "import json, sys, openpyxl\n\
    wb = openpyxl.load_workbook(sys.argv[1])\n\
    print(json.dumps({ws.title: {'rows': [list(r) for r in ws.iter_rows(values_only=True)],\n\
    \x20   'bold': bool(ws['A1'].font.bold)} for ws in wb.worksheets}))";

/// A small table with a NULL, an empty value, unicode, a separator, quotes and a line break.
fn people() -> (Vec<ColumnSpec>, Vec<Vec<Option<&'static str>>>) {
    let columns = vec![("id", "int", None), ("名前", "string", Some("the name, in full")), ("note", "string", None)];
    let rows = vec![
        vec![Some("1"), Some("Zoë ✓"), Some("plain")],
        vec![Some("2"), None, Some("")],
        vec![Some("3"), Some("a,b \"quoted\""), Some("two\nlines")],
    ];
    (columns, rows)
}

#[test]
fn open_file_shows_a_table_with_its_metadata_and_nulls() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let (dir, table) = people_table(&alice);
    write_table(&dir.join("_2.dolphin"), &[("nothing", "string", None)], &[]);

    let listed: Vec<Value> = alice.ok(&format!("filesystem/getDirFileTrees?path={}", uri(&dir)))["dirFileTrees"]
        ["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(listed, [json!("_0.dolphin"), json!("_1.dolphin"), json!("_2.dolphin")]);

    let data = alice.ok(&format!("filesystem/openFile?path={}", uri(&table)));
    assert_eq!(data["type"], "2");
    assert_eq!(
        data["metadata"],
        json!([
            {"columnName": "id", "dataType": "int", "comment": "NULL"},
            {"columnName": "名前", "dataType": "string", "comment": "the name, in full"},
            {"columnName": "note", "dataType": "string", "comment": "NULL"},
        ])
    );
    assert_eq!(
        data["fileContent"],
        json!([["1", "Zoë ✓", "plain"], ["2", "NULL", ""], ["3", "a,b \"quoted\"", "two\nlines"]])
    );
    assert_eq!((data["totalLine"].clone(), data["totalColumn"].clone()), (json!(3), json!(3)));
    assert_eq!((data["page"].clone(), data["totalPage"].clone()), (json!(1), json!(0)));

    let as_null = alice.ok(&format!("filesystem/openFile?path={}&nullValue=LINKIS_NULL", uri(&table)));
    assert_eq!(as_null["fileContent"][1], json!(["2", null, ""]));
    let replaced = alice.ok(&format!("filesystem/openFile?path={}&nullValue=-", uri(&table)));
    assert_eq!(replaced["fileContent"][1], json!(["2", "-", "-"]), "Linkis replaces NULLs and empty values");
    let second = alice.ok(&format!("filesystem/openFile?path={}&page=2&pageSize=2", uri(&table)));
    assert_eq!((second["totalLine"].clone(), second["fileContent"][0][0].clone()), (json!(1), json!("3")));

    let empty = alice.ok(&format!("filesystem/openFile?path={}", uri(&dir.join("_2.dolphin"))));
    assert_eq!((empty["fileContent"].clone(), empty["totalLine"].clone()), (json!([]), json!(0)));
    assert_eq!(empty["metadata"][0]["columnName"], "nothing");
    // The job's own stdout is still a TEXT result set beside the tables.
    let text = alice.ok(&format!("filesystem/openFile?path={}", uri(&dir.join("_0.dolphin"))));
    assert_eq!((text["type"].clone(), text["fileContent"].clone()), (json!("1"), json!([["from stdout"]])));
}

#[test]
fn wide_tables_are_paged_by_columns_and_limits_answer_linkis_codes() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let bob = server.as_user("bob");
    let dir = finished_job_results(&alice);
    let names: Vec<String> = (0..1200).map(|i| format!("c{i}")).collect();
    let columns: Vec<(&str, &str, Option<&str>)> = names.iter().map(|n| (n.as_str(), "int", None)).collect();
    let values: Vec<String> = (0..1200).map(|i| i.to_string()).collect();
    let row: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
    let table = dir.join("_1.dolphin");
    write_table(&table, &columns, &[row.clone(), row]);
    let open = |query: &str| format!("filesystem/openFile?path={}{query}", uri(&table));

    let first = alice.ok(&open(""));
    assert_eq!((first["metadata"].as_array().unwrap().len(), first["totalColumn"].clone()), (500, json!(1200)));
    assert_eq!(first["fileContent"][1].as_array().unwrap().len(), 500);
    let third = alice.ok(&open("&columnPage=3"));
    assert_eq!(third["metadata"].as_array().unwrap().len(), 200);
    assert_eq!(
        (third["metadata"][0]["columnName"].clone(), third["fileContent"][0][199].clone()),
        (json!("c1000"), json!("1199"))
    );
    let narrow = alice.ok(&open("&columnPage=2&columnPageSize=7"));
    assert_eq!(narrow["fileContent"][0], json!(["7", "8", "9", "10", "11", "12", "13"]));

    let refused = |client: &Client, query: &str, code: u64| {
        let (http, body) = client.get(query);
        assert_eq!((http, body["status"].as_i64()), (400, Some(1)), "{query}: {body}");
        assert_eq!(body["data"]["errorMsg"]["errCode"], code, "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(&code.to_string()), "{body}");
    };
    refused(&alice, &open("&columnPageSize=501"), 80036);
    refused(&alice, &open("&columnPageSize=0"), 80036);
    refused(&alice, &open("&columnPage=4"), 80036);
    refused(&alice, &open("&pageSize=100001"), 80034);
    assert_eq!(alice.ok(&open("&pageSize=100000"))["totalLine"], 2);
    refused(&bob, &open(""), 80010);
    let dir_uri = uri(&dir);
    refused(&bob, &format!("filesystem/resultsetToExcel?path={}", uri(&table)), 80010);
    refused(&bob, &format!("filesystem/resultsetsToExcel?path={dir_uri}"), 80010);
    refused(&alice, &format!("filesystem/resultsetToExcel?path={}&outputFileType=pdf", uri(&table)), 80015);
    let text = uri(&dir.join("_0.dolphin"));
    refused(&alice, &format!("filesystem/resultsetToExcel?path={text}&outputFileType=xlsx"), 80024);
    let (http, body) = alice.get(&format!("filesystem/resultsetToExcel?path={}&charset=gbk", uri(&table)));
    assert_eq!(http, 400);
    assert!(body["message"].as_str().unwrap().contains("UTF-8 only"), "{body}");
}

#[test]
fn downloads_are_csv_python_reads_and_workbooks_openpyxl_opens() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let (dir, table) = people_table(&alice);
    write_table(&dir.join("_2.dolphin"), &[("n", "bigint", None)], &[vec![Some("42")], vec![None]]);
    let out = tempfile::tempdir().unwrap();
    let (file, workbook_file) = (out.path().join("download.csv"), out.path().join("download.xlsx"));
    let get = |query: &str| {
        let to = if query.contains("xlsx") || query.starts_with("resultsets") { &workbook_file } else { &file };
        download(&server, "alice", &format!("filesystem/{query}"), to)
    };

    let (status, headers, _) =
        get(&format!("resultsetToExcel?path={}&outputFileName=%E7%BB%93%E6%9E%9C%22x", uri(&table)));
    assert_eq!(status, 200);
    assert_eq!(headers["type"], "text/csv; charset=utf-8");
    assert_eq!(headers["encoding"], "chunked");
    assert_eq!(
        headers["disposition"], "attachment; filename=\"__x.csv\"; filename*=UTF-8''%E7%BB%93%E6%9E%9Cx.csv",
        "a sanitized name"
    );
    assert_eq!(
        python(READ_CSV, &file),
        json!([
            ["id", "名前", "note"],
            ["1", "Zoë ✓", "plain"],
            ["2", "NULL", ""],
            ["3", "a,b \"quoted\"", "two lines"],
        ])
    );
    // The misspelled parameter, kept line breaks, a blank NULL and a limit.
    get(&format!("resultsetToExcel?path={}&csvSeperator=%3B&keepNewline=true&nullValue=BLANK&limit=3", uri(&table)));
    let script = READ_CSV.replace("sys.argv[2] if len(sys.argv) > 2 else ','", "';'");
    assert_eq!(
        python(&script, &file),
        json!([["id", "名前", "note"], ["1", "Zoë ✓", "plain"], ["2", "", ""], ["3", "a,b \"quoted\"", "two\nlines"]])
    );
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("id;名前;note\r\n"));
    get(&format!("resultsetToExcel?path={}&limit=1", uri(&table)));
    assert_eq!(python(READ_CSV, &file).as_array().unwrap().len(), 2);

    let (status, headers, _) =
        get(&format!("resultsetToExcel?path={}&outputFileType=xlsx&sheetName=people%3A2024", uri(&table)));
    assert_eq!(status, 200);
    assert_eq!(headers["type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(headers["disposition"].as_str().unwrap().contains("filename=\"downloadResultset.xlsx\""));
    assert_eq!(headers["encoding"], Value::Null, "a workbook is sent with its length");
    assert_eq!(
        python(READ_XLSX, &workbook_file),
        json!({"people_2024": {"bold": true, "rows": [
            ["id", "名前", "note"],
            ["1", "Zoë ✓", "plain"],
            ["2", "NULL", null],
            ["3", "a,b \"quoted\"", "two\nlines"],
        ]}})
    );

    // A symlink among the result sets, to a table outside every user's tree, is not followed.
    let outside = out.path().join("outside.dolphin");
    write_table(&outside, &[("secret", "string", None)], &[vec![Some("s")]]);
    std::os::unix::fs::symlink(&outside, dir.join("_3.dolphin")).unwrap();
    let (status, _, _) = get(&format!("resultsetsToExcel?path={}&nullValue=BLANK", uri(&dir)));
    assert_eq!(status, 200);
    let workbook = python(READ_XLSX, &workbook_file);
    let sheets: Vec<&String> = workbook.as_object().unwrap().keys().collect();
    assert_eq!(sheets, ["resultset0", "resultset1"], "one sheet per table; the stdout text set is left out");
    assert_eq!(workbook["resultset0"]["rows"][2], json!(["2", null, null]));
    assert_eq!(workbook["resultset1"]["rows"], json!([["n"], ["42"], [null]]));
    let temp = server.data_dir.join("tmp");
    assert_eq!(std::fs::read_dir(&temp).unwrap().count(), 0, "no temporary file is left behind");
}

#[test]
fn a_million_rows_page_deep_and_download_in_constant_memory() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let dir = finished_job_results(&alice);
    let table = dir.join("_1.dolphin");
    let value = |i: u64, c: u64| format!("r{i}c{c}");
    {
        let mut out = BufWriter::new(std::fs::File::create(&table).unwrap());
        out.write_all(&table_head(&[("a", "string", None), ("b", "bigint", None), ("c", "string", None)])).unwrap();
        for i in 0..1_000_000u64 {
            let (a, b) = (value(i, 0), i.to_string());
            out.write_all(&table_row(&[Some(&a), Some(&b), (i % 3 != 0).then_some("x,y")])).unwrap();
        }
        out.flush().unwrap();
    }
    let open = |page: u64| alice.ok(&format!("filesystem/openFile?path={}&page={page}&pageSize=200", uri(&table)));
    let first = open(1);
    assert_eq!(
        (first["totalLine"].clone(), first["fileContent"][0].clone()),
        (json!(200), json!(["r0c0", "0", "NULL"]))
    );
    let deep = open(2500);
    assert_eq!(deep["totalLine"], 200);
    assert_eq!(deep["fileContent"][0], json!(["r499800c0", "499800", "NULL"]));
    assert_eq!(deep["fileContent"][199], json!(["r499999c0", "499999", "x,y"]));
    assert_eq!(open(5001)["totalLine"], 0);

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("million.csv");
    // The peak is reset to what is resident now (clear_refs 5, allowed on our own child), so
    // that the peak after the download, less the resident before it, is what it cost.
    std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").unwrap();
    let before = proc_status(server.pid(), "VmRSS");
    let (status, _, _) =
        download(&server, "alice", &format!("filesystem/resultsetToExcel?path={}", uri(&table)), &file);
    let grew_kib = proc_status(server.pid(), "VmHWM").saturating_sub(before);
    assert_eq!(status, 200);
    assert!(std::fs::metadata(&file).unwrap().len() > 20_000_000);
    assert!(grew_kib < 16 * 1024, "the server's peak memory grew by {grew_kib} KiB during a 1,000,000-row download");
    let summary = python(
        "import csv, json, sys\n\
         rows = list(csv.reader(open(sys.argv[1], newline='')))\n\
         print(json.dumps([len(rows), rows[0], rows[1], rows[2], rows[-1]]))",
        &file,
    );
    assert_eq!(
        summary,
        json!([
            1_000_001,
            ["a", "b", "c"],
            ["r0c0", "0", "NULL"],
            ["r1c0", "1", "x,y"],
            ["r999999c0", "999999", "NULL"]
        ])
    );
}
