//! Job history: one job's record and the filtered, paged list, scoped to the caller.

use serde_json::json;

use crate::helper::{Portico, MULTI_USER_CONFIG};

#[test]
fn history_get_returns_the_linkis_record() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let (exec_id, task_id) = alice.submit_shell("echo hello");
    assert_eq!(alice.wait_done(&exec_id), "Succeed");
    let task = alice.ok(&format!("jobhistory/{task_id}/get"))["task"].clone();
    assert_eq!(task["taskID"], task_id);
    assert_eq!(task["status"], "Succeed");
    assert_eq!(task["progress"], "1.0");
    assert_eq!(task["umUser"], "alice");
    assert_eq!(task["executeUser"], "alice");
    assert_eq!(task["strongerExecId"], exec_id.as_str());
    assert_eq!(task["execId"], format!("IDE_alice_shell_{task_id}"));
    assert_eq!(task["engineType"], "shell");
    assert_eq!(task["runType"], "shell");
    assert_eq!(task["requestApplicationName"], "IDE");
    assert!(task["createdTime"].is_u64() && task["updatedTime"].is_u64(), "{task}");
    assert_eq!(task["labels"], json!(["engineType:shell-1", "codeType:shell", "userCreator:alice-IDE"]));
    assert!(task["resultLocation"].as_str().unwrap().starts_with("file:///"), "{task}");
    assert!(task["logPath"].as_str().unwrap().ends_with(&format!("/{task_id}.log")), "{task}");
    assert_eq!(task["errCode"], serde_json::Value::Null);

    let (code, body) = server.as_user("bob").get(&format!("jobhistory/{task_id}/get"));
    assert_eq!((code, body["status"].as_i64()), (400, Some(1)), "bob cannot see alice's job: {body}");
    assert!(body["message"].as_str().unwrap().contains("no permission to view the job"));
    assert_eq!(server.ok(&format!("jobhistory/{task_id}/get"))["task"]["taskID"], task_id, "the admin can");
    let (code, _) = alice.get("jobhistory/99999/get");
    assert_eq!(code, 400);
    let (code, _) = alice.get("jobhistory/abc/get");
    assert_eq!(code, 400);
}

#[test]
fn history_list_filters_pages_and_scopes() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let bob = server.as_user("bob");
    let mut ids = Vec::new();
    for code in ["true", "true", "exit 1", "true", "exit 2"] {
        ids.push(alice.submit_shell(code).0);
    }
    ids.push(
        alice
            .submit(
                &json!({"executeApplicationName": "python", "executionCode": "pass", "requestApplicationName": "nb"}),
            )
            .0,
    );
    ids.push(bob.submit_shell("true").0);
    for id in &ids {
        server.wait_done(id);
    }
    let list = |client: &crate::helper::Client, query: &str| client.ok(&format!("jobhistory/list?{query}"));

    let all = list(&alice, "");
    assert_eq!(all["totalPage"], 6, "totalPage is Linkis's total record count");
    let tasks = all["tasks"].as_array().unwrap();
    assert!(tasks.iter().all(|t| t["executeUser"] == "alice"));
    assert!(tasks.windows(2).all(|w| w[0]["taskID"].as_u64() > w[1]["taskID"].as_u64()), "newest first");

    assert_eq!(list(&alice, "status=Failed")["totalPage"], 2);
    assert_eq!(list(&alice, "status=Failed,Succeed")["totalPage"], 6);
    let page = list(&alice, "pageSize=4&pageNow=2");
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(page["totalPage"], 6);
    assert_eq!(list(&alice, "executeApplicationName=python")["totalPage"], 1);
    assert_eq!(list(&alice, "creator=nb")["tasks"][0]["requestApplicationName"], "nb");
    assert_eq!(list(&alice, "runType=shell")["totalPage"], 5);
    let first = tasks.last().unwrap()["taskID"].as_u64().unwrap();
    assert_eq!(list(&alice, &format!("taskID={first}"))["totalPage"], 1);
    assert_eq!(list(&alice, "startDate=0&endDate=1")["totalPage"], 0);

    assert_eq!(list(&bob, "")["totalPage"], 1);
    assert_eq!(list(&bob, "isAdminView=true")["totalPage"], 1, "isAdminView means nothing for non-admins");
    assert_eq!(list(&server, "")["totalPage"], 0, "the admin's own jobs");
    assert_eq!(list(&server, "isAdminView=true")["totalPage"], 7);
    assert_eq!(list(&server, "proxyUser=bob")["totalPage"], 1);

    for bad in ["status=Done", "pageSize=abc", "creator=../x", "pageSize=100000"] {
        let (code, body) = alice.get(&format!("jobhistory/list?{bad}"));
        assert_eq!((code, body["status"].as_i64()), (400, Some(1)), "{bad}: {body}");
    }
}
