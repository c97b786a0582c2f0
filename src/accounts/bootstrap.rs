//! First start without users: an admin with a random password and token, written owner-only
//! to the data directory's credentials file and read back on later starts.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{hash_password, SetupError, BOOTSTRAP_ADMIN};
use crate::config::{TokenEntry, UserEntry};
use crate::data_dir::Layout;
use crate::random;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    /// The admin's password in clear, for the person reading the file; the server uses only
    /// the hash below it.
    #[serde(default)]
    #[allow(dead_code)]
    login_password: Option<String>,
    #[serde(default)]
    users: Vec<UserEntry>,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

/// Reads the first-start credentials, creating them (owner-only) if they do not exist yet.
pub(super) fn bootstrap_credentials(data_dir: &Path) -> Result<(Vec<UserEntry>, Vec<TokenEntry>), SetupError> {
    let path = Layout::new(data_dir).credentials();
    if !path.exists() {
        create_credentials(&path)?;
        log::warn!(
            "no users are configured: created the admin user {BOOTSTRAP_ADMIN} with a random password and token in {} \
             (readable only by this account)",
            path.display()
        );
    } else {
        log::info!("no users are configured: using the credentials in {}", path.display());
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| SetupError(format!("cannot read {}: {e}", path.display())))?;
    let file: CredentialsFile =
        toml::from_str(&text).map_err(|e| SetupError(format!("cannot parse {}: {e}", path.display())))?;
    Ok((file.users, file.tokens))
}

fn create_credentials(path: &PathBuf) -> Result<(), SetupError> {
    let password = random::hex(16);
    let password_hash = hash_password(&password)?;
    let token = format!("PORTICO-AUTH-{}", random::hex(16));
    let text = format!(
        "# Created by Portico on its first start because no users were configured.\n\
         # Log in as {BOOTSTRAP_ADMIN} with login_password, or send the headers\n\
         #   Token-Code: <token below>   and   Token-User: {BOOTSTRAP_ADMIN}\n\
         # Configure your own users and tokens with --config to stop using this file.\n\n\
         login_password = \"{password}\"\n\n\
         [[users]]\nname = \"{BOOTSTRAP_ADMIN}\"\npassword_hash = \"{password_hash}\"\nadmin = true\n\n\
         [[tokens]]\ntoken = \"{token}\"\nusers = [\"*\"]\nhosts = [\"*\"]\n"
    );
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SetupError(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| SetupError(format!("cannot write {}: {e}", path.display())))
}
