//! `berth-bench --search N`: search latency over N repositories (berth only: distribution has no
//! search). berth runs in its default mode (accounts on); the repositories are written straight into
//! its metadata database between a first start (which creates the schema) and the measured start,
//! because pushing N repositories through the API would take most of the run. The search index is
//! filled by the database's own triggers, as on a push. Then workers search with a mix of terms,
//! anonymously and as a user with private repositories, and every answer is checked.

use anyhow::{bail, ensure, Context, Result};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const WORDS: &[&str] = &[
    "nginx",
    "redis",
    "postgres",
    "mysql",
    "python",
    "node",
    "golang",
    "alpine",
    "debian",
    "ubuntu",
    "httpd",
    "java",
    "rust",
    "ruby",
    "php",
    "mongo",
    "kafka",
    "zookeeper",
    "grafana",
    "prometheus",
    "traefik",
    "envoy",
    "caddy",
    "memcached",
    "rabbitmq",
    "elastic",
    "kibana",
    "jenkins",
    "gitlab",
    "vault",
    "consul",
    "etcd",
    "minio",
    "nats",
    "haproxy",
    "busybox",
    "tomcat",
    "wordpress",
    "ghost",
    "drupal",
];
const KINDS: &[&str] =
    &["server", "worker", "proxy", "agent", "exporter", "cli", "base", "runtime", "builder", "operator"];
/// Topics of descriptions: each in 1 of 40 descriptions, and in no name.
const TOPICS: &[&str] = &[
    "monitoring",
    "logging",
    "caching",
    "streaming",
    "database",
    "messaging",
    "security",
    "testing",
    "analytics",
    "storage",
    "networking",
    "scheduling",
    "tracing",
    "metrics",
    "backup",
    "search",
    "queueing",
    "auth",
    "mail",
    "dns",
    "ci",
    "registry",
    "gateway",
    "ingress",
    "notebook",
    "training",
    "inference",
    "rendering",
    "compiling",
    "scanning",
    "signing",
    "mirroring",
    "proxying",
    "routing",
    "serving",
    "indexing",
    "crawling",
    "parsing",
    "transcoding",
    "archiving",
];
const ADMIN_PASSWORD: &str = "bench-admin-password";
const USER: &str = "bench";
const USER_PASSWORD: &str = "bench-user-password";

/// A repository name, description, visibility, stars and pulls, from its number.
fn repository(i: usize, namespaces: usize) -> (String, String, bool, i64, i64) {
    let w = WORDS[i % WORDS.len()];
    let k = KINDS[(i / WORDS.len()) % KINDS.len()];
    let name = if i < 200 {
        // Official ones: top-level names.
        format!("{w}-{k}-{i}")
    } else if i % 50 == 0 {
        format!("{USER}/{w}-{k}-{i}")
    } else {
        format!("ns{}/{w}-{k}-{i}", i % namespaces)
    };
    let other = WORDS[(i * 7 + 3) % WORDS.len()];
    let topic = TOPICS[(i / 3) % TOPICS.len()];
    let description = format!("A {k} image with {other} for {topic}");
    let public = i % 5 != 0;
    let stars = ((i * 2_654_435_761) % 1000) as i64;
    let pulls = ((i * 40_503) % 100_000) as i64;
    (name, description, public, stars, pulls)
}

async fn start(bin: &Path, data: &Path) -> Result<(tokio::process::Child, String)> {
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("BERTH_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .context("berth printed no `listening on` line")??
            .context("berth exited before listening")?;
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, base))
}

async fn stop(mut child: tokio::process::Child) -> Result<()> {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
    }
    tokio::time::timeout(Duration::from_secs(30), child.wait()).await.context("berth did not stop")??;
    Ok(())
}

/// Writes `n` repositories into the database in one transaction.
fn seed(db: &Path, n: usize) -> Result<()> {
    let mut c = rusqlite::Connection::open(db)?;
    let tx = c.transaction()?;
    {
        let mut st = tx.prepare(
            "INSERT INTO repositories (name, namespace, visibility, created_at, description, star_count, pull_count, pushed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?4)",
        )?;
        let namespaces = (n / 50).max(1);
        for i in 0..n {
            let (name, description, public, stars, pulls) = repository(i, namespaces);
            let ns = name.split_once('/').map_or(name.as_str(), |(ns, _)| ns).to_owned();
            let vis = if public { "public" } else { "private" };
            st.execute(rusqlite::params![name, ns, vis, 1_700_000_000i64 + i as i64, description, stars, pulls])?;
        }
    }
    tx.commit()?;
    Ok(())
}

struct Term {
    q: String,
    class: &'static str,
    /// The number of results the answer must have at least.
    min_results: usize,
}

fn terms(n: usize) -> Vec<Term> {
    let namespaces = (n / 50).max(1);
    let mut t = Vec::new();
    for i in (1..n).step_by((n / 40).max(1) + 3) {
        let (name, _, public, _, _) = repository(i, namespaces);
        if public {
            t.push(Term { q: name.clone(), class: "exact name", min_results: 1 });
        }
    }
    for w in WORDS.iter().take(10) {
        t.push(Term { q: (*w).to_owned(), class: "word", min_results: 1 });
        t.push(Term { q: w[..3].to_owned(), class: "prefix (3 chars)", min_results: 1 });
    }
    for k in KINDS {
        t.push(Term { q: format!("-{k}-1"), class: "substring", min_results: 1 });
    }
    for ns in [1, 7, 42] {
        t.push(Term { q: format!("ns{}/", ns % namespaces), class: "namespace", min_results: 1 });
    }
    for topic in &TOPICS[..5] {
        t.push(Term { q: (*topic).into(), class: "description word", min_results: 1 });
    }
    // Words of every description: the whole registry matches.
    for w in ["image", "a"] {
        t.push(Term { q: w.into(), class: "in every description", min_results: 25 });
    }
    t.push(Term { q: "no-such-thing-here".into(), class: "no match", min_results: 0 });
    t.push(Term { q: "ng".into(), class: "2 chars", min_results: 1 });
    t.push(Term { q: String::new(), class: "empty (everything)", min_results: 1 });
    t
}

pub async fn run(bin: &Path, work: &Path, n: usize, duration: Duration) -> Result<()> {
    ensure!(bin.is_file(), "no berth binary at {}", bin.display());
    let dir = tempfile::tempdir_in(work)?;
    let data = dir.path().join("data");
    println!("search benchmark: {n} repositories, accounts on, {} s per caller", duration.as_secs_f64());
    let (child, base) = start(bin, &data).await?;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/v1/users"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&serde_json::json!({ "username": USER, "password": USER_PASSWORD }))
        .send()
        .await?;
    ensure!(r.status().as_u16() == 201, "creating the user: {}", r.status());
    stop(child).await?;
    let t0 = Instant::now();
    let db = data.join("meta.db");
    tokio::task::spawn_blocking(move || seed(&db, n)).await??;
    println!("  wrote {n} repositories in {:.1} s", t0.elapsed().as_secs_f64());
    let (child, base) = start(bin, &data).await?;
    let terms = Arc::new(terms(n));
    let mut report = Vec::new();
    let callers = [("anonymous", None), ("user with private repositories", Some((USER, USER_PASSWORD)))];
    // One client: the latency of a search alone; eight: under load on this machine.
    for (who, creds, workers) in
        [(callers[0].0, callers[0].1, 1), (callers[1].0, callers[1].1, 1), (callers[0].0, callers[0].1, 8)]
    {
        // One untimed pass: warms the caches and checks every term.
        for t in terms.iter() {
            search(&client, &base, &t.q, creds).await.and_then(|(_, total)| {
                if total < t.min_results {
                    bail!("{:?} ({}) found {total}, expected at least {}", t.q, t.class, t.min_results);
                }
                Ok(())
            })?;
        }
        let deadline = Instant::now() + duration;
        let mut set = tokio::task::JoinSet::new();
        for w in 0..workers {
            let (client, base, terms) = (client.clone(), base.clone(), terms.clone());
            set.spawn(async move {
                let mut lat: Vec<(&'static str, u32)> = Vec::new();
                let mut i = w;
                while Instant::now() < deadline {
                    let t = &terms[i % terms.len()];
                    let start = Instant::now();
                    search(&client, &base, &t.q, creds).await?;
                    lat.push((t.class, start.elapsed().as_micros() as u32));
                    i += workers;
                }
                anyhow::Ok(lat)
            });
        }
        let mut all: Vec<(&'static str, u32)> = Vec::new();
        while let Some(r) = set.join_next().await {
            all.extend(r??);
        }
        report.push((format!("{who}, {workers} client{}", if workers > 1 { "s" } else { "" }), all));
    }
    stop(child).await?;
    for (who, mut all) in report {
        let mut overall: Vec<u32> = all.iter().map(|(_, l)| *l).collect();
        overall.sort_unstable();
        println!(
            "  {who}: {} searches, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            overall.len(),
            overall.len() as f64 / duration.as_secs_f64(),
            q(&overall, 0.5),
            q(&overall, 0.99),
            q(&overall, 1.0)
        );
        all.sort_by_key(|(c, _)| *c);
        let mut classes: Vec<&str> = all.iter().map(|(c, _)| *c).collect();
        classes.dedup();
        for c in classes {
            let mut l: Vec<u32> = all.iter().filter(|(k, _)| *k == c).map(|(_, l)| *l).collect();
            l.sort_unstable();
            println!("    {c:<20} p50 {:>7.2} ms  p99 {:>7.2} ms  ({} searches)", q(&l, 0.5), q(&l, 0.99), l.len());
        }
    }
    Ok(())
}

fn q(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1).min(sorted.len() - 1);
    f64::from(sorted[i]) / 1000.0
}

/// One search; returns the number of results on the page and the total.
async fn search(
    client: &reqwest::Client,
    base: &str,
    term: &str,
    creds: Option<(&str, &str)>,
) -> Result<(usize, usize)> {
    let mut req = client.get(format!("{base}/v1/search")).query(&[("q", term), ("n", "25")]);
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    let r = req.send().await?;
    ensure!(r.status().as_u16() == 200, "search {term:?}: {}", r.status());
    let v: serde_json::Value = r.json().await?;
    let results = v["results"].as_array().context("no results array")?.len();
    let total = v["num_results"].as_u64().context("no num_results")? as usize;
    ensure!(results == total.min(25), "search {term:?}: {results} results on page 1 of {total}");
    Ok((results, total))
}
