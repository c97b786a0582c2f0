//! Unit tests of the credential store, sessions, tokens and the login throttle.

use std::sync::Barrier;

use super::throttle::{FREE_ADDRESS_FAILURES, FREE_FAILURES};
use super::*;

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn store(timeout: Duration) -> Accounts {
    store_with(timeout, false)
}

fn store_with(timeout: Duration, linkis_admin_tokens: bool) -> Accounts {
    let users = vec![
        UserEntry { name: "alice".into(), password: Some("wonderland".into()), password_hash: None, admin: false },
        UserEntry {
            name: "root".into(),
            password: None,
            password_hash: Some(hash_password("toor").unwrap()),
            admin: true,
        },
    ];
    let tokens = vec![
        TokenEntry {
            token: "LINKIS-AUTH-1234".into(),
            users: vec!["*".into()],
            hosts: vec!["*".into()],
            expires: None,
            may_submit_for_others: false,
        },
        TokenEntry {
            token: "OLD-TOKEN-5678".into(),
            users: vec!["alice".into()],
            hosts: vec!["10.0.0.1".into()],
            expires: Some("2001-01-01".into()),
            may_submit_for_others: false,
        },
        TokenEntry {
            token: "ADMIN-TOKEN-9".into(),
            users: vec!["alice".into()],
            hosts: vec!["127.0.0.1".into()],
            expires: None,
            may_submit_for_others: false,
        },
    ];
    Accounts::from_entries(&users, &tokens, timeout, linkis_admin_tokens).unwrap()
}

#[test]
fn login_opens_a_session_that_logout_ends() {
    let accounts = store(Duration::from_secs(60));
    let (who, ticket) = accounts.login("alice", "wonderland", localhost()).unwrap();
    assert_eq!(who, Identity { user: "alice".into(), admin: false, submit_for: Vec::new() });
    assert_eq!(accounts.session(&ticket).unwrap().user, "alice");
    let forged = format!("{}{}", &ticket[..24], "0".repeat(48));
    assert_eq!(accounts.session(&forged), Err(SessionError::Unknown));
    accounts.logout(&ticket);
    assert_eq!(accounts.session(&ticket), Err(SessionError::Unknown));
    assert!(accounts.login("root", "toor", localhost()).unwrap().0.admin);
}

#[test]
fn idle_sessions_expire() {
    let accounts = store(Duration::ZERO);
    let (_, ticket) = accounts.login("alice", "wonderland", localhost()).unwrap();
    assert_eq!(accounts.session(&ticket), Err(SessionError::Expired));
}

#[test]
fn repeated_failures_are_throttled() {
    let accounts = store(Duration::from_secs(60));
    let from = IpAddr::from([10, 9, 8, 7]);
    for _ in 0..FREE_FAILURES {
        assert_eq!(accounts.login("alice", "guess", from), Err(LoginError::WrongCredentials));
    }
    assert!(matches!(accounts.login("alice", "wonderland", from), Err(LoginError::Throttled(_))));
    assert!(accounts.login("alice", "wonderland", localhost()).is_ok(), "other addresses are not affected");
    assert_eq!(accounts.login("nobody", "x", localhost()), Err(LoginError::WrongCredentials));
    assert_eq!(accounts.login(" ", "x", localhost()), Err(LoginError::EmptyUser));
    assert_eq!(accounts.login("alice", "", localhost()), Err(LoginError::EmptyPassword));
}

/// Runs `login(i)` on `n` threads released at the same moment; returns the answers in order.
fn at_once<T: Send>(n: usize, login: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = Barrier::new(n);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let (start, login) = (&start, &login);
                scope.spawn(move || {
                    start.wait();
                    login(i)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

#[test]
fn simultaneous_guesses_get_only_the_free_password_checks() {
    let accounts = store(Duration::from_secs(60));
    let from = IpAddr::from([10, 1, 1, 1]);
    let answers = at_once(64, |_| accounts.login("alice", "guess", from));
    let checked = answers.iter().filter(|a| **a == Err(LoginError::WrongCredentials)).count();
    let throttled = answers.iter().filter(|a| matches!(a, Err(LoginError::Throttled(_)))).count();
    assert_eq!((checked, throttled), (FREE_FAILURES as usize, 64 - FREE_FAILURES as usize), "{answers:?}");
    assert!(matches!(accounts.login("alice", "wonderland", from), Err(LoginError::Throttled(_))));
}

#[test]
fn one_users_failures_lock_out_neither_other_users_nor_other_addresses() {
    let accounts = store(Duration::from_secs(60));
    let (a, b) = (IpAddr::from([10, 2, 2, 1]), IpAddr::from([10, 2, 2, 2]));
    for _ in 0..FREE_FAILURES {
        assert_eq!(accounts.login("alice", "guess", a), Err(LoginError::WrongCredentials));
    }
    assert!(matches!(accounts.login("alice", "wonderland", a), Err(LoginError::Throttled(_))));
    assert!(accounts.login("root", "toor", a).is_ok(), "another user from the same address gets in");
    assert!(accounts.login("alice", "wonderland", b).is_ok(), "the same user from another address gets in");
}

#[test]
fn spraying_names_from_one_address_throttles_it_for_everyone_there_only() {
    let accounts = store(Duration::from_secs(60));
    let sprayer = IpAddr::from([10, 3, 3, 3]);
    // Known and unknown names alike, checked two at a time to keep the test quick.
    let names: Vec<String> = (0..FREE_ADDRESS_FAILURES).map(|n| format!("user{n}")).collect();
    for pair in names.chunks(2) {
        let answers = at_once(pair.len(), |i| accounts.login(&pair[i], "Spring2025!", sprayer));
        assert!(answers.iter().all(|a| *a == Err(LoginError::WrongCredentials)), "{answers:?}");
    }
    for (user, password) in [("someone-else", "x"), ("root", "toor")] {
        assert!(matches!(accounts.login(user, password, sprayer), Err(LoginError::Throttled(_))), "{user}");
    }
    assert!(accounts.login("root", "toor", localhost()).is_ok(), "other addresses are unaffected");
}

#[test]
fn password_checks_run_only_within_the_bound() {
    let mut accounts = store(Duration::from_secs(60));
    accounts.verifications = throttle::Slots::new(2, 64);
    // Distinct names and addresses, so that the throttle lets every one through.
    let answers = at_once(16, |i| accounts.login(&format!("user{i}"), "guess", IpAddr::from([10, 4, 0, i as u8])));
    assert!(answers.iter().all(|a| *a == Err(LoginError::WrongCredentials)), "{answers:?}");
    assert!((1..=2).contains(&accounts.verifying.most()), "{} checks ran at once", accounts.verifying.most());
}

#[test]
fn a_login_without_a_free_check_is_busy_and_not_charged() {
    let mut accounts = store(Duration::from_secs(60));
    accounts.verifications = throttle::Slots::new(1, 0);
    let from = IpAddr::from([10, 5, 5, 5]);
    {
        let _held = accounts.verifications.acquire_within(Duration::ZERO).unwrap();
        for _ in 0..2 * FREE_FAILURES {
            assert_eq!(accounts.login("alice", "guess", from), Err(LoginError::Busy), "the queue is full");
        }
    }
    assert_eq!(accounts.verifying.most(), 0, "nothing was checked");
    assert!(accounts.login("alice", "wonderland", from).is_ok(), "refused logins cost no failures");
}

#[test]
fn tokens_check_user_host_and_expiry() {
    let accounts = store(Duration::from_secs(60));
    let who = accounts.token("LINKIS-AUTH-1234", "root", localhost()).unwrap();
    assert!(who.admin && who.submit_for.is_empty());
    assert_eq!(accounts.token("LINKIS-AUTH-123", "root", localhost()), Err(TokenError::Unknown));
    assert_eq!(accounts.token("OLD-TOKEN-5678", "alice", IpAddr::from([10, 0, 0, 1])), Err(TokenError::Expired));
    assert_eq!(accounts.token("ADMIN-TOKEN-9", "bob", localhost()), Err(TokenError::UserNotAllowed));
    assert_eq!(accounts.token("ADMIN-TOKEN-9", "alice", IpAddr::from([10, 0, 0, 2])), Err(TokenError::HostNotAllowed));
    let admin_token = accounts.token("ADMIN-TOKEN-9", "alice", localhost()).unwrap();
    assert!(admin_token.may_submit_for("alice") && !admin_token.may_submit_for("bob"), "only the token's users");
    assert_eq!(accounts.token("LINKIS-AUTH-1234", "../x", localhost()), Err(TokenError::BadUserName));
}

#[test]
fn only_the_config_lets_a_token_submit_for_others() {
    let token = |code: &str, may_submit_for_others: bool| TokenEntry {
        token: code.into(),
        users: vec!["alice".into(), "bob".into()],
        hosts: vec!["*".into()],
        expires: None,
        may_submit_for_others,
    };
    let tokens = [token("TEST-ADMIN-0001", false), token("SCHEDULER-0002", true), token("PLAIN-0003", false)];
    let submit_for = |linkis_admin_tokens: bool, code: &str| {
        let accounts = Accounts::from_entries(&[], &tokens, Duration::from_secs(60), linkis_admin_tokens).unwrap();
        accounts.token(code, "alice", localhost()).unwrap().submit_for
    };
    let both = vec!["alice".to_string(), "bob".to_string()];
    assert_eq!(submit_for(false, "TEST-ADMIN-0001"), Vec::<String>::new(), "the code's spelling grants nothing");
    assert_eq!(submit_for(true, "TEST-ADMIN-0001"), both, "unless the server follows Linkis");
    assert_eq!(submit_for(false, "SCHEDULER-0002"), both, "the explicit field grants it");
    assert_eq!(submit_for(true, "PLAIN-0003"), Vec::<String>::new());
    let accounts = store_with(Duration::from_secs(60), true);
    assert!(accounts.token("ADMIN-TOKEN-9", "alice", localhost()).unwrap().may_submit_for("alice"));
    assert!(accounts.token("LINKIS-AUTH-1234", "alice", localhost()).unwrap().submit_for.is_empty());
}

#[test]
fn helpers_behave() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
    assert!(!constant_time_eq(b"", b"\0"));
    assert_eq!(clock::parse_utc_millis("1970-01-02"), Some(86_400_000));
    assert_eq!(clock::parse_utc_millis("2027-01-01T00:00:00Z"), Some(1_798_761_600_000));
    assert_eq!(clock::parse_utc_millis("2027-13-01"), None);
    assert_eq!(clock::parse_utc_millis("soon"), None);
    assert_eq!(crate::random::hex(8).len(), 16);
}

#[test]
fn first_start_credentials_are_private_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (users, tokens) = bootstrap_credentials(dir.path()).unwrap();
    let path = crate::data_dir::Layout::new(dir.path()).credentials();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(users[0].name, BOOTSTRAP_ADMIN);
    assert!(users[0].admin);
    assert!(users[0].password.is_none() && users[0].password_hash.is_some(), "only the hash is used");
    let (again, _) = bootstrap_credentials(dir.path()).unwrap();
    assert_eq!(again[0].password_hash, users[0].password_hash);
    assert!(tokens[0].token.starts_with("PORTICO-AUTH-"));
}
