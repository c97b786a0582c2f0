//! Unit tests of the SQL engine's confinement: SQL reaches only the database it was given.

use super::*;

fn args(dir: &std::path::Path) -> Args {
    Args {
        database: dir.join("db.sqlite"),
        script: dir.join("job.sql"),
        result_dir: dir.join("result"),
        row_cap: 10,
        max_result_bytes: u64::MAX,
    }
}

#[test]
fn other_files_cannot_be_attached_written_or_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&args(dir.path())).unwrap();
    conn.execute_batch("create table t (a int); insert into t values (1);").unwrap();
    let other = dir.path().join("other.db");
    let attach = format!("attach database '{}' as other", other.display());
    assert!(conn.execute_batch(&attach).is_err(), "ATTACH must be refused");
    let vacuum = format!("vacuum into '{}'", other.display());
    assert!(conn.execute_batch(&vacuum).is_err(), "VACUUM INTO must be refused");
    assert!(!other.exists(), "no other file was created");
    assert!(conn.query_row("select load_extension('x')", [], |_| Ok(())).is_err());
}

#[test]
fn a_statement_writes_a_table_capped_at_the_row_cap() {
    let dir = tempfile::tempdir().unwrap();
    let args = args(dir.path());
    let conn = open(&args).unwrap();
    let statements =
        split::statements("select value, 'x' || value as label, null as empty from generate_series(1, 25)");
    // generate_series is not built in everywhere: fall back to a recursive CTE.
    let statement = match conn.prepare(&statements[0].text) {
        Ok(_) => &statements[0],
        Err(_) => &split::statements(
            "with recursive s(value) as (select 1 union all select value + 1 from s where value < 25) \
             select value, 'x' || value as label, null as empty from s",
        )[0],
    };
    let Done::Rows { rows, cut } = run(&conn, statement, &args).unwrap() else { panic!("rows expected") };
    assert!(matches!((rows, cut), (10, Some(Cut::Rows))));
    let mut reader = crate::storage::result_set::ResultReader::open(&args.result_dir.join("_0.dolphin")).unwrap();
    let kinds: Vec<&str> = reader.columns().iter().map(|c| c.data_type.as_str()).collect();
    assert_eq!(kinds, ["bigint", "string", "string"]);
    assert_eq!(reader.skip(100).unwrap(), 10);
}

#[test]
fn a_statement_writes_a_table_cut_at_the_size_cap() {
    let dir = tempfile::tempdir().unwrap();
    let args = Args { row_cap: 1_000_000, max_result_bytes: 8192, ..args(dir.path()) };
    let conn = open(&args).unwrap();
    let statement = &split::statements(
        "with recursive s(value) as (select 1 union all select value + 1 from s where value < 5000) \
         select value, 'label ' || value as label from s",
    )[0];
    let Done::Rows { rows, cut } = run(&conn, statement, &args).unwrap() else { panic!("rows expected") };
    assert!(matches!(cut, Some(Cut::Bytes(8192))), "cut by size");
    assert!(rows > 100 && rows < 5000, "{rows} rows kept");
    let path = args.result_dir.join("_0.dolphin");
    assert!(std::fs::metadata(&path).unwrap().len() <= 8192);
    let mut reader = crate::storage::result_set::ResultReader::open(&path).unwrap();
    assert_eq!(reader.skip(u64::MAX).unwrap(), rows, "every kept row is whole");
    assert!(crate::storage::result_set::was_cut(&path));
}
