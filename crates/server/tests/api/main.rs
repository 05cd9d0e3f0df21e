//! HTTP integration tests: the real server on a random loopback port, a real
//! SQLite file per test. One binary, so linking stays cheap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod access_log;
mod audit;
mod cli;
mod configs;
mod consumption;
mod contract;
mod conventions;
mod crash;
mod customizations;
mod disconnects;
mod keys;
mod limits;
mod matrix;
mod orgs;
mod rate_limits;
mod secrets;
mod security;
mod tags;
