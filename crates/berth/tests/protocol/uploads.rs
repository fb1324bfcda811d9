//! The upload session state machine: POST+PUT, streamed and chunked PATCH, ordering, resume,
//! final chunk on PUT, cancel, wrong/missing digest, digest-algorithm.

use crate::fixtures::*;
use crate::harness::*;

#[tokio::test]
async fn post_then_put_monolithic() {
    let s = Server::start();
    let content = bytes_of(31, 10_000);
    let d = sha256(&content);
    let (loc, uuid) = start_upload(&s, "pp/repo").await;
    let r = s
        .put(&with_query(&loc, &format!("digest={d}")))
        .header("content-type", "application/octet-stream")
        .body(content.clone())
        .send()
        .await
        .unwrap();
    let r = expect_status(r, 201).await;
    assert_eq!(location(&r), format!("/v2/pp/repo/blobs/{d}"));
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    assert_blob(&s, "pp/repo", &content).await;
    // The session is closed and its temp data is gone.
    let r = s.get(&loc).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert!(
        !s.data_dir().join("uploads").join(format!("{uuid}.data")).exists(),
        "uploads/<uuid>.data left after completion"
    );
}

#[tokio::test]
async fn a_repository_exists_only_after_a_completed_upload() {
    let s = Server::start();
    let (loc, _) = start_upload(&s, "lazy/repo").await;
    assert!(!catalog(&s).await.contains(&"lazy/repo".to_string()), "repository listed before any completed upload");
    let r = s.get("/v2/lazy/repo/tags/list").send().await.unwrap();
    expect_error(r, 404, "NAME_UNKNOWN").await;
    let content = b"now it exists".to_vec();
    let r = s.put(&with_query(&loc, &format!("digest={}", sha256(&content)))).body(content).send().await.unwrap();
    expect_status(r, 201).await;
    assert!(catalog(&s).await.contains(&"lazy/repo".to_string()));
    assert!(tags_of(&s, "lazy/repo").await.is_empty());
}

#[tokio::test]
async fn streamed_patch_then_put() {
    let s = Server::start();
    let content = bytes_of(32, 70_000);
    let d = sha256(&content);
    let (loc, uuid) = start_upload(&s, "stream/repo").await;
    let r =
        s.patch(&loc).header("content-type", "application/octet-stream").body(content.clone()).send().await.unwrap();
    let r = expect_status(r, 202).await;
    assert_eq!(must_header(&r, "range"), "0-69999");
    assert_eq!(must_header(&r, "docker-upload-uuid"), uuid);
    let loc = location(&r);
    finish_upload(&s, "stream/repo", &loc, &d).await;
    assert_blob(&s, "stream/repo", &content).await;
}

#[tokio::test]
async fn streamed_patch_with_chunked_transfer_encoding() {
    // What docker does: one PATCH whose body has no length up front.
    let s = Server::start();
    let content = bytes_of(33, 300_000);
    let d = sha256(&content);
    let (loc, _) = start_upload(&s, "te/repo").await;
    let mut body = Vec::new();
    for piece in content.chunks(65_536) {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let r = raw_request(
        s.addr,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream".into()), ("Transfer-Encoding", "chunked".into())],
        &body,
    )
    .await;
    assert_eq!(r.status, 202, "chunked-encoding PATCH: {r:?}");
    assert_eq!(r.header("range"), Some("0-299999"));
    let loc = r.header("location").expect("Location").to_string();
    finish_upload(&s, "te/repo", &loc, &d).await;
    assert_blob(&s, "te/repo", &content).await;
}

#[tokio::test]
async fn chunked_patches_with_content_range() {
    let s = Server::start();
    let content = bytes_of(34, 250_000);
    let d = sha256(&content);
    let (mut loc, uuid) = start_upload(&s, "chunk/repo").await;
    let mut at = 0;
    for size in [100_000, 100_000, 50_000] {
        loc = patch_chunk(&s, &loc, at, &content[at..at + size]).await;
        at += size;
    }
    // Status of the session between chunks and before the PUT.
    let r = s.get(&loc).send().await.unwrap();
    let r = expect_status(r, 204).await;
    assert_eq!(must_header(&r, "range"), "0-249999");
    assert_eq!(must_header(&r, "docker-upload-uuid"), uuid);
    finish_upload(&s, "chunk/repo", &loc, &d).await;
    assert_blob(&s, "chunk/repo", &content).await;
}

#[tokio::test]
async fn out_of_order_chunk_is_416_with_range() {
    let s = Server::start();
    let content = bytes_of(35, 30);
    let (loc, _) = start_upload(&s, "ooo/repo").await;
    // A first chunk that does not start at 0.
    let r = s.patch(&loc).header("content-range", "5-9").body(content[5..10].to_vec()).send().await.unwrap();
    expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
    let loc = patch_chunk(&s, &loc, 0, &content[0..10]).await;
    // A gap, and an overlap: both refused, the Range says what was received.
    for (a, b) in [(20usize, 29usize), (5, 14), (0, 9)] {
        let r = s
            .patch(&loc)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{a}-{b}"))
            .body(content[a..=b].to_vec())
            .send()
            .await
            .unwrap();
        let range = header(&r, "range");
        expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
        assert_eq!(range.as_deref(), Some("0-9"), "416 Range for {a}-{b}");
    }
    // The session is intact: continue in order and finish.
    let loc = patch_chunk(&s, &loc, 10, &content[10..20]).await;
    let loc = patch_chunk(&s, &loc, 20, &content[20..30]).await;
    finish_upload(&s, "ooo/repo", &loc, &sha256(&content)).await;
    assert_blob(&s, "ooo/repo", &content).await;
}

#[tokio::test]
async fn chunk_length_differs_from_content_range_is_size_invalid() {
    let s = Server::start();
    let (loc, _) = start_upload(&s, "size/repo").await;
    let r = s
        .patch(&loc)
        .header("content-type", "application/octet-stream")
        .header("content-range", "0-9")
        .body(b"12345".to_vec())
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "SIZE_INVALID").await;
}

#[tokio::test]
async fn resume_after_get_status() {
    let s = Server::start();
    let content = bytes_of(36, 50_000);
    let (loc, uuid) = start_upload(&s, "resume/repo").await;
    let loc = patch_chunk(&s, &loc, 0, &content[..20_000]).await;
    // The client "lost" its state: ask the server where it is.
    let r = s.get(&loc).send().await.unwrap();
    let r = expect_status(r, 204).await;
    let range = must_header(&r, "range");
    assert_eq!(range, "0-19999");
    assert_eq!(must_header(&r, "docker-upload-uuid"), uuid);
    let resume_loc = location(&r);
    let next: usize = range.split('-').nth(1).unwrap().parse::<usize>().unwrap() + 1;
    let loc = patch_chunk(&s, &resume_loc, next, &content[next..]).await;
    finish_upload(&s, "resume/repo", &loc, &sha256(&content)).await;
    assert_blob(&s, "resume/repo", &content).await;
}

#[tokio::test]
async fn put_carries_the_final_chunk() {
    let s = Server::start();
    let content = bytes_of(37, 40_000);
    let d = sha256(&content);
    // Final chunk as a plain body.
    let (loc, _) = start_upload(&s, "final/repo").await;
    let loc = patch_chunk(&s, &loc, 0, &content[..25_000]).await;
    let r = s
        .put(&with_query(&loc, &format!("digest={d}")))
        .header("content-type", "application/octet-stream")
        .body(content[25_000..].to_vec())
        .send()
        .await
        .unwrap();
    let r = expect_status(r, 201).await;
    assert_eq!(location(&r), format!("/v2/final/repo/blobs/{d}"));
    assert_blob(&s, "final/repo", &content).await;
    // Final chunk with its Content-Range (the spec's closing-PUT headers).
    let other = bytes_of(38, 9_000);
    let d2 = sha256(&other);
    let (loc, _) = start_upload(&s, "final/repo").await;
    let loc = patch_chunk(&s, &loc, 0, &other[..4_000]).await;
    let r = s
        .put(&with_query(&loc, &format!("digest={d2}")))
        .header("content-type", "application/octet-stream")
        .header("content-range", "4000-8999")
        .body(other[4_000..].to_vec())
        .send()
        .await
        .unwrap();
    expect_status(r, 201).await;
    assert_blob(&s, "final/repo", &other).await;
}

#[tokio::test]
async fn put_with_an_out_of_order_final_chunk_is_416() {
    let s = Server::start();
    let content = bytes_of(43, 30);
    let (loc, _) = start_upload(&s, "final416/repo").await;
    let loc = patch_chunk(&s, &loc, 0, &content[..10]).await;
    let r = s
        .put(&with_query(&loc, &format!("digest={}", sha256(&content))))
        .header("content-type", "application/octet-stream")
        .header("content-range", "20-29")
        .body(content[20..].to_vec())
        .send()
        .await
        .unwrap();
    expect_error(r, 416, "BLOB_UPLOAD_INVALID").await;
    assert_blob_unknown(&s, "final416/repo", &sha256(&content)).await;
}

#[tokio::test]
async fn cancel_an_upload() {
    let s = Server::start();
    let content = bytes_of(39, 5_000);
    let (loc, uuid) = start_upload(&s, "cancel/repo").await;
    let loc = patch_chunk(&s, &loc, 0, &content).await;
    assert!(
        s.data_dir().join("uploads").join(format!("{uuid}.data")).is_file(),
        "no uploads/<uuid>.data for an active session"
    );
    let r = s.delete(&loc).send().await.unwrap();
    expect_status(r, 204).await;
    let r = s.get(&loc).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = s.patch(&loc).body(b"more".to_vec()).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = s.put(&with_query(&loc, &format!("digest={}", sha256(&content)))).body(Vec::new()).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = s.delete(&loc).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert!(
        !s.data_dir().join("uploads").join(format!("{uuid}.data")).exists(),
        "uploads/<uuid>.data left after DELETE"
    );
    assert_blob_unknown(&s, "cancel/repo", &sha256(&content)).await;
}

#[tokio::test]
async fn wrong_digest_on_put_discards_the_session() {
    let s = Server::start();
    push_blob(&s, "wrong/repo", b"make the repo exist").await;
    let content = bytes_of(40, 12_345);
    let wrong = sha256(b"not the content");
    let (loc, uuid) = start_upload(&s, "wrong/repo").await;
    let loc = patch_chunk(&s, &loc, 0, &content).await;
    let r = s.put(&with_query(&loc, &format!("digest={wrong}"))).body(Vec::new()).send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    // Nothing is left: no session, no data, no blob under either digest.
    let r = s.get(&loc).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = s.put(&with_query(&loc, &format!("digest={}", sha256(&content)))).body(Vec::new()).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_blob_unknown(&s, "wrong/repo", &wrong).await;
    assert_blob_unknown(&s, "wrong/repo", &sha256(&content)).await;
    assert!(
        !s.data_dir().join("uploads").join(format!("{uuid}.data")).exists(),
        "uploads/<uuid>.data left after a wrong digest"
    );
    assert!(!blob_path(s.data_dir(), &sha256(&content)).exists());
}

#[tokio::test]
async fn missing_or_malformed_digest_on_put_is_digest_invalid() {
    let s = Server::start();
    let (loc, _) = start_upload(&s, "nodig/repo").await;
    let loc = patch_chunk(&s, &loc, 0, b"hello").await;
    let r = s.put(&loc).body(Vec::new()).send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    let (loc, _) = start_upload(&s, "nodig/repo").await;
    let loc = patch_chunk(&s, &loc, 0, b"hello").await;
    let r = s.put(&with_query(&loc, "digest=sha256:1234")).body(Vec::new()).send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn sha512_chunked_upload_with_digest_algorithm() {
    // distribution-spec (post-1.1, end-4c): a client pushing a non-sha256 blob SHOULD announce the
    // algorithm with `?digest-algorithm=` on the POST.
    let s = Server::start();
    let content = bytes_of(41, 100_000);
    let d = sha512(&content);
    let r = s.post("/v2/alg/repo/blobs/uploads/?digest-algorithm=sha512").body(Vec::new()).send().await.unwrap();
    let r = expect_status(r, 202).await;
    let loc = location(&r);
    let loc = patch_chunk(&s, &loc, 0, &content[..60_000]).await;
    let loc = patch_chunk(&s, &loc, 60_000, &content[60_000..]).await;
    finish_upload(&s, "alg/repo", &loc, &d).await;
    let r = s.get(&format!("/v2/alg/repo/blobs/{d}")).send().await.unwrap();
    let r = expect_status(r, 200).await;
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    assert_eq!(body_bytes(r).await, content);
}

#[tokio::test]
async fn sha512_digest_on_a_plain_session() {
    // Without the announcement the PUT's sha512 digest must still be honoured.
    let s = Server::start();
    let content = bytes_of(42, 33_333);
    let d = sha512(&content);
    let (loc, _) = start_upload(&s, "alg/plain").await;
    let loc = patch_chunk(&s, &loc, 0, &content).await;
    finish_upload(&s, "alg/plain", &loc, &d).await;
    let r = s.get(&format!("/v2/alg/plain/blobs/{d}")).send().await.unwrap();
    assert_eq!(body_bytes(expect_status(r, 200).await).await, content);
}

#[tokio::test]
async fn sessions_are_bound_to_their_repository() {
    let s = Server::start();
    push_blob(&s, "bind/other", b"x").await;
    let (loc, uuid) = start_upload(&s, "bind/mine").await;
    let loc = patch_chunk(&s, &loc, 0, b"abc").await;
    let r = s.get(&format!("/v2/bind/other/blobs/uploads/{uuid}")).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = s.patch(&format!("/v2/bind/other/blobs/uploads/{uuid}")).body(b"def".to_vec()).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    // Still usable where it belongs.
    let r = s.get(&loc).send().await.unwrap();
    assert_eq!(must_header(&expect_status(r, 204).await, "range"), "0-2");
}
