//! `/user/*`: login, logout, userInfo and heartbeat, with Linkis's messages.

use rouille::Request;
use serde_json::{json, Value};

use super::auth::{self, Caller, SESSION_COOKIE};
use super::message::{ApiError, Message};
use super::{optional_json_body, Context};
use crate::accounts::LoginError;

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
    let body = read_json_object(request)?;
    let field = |name: &str| -> Result<String, ApiError> {
        match body.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Null) | None => Ok(request.get_param(name).unwrap_or_default()),
            Some(_) => Err(ApiError::BadRequest(format!("{name} must be a string"))),
        }
    };
    let user = field("userName")?;
    let password = field("password")?;
    let from = request.remote_addr().ip();
    let timeout_ms = context.accounts.session_timeout().as_millis() as u64;
    match context.accounts.login(user.trim(), &password, from) {
        Ok((identity, ticket)) => {
            log::info!("user {} logged in from {from}", identity.user);
            Ok(Message::ok(
                method,
                json!({"userName": identity.user, "isAdmin": identity.admin, "sessionTimeOut": timeout_ms, "enableWatermark": false}),
            )
            .with_message("login successful(登录成功)！")
            .with_header("Set-Cookie", format!("{SESSION_COOKIE}={ticket}; Path=/; HttpOnly; SameSite=Lax")))
        }
        Err(LoginError::EmptyUser) => Err(ApiError::BadRequest("Username can not be empty(用户名不能为空)！".into())),
        Err(LoginError::EmptyPassword) => Err(ApiError::BadRequest("Password can not be blank(密码不能为空)！".into())),
        Err(LoginError::WrongCredentials) => {
            log::warn!("failed login for user {:?} from {from}", user.trim());
            Err(ApiError::BadRequest("wrong user name or password(用户名或密码错误)！".into()))
        }
        Err(LoginError::Throttled(wait)) => {
            log::warn!("login from {from} refused: too many failures");
            Err(ApiError::Throttled { retry_after_secs: wait.as_secs().max(1) })
        }
    }
}

/// A login body may be empty (query parameters) but, if present, must be a JSON object.
fn read_json_object(request: &Request) -> Result<serde_json::Map<String, Value>, ApiError> {
    match optional_json_body(request)? {
        None => Ok(serde_json::Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(ApiError::BadRequest("The request body must be a JSON object".into())),
    }
}

/// `POST user/logout`: ends the session (if any) and clears the cookie.
pub fn logout(context: &Context, request: &Request, method: &str) -> Result<Message, ApiError> {
    if let Some(ticket) = auth::session_ticket(request) {
        context.accounts.logout(&ticket);
    }
    Ok(Message::ok(method, json!({}))
        .with_message("Logout successful(退出登录成功)！")
        .with_header("Set-Cookie", format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")))
}

/// `GET user/userInfo`: who the caller is.
pub fn user_info(caller: &Caller, method: &str) -> Result<Message, ApiError> {
    Ok(Message::ok(method, json!({"userName": caller.user, "isAdmin": caller.admin})))
}

/// `GET user/heartbeat`: keeps a session alive.
pub fn heartbeat(method: &str) -> Result<Message, ApiError> {
    Ok(Message::ok(method, json!({})).with_message("Maintain heartbeat success(维系心跳成功)"))
}
