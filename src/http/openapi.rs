//! `GET openapi.json`: the OpenAPI 3 document of this API, a static file in the source tree
//! (`openapi.json` beside this module) served as it is, without login, so that tools
//! (schemathesis, code generators, Swagger UI) can read it before they hold a credential.
//!
//! The document is kept in step with the router by [`ENDPOINTS`] and [`templates`]: the match
//! in `templates` is exhaustive, so a new [`Route`] does not compile until it names its path;
//! the unit tests below check each listed endpoint is classified back to itself, and the
//! end-to-end test (`tests/openapi.rs`) that the served document's paths are exactly
//! [`ENDPOINTS`].
//!
//! The web console's files (`/`, `/console/*`) are routes but not endpoints of the API: they
//! answer HTML, script and style, not the envelope, and no API client calls them. They are left
//! out of the document on purpose ([`templates`] answers none for them), so that the document
//! stays a description of the REST API under `/api/rest_j/v1` that schemathesis can hold the
//! server to.

use super::message::Answer;
use super::response::Response;
use super::routes::Route;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Every documented operation: (HTTP method, path template under `/api/rest_j/v1`). The
/// `user/*` routes also answer other methods, as Linkis's do; the method listed is the one
/// Linkis's clients use. HEAD is answered wherever GET is, and not listed.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/user/login"),
    ("POST", "/user/logout"),
    ("GET", "/user/userInfo"),
    ("GET", "/user/heartbeat"),
    ("GET", "/jobhistory/list"),
    ("GET", "/jobhistory/{taskID}/get"),
    ("GET", "/filesystem/getDirFileTrees"),
    ("GET", "/filesystem/openFile"),
    ("GET", "/filesystem/openLog"),
    ("GET", "/filesystem/resultsetToExcel"),
    ("GET", "/filesystem/resultsetsToExcel"),
    ("POST", "/entrance/submit"),
    ("POST", "/entrance/execute"),
    ("POST", "/entrance/killJobs"),
    ("POST", "/entrance/{id}/killJobs"),
    ("GET", "/entrance/{id}/status"),
    ("GET", "/entrance/{id}/progress"),
    ("GET", "/entrance/{id}/progressWithResource"),
    ("GET", "/entrance/{id}/log"),
    ("GET", "/entrance/{id}/kill"),
    ("POST", "/entrance/{id}/kill"),
    ("GET", "/entrance/{id}/pause"),
    ("POST", "/entrance/{id}/pause"),
    ("GET", "/entrance/{id}/resume"),
    ("POST", "/entrance/{id}/resume"),
    ("POST", "/portico/admin/backup"),
    ("GET", "/portico/admin/backup"),
    ("GET", "/openapi.json"),
];

/// The path templates (under `/api/rest_j/v1`) that reach `route`; empty for the routes that
/// are not endpoints. Exhaustive on purpose: see the module comment. The metrics name routes
/// by it too (`Route::name`), so a new route fails `cargo build`, not just the tests.
pub fn templates(route: &Route) -> &'static [&'static str] {
    match route {
        Route::Login => &["/user/login"],
        Route::Logout => &["/user/logout"],
        Route::UserInfo => &["/user/userInfo"],
        Route::Heartbeat => &["/user/heartbeat"],
        Route::HistoryList => &["/jobhistory/list"],
        Route::HistoryGet(_) => &["/jobhistory/{taskID}/get"],
        Route::DirFileTrees => &["/filesystem/getDirFileTrees"],
        Route::OpenFile => &["/filesystem/openFile"],
        Route::OpenLog => &["/filesystem/openLog"],
        Route::ResultsetToExcel => &["/filesystem/resultsetToExcel"],
        Route::ResultsetsToExcel => &["/filesystem/resultsetsToExcel"],
        Route::Submit => &["/entrance/submit", "/entrance/execute"],
        Route::KillJobs => &["/entrance/killJobs", "/entrance/{id}/killJobs"],
        Route::Status(_) => &["/entrance/{id}/status"],
        Route::Progress(_) => &["/entrance/{id}/progress"],
        Route::ProgressWithResource(_) => &["/entrance/{id}/progressWithResource"],
        Route::Log(_) => &["/entrance/{id}/log"],
        Route::Kill(_) => &["/entrance/{id}/kill"],
        Route::Pause(_) => &["/entrance/{id}/pause"],
        Route::Resume(_) => &["/entrance/{id}/resume"],
        Route::Backup | Route::BackupDownload => &["/portico/admin/backup"],
        Route::OpenApi => &["/openapi.json"],
        // `/metrics` lies outside the document's server (`/api/rest_j/v1`) and is not the API:
        // it is Prometheus's, in the text exposition format, described in the README. The
        // console's files are not endpoints of the API either: see the module comment.
        Route::Metrics | Route::Console(_) | Route::WrongMethod(_) | Route::Unknown => &[],
    }
}

/// The document as an answer.
pub fn document() -> Answer {
    Answer::Raw(Response::json(200, DOCUMENT.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::PREFIX;

    /// `template` with its ids filled in, as a request path.
    fn example(template: &str) -> String {
        let path = template.replace("{id}", "exec_id018014linkis%3A1").replace("{taskID}", "7");
        format!("{}{}", PREFIX.trim_end_matches('/'), path)
    }

    #[test]
    fn every_endpoint_is_classified_back_to_its_template() {
        for (method, template) in ENDPOINTS {
            let route = Route::classify(method, &example(template));
            assert!(templates(&route).contains(template), "{method} {template} is classified as {route:?}");
        }
    }

    #[test]
    fn every_template_a_route_answers_is_listed() {
        let listed = |template: &str| ENDPOINTS.iter().any(|(_, t)| *t == template);
        let probes = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
        for (_, template) in ENDPOINTS {
            for method in probes {
                let route = Route::classify(method, &example(template));
                for answered in templates(&route) {
                    assert!(listed(answered), "{route:?} reaches {answered}, which is not in ENDPOINTS");
                }
                // Outside `user/*` (any method, as in Linkis), a method the router takes for a
                // path is documented for it.
                if !templates(&route).is_empty() && !template.starts_with("/user/") {
                    assert!(
                        ENDPOINTS.contains(&(method, template)),
                        "{method} {template} is answered ({route:?}) but not documented"
                    );
                }
            }
        }
    }

    #[test]
    fn the_document_lists_exactly_the_endpoints() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", document["openapi"]);
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for method in ["get", "put", "post", "delete", "options", "head", "patch", "trace"] {
                if item.get(method).is_some() {
                    documented.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
        documented.sort();
        let mut expected: Vec<(String, String)> =
            ENDPOINTS.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        expected.sort();
        assert_eq!(documented, expected);
    }
}
