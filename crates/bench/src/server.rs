//! Starting, timing, measuring and stopping the two servers.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Berth,
    Distribution,
}

/// One registry process on loopback with its own fresh storage.
#[derive(Debug)]
pub struct Server {
    pub kind: Kind,
    pub name: &'static str,
    bin: PathBuf,
    /// The storage directory (berth's data dir; distribution's rootdirectory).
    pub data: PathBuf,
    dir: PathBuf,
    port: Option<u16>,
    child: Option<Child>,
    pid: u32,
    berth_log: String,
    no_auth: bool,
}

/// The port a fresh listener on 127.0.0.1:0 gets (closed again at once).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// `GET /v2/` on a new connection: the status code, or None when nothing answers yet.
async fn probe(port: u16) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    s.write_all(format!("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let k = s.read(&mut buf[n..]).await.ok()?;
        if k == 0 {
            return None;
        }
        n += k;
    }
    std::str::from_utf8(&buf[9..12]).ok()?.parse().ok()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads), in seconds, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed /proc/PID/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).context("no utime")?.parse()?;
    let stime: f64 = f.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / *TICKS.get_or_init(clock_ticks))
}

/// VmHWM (peak resident set) of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> Result<f64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/PID/status")?;
    let kib: f64 = line.split_whitespace().nth(1).context("malformed VmHWM")?.parse()?;
    Ok(kib / 1024.0)
}

/// Whether this berth has `serve --no-auth` (the open mode, like distribution without an `auth` section).
fn berth_has_no_auth(bin: &Path) -> bool {
    std::process::Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--no-auth"))
        .unwrap_or(false)
}

impl Server {
    /// Whether berth runs in its open mode (`--no-auth`).
    pub fn open_mode(&self) -> bool {
        self.no_auth
    }

    pub fn new(kind: Kind, bin: &Path, dir: &Path, berth_log: &str) -> Result<Self> {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
        let name = match kind {
            Kind::Berth => "berth",
            Kind::Distribution => "distribution",
        };
        Ok(Server {
            kind,
            name,
            bin: bin.to_owned(),
            data,
            dir: dir.to_owned(),
            port: None,
            child: None,
            pid: 0,
            berth_log: berth_log.to_owned(),
            no_auth: kind == Kind::Berth && berth_has_no_auth(bin),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port.unwrap_or(0))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn log_file(&self) -> Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .context("cannot open the server log")
    }

    /// Starts the server and waits until `GET /v2/` answers 200; returns the time that took from spawn.
    pub async fn start(&mut self) -> Result<Duration> {
        anyhow::ensure!(self.child.is_none(), "{} is already running", self.name);
        let mut cmd = match self.kind {
            Kind::Berth => {
                let mut c = Command::new(&self.bin);
                let listen = match self.port {
                    Some(p) => format!("127.0.0.1:{p}"),
                    None => "127.0.0.1:0".to_owned(),
                };
                c.args(["serve", "--listen", &listen, "--data-dir"]).arg(&self.data);
                if self.no_auth {
                    c.arg("--no-auth");
                }
                c.env("BERTH_LOG", &self.berth_log).stdout(Stdio::piped());
                c
            }
            Kind::Distribution => {
                let port = match self.port {
                    Some(p) => p,
                    None => free_port()?,
                };
                self.port = Some(port);
                let config = self.dir.join("config.yml");
                std::fs::write(&config, distribution_config(&self.data, port))?;
                let mut c = Command::new(&self.bin);
                c.arg("serve").arg(&config).stdout(self.log_file()?);
                c
            }
        };
        cmd.stdin(Stdio::null()).stderr(self.log_file()?).kill_on_drop(true);
        let t0 = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("cannot run {}", self.bin.display()))?;
        self.pid = child.id().context("the server exited at once")?;
        if let Some(out) = child.stdout.take() {
            let mut lines = BufReader::new(out).lines();
            if self.port.is_none() {
                // Other lines (the generated admin password of a first start) may come first.
                let addr = loop {
                    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                        .await
                        .context("berth printed no `listening on` line within 60 s")??
                        .with_context(|| format!("berth exited before listening:\n{}", self.log_tail()))?;
                    if let Some(addr) = line.strip_prefix("listening on http://") {
                        break addr.to_owned();
                    }
                };
                let port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).context("no port in the line")?;
                self.port = Some(port);
            }
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        }
        let port = self.port.expect("port known");
        self.child = Some(child);
        loop {
            if probe(port).await == Some(200) {
                return Ok(t0.elapsed());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                bail!("{} exited ({status}) before answering /v2/:\n{}", self.name, self.log_tail());
            }
            if t0.elapsed() > Duration::from_secs(120) {
                bail!("{} did not answer GET /v2/ with 200 within 120 s:\n{}", self.name, self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// SIGTERM, then SIGKILL if it is still there after 20 s.
    pub async fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await;
        match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
            Ok(r) => {
                r?;
            }
            Err(_) => {
                eprintln!("{} ignored SIGTERM for 20 s: killing it", self.name);
                child.kill().await?;
            }
        }
        Ok(())
    }

    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds(self.pid).with_context(|| format!("{} CPU time", self.name))
    }

    pub fn peak_rss_mib(&self) -> Result<f64> {
        peak_rss_mib(self.pid).with_context(|| format!("{} peak RSS", self.name))
    }
}

/// distribution's configuration: Debian's shipped config (in-memory blob descriptor cache, delete
/// enabled) on loopback, without auth, logging at warn with the access log off, and a catalog page of
/// up to 10,000 entries (berth's cap) so that a whole 10,000-repository catalog is one request on both.
pub fn distribution_config(root: &Path, port: u16) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n\
         catalog:\n  maxentries: 10000\n",
        root.display()
    )
}
