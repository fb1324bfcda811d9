//! `/v2/`, the API version header, and the error envelope for the request-level errors
//! (unknown repository, invalid name/digest/tag, unmatched path, wrong method).

use crate::fixtures::*;
use crate::harness::*;

const SOME_DIGEST: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

#[tokio::test]
async fn base_endpoint_is_200_empty_object_with_api_version() {
    let s = Server::start();
    let r = s.get("/v2/").send().await.unwrap();
    let r = expect_status(r, 200).await;
    assert_api_version(&r);
    let v = body_json(r).await;
    assert_eq!(v, serde_json::json!({}));
}

#[tokio::test]
async fn api_version_header_on_success_and_error_responses() {
    let s = Server::start();
    let img = push_image(&s, "hdr/repo", "v1", 1).await;
    for (method, path) in [
        ("GET", "/v2/".to_string()),
        ("GET", "/v2/hdr/repo/manifests/v1".to_string()),
        ("HEAD", format!("/v2/hdr/repo/manifests/{}", img.digest)),
        ("GET", format!("/v2/hdr/repo/blobs/{}", sha256(&img.config))),
        ("GET", "/v2/hdr/repo/tags/list".to_string()),
        ("GET", "/v2/_catalog".to_string()),
        ("GET", "/v2/hdr/repo/manifests/nope".to_string()),
        ("GET", format!("/v2/nobody/here/blobs/{SOME_DIGEST}")),
        ("GET", "/v2/hdr/repo/not-an-endpoint".to_string()),
    ] {
        let r = s.req(method.parse().unwrap(), &path).send().await.unwrap();
        assert_eq!(
            header(&r, "docker-distribution-api-version").as_deref(),
            Some(API_VERSION),
            "{method} {path} -> {}",
            r.status()
        );
    }
}

#[tokio::test]
async fn unknown_repository_codes_per_endpoint() {
    let s = Server::start();
    // manifests and tags/list: NAME_UNKNOWN
    let r = s.get("/v2/never/pushed/manifests/latest").send().await.unwrap();
    expect_error(r, 404, "NAME_UNKNOWN").await;
    let r = s.get(&format!("/v2/never/pushed/manifests/{SOME_DIGEST}")).send().await.unwrap();
    expect_error(r, 404, "NAME_UNKNOWN").await;
    let r = s.head("/v2/never/pushed/manifests/latest").send().await.unwrap();
    expect_status(r, 404).await;
    let r = s.delete("/v2/never/pushed/manifests/latest").send().await.unwrap();
    expect_error(r, 404, "NAME_UNKNOWN").await;
    let r = s.get("/v2/never/pushed/tags/list").send().await.unwrap();
    expect_error(r, 404, "NAME_UNKNOWN").await;
    // referrers: the spec forbids a 404 from a registry with the referrers API: an empty index.
    let r = s.get(&format!("/v2/never/pushed/referrers/{SOME_DIGEST}")).send().await.unwrap();
    let r = expect_status(r, 200).await;
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["manifests"], serde_json::json!([]));
    // blobs: BLOB_UNKNOWN
    let r = s.get(&format!("/v2/never/pushed/blobs/{SOME_DIGEST}")).send().await.unwrap();
    expect_error(r, 404, "BLOB_UNKNOWN").await;
    let r = s.head(&format!("/v2/never/pushed/blobs/{SOME_DIGEST}")).send().await.unwrap();
    expect_status(r, 404).await;
    let r = s.delete(&format!("/v2/never/pushed/blobs/{SOME_DIGEST}")).send().await.unwrap();
    expect_error(r, 404, "BLOB_UNKNOWN").await;
    // uploads: BLOB_UPLOAD_UNKNOWN
    let uuid = "3f1b0a4e-8d2c-4c5e-9a7b-2f6d1e0c9b8a";
    let r = s.get(&format!("/v2/never/pushed/blobs/uploads/{uuid}")).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = s.patch(&format!("/v2/never/pushed/blobs/uploads/{uuid}")).body(b"abc".to_vec()).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = s
        .put(&format!("/v2/never/pushed/blobs/uploads/{uuid}?digest={}", sha256(b"abc")))
        .body(b"abc".to_vec())
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = s.delete(&format!("/v2/never/pushed/blobs/uploads/{uuid}")).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn unknown_upload_uuid_in_existing_repository() {
    let s = Server::start();
    push_blob(&s, "up/known", b"x").await;
    for uuid in ["3f1b0a4e-8d2c-4c5e-9a7b-2f6d1e0c9b8a", "not-a-uuid"] {
        let r = s.get(&format!("/v2/up/known/blobs/uploads/{uuid}")).send().await.unwrap();
        expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    }
}

#[tokio::test]
async fn invalid_repository_names_are_name_invalid() {
    let s = Server::start();
    for name in ["UPPER", "Mixed/case", "a..b", "-lead", "trail-", "a//b", "a/_b", "a.-b"] {
        let r = s.get(&format!("/v2/{name}/tags/list")).send().await.unwrap();
        expect_error(r, 400, "NAME_INVALID").await;
        let r = s.get(&format!("/v2/{name}/manifests/latest")).send().await.unwrap();
        expect_error(r, 400, "NAME_INVALID").await;
        let r = s.post(&format!("/v2/{name}/blobs/uploads/")).body(Vec::new()).send().await.unwrap();
        expect_error(r, 400, "NAME_INVALID").await;
    }
    // The spec grammar allows several separators: these are valid names.
    for name in ["a", "a.b", "a_b", "a__b", "a---b", "x/y/z", "0/1"] {
        let r = s.get(&format!("/v2/{name}/tags/list")).send().await.unwrap();
        expect_error(r, 404, "NAME_UNKNOWN").await;
    }
}

#[tokio::test]
async fn malformed_or_unsupported_digests_are_digest_invalid() {
    let s = Server::start();
    push_blob(&s, "dig/repo", b"content").await;
    let bad = [
        "sha256:abc".to_string(),             // too short
        format!("sha256:{}", "A".repeat(64)), // upper-case hex
        format!("sha256:{}", "g".repeat(64)), // not hex
        format!("sha512:{}", "a".repeat(64)), // wrong length for sha512
        format!("md5:{}", "a".repeat(32)),    // unsupported algorithm
        format!("sha256{}", "a".repeat(64)),  // no separator -> still not a digest
    ];
    for d in &bad[..5] {
        let r = s.get(&format!("/v2/dig/repo/blobs/{d}")).send().await.unwrap();
        expect_error(r, 400, "DIGEST_INVALID").await;
        let r = s.get(&format!("/v2/dig/repo/referrers/{d}")).send().await.unwrap();
        expect_error(r, 400, "DIGEST_INVALID").await;
        let r =
            s.post(&format!("/v2/dig/repo/blobs/uploads/?digest={d}")).body(b"content".to_vec()).send().await.unwrap();
        expect_error(r, 400, "DIGEST_INVALID").await;
    }
    // A reference with a ':' is a digest, so a malformed one is DIGEST_INVALID on manifests too.
    let r = s.get("/v2/dig/repo/manifests/sha256:abc").send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    // On blobs the reference must be a digest.
    let r = s.get(&format!("/v2/dig/repo/blobs/{}", bad[5])).send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn malformed_tags_name_no_manifest_and_cannot_be_pushed() {
    let s = Server::start();
    let img = push_image(&s, "tag/repo", "ok", 2).await;
    let long = "a".repeat(129);
    for tag in [".dot", "-dash", &long] {
        // Only the spec's codes are used (TAG_INVALID is not one of them).
        let r = s.get(&format!("/v2/tag/repo/manifests/{tag}")).send().await.unwrap();
        expect_error(r, 404, "MANIFEST_UNKNOWN").await;
        let r = put_manifest(&s, "tag/repo", tag, OCI_MANIFEST, &img.manifest).await;
        expect_error(r, 400, "MANIFEST_INVALID").await;
    }
    // 128 characters is the longest valid tag.
    let max = format!("_{}", "a".repeat(127));
    push_manifest(&s, "tag/repo", &max, OCI_MANIFEST, &img.manifest).await;
    let r = s.get(&format!("/v2/tag/repo/manifests/{max}")).send().await.unwrap();
    expect_status(r, 200).await;
}

#[tokio::test]
async fn unmatched_v2_paths_are_404_unsupported() {
    let s = Server::start();
    push_blob(&s, "nf/repo", b"x").await;
    for path in ["/v2/nf/repo/nothing/here", "/v2/nf/repo", "/v2/nf/repo/tags", "/v2/nf/repo/blobs"] {
        let r = s.get(path).send().await.unwrap();
        expect_error(r, 404, "UNSUPPORTED").await;
    }
}

#[tokio::test]
async fn wrong_methods_are_unsupported_405() {
    let s = Server::start();
    let img = push_image(&s, "m/repo", "v1", 3).await;
    let blob = sha256(&img.config);
    for (method, path) in [
        ("DELETE", "/v2/".to_string()),
        ("POST", "/v2/m/repo/manifests/v1".to_string()),
        ("PATCH", "/v2/m/repo/manifests/v1".to_string()),
        ("PUT", format!("/v2/m/repo/blobs/{blob}")),
        ("POST", format!("/v2/m/repo/blobs/{blob}")),
        ("PUT", "/v2/m/repo/tags/list".to_string()),
        ("DELETE", "/v2/m/repo/tags/list".to_string()),
        ("POST", "/v2/_catalog".to_string()),
        ("PUT", format!("/v2/m/repo/referrers/{}", img.digest)),
    ] {
        let r = s.req(method.parse().unwrap(), &path).body(Vec::new()).send().await.unwrap();
        expect_error(r, 405, "UNSUPPORTED").await;
    }
}

#[tokio::test]
async fn healthz_reports_ok() {
    let s = Server::start();
    let r = s.get("/healthz").send().await.unwrap();
    let r = expect_status(r, 200).await;
    let ct = header(&r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "healthz Content-Type {ct}");
    let v = body_json(r).await;
    assert_eq!(v["status"], "ok", "healthz body {v}");
}
