//! Load generation: a fixed set of jobs on N concurrent workers, or as many requests as N workers
//! complete in a fixed time; both on spawned tasks so the client uses every core it can get.

use anyhow::Result;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// What one timed run measured: wall time, the server's CPU time, and per-request latencies.
#[derive(Debug, Default)]
pub struct Measured {
    pub count: u64,
    pub secs: f64,
    pub server_cpu: f64,
    /// This process's CPU time over the same span: what generating and checking the load cost.
    pub client_cpu: f64,
    pub lat_us: Vec<u32>,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        self.count as f64 / self.secs
    }

    /// The q-quantile latency in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.lat_us.is_empty() {
            return f64::NAN;
        }
        self.lat_us.sort_unstable();
        let n = self.lat_us.len();
        let i = ((n as f64 * q).ceil() as usize).saturating_sub(1).min(n - 1);
        f64::from(self.lat_us[i]) / 1000.0
    }
}

async fn join_all(mut set: JoinSet<Result<(u64, Vec<u32>)>>) -> Result<(u64, Vec<u32>)> {
    let mut count = 0;
    let mut lat = Vec::new();
    while let Some(r) = set.join_next().await {
        // The first failure returns at once; dropping the set aborts the other workers.
        let (c, l) = r??;
        count += c;
        lat.extend(l);
    }
    Ok((count, lat))
}

/// Runs jobs `0..jobs` on `workers` concurrent tasks; the server's CPU time is read around it.
pub async fn jobs<F, Fut>(pid: u32, jobs: usize, workers: usize, f: F) -> Result<Measured>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = crate::server::cpu_seconds(pid)?;
    let own0 = crate::server::cpu_seconds(std::process::id())?;
    let t = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..workers.min(jobs.max(1)) {
        let (f, next) = (f.clone(), next.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    return Ok((lat.len() as u64, lat));
                }
                let t = Instant::now();
                f(i).await?;
                lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
        });
    }
    let (count, lat_us) = join_all(set).await?;
    let secs = t.elapsed().as_secs_f64();
    let server_cpu = crate::server::cpu_seconds(pid)? - cpu0;
    let client_cpu = crate::server::cpu_seconds(std::process::id())? - own0;
    Ok(Measured { count, secs, server_cpu, client_cpu, lat_us })
}

/// `workers` tasks each run `f(worker, iteration)` back to back until `duration` has passed; the
/// requests under way then finish and count. The rate is requests over the whole wall time.
pub async fn burst<F, Fut>(pid: u32, duration: Duration, workers: usize, f: F) -> Result<Measured>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let f = Arc::new(f);
    let cpu0 = crate::server::cpu_seconds(pid)?;
    let own0 = crate::server::cpu_seconds(std::process::id())?;
    let t = Instant::now();
    let deadline = t + duration;
    let mut set = JoinSet::new();
    for w in 0..workers {
        let f = f.clone();
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                f(w, i).await?;
                lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                i += 1;
            }
            Ok((i, lat))
        });
    }
    let (count, lat_us) = join_all(set).await?;
    let secs = t.elapsed().as_secs_f64();
    let server_cpu = crate::server::cpu_seconds(pid)? - cpu0;
    let client_cpu = crate::server::cpu_seconds(std::process::id())? - own0;
    Ok(Measured { count, secs, server_cpu, client_cpu, lat_us })
}
