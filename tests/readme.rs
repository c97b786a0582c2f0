//! The README's first-job snippets, run as written under `sh` against a real server: a
//! newcomer's first paste must work.

use std::process::Command;

use crate::helper::Portico;

/// The `sh` code blocks of the README section `heading`, in order.
fn snippets(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("\n## ").find(|s| s.starts_with(heading)).expect("README section");
    section.split("```sh\n").skip(1).map(|block| block.split("```").next().unwrap().to_string()).collect()
}

fn run_sh(script: &str, server: &Portico, dir: &std::path::Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("DATA", &server.data_dir)
        .env("API", format!("{}/api/rest_j/v1", server.base))
        .output()
        .expect("run sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "the snippet failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn the_first_job_snippets_work_as_pasted_under_sh() {
    let server = Portico::start();
    let scratch = tempfile::tempdir().unwrap();
    let blocks = snippets("A first job with curl");
    assert_eq!(blocks.len(), 2, "a token snippet and a login snippet");

    let out = run_sh(&blocks[0], &server, scratch.path());
    let answers: Vec<serde_json::Value> =
        out.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(answers.iter().all(|a| a["status"] == 0), "every answer succeeds: {out}");
    assert_eq!(answers[0]["data"]["taskID"], 1);
    assert!(answers.iter().any(|a| a["data"]["status"] == "Succeed"), "{out}");
    assert!(answers.iter().any(|a| a["data"]["log"][3].as_str().is_some_and(|l| l.contains("hello"))), "{out}");
    let tree = answers.iter().find(|a| a["data"]["dirFileTrees"].is_object()).expect("a listing");
    assert_eq!(tree["data"]["dirFileTrees"]["children"][0]["name"], "_0.dolphin");
    let page = answers.last().unwrap();
    assert_eq!(page["data"]["fileContent"], serde_json::json!([["hello"], ["world"]]));

    let out = run_sh(&blocks[1], &server, scratch.path());
    let answers: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), 3, "{out}");
    assert!(answers.iter().all(|a| a["status"] == 0), "login, userInfo and logout succeed: {out}");
    assert_eq!(answers[1]["data"]["userName"], "hadoop");
}

#[test]
fn the_command_line_snippet_works_as_pasted_under_sh() {
    let server = Portico::start();
    let scratch = tempfile::tempdir().unwrap();
    let blocks = snippets("The command line");
    assert_eq!(blocks.len(), 1, "one snippet");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_portico")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .arg("-c")
        .arg(&blocks[0])
        .current_dir(scratch.path())
        .env("DATA", &server.data_dir)
        .env("PATH", path)
        .env("PORTICO_URL", &server.base)
        .env("PORTICO_CLIENT_CONFIG", "/dev/null")
        .env_remove("PORTICO_USER")
        .output()
        .expect("run sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the snippet failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..6],
        ["hello", "world", "a  b", "-  -", "1  x", "id  state    engine  user    created              duration"]
    );
    assert!(lines[8].starts_with("1   Succeed  shell   hadoop"), "{stdout}");
}
