//! The JSON API (/api/v1): users, personal access tokens, organizations, teams, members,
//! repository roles, robots; its error envelope.

use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;

/// Whether any string anywhere in `v` equals `s`.
fn mentions(v: &Value, s: &str) -> bool {
    match v {
        Value::String(x) => x == s,
        Value::Array(a) => a.iter().any(|x| mentions(x, s)),
        Value::Object(o) => o.values().any(|x| mentions(x, s)),
        _ => false,
    }
}

/// The first object anywhere in `v` for which `pred` holds.
fn find_obj<'a>(v: &'a Value, pred: &dyn Fn(&Value) -> bool) -> Option<&'a Value> {
    if v.is_object() && pred(v) {
        return Some(v);
    }
    match v {
        Value::Array(a) => a.iter().find_map(|x| find_obj(x, pred)),
        Value::Object(o) => o.values().find_map(|x| find_obj(x, pred)),
        _ => None,
    }
}

async fn post_user(c: &impl Http, body: Value) -> reqwest::Response {
    c.post("/api/v1/users").json(&body).send().await.unwrap()
}

fn user_body(name: &str, password: &str) -> Value {
    json!({"username": name, "password": password, "email": format!("{name}@example.com")})
}

async fn can_log_in(s: &Server, user: &str, pass: &str) -> bool {
    let r = s.basic(user, pass).get("/api/v1/user").send().await.unwrap();
    match r.status().as_u16() {
        200 => true,
        _ => {
            expect_error(r, 401, "UNAUTHORIZED").await;
            false
        }
    }
}

#[tokio::test]
async fn registration_is_closed_by_default_and_admins_always_may_add_users() {
    let s = auth_server(&[]);
    let admin = s.admin();
    expect_error(post_user(&s.anon(), user_body("alice", PW)).await, 403, "DENIED").await;

    let v = json_of(post_user(&admin, user_body("alice", PW)).await, 201).await;
    assert_eq!(v["username"], "alice", "{v}");
    assert_eq!(v["email"], "alice@example.com", "{v}");
    assert_eq!(v["admin"], false, "{v}");
    assert!(v.get("password").is_none() && !mentions(&v, PW), "the password is echoed: {v}");

    // A non-admin account may not add users while registration is closed.
    expect_error(post_user(&s.user("alice"), user_body("bob", PW)).await, 403, "DENIED").await;
    assert!(!can_log_in(&s, "bob", PW).await);

    let mut body = user_body("root2", PW);
    body["admin"] = json!(true);
    let v = json_of(post_user(&admin, body).await, 201).await;
    assert_eq!(v["admin"], true, "{v}");
    let me = json_of(s.user("root2").get("/api/v1/user").send().await.unwrap(), 200).await;
    assert_eq!(me["admin"], true, "{me}");
    // A server admin may do anything, e.g. push anywhere.
    push_image(&s.user("root2"), "alice/byadmin", "v1", 1).await;
}

#[tokio::test]
async fn open_registration_lets_anyone_create_a_plain_account() {
    let s = auth_server(&[("BERTH_REGISTRATION", "open")]);
    let v = json_of(post_user(&s.anon(), user_body("alice", PW)).await, 201).await;
    assert_eq!(v["admin"], false, "{v}");
    assert!(can_log_in(&s, "alice", PW).await);
    push_image(&s.user("alice"), "alice/app", "v1", 1).await;

    // Only admins may make admins.
    let mut body = user_body("mallory", PW);
    body["admin"] = json!(true);
    let r = post_user(&s.anon(), body.clone()).await;
    let st = r.status().as_u16();
    if st == 201 {
        assert_eq!(body_json(r).await["admin"], false, "an anonymous registration made an admin");
        let me = json_of(s.user("mallory").get("/api/v1/user").send().await.unwrap(), 200).await;
        assert_eq!(me["admin"], false);
    } else {
        assert!(st == 400 || st == 403, "anonymous admin registration: {st}");
        expect_error(r, st, if st == 400 { "INVALID" } else { "DENIED" }).await;
    }
    body["username"] = json!("mallory2");
    let r = post_user(&s.user("alice"), body).await;
    let st = r.status().as_u16();
    if st == 201 {
        assert_eq!(body_json(r).await["admin"], false, "a non-admin made an admin");
    } else {
        assert!(st == 400 || st == 403, "non-admin admin registration: {st}");
    }
}

const RESERVED: [&str; 23] = [
    "root", "library", "api", "auth", "v1", "v2", "berth", "registry", "official", "search", "static", "www", "help",
    "login", "logout", "signup", "settings", "users", "orgs", "robots", "teams", "token", "tokens",
];

#[tokio::test]
async fn names_and_passwords() {
    let s = auth_server(&[]);
    let admin = s.admin();
    let thirty = "a".repeat(30);
    for name in ["ab", thirty.as_str(), "user123", "9lives"] {
        json_of(post_user(&admin, user_body(name, PW)).await, 201).await;
    }
    let thirty_one = "b".repeat(31);
    for name in
        ["a", thirty_one.as_str(), "Alice", "al-ice", "al_ice", "al.ice", "al ice", "", "élan", "acme+ci", "al/ice"]
    {
        let r = post_user(&admin, user_body(name, PW)).await;
        expect_error(r, 400, "INVALID").await;
    }
    for name in RESERVED {
        expect_error(post_user(&admin, user_body(name, PW)).await, 400, "INVALID").await;
        let r = admin.post("/api/v1/orgs").json(&json!({ "name": name })).send().await.unwrap();
        expect_error(r, 400, "INVALID").await;
    }
    // `admin` is both reserved and taken.
    let r = post_user(&admin, user_body("admin", PW)).await;
    let st = r.status().as_u16();
    assert!(st == 400 || st == 409, "POST user admin: {st}");
    expect_error(r, st, if st == 400 { "INVALID" } else { "CONFLICT" }).await;

    // Passwords: at least 8 characters.
    expect_error(post_user(&admin, user_body("shorty", "1234567")).await, 400, "INVALID").await;
    json_of(post_user(&admin, user_body("eighty", "12345678")).await, 201).await;
    assert!(can_log_in(&s, "eighty", "12345678").await);
    expect_error(post_user(&admin, json!({"username": "nopass"})).await, 400, "INVALID").await;

    // Duplicates, and one namespace for users and organizations.
    expect_error(post_user(&admin, user_body("ab", PW)).await, 409, "CONFLICT").await;
    let r = admin.post("/api/v1/orgs").json(&json!({"name": "ab"})).send().await.unwrap();
    expect_error(r, 409, "CONFLICT").await;
    create_org(&admin, "corp").await;
    expect_error(post_user(&admin, user_body("corp", PW)).await, 409, "CONFLICT").await;
    let r = admin.post("/api/v1/orgs").json(&json!({"name": "corp"})).send().await.unwrap();
    expect_error(r, 409, "CONFLICT").await;
    let r = admin.post("/api/v1/orgs").json(&json!({"name": "Bad-Org"})).send().await.unwrap();
    expect_error(r, 400, "INVALID").await;
}

#[tokio::test]
async fn users_self_and_admin() {
    let s = auth_server(&[]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    create_user(&admin, "bob").await;
    let alice = s.user("alice");
    let bob = s.user("bob");

    expect_error(s.get("/api/v1/user").send().await.unwrap(), 401, "UNAUTHORIZED").await;
    expect_error(s.basic("alice", "wrong-password").get("/api/v1/user").send().await.unwrap(), 401, "UNAUTHORIZED")
        .await;
    let me = json_of(alice.get("/api/v1/user").send().await.unwrap(), 200).await;
    assert_eq!(
        (&me["username"], &me["email"], &me["admin"]),
        (&json!("alice"), &json!("alice@example.com"), &json!(false))
    );

    let own = json_of(alice.get("/api/v1/users/alice").send().await.unwrap(), 200).await;
    assert_eq!(own["email"], json!("alice@example.com"));
    let by_admin = json_of(admin.get("/api/v1/users/alice").send().await.unwrap(), 200).await;
    assert_eq!(by_admin["email"], json!("alice@example.com"));
    // Another user sees the public profile only (docs/index.md, "Users and organizations").
    let by_bob = json_of(bob.get("/api/v1/users/alice").send().await.unwrap(), 200).await;
    assert_eq!(by_bob["username"], json!("alice"));
    assert!(by_bob.get("email").is_none() && by_bob.get("admin").is_none(), "{by_bob}");
    expect_error(admin.get("/api/v1/users/nobody").send().await.unwrap(), 404, "NOT_FOUND").await;

    // A bearer access token authenticates the API too.
    let (t, _) = token_for(&alice, &[]).await;
    let me = json_of(s.bearer(&t).get("/api/v1/user").send().await.unwrap(), 200).await;
    assert_eq!(me["username"], "alice");

    let patch = |c: &Caller<'_>, user: &str, body: Value| c.patch(&format!("/api/v1/users/{user}")).json(&body).send();
    expect_success(patch(&alice, "alice", json!({"email": "new@example.com"})).await.unwrap()).await;
    let me = json_of(alice.get("/api/v1/user").send().await.unwrap(), 200).await;
    assert_eq!(me["email"], "new@example.com");
    expect_error(patch(&bob, "alice", json!({"email": "evil@example.com"})).await.unwrap(), 403, "DENIED").await;
    expect_error(patch(&alice, "alice", json!({"password": "short"})).await.unwrap(), 400, "INVALID").await;
    expect_error(patch(&alice, "alice", json!({"default_visibility": "secret"})).await.unwrap(), 400, "INVALID").await;
    expect_success(patch(&alice, "alice", json!({"password": "alice-new-password"})).await.unwrap()).await;
    assert!(!can_log_in(&s, "alice", PW).await);
    assert!(can_log_in(&s, "alice", "alice-new-password").await);
    expect_success(patch(&admin, "alice", json!({"password": PW})).await.unwrap()).await;
    assert!(can_log_in(&s, "alice", PW).await);

    expect_error(alice.delete("/api/v1/users/bob").send().await.unwrap(), 403, "DENIED").await;
    expect_success(admin.delete("/api/v1/users/bob").send().await.unwrap()).await;
    assert!(!can_log_in(&s, "bob", PW).await);
    expect_error(admin.delete("/api/v1/users/bob").send().await.unwrap(), 404, "NOT_FOUND").await;
}

fn token_list(v: &Value) -> Vec<Value> {
    // The contract says "list": a JSON array (also accepted inside {"tokens": [...]}).
    v.as_array().or_else(|| v["tokens"].as_array()).unwrap_or_else(|| panic!("token list is not a list: {v}")).clone()
}

#[tokio::test]
async fn personal_access_tokens() {
    let s = auth_server(&[]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    create_user(&admin, "bob").await;
    let alice = s.user("alice");
    push_image(&alice, "alice/app", "v1", 1).await;

    let r =
        alice.post("/api/v1/users/alice/tokens").json(&json!({"name": "ci", "scope": "read"})).send().await.unwrap();
    let v = json_of(r, 201).await;
    for k in ["id", "name", "scope", "expires_at", "created_at", "token"] {
        assert!(v.get(k).is_some(), "no `{k}` in {v}");
    }
    assert_eq!((&v["name"], &v["scope"]), (&json!("ci"), &json!("read")), "{v}");
    assert!(v["expires_at"].is_null(), "no expiry asked: {v}");
    assert!(v["created_at"].as_str().and_then(parse_rfc3339).is_some(), "created_at: {v}");
    let secret = v["token"].as_str().unwrap().to_string();
    let id = match &v["id"] {
        Value::String(x) => x.clone(),
        other => other.to_string(),
    };

    let list = json_of(alice.get("/api/v1/users/alice/tokens").send().await.unwrap(), 200).await;
    let items = token_list(&list);
    assert_eq!(items.len(), 1, "{list}");
    assert!(items[0].get("token").is_none() && !mentions(&list, &secret), "the list shows the secret: {list}");
    assert_eq!(items[0]["name"], "ci");
    assert_eq!(items[0]["scope"], "read");

    // Used as a password: /v2 (narrowed to pull), /auth/token, the API.
    let pat = s.basic("alice", &secret);
    expect_status(pat.get("/v2/").send().await.unwrap(), 200).await;
    expect_status(pat.get("/v2/alice/app/manifests/v1").send().await.unwrap(), 200).await;
    let r = pat.post("/v2/alice/app/blobs/uploads/").send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    let (t, _) = token_for(&pat, &["repository:alice/app:pull,push"]).await;
    assert_eq!(decode_jwt(&t).claims["sub"], "alice");
    assert_eq!(access_of(&decode_jwt(&t).claims), access(&[("repository", "alice/app", &["pull"])]));
    assert_eq!(json_of(pat.get("/api/v1/user").send().await.unwrap(), 200).await["username"], "alice");

    // Only the user or an admin.
    let bob = s.user("bob");
    let r = bob.post("/api/v1/users/alice/tokens").json(&json!({"name": "x", "scope": "read"})).send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    expect_error(bob.get("/api/v1/users/alice/tokens").send().await.unwrap(), 403, "DENIED").await;
    expect_error(bob.delete(&format!("/api/v1/users/alice/tokens/{id}")).send().await.unwrap(), 403, "DENIED").await;
    let (_, by_admin) = create_pat(&admin, "alice", "from-admin", "read-write", None).await;
    let r = s.basic("alice", &by_admin).post("/v2/alice/app/blobs/uploads/").send().await.unwrap();
    expect_status(r, 202).await;

    // Bad input.
    for body in [
        json!({"name": "x", "scope": "write"}),
        json!({"scope": "read"}),
        json!({"name": "x", "scope": "read", "expires_at": "tomorrow"}),
    ] {
        let r = alice.post("/api/v1/users/alice/tokens").json(&body).send().await.unwrap();
        expect_error(r, 400, "INVALID").await;
    }

    // Revoked: stops working.
    let r = alice.delete(&format!("/api/v1/users/alice/tokens/{id}")).send().await.unwrap();
    expect_status(r, 204).await;
    let r = pat.get("/v2/").send().await.unwrap();
    expect_bad_credentials(r, &s, Want::NoScope).await;
    expect_error(token_request(&pat, &[("service", "berth")]).await, 401, "UNAUTHORIZED").await;
    let list = json_of(alice.get("/api/v1/users/alice/tokens").send().await.unwrap(), 200).await;
    assert!(token_list(&list).iter().all(|t| t["name"] != "ci"), "a deleted token is still listed: {list}");
    expect_error(alice.delete(&format!("/api/v1/users/alice/tokens/{id}")).send().await.unwrap(), 404, "NOT_FOUND")
        .await;

    // Expiry.
    let expires = rfc3339_in(2);
    let (_, short) = create_pat(&alice, "alice", "short", "delete", Some(&expires)).await;
    let list = json_of(alice.get("/api/v1/users/alice/tokens").send().await.unwrap(), 200).await;
    let item = token_list(&list).into_iter().find(|t| t["name"] == "short").unwrap();
    assert_eq!(item["expires_at"].as_str().and_then(parse_rfc3339), parse_rfc3339(&expires), "{item}");
    let c = s.basic("alice", &short);
    expect_status(c.get("/v2/").send().await.unwrap(), 200).await;
    sleep_past(parse_rfc3339(&expires).unwrap()).await;
    expect_bad_credentials(c.get("/v2/").send().await.unwrap(), &s, Want::NoScope).await;
}

#[tokio::test]
async fn organizations_teams_members_and_repository_roles() {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["olivia", "adam", "wendy", "bob", "alice"] {
        create_user(&admin, u).await;
    }
    let olivia = s.user("olivia");
    let adam = s.user("adam");
    let wendy = s.user("wendy");
    let r = s.post("/api/v1/orgs").json(&json!({"name": "acme"})).send().await.unwrap();
    expect_error(r, 401, "UNAUTHORIZED").await;
    create_org(&olivia, "acme").await;
    let r = olivia.post("/api/v1/orgs").json(&json!({"name": "acme"})).send().await.unwrap();
    expect_error(r, 409, "CONFLICT").await;
    let r = olivia.post("/api/v1/orgs").json(&json!({"name": "alice"})).send().await.unwrap();
    expect_error(r, 409, "CONFLICT").await;

    // The creator is an owner, through a team `owners` of role owner. Any authenticated user may
    // GET the organization (docs/index.md); its teams show only to members.
    let org = json_of(olivia.get("/api/v1/orgs/acme").send().await.unwrap(), 200).await;
    assert_eq!(org["name"], "acme", "{org}");
    assert!(!org["teams"].as_array().unwrap().is_empty(), "{org}");
    let org = json_of(s.user("bob").get("/api/v1/orgs/acme").send().await.unwrap(), 200).await;
    assert_eq!((&org["name"], &org["teams"]), (&json!("acme"), &json!([])), "a non-member sees no teams: {org}");
    let teams = json_of(olivia.get("/api/v1/orgs/acme/teams").send().await.unwrap(), 200).await;
    assert!(find_obj(&teams, &|t| t["name"] == "owners" && t["role"] == "owner").is_some(), "no owners team: {teams}");
    let members = json_of(olivia.get("/api/v1/orgs/acme/teams/owners/members").send().await.unwrap(), 200).await;
    assert!(mentions(&members, "olivia"), "owners members: {members}");

    create_team(&olivia, "acme", "admins", "admin").await;
    add_member(&olivia, "acme", "admins", "adam").await;
    json_of(adam.get("/api/v1/orgs/acme").send().await.unwrap(), 200).await;
    // An org admin manages teams, but not owner teams.
    let v = create_team(&adam, "acme", "devs", "write").await;
    assert_eq!((&v["name"], &v["role"]), (&json!("devs"), &json!("write")), "{v}");
    add_member(&adam, "acme", "devs", "wendy").await;
    let r =
        adam.post("/api/v1/orgs/acme/teams").json(&json!({"name": "bosses", "role": "owner"})).send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    let r = adam.patch("/api/v1/orgs/acme/teams/owners").json(&json!({"role": "admin"})).send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    let r = adam.put("/api/v1/orgs/acme/teams/owners/members/adam").send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    create_team(&olivia, "acme", "bosses", "owner").await;
    // A write member does not manage teams; bad input.
    let r = wendy.post("/api/v1/orgs/acme/teams").json(&json!({"name": "mine", "role": "read"})).send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    let r = adam.post("/api/v1/orgs/acme/teams").json(&json!({"name": "x", "role": "superuser"})).send().await.unwrap();
    expect_error(r, 400, "INVALID").await;
    let r = adam.post("/api/v1/orgs/acme/teams").json(&json!({"name": "devs", "role": "read"})).send().await.unwrap();
    expect_error(r, 409, "CONFLICT").await;
    let r = adam.put("/api/v1/orgs/acme/teams/devs/members/nobody").send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;

    let t = json_of(adam.get("/api/v1/orgs/acme/teams/devs").send().await.unwrap(), 200).await;
    assert_eq!((&t["name"], &t["role"]), (&json!("devs"), &json!("write")), "{t}");
    let m = json_of(adam.get("/api/v1/orgs/acme/teams/devs/members").send().await.unwrap(), 200).await;
    assert!(mentions(&m, "wendy"), "{m}");

    // The roles take effect on /v2.
    push_image(&olivia, "acme/priv", "v1", 1).await;
    let img = push_image(&wendy, "acme/app", "v1", 2).await;
    let r = put_manifest(&wendy, "acme/priv", "w", OCI_MANIFEST, &img.manifest).await;
    expect_error(r, 400, "MANIFEST_BLOB_UNKNOWN").await; // allowed to push: the blobs are elsewhere
    expect_success(adam.patch("/api/v1/orgs/acme/teams/devs").json(&json!({"role": "read"})).send().await.unwrap())
        .await;
    let r = wendy.post("/v2/acme/priv/blobs/uploads/").send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    expect_status(wendy.get("/v2/acme/priv/tags/list").send().await.unwrap(), 200).await;

    // A role on one repository; it must be in the organization's namespace, need not exist.
    set_repo_role(&adam, "acme", "devs", "acme/app", "write").await;
    expect_status(wendy.post("/v2/acme/app/blobs/uploads/").send().await.unwrap(), 202).await;
    expect_error(wendy.post("/v2/acme/priv/blobs/uploads/").send().await.unwrap(), 403, "DENIED").await;
    set_repo_role(&adam, "acme", "devs", "acme/future", "admin").await;
    push_image(&wendy, "acme/future", "v1", 3).await;
    let r = adam
        .put("/api/v1/orgs/acme/teams/devs/repositories/alice/thing")
        .json(&json!({"role": "read"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "INVALID").await;
    let r = adam.delete("/api/v1/orgs/acme/teams/devs/repositories/acme/app").send().await.unwrap();
    expect_status(r, 204).await;
    expect_error(wendy.post("/v2/acme/app/blobs/uploads/").send().await.unwrap(), 403, "DENIED").await;

    // The organization: PATCH by an org admin, not by a read member.
    let r = wendy.patch("/api/v1/orgs/acme").json(&json!({"default_visibility": "public"})).send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    let r = adam.patch("/api/v1/orgs/acme").json(&json!({"default_visibility": "public"})).send().await.unwrap();
    expect_success(r).await;

    // Members leave.
    let r = adam.delete("/api/v1/orgs/acme/teams/devs/members/wendy").send().await.unwrap();
    expect_status(r, 204).await;
    expect_error(wendy.get("/v2/acme/priv/tags/list").send().await.unwrap(), 404, "NAME_UNKNOWN").await;
    let m = json_of(adam.get("/api/v1/orgs/acme/teams/devs/members").send().await.unwrap(), 200).await;
    assert!(!mentions(&m, "wendy"), "{m}");
    expect_success(adam.delete("/api/v1/orgs/acme/teams/devs").send().await.unwrap()).await;
    expect_error(adam.get("/api/v1/orgs/acme/teams/devs").send().await.unwrap(), 404, "NOT_FOUND").await;

    // DELETE by an owner only (a non-member may get a 404 that hides the organization).
    expect_error(adam.delete("/api/v1/orgs/acme").send().await.unwrap(), 403, "DENIED").await;
    let r = s.user("bob").delete("/api/v1/orgs/acme").send().await.unwrap();
    let st = r.status().as_u16();
    assert!(st == 403 || st == 404, "a non-member DELETE the organization: {st}");
    expect_error(r, st, if st == 403 { "DENIED" } else { "NOT_FOUND" }).await;
    expect_success(olivia.delete("/api/v1/orgs/acme").send().await.unwrap()).await;
    expect_error(olivia.get("/api/v1/orgs/acme").send().await.unwrap(), 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn robots() {
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
    let img = push_image(&olivia, "acme/priv", "v1", 1).await;

    let r = olivia.post("/api/v1/orgs/acme/robots").json(&json!({"name": "ci"})).send().await.unwrap();
    let v = json_of(r, 201).await;
    assert_eq!(v["name"], "acme+ci", "{v}");
    let token = v["token"].as_str().unwrap_or_else(|| panic!("{v}")).to_string();
    let list = json_of(olivia.get("/api/v1/orgs/acme/robots").send().await.unwrap(), 200).await;
    assert!(mentions(&list, "acme+ci"), "{list}");
    assert!(!mentions(&list, &token), "the robot list shows its token: {list}");

    let robot = s.basic("acme+ci", &token);
    // No team yet: valid credentials, no rights.
    expect_status(robot.get("/v2/").send().await.unwrap(), 200).await;
    expect_error(robot.get("/v2/acme/priv/manifests/v1").send().await.unwrap(), 404, "NAME_UNKNOWN").await;
    expect_error(robot.post("/v2/acme/priv/blobs/uploads/").send().await.unwrap(), 403, "DENIED").await;
    add_member(&olivia, "acme", "writers", "acme+ci").await;
    push_manifest(&robot, "acme/priv", "from-ci", OCI_MANIFEST, &img.manifest).await;
    let (t, _) = token_for(&robot, &["repository:acme/priv:pull,push,delete"]).await;
    let c = decode_jwt(&t).claims;
    assert_eq!(c["sub"], "acme+ci");
    assert_eq!(access_of(&c), access(&[("repository", "acme/priv", &["pull", "push"])]));
    let r = token_post(
        &s,
        &[
            ("grant_type", "password"),
            ("username", "acme+ci"),
            ("password", &token),
            ("service", "berth"),
            ("scope", "repository:acme/priv:pull"),
            ("client_id", "ci"),
        ],
    )
    .await;
    json_of(r, 200).await;
    let r = s.basic("acme+ci", "not-the-token").get("/v2/").send().await.unwrap();
    expect_bad_credentials(r, &s, Want::NoScope).await;

    // Who may manage robots; names.
    let r = s.user("wendy").post("/api/v1/orgs/acme/robots").json(&json!({"name": "mine"})).send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    create_robot(&s.user("adam"), "acme", "deploy").await;
    let r = olivia.post("/api/v1/orgs/acme/robots").json(&json!({"name": "CI!"})).send().await.unwrap();
    expect_error(r, 400, "INVALID").await;
    let r = olivia.post("/api/v1/orgs/acme/robots").json(&json!({"name": "ci"})).send().await.unwrap();
    expect_error(r, 409, "CONFLICT").await;

    let r = olivia.delete("/api/v1/orgs/acme/robots/acme+ci").send().await.unwrap();
    expect_success(r).await;
    let r = robot.get("/v2/").send().await.unwrap();
    expect_bad_credentials(r, &s, Want::NoScope).await;
    let list = json_of(olivia.get("/api/v1/orgs/acme/robots").send().await.unwrap(), 200).await;
    assert!(!mentions(&list, "acme+ci") && mentions(&list, "acme+deploy"), "{list}");
}
