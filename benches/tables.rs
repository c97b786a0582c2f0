//! `cargo bench --bench tables`: TABLE result sets, each figure beside its ceiling.
//!
//! * rows per second the `TableResultWriter` writes for 1,000,000 rows of four columns, beside
//!   copying the same bytes (the disk's share of the work, which no encoder can beat);
//! * `openFile` at page 1 and at page 2,500 of 200 rows on that result, through the real
//!   server over loopback (ceiling 5 ms: a deep page must cost about what the first one does);
//! * that result downloaded as CSV and as XLSX: time, and how much the server's peak resident
//!   memory grows (ceiling 16 MB: a download is streamed, never held).
//!
//! * rows per second the `sqlite` engine writes for a `select` of 1,000,000 rows (the real
//!   `portico __sql-engine` process, result set synced), beside SQLite stepping the same query
//!   in this process and reading every value without writing anything.
//!
//! The server is the real release binary on 127.0.0.1 with a temporary data directory; every
//! loop is bounded in count and time.

use std::time::{Duration, Instant};

mod common;

use common::{millis, proc_status, quantile, start, Api};
use portico::{Column, TableResultWriter};

const ROWS: u64 = 1_000_000;
const PAGE_SIZE: u64 = 200;
const DEEP_PAGE: u64 = 2_500;
const SAMPLES: usize = 50;
const OPEN_FILE_CEILING: Duration = Duration::from_millis(5);
const DOWNLOAD_MEMORY_CEILING_KIB: u64 = 16 * 1024;

/// Downloads `path` into nothing; returns the bytes received.
fn drain(api: &Api, path: &str) -> u64 {
    std::io::copy(&mut api.call(path).into_reader(), &mut std::io::sink()).expect("download")
}

/// Runs `true` as the admin and returns the directory its results would go in.
fn finished_job_result_dir(api: &Api) -> std::path::PathBuf {
    let task = api.submit("true");
    api.wait_done(task, Instant::now() + Duration::from_secs(30));
    let location = api.get(&format!("jobhistory/{task}/get"))["data"]["task"]["resultLocation"]
        .as_str()
        .expect("resultLocation")
        .to_string();
    location.strip_prefix("file://").expect("file:// URI").into()
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "OVER"
    }
}

fn main() {
    let (server, _) = start(2);
    let api = Api::new(&server);
    let dir = finished_job_result_dir(&api);
    let columns = [
        Column::new("id", "bigint"),
        Column::new("name", "string"),
        Column::new("score", "double"),
        Column { name: "note".into(), data_type: "string".into(), comment: Some("NULL every tenth row".into()) },
    ];
    // Values prepared up front: the figure is the writer's, not the formatting of numbers.
    let values: Vec<[Option<String>; 4]> = (0..1000u64)
        .map(|i| {
            [
                Some((i * 7919).to_string()),
                Some(format!("name-{i:04}")),
                Some(format!("{}.{:03}", i / 3, i % 1000)),
                (i % 10 != 0).then(|| "a note of modest length".to_string()),
            ]
        })
        .collect();

    let started = Instant::now();
    let mut writer = TableResultWriter::create_next(&dir, &columns).expect("create");
    for i in 0..ROWS {
        writer.row(&values[(i % 1000) as usize]).expect("row");
    }
    let path = writer.finish().expect("finish");
    let wrote = started.elapsed();
    let size = std::fs::metadata(&path).expect("size").len();

    // The ceiling: the same bytes copied into a new file, synced the same way.
    let copy = dir.join("copy.bin");
    let started = Instant::now();
    let mut output = std::fs::File::create(&copy).expect("copy");
    std::io::copy(&mut std::fs::File::open(&path).expect("open"), &mut output).expect("copy");
    output.sync_data().expect("sync");
    let copied = started.elapsed();
    std::fs::remove_file(&copy).expect("remove copy");
    println!(
        "table writer: {:.0} rows/s for {ROWS} rows of 4 columns ({:.0} MB, finished and synced in {:.0} ms; \
         ceiling: copying the same bytes, {:.0} rows/s)",
        ROWS as f64 / wrote.as_secs_f64(),
        size as f64 / 1e6,
        millis(wrote),
        ROWS as f64 / copied.as_secs_f64()
    );

    let uri = format!("file://{}", path.display());
    for page in [1, DEEP_PAGE] {
        let query = format!("filesystem/openFile?path={uri}&page={page}&pageSize={PAGE_SIZE}");
        let first = api.get(&query);
        let expected_first_id = ((page - 1) * PAGE_SIZE % 1000 * 7919).to_string();
        assert_eq!(first["data"]["fileContent"][0][0].as_str(), Some(expected_first_id.as_str()), "page {page}");
        assert_eq!(first["data"]["totalLine"], PAGE_SIZE, "page {page}");
        let mut samples: Vec<Duration> = (0..SAMPLES)
            .map(|_| {
                let started = Instant::now();
                let body = api.get_text(&query);
                assert!(body.len() > 1000);
                started.elapsed()
            })
            .collect();
        let p50 = quantile(&mut samples, 0.5);
        let p99 = quantile(&mut samples, 0.99);
        println!(
            "openFile page {page} of {PAGE_SIZE} rows on {ROWS} rows: p50 {:.2} ms, p99 {:.2} ms \
             (ceiling {} ms) [{}]",
            millis(p50),
            millis(p99),
            OPEN_FILE_CEILING.as_millis(),
            verdict(p50 <= OPEN_FILE_CEILING)
        );
    }

    for (what, query) in [("CSV", "outputFileType=csv"), ("XLSX", "outputFileType=xlsx")] {
        // The peak is reset to what is resident now (clear_refs 5), so that the peak after the
        // download, less the resident before it, is what the download cost.
        std::fs::write(format!("/proc/{}/clear_refs", server.child.id()), "5").expect("reset the peak");
        let before = proc_status(server.child.id(), "VmRSS");
        let started = Instant::now();
        let bytes = drain(&api, &format!("filesystem/resultsetToExcel?path={uri}&{query}"));
        let took = started.elapsed();
        let grew = proc_status(server.child.id(), "VmHWM").saturating_sub(before);
        println!(
            "{what} download of {ROWS} rows: {:.0} MB in {:.0} ms; server peak memory grew {} KiB \
             (ceiling {} KiB) [{}]",
            bytes as f64 / 1e6,
            millis(took),
            grew,
            DOWNLOAD_MEMORY_CEILING_KIB,
            verdict(grew <= DOWNLOAD_MEMORY_CEILING_KIB)
        );
    }
    sql_engine(&dir);
}

/// The SQL engine end to end against SQLite alone on the same query.
fn sql_engine(dir: &std::path::Path) {
    const QUERY: &str = "with recursive s(x) as (select 1 union all select x + 1 from s where x < 1000000) \
                         select x as id, 'name-' || (x % 1000) as name, x * 0.5 as score from s";
    let work = tempfile::tempdir().expect("temp dir");
    let script = work.path().join("job.sql");
    std::fs::write(&script, QUERY).expect("script");
    let results = dir.join("sql-bench");
    let started = Instant::now();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .arg(portico::SQL_ENGINE_SUBCOMMAND)
        .arg("--database")
        .arg(work.path().join("bench.db"))
        .arg("--script")
        .arg(&script)
        .arg("--result-dir")
        .arg(&results)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run the SQL engine");
    let engine = started.elapsed();
    assert!(status.success());
    assert!(results.join("_0.dolphin").is_file());

    let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
    let started = Instant::now();
    let mut statement = conn.prepare(QUERY).expect("prepare");
    let mut rows = statement.raw_query();
    let mut count = 0u64;
    while let Some(row) = rows.next().expect("step") {
        for i in 0..3 {
            std::hint::black_box(row.get_ref(i).expect("value"));
        }
        count += 1;
    }
    let stepped = started.elapsed();
    assert_eq!(count, ROWS);
    let rate = ROWS as f64 / engine.as_secs_f64();
    let ceiling = ROWS as f64 / stepped.as_secs_f64();
    println!(
        "sqlite engine: {rate:.0} rows/s for a select of {ROWS} rows written as a result set (process start to \
         synced file, {:.0} ms; ceiling: SQLite stepping the query alone, {ceiling:.0} rows/s; ratio {:.2})",
        millis(engine),
        rate / ceiling
    );
}
