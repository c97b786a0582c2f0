//! Who is calling: token headers or cookies first, then the session cookie.
//!
//! Every endpoint but login and logout goes through [`authenticate`]; a request it refuses
//! never reaches a handler, so nothing is created or changed for it. The messages are
//! Linkis's, and none of them repeats a secret.
//!
//! A credential a browser sends by itself (the session cookie, or a token kept in cookies) is
//! only taken from this server's own pages: a browser marks a request another site made it send
//! (`Sec-Fetch-Site`, `Origin`), and such a request is refused. Without that, a link on any page
//! could kill a logged-in console user's jobs (kill is a GET, as in Linkis), and a page on
//! another port of the same host could submit code. Token headers are never sent by a browser on
//! its own, so they are not checked.

use super::call::Context;
use super::message::ApiError;
use super::request::Request;
use crate::accounts::{Identity, SessionError};
use crate::logging::{shown, suppressed_note};

/// The authenticated user of a request.
pub type Caller = Identity;

/// The session cookie Linkis 1.1.2+ sets, and the one older clients send.
pub const SESSION_COOKIE: &str = "linkis_user_session_ticket_id_v1";
pub const OLD_SESSION_COOKIE: &str = "bdp-user-ticket-id";

const NOT_LOGGED_IN: &str = "You are not logged in, please login first(您尚未登录，请先登录)!";

/// A header, or else a cookie of the same name.
fn header_or_cookie<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.header(name).or_else(|| request.cookie(name)).filter(|v| !v.trim().is_empty())
}

/// The session ticket the request carries, if any.
pub fn session_ticket(request: &Request) -> Option<String> {
    request.cookie(SESSION_COOKIE).or_else(|| request.cookie(OLD_SESSION_COOKIE)).map(str::to_string)
}

/// Why a request that authenticates with a cookie must be refused as made by another site;
/// `None` when a browser says it came from this origin, or when no browser marked it (command
/// line clients, SDKs, an address typed by hand).
fn cross_site(request: &Request) -> Option<String> {
    if let Some(site) = request.header("Sec-Fetch-Site") {
        let site = site.trim();
        return (!site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none"))
            .then(|| format!("Sec-Fetch-Site: {}", shown(site)));
    }
    // A browser without Fetch Metadata still sends Origin with every request that can change
    // something (POST), and SameSite=Strict keeps the cookie off other sites' links.
    let origin = request.header("Origin")?.trim();
    let host = request.header("Host").map(str::trim).unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'));
    (origin_host != Some(host) || host.is_empty()).then(|| format!("Origin: {}", shown(origin)))
}

/// Identifies the caller of `request`, or refuses it with HTTP 401 / status -1 (403 for a
/// cookie sent by another site's page).
pub fn authenticate(context: &Context, request: &Request) -> Result<Caller, ApiError> {
    if request.header("Token-Code").is_none() {
        if let Some(why) = cross_site(request) {
            return Err(ApiError::Forbidden(format!(
                "Refused a request another site made a browser send with this server's cookies ({why}): use \
                 Portico's own pages, or authenticate with the Token-Code and Token-User headers"
            )));
        }
    }
    let code = header_or_cookie(request, "Token-Code");
    let user = header_or_cookie(request, "Token-User");
    match (code, user) {
        (Some(code), Some(user)) => {
            let from = request.client();
            let user = user.trim();
            return context.accounts.token(code, user, from).map_err(|e| {
                if let Some(held_back) = context.auth_failures_logged.admit() {
                    let note = suppressed_note(held_back);
                    log::warn!("token authentication failed for user {} from {from}: {}{note}", shown(user), e.reason());
                }
                // Linkis's words, with a name that is not a plain short name shown escaped.
                let named = if user.len() <= 64 && user.bytes().all(|b| b.is_ascii_graphic()) {
                    user.to_string()
                } else {
                    shown(user)
                };
                ApiError::NotLoggedIn(format!("Token Authentication Failed, tokenUser: {named}, reason: {}", e.reason()))
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(ApiError::NotLoggedIn(
                "请在Header或Cookie中同时指定Token-Code 和 Token-User，以便完成token认证！(send both Token-Code and Token-User)"
                    .into(),
            ))
        }
        (None, None) => {}
    }
    let Some(ticket) = session_ticket(request) else {
        return Err(ApiError::NotLoggedIn(NOT_LOGGED_IN.into()));
    };
    context.accounts.session(&ticket).map_err(|e| match e {
        SessionError::Expired => {
            ApiError::NotLoggedIn("Login has expired, please log in again!(登录已过期，请重新登录！)".into())
        }
        SessionError::Unknown => {
            ApiError::NotLoggedIn("You are not logged in, please login first!(您尚未登录，请先登录!)".into())
        }
    })
}
