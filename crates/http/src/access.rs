//! The access decision: the one place that says whether a request may do what its endpoint requires.
//!
//! The server is open for now: every [`Access`] is granted. Accounts add the decision here, and
//! nothing else changes: handlers never decide access themselves.

use crate::ApiError;
use berth_oci::Access;

/// Who is asking. Anonymous until accounts exist.
#[derive(Debug, Clone, Default)]
pub struct Principal;

/// Decides whether `who` may have `access`.
pub fn decide(_who: &Principal, access: &Access) -> Result<(), ApiError> {
    match access {
        Access::None | Access::Pull(_) | Access::Push(_) | Access::Delete(_) | Access::Catalog => Ok(()),
    }
}
