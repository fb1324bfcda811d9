//! The OpenAPI document as a checker of real exchanges: which operation a request is (method and
//! templated path), whether the answer's status is documented for it, whether its body validates
//! against the documented schema (JSON Schema 2020-12, `$ref`s resolved against the document),
//! and which operations the calls have exercised. Written from the OpenAPI 3.1 specification, not
//! from berth's code.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// One request and its answer, as the checker sees them.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// Path and query, as sent (`/api/v1/repositories?page=2`).
    pub target: String,
    /// The JSON request body, if one was sent.
    pub request: Option<Value>,
    /// Whether the request is meant to be valid (its body and parameters are checked against the
    /// document then; requests meant to be refused are not).
    pub valid_request: bool,
    pub status: u16,
    /// Lower-cased header names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Exchange {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn query(&self) -> Vec<(String, String)> {
        match self.target.split_once('?') {
            None => Vec::new(),
            Some((_, q)) => q
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        }
    }
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    /// A parameter; `true`: it may span several segments (`x-berth-multi-segment`).
    Param(String, bool),
}

#[derive(Debug, Clone)]
struct Template {
    path: String,
    segs: Vec<Seg>,
}

/// A matched operation: its template and the values of its path parameters.
#[derive(Debug, Clone)]
pub struct Matched {
    pub template: String,
    pub params: BTreeMap<String, String>,
}

pub const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// The document with what the calls have shown.
pub struct Contract {
    pub doc: Value,
    templates: Vec<Template>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    /// (METHOD, template) -> statuses seen.
    seen: Mutex<BTreeMap<(String, String), BTreeSet<u16>>>,
    failures: Mutex<Vec<String>>,
    checked: Mutex<usize>,
}

impl Contract {
    pub fn new(doc: Value) -> Contract {
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
            "not an OpenAPI 3.1 document: openapi = {}",
            doc["openapi"]
        );
        let paths = doc["paths"].as_object().unwrap_or_else(|| panic!("the document has no `paths`"));
        let mut templates = Vec::new();
        for (path, item) in paths {
            let multi: BTreeSet<String> = item
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .flat_map(|op| op["parameters"].as_array().cloned().unwrap_or_default())
                .filter(|p| p["in"] == "path" && p["x-berth-multi-segment"] == json!(true))
                .map(|p| p["name"].as_str().unwrap_or_default().to_string())
                .collect();
            let segs = path
                .split('/')
                .skip(1)
                .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(p) => Seg::Param(p.to_string(), multi.contains(p)),
                    None => Seg::Lit(s.to_string()),
                })
                .collect();
            templates.push(Template { path: path.clone(), segs });
        }
        Contract {
            doc,
            templates,
            validators: Mutex::new(HashMap::new()),
            seen: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(Vec::new()),
            checked: Mutex::new(0),
        }
    }

    /// Every (METHOD, template) the document describes.
    pub fn operations(&self) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for m in METHODS {
                if item.get(m).is_some() {
                    out.insert((m.to_uppercase(), path.clone()));
                }
            }
        }
        out
    }

    /// The operation (template) a concrete path is: the matching template with the most literal
    /// segments, as the server tells its sub-resources apart.
    pub fn match_path(&self, path: &str) -> Option<Matched> {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let mut best: Option<(usize, Matched)> = None;
        for t in &self.templates {
            let mut params = BTreeMap::new();
            if match_segs(&t.segs, &parts, &mut params) {
                let lits = t.segs.iter().filter(|s| matches!(s, Seg::Lit(_))).count();
                if best.as_ref().is_none_or(|(l, _)| lits > *l) {
                    best = Some((lits, Matched { template: t.path.clone(), params }));
                }
            }
        }
        best.map(|(_, m)| m)
    }

    /// Resolves a local `$ref` (`#/components/...`) to its target, following chains.
    pub fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..16 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let ptr = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {r}"));
                    v = self.doc.pointer(ptr).unwrap_or_else(|| panic!("unresolvable $ref {r}"));
                }
                None => return v,
            }
        }
        panic!("$ref chain too long")
    }

    /// A validator for `schema` (a schema of the document), its `$ref`s resolved in the document.
    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        if let Some(v) = self.validators.lock().unwrap().get(key) {
            return v.clone();
        }
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"].clone(),
        });
        let obj = root.as_object_mut().unwrap();
        match schema {
            Value::Object(m) => {
                for (k, v) in m {
                    obj.insert(k.clone(), v.clone());
                }
            }
            Value::Bool(b) => {
                if !b {
                    obj.insert("not".into(), json!({}));
                }
            }
            other => panic!("{key}: a schema must be an object or a boolean, not {other}"),
        }
        let v = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("{key}: the document's schema does not compile: {e}")),
        );
        self.validators.lock().unwrap().insert(key.to_string(), v.clone());
        v
    }

    /// The errors of `instance` against `schema` (empty: valid).
    pub fn validate(&self, key: &str, schema: &Value, instance: &Value) -> Vec<String> {
        let v = self.validator(key, schema);
        v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
    }

    /// Checks one exchange against the document. Returns the mismatches (empty: it conforms).
    pub fn check(&self, ex: &Exchange) -> Vec<String> {
        let mut errs = Vec::new();
        let path = ex.path().to_string();
        let ctx = format!("{} {} -> {}", ex.method, ex.target, ex.status);
        let Some(m) = self.match_path(&path) else {
            return vec![format!("{ctx}: no path of the document matches {path}")];
        };
        let item = &self.doc["paths"][&m.template];
        let method = ex.method.to_lowercase();
        let Some(op) = item.get(&method) else {
            return vec![format!("{ctx}: {} {} is not a documented operation", ex.method, m.template)];
        };
        let op_key = format!("{} {}", ex.method, m.template);

        // Parameters: every query parameter sent is documented; a valid request's values conform.
        let params: Vec<&Value> = op["parameters"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
        let param = |name: &str, loc: &str| params.iter().find(|p| p["name"] == name && p["in"] == loc).copied();
        for (k, v) in ex.query() {
            match param(&k, "query") {
                None => errs.push(format!("{ctx}: query parameter {k:?} is not documented for {op_key}")),
                Some(p) if ex.valid_request => {
                    let inst = typed(&p["schema"], &v);
                    for e in self.validate(&format!("{op_key} query {k}"), &p["schema"], &inst) {
                        errs.push(format!("{ctx}: query parameter {k}={v:?}: {e}"));
                    }
                }
                Some(_) => {}
            }
        }
        for (name, value) in &m.params {
            match param(name, "path") {
                None => errs.push(format!("{ctx}: path parameter {name} of {} is not documented", m.template)),
                Some(p) if ex.valid_request => {
                    let inst = typed(&p["schema"], value);
                    for e in self.validate(&format!("{op_key} path {name}"), &p["schema"], &inst) {
                        errs.push(format!("{ctx}: path parameter {name}={value:?}: {e}"));
                    }
                }
                Some(_) => {}
            }
        }
        for p in &params {
            if p["required"] == json!(true) && p["in"] == "query" && !ex.query().iter().any(|(k, _)| p["name"] == *k) {
                errs.push(format!("{ctx}: required query parameter {} not sent", p["name"]));
            }
        }

        // The request body of a valid request conforms to the documented one.
        if let Some(req) = &ex.request {
            match op.get("requestBody").map(|b| self.resolve(b)) {
                None => errs.push(format!("{ctx}: a body was sent but {op_key} documents none")),
                Some(rb) if ex.valid_request => match rb["content"].get("application/json") {
                    None => errs.push(format!("{ctx}: {op_key} documents no application/json request body")),
                    Some(mt) => {
                        for e in self.validate(&format!("{op_key} request"), &mt["schema"], req) {
                            errs.push(format!("{ctx}: request body {req}: {e}"));
                        }
                    }
                },
                Some(_) => {}
            }
        }

        // The status is documented, and the body is what it documents.
        let Some(resp) = op["responses"].get(ex.status.to_string()).map(|r| self.resolve(r)) else {
            let documented: Vec<&String> = op["responses"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
            errs.push(format!(
                "{ctx}: status {} is not documented for {op_key} (documented: {documented:?}); body {}",
                ex.status,
                String::from_utf8_lossy(&ex.body)
            ));
            return errs;
        };
        self.seen.lock().unwrap().entry((ex.method.clone(), m.template.clone())).or_default().insert(ex.status);
        match resp.get("content").and_then(Value::as_object) {
            None => {
                if !ex.body.is_empty() {
                    errs.push(format!(
                        "{ctx}: {op_key} {} documents no body, got {}",
                        ex.status,
                        String::from_utf8_lossy(&ex.body)
                    ));
                }
            }
            Some(content) => {
                let ct = ex.header("content-type").unwrap_or("");
                let mt = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                match content.get(&mt) {
                    None => errs.push(format!(
                        "{ctx}: Content-Type {ct:?} is not documented (documented: {:?})",
                        content.keys().collect::<Vec<_>>()
                    )),
                    Some(media) => match serde_json::from_slice::<Value>(&ex.body) {
                        Err(e) => errs
                            .push(format!("{ctx}: the body is not JSON ({e}): {}", String::from_utf8_lossy(&ex.body))),
                        Ok(body) => {
                            let key = format!("{op_key} {} {mt}", ex.status);
                            for e in self.validate(&key, &media["schema"], &body) {
                                errs.push(format!(
                                    "{ctx}: body does not match the documented schema: {e}; body {body}"
                                ));
                            }
                        }
                    },
                }
            }
        }
        // Documented headers, when present, conform.
        if let Some(headers) = resp.get("headers").and_then(Value::as_object) {
            for (name, h) in headers {
                let h = self.resolve(h);
                if let Some(v) = ex.header(&name.to_ascii_lowercase()) {
                    let inst = typed(&h["schema"], v);
                    for e in self.validate(&format!("{op_key} {} header {name}", ex.status), &h["schema"], &inst) {
                        errs.push(format!("{ctx}: header {name}: {v:?}: {e}"));
                    }
                } else if h["required"] == json!(true) {
                    errs.push(format!("{ctx}: required header {name} is missing"));
                }
            }
        }
        errs
    }

    /// Checks and records an exchange; mismatches are kept for [`Contract::finish`].
    pub fn record(&self, ex: &Exchange) {
        *self.checked.lock().unwrap() += 1;
        let errs = self.check(ex);
        self.failures.lock().unwrap().extend(errs);
    }

    /// The operations exercised so far with their statuses.
    pub fn seen(&self) -> BTreeMap<(String, String), BTreeSet<u16>> {
        self.seen.lock().unwrap().clone()
    }

    /// Panics with every mismatch recorded and every operation of the document no call exercised.
    pub fn finish(&self) {
        let seen = self.seen();
        let missing: Vec<String> =
            self.operations().into_iter().filter(|k| !seen.contains_key(k)).map(|(m, p)| format!("{m} {p}")).collect();
        let failures = self.failures.lock().unwrap().clone();
        let mut report = String::new();
        for (k, statuses) in &seen {
            report.push_str(&format!("  {} {}: {statuses:?}\n", k.0, k.1));
        }
        eprintln!("checked {} answers; operations and statuses seen:\n{report}", self.checked.lock().unwrap());
        assert!(
            failures.is_empty() && missing.is_empty(),
            "{} answer(s) do not match the OpenAPI document:\n{}\n\n{} documented operation(s) never exercised:\n{}",
            failures.len(),
            failures.join("\n"),
            missing.len(),
            missing.join("\n")
        );
    }
}

fn match_segs(segs: &[Seg], parts: &[&str], params: &mut BTreeMap<String, String>) -> bool {
    match segs.split_first() {
        None => parts.is_empty(),
        Some((Seg::Lit(l), rest)) => parts.first() == Some(&l.as_str()) && match_segs(rest, &parts[1..], params),
        Some((Seg::Param(name, multi), rest)) => {
            let most = if *multi { parts.len() } else { parts.len().min(1) };
            // Longest first: a name's own components are part of it (`a/b/tags` is `a/b`'s tags only
            // when the template says `/tags`).
            for n in (1..=most).rev() {
                if parts[..n].iter().any(|p| p.is_empty()) {
                    continue;
                }
                let mut p = params.clone();
                p.insert(name.clone(), parts[..n].join("/"));
                if match_segs(rest, &parts[n..], &mut p) {
                    *params = p;
                    return true;
                }
            }
            false
        }
    }
}

/// A string parameter's value as the JSON its schema describes (integers and booleans parsed).
fn typed(schema: &Value, v: &str) -> Value {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"integer") || types.contains(&"number") {
        if let Ok(n) = v.parse::<i64>() {
            return json!(n);
        }
        if let Ok(n) = v.parse::<f64>() {
            return json!(n);
        }
    }
    if types.contains(&"boolean") {
        if let Ok(b) = v.parse::<bool>() {
            return json!(b);
        }
    }
    json!(v)
}
