//! The checker itself: real answers pass it, and each kind of mismatch it is there to find is
//! found, so the document's test can fail.

use serde_json::{json, Value};

use crate::answers::server_and_document;
use crate::client::Api;
use crate::common::*;
use crate::contract::Exchange;

/// The checker itself finds what it is there to find: the test can fail.
#[tokio::test]
async fn the_checker_catches_mismatches() {
    let (s, contract) = server_and_document().await;
    let api = Api { s: &s, contract: &contract };
    create_user(&s.admin(), "alice").await;
    create_user(&s.admin(), "bob").await;
    let me = api.get(&s.user("alice"), "/api/v1/user", 200).await;
    let public = api.get(&s.user("bob"), "/api/v1/users/alice", 200).await;
    let ok = |target: &str, status: u16, body: &Value| Exchange {
        method: "GET".into(),
        target: target.into(),
        request: None,
        valid_request: true,
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: if body.is_null() { Vec::new() } else { serde_json::to_vec(body).unwrap() },
    };
    // The real answers conform.
    assert_eq!(contract.check(&ok("/api/v1/user", 200, &me)), Vec::<String>::new());
    assert_eq!(contract.check(&ok("/api/v1/users/alice", 200, &public)), Vec::<String>::new());

    let expect_mismatch = |ex: Exchange, what: &str| {
        let errs = contract.check(&ex);
        assert!(!errs.is_empty(), "the checker missed {what}: {} {} -> {}", ex.method, ex.target, ex.status);
        eprintln!("{what}: {errs:?}");
    };
    let mut extra = me.clone();
    extra["password_hash"] = json!("$argon2id$...");
    expect_mismatch(ok("/api/v1/user", 200, &extra), "a field the schema does not declare");
    let mut wrong = me.clone();
    wrong["admin"] = json!("no");
    expect_mismatch(ok("/api/v1/user", 200, &wrong), "a field of the wrong type");
    let mut missing = me.clone();
    missing.as_object_mut().unwrap().remove("email");
    expect_mismatch(ok("/api/v1/user", 200, &missing), "a required field missing");
    let mut not_time = me.clone();
    not_time["created_at"] = json!("yesterday");
    expect_mismatch(ok("/api/v1/user", 200, &not_time), "a time that is not RFC 3339");
    let mut leak = public.clone();
    leak["email"] = json!("alice@example.com");
    expect_mismatch(ok("/api/v1/users/alice", 200, &leak), "a public view with a private field");
    expect_mismatch(ok("/api/v1/user", 418, &me), "an undocumented status");
    expect_mismatch(ok("/api/v1/user", 401, &me), "an error status with a non-error body");
    expect_mismatch(ok("/api/v1/nope", 200, &me), "an undocumented path");
    let mut post = ok("/api/v1/user", 200, &me);
    post.method = "POST".into();
    expect_mismatch(post, "an undocumented method");
    expect_mismatch(ok("/api/v1/users?colour=red", 200, &json!({"users": []})), "an undocumented query parameter");
    let mut with_body = ok("/api/v1/users/alice", 204, &Value::Null);
    with_body.method = "DELETE".into();
    with_body.body = b"{}".to_vec();
    expect_mismatch(with_body, "a body where none is documented");
    let mut text = ok("/api/v1/user", 200, &me);
    text.headers = vec![("content-type".into(), "text/plain".into())];
    expect_mismatch(text, "an undocumented content type");
    let error = json!({"errors": [{"code": "NOT_FOUND", "message": "x", "hint": "y"}]});
    expect_mismatch(ok("/api/v1/users/nobody", 404, &error), "an error entry with an undeclared field");
    let error = json!({"errors": [{"code": "GONE", "message": "x"}]});
    expect_mismatch(ok("/api/v1/users/nobody", 404, &error), "an error code the document does not list");
}
