//! HTTP integration tests: the real server on a random loopback port, a real
//! SQLite file per test. One binary, so linking stays cheap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod access_log;
mod audit;
mod cache;
mod cli;
mod configs;
mod consumption;
mod contract;
mod conventions;
mod crash;
mod customizations;
mod disconnects;
mod first_hour;
mod keys;
mod limits;
mod matrix;
mod operator_cli;
mod orgs;
mod rate_limits;
mod readme;
mod secrets;
mod security;
mod sqlite_files;
mod tags;
