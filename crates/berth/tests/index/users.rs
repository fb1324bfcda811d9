//! `GET /api/v1/users`, `GET /api/v1/users/<name>` and `GET /api/v1/orgs` for any
//! authenticated caller; another user's entry hides `email`, `admin` and `default_visibility`.

use serde_json::{json, Value};

use crate::common::*;
use crate::harness::*;
use crate::util::*;

const PRIVATE_FIELDS: [&str; 3] = ["email", "admin", "default_visibility"];

fn entry<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .find(|u| u[key] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
}

fn check_public_entry(u: &Value, ctx: &str) {
    assert!(u["username"].is_string(), "{ctx}: username: {u}");
    assert!(u["kind"].is_string(), "{ctx}: kind: {u}");
    time_of(&u["created_at"], &format!("{ctx} created_at"));
}

fn check_hidden(u: &Value, ctx: &str) {
    check_public_entry(u, ctx);
    for f in PRIVATE_FIELDS {
        assert!(u.get(f).is_none(), "{ctx}: `{f}` shown to another user: {u}");
    }
}

fn check_shown(u: &Value, name: &str, ctx: &str) {
    check_public_entry(u, ctx);
    assert_eq!(u["email"], json!(format!("{name}@example.com")), "{ctx}: {u}");
    assert_eq!(u["admin"], json!(false), "{ctx}: {u}");
    assert!(u["default_visibility"].is_string() || u["default_visibility"].is_null(), "{ctx}: {u}");
    assert!(u.get("default_visibility").is_some(), "{ctx}: default_visibility missing: {u}");
}

#[tokio::test]
async fn users_and_orgs_are_listed_to_any_authenticated_caller() {
    let s = auth_server(&[]);
    let admin = s.admin();
    create_user(&admin, "alice").await;
    create_user(&admin, "bob").await;
    let (alice, bob) = (s.user("alice"), s.user("bob"));
    create_org(&alice, "acme").await;
    let (_, bob_pat) = create_pat(&bob, "bob", "ro", "read", None).await;
    let (bob_bearer, _) = token_for(&bob, &[]).await;

    for path in ["/api/v1/users", "/api/v1/users/alice", "/api/v1/orgs"] {
        let r = s.anon().get(path).send().await.unwrap();
        expect_error(r, 401, "UNAUTHORIZED").await;
    }
    // Bad credentials (once: failed logins are throttled).
    let r = s.basic("bob", "wrong-password-1").get("/api/v1/users").send().await.unwrap();
    expect_error(r, 401, "UNAUTHORIZED").await;

    for c in [bob.clone(), s.basic("bob", &bob_pat), s.bearer(&bob_bearer)] {
        let ctx = format!("bob ({})", c.label);
        let v = json_of(c.get("/api/v1/users").send().await.unwrap(), 200).await;
        let users = &v["users"];
        check_hidden(entry(users, "username", "alice"), &format!("{ctx}: alice in the list"));
        check_shown(entry(users, "username", "bob"), "bob", &format!("{ctx}: bob in the list"));
        check_hidden(entry(users, "username", "admin"), &format!("{ctx}: admin in the list"));

        let v = json_of(c.get("/api/v1/users/alice").send().await.unwrap(), 200).await;
        assert_eq!(v["username"], "alice", "{ctx}: {v}");
        check_hidden(&v, &format!("{ctx}: GET alice"));
        let v = json_of(c.get("/api/v1/users/bob").send().await.unwrap(), 200).await;
        check_shown(&v, "bob", &format!("{ctx}: GET bob"));

        let v = json_of(c.get("/api/v1/orgs").send().await.unwrap(), 200).await;
        let o = entry(&v["orgs"], "name", "acme");
        time_of(&o["created_at"], &format!("{ctx}: acme created_at"));
        assert!(o["default_visibility"].is_string() || o["default_visibility"].is_null(), "{ctx}: {o}");
        assert!(o.get("default_visibility").is_some(), "{ctx}: default_visibility missing: {o}");
    }

    // The user itself and admins see everything.
    let v = json_of(alice.get("/api/v1/users/alice").send().await.unwrap(), 200).await;
    check_shown(&v, "alice", "alice: GET alice");
    let v = json_of(admin.get("/api/v1/users").send().await.unwrap(), 200).await;
    check_shown(entry(&v["users"], "username", "alice"), "alice", "admin: alice in the list");
    check_shown(entry(&v["users"], "username", "bob"), "bob", "admin: bob in the list");
    assert_eq!(entry(&v["users"], "username", "admin")["admin"], json!(true), "admin: admin in the list: {v}");
    let v = json_of(admin.get("/api/v1/users/bob").send().await.unwrap(), 200).await;
    check_shown(&v, "bob", "admin: GET bob");

    let r = bob.get("/api/v1/users/nobody").send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
    let v = json_of(admin.get("/api/v1/orgs").send().await.unwrap(), 200).await;
    assert_eq!(entry(&v["orgs"], "name", "acme")["name"], "acme");
}
