//! Manifest validation: parse only to validate and to index; the bytes themselves are stored untouched.

use crate::digest::Digest;
use crate::media_type::{self, ManifestKind};
use serde::Deserialize;

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "Docker schema 1 manifests are not supported; push the image with a current client (Docker schema 2 or OCI)"
    )]
    Schema1,
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("unsupported schemaVersion {0}; only 2 is supported")]
    SchemaVersion(i64),
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("mediaType {body:?} in the manifest does not match the Content-Type {header:?}")]
    MediaTypeMismatch { body: String, header: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<serde_json::Value>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A descriptor that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// What the registry needs to know about a manifest to store and index it.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestInfo {
    /// The media type it is stored and served with.
    pub media_type: String,
    pub kind: ManifestKind,
    /// The config and layers that must be present in the repository.
    pub blobs: Vec<Digest>,
    /// The manifests an index lists, which must be present in the repository.
    pub children: Vec<Digest>,
    pub subject: Option<Digest>,
    /// `artifactType`, or for an image manifest without one, its config media type (as the referrers API reports).
    pub artifact_type: Option<String>,
    /// The annotations object, as JSON text.
    pub annotations: Option<String>,
}

fn descriptor(d: &RawDescriptor, what: &str) -> Result<Descriptor, ManifestError> {
    let invalid = |m: String| ManifestError::Invalid(format!("{what}: {m}"));
    let media_type = d.media_type.clone().ok_or_else(|| invalid("mediaType is required".into()))?;
    let digest = d
        .digest
        .as_deref()
        .ok_or_else(|| invalid("digest is required".into()))?
        .parse::<Digest>()
        .map_err(|e| invalid(format!("invalid digest: {e}")))?;
    let size = d
        .size
        .as_ref()
        .and_then(|v| v.as_u64())
        .ok_or_else(|| invalid("size must be a non-negative integer".into()))?;
    Ok(Descriptor { media_type, digest, size })
}

/// Validates a manifest pushed with the given `Content-Type` and returns what to index.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<ManifestInfo, ManifestError> {
    let header = content_type.map(media_type::essence).filter(|h| !h.is_empty());
    if header.as_deref().is_some_and(media_type::is_schema1) {
        return Err(ManifestError::Schema1);
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| ManifestError::Json(e.to_string()))?;
    if !value.is_object() {
        return Err(ManifestError::Invalid("a manifest must be a JSON object".into()));
    }
    let raw: RawManifest = serde_json::from_value(value).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    match raw.schema_version.as_ref().map(|v| v.as_i64()) {
        Some(Some(2)) => {}
        Some(Some(1)) => return Err(ManifestError::Schema1),
        Some(Some(n)) => return Err(ManifestError::SchemaVersion(n)),
        Some(None) => return Err(ManifestError::Invalid("schemaVersion must be an integer".into())),
        None => return Err(ManifestError::Invalid("schemaVersion is required".into())),
    }
    if raw.media_type.as_deref().is_some_and(media_type::is_schema1) {
        return Err(ManifestError::Schema1);
    }

    // The media type: the Content-Type when it names a manifest type, else the body's, else the shape's.
    let known_header = header.as_deref().filter(|h| media_type::manifest_kind(h).is_some());
    let media_type = match (known_header, &raw.media_type) {
        (Some(h), Some(b)) if h != b => {
            return Err(ManifestError::MediaTypeMismatch { body: b.clone(), header: h.to_owned() })
        }
        (Some(h), _) => h.to_owned(),
        (None, Some(b)) => b.clone(),
        (None, None) if raw.manifests.is_some() => media_type::OCI_INDEX.to_owned(),
        (None, None) if raw.config.is_some() => media_type::OCI_MANIFEST.to_owned(),
        (None, None) => match header {
            Some(h) => return Err(ManifestError::UnsupportedMediaType(h)),
            None => return Err(ManifestError::Invalid("cannot tell the manifest's media type".into())),
        },
    };
    let kind = media_type::manifest_kind(&media_type).ok_or(ManifestError::UnsupportedMediaType(media_type.clone()))?;

    let subject = raw.subject.as_ref().map(|s| descriptor(s, "subject")).transpose()?.map(|d| d.digest);
    let annotations = match &raw.annotations {
        Some(a) if a.values().any(|v| !v.is_string()) => {
            return Err(ManifestError::Invalid("annotations must map strings to strings".into()))
        }
        Some(a) => Some(serde_json::Value::Object(a.clone()).to_string()),
        None => None,
    };

    let mut info = ManifestInfo {
        media_type,
        kind,
        blobs: Vec::new(),
        children: Vec::new(),
        subject,
        artifact_type: raw.artifact_type.clone(),
        annotations,
    };
    match kind {
        ManifestKind::Image => {
            if raw.manifests.is_some() {
                return Err(ManifestError::Invalid("an image manifest has no manifests field".into()));
            }
            let config = raw.config.as_ref().ok_or_else(|| ManifestError::Invalid("config is required".into()))?;
            let config = descriptor(config, "config")?;
            let layers = raw.layers.as_ref().ok_or_else(|| ManifestError::Invalid("layers is required".into()))?;
            if info.artifact_type.is_none() {
                info.artifact_type = Some(config.media_type.clone());
            }
            info.blobs.push(config.digest);
            for (i, l) in layers.iter().enumerate() {
                let l = descriptor(l, &format!("layers[{i}]"))?;
                if !media_type::is_non_distributable(&l.media_type) && !info.blobs.contains(&l.digest) {
                    info.blobs.push(l.digest);
                }
            }
        }
        ManifestKind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(ManifestError::Invalid("an index has no config or layers".into()));
            }
            let manifests =
                raw.manifests.as_ref().ok_or_else(|| ManifestError::Invalid("manifests is required".into()))?;
            for (i, m) in manifests.iter().enumerate() {
                let m = descriptor(m, &format!("manifests[{i}]"))?;
                if !info.children.contains(&m.digest) {
                    info.children.push(m.digest);
                }
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media_type::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn image(mt: Option<&str>) -> String {
        let mt = mt.map(|m| format!(r#""mediaType":"{m}","#)).unwrap_or_default();
        format!(
            r#"{{"schemaVersion":2,{mt}"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":3}},{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"{}","size":3,"urls":["http://x"]}}]}}"#,
            d(1),
            d(2),
            d(3)
        )
    }

    #[test]
    fn image_manifest() {
        let info = parse(Some(OCI_MANIFEST), image(Some(OCI_MANIFEST)).as_bytes()).unwrap();
        assert_eq!(info.kind, ManifestKind::Image);
        assert_eq!(info.media_type, OCI_MANIFEST);
        assert_eq!(info.blobs, vec![d(1).parse().unwrap(), d(2).parse().unwrap()]);
        assert_eq!(info.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
        // Without a media type anywhere, the shape decides.
        assert_eq!(parse(None, image(None).as_bytes()).unwrap().media_type, OCI_MANIFEST);
        assert_eq!(parse(Some("application/json"), image(None).as_bytes()).unwrap().media_type, OCI_MANIFEST);
        // The header decides when the body is silent.
        assert_eq!(parse(Some(DOCKER_MANIFEST), image(None).as_bytes()).unwrap().media_type, DOCKER_MANIFEST);
    }

    #[test]
    fn index_with_subject_and_annotations() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","artifactType":"application/x.sig","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":5,"platform":{{"os":"linux","architecture":"amd64"}}}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":9}},"annotations":{{"a":"b"}}}}"#,
            d(4),
            d(5)
        );
        let info = parse(Some(OCI_INDEX), body.as_bytes()).unwrap();
        assert_eq!(info.kind, ManifestKind::Index);
        assert_eq!(info.children, vec![d(4).parse().unwrap()]);
        assert_eq!(info.subject, Some(d(5).parse().unwrap()));
        assert_eq!(info.artifact_type.as_deref(), Some("application/x.sig"));
        assert_eq!(info.annotations.as_deref(), Some(r#"{"a":"b"}"#));
    }

    #[test]
    fn refusals() {
        let cases: Vec<(Option<&str>, String, &str)> = vec![
            (Some(DOCKER_SCHEMA1_SIGNED), "{}".into(), "schema 1"),
            (None, r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#.into(), "schema 1"),
            (None, "not json".into(), "not valid JSON"),
            (None, "[1]".into(), "JSON object"),
            (None, r#"{"schemaVersion":3}"#.into(), "schemaVersion 3"),
            (None, r#"{"mediaType":"x"}"#.into(), "schemaVersion is required"),
            (Some(DOCKER_MANIFEST), image(Some(OCI_MANIFEST)), "does not match"),
            (Some("text/plain"), r#"{"schemaVersion":2}"#.into(), "unsupported manifest media type"),
            (None, format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#), "config is required"),
            (
                None,
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"a","digest":"sha256:x","size":1}},"layers":[]}}"#
                ),
                "invalid digest",
            ),
            (
                None,
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"a","digest":"{}","size":-1}},"layers":[]}}"#,
                    d(1)
                ),
                "non-negative",
            ),
            (None, format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}"}}"#), "manifests is required"),
            (
                None,
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[],"annotations":{{"a":1}}}}"#),
                "annotations",
            ),
        ];
        for (ct, body, want) in cases {
            let err = parse(ct, body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{body}: {err} does not contain {want}");
        }
    }
}
