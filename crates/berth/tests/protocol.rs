//! Black-box protocol and lifecycle tests for the `berth` binary.
//!
//! Every test starts the real binary (`serve --listen 127.0.0.1:0 --data-dir <tmp>`) and drives it
//! over HTTP. The expectations come from the OCI distribution spec and from
//! `docs/protocol.md` (which fixes the choices the spec leaves open), never from the
//! server's code. One integration-test binary keeps compile time low; the groups live in
//! `tests/protocol/`.

#[path = "protocol/harness.rs"]
mod harness;

#[path = "protocol/fixtures.rs"]
mod fixtures;

#[path = "protocol/errors.rs"]
mod errors;

#[path = "protocol/blobs.rs"]
mod blobs;

#[path = "protocol/uploads.rs"]
mod uploads;

#[path = "protocol/manifests.rs"]
mod manifests;

#[path = "protocol/referrers.rs"]
mod referrers;

#[path = "protocol/tags_catalog.rs"]
mod tags_catalog;

#[path = "protocol/lifecycle.rs"]
mod lifecycle;

#[path = "protocol/memory.rs"]
mod memory;
