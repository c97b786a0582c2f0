//! Result sets and logs through the filesystem endpoints, and the paths nobody may reach.

use std::os::unix::fs::symlink;

use serde_json::json;

use crate::helper::{Portico, MULTI_USER_CONFIG};

fn result_location(client: &crate::helper::Client, task_id: u64) -> String {
    client.ok(&format!("jobhistory/{task_id}/get"))["task"]["resultLocation"].as_str().unwrap().to_string()
}

#[test]
fn result_sets_are_listed_and_paged() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let (exec_id, task_id) = alice.submit_shell("i=1; while [ $i -le 25 ]; do echo \"row $i\"; i=$((i+1)); done");
    assert_eq!(alice.wait_done(&exec_id), "Succeed");
    let location = result_location(&alice, task_id);

    let tree = alice.ok(&format!("filesystem/getDirFileTrees?path={location}"))["dirFileTrees"].clone();
    assert_eq!(tree["name"], task_id.to_string());
    assert_eq!(tree["isLeaf"], false);
    let children = tree["children"].as_array().unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0]["name"], "_0.dolphin");
    assert_eq!(children[0]["isLeaf"], true);
    assert_eq!(children[0]["parentPath"], location.as_str());
    let path = children[0]["path"].as_str().unwrap().to_string();
    assert!(children[0]["properties"]["size"].as_str().unwrap().parse::<u64>().unwrap() > 0);

    let page = alice.ok(&format!("filesystem/openFile?path={path}&page=2&pageSize=10"));
    assert_eq!(page["type"], "1");
    assert_eq!(page["metadata"], "NULL");
    assert_eq!(page["page"], 2);
    assert_eq!(page["totalLine"], 10);
    let rows: Vec<String> = (11..=20).map(|i| format!("row {i}")).collect();
    assert_eq!(page["fileContent"], json!(rows.iter().map(|r| vec![r]).collect::<Vec<_>>()));
    assert_eq!(alice.ok(&format!("filesystem/openFile?path={path}&page=3&pageSize=10"))["totalLine"], 5);
    assert_eq!(alice.ok(&format!("filesystem/openFile?path={path}"))["totalLine"], 25);

    let missing = alice.ok(&format!("filesystem/getDirFileTrees?path={location}/nothing"));
    assert_eq!(missing["dirFileTrees"], serde_json::Value::Null);
}

#[test]
fn a_job_without_results_lists_an_empty_result_directory() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let (exec_id, task_id) = alice.submit_shell("true");
    assert_eq!(alice.wait_done(&exec_id), "Succeed");
    let location = result_location(&alice, task_id);
    // The directory is made with the first result set, so a job without one has none on
    // disk (an inode fewer per trivial job); clients still see it, empty.
    let on_disk = location.strip_prefix("file://").unwrap();
    assert!(!std::path::Path::new(on_disk).exists(), "{on_disk}");

    let tree = alice.ok(&format!("filesystem/getDirFileTrees?path={location}"))["dirFileTrees"].clone();
    assert_eq!(tree["name"], task_id.to_string());
    assert_eq!(tree["path"], location.as_str());
    assert_eq!(tree["isLeaf"], false);
    assert_eq!(tree["children"], json!([]));
    let (http, body) = alice.get(&format!("filesystem/resultsetsToExcel?path={location}"));
    assert_eq!((http, &body["data"]["errorMsg"]["errCode"]), (400, &json!(80029)), "{body}");
    // Someone else's is still refused, and a path below it is still simply not there.
    let bob = server.as_user("bob");
    let (http, body) = bob.get(&format!("filesystem/getDirFileTrees?path={location}"));
    assert_eq!((http, &body["data"]["errorMsg"]["errCode"]), (400, &json!(80010)), "{body}");
    let below = alice.ok(&format!("filesystem/getDirFileTrees?path={location}/_0.dolphin"));
    assert_eq!(below["dirFileTrees"], serde_json::Value::Null);
}

#[test]
fn open_log_returns_a_whole_log_in_four_slots() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let (exec_id, task_id) = alice.submit_shell("echo out; exit 4");
    assert_eq!(alice.wait_done(&exec_id), "Failed");
    let log_path = alice.ok(&format!("jobhistory/{task_id}/get"))["task"]["logPath"].as_str().unwrap().to_string();
    let log = alice.ok(&format!("filesystem/openLog?path={log_path}"))["log"].clone();
    let slots: Vec<&str> = log.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(slots.len(), 4);
    assert!(slots[3].ends_with("You can view logs for the reason.\n"), "lines keep their newline: {:?}", slots[3]);
    assert!(slots[3].contains("\nout\n"));
    assert!(slots[0].contains("exited with code 4") && !slots[0].contains("INFO"), "{}", slots[0]);
    let errors_only = alice.ok(&format!("filesystem/openLog?path={log_path}&logLevel=error"))["log"].clone();
    assert_eq!(errors_only[2], "");
    assert_eq!(errors_only[0], slots[0]);
}

#[test]
fn paths_outside_the_callers_own_trees_are_refused() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let bob = server.as_user("bob");
    let (exec_id, task_id) = alice.submit_shell("echo secret");
    assert_eq!(alice.wait_done(&exec_id), "Succeed");
    let location = result_location(&alice, task_id);
    let file = format!("{location}/_0.dolphin");
    let log_path = alice.ok(&format!("jobhistory/{task_id}/get"))["task"]["logPath"].as_str().unwrap().to_string();
    let data_dir = std::fs::canonicalize(&server.data_dir).unwrap();
    // A symlink inside alice's own result tree that points out of it.
    let link = std::path::Path::new(location.strip_prefix("file://").unwrap()).join("escape");
    symlink("/etc", &link).unwrap();

    let refused = |client: &crate::helper::Client, query: &str, code: &str| {
        let (http, body) = client.get(query);
        assert_eq!((http, body["status"].as_i64()), (400, Some(1)), "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(code), "{query}: {body}");
    };
    refused(&bob, &format!("filesystem/openFile?path={file}"), "80010");
    refused(&bob, &format!("filesystem/getDirFileTrees?path={location}"), "80010");
    refused(&bob, &format!("filesystem/openLog?path={log_path}"), "80010");
    refused(&alice, "filesystem/openFile?path=file:///etc/passwd", "80010");
    // Outside one's own tree, a path that does not exist is refused the same way: nothing
    // about the rest of the machine can be learnt.
    refused(&alice, "filesystem/getDirFileTrees?path=file:///no/such/dir", "80010");
    refused(
        &alice,
        &format!("filesystem/getDirFileTrees?path=file://{}/users/bob/result/nothing", data_dir.display()),
        "80010",
    );
    refused(&alice, &format!("filesystem/getDirFileTrees?path=file://{}", link.display()), "80010");
    refused(&alice, &format!("filesystem/openFile?path=file://{}/passwd", link.display()), "80010");
    refused(&alice, &format!("filesystem/openFile?path={location}/../../../../bob"), "80026");
    refused(&alice, "filesystem/openFile?path=/etc/passwd", "80025");
    refused(&alice, "filesystem/openFile?path=", "80004");
    refused(&alice, &format!("filesystem/openFile?path=file://{}/history.db", data_dir.display()), "80010");
    refused(&alice, &format!("filesystem/openFile?path={log_path}"), "80010");
    refused(&alice, &format!("filesystem/openLog?path={file}"), "80010");
    refused(&alice, &format!("filesystem/openFile?path={location}"), "not a result set");

    // Admins reach every user's results; the owner still reads her own.
    assert_eq!(server.ok(&format!("filesystem/openFile?path={file}"))["fileContent"], json!([["secret"]]));
    assert_eq!(alice.ok(&format!("filesystem/openFile?path={file}"))["fileContent"], json!([["secret"]]));
}
