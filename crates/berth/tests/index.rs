//! Black-box tests of berth's index (docs/index.md) against the real binary: `docker search`
//! (`/v1/search`, `/v1/_ping`), repository metadata and the repository part of `/api/v1`
//! (repositories, stars, tags), and the users/orgs listings.
//!
//! Expectations come from docs/index.md and docs/access.md only, never from the server's code.
//! The harness, fixtures and API helpers are the protocol and access tests'.

#[path = "protocol/harness.rs"]
mod harness;

#[path = "protocol/fixtures.rs"]
mod fixtures;

#[path = "access/common.rs"]
mod common;

#[path = "index/util.rs"]
mod util;

#[path = "index/search.rs"]
mod search;

#[path = "index/search_access.rs"]
mod search_access;

#[path = "index/repositories.rs"]
mod repositories;

#[path = "index/stars.rs"]
mod stars;

#[path = "index/tags.rs"]
mod tags;

#[path = "index/users.rs"]
mod users;
