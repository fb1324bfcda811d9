//! The token endpoint (Docker token authentication and its OAuth2 form), the JWT it issues, and
//! every way a token stops working: expiry, tampering, a foreign key, another audience,
//! revocation.

use std::path::Path;

use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;

/// alice (alice/priv private, alice/pub public), bob, rita (a reader of org acme, which holds
/// acme/priv).
async fn setup(s: &Server) {
    let admin = s.admin();
    for u in ["alice", "bob", "rita"] {
        create_user(&admin, u).await;
    }
    let alice = s.user("alice");
    push_image(&alice, "alice/priv", "v1", 1).await;
    push_image(&alice, "alice/pub", "v1", 2).await;
    set_visibility(&alice, "alice/pub", "public").await;
    create_org(&alice, "acme").await;
    create_team(&alice, "acme", "readers", "read").await;
    add_member(&alice, "acme", "readers", "rita").await;
    push_image(&alice, "acme/priv", "v1", 3).await;
}

fn assert_response_shape(v: &Value, ttl: i64) {
    assert_eq!(v["expires_in"].as_i64(), Some(ttl), "expires_in: {v}");
    let issued = v["issued_at"].as_str().unwrap_or_else(|| panic!("no issued_at string: {v}"));
    let t = parse_rfc3339(issued).unwrap_or_else(|| panic!("issued_at is not RFC 3339: {issued}"));
    assert!((t - now_secs()).abs() <= 60, "issued_at {issued} is not now");
}

/// Checks the registered claims; returns the claims.
fn assert_claims(token: &str, sub: &str, aud: &str, ttl: i64) -> Value {
    let jwt = decode_jwt(token);
    assert_eq!(jwt.header["alg"], "EdDSA", "header {}", jwt.header);
    let c = jwt.claims;
    assert_eq!(c["iss"], "berth", "iss: {c}");
    assert_eq!(c["sub"], sub, "sub: {c}");
    // RFC 7519 allows `aud` as a string or an array of strings.
    assert!(c["aud"] == aud || c["aud"] == json!([aud]), "aud: {c}");
    let (exp, iat, nbf) = (c["exp"].as_i64(), c["iat"].as_i64(), c["nbf"].as_i64());
    let (exp, iat, nbf) = (exp.expect("exp"), iat.expect("iat"), nbf.expect("nbf"));
    assert_eq!(exp - iat, ttl, "exp - iat: {c}");
    assert!(nbf <= iat + 1 && nbf <= now_secs() + 1, "nbf in the future: {c}");
    assert!((iat - now_secs()).abs() <= 60, "iat is not now: {c}");
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()), "jti: {c}");
    c
}

#[tokio::test]
async fn anonymous_and_basic_tokens_carry_the_documented_claims() {
    let s = auth_server(&[]);
    setup(&s).await;

    let r = token_request(&s.anon(), &[("service", "berth"), ("scope", "repository:alice/pub:pull")]).await;
    let ct = header(&r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "Content-Type {ct}");
    let v = json_of(r, 200).await;
    assert_response_shape(&v, 300);
    assert!(v.get("refresh_token").is_none(), "refresh_token without offline_token: {v}");
    let t = v["token"].as_str().unwrap();
    assert_eq!(v["access_token"], t);
    let c = assert_claims(t, "", "berth", 300);
    assert_eq!(access_of(&c), access(&[("repository", "alice/pub", &["pull"])]));
    let entry = &c["access"][0];
    assert_eq!(entry["type"], "repository");
    assert_eq!(entry["name"], "alice/pub");

    let (t, v) = token_for(&s.user("alice"), &["repository:alice/priv:pull,push,delete"]).await;
    assert_response_shape(&v, 300);
    let c = assert_claims(&t, "alice", "berth", 300);
    assert_eq!(access_of(&c), access(&[("repository", "alice/priv", &["pull", "push", "delete"])]));
    let a = decode_jwt(&t).claims["jti"].clone();
    let (t2, _) = token_for(&s.user("alice"), &["repository:alice/priv:pull"]).await;
    assert_ne!(decode_jwt(&t2).claims["jti"], a, "two tokens share a jti");

    // account= and client_id= are accepted.
    let r = token_request(
        &s.user("alice"),
        &[("service", "berth"), ("scope", "repository:alice/priv:pull"), ("account", "alice"), ("client_id", "tests")],
    )
    .await;
    let v = json_of(r, 200).await;
    assert_eq!(
        access_of(&decode_jwt(v["token"].as_str().unwrap()).claims),
        access(&[("repository", "alice/priv", &["pull"])])
    );

    // No scope: a token with no access.
    let (t, _) = token_for(&s.user("alice"), &[]).await;
    assert!(access_of(&decode_jwt(&t).claims).is_empty());
}

#[tokio::test]
async fn the_grant_is_requested_intersected_with_allowed_never_an_error() {
    let s = auth_server(&[]);
    setup(&s).await;
    let alice = s.user("alice");
    let bob = s.user("bob");
    let rita = s.user("rita");

    assert!(granted(&bob, &["repository:alice/priv:pull,push,delete"]).await.is_empty());
    assert_eq!(granted(&bob, &["repository:alice/pub:*"]).await, access(&[("repository", "alice/pub", &["pull"])]));
    assert_eq!(granted(&rita, &["repository:acme/priv:*"]).await, access(&[("repository", "acme/priv", &["pull"])]));
    assert_eq!(
        granted(&alice, &["repository:acme/priv:*"]).await,
        access(&[("repository", "acme/priv", &["pull", "push", "delete"])])
    );

    // Repeated scope parameters, the catalog, a resource class, and scopes to ignore.
    let got = granted(
        &alice,
        &[
            "repository:alice/priv:pull",
            "repository:alice/pub:push",
            "registry:catalog:*",
            "repository:bob/thing:pull,push",
            "repository(plugin):acme/priv:pull",
            "nonsense",
            "repository:alice/priv",
            "repository::pull",
        ],
    )
    .await;
    assert_eq!(
        got,
        access(&[
            ("repository", "alice/priv", &["pull"]),
            ("repository", "alice/pub", &["push"]),
            ("registry", "catalog", &["*"]),
            ("repository", "acme/priv", &["pull"]),
        ])
    );

    // The same repository asked twice: the union.
    let got = granted(&rita, &["repository:acme/priv:pull", "repository:acme/priv:push"]).await;
    assert_eq!(got, access(&[("repository", "acme/priv", &["pull"])]));
    let got = granted(&alice, &["repository:alice/priv:pull", "repository:alice/priv:delete"]).await;
    assert_eq!(got, access(&[("repository", "alice/priv", &["pull", "delete"])]));

    // Anonymous: public pull only, and the catalog lists public repositories.
    let got = granted(&s.anon(), &["repository:alice/pub:pull,push", "repository:alice/priv:pull"]).await;
    assert_eq!(got, access(&[("repository", "alice/pub", &["pull"])]));
}

#[tokio::test]
async fn token_endpoint_refusals() {
    let s = auth_server(&[]);
    setup(&s).await;
    let r = token_request(&s.user("alice"), &[("service", "elsewhere"), ("scope", "repository:alice/priv:pull")]).await;
    expect_error(r, 400, "UNSUPPORTED").await;
    let r = token_request(&s.anon(), &[("service", "elsewhere")]).await;
    expect_error(r, 400, "UNSUPPORTED").await;
    let r = token_request(
        &s.basic("alice", "wrong-password"),
        &[("service", "berth"), ("scope", "repository:alice/pub:pull")],
    )
    .await;
    expect_error(r, 401, "UNAUTHORIZED").await;
    let r = token_request(&s.basic("nobody", PW), &[("service", "berth")]).await;
    expect_error(r, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn offline_tokens_and_the_oauth2_form() {
    let s = auth_server(&[]);
    setup(&s).await;
    let alice = s.user("alice");

    // GET with offline_token=true: a refresh token, only for credentials.
    let r = token_request(
        &alice,
        &[("service", "berth"), ("scope", "repository:alice/priv:pull"), ("offline_token", "true")],
    )
    .await;
    let v = json_of(r, 200).await;
    let refresh = v["refresh_token"].as_str().unwrap_or_else(|| panic!("no refresh_token: {v}")).to_string();
    assert!(!refresh.is_empty());
    let r = token_request(
        &s.anon(),
        &[("service", "berth"), ("scope", "repository:alice/pub:pull"), ("offline_token", "true")],
    )
    .await;
    let v = json_of(r, 200).await;
    assert!(v.get("refresh_token").is_none(), "an anonymous caller got a refresh token: {v}");

    // POST grant_type=refresh_token, another scope.
    let r = token_post(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("service", "berth"),
            ("scope", "repository:alice/priv:pull,push"),
            ("client_id", "tests"),
        ],
    )
    .await;
    let v = json_of(r, 200).await;
    assert_response_shape(&v, 300);
    assert!(v["scope"].is_string(), "no scope string: {v}");
    let t = v["access_token"].as_str().unwrap_or_else(|| panic!("no access_token: {v}"));
    assert_eq!(v["token"], t, "{v}");
    let c = assert_claims(t, "alice", "berth", 300);
    assert_eq!(access_of(&c), access(&[("repository", "alice/priv", &["pull", "push"])]));
    let r =
        put_manifest(&s.bearer(t), "alice/priv", "refreshed", OCI_MANIFEST, &oci_manifest(&config_blob(1), &[])).await;
    // The config blob of seed 1 is in alice/priv (pushed by setup); a manifest without layers.
    expect_status(r, 201).await;

    // grant_type=password, with and without access_type=offline.
    let form = |offline: bool| {
        let mut f = vec![
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PW),
            ("service", "berth"),
            ("scope", "repository:alice/priv:pull"),
            ("client_id", "tests"),
        ];
        if offline {
            f.push(("access_type", "offline"));
        }
        f
    };
    let v = json_of(token_post(&s, &form(true)).await, 200).await;
    assert_response_shape(&v, 300);
    assert!(v["refresh_token"].as_str().is_some_and(|x| !x.is_empty()), "no refresh_token: {v}");
    let c = assert_claims(v["access_token"].as_str().unwrap(), "alice", "berth", 300);
    assert_eq!(access_of(&c), access(&[("repository", "alice/priv", &["pull"])]));
    let v = json_of(token_post(&s, &form(false)).await, 200).await;
    assert!(v.get("refresh_token").is_none(), "refresh_token without access_type=offline: {v}");

    // Docker's OAuth2 form sends several scopes in one `scope`, space-delimited (oauth.md), as
    // the docker engine does when it refreshes.
    let r = token_post(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("service", "berth"),
            ("scope", "repository:alice/priv:pull repository:alice/pub:pull,push"),
            ("client_id", "docker"),
        ],
    )
    .await;
    let v = json_of(r, 200).await;
    assert_eq!(
        access_of(&decode_jwt(v["access_token"].as_str().unwrap()).claims),
        access(&[("repository", "alice/priv", &["pull"]), ("repository", "alice/pub", &["pull", "push"])])
    );

    // A refresh token is not an access token.
    let r = s.bearer(&refresh).get("/v2/alice/priv/tags/list").send().await.unwrap();
    expect_bad_credentials(r, &s, Want::Repo("alice/priv", "pull")).await;

    // Refusals.
    let r = token_post(
        &s,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wrong-password"),
            ("service", "berth"),
            ("client_id", "t"),
        ],
    )
    .await;
    expect_error(r, 401, "UNAUTHORIZED").await;
    let r = token_post(
        &s,
        &[("grant_type", "refresh_token"), ("refresh_token", "not-a-token"), ("service", "berth"), ("client_id", "t")],
    )
    .await;
    expect_error(r, 401, "UNAUTHORIZED").await;
    let r = token_post(&s, &[("grant_type", "client_credentials"), ("service", "berth"), ("client_id", "t")]).await;
    expect_status(r, 400).await;
    let r = token_post(
        &s,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("service", "elsewhere"), ("client_id", "t")],
    )
    .await;
    expect_error(r, 400, "UNSUPPORTED").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let s = auth_server(&[("BERTH_TOKEN_TTL", "2s")]);
    setup(&s).await;
    let (t, v) = token_for(&s.user("alice"), &["repository:alice/priv:pull"]).await;
    assert_eq!(v["expires_in"].as_i64(), Some(2), "{v}");
    let c = assert_claims(&t, "alice", "berth", 2);
    let b = s.bearer(&t);
    expect_status(b.get("/v2/alice/priv/tags/list").send().await.unwrap(), 200).await;
    sleep_past(c["exp"].as_i64().unwrap()).await;
    let r = b.get("/v2/alice/priv/tags/list").send().await.unwrap();
    expect_bad_credentials(r, &s, Want::Repo("alice/priv", "pull")).await;
    let r = b.get("/v2/").send().await.unwrap();
    expect_bad_credentials(r, &s, Want::NoScope).await;
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[tokio::test]
async fn forged_tampered_and_misaddressed_tokens_are_refused() {
    let mut s = auth_server(&[]);
    setup(&s).await;
    let (t, _) = token_for(&s.user("alice"), &["repository:alice/priv:pull"]).await;
    let path = "/v2/alice/priv/tags/list";
    expect_status(s.bearer(&t).get(path).send().await.unwrap(), 200).await;
    let jwt = decode_jwt(&t);

    // A changed claim under the original signature.
    let mut claims = jwt.claims.clone();
    claims["access"] = json!([{"type": "repository", "name": "alice/priv", "actions": ["pull", "push", "delete"]}]);
    let forged = with_claims(&jwt, &claims);
    // One character of the payload flipped.
    let mut payload: Vec<char> = jwt.parts[1].chars().collect();
    let i = payload.len() / 2;
    payload[i] = if payload[i] == 'A' { 'B' } else { 'A' };
    let flipped = format!("{}.{}.{}", jwt.parts[0], payload.into_iter().collect::<String>(), jwt.parts[2]);
    // The same header and claims signed by another Ed25519 key.
    let foreign = sign_with_foreign_key(&jwt.header, &jwt.claims);
    // alg none, no signature.
    let none = format!("{}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), jwt.parts[1]);
    // The signature cut short.
    let cut = format!("{}.{}.{}", jwt.parts[0], jwt.parts[1], &jwt.parts[2][..jwt.parts[2].len() / 2]);
    for (what, bad) in [
        ("changed claims", &forged),
        ("flipped", &flipped),
        ("foreign key", &foreign),
        ("alg none", &none),
        ("cut", &cut),
    ] {
        let r = s.bearer(bad).get(path).send().await.unwrap();
        assert_eq!(r.status(), 401, "{what} token: {}", r.status());
        expect_bad_credentials(r, &s, Want::Repo("alice/priv", "pull")).await;
    }

    // Another audience: a copy of this data dir (same key, same accounts) served as `other`.
    s.stop();
    let tmp = tempfile::tempdir().unwrap();
    let data2 = tmp.path().join("data");
    copy_dir(s.data_dir(), &data2);
    s.start_again();
    let other = Server::builder().auth().data_dir(&data2).env("BERTH_SERVICE", "other").start();
    assert_eq!(
        std::fs::read(s.data_dir().join("token-signing-key.der")).unwrap(),
        std::fs::read(data2.join("token-signing-key.der")).unwrap()
    );
    let r = token_request(&other.user("alice"), &[("service", "other"), ("scope", "repository:alice/priv:pull")]).await;
    let v = json_of(r, 200).await;
    let t_other = v["token"].as_str().unwrap().to_string();
    assert_claims(&t_other, "alice", "other", 300);
    expect_status(other.bearer(&t_other).get(path).send().await.unwrap(), 200).await;
    let r = s.bearer(&t_other).get(path).send().await.unwrap();
    expect_bad_credentials(r, &s, Want::Repo("alice/priv", "pull")).await;
    let r = other.bearer(&t).get(path).send().await.unwrap();
    expect_challenge_at(r, &realm(&other), "other", Want::Repo("alice/priv", "pull"), ErrorParam::Any).await;
    // The token issued before the restart still works on its own server.
    expect_status(s.bearer(&t).get(path).send().await.unwrap(), 200).await;
    // `other` names itself in its challenges and refuses service=berth.
    let r = other.get("/v2/").send().await.unwrap();
    expect_challenge_at(r, &realm(&other), "other", Want::NoScope, ErrorParam::Absent).await;
    let r = token_request(&other.anon(), &[("service", "berth")]).await;
    expect_error(r, 400, "UNSUPPORTED").await;
}

#[tokio::test]
async fn the_challenge_realm_follows_external_url_else_the_host_header() {
    let s = auth_server(&[]);
    let r = s.get("/v2/").header("host", "registry.test:5123").send().await.unwrap();
    expect_challenge_at(r, "http://registry.test:5123/auth/token", "berth", Want::NoScope, ErrorParam::Absent).await;

    let s = auth_server(&[("BERTH_EXTERNAL_URL", "https://reg.example.com"), ("BERTH_SERVICE", "reg.example.com")]);
    let r = s.get("/v2/").header("host", "registry.test:5123").send().await.unwrap();
    expect_challenge_at(r, "https://reg.example.com/auth/token", "reg.example.com", Want::NoScope, ErrorParam::Absent)
        .await;
    let r = s.get("/v2/somebody/thing/manifests/v1").send().await.unwrap();
    expect_challenge_at(
        r,
        "https://reg.example.com/auth/token",
        "reg.example.com",
        Want::Repo("somebody/thing", "pull"),
        ErrorParam::Absent,
    )
    .await;
    let r = token_request(&s.admin(), &[("service", "reg.example.com"), ("scope", "repository:x/y:pull")]).await;
    let v = json_of(r, 200).await;
    assert_claims(v["token"].as_str().unwrap(), "admin", "reg.example.com", 300);
}

async fn refresh(s: &Server, refresh_token: &str) -> reqwest::Response {
    token_post(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("service", "berth"),
            ("scope", "repository:alice/priv:pull"),
            ("client_id", "tests"),
        ],
    )
    .await
}

async fn offline(c: &impl Http) -> (String, String) {
    let r =
        token_request(c, &[("service", "berth"), ("scope", "repository:alice/priv:pull"), ("offline_token", "true")])
            .await;
    let v = json_of(r, 200).await;
    (v["token"].as_str().unwrap().to_string(), v["refresh_token"].as_str().unwrap_or_else(|| panic!("{v}")).to_string())
}

async fn works(s: &Server, t: &str) -> bool {
    let r = s.bearer(t).get("/v2/alice/priv/tags/list").send().await.unwrap();
    match r.status().as_u16() {
        200 => true,
        _ => {
            expect_bad_credentials(r, s, Want::Repo("alice/priv", "pull")).await;
            false
        }
    }
}

async fn revoke(s: &Server, token: &str) {
    let r = s.post("/auth/revoke").form(&[("token", token)]).send().await.unwrap();
    expect_status(r, 200).await;
}

#[tokio::test]
async fn revocation() {
    let s = auth_server(&[]);
    setup(&s).await;
    let alice = s.user("alice");

    let (a1, r1) = offline(&alice).await;
    let (a2, _) = token_for(&alice, &["repository:alice/priv:pull"]).await;
    assert!(works(&s, &a1).await && works(&s, &a2).await);

    revoke(&s, &a1).await;
    assert!(!works(&s, &a1).await, "a revoked access token still works");
    assert!(works(&s, &a2).await, "revoking one access token revoked another");
    assert!(refresh(&s, &r1).await.status().is_success(), "revoking an access token revoked its refresh token");

    revoke(&s, &r1).await;
    expect_error(refresh(&s, &r1).await, 401, "UNAUTHORIZED").await;
    revoke(&s, "not-a-token-at-all").await;

    // revoke-tokens: the user or an admin; earlier access tokens and every refresh token stop.
    let (a3, r3) = offline(&alice).await;
    let r = s.user("bob").post("/api/v1/users/alice/revoke-tokens").send().await.unwrap();
    expect_error(r, 403, "DENIED").await;
    assert!(works(&s, &a3).await);
    let r = alice.post("/api/v1/users/alice/revoke-tokens").send().await.unwrap();
    expect_success(r).await;
    assert!(!works(&s, &a2).await, "an access token from before revoke-tokens still works");
    assert!(!works(&s, &a3).await, "an access token from before revoke-tokens still works");
    expect_error(refresh(&s, &r3).await, 401, "UNAUTHORIZED").await;

    // Later tokens work (the password is untouched).
    sleep_past(now_secs()).await;
    let (a4, _) = token_for(&alice, &["repository:alice/priv:pull"]).await;
    assert!(works(&s, &a4).await, "a token issued after revoke-tokens does not work");
    let r = s.admin().post("/api/v1/users/alice/revoke-tokens").send().await.unwrap();
    expect_success(r).await;
    assert!(!works(&s, &a4).await, "admin's revoke-tokens did not revoke");
    expect_status(alice.get("/v2/alice/priv/tags/list").send().await.unwrap(), 200).await;

    // Another user's tokens are untouched.
    let (b1, _) = token_for(&s.user("rita"), &["repository:acme/priv:pull"]).await;
    let r = s.admin().post("/api/v1/users/alice/revoke-tokens").send().await.unwrap();
    expect_success(r).await;
    let r = s.bearer(&b1).get("/v2/acme/priv/tags/list").send().await.unwrap();
    expect_status(r, 200).await;
}
