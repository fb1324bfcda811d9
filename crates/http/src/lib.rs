//! berth-http
