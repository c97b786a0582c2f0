//! The `portico` command: `portico [serve] [flags]` runs the server.

use std::io::Write;
use std::process::ExitCode;

use portico::config::{Config, ConfigError};
use portico::Server;

fn main() -> ExitCode {
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
    let log_config = simplelog::ConfigBuilder::new().set_time_format_rfc3339().build();
    let _ = simplelog::WriteLogger::init(config.log_level, log_config, std::io::stderr());
    match portico::raise_fd_limit() {
        Ok(limit) => log::debug!("open file limit: {limit}"),
        Err(e) => log::warn!("cannot raise the open file limit: {e}"),
    }
    let mut server = match Server::start(config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("portico: {e}");
            return ExitCode::from(1);
        }
    };
    println!("portico listening on http://{}", server.addr());
    let _ = std::io::stdout().flush();
    log::info!("portico {} listening on http://{}", env!("CARGO_PKG_VERSION"), server.addr());
    match server.wait() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("stopping: {e}");
            ExitCode::from(1)
        }
    }
}
