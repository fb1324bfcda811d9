//! Media types of manifests and descriptors.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Layer media types whose blobs are not pushed to registries (fetched from their `urls`).
const NON_DISTRIBUTABLE: &[&str] = &[
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
];

/// The two shapes a manifest can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image manifest: a config and layers (OCI image manifest, Docker schema 2).
    Image,
    /// A list of manifests (OCI image index, Docker manifest list).
    Index,
}

/// The kind of a supported manifest media type.
pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
        OCI_INDEX | DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

pub fn is_schema1(media_type: &str) -> bool {
    matches!(media_type, DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED)
}

pub fn is_non_distributable(media_type: &str) -> bool {
    NON_DISTRIBUTABLE.contains(&media_type)
}

/// The bare media type of a `Content-Type` value: parameters dropped, lowercased.
pub fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Whether a response of `media_type` is acceptable for the given `Accept` header values.
///
/// Lenient on purpose: with no `Accept`, with a wildcard, or with an `Accept` that names no manifest
/// media type at all, anything is acceptable. Only an `Accept` that lists manifest media types but not
/// this one refuses it.
pub fn acceptable<'a>(media_type: &str, accept: impl IntoIterator<Item = &'a str>) -> bool {
    let mut names_manifest_type = false;
    for value in accept {
        for item in value.split(',') {
            let t = essence(item);
            if t == media_type || t == "*/*" || t == "application/*" {
                return true;
            }
            if manifest_kind(&t).is_some() || is_schema1(&t) {
                names_manifest_type = true;
            }
        }
    }
    !names_manifest_type
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_table() {
        let cases: &[(&str, &[&str], bool)] = &[
            (OCI_MANIFEST, &[], true),
            (OCI_MANIFEST, &["application/json"], true),
            (OCI_MANIFEST, &["*/*"], true),
            (OCI_MANIFEST, &[DOCKER_MANIFEST], false),
            (OCI_MANIFEST, &["application/vnd.docker.distribution.manifest.v2+json, */*;q=0.1"], true),
            (OCI_MANIFEST, &[DOCKER_MANIFEST, "application/vnd.oci.image.manifest.v1+json; q=0.5"], true),
            (OCI_INDEX, &[&format!("{DOCKER_MANIFEST_LIST},{OCI_MANIFEST}")], false),
            (DOCKER_MANIFEST, &[DOCKER_SCHEMA1_SIGNED], false),
        ];
        for (mt, accept, want) in cases {
            assert_eq!(acceptable(mt, accept.iter().copied()), *want, "{mt} {accept:?}");
        }
    }

    #[test]
    fn essence_drops_params() {
        assert_eq!(essence("Application/Vnd.Oci.Image.Manifest.v1+json; charset=utf-8"), OCI_MANIFEST);
        assert!(is_schema1(DOCKER_SCHEMA1_SIGNED));
        assert!(!is_schema1("application/json"));
        assert_eq!(manifest_kind(DOCKER_MANIFEST_LIST), Some(ManifestKind::Index));
        assert_eq!(manifest_kind("text/plain"), None);
    }
}
