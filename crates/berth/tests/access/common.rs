//! Credentials, challenges, JWTs and JSON-API helpers shared by the access groups (all written
//! from docs/access.md and Docker's token authentication spec).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::harness::*;

/// The password every test user gets.
pub const PW: &str = "correct-horse-1";
/// The default token service (audience).
pub const SERVICE: &str = "berth";

// ---- base64 (RFC 4648), so the tests need no extra crate ----

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_encode_with(data: &[u8], table: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, c) in chars.iter().enumerate() {
            if i <= chunk.len() {
                out.push(table[*c as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding (HTTP Basic).
pub fn b64(data: &[u8]) -> String {
    b64_encode_with(data, B64, true)
}

/// base64url without padding (JWT).
pub fn b64url(data: &[u8]) -> String {
    b64_encode_with(data, B64URL, false)
}

/// Decodes base64url (padding optional). None on a character outside the alphabet.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for ch in s.bytes() {
        let v = B64URL.iter().position(|&c| c == ch)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

pub fn basic_value(user: &str, pass: &str) -> String {
    format!("Basic {}", b64(format!("{user}:{pass}").as_bytes()))
}

// ---- callers ----

/// Requests against a server with a fixed `Authorization` header (or none).
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    pub s: &'a Server,
    pub auth: Option<String>,
    pub label: String,
}

impl Http for Caller<'_> {
    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        let r = self.s.req(method, path);
        match &self.auth {
            Some(a) => r.header("authorization", a),
            None => r,
        }
    }
}

pub trait Callers {
    fn anon(&self) -> Caller<'_>;
    fn basic(&self, user: &str, pass: &str) -> Caller<'_>;
    fn bearer(&self, token: &str) -> Caller<'_>;
    /// The `admin` account, HTTP Basic.
    fn admin(&self) -> Caller<'_>;
    /// A user created with [`PW`], HTTP Basic.
    fn user(&self, name: &str) -> Caller<'_>;
}

impl Callers for Server {
    fn anon(&self) -> Caller<'_> {
        Caller { s: self, auth: None, label: "anonymous".into() }
    }
    fn basic(&self, user: &str, pass: &str) -> Caller<'_> {
        Caller { s: self, auth: Some(basic_value(user, pass)), label: user.to_string() }
    }
    fn bearer(&self, token: &str) -> Caller<'_> {
        Caller { s: self, auth: Some(format!("Bearer {token}")), label: "bearer".into() }
    }
    fn admin(&self) -> Caller<'_> {
        let p = self.admin_password();
        self.basic("admin", &p)
    }
    fn user(&self, name: &str) -> Caller<'_> {
        self.basic(name, PW)
    }
}

/// A server in the default mode (accounts on, `admin` / [`ADMIN_PASSWORD`]) with extra env.
pub fn auth_server(envs: &[(&str, &str)]) -> Server {
    let mut b = Server::builder().auth();
    for (k, v) in envs {
        b = b.env(*k, *v);
    }
    b.start()
}

// ---- the WWW-Authenticate challenge ----

/// `Bearer k="v",k="v"` -> (scheme, params). Values may hold commas inside quotes.
pub fn parse_challenge(h: &str) -> (String, BTreeMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() || chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n)
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), val.trim().to_string());
    }
    (scheme.to_string(), params)
}

/// What the challenge's `scope` must be.
#[derive(Debug, Clone, Copy)]
pub enum Want<'a> {
    /// No `scope` parameter (`GET /v2/`).
    NoScope,
    /// Exactly this scope (`registry:catalog:*`, `repository:x/y:pull`).
    Exactly(&'a str),
    /// `repository:<name>:<actions>` whose actions include this one. docs/access.md writes
    /// `<actions>` without fixing them for push and delete (Docker sends `pull,push` for a push):
    /// pull must be exactly `pull`; push may be `push` or `pull,push`; delete must include
    /// `delete`.
    Repo(&'a str, &'a str),
}

/// What the challenge's `error` parameter must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ErrorParam {
    /// No credentials were sent: no `error`.
    Absent,
    /// A bearer token was sent that lacks the action: `error="insufficient_scope"`.
    InsufficientScope,
    /// Not checked (bad credentials).
    Any,
}

pub fn check_scope(scope: Option<&String>, want: Want<'_>, ctx: &str) {
    match want {
        Want::NoScope => assert!(scope.is_none(), "{ctx}: challenge has a scope {scope:?}, want none"),
        Want::Exactly(w) => assert_eq!(scope.map(String::as_str), Some(w), "{ctx}: challenge scope"),
        Want::Repo(name, action) => {
            let scope = scope.unwrap_or_else(|| panic!("{ctx}: challenge without scope, want {name} {action}"));
            let prefix = format!("repository:{name}:");
            let actions = scope
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{ctx}: challenge scope {scope:?}, want {prefix}<actions>"));
            let set: BTreeSet<&str> = actions.split(',').collect();
            match action {
                "pull" => assert_eq!(actions, "pull", "{ctx}: challenge scope {scope:?}"),
                "push" => assert!(
                    set == BTreeSet::from(["push"]) || set == BTreeSet::from(["pull", "push"]),
                    "{ctx}: challenge scope {scope:?}, want push (or pull,push)"
                ),
                _ => assert!(
                    set.contains(action) && set.iter().all(|a| ["pull", "push", "delete"].contains(a)),
                    "{ctx}: challenge scope {scope:?}, want {action}"
                ),
            }
        }
    }
}

/// Asserts a 401 with the contract's challenge. `realm` is the full realm URL.
pub async fn expect_challenge_at(
    resp: Response,
    realm: &str,
    service: &str,
    want: Want<'_>,
    error: ErrorParam,
) -> Value {
    let ctx = format!("{} {}", resp.url(), resp.status());
    let h = header(&resp, "www-authenticate");
    let body = expect_error(resp, 401, "UNAUTHORIZED").await;
    let h = h.unwrap_or_else(|| panic!("{ctx}: 401 without WWW-Authenticate"));
    let (scheme, p) = parse_challenge(&h);
    assert_eq!(scheme, "Bearer", "{ctx}: challenge scheme in {h:?}");
    assert_eq!(p.get("realm").map(String::as_str), Some(realm), "{ctx}: realm in {h:?}");
    assert_eq!(p.get("service").map(String::as_str), Some(service), "{ctx}: service in {h:?}");
    check_scope(p.get("scope"), want, &format!("{ctx} ({h})"));
    match error {
        ErrorParam::Absent => assert!(!p.contains_key("error"), "{ctx}: error parameter without a token: {h:?}"),
        ErrorParam::InsufficientScope => {
            assert_eq!(p.get("error").map(String::as_str), Some("insufficient_scope"), "{ctx}: {h:?}")
        }
        ErrorParam::Any => {}
    }
    body
}

pub fn realm(s: &Server) -> String {
    format!("{}/auth/token", s.base)
}

/// 401 + challenge for an anonymous caller.
pub async fn expect_challenge(resp: Response, s: &Server, want: Want<'_>) -> Value {
    expect_challenge_at(resp, &realm(s), SERVICE, want, ErrorParam::Absent).await
}

/// 401 + challenge with `error="insufficient_scope"` (a bearer token lacking the action).
pub async fn expect_insufficient(resp: Response, s: &Server, want: Want<'_>) -> Value {
    expect_challenge_at(resp, &realm(s), SERVICE, want, ErrorParam::InsufficientScope).await
}

/// 401 + challenge for bad credentials (any `error`, scope checked when given).
pub async fn expect_bad_credentials(resp: Response, s: &Server, want: Want<'_>) -> Value {
    expect_challenge_at(resp, &realm(s), SERVICE, want, ErrorParam::Any).await
}

// ---- JWTs ----

#[derive(Debug, Clone)]
pub struct Jwt {
    pub header: Value,
    pub claims: Value,
    pub parts: [String; 3],
}

pub fn decode_jwt(token: &str) -> Jwt {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact token has three parts: {token}");
    let dec = |p: &str, what: &str| -> Value {
        let b = b64url_decode(p).unwrap_or_else(|| panic!("JWT {what} is not base64url: {p}"));
        serde_json::from_slice(&b)
            .unwrap_or_else(|e| panic!("JWT {what} is not JSON ({e}): {}", String::from_utf8_lossy(&b)))
    };
    Jwt {
        header: dec(parts[0], "header"),
        claims: dec(parts[1], "payload"),
        parts: [parts[0].to_string(), parts[1].to_string(), parts[2].to_string()],
    }
}

/// The `access` claim as {(type, name) -> actions}: entries merged, `*` on a repository expanded
/// to pull, push, delete, empty ones dropped (Docker: "the intersected set would be empty").
pub fn access_of(claims: &Value) -> BTreeMap<(String, String), BTreeSet<String>> {
    let list = claims["access"].as_array().unwrap_or_else(|| panic!("no `access` array in claims {claims}"));
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for e in list {
        let t = e["type"].as_str().unwrap_or_else(|| panic!("access entry without type: {e}")).to_string();
        let n = e["name"].as_str().unwrap_or_else(|| panic!("access entry without name: {e}")).to_string();
        let acts = e["actions"].as_array().unwrap_or_else(|| panic!("access entry without actions: {e}"));
        let set = out.entry((t.clone(), n)).or_default();
        for a in acts {
            let a = a.as_str().unwrap_or_else(|| panic!("action is not a string: {e}"));
            if a == "*" && t == "repository" {
                set.extend(["pull", "push", "delete"].map(String::from));
            } else {
                set.insert(a.to_string());
            }
        }
    }
    out.retain(|_, v| !v.is_empty());
    out
}

/// Builds an expected access map: `&[("repository", "a/b", &["pull"])]`.
pub fn access(entries: &[(&str, &str, &[&str])]) -> BTreeMap<(String, String), BTreeSet<String>> {
    entries
        .iter()
        .map(|(t, n, a)| ((t.to_string(), n.to_string()), a.iter().map(|x| x.to_string()).collect()))
        .collect()
}

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Signs `header.claims` with a fresh Ed25519 key that berth has never seen.
pub fn sign_with_foreign_key(header: &Value, claims: &Value) -> String {
    let seed = [7u8; 32];
    let key = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).expect("ed25519 key");
    let input =
        format!("{}.{}", b64url(&serde_json::to_vec(header).unwrap()), b64url(&serde_json::to_vec(claims).unwrap()));
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(sig.as_ref()))
}

/// Re-encodes a token's payload with changed claims, keeping the original header and signature.
pub fn with_claims(jwt: &Jwt, claims: &Value) -> String {
    format!("{}.{}.{}", jwt.parts[0], b64url(&serde_json::to_vec(claims).unwrap()), jwt.parts[2])
}

// ---- the token endpoint ----

/// `GET /auth/token` with the given query pairs (repeat `scope` for several).
pub async fn token_request(c: &impl Http, query: &[(&str, &str)]) -> Response {
    c.get("/auth/token").query(query).send().await.unwrap()
}

/// `GET /auth/token?service=berth&scope=...`, asserting 200 and the response shape. Returns
/// (token, body).
pub async fn token_for(c: &impl Http, scopes: &[&str]) -> (String, Value) {
    let mut q = vec![("service", SERVICE)];
    q.extend(scopes.iter().map(|s| ("scope", *s)));
    let r = token_request(c, &q).await;
    let v = json_of(r, 200).await;
    let t = v["token"].as_str().unwrap_or_else(|| panic!("token response without `token`: {v}")).to_string();
    assert_eq!(v["access_token"].as_str(), Some(t.as_str()), "`access_token` must equal `token`: {v}");
    (t, v)
}

/// The claims' access map of a token from [`token_for`].
pub async fn granted(c: &impl Http, scopes: &[&str]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let (t, _) = token_for(c, scopes).await;
    access_of(&decode_jwt(&t).claims)
}

/// `POST /auth/token` with a form body.
pub async fn token_post(s: &Server, form: &[(&str, &str)]) -> Response {
    s.post("/auth/token").form(form).send().await.unwrap()
}

// ---- JSON ----

/// Asserts the status (printing the body otherwise) and returns the JSON body (Null when empty).
pub async fn json_of(resp: Response, status: u16) -> Value {
    let resp = expect_status(resp, status).await;
    let url = resp.url().clone();
    let b = resp.bytes().await.expect("read body");
    if b.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&b)
        .unwrap_or_else(|e| panic!("{url}: body is not JSON ({e}): {}", String::from_utf8_lossy(&b)))
}

/// Asserts a 2xx (the contract leaves the exact success status open for some calls).
pub async fn expect_success(resp: Response) -> Value {
    let st = resp.status();
    if !st.is_success() {
        let url = resp.url().clone();
        let body = resp.text().await.unwrap_or_default();
        panic!("{url}: expected a 2xx, got {st}; body: {body}");
    }
    let b = resp.bytes().await.expect("read body");
    if b.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&b).unwrap_or(Value::Null)
    }
}

// ---- the JSON API ----

pub async fn create_user(admin: &impl Http, name: &str) -> Value {
    let r = admin
        .post("/api/v1/users")
        .json(&json!({"username": name, "password": PW, "email": format!("{name}@example.com")}))
        .send()
        .await
        .unwrap();
    json_of(r, 201).await
}

pub async fn create_org(c: &impl Http, name: &str) -> Value {
    let r = c.post("/api/v1/orgs").json(&json!({ "name": name })).send().await.unwrap();
    json_of(r, 201).await
}

pub async fn create_team(c: &impl Http, org: &str, team: &str, role: &str) -> Value {
    let r =
        c.post(&format!("/api/v1/orgs/{org}/teams")).json(&json!({"name": team, "role": role})).send().await.unwrap();
    json_of(r, 201).await
}

pub async fn add_member(c: &impl Http, org: &str, team: &str, member: &str) {
    let r = c.put(&format!("/api/v1/orgs/{org}/teams/{team}/members/{member}")).send().await.unwrap();
    expect_status(r, 204).await;
}

pub async fn set_repo_role(c: &impl Http, org: &str, team: &str, repo: &str, role: &str) {
    let r = c
        .put(&format!("/api/v1/orgs/{org}/teams/{team}/repositories/{repo}"))
        .json(&json!({ "role": role }))
        .send()
        .await
        .unwrap();
    expect_status(r, 204).await;
}

/// Creates robot `<org>+<name>`; returns its token.
pub async fn create_robot(c: &impl Http, org: &str, name: &str) -> String {
    let r = c.post(&format!("/api/v1/orgs/{org}/robots")).json(&json!({ "name": name })).send().await.unwrap();
    let v = json_of(r, 201).await;
    assert_eq!(v["name"], format!("{org}+{name}"), "robot name: {v}");
    v["token"].as_str().unwrap_or_else(|| panic!("robot without token: {v}")).to_string()
}

/// Creates a personal access token; returns (id as a path segment, secret).
pub async fn create_pat(
    c: &impl Http,
    user: &str,
    name: &str,
    scope: &str,
    expires_at: Option<&str>,
) -> (String, String) {
    let mut body = json!({"name": name, "scope": scope});
    if let Some(e) = expires_at {
        body["expires_at"] = json!(e);
    }
    let r = c.post(&format!("/api/v1/users/{user}/tokens")).json(&body).send().await.unwrap();
    let v = json_of(r, 201).await;
    let id = match &v["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("token id is neither a string nor a number: {other} in {v}"),
    };
    (id, v["token"].as_str().unwrap_or_else(|| panic!("no token in {v}")).to_string())
}

/// PATCH /api/v1/repositories/<name> {"visibility"}, asserting 200 with the repository.
pub async fn set_visibility(c: &impl Http, repo: &str, visibility: &str) -> Value {
    let r = c
        .patch(&format!("/api/v1/repositories/{repo}"))
        .json(&json!({ "visibility": visibility }))
        .send()
        .await
        .unwrap();
    let v = json_of(r, 200).await;
    assert_eq!(v["name"], repo, "PATCH repository answer: {v}");
    assert_eq!(v["visibility"], visibility, "PATCH repository answer: {v}");
    v
}

pub async fn visibility_of(c: &impl Http, repo: &str) -> String {
    let r = c.get(&format!("/api/v1/repositories/{repo}")).send().await.unwrap();
    let v = json_of(r, 200).await;
    assert_eq!(v["name"], repo, "{v}");
    v["visibility"].as_str().unwrap_or_else(|| panic!("no visibility in {v}")).to_string()
}

/// An RFC 3339 UTC timestamp (`2024-05-01T12:00:00Z`) for `now + offset` (offset may be negative).
pub fn rfc3339_in(offset_secs: i64) -> String {
    let t = now_secs() + offset_secs;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into Unix seconds (enough for `issued_at`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, time) = s.split_once(['T', 't'])?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, dd) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let i = time.rfind(['+', '-'])?;
        let (c, o) = time.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (oh, om) = o[1..].split_once(':')?;
        (c, sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60))
    };
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (c.next()??, c.next()??, c.next()??);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// Sleeps until the wall clock is past Unix second `t` (plus a small margin).
pub async fn sleep_past(t: i64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let target = Duration::from_secs((t + 1) as u64) + Duration::from_millis(50);
    if target > now {
        tokio::time::sleep(target - now).await;
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`: RFC 3339 in UTC with seconds, the form docs/index.md gives.
pub fn is_utc_seconds(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
        && parse_rfc3339(s).is_some()
}
