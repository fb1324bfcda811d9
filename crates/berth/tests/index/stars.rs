//! Stars: `PUT`/`DELETE /api/v1/repositories/<name>/star`, `star_count` and `starred`, and
//! `GET /api/v1/users/<user>/starred`.

use serde_json::{json, Value};

use crate::common::*;
use crate::harness::*;
use crate::util::*;

async fn star_status(c: &impl Http, method: &str, repo: &str) -> reqwest::Response {
    let path = format!("/api/v1/repositories/{repo}/star");
    match method {
        "PUT" => c.put(&path).send().await.unwrap(),
        _ => c.delete(&path).send().await.unwrap(),
    }
}

async fn stars_of(c: &impl Http, repo: &str) -> (Value, Value) {
    let v = get_repo(c, repo).await;
    (v["star_count"].clone(), v["starred"].clone())
}

async fn starred(c: &impl Http, user: &str) -> Value {
    let r = c.get(&format!("/api/v1/users/{user}/starred")).send().await.unwrap();
    let v = json_of(r, 200).await;
    let list = v["repositories"].as_array().unwrap_or_else(|| panic!("starred of {user}: no repositories: {v}"));
    for e in list {
        check_repo_shape(e, false, &format!("starred of {user}"));
    }
    v
}

#[tokio::test]
async fn starring_is_idempotent_counted_and_needs_a_user_who_may_read() {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["alice", "bob", "carol"] {
        create_user(&admin, u).await;
    }
    let alice = s.user("alice");
    let (bob, carol) = (s.user("bob"), s.user("carol"));
    push_small(&alice, "alice/pub", "v1", 1).await;
    set_visibility(&alice, "alice/pub", "public").await;
    push_small(&alice, "alice/priv", "v1", 2).await;
    create_org(&alice, "acme").await;
    create_team(&alice, "acme", "bots", "read").await;
    let robot = create_robot(&alice, "acme", "ci").await;
    add_member(&alice, "acme", "bots", "acme+ci").await;
    push_small(&alice, "acme/pub", "v1", 3).await;
    set_visibility(&alice, "acme/pub", "public").await;

    assert_eq!(stars_of(&bob, "alice/pub").await, (json!(0), json!(false)));
    for _ in 0..2 {
        expect_status(star_status(&bob, "PUT", "alice/pub").await, 204).await;
    }
    assert_eq!(stars_of(&bob, "alice/pub").await, (json!(1), json!(true)), "bob, after two PUTs");
    assert_eq!(stars_of(&carol, "alice/pub").await, (json!(1), json!(false)), "carol");
    assert_eq!(stars_of(&s.anon(), "alice/pub").await, (json!(1), json!(false)), "anonymous");
    star(&carol, "alice/pub").await;
    assert_eq!(stars_of(&carol, "alice/pub").await, (json!(2), json!(true)), "carol, after her star");
    for _ in 0..2 {
        expect_status(star_status(&bob, "DELETE", "alice/pub").await, 204).await;
    }
    assert_eq!(stars_of(&bob, "alice/pub").await, (json!(1), json!(false)), "bob, after two DELETEs");
    assert_eq!(stars_of(&carol, "alice/pub").await, (json!(1), json!(true)), "carol keeps hers");
    // Removing a star never given is fine too.
    expect_status(star_status(&s.user("bob"), "DELETE", "acme/pub").await, 204).await;
    assert_eq!(stars_of(&bob, "acme/pub").await, (json!(0), json!(false)));

    // The owner of a private repository may star it; nobody else sees it.
    star(&alice, "alice/priv").await;
    assert_eq!(stars_of(&alice, "alice/priv").await, (json!(1), json!(true)));
    for m in ["PUT", "DELETE"] {
        let r = star_status(&bob, m, "alice/priv").await;
        expect_error(r, 404, "NOT_FOUND").await;
        let r = star_status(&bob, m, "alice/nope").await;
        expect_error(r, 404, "NOT_FOUND").await;
        let r = star_status(&s.anon(), m, "alice/pub").await;
        expect_error(r, 401, "UNAUTHORIZED").await;
        let r = star_status(&s.basic("acme+ci", &robot), m, "acme/pub").await;
        expect_error(r, 403, "DENIED").await;
    }
    assert_eq!(stars_of(&alice, "alice/priv").await, (json!(1), json!(true)), "a refused DELETE removed a star");
    assert_eq!(stars_of(&alice, "acme/pub").await, (json!(0), json!(false)), "a robot's star counted");

    // A star is per user, however the user authenticates.
    let (bearer, _) = token_for(&bob, &[]).await;
    expect_status(star_status(&s.bearer(&bearer), "PUT", "alice/pub").await, 204).await;
    assert_eq!(stars_of(&bob, "alice/pub").await, (json!(2), json!(true)), "bob via a bearer token");
}

#[tokio::test]
async fn the_starred_list_is_most_recent_first_and_shows_only_what_the_caller_may_read() {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["alice", "bob", "carol"] {
        create_user(&admin, u).await;
    }
    let (alice, bob, carol) = (s.user("alice"), s.user("bob"), s.user("carol"));
    for (c, repo, seed) in
        [(&alice, "alice/x1", 1), (&bob, "bob/pub", 2), (&alice, "alice/x3", 3), (&carol, "carol/z", 4)]
    {
        push_small(c, repo, "v1", seed).await;
        set_visibility(c, repo, "public").await;
    }
    push_small(&alice, "alice/mine", "v1", 5).await;

    assert_eq!(repo_names(&starred(&alice, "alice").await), Vec::<String>::new(), "nothing starred yet");
    star(&alice, "alice/x1").await;
    star(&alice, "bob/pub").await;
    star(&alice, "alice/x3").await;
    star(&bob, "carol/z").await;
    let v = starred(&alice, "alice").await;
    assert_eq!(repo_names(&v), strs(&["alice/x3", "bob/pub", "alice/x1"]), "most recently starred first: {v}");
    assert!(v["repositories"].as_array().unwrap().iter().all(|e| e["starred"] == true), "alice's own list: {v}");
    // Starred again after an unstar: first.
    unstar(&alice, "alice/x1").await;
    star(&alice, "alice/x1").await;
    star(&alice, "alice/mine").await;
    let v = starred(&alice, "alice").await;
    assert_eq!(repo_names(&v), strs(&["alice/mine", "alice/x1", "alice/x3", "bob/pub"]), "{v}");

    // Others see the public ones (starred: whether they themselves did).
    let v = starred(&bob, "alice").await;
    assert_eq!(repo_names(&v), strs(&["alice/x1", "alice/x3", "bob/pub"]), "bob may not read alice/mine: {v}");
    assert!(v["repositories"].as_array().unwrap().iter().all(|e| e["starred"] == false), "bob starred none: {v}");
    let v = starred(&carol, "bob").await;
    assert_eq!(repo_names(&v), strs(&["carol/z"]), "{v}");
    assert_eq!(v["repositories"][0]["starred"], json!(false), "carol did not star her own: {v}");
    assert_eq!(v["repositories"][0]["star_count"], json!(1), "{v}");

    // bob makes his repository private: alice's list no longer shows it to alice or carol,
    // but to bob and the admin.
    set_visibility(&bob, "bob/pub", "private").await;
    let want_mine = strs(&["alice/mine", "alice/x1", "alice/x3"]);
    assert_eq!(repo_names(&starred(&alice, "alice").await), want_mine, "alice may no longer read bob/pub");
    assert_eq!(repo_names(&starred(&carol, "alice").await), strs(&["alice/x1", "alice/x3"]), "carol");
    assert_eq!(repo_names(&starred(&bob, "alice").await), strs(&["alice/x1", "alice/x3", "bob/pub"]), "bob");
    assert_eq!(
        repo_names(&starred(&admin, "alice").await),
        strs(&["alice/mine", "alice/x1", "alice/x3", "bob/pub"]),
        "admin"
    );
    // The star itself is still counted (bob sees 1 on his repository).
    assert_eq!(get_repo(&bob, "bob/pub").await["star_count"], json!(1));
}
