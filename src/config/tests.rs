//! Unit tests of the settings: defaults, file, environment and flag precedence, minimums.

use std::path::Path;

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn defaults_need_no_file() {
    let config = Config::from_args_and_env(Vec::<String>::new(), &no_env).unwrap();
    assert_eq!(config.bind, "127.0.0.1:9001");
    assert_eq!(config.data_dir, PathBuf::from("./portico-data"));
    assert_eq!(config.workers, 4);
}

#[test]
fn flags_beat_environment() {
    let env = |name: &str| (name == "PORTICO_WORKERS").then(|| "7".to_string());
    let config = Config::from_args_and_env(["serve", "--workers=2", "--bind", "127.0.0.1:0"], &env).unwrap();
    assert_eq!(config.workers, 2);
    assert_eq!(config.bind, "127.0.0.1:0");
    let config = Config::from_args_and_env(Vec::<String>::new(), &env).unwrap();
    assert_eq!(config.workers, 7);
}

#[test]
fn the_file_is_beaten_by_the_environment_which_is_beaten_by_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portico.toml");
    std::fs::write(&path, "[server]\nworkers = 3\nkill_grace_secs = 5\nbind = \"127.0.0.1:7000\"\n").unwrap();
    let file = path.to_str().unwrap().to_string();
    let env = |name: &str| match name {
        "PORTICO_CONFIG" => Some(file.clone()),
        "PORTICO_WORKERS" => Some("6".to_string()),
        "PORTICO_KILL_GRACE" => Some("7".to_string()),
        _ => None,
    };
    let config = Config::from_args_and_env(["--kill-grace", "9"], &env).unwrap();
    assert_eq!(config.bind, "127.0.0.1:7000", "from the file");
    assert_eq!(config.workers, 6, "the environment beats the file");
    assert_eq!(config.kill_grace, Duration::from_secs(9), "a flag beats the environment");
}

#[test]
fn bad_values_and_unknown_flags_are_errors() {
    assert!(matches!(
        Config::from_args_and_env(["--workers", "0"], &no_env),
        Err(ConfigError::Invalid { setting: "workers", .. })
    ));
    assert!(matches!(Config::from_args_and_env(["--nope"], &no_env), Err(ConfigError::Usage(_))));
    assert!(matches!(Config::from_args_and_env(["--bind"], &no_env), Err(ConfigError::Usage(_))));
}

#[test]
fn the_example_file_in_the_repository_is_valid() {
    let mut config = Config::default();
    config.apply_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("portico.example.toml")).unwrap();
    assert_eq!(config.bind, "127.0.0.1:9001");
    assert_eq!(config.kill_grace, Duration::from_secs(3));
    assert!(!config.linkis_admin_tokens, "the example keeps the safe default");
    assert!(config.tokens.iter().any(|t| t.may_submit_for_others), "and shows the explicit grant");
    assert!(config.tokens.iter().any(|t| !t.may_submit_for_others), "next to a token without it");
}

#[test]
fn token_privileges_come_from_the_file_and_default_to_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portico.toml");
    std::fs::write(&path, "[[tokens]]\ntoken = \"TEST-ADMIN-0123\"\n").unwrap();
    let mut config = Config::default();
    config.apply_file(&path).unwrap();
    assert!(!config.linkis_admin_tokens && !config.tokens[0].may_submit_for_others);
    std::fs::write(
        &path,
        "[server]\nlinkis_admin_tokens = true\n\n[[tokens]]\ntoken = \"AUTH-0123\"\nmay_submit_for_others = true\n",
    )
    .unwrap();
    config.apply_file(&path).unwrap();
    assert!(config.linkis_admin_tokens && config.tokens[0].may_submit_for_others);
}

#[test]
fn config_file_minimums_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portico.toml");
    for bad in ["max_log_bytes = 10", "idle_timeout_secs = 0", "max_connections = 0", "session_timeout_secs = 0"] {
        std::fs::write(&path, format!("[server]\n{bad}\n")).unwrap();
        assert!(matches!(Config::default().apply_file(&path), Err(ConfigError::Invalid { .. })), "{bad}");
    }
    std::fs::write(&path, "[server]\nmax_connections_per_address = 2\nkill_grace_secs = 0.5\n").unwrap();
    let mut config = Config::default();
    config.apply_file(&path).unwrap();
    assert_eq!((config.max_connections_per_address, config.kill_grace), (2, Duration::from_millis(500)));
}

#[test]
fn config_file_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portico.toml");
    std::fs::write(&path, "[server]\nworkers = 3\n\n[[users]]\nname = \"alice\"\npassword = \"x\"\n").unwrap();
    let mut config = Config::default();
    config.apply_file(&path).unwrap();
    assert_eq!(config.workers, 3);
    assert_eq!(config.users.len(), 1);
    std::fs::write(&path, "[server]\nworkerz = 3\n").unwrap();
    assert!(matches!(config.apply_file(&path), Err(ConfigError::File { .. })));
}

#[test]
fn sql_databases_come_from_the_file_with_checked_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portico.toml");
    let mut config = Config::default();
    assert_eq!(config.sqlite.row_cap, 5_000_000);
    std::fs::write(
        &path,
        "[engines.sqlite]\nrow_cap = 10\n[[engines.sqlite.databases]]\nname = \"sales\"\npath = \"/srv/sales.db\"\nusers = [\"alice\"]\n[engines.jdbc]\ndatabase = \"sales\"\n",
    )
    .unwrap();
    config.apply_file(&path).unwrap();
    assert_eq!(config.sqlite.row_cap, 10);
    assert_eq!(config.sqlite.databases[0].name, "sales");
    assert_eq!(config.sqlite.jdbc_database.as_deref(), Some("sales"));
    for bad in [
        "[engines.sqlite]\nrow_cap = 0\n",
        "[[engines.sqlite.databases]]\nname = \"../x\"\npath = \"/x\"\nusers = []\n",
        "[[engines.sqlite.databases]]\nname = \"a\"\npath = \"/x\"\nusers = []\n[[engines.sqlite.databases]]\nname = \"a\"\npath = \"/y\"\nusers = []\n",
        "[engines.jdbc]\ndatabase = \"nowhere\"\n",
        "[[engines.sqlite.databases]]\nname = \"rel\"\npath = \"sales.db\"\nusers = []\n",
    ] {
        std::fs::write(&path, bad).unwrap();
        assert!(matches!(Config::default().apply_file(&path), Err(ConfigError::File { .. })), "{bad}");
    }
}

#[test]
fn request_limits_and_python_interpreters_come_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portico.toml");
    let write_and_load = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let mut config = Config::default();
        config.apply_file(&path).map(|()| config)
    };
    let config = write_and_load(
        "[requests]\nmax_code_bytes = 2048\nmax_labels = 5\n[engines]\npython_interpreters = [\"/opt/py/bin/python3.12\"]\n",
    )
    .unwrap();
    assert_eq!(
        config.requests,
        RequestLimits { max_code_bytes: 2048, max_labels: 5, max_variables: 100, max_runtime_params: 100 }
    );
    assert_eq!(config.python_interpreters, vec!["/opt/py/bin/python3.12".to_string()]);
    for bad in [
        "[requests]\nmax_variables = 0\n",
        "[requests]\nmax_json_depth = 9\n",
        "[engines]\npython_interpreters = [\" \"]\n",
    ] {
        assert!(matches!(write_and_load(bad), Err(ConfigError::File { .. })), "{bad}");
    }
}

#[test]
fn job_limits_are_off_by_default_and_checked_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portico.toml");
    let config = Config::default();
    assert_eq!(config.limits.max_result_set_bytes, 1 << 30);
    assert!(!config.limits.limits_processes_or_memory(), "process and memory limits are opt-in");
    assert!(config.limits.use_cgroups);
    std::fs::write(
        &path,
        "[limits]\nmax_result_set_bytes = 65536\nmax_job_processes = 64\nmax_job_memory_bytes = 1073741824\n\
         use_cgroups = false\ncgroup_parent = \"/portico\"\n",
    )
    .unwrap();
    let mut config = Config::default();
    config.apply_file(&path).unwrap();
    assert_eq!(config.limits.max_result_set_bytes, 65536);
    assert_eq!((config.limits.max_processes, config.limits.max_memory_bytes), (Some(64), Some(1 << 30)));
    assert!(!config.limits.use_cgroups);
    assert_eq!(config.limits.cgroup_parent.as_deref(), Some("/portico"));
    for bad in [
        "[limits]\nmax_result_set_bytes = 100\n",
        "[limits]\nmax_job_processes = 1\n",
        "[limits]\nmax_job_memory_bytes = 1000\n",
        "[limits]\ncgroup_parent = \"portico\"\n",
        "[limits]\ncgroup_parent = \"/a/../b\"\n",
        "[limits]\nmax_jobs_processes = 5\n",
    ] {
        std::fs::write(&path, bad).unwrap();
        assert!(matches!(Config::default().apply_file(&path), Err(ConfigError::File { .. })), "{bad}");
    }
}

#[test]
fn log_followers_and_metrics_access_come_from_file_environment_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portico.toml");
    let text =
        "[server]\nmax_log_followers = 8\n[metrics]\nallow = [\"10.0.0.0/8\"]\ntoken = \"scrape-0123456789abc\"\n";
    std::fs::write(&path, text).unwrap();
    let file = path.to_str().unwrap().to_string();
    let config = Config::from_args_and_env(["--config", &file], &no_env).unwrap();
    assert_eq!(config.max_log_followers, 8);
    assert!(config.metrics.allow[0].contains("10.9.8.7".parse().unwrap()));
    assert!(!config.metrics.allow.iter().any(|n| n.contains("127.0.0.1".parse().unwrap())), "allow replaces");
    assert_eq!(config.metrics.token.as_deref(), Some("scrape-0123456789abc"));
    let env = |name: &str| (name == "PORTICO_MAX_LOG_FOLLOWERS").then(|| "5".to_string());
    assert_eq!(Config::from_args_and_env(Vec::<String>::new(), &env).unwrap().max_log_followers, 5);
    let flagged = Config::from_args_and_env(["--max-log-followers", "3"], &env).unwrap();
    assert_eq!(flagged.max_log_followers, 3);
    assert!(Config::from_args_and_env(["--max-log-followers", "0"], &no_env).is_err());
    let defaults = Config::from_args_and_env(Vec::<String>::new(), &no_env).unwrap();
    assert_eq!(defaults.max_log_followers, 64);
    assert!(
        defaults.metrics.allow.iter().any(|n| n.contains("::1".parse().unwrap())) && defaults.metrics.token.is_none()
    );
    std::fs::write(&path, "[metrics]\nallow = [\"somewhere\"]\n").unwrap();
    assert!(Config::from_args_and_env(["--config", &file], &no_env).is_err(), "a bad address stops the start");
}
