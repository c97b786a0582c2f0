//! Unit tests of the job history: inserts, updates, list filters on their indexes, upgrades.

use super::*;

fn record(task_id: u64, user: &str, created_ms: u64, status: &str) -> JobRecord {
    JobRecord {
        task_id,
        exec_id: format!("exec_{task_id}"),
        short_id: format!("IDE_{user}_shell_{task_id}"),
        submit_user: user.into(),
        execute_user: user.into(),
        creator: "IDE".into(),
        engine: "shell".into(),
        engine_type: "shell-1".into(),
        run_type: "shell".into(),
        code: "echo".into(),
        params: "{}".into(),
        source: "{}".into(),
        status: status.into(),
        created_ms,
        updated_ms: created_ms,
        ..JobRecord::default()
    }
}

const ENDED: &[&str] = &["Succeed", "Failed", "Cancelled", "Timeout"];

fn all(page_size: u64) -> ListFilter {
    ListFilter { end_ms: u64::MAX >> 1, page: 1, page_size, ..ListFilter::default() }
}

#[test]
fn rows_round_trip_and_ended_rows_stay_ended() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    assert_eq!(history.next_task_id().unwrap(), 1);
    assert_eq!(history.instance_id().len(), 16);
    let mut row = record(1, "alice", 1000, "Inited");
    row.err_desc = Some("ünïcode".into());
    history.insert(row.clone()).unwrap();
    assert_eq!(history.get(1).unwrap().unwrap(), row);
    assert_eq!(history.find_exec_id("exec_1").unwrap().unwrap().task_id, 1);
    assert_eq!(history.next_task_id().unwrap(), 2);

    let done = JobUpdate {
        status: Some("Succeed".into()),
        ended: Some(true),
        progress: Some(1.0),
        updated_ms: 2000,
        exit_code: Some(0),
        ..JobUpdate::default()
    };
    history.update(1, done, true).unwrap();
    let late = JobUpdate { status: Some("Cancelled".into()), updated_ms: 3000, ..JobUpdate::default() };
    history.update(1, late, true).unwrap();
    let row = history.get(1).unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.exit_code, row.updated_ms), ("Succeed", Some(0), 2000));
    assert!(history.get(2).unwrap().is_none());
}

#[test]
fn a_version_1_history_is_upgraded_with_its_ended_rows_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    {
        let conn = Connection::open(&path).unwrap();
        let v1 = SCHEMA
            .replace("    ended              INTEGER NOT NULL DEFAULT 0,\n", "")
            .replace("CREATE INDEX IF NOT EXISTS jobs_not_ended ON jobs(id) WHERE ended = 0;", "");
        conn.execute_batch(&v1).unwrap();
        conn.execute_batch(
            "CREATE INDEX jobs_unfinished ON jobs(status) WHERE status IN ('Inited'); PRAGMA user_version = 1;",
        )
        .unwrap();
        for (id, status) in [(1, "Succeed"), (2, "Inited"), (3, "Running"), (4, "Timeout")] {
            conn.execute(
                "INSERT INTO jobs (id, exec_id, short_id, instance, submit_user, execute_user, creator, engine, \
                 engine_type, run_type, code, params, source, log_path, result_dir, work_dir, status, created_ms, \
                 updated_ms) VALUES (?1, ?1, 's', 'i', 'u', 'u', 'IDE', 'shell', 'shell-1', 'shell', 'x', '{}', '{}', \
                 'l', 'r', 'w', ?2, 1, 1)",
                rusqlite::params![id, status],
            )
            .unwrap();
        }
    }
    let history = History::open(&path, ENDED).unwrap();
    let unfinished: Vec<u64> = history.unfinished().unwrap().iter().map(|r| r.task_id).collect();
    assert_eq!(unfinished, [2, 3]);
    let late = JobUpdate { status: Some("Cancelled".into()), updated_ms: 9, ..JobUpdate::default() };
    history.update(4, late, true).unwrap();
    assert_eq!(history.get(4).unwrap().unwrap().status, "Timeout", "an ended row stays ended");
    assert!(history.get(1).unwrap().unwrap().ended);
}

#[test]
fn list_filters_pages_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    for i in 1..=30u64 {
        let user = if i % 3 == 0 { "bob" } else { "alice" };
        let status = if i % 5 == 0 { "Failed" } else { "Succeed" };
        history.insert(record(i, user, 1000 + i, status)).unwrap();
    }
    let (page, total) = history.list(&ListFilter { user: Some("alice".into()), ..all(7) }).unwrap();
    assert_eq!(total, 20);
    assert_eq!(page.len(), 7);
    assert_eq!(page[0].task_id, 29, "newest first");
    let (page3, _) = history.list(&ListFilter { user: Some("alice".into()), page: 3, ..all(7) }).unwrap();
    assert_eq!(page3.len(), 6);
    let (failed, total) = history.list(&ListFilter { statuses: vec!["Failed".into()], ..all(100) }).unwrap();
    assert_eq!(total, 6);
    assert!(failed.iter().all(|r| r.status == "Failed"));
    let (window, total) = history.list(&ListFilter { start_ms: 1010, end_ms: 1020, ..all(100) }).unwrap();
    assert_eq!((total, window.len()), (10, 10));
    let (one, total) = history.list(&ListFilter { task_id: Some(9), ..all(100) }).unwrap();
    assert_eq!((total, one[0].execute_user.as_str()), (1, "bob"));
}

#[test]
fn list_queries_use_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("history.db"), ENDED).unwrap();
    let own = history.explain_list(&ListFilter { user: Some("alice".into()), ..all(20) }).unwrap();
    assert!(own.contains("USING INDEX jobs_by_user_time"), "{own}");
    let everyone = history.explain_list(&all(20)).unwrap();
    assert!(everyone.contains("USING INDEX jobs_by_time"), "{everyone}");
    let failed = vec!["Failed".to_string()];
    let own_failed =
        history.explain_list(&ListFilter { user: Some("alice".into()), statuses: failed.clone(), ..all(20) }).unwrap();
    assert!(own_failed.contains("USING INDEX jobs_by_user_status_time"), "{own_failed}");
    let all_failed = history.explain_list(&ListFilter { statuses: failed, ..all(20) }).unwrap();
    assert!(all_failed.contains("USING INDEX jobs_by_status_time"), "{all_failed}");
    for filter in [ListFilter { user: Some("alice".into()), ..all(20) }, all(20)] {
        assert!(!history.explain_list(&filter).unwrap().contains("SCAN jobs\n"), "no full table scan");
    }
}

#[test]
fn rows_are_read_in_the_order_the_select_names_their_columns() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(super::schema::SCHEMA).unwrap();
    let stmt = conn.prepare(&format!("SELECT {} FROM jobs", crate::storage::job_row::column_list())).unwrap();
    let named: Vec<&str> = JobRecord::COLUMNS.iter().map(|(name, _)| *name).collect();
    assert_eq!(stmt.column_names(), named);
}
