//! Repository visibility: the default a new repository takes, who may change it, and
//! `anonymous_pull = false`.

use serde_json::json;

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;

async fn anonymous_can_pull(s: &Server, repo: &str) -> bool {
    let r = s.get(&format!("/v2/{repo}/manifests/v1")).send().await.unwrap();
    if r.status() == 200 {
        return true;
    }
    expect_challenge(r, s, Want::Repo(repo, "pull")).await;
    false
}

async fn patch_user_default(c: &impl Http, user: &str, v: &str) {
    let r = c.patch(&format!("/api/v1/users/{user}")).json(&json!({ "default_visibility": v })).send().await.unwrap();
    expect_success(r).await;
}

#[tokio::test]
async fn a_new_repository_takes_its_namespace_default_else_private() {
    let s = auth_server(&[]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    create_user(&admin, "olivia").await;
    let alice = s.user("alice");
    let olivia = s.user("olivia");

    push_image(&alice, "alice/one", "v1", 1).await;
    assert_eq!(visibility_of(&alice, "alice/one").await, "private");
    assert!(!anonymous_can_pull(&s, "alice/one").await);

    patch_user_default(&alice, "alice", "public").await;
    push_image(&alice, "alice/two", "v1", 2).await;
    assert_eq!(visibility_of(&alice, "alice/two").await, "public");
    assert!(anonymous_can_pull(&s, "alice/two").await);
    assert_eq!(visibility_of(&alice, "alice/one").await, "private", "an existing repository changed visibility");

    let r = olivia
        .post("/api/v1/orgs")
        .json(&json!({"name": "pubcorp", "default_visibility": "public"}))
        .send()
        .await
        .unwrap();
    json_of(r, 201).await;
    push_image(&olivia, "pubcorp/a", "v1", 3).await;
    assert_eq!(visibility_of(&olivia, "pubcorp/a").await, "public");
    assert!(anonymous_can_pull(&s, "pubcorp/a").await);

    create_org(&olivia, "privcorp").await;
    push_image(&olivia, "privcorp/a", "v1", 4).await;
    assert_eq!(visibility_of(&olivia, "privcorp/a").await, "private");
    let r = olivia.patch("/api/v1/orgs/privcorp").json(&json!({"default_visibility": "public"})).send().await.unwrap();
    expect_success(r).await;
    push_image(&olivia, "privcorp/b", "v1", 5).await;
    assert_eq!(visibility_of(&olivia, "privcorp/b").await, "public");
    assert_eq!(visibility_of(&olivia, "privcorp/a").await, "private");

    // Official and neither-namespace repositories take the server's default.
    push_image(&admin, "solo", "v1", 6).await;
    assert_eq!(visibility_of(&admin, "solo").await, "private");
    push_image(&admin, "ghost/x", "v1", 7).await;
    assert_eq!(visibility_of(&admin, "ghost/x").await, "private");
}

#[tokio::test]
async fn the_server_default_applies_where_the_namespace_sets_none() {
    let s = auth_server(&[("BERTH_DEFAULT_VISIBILITY", "public")]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    let alice = s.user("alice");
    push_image(&alice, "alice/one", "v1", 1).await;
    assert_eq!(visibility_of(&alice, "alice/one").await, "public");
    assert!(anonymous_can_pull(&s, "alice/one").await);

    patch_user_default(&alice, "alice", "private").await;
    push_image(&alice, "alice/two", "v1", 2).await;
    assert_eq!(visibility_of(&alice, "alice/two").await, "private");
    assert!(!anonymous_can_pull(&s, "alice/two").await);

    create_org(&alice, "corp").await;
    push_image(&alice, "corp/a", "v1", 3).await;
    assert_eq!(visibility_of(&alice, "corp/a").await, "public");
    push_image(&admin, "solo", "v1", 4).await;
    assert_eq!(visibility_of(&admin, "solo").await, "public");
    assert!(anonymous_can_pull(&s, "solo").await);
}

#[tokio::test]
async fn changing_visibility_needs_admin_on_the_repository() {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["alice", "olivia", "adam", "wendy", "rita", "dora", "bob"] {
        create_user(&admin, u).await;
    }
    let olivia = s.user("olivia");
    create_org(&olivia, "acme").await;
    for (team, role, member) in [
        ("admins", "admin", "adam"),
        ("writers", "write", "wendy"),
        ("readers", "read", "rita"),
        ("deployers", "read", "dora"),
    ] {
        create_team(&olivia, "acme", team, role).await;
        add_member(&olivia, "acme", team, member).await;
    }
    set_repo_role(&olivia, "acme", "deployers", "acme/app", "admin").await;
    push_image(&olivia, "acme/priv", "v1", 1).await;
    push_image(&olivia, "acme/app", "v1", 2).await;
    push_image(&s.user("alice"), "alice/mine", "v1", 3).await;

    let patch = |c: Caller<'_>, repo: &str, v: &str| {
        let req = c.patch(&format!("/api/v1/repositories/{repo}")).json(&json!({ "visibility": v }));
        async move { req.send().await.unwrap() }
    };

    // The repository as a reader sees it.
    let r = s.user("rita").get("/api/v1/repositories/acme/priv").send().await.unwrap();
    let v = json_of(r, 200).await;
    assert_eq!(v["name"], "acme/priv", "{v}");
    assert_eq!(v["visibility"], "private", "{v}");
    assert_eq!(v["namespace"], "acme", "{v}");

    for who in ["wendy", "rita", "dora"] {
        let r = patch(s.user(who), "acme/priv", "public").await;
        expect_error(r, 403, "DENIED").await;
    }
    let r = patch(s.anon(), "acme/priv", "public").await;
    expect_error(r, 401, "UNAUTHORIZED").await;
    assert_eq!(visibility_of(&olivia, "acme/priv").await, "private");
    assert!(!anonymous_can_pull(&s, "acme/priv").await);

    // A caller who may not even read it is refused too (the contract does not say whether with
    // 403 or with a 404 that hides it).
    for (who, repo) in [("bob", "acme/priv"), ("bob", "alice/mine")] {
        let r = patch(s.user(who), repo, "public").await;
        let st = r.status().as_u16();
        assert!(st == 403 || st == 404, "{who} PATCH {repo}: {st}");
        expect_error(r, st, if st == 403 { "DENIED" } else { "NOT_FOUND" }).await;
        let r = s.user(who).get(&format!("/api/v1/repositories/{repo}")).send().await.unwrap();
        let st = r.status().as_u16();
        assert!(st == 403 || st == 404, "{who} GET {repo}: {st}");
        expect_error(r, st, if st == 403 { "DENIED" } else { "NOT_FOUND" }).await;
    }

    // The team role on the repository itself is enough.
    set_visibility(&s.user("dora"), "acme/app", "public").await;
    assert!(anonymous_can_pull(&s, "acme/app").await);
    set_visibility(&s.user("adam"), "acme/priv", "public").await;
    assert!(anonymous_can_pull(&s, "acme/priv").await);
    set_visibility(&olivia, "acme/priv", "private").await;
    assert!(!anonymous_can_pull(&s, "acme/priv").await);
    set_visibility(&s.user("alice"), "alice/mine", "public").await;
    set_visibility(&admin, "alice/mine", "private").await;

    let r = patch(olivia.clone(), "acme/priv", "secret").await;
    expect_error(r, 400, "INVALID").await;
}

#[tokio::test]
async fn anonymous_pull_off_hides_public_repositories_from_anonymous_callers_only() {
    let s = auth_server(&[("BERTH_ANONYMOUS_PULL", "false")]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    create_user(&admin, "bob").await;
    let alice = s.user("alice");
    let img = push_image(&alice, "alice/pub", "v1", 1).await;
    set_visibility(&alice, "alice/pub", "public").await;

    let r = s.get("/v2/alice/pub/manifests/v1").send().await.unwrap();
    expect_challenge(r, &s, Want::Repo("alice/pub", "pull")).await;
    let r = s.get(&format!("/v2/alice/pub/blobs/{}", sha256(&img.config))).send().await.unwrap();
    expect_challenge(r, &s, Want::Repo("alice/pub", "pull")).await;
    let r = s.get("/v2/alice/pub/tags/list").send().await.unwrap();
    expect_challenge(r, &s, Want::Repo("alice/pub", "pull")).await;
    let r = s.get("/v2/_catalog").send().await.unwrap();
    expect_challenge(r, &s, Want::Exactly("registry:catalog:*")).await;
    assert!(granted(&s.anon(), &["repository:alice/pub:pull"]).await.is_empty(), "anonymous token carries pull");

    // Any account still reads a public repository.
    let bob = s.user("bob");
    let r = bob.get("/v2/alice/pub/manifests/v1").header("accept", OCI_MANIFEST).send().await.unwrap();
    expect_status(r, 200).await;
    assert_eq!(catalog(&bob).await, ["alice/pub"]);
    assert_eq!(granted(&bob, &["repository:alice/pub:pull"]).await, access(&[("repository", "alice/pub", &["pull"])]));
}

#[tokio::test]
async fn anonymous_pull_on_lets_anonymous_callers_read_public_repositories_only() {
    let s = auth_server(&[]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    let alice = s.user("alice");
    push_image(&alice, "alice/pub", "v1", 1).await;
    push_image(&alice, "alice/priv", "v1", 2).await;
    set_visibility(&alice, "alice/pub", "public").await;
    assert!(anonymous_can_pull(&s, "alice/pub").await);
    assert!(!anonymous_can_pull(&s, "alice/priv").await);
    // The catalog, anonymously (docs/access.md: it lists what the caller may read).
    assert_eq!(catalog(&s.anon()).await, ["alice/pub"]);
}
