//! Every operation of the document, called for real (successes and refusals), each answer checked
//! against the document; then every documented operation must have been exercised.

use std::time::Duration;

use serde_json::{json, Value};

use crate::client::*;
use crate::common::*;
use crate::contract::Contract;
use crate::fixtures::*;
use crate::harness::*;

/// A server in the default mode whose failed webhook deliveries wait an hour (so they are seen
/// pending), and the document it serves.
pub async fn server_and_document() -> (Server, Contract) {
    let s = Server::builder().auth().env("BERTH_WEBHOOK_BACKOFF", "1h").env("BERTH_WEBHOOK_TIMEOUT", "5s").start();
    let r = s.get("/api/v1/openapi.json").send().await.unwrap();
    assert_eq!(r.status(), 200, "GET /api/v1/openapi.json");
    let ct = header(&r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "openapi.json Content-Type {ct:?}");
    let doc: Value = r.json().await.expect("the OpenAPI document is JSON");
    (s, Contract::new(doc))
}

/// Credentials nobody has (each name used once, so no account is locked out by them).
fn bad(s: &Server, n: u32) -> Caller<'_> {
    s.basic(&format!("ghost{n}"), "not-the-password")
}

fn users(who: &str) -> String {
    format!("/api/v1/users/{who}")
}

#[tokio::test]
async fn every_answer_matches_the_document() {
    let (s, contract) = server_and_document().await;
    let api = Api { s: &s, contract: &contract };
    let admin = s.admin();
    let anon = s.anon();
    let alice = s.user("alice");
    let bob = s.user("bob");
    let dave = s.user("dave");

    // The document itself, through the checker too.
    api.get(&anon, "/api/v1/openapi.json", 200).await;

    // ---- users ----
    for u in ["alice", "bob", "carol", "victim"] {
        let body = json!({"username": u, "password": PW, "email": format!("{u}@example.com")});
        api.call(&admin, "POST", "/api/v1/users", Some(body), 201).await;
    }
    api.call(&admin, "POST", "/api/v1/users", Some(json!({"username": "dave", "password": PW})), 201).await;
    let eve = json!({"username": "eve", "password": PW});
    api.call(&anon, "POST", "/api/v1/users", Some(eve.clone()), 403).await;
    api.call(&bad(&s, 1), "POST", "/api/v1/users", Some(eve.clone()), 401).await;
    api.call(&admin, "POST", "/api/v1/users", Some(json!({"username": "alice", "password": PW})), 409).await;
    api.call(&admin, "POST", "/api/v1/users", Some(json!({"username": "No!", "password": PW})), 400).await;
    api.call(&admin, "POST", "/api/v1/users", Some(json!({"username": "shorty", "password": "short"})), 400).await;
    api.call_raw(&admin, "POST", "/api/v1/users", b"{not json", 400).await;

    api.get(&alice, "/api/v1/users", 200).await;
    api.get(&admin, "/api/v1/users", 200).await;
    api.get(&anon, "/api/v1/users", 401).await;
    api.get(&alice, "/api/v1/user", 200).await;
    api.get(&anon, "/api/v1/user", 401).await;
    let (bearer, _) = token_for(&alice, &[]).await;
    api.get(&s.bearer(&bearer), "/api/v1/user", 200).await;
    api.get(&s.bearer("not-a-token"), "/api/v1/user", 401).await;
    api.get(&alice, &users("alice"), 200).await;
    api.get(&bob, &users("alice"), 200).await;
    api.get(&admin, &users("dave"), 200).await;
    api.get(&alice, &users("nobody"), 404).await;
    api.get(&anon, &users("alice"), 401).await;

    let patch = json!({"email": "alice@example.org", "default_visibility": "private"});
    api.call(&alice, "PATCH", &users("alice"), Some(patch), 200).await;
    api.call(&admin, "PATCH", &users("bob"), Some(json!({"password": "another-password-1"})), 200).await;
    api.call(&admin, "PATCH", &users("bob"), Some(json!({"password": PW})), 200).await;
    api.call(&bob, "PATCH", &users("alice"), Some(json!({"email": "x@example.com"})), 403).await;
    api.call(&alice, "PATCH", &users("alice"), Some(json!({"default_visibility": "secret"})), 400).await;
    api.call(&admin, "PATCH", &users("nobody"), Some(json!({"email": "x@example.com"})), 404).await;
    api.call(&anon, "PATCH", &users("alice"), Some(json!({"email": "x@example.com"})), 401).await;

    api.call(&alice, "DELETE", &users("carol"), None, 403).await;
    api.call(&admin, "DELETE", &users("carol"), None, 204).await;
    api.call(&admin, "DELETE", &users("carol"), None, 404).await;
    api.call(&anon, "DELETE", &users("carol"), None, 401).await;

    api.call(&bob, "POST", "/api/v1/users/bob/revoke-tokens", None, 204).await;
    api.call(&alice, "POST", "/api/v1/users/bob/revoke-tokens", None, 403).await;
    api.call(&admin, "POST", "/api/v1/users/nobody/revoke-tokens", None, 404).await;
    api.call(&anon, "POST", "/api/v1/users/bob/revoke-tokens", None, 401).await;

    // ---- personal access tokens ----
    let tokens = "/api/v1/users/alice/tokens";
    let ci = json!({"name": "ci", "scope": "read-write", "expires_at": rfc3339_in(86_400)});
    let ci = api.call(&alice, "POST", tokens, Some(ci), 201).await;
    let forever = api.call(&alice, "POST", tokens, Some(json!({"name": "forever", "scope": "read"})), 201).await;
    api.call(&alice, "POST", tokens, Some(json!({"name": "x", "scope": "admin"})), 400).await;
    api.call(&alice, "POST", tokens, Some(json!({"name": "x", "scope": "read", "expires_at": "soon"})), 400).await;
    api.call(&bob, "POST", tokens, Some(json!({"name": "x", "scope": "read"})), 403).await;
    api.call(&admin, "POST", "/api/v1/users/nobody/tokens", Some(json!({"name": "x", "scope": "read"})), 404).await;
    api.call(&anon, "POST", tokens, Some(json!({"name": "x", "scope": "read"})), 401).await;
    // Used once, so it has a `last_used_at`.
    api.get(&s.basic("alice", ci["token"].as_str().unwrap()), "/api/v1/user", 200).await;
    api.get(&alice, tokens, 200).await;
    api.get(&bob, tokens, 403).await;
    api.get(&admin, "/api/v1/users/nobody/tokens", 404).await;
    api.get(&anon, tokens, 401).await;
    let forever = format!("{tokens}/{}", id_of(&forever));
    api.call(&bob, "DELETE", &forever, None, 403).await;
    api.call(&anon, "DELETE", &forever, None, 401).await;
    api.call(&alice, "DELETE", &forever, None, 204).await;
    api.call(&alice, "DELETE", &forever, None, 404).await;
    api.call(&alice, "DELETE", &format!("{tokens}/abc"), None, 404).await;

    // ---- organizations ----
    api.call(&alice, "POST", "/api/v1/orgs", Some(json!({"name": "acme"})), 201).await;
    api.call(&alice, "POST", "/api/v1/orgs", Some(json!({"name": "tmporg", "default_visibility": "public"})), 201)
        .await;
    api.call(&alice, "POST", "/api/v1/orgs", Some(json!({"name": "acme"})), 409).await;
    api.call(&alice, "POST", "/api/v1/orgs", Some(json!({"name": "X!"})), 400).await;
    api.call(&anon, "POST", "/api/v1/orgs", Some(json!({"name": "nobodys"})), 401).await;
    api.get(&alice, "/api/v1/orgs", 200).await;
    api.get(&anon, "/api/v1/orgs", 401).await;

    // bob reads acme (team `viewers`); dave is an outsider.
    let teams = "/api/v1/orgs/acme/teams";
    api.call(&alice, "POST", teams, Some(json!({"name": "viewers", "role": "read"})), 201).await;
    api.call(&alice, "PUT", &format!("{teams}/viewers/members/bob"), None, 204).await;

    api.get(&alice, "/api/v1/orgs/acme", 200).await;
    api.get(&dave, "/api/v1/orgs/acme", 200).await;
    api.get(&alice, "/api/v1/orgs/nope", 404).await;
    api.get(&anon, "/api/v1/orgs/acme", 401).await;
    let private = json!({"default_visibility": "private"});
    api.call(&alice, "PATCH", "/api/v1/orgs/acme", Some(private.clone()), 200).await;
    api.call(&alice, "PATCH", "/api/v1/orgs/acme", Some(json!({"default_visibility": "nope"})), 400).await;
    api.call(&bob, "PATCH", "/api/v1/orgs/acme", Some(private.clone()), 403).await;
    api.call(&dave, "PATCH", "/api/v1/orgs/acme", Some(private.clone()), 404).await;
    api.call(&anon, "PATCH", "/api/v1/orgs/acme", Some(private), 401).await;
    api.call(&bob, "DELETE", "/api/v1/orgs/acme", None, 403).await;
    api.call(&dave, "DELETE", "/api/v1/orgs/tmporg", None, 404).await;
    api.call(&anon, "DELETE", "/api/v1/orgs/tmporg", None, 401).await;
    api.call(&alice, "DELETE", "/api/v1/orgs/tmporg", None, 204).await;

    // ---- robots ----
    let robots = "/api/v1/orgs/acme/robots";
    let robot = api.call(&alice, "POST", robots, Some(json!({"name": "ci"})), 201).await;
    let robot = s.basic("acme+ci", robot["token"].as_str().unwrap());
    api.call(&alice, "POST", robots, Some(json!({"name": "tmp"})), 201).await;
    api.call(&alice, "POST", robots, Some(json!({"name": "ci"})), 409).await;
    api.call(&alice, "POST", robots, Some(json!({"name": "X"})), 400).await;
    api.call(&bob, "POST", robots, Some(json!({"name": "bobs"})), 403).await;
    api.call(&dave, "POST", robots, Some(json!({"name": "daves"})), 404).await;
    api.call(&anon, "POST", robots, Some(json!({"name": "anons"})), 401).await;
    api.get(&alice, robots, 200).await;
    api.get(&bob, robots, 403).await;
    api.get(&dave, robots, 404).await;
    api.get(&anon, robots, 401).await;
    api.call(&bob, "DELETE", &format!("{robots}/acme+tmp"), None, 403).await;
    api.call(&anon, "DELETE", &format!("{robots}/acme+tmp"), None, 401).await;
    api.call(&alice, "DELETE", &format!("{robots}/acme+tmp"), None, 204).await;
    api.call(&alice, "DELETE", &format!("{robots}/acme+tmp"), None, 404).await;
    // Only users create organizations.
    api.call(&robot, "POST", "/api/v1/orgs", Some(json!({"name": "robotorg"})), 403).await;

    // ---- teams ----
    api.call(&alice, "POST", teams, Some(json!({"name": "devs", "role": "write"})), 201).await;
    api.call(&alice, "POST", teams, Some(json!({"name": "tmpteam", "role": "read"})), 201).await;
    api.call(&alice, "POST", teams, Some(json!({"name": "devs", "role": "write"})), 409).await;
    api.call(&alice, "POST", teams, Some(json!({"name": "xx", "role": "boss"})), 400).await;
    api.call(&bob, "POST", teams, Some(json!({"name": "bobs", "role": "read"})), 403).await;
    api.call(&dave, "POST", teams, Some(json!({"name": "daves", "role": "read"})), 404).await;
    api.call(&anon, "POST", teams, Some(json!({"name": "anons", "role": "read"})), 401).await;
    api.get(&bob, teams, 200).await;
    api.get(&dave, teams, 404).await;
    api.get(&anon, teams, 401).await;
    let devs = format!("{teams}/devs");
    api.call(&alice, "PATCH", &devs, Some(json!({"role": "admin"})), 200).await;
    api.call(&alice, "PATCH", &devs, Some(json!({"role": "nope"})), 400).await;
    api.call(&alice, "PATCH", &format!("{teams}/nope"), Some(json!({"role": "read"})), 404).await;
    api.call(&bob, "PATCH", &devs, Some(json!({"role": "read"})), 403).await;
    api.call(&anon, "PATCH", &devs, Some(json!({"role": "read"})), 401).await;
    api.call(&bob, "DELETE", &format!("{teams}/tmpteam"), None, 403).await;
    api.call(&anon, "DELETE", &format!("{teams}/tmpteam"), None, 401).await;
    api.call(&alice, "DELETE", &format!("{teams}/tmpteam"), None, 204).await;
    api.call(&alice, "DELETE", &format!("{teams}/tmpteam"), None, 404).await;

    // Members: the robot is a member of `devs` (admin on acme's repositories).
    api.call(&alice, "PUT", &format!("{devs}/members/acme+ci"), None, 204).await;
    api.call(&alice, "PUT", &format!("{devs}/members/nobody"), None, 404).await;
    api.call(&bob, "PUT", &format!("{devs}/members/bob"), None, 403).await;
    api.call(&anon, "PUT", &format!("{devs}/members/bob"), None, 401).await;
    api.get(&alice, &format!("{devs}/members"), 200).await;
    api.get(&alice, &format!("{teams}/nope/members"), 404).await;
    api.get(&anon, &format!("{devs}/members"), 401).await;
    let viewers = format!("{teams}/viewers");
    api.call(&alice, "PUT", &format!("{viewers}/members/dave"), None, 204).await;
    api.call(&bob, "DELETE", &format!("{viewers}/members/dave"), None, 403).await;
    api.call(&anon, "DELETE", &format!("{viewers}/members/dave"), None, 401).await;
    api.call(&alice, "DELETE", &format!("{viewers}/members/dave"), None, 204).await;
    api.call(&alice, "DELETE", &format!("{viewers}/members/dave"), None, 404).await;

    // Repository roles.
    let role = |r: &str| Some(json!({ "role": r }));
    api.call(&alice, "PUT", &format!("{devs}/repositories/acme/app"), role("write"), 204).await;
    api.call(&alice, "PUT", &format!("{devs}/repositories/acme/lib"), role("read"), 204).await;
    api.call(&alice, "PUT", &format!("{devs}/repositories/acme/app"), role("owner"), 400).await;
    api.call(&alice, "PUT", &format!("{devs}/repositories/alice/web"), role("read"), 400).await;
    api.call(&alice, "PUT", &format!("{teams}/nope/repositories/acme/app"), role("read"), 404).await;
    api.call(&bob, "PUT", &format!("{devs}/repositories/acme/app"), role("read"), 403).await;
    api.call(&anon, "PUT", &format!("{devs}/repositories/acme/app"), role("read"), 401).await;
    api.get(&alice, &devs, 200).await;
    api.get(&alice, &format!("{teams}/nope"), 404).await;
    api.get(&anon, &devs, 401).await;
    api.call(&bob, "DELETE", &format!("{devs}/repositories/acme/lib"), None, 403).await;
    api.call(&anon, "DELETE", &format!("{devs}/repositories/acme/lib"), None, 401).await;
    api.call(&alice, "DELETE", &format!("{devs}/repositories/alice/web"), None, 400).await;
    api.call(&alice, "DELETE", &format!("{devs}/repositories/acme/lib"), None, 204).await;
    api.call(&alice, "DELETE", &format!("{devs}/repositories/acme/lib"), None, 404).await;

    // ---- webhooks (before the pushes, so the pushes have deliveries) ----
    let ok_url = receiver(200).await;
    let err_url = receiver(500).await;
    let refused = refused_url().await;
    let secret = "s3cret-s3cret-s3cret";
    let all = json!(["push", "delete", "pull"]);
    let h_ok = api
        .call(
            &alice,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"namespace": "alice", "url": ok_url, "events": all, "secret": secret})),
            201,
        )
        .await;
    let h_refused = api
        .call(&alice, "POST", "/api/v1/webhooks", Some(json!({"repository": "alice/web", "url": refused})), 201)
        .await;
    let h_err = api
        .call(
            &alice,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"namespace": "acme", "url": err_url, "active": true})),
            201,
        )
        .await;
    let h_tmp =
        api.call(&alice, "POST", "/api/v1/webhooks", Some(json!({"namespace": "alice", "url": ok_url})), 201).await;
    let hook = |n: &str| Some(json!({"namespace": "alice", "url": n}));
    api.call(&alice, "POST", "/api/v1/webhooks", hook("ftp://example.com/x"), 400).await;
    let unknown_field = json!({"namespace": "alice", "url": ok_url, "colour": "red"});
    api.call(&alice, "POST", "/api/v1/webhooks", Some(unknown_field), 400).await;
    api.call(&alice, "POST", "/api/v1/webhooks", Some(json!({"url": ok_url})), 400).await;
    api.call(&dave, "POST", "/api/v1/webhooks", hook(&ok_url), 403).await;
    api.call(&anon, "POST", "/api/v1/webhooks", hook(&ok_url), 401).await;

    // ---- pushes and a pull ----
    push_image(&alice, "alice/web", "v1", 1).await;
    let amd = push_image(&alice, "alice/web", "", 2).await;
    let arm = push_image(&alice, "alice/web", "", 3).await;
    let index = oci_index(&[(OCI_MANIFEST, &amd.manifest, "amd64"), (OCI_MANIFEST, &arm.manifest, "arm64")]);
    push_manifest(&alice, "alice/web", "multi", OCI_INDEX, &index).await;
    push_image(&alice, "alice/web", "old", 4).await;
    let layer = bytes_of(40, 300);
    push_blob(&alice, "alice/web", &layer).await;
    push_blob(&alice, "alice/web", EMPTY_JSON).await;
    let sbom = artifact_manifest("application/vnd.example.sbom", &layer, None, None);
    push_manifest(&alice, "alice/web", "sbom", OCI_MANIFEST, &sbom).await;
    push_image(&alice, "alice/tmp", "v1", 5).await;
    push_image(&alice, "acme/app", "v1", 6).await;
    let r = alice.get("/v2/alice/web/manifests/v1").header("accept", OCI_MANIFEST).send().await.unwrap();
    expect_status(r, 200).await;

    // ---- repositories ----
    api.get(&alice, "/api/v1/repositories", 200).await;
    api.get(&alice, "/api/v1/repositories?sort=stars&order=desc&page=1&page_size=2", 200).await;
    api.get(&alice, "/api/v1/repositories?namespace=alice&sort=pushed", 200).await;
    api.get(&alice, "/api/v1/repositories?sort=size", 400).await;
    api.get(&alice, "/api/v1/repositories?order=up", 400).await;
    api.get(&alice, "/api/v1/repositories?page=0", 400).await;
    api.get(&alice, "/api/v1/repositories?page_size=many", 400).await;
    api.get(&bad(&s, 2), "/api/v1/repositories", 401).await;

    let web = "/api/v1/repositories/alice/web";
    api.get(&alice, web, 200).await;
    api.get(&dave, web, 404).await;
    api.get(&anon, web, 401).await;
    api.get(&alice, "/api/v1/repositories/Alice/Web", 400).await;
    let described = json!({
        "description": "The web server",
        "full_description": "# Web\n\nIt serves.",
        "visibility": "public",
    });
    api.call(&alice, "PATCH", web, Some(described), 200).await;
    api.get(&anon, "/api/v1/repositories", 200).await;
    api.get(&anon, web, 200).await;
    let desc = |d: &str| Some(json!({ "description": d }));
    // Anonymous changes to a public repository: refused (docs/index.md does not say whether 401 or
    // 403); whichever it is must be documented.
    for (m, t, b) in [
        ("PATCH", web.to_string(), desc("x")),
        ("DELETE", format!("{web}/tags/v1"), None),
        ("DELETE", web.to_string(), None),
    ] {
        let a = api.send(&anon, m, &t, b, false).await;
        assert!([401, 403].contains(&a.status), "anonymous {m} {t}: want 401 or 403, got {}: {}", a.status, a.json);
        eprintln!("anonymous {m} {t} on a public repository: {} {}", a.status, a.json);
    }
    api.call(&alice, "PATCH", web, desc("two\nlines"), 400).await;
    api.call(&alice, "PATCH", web, Some(json!({"colour": "red"})), 400).await;
    api.call(&dave, "PATCH", web, desc("mine now"), 403).await;
    api.call(&anon, "PATCH", "/api/v1/repositories/alice/tmp", desc("x"), 401).await;
    api.call(&alice, "PATCH", "/api/v1/repositories/alice/nope", desc("x"), 404).await;
    api.call(&alice, "PATCH", "/api/v1/repositories/Alice/Web", desc("x"), 400).await;

    // Stars.
    api.call(&bob, "PUT", &format!("{web}/star"), None, 204).await;
    api.call(&alice, "PUT", &format!("{web}/star"), None, 204).await;
    api.call(&robot, "PUT", &format!("{web}/star"), None, 403).await;
    api.call(&anon, "PUT", &format!("{web}/star"), None, 401).await;
    api.call(&bob, "PUT", "/api/v1/repositories/alice/nope/star", None, 404).await;
    api.call(&bob, "PUT", "/api/v1/repositories/Bad/star", None, 400).await;
    api.get(&alice, "/api/v1/users/bob/starred", 200).await;
    api.get(&anon, "/api/v1/users/bob/starred", 200).await;
    api.get(&alice, "/api/v1/users/nobody/starred", 404).await;
    api.get(&bad(&s, 3), "/api/v1/users/bob/starred", 401).await;
    api.get(&alice, "/api/v1/repositories?sort=stars", 200).await;
    api.call(&bob, "DELETE", &format!("{web}/star"), None, 204).await;
    api.call(&robot, "DELETE", &format!("{web}/star"), None, 403).await;
    api.call(&anon, "DELETE", &format!("{web}/star"), None, 401).await;
    api.call(&bob, "DELETE", "/api/v1/repositories/alice/nope/star", None, 404).await;
    api.call(&bob, "DELETE", "/api/v1/repositories/Bad/star", None, 400).await;

    // Tags.
    api.get(&alice, &format!("{web}/tags"), 200).await;
    api.get(&anon, &format!("{web}/tags?page=2&page_size=2"), 200).await;
    api.get(&alice, &format!("{web}/tags?page=0"), 400).await;
    api.get(&anon, "/api/v1/repositories/alice/tmp/tags", 401).await;
    api.get(&dave, "/api/v1/repositories/alice/tmp/tags", 404).await;
    api.get(&alice, "/api/v1/repositories/Bad/tags", 400).await;
    for t in ["v1", "multi", "sbom"] {
        api.get(&anon, &format!("{web}/tags/{t}"), 200).await;
    }
    api.get(&alice, &format!("{web}/tags/nope"), 404).await;
    api.get(&anon, "/api/v1/repositories/alice/tmp/tags/v1", 401).await;
    api.get(&alice, "/api/v1/repositories/Bad/tags/v1", 400).await;
    api.call(&dave, "DELETE", &format!("{web}/tags/old"), None, 403).await;
    api.call(&anon, "DELETE", "/api/v1/repositories/alice/tmp/tags/v1", None, 401).await;
    api.call(&alice, "DELETE", &format!("{web}/tags/old"), None, 204).await;
    api.call(&alice, "DELETE", &format!("{web}/tags/old"), None, 404).await;
    api.call(&alice, "DELETE", "/api/v1/repositories/Bad/tags/v1", None, 400).await;

    // The repository of an organization, through its robot (HTTP Basic with the robot's token).
    api.get(&robot, "/api/v1/repositories/acme/app", 200).await;
    api.get(&robot, "/api/v1/repositories?namespace=acme", 200).await;

    // Deleting repositories.
    api.call(&dave, "DELETE", web, None, 403).await;
    api.call(&anon, "DELETE", "/api/v1/repositories/acme/app", None, 401).await;
    api.call(&alice, "DELETE", "/api/v1/repositories/Bad", None, 400).await;
    api.call(&alice, "DELETE", "/api/v1/repositories/alice/tmp", None, 204).await;
    api.call(&alice, "DELETE", "/api/v1/repositories/alice/tmp", None, 404).await;

    // ---- webhooks ----
    api.get(&alice, "/api/v1/webhooks", 200).await;
    api.get(&alice, "/api/v1/webhooks?namespace=alice", 200).await;
    api.get(&alice, "/api/v1/webhooks?repository=alice/web", 200).await;
    api.get(&alice, "/api/v1/webhooks?namespace=alice&repository=alice/web", 400).await;
    api.get(&alice, "/api/v1/webhooks?repository=Bad", 400).await;
    api.get(&anon, "/api/v1/webhooks", 401).await;
    let h_ok = format!("/api/v1/webhooks/{}", id_of(&h_ok));
    api.get(&alice, &h_ok, 200).await;
    api.get(&dave, &h_ok, 404).await;
    api.get(&alice, "/api/v1/webhooks/abc", 404).await;
    api.get(&anon, &h_ok, 401).await;
    let events = json!({"events": ["push", "delete", "pull"], "active": true});
    api.call(&alice, "PATCH", &h_ok, Some(events.clone()), 200).await;
    api.call(&alice, "PATCH", &h_ok, Some(json!({"events": ["poke"]})), 400).await;
    api.call(&alice, "PATCH", &h_ok, Some(json!({"url": "nope"})), 400).await;
    api.call(&dave, "PATCH", &h_ok, Some(events.clone()), 404).await;
    api.call(&anon, "PATCH", &h_ok, Some(events), 401).await;
    let h_tmp = format!("/api/v1/webhooks/{}", id_of(&h_tmp));
    api.call(&anon, "DELETE", &h_tmp, None, 401).await;
    api.call(&dave, "DELETE", &h_tmp, None, 404).await;
    api.call(&alice, "DELETE", &h_tmp, None, 204).await;
    api.call(&alice, "DELETE", &h_tmp, None, 404).await;

    // Deliveries: delivered (200), pending after a refused connection, pending after a 500.
    let h_refused = format!("/api/v1/webhooks/{}", id_of(&h_refused));
    let h_err = format!("/api/v1/webhooks/{}", id_of(&h_err));
    for (hook, what) in [(&h_ok, "delivered"), (&h_refused, "attempted"), (&h_err, "attempted")] {
        let target = format!("{hook}/deliveries");
        let mut done = false;
        for _ in 0..150 {
            let v = api.get(&alice, &target, 200).await;
            let list = v["deliveries"].as_array().cloned().unwrap_or_default();
            done = match what {
                "delivered" => list.iter().any(|d| d["status"] == "delivered"),
                _ => list.iter().any(|d| d["attempts"].as_array().is_some_and(|a| !a.is_empty())),
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(done, "{target}: no delivery {what} within 30s");
    }
    api.get(&alice, &format!("{h_ok}/deliveries?page=1&page_size=3"), 200).await;
    api.get(&alice, &format!("{h_ok}/deliveries?page=0"), 400).await;
    api.get(&dave, &format!("{h_ok}/deliveries"), 404).await;
    api.get(&alice, "/api/v1/webhooks/abc/deliveries", 404).await;
    api.get(&anon, &format!("{h_ok}/deliveries"), 401).await;

    // ---- throttled logins (last: it locks `victim` out) ----
    let victim = s.basic("victim", "not-the-password");
    let mut throttled = false;
    for _ in 0..20 {
        let a = api.send(&victim, "GET", "/api/v1/user", None, false).await;
        match a.status {
            401 => continue,
            429 => {
                throttled = true;
                break;
            }
            other => panic!("failed login: want 401 or 429, got {other}: {}", a.json),
        }
    }
    assert!(throttled, "20 failed logins for one account were never answered 429");

    contract.finish();
}
