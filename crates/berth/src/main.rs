//! `berth`: a container image registry in one binary.
//!
//! The binary is thin: it reads settings, opens the stores, and serves the http crate's router.

mod config;

use anyhow::Context;
use berth_registry::{Registry, RegistryConfig};
use clap::{Parser, Subcommand};
use std::future::IntoFuture;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(name = "berth", version, about = "A container image registry in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry.
    Serve {
        /// Address to listen on (port 0 picks a free port) [default: 127.0.0.1:5000]
        #[arg(long)]
        listen: Option<String>,
        /// Data directory [default: ./berth-data]
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A TOML file of settings (overridden by BERTH_* variables and flags)
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { listen, data_dir, config } => {
            let settings = match config::load(config.as_deref(), config::Overrides { listen, data_dir }) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("berth: {e:#}");
                    return std::process::ExitCode::from(2);
                }
            };
            init_logging(settings.log_format);
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("berth: cannot start the runtime: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            match rt.block_on(serve(settings)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("berth: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        config::LogFormat::Json => builder.json().init(),
        config::LogFormat::Text => builder.init(),
    }
}

async fn serve(settings: config::Settings) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"")
        .and_then(|_| std::fs::remove_file(&probe))
        .with_context(|| format!("the data directory {} is not writable", dir.display()))?;
    let blobs = berth_storage::FsBlobStore::open(dir)
        .with_context(|| format!("cannot open the blob store in {}", dir.display()))?;
    let meta = berth_meta::SqliteMeta::open(&dir.join("meta.db"))
        .with_context(|| format!("cannot open the metadata database in {}", dir.display()))?;
    let registry = Registry::new(Arc::new(blobs), Arc::new(meta), RegistryConfig { upload_ttl: settings.upload_ttl });
    match registry.sweep_uploads(true).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "removed expired or orphaned uploads"),
        Err(e) => tracing::warn!("sweeping uploads failed: {e}"),
    }

    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    // Signal handlers go in before the address is announced: a signal sent as soon as the line is
    // read must already mean a clean shutdown.
    let shutdown = shutdown_signal()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, data_dir = %dir.display(), "berth is serving");

    let sweeper = {
        let registry = registry.clone();
        let every = settings.upload_sweep_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match registry.sweep_uploads(false).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "removed expired uploads"),
                    Err(e) => tracing::warn!("sweeping uploads failed: {e}"),
                }
            }
        })
    };

    let app = berth_http::router(registry);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .into_future(),
    );
    tokio::select! {
        r = &mut server => {
            sweeper.abort();
            return r.context("server task failed")?.context("server failed");
        }
        sig = shutdown => {
            tracing::info!(signal = sig, "shutting down: finishing in-flight requests");
        }
    }
    let _ = stop_tx.send(());
    sweeper.abort();
    match tokio::time::timeout(settings.shutdown_timeout, &mut server).await {
        Ok(_) => tracing::info!("stopped"),
        Err(_) => {
            tracing::warn!(timeout = ?settings.shutdown_timeout, "in-flight requests still running; stopping anyway");
            server.abort();
        }
    }
    Ok(())
}

fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}
