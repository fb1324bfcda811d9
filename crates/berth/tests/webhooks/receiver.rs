//! A webhook receiver: a small HTTP/1.1 server on 127.0.0.1 that records every request (method,
//! path with query, headers, exact body bytes, arrival time) and answers as it is told: a status,
//! a status after a delay, a redirect, or no answer at all (the connection is dropped).
//!
//! What it answers is a plan (one reply per request, in order) and a default once the plan is
//! used up. [`Reserved`] is a port that is bound but not listening: connections to it are refused
//! until [`Reserved::listen`] turns it into a receiver on that same port.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// What the receiver does with one request (after reading and recording it whole).
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer this status at once.
    Status(u16),
    /// Wait, then answer this status.
    Slow(Duration, u16),
    /// Close the connection without answering.
    Drop,
    /// `302 Found` with this `Location`.
    Redirect(String),
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub method: String,
    /// Path and query, as sent (`/hook?x=1`).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver did with it.
    pub reply: Reply,
}

impl Received {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The first value of a header (case-insensitive), as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("webhook body to {} is not JSON ({e}): {}", self.target, String::from_utf8_lossy(&self.body))
        })
    }

    pub fn event(&self) -> Option<&str> {
        self.header("x-berth-event")
    }

    pub fn delivery(&self) -> Option<&str> {
        self.header("x-berth-delivery")
    }
}

#[derive(Debug)]
struct State {
    received: Vec<Received>,
    plan: VecDeque<Reply>,
    default: Reply,
}

/// A running receiver. Dropping it stops it and closes every open connection.
#[derive(Debug)]
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

/// A port bound on 127.0.0.1 but not listening: connecting is refused.
#[derive(Debug)]
pub struct Reserved {
    pub addr: SocketAddr,
    socket: TcpSocket,
}

impl Reserved {
    pub fn new() -> Reserved {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("local addr");
        Reserved { addr, socket }
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts listening on the reserved port (answering `200` to everything).
    pub fn listen(self) -> Receiver {
        let l = self.socket.listen(128).expect("listen");
        Receiver::serve(l)
    }
}

impl Receiver {
    /// A receiver on a fresh port answering `200` to everything.
    pub async fn start() -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        Receiver::serve(l)
    }

    fn serve(listener: TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let state =
            Arc::new(Mutex::new(State { received: Vec::new(), plan: VecDeque::new(), default: Reply::Status(200) }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection task.
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let st = st.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Receiver { addr, state, task }
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The replies for the next requests, in order (replacing any plan left).
    pub fn plan(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().plan = replies.into_iter().collect();
    }

    /// The reply once the plan is used up.
    pub fn set_default(&self, r: Reply) {
        self.state.lock().unwrap().default = r;
    }

    /// Every request so far.
    pub fn all(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The requests so far whose path (without query) is `path`.
    pub fn to(&self, path: &str) -> Vec<Received> {
        self.all().into_iter().filter(|r| r.path() == path).collect()
    }

    /// Waits until at least `n` requests went to `path` (panics after `limit`); returns them all.
    pub async fn wait_for(&self, path: &str, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.to(path);
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "receiver: {} request(s) to {path} within {limit:?}, wanted {n}; every request: {:#?}",
                    got.len(),
                    self.all()
                        .iter()
                        .map(|r| (r.target.clone(), String::from_utf8_lossy(&r.body).to_string()))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let at = Instant::now();
    let method = req.method().to_string();
    let target = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_else(|| req.uri().to_string());
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string()))
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(e) => return Err(std::io::Error::other(format!("reading the body: {e}"))),
    };
    let reply = {
        let mut st = state.lock().unwrap();
        let reply = st.plan.pop_front().unwrap_or_else(|| st.default.clone());
        st.received.push(Received { at, method, target, headers, body, reply: reply.clone() });
        reply
    };
    let respond = |code: u16| -> Result<Response<Full<Bytes>>, std::io::Error> {
        Ok(Response::builder().status(code).body(Full::new(Bytes::from_static(b"ok\n"))).unwrap())
    };
    match reply {
        Reply::Status(c) => respond(c),
        Reply::Slow(d, c) => {
            tokio::time::sleep(d).await;
            respond(c)
        }
        Reply::Drop => Err(std::io::Error::other("told to drop the connection")),
        Reply::Redirect(loc) => {
            Ok(Response::builder().status(302).header("location", loc).body(Full::new(Bytes::new())).unwrap())
        }
    }
}
