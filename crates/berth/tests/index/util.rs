//! Helpers of the index tests: small images whose sizes are known, search and repository calls
//! with shape checks, waiting for pull counts, timestamps (all written from docs/index.md).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Response;
use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;

/// Every manifest media type the tests push, for `Accept` on pulls.
pub const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// An image config with the given platform (and a seed so configs differ).
pub fn config_for(seed: u64, os: &str, arch: &str, variant: Option<&str>) -> Vec<u8> {
    let mut c = json!({
        "architecture": arch,
        "os": os,
        "rootfs": { "type": "layers", "diff_ids": [] },
        "config": { "Labels": { "seed": seed.to_string() } }
    });
    if let Some(v) = variant {
        c["variant"] = json!(v);
    }
    serde_json::to_vec(&c).unwrap()
}

/// A pushed manifest and what it references.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub manifest: Vec<u8>,
    pub digest: String,
    pub media_type: &'static str,
    /// Every blob the manifest references (config and layers), in manifest order, repeats kept.
    pub blobs: Vec<Vec<u8>>,
}

impl Pushed {
    /// The contract's tag size: the manifest's bytes plus the distinct blobs it references.
    pub fn tag_size(&self) -> u64 {
        self.manifest.len() as u64 + distinct_size(self.blobs.iter())
    }
}

/// Sum of the sizes of the distinct blobs (by digest) among `blobs`.
pub fn distinct_size<'a>(blobs: impl Iterator<Item = &'a Vec<u8>>) -> u64 {
    let mut seen = BTreeSet::new();
    let mut sum = 0;
    for b in blobs {
        if seen.insert(sha256(b)) {
            sum += b.len() as u64;
        }
    }
    sum
}

/// Uploads the distinct blobs, then pushes an OCI image manifest of `config` and `layers`
/// under `tag` (or by digest when `tag` is empty).
pub async fn push_parts(c: &impl Http, repo: &str, tag: &str, config: Vec<u8>, layers: Vec<Vec<u8>>) -> Pushed {
    let mut seen = BTreeSet::new();
    for b in std::iter::once(&config).chain(layers.iter()) {
        if seen.insert(sha256(b)) {
            push_blob(c, repo, b).await;
        }
    }
    let manifest = oci_manifest(&config, &layers);
    let digest = sha256(&manifest);
    let reference = if tag.is_empty() { digest.clone() } else { tag.to_string() };
    push_manifest(c, repo, &reference, OCI_MANIFEST, &manifest).await;
    let mut blobs = vec![config];
    blobs.extend(layers);
    Pushed { manifest, digest, media_type: OCI_MANIFEST, blobs }
}

/// A small linux/amd64 image: a config and one layer of 100 + seed % 97 bytes.
pub async fn push_small(c: &impl Http, repo: &str, tag: &str, seed: u64) -> Pushed {
    let config = config_for(seed, "linux", "amd64", None);
    let layer = bytes_of(seed.wrapping_add(0x5eed), 100 + (seed % 97) as usize);
    push_parts(c, repo, tag, config, vec![layer]).await
}

/// Pushes an existing manifest again under another tag.
pub async fn retag(c: &impl Http, repo: &str, tag: &str, p: &Pushed) {
    push_manifest(c, repo, tag, p.media_type, &p.manifest).await;
}

/// `GET /v2/<repo>/manifests/<reference>`, asserting 200 (a pull).
pub async fn pull(c: &impl Http, repo: &str, reference: &str) {
    let r = c.get(&format!("/v2/{repo}/manifests/{reference}")).header("accept", ACCEPT_ALL).send().await.unwrap();
    expect_status(r, 200).await;
}

// ---- search ----

fn as_u64(v: &Value, field: &str, ctx: &str) -> u64 {
    v[field].as_u64().unwrap_or_else(|| panic!("{ctx}: `{field}` is not a non-negative integer: {v}"))
}

/// Checks a `/v1/search` answer's shape and types, and `num_pages = ceil(num_results / page_size)`.
pub fn check_search_shape(v: &Value, ctx: &str) {
    let num_pages = as_u64(v, "num_pages", ctx);
    let num_results = as_u64(v, "num_results", ctx);
    let page_size = as_u64(v, "page_size", ctx);
    let page = as_u64(v, "page", ctx);
    assert!(page >= 1, "{ctx}: page {page}: {v}");
    assert!((1..=100).contains(&page_size), "{ctx}: page_size {page_size}: {v}");
    assert_eq!(num_pages, num_results.div_ceil(page_size), "{ctx}: num_pages = ceil(num_results/page_size): {v}");
    assert!(v["query"].is_string(), "{ctx}: `query` is not a string: {v}");
    let results = v["results"].as_array().unwrap_or_else(|| panic!("{ctx}: `results` is not an array: {v}"));
    assert!(results.len() as u64 <= page_size, "{ctx}: more results than page_size: {v}");
    for r in results {
        let name = r["name"].as_str().unwrap_or_else(|| panic!("{ctx}: result without string name: {r}"));
        assert!(r["description"].is_string(), "{ctx}: {name}: description is not a string: {r}");
        assert!(r["star_count"].is_u64(), "{ctx}: {name}: star_count is not a non-negative integer: {r}");
        assert_eq!(r["is_official"], json!(!name.contains('/')), "{ctx}: {name}: is_official: {r}");
        assert_eq!(r["is_automated"], json!(false), "{ctx}: {name}: is_automated: {r}");
    }
}

/// `GET /v1/search` with the query pairs; asserts 200, JSON and the shape.
pub async fn search(c: &impl Http, query: &[(&str, &str)]) -> Value {
    let r = c.get("/v1/search").query(query).send().await.unwrap();
    let ctx = format!("GET /v1/search {query:?}");
    let r = expect_status(r, 200).await;
    let ct = header(&r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{ctx}: Content-Type {ct:?}");
    let v = body_json(r).await;
    check_search_shape(&v, &ctx);
    v
}

/// The result names of a search answer, in order.
pub fn names(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results array: {v}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every result name of `q` (one page of 100, asserting it holds them all).
pub async fn search_all(c: &impl Http, q: &str) -> Vec<String> {
    let v = search(c, &[("q", q), ("n", "100")]).await;
    let n = names(&v);
    assert_eq!(v["num_results"].as_u64(), Some(n.len() as u64), "q={q:?}: more than one page: {v}");
    n
}

/// Asserts a 400 INVALID for `/v1/search` with these query pairs.
pub async fn search_invalid(c: &impl Http, query: &[(&str, &str)]) {
    let r = c.get("/v1/search").query(query).send().await.unwrap();
    let st = r.status().as_u16();
    assert_eq!(st, 400, "GET /v1/search {query:?}: status {st}, want 400 INVALID");
    expect_error(r, 400, "INVALID").await;
}

// ---- repositories ----

pub async fn get_repo(c: &impl Http, name: &str) -> Value {
    let r = c.get(&format!("/api/v1/repositories/{name}")).send().await.unwrap();
    let v = json_of(r, 200).await;
    assert_eq!(v["name"], name, "GET repository {name}: {v}");
    v
}

pub async fn patch_repo(c: &impl Http, name: &str, body: Value) -> Response {
    c.patch(&format!("/api/v1/repositories/{name}")).json(&body).send().await.unwrap()
}

/// PATCH that must succeed with 200 and the repository.
pub async fn patch_ok(c: &impl Http, name: &str, body: Value) -> Value {
    let v = json_of(patch_repo(c, name, body.clone()).await, 200).await;
    assert_eq!(v["name"], name, "PATCH {name} {body}: {v}");
    v
}

pub async fn set_description(c: &impl Http, name: &str, d: &str) {
    let v = patch_ok(c, name, json!({ "description": d })).await;
    assert_eq!(v["description"], d, "PATCH {name} description: {v}");
}

pub async fn star(c: &impl Http, name: &str) {
    let r = c.put(&format!("/api/v1/repositories/{name}/star")).send().await.unwrap();
    expect_status(r, 204).await;
}

pub async fn unstar(c: &impl Http, name: &str) {
    let r = c.delete(&format!("/api/v1/repositories/{name}/star")).send().await.unwrap();
    expect_status(r, 204).await;
}

/// Polls `GET /api/v1/repositories/<name>` (up to 5 s) until `pull_count` is `n`.
pub async fn wait_pull_count(c: &impl Http, name: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = get_repo(c, name).await;
        let got = v["pull_count"].as_u64().unwrap_or_else(|| panic!("{name}: pull_count is not an integer: {v}"));
        if got == n {
            return;
        }
        assert!(got < n, "{name}: pull_count {got}, more than the {n} pulls made: {v}");
        if Instant::now() >= deadline {
            panic!("{name}: pull_count still {got} 5 s after {n} pulls (flushed at least every second): {v}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts `v` is a time as the contract writes them (`2026-11-23T10:00:00Z`: RFC 3339, UTC,
/// seconds) and returns it as Unix seconds.
pub fn time_of(v: &Value, ctx: &str) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("{ctx}: time is not a string: {v}"));
    assert!(is_utc_seconds(s), "{ctx}: {s:?} is not YYYY-MM-DDTHH:MM:SSZ");
    parse_rfc3339(s).unwrap_or_else(|| panic!("{ctx}: cannot parse {s:?}"))
}

/// Asserts a time lies within [from - 1 s, to + 1 s] (seconds resolution).
pub fn assert_between(t: i64, from: i64, to: i64, ctx: &str) {
    assert!(t >= from - 1 && t <= to + 1, "{ctx}: time {t} not within [{from}, {to}] (now {})", now_secs());
}

/// The field names of a repository entry in lists (every field but `full_description`).
pub const LIST_FIELDS: [&str; 12] = [
    "name",
    "namespace",
    "official",
    "visibility",
    "description",
    "star_count",
    "starred",
    "pull_count",
    "last_pushed",
    "created_at",
    "size",
    "tag_count",
];

/// Checks the types of every repository field; `full` says whether `full_description` must be
/// there (the single-repository answer) or absent (list entries).
pub fn check_repo_shape(v: &Value, full: bool, ctx: &str) {
    let name = v["name"].as_str().unwrap_or_else(|| panic!("{ctx}: no string name: {v}"));
    let ctx = format!("{ctx} ({name})");
    for f in LIST_FIELDS {
        assert!(v.get(f).is_some(), "{ctx}: no `{f}`: {v}");
    }
    let ns = v["namespace"].as_str().unwrap_or_else(|| panic!("{ctx}: namespace not a string: {v}"));
    match name.split_once('/') {
        Some((first, _)) => assert_eq!(ns, first, "{ctx}: namespace: {v}"),
        None => assert_eq!(ns, name, "{ctx}: an official repository's namespace is its name: {v}"),
    }
    assert_eq!(v["official"], json!(!name.contains('/')), "{ctx}: official: {v}");
    assert!(matches!(v["visibility"].as_str(), Some("public" | "private")), "{ctx}: visibility: {v}");
    assert!(v["description"].is_string(), "{ctx}: description not a string: {v}");
    for f in ["star_count", "pull_count", "size", "tag_count"] {
        assert!(v[f].is_u64(), "{ctx}: `{f}` is not a non-negative integer: {v}");
    }
    assert!(v["starred"].is_boolean(), "{ctx}: starred not a boolean: {v}");
    if !v["last_pushed"].is_null() {
        time_of(&v["last_pushed"], &format!("{ctx} last_pushed"));
    }
    time_of(&v["created_at"], &format!("{ctx} created_at"));
    if full {
        assert!(v["full_description"].is_string(), "{ctx}: full_description not a string: {v}");
    } else {
        assert!(v.get("full_description").is_none(), "{ctx}: list entries have no full_description: {v}");
    }
}

/// `GET /api/v1/repositories?...`, asserting 200 and the shape; returns the body.
pub async fn list_repos(c: &impl Http, query: &[(&str, &str)]) -> Value {
    let r = c.get("/api/v1/repositories").query(query).send().await.unwrap();
    let v = json_of(r, 200).await;
    let ctx = format!("GET /api/v1/repositories {query:?}");
    for f in ["page", "page_size", "total"] {
        assert!(v[f].is_u64(), "{ctx}: `{f}` is not a non-negative integer: {v}");
    }
    let list = v["repositories"].as_array().unwrap_or_else(|| panic!("{ctx}: no repositories array: {v}"));
    for e in list {
        check_repo_shape(e, false, &ctx);
    }
    v
}

/// The names in a `{"repositories":[...]}` answer.
pub fn repo_names(v: &Value) -> Vec<String> {
    v["repositories"]
        .as_array()
        .unwrap_or_else(|| panic!("no repositories array: {v}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_else(|| panic!("entry without name: {r}")).to_string())
        .collect()
}

pub fn strs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}
