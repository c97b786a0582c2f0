//! Log paging: every line exactly once, in order, whatever the page size.

use std::time::{Duration, Instant};

use crate::helper::{Portico, PATIENCE};

#[test]
fn paging_a_ten_thousand_line_log_sees_every_line_once_in_order() {
    let server = Portico::start();
    let (exec_id, _) = server.submit_shell("i=1; while [ $i -le 10000 ]; do echo \"line $i\"; i=$((i+1)); done");
    // Page while the job is still writing, then drain what is left once it has ended: a job
    // whose state is terminal has flushed its last line, so an empty page after that is the end.
    let mut lines = Vec::new();
    let mut from = 0u64;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ended = matches!(server.state(&exec_id).as_str(), "Succeed" | "Failed");
        let data = server.ok(&format!("entrance/{exec_id}/log?fromLine={from}&size=100"));
        let next = data["fromLine"].as_u64().unwrap();
        assert!(next >= from, "fromLine went backwards");
        let all = data["log"][3].as_str().unwrap();
        if !all.is_empty() {
            let page: Vec<&str> = all.split('\n').collect();
            assert!(page.len() <= 100, "page of {} lines", page.len());
            assert_eq!(page.len() as u64, next - from.max(1), "fromLine advances by the lines returned");
            lines.extend(page.into_iter().map(str::to_string));
        } else if ended {
            break;
        }
        assert!(Instant::now() < deadline, "timed out paging the log");
        if all.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        from = next;
    }
    let job_lines: Vec<&String> = lines.iter().filter(|l| l.starts_with("line ")).collect();
    let expected: Vec<String> = (1..=10_000).map(|i| format!("line {i}")).collect();
    assert_eq!(job_lines.len(), 10_000);
    assert!(job_lines.iter().zip(&expected).all(|(a, b)| *a == b), "lines out of order or repeated");
    assert!(lines.last().unwrap().contains("Congratulations"), "{:?}", lines.last());
    assert_eq!(lines.len(), server.log_lines(&exec_id).len(), "paging by 100 and by 500 agree");
}

#[test]
fn log_levels_split_into_four_slots_and_distinct_level_false_gives_one_string() {
    let server = Portico::start();
    let (exec_id, _) = server.submit_shell("echo out; echo '2024-05-01 10:07:33.007 WARN careful'; exit 3");
    assert_eq!(server.wait_done(&exec_id), "Failed");
    let data = server.ok(&format!("entrance/{exec_id}/log?size=-1"));
    let slots: Vec<&str> = data["log"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(slots[0].contains("ERROR Sorry, your job executed failed") && !slots[0].contains("out"), "{}", slots[0]);
    assert_eq!(slots[1], "2024-05-01 10:07:33.007 WARN careful");
    assert!(slots[2].contains("\nout\n") && !slots[2].contains("\n2024-05-01 10:07:33.007 WARN"), "{}", slots[2]);
    assert_eq!(slots[3].lines().count(), data["fromLine"].as_u64().unwrap() as usize - 1);

    let single = server.ok(&format!("entrance/{exec_id}/log?size=-1&distinctLevel=false"));
    assert_eq!(single["log"].as_str().unwrap(), slots[3]);

    let first = server.ok(&format!("entrance/{exec_id}/log?fromLine=0&size=3"));
    assert_eq!(first["fromLine"], 3, "slot 0 is Linkis's empty placeholder");
    assert_eq!(first["log"][3].as_str().unwrap().lines().count(), 2);
    let nothing = server.ok(&format!("entrance/{exec_id}/log?fromLine=5&size=0"));
    assert_eq!((nothing["fromLine"].as_u64(), nothing["log"][3].as_str()), (Some(5), Some("")));
}
