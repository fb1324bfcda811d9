//! Streams, not buffers: a 2 GiB push and pull leave the server's peak RSS within 64 MiB of where
//! it started.

use crate::fixtures::*;
use crate::harness::*;
use sha2::{Digest as _, Sha256};
use std::sync::{Arc, Mutex};

const MIB: u64 = 1024 * 1024;
const TOTAL: u64 = 2048 * MIB;
const LIMIT: u64 = 64 * MIB;

/// A `/proc/<pid>/status` figure (VmRSS, VmHWM), in bytes.
fn vm_bytes(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in {status}"));
    let kib: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number of kB");
    kib * 1024
}

#[tokio::test]
async fn a_2_gib_push_and_pull_keep_rss_bounded() {
    let s = Server::start();
    let repo = "memory/big";
    // Warm up every path once so lazily built state is counted in the baseline.
    push_image(&s, repo, "warm", 7).await;
    let base = vm_bytes(s.pid(), "VmHWM");

    // The docker way: one streamed PATCH (chunked transfer, no length), then PUT ?digest=.
    let (loc, _) = start_upload(&s, repo).await;
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let block: Vec<u8> = (0..MIB).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let block = bytes::Bytes::from(block);
    let h = hasher.clone();
    let body = futures_util::stream::iter((0..TOTAL / MIB).map(move |i| {
        // Vary each block so the content is not one repeated MiB.
        let mut b = block.to_vec();
        b[..8].copy_from_slice(&i.to_le_bytes());
        h.lock().unwrap().update(&b);
        Ok::<_, std::io::Error>(bytes::Bytes::from(b))
    }));
    let r = s
        .patch(&loc)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    let r = expect_status(r, 202).await;
    assert_eq!(must_header(&r, "range"), format!("0-{}", TOTAL - 1));
    let digest = format!("sha256:{}", hex::encode(hasher.lock().unwrap().clone().finalize()));
    finish_upload(&s, repo, &location(&r), &digest).await;
    let after_push = vm_bytes(s.pid(), "VmHWM");
    assert!(
        after_push.saturating_sub(base) <= LIMIT,
        "a 2 GiB push grew peak RSS by {} MiB (from {} MiB)",
        (after_push - base) / MIB,
        base / MIB
    );

    // Pull it back, streaming, and check every byte through the digest.
    let mut r = expect_status(s.get(&format!("/v2/{repo}/blobs/{digest}")).send().await.unwrap(), 200).await;
    assert_eq!(must_header(&r, "content-length"), TOTAL.to_string());
    let mut pulled = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = r.chunk().await.unwrap() {
        n += chunk.len() as u64;
        pulled.update(&chunk);
    }
    assert_eq!(n, TOTAL);
    assert_eq!(format!("sha256:{}", hex::encode(pulled.finalize())), digest);
    let after_pull = vm_bytes(s.pid(), "VmHWM");
    assert!(
        after_pull.saturating_sub(base) <= LIMIT,
        "a 2 GiB push and pull grew peak RSS by {} MiB (from {} MiB)",
        (after_pull - base) / MIB,
        base / MIB
    );
    eprintln!(
        "peak RSS: {} MiB at start, {} MiB after the push, {} MiB after the pull",
        base / MIB,
        after_push / MIB,
        after_pull / MIB
    );
}
