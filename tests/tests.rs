//! End-to-end tests: each test starts the real `portico` binary on 127.0.0.1 with an ephemeral
//! port and a fresh data directory, and talks to it over HTTP with a real client.

mod helper;

mod auth;
mod bad_input;
mod cli;
mod console;
mod control;
mod deploy;
mod entrance;
mod filesystem;
mod front_door;
mod held_logs;
mod history;
mod hostile;
mod log_follow;
mod logs;
mod metrics;
mod openapi;
mod queue;
mod readme;
mod request_limits;
mod restart;
mod retention;
mod runaway;
mod runtime_params;
mod spark;
mod spark_real;
mod sql;
mod tables;
mod variables;
