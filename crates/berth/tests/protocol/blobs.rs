//! Blob reads (GET/HEAD headers, ranges), monolithic pushes, delete, cross-repository mount and
//! repository isolation.

use crate::fixtures::*;
use crate::harness::*;

#[tokio::test]
async fn monolithic_post_with_digest_is_201() {
    let s = Server::start();
    let content = bytes_of(11, 4321);
    let d = sha256(&content);
    let r = s
        .post(&format!("/v2/mono/repo/blobs/uploads/?digest={d}"))
        .header("content-type", "application/octet-stream")
        .body(content.clone())
        .send()
        .await
        .unwrap();
    let r = expect_status(r, 201).await;
    assert_eq!(location(&r), format!("/v2/mono/repo/blobs/{d}"));
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    // The Location is a pullable blob URL.
    let r = s.get(&location(&r)).send().await.unwrap();
    assert_eq!(body_bytes(expect_status(r, 200).await).await, content);
    // The blob file sits where the contract says.
    let on_disk = std::fs::read(blob_path(s.data_dir(), &d)).expect("blob file in blobs/<alg>/<h0..2>/<h2..4>/<hex>");
    assert_eq!(on_disk, content);
}

#[tokio::test]
async fn monolithic_post_with_wrong_digest_is_digest_invalid_and_stores_nothing() {
    let s = Server::start();
    push_blob(&s, "mono/bad", b"seed the repo").await;
    let content = bytes_of(12, 1000);
    let wrong = sha256(b"something else");
    let r = s.post(&format!("/v2/mono/bad/blobs/uploads/?digest={wrong}")).body(content.clone()).send().await.unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
    assert_blob_unknown(&s, "mono/bad", &wrong).await;
    assert_blob_unknown(&s, "mono/bad", &sha256(&content)).await;
    assert!(!blob_path(s.data_dir(), &sha256(&content)).exists());
    assert!(!blob_path(s.data_dir(), &wrong).exists());
}

#[tokio::test]
async fn get_and_head_headers() {
    let s = Server::start();
    let content = bytes_of(13, 2048);
    let d = push_blob(&s, "hdr/blob", &content).await;
    for head in [false, true] {
        let rb =
            if head { s.head(&format!("/v2/hdr/blob/blobs/{d}")) } else { s.get(&format!("/v2/hdr/blob/blobs/{d}")) };
        let r = expect_status(rb.send().await.unwrap(), 200).await;
        assert_eq!(must_header(&r, "content-length"), "2048", "head={head}");
        assert_eq!(must_header(&r, "content-type"), "application/octet-stream", "head={head}");
        assert_eq!(must_header(&r, "docker-content-digest"), d, "head={head}");
        assert_eq!(must_header(&r, "etag"), format!("\"{d}\""), "head={head}");
        assert_eq!(must_header(&r, "accept-ranges"), "bytes", "head={head}");
        let b = body_bytes(r).await;
        if head {
            assert!(b.is_empty(), "HEAD returned a body");
        } else {
            assert_eq!(b, content);
        }
    }
}

#[tokio::test]
async fn empty_blob_round_trips() {
    let s = Server::start();
    let d = push_blob(&s, "empty/blob", b"").await;
    assert_eq!(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    let r = s.get(&format!("/v2/empty/blob/blobs/{d}")).send().await.unwrap();
    let r = expect_status(r, 200).await;
    assert_eq!(must_header(&r, "content-length"), "0");
    assert!(body_bytes(r).await.is_empty());
}

#[tokio::test]
async fn range_requests() {
    let s = Server::start();
    let content = bytes_of(14, 1000);
    let d = push_blob(&s, "range/blob", &content).await;
    let path = format!("/v2/range/blob/blobs/{d}");
    let cases: [(&str, usize, usize); 5] = [
        ("bytes=0-99", 0, 99),
        ("bytes=100-100", 100, 100),
        ("bytes=900-", 900, 999),
        ("bytes=-10", 990, 999),
        ("bytes=950-5000", 950, 999), // last-pos past the end is clamped (RFC 9110 14.1.2)
    ];
    for (range, a, b) in cases {
        let r = s.get(&path).header("range", range).send().await.unwrap();
        let r = expect_status(r, 206).await;
        assert_eq!(must_header(&r, "content-range"), format!("bytes {a}-{b}/1000"), "{range}");
        assert_eq!(must_header(&r, "content-length"), (b - a + 1).to_string(), "{range}");
        assert_eq!(body_bytes(r).await, &content[a..=b], "{range}");
    }
    for range in ["bytes=1000-", "bytes=1000-1001", "bytes=5000-6000"] {
        let r = s.get(&path).header("range", range).send().await.unwrap();
        let r = expect_status(r, 416).await;
        assert_eq!(must_header(&r, "content-range"), "bytes */1000", "{range}");
    }
}

#[tokio::test]
async fn blob_delete_is_per_repository() {
    let s = Server::start();
    let content = bytes_of(15, 500);
    let d = push_blob(&s, "del/one", &content).await;
    push_blob(&s, "del/two", &content).await;
    let r = s.delete(&format!("/v2/del/one/blobs/{d}")).send().await.unwrap();
    expect_status(r, 202).await;
    assert_blob_unknown(&s, "del/one", &d).await;
    // Still served by the other repository that has it.
    assert_blob(&s, "del/two", &content).await;
    // A manifest can no longer reference it there.
    let m = oci_manifest(&content, &[]);
    let r = put_manifest(&s, "del/one", "x", OCI_MANIFEST, &m).await;
    expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN").await;
    // A second delete: the blob is unknown there now.
    let r = s.delete(&format!("/v2/del/one/blobs/{d}")).send().await.unwrap();
    expect_error(r, 404, "BLOB_UNKNOWN").await;
    // Pushing it again makes it readable again.
    push_blob(&s, "del/one", &content).await;
    assert_blob(&s, "del/one", &content).await;
}

#[tokio::test]
async fn a_blob_is_not_readable_through_a_repository_that_lacks_it() {
    let s = Server::start();
    let secret = bytes_of(16, 777);
    let d = push_blob(&s, "private/a", &secret).await;
    push_blob(&s, "public/b", b"other content").await;
    // Existing repository without the blob, and a repository that does not exist at all.
    assert_blob_unknown(&s, "public/b", &d).await;
    assert_blob_unknown(&s, "public/nothing", &d).await;
    // Nor can it be mounted from a repository that does not have it.
    let r = s
        .post(&format!("/v2/public/b/blobs/uploads/?mount={d}&from=public/nothing"))
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    expect_status(r, 202).await;
    assert_blob_unknown(&s, "public/b", &d).await;
    // Nor referenced by a manifest pushed to a repository that does not have it.
    let m = oci_manifest(&secret, &[]);
    let r = put_manifest(&s, "public/b", "steal", OCI_MANIFEST, &m).await;
    expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN").await;
    assert_blob_unknown(&s, "public/b", &d).await;
}

#[tokio::test]
async fn cross_repository_mount_is_201() {
    let s = Server::start();
    let content = bytes_of(17, 3000);
    let d = push_blob(&s, "src/repo", &content).await;
    let r =
        s.post(&format!("/v2/dst/repo/blobs/uploads/?mount={d}&from=src/repo")).body(Vec::new()).send().await.unwrap();
    let r = expect_status(r, 201).await;
    assert_eq!(location(&r), format!("/v2/dst/repo/blobs/{d}"));
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    assert_blob(&s, "dst/repo", &content).await;
    // A mounted blob counts as present for manifests pushed to the target.
    let m = oci_manifest(&content, &[]);
    push_manifest(&s, "dst/repo", "uses-mount", OCI_MANIFEST, &m).await;
    // A mount creates the repository.
    assert!(catalog(&s).await.contains(&"dst/repo".to_string()));
    // Deleting from the source leaves the mount in place.
    let r = s.delete(&format!("/v2/src/repo/blobs/{d}")).send().await.unwrap();
    expect_status(r, 202).await;
    assert_blob(&s, "dst/repo", &content).await;
}

#[tokio::test]
async fn mount_of_unknown_blob_or_without_from_falls_back_to_a_session() {
    let s = Server::start();
    let content = bytes_of(18, 1234);
    let d = sha256(&content);
    push_blob(&s, "fb/src", b"unrelated").await;
    for query in [format!("mount={d}&from=fb/src"), format!("mount={d}")] {
        let r = s.post(&format!("/v2/fb/dst/blobs/uploads/?{query}")).body(Vec::new()).send().await.unwrap();
        let r = expect_status(r, 202).await;
        let uuid = must_header(&r, "docker-upload-uuid");
        let loc = location(&r);
        assert_eq!(loc, format!("/v2/fb/dst/blobs/uploads/{uuid}"), "{query}");
        // The session is a real one: finish it with a monolithic PUT.
        let r = s.put(&with_query(&loc, &format!("digest={d}"))).body(content.clone()).send().await.unwrap();
        expect_status(r, 201).await;
        assert_blob(&s, "fb/dst", &content).await;
        let r = s.delete(&format!("/v2/fb/dst/blobs/{d}")).send().await.unwrap();
        expect_status(r, 202).await;
    }
}

#[tokio::test]
async fn mount_from_a_repository_that_has_the_blob_without_from_is_still_a_session() {
    // Contract: `from` absent -> 202 new session, even when some repository has the blob.
    let s = Server::start();
    let content = bytes_of(19, 100);
    let d = push_blob(&s, "nf/src", &content).await;
    let r = s.post(&format!("/v2/nf/dst/blobs/uploads/?mount={d}")).body(Vec::new()).send().await.unwrap();
    expect_status(r, 202).await;
    assert_blob_unknown(&s, "nf/dst", &d).await;
}

#[tokio::test]
async fn sha512_blobs() {
    let s = Server::start();
    let content = bytes_of(20, 5000);
    let d = sha512(&content);
    let r = s
        .post(&format!("/v2/sha/five/blobs/uploads/?digest={d}"))
        .header("content-type", "application/octet-stream")
        .body(content.clone())
        .send()
        .await
        .unwrap();
    let r = expect_status(r, 201).await;
    assert_eq!(location(&r), format!("/v2/sha/five/blobs/{d}"));
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    let r = s.get(&format!("/v2/sha/five/blobs/{d}")).send().await.unwrap();
    let r = expect_status(r, 200).await;
    assert_eq!(must_header(&r, "docker-content-digest"), d);
    assert_eq!(must_header(&r, "etag"), format!("\"{d}\""));
    assert_eq!(body_bytes(r).await, content);
    assert!(blob_path(s.data_dir(), &d).exists(), "sha512 blob not under blobs/sha512/..");
    // A wrong sha512 is refused like a wrong sha256.
    let r = s
        .post(&format!("/v2/sha/five/blobs/uploads/?digest={}", sha512(b"other")))
        .body(content.clone())
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn concurrent_uploads_of_the_same_blob_both_succeed() {
    let s = Server::start();
    let content = bytes_of(21, 256 * 1024);
    let d = sha256(&content);
    let (l1, _) = start_upload(&s, "conc/repo").await;
    let (l2, _) = start_upload(&s, "conc/repo").await;
    assert_ne!(l1, l2, "two sessions share a Location");
    let half = content.len() / 2;
    // Each next request uses the Location of the previous response, as the spec asks.
    let l1 = patch_chunk(&s, &l1, 0, &content[..half]).await;
    let l2 = patch_chunk(&s, &l2, 0, &content[..half]).await;
    let put = |loc: String| {
        let s = &s;
        let body = content[half..].to_vec();
        let d = d.clone();
        async move { s.put(&with_query(&loc, &format!("digest={d}"))).body(body).send().await.unwrap() }
    };
    let (r1, r2) = tokio::join!(put(l1), put(l2));
    expect_status(r1, 201).await;
    expect_status(r2, 201).await;
    // And two monolithic pushes of one blob to two repositories at once.
    let other = bytes_of(22, 100_000);
    let post = |repo: &'static str| {
        let s = &s;
        let body = other.clone();
        async move {
            s.post(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(&body))).body(body).send().await.unwrap()
        }
    };
    let (r1, r2) = tokio::join!(post("conc/a"), post("conc/b"));
    expect_status(r1, 201).await;
    expect_status(r2, 201).await;
    assert_blob(&s, "conc/repo", &content).await;
    assert_blob(&s, "conc/a", &other).await;
    assert_blob(&s, "conc/b", &other).await;
}

#[tokio::test]
async fn a_few_mib_blob_round_trips_byte_exact() {
    let s = Server::start();
    let content = bytes_of(23, 6 * 1024 * 1024 + 123);
    let d = sha256(&content);
    let (loc, _) = start_upload(&s, "big/blob").await;
    let r =
        s.patch(&loc).header("content-type", "application/octet-stream").body(content.clone()).send().await.unwrap();
    let r = expect_status(r, 202).await;
    assert_eq!(must_header(&r, "range"), format!("0-{}", content.len() - 1));
    finish_upload(&s, "big/blob", &location(&r), &d).await;
    let r = s.get(&format!("/v2/big/blob/blobs/{d}")).send().await.unwrap();
    let r = expect_status(r, 200).await;
    assert_eq!(must_header(&r, "content-length"), content.len().to_string());
    let back = body_bytes(r).await;
    assert_eq!(back.len(), content.len());
    assert_eq!(sha256(&back), d, "blob bytes differ after a round trip");
    // A range deep inside the large blob.
    let (a, b) = (5 * 1024 * 1024 + 7, 5 * 1024 * 1024 + 70_000);
    let r = s.get(&format!("/v2/big/blob/blobs/{d}")).header("range", format!("bytes={a}-{b}")).send().await.unwrap();
    let r = expect_status(r, 206).await;
    assert_eq!(body_bytes(r).await, &content[a..=b]);
}

/// Splits pipelined HTTP/1.1 responses, each with a Content-Length (or none, for HEAD), off `buf`.
async fn next_response(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>, is_head: bool) -> (u16, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut tmp = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut tmp).await.unwrap();
        assert!(n > 0, "closed before a response head");
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap();
    let len = if is_head { 0 } else { len };
    buf.drain(..head_end + 4);
    while buf.len() < len {
        let n = s.read(&mut tmp).await.unwrap();
        assert!(n > 0, "closed mid-body");
        buf.extend_from_slice(&tmp[..n]);
    }
    (status, buf.drain(..len).collect())
}

// Two workers: the HTTP/2 connection must answer the server's goodbye while the server is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_of_several_mib_on_one_pipelined_connection_and_over_http2() {
    use tokio::io::AsyncWriteExt;
    let s = Server::start();
    let a = bytes_of(41, 3 * 1024 * 1024 + 12_345);
    let b = bytes_of(42, 2 * 1024 * 1024);
    let (da, db) = (push_blob(&s, "pipe/line", &a).await, push_blob(&s, "pipe/line", &b).await);
    // Six requests written at once on one HTTP/1.1 connection: whole blobs, ranges across and within
    // 1 MiB boundaries, a HEAD and a missing blob between them; each response must carry its own bytes.
    let (r1, r2) = (1024 * 1024 - 5, 2 * 1024 * 1024 + 100);
    let requests: Vec<(&str, String, Option<String>)> = vec![
        ("GET", da.clone(), None),
        ("GET", db.clone(), Some(format!("bytes={r1}-{}", b.len() - 100))),
        ("HEAD", da.clone(), None),
        ("GET", sha256(b"not stored"), None),
        ("GET", da.clone(), Some(format!("bytes={}-", a.len() - 3))),
        ("GET", db.clone(), None),
    ];
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut out = String::new();
    for (method, digest, range) in &requests {
        out.push_str(&format!("{method} /v2/pipe/line/blobs/{digest} HTTP/1.1\r\nHost: {}\r\n", s.addr));
        if let Some(r) = range {
            out.push_str(&format!("Range: {r}\r\n"));
        }
        out.push_str("\r\n");
    }
    conn.write_all(out.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let expected: Vec<(u16, &[u8])> =
        vec![(200, &a), (206, &b[r1..=b.len() - 100]), (200, &[]), (404, &[]), (206, &a[a.len() - 3..]), (200, &b)];
    for (i, ((method, ..), (status, body))) in requests.iter().zip(expected).enumerate() {
        let (got_status, got) = next_response(&mut conn, &mut buf, *method == "HEAD").await;
        assert_eq!(got_status, status, "response {i}");
        if status != 404 {
            assert!(got == body, "response {i}: {} bytes, not the {} expected", got.len(), body.len());
        }
    }
    // HTTP/2 (prior knowledge, as h2c): the same blob, whole and ranged, on one multiplexed connection.
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let url = s.url(&format!("/v2/pipe/line/blobs/{da}"));
    let (whole, ranged) =
        tokio::join!(h2.get(&url).send(), h2.get(&url).header("range", format!("bytes={r1}-{r2}")).send());
    let (whole, ranged) = (whole.unwrap(), ranged.unwrap());
    assert_eq!(whole.version(), reqwest::Version::HTTP_2);
    assert_eq!(whole.status(), 200);
    assert!(whole.bytes().await.unwrap() == a, "HTTP/2 whole blob differs");
    assert_eq!(ranged.status(), 206);
    assert!(ranged.bytes().await.unwrap() == a[r1..=r2], "HTTP/2 range differs");
}
