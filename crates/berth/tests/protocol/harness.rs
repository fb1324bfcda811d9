//! Starts and stops the real `berth` binary, and small HTTP helpers shared by every group.
//!
//! A [`Server`] owns one child process, its data directory (a temp dir unless given) and a work
//! directory (its cwd, plus one stderr log per start). Drop sends SIGTERM and waits.
//!
//! Accounts are on by default in berth (docs/access.md). The protocol tests exercise the registry
//! itself, so a [`ServerBuilder`] starts `berth serve --no-auth` unless told [`ServerBuilder::auth`].
//! Either way `BERTH_ADMIN_PASSWORD` is set to [`ADMIN_PASSWORD`] (unless
//! [`ServerBuilder::generated_admin_password`]), so the first start prints no password line.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const API_VERSION: &str = "registry/2.0";

/// The password of the `admin` account on servers the harness starts (`BERTH_ADMIN_PASSWORD`).
pub const ADMIN_PASSWORD: &str = "admin-test-password";

/// Anything that builds requests against a running server: the [`Server`] itself (no credentials)
/// or a caller with credentials. The fixtures take `&impl Http`.
pub trait Http {
    fn req(&self, method: Method, path: &str) -> RequestBuilder;
    fn get(&self, path: &str) -> RequestBuilder {
        self.req(Method::GET, path)
    }
    fn head(&self, path: &str) -> RequestBuilder {
        self.req(Method::HEAD, path)
    }
    fn put(&self, path: &str) -> RequestBuilder {
        self.req(Method::PUT, path)
    }
    fn post(&self, path: &str) -> RequestBuilder {
        self.req(Method::POST, path)
    }
    fn patch(&self, path: &str) -> RequestBuilder {
        self.req(Method::PATCH, path)
    }
    fn delete(&self, path: &str) -> RequestBuilder {
        self.req(Method::DELETE, path)
    }
}

impl Http for Server {
    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        Server::req(self, method, path)
    }
}

/// The binary under test: `$BERTH_BIN` if set, else the one cargo built for this test.
pub fn berth_bin() -> PathBuf {
    match std::env::var_os("BERTH_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_berth")),
    }
}

/// A `Command` for the binary with every inherited `BERTH_*` variable removed, so a developer's
/// environment cannot change what a test sees.
pub fn berth_command() -> Command {
    let mut cmd = Command::new(berth_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("BERTH_") {
            cmd.env_remove(&k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("reqwest client")
}

#[derive(Debug, Default)]
pub struct ServerBuilder {
    args: Vec<String>,
    envs: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    bare: bool,
    auth: bool,
    generated_admin_password: bool,
}

impl ServerBuilder {
    /// Do not add `--listen 127.0.0.1:0 --data-dir <dir>`: the test's args/env/config decide.
    /// The listening line must still appear. (`--no-auth` is still added unless [`Self::auth`].)
    pub fn bare(mut self) -> Self {
        self.bare = true;
        self
    }
    /// Start in berth's default mode, accounts and access control on (no `--no-auth`), with
    /// `BERTH_ADMIN_PASSWORD` = [`ADMIN_PASSWORD`].
    pub fn auth(mut self) -> Self {
        self.auth = true;
        self
    }
    /// Accounts on and no `BERTH_ADMIN_PASSWORD`: a first start generates and prints the password.
    pub fn generated_admin_password(mut self) -> Self {
        self.auth = true;
        self.generated_admin_password = true;
        self
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.envs.push((k.into(), v.into()));
        self
    }
    pub fn data_dir(mut self, p: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(p.into());
        self
    }
    pub fn start(self) -> Server {
        let work = tempfile::tempdir().expect("work tempdir");
        let (data_dir, data_tmp) = match self.data_dir {
            Some(p) => (p, None),
            None => {
                let t = tempfile::tempdir().expect("data tempdir");
                (t.path().join("data"), Some(t))
            }
        };
        let mut s = Server {
            child: None,
            base: String::new(),
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir,
            _data_tmp: data_tmp,
            work,
            args: self.args,
            envs: self.envs,
            bare: self.bare,
            auth: self.auth,
            generated_admin_password: self.generated_admin_password,
            printed_admin_password: None,
            stdout_lines: Arc::new(Mutex::new(Vec::new())),
            starts: 0,
            http: http_client(),
        };
        s.spawn();
        s
    }
}

#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: String,
    pub addr: SocketAddr,
    data_dir: PathBuf,
    _data_tmp: Option<tempfile::TempDir>,
    work: tempfile::TempDir,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    bare: bool,
    auth: bool,
    generated_admin_password: bool,
    /// The password from an `admin password: ...` line, from whichever start printed it.
    printed_admin_password: Option<String>,
    stdout_lines: Arc<Mutex<Vec<String>>>,
    starts: u32,
    pub http: reqwest::Client,
}

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// A server on a fresh temp data dir.
    pub fn start() -> Server {
        ServerBuilder::default().start()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the server runs with accounts on (started without `--no-auth`).
    pub fn auth_enabled(&self) -> bool {
        self.auth
    }

    /// The admin account's password: [`ADMIN_PASSWORD`], or the one a start printed.
    pub fn admin_password(&self) -> String {
        if self.generated_admin_password {
            self.printed_admin_password.clone().expect("no start printed an `admin password: ` line")
        } else {
            ADMIN_PASSWORD.to_string()
        }
    }

    /// Changes (or adds) an environment variable for the next start.
    pub fn set_env(&mut self, k: &str, v: &str) {
        self.envs.retain(|(key, _)| key != k);
        self.envs.push((k.to_string(), v.to_string()));
    }

    /// The process's cwd (also holds the stderr logs).
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    fn stderr_path(&self, n: u32) -> PathBuf {
        self.work.path().join(format!("stderr-{n}.log"))
    }

    /// The stderr of the current (or last) run.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path(self.starts)).unwrap_or_default()
    }

    /// Every stdout line printed by the current (or last) run.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_lines.lock().unwrap().clone()
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "spawn while running");
        self.starts += 1;
        let stderr = File::create(self.stderr_path(self.starts)).expect("stderr log");
        let mut cmd = berth_command();
        cmd.arg("serve");
        if !self.bare {
            cmd.arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(&self.data_dir);
        }
        if !self.auth {
            cmd.arg("--no-auth");
        }
        if !self.generated_admin_password {
            cmd.env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD);
        }
        cmd.args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.work.path())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {:?}: {e}", berth_bin()));
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        self.stdout_lines = lines.clone();
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Sends every line up to and including the listening line (an `admin password:` line
            // may come first), then only records.
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line.clone());
                if let Some(t) = tx.as_ref() {
                    let done = parse_listening_line(&line).is_some();
                    let _ = t.send(line);
                    if done {
                        tx = None;
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut before = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => match parse_listening_line(&l) {
                    Some(addr) => break addr,
                    None => {
                        // Lines before the listening line: only `admin password: ...` is allowed.
                        if !l.starts_with("admin password: ") || !before.is_empty() {
                            let _ = child.kill();
                            let _ = child.wait();
                            panic!("unexpected stdout line before `listening on http://HOST:PORT`: {l:?}");
                        }
                        before.push(l);
                    }
                },
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!(
                        "berth printed no listening line within 30s (exit {status:?}); stdout so far: {before:?}; stderr:\n{}",
                        self.stderr()
                    );
                }
            }
        };
        if let Some(p) = before.first().and_then(|l| l.strip_prefix("admin password: ")) {
            self.printed_admin_password = Some(p.trim().to_string());
        }
        let line = format!("listening on http://{addr}");
        assert_ne!(addr.port(), 0, "listening line shows port 0: {line:?}");
        self.addr = addr;
        self.base = format!("http://{addr}");
        self.child = Some(child);
    }

    /// Sends SIGTERM and waits for the exit (up to `limit`); panics on timeout.
    pub fn stop_within(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("server not running");
        signal(child.id(), "TERM");
        match wait_timeout(&mut child, limit) {
            Some(st) => st,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("berth did not exit within {limit:?} of SIGTERM; stderr:\n{}", self.stderr());
            }
        }
    }

    /// Waits for the process to exit by itself (after a signal the test sent).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("server not running");
        let st = wait_timeout(child, limit);
        if st.is_some() {
            self.child = None;
        }
        st
    }

    /// SIGTERM and wait (15 s).
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_within(Duration::from_secs(15))
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server not running");
        child.kill().expect("kill -9");
        let _ = child.wait();
    }

    /// Starts the binary again on the same data dir (after `stop` or `kill9`).
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Graceful stop (must exit 0), then start again on the same data dir.
    pub fn restart(&mut self) {
        let st = self.stop();
        assert!(st.success(), "SIGTERM exit status {st:?}; stderr:\n{}", self.stderr());
        self.spawn();
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    // ---- HTTP ----

    /// Absolute URL for a path (`/v2/...`); an absolute URL is passed through.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            assert!(path.starts_with('/'), "path must start with '/': {path}");
            format!("{}{}", self.base, path)
        }
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.req(Method::GET, path)
    }
    pub fn head(&self, path: &str) -> RequestBuilder {
        self.req(Method::HEAD, path)
    }
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.req(Method::PUT, path)
    }
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.req(Method::POST, path)
    }
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.req(Method::PATCH, path)
    }
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.req(Method::DELETE, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            if wait_timeout(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("listening on http://")?.trim_end().parse().ok()
}

/// `kill -<SIG> <pid>` through the system `kill`, so the tests need no unsafe code.
pub fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().expect("run kill");
    assert!(st.success(), "kill -{sig} {pid} failed");
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Result of running the binary to completion (for start-failure tests).
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `berth <args>` with `envs` in `cwd` and waits up to `limit` for it to exit by itself.
/// Panics (after killing it) if it is still running: a start error must end the process.
pub fn run_to_exit(args: &[&str], envs: &[(&str, &str)], cwd: &Path, limit: Duration) -> Finished {
    run_with_input(args, envs, None, cwd, limit)
}

/// Same, writing `input` to the process's stdin (then closing it) when given.
pub fn run_with_input(
    args: &[&str],
    envs: &[(&str, &str)],
    input: Option<&[u8]>,
    cwd: &Path,
    limit: Duration,
) -> Finished {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = cwd.join(format!("run-{}-{n}.stdout", std::process::id()));
    let err_path = cwd.join(format!("run-{}-{n}.stderr", std::process::id()));
    let mut cmd = berth_command();
    cmd.args(args)
        .envs(envs.iter().copied())
        .current_dir(cwd)
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn berth");
    if let Some(input) = input {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // The process may exit before reading (an error): a broken pipe is not the test's failure.
        let _ = stdin.write_all(input);
        drop(stdin);
    }
    let status = wait_timeout(&mut child, limit);
    let read = |p: &Path| {
        let mut s = String::new();
        let _ = File::open(p).and_then(|mut f| f.read_to_string(&mut s));
        s
    };
    match status {
        Some(status) => Finished { status, stdout: read(&out_path), stderr: read(&err_path) },
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "berth {args:?} was still running after {limit:?}; stdout:\n{}\nstderr:\n{}",
                read(&out_path),
                read(&err_path)
            );
        }
    }
}

// ---- digests and data ----

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}
pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(b))
}
pub fn sha512(b: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(b)))
}

/// Deterministic pseudo-random bytes (xorshift64*), distinct per seed.
pub fn bytes_of(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Where the contract puts a committed blob in the data dir.
pub fn blob_path(data_dir: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest.split_once(':').unwrap();
    data_dir.join("blobs").join(alg).join(&hex[0..2]).join(&hex[2..4]).join(hex)
}

// ---- response helpers ----

pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers().get(name).map(|v| v.to_str().expect("header is not ASCII").to_string())
}

/// Every value of a header, with comma-joined values split (RFC 9110 list semantics).
pub fn header_values(resp: &Response, name: &str) -> Vec<String> {
    resp.headers()
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

pub fn must_header(resp: &Response, name: &str) -> String {
    header(resp, name).unwrap_or_else(|| {
        panic!("{} {}: no `{name}` header; headers: {:?}", resp.status(), resp.url(), resp.headers())
    })
}

pub fn assert_api_version(resp: &Response) {
    assert_eq!(
        header(resp, "docker-distribution-api-version").as_deref(),
        Some(API_VERSION),
        "{} {}: Docker-Distribution-API-Version",
        resp.status(),
        resp.url()
    );
}

/// Asserts the status (printing the body on mismatch) and the API version header; returns the
/// response for further checks.
pub async fn expect_status(resp: Response, status: u16) -> Response {
    if resp.status().as_u16() != status {
        let st = resp.status();
        let url = resp.url().clone();
        let headers = format!("{:?}", resp.headers());
        let body = resp.text().await.unwrap_or_default();
        panic!("{url}: expected status {status}, got {st}\nheaders: {headers}\nbody: {body}");
    }
    if resp.url().path().starts_with("/v2") {
        assert_api_version(&resp);
    }
    resp
}

/// Asserts an error response: status, API version header, `application/json` and the envelope
/// `{"errors":[{"code":CODE,"message":"..",..}]}` (the first error carries `code`). For HEAD, whose
/// responses have no body, use `expect_status` instead.
pub async fn expect_error(resp: Response, status: u16, code: &str) -> Value {
    let resp = expect_status(resp, status).await;
    let url = resp.url().clone();
    let ct = header(&resp, "content-type").unwrap_or_default();
    let body = resp.bytes().await.expect("error body");
    if body.is_empty() {
        panic!("{url}: {status} error has an empty body, wanted code {code}");
    }
    assert!(
        ct.starts_with("application/json"),
        "{url}: error Content-Type is {ct:?}, want application/json; body {}",
        String::from_utf8_lossy(&body)
    );
    let v: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{url}: error body is not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    let errors = v["errors"].as_array().unwrap_or_else(|| panic!("{url}: no `errors` array: {v}"));
    assert!(!errors.is_empty(), "{url}: empty `errors` array");
    for e in errors {
        let c = e["code"].as_str().unwrap_or_else(|| panic!("{url}: error without string `code`: {v}"));
        assert!(
            !c.is_empty() && c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'),
            "{url}: code {c:?} is not UPPER_CASE"
        );
        assert!(e["message"].is_string(), "{url}: error without string `message`: {v}");
    }
    assert_eq!(errors[0]["code"], code, "{url}: error code; body {v}");
    v
}

pub async fn body_bytes(resp: Response) -> Vec<u8> {
    resp.bytes().await.expect("read body").to_vec()
}

pub async fn body_json(resp: Response) -> Value {
    let url = resp.url().clone();
    let b = resp.bytes().await.expect("read body");
    serde_json::from_slice(&b)
        .unwrap_or_else(|e| panic!("{url}: body is not JSON ({e}): {}", String::from_utf8_lossy(&b)))
}

/// The Location header, which the contract makes a relative `/v2/...` path.
pub fn location(resp: &Response) -> String {
    let loc = must_header(resp, "location");
    assert!(loc.starts_with("/v2/"), "{}: Location is not a relative /v2/ path: {loc}", resp.url());
    loc
}

/// Appends a query parameter to a Location that may already carry a query.
pub fn with_query(loc: &str, q: &str) -> String {
    if loc.contains('?') {
        format!("{loc}&{q}")
    } else {
        format!("{loc}?{q}")
    }
}

/// The `<next>` URL of a `Link: <url>; rel="next"` header.
pub fn next_link(resp: &Response) -> Option<String> {
    let l = header(resp, "link")?;
    let (url, rest) = l.trim().strip_prefix('<')?.split_once('>')?;
    assert!(rest.replace(' ', "").contains("rel=\"next\""), "Link without rel=\"next\": {l}");
    Some(url.to_string())
}

// ---- raw HTTP/1.1, for what reqwest cannot express (no Accept header, slow streamed bodies) ----

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("raw body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Opens a connection and writes a request head. `headers` should not include Host or
/// Connection; both are added.
pub async fn raw_start(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, String)]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.expect("write head");
    s
}

/// Reads one full response (Content-Length, chunked, or until close).
pub async fn raw_read_response(s: &mut TcpStream, is_head: bool) -> RawResponse {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut tmp).await.expect("read response head");
        assert!(n > 0, "connection closed before a response head; got {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
    let body = if is_head || status == 204 || status == 304 {
        Vec::new()
    } else if let Some(cl) = get("content-length") {
        let cl: usize = cl.parse().unwrap();
        while rest.len() < cl {
            let n = s.read(&mut tmp).await.expect("read body");
            assert!(n > 0, "closed mid-body");
            rest.extend_from_slice(&tmp[..n]);
        }
        rest.truncate(cl);
        rest
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            if let Some(b) = dechunk(&rest) {
                break b;
            }
            let n = s.read(&mut tmp).await.expect("read chunked body");
            assert!(n > 0, "closed mid-chunked-body");
            rest.extend_from_slice(&tmp[..n]);
        }
    } else {
        let _ = s.read_to_end(&mut rest).await;
        rest
    };
    RawResponse { status, headers, body }
}

/// One request with an optional body, fully read.
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> RawResponse {
    let mut s = raw_start(addr, method, path, headers).await;
    if !body.is_empty() {
        s.write_all(body).await.expect("write body");
    }
    raw_read_response(&mut s, method == "HEAD").await
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn dechunk(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let le = find(&b[i..], b"\r\n")? + i;
        let size_str = String::from_utf8_lossy(&b[i..le]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).ok()?;
        i = le + 2;
        if size == 0 {
            return Some(out);
        }
        if b.len() < i + size + 2 {
            return None;
        }
        out.extend_from_slice(&b[i..i + size]);
        i += size + 2;
    }
}

/// Polls `f` until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
