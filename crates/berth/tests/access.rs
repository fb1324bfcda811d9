//! Black-box tests of accounts and access control (docs/access.md) against the real binary.
//!
//! Every server here runs in berth's default mode (accounts on, no `--no-auth`) with
//! `BERTH_ADMIN_PASSWORD` set, unless a test says otherwise. Expectations come from
//! docs/access.md and Docker's token authentication spec, never from the server's code. The
//! harness and fixtures are the protocol tests'.

#[path = "protocol/harness.rs"]
mod harness;

#[path = "protocol/fixtures.rs"]
mod fixtures;

#[path = "access/common.rs"]
mod common;

#[path = "access/accounts.rs"]
mod accounts;

#[path = "access/matrix.rs"]
mod matrix;

#[path = "access/visibility.rs"]
mod visibility;

#[path = "access/tokens.rs"]
mod tokens;

#[path = "access/throttle.rs"]
mod throttle;

#[path = "access/api.rs"]
mod api;
