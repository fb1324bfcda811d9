//! The router against the document: every route of `/api/v1` is documented and every documented
//! operation is routed. The routes are read from the router's source (`crates/http/src`: the
//! `.route(...)` calls of what `lib.rs` nests under `/api/v1`), and their methods are confirmed
//! by the live server (`405` with `Allow` for a method a route does not take).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::answers::server_and_document;
use crate::contract::{Contract, METHODS};

fn http_src(file: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../http/src").join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The text from `open` (an opening bracket at `s[start]`) to its matching close, exclusive.
fn balanced(s: &str, start: usize) -> &str {
    let b = s.as_bytes();
    let (open, close) = match b[start] {
        b'(' => (b'(', b')'),
        b'{' => (b'{', b'}'),
        c => panic!("no bracket at {start}: {}", c as char),
    };
    let mut depth = 0;
    let mut in_str = false;
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return &s[start + 1..i];
            }
        }
        i += 1;
    }
    panic!("unbalanced bracket at {start}")
}

/// `ident(` calls in `expr` whose name is an HTTP method of axum's routing (`get(h).post(h)`).
fn methods_of(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() || b[i] == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let ident = &expr[start..i];
            let called = expr[i..].trim_start().starts_with('(');
            if called && ["get", "post", "put", "patch", "delete", "any"].contains(&ident) {
                out.insert(ident.to_uppercase());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Every `.route("PATH", METHODS)` in `text`.
fn routes_in(text: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(".route(") {
        let open = from + i + ".route".len();
        let args = balanced(text, open);
        let (path, rest) = args.trim_start().strip_prefix('"').and_then(|a| a.split_once('"')).expect("route path");
        out.push((path.to_string(), methods_of(rest)));
        from = open + 1;
    }
    out
}

/// The routes nested under `/api/v1`, as (path under `/api/v1`, methods), from the source.
fn api_routes() -> Vec<(String, BTreeSet<String>)> {
    let lib = http_src("lib.rs");
    let at = lib.find(".nest(\"/api/v1\",").expect("lib.rs nests /api/v1");
    let nest = balanced(&lib, at + ".nest".len());
    let mut routes = routes_in(nest);
    let mut modules = 0;
    for module in ["api", "index_api"] {
        if !nest.contains(&format!("{module}::routes()")) {
            continue;
        }
        modules += 1;
        let src = http_src(&format!("{module}.rs"));
        let f = src.find("pub fn routes()").unwrap_or_else(|| panic!("{module}.rs has no routes()"));
        let body_at = f + src[f..].find('{').unwrap();
        routes.extend(routes_in(balanced(&src, body_at)));
    }
    assert!(modules > 0 && routes.len() > 10, "found too few routes in the source: {routes:?}");
    // Anything else the nest holds is a route this reader does not know.
    let known = nest.replace("api::routes()", "").replace("index_api::routes()", "");
    assert!(!known.contains("::routes()"), "/api/v1 nests routes this test does not read: {nest}");
    routes
}

/// A concrete path for a route (`{x}` and `{*x}` filled in).
fn sample(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with("{*") {
                "alice/web".to_string()
            } else if s.starts_with('{') {
                "x1".to_string()
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_is_documented_and_every_operation_is_routed() {
    let (s, contract) = server_and_document().await;
    let documented = contract.operations();
    let routes = api_routes();

    // The live router agrees with the source on each route's methods.
    let mut catch_alls = Vec::new();
    let mut routed: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, methods) in &routes {
        let url = format!("/api/v1{}", sample(path));
        let r = s.req(reqwest::Method::OPTIONS, &url).send().await.unwrap();
        if methods.contains("ANY") {
            assert!(
                r.status() != 405 || r.headers().get("allow").is_none(),
                "{path}: read as `any`, but the server lists its methods: {:?}",
                r.headers().get("allow")
            );
            catch_alls.push(path.clone());
            continue;
        }
        assert_eq!(r.status(), 405, "OPTIONS {url}: a route without OPTIONS answers 405");
        let allow: BTreeSet<String> = r
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().split(',').map(|m| m.trim().to_uppercase()).collect())
            .unwrap_or_default();
        let allow: BTreeSet<String> = allow.into_iter().filter(|m| m != "HEAD").collect();
        assert_eq!(&allow, methods, "{path}: the server's Allow and the source's methods differ");
        let template = format!("/api/v1{}", path.replace("{*", "{"));
        for m in methods {
            routed.insert((m.clone(), template.clone()));
        }
    }

    // Every route is documented...
    let undocumented: Vec<_> = routed.iter().filter(|op| !documented.contains(*op)).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    let mut under_catch_all: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for c in &catch_alls {
        let prefix = format!("/api/v1{}/", c.split("/{*").next().unwrap());
        let ops: Vec<_> = documented.iter().filter(|(_, p)| p.starts_with(&prefix)).cloned().collect();
        assert!(!ops.is_empty(), "the catch-all route {c} has no documented operation under {prefix}");
        under_catch_all.insert(prefix, ops);
    }
    // ...and every documented operation is a route.
    let unrouted: Vec<_> = documented
        .iter()
        .filter(|op| !routed.contains(*op) && !under_catch_all.values().flatten().any(|x| x == *op))
        .collect();
    assert!(unrouted.is_empty(), "documented operations the router does not have: {unrouted:?}");

    // Under a catch-all, the methods the document does not list for a logical path are refused
    // (405): the document lists all the dispatcher takes.
    for ops in under_catch_all.values() {
        let paths: BTreeSet<&String> = ops.iter().map(|(_, p)| p).collect();
        for p in paths {
            let url = p.replace("{name}", "alice/web").replace("{tag}", "v1");
            for m in METHODS {
                let m = m.to_uppercase();
                if documented.contains(&(m.clone(), p.clone())) {
                    continue;
                }
                let r = s.req(reqwest::Method::from_bytes(m.as_bytes()).unwrap(), &url).send().await.unwrap();
                assert_eq!(r.status(), 405, "{m} {url}: not documented, so it must be refused with 405");
            }
        }
    }
    well_formed(&contract);
}

/// What any OpenAPI document should hold: unique operation ids, declared path parameters, a
/// description for every response, security schemes that exist.
fn well_formed(c: &Contract) {
    let doc = &c.doc;
    let schemes: BTreeSet<String> =
        doc["components"]["securitySchemes"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    assert!(schemes.contains("basic") && schemes.contains("bearer"), "security schemes: {schemes:?}");
    let scheme = |name: &str| &doc["components"]["securitySchemes"][name];
    assert_eq!((&scheme("basic")["type"], &scheme("basic")["scheme"]), (&json!("http"), &json!("basic")));
    assert_eq!((&scheme("bearer")["type"], &scheme("bearer")["scheme"]), (&json!("http"), &json!("bearer")));
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let declared: Vec<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(String::from)
            .collect();
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let ctx = format!("{} {path}", m.to_uppercase());
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{ctx}: no operationId"));
            assert!(ids.insert(id.to_string()), "{ctx}: operationId {id} is used twice");
            let params: Vec<&Value> = op["parameters"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
            for d in &declared {
                let p = params
                    .iter()
                    .find(|p| p["in"] == "path" && p["name"] == *d)
                    .unwrap_or_else(|| panic!("{ctx}: path parameter {d} is not declared"));
                assert_eq!(p["required"], json!(true), "{ctx}: path parameter {d} must be required");
            }
            let security = op["security"].as_array().unwrap_or_else(|| panic!("{ctx}: no security"));
            for req in security {
                for k in req.as_object().unwrap().keys() {
                    assert!(schemes.contains(k), "{ctx}: unknown security scheme {k}");
                }
            }
            let anonymous = security.iter().any(|r| r.as_object().is_some_and(|m| m.is_empty()));
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{ctx}: no responses"));
            for (status, r) in responses {
                let r = c.resolve(r);
                assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()), "{ctx} {status}: no description");
            }
            if !anonymous {
                assert!(responses.contains_key("401"), "{ctx}: needs credentials but documents no 401");
            }
        }
    }
}
