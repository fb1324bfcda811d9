//! Manifest push/pull/delete for every supported type, byte-for-byte storage, content
//! negotiation, validation errors and tags given on push.

use serde_json::json;

use crate::fixtures::*;
use crate::harness::*;

/// GET and HEAD `reference`; asserts 200 with the contract's headers and returns the GET body.
async fn pull(s: &Server, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
    let d = sha256(bytes);
    for head in [false, true] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let rb = if head { s.head(&path) } else { s.get(&path) };
        let r = rb.header("accept", media_type).send().await.unwrap();
        let r = expect_status(r, 200).await;
        assert_eq!(must_header(&r, "content-type"), media_type, "{path} head={head}");
        assert_eq!(must_header(&r, "content-length"), bytes.len().to_string(), "{path} head={head}");
        assert_eq!(must_header(&r, "docker-content-digest"), d, "{path} head={head}");
        let b = body_bytes(r).await;
        if head {
            assert!(b.is_empty(), "HEAD {path} returned a body");
        } else {
            assert!(b == bytes, "GET {path}: bytes differ from the pushed ones:\n{}", String::from_utf8_lossy(&b));
        }
    }
}

#[tokio::test]
async fn oci_image_manifest_by_tag_and_digest() {
    let s = Server::start();
    let img = push_image(&s, "oci/image", "v1", 101).await;
    pull(&s, "oci/image", "v1", OCI_MANIFEST, &img.manifest).await;
    pull(&s, "oci/image", &img.digest, OCI_MANIFEST, &img.manifest).await;
    assert_eq!(tags_of(&s, "oci/image").await, vec!["v1"]);
    // Layers and config are readable through the repository.
    assert_blob(&s, "oci/image", &img.config).await;
    for l in &img.layers {
        assert_blob(&s, "oci/image", l).await;
    }
}

#[tokio::test]
async fn oci_image_index() {
    let s = Server::start();
    let a = push_image(&s, "oci/index", "", 102).await;
    let b = push_image(&s, "oci/index", "", 103).await;
    let idx = oci_index(&[(OCI_MANIFEST, &a.manifest, "amd64"), (OCI_MANIFEST, &b.manifest, "arm64")]);
    push_manifest(&s, "oci/index", "multi", OCI_INDEX, &idx).await;
    pull(&s, "oci/index", "multi", OCI_INDEX, &idx).await;
    pull(&s, "oci/index", &sha256(&idx), OCI_INDEX, &idx).await;
    pull(&s, "oci/index", &a.digest, OCI_MANIFEST, &a.manifest).await;
    // An index of indexes.
    let outer = oci_index(&[(OCI_INDEX, &idx, "amd64")]);
    push_manifest(&s, "oci/index", "nested", OCI_INDEX, &outer).await;
    pull(&s, "oci/index", "nested", OCI_INDEX, &outer).await;
}

#[tokio::test]
async fn docker_schema2_manifest_and_manifest_list() {
    let s = Server::start();
    let a = push_docker_image(&s, "docker/img", "amd", 104).await;
    let b = push_docker_image(&s, "docker/img", "", 105).await;
    pull(&s, "docker/img", "amd", DOCKER_MANIFEST, &a.manifest).await;
    pull(&s, "docker/img", &b.digest, DOCKER_MANIFEST, &b.manifest).await;
    let list = docker_list(&[(&a.manifest, "amd64"), (&b.manifest, "arm64")]);
    push_manifest(&s, "docker/img", "latest", DOCKER_LIST, &list).await;
    pull(&s, "docker/img", "latest", DOCKER_LIST, &list).await;
    pull(&s, "docker/img", &sha256(&list), DOCKER_LIST, &list).await;
}

#[tokio::test]
async fn artifacts_custom_config_and_empty_config() {
    let s = Server::start();
    let repo = "art/repo";
    // Custom config media type, artifactType and a payload layer.
    let cfg = br#"{"tool":"example","version":3}"#.to_vec();
    let payload = bytes_of(106, 2000);
    push_blob(&s, repo, &cfg).await;
    push_blob(&s, repo, &payload).await;
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.thing.v1",
        "config": descriptor("application/vnd.example.config.v1+json", &cfg),
        "layers": [descriptor("application/vnd.example.data.v1.tar", &payload)],
        "annotations": { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" }
    }))
    .unwrap();
    push_manifest(&s, repo, "custom", OCI_MANIFEST, &m).await;
    pull(&s, repo, "custom", OCI_MANIFEST, &m).await;

    // The empty config descriptor (image-spec "Guidelines for Artifact Usage").
    assert_eq!(sha256(EMPTY_JSON), EMPTY_JSON_DIGEST);
    push_blob(&s, repo, EMPTY_JSON).await;
    let m2 = artifact_manifest("application/vnd.example.sig.v1", &payload, None, None);
    push_manifest(&s, repo, "empty-config", OCI_MANIFEST, &m2).await;
    pull(&s, repo, "empty-config", OCI_MANIFEST, &m2).await;

    // No layers at all but the empty descriptor as the only layer, with inline `data`.
    let mut empty_desc = descriptor(OCI_EMPTY, EMPTY_JSON);
    empty_desc["data"] = json!("e30=");
    let m3 = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.marker.v1",
        "config": empty_desc.clone(),
        "layers": [empty_desc],
    }))
    .unwrap();
    push_manifest(&s, repo, "marker", OCI_MANIFEST, &m3).await;
    pull(&s, repo, "marker", OCI_MANIFEST, &m3).await;

    // An empty `layers` array is allowed by the distribution spec ("the list of blobs MAY be empty").
    let m4 = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_EMPTY, EMPTY_JSON),
        "layers": [],
    }))
    .unwrap();
    push_manifest(&s, repo, "nolayers", OCI_MANIFEST, &m4).await;
    pull(&s, repo, "nolayers", OCI_MANIFEST, &m4).await;
}

#[tokio::test]
async fn manifest_without_media_type_field_is_served_with_the_pushed_content_type() {
    let s = Server::start();
    let cfg = config_blob(107);
    push_blob(&s, "nomt/repo", &cfg).await;
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "config": descriptor(OCI_CONFIG, &cfg),
        "layers": [],
    }))
    .unwrap();
    push_manifest(&s, "nomt/repo", "v1", OCI_MANIFEST, &m).await;
    pull(&s, "nomt/repo", "v1", OCI_MANIFEST, &m).await;
}

#[tokio::test]
async fn manifests_are_stored_byte_for_byte() {
    let s = Server::start();
    let cfg = config_blob(108);
    let layer = bytes_of(108, 64);
    push_blob(&s, "bytes/repo", &cfg).await;
    push_blob(&s, "bytes/repo", &layer).await;
    let text = format!(
        "\n  {{ \"layers\" :[ {{\"size\":{},\"digest\":\"{}\",\"mediaType\":\"{OCI_LAYER}\"}}\t],\r\n\
         \"config\":{{\"size\" : {} , \"mediaType\":\"{OCI_CONFIG}\",\"digest\":\"{}\"}},\n\
         \"annotations\":{{\"z\":\"caf\\u00e9\",\"a\":\"\u{1F433}\"}},\n\
         \"mediaType\":   \"{OCI_MANIFEST}\",   \"schemaVersion\":2 }}\n\n",
        layer.len(),
        sha256(&layer),
        cfg.len(),
        sha256(&cfg)
    );
    let bytes = text.into_bytes();
    let r = push_manifest(&s, "bytes/repo", "odd", OCI_MANIFEST, &bytes).await;
    assert_eq!(must_header(&r, "docker-content-digest"), sha256(&bytes));
    pull(&s, "bytes/repo", "odd", OCI_MANIFEST, &bytes).await;
    pull(&s, "bytes/repo", &sha256(&bytes), OCI_MANIFEST, &bytes).await;
}

#[tokio::test]
async fn put_by_digest_creates_no_tag() {
    let s = Server::start();
    let img = push_image(&s, "bydig/repo", "", 109).await;
    pull(&s, "bydig/repo", &img.digest, OCI_MANIFEST, &img.manifest).await;
    assert!(tags_of(&s, "bydig/repo").await.is_empty());
    // Pushing the same bytes again is fine.
    push_manifest(&s, "bydig/repo", &img.digest, OCI_MANIFEST, &img.manifest).await;
}

#[tokio::test]
async fn put_by_digest_with_mismatching_body_is_digest_invalid() {
    let s = Server::start();
    let img = push_image(&s, "mism/repo", "", 110).await;
    let other = push_image(&s, "mism/repo", "", 111).await;
    let r = put_manifest(&s, "mism/repo", &img.digest, OCI_MANIFEST, &other.manifest).await;
    expect_error(r, 400, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn sha512_manifest_digest() {
    // Spec: Docker-Content-Digest on a manifest PUT MUST equal the client-provided digest.
    let s = Server::start();
    let img = push_image(&s, "m512/repo", "", 112).await;
    let d = sha512(&img.manifest);
    let r = put_manifest(&s, "m512/repo", &d, OCI_MANIFEST, &img.manifest).await;
    let r = expect_status(r, 201).await;
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    assert_eq!(location(&r), format!("/v2/m512/repo/manifests/{d}"));
    let r = s.get(&format!("/v2/m512/repo/manifests/{d}")).header("accept", OCI_MANIFEST).send().await.unwrap();
    let r = expect_status(r, 200).await;
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    assert_eq!(body_bytes(r).await, img.manifest);
}

#[tokio::test]
async fn tags_given_on_push() {
    let s = Server::start();
    let img = push_image(&s, "tagpush/repo", "", 113).await;
    let r = put_manifest(&s, "tagpush/repo", &format!("{}?tag=v1&tag=latest", img.digest), OCI_MANIFEST, &img.manifest)
        .await;
    let r = expect_status(r, 201).await;
    assert_eq!(location(&r), format!("/v2/tagpush/repo/manifests/{}", img.digest));
    // distribution-spec (tags on push): "For each tag that was successfully pushed, include an
    // `OCI-Tag` response header".
    let mut applied = header_values(&r, "oci-tag");
    applied.sort();
    assert_eq!(applied, vec!["latest", "v1"], "OCI-Tag headers");
    assert_eq!(tags_of(&s, "tagpush/repo").await, vec!["latest", "v1"]);
    pull(&s, "tagpush/repo", "v1", OCI_MANIFEST, &img.manifest).await;
    pull(&s, "tagpush/repo", "latest", OCI_MANIFEST, &img.manifest).await;

    // "MUST support pushing at least 10 tags at once".
    let other = push_image(&s, "tagpush/repo", "", 114).await;
    let many: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let q = many.iter().map(|t| format!("tag={t}")).collect::<Vec<_>>().join("&");
    let r = put_manifest(&s, "tagpush/repo", &format!("{}?{q}", other.digest), OCI_MANIFEST, &other.manifest).await;
    let r = expect_status(r, 201).await;
    let mut applied = header_values(&r, "oci-tag");
    applied.sort();
    assert_eq!(applied, many);
    for t in &many {
        pull(&s, "tagpush/repo", t, OCI_MANIFEST, &other.manifest).await;
    }
    // Tags given on push move existing tags like a push by tag does.
    let r =
        put_manifest(&s, "tagpush/repo", &format!("{}?tag=latest", other.digest), OCI_MANIFEST, &other.manifest).await;
    expect_status(r, 201).await;
    pull(&s, "tagpush/repo", "latest", OCI_MANIFEST, &other.manifest).await;
    pull(&s, "tagpush/repo", "v1", OCI_MANIFEST, &img.manifest).await;
}

#[tokio::test]
async fn invalid_tag_given_on_push_is_manifest_invalid() {
    let s = Server::start();
    let img = push_image(&s, "tagbad/repo", "", 115).await;
    let r = put_manifest(&s, "tagbad/repo", &format!("{}?tag=.bad", img.digest), OCI_MANIFEST, &img.manifest).await;
    expect_error(r, 400, "MANIFEST_INVALID").await;
    assert!(tags_of(&s, "tagbad/repo").await.is_empty());
}

#[tokio::test]
async fn accept_negotiation_by_tag_and_by_digest() {
    let s = Server::start();
    let img = push_image(&s, "neg/repo", "v1", 116).await;
    let path = "/v2/neg/repo/manifests/v1";
    // Accept lists manifest types, none of them the stored one, and no */*: MANIFEST_UNKNOWN.
    let r = s.get(path).header("accept", DOCKER_MANIFEST).send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = s.get(path).header("accept", format!("{DOCKER_MANIFEST}, {DOCKER_LIST}")).send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = s.head(path).header("accept", DOCKER_MANIFEST).send().await.unwrap();
    expect_status(r, 404).await;
    // The stored type listed (alone, in a list, in a second Accept header, with a q parameter), or */*.
    for accepts in [
        vec![OCI_MANIFEST.to_string()],
        vec![format!("{DOCKER_MANIFEST}, {OCI_MANIFEST}, {OCI_INDEX}")],
        vec![DOCKER_MANIFEST.to_string(), OCI_MANIFEST.to_string()],
        vec![format!("{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5")],
        vec![format!("{DOCKER_MANIFEST}, */*")],
        vec!["*/*".to_string()],
        vec!["application/json".to_string()],
    ] {
        let mut rb = s.get(path);
        for a in &accepts {
            rb = rb.header("accept", a);
        }
        let r = expect_status(rb.send().await.unwrap(), 200).await;
        assert_eq!(must_header(&r, "content-type"), OCI_MANIFEST, "Accept {accepts:?}");
        assert_eq!(body_bytes(r).await, img.manifest);
    }
    // No Accept header at all (reqwest always sends one, so raw HTTP).
    let raw = raw_request(s.addr, "GET", path, &[], &[]).await;
    assert_eq!(raw.status, 200, "no Accept: {raw:?}");
    assert_eq!(raw.header("content-type"), Some(OCI_MANIFEST));
    assert_eq!(raw.body, img.manifest);
    // By digest it is always served.
    let r = s
        .get(&format!("/v2/neg/repo/manifests/{}", img.digest))
        .header("accept", DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    let r = expect_status(r, 200).await;
    assert_eq!(must_header(&r, "content-type"), OCI_MANIFEST);
    // An index asked for with only image-manifest types.
    let idx = oci_index(&[(OCI_MANIFEST, &img.manifest, "amd64")]);
    push_manifest(&s, "neg/repo", "multi", OCI_INDEX, &idx).await;
    let r = s
        .get("/v2/neg/repo/manifests/multi")
        .header("accept", format!("{OCI_MANIFEST}, {DOCKER_MANIFEST}"))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = s
        .get("/v2/neg/repo/manifests/multi")
        .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
        .send()
        .await
        .unwrap();
    assert_eq!(must_header(&expect_status(r, 200).await, "content-type"), OCI_INDEX);
}

#[tokio::test]
async fn missing_references_are_manifest_blob_unknown() {
    let s = Server::start();
    let repo = "mbu/repo";
    let cfg = config_blob(117);
    let layer = bytes_of(117, 500);
    let missing = bytes_of(118, 500);
    push_blob(&s, repo, &cfg).await;
    push_blob(&s, repo, &layer).await;
    // A missing layer.
    let m = oci_manifest(&cfg, &[layer.clone(), missing.clone()]);
    expect_error(put_manifest(&s, repo, "a", OCI_MANIFEST, &m).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    // A missing config.
    let m = oci_manifest(&config_blob(119), std::slice::from_ref(&layer));
    expect_error(put_manifest(&s, repo, "b", OCI_MANIFEST, &m).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    // Docker schema 2 with a missing layer.
    let m = docker_manifest(&cfg, std::slice::from_ref(&missing));
    expect_error(put_manifest(&s, repo, "c", DOCKER_MANIFEST, &m).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    // An index whose child manifest was never pushed.
    let child = oci_manifest(&cfg, std::slice::from_ref(&layer));
    let idx = oci_index(&[(OCI_MANIFEST, &child, "amd64")]);
    expect_error(put_manifest(&s, repo, "d", OCI_INDEX, &idx).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    let dchild = docker_manifest(&cfg, std::slice::from_ref(&layer));
    let list = docker_list(&[(&dchild, "amd64")]);
    expect_error(put_manifest(&s, repo, "e", DOCKER_LIST, &list).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    // A blob that exists only in another repository does not count.
    push_blob(&s, "mbu/other", &missing).await;
    let m = oci_manifest(&cfg, std::slice::from_ref(&missing));
    expect_error(put_manifest(&s, repo, "f", OCI_MANIFEST, &m).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    // A child manifest present only in another repository does not count either.
    push_blob(&s, "mbu/other", &cfg).await;
    push_blob(&s, "mbu/other", &layer).await;
    push_manifest(&s, "mbu/other", &sha256(&child), OCI_MANIFEST, &child).await;
    expect_error(put_manifest(&s, repo, "g", OCI_INDEX, &idx).await, 400, "MANIFEST_BLOB_UNKNOWN").await;
    // None of the refused pushes created a tag.
    let r = s.get(&format!("/v2/{repo}/tags/list")).send().await.unwrap();
    let v = body_json(expect_status(r, 200).await).await;
    assert_eq!(v["tags"], json!([]), "refused pushes left tags: {v}");
    // Once the child exists the index is accepted.
    push_manifest(&s, repo, &sha256(&child), OCI_MANIFEST, &child).await;
    push_manifest(&s, repo, "d", OCI_INDEX, &idx).await;
}

/// An OCI manifest padded with an annotation to exactly `len` bytes.
fn manifest_of_len(cfg: &[u8], len: usize) -> Vec<u8> {
    let build = |pad: usize| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, cfg),
            "layers": [],
            "annotations": { "pad": "x".repeat(pad) },
        }))
        .unwrap()
    };
    let base = build(0).len();
    let m = build(len - base);
    assert_eq!(m.len(), len);
    m
}

#[tokio::test]
async fn manifest_size_limit_is_4_mib() {
    let s = Server::start();
    let cfg = config_blob(120);
    push_blob(&s, "size/man", &cfg).await;
    let at_limit = manifest_of_len(&cfg, 4 * 1024 * 1024);
    push_manifest(&s, "size/man", "max", OCI_MANIFEST, &at_limit).await;
    pull(&s, "size/man", "max", OCI_MANIFEST, &at_limit).await;
    let over = manifest_of_len(&cfg, 4 * 1024 * 1024 + 1);
    // Raw HTTP: a server may answer before reading the whole body; the client must still be able
    // to read that answer.
    let mut conn = raw_start(
        s.addr,
        "PUT",
        "/v2/size/man/manifests/over",
        &[("Content-Type", OCI_MANIFEST.to_string()), ("Content-Length", over.len().to_string())],
    )
    .await;
    let _ = tokio::io::AsyncWriteExt::write_all(&mut conn, &over).await;
    let r = raw_read_response(&mut conn, false).await;
    assert_eq!(r.status, 413, "over-limit manifest: {} {}", r.status, String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["errors"][0]["code"], "SIZE_INVALID");
    let r = s.get("/v2/size/man/manifests/over").send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn schema1_is_refused() {
    let s = Server::start();
    let layer = bytes_of(121, 100);
    push_blob(&s, "s1/repo", &layer).await;
    let unsigned = serde_json::to_vec(&json!({
        "schemaVersion": 1,
        "name": "s1/repo",
        "tag": "v1",
        "architecture": "amd64",
        "fsLayers": [{ "blobSum": sha256(&layer) }],
        "history": [{ "v1Compatibility": "{\"id\":\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\"}" }],
    }))
    .unwrap();
    let mut signed: serde_json::Value = serde_json::from_slice(&unsigned).unwrap();
    signed["signatures"] = json!([{
        "header": { "jwk": { "crv": "P-256", "kid": "X", "kty": "EC", "x": "x", "y": "y" }, "alg": "ES256" },
        "signature": "c2lnbmF0dXJl",
        "protected": "e30"
    }]);
    let signed = serde_json::to_vec_pretty(&signed).unwrap();
    for (mt, body) in [(DOCKER_SCHEMA1_SIGNED, &signed), (DOCKER_SCHEMA1, &unsigned)] {
        let v = expect_error(put_manifest(&s, "s1/repo", "v1", mt, body).await, 400, "MANIFEST_INVALID").await;
        let msg: String = v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            msg.contains("schema1") || msg.contains("schemaversion1"),
            "MANIFEST_INVALID message should say schema 1 is unsupported: {v}"
        );
    }
    let r = s.get("/v2/s1/repo/manifests/v1").send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn invalid_manifests_are_manifest_invalid() {
    let s = Server::start();
    let cfg = config_blob(122);
    push_blob(&s, "inv/repo", &cfg).await;
    let c = descriptor(OCI_CONFIG, &cfg);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not json", b"{not json".to_vec()),
        ("empty body", Vec::new()),
        ("array", b"[]".to_vec()),
        ("no config", serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"layers":[]})).unwrap()),
        ("layers not an array", serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"config":c,"layers":"x"})).unwrap()),
        ("schemaVersion 3", serde_json::to_vec(&json!({"schemaVersion":3,"mediaType":OCI_MANIFEST,"config":c,"layers":[]})).unwrap()),
        ("no schemaVersion", serde_json::to_vec(&json!({"mediaType":OCI_MANIFEST,"config":c,"layers":[]})).unwrap()),
        (
            "descriptor without digest",
            serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"config":{"mediaType":OCI_CONFIG,"size":cfg.len()},"layers":[]})).unwrap(),
        ),
        (
            "subject with a malformed digest",
            serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"config":c,"layers":[],"subject":{"mediaType":OCI_MANIFEST,"size":10,"digest":"sha256:nothex"}})).unwrap(),
        ),
        (
            "descriptor with a malformed digest",
            serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"config":{"mediaType":OCI_CONFIG,"size":cfg.len(),"digest":"sha256:xyz"},"layers":[]})).unwrap(),
        ),
    ];
    for (what, body) in &cases {
        let r = put_manifest(&s, "inv/repo", "bad", OCI_MANIFEST, body).await;
        if r.status().as_u16() != 400 {
            panic!("{what}: expected 400 MANIFEST_INVALID, got {}: {}", r.status(), r.text().await.unwrap_or_default());
        }
        expect_error(r, 400, "MANIFEST_INVALID").await;
    }
    let idx = serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":OCI_INDEX})).unwrap();
    expect_error(put_manifest(&s, "inv/repo", "bad", OCI_INDEX, &idx).await, 400, "MANIFEST_INVALID").await;
    let r = s.get("/v2/inv/repo/manifests/bad").send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn unknown_tag_or_digest_is_manifest_unknown() {
    let s = Server::start();
    push_image(&s, "mu/repo", "v1", 123).await;
    for reference in ["nope".to_string(), sha256(b"no such manifest")] {
        let r = s.get(&format!("/v2/mu/repo/manifests/{reference}")).send().await.unwrap();
        expect_error(r, 404, "MANIFEST_UNKNOWN").await;
        let r = s.head(&format!("/v2/mu/repo/manifests/{reference}")).send().await.unwrap();
        expect_status(r, 404).await;
        let r = s.delete(&format!("/v2/mu/repo/manifests/{reference}")).send().await.unwrap();
        expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    }
}

#[tokio::test]
async fn pushing_to_an_existing_tag_moves_it() {
    let s = Server::start();
    let a = push_image(&s, "move/repo", "cur", 124).await;
    let b = push_image(&s, "move/repo", "cur", 125).await;
    pull(&s, "move/repo", "cur", OCI_MANIFEST, &b.manifest).await;
    pull(&s, "move/repo", &a.digest, OCI_MANIFEST, &a.manifest).await;
    assert_eq!(tags_of(&s, "move/repo").await, vec!["cur"]);
}

#[tokio::test]
async fn delete_by_tag_removes_only_the_tag() {
    let s = Server::start();
    let img = push_image(&s, "dtag/repo", "a", 126).await;
    push_manifest(&s, "dtag/repo", "b", OCI_MANIFEST, &img.manifest).await;
    let r = s.delete("/v2/dtag/repo/manifests/a").send().await.unwrap();
    expect_status(r, 202).await;
    let r = s.get("/v2/dtag/repo/manifests/a").send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    pull(&s, "dtag/repo", "b", OCI_MANIFEST, &img.manifest).await;
    pull(&s, "dtag/repo", &img.digest, OCI_MANIFEST, &img.manifest).await;
    assert_eq!(tags_of(&s, "dtag/repo").await, vec!["b"]);
    let r = s.delete("/v2/dtag/repo/manifests/a").send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn delete_by_digest_removes_the_manifest_and_its_tags() {
    let s = Server::start();
    let img = push_image(&s, "ddig/repo", "a", 127).await;
    push_manifest(&s, "ddig/repo", "b", OCI_MANIFEST, &img.manifest).await;
    let keep = push_image(&s, "ddig/repo", "keep", 128).await;
    let r = s.delete(&format!("/v2/ddig/repo/manifests/{}", img.digest)).send().await.unwrap();
    expect_status(r, 202).await;
    for reference in ["a", "b", img.digest.as_str()] {
        let r = s.get(&format!("/v2/ddig/repo/manifests/{reference}")).send().await.unwrap();
        expect_error(r, 404, "MANIFEST_UNKNOWN").await;
        let r = s.head(&format!("/v2/ddig/repo/manifests/{reference}")).send().await.unwrap();
        expect_status(r, 404).await;
    }
    assert_eq!(tags_of(&s, "ddig/repo").await, vec!["keep"]);
    pull(&s, "ddig/repo", "keep", OCI_MANIFEST, &keep.manifest).await;
    let r = s.delete(&format!("/v2/ddig/repo/manifests/{}", img.digest)).send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    // It can be pushed again.
    push_manifest(&s, "ddig/repo", "a", OCI_MANIFEST, &img.manifest).await;
    pull(&s, "ddig/repo", "a", OCI_MANIFEST, &img.manifest).await;
}

#[tokio::test]
async fn manifests_are_scoped_to_their_repository() {
    let s = Server::start();
    let img = push_image(&s, "scope/a", "v1", 129).await;
    push_blob(&s, "scope/b", b"exists").await;
    let r = s.get(&format!("/v2/scope/b/manifests/{}", img.digest)).send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = s.get("/v2/scope/b/manifests/v1").send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn concurrent_pushes_all_succeed() {
    // Many writers at once (blob uploads to many repositories, manifests racing for one tag):
    // none may fail with a storage or database contention error.
    let s = Server::start();
    let blobs: Vec<Vec<u8>> = (0..16).map(|i| bytes_of(500 + i, 20_000)).collect();
    let pushes = blobs.iter().enumerate().map(|(i, b)| {
        let s = &s;
        async move {
            s.post(&format!("/v2/race/r{i}/blobs/uploads/?digest={}", sha256(b))).body(b.clone()).send().await.unwrap()
        }
    });
    for r in futures_join_all(pushes).await {
        expect_status(r, 201).await;
    }
    let cfg = config_blob(520);
    push_blob(&s, "race/tag", &cfg).await;
    let manifests: Vec<Vec<u8>> = (0..16)
        .map(|i| {
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, &cfg),
                "layers": [],
                "annotations": { "n": i.to_string() },
            }))
            .unwrap()
        })
        .collect();
    let puts = manifests.iter().map(|m| put_manifest(&s, "race/tag", "latest", OCI_MANIFEST, m));
    for r in futures_join_all(puts).await {
        expect_status(r, 201).await;
    }
    assert_eq!(tags_of(&s, "race/tag").await, vec!["latest"]);
    let r = s.get("/v2/race/tag/manifests/latest").header("accept", OCI_MANIFEST).send().await.unwrap();
    let body = body_bytes(expect_status(r, 200).await).await;
    assert!(manifests.contains(&body), "the tag points at none of the pushed manifests");
    for (i, b) in blobs.iter().enumerate() {
        assert_blob(&s, &format!("race/r{i}"), b).await;
    }
    let all = catalog(&s).await;
    assert_eq!(all.len(), 17, "{all:?}");
}

/// Runs futures concurrently on the current task (no extra dependency needed).
async fn futures_join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut handles: Vec<Option<_>> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, h) in handles.iter_mut().enumerate() {
            if let Some(f) = h {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        outputs[i] = Some(v);
                        *h = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test]
async fn content_type_parameters_on_push_are_ignored() {
    // Spec (pushing manifests): "Registries SHOULD ignore any parameters"; on pull "Registries
    // should not include parameters" in Content-Type.
    let s = Server::start();
    let img = push_image(&s, "ctparam/repo", "", 130).await;
    let r = put_manifest(&s, "ctparam/repo", "v1", &format!("{OCI_MANIFEST}; charset=utf-8"), &img.manifest).await;
    expect_status(r, 201).await;
    pull(&s, "ctparam/repo", "v1", OCI_MANIFEST, &img.manifest).await;
}

#[tokio::test]
async fn repository_names_containing_endpoint_words() {
    // Names are parsed from the right: path words inside a name are just name components.
    let s = Server::start();
    let names = ["blobs", "manifests/uploads", "a/blobs/b", "x/tags/list", "referrers/z", "v2/catalog/y"];
    for (i, name) in names.iter().enumerate() {
        let img = push_image(&s, name, "t", 600 + i as u64).await;
        pull(&s, name, "t", OCI_MANIFEST, &img.manifest).await;
        assert_blob(&s, name, &img.layers[0]).await;
        assert_eq!(tags_of(&s, name).await, vec!["t"], "{name}");
        let (loc, _) = start_upload(&s, name).await;
        let loc = patch_chunk(&s, &loc, 0, b"chunk").await;
        let r = s.get(&loc).send().await.unwrap();
        assert_eq!(must_header(&expect_status(r, 204).await, "range"), "0-4", "{name}");
        let r = s.get(&format!("/v2/{name}/referrers/{}", img.digest)).send().await.unwrap();
        expect_status(r, 200).await;
    }
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(catalog(&s).await, want);
}
