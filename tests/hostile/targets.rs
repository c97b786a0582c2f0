//! The walk's table, second half: what goes in the path, the query and the request line of
//! every route (the bodies are in `bodies.rs`). Only data; `expand.rs` turns it into requests.
//! Each refusal must say the word given beside its input, when one is given.

/// The routes that name a job in their path (`{ID}` stands for the id under test).
pub const ID_ROUTES: &[&str] = &[
    "GET entrance/{ID}/status",
    "GET entrance/{ID}/progress",
    "GET entrance/{ID}/progressWithResource",
    "GET entrance/{ID}/log",
    "GET entrance/{ID}/kill",
    "GET entrance/{ID}/pause",
    "POST entrance/{ID}/resume",
    "GET jobhistory/{ID}/get",
];

/// Every wrong shape of id, as it goes in the path (percent-encoded where a client would).
pub const BAD_IDS: &[&str] = &[
    "0",
    "-1",
    "+{ALICE_TASK}",
    "{ALICE_TASK}.0",
    "{ALICE_TASK}e0",
    "0x{ALICE_TASK}",
    "%20{ALICE_TASK}",
    "{ALICE_TASK}%20",
    "9223372036854775808",
    "18446744073709551616",
    "99999999999999999999999",
    "abc",
    "..",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "%00",
    "{ALICE_TASK}%00",
    "%FF%FE",
    "%E2%80%AE{ALICE_TASK}",
    "%",
    "%zz",
    "exec_id",
    "exec_id999999",
    "exec_id018014linkis-cg-entrance127.0.0.1:9104IDE_nobody_shell_0",
    "{ALICE_EXEC}x",
    "日本",
    "{LONG}",
];

/// Someone else's job, by either id: refused as not the caller's.
pub const OTHERS_IDS: &[&str] = &["{BOB_EXEC}", "{BOB_TASK}"];

/// Query parameters that must be whole numbers, each with the request it goes in.
pub const NUMBER_PARAMS: &[(&str, &[&str])] = &[
    ("GET entrance/{ALICE_EXEC}/log?", &["fromLine", "size"]),
    ("GET jobhistory/list?", &["pageNow", "pageSize", "startDate", "endDate", "taskID"]),
    ("GET filesystem/openFile?path={RESULT_FILE}&", &["page", "pageSize", "columnPage", "columnPageSize"]),
    ("GET filesystem/resultsetToExcel?path={RESULT_FILE}&", &["limit"]),
];

/// What a number parameter is sent instead of a number.
pub const NOT_NUMBERS: &[&str] = &[
    "abc",
    "1e3",
    "1.5",
    "0x10",
    "1_000",
    "%00",
    "1%00",
    "%FF",
    "%EF%BC%91",
    "99999999999999999999",
    "-99999999999999999999",
    "--1",
    "1-",
];

/// Requests whose query holds a value out of range, or a name or choice the route refuses,
/// each with a word its refusal must say ("" for none).
pub const BAD_QUERIES: &[(&str, &str)] = &[
    ("GET jobhistory/list?pageNow=-1", "pageNow"),
    ("GET jobhistory/list?pageSize=-1", "pageSize"),
    ("GET jobhistory/list?pageSize=1001", "pageSize"),
    ("GET jobhistory/list?startDate=-1", "startDate"),
    ("GET jobhistory/list?endDate=-1", "endDate"),
    ("GET jobhistory/list?taskID=-1", "taskID"),
    ("GET jobhistory/list?status=Bogus", "status"),
    ("GET jobhistory/list?status=Succeed%00", "status"),
    ("GET jobhistory/list?status=%FF", "status"),
    ("GET jobhistory/list?executeApplicationName=..%2Fx", "executeApplicationName"),
    ("GET jobhistory/list?executeApplicationName=sh%00", "executeApplicationName"),
    ("GET jobhistory/list?creator=a%20b", "creator"),
    ("GET jobhistory/list?creator={LONG}", "creator"),
    ("GET jobhistory/list?runType=%E2%80%AE", "runType"),
    ("GET jobhistory/list?proxyUser=..", "proxyUser"),
    ("GET filesystem/openFile?path={RESULT_FILE}&pageSize=100001", "100000"),
    ("GET filesystem/openFile?path={RESULT_FILE}&columnPage=0", "1-500"),
    ("GET filesystem/openFile?path={RESULT_FILE}&columnPage=-1", "1-500"),
    ("GET filesystem/openFile?path={RESULT_FILE}&columnPageSize=0", "1-500"),
    ("GET filesystem/openFile?path={RESULT_FILE}&columnPageSize=501", "1-500"),
    ("GET filesystem/openFile?path={RESULT_FILE}&nullValue={NULL65}", "nullValue"),
    ("GET filesystem/resultsetToExcel?path={RESULT_FILE}&nullValue={NULL65}", "nullValue"),
    ("GET filesystem/resultsetToExcel?path={RESULT_FILE}&outputFileType=pdf", "output type"),
    ("GET filesystem/resultsetToExcel?path={RESULT_FILE}&outputFileType=%00", "output type"),
    ("GET filesystem/resultsetToExcel?path={RESULT_FILE}&charset=latin1", "charset"),
    ("GET filesystem/resultsetToExcel?path={RESULT_FILE}&csvSeparator=ab", "csvSeparator"),
    ("GET filesystem/resultsetToExcel?path={RESULT_FILE}&csvSeparator=%22", "csvSeparator"),
    ("GET filesystem/resultsetToExcel?path={RESULT_FILE}&outputFileType=xlsx", "excel"),
    ("GET filesystem/resultsetsToExcel?path={RESULT_DIR}&nullValue={NULL65}", "nullValue"),
    ("GET entrance/nothing/status?taskID=abc", ""),
    ("GET entrance/nothing/status?taskID=%00", ""),
    ("GET entrance/nothing/status?taskID=-1", ""),
    ("GET entrance/nothing/status?taskID=%2B{ALICE_TASK}", ""),
    ("GET entrance/nothing/kill?taskID=%FF", ""),
];

/// The filesystem routes, each with the paths that are wrong for it alone (and the word the
/// refusal must say).
pub const FILE_ROUTES: &[(&str, &[(&str, &str)])] = &[
    ("GET filesystem/getDirFileTrees?", &[("path={LOG}", "permission"), LONG_RESULT]),
    (
        "GET filesystem/openFile?",
        &[
            ("path={RESULT_DIR}", "not a result set"),
            ("path={LOG}", "permission"),
            ("path={RESULT_DIR}/_99.dolphin", "not exist"),
            LONG_RESULT,
        ],
    ),
    ("GET filesystem/openLog?", &[("path={RESULT_FILE}", "permission"), ("path={LOG}.missing", "not exist"), LONG_LOG]),
    (
        "GET filesystem/resultsetToExcel?",
        &[("path={RESULT_DIR}", "not a result set"), ("path={RESULT_DIR}/_99.dolphin", "not exist"), LONG_RESULT],
    ),
    (
        "GET filesystem/resultsetsToExcel?",
        &[("path={RESULT_FILE}", "not a result directory"), ("path={RESULT_DIR}/missing", "not exist"), LONG_RESULT],
    ),
];

/// Paths no filesystem route takes, and the word each refusal must say.
pub const BAD_PATHS: &[(&str, &str)] = &[
    ("", "empty"),
    ("path=", "empty"),
    ("path=%20", "empty"),
    ("path=relative/x", "file://"),
    ("path=/abs/without/scheme", "file://"),
    ("path=file://relative", "absolute"),
    ("path=http://{USERS}/alice", "file://"),
    ("path=file:///etc/passwd", "permission"),
    ("path=%00", "file://"),
    ("path=file://%00", "absolute"),
    ("path={RESULT_DIR}%00", "NUL"),
    ("path={RESULT_DIR}/%00/x", "NUL"),
    ("path={RESULT_DIR}/../../../bob", ".."),
    ("path={RESULT_DIR}/..%2F..%2F..%2Fbob", ".."),
    ("path={BOB_RESULT}", "permission"),
    ("path=file://{USERS}/bob", "permission"),
    ("path=file://{USERS}/alice/work", "permission"),
];

/// A path too long for the system, in the result tree and in the log tree.
const LONG_RESULT: (&str, &str) = ("path=file://{USERS}/alice/result/{LONG}", "too long");
const LONG_LOG: (&str, &str) = ("path=file://{USERS}/alice/log/{LONG}", "too long");

/// Routes called with a method they do not take, and paths that name no route.
pub const WRONG_ROUTES: &[&str] = &[
    "GET entrance/submit",
    "PUT entrance/submit",
    "GET entrance/execute",
    "DELETE entrance/{ALICE_EXEC}/status",
    "POST entrance/{ALICE_EXEC}/progress",
    "POST entrance/{ALICE_EXEC}/progressWithResource",
    "POST entrance/{ALICE_EXEC}/log",
    "DELETE entrance/{ALICE_EXEC}/kill",
    "PUT entrance/{ALICE_EXEC}/pause",
    "PATCH entrance/{ALICE_EXEC}/resume",
    "GET entrance/killJobs",
    "GET entrance/{ALICE_EXEC}/killJobs",
    "POST jobhistory/list",
    "DELETE jobhistory/{ALICE_TASK}/get",
    "POST filesystem/getDirFileTrees",
    "PUT filesystem/openFile",
    "POST filesystem/openLog",
    "POST filesystem/resultsetToExcel",
    "DELETE filesystem/resultsetsToExcel",
    "PUT portico/admin/backup",
    "FOO entrance/{ALICE_EXEC}/status",
    "GET entrance",
    "GET entrance/{ALICE_EXEC}",
    "GET entrance/{ALICE_EXEC}/status/more",
    "GET entrance/{ALICE_EXEC}/statuses",
    "GET jobhistory",
    "GET filesystem",
    "GET nothing/here",
    "GET %00",
    "GET user/%FF",
];

/// Whole requests with bytes no client should send (`{AUTH}` is Alice's headers): the
/// transport refuses them before any route.
pub const RAW_REQUESTS: &[(&str, &[u8])] = &[
    ("raw NUL in the path", b"GET /api/rest_j/v1/entrance/\x00/status HTTP/1.1\r\n{AUTH}\r\n"),
    ("raw 0xFF in the path", b"GET /api/rest_j/v1/entrance/\xff/status HTTP/1.1\r\n{AUTH}\r\n"),
    ("raw NUL in the query", b"GET /api/rest_j/v1/jobhistory/list?pageNow=\x00 HTTP/1.1\r\n{AUTH}\r\n"),
    ("raw 0xFF in the query", b"GET /api/rest_j/v1/jobhistory/list?creator=\xff HTTP/1.1\r\n{AUTH}\r\n"),
    ("a space in the path", b"GET /api/rest_j/v1/entrance/a b/status HTTP/1.1\r\n{AUTH}\r\n"),
    ("NUL in a header", b"GET /api/rest_j/v1/user/userInfo HTTP/1.1\r\n{AUTH}X-Walk: a\x00b\r\n\r\n"),
    ("a bad chunk size", b"POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
    (
        "a chunk size past u64",
        b"POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n",
    ),
    ("a negative length", b"POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\n{AUTH}Content-Length: -1\r\n\r\n"),
    ("a length in words", b"POST /api/rest_j/v1/entrance/submit HTTP/1.1\r\n{AUTH}Content-Length: ten\r\n\r\n"),
    ("HTTP/2.0", b"GET /api/rest_j/v1/user/userInfo HTTP/2.0\r\n{AUTH}\r\n"),
    ("no path", b"GET HTTP/1.1\r\n{AUTH}\r\n"),
];
