//! Which server, as whom: `--url`/`--user`/`--token` win over `PORTICO_URL`/`PORTICO_USER`/
//! `PORTICO_TOKEN`, which win over the client config file (`PORTICO_CLIENT_CONFIG`, else
//! `$XDG_CONFIG_HOME/portico/client.toml`, else `~/.config/portico/client.toml`). Without a
//! token the client logs in with a password (`PORTICO_PASSWORD`, or asked on the terminal).

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::json;

use super::api::Api;
use super::args::Connection;
use super::error::CliError;
use super::prompt;

/// The server's own default address (`--bind 127.0.0.1:9001`).
pub const DEFAULT_URL: &str = "http://127.0.0.1:9001";
/// The user when none is named: the admin a fresh server creates, as in Linkis.
pub const DEFAULT_USER: &str = "hadoop";
/// Linkis's session cookie, set by `user/login`.
const SESSION_COOKIE: &str = "linkis_user_session_ticket_id_v1";

/// The client config file: every key optional, unknown keys refused (a typo would otherwise
/// silently send requests elsewhere or as someone else).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    url: Option<String>,
    user: Option<String>,
    token: Option<String>,
}

/// Where to connect and as whom, every source merged.
#[derive(Debug, PartialEq)]
pub struct Settings {
    pub url: String,
    pub user: String,
    pub token: Option<String>,
}

impl Settings {
    /// Merges flags, the environment (`env`) and the config file, in that precedence.
    pub fn resolve(flags: &Connection, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, CliError> {
        let file = read_file(env)?;
        let pick = |flag: &Option<String>, var: &str, from_file: Option<String>| {
            flag.clone().or_else(|| env(var).filter(|v| !v.is_empty())).or(from_file)
        };
        Ok(Settings {
            url: pick(&flags.url, "PORTICO_URL", file.url).unwrap_or_else(|| DEFAULT_URL.to_string()),
            user: pick(&flags.user, "PORTICO_USER", file.user).unwrap_or_else(|| DEFAULT_USER.to_string()),
            token: pick(&flags.token, "PORTICO_TOKEN", file.token),
        })
    }

    /// A client for these settings, authenticated: token headers, or a password login whose
    /// session cookie the client keeps for the life of the process.
    pub fn connect(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Api, CliError> {
        let mut api = Api::new(&self.url);
        if let Some(token) = &self.token {
            api.add_header("Token-Code", token);
            api.add_header("Token-User", &self.user);
            return Ok(api);
        }
        let password = match env("PORTICO_PASSWORD") {
            Some(password) => password,
            None => prompt::password(&format!("password for {} at {}: ", self.user, api.base()))?,
        };
        let (_, cookies) = api.post_for_cookies("user/login", &json!({"userName": self.user, "password": password}))?;
        let session = cookies
            .iter()
            .filter_map(|cookie| cookie.split(';').next())
            .find(|pair| pair.trim_start().starts_with(&format!("{SESSION_COOKIE}=")))
            .ok_or_else(|| CliError::Protocol {
                path: "user/login".into(),
                detail: format!("no {SESSION_COOKIE} cookie in the answer"),
            })?;
        api.add_header("Cookie", session.trim());
        Ok(api)
    }
}

/// The config file's path: `PORTICO_CLIENT_CONFIG` (which must then exist), else the XDG one.
fn file_path(env: &dyn Fn(&str) -> Option<String>) -> Option<(PathBuf, bool)> {
    if let Some(path) = env("PORTICO_CLIENT_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(path), true));
    }
    let config_home = env("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").filter(|p| !p.is_empty()).map(|home| PathBuf::from(home).join(".config")))?;
    Some((config_home.join("portico").join("client.toml"), false))
}

fn read_file(env: &dyn Fn(&str) -> Option<String>) -> Result<ClientFile, CliError> {
    let Some((path, required)) = file_path(env) else { return Ok(ClientFile::default()) };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(ClientFile::default()),
        Err(e) => return Err(CliError::Usage(format!("cannot read the client config {}: {e}", path.display()))),
    };
    toml::from_str(&text)
        .map_err(|e| CliError::Usage(format!("the client config {} is not valid: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(flags: Connection, vars: &[(&str, &str)]) -> Result<Settings, CliError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::resolve(&flags, &|name| vars.get(name).cloned())
    }

    #[test]
    fn flags_win_over_the_environment_which_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("client.toml");
        std::fs::write(&file, "url = \"http://file:1\"\nuser = \"fileuser\"\ntoken = \"file-token\"\n").expect("write");
        let file = file.to_str().expect("utf-8");
        let from_file = resolve(Connection::default(), &[("PORTICO_CLIENT_CONFIG", file)]).expect("settings");
        assert_eq!(
            from_file,
            Settings { url: "http://file:1".into(), user: "fileuser".into(), token: Some("file-token".into()) }
        );
        let from_env =
            resolve(Connection::default(), &[("PORTICO_CLIENT_CONFIG", file), ("PORTICO_URL", "http://env:2")])
                .expect("ok");
        assert_eq!(from_env.url, "http://env:2");
        assert_eq!(from_env.user, "fileuser");
        let flags = Connection { url: Some("http://flag:3".into()), user: Some("flaguser".into()), token: None };
        let from_flags =
            resolve(flags, &[("PORTICO_CLIENT_CONFIG", file), ("PORTICO_URL", "http://env:2")]).expect("ok");
        assert_eq!((from_flags.url.as_str(), from_flags.user.as_str()), ("http://flag:3", "flaguser"));
        assert_eq!(from_flags.token.as_deref(), Some("file-token"));
    }

    #[test]
    fn defaults_without_any_source_and_a_missing_xdg_file_is_fine() {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().to_str().expect("utf-8");
        let settings = resolve(Connection::default(), &[("HOME", home)]).expect("settings");
        assert_eq!(settings, Settings { url: DEFAULT_URL.into(), user: DEFAULT_USER.into(), token: None });
    }

    #[test]
    fn a_named_config_that_is_missing_or_has_unknown_keys_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope.toml");
        let err = resolve(Connection::default(), &[("PORTICO_CLIENT_CONFIG", missing.to_str().expect("utf-8"))]);
        assert!(matches!(err, Err(CliError::Usage(_))), "{err:?}");
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "tokn = \"x\"\n").expect("write");
        let err = resolve(Connection::default(), &[("PORTICO_CLIENT_CONFIG", typo.to_str().expect("utf-8"))]);
        assert!(matches!(&err, Err(CliError::Usage(text)) if text.contains("tokn")), "{err:?}");
    }
}
