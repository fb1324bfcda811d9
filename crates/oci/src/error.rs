//! The spec's error codes and the one table mapping each to its HTTP status.
//!
//! Only the codes the distribution spec lists are ever sent; a few variants here name a finer
//! meaning (an unknown path, a bad range) and are sent as `UNSUPPORTED` with their own status.

/// An error code of the distribution spec (plus the few the Docker API adds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    /// A bad `n` for pagination: reported as `UNSUPPORTED` (an invalid set of parameters).
    PaginationNumberInvalid,
    /// An unsatisfiable `Range`: reported as `UNSUPPORTED` with 416.
    RangeInvalid,
    /// No endpoint at that path: reported as `UNSUPPORTED` with 404.
    NotFound,
    /// A method the endpoint does not have: reported as `UNSUPPORTED` with 405.
    MethodNotAllowed,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The code as it appears in the JSON envelope.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BlobUnknown => "BLOB_UNKNOWN",
            BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            DigestInvalid => "DIGEST_INVALID",
            ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ManifestInvalid => "MANIFEST_INVALID",
            ManifestUnknown => "MANIFEST_UNKNOWN",
            NameInvalid => "NAME_INVALID",
            NameUnknown => "NAME_UNKNOWN",
            SizeInvalid => "SIZE_INVALID",
            Unauthorized => "UNAUTHORIZED",
            Denied => "DENIED",
            Unsupported | MethodNotAllowed | NotFound | RangeInvalid | PaginationNumberInvalid => "UNSUPPORTED",
            TooManyRequests => "TOOMANYREQUESTS",
            Unavailable => "UNAVAILABLE",
            Internal => "UNKNOWN",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BlobUnknown | BlobUploadUnknown | ManifestUnknown | NameUnknown | NotFound => 404,
            BlobUploadInvalid
            | DigestInvalid
            | ManifestBlobUnknown
            | ManifestInvalid
            | NameInvalid
            | SizeInvalid
            | PaginationNumberInvalid
            | Unsupported => 400,
            RangeInvalid => 416,
            Unauthorized => 401,
            Denied => 403,
            MethodNotAllowed => 405,
            TooManyRequests => 429,
            Unavailable => 503,
            Internal => 500,
        }
    }

    /// The generic message of the code.
    pub fn message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BlobUnknown => "blob unknown to registry",
            BlobUploadInvalid => "blob upload invalid",
            BlobUploadUnknown => "blob upload unknown to registry",
            DigestInvalid => "provided digest did not match uploaded content",
            ManifestBlobUnknown => "manifest references a manifest or blob unknown to registry",
            ManifestInvalid => "manifest invalid",
            ManifestUnknown => "manifest unknown",
            NameInvalid => "invalid repository name",
            NameUnknown => "repository name not known to registry",
            SizeInvalid => "provided length did not match content length",
            Unauthorized => "authentication required",
            Denied => "requested access to the resource is denied",
            Unsupported => "the operation is unsupported",
            MethodNotAllowed => "the method is not allowed on this endpoint",
            TooManyRequests => "too many requests",
            PaginationNumberInvalid => "invalid number of results requested",
            RangeInvalid => "invalid content range",
            NotFound => "no such endpoint",
            Unavailable => "service unavailable",
            Internal => "internal server error",
        }
    }
}
