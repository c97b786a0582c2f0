//! The `portico` command: `portico [serve] [flags]` runs the server; `portico hash-password`
//! turns a password read from stdin into a `password_hash` for the config file; `portico backup
//! DEST` copies a data directory's job history, beside its running server. `portico run`,
//! `status`, `log`, `kill`, `pause`, `resume`, `wait`, `result`, `history` and `completions`
//! are a client of a running server (module `cli`), dispatched before the server's parser.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use portico::Server;
use portico::{Config, ConfigError};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = cli::dispatch(&args) {
        return code;
    }
    if std::env::args().nth(1).as_deref() == Some("hash-password") {
        return hash_password();
    }
    if std::env::args().nth(1).as_deref() == Some("backup") {
        return portico::backup_main(std::env::args().skip(2));
    }
    // Not for people: how the server runs an SQL job as a process of its own.
    if std::env::args().nth(1).as_deref() == Some(portico::SQL_ENGINE_SUBCOMMAND) {
        return portico::sql_engine_main(std::env::args().skip(2));
    }
    let config = match Config::from_args_and_env(std::env::args().skip(1), &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(ConfigError::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("portico: {e}");
            return ExitCode::from(2);
        }
    };
    limit_heap_growth();
    portico::init_logging(config.log_level);
    match portico::raise_fd_limit() {
        Ok(limit) => log::debug!("open file limit: {limit}"),
        Err(e) => log::warn!("cannot raise the open file limit: {e}"),
    }
    let config_grace = config.shutdown_grace;
    let mut server = match Server::start(config) {
        Ok(server) => server,
        Err(e) => {
            // What was logged while starting (recovery's errors among it) goes out first.
            portico::flush_log();
            eprintln!("portico: {e}");
            return ExitCode::from(1);
        }
    };
    let stop = server.stop_trigger();
    if let Err(e) = portico::on_termination(move |signal| {
        log::info!("received signal {signal}: shutting down");
        stop();
    }) {
        log::warn!("cannot handle SIGTERM/SIGINT, they will end the server abruptly: {e}");
    }
    let grace = config_grace;
    println!("portico listening on http://{}", server.addr());
    let _ = std::io::stdout().flush();
    log::info!("portico {} listening on http://{}", env!("CARGO_PKG_VERSION"), server.addr());
    match server.wait() {
        Ok(()) => {
            log::info!("no longer accepting requests; giving running jobs up to {grace:?} to finish");
            server.shutdown(grace);
            log::info!("stopped");
            portico::flush_log();
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Accepting failed in a way that cannot be waited out: stop for good (running jobs
            // are killed and recorded) and exit non-zero so a supervisor restarts the server.
            log::error!("stopping: {e}");
            server.shutdown(std::time::Duration::ZERO);
            portico::flush_log();
            ExitCode::from(1)
        }
    }
}

/// Reads one line (the password) from stdin and prints its Argon2id PHC string.
fn hash_password() -> ExitCode {
    let mut password = String::new();
    if std::io::stdin().read_line(&mut password).is_err() {
        eprintln!("portico: cannot read the password from stdin");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("portico: the password is empty");
        return ExitCode::from(2);
    }
    match portico::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("portico: {e}");
            ExitCode::from(1)
        }
    }
}

/// Password hashing allocates ~19 MiB at a time. glibc raises its mmap threshold after the
/// first such block is freed, so later ones would stay on the heap and in our resident memory
/// for good; a fixed threshold hands every large block back to the kernel when it is freed.
fn limit_heap_growth() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator tunable; it is called before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 * 1024);
    }
}
