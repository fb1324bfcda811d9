//! Helpers for the webhook tests: the `/api/v1/webhooks` calls, the checks of a delivered request
//! (headers, signature) and of its payload, all written from docs/index.md ("Webhooks").

#![allow(dead_code)]

use std::time::{Duration, Instant};

use reqwest::Response;
use serde_json::{json, Value};

use crate::common::*;
use crate::harness::*;
use crate::receiver::*;

/// The secret the tests give their webhooks (16 to 256 characters).
pub const SECRET: &str = "webhook-secret-0123456789";

/// A server in the default mode (accounts on) with the given settings and the users named.
pub async fn server_with_users(envs: &[(&str, &str)], users: &[&str]) -> Server {
    let s = auth_server(envs);
    for u in users {
        create_user(&s.admin(), u).await;
    }
    s
}

/// An id as a path segment (the contract does not fix string or number).
pub fn id_of(v: &Value) -> String {
    match &v["id"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("`id` is neither a non-empty string nor a number: {other} in {v}"),
    }
}

/// Whether any string anywhere in `v` equals or contains `s`.
pub fn mentions(v: &Value, s: &str) -> bool {
    match v {
        Value::String(x) => x.contains(s),
        Value::Array(a) => a.iter().any(|x| mentions(x, s)),
        Value::Object(o) => o.keys().any(|k| k.contains(s)) || o.values().any(|x| mentions(x, s)),
        _ => false,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac]Z`: RFC 3339 in UTC, fractions of a second allowed.
pub fn is_utc(s: &str) -> bool {
    match s.strip_suffix('Z').and_then(|x| x.split_once('.')) {
        Some((secs, frac)) => {
            !frac.is_empty() && frac.bytes().all(|c| c.is_ascii_digit()) && is_utc_seconds(&format!("{secs}Z"))
        }
        None => is_utc_seconds(s),
    }
}

/// Asserts `v` is a contract time (RFC 3339 UTC with whole seconds) within `slack` seconds of now.
pub fn assert_recent_time(v: &Value, slack: i64, ctx: &str) {
    let s = v.as_str().unwrap_or_else(|| panic!("{ctx}: time is not a string: {v}"));
    assert!(is_utc_seconds(s), "{ctx}: {s:?} is not RFC 3339 UTC with seconds (2026-11-23T10:00:00Z)");
    assert_recent_utc(v, slack, ctx);
}

/// Asserts `v` is an RFC 3339 UTC time, fractions allowed, within `slack` seconds of now. Only
/// for the delivery's `next_attempt_at` and the attempts' `at`, whose exact form
/// [`assert_delivery_times_are_whole_seconds`] checks in a test of its own.
pub fn assert_recent_utc(v: &Value, slack: i64, ctx: &str) {
    let s = v.as_str().unwrap_or_else(|| panic!("{ctx}: time is not a string: {v}"));
    assert!(is_utc(s), "{ctx}: {s:?} is not an RFC 3339 UTC time");
    let t = parse_rfc3339(s).unwrap();
    let now = now_secs();
    assert!((t - now).abs() <= slack, "{ctx}: {s} is {}s away from now", t - now);
}

/// The events of a webhook as a sorted list.
pub fn events_of(v: &Value) -> Vec<String> {
    let mut e: Vec<String> = v["events"]
        .as_array()
        .unwrap_or_else(|| panic!("`events` is not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap_or_else(|| panic!("an event is not a string: {v}")).to_string())
        .collect();
    e.sort();
    e
}

/// Asserts the shape of a webhook object (docs/index.md: id, namespace, repository, url, events,
/// active, created_at) and that it carries no secret.
pub fn assert_hook_shape(v: &Value, ctx: &str) {
    id_of(v);
    assert!(v["namespace"].is_string(), "{ctx}: `namespace` is not a string: {v}");
    assert!(v.get("repository").is_some(), "{ctx}: no `repository` key (null for a namespace): {v}");
    assert!(v["repository"].is_string() || v["repository"].is_null(), "{ctx}: `repository`: {v}");
    assert!(v["url"].is_string(), "{ctx}: `url`: {v}");
    events_of(v);
    assert!(v["active"].is_boolean(), "{ctx}: `active` is not a boolean: {v}");
    assert_recent_time(&v["created_at"], 600, &format!("{ctx}: created_at"));
}

pub async fn post_hook(c: &impl Http, body: &Value) -> Response {
    c.post("/api/v1/webhooks").json(body).send().await.unwrap()
}

/// `POST /api/v1/webhooks`, asserting `201`, the shape and a `secret`; returns the answer.
pub async fn create_hook(c: &impl Http, body: Value) -> Value {
    let v = json_of(post_hook(c, &body).await, 201).await;
    assert_hook_shape(&v, "POST /api/v1/webhooks answer");
    let secret = v["secret"].as_str().unwrap_or_else(|| panic!("the 201 shows no `secret`: {v}"));
    assert!((16..=256).contains(&secret.chars().count()), "secret of {} characters: {v}", secret.chars().count());
    if let Some(given) = body.get("secret") {
        assert_eq!(&v["secret"], given, "the 201 shows another secret than the one given");
    }
    v
}

/// A webhook on a namespace with [`SECRET`] and the given events (None: the default).
pub async fn ns_hook(c: &impl Http, ns: &str, url: &str, events: Option<&[&str]>) -> String {
    let mut b = json!({"namespace": ns, "url": url, "secret": SECRET});
    if let Some(e) = events {
        b["events"] = json!(e);
    }
    id_of(&create_hook(c, b).await)
}

/// A webhook on a repository with [`SECRET`] and the given events (None: the default).
pub async fn repo_hook(c: &impl Http, repo: &str, url: &str, events: Option<&[&str]>) -> String {
    let mut b = json!({"repository": repo, "url": url, "secret": SECRET});
    if let Some(e) = events {
        b["events"] = json!(e);
    }
    id_of(&create_hook(c, b).await)
}

pub async fn get_hook(c: &impl Http, id: &str) -> Response {
    c.get(&format!("/api/v1/webhooks/{id}")).send().await.unwrap()
}

/// `GET /api/v1/webhooks<query>` -> the `webhooks` array (each checked, none with a secret).
pub async fn list_hooks(c: &impl Http, query: &str) -> Vec<Value> {
    let v = json_of(c.get(&format!("/api/v1/webhooks{query}")).send().await.unwrap(), 200).await;
    let list =
        v["webhooks"].as_array().unwrap_or_else(|| panic!("GET /api/v1/webhooks{query}: no `webhooks` array: {v}"));
    for h in list {
        assert_hook_shape(h, &format!("GET /api/v1/webhooks{query}"));
        assert!(h.get("secret").is_none(), "a listed webhook shows its secret: {h}");
    }
    list.clone()
}

pub async fn list_ids(c: &impl Http, query: &str) -> Vec<String> {
    let mut ids: Vec<String> = list_hooks(c, query).await.iter().map(id_of).collect();
    ids.sort();
    ids
}

/// `GET /api/v1/webhooks/<id>/deliveries<query>` -> the whole answer (asserting 200 and shape).
pub async fn deliveries_page(c: &impl Http, id: &str, query: &str) -> Value {
    let v = json_of(c.get(&format!("/api/v1/webhooks/{id}/deliveries{query}")).send().await.unwrap(), 200).await;
    let list = v["deliveries"].as_array().unwrap_or_else(|| panic!("deliveries of {id}: no `deliveries` array: {v}"));
    for d in list {
        assert_delivery_shape(d);
    }
    for k in ["page", "page_size", "total"] {
        assert!(v[k].is_u64(), "deliveries of {id}: `{k}` is not a number: {v}");
    }
    v
}

/// The deliveries of a webhook (first page, newest first).
pub async fn deliveries(c: &impl Http, id: &str) -> Vec<Value> {
    deliveries_page(c, id, "").await["deliveries"].as_array().unwrap().clone()
}

/// Polls the deliveries of a webhook until `pred` holds (panics after `limit` with the last list).
pub async fn wait_deliveries(
    c: &impl Http,
    id: &str,
    limit: Duration,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let list = deliveries(c, id).await;
        if pred(&list) {
            return list;
        }
        if Instant::now() >= deadline {
            panic!("deliveries of webhook {id}: not {what} within {limit:?}; last answer: {:#}", Value::Array(list));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts the shape of a delivery (docs/index.md): id, event, status, created_at,
/// next_attempt_at (null unless pending), payload, attempts [{at, status_code, error, duration_ms}].
pub fn assert_delivery_shape(d: &Value) {
    id_of(d);
    let ev = d["event"].as_str().unwrap_or_else(|| panic!("delivery without `event`: {d}"));
    assert!(["push", "delete", "pull"].contains(&ev), "delivery event {ev:?}: {d}");
    let st = d["status"].as_str().unwrap_or_else(|| panic!("delivery without `status`: {d}"));
    assert!(["pending", "delivered", "failed"].contains(&st), "delivery status {st:?}: {d}");
    assert_recent_time(&d["created_at"], 600, "delivery created_at");
    assert!(d.get("next_attempt_at").is_some(), "delivery without `next_attempt_at`: {d}");
    if st == "pending" {
        assert!(d["next_attempt_at"].is_string(), "a pending delivery needs next_attempt_at: {d}");
        assert_recent_utc(&d["next_attempt_at"], 7200, "next_attempt_at");
    } else {
        assert!(d["next_attempt_at"].is_null(), "next_attempt_at must be null unless pending: {d}");
    }
    assert!(d["payload"].is_object(), "delivery without a `payload` object: {d}");
    assert_eq!(d["payload"]["event"], d["event"], "delivery event and payload event differ: {d}");
    let attempts = d["attempts"].as_array().unwrap_or_else(|| panic!("delivery without `attempts` array: {d}"));
    for a in attempts {
        assert_recent_utc(&a["at"], 600, "attempt at");
        assert!(a.get("status_code").is_some() && a.get("error").is_some(), "attempt without status_code/error: {d}");
        assert!(a["status_code"].is_u64() || a["status_code"].is_null(), "attempt status_code: {d}");
        assert!(a["error"].is_string() || a["error"].is_null(), "attempt error: {d}");
        assert!(a["duration_ms"].is_u64(), "attempt duration_ms is not a non-negative integer: {d}");
    }
    if st == "delivered" {
        let last = attempts.last().unwrap_or_else(|| panic!("a delivered delivery without attempts: {d}"));
        let code =
            last["status_code"].as_u64().unwrap_or_else(|| panic!("delivered, last attempt without a status: {d}"));
        assert!((200..300).contains(&code), "delivered, but the last attempt got {code}: {d}");
        assert!(last["error"].is_null(), "delivered, but the last attempt has an error: {d}");
    }
}

/// docs/index.md: "Times are RFC 3339 in UTC with seconds (`2026-11-23T10:00:00Z`)", for the
/// delivery's own times too.
pub fn assert_delivery_times_are_whole_seconds(d: &Value) {
    assert_recent_time(&d["created_at"], 600, "delivery created_at");
    if !d["next_attempt_at"].is_null() {
        assert_recent_time(&d["next_attempt_at"], 7200, "delivery next_attempt_at");
    }
    for a in d["attempts"].as_array().unwrap() {
        assert_recent_time(&a["at"], 600, "attempt at");
    }
    assert_recent_time(&d["payload"]["timestamp"], 600, "payload timestamp");
}

/// The attempts' status codes (None for null).
pub fn attempt_codes(d: &Value) -> Vec<Option<u64>> {
    d["attempts"].as_array().unwrap().iter().map(|a| a["status_code"].as_u64()).collect()
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body).as_ref()))
}

/// Checks a delivered request against docs/index.md ("Delivery"): `POST`, the headers, the
/// signature of the exact body with `secret`; returns the payload.
pub fn check_request(r: &Received, secret: &str, event: &str) -> Value {
    let ctx = format!("webhook request to {}", r.target);
    assert_eq!(r.method, "POST", "{ctx}: method");
    let ct = r.header("content-type").unwrap_or_else(|| panic!("{ctx}: no Content-Type; {:?}", r.headers));
    assert!(
        ct == "application/json" || ct.starts_with("application/json;"),
        "{ctx}: Content-Type {ct:?}, want application/json"
    );
    let ua = r.header("user-agent").unwrap_or_else(|| panic!("{ctx}: no User-Agent; {:?}", r.headers));
    assert_eq!(ua, format!("berth-webhook/{}", env!("CARGO_PKG_VERSION")), "{ctx}: User-Agent");
    assert_eq!(r.header_all("x-berth-event"), vec![event], "{ctx}: X-Berth-Event");
    let sig = r.header("x-berth-signature").unwrap_or_else(|| panic!("{ctx}: no X-Berth-Signature; {:?}", r.headers));
    assert_eq!(r.header_all("x-berth-signature").len(), 1, "{ctx}: X-Berth-Signature more than once");
    assert_eq!(
        sig,
        signature(secret, &r.body),
        "{ctx}: X-Berth-Signature is not sha256=<hex HMAC-SHA256 of the body with the secret>; body {}",
        String::from_utf8_lossy(&r.body)
    );
    let p = r.json();
    let delivery = r.delivery().unwrap_or_else(|| panic!("{ctx}: no X-Berth-Delivery; {:?}", r.headers));
    assert!(!delivery.is_empty(), "{ctx}: empty X-Berth-Delivery");
    assert_eq!(
        Some(delivery.to_string()),
        p["id"].as_str().map(String::from),
        "{ctx}: X-Berth-Delivery vs payload id: {p}"
    );
    assert_eq!(p["event"], event, "{ctx}: payload event: {p}");
    p
}

/// What a payload must say.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub event: &'a str,
    pub repository: &'a str,
    pub namespace: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
    pub media_type: Option<&'a str>,
    pub actor: Option<&'a str>,
}

impl<'a> Event<'a> {
    pub fn push(
        repository: &'a str,
        tag: Option<&'a str>,
        digest: &'a str,
        media_type: &'a str,
        actor: &'a str,
    ) -> Self {
        Event {
            event: "push",
            repository,
            namespace: repository.split('/').next().unwrap(),
            tag,
            digest: Some(digest),
            media_type: Some(media_type),
            actor: Some(actor),
        }
    }
}

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| json!(s))
}

/// Asserts every payload field of docs/index.md (a null field must be there as null).
pub fn check_payload(p: &Value, w: &Event<'_>) {
    let ctx = format!("{} payload {p}", w.event);
    for k in ["id", "event", "timestamp", "repository", "namespace", "tag", "digest", "media_type", "actor"] {
        assert!(p.get(k).is_some(), "{ctx}: no `{k}`");
    }
    assert!(p["id"].as_str().is_some_and(|s| !s.is_empty()), "{ctx}: id is not a non-empty string");
    assert_eq!(p["event"], w.event, "{ctx}: event");
    assert_recent_time(&p["timestamp"], 120, &format!("{ctx}: timestamp"));
    assert_eq!(p["repository"], w.repository, "{ctx}: repository");
    assert_eq!(p["namespace"], w.namespace, "{ctx}: namespace");
    assert_eq!(p["tag"], opt(w.tag), "{ctx}: tag");
    assert_eq!(p["digest"], opt(w.digest), "{ctx}: digest");
    assert_eq!(p["media_type"], opt(w.media_type), "{ctx}: media_type");
    assert_eq!(p["actor"], opt(w.actor), "{ctx}: actor");
}

/// Checks a request fully (headers, signature, payload) and returns the payload.
pub fn check_delivered(r: &Received, secret: &str, w: &Event<'_>) -> Value {
    let p = check_request(r, secret, w.event);
    check_payload(&p, w);
    p
}

/// Waits `d`, then asserts no request beyond the `n` expected went to `path`.
pub async fn assert_quiet(recv: &Receiver, path: &str, n: usize, d: Duration) {
    tokio::time::sleep(d).await;
    let got = recv.to(path);
    assert_eq!(
        got.len(),
        n,
        "{path}: {} request(s), want {n}: {:#?}",
        got.len(),
        got.iter().map(|r| format!("{:?} {}", r.delivery(), String::from_utf8_lossy(&r.body))).collect::<Vec<_>>()
    );
}

/// The (tag, digest) of each request's payload, sorted (for events whose order is not fixed).
pub fn tags_digests(reqs: &[Received]) -> Vec<(Value, Value)> {
    let mut v: Vec<(Value, Value)> = reqs
        .iter()
        .map(|r| {
            let p = r.json();
            (p["tag"].clone(), p["digest"].clone())
        })
        .collect();
    v.sort_by_key(|a| format!("{a:?}"));
    v
}
