//! `berth-bench`: starts berth and the reference registry (CNCF distribution, Debian's
//! `docker-registry`) on loopback with fresh storage each, runs the same workloads against both,
//! alternating them round by round, and prints each figure's median, the ratio berth/distribution and
//! this machine's limits measured in the same run. See BENCHMARKS.md.

mod api;
mod bench;
mod data;
mod limits;
mod load;
mod report;
mod search;
mod server;

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "berth-bench", about = "Benchmarks berth against CNCF distribution on loopback, side by side")]
pub struct Args {
    /// The berth binary.
    #[arg(long, default_value = "target/release/berth")]
    pub berth: PathBuf,
    /// The reference registry's binary (CNCF distribution 2.8, Debian's package docker-registry).
    #[arg(long, default_value = "docker-registry")]
    pub distribution: PathBuf,
    /// Tiny sizes and counts: checks that every workload works (well under a minute); not a measurement.
    #[arg(long)]
    pub quick: bool,
    /// Rounds per workload, each running berth and distribution once (default 5; 2 with --quick).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Seconds each request-rate run lasts (default 1.5; 0.2 with --quick).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Also write the results as Markdown to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Where the two servers' fresh storage is made (a new temporary directory inside it, removed at the end).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub work_dir: PathBuf,
    /// berth's log filter (BERTH_LOG); warn matches distribution's `level: warn` with no access log.
    #[arg(long, default_value = "warn")]
    pub berth_log: String,
    /// Only these workload groups (comma-separated): push, pull, small, manifest, tags, catalog, start.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Instead of the side-by-side workloads: search latency over this many repositories (berth only).
    #[arg(long)]
    pub search: Option<usize>,
}

/// Sizes and counts of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub quick: bool,
    pub rounds: usize,
    pub duration: Duration,
    pub blob_size: u64,
    pub chunk_size: u64,
    pub push_blobs: usize,
    pub push_workers: usize,
    pub pull_blobs: usize,
    pub pull_gets: usize,
    pub range_len: u64,
    pub range_workers: usize,
    pub small_layer: usize,
    pub small_workers: usize,
    pub manifest_workers: usize,
    pub tags: usize,
    pub list_workers: usize,
    pub repos: usize,
    pub fill_blobs: usize,
    pub fill_timed: usize,
    pub fill_bulk_workers: usize,
    pub fill_size: usize,
    pub fill_repos: usize,
    pub fill_workers: usize,
    pub sha_bytes: u64,
    pub loopback_bytes: u64,
    pub fsync_bytes: u64,
}

const MIB: u64 = 1 << 20;

impl Plan {
    fn new(args: &Args) -> Self {
        let mut p = if args.quick {
            Plan {
                quick: true,
                rounds: 2,
                duration: Duration::from_millis(200),
                blob_size: MIB,
                chunk_size: 256 << 10,
                push_blobs: 8,
                push_workers: 4,
                pull_blobs: 16,
                pull_gets: 32,
                range_len: 64 << 10,
                range_workers: 16,
                small_layer: 4096,
                small_workers: 4,
                manifest_workers: 64,
                tags: 50,
                list_workers: 8,
                repos: 200,
                fill_blobs: 1000,
                fill_timed: 200,
                fill_bulk_workers: 64,
                fill_size: 1024,
                fill_repos: 10,
                fill_workers: 32,
                sha_bytes: 32 * MIB,
                loopback_bytes: 128 * MIB,
                fsync_bytes: 16 * MIB,
            }
        } else {
            Plan {
                quick: false,
                rounds: 5,
                duration: Duration::from_millis(1500),
                blob_size: 64 * MIB,
                chunk_size: 8 * MIB,
                push_blobs: 8,
                push_workers: 4,
                pull_blobs: 16,
                pull_gets: 32,
                range_len: MIB,
                range_workers: 16,
                small_layer: 4096,
                small_workers: 4,
                manifest_workers: 64,
                tags: 1000,
                list_workers: 8,
                repos: 10_000,
                fill_blobs: 100_000,
                fill_timed: 1000,
                fill_bulk_workers: 64,
                fill_size: 1024,
                fill_repos: 100,
                fill_workers: 32,
                sha_bytes: 512 * MIB,
                loopback_bytes: 1024 * MIB,
                fsync_bytes: 256 * MIB,
            }
        };
        if let Some(r) = args.rounds {
            p.rounds = r.max(1);
        }
        if let Some(d) = args.duration {
            p.duration = Duration::from_secs_f64(d.max(0.01));
        }
        p
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(n) = args.search {
        let duration = Duration::from_secs_f64(args.duration.unwrap_or(if args.quick { 0.5 } else { 5.0 }));
        return match search::run(&args.berth, &args.work_dir, n, duration).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("\nberth-bench: FAILED: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let plan = Plan::new(&args);
    match bench::run(args, plan).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nberth-bench: FAILED: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
