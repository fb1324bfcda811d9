//! Calls to `/api/v1` that are checked against the OpenAPI document as they are made, and a small
//! webhook receiver.

#![allow(dead_code)]

use std::net::SocketAddr;

use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::contract::{Contract, Exchange};
use crate::harness::*;

/// The server and the document its answers are checked against.
pub struct Api<'a> {
    pub s: &'a Server,
    pub contract: &'a Contract,
}

/// What a call answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The JSON body; `Null` when empty.
    pub json: Value,
}

impl Api<'_> {
    /// Sends `method target` (with `body` as JSON), checks the exchange against the document and
    /// returns the answer, whatever its status.
    pub async fn send(&self, who: &impl Http, method: &str, target: &str, body: Option<Value>, valid: bool) -> Answer {
        let raw = body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
        self.exchange(who, method, target, body, raw, valid).await
    }

    async fn exchange(
        &self,
        who: &impl Http,
        method: &str,
        target: &str,
        json: Option<Value>,
        raw: Option<Vec<u8>>,
        valid: bool,
    ) -> Answer {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = who.req(m, target);
        if let Some(raw) = raw {
            rb = rb.header("content-type", "application/json").body(raw);
        }
        let resp = rb.send().await.unwrap_or_else(|e| panic!("{method} {target}: {e}"));
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = resp.bytes().await.expect("read body").to_vec();
        self.contract.record(&Exchange {
            method: method.to_string(),
            target: target.to_string(),
            request: json,
            valid_request: valid,
            status,
            headers: headers.clone(),
            body: body.clone(),
        });
        let json = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
        Answer { status, headers, json }
    }

    /// Like [`Api::send`], asserting the status: a 2xx expectation means the request is meant to
    /// be valid, so its body and parameters are checked against the document too. Returns the
    /// JSON body.
    pub async fn call(&self, who: &impl Http, method: &str, target: &str, body: Option<Value>, expect: u16) -> Value {
        let a = self.send(who, method, target, body.clone(), (200..300).contains(&expect)).await;
        assert_eq!(a.status, expect, "{method} {target} (body {body:?}): want {expect}, got {}: {}", a.status, a.json);
        a.json
    }

    /// A body that is not JSON at all.
    pub async fn call_raw(&self, who: &impl Http, method: &str, target: &str, raw: &[u8], expect: u16) -> Value {
        let a = self.exchange(who, method, target, None, Some(raw.to_vec()), false).await;
        assert_eq!(a.status, expect, "{method} {target} (raw body): want {expect}, got {}: {}", a.status, a.json);
        a.json
    }

    pub async fn get(&self, who: &impl Http, target: &str, expect: u16) -> Value {
        self.call(who, "GET", target, None, expect).await
    }
}

/// An id as a path segment.
pub fn id_of(v: &Value) -> String {
    match &v["id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("no id in {v} ({other})"),
    }
}

/// A webhook receiver on 127.0.0.1 that answers every request with `status`. Returns its URL.
pub async fn receiver(status: u16) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                // Read the head, then Content-Length bytes of body.
                let (head_end, len) = loop {
                    let Ok(n) = c.read(&mut tmp).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (p + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let Ok(n) = c.read(&mut tmp).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = c.write_all(answer.as_bytes()).await;
                let _ = c.shutdown().await;
            });
        }
    });
    format!("http://{addr}/hook")
}

/// A URL on 127.0.0.1 where nothing listens (connections are refused).
pub async fn refused_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/hook")
}
