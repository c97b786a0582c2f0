//! Who may call what: login sessions, tokens, 401 everywhere without them, and nobody
//! touching another user's jobs.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::helper::{bootstrap_credentials, eventually, Portico, MULTI_USER_CONFIG, TEST_TOKEN};

/// Every protected endpoint with the method it takes; `{id}` is replaced by a job id.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "jobhistory/list"),
    ("GET", "jobhistory/1/get"),
    ("GET", "filesystem/getDirFileTrees?path=file:///tmp"),
    ("GET", "filesystem/openFile?path=file:///tmp/x"),
    ("GET", "filesystem/openLog?path=file:///tmp/x.log"),
    ("POST", "entrance/killJobs"),
    ("POST", "entrance/{id}/kill"),
    ("POST", "entrance/{id}/pause"),
    ("POST", "entrance/{id}/resume"),
    ("POST", "entrance/submit"),
    ("POST", "entrance/execute"),
    ("GET", "entrance/{id}/status"),
    ("GET", "entrance/{id}/progress"),
    ("GET", "entrance/{id}/progressWithResource"),
    ("GET", "entrance/{id}/log"),
    ("GET", "entrance/{id}/kill"),
    ("POST", "entrance/{id}/killJobs"),
    ("GET", "entrance/{id}/pause"),
    ("GET", "entrance/{id}/resume"),
    ("GET", "user/userInfo"),
    ("GET", "user/heartbeat"),
];

const SUBMIT_BODY: &str =
    r#"{"executionContent": {"code": "echo sneaky", "runType": "shell"}, "labels": {"engineType": "shell-1"}}"#;

#[test]
fn every_protected_endpoint_answers_401_without_credentials_and_creates_nothing() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let (exec_id, task_id) = server.submit_shell("true");
    let callers = [
        ("no credentials", server.anonymous()),
        ("a wrong token", server.anonymous().with_token("TEST-AUTH-wrong", "alice")),
        ("a token without user", server.anonymous().with_header("Token-Code", TEST_TOKEN)),
        (
            "a forged session",
            server.anonymous().with_header("Cookie", &format!("linkis_user_session_ticket_id_v1={}", "ab".repeat(36))),
        ),
    ];
    for (who, client) in &callers {
        for (verb, path) in PROTECTED {
            let path = path.replace("{id}", &exec_id);
            let (code, body) = if *verb == "POST" { client.post(&path, SUBMIT_BODY) } else { client.get(&path) };
            assert_eq!((code, body["status"].as_i64()), (401, Some(-1)), "{verb} {path} with {who}: {body}");
            assert!(
                body["message"].as_str().unwrap().contains("login")
                    || body["message"].as_str().unwrap().contains("Token"),
                "{body}"
            );
        }
    }
    // An unauthenticated body is refused before it is read, whatever its size.
    let huge = format!("{{\"executionCode\": \"{}\"}}", "x".repeat(11 * 1024 * 1024));
    let (code, body) = server.anonymous().post("entrance/execute", &huge);
    assert_eq!((code, body["status"].as_i64()), (401, Some(-1)), "{body}");
    // The refused submissions created nothing: the next job gets the next taskID.
    let (_, next) = server.submit_shell("true");
    assert_eq!(next, task_id + 1);
    assert_eq!(server.wait_done(&exec_id), "Succeed");
}

#[test]
fn login_sessions_work_until_logout() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let anonymous = server.anonymous();
    let (code, answer, cookie) =
        anonymous.post_full("user/login", &json!({"userName": "alice", "password": "alice-pass"}).to_string());
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["message"], "login successful(登录成功)！");
    assert_eq!(answer["data"]["userName"], "alice");
    assert_eq!(answer["data"]["isAdmin"], false);
    assert_eq!(answer["data"]["sessionTimeOut"], 3_600_000);
    let cookie = cookie.unwrap();
    assert!(cookie.starts_with("linkis_user_session_ticket_id_v1="), "{cookie}");
    let ticket = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string();

    let alice = anonymous.login("alice", "alice-pass");
    assert_eq!(alice.ok("user/userInfo")["userName"], "alice");
    let (exec_id, _) = alice.submit_shell("echo mine");
    assert_eq!(alice.wait_done(&exec_id), "Succeed");

    // The old cookie name works too.
    let old_style = anonymous.with_header("Cookie", &format!("bdp-user-ticket-id={ticket}"));
    assert_eq!(old_style.ok("user/userInfo")["userName"], "alice");

    let (_, again) = alice.post("user/login", &json!({"userName": "alice", "password": "alice-pass"}).to_string());
    assert!(again["message"].as_str().unwrap().contains("already logged in"), "{again}");

    let (code, bye) = alice.post("user/logout", "");
    assert_eq!((code, bye["message"].as_str()), (200, Some("Logout successful(退出登录成功)！")));
    let (code, after) = alice.get("user/userInfo");
    assert_eq!((code, after["status"].as_i64()), (401, Some(-1)), "{after}");

    let root = anonymous.login("root", "root-pass");
    assert_eq!(root.ok("user/userInfo")["isAdmin"], true);
}

#[test]
fn failed_logins_get_linkis_messages_and_are_slowed_down() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let anonymous = server.anonymous();
    let attempt = |user: &str, password: &str| {
        anonymous.post("user/login", &json!({"userName": user, "password": password}).to_string())
    };
    let (code, empty) = attempt("", "x");
    assert_eq!((code, empty["message"].as_str()), (400, Some("Username can not be empty(用户名不能为空)！")));
    let (_, blank) = attempt("alice", " ");
    assert_eq!(blank["message"], "Password can not be blank(密码不能为空)！");
    // The first three failures are answered plainly; after that the address must wait, and
    // every further failure doubles the wait (so a slow machine cannot outrun it here).
    for n in 1..=6 {
        let (code, wrong) = attempt("alice", "guess");
        if n <= 3 {
            assert_eq!(
                (code, wrong["message"].as_str()),
                (400, Some("wrong user name or password(用户名或密码错误)！"))
            );
        } else {
            assert!(code == 429 || code == 400, "{wrong}");
        }
    }
    let (code, throttled) = attempt("alice", "alice-pass");
    assert_eq!(code, 429, "after repeated failures even the right password waits: {throttled}");
    assert!(throttled["message"].as_str().unwrap().contains("try again in"), "{throttled}");
    let (code, body) = server.anonymous().post("user/login", "not json");
    assert!(code == 400 || code == 429, "{body}");
}

#[test]
fn unknown_users_are_refused_exactly_like_wrong_passwords() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let attempt =
        |user: &str| server.anonymous().post("user/login", &json!({"userName": user, "password": "nope"}).to_string());
    let (unknown_code, unknown) = attempt("nobody");
    let (wrong_code, wrong) = attempt("alice");
    assert_eq!(unknown_code, 400);
    assert_eq!((unknown_code, &unknown["message"]), (wrong_code, &wrong["message"]));
}

#[test]
fn sessions_expire_after_the_idle_timeout() {
    let config = MULTI_USER_CONFIG.replace("session_timeout_secs = 3600", "session_timeout_secs = 3");
    let server = Portico::start_with_config(&config, &[]);
    let alice = server.anonymous().login("alice", "alice-pass");
    assert_eq!(alice.ok("user/userInfo")["userName"], "alice");
    // Every use refreshes a session, so let alice's sit idle while a job measures out the time.
    let (clock, _) = server.submit_shell("sleep 3.5");
    assert_eq!(server.wait_done(&clock), "Succeed");
    let (code, expired) = alice.get("user/userInfo");
    assert_eq!(code, 401, "{expired}");
    assert_eq!(expired["message"], "Login has expired, please log in again!(登录已过期，请重新登录！)");
    let bob = server.anonymous().login("bob", "bob-pass");
    assert_eq!(bob.ok("user/userInfo")["userName"], "bob", "new logins still work");
}

#[test]
fn tokens_authenticate_by_header_or_cookie_within_their_limits() {
    let config = format!(
        "{MULTI_USER_CONFIG}\n[[tokens]]\ntoken = \"ONLY-BOB-FROM-AFAR\"\nusers = [\"bob\"]\nhosts = [\"10.9.9.9\"]\n\n\
         [[tokens]]\ntoken = \"EXPIRED-TOKEN-1\"\nusers = [\"*\"]\nexpires = \"2001-01-01T00:00:00Z\"\n"
    );
    let server = Portico::start_with_config(&config, &[]);
    assert_eq!(server.as_user("bob").ok("user/userInfo")["userName"], "bob");
    let by_cookie = server.anonymous().with_header("Cookie", &format!("Token-Code={TEST_TOKEN}; Token-User=alice"));
    assert_eq!(by_cookie.ok("user/userInfo")["userName"], "alice");

    for (code, user, reason) in [
        ("ONLY-BOB-FROM-AFAR", "bob", "not valid from this address"),
        ("EXPIRED-TOKEN-1", "bob", "expired"),
        ("TEST-AUTH-0123456789x", "bob", "not valid"),
    ] {
        let (status, body) = server.anonymous().with_token(code, user).get("user/userInfo");
        assert_eq!(status, 401, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("Token Authentication Failed") && message.contains(reason), "{message}");
        assert!(!message.contains(code), "the token must not be echoed: {message}");
    }
}

#[test]
fn nobody_reads_or_controls_another_users_job_but_admins_do() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let bob = server.anonymous().login("bob", "bob-pass");
    let (exec_id, task_id) = alice.submit_shell("sleep 300");
    alice.wait_state(&exec_id, "Running");

    for id in [exec_id.clone(), task_id.to_string()] {
        for endpoint in ["status", "progress", "progressWithResource", "log", "pause", "resume"] {
            let (code, body) = bob.get(&format!("entrance/{id}/{endpoint}"));
            assert_eq!((code, body["status"].as_i64()), (403, Some(3)), "bob {endpoint} {id}: {body}");
        }
        let (code, body) = bob.get(&format!("entrance/{id}/kill"));
        assert_eq!((code, body["status"].as_i64()), (400, Some(1)), "{body}");
        assert_eq!(body["message"], "You have no permission to kill this job, excecute by user:alice");
    }
    let (code, body) = bob.get(&format!("entrance/exec_id000000nothing/status?taskID={task_id}"));
    assert_eq!(code, 403, "the taskID fallback is checked too: {body}");
    let (_, body) = bob.post("entrance/killJobs", &json!({"idList": [exec_id], "taskIDList": [task_id]}).to_string());
    assert_eq!(body["data"]["messages"][0]["status"], 1, "{body}");
    assert_eq!(alice.state(&exec_id), "Running", "bob's attempts changed nothing");
    assert_eq!(alice.ok(&format!("entrance/{exec_id}/status"))["paused"], false);

    // The admin (root) can read and kill it.
    assert_eq!(server.ok(&format!("entrance/{task_id}/status"))["status"], "Running");
    let killed = server.ok(&format!("entrance/{exec_id}/kill"));
    assert_eq!(killed["execID"], exec_id.as_str());
    assert_eq!(alice.wait_done(&exec_id), "Cancelled");
    assert!(alice.log_lines(&exec_id).join("\n").contains("killed by user root"));
}

#[test]
fn only_tokens_configured_for_it_may_submit_for_another_execute_user() {
    let config = format!(
        "{MULTI_USER_CONFIG}\n[[tokens]]\ntoken = \"LEGACY-ADMIN-0123456789\"\nusers = [\"*\"]\nhosts = [\"*\"]\n"
    );
    let server = Portico::start_with_config(&config, &[]);
    let body = json!({
        "executionContent": {"code": "echo hi", "runType": "shell"},
        "labels": {"engineType": "shell-1"},
        "executeUser": "bob"
    });
    let (exec_id, _) = server.anonymous().with_token("TEST-ADMIN-0123456789", "alice").submit(&body);
    assert!(exec_id.contains("IDE_bob_shell_"), "a token with may_submit_for_others runs the job as bob: {exec_id}");
    assert_eq!(server.as_user("bob").wait_done(&exec_id), "Succeed");

    let (exec_id, _) = server.anonymous().with_token("LEGACY-ADMIN-0123456789", "alice").submit(&body);
    assert!(exec_id.contains("IDE_alice_shell_"), "ADMIN- in a token's text grants nothing by itself: {exec_id}");
    let legacy = config.replace("[server]\n", "[server]\nlinkis_admin_tokens = true\n");
    let linkis_style = Portico::start_with_config(&legacy, &[]);
    let (exec_id, _) = linkis_style.anonymous().with_token("LEGACY-ADMIN-0123456789", "alice").submit(&body);
    assert!(exec_id.contains("IDE_bob_shell_"), "with linkis_admin_tokens an ADMIN- token may: {exec_id}");

    let (exec_id, _) = server.as_user("alice").submit(&body);
    assert!(exec_id.contains("IDE_alice_shell_"), "an ordinary token cannot: {exec_id}");

    let mismatch = json!({
        "executionContent": {"code": "echo hi", "runType": "shell"},
        "labels": {"engineType": "shell-1", "userCreator": "bob-IDE"}
    });
    let (code, answer) = server.as_user("alice").post("entrance/submit", &mismatch.to_string());
    assert_eq!(code, 400);
    assert!(answer["message"].as_str().unwrap().contains("50080"), "{answer}");
}

#[test]
fn first_start_credentials_are_private_reused_and_never_logged() {
    let data = tempfile::tempdir().unwrap();
    let (password, token) = {
        let server = Portico::start_in(data.path(), &[]);
        let path = data.path().join("credentials.toml");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (password, token) = bootstrap_credentials(data.path());
        assert_eq!(server.ok("user/userInfo")["userName"], "hadoop");
        (password, token)
    };
    let before = std::fs::read(data.path().join("credentials.toml")).unwrap();

    // A second start reuses them; capture its log to check no secret appears in it.
    /// Kills the server however the test ends, so a failing assertion leaves no process behind.
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(["--bind", "127.0.0.1:0", "--log-level", "debug", "--data-dir"])
            .arg(data.path())
            .env("PORTICO_SECRET_CHECK", &token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The log is read as it comes, so a chatty server can never block on a full pipe.
    let stderr = child.0.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = std::io::BufReader::new(stderr).read_to_string(&mut log);
        log
    });
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let base = line.trim().strip_prefix("portico listening on ").unwrap().to_string();
    let agent = ureq::agent();
    let login = agent
        .post(&format!("{base}/api/rest_j/v1/user/login"))
        .send_json(json!({"userName": "hadoop", "password": password}))
        .unwrap();
    assert!(login.header("Set-Cookie").is_some());
    let _ = agent
        .post(&format!("{base}/api/rest_j/v1/user/login"))
        .send_json(json!({"userName": "hadoop", "password": "wrong-secret-attempt"}));
    let env_job: serde_json::Value = agent
        .post(&format!("{base}/api/rest_j/v1/entrance/submit"))
        .set("Token-Code", &token)
        .set("Token-User", "hadoop")
        .send_json(
            json!({"executionContent": {"code": "env", "runType": "shell"}, "labels": {"engineType": "shell-1"}}),
        )
        .unwrap()
        .into_json()
        .unwrap();
    let task = env_job["data"]["taskID"].as_u64().unwrap();
    let log_url = format!("{base}/api/rest_j/v1/entrance/{task}/log?size=-1");
    let log = eventually("the env job to end", || {
        let answer: serde_json::Value =
            agent.get(&log_url).set("Token-Code", &token).set("Token-User", "hadoop").call().ok()?.into_json().ok()?;
        let all = answer["data"]["log"][3].as_str()?.to_string();
        all.contains("completed with").then_some(all)
    });
    assert!(log.contains("LINKIS_TASK_ID=") && log.contains("PORTICO_JOB="), "{log}");
    assert!(
        !log.contains(&token) && !log.contains("PORTICO_SECRET_CHECK"),
        "the server's secrets leaked into the job: {log}"
    );
    drop(child);
    let server_log = log_reader.join().unwrap();
    assert!(server_log.contains("credentials.toml"), "the log says where the credentials are: {server_log}");
    for secret in [&password, &token, &"wrong-secret-attempt".to_string()] {
        assert!(!server_log.contains(secret.as_str()), "a secret reached the server log");
    }
    assert_eq!(std::fs::read(data.path().join("credentials.toml")).unwrap(), before, "reused, not rewritten");
}

#[test]
fn a_login_cookie_another_site_made_the_browser_send_is_refused() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.login("alice", "alice-pass");
    let (exec_id, task) = alice.submit_shell("sleep 60");
    alice.wait_state(&exec_id, "Running");

    // A link on another site (kill is a GET, as in Linkis): the browser says cross-site.
    let (code, body) = alice.with_header("Sec-Fetch-Site", "cross-site").get(&format!("entrance/{task}/kill"));
    assert_eq!((code, &body["status"]), (403, &json!(3)), "{body}");
    assert!(body["message"].as_str().unwrap().contains("Sec-Fetch-Site: cross-site"), "{body}");
    // A page on another port of the same host posting code: same-site, another origin.
    let submit =
        json!({"executionContent": {"code": "touch pwned", "runType": "shell"}, "labels": {"engineType": "shell-1"}});
    let same_site = alice.with_header("Sec-Fetch-Site", "same-site").with_header("Origin", "http://127.0.0.1:8888");
    assert_eq!(same_site.post("entrance/submit", &submit.to_string()).0, 403);
    // A browser without Fetch Metadata: the Origin alone decides.
    let elsewhere = alice.with_header("Origin", "https://evil.example");
    assert_eq!(elsewhere.post("entrance/submit", &submit.to_string()).0, 403);
    assert_eq!(alice.state(&exec_id), "Running", "nothing another site sent took effect");

    // This server's own pages, a typed address, and clients that are not browsers still work;
    // token headers are never sent by a browser on its own, so another site's Origin is moot.
    let host = server.base.trim_start_matches("http://").to_string();
    let own_page = alice.with_header("Sec-Fetch-Site", "same-origin").with_header("Origin", &server.base);
    assert_eq!(own_page.ok(&format!("entrance/{task}/status"))["status"], "Running");
    let old_browser = alice.with_header("Origin", &format!("http://{host}"));
    assert_eq!(old_browser.ok(&format!("entrance/{task}/status"))["status"], "Running");
    assert_eq!(alice.with_header("Sec-Fetch-Site", "none").ok(&format!("entrance/{task}/status"))["status"], "Running");
    let token = server.anonymous().with_token(TEST_TOKEN, "alice").with_header("Origin", "https://evil.example");
    token.ok(&format!("entrance/{task}/kill"));
    assert_eq!(alice.wait_done(&exec_id), "Cancelled");
}
