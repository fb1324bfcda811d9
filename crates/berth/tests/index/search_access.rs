//! Who sees what in `/v1/search` (docs/index.md, "Who sees what"): anonymous callers public
//! repositories only, callers with credentials (password, personal access token, robot token,
//! bearer token of any scope) also what they may read, admins everything; bad credentials 401.

use std::collections::BTreeSet;

use serde_json::json;

use crate::common::*;
use crate::harness::*;
use crate::util::*;

const PUBLIC: [&str; 3] = ["acme/pub-web", "alice/pub-web", "webopen"];

fn set_of(names: &[String]) -> BTreeSet<String> {
    names.iter().cloned().collect()
}

fn want(extra: &[&str]) -> BTreeSet<String> {
    PUBLIC.iter().chain(extra.iter()).map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn each_caller_sees_public_repositories_and_what_it_may_read() {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["alice", "bob", "carol", "dave", "erin"] {
        create_user(&admin, u).await;
    }
    let dave = s.user("dave");
    create_org(&dave, "acme").await;
    create_team(&dave, "acme", "readers", "read").await;
    add_member(&dave, "acme", "readers", "carol").await;
    let robot = create_robot(&dave, "acme", "ci").await;
    add_member(&dave, "acme", "readers", "acme+ci").await;

    let alice = s.user("alice");
    push_small(&alice, "alice/pub-web", "v1", 1).await;
    set_visibility(&alice, "alice/pub-web", "public").await;
    push_small(&alice, "alice/priv-web", "v1", 2).await;
    push_small(&s.user("bob"), "bob/priv-web", "v1", 3).await;
    push_small(&dave, "acme/priv-web", "v1", 4).await;
    push_small(&dave, "acme/pub-web", "v1", 5).await;
    set_visibility(&dave, "acme/pub-web", "public").await;
    push_small(&admin, "webofficial", "v1", 6).await;
    push_small(&admin, "webopen", "v1", 7).await;
    set_visibility(&admin, "webopen", "public").await;
    // erin's own private repository does not match `web`.
    push_small(&s.user("erin"), "erin/other", "v1", 8).await;

    let (_, alice_pat) = create_pat(&alice, "alice", "ci", "read", None).await;
    let (bearer_search, _) = token_for(&alice, &["registry:catalog:search"]).await;
    let (bearer_none, _) = token_for(&alice, &[]).await;
    let (bearer_other, _) = token_for(&alice, &["repository:alice/pub-web:pull"]).await;
    let (bearer_carol, _) = token_for(&s.user("carol"), &["registry:catalog:*"]).await;

    let cases: Vec<(Caller<'_>, BTreeSet<String>)> = vec![
        (s.anon(), want(&[])),
        (s.user("alice"), want(&["alice/priv-web"])),
        (s.basic("alice", &alice_pat), want(&["alice/priv-web"])),
        (s.bearer(&bearer_search), want(&["alice/priv-web"])),
        (s.bearer(&bearer_none), want(&["alice/priv-web"])),
        (s.bearer(&bearer_other), want(&["alice/priv-web"])),
        (s.user("bob"), want(&["bob/priv-web"])),
        (s.user("carol"), want(&["acme/priv-web"])),
        (s.bearer(&bearer_carol), want(&["acme/priv-web"])),
        (s.basic("acme+ci", &robot), want(&["acme/priv-web"])),
        (s.user("dave"), want(&["acme/priv-web"])),
        (s.user("erin"), want(&[])),
        (s.admin(), want(&["alice/priv-web", "bob/priv-web", "acme/priv-web", "webofficial"])),
    ];
    for (i, (c, want)) in cases.iter().enumerate() {
        let ctx = format!("case {i} ({})", c.label);
        let got = search_all(c, "web").await;
        assert_eq!(set_of(&got), *want, "{ctx}: q=web");
        assert_eq!(got.len(), want.len(), "{ctx}: duplicates in {got:?}");
        let v = search(c, &[("q", "web")]).await;
        assert_eq!(v["num_results"], json!(want.len()), "{ctx}: num_results counts visible ones only: {v}");
        // The empty term lists every visible repository (erin's own one too, for erin).
        let mut all = want.clone();
        if c.label == "erin" {
            all.insert("erin/other".into());
        }
        if c.label == "admin" {
            all.insert("erin/other".into());
        }
        assert_eq!(set_of(&search_all(c, "").await), all, "{ctx}: empty term");
        // `docker search` pings first.
        let r = c.get("/v1/_ping").send().await.unwrap();
        expect_status(r, 200).await;
    }

    // Rights are those of the moment: out of the team, out of the results.
    let r = dave.delete("/api/v1/orgs/acme/teams/readers/members/carol").send().await.unwrap();
    expect_status(r, 204).await;
    assert_eq!(set_of(&search_all(&s.user("carol"), "web").await), want(&[]), "carol after leaving the team");
    set_visibility(&dave, "acme/priv-web", "public").await;
    assert_eq!(set_of(&search_all(&s.anon(), "web").await), want(&["acme/priv-web"]), "anonymous after a PATCH");

    // Bad credentials are refused, never treated as anonymous.
    let (pat_id, pat) = create_pat(&alice, "alice", "gone", "read", None).await;
    let r = alice.delete(&format!("/api/v1/users/alice/tokens/{pat_id}")).send().await.unwrap();
    expect_status(r, 204).await;
    for (label, c) in [
        ("wrong password", s.basic("alice", "wrong-password-1")),
        ("unknown user", s.basic("nobody", PW)),
        ("deleted token", s.basic("alice", &pat)),
        ("garbage bearer", s.bearer("not.a.token")),
        ("tampered bearer", s.bearer(&format!("{bearer_search}x"))),
    ] {
        let r = c.get("/v1/search").query(&[("q", "web")]).send().await.unwrap();
        let st = r.status().as_u16();
        assert_eq!(st, 401, "{label}: status {st}, want 401 UNAUTHORIZED");
        expect_error(r, 401, "UNAUTHORIZED").await;
    }
}

#[tokio::test]
async fn anonymous_callers_see_nothing_when_anonymous_pull_is_off() {
    let s = auth_server(&[("BERTH_ANONYMOUS_PULL", "false")]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    let alice = s.user("alice");
    push_small(&alice, "alice/pub-web", "v1", 1).await;
    set_visibility(&alice, "alice/pub-web", "public").await;
    push_small(&alice, "alice/priv-web", "v1", 2).await;
    create_user(&admin, "bob").await;

    // The repository list is a listing too.
    let v = list_repos(&s.anon(), &[]).await;
    assert_eq!((repo_names(&v), v["total"].clone()), (vec![], json!(0)), "anonymous repository list: {v}");
    let v = list_repos(&s.user("bob"), &[]).await;
    assert_eq!(repo_names(&v), strs(&["alice/pub-web"]), "bob's repository list: {v}");

    let v = search(&s.anon(), &[("q", "web")]).await;
    assert_eq!(names(&v), Vec::<String>::new(), "anonymous, anonymous_pull off: {v}");
    assert_eq!(v["num_results"], json!(0), "{v}");
    assert_eq!(search_all(&s.anon(), "").await, Vec::<String>::new(), "anonymous, empty term");
    assert_eq!(search_all(&s.user("bob"), "web").await, strs(&["alice/pub-web"]), "bob still sees public ones");
    assert_eq!(set_of(&search_all(&alice, "web").await), want_alice(), "alice");
}

fn want_alice() -> BTreeSet<String> {
    ["alice/pub-web", "alice/priv-web"].iter().map(|s| s.to_string()).collect()
}
