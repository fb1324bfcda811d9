//! The referrers API: OCI-Subject on push, listing, filtering, removal.

use serde_json::{json, Value};

use crate::fixtures::*;
use crate::harness::*;

async fn referrers(s: &Server, repo: &str, subject: &str, artifact_type: Option<&str>) -> (Option<String>, Value) {
    let mut path = format!("/v2/{repo}/referrers/{subject}");
    if let Some(t) = artifact_type {
        path.push_str(&format!("?artifactType={}", t.replace('+', "%2B").replace('/', "%2F")));
    }
    let r = s.get(&path).send().await.unwrap();
    let r = expect_status(r, 200).await;
    assert_eq!(must_header(&r, "content-type"), OCI_INDEX, "referrers Content-Type");
    let filters = header(&r, "oci-filters-applied");
    let v = body_json(r).await;
    assert_eq!(v["schemaVersion"], 2, "{v}");
    assert_eq!(v["mediaType"], OCI_INDEX, "{v}");
    assert!(v["manifests"].is_array(), "manifests is not an array: {v}");
    (filters, v)
}

fn digests(v: &Value) -> Vec<String> {
    let mut d: Vec<String> =
        v["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap().to_string()).collect();
    d.sort();
    d
}

/// Pushes an artifact with a subject by digest; asserts the OCI-Subject header.
async fn push_referrer(s: &Server, repo: &str, artifact: &[u8], subject: &str) -> String {
    let d = sha256(artifact);
    let r = push_manifest(s, repo, &d, OCI_MANIFEST, artifact).await;
    assert_eq!(must_header(&r, "oci-subject"), subject, "OCI-Subject on a push with a subject");
    d
}

#[tokio::test]
async fn oci_subject_header_and_referrers_list() {
    let s = Server::start();
    let repo = "ref/repo";
    let img = push_image(&s, repo, "v1", 201).await;
    push_blob(&s, repo, EMPTY_JSON).await;
    let sig_payload = bytes_of(201, 300);
    push_blob(&s, repo, &sig_payload).await;
    let annotations = json!({ "org.opencontainers.image.created": "2024-05-01T00:00:00Z", "org.example.kind": "sig" });
    let sig = artifact_manifest(
        "application/vnd.example.signature.v1",
        &sig_payload,
        Some((OCI_MANIFEST, &img.manifest)),
        Some(annotations.clone()),
    );
    let sig_d = push_referrer(&s, repo, &sig, &img.digest).await;

    let (filters, v) = referrers(&s, repo, &img.digest, None).await;
    assert_eq!(filters, None, "OCI-Filters-Applied on an unfiltered list");
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    let d = &list[0];
    assert_eq!(d["mediaType"], OCI_MANIFEST);
    assert_eq!(d["digest"], sig_d.as_str());
    assert_eq!(d["size"], sig.len());
    assert_eq!(d["artifactType"], "application/vnd.example.signature.v1");
    assert_eq!(d["annotations"], annotations);

    // A manifest without a subject gets no OCI-Subject header.
    let plain = push_image(&s, repo, "v2", 202).await;
    let r = put_manifest(&s, repo, "v2", OCI_MANIFEST, &plain.manifest).await;
    let r = expect_status(r, 201).await;
    assert_eq!(header(&r, "oci-subject"), None);
}

#[tokio::test]
async fn subject_need_not_exist() {
    let s = Server::start();
    let repo = "ref/dangling";
    push_blob(&s, repo, EMPTY_JSON).await;
    let payload = bytes_of(203, 50);
    push_blob(&s, repo, &payload).await;
    let absent_subject = oci_manifest(b"never pushed config", &[]);
    let subject_d = sha256(&absent_subject);
    let art =
        artifact_manifest("application/vnd.example.sbom.v1", &payload, Some((OCI_MANIFEST, &absent_subject)), None);
    let art_d = push_referrer(&s, repo, &art, &subject_d).await;
    let (_, v) = referrers(&s, repo, &subject_d, None).await;
    assert_eq!(digests(&v), vec![art_d]);
    // The subject itself is still unknown.
    let r = s.get(&format!("/v2/{repo}/manifests/{subject_d}")).send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn empty_list_for_a_digest_without_referrers() {
    let s = Server::start();
    let img = push_image(&s, "ref/none", "v1", 204).await;
    for subject in [img.digest.clone(), sha256(b"not a manifest here")] {
        let (filters, v) = referrers(&s, "ref/none", &subject, None).await;
        assert_eq!(v["manifests"], json!([]), "{v}");
        assert_eq!(filters, None);
    }
    // A filter on an empty list still reports that it was applied.
    let (filters, v) = referrers(&s, "ref/none", &img.digest, Some("application/vnd.example.x")).await;
    assert_eq!(v["manifests"], json!([]));
    assert_eq!(filters.as_deref(), Some("artifactType"));
}

#[tokio::test]
async fn artifact_type_falls_back_to_the_config_media_type() {
    let s = Server::start();
    let repo = "ref/fallback";
    let img = push_image(&s, repo, "v1", 205).await;
    let cfg = br#"{"kind":"attestation"}"#.to_vec();
    push_blob(&s, repo, &cfg).await;
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.example.attestation.config.v1+json", &cfg),
        "layers": [],
        "subject": descriptor(OCI_MANIFEST, &img.manifest),
    }))
    .unwrap();
    let d = push_referrer(&s, repo, &m, &img.digest).await;
    let (_, v) = referrers(&s, repo, &img.digest, None).await;
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], d.as_str());
    assert_eq!(list[0]["artifactType"], "application/vnd.example.attestation.config.v1+json");
    assert!(list[0].get("annotations").is_none() || list[0]["annotations"] == json!({}), "{v}");
}

#[tokio::test]
async fn index_referrers() {
    let s = Server::start();
    let repo = "ref/index";
    let img = push_image(&s, repo, "v1", 206).await;
    let child = push_image(&s, repo, "", 207).await;
    // An index with an artifactType and a subject.
    let with_type = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": "application/vnd.example.bundle.v1",
        "manifests": [descriptor(OCI_MANIFEST, &child.manifest)],
        "subject": descriptor(OCI_MANIFEST, &img.manifest),
        "annotations": { "org.example.k": "v" },
    }))
    .unwrap();
    let r = push_manifest(&s, repo, &sha256(&with_type), OCI_INDEX, &with_type).await;
    assert_eq!(must_header(&r, "oci-subject"), img.digest);
    // One without: spec says the descriptor's artifactType is then omitted.
    let without = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &child.manifest)],
        "subject": descriptor(OCI_MANIFEST, &img.manifest),
    }))
    .unwrap();
    push_manifest(&s, repo, &sha256(&without), OCI_INDEX, &without).await;
    let (_, v) = referrers(&s, repo, &img.digest, None).await;
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    for d in list {
        assert_eq!(d["mediaType"], OCI_INDEX);
        if d["digest"] == sha256(&with_type).as_str() {
            assert_eq!(d["artifactType"], "application/vnd.example.bundle.v1");
            assert_eq!(d["annotations"], json!({ "org.example.k": "v" }));
            assert_eq!(d["size"], with_type.len());
        } else {
            assert_eq!(d["digest"], sha256(&without).as_str());
            assert!(d.get("artifactType").is_none(), "index without artifactType listed with one: {d}");
        }
    }
}

#[tokio::test]
async fn artifact_type_filter() {
    let s = Server::start();
    let repo = "ref/filter";
    let img = push_image(&s, repo, "v1", 208).await;
    push_blob(&s, repo, EMPTY_JSON).await;
    let mut by_type: Vec<(String, String)> = Vec::new();
    for (i, t) in [
        "application/vnd.example.sbom.v1+json",
        "application/vnd.example.sig.v1",
        "application/vnd.example.sbom.v1+json",
    ]
    .iter()
    .enumerate()
    {
        let payload = bytes_of(210 + i as u64, 40);
        push_blob(&s, repo, &payload).await;
        let a = artifact_manifest(t, &payload, Some((OCI_MANIFEST, &img.manifest)), None);
        let d = push_referrer(&s, repo, &a, &img.digest).await;
        by_type.push((t.to_string(), d));
    }
    let (filters, v) = referrers(&s, repo, &img.digest, None).await;
    assert_eq!(filters, None);
    assert_eq!(v["manifests"].as_array().unwrap().len(), 3);

    let (filters, v) = referrers(&s, repo, &img.digest, Some("application/vnd.example.sbom.v1+json")).await;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    let mut want: Vec<String> = by_type.iter().filter(|(t, _)| t.contains("sbom")).map(|(_, d)| d.clone()).collect();
    want.sort();
    assert_eq!(digests(&v), want);
    for m in v["manifests"].as_array().unwrap() {
        assert_eq!(m["artifactType"], "application/vnd.example.sbom.v1+json");
    }

    let (filters, v) = referrers(&s, repo, &img.digest, Some("application/vnd.example.sig.v1")).await;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    assert_eq!(digests(&v), vec![by_type[1].1.clone()]);
}

#[tokio::test]
async fn deleted_referrers_disappear() {
    let s = Server::start();
    let repo = "ref/delete";
    let img = push_image(&s, repo, "v1", 220).await;
    push_blob(&s, repo, EMPTY_JSON).await;
    let p1 = bytes_of(221, 10);
    let p2 = bytes_of(222, 10);
    push_blob(&s, repo, &p1).await;
    push_blob(&s, repo, &p2).await;
    let a1 = artifact_manifest("application/vnd.example.a", &p1, Some((OCI_MANIFEST, &img.manifest)), None);
    let a2 = artifact_manifest("application/vnd.example.b", &p2, Some((OCI_MANIFEST, &img.manifest)), None);
    let d1 = push_referrer(&s, repo, &a1, &img.digest).await;
    // Tagged referrer: deleting only the tag keeps it listed, deleting by digest removes it.
    let r = push_manifest(&s, repo, "sig", OCI_MANIFEST, &a2).await;
    assert_eq!(must_header(&r, "oci-subject"), img.digest);
    let d2 = sha256(&a2);
    let (_, v) = referrers(&s, repo, &img.digest, None).await;
    let mut both = vec![d1.clone(), d2.clone()];
    both.sort();
    assert_eq!(digests(&v), both);

    let r = s.delete(&format!("/v2/{repo}/manifests/{d1}")).send().await.unwrap();
    expect_status(r, 202).await;
    let (_, v) = referrers(&s, repo, &img.digest, None).await;
    assert_eq!(digests(&v), vec![d2.clone()]);

    let r = s.delete(&format!("/v2/{repo}/manifests/sig")).send().await.unwrap();
    expect_status(r, 202).await;
    let (_, v) = referrers(&s, repo, &img.digest, None).await;
    assert_eq!(digests(&v), vec![d2.clone()], "deleting a tag must not drop the referrer");

    let r = s.delete(&format!("/v2/{repo}/manifests/{d2}")).send().await.unwrap();
    expect_status(r, 202).await;
    let (_, v) = referrers(&s, repo, &img.digest, None).await;
    assert_eq!(v["manifests"], json!([]));
}

#[tokio::test]
async fn referrers_are_scoped_to_the_repository() {
    let s = Server::start();
    let img = push_image(&s, "ref/scope-a", "v1", 230).await;
    push_blob(&s, "ref/scope-b", EMPTY_JSON).await;
    let payload = bytes_of(231, 20);
    push_blob(&s, "ref/scope-b", &payload).await;
    let a = artifact_manifest("application/vnd.example.a", &payload, Some((OCI_MANIFEST, &img.manifest)), None);
    let d = push_referrer(&s, "ref/scope-b", &a, &img.digest).await;
    let (_, v) = referrers(&s, "ref/scope-a", &img.digest, None).await;
    assert_eq!(v["manifests"], json!([]), "a referrer pushed to another repository is listed: {v}");
    let (_, v) = referrers(&s, "ref/scope-b", &img.digest, None).await;
    assert_eq!(digests(&v), vec![d]);
}

#[tokio::test]
async fn referrers_of_an_unknown_repository_or_bad_digest() {
    let s = Server::start();
    push_blob(&s, "ref/known", b"x").await;
    // "the registry MUST NOT return a 404 Not Found to a referrers API request": an empty index.
    let (_, v) = referrers(&s, "ref/unknown", &sha256(b"x"), None).await;
    assert_eq!(v["manifests"], json!([]));
    let r = s.get("/v2/ref/known/referrers/sha256:nothex").send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    let r = s.get("/v2/ref/known/referrers/latest").send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
}
