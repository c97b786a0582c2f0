//! Users, tokens, login sessions and the throttle on failed logins.
//!
//! Portico runs arbitrary code for whoever it authenticates, so this module decides who that
//! is, and nothing else: it knows no HTTP (the `http::auth` module reads cookies and headers)
//! and no jobs (handlers compare the caller with a job's owner).
//!
//! Costs per request stay in microseconds: a session ticket is `selector` + `verifier`; the
//! selector finds the session in a map and the verifier is compared in constant time. Tokens
//! are few and compared in constant time one by one. Passwords are hashed with Argon2id and only
//! ever verified at login, and only as many at once as `throttle` allows. Secrets are never
//! logged, and error messages never repeat them.

mod bootstrap;
mod throttle;

use bootstrap::bootstrap_credentials;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::clock;
use crate::config::{Config, TokenEntry, UserEntry};
use crate::random;
use crate::sync::lock;
use throttle::{Slots, Throttle};

/// The admin a fresh Linkis has, and the one Portico creates on its first start.
pub const BOOTSTRAP_ADMIN: &str = "hadoop";

/// Verified against when a login names no known user, so that the answer takes as long as for
/// a wrong password and does not reveal which user names exist. (The hash of a throwaway
/// phrase; a constant so that starting the server costs no hashing.)
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$P7NnBcZYb9cEuLNLez9QIg$moo5diPLvtWMyY/UWxDxEstuOJGVVPYOD58mkhi+dWI";

/// How long a login may wait for a free password check before it is refused as busy: long
/// enough to ride out a burst, short enough that a client is not left hanging.
const LOGIN_PATIENCE: Duration = Duration::from_secs(5);

/// Who an authenticated request acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    /// Admins see and control every user's jobs.
    pub admin: bool,
    /// Whom the caller may submit jobs for (`executeUser`): the users of a token the config
    /// lets submit for others (`*` for anyone); empty for everyone else.
    pub submit_for: Vec<String>,
}

impl Identity {
    /// Whether this caller may see and control a job owned by `owner`.
    pub fn may_access(&self, owner: &str) -> bool {
        self.admin || self.user == owner
    }

    /// Whether this caller may submit a job that runs as `user`.
    pub fn may_submit_for(&self, user: &str) -> bool {
        user == self.user || self.submit_for.iter().any(|u| u == "*" || u == user)
    }
}

/// Why a login was refused; each maps to the Linkis message for it.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    EmptyUser,
    EmptyPassword,
    WrongCredentials,
    /// Too many recent failures for this user name from this address, or for any name from
    /// this address; try again after this long.
    Throttled(Duration),
    /// Too many password checks are running or waiting; try again shortly.
    Busy,
}

/// Why a session ticket was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionError {
    Unknown,
    Expired,
}

/// Why token authentication failed (never containing the token itself).
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Unknown,
    Expired,
    UserNotAllowed,
    HostNotAllowed,
    BadUserName,
}

impl TokenError {
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Unknown => "the token is not valid",
            TokenError::Expired => "the token has expired",
            TokenError::UserNotAllowed => "the token may not act as this user",
            TokenError::HostNotAllowed => "the token is not valid from this address",
            TokenError::BadUserName => "the user name is not valid",
        }
    }
}

/// A problem with the configured users and tokens, found at start-up.
#[derive(Debug)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

struct Account {
    /// An Argon2 PHC string.
    password_hash: String,
    admin: bool,
}

struct Token {
    secret: String,
    users: Vec<String>,
    hosts: Vec<String>,
    expires_ms: Option<u64>,
    /// Decided once at start-up, so that no request's handling depends on a secret's text.
    submit_for: Vec<String>,
}

struct Session {
    verifier: String,
    identity: Identity,
    last_access: Instant,
}

/// The credential store and the live sessions.
pub struct Accounts {
    users: HashMap<String, Account>,
    tokens: Vec<Token>,
    sessions: Mutex<HashMap<String, Session>>,
    throttle: Throttle,
    /// Bounds the Argon2 checks running at once: each takes 19 MiB and a core for tens of
    /// milliseconds, so unbounded concurrent logins could exhaust memory.
    verifications: Slots,
    session_timeout: Duration,
    #[cfg(test)]
    verifying: throttle::Gauge,
}

impl Accounts {
    /// Builds the store from the configuration; with no users and no tokens configured, from
    /// the first-start credentials file in the data directory (created if missing).
    pub fn load(config: &Config) -> Result<Accounts, SetupError> {
        let (users, tokens) = if config.users.is_empty() && config.tokens.is_empty() {
            bootstrap_credentials(&config.data_dir)?
        } else {
            for user in &config.users {
                if user.password.is_some() {
                    log::warn!(
                        "user {} has a plain-text password in the config file; store a password_hash instead \
                         (`portico hash-password` prints one)",
                        user.name
                    );
                }
            }
            (config.users.clone(), config.tokens.clone())
        };
        Accounts::from_entries(&users, &tokens, config.session_timeout, config.linkis_admin_tokens)
    }

    /// `linkis_admin_tokens`: whether a token whose code contains `ADMIN-` may submit for others
    /// without saying so in `may_submit_for_others` (Linkis's convention, off unless configured).
    fn from_entries(
        users: &[UserEntry],
        tokens: &[TokenEntry],
        session_timeout: Duration,
        linkis_admin_tokens: bool,
    ) -> Result<Accounts, SetupError> {
        let mut accounts = HashMap::new();
        for user in users {
            if !crate::names::is_safe(&user.name) {
                return Err(SetupError(format!(
                    "user name {:?} may only use letters, digits, '_', '-' and '.'",
                    user.name
                )));
            }
            let password_hash = match (&user.password, &user.password_hash) {
                (Some(_), Some(_)) => {
                    return Err(SetupError(format!("user {}: give password or password_hash, not both", user.name)))
                }
                (None, None) => {
                    return Err(SetupError(format!("user {}: needs a password or a password_hash", user.name)))
                }
                (Some(plain), None) => hash_password(plain)?,
                (None, Some(hash)) => {
                    PasswordHash::new(hash).map_err(|e| {
                        SetupError(format!("user {}: password_hash is not a PHC string: {e}", user.name))
                    })?;
                    hash.clone()
                }
            };
            if accounts.insert(user.name.clone(), Account { password_hash, admin: user.admin }).is_some() {
                return Err(SetupError(format!("user {} is listed twice", user.name)));
            }
        }
        let mut parsed = Vec::new();
        let mut unprivileged_admin_codes = 0;
        for token in tokens {
            if token.token.len() < 8 {
                return Err(SetupError("a token must be at least 8 characters long".into()));
            }
            let expires_ms = match &token.expires {
                None => None,
                Some(text) => Some(clock::parse_utc_millis(text).ok_or_else(|| {
                    SetupError(format!("token expiry {text:?} is not a date like 2027-01-01T00:00:00Z"))
                })?),
            };
            let admin_code = token.token.to_ascii_uppercase().contains("ADMIN-");
            let may_submit_for_others = token.may_submit_for_others || (linkis_admin_tokens && admin_code);
            if admin_code && !may_submit_for_others {
                unprivileged_admin_codes += 1;
            }
            parsed.push(Token {
                secret: token.token.clone(),
                users: token.users.clone(),
                hosts: token.hosts.clone(),
                expires_ms,
                submit_for: if may_submit_for_others { token.users.clone() } else { Vec::new() },
            });
        }
        if unprivileged_admin_codes > 0 {
            // Linkis grants this by the code's spelling, so a migrated setup may rely on it;
            // say so once at start-up (by count: the codes are secrets) rather than fail later.
            log::warn!(
                "{unprivileged_admin_codes} token(s) have \"ADMIN-\" in their code but may not submit jobs for other \
                 users; set may_submit_for_others = true on them, or linkis_admin_tokens = true in [server]"
            );
        }
        Ok(Accounts {
            users: accounts,
            tokens: parsed,
            sessions: Mutex::new(HashMap::new()),
            throttle: Throttle::new(),
            verifications: Slots::for_this_machine(),
            session_timeout,
            #[cfg(test)]
            verifying: throttle::Gauge::default(),
        })
    }

    /// How long an idle session lives.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// Checks a password and opens a session; returns the identity and the ticket.
    pub fn login(&self, user: &str, password: &str, from: IpAddr) -> Result<(Identity, String), LoginError> {
        if user.trim().is_empty() {
            return Err(LoginError::EmptyUser);
        }
        if password.trim().is_empty() {
            return Err(LoginError::EmptyPassword);
        }
        // Charged before the check, under the throttle's lock: concurrent guesses see each other.
        let charge = self.throttle.begin(user, from).map_err(LoginError::Throttled)?;
        let account = self.users.get(user);
        let hash = account.map_or(DECOY_HASH, |a| a.password_hash.as_str());
        let verified = {
            // Without a slot the charge is dropped, and so given back: nothing was checked.
            let _slot = self.verifications.acquire_within(LOGIN_PATIENCE).ok_or(LoginError::Busy)?;
            #[cfg(test)]
            let _inside = self.verifying.enter();
            PasswordHash::new(hash)
                .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        };
        let Some(account) = account.filter(|_| verified) else {
            charge.failed();
            return Err(LoginError::WrongCredentials);
        };
        charge.succeeded();
        let identity = Identity { user: user.to_string(), admin: account.admin, submit_for: Vec::new() };
        Ok((identity.clone(), self.open_session(identity)))
    }

    fn open_session(&self, identity: Identity) -> String {
        let selector = random::hex(12);
        let verifier = random::hex(24);
        let mut sessions = lock(&self.sessions);
        let timeout = self.session_timeout;
        sessions.retain(|_, s| s.last_access.elapsed() < timeout);
        sessions
            .insert(selector.clone(), Session { verifier: verifier.clone(), identity, last_access: Instant::now() });
        format!("{selector}{verifier}")
    }

    /// The identity behind a session ticket; refreshes the session's idle clock.
    pub fn session(&self, ticket: &str) -> Result<Identity, SessionError> {
        let (selector, verifier) = split_ticket(ticket).ok_or(SessionError::Unknown)?;
        let mut sessions = lock(&self.sessions);
        let session = sessions.get_mut(selector).ok_or(SessionError::Unknown)?;
        if !constant_time_eq(session.verifier.as_bytes(), verifier.as_bytes()) {
            return Err(SessionError::Unknown);
        }
        if session.last_access.elapsed() >= self.session_timeout {
            sessions.remove(selector);
            return Err(SessionError::Expired);
        }
        session.last_access = Instant::now();
        Ok(session.identity.clone())
    }

    /// Ends a session; unknown tickets are ignored.
    pub fn logout(&self, ticket: &str) {
        if let Some((selector, verifier)) = split_ticket(ticket) {
            let mut sessions = lock(&self.sessions);
            if sessions.get(selector).is_some_and(|s| constant_time_eq(s.verifier.as_bytes(), verifier.as_bytes())) {
                sessions.remove(selector);
            }
        }
    }

    /// Authenticates `Token-Code` + `Token-User` from address `from`.
    pub fn token(&self, code: &str, user: &str, from: IpAddr) -> Result<Identity, TokenError> {
        // Compare against every token so the time taken does not depend on which one matched.
        let mut found = None;
        for token in &self.tokens {
            if constant_time_eq(token.secret.as_bytes(), code.as_bytes()) {
                found = Some(token);
            }
        }
        let token = found.ok_or(TokenError::Unknown)?;
        if token.expires_ms.is_some_and(|at| clock::now_millis() >= at) {
            return Err(TokenError::Expired);
        }
        if !crate::names::is_safe(user) {
            return Err(TokenError::BadUserName);
        }
        if !token.users.iter().any(|u| u == "*" || u == user) {
            return Err(TokenError::UserNotAllowed);
        }
        let from = from.to_canonical().to_string();
        if !token.hosts.iter().any(|h| h == "*" || *h == from) {
            return Err(TokenError::HostNotAllowed);
        }
        Ok(Identity {
            user: user.to_string(),
            admin: self.users.get(user).is_some_and(|a| a.admin),
            submit_for: token.submit_for.clone(),
        })
    }
}

fn split_ticket(ticket: &str) -> Option<(&str, &str)> {
    if ticket.len() != 72 || !ticket.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(ticket.split_at(24))
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Hashes a password with Argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, SetupError> {
    let mut salt = [0u8; 16];
    random::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| SetupError(format!("cannot make a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| SetupError(format!("cannot hash a password: {e}")))
}

#[cfg(test)]
mod tests;
