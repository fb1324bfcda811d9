//! The run: the machine's limits, the two servers, each workload in alternating rounds, the report.

use crate::api::{self, Api};
use crate::data::{self, BlobSpec};
use crate::limits::{self, Limits};
use crate::load::{self, Measured};
use crate::report::{self, median, num, Better, Limit, Row};
use crate::server::{Kind, Server};
use crate::{Args, Plan};
use anyhow::{ensure, Context, Result};
use bytes::Bytes;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Progress on stderr, stamped with the time since the run began.
macro_rules! say {
    ($($t:tt)*) => {{
        let e = T0.get_or_init(std::time::Instant::now).elapsed().as_secs();
        eprintln!("[{:>2}:{:02}] {}", e / 60, e % 60, format!($($t)*));
    }};
}

const NAMES: [&str; 2] = ["berth", "distribution"];
const GROUPS: [&str; 7] = ["push", "pull", "small", "manifest", "tags", "catalog", "start"];
const MIB: f64 = 1024.0 * 1024.0;

/// One round's figure for one server.
#[derive(Clone, Copy, Debug)]
struct Sample {
    value: f64,
    /// The server's CPU time per unit of work (the unit is named with the row).
    cpu_per_unit: f64,
    /// The load generator's own CPU time per unit of work.
    client_per_unit: f64,
    p50: f64,
    p99: f64,
}

impl Sample {
    fn of(mut m: Measured, value: f64, units: f64) -> Sample {
        // CPU times come in 10 ms ticks: fewer than 5 of them say too little to divide.
        let per = |cpu: f64| if cpu < 0.05 { f64::NAN } else { cpu / units };
        Sample {
            value,
            cpu_per_unit: per(m.server_cpu),
            client_per_unit: per(m.client_cpu),
            p50: m.quantile_ms(0.5),
            p99: m.quantile_ms(0.99),
        }
    }

    /// Requests (or images, blobs) per second, and the server's CPU time per request in 1/`per` s
    /// (`per` = 1e6: µs).
    fn rate(m: Measured, per: f64) -> Sample {
        let (v, u) = (m.rate(), m.count as f64 / per);
        Sample::of(m, v, u)
    }

    /// MiB/s for `mibs` MiB moved; CPU per GiB.
    fn bytes(m: Measured, mibs: f64) -> Sample {
        let v = mibs / m.secs;
        Sample::of(m, v, mibs / 1024.0)
    }
}

/// Round r runs berth first when r is even and distribution first when it is odd (ABBA), so that
/// neither always follows the other.
fn order(round: usize) -> [usize; 2] {
    if round % 2 == 0 {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// Flushes dirty pages so that one server's writes are not paid for by the next run.
async fn sync() {
    let _ = tokio::process::Command::new("sync").status().await;
}

/// `n` blobs of `size` bytes, unique per label and round, with their digests (computed off the runtime).
async fn blob_set(label: &'static str, round: usize, n: usize, size: u64) -> Result<Arc<Vec<BlobSpec>>> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let seed = data::seed(label, round as u64, i as u64);
            tokio::task::spawn_blocking(move || BlobSpec::compute(seed, size))
        })
        .collect();
    let mut v = Vec::with_capacity(n);
    for h in handles {
        v.push(h.await?);
    }
    Ok(Arc::new(v))
}

/// A small image: layers, a config and an OCI manifest referencing them.
#[derive(Clone, Debug)]
struct Image {
    blobs: Vec<(String, Bytes)>,
    manifest: Bytes,
    digest: String,
}

fn image(label: &str, a: u64, b: u64, layer_sizes: &[usize]) -> Image {
    let layers: Vec<(String, Bytes)> = layer_sizes
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let bytes = data::bytes(data::seed(label, a, (b << 8) | k as u64), *n);
            (data::sha256_digest(&bytes), bytes)
        })
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": { "bench": format!("{label}-{a}-{b}") } },
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>() },
    });
    let config = Bytes::from(serde_json::to_vec(&config).expect("json"));
    let config_digest = data::sha256_digest(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": api::OCI_MANIFEST,
        "config": { "mediaType": api::OCI_CONFIG, "digest": config_digest, "size": config.len() },
        "layers": layers.iter().map(|(d, l)| serde_json::json!({
            "mediaType": api::OCI_LAYER, "digest": d, "size": l.len(),
        })).collect::<Vec<_>>(),
        "annotations": { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
    });
    let manifest = Bytes::from(serde_json::to_vec(&manifest).expect("json"));
    let digest = data::sha256_digest(&manifest);
    let mut blobs = layers;
    blobs.push((config_digest, config));
    Image { blobs, manifest, digest }
}

/// Pushes an image's blobs (HEAD, POST, PUT each) then its manifest by tag.
async fn push_image(api: &Api, repo: &str, tag: &str, img: &Image, head_first: bool) -> Result<()> {
    for (digest, bytes) in &img.blobs {
        api.push_small(repo, digest, bytes.clone(), head_first).await?;
    }
    api.put_manifest(repo, tag, img.manifest.clone(), &img.digest).await
}

fn fill_blob(plan: &Plan, k: usize) -> (String, Bytes, String) {
    let bytes = data::bytes(data::seed("fill", k as u64, 0), plan.fill_size);
    (format!("fill/r{:03}", k % plan.fill_repos), bytes.clone(), data::sha256_digest(&bytes))
}

#[derive(Clone, Copy, Debug)]
enum Push {
    Monolithic,
    Chunked,
    Streamed,
}

struct Bench {
    plan: Plan,
    apis: [Api; 2],
    pids: [u32; 2],
    rows: Vec<Row>,
    cpu_rows: Vec<Row>,
    client_rows: Vec<Row>,
}

impl Bench {
    /// Runs `f(server, round)` for every round, alternating the servers, and prints each figure.
    async fn rounds<F, Fut>(&self, label: &str, unit: &str, mut f: F) -> Result<[Vec<Sample>; 2]>
    where
        F: FnMut(usize, usize) -> Fut,
        Fut: Future<Output = Result<Sample>>,
    {
        let mut out = [Vec::new(), Vec::new()];
        for r in 0..self.plan.rounds {
            for s in order(r) {
                sync().await;
                let sample = f(s, r).await.with_context(|| format!("{label}: {} round {}", NAMES[s], r + 1))?;
                say!(
                    "  {label:<58} round {}/{}  {:<12} {:>9} {unit}",
                    r + 1,
                    self.plan.rounds,
                    NAMES[s],
                    num(sample.value)
                );
                out[s].push(sample);
            }
        }
        Ok(out)
    }

    fn add(
        &mut self,
        name: &str,
        unit: &'static str,
        samples: &[Vec<Sample>; 2],
        limit: Option<Limit>,
        cpu_unit: &'static str,
    ) {
        self.rows.push(Row::new(name, unit, Better::Higher, pick(samples, |s| s.value)).with_limit(limit));
        self.cpu_rows.push(Row::new(name, cpu_unit, Better::Lower, pick(samples, |s| s.cpu_per_unit)));
        self.client_rows.push(Row::new(name, cpu_unit, Better::Lower, pick(samples, |s| s.client_per_unit)).plain());
    }

    fn add_latency(&mut self, name: &str, samples: &[Vec<Sample>; 2]) {
        self.rows.push(Row::new(format!("{name}: p50 latency"), "ms", Better::Lower, pick(samples, |s| s.p50)));
        self.rows.push(Row::new(format!("{name}: p99 latency"), "ms", Better::Lower, pick(samples, |s| s.p99)));
    }

    /// Runs `f` against both servers once, untimed (setup, checks).
    async fn each<F, Fut>(&self, what: &str, f: F) -> Result<()>
    where
        F: Fn(usize, Api, u32) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        for (s, name) in NAMES.iter().enumerate() {
            f(s, self.apis[s].clone(), self.pids[s]).await.with_context(|| format!("{what} ({name})"))?;
        }
        Ok(())
    }

    async fn push(&mut self) -> Result<()> {
        let p = self.plan.clone();
        let mib = p.blob_size / (1 << 20);
        let size = if mib > 0 { format!("{mib} MiB") } else { format!("{} KiB", p.blob_size >> 10) };
        for mode in [Push::Monolithic, Push::Chunked, Push::Streamed] {
            let (label, repo, seed_label) = match mode {
                Push::Monolithic => (format!("blob push, monolithic (POST, PUT), {size}"), "push/mono", "push-mono"),
                Push::Chunked => (
                    format!("blob push, chunked ({} MiB PATCHes), {size}", p.chunk_size as f64 / MIB),
                    "push/chunked",
                    "push-chunked",
                ),
                Push::Streamed => {
                    (format!("blob push, docker (1 streamed PATCH), {size}"), "push/docker", "push-docker")
                }
            };
            let label = format!("{label}, {} at a time", p.push_workers);
            let mut sets = Vec::new();
            for r in 0..p.rounds {
                sets.push(blob_set(seed_label, r, p.push_blobs, p.blob_size).await?);
            }
            let samples = self
                .rounds(&label, "MiB/s", |s, r| {
                    let (api, pid, blobs, p) = (self.apis[s].clone(), self.pids[s], sets[r].clone(), p.clone());
                    async move {
                        let chunk = p.chunk_size;
                        let (a, b) = (api.clone(), blobs.clone());
                        let m = load::jobs(pid, blobs.len(), p.push_workers, move |i| {
                            let (api, blobs) = (a.clone(), b.clone());
                            async move {
                                let blob = &blobs[i];
                                match mode {
                                    Push::Monolithic => api.push_monolithic(repo, blob).await,
                                    Push::Chunked => api.push_chunked(repo, blob, chunk).await,
                                    Push::Streamed => api.push_streamed(repo, blob).await,
                                }
                            }
                        })
                        .await?;
                        for blob in blobs.iter() {
                            api.head_blob(repo, blob).await?;
                        }
                        let mibs = blobs.iter().map(|b| b.size).sum::<u64>() as f64 / MIB;
                        Ok(Sample::bytes(m, mibs))
                    }
                })
                .await?;
            self.add(&label, "MiB/s", &samples, Some(Limit::DiskWrite), "CPU s/GiB");
        }
        Ok(())
    }

    async fn pull(&mut self) -> Result<()> {
        let p = self.plan.clone();
        let set = blob_set("pull", 0, p.pull_blobs, p.blob_size).await?;
        const REPO: &str = "pull/blobs";
        say!("  setup: pushing {} blobs of {} KiB to each, then checking their digests", set.len(), p.blob_size >> 10);
        self.each("pull setup", |_, api, pid| {
            let (set, p) = (set.clone(), p.clone());
            async move {
                let (a, b) = (api.clone(), set.clone());
                load::jobs(pid, set.len(), p.push_workers, move |i| {
                    let (api, set) = (a.clone(), b.clone());
                    async move { api.push_monolithic(REPO, &set[i]).await }
                })
                .await?;
                let (a, b) = (api.clone(), set.clone());
                load::jobs(pid, set.len(), 2, move |i| {
                    let (api, set) = (a.clone(), b.clone());
                    async move { api.pull_verified(REPO, &set[i]).await }
                })
                .await?;
                Ok(())
            }
        })
        .await?;
        let size = if p.blob_size >= 1 << 20 {
            format!("{} MiB", p.blob_size >> 20)
        } else {
            format!("{} KiB", p.blob_size >> 10)
        };
        for workers in [4, 16] {
            let label = format!("blob pull (GET), {size}, {workers} at a time");
            let samples = self
                .rounds(&label, "MiB/s", |s, _| {
                    let (api, pid, set, gets) = (self.apis[s].clone(), self.pids[s], set.clone(), p.pull_gets);
                    async move {
                        let mibs = (0..gets).map(|i| set[i % set.len()].size).sum::<u64>() as f64 / MIB;
                        let m = load::jobs(pid, gets, workers, move |i| {
                            let (api, set) = (api.clone(), set.clone());
                            async move { api.pull_sampled(REPO, &set[i % set.len()]).await.map(drop) }
                        })
                        .await?;
                        Ok(Sample::bytes(m, mibs))
                    }
                })
                .await?;
            self.add(&label, "MiB/s", &samples, Some(Limit::Loopback), "CPU s/GiB");
        }
        let len = p.range_len;
        let label = format!("ranged GET, {} KiB ranges, {} at a time", len >> 10, p.range_workers);
        let samples = self
            .rounds(&label, "req/s", |s, r| {
                let (api, pid, set, p) = (self.apis[s].clone(), self.pids[s], set.clone(), p.clone());
                async move {
                    let m = load::burst(pid, p.duration, p.range_workers, move |w, i| {
                        let (api, set) = (api.clone(), set.clone());
                        async move {
                            let k = data::seed("range", r as u64, ((w as u64) << 40) | i);
                            let blob = &set[(k % set.len() as u64) as usize];
                            let start = data::mix(k) % (blob.size - len + 1);
                            api.pull_range(REPO, blob, start, len).await
                        }
                    })
                    .await?;
                    Ok(Sample::rate(m, 1e6))
                }
            })
            .await?;
        self.add(&label, "req/s", &samples, Some(Limit::LoopbackPer(len as f64 / MIB)), "CPU µs/req");
        Ok(())
    }

    async fn small(&mut self) -> Result<()> {
        let p = self.plan.clone();
        let label = format!(
            "small images ({} KiB layer, config, manifest), {} at a time",
            p.small_layer >> 10,
            p.small_workers
        );
        let samples = self
            .rounds(&label, "images/s", |s, r| {
                let (api, pid, p) = (self.apis[s].clone(), self.pids[s], p.clone());
                async move {
                    let a = api.clone();
                    let m = load::burst(pid, p.duration, p.small_workers, move |w, i| {
                        let api = a.clone();
                        async move {
                            let img = image("small", (r * 1000 + w) as u64, i, &[p.small_layer]);
                            push_image(&api, &format!("small/w{w}"), &format!("r{r}-{i}"), &img, true).await
                        }
                    })
                    .await?;
                    let first = image("small", (r * 1000) as u64, 0, &[p.small_layer]);
                    api.get_manifest("small/w0", &format!("r{r}-0"), &first.manifest).await?;
                    Ok(Sample::rate(m, 1e3))
                }
            })
            .await?;
        self.add(&label, "images/s", &samples, None, "CPU ms/image");
        Ok(())
    }

    async fn manifest(&mut self) -> Result<()> {
        let p = self.plan.clone();
        const REPO: &str = "bench/manifest";
        let img = Arc::new(image("manifest", 0, 0, &[4096, 8192, 16384]));
        self.each("manifest setup", |_, api, pid| {
            let (img, p) = (img.clone(), p.clone());
            async move {
                push_image(&api, REPO, "latest", &img, false).await?;
                // Opens the pool's connections so that the first round does not pay for them.
                load::burst(pid, Duration::from_millis(200), p.manifest_workers, move |_, _| {
                    let (api, img) = (api.clone(), img.clone());
                    async move { api.get_manifest(REPO, "latest", &img.manifest).await }
                })
                .await?;
                Ok(())
            }
        })
        .await?;
        let label = format!("manifest GET by tag, {} connections", p.manifest_workers);
        let samples = self
            .rounds(&label, "req/s", |s, _| {
                let (api, pid, img, p) = (self.apis[s].clone(), self.pids[s], img.clone(), p.clone());
                async move {
                    let m = load::burst(pid, p.duration, p.manifest_workers, move |_, _| {
                        let (api, img) = (api.clone(), img.clone());
                        async move { api.get_manifest(REPO, "latest", &img.manifest).await }
                    })
                    .await?;
                    Ok(Sample::rate(m, 1e6))
                }
            })
            .await?;
        self.add(&label, "req/s", &samples, None, "CPU µs/req");
        self.add_latency("manifest GET by tag", &samples);
        let label = format!("manifest HEAD by digest, {} connections", p.manifest_workers);
        let samples = self
            .rounds(&label, "req/s", |s, _| {
                let (api, pid, img, p) = (self.apis[s].clone(), self.pids[s], img.clone(), p.clone());
                async move {
                    let m = load::burst(pid, p.duration, p.manifest_workers, move |_, _| {
                        let (api, img) = (api.clone(), img.clone());
                        async move { api.head_manifest(REPO, &img.digest, img.manifest.len()).await }
                    })
                    .await?;
                    Ok(Sample::rate(m, 1e6))
                }
            })
            .await?;
        self.add(&label, "req/s", &samples, None, "CPU µs/req");
        self.add_latency("manifest HEAD by digest", &samples);
        Ok(())
    }

    /// Times `GET path` (whose answer was checked once and must not change) at `list_workers`.
    async fn list_rate(&mut self, label: &str, path: &'static str, want: [Bytes; 2]) -> Result<()> {
        let p = self.plan.clone();
        let samples = self
            .rounds(label, "req/s", |s, _| {
                let (api, pid, want, p) = (self.apis[s].clone(), self.pids[s], want[s].clone(), p.clone());
                async move {
                    let m = load::burst(pid, p.duration, p.list_workers, move |_, _| {
                        let (api, want) = (api.clone(), want.clone());
                        async move { api.get_same(path, &want).await }
                    })
                    .await?;
                    Ok(Sample::rate(m, 1e6))
                }
            })
            .await?;
        self.add(label, "req/s", &samples, None, "CPU µs/req");
        Ok(())
    }

    async fn tags(&mut self) -> Result<()> {
        let p = self.plan.clone();
        const REPO: &str = "bench/tags";
        let img = Arc::new(image("tags", 0, 0, &[4096]));
        let tags: Arc<Vec<String>> = Arc::new((0..p.tags).map(|i| format!("t{i:05}")).collect());
        say!("  setup: one image tagged {} times in {REPO}", p.tags);
        let mut want = [Bytes::new(), Bytes::new()];
        for s in 0..2 {
            let (api, pid) = (self.apis[s].clone(), self.pids[s]);
            push_image(&api, REPO, &tags[0], &img, false).await?;
            let (a, i, t) = (api.clone(), img.clone(), tags.clone());
            load::jobs(pid, tags.len() - 1, 8, move |k| {
                let (api, img, tags) = (a.clone(), i.clone(), t.clone());
                async move { api.put_manifest(REPO, &tags[k + 1], img.manifest.clone(), &img.digest).await }
            })
            .await
            .with_context(|| format!("tagging ({})", NAMES[s]))?;
            let body = api.get_ok(&format!("/v2/{REPO}/tags/list")).await?;
            let v: serde_json::Value = serde_json::from_slice(&body).context("tags/list is not JSON")?;
            let got: BTreeSet<&str> =
                v["tags"].as_array().map(|a| a.iter().filter_map(|t| t.as_str()).collect()).unwrap_or_default();
            let expected: BTreeSet<&str> = tags.iter().map(String::as_str).collect();
            ensure!(v["name"] == REPO, "{}: tags/list names {:?}", NAMES[s], v["name"]);
            ensure!(got == expected, "{}: tags/list has {} tags, not the {} pushed", NAMES[s], got.len(), tags.len());
            want[s] = body;
        }
        let label = format!("tag list ({} tags), {} at a time", p.tags, p.list_workers);
        self.list_rate(&label, "/v2/bench/tags/tags/list", want).await
    }

    async fn catalog(&mut self) -> Result<()> {
        let p = self.plan.clone();
        let src = data::bytes(data::seed("catalog-source", 0, 0), 512);
        let digest = data::sha256_digest(&src);
        async fn list(api: &Api, path: &str) -> Result<(Bytes, Vec<String>)> {
            let body = api.get_ok(path).await?;
            let v: serde_json::Value = serde_json::from_slice(&body).context("the catalog is not JSON")?;
            let repos = v["repositories"]
                .as_array()
                .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            Ok((body, repos))
        }
        let mut existing = 0;
        for api in &self.apis {
            api.push_small("cat/source", &digest, src.clone(), false).await?;
            existing = list(api, "/v2/_catalog?n=10000").await?.1.len();
        }
        let new = p.repos.saturating_sub(existing);
        say!("  setup: {new} more repositories (cross-repository mounts), {} in all", existing + new);
        let mut full = Vec::new();
        let mut page = Vec::new();
        for (s, name) in NAMES.iter().enumerate() {
            let (a, d) = (self.apis[s].clone(), digest.clone());
            load::jobs(self.pids[s], new, 16, move |i| {
                let (api, digest) = (a.clone(), d.clone());
                async move { api.mount(&format!("cat/r{i:05}"), "cat/source", &digest).await }
            })
            .await
            .with_context(|| format!("making repositories ({name})"))?;
            full.push(list(&self.apis[s], "/v2/_catalog?n=10000").await?);
            page.push(list(&self.apis[s], "/v2/_catalog?n=100").await?);
        }
        let total = existing + new;
        for s in 0..2 {
            ensure!(
                full[s].1.len() == total.min(10_000),
                "{}: the catalog lists {} repositories",
                NAMES[s],
                full[s].1.len()
            );
            ensure!(page[s].1.len() == total.min(100), "{}: a page of 100 lists {}", NAMES[s], page[s].1.len());
        }
        let sets: Vec<BTreeSet<&String>> = full.iter().map(|(_, r)| r.iter().collect()).collect();
        ensure!(
            sets[0] == sets[1],
            "the two catalogs differ: only berth has {:?}, only distribution has {:?}",
            sets[0].difference(&sets[1]).take(5).collect::<Vec<_>>(),
            sets[1].difference(&sets[0]).take(5).collect::<Vec<_>>()
        );
        let label = format!("catalog ({total} repositories), whole list (n=10000), {} at a time", p.list_workers);
        self.list_rate(&label, "/v2/_catalog?n=10000", [full[0].0.clone(), full[1].0.clone()]).await?;
        let label = format!("catalog ({total} repositories), first page (n=100), {} at a time", p.list_workers);
        self.list_rate(&label, "/v2/_catalog?n=100", [page[0].0.clone(), page[1].0.clone()]).await
    }

    /// Small blob uploads, timed: `fill_timed` blobs through each registry's API in alternating slices.
    async fn fill_timed(&mut self) -> Result<()> {
        let p = self.plan.clone();
        let per = p.fill_timed.div_ceil(p.rounds);
        let label = format!("small blob upload ({} KiB; POST, PUT), {} at a time", p.fill_size >> 10, p.fill_workers);
        let samples = self
            .rounds(&label, "blobs/s", |s, r| {
                let (api, pid, p) = (self.apis[s].clone(), self.pids[s], p.clone());
                let (lo, hi) = ((r * per).min(p.fill_timed), ((r + 1) * per).min(p.fill_timed));
                async move {
                    let pp = p.clone();
                    let m = load::jobs(pid, hi - lo, p.fill_workers, move |i| {
                        let (api, (repo, bytes, digest)) = (api.clone(), fill_blob(&pp, lo + i));
                        async move { api.push_small(&repo, &digest, bytes, false).await }
                    })
                    .await?;
                    Ok(Sample::rate(m, 1e6))
                }
            })
            .await?;
        self.add(&label, "blobs/s", &samples, None, "CPU µs/blob");
        Ok(())
    }

    /// The rest of the `fill_blobs` blobs, untimed: berth's through its API (its metadata lives in
    /// SQLite), distribution's written straight into its filesystem layout (it reads nothing of its
    /// storage at start, and its API takes minutes for this many). Returns a line saying how berth's went.
    async fn fill_bulk(&mut self, dist_root: &std::path::Path) -> Result<String> {
        let p = self.plan.clone();
        let (lo, n) = (p.fill_timed, p.fill_blobs.saturating_sub(p.fill_timed));
        say!(
            "  filling up to {} blobs: {n} more into berth through its API, {} at a time",
            p.fill_blobs,
            p.fill_bulk_workers
        );
        let (api, pp) = (self.apis[0].clone(), p.clone());
        let rss0 = crate::server::peak_rss_mib(self.pids[0])?;
        let m = load::jobs(self.pids[0], n, p.fill_bulk_workers, move |i| {
            let (api, (repo, bytes, digest)) = (api.clone(), fill_blob(&pp, lo + i));
            async move { api.push_single_post(&repo, &digest, bytes).await }
        })
        .await
        .context("filling berth")?;
        let rss1 = crate::server::peak_rss_mib(self.pids[0])?;
        let line = format!(
            "berth stored {n} more 1 KiB blobs through its API (one POST ?digest= with the body each), \
             {} at a time, in {:.1} s ({} blobs/s, {:.1} server CPU s; peak RSS {} -> {} MiB)",
            p.fill_bulk_workers,
            m.secs,
            num(m.rate()),
            m.server_cpu,
            num(rss0),
            num(rss1)
        );
        say!("  {line}");
        say!("  writing {n} blob files into distribution's layout directly");
        let root = dist_root.join("docker/registry/v2/blobs/sha256");
        let halves: Vec<_> = (0..2)
            .map(|half| {
                let (root, p) = (root.clone(), p.clone());
                tokio::task::spawn_blocking(move || -> Result<()> {
                    for k in (lo..p.fill_blobs).filter(|k| k % 2 == half) {
                        let (_, bytes, digest) = fill_blob(&p, k);
                        let hex = &digest["sha256:".len()..];
                        let dir = root.join(&hex[..2]).join(hex);
                        std::fs::create_dir_all(&dir)?;
                        std::fs::write(dir.join("data"), &bytes)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in halves {
            h.await??;
        }
        Ok(line)
    }
}

/// sha256, loopback and durable-write rates, 3 of each, appended to `samples`.
async fn measure_limits(p: &Plan, dir: &std::path::Path, samples: &mut [Vec<f64>; 3]) -> Result<()> {
    for _ in 0..3 {
        let n = p.sha_bytes;
        samples[0].push(tokio::task::spawn_blocking(move || limits::sha256_rate(n)).await?);
        samples[1].push(limits::loopback_rate(p.loopback_bytes).await?);
        let (dir, n) = (dir.to_owned(), p.fsync_bytes);
        samples[2].push(tokio::task::spawn_blocking(move || limits::durable_write_rate(&dir, n)).await??);
    }
    say!(
        "  sha256, one core: {} MiB/s; loopback TCP copy: {} MiB/s; fsync'd write: {} MiB/s",
        num(median(&samples[0])),
        num(median(&samples[1])),
        num(median(&samples[2]))
    );
    Ok(())
}

fn pick(samples: &[Vec<Sample>; 2], f: fn(&Sample) -> f64) -> [Vec<f64>; 2] {
    [samples[0].iter().map(f).collect(), samples[1].iter().map(f).collect()]
}

fn list(v: &[f64]) -> String {
    v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ")
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map(|kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem} memory, Linux {}", kernel.trim())
}

/// The 1-minute load average: how busy the machine was with anything else too.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

pub async fn run(args: Args, plan: Plan) -> Result<()> {
    T0.get_or_init(std::time::Instant::now);
    let load_start = loadavg();
    for g in &args.only {
        ensure!(GROUPS.contains(&g.as_str()), "unknown workload group {g:?} (known: {})", GROUPS.join(", "));
    }
    ensure!(
        args.berth.is_file(),
        "no berth binary at {}: build it with `cargo build --release -p berth` or pass --berth",
        args.berth.display()
    );
    let dist_version = std::process::Command::new(&args.distribution).arg("--version").output().with_context(|| {
        format!(
            "cannot run {} (install Debian's docker-registry package, or pass --distribution)",
            args.distribution.display()
        )
    })?;
    let dist_version = String::from_utf8_lossy(&dist_version.stdout).trim().to_owned();
    let berth_rev = {
        let rev = first_line("git", &["rev-parse", "--short", "HEAD"]);
        let dirty = !first_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty()
            && first_line("git", &["status", "--porcelain", "--untracked-files=no"]) != "?";
        format!("{rev}{}", if dirty { " (with uncommitted changes)" } else { "" })
    };
    std::fs::create_dir_all(&args.work_dir)?;
    let work = tempfile::Builder::new()
        .prefix("berth-bench-")
        .tempdir_in(&args.work_dir)
        .with_context(|| format!("cannot make a directory in {}", args.work_dir.display()))?;
    let p = plan.clone();
    let mode = if p.quick { "QUICK (a functional check, not a measurement)" } else { "full" };
    say!(
        "berth-bench, {mode}: {} rounds, {:.1} s per request-rate run; storage in {}",
        p.rounds,
        p.duration.as_secs_f64(),
        work.path().display()
    );
    say!("machine: {}", machine());

    let mut limit_samples = [Vec::new(), Vec::new(), Vec::new()];
    say!("measuring this machine's limits, 3 times each (again at the end)");
    measure_limits(&p, work.path(), &mut limit_samples).await?;

    let mut servers = [
        Server::new(Kind::Berth, &args.berth, &work.path().join("berth"), &args.berth_log)?,
        Server::new(Kind::Distribution, &args.distribution, &work.path().join("distribution"), "")?,
    ];
    let measured = measure(&args, &p, &mut servers).await;
    if measured.is_err() {
        for s in &mut servers {
            let _ = s.stop().await;
            eprintln!("--- the last lines of {}'s log ---\n{}", s.name, s.log_tail());
        }
    }
    let (b, start_rows, extra, notes) = measured?;
    say!("measuring this machine's limits again, 3 times each");
    measure_limits(&p, work.path(), &mut limit_samples).await?;
    let [sha, lo, fs] = &limit_samples;
    let limits = Limits { sha256: median(sha), loopback: median(lo), durable_write: median(fs) };
    let range = |v: &[f64]| {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        format!("{}-{}", num(min), num(max))
    };
    let mut rows = b.rows.clone();
    rows.extend(start_rows);
    rows.extend(extra);

    let limit_text = format!(
        "sha256 on one core: {} MiB/s; one loopback TCP stream (tokio, 256 KiB writes): {} MiB/s; \
         sequential write + fsync in the storage filesystem: {} MiB/s (medians of 6, 3 before and 3 after \
         the workloads; ranges {}, {} and {} MiB/s)",
        num(limits.sha256),
        num(limits.loopback),
        num(limits.durable_write),
        range(sha),
        range(lo),
        range(fs)
    );
    let auth = if servers[0].open_mode() {
        "berth with --no-auth and distribution without an auth section: both open"
    } else {
        "berth (a build without --no-auth) and distribution without an auth section: both open"
    };
    let header = format!(
        "berth {berth_rev} vs {dist_version}; {mode}; {} rounds (median; ABBA order), {:.1} s per request-rate run; \
         {auth}\nmachine: {}; 1-minute load average {load_start} at the start, {} at the end; the run took {}:{:02}",
        p.rounds,
        p.duration.as_secs_f64(),
        machine(),
        loadavg(),
        T0.get().map_or(0, |t| t.elapsed().as_secs()) / 60,
        T0.get().map_or(0, |t| t.elapsed().as_secs()) % 60,
    );
    println!("\n{header}\nlimits: {limit_text}\n");
    println!("{}", report::text(&rows, &limits));
    println!("server CPU time per unit of work (median over rounds):\n");
    println!("{}", report::text(&b.cpu_rows, &limits));
    println!("the load generator's own CPU time per unit of work, while it drove each server (median over rounds):\n");
    println!("{}", report::text(&b.client_rows, &limits));
    for n in &notes {
        println!("note: {n}\n");
    }
    if let Some(path) = &args.markdown {
        let mut md = String::new();
        let _ = writeln!(md, "{}\n", header.replace('\n', "  \n"));
        let _ = writeln!(md, "This machine's limits, measured in the same run: {limit_text}.\n");
        let _ = writeln!(md, "{}", report::markdown(&rows, &limits));
        for n in &notes {
            let _ = writeln!(md, "Note: {n}\n");
        }
        let _ = writeln!(md, "Server CPU time per unit of work (median over rounds; lower is better):\n");
        let _ = writeln!(md, "{}", report::markdown(&b.cpu_rows, &limits));
        let _ = writeln!(
            md,
            "The load generator's own CPU time per unit of work while it drove each server (median over \
             rounds; it shares the 2 cores with the server):\n"
        );
        let _ = writeln!(md, "{}", report::markdown(&b.client_rows, &limits));
        let _ = writeln!(md, "Every round's value:\n");
        let _ = writeln!(md, "{}", report::rounds_markdown(&rows));
        std::fs::write(path, md).with_context(|| format!("cannot write {}", path.display()))?;
        say!("wrote {}", path.display());
    }
    Ok(())
}

type Measurements = (Bench, Vec<Row>, Vec<Row>, Vec<String>);

/// Everything that runs against the servers.
async fn measure(args: &Args, p: &Plan, servers: &mut [Server; 2]) -> Result<Measurements> {
    let want = |g: &str| args.only.is_empty() || args.only.iter().any(|o| o == g);
    for s in servers.iter_mut() {
        s.start().await?;
        s.stop().await?;
    }
    let mut start_rows = Vec::new();
    if want("start") {
        let mut t = [Vec::new(), Vec::new()];
        for r in 0..p.rounds {
            for s in order(r) {
                sync().await;
                t[s].push(servers[s].start().await?.as_secs_f64() * 1000.0);
                servers[s].stop().await?;
            }
        }
        say!(
            "  start until GET /v2/ answers, empty storage: berth {} ms, distribution {} ms",
            list(&t[0]),
            list(&t[1])
        );
        start_rows.push(Row::new("start until GET /v2/ answers 200, empty storage", "ms", Better::Lower, t));
    }
    for s in servers.iter_mut() {
        s.start().await?;
    }
    let mut b = Bench {
        plan: p.clone(),
        apis: [Api::new("berth", &servers[0].base())?, Api::new("distribution", &servers[1].base())?],
        pids: [servers[0].pid(), servers[1].pid()],
        rows: Vec::new(),
        cpu_rows: Vec::new(),
        client_rows: Vec::new(),
    };
    say!(
        "berth at {} (pid {}), distribution at {} (pid {})",
        servers[0].base(),
        b.pids[0],
        servers[1].base(),
        b.pids[1]
    );
    if want("push") {
        b.push().await?;
    }
    if want("pull") {
        b.pull().await?;
    }
    if want("small") {
        b.small().await?;
    }
    if want("manifest") {
        b.manifest().await?;
    }
    if want("tags") {
        b.tags().await?;
    }
    if want("catalog") {
        b.catalog().await?;
    }
    let rss_work = [servers[0].peak_rss_mib()?, servers[1].peak_rss_mib()?];
    let cpu_work = [servers[0].cpu_seconds()?, servers[1].cpu_seconds()?];
    let extra = vec![
        Row::new("peak RSS (VmHWM) after the workloads above", "MiB", Better::Lower, rss_work.map(|v| vec![v])),
        Row::new("server CPU time (utime+stime), workloads above", "s", Better::Lower, cpu_work.map(|v| vec![v])),
    ];
    let mut notes = Vec::new();
    if want("start") {
        b.fill_timed().await?;
        let berth_fill = b.fill_bulk(&servers[1].data).await?;
        notes.push(format!(
            "{} blobs stored for the start time: the first {} through each registry's API (the small blob \
             upload row); then {berth_fill}; distribution's other {} were written as files straight into its \
             layout (docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data, linked to no repository), since \
             it reads nothing of its storage at start and its API would take minutes for them.",
            p.fill_blobs,
            p.fill_timed.min(p.fill_blobs),
            p.fill_blobs.saturating_sub(p.fill_timed)
        ));
        for s in servers.iter_mut() {
            s.stop().await?;
        }
        let (first_repo, _, _) = fill_blob(p, 0);
        let first = BlobSpec::compute(data::seed("fill", 0, 0), p.fill_size as u64);
        let last_k = p.fill_blobs.max(1) - 1;
        let (last_repo, _, _) = fill_blob(p, last_k);
        let last = BlobSpec::compute(data::seed("fill", last_k as u64, 0), p.fill_size as u64);
        let mut t = [Vec::new(), Vec::new()];
        for r in 0..p.rounds {
            for s in order(r) {
                sync().await;
                t[s].push(servers[s].start().await?.as_secs_f64() * 1000.0);
                let api = Api::new(NAMES[s], &servers[s].base())?;
                api.head_blob(&first_repo, &first).await.context("after a restart")?;
                if s == 0 {
                    api.head_blob(&last_repo, &last).await.context("after a restart")?;
                }
                servers[s].stop().await?;
            }
        }
        say!(
            "  start until GET /v2/ answers, {} blobs: berth {} ms, distribution {} ms",
            p.fill_blobs,
            list(&t[0]),
            list(&t[1])
        );
        start_rows.push(Row::new(
            format!("start until GET /v2/ answers 200, {} blobs stored", p.fill_blobs),
            "ms",
            Better::Lower,
            t,
        ));
    }
    for s in servers.iter_mut() {
        s.stop().await?;
    }
    Ok((b, start_rows, extra, notes))
}
