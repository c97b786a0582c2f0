//! The REST API as the client sees it: one base URL, the caller's credentials on every
//! request, and the Linkis envelope unwrapped so that callers get `data` or a [`CliError`].
//! It speaks HTTP only; nothing here knows how the server is built.

use std::io::BufRead;
use std::time::Duration;

use serde_json::Value;

use super::error::CliError;

/// Where every API path lives under the server's URL.
const PREFIX: &str = "/api/rest_j/v1/";

/// A connection to one server as one caller.
#[derive(Clone)]
pub struct Api {
    base: String,
    /// Ordinary requests: none takes long, so a stuck server is reported rather than waited on.
    agent: ureq::Agent,
    /// The live log: silent for as long as a job prints nothing, so no read timeout.
    stream_agent: ureq::Agent,
    /// `Token-Code`/`Token-User`, or the session cookie after a password login.
    headers: Vec<(String, String)>,
}

/// What `entrance/{id}/log?follow=true` answered.
pub enum LogFollow {
    /// A server that streams: the job's log lines as they are written, ending with the job.
    Stream(Box<dyn BufRead + Send>),
    /// A server that does not stream (or has no room for another follower) answered an
    /// envelope: poll instead.
    NotStreamed,
}

impl Api {
    /// A client of the server at `base` (`http://host:port`, with or without the API prefix).
    pub fn new(base: &str) -> Api {
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/api/rest_j/v1").unwrap_or(base).to_string();
        let connect = Duration::from_secs(10);
        Api {
            base,
            agent: ureq::AgentBuilder::new().timeout_connect(connect).timeout_read(Duration::from_secs(120)).build(),
            stream_agent: ureq::AgentBuilder::new().timeout_connect(connect).build(),
            headers: Vec::new(),
        }
    }

    /// The server's URL as given (for messages).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `name: value` with every later request.
    pub fn add_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }

    fn request(&self, agent: &ureq::Agent, method: &str, path: &str, query: &[(&str, &str)]) -> ureq::Request {
        let mut request = agent.request(method, &format!("{}{PREFIX}{path}", self.base));
        for (name, value) in &self.headers {
            request = request.set(name, value);
        }
        for (name, value) in query {
            request = request.query(name, value);
        }
        request
    }

    /// `GET path?query`; the envelope's `data`.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, CliError> {
        let answer = self.request(&self.agent, "GET", path, query).call();
        self.data(path, answer)
    }

    /// `POST path` with a JSON body; the envelope's `data`.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let answer = self
            .request(&self.agent, "POST", path, &[])
            .set("Content-Type", "application/json")
            .send_string(&body.to_string());
        self.data(path, answer)
    }

    /// `POST path` with a JSON body; the envelope's `data` and the response's cookies.
    pub fn post_for_cookies(&self, path: &str, body: &Value) -> Result<(Value, Vec<String>), CliError> {
        let answer = self
            .request(&self.agent, "POST", path, &[])
            .set("Content-Type", "application/json")
            .send_string(&body.to_string());
        let cookies = match &answer {
            Ok(response) => response.all("set-cookie").into_iter().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        };
        Ok((self.data(path, answer)?, cookies))
    }

    /// Asks for the live log of job `id` from line `from_line` on.
    pub fn follow_log(&self, id: u64, from_line: u64) -> Result<LogFollow, CliError> {
        let path = format!("entrance/{id}/log");
        let from = from_line.to_string();
        let answer = self.request(&self.stream_agent, "GET", &path, &[("follow", "true"), ("fromLine", &from)]).call();
        match answer {
            Ok(response) if response.status() == 200 && response.content_type() == "text/plain" => {
                Ok(LogFollow::Stream(Box::new(std::io::BufReader::new(response.into_reader()))))
            }
            Ok(_) | Err(ureq::Error::Status(..)) => Ok(LogFollow::NotStreamed),
            Err(ureq::Error::Transport(e)) => Err(self.unreachable(e)),
        }
    }

    fn unreachable(&self, e: ureq::Transport) -> CliError {
        CliError::Unreachable { url: self.base.clone(), reason: e.to_string() }
    }

    /// The envelope of an answer (success or HTTP error alike), unwrapped to `data`.
    fn data(&self, path: &str, answer: Result<ureq::Response, ureq::Error>) -> Result<Value, CliError> {
        let response = match answer {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(e)) => return Err(self.unreachable(e)),
        };
        let http = response.status();
        let protocol = |detail: String| CliError::Protocol { path: path.to_string(), detail };
        let envelope: Value = serde_json::from_reader(response.into_reader())
            .map_err(|e| protocol(format!("HTTP {http}, not a JSON envelope ({e})")))?;
        let status = envelope
            .get("status")
            .and_then(Value::as_i64)
            .ok_or_else(|| protocol(format!("HTTP {http}, no status")))?;
        if status != 0 || !(200..300).contains(&http) {
            let message = envelope.get("message").and_then(Value::as_str).unwrap_or("(no message)").to_string();
            return Err(CliError::Refused { path: path.to_string(), http, status, message });
        }
        Ok(envelope.get("data").cloned().unwrap_or(Value::Null))
    }
}

/// A field of `data` that must be there, or a [`CliError::Protocol`] naming it.
pub fn field<'v>(data: &'v Value, path: &str, pointer: &str) -> Result<&'v Value, CliError> {
    data.pointer(pointer).filter(|v| !v.is_null()).ok_or_else(|| CliError::Protocol {
        path: path.to_string(),
        detail: format!("no {pointer} in {}", short(data)),
    })
}

/// A string field of `data` that must be there.
pub fn text<'v>(data: &'v Value, path: &str, pointer: &str) -> Result<&'v str, CliError> {
    let value = field(data, path, pointer)?;
    value
        .as_str()
        .ok_or_else(|| CliError::Protocol { path: path.to_string(), detail: format!("{pointer} is not text") })
}

/// A whole-number field (the server sends some as text, as Linkis does).
pub fn number(data: &Value, path: &str, pointer: &str) -> Result<u64, CliError> {
    let value = field(data, path, pointer)?;
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| CliError::Protocol { path: path.to_string(), detail: format!("{pointer} is not a number") })
}

/// A JSON value cut short for an error message.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}
