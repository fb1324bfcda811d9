//! Authentication and authorization, pure: account names, password hashing, secrets, token scopes,
//! signed access tokens, and the access decision.
//!
//! Nothing here does IO beyond the OS random generator. The domain gathers the facts (who is asking,
//! what the repository is, what teams grant) and this crate decides.
//!
//! **Boundary:** depends only on `berth-oci`; knows nothing of HTTP or SQL.

pub mod access;
pub mod names;
pub mod scope;
pub mod secret;
pub mod token;

pub use access::{Level, OrgRole, PatScope, RepoFacts, Subject, Visibility};
pub use scope::{Action, Actions, Scope};
pub use token::{AccessEntry, Claims, TokenError, TokenKeys};
