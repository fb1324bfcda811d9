//! `/api/v1/repositories/<name>/tags`: the list, one tag (digest, media type, size, platforms,
//! push time), and DELETE with the delete right.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;
use crate::util::*;

fn check_tag_shape(t: &Value, ctx: &str) {
    let name = t["name"].as_str().unwrap_or_else(|| panic!("{ctx}: tag without string name: {t}"));
    let ctx = format!("{ctx} (tag {name})");
    let d = t["digest"].as_str().unwrap_or_else(|| panic!("{ctx}: digest not a string: {t}"));
    assert!(d.starts_with("sha256:") && d.len() == 71, "{ctx}: digest {d:?}");
    assert!(t["media_type"].is_string(), "{ctx}: media_type not a string: {t}");
    assert!(t["size"].is_u64(), "{ctx}: size not a non-negative integer: {t}");
    let ps = t["platforms"].as_array().unwrap_or_else(|| panic!("{ctx}: platforms not an array: {t}"));
    for p in ps {
        assert!(p["os"].is_string() && p["architecture"].is_string(), "{ctx}: platform {p}");
        assert!(p.get("variant").is_none_or(|v| v.is_string() || v.is_null()), "{ctx}: platform {p}");
    }
    time_of(&t["pushed_at"], &format!("{ctx} pushed_at"));
}

async fn get_tag(c: &impl Http, repo: &str, tag: &str) -> Value {
    let r = c.get(&format!("/api/v1/repositories/{repo}/tags/{tag}")).send().await.unwrap();
    let v = json_of(r, 200).await;
    check_tag_shape(&v, &format!("GET {repo}:{tag}"));
    assert_eq!(v["name"], tag, "{v}");
    v
}

async fn list_tags(c: &impl Http, repo: &str, query: &[(&str, &str)]) -> Value {
    let r = c.get(&format!("/api/v1/repositories/{repo}/tags")).query(query).send().await.unwrap();
    let v = json_of(r, 200).await;
    for f in ["page", "page_size", "total"] {
        assert!(v[f].is_u64(), "tags of {repo} {query:?}: `{f}`: {v}");
    }
    for t in v["tags"].as_array().unwrap_or_else(|| panic!("tags of {repo}: no tags array: {v}")) {
        check_tag_shape(t, &format!("tags of {repo}"));
    }
    v
}

fn tag_names(v: &Value) -> Vec<String> {
    v["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

/// Platforms as a set of (os, architecture, variant) for order-free comparison.
fn platforms(v: &Value) -> BTreeSet<(String, String, Option<String>)> {
    v["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["os"].as_str().unwrap().to_string(),
                p["architecture"].as_str().unwrap().to_string(),
                p.get("variant").and_then(Value::as_str).map(str::to_string),
            )
        })
        .collect()
}

fn plat(os: &str, arch: &str, variant: Option<&str>) -> (String, String, Option<String>) {
    (os.to_string(), arch.to_string(), variant.map(str::to_string))
}

#[tokio::test]
async fn tags_are_listed_by_name_with_pages_to_readers() {
    let s = auth_server(&[]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    create_user(&admin, "bob").await;
    let alice = s.user("alice");
    let p = push_small(&alice, "alice/t", "v2", 1).await;
    for t in ["v10", "latest", "1.0", "rc_1", "v1"] {
        retag(&alice, "alice/t", t, &p).await;
    }
    let all = strs(&["1.0", "latest", "rc_1", "v1", "v10", "v2"]);
    let v = list_tags(&alice, "alice/t", &[]).await;
    assert_eq!(tag_names(&v), all, "by name: {v}");
    assert_eq!((v["page"].clone(), v["page_size"].clone(), v["total"].clone()), (json!(1), json!(25), json!(6)), "{v}");
    for t in v["tags"].as_array().unwrap() {
        assert_eq!(t["digest"], json!(p.digest), "{t}");
        assert_eq!(t["size"], json!(p.tag_size()), "{t}");
        let one = get_tag(&alice, "alice/t", t["name"].as_str().unwrap()).await;
        assert_eq!(&one, t, "the list entry and the single tag differ");
    }
    let v = list_tags(&alice, "alice/t", &[("page_size", "4"), ("page", "2")]).await;
    assert_eq!(tag_names(&v), strs(&["v10", "v2"]), "{v}");
    assert_eq!((v["page"].clone(), v["page_size"].clone(), v["total"].clone()), (json!(2), json!(4), json!(6)), "{v}");
    let v = list_tags(&alice, "alice/t", &[("page_size", "4"), ("page", "3")]).await;
    assert_eq!((tag_names(&v), v["total"].clone()), (vec![], json!(6)), "past the end: {v}");
    let v = list_tags(&alice, "alice/t", &[("page_size", "500")]).await;
    assert_eq!(v["page_size"], json!(100), "page_size over 100 taken as 100: {v}");

    // Read access: others get 404 (as for the repository), anonymous callers 401 or 404.
    for path in ["/api/v1/repositories/alice/t/tags", "/api/v1/repositories/alice/t/tags/v1"] {
        let r = s.user("bob").get(path).send().await.unwrap();
        expect_error(r, 404, "NOT_FOUND").await;
        let r = s.anon().get(path).send().await.unwrap();
        let st = r.status().as_u16();
        assert!(st == 401 || st == 404, "anonymous {path}: {st}");
        expect_error(r, st, if st == 401 { "UNAUTHORIZED" } else { "NOT_FOUND" }).await;
    }
    let r = alice.get("/api/v1/repositories/alice/nope/tags").send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
    set_visibility(&alice, "alice/t", "public").await;
    assert_eq!(tag_names(&list_tags(&s.anon(), "alice/t", &[]).await), all, "public: anonymous may read");
    assert_eq!(tag_names(&list_tags(&s.user("bob"), "alice/t", &[]).await), all, "public: bob may read");
}

#[tokio::test]
async fn a_tag_has_its_manifest_digest_size_platforms_and_push_time() {
    let s = auth_server(&[]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    let alice = s.user("alice");
    let repo = "alice/multi";
    let t0 = now_secs();

    // An image whose manifest lists a layer twice: the layer counts once.
    let shared = bytes_of(1, 1500);
    let amd = push_parts(
        &alice,
        repo,
        "amd",
        config_for(1, "linux", "amd64", None),
        vec![shared.clone(), shared.clone(), bytes_of(2, 700)],
    )
    .await;
    assert_eq!(amd.tag_size(), (amd.manifest.len() + amd.blobs[0].len() + 1500 + 700) as u64);
    let arm = push_parts(&alice, repo, "arm", config_for(2, "linux", "arm64", Some("v8")), vec![shared.clone()]).await;
    let docker = push_docker_image(&alice, repo, "docker", 3).await;

    // An index of both, with the entries' platforms.
    let mut arm_desc = descriptor(OCI_MANIFEST, &arm.manifest);
    arm_desc["platform"] = json!({"architecture": "arm64", "os": "linux", "variant": "v8"});
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [platform_descriptor(OCI_MANIFEST, &amd.manifest, "amd64"), arm_desc],
    }))
    .unwrap();
    push_manifest(&alice, repo, "multi", OCI_INDEX, &index).await;

    // An artifact: no platform.
    let payload = bytes_of(4, 321);
    push_blob(&alice, repo, EMPTY_JSON).await;
    push_blob(&alice, repo, &payload).await;
    let artifact = artifact_manifest("application/vnd.example.thing", &payload, None, None);
    push_manifest(&alice, repo, "artifact", OCI_MANIFEST, &artifact).await;
    let t1 = now_secs();

    let v = get_tag(&alice, repo, "amd").await;
    assert_eq!(v["digest"], json!(amd.digest), "{v}");
    assert_eq!(v["media_type"], json!(OCI_MANIFEST), "{v}");
    assert_eq!(v["size"], json!(amd.tag_size()), "manifest + distinct blobs: {v}");
    assert_eq!(platforms(&v), BTreeSet::from([plat("linux", "amd64", None)]), "from the config: {v}");
    assert_between(time_of(&v["pushed_at"], "pushed_at"), t0, t1, "pushed_at");

    let v = get_tag(&alice, repo, "arm").await;
    assert_eq!((v["digest"].clone(), v["size"].clone()), (json!(arm.digest), json!(arm.tag_size())), "{v}");
    assert_eq!(platforms(&v), BTreeSet::from([plat("linux", "arm64", Some("v8"))]), "with the variant: {v}");

    let v = get_tag(&alice, repo, "docker").await;
    assert_eq!(v["digest"], json!(docker.digest), "{v}");
    assert_eq!(v["media_type"], json!(DOCKER_MANIFEST), "{v}");
    let docker_size = docker.manifest.len() + docker.config.len() + docker.layers[0].len();
    assert_eq!(v["size"], json!(docker_size), "{v}");
    assert_eq!(platforms(&v), BTreeSet::from([plat("linux", "amd64", None)]), "{v}");

    let v = get_tag(&alice, repo, "multi").await;
    assert_eq!(v["digest"], json!(sha256(&index)), "{v}");
    assert_eq!(v["media_type"], json!(OCI_INDEX), "{v}");
    let index_size = index.len() as u64
        + (amd.manifest.len() + arm.manifest.len()) as u64
        + distinct_size(amd.blobs.iter().chain(arm.blobs.iter()));
    assert_eq!(v["size"], json!(index_size), "index + its manifests + their distinct blobs (shared layer once): {v}");
    assert_eq!(
        platforms(&v),
        BTreeSet::from([plat("linux", "amd64", None), plat("linux", "arm64", Some("v8"))]),
        "from the entries: {v}"
    );
    assert_eq!(v["platforms"].as_array().unwrap().len(), 2, "{v}");

    let v = get_tag(&alice, repo, "artifact").await;
    assert_eq!(v["digest"], json!(sha256(&artifact)), "{v}");
    assert_eq!(v["platforms"], json!([]), "an artifact has no platform: {v}");
    assert_eq!(v["size"], json!(artifact.len() + EMPTY_JSON.len() + payload.len()), "{v}");

    // Setting the tag again moves pushed_at and the digest.
    sleep_past(now_secs()).await;
    let t2 = now_secs();
    retag(&alice, repo, "amd", &arm).await;
    let v = get_tag(&alice, repo, "amd").await;
    assert_eq!(v["digest"], json!(arm.digest), "{v}");
    assert_between(time_of(&v["pushed_at"], "pushed_at"), t2, now_secs(), "pushed_at after the tag moved");
    assert_eq!(platforms(&v), BTreeSet::from([plat("linux", "arm64", Some("v8"))]), "{v}");

    let r = alice.get(&format!("/api/v1/repositories/{repo}/tags/nope")).send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
    let r = alice.get("/api/v1/repositories/alice/nope/tags/amd").send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
    // A manifest pushed by digest only is no tag.
    let v = list_tags(&alice, repo, &[]).await;
    assert_eq!(tag_names(&v), strs(&["amd", "arm", "artifact", "docker", "multi"]), "{v}");
    assert_eq!(get_repo(&alice, repo).await["tag_count"], json!(5));
}

#[tokio::test]
async fn deleting_a_tag_needs_the_delete_right_and_keeps_the_manifest() {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["olivia", "adam", "wendy"] {
        create_user(&admin, u).await;
    }
    let olivia = s.user("olivia");
    create_org(&olivia, "acme").await;
    create_team(&olivia, "acme", "admins", "admin").await;
    add_member(&olivia, "acme", "admins", "adam").await;
    create_team(&olivia, "acme", "writers", "write").await;
    add_member(&olivia, "acme", "writers", "wendy").await;
    let repo = "acme/app";
    let p = push_small(&olivia, repo, "v1", 1).await;
    retag(&olivia, repo, "v2", &p).await;
    let q = push_small(&olivia, repo, "v3", 2).await;
    let size_before = get_repo(&olivia, repo).await["size"].clone();
    let (_, rw) = create_pat(&olivia, "olivia", "rw", "read-write", None).await;
    let (_, del) = create_pat(&olivia, "olivia", "del", "delete", None).await;

    let del_tag = |c: Caller<'_>, tag: &str| {
        let req = c.delete(&format!("/api/v1/repositories/{repo}/tags/{tag}"));
        async move { req.send().await.unwrap() }
    };
    expect_error(del_tag(s.user("wendy"), "v1").await, 403, "DENIED").await;
    expect_error(del_tag(s.basic("olivia", &rw), "v1").await, 403, "DENIED").await;
    expect_error(del_tag(s.anon(), "v1").await, 401, "UNAUTHORIZED").await;
    assert_eq!(tags_of(&olivia, repo).await, strs(&["v1", "v2", "v3"]), "a refused DELETE removed a tag");

    expect_status(del_tag(s.user("adam"), "v1").await, 204).await;
    expect_status(del_tag(s.basic("olivia", &del), "v3").await, 204).await;
    expect_error(del_tag(s.user("adam"), "v1").await, 404, "NOT_FOUND").await;
    expect_error(del_tag(s.user("adam"), "never").await, 404, "NOT_FOUND").await;

    let r = olivia.get(&format!("/api/v1/repositories/{repo}/tags/v1")).send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
    assert_eq!(tag_names(&list_tags(&olivia, repo, &[]).await), strs(&["v2"]));
    assert_eq!(tags_of(&olivia, repo).await, strs(&["v2"]), "/v2 tags/list");
    let r = olivia.get(&format!("/v2/{repo}/manifests/v1")).header("accept", ACCEPT_ALL).send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    // The manifests stay, pullable by digest; the other tag on the same manifest too.
    pull(&olivia, repo, &p.digest).await;
    pull(&olivia, repo, &q.digest).await;
    pull(&olivia, repo, "v2").await;
    let v = get_repo(&olivia, repo).await;
    assert_eq!(v["tag_count"], json!(1), "{v}");
    assert_eq!(v["size"], size_before, "the manifests stay, so does the size: {v}");
}
