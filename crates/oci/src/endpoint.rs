//! The `/v2` path parser: a request is parsed into a typed [`Endpoint`] first, then dispatched.
//!
//! Repository names contain `/` and may contain the words `blobs`, `manifests`, `tags`, so the path
//! is read from the right. Each endpoint states the [`Access`] it requires: the one place where the
//! access decision gets its input.

use crate::digest::{Digest, DigestError};
use crate::name::{NameError, Reference, RepoName};

/// A `/v2` path, before the method is considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Base,
    Catalog,
    Tags(RepoName),
    Manifest(RepoName, Reference),
    Blob(RepoName, Digest),
    Uploads(RepoName),
    Upload(RepoName, String),
    Referrers(RepoName, Digest),
}

/// One operation of the API: a route and a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Base,
    Catalog,
    ListTags { name: RepoName },
    GetManifest { name: RepoName, reference: Reference, head: bool },
    PutManifest { name: RepoName, reference: Reference },
    DeleteManifest { name: RepoName, reference: Reference },
    GetBlob { name: RepoName, digest: Digest, head: bool },
    DeleteBlob { name: RepoName, digest: Digest },
    StartUpload { name: RepoName },
    GetUpload { name: RepoName, id: String },
    PatchUpload { name: RepoName, id: String },
    PutUpload { name: RepoName, id: String },
    DeleteUpload { name: RepoName, id: String },
    Referrers { name: RepoName, digest: Digest },
}

/// The access an endpoint requires. Mounting additionally needs [`Access::Pull`] on the source
/// repository, which the query names; the handler asks for it separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the `/v2/` version check.
    None,
    Pull(RepoName),
    Push(RepoName),
    Delete(RepoName),
    Catalog,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("no such endpoint")]
    NotFound,
    #[error("method {0} is not allowed on this endpoint")]
    MethodNotAllowed(String),
    #[error(transparent)]
    Name(NameError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("upload unknown")]
    UploadId,
}

impl From<NameError> for EndpointError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::Digest(d) => EndpointError::Digest(d),
            other => EndpointError::Name(other),
        }
    }
}

fn valid_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Route {
    /// Parses the path after `/v2/` (`""` for `/v2/` itself).
    pub fn parse(rest: &str) -> Result<Route, EndpointError> {
        match rest {
            "" => return Ok(Route::Base),
            "_catalog" => return Ok(Route::Catalog),
            _ => {}
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Ok(Route::Tags(name.parse()?));
        }
        if let Some(name) = rest.strip_suffix("/blobs/uploads/").or_else(|| rest.strip_suffix("/blobs/uploads")) {
            return Ok(Route::Uploads(name.parse()?));
        }
        let (head, last) = rest.rsplit_once('/').ok_or(EndpointError::NotFound)?;
        if let Some(name) = head.strip_suffix("/blobs/uploads") {
            let name = name.parse()?;
            if !valid_upload_id(last) {
                return Err(EndpointError::UploadId);
            }
            return Ok(Route::Upload(name, last.to_owned()));
        }
        if let Some(name) = head.strip_suffix("/manifests") {
            let name = name.parse()?;
            return Ok(Route::Manifest(name, last.parse()?));
        }
        if let Some(name) = head.strip_suffix("/blobs") {
            let name = name.parse()?;
            return Ok(Route::Blob(name, last.parse()?));
        }
        if let Some(name) = head.strip_suffix("/referrers") {
            let name = name.parse()?;
            return Ok(Route::Referrers(name, last.parse()?));
        }
        Err(EndpointError::NotFound)
    }
}

impl Endpoint {
    /// Parses a method and the path after `/v2/`.
    pub fn parse(method: &str, rest: &str) -> Result<Endpoint, EndpointError> {
        let route = Route::parse(rest)?;
        let head = method == "HEAD";
        let not_allowed = || EndpointError::MethodNotAllowed(method.to_owned());
        Ok(match (route, method) {
            (Route::Base, "GET" | "HEAD") => Endpoint::Base,
            (Route::Catalog, "GET") => Endpoint::Catalog,
            (Route::Tags(name), "GET") => Endpoint::ListTags { name },
            (Route::Manifest(name, reference), "GET" | "HEAD") => Endpoint::GetManifest { name, reference, head },
            (Route::Manifest(name, reference), "PUT") => Endpoint::PutManifest { name, reference },
            (Route::Manifest(name, reference), "DELETE") => Endpoint::DeleteManifest { name, reference },
            (Route::Blob(name, digest), "GET" | "HEAD") => Endpoint::GetBlob { name, digest, head },
            (Route::Blob(name, digest), "DELETE") => Endpoint::DeleteBlob { name, digest },
            (Route::Uploads(name), "POST") => Endpoint::StartUpload { name },
            (Route::Upload(name, id), "GET") => Endpoint::GetUpload { name, id },
            (Route::Upload(name, id), "PATCH") => Endpoint::PatchUpload { name, id },
            (Route::Upload(name, id), "PUT") => Endpoint::PutUpload { name, id },
            (Route::Upload(name, id), "DELETE") => Endpoint::DeleteUpload { name, id },
            (Route::Referrers(name, digest), "GET") => Endpoint::Referrers { name, digest },
            _ => return Err(not_allowed()),
        })
    }

    /// The access this endpoint requires.
    pub fn access(&self) -> Access {
        use Endpoint::*;
        match self {
            Base => Access::None,
            Catalog => Access::Catalog,
            ListTags { name } | GetManifest { name, .. } | GetBlob { name, .. } | Referrers { name, .. } => {
                Access::Pull(name.clone())
            }
            PutManifest { name, .. }
            | StartUpload { name }
            | GetUpload { name, .. }
            | PatchUpload { name, .. }
            | PutUpload { name, .. }
            | DeleteUpload { name, .. } => Access::Push(name.clone()),
            DeleteManifest { name, .. } | DeleteBlob { name, .. } => Access::Delete(name.clone()),
        }
    }

    /// The repository the endpoint addresses, if any.
    pub fn name(&self) -> Option<&RepoName> {
        use Endpoint::*;
        match self {
            Base | Catalog => None,
            ListTags { name }
            | GetManifest { name, .. }
            | PutManifest { name, .. }
            | DeleteManifest { name, .. }
            | GetBlob { name, .. }
            | DeleteBlob { name, .. }
            | StartUpload { name }
            | GetUpload { name, .. }
            | PatchUpload { name, .. }
            | PutUpload { name, .. }
            | DeleteUpload { name, .. }
            | Referrers { name, .. } => Some(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    #[test]
    fn route_table() {
        let dg = format!("sha256:{}", "a".repeat(64));
        let digest: Digest = dg.parse().unwrap();
        let cases: Vec<(String, Result<Route, EndpointError>)> = vec![
            ("".into(), Ok(Route::Base)),
            ("_catalog".into(), Ok(Route::Catalog)),
            ("alpine/tags/list".into(), Ok(Route::Tags(n("alpine")))),
            ("a/b/c/tags/list".into(), Ok(Route::Tags(n("a/b/c")))),
            ("a/manifests/latest".into(), Ok(Route::Manifest(n("a"), Reference::Tag("latest".parse().unwrap())))),
            (format!("a/manifests/{dg}"), Ok(Route::Manifest(n("a"), Reference::Digest(digest.clone())))),
            // Names made of the API's own words.
            (
                "blobs/manifests/manifests/v1".into(),
                Ok(Route::Manifest(n("blobs/manifests"), Reference::Tag("v1".parse().unwrap()))),
            ),
            (format!("x/blobs/blobs/{dg}"), Ok(Route::Blob(n("x/blobs"), digest.clone()))),
            ("x/tags/list/tags/list".into(), Ok(Route::Tags(n("x/tags/list")))),
            ("ns/app/blobs/uploads/".into(), Ok(Route::Uploads(n("ns/app")))),
            ("ns/app/blobs/uploads".into(), Ok(Route::Uploads(n("ns/app")))),
            ("ns/app/blobs/uploads/0f3e-ab".into(), Ok(Route::Upload(n("ns/app"), "0f3e-ab".into()))),
            ("ns/app/blobs/uploads/a.b".into(), Err(EndpointError::UploadId)),
            (format!("a/referrers/{dg}"), Ok(Route::Referrers(n("a"), digest.clone()))),
            ("a/referrers/latest".into(), Err(EndpointError::Digest(DigestError::Malformed))),
            ("a/blobs/sha256:abc".into(), Err(EndpointError::Digest(DigestError::BadEncoding("sha256", 64)))),
            ("A/manifests/x".into(), Err(EndpointError::Name(NameError::BadComponent("A".into())))),
            ("a/manifests/bad$tag".into(), Err(EndpointError::Name(NameError::BadTag("bad$tag".into())))),
            ("a/other/x".into(), Err(EndpointError::NotFound)),
            ("a".into(), Err(EndpointError::NotFound)),
        ];
        for (path, want) in cases {
            assert_eq!(Route::parse(&path), want, "{path}");
        }
    }

    #[test]
    fn methods_and_access() {
        let dg = format!("sha256:{}", "a".repeat(64));
        let cases: Vec<(&str, String, Result<Access, EndpointError>)> = vec![
            ("GET", "".into(), Ok(Access::None)),
            ("GET", "_catalog".into(), Ok(Access::Catalog)),
            ("GET", "a/tags/list".into(), Ok(Access::Pull(n("a")))),
            ("HEAD", "a/manifests/v1".into(), Ok(Access::Pull(n("a")))),
            ("PUT", "a/manifests/v1".into(), Ok(Access::Push(n("a")))),
            ("DELETE", "a/manifests/v1".into(), Ok(Access::Delete(n("a")))),
            ("GET", format!("a/blobs/{dg}"), Ok(Access::Pull(n("a")))),
            ("DELETE", format!("a/blobs/{dg}"), Ok(Access::Delete(n("a")))),
            ("POST", "a/blobs/uploads/".into(), Ok(Access::Push(n("a")))),
            ("PATCH", "a/blobs/uploads/u1".into(), Ok(Access::Push(n("a")))),
            ("GET", format!("a/referrers/{dg}"), Ok(Access::Pull(n("a")))),
            ("POST", "a/manifests/v1".into(), Err(EndpointError::MethodNotAllowed("POST".into()))),
            ("PUT", format!("a/blobs/{dg}"), Err(EndpointError::MethodNotAllowed("PUT".into()))),
            ("DELETE", "_catalog".into(), Err(EndpointError::MethodNotAllowed("DELETE".into()))),
        ];
        for (m, path, want) in cases {
            assert_eq!(Endpoint::parse(m, &path).map(|e| e.access()), want, "{m} {path}");
        }
        let e = Endpoint::parse("HEAD", &format!("a/blobs/{dg}")).unwrap();
        assert!(matches!(e, Endpoint::GetBlob { head: true, .. }));
        assert_eq!(e.name(), Some(&n("a")));
    }
}
