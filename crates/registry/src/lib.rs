//! berth-registry
