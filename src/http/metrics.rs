//! `GET /metrics`: the Prometheus text exposition of `crate::metrics`, for the addresses of
//! `[metrics] allow` (loopback by default) or a client with the `[metrics] token` as a bearer
//! token; anyone else gets 403 in the envelope. A scrape encodes figures already in memory and
//! reads `/proc/self`; it never reaches the job history.

use super::call::Context;
use super::message::{Answer, ApiError};
use super::request::Request;
use super::response::{Body, Response};
use crate::accounts::constant_time_eq;

/// The exposition, or the refusal.
pub fn scrape(context: &Context, request: &Request) -> Result<Answer, ApiError> {
    let settings = &context.config.metrics;
    let client = request.client();
    let allowed_address = settings.allow.iter().any(|network| network.contains(client));
    let bearer = request.header("Authorization").and_then(|value| value.trim().strip_prefix("Bearer "));
    let token_ok = match (&settings.token, bearer) {
        (Some(token), Some(offered)) => constant_time_eq(token.as_bytes(), offered.trim().as_bytes()),
        _ => false,
    };
    if !allowed_address && !token_ok {
        return Err(ApiError::Forbidden(format!(
            "{client} may not read the metrics: add it to [metrics] allow in the server's config, or send the [metrics] token as a bearer token"
        )));
    }
    let text = crate::metrics::get().encode();
    let response = Response {
        status: 200,
        headers: vec![("Content-Type".into(), crate::metrics::CONTENT_TYPE.into())],
        body: Body::Bytes(text.into_bytes()),
        hold: None,
        open_ended: false,
    };
    Ok(Answer::Raw(response))
}
