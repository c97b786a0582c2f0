//! The web console: one page, its two scripts and its style sheet, compiled into the binary
//! (`console/` beside this module) and served without login, so that a browser can load the
//! page before it holds a session. Everything the page shows comes from the REST API, called by
//! the script with the browser's session cookie; the page itself holds no data and no secret.
//!
//! It is not part of the REST API: the router classifies its paths to [`Route::Console`]
//! (`routes.rs`), and the OpenAPI document leaves them out (`openapi.rs` says why).
//!
//! Job code and logs are whatever users wrote, and another user's job can be on an admin's
//! screen, so the answers carry a strict `Content-Security-Policy`: scripts only from this
//! server and never inline, no plugins, no framing, requests only to this server. The script
//! inserts server data only as text (`textContent`), never as markup.
//!
//! [`Route::Console`]: super::routes::Route::Console

use super::message::Answer;
use super::response::{Body, Response};

/// Where the page may load from and talk to: this origin only, no inline script or style, no
/// framing (against clickjacking the kill button). `img-src data:` is for the empty favicon
/// the page declares, so that the browser does not ask for `/favicon.ico`.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One file of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// `GET /`: the page.
    Page,
    /// `GET /console/console.js`: what the whole page shares (API calls, login, start-up).
    Script,
    /// `GET /console/jobs.js`: the views of jobs.
    JobsScript,
    /// `GET /console/console.css`.
    Style,
}

impl Asset {
    /// The asset at `path` (without the query), if any.
    pub fn at(path: &str) -> Option<Asset> {
        match path {
            "/" => Some(Asset::Page),
            "/console/console.js" => Some(Asset::Script),
            "/console/jobs.js" => Some(Asset::JobsScript),
            "/console/console.css" => Some(Asset::Style),
            _ => None,
        }
    }

    fn content(self) -> &'static str {
        match self {
            Asset::Page => include_str!("console/index.html"),
            Asset::Script => include_str!("console/console.js"),
            Asset::JobsScript => include_str!("console/jobs.js"),
            Asset::Style => include_str!("console/console.css"),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Asset::Page => "text/html; charset=utf-8",
            Asset::Script | Asset::JobsScript => "text/javascript; charset=utf-8",
            Asset::Style => "text/css; charset=utf-8",
        }
    }
}

/// The asset as an answer. `no-cache` makes the browser check back each time: the four files
/// are a few tens of KB, and a page from an older binary must never run against a newer API.
pub fn serve(asset: Asset) -> Answer {
    let headers = [
        ("Content-Type", asset.content_type()),
        ("Cache-Control", "no-cache"),
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    ];
    let mut response = Response {
        status: 200,
        body: Body::Bytes(asset.content().as_bytes().to_vec()),
        ..Response::json(200, Vec::new())
    };
    response.headers = headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    Answer::Raw(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_scripts_and_style_and_no_inline_code() {
        let page = Asset::Page.content();
        assert!(page.contains(r#"<script src="/console/console.js" defer></script>"#), "{page}");
        assert!(page.contains(r#"<script src="/console/jobs.js" defer></script>"#), "{page}");
        assert!(page.contains(r#"href="/console/console.css""#), "{page}");
        // The policy forbids inline code; a stray inline handler would be dead in the browser.
        assert_eq!(page.matches("<script").count(), 2);
        let handlers = page.split_whitespace().filter(|w| w.to_ascii_lowercase().starts_with("on") && w.contains('='));
        assert_eq!(handlers.count(), 0, "inline event handlers are refused by the policy");
        assert!(!page.contains("style=\""), "inline styles are refused by the policy");
        assert!(!page.contains("http://") && !page.contains("https://"), "nothing is fetched from elsewhere");
    }

    #[test]
    fn the_scripts_never_insert_markup() {
        for asset in [Asset::Script, Asset::JobsScript] {
            let script = asset.content();
            for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
                assert!(!script.contains(sink), "{asset:?} uses {sink}");
            }
        }
    }

    #[test]
    fn assets_have_their_types_and_the_policy() {
        assert_eq!(Asset::at("/"), Some(Asset::Page));
        assert_eq!(Asset::at("/console/console.js"), Some(Asset::Script));
        assert_eq!(Asset::at("/console/other.js"), None);
        let Answer::Raw(response) = serve(Asset::Script) else { panic!("a raw answer") };
        let header = |name: &str| response.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(header("Content-Type"), Some("text/javascript; charset=utf-8"));
        assert!(header("Content-Security-Policy").is_some_and(|p| p.starts_with("default-src 'self';")));
    }
}
