//! Pure types and parsers of the OCI Distribution Spec and the Docker Registry v2 API.
//!
//! This crate does no IO. It holds the validated newtypes ([`Digest`], [`RepoName`], [`Tag`],
//! [`Reference`]), media types, manifest validation, the `/v2` path parser ([`Endpoint`]) with the
//! access each endpoint requires, HTTP `Range` parsing, and the table of spec error codes.
//!
//! **Boundary:** depends on nothing of berth; every other crate may depend on it.

pub mod digest;
pub mod endpoint;
pub mod error;
pub mod manifest;
pub mod media_type;
pub mod name;
pub mod range;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use endpoint::{Access, Endpoint, EndpointError, Route};
pub use error::ErrorCode;
pub use manifest::{ManifestError, ManifestInfo};
pub use name::{NameError, Reference, RepoName, Tag};
pub use range::{ByteRange, ContentRange, RangeError};
