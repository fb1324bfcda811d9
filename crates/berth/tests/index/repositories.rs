//! `/api/v1/repositories`: a repository's fields and their types, size, pull counts, PATCH of
//! descriptions and visibility, the list with its filter, sorts and pages, DELETE.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;
use crate::util::*;

async fn expect_404(c: &impl Http, path: &str) {
    let r = c.get(path).send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn a_repository_has_every_field_with_the_right_types_and_size() {
    let s = auth_server(&[]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    create_user(&admin, "bob").await;
    let alice = s.user("alice");

    // A repository that holds a blob but no manifest yet, if the server has it at all, was never
    // pushed to.
    push_blob(&alice, "alice/blobonly", &bytes_of(9, 64)).await;
    let r = alice.get("/api/v1/repositories/alice/blobonly").send().await.unwrap();
    if r.status() == 200 {
        let v = json_of(r, 200).await;
        check_repo_shape(&v, true, "blob only");
        assert_eq!(v["last_pushed"], Value::Null, "no manifest pushed yet: {v}");
        assert_eq!(v["tag_count"], json!(0), "{v}");
    } else {
        expect_error(r, 404, "NOT_FOUND").await;
    }

    let t0 = now_secs();
    let l1 = bytes_of(1, 1000);
    let a = push_parts(
        &alice,
        "alice/app",
        "v1",
        config_for(1, "linux", "amd64", None),
        vec![l1.clone(), bytes_of(2, 2000)],
    )
    .await;
    retag(&alice, "alice/app", "latest", &a).await;
    let b = push_parts(
        &alice,
        "alice/app",
        "v2",
        config_for(2, "linux", "arm64", None),
        vec![l1.clone(), bytes_of(3, 3000)],
    )
    .await;
    let t1 = now_secs();
    let size = distinct_size(a.blobs.iter().chain(b.blobs.iter())) + (a.manifest.len() + b.manifest.len()) as u64;
    assert_eq!(
        distinct_size(a.blobs.iter().chain(b.blobs.iter())),
        (a.blobs[0].len() + b.blobs[0].len() + 6000) as u64
    );

    let v = get_repo(&alice, "alice/app").await;
    check_repo_shape(&v, true, "GET alice/app");
    assert_eq!(v["namespace"], "alice", "{v}");
    assert_eq!(v["official"], false, "{v}");
    assert_eq!(v["visibility"], "private", "{v}");
    assert_eq!(v["description"], "", "{v}");
    assert_eq!(v["full_description"], "", "{v}");
    assert_eq!(v["star_count"], json!(0), "{v}");
    assert_eq!(v["starred"], false, "{v}");
    assert_eq!(v["pull_count"], json!(0), "{v}");
    assert_eq!(v["tag_count"], json!(3), "v1, latest, v2: {v}");
    assert_eq!(v["size"], json!(size), "distinct blobs (the shared layer once) plus both manifests: {v}");
    let created = time_of(&v["created_at"], "created_at");
    let pushed = time_of(&v["last_pushed"], "last_pushed");
    assert_between(created, t0, t1, "created_at");
    assert_between(pushed, t0, t1, "last_pushed");
    assert!(created <= pushed, "created_at after last_pushed: {v}");

    // Another tag on a manifest it has: a later last_pushed, the same size.
    sleep_past(now_secs()).await;
    let t2 = now_secs();
    retag(&alice, "alice/app", "stable", &b).await;
    let v = get_repo(&alice, "alice/app").await;
    let pushed2 = time_of(&v["last_pushed"], "last_pushed");
    assert_between(pushed2, t2, now_secs(), "last_pushed after another push");
    assert!(pushed2 > pushed, "last_pushed did not move: {v}");
    assert_eq!(time_of(&v["created_at"], "created_at"), created, "created_at changed: {v}");
    assert_eq!(v["size"], json!(size), "a second tag on the same manifest adds nothing: {v}");
    assert_eq!(v["tag_count"], json!(4), "{v}");

    // A manifest pushed by digest only is held too; its blobs already there count once.
    let c = push_parts(&alice, "alice/app", "", config_for(3, "linux", "amd64", None), vec![l1.clone()]).await;
    let v = get_repo(&alice, "alice/app").await;
    let size3 = size + c.manifest.len() as u64 + c.blobs[0].len() as u64;
    assert_eq!(v["size"], json!(size3), "plus the new manifest and its new config: {v}");
    assert_eq!(v["tag_count"], json!(4), "a push by digest sets no tag: {v}");

    // Official repositories and deeper names.
    push_small(&admin, "solo", "v1", 4).await;
    let v = get_repo(&admin, "solo").await;
    check_repo_shape(&v, true, "solo");
    assert_eq!((v["namespace"].clone(), v["official"].clone()), (json!("solo"), json!(true)), "{v}");
    push_small(&alice, "alice/deep/er/app", "v1", 5).await;
    let v = get_repo(&alice, "alice/deep/er/app").await;
    assert_eq!((v["namespace"].clone(), v["official"].clone()), (json!("alice"), json!(false)), "{v}");

    // Reading needs read access: others get 404, anonymous callers 401 for a private repository
    // that exists and 404 for one that does not.
    expect_404(&s.user("bob"), "/api/v1/repositories/alice/app").await;
    expect_404(&alice, "/api/v1/repositories/alice/nope").await;
    expect_404(&s.anon(), "/api/v1/repositories/alice/nope").await;
    let r = s.anon().get("/api/v1/repositories/alice/app").send().await.unwrap();
    expect_error(r, 401, "UNAUTHORIZED").await;
    set_visibility(&alice, "alice/app", "public").await;
    let v = get_repo(&s.anon(), "alice/app").await;
    check_repo_shape(&v, true, "anonymous");
    assert_eq!(v["starred"], false, "{v}");
    assert_eq!(v["size"], json!(size3), "{v}");
    let v = get_repo(&s.user("bob"), "alice/app").await;
    assert_eq!(v["visibility"], "public", "{v}");
}

#[tokio::test]
async fn pull_count_counts_manifest_gets_answered_200_only() {
    let s = auth_server(&[]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    create_user(&admin, "bob").await;
    let alice = s.user("alice");
    let p = push_small(&alice, "alice/counted", "v1", 1).await;
    let d = push_docker_image(&alice, "alice/counted", "docker", 2).await;

    pull(&alice, "alice/counted", "v1").await;
    pull(&alice, "alice/counted", &p.digest).await;
    pull(&alice, "alice/counted", "docker").await;
    for reference in ["v1", p.digest.as_str(), d.digest.as_str()] {
        let r = alice.head(&format!("/v2/alice/counted/manifests/{reference}")).header("accept", ACCEPT_ALL).send();
        expect_status(r.await.unwrap(), 200).await;
    }
    let r = alice.get("/v2/alice/counted/manifests/nope").header("accept", ACCEPT_ALL).send().await.unwrap();
    expect_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = alice.get(&format!("/v2/alice/counted/blobs/{}", sha256(&p.blobs[1]))).send().await.unwrap();
    expect_status(r, 200).await;
    // bob may not read it: a 404, not a pull.
    let r = s.user("bob").get("/v2/alice/counted/manifests/v1").header("accept", ACCEPT_ALL).send().await.unwrap();
    expect_error(r, 404, "NAME_UNKNOWN").await;

    wait_pull_count(&alice, "alice/counted", 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let v = get_repo(&alice, "alice/counted").await;
    assert_eq!(v["pull_count"], json!(3), "HEADs, 404s and blob GETs are no pulls: {v}");
    let other = push_small(&alice, "alice/other", "v1", 3).await;
    pull(&alice, "alice/other", &other.digest).await;
    wait_pull_count(&alice, "alice/other", 1).await;
    assert_eq!(get_repo(&alice, "alice/counted").await["pull_count"], json!(3), "per repository");
}

#[tokio::test]
async fn descriptions_need_write_access_and_are_validated() {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["olivia", "wendy", "rita", "bob"] {
        create_user(&admin, u).await;
    }
    let olivia = s.user("olivia");
    create_org(&olivia, "acme").await;
    create_team(&olivia, "acme", "writers", "write").await;
    add_member(&olivia, "acme", "writers", "wendy").await;
    create_team(&olivia, "acme", "readers", "read").await;
    add_member(&olivia, "acme", "readers", "rita").await;
    push_small(&olivia, "acme/app", "v1", 1).await;
    let (wendy, rita) = (s.user("wendy"), s.user("rita"));

    // Write access is enough for descriptions; the answer is the whole repository.
    let v =
        patch_ok(&wendy, "acme/app", json!({"description": "The app", "full_description": "# App\n\nLong *text*."}))
            .await;
    check_repo_shape(&v, true, "PATCH answer");
    assert_eq!(v["description"], "The app", "{v}");
    assert_eq!(v["full_description"], "# App\n\nLong *text*.", "{v}");
    let v = get_repo(&rita, "acme/app").await;
    assert_eq!(
        (v["description"].clone(), v["full_description"].clone()),
        (json!("The app"), json!("# App\n\nLong *text*."))
    );
    // Only what is sent changes.
    let v = patch_ok(&wendy, "acme/app", json!({"full_description": "Other"})).await;
    assert_eq!((v["description"].clone(), v["full_description"].clone()), (json!("The app"), json!("Other")), "{v}");

    // Read access is not; visibility needs admin access.
    let r = patch_repo(&rita, "acme/app", json!({"description": "by rita"})).await;
    expect_error(r, 403, "DENIED").await;
    let r = patch_repo(&rita, "acme/app", json!({"full_description": "by rita"})).await;
    expect_error(r, 403, "DENIED").await;
    let r = patch_repo(&wendy, "acme/app", json!({"visibility": "public"})).await;
    expect_error(r, 403, "DENIED").await;
    let r = patch_repo(&s.anon(), "acme/app", json!({"description": "anon"})).await;
    expect_error(r, 401, "UNAUTHORIZED").await;
    let r = patch_repo(&s.user("bob"), "acme/app", json!({"description": "by bob"})).await;
    let st = r.status().as_u16();
    assert!(st == 403 || st == 404, "bob (no access) PATCH: {st}");
    expect_error(r, st, if st == 403 { "DENIED" } else { "NOT_FOUND" }).await;
    let v = get_repo(&olivia, "acme/app").await;
    assert_eq!((v["description"].clone(), v["visibility"].clone()), (json!("The app"), json!("private")), "{v}");
    let v = patch_ok(&olivia, "acme/app", json!({"visibility": "public"})).await;
    assert_eq!(v["visibility"], "public", "{v}");
    // Public now: rita still may not write, anonymous callers still 401.
    let r = patch_repo(&rita, "acme/app", json!({"description": "by rita"})).await;
    expect_error(r, 403, "DENIED").await;
    let r = patch_repo(&s.anon(), "acme/app", json!({"description": "anon"})).await;
    expect_error(r, 401, "UNAUTHORIZED").await;

    // Limits: 100 characters (not bytes) and no line breaks; 25,000 for the full description.
    let ok_desc = ["x".repeat(100), "é".repeat(100), "ünïcödé ✓".to_string()];
    for d in &ok_desc {
        let v = patch_ok(&olivia, "acme/app", json!({ "description": d })).await;
        assert_eq!(v["description"], json!(d), "{v}");
    }
    let last = ok_desc.last().unwrap().clone();
    for bad in [
        "y".repeat(101),
        "é".repeat(101),
        "two\nlines".into(),
        "two\r\nlines".into(),
        "cr\rline".into(),
        "end\n".into(),
    ] {
        let r = patch_repo(&olivia, "acme/app", json!({ "description": bad })).await;
        let st = r.status().as_u16();
        assert_eq!(st, 400, "description {bad:?}: status {st}, want 400 INVALID");
        expect_error(r, 400, "INVALID").await;
    }
    let full_ok = "f\n".repeat(12_500);
    let v = patch_ok(&olivia, "acme/app", json!({ "full_description": full_ok })).await;
    assert_eq!(v["full_description"].as_str().map(str::len), Some(25_000), "line breaks are fine in Markdown");
    let r = patch_repo(&olivia, "acme/app", json!({ "full_description": "g".repeat(25_001) })).await;
    expect_error(r, 400, "INVALID").await;
    let r =
        patch_repo(&olivia, "acme/app", json!({ "description": "ok", "full_description": "h".repeat(25_001) })).await;
    expect_error(r, 400, "INVALID").await;
    let v = get_repo(&olivia, "acme/app").await;
    assert_eq!(v["description"], json!(last), "a refused PATCH changed the description: {v}");
    assert_eq!(v["full_description"], json!(full_ok), "a refused PATCH changed the full description");

    // Clearing.
    let v = patch_ok(&olivia, "acme/app", json!({"description": "", "full_description": ""})).await;
    assert_eq!((v["description"].clone(), v["full_description"].clone()), (json!(""), json!("")), "{v}");

    // Unknown repository.
    let r = patch_repo(&olivia, "acme/nope", json!({"description": "x"})).await;
    expect_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn the_list_filters_sorts_and_pages() {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["alice", "bob", "carol", "dave"] {
        create_user(&admin, u).await;
    }
    let alice = s.user("alice");
    // Pushed in this order, each in its own second: c, a, e, b, d.
    for (i, n) in ["c", "a", "e", "b", "d"].iter().enumerate() {
        if i > 0 {
            sleep_past(now_secs()).await;
        }
        push_small(&alice, &format!("alice/{n}"), "v1", i as u64).await;
    }
    for n in ["a", "b", "c", "d"] {
        set_visibility(&alice, &format!("alice/{n}"), "public").await;
    }
    let bob = s.user("bob");
    push_small(&bob, "bob/x", "v1", 10).await;
    set_visibility(&bob, "bob/x", "public").await;
    push_small(&bob, "bob/y", "v1", 11).await;

    // Stars: a 0, e 1, c 2, d 3, b 4.
    for (repo, who) in [
        ("alice/e", &["alice"][..]),
        ("alice/c", &["bob", "carol"][..]),
        ("alice/d", &["alice", "bob", "carol"][..]),
        ("alice/b", &["alice", "bob", "carol", "dave"][..]),
    ] {
        for u in who {
            star(&s.user(u), repo).await;
        }
    }
    // Pulls: a 3, c 2, b 1, d 0, e 0.
    for (repo, n) in [("alice/a", 3), ("alice/c", 2), ("alice/b", 1)] {
        for _ in 0..n {
            pull(&alice, repo, "v1").await;
        }
    }
    for (repo, n) in [("alice/a", 3), ("alice/c", 2), ("alice/b", 1)] {
        wait_pull_count(&alice, repo, n).await;
    }

    fn ns<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut q = vec![("namespace", "alice")];
        q.extend_from_slice(extra);
        q
    }
    let all5 = strs(&["alice/a", "alice/b", "alice/c", "alice/d", "alice/e"]);
    let v = list_repos(&alice, &ns(&[])).await;
    assert_eq!(repo_names(&v), all5, "default: by name ascending: {v}");
    assert_eq!((v["page"].clone(), v["page_size"].clone(), v["total"].clone()), (json!(1), json!(25), json!(5)), "{v}");
    let b = &v["repositories"][1];
    assert_eq!((b["star_count"].clone(), b["starred"].clone()), (json!(4), json!(true)), "alice/b for alice: {b}");
    assert_eq!(v["repositories"][0]["pull_count"], json!(3), "{v}");
    assert_eq!(v["repositories"][0]["starred"], json!(false), "alice/a for alice: {v}");

    for (q, want) in [
        (vec![("sort", "name")], vec!["a", "b", "c", "d", "e"]),
        (vec![("sort", "name"), ("order", "desc")], vec!["e", "d", "c", "b", "a"]),
        (vec![("order", "desc")], vec!["e", "d", "c", "b", "a"]),
        (vec![("sort", "stars")], vec!["b", "d", "c", "e", "a"]),
        (vec![("sort", "stars"), ("order", "desc")], vec!["b", "d", "c", "e", "a"]),
        (vec![("sort", "stars"), ("order", "asc")], vec!["a", "e", "c", "d", "b"]),
        (vec![("sort", "pulls")], vec!["a", "c", "b", "d", "e"]),
        (vec![("sort", "pushed")], vec!["d", "b", "e", "a", "c"]),
        (vec![("sort", "pushed"), ("order", "asc")], vec!["c", "a", "e", "b", "d"]),
    ] {
        let v = list_repos(&alice, &ns(&q)).await;
        let want: Vec<String> = want.iter().map(|n| format!("alice/{n}")).collect();
        assert_eq!(repo_names(&v), want, "{q:?}: {v}");
        assert_eq!(v["total"], json!(5), "{q:?}: {v}");
    }

    // Pages.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let p = page.to_string();
        let v = list_repos(&alice, &ns(&[("page_size", "2"), ("page", &p)])).await;
        assert_eq!((v["page"].clone(), v["page_size"].clone(), v["total"].clone()), (json!(page), json!(2), json!(5)));
        assert_eq!(repo_names(&v).len(), if page < 3 { 2 } else { 1 }, "page {page}: {v}");
        seen.extend(repo_names(&v));
    }
    assert_eq!(seen, all5, "pages of 2 put together");
    let v = list_repos(&alice, &ns(&[("page_size", "2"), ("page", "4")])).await;
    assert_eq!((repo_names(&v), v["total"].clone()), (vec![], json!(5)), "a page past the end: {v}");
    let v = list_repos(&alice, &ns(&[("page_size", "1000")])).await;
    assert_eq!(v["page_size"], json!(100), "page_size over 100 is taken as 100: {v}");
    let v = list_repos(&alice, &ns(&[("sort", "stars"), ("page_size", "2"), ("page", "2")])).await;
    assert_eq!(repo_names(&v), strs(&["alice/c", "alice/e"]), "pages of a sorted list: {v}");

    // Visible repositories only.
    let v = list_repos(&bob, &ns(&[])).await;
    assert_eq!((repo_names(&v), v["total"].clone()), (all5[..4].to_vec(), json!(4)), "bob, namespace alice: {v}");
    assert_eq!(v["repositories"][1]["starred"], json!(true), "bob starred alice/b: {v}");
    let v = list_repos(&s.anon(), &ns(&[])).await;
    assert_eq!((repo_names(&v), v["total"].clone()), (all5[..4].to_vec(), json!(4)), "anonymous: {v}");
    assert!(v["repositories"].as_array().unwrap().iter().all(|r| r["starred"] == false), "anonymous starred: {v}");
    let v = list_repos(&s.anon(), &[]).await;
    assert_eq!(repo_names(&v), strs(&["alice/a", "alice/b", "alice/c", "alice/d", "bob/x"]), "anonymous, all: {v}");
    let v = list_repos(&bob, &[]).await;
    assert_eq!(repo_names(&v), strs(&["alice/a", "alice/b", "alice/c", "alice/d", "bob/x", "bob/y"]), "bob, all: {v}");
    assert_eq!(v["total"], json!(6), "{v}");
    let v = list_repos(&admin, &[]).await;
    let mut every = all5.clone();
    every.extend(strs(&["bob/x", "bob/y"]));
    assert_eq!((repo_names(&v), v["total"].clone()), (every, json!(7)), "admin: {v}");
    let v = list_repos(&alice, &[("namespace", "nobody")]).await;
    assert_eq!((repo_names(&v), v["total"].clone()), (vec![], json!(0)), "unknown namespace: {v}");

    // Bad parameters.
    for q in [
        ("sort", "size"),
        ("order", "up"),
        ("page", "0"),
        ("page", "-1"),
        ("page", "x"),
        ("page_size", "0"),
        ("page_size", "-5"),
        ("page_size", "x"),
        ("page_size", "2.5"),
    ] {
        let r = alice.get("/api/v1/repositories").query(&[q]).send().await.unwrap();
        let st = r.status().as_u16();
        assert_eq!(st, 400, "{q:?}: status {st}, want 400 INVALID");
        expect_error(r, 400, "INVALID").await;
    }
}

#[tokio::test]
async fn deleting_a_repository_removes_it_and_a_push_creates_it_again() {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["olivia", "adam", "wendy", "bob"] {
        create_user(&admin, u).await;
    }
    let olivia = s.user("olivia");
    create_org(&olivia, "acme").await;
    create_team(&olivia, "acme", "admins", "admin").await;
    add_member(&olivia, "acme", "admins", "adam").await;
    create_team(&olivia, "acme", "writers", "write").await;
    add_member(&olivia, "acme", "writers", "wendy").await;
    let p = push_small(&olivia, "acme/gone", "v1", 1).await;
    retag(&olivia, "acme/gone", "v2", &p).await;
    push_small(&olivia, "acme/stays", "v1", 2).await;
    set_visibility(&olivia, "acme/gone", "public").await;
    set_description(&olivia, "acme/gone", "to be deleted").await;
    star(&s.user("bob"), "acme/gone").await;
    set_visibility(&olivia, "acme/stays", "public").await;
    star(&s.user("bob"), "acme/stays").await;

    // Who may not.
    let r = s.user("wendy").delete("/api/v1/repositories/acme/gone").send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    let r = s.anon().delete("/api/v1/repositories/acme/gone").send().await.unwrap();
    expect_error(r, 401, "UNAUTHORIZED").await;
    let r = s.user("bob").delete("/api/v1/repositories/acme/gone").send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    get_repo(&olivia, "acme/gone").await;

    // A pull just before the DELETE: its count, written to the store up to a second later, must
    // not bring the repository back.
    pull(&olivia, "acme/gone", "v1").await;
    let r = s.user("adam").delete("/api/v1/repositories/acme/gone").send().await.unwrap();
    expect_status(r, 204).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    expect_404(&olivia, "/api/v1/repositories/acme/gone").await;
    let r = olivia.get("/v2/acme/gone/tags/list").send().await.unwrap();
    expect_error(r, 404, "NAME_UNKNOWN").await;
    for reference in ["v1", p.digest.as_str()] {
        let r = olivia.get(&format!("/v2/acme/gone/manifests/{reference}")).header("accept", ACCEPT_ALL).send();
        expect_error(r.await.unwrap(), 404, "NAME_UNKNOWN").await;
    }
    // Blobs of an unknown repository are BLOB_UNKNOWN (docs/protocol.md).
    let r = olivia.get(&format!("/v2/acme/gone/blobs/{}", sha256(&p.blobs[0]))).send().await.unwrap();
    expect_error(r, 404, "BLOB_UNKNOWN").await;
    assert!(!catalog(&olivia).await.contains(&"acme/gone".to_string()), "still in the catalog");
    let v = list_repos(&olivia, &[("namespace", "acme")]).await;
    assert_eq!(repo_names(&v), strs(&["acme/stays"]), "{v}");
    assert_eq!(search_all(&olivia, "gone").await, Vec::<String>::new(), "search after DELETE");
    assert_eq!(search_all(&olivia, "deleted").await, Vec::<String>::new(), "its description after DELETE");
    let v = json_of(s.user("bob").get("/api/v1/users/bob/starred").send().await.unwrap(), 200).await;
    assert_eq!(repo_names(&v), strs(&["acme/stays"]), "its stars went: {v}");
    let r = s.user("adam").delete("/api/v1/repositories/acme/gone").send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
    // The other repository and the shared blob store are untouched.
    assert_eq!(tags_of(&olivia, "acme/stays").await, strs(&["v1"]));

    // A push creates it again, from scratch.
    let q = push_small(&olivia, "acme/gone", "v3", 3).await;
    let v = get_repo(&olivia, "acme/gone").await;
    check_repo_shape(&v, true, "recreated");
    assert_eq!(v["tag_count"], json!(1), "{v}");
    assert_eq!(v["star_count"], json!(0), "{v}");
    assert_eq!(v["description"], "", "{v}");
    assert_eq!(v["visibility"], "private", "the namespace default again: {v}");
    assert_eq!(v["size"], json!(q.tag_size()), "{v}");
    assert_eq!(tags_of(&olivia, "acme/gone").await, strs(&["v3"]));
    let r = olivia.get(&format!("/v2/acme/gone/manifests/{}", p.digest)).header("accept", ACCEPT_ALL).send().await;
    expect_error(r.unwrap(), 404, "MANIFEST_UNKNOWN").await;
}
