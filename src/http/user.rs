//! `/user/*`: login, logout, userInfo and heartbeat, with Linkis's messages.
//!
//! Login and logout are public: their bodies are capped at a few KiB by the route and parsed
//! straight into [`LoginBody`], so an unauthenticated request costs a small constant.

use serde::Deserialize;
use serde_json::json;

use super::auth::{self, SESSION_COOKIE};
use super::call::{optional_json_body, Call, Context};
use super::message::{ApiError, Message};
use super::request::Request;
use crate::accounts::LoginError;
use crate::logging::{shown, suppressed_note};

/// A login body; unknown fields are ignored, as Linkis does.
#[derive(Deserialize, Default)]
struct LoginBody {
    #[serde(rename = "userName", default)]
    user_name: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// `POST user/login` with `{userName, password}` (query parameters work too, as in Linkis).
pub fn login(context: &Context, request: &Request, method: &str) -> Result<Message, ApiError> {
    if let Ok(caller) = auth::authenticate(context, request) {
        if auth::session_ticket(request).is_some() {
            return Ok(Message::ok(method, json!({"userName": caller.user})).with_message(format!(
                "{} already logged in, please log out before signing in(已经登录，请先退出再进行登录)！",
                caller.user
            )));
        }
    }
    let body: LoginBody = optional_json_body(request)
        .map_err(|_| {
            ApiError::BadRequest("The login body must be a JSON object with string userName and password".into())
        })?
        .unwrap_or_default();
    let user = body.user_name.or_else(|| request.param("userName")).unwrap_or_default();
    let password = body.password.or_else(|| request.param("password")).unwrap_or_default();
    let from = request.client();
    let timeout_ms = context.accounts.session_timeout().as_millis() as u64;
    match context.accounts.login(user.trim(), &password, from) {
        Ok((identity, ticket)) => {
            log::info!("user {} logged in from {from}", identity.user);
            Ok(Message::ok(
                method,
                json!({"userName": identity.user, "isAdmin": identity.admin, "sessionTimeOut": timeout_ms, "enableWatermark": false}),
            )
            .with_message("login successful(登录成功)！")
            .with_header("Set-Cookie", format!("{SESSION_COOKIE}={ticket}; Path=/; HttpOnly; SameSite=Strict")))
        }
        Err(LoginError::EmptyUser) => Err(ApiError::BadRequest("Username can not be empty(用户名不能为空)！".into())),
        Err(LoginError::EmptyPassword) => Err(ApiError::BadRequest("Password can not be blank(密码不能为空)！".into())),
        Err(LoginError::WrongCredentials) => {
            if let Some(held_back) = context.auth_failures_logged.admit() {
                log::warn!("failed login for user {} from {from}{}", shown(user.trim()), suppressed_note(held_back));
            }
            Err(ApiError::BadRequest("wrong user name or password(用户名或密码错误)！".into()))
        }
        Err(LoginError::Busy) => {
            Err(ApiError::Busy { what: "Too many logins are being checked at once", retry_after_secs: 1 })
        }
        Err(LoginError::Throttled(wait)) => {
            if let Some(held_back) = context.auth_failures_logged.admit() {
                log::warn!(
                    "login for user {} from {from} refused: too many failures{}",
                    shown(user.trim()),
                    suppressed_note(held_back)
                );
            }
            Err(ApiError::Throttled { retry_after_secs: wait.as_secs().max(1) })
        }
    }
}

/// `POST user/logout`: ends the session (if any) and clears the cookie.
pub fn logout(context: &Context, request: &Request, method: &str) -> Result<Message, ApiError> {
    if let Some(ticket) = auth::session_ticket(request) {
        context.accounts.logout(&ticket);
    }
    Ok(Message::ok(method, json!({}))
        .with_message("Logout successful(退出登录成功)！")
        .with_header("Set-Cookie", format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")))
}

/// `GET user/userInfo`: who the caller is.
pub fn user_info(call: Call<'_>) -> Result<Message, ApiError> {
    Ok(Message::ok(call.method, json!({"userName": call.caller.user, "isAdmin": call.caller.admin})))
}

/// `GET user/heartbeat`: keeps a session alive.
pub fn heartbeat(call: Call<'_>) -> Result<Message, ApiError> {
    Ok(Message::ok(call.method, json!({})).with_message("Maintain heartbeat success(维系心跳成功)"))
}
