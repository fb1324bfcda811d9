//! Black-box tests of webhooks (docs/index.md, "Webhooks") against the real binary, with a real
//! HTTP receiver in the test process.
//!
//! Every server runs in berth's default mode (accounts on, `admin` / `ADMIN_PASSWORD`). The
//! expectations come from docs/index.md and docs/access.md only, never from the server's code;
//! the harness and fixtures are the protocol tests', the account helpers the access tests'.

#[path = "protocol/harness.rs"]
mod harness;

#[path = "protocol/fixtures.rs"]
mod fixtures;

#[path = "access/common.rs"]
mod common;

#[path = "webhooks/receiver.rs"]
mod receiver;

#[path = "webhooks/util.rs"]
mod util;

#[path = "webhooks/api.rs"]
mod api;

#[path = "webhooks/delivery.rs"]
mod delivery;

#[path = "webhooks/retries.rs"]
mod retries;

#[path = "webhooks/restart.rs"]
mod restart;
