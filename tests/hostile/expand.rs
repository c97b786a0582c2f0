//! The walk's table (`bodies.rs`, `targets.rs`) turned into requests: one [`Case`] per bad input.

use serde_json::Value;

use super::bodies::{Who, BODY_ROUTES, MALFORMED, WRONG};
use super::targets::{
    BAD_IDS, BAD_PATHS, BAD_QUERIES, FILE_ROUTES, ID_ROUTES, NOT_NUMBERS, NUMBER_PARAMS, OTHERS_IDS, RAW_REQUESTS,
    WRONG_ROUTES,
};
use crate::helper::TEST_TOKEN;

/// What the walk needs to name: two users' jobs and where their files are.
pub struct Fixtures {
    pub alice_exec: String,
    pub alice_task: u64,
    pub bob_exec: String,
    pub bob_task: u64,
    /// `file://` URIs of Alice's result directory, its first result set and her job's log.
    pub result_dir: String,
    pub result_file: String,
    pub log: String,
    pub bob_result: String,
    /// The data directory's `users` folder, as a plain path.
    pub users: String,
}

impl Fixtures {
    /// `template` with every `{NAME}` replaced by the fixture it names.
    pub fn fill(&self, template: &str) -> String {
        template
            .replace("{ALICE_EXEC}", &self.alice_exec)
            .replace("{ALICE_TASK}", &self.alice_task.to_string())
            .replace("{BOB_EXEC}", &self.bob_exec)
            .replace("{BOB_TASK}", &self.bob_task.to_string())
            .replace("{RESULT_DIR}", &self.result_dir)
            .replace("{RESULT_FILE}", &self.result_file)
            .replace("{LOG}", &self.log)
            .replace("{BOB_RESULT}", &self.bob_result)
            .replace("{USERS}", &self.users)
            .replace("{LONG}", &"x".repeat(5000))
            .replace("{NULL65}", &"n".repeat(65))
    }
}

/// What a case's answer must be.
#[derive(Clone, Debug)]
pub enum Expect {
    /// HTTP 4xx, status 1 or 2, a message; the message names `hint` (case-insensitively) when
    /// given: the field to fix.
    Refused(Option<String>),
    /// Someone else's job: HTTP 403 with status 3 (Portico's reading rule) or 400 with status
    /// 1 (Linkis's kill and history answers), with a message.
    NotYours,
    /// A body the walk's mutations start from: accepted (HTTP 200, status 0).
    Accepted,
}

/// One request of the walk.
pub struct Case {
    pub name: String,
    pub who: Who,
    /// The whole request, except the credentials (`{AUTH}`) and, when `body` is `Some`, the
    /// framing and the body.
    pub head: Vec<u8>,
    pub body: Option<Vec<u8>>,
    pub expect: Expect,
}

impl Case {
    fn new(name: String, who: Who, line: &str, body: Option<Vec<u8>>, expect: Expect) -> Case {
        let (method, target) = line.split_once(' ').unwrap_or(("GET", line));
        let head = format!("{method} /api/rest_j/v1/{target} HTTP/1.1\r\n{{AUTH}}").into_bytes();
        Case { name, who, head, body, expect }
    }

    /// The request's bytes, with the caller's credentials.
    pub fn bytes(&self) -> Vec<u8> {
        let auth = match self.who {
            Who::Alice => format!("Token-Code: {TEST_TOKEN}\r\nToken-User: alice\r\n"),
            Who::Root => format!("Token-Code: {TEST_TOKEN}\r\nToken-User: root\r\n"),
            Who::Nobody => String::new(),
        } + "Host: walk\r\nConnection: close\r\n";
        let mut out = replace(&self.head, b"{AUTH}", auth.as_bytes());
        if let Some(body) = &self.body {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        } else if !out.ends_with(b"\r\n\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    match haystack.windows(needle.len()).position(|w| w == needle) {
        Some(at) => [&haystack[..at], with, &haystack[at + needle.len()..]].concat(),
        None => haystack.to_vec(),
    }
}

/// Every case of the table, in the table's order (each body route's accepted base first).
pub fn all(fx: &Fixtures) -> Vec<Case> {
    let mut cases = Vec::new();
    for route in BODY_ROUTES {
        let line = fx.fill(route.route);
        let base: Value = serde_json::from_str(&fx.fill(route.base)).expect("a base body in the table is JSON");
        cases.push(Case::new(
            format!("{line}: the base body"),
            route.who,
            &line,
            Some(base.to_string().into()),
            Expect::Accepted,
        ));
        for field in route.fields {
            let key = field.at.rsplit('/').find(|k| k.parse::<usize>().is_err()).unwrap_or(field.at);
            let wrong = WRONG.iter().filter(|v| !field.takes.contains(v)).chain(field.bad);
            for value in wrong {
                let hint = if *value == "1e400" { "JSON" } else { key };
                let body = with_value(&base, field.at, value);
                let name = format!("{line}: {} = {value}", field.at);
                cases.push(Case::new(name, route.who, &line, Some(body), Expect::Refused(Some(hint.into()))));
            }
        }
        for (what, body) in MALFORMED.iter().filter(|(what, _)| !route.takes_whole.contains(what)) {
            cases.push(Case::new(
                format!("{line}: {what}"),
                route.who,
                &line,
                Some(body.to_vec()),
                Expect::Refused(None),
            ));
        }
        for deep in [format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)), "{\"a\":".repeat(100_000)] {
            let name = format!("{line}: 100,000-deep {}", &deep[..1]);
            cases.push(Case::new(name, route.who, &line, Some(deep.into_bytes()), Expect::Refused(None)));
        }
        let oversize = format!("{{\"a\": \"{}\"}}", "x".repeat(11 << 20));
        cases.push(Case::new(
            format!("{line}: an 11 MiB body"),
            route.who,
            &line,
            Some(oversize.into()),
            Expect::Refused(None),
        ));
        for at in route.crowds {
            let mut crowded = base.clone();
            if let Some(Value::Object(map)) = crowded.pointer_mut(at) {
                map.extend((0..10_000).map(|i| (format!("k{i}"), Value::from("v"))));
            }
            let key = at.rsplit('/').next().unwrap_or(at);
            let name = format!("{line}: 10,000 entries in {at}");
            cases.push(Case::new(
                name,
                route.who,
                &line,
                Some(crowded.to_string().into()),
                Expect::Refused(Some(key.into())),
            ));
        }
    }
    for route in ID_ROUTES {
        for id in BAD_IDS {
            let line = fx.fill(&route.replace("{ID}", id));
            cases.push(Case::new(format!("{route} with id {id}"), Who::Alice, &line, None, Expect::Refused(None)));
        }
        for id in OTHERS_IDS {
            let line = fx.fill(&route.replace("{ID}", id));
            cases.push(Case::new(format!("{route} with id {id}"), Who::Alice, &line, None, Expect::NotYours));
        }
    }
    for (prefix, params) in NUMBER_PARAMS {
        for param in *params {
            for value in NOT_NUMBERS {
                let line = fx.fill(&format!("{prefix}{param}={value}"));
                let name = format!("{prefix}{param}={value}");
                cases.push(Case::new(name, Who::Alice, &line, None, Expect::Refused(Some((*param).into()))));
            }
        }
    }
    let hint = |word: &str| (!word.is_empty()).then(|| word.to_string());
    for (query, word) in BAD_QUERIES {
        cases.push(Case::new(query.to_string(), Who::Alice, &fx.fill(query), None, Expect::Refused(hint(word))));
    }
    for (route, own) in FILE_ROUTES {
        for (path, word) in BAD_PATHS.iter().chain(*own) {
            let line = fx.fill(&format!("{route}{path}"));
            cases.push(Case::new(format!("{route}{path}"), Who::Alice, &line, None, Expect::Refused(hint(word))));
        }
    }
    for route in WRONG_ROUTES {
        cases.push(Case::new(route.to_string(), Who::Alice, &fx.fill(route), None, Expect::Refused(None)));
    }
    for (what, bytes) in RAW_REQUESTS {
        let head = bytes.to_vec();
        cases.push(Case { name: (*what).into(), who: Who::Alice, head, body: None, expect: Expect::Refused(None) });
    }
    cases
}

/// `base` with the value at `pointer` (created if missing) replaced by the raw JSON `value`,
/// which may be something no `Value` can hold (`1e400`).
fn with_value(base: &Value, pointer: &str, value: &str) -> Vec<u8> {
    const MARK: &str = "\u{1}WALK\u{1}";
    let mut body = base.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    match body.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(key.to_string(), Value::from(MARK));
        }
        Some(Value::Array(items)) => {
            let index: usize = key.parse().expect("an array index");
            items[index] = Value::from(MARK);
        }
        _ => panic!("the table names {pointer}, whose parent is not in the base body"),
    }
    body.to_string().replace(&Value::from(MARK).to_string(), value).into_bytes()
}
