//! Media types, manifest builders and push helpers (all written from the image-spec / Docker
//! schema 2 text).

#![allow(dead_code)]

use reqwest::Response;
use serde_json::{json, Value};

use crate::harness::*;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The image-spec's empty JSON blob `{}` and its well-known digest.
pub const EMPTY_JSON: &[u8] = b"{}";
pub const EMPTY_JSON_DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

pub fn descriptor(media_type: &str, content: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": sha256(content), "size": content.len() })
}

pub fn config_blob(seed: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [] },
        "config": { "Labels": { "seed": seed.to_string() } }
    }))
    .unwrap()
}

pub fn oci_manifest(config: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": layers.iter().map(|l| descriptor(OCI_LAYER, l)).collect::<Vec<_>>(),
    }))
    .unwrap()
}

pub fn docker_manifest(config: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, config),
        "layers": layers.iter().map(|l| descriptor(DOCKER_LAYER, l)).collect::<Vec<_>>(),
    }))
    .unwrap()
}

pub fn platform_descriptor(media_type: &str, manifest: &[u8], arch: &str) -> Value {
    let mut d = descriptor(media_type, manifest);
    d["platform"] = json!({ "architecture": arch, "os": "linux" });
    d
}

pub fn oci_index(children: &[(&str, &[u8], &str)]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children.iter().map(|(mt, m, arch)| platform_descriptor(mt, m, arch)).collect::<Vec<_>>(),
    }))
    .unwrap()
}

pub fn docker_list(children: &[(&[u8], &str)]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": children.iter().map(|(m, arch)| platform_descriptor(DOCKER_MANIFEST, m, arch)).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// An artifact manifest (image-spec 1.1 guidance): empty config, one layer, artifactType,
/// optional subject and annotations.
pub fn artifact_manifest(
    artifact_type: &str,
    layer: &[u8],
    subject: Option<(&str, &[u8])>,
    annotations: Option<Value>,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, EMPTY_JSON),
        "layers": [descriptor("application/vnd.example.payload", layer)],
    });
    if let Some((mt, bytes)) = subject {
        m["subject"] = descriptor(mt, bytes);
    }
    if let Some(a) = annotations {
        m["annotations"] = a;
    }
    serde_json::to_vec(&m).unwrap()
}

/// Monolithic upload (`POST ?digest=`), asserting 201. Returns the digest.
pub async fn push_blob(s: &impl Http, repo: &str, content: &[u8]) -> String {
    let d = sha256(content);
    let r = s
        .post(&format!("/v2/{repo}/blobs/uploads/?digest={d}"))
        .header("content-type", "application/octet-stream")
        .body(content.to_vec())
        .send()
        .await
        .unwrap();
    let r = expect_status(r, 201).await;
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    d
}

pub async fn put_manifest(s: &impl Http, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Response {
    s.put(&format!("/v2/{repo}/manifests/{reference}"))
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// Pushes a manifest and asserts 201 with the contract's headers. Returns the response.
pub async fn push_manifest(s: &impl Http, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Response {
    let r = put_manifest(s, repo, reference, media_type, body).await;
    let r = expect_status(r, 201).await;
    let d = sha256(body);
    assert_eq!(must_header(&r, "docker-content-digest"), d, "manifest PUT Docker-Content-Digest");
    assert_eq!(location(&r), format!("/v2/{repo}/manifests/{d}"), "manifest PUT Location");
    r
}

#[derive(Debug, Clone)]
pub struct Image {
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
    pub manifest: Vec<u8>,
    pub digest: String,
    pub media_type: &'static str,
}

/// Uploads a config and two layers and pushes an OCI image manifest under `reference`
/// (a tag, or "" to push by digest).
pub async fn push_image(s: &impl Http, repo: &str, reference: &str, seed: u64) -> Image {
    let config = config_blob(seed);
    let layers = vec![bytes_of(seed, 1000 + (seed % 512) as usize), bytes_of(seed ^ 0xABCD, 3000)];
    push_blob(s, repo, &config).await;
    for l in &layers {
        push_blob(s, repo, l).await;
    }
    let manifest = oci_manifest(&config, &layers);
    let digest = sha256(&manifest);
    let reference = if reference.is_empty() { digest.clone() } else { reference.to_string() };
    push_manifest(s, repo, &reference, OCI_MANIFEST, &manifest).await;
    Image { config, layers, manifest, digest, media_type: OCI_MANIFEST }
}

/// Same, Docker schema 2.
pub async fn push_docker_image(s: &impl Http, repo: &str, reference: &str, seed: u64) -> Image {
    let config = config_blob(seed);
    let layers = vec![bytes_of(seed, 700)];
    push_blob(s, repo, &config).await;
    push_blob(s, repo, &layers[0]).await;
    let manifest = docker_manifest(&config, &layers);
    let digest = sha256(&manifest);
    let reference = if reference.is_empty() { digest.clone() } else { reference.to_string() };
    push_manifest(s, repo, &reference, DOCKER_MANIFEST, &manifest).await;
    Image { config, layers, manifest, digest, media_type: DOCKER_MANIFEST }
}

/// Starts an upload session; returns (Location, UUID).
pub async fn start_upload(s: &impl Http, repo: &str) -> (String, String) {
    let r = s.post(&format!("/v2/{repo}/blobs/uploads/")).body(Vec::new()).send().await.unwrap();
    let r = expect_status(r, 202).await;
    let uuid = must_header(&r, "docker-upload-uuid");
    let loc = location(&r);
    assert_eq!(loc, format!("/v2/{repo}/blobs/uploads/{uuid}"), "upload Location");
    assert_eq!(must_header(&r, "range"), "0-0", "Range of a new session");
    (loc, uuid)
}

/// One chunk with Content-Range; asserts 202 and the Range answer. Returns the new Location.
pub async fn patch_chunk(s: &impl Http, loc: &str, start: usize, chunk: &[u8]) -> String {
    let end = start + chunk.len() - 1;
    let r = s
        .patch(loc)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{start}-{end}"))
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap();
    let r = expect_status(r, 202).await;
    assert_eq!(must_header(&r, "range"), format!("0-{end}"), "Range after chunk {start}-{end}");
    must_header(&r, "docker-upload-uuid");
    location(&r)
}

/// Closes a session with `PUT ?digest=` and no body; asserts 201.
pub async fn finish_upload(s: &impl Http, repo: &str, loc: &str, digest: &str) {
    let r = s.put(&with_query(loc, &format!("digest={digest}"))).body(Vec::new()).send().await.unwrap();
    let r = expect_status(r, 201).await;
    assert_eq!(location(&r), format!("/v2/{repo}/blobs/{digest}"));
    assert_eq!(must_header(&r, "docker-content-digest"), digest);
}

/// GETs a blob and asserts it is byte-identical.
pub async fn assert_blob(s: &impl Http, repo: &str, content: &[u8]) {
    let d = sha256(content);
    let r = s.get(&format!("/v2/{repo}/blobs/{d}")).send().await.unwrap();
    let r = expect_status(r, 200).await;
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    let b = body_bytes(r).await;
    assert!(b == content, "blob {d} in {repo}: {} bytes back, {} pushed (content differs)", b.len(), content.len());
}

pub async fn assert_blob_unknown(s: &impl Http, repo: &str, digest: &str) {
    let r = s.get(&format!("/v2/{repo}/blobs/{digest}")).send().await.unwrap();
    expect_error(r, 404, "BLOB_UNKNOWN").await;
    let r = s.head(&format!("/v2/{repo}/blobs/{digest}")).send().await.unwrap();
    expect_status(r, 404).await;
}

pub async fn tags_of(s: &impl Http, repo: &str) -> Vec<String> {
    let r = s.get(&format!("/v2/{repo}/tags/list")).send().await.unwrap();
    let r = expect_status(r, 200).await;
    let v = body_json(r).await;
    assert_eq!(v["name"], repo);
    v["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("tags is not an array: {v}"))
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

pub async fn catalog(s: &impl Http) -> Vec<String> {
    let r = s.get("/v2/_catalog").send().await.unwrap();
    let r = expect_status(r, 200).await;
    let v = body_json(r).await;
    v["repositories"]
        .as_array()
        .unwrap_or_else(|| panic!("repositories is not an array: {v}"))
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}
