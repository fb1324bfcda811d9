//! Tag listing and the catalog: order, `n`/`last` pagination, Link headers, bad `n`.

use serde_json::{json, Value};

use crate::fixtures::*;
use crate::harness::*;

// All lowercase, so ASCII order and case-insensitive order agree.
const TAGS: [&str; 7] = ["v2", "latest", "a", "v10", "beta", "1.0", "stable"];
const SORTED: [&str; 7] = ["1.0", "a", "beta", "latest", "stable", "v10", "v2"];

async fn tagged_repo(s: &Server, repo: &str) {
    let img = push_image(s, repo, "", 301).await;
    for t in TAGS {
        push_manifest(s, repo, t, OCI_MANIFEST, &img.manifest).await;
    }
}

async fn list(s: &Server, path: &str) -> (Option<String>, Value) {
    let r = s.get(path).send().await.unwrap();
    let r = expect_status(r, 200).await;
    let ct = header(&r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{path}: Content-Type {ct}");
    let link = next_link(&r);
    (link, body_json(r).await)
}

/// Asserts a `Link` next URL: the path and exactly the query parameters `n` and `last`
/// (the contract's `</v2/...?n=N&last=X>`; parameter order is not significant).
fn assert_link(link: &Option<String>, path: &str, n: usize, last: &str) {
    let link = link.as_deref().unwrap_or_else(|| panic!("no Link header, want {path}?n={n}&last={last}"));
    let (p, q) = link.split_once('?').unwrap_or_else(|| panic!("Link without a query: {link}"));
    assert_eq!(p, path, "Link path in {link}");
    let mut params: Vec<(String, String)> = q
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.replace("%2F", "/").replace("%2f", "/"))
        })
        .collect();
    params.sort();
    assert_eq!(params, vec![("last".to_string(), last.to_string()), ("n".to_string(), n.to_string())], "Link {link}");
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn tags_are_sorted() {
    let s = Server::start();
    tagged_repo(&s, "tags/sorted").await;
    let (link, v) = list(&s, "/v2/tags/sorted/tags/list").await;
    assert_eq!(v["name"], "tags/sorted");
    assert_eq!(strs(&v["tags"]), SORTED);
    assert_eq!(link, None, "Link without n");
}

#[tokio::test]
async fn tags_pagination_with_n_last_and_link() {
    let s = Server::start();
    tagged_repo(&s, "tags/page").await;
    let (link, v) = list(&s, "/v2/tags/page/tags/list?n=3").await;
    assert_eq!(strs(&v["tags"]), &SORTED[0..3]);
    assert_link(&link, "/v2/tags/page/tags/list", 3, "beta");
    // Follow the Link header to the end.
    let (link, v) = list(&s, &link.unwrap()).await;
    assert_eq!(strs(&v["tags"]), &SORTED[3..6]);
    assert_link(&link, "/v2/tags/page/tags/list", 3, "v10");
    let (link, v) = list(&s, &link.unwrap()).await;
    assert_eq!(strs(&v["tags"]), &SORTED[6..]);
    assert_eq!(link, None, "Link on the last page");
    // n equal to the number of tags: everything, nothing remains, no Link.
    let (link, v) = list(&s, "/v2/tags/page/tags/list?n=7").await;
    assert_eq!(strs(&v["tags"]), SORTED);
    assert_eq!(link, None);
    let (link, v) = list(&s, "/v2/tags/page/tags/list?n=100").await;
    assert_eq!(strs(&v["tags"]), SORTED);
    assert_eq!(link, None);
    // `last` alone, and a `last` that is not itself a tag.
    let (_, v) = list(&s, "/v2/tags/page/tags/list?last=latest").await;
    assert_eq!(strs(&v["tags"]), &SORTED[4..]);
    let (_, v) = list(&s, "/v2/tags/page/tags/list?n=2&last=c").await;
    assert_eq!(strs(&v["tags"]), &SORTED[3..5]);
    let (link, v) = list(&s, "/v2/tags/page/tags/list?last=v2").await;
    assert_eq!(v["tags"], json!([]));
    assert_eq!(link, None);
}

#[tokio::test]
async fn tags_n_zero_and_cap() {
    let s = Server::start();
    tagged_repo(&s, "tags/zero").await;
    let (link, v) = list(&s, "/v2/tags/zero/tags/list?n=0").await;
    assert_eq!(v["tags"], json!([]));
    assert_eq!(link, None, "spec: n=0 MUST NOT include a Link header");
    // Above the 10000 cap is accepted (capped), not an error.
    let (_, v) = list(&s, "/v2/tags/zero/tags/list?n=20000").await;
    assert_eq!(strs(&v["tags"]), SORTED);
}

#[tokio::test]
async fn bad_n_is_pagination_number_invalid() {
    let s = Server::start();
    tagged_repo(&s, "tags/bad").await;
    for n in ["-1", "abc", "1.5", "1e3"] {
        let r = s.get(&format!("/v2/tags/bad/tags/list?n={n}")).send().await.unwrap();
        expect_error(r, 400, "UNSUPPORTED").await;
        let r = s.get(&format!("/v2/_catalog?n={n}")).send().await.unwrap();
        expect_error(r, 400, "UNSUPPORTED").await;
    }
}

#[tokio::test]
async fn tags_of_a_repository_without_tags_is_an_empty_list() {
    let s = Server::start();
    push_image(&s, "tags/none", "", 302).await;
    let (_, v) = list(&s, "/v2/tags/none/tags/list").await;
    assert_eq!(v, json!({ "name": "tags/none", "tags": [] }));
}

#[tokio::test]
async fn catalog_lists_every_repository_sorted_and_paginates() {
    let s = Server::start();
    // Each way a repository comes into existence: blob upload, mount, manifest push.
    push_blob(&s, "zeta", b"z").await;
    push_image(&s, "alpha/one", "v1", 303).await;
    let d = push_blob(&s, "gamma/x", b"g").await;
    let r = s.post(&format!("/v2/alpha/blobs/uploads/?mount={d}&from=gamma/x")).body(Vec::new()).send().await.unwrap();
    expect_status(r, 201).await;
    let (loc, _) = start_upload(&s, "beta").await;
    let r = s.put(&with_query(&loc, &format!("digest={}", sha256(b"b")))).body(b"b".to_vec()).send().await.unwrap();
    expect_status(r, 201).await;
    // A session that is never completed does not create a repository.
    start_upload(&s, "unfinished").await;

    let all = ["alpha", "alpha/one", "beta", "gamma/x", "zeta"];
    let (link, v) = list(&s, "/v2/_catalog").await;
    assert_eq!(strs(&v["repositories"]), all);
    assert_eq!(link, None);

    let (link, v) = list(&s, "/v2/_catalog?n=1").await;
    assert_eq!(strs(&v["repositories"]), ["alpha"]);
    assert_link(&link, "/v2/_catalog", 1, "alpha");
    let (_, v) = list(&s, "/v2/_catalog?n=2&last=alpha").await;
    assert_eq!(strs(&v["repositories"]), ["alpha/one", "beta"]);
    let (link, v) = list(&s, "/v2/_catalog?n=2&last=beta").await;
    assert_eq!(strs(&v["repositories"]), ["gamma/x", "zeta"]);
    assert_eq!(link, None);
    let (link, v) = list(&s, "/v2/_catalog?n=0").await;
    assert_eq!(v["repositories"], json!([]));
    assert_eq!(link, None);
    let (link, v) = list(&s, "/v2/_catalog?n=5").await;
    assert_eq!(strs(&v["repositories"]), all);
    assert_eq!(link, None);
}

#[tokio::test]
async fn catalog_of_an_empty_registry() {
    let s = Server::start();
    let (link, v) = list(&s, "/v2/_catalog").await;
    assert_eq!(v, json!({ "repositories": [] }));
    assert_eq!(link, None);
}
