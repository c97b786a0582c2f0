//! Unit tests of the job log: writing, the sparse line index, paging, torn-log repair.

use super::*;

#[test]
fn classifies_like_linkis() {
    assert_eq!(classify("2024-05-01 10:07:33.007 ERROR boom"), Level::Error);
    assert_eq!(classify("2024-05-01 10:07:33.007 SYSTEM-WARN careful"), Level::Warn);
    assert_eq!(classify("2024-05-01 10:07:33 INFO fine"), Level::Info);
    assert_eq!(classify("ERROR not stamped"), Level::Info);
    assert_eq!(classify("2024-05-01 10:07:33.007 ERRORS x"), Level::Info);
    assert_eq!(classify("é"), Level::Info);
}

#[test]
fn pages_cover_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.log");
    let mut writer = LogWriter::create(&path).unwrap();
    for i in 1..=1000 {
        writer.line(format!("line {i}").as_bytes()).unwrap();
    }
    writer.flush().unwrap();
    assert_eq!(count_lines(&path).unwrap(), 1000);

    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let page = read_page(&path, from, 37).unwrap();
        if page.lines.is_empty() {
            break;
        }
        seen.extend(page.lines);
        from = page.next_from;
    }
    let expected: Vec<String> = (1..=1000).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, expected);

    let page = read_page(&path, 600, 2).unwrap();
    assert_eq!(page.lines, ["line 600", "line 601"]);
    assert_eq!(page.next_from, 602);
    assert!(read_page(&path, 1001, 10).unwrap().lines.is_empty());
}

#[test]
fn a_reopened_log_keeps_counting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("2.log");
    let mut writer = LogWriter::create(&path).unwrap();
    for i in 0..300 {
        writer.line(format!("{i}").as_bytes()).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    let mut writer = LogWriter::append_to(&path).unwrap();
    assert_eq!(writer.lines(), 300);
    for i in 300..600 {
        writer.line(format!("{i}").as_bytes()).unwrap();
    }
    writer.flush().unwrap();
    assert_eq!(read_page(&path, 513, 1).unwrap().lines, ["512"]);
}

#[test]
fn a_log_torn_by_a_crash_is_repaired_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("3.log");
    let mut writer = LogWriter::create(&path).unwrap();
    for i in 0..256 {
        writer.line(format!("{i}").as_bytes()).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    // A crash mid-line: the index made for line 257 reached the disk, half the line did.
    let start = std::fs::metadata(&path).unwrap().len();
    let entries: Vec<u8> = [0u64, start].iter().flat_map(|o| o.to_le_bytes()).collect();
    std::fs::write(index_path(&path), entries).unwrap();
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"half a li").unwrap();

    let mut writer = LogWriter::append_to(&path).unwrap();
    assert_eq!(writer.lines(), 256);
    writer.line(b"after the restart").unwrap();
    writer.flush().unwrap();
    assert_eq!(read_page(&path, 256, 3).unwrap().lines, ["255", "after the restart"]);
    assert_eq!(count_lines(&path).unwrap(), 257);
}

#[test]
fn an_index_left_behind_by_a_crash_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("4.log");
    let mut writer = LogWriter::create(&path).unwrap();
    for i in 1..=1000 {
        writer.line(format!("{i}").as_bytes()).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    // The log reached the disk but only the first index entry did, plus half of the next.
    let index = std::fs::OpenOptions::new().write(true).open(index_path(&path)).unwrap();
    index.set_len(12).unwrap();

    let mut writer = LogWriter::append_to(&path).unwrap();
    assert_eq!(writer.lines(), 1000);
    writer.line(b"1001").unwrap();
    writer.flush().unwrap();
    assert_eq!(std::fs::metadata(index_path(&path)).unwrap().len(), 4 * 8);
    for start in [1u64, 255, 256, 257, 513, 769, 998] {
        let expected: Vec<String> = (start..start + 4).map(|i| i.to_string()).collect();
        assert_eq!(read_page(&path, start, 4).unwrap().lines, expected, "from line {start}");
    }
    assert_eq!(count_lines(&path).unwrap(), 1001);
}

#[test]
fn a_short_log_has_no_index_until_it_needs_a_second_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("5.log");
    let mut writer = LogWriter::create(&path).unwrap();
    for i in 1..=INDEX_STRIDE {
        writer.line(format!("{i}").as_bytes()).unwrap();
    }
    writer.flush().unwrap();
    assert!(!index_path(&path).exists(), "{INDEX_STRIDE} lines need no index");
    assert_eq!(read_page(&path, 200, 2).unwrap().lines, ["200", "201"]);
    // Reopened (as the worker does after admission) it still makes none...
    drop(writer);
    let mut writer = LogWriter::append_to(&path).unwrap();
    assert!(!index_path(&path).exists());
    // ...until the next line needs the second entry: then both are written.
    let offset = std::fs::metadata(&path).unwrap().len();
    writer.line(b"next").unwrap();
    writer.flush().unwrap();
    let index = std::fs::read(index_path(&path)).unwrap();
    let entries: Vec<u64> = index.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(entries, [0, offset]);
    assert_eq!(read_page(&path, INDEX_STRIDE + 1, 5).unwrap().lines, ["next"]);
}

#[test]
fn a_log_created_again_loses_the_index_of_its_old_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("6.log");
    let mut writer = LogWriter::create(&path).unwrap();
    for i in 0..1000 {
        writer.line(format!("old {i}").as_bytes()).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    assert!(index_path(&path).exists());
    let mut writer = LogWriter::create(&path).unwrap();
    writer.line(b"new").unwrap();
    writer.flush().unwrap();
    assert!(!index_path(&path).exists(), "the old index would point into lines that are gone");
    assert_eq!(read_page(&path, 1, 5).unwrap().lines, ["new"]);
    assert!(read_page(&path, 600, 5).unwrap().lines.is_empty());
}

#[test]
fn a_log_is_created_with_its_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day").join("7.log");
    let mut writer = LogWriter::create(&path).unwrap();
    writer.line(b"first").unwrap();
    writer.flush().unwrap();
    assert_eq!(read_page(&path, 1, 1).unwrap().lines, ["first"]);
}

#[test]
fn split_fills_four_slots() {
    let split =
        LevelSplit::of(&["2024-05-01 10:07:33.007 ERROR bad", "out", "", "2024-05-01 10:07:33.007 WARN hm"], false);
    assert_eq!(split.error, "2024-05-01 10:07:33.007 ERROR bad");
    assert_eq!(split.warn, "2024-05-01 10:07:33.007 WARN hm");
    assert_eq!(split.info, "out");
    assert_eq!(split.all.lines().count(), 4);
}

#[test]
fn a_held_log_makes_no_file_until_asked_and_then_the_same_file_a_written_one_would() {
    let dir = tempfile::tempdir().unwrap();
    let (held_path, written_path) = (dir.path().join("day/1.log"), dir.path().join("2.log"));
    let mut held = LogWriter::held(&held_path, Vec::new());
    let mut written = LogWriter::create(&written_path).unwrap();
    for writer in [&mut held, &mut written] {
        writer.line(b"first").unwrap();
        writer.line(b"second").unwrap();
        writer.flush().unwrap();
    }
    assert!(!held_path.exists() && !dir.path().join("day").exists(), "held: no file, no folder");
    assert_eq!(held.held_bytes(), Some(&b"first\nsecond\n"[..]));
    // Taken up again from the bytes a history row kept: it goes on where it stopped.
    let mut held = LogWriter::held(&held_path, held.held_bytes().unwrap().to_vec());
    held.make_file().unwrap();
    assert_eq!(held.held_bytes(), None);
    for writer in [&mut held, &mut written] {
        writer.line(b"third").unwrap();
        writer.flush().unwrap();
    }
    assert_eq!(std::fs::read(&held_path).unwrap(), std::fs::read(&written_path).unwrap());
    assert_eq!(read_page(&held_path, 3, 1).unwrap().lines, ["third"]);
}

#[test]
fn a_held_log_becomes_a_file_before_its_index_would_be_needed_or_it_grows_large() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.log");
    let mut log = LogWriter::held(&path, Vec::new());
    for i in 1..INDEX_STRIDE {
        log.line(format!("line {i}").as_bytes()).unwrap();
    }
    assert!(log.held_bytes().is_some(), "{} lines are still held", INDEX_STRIDE - 1);
    for i in INDEX_STRIDE..=1000 {
        log.line(format!("line {i}").as_bytes()).unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.held_bytes(), None);
    assert_eq!(read_page(&path, 999, 5).unwrap().lines, ["line 999", "line 1000"]);
    assert_eq!(count_lines(&path).unwrap(), 1000);

    let path = dir.path().join("2.log");
    let mut log = LogWriter::held(&path, Vec::new());
    log.line(&[b'x'; 20 * 1024]).unwrap();
    assert_eq!(log.held_bytes(), None, "a 20 KiB line is not held");
    assert!(path.exists());
}

#[test]
fn an_ended_jobs_held_log_is_made_once_and_a_file_already_there_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users/alice/log/2026-12-03/7.log");
    make_held_file(&path, b"a\nb\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"a\nb\n");
    make_held_file(&path, b"other\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"a\nb\n", "made once");
    let folder: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(folder, ["7.log"], "no part file is left behind");
    // A live job's held log meeting the file a reader made from its row keeps that file.
    let mut log = LogWriter::held(&path, b"a\nb\n".to_vec());
    log.make_file().unwrap();
    log.line(b"c").unwrap();
    log.flush().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"a\nb\nc\n");
}
