//! The walk's table, first half: the routes that take a JSON body, and the bad bodies each
//! is sent (`targets.rs` holds the rest: ids, query parameters, paths, methods, raw bytes).
//!
//! Only data lives here; `expand.rs` turns it into requests. Templates name the walk's fixtures
//! in braces (`{ALICE_EXEC}`, `{RESULT_FILE}`, …, see `Fixtures::fill`). A body route's fields
//! each receive every value of [`WRONG`] except those the field rightly takes, then its own bad
//! values; a value that is accepted here is a failure of the walk, so `takes` is the field's
//! contract written down.

/// Who sends a request.
#[derive(Clone, Copy, Debug)]
pub enum Who {
    /// An ordinary user (token), owner of the walk's own job.
    Alice,
    /// The admin (token), for the admin-only routes.
    Root,
    /// No credentials: the public routes.
    Nobody,
}

/// Every JSON type, and the numbers parsers trip on (`1e400` is past `f64`, the others past
/// `u64` and `i64`). Each goes into every field of every body.
pub const WRONG: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1.5",
    "1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "[]",
    "[\"x\"]",
    "{}",
    "{\"a\":\"b\"}",
];

/// What a field takes of [`WRONG`], by its type: every value of its own type, and null when
/// it may be left out. Everything else in [`WRONG`] is a wrong type for it.
const TEXT: &[&str] = &[];
const OPT_TEXT: &[&str] = &["null"];
const OBJECT: &[&str] = &["{}", "{\"a\":\"b\"}"];
const OPT_OBJECT: &[&str] = &["null", "{}", "{\"a\":\"b\"}"];
const OPT_ARRAY: &[&str] = &["null", "[]", "[\"x\"]"];
/// Text, numbers and booleans, all read as text (variables, environment values, labels).
const SCALAR: &[&str] = &["null", "true", "false", "0", "-1", "1.5", "18446744073709551616", "-9223372036854775809"];
/// A timeout in seconds, text or a number: none of the numbers in [`WRONG`] is one.
const OPT_SECONDS: &[&str] = &["null"];
/// A priority: a whole number in `i32`, as text or a number.
const OPT_PRIORITY: &[&str] = &["null", "0", "-1"];

/// One field of a body: its JSON pointer, what it takes of [`WRONG`], and bad values of its
/// own type (raw JSON).
pub struct Field {
    pub at: &'static str,
    pub takes: &'static [&'static str],
    pub bad: &'static [&'static str],
}

const fn field(at: &'static str, takes: &'static [&'static str], bad: &'static [&'static str]) -> Field {
    Field { at, takes, bad }
}

/// Bad names: the creator, the engine and run types, user names.
const BAD_NAMES: &[&str] = &["\"a b\"", "\"../x\"", "\"x\\u0000\"", "\"\\u001b[31m\""];
/// Bad timeouts, in seconds, as text.
const BAD_SECONDS: &[&str] = &["\"abc\"", "\"0\"", "\"-5\"", "\"1.5\"", "\"99999999999\"", "\"\\u0000\""];

/// A body route: method and path, who calls it, a body it accepts, its fields, which of the
/// [`MALFORMED`] bodies it takes, and where 10,000 entries are put.
pub struct BodyRoute {
    pub route: &'static str,
    pub who: Who,
    pub base: &'static str,
    pub fields: &'static [Field],
    pub takes_whole: &'static [&'static str],
    pub crowds: &'static [&'static str],
}

pub const BODY_ROUTES: &[BodyRoute] = &[
    BodyRoute {
        route: "POST entrance/submit",
        who: Who::Alice,
        base: r#"{"executionContent": {"code": "echo walk", "runType": "sh"},
                  "params": {"variable": {"who": "alice"},
                             "configuration": {"runtime": {"env.WALK": "1", "priority": 1}, "startup": {"jobName": "x"}}},
                  "source": {"scriptPath": "walk.sh"},
                  "labels": {"engineType": "shell-1", "userCreator": "alice-IDE", "jobRunningTimeout": "60"}}"#,
        fields: &[
            field("/executionContent", OBJECT, &["\"echo\""]),
            field("/executionContent/code", TEXT, &["\"\"", "\"  \"", "\"echo \\u0000 x\""]),
            field("/executionContent/runType", TEXT, &["\"\"", "\"flink\"", "\"sh\\u0000\""]),
            field("/labels", OBJECT, &["\"shell-1\"", "{}"]),
            field("/labels/engineType", TEXT, &["\"\"", "\"flink-1\"", "\"shell-1\\u0000\""]),
            field("/labels/userCreator", OPT_TEXT, &["\"alice\"", "\"-IDE\"", "\"bob-IDE\"", "\"alice-../x\""]),
            field("/labels/jobRunningTimeout", OPT_SECONDS, BAD_SECONDS),
            field("/labels/jobQueuingTimeout", OPT_SECONDS, BAD_SECONDS),
            field("/labels/codeType", OPT_TEXT, &[]),
            field("/labels/tenant", SCALAR, &["\"a\\u001b[31m\""]),
            field("/params", OPT_OBJECT, &["\"x\""]),
            field("/params/variable", OPT_OBJECT, &["\"x\""]),
            field("/params/variable/who", SCALAR, &[]),
            field("/params/configuration", OPT_OBJECT, &["\"x\""]),
            field("/params/configuration/runtime", OPT_OBJECT, &["\"x\""]),
            field("/params/configuration/startup", OPT_OBJECT, &["\"x\""]),
            field("/params/configuration/runtime/env.WALK", SCALAR, &["\"a\\u0000b\""]),
            field("/params/configuration/runtime/working.directory", SCALAR, &["\"../x\"", "\"/tmp\"", "\"a\\u0000\""]),
            field("/params/configuration/runtime/priority", OPT_PRIORITY, &["\"high\"", "\"\\u0000\""]),
            field("/params/configuration/runtime/python.version", OPT_TEXT, &["\"python3\""]),
            field("/source", OPT_OBJECT, &["\"x\""]),
            field("/executeUser", OPT_TEXT, &[]),
        ],
        takes_whole: &[],
        crowds: &["/labels", "/params/variable", "/params/configuration/runtime"],
    },
    BodyRoute {
        route: "POST entrance/execute",
        who: Who::Alice,
        base: r#"{"executeApplicationName": "shell", "executionCode": "echo walk", "runType": "sh",
                  "requestApplicationName": "IDE",
                  "params": {"variable": {"who": "alice"}, "configuration": {"runtime": {}}},
                  "source": {"scriptPath": "walk.sh"}, "labels": {"jobQueuingTimeout": 60}}"#,
        fields: &[
            field("/executeApplicationName", OPT_TEXT, &["\"flink\"", "\"shell\\u0000\""]),
            field("/executionCode", TEXT, &["\"\"", "\" \"", "\"echo \\u0000\""]),
            field("/runType", OPT_TEXT, &["\"python\"", "\"sh\\u0000\""]),
            field("/requestApplicationName", OPT_TEXT, BAD_NAMES),
            field("/labels", OPT_OBJECT, &["\"x\""]),
            field("/labels/jobQueuingTimeout", OPT_SECONDS, BAD_SECONDS),
            field("/labels/engineType", OPT_TEXT, &["\"flink-1\""]),
            field("/params", OPT_OBJECT, &["\"x\""]),
            field("/params/variable", OPT_OBJECT, &["\"x\""]),
            field("/params/configuration", OPT_OBJECT, &["\"x\""]),
            field("/params/configuration/runtime", OPT_OBJECT, &["\"x\""]),
            field("/source", OPT_OBJECT, &["\"x\""]),
        ],
        takes_whole: &[],
        crowds: &["/labels", "/params/variable"],
    },
    BodyRoute {
        route: "POST entrance/killJobs",
        who: Who::Alice,
        base: r#"{"idList": ["{ALICE_EXEC}"], "taskIDList": [{ALICE_TASK}]}"#,
        // A well-formed id of no job is answered job by job, as Linkis does: not sent here.
        fields: &[
            field("/idList", OPT_ARRAY, &["\"x\""]),
            field("/taskIDList", OPT_ARRAY, &["\"1\""]),
            field("/idList/0", TEXT, &["\"\"", "\"  \""]),
            field("/taskIDList/0", TEXT, &["\"\"", "\"abc\"", "\"-1\"", "\"1.5\"", "\"+1\""]),
        ],
        takes_whole: &[],
        crowds: &[],
    },
    BodyRoute {
        route: "POST entrance/{ALICE_EXEC}/killJobs",
        who: Who::Alice,
        base: r#"{"taskIDList": [{ALICE_TASK}]}"#,
        fields: &[field("/taskIDList", OPT_ARRAY, &["\"1\""]), field("/taskIDList/0", TEXT, &["\"x\""])],
        takes_whole: &[],
        crowds: &[],
    },
    BodyRoute {
        route: "POST user/login",
        who: Who::Nobody,
        base: r#"{"userName": "alice", "password": "alice-pass"}"#,
        fields: &[field("/userName", TEXT, &["\"\""]), field("/password", TEXT, &["\"\""])],
        takes_whole: &[],
        crowds: &[],
    },
    BodyRoute {
        route: "POST portico/admin/backup",
        who: Who::Root,
        base: r#"{"name": "walk.db"}"#,
        fields: &[
            // The base's name is taken once it has been used: the second time is a refusal.
            field("/name", OPT_TEXT, &["\"walk.db\"", "\"\"", "\"../x.db\"", "\"a/b.db\"", "\".\"", "\"x\\u0000.db\""]),
            field("/other", TEXT, &["\"x\""]),
        ],
        // No body, or an empty object, asks for a backup under the default name.
        takes_whole: &["empty", "blank", "empty object"],
        crowds: &[],
    },
];

/// Whole bodies that are not what any route takes: malformed JSON, the wrong top-level type,
/// invalid UTF-8, NUL bytes, and a byte-order mark.
pub const MALFORMED: &[(&str, &[u8])] = &[
    ("empty", b""),
    ("blank", b"  \r\n\t"),
    ("unclosed", b"{"),
    ("missing value", b"{\"a\":}"),
    ("bare word", b"nul"),
    ("single quotes", b"{'a': 1}"),
    ("trailing comma", b"{\"a\": 1,}"),
    ("trailing garbage", b"{} x"),
    ("two objects", b"{}{}"),
    ("unclosed string", b"{\"a"),
    ("string", b"\"text\""),
    ("number", b"123"),
    ("null", b"null"),
    ("boolean", b"true"),
    ("array", b"[]"),
    ("array of object", b"[{}]"),
    ("empty object", b"{}"),
    ("invalid UTF-8 in a string", b"{\"a\": \"\xff\xfe\"}"),
    ("invalid UTF-8 outside strings", b"\xff{}"),
    ("byte-order mark", b"\xef\xbb\xbf{}"),
    ("raw NUL in a string", b"{\"a\": \"x\x00y\"}"),
    ("raw NUL after the object", b"{}\x00"),
    ("only NUL", b"\x00"),
    ("lone surrogate", b"{\"a\": \"\\ud800\"}"),
    ("bad escape", b"{\"a\": \"\\q\"}"),
];
