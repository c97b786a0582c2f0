//! The web console: served from the binary with its security headers, and used in a real
//! browser (headless Chromium through chromedriver) against a real server, as a person would:
//! log in, submit jobs through the form, watch them in the list, read a table result, pause,
//! resume and kill, with no JavaScript error, and screenshots that show a rendered page.
//!
//! Without Chromium the browser test is skipped loudly, unless `PORTICO_REQUIRE_BROWSER=1`
//! (`.ci/run` sets it), where it fails. Screenshots and chromedriver's logs are kept under
//! `target/tmp/console/`.

mod png;
mod webdriver;

use std::io::Read;

use serde_json::{json, Value};

use self::webdriver::{until, Browser};
use crate::helper::{Portico, MULTI_USER_CONFIG, PATIENCE, TEST_TOKEN};

/// (code, headers, body) of a raw request to the server's own paths (not under the API).
fn fetch(base: &str, method: &str, path: &str, token_user: Option<&str>) -> (u16, Vec<(String, String)>, String) {
    let agent = ureq::AgentBuilder::new().timeout(PATIENCE).build();
    let mut request = agent.request(method, &format!("{base}{path}"));
    if let Some(user) = token_user {
        request = request.set("Token-Code", TEST_TOKEN).set("Token-User", user);
    }
    let response = match request.call() {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let code = response.status();
    let headers = response
        .headers_names()
        .iter()
        .map(|name| (name.to_ascii_lowercase(), response.header(name).unwrap_or_default().to_string()))
        .collect();
    let mut body = String::new();
    response.into_reader().take(1 << 20).read_to_string(&mut body).expect("a text body");
    (code, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
}

#[test]
fn the_console_is_served_from_the_binary_with_a_strict_policy() {
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let mut total = 0;
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "<!doctype html>"),
        ("/console/console.js", "text/javascript; charset=utf-8", "'use strict';"),
        ("/console/jobs.js", "text/javascript; charset=utf-8", "'use strict';"),
        ("/console/console.css", "text/css; charset=utf-8", ":root"),
    ] {
        // Public: no token, no cookie.
        let (code, headers, body) = fetch(&server.base, "GET", path, None);
        assert_eq!(code, 200, "{path}: {body}");
        assert_eq!(header(&headers, "content-type"), content_type, "{path}");
        assert_eq!(header(&headers, "cache-control"), "no-cache", "{path}");
        let policy = header(&headers, "content-security-policy");
        assert!(policy.starts_with("default-src 'self';"), "{path}: {policy}");
        assert!(policy.contains("script-src 'self';") && !policy.contains("unsafe"), "{path}: {policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff", "{path}");
        assert!(body.contains(marker), "{path} is not the console's: {}", &body[..body.len().min(80)]);
        total += body.len();

        // HEAD: the same head, no body, as for every GET endpoint.
        let (code, head_headers, body) = fetch(&server.base, "HEAD", path, None);
        assert_eq!((code, body.as_str()), (200, ""), "HEAD {path}");
        assert_eq!(header(&head_headers, "content-length"), header(&headers, "content-length"), "HEAD {path}");

        // Another method: 405 with Allow, in the envelope, as everywhere else.
        let (code, headers, body) = fetch(&server.base, "POST", path, Some("alice"));
        assert_eq!((code, header(&headers, "allow")), (405, "GET, HEAD"), "POST {path}: {body}");
    }
    assert!(total < 200 * 1024, "the console is small: {total} bytes");
    // Nothing else is served outside the API, and the API still wants a login.
    let (code, _, body) = fetch(&server.base, "GET", "/console/nothing.js", None);
    assert_eq!(code, 404, "{body}");
    let (code, _, _) = fetch(&server.base, "GET", "/api/rest_j/v1/jobhistory/list", None);
    assert_eq!(code, 401);
}

/// Asserts the page has recorded no JavaScript error (uncaught errors, rejections, policy
/// violations and `console.error`, which the page collects in `window.porticoErrors`).
fn assert_no_script_errors(browser: &Browser, when: &str) {
    let errors = browser.run("return window.porticoErrors;", json!([]));
    assert_eq!(errors, json!([]), "JavaScript errors {when}");
}

/// Saves a screenshot as `name` and checks it shows a rendered page, not a blank one.
fn screenshot(browser: &Browser, name: &str) {
    let path = webdriver::artifacts().join(name);
    let image = png::decode(&browser.screenshot(&path));
    let (colours, commonest) = image.colours();
    assert!(image.width >= 800 && image.height >= 600, "{name}: {}x{}", image.width, image.height);
    assert!(
        colours >= 16 && commonest < 0.97,
        "{} looks blank: {colours} colours, the commonest covers {:.1}% of it",
        path.display(),
        commonest * 100.0
    );
}

/// The taskID the page shows in its address (`#/job/N`), once it does.
fn job_in_address(browser: &Browser) -> u64 {
    until("the page to open the new job", || {
        let hash = browser.run("return window.location.hash;", json!([]));
        hash.as_str()?.strip_prefix("#/job/")?.parse().ok()
    })
}

/// Fills the submit form and sends it; the new job's taskID.
fn submit_through_the_form(
    browser: &Browser,
    engine_type: &str,
    run_type: &str,
    code: &str,
    vars: &[(&str, &str)],
) -> u64 {
    browser.find("#nav-submit").click();
    browser.visible("#submit-form");
    browser.find(&format!("#submit-engine option[value='{engine_type}']")).click();
    browser.find(&format!("#submit-runtype option[value='{run_type}']")).click();
    browser.find("#submit-code").type_text(code);
    while browser.text("#submit-vars .variable").is_some() {
        browser.find("#submit-vars .variable button").click();
    }
    for (n, (name, value)) in vars.iter().enumerate() {
        browser.find("#submit-add-var").click();
        let row = format!("#submit-vars .variable:nth-child({})", n + 1);
        browser.find(&format!("{row} .var-name")).type_text(name);
        browser.find(&format!("{row} .var-value")).type_text(value);
    }
    let before = browser.run("return window.location.hash;", json!([]));
    browser.find("#submit-run").click();
    until("the page to leave the form", || {
        (browser.run("return window.location.hash;", json!([])) != before).then_some(())
    });
    job_in_address(browser)
}

/// Waits until the page shows job `task` in `state` (not the job shown before it); for an
/// ended job, also its final record and its results (the page marks the view settled).
fn wait_job_state(browser: &Browser, task: u64, state: &str) {
    let script = "const view = document.getElementById('job-view');
         return view.hidden || document.getElementById('job-id').textContent !== arguments[0]
             ? null : [document.getElementById('job-status').textContent, view.dataset.settled === 'true'];";
    let ended = matches!(state, "Succeed" | "Failed" | "Cancelled" | "Timeout");
    until(&format!("job {task} to be shown {state}"), || {
        let shown = browser.run(script, json!([task.to_string()]));
        let status = shown[0].as_str()?;
        (status.starts_with(state) && (!ended || shown[1] == true)).then_some(())
    });
}

/// Logs in through the form.
fn log_in(browser: &Browser, user: &str, password: &str) {
    browser.visible("#login-form");
    browser.find("#login-user").type_text(user);
    browser.find("#login-password").type_text(password);
    browser.find("#login-submit").click();
}

/// Cells of the table `selector` as text: the header row, then the body rows.
fn table_cells(browser: &Browser, selector: &str) -> (Value, Value) {
    let cells = browser.run(
        "const t = document.querySelector(arguments[0]);
         const text = (row) => [...row.cells].map((c) => c.textContent);
         return t ? [text(t.tHead.rows[0]), [...t.tBodies[0].rows].map(text)] : null;",
        json!([selector]),
    );
    (cells[0].clone(), cells[1].clone())
}

#[test]
fn a_person_runs_reads_and_kills_jobs_in_the_console() {
    if !webdriver::available() {
        return;
    }
    let server = Portico::start_with_config(MULTI_USER_CONFIG, &[]);
    let alice = server.as_user("alice");
    let artifacts = webdriver::artifacts();
    let browser = Browser::start(&artifacts.join("chromedriver.log"));
    browser.open(&format!("{}/", server.base));

    // A wrong password: the API's own message is shown.
    let (_, refusal) = server.anonymous().post("user/login", r#"{"userName": "alice", "password": "wrong"}"#);
    log_in(&browser, "alice", "wrong");
    let shown = browser.wait_text("#error-text", "the login refusal", |t| !t.is_empty());
    assert_eq!(shown, refusal["message"].as_str().expect("a message"));
    screenshot(&browser, "01-login-refused.png");

    log_in(&browser, "alice", "alice-pass");
    browser.wait_text("#who-name", "alice", |t| t == "alice");
    browser.visible("#jobs-view");
    assert!(browser.text("#error-text").unwrap_or_default().is_empty(), "a login clears the error");

    // A shell job with a variable: it shows up in the list and reaches Succeed there.
    let code = "echo 'hello from the console'; echo \"greeting ${who}\"";
    let task = submit_through_the_form(&browser, "shell-1", "shell", code, &[("who", "world")]);
    browser.find("#nav-jobs").click();
    let row = format!("#jobs-body tr[data-task='{task}']");
    browser.wait_text(&format!("{row} .status"), "Succeed", |t| t == "Succeed");
    assert_eq!(browser.text(&format!("{row} td:nth-child(3)")).as_deref(), Some("shell"));
    assert_eq!(browser.text(&format!("{row} td:nth-child(5)")).as_deref(), Some("alice"));
    screenshot(&browser, "02-jobs.png");

    // Opened from the list: its log, its status and its TEXT result.
    browser.find(&format!("{row} a")).click();
    wait_job_state(&browser, task, "Succeed");
    browser.wait_text("#job-log", "the job's output", |t| t.contains("greeting world"));
    let result = browser.wait_text("#job-result pre", "the text result", |t| !t.is_empty());
    assert_eq!(result, "hello from the console\ngreeting world");
    assert!(browser.text("#job-progress-text").is_some_and(|t| t.starts_with("100%")), "done is 100%");
    assert_eq!(alice.state(&task.to_string()), "Succeed");

    // A SQL job with two TABLE results. The first holds markup, which must stay text.
    let sql = "select 1 as a, 'x' as b, '<img src=x id=injected>' as c;\n\
               with recursive n(i) as (select 1 union all select i + 1 from n where i < 120) select i from n";
    let task = submit_through_the_form(&browser, "sqlite-3", "sql", sql, &[]);
    wait_job_state(&browser, task, "Succeed");
    browser.visible("#job-result table.result");
    let (head, rows) = table_cells(&browser, "#job-result table.result");
    assert_eq!(head, json!(["a", "b", "c"]));
    assert_eq!(rows, json!([["1", "x", "<img src=x id=injected>"]]));
    assert_eq!(browser.run("return document.getElementById('injected');", json!([])), Value::Null);
    assert_eq!(browser.text("#job-code").as_deref(), Some(sql));
    browser.run("document.getElementById('job-result').scrollIntoView();", json!([]));
    screenshot(&browser, "03-table-result.png");
    assert!(alice.ended_record(task).is_some());

    // The second result, paged through openFile's pages (50 rows each here).
    browser.find("#job-result-sets .tab[data-index='1']").click();
    let first_cells = |what: &str, first: &str, count: usize| {
        until(&format!("the second result's {what}"), || {
            let (head, rows) = table_cells(&browser, "#job-result table.result");
            let rows = rows.as_array()?.clone();
            (head == json!(["i"]) && rows.len() == count && rows[0] == json!([first])).then_some(())
        })
    };
    first_cells("first page", "1", 50);
    assert_eq!(browser.text("#result-page").as_deref(), Some("Page 1"));
    browser.visible("#result-next").click();
    first_cells("second page", "51", 50);
    browser.find("#result-next").click();
    first_cells("last page", "101", 20);
    let ends = browser.run(
        "return [document.getElementById('result-prev').disabled, document.getElementById('result-next').disabled];",
        json!([]),
    );
    assert_eq!(ends, json!([false, true]), "the last page has no next");
    // Its download link, fetched as the browser would follow it (with the session cookie).
    let csv = browser.run("return fetch(document.getElementById('result-csv').href).then((r) => r.text());", json!([]));
    let expected: String =
        std::iter::once("i".to_string()).chain((1..=120).map(|n| n.to_string())).map(|l| l + "\r\n").collect();
    assert_eq!(csv.as_str(), Some(expected.as_str()));

    // A long job: paused, resumed and killed with the buttons, as the API confirms.
    let task = submit_through_the_form(&browser, "shell-1", "shell", "sleep 60", &[]);
    let id = task.to_string();
    wait_job_state(&browser, task, "Running");
    browser.visible("#job-pause").click();
    browser.wait_text("#job-status", "paused", |t| t.contains("paused"));
    assert_eq!(alice.ok(&format!("entrance/{id}/status"))["paused"], true);
    browser.find("#job-resume").click();
    browser.wait_text("#job-status", "not paused", |t| t == "Running");
    assert_eq!(alice.ok(&format!("entrance/{id}/status"))["paused"], false);
    browser.find("#job-kill").click();
    wait_job_state(&browser, task, "Cancelled");
    assert_eq!(alice.state(&id), "Cancelled");
    let disabled = browser.run(
        "return ['job-kill', 'job-pause', 'job-resume'].map((b) => document.getElementById(b).disabled);",
        json!([]),
    );
    assert_eq!(disabled, json!([true, true, true]), "an ended job has no controls");
    screenshot(&browser, "04-killed.png");

    // The list filtered by state shows the killed job alone.
    browser.find("#nav-jobs").click();
    browser.visible("#filters");
    browser.find("#filter-status option[value='Cancelled']").click();
    browser.find("#filter-apply").click();
    until("the list to hold the cancelled job alone", || {
        let ids = browser
            .run("return [...document.querySelectorAll('#jobs-body tr')].map((r) => r.dataset.task);", json!([]));
        (ids == json!([id])).then_some(())
    });
    assert_eq!(browser.text("#jobs-page").as_deref(), Some("Page 1 of 1 (1 job)"));

    // A date range: from tomorrow on there is nothing; from yesterday on, all of it.
    browser.find("#filter-status option[value='']").click();
    let set_from = |days: i32| {
        let script = "const d = new Date(); d.setDate(d.getDate() + arguments[0]);
             const pad = (n) => String(n).padStart(2, '0');
             document.getElementById('filter-from').value =
               d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());";
        browser.run(script, json!([days]));
        browser.find("#filter-apply").click();
    };
    set_from(1);
    browser.visible("#jobs-empty");
    set_from(-1);
    browser.wait_text("#jobs-page", "alice's jobs", |t| t == "Page 1 of 1 (3 jobs)");
    assert_no_script_errors(&browser, "in alice's session");
    for _ in 0..10 {
        alice.submit_shell("true");
    }

    // An admin sees everyone's jobs when asking for them; logging out returns to the form.
    browser.find("#logout").click();
    log_in(&browser, "root", "root-pass");
    browser.wait_text("#who-name", "root as an admin", |t| t == "root (admin)");
    browser.visible("#filter-all").click();
    browser.find("#filter-size option[value='10']").click();
    browser.find("#filter-apply").click();
    let users = "return [...document.querySelectorAll('#jobs-body tr td:nth-child(5)')].map((c) => c.textContent);";
    browser.wait_text("#jobs-page", "everyone's jobs", |t| t == "Page 1 of 2 (13 jobs)");
    assert_eq!(browser.run(users, json!([])), json!(vec!["alice"; 10]));
    browser.find("#jobs-next").click();
    browser.wait_text("#jobs-page", "the second page", |t| t == "Page 2 of 2 (13 jobs)");
    until("the second page to hold the first three jobs", || {
        let ids = browser
            .run("return [...document.querySelectorAll('#jobs-body tr')].map((r) => r.dataset.task);", json!([]));
        (ids == json!(["3", "2", "1"])).then_some(())
    });
    screenshot(&browser, "05-admin-view.png");
    browser.find("#logout").click();
    browser.visible("#login-form");
    assert_no_script_errors(&browser, "at the end");
}
