//! The OpenAPI document of `/api/v1` (`GET /api/v1/openapi.json`) checked against the real
//! binary: every operation it describes is called (successes and refusals) and every answer must
//! be documented (method, templated path, status) and validate against the documented schema;
//! every documented operation must be exercised; every route of the router must be documented.
//!
//! Every server here runs in berth's default mode (accounts on, `admin` / `ADMIN_PASSWORD`).
//! The harness and fixtures are the protocol tests', the account helpers the access tests'.

#[path = "protocol/harness.rs"]
mod harness;

#[path = "protocol/fixtures.rs"]
mod fixtures;

#[path = "access/common.rs"]
mod common;

#[path = "openapi/contract.rs"]
mod contract;

#[path = "openapi/client.rs"]
mod client;

#[path = "openapi/answers.rs"]
mod answers;

#[path = "openapi/routes.rs"]
mod routes;

#[path = "openapi/checker.rs"]
mod checker;
