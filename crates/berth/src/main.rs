//! `berth`: a container image registry in one binary.
//!
//! The binary is thin: it reads settings, opens the stores, and serves the http crate's router;
//! `berth user ...` manages accounts directly on the data directory.

mod config;

use anyhow::Context;
use berth_auth::{Subject, TokenKeys, Visibility};
use berth_meta::{AccountKind, AccountStore, SqliteMeta};
use berth_registry::accounts::{AccessConfig, Accounts};
use berth_registry::index::Index;
use berth_registry::webhooks::{Deliverer, DeliveryConfig};
use berth_registry::{Registry, RegistryConfig};
use clap::{Args, Parser, Subcommand};
use std::future::IntoFuture;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(name = "berth", version, about = "A container image registry in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the data is.
#[derive(Debug, Args)]
struct Place {
    /// Data directory [default: ./berth-data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A TOML file of settings (overridden by BERTH_* variables and flags)
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry.
    Serve {
        /// Address to listen on (port 0 picks a free port) [default: 127.0.0.1:5000]
        #[arg(long)]
        listen: Option<String>,
        /// Turn accounts and access control off: anyone who can reach the server may push, pull and delete
        #[arg(long)]
        no_auth: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Manage user accounts on the data directory (also while the server runs).
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        name: String,
        /// Make the user a server administrator
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (required: passwords are never taken as arguments)
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        place: Place,
    },
    /// List users and robots: NAME<TAB>user|admin|robot.
    List {
        #[command(flatten)]
        place: Place,
    },
    /// Set a user's password, read from standard input.
    Passwd {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Remove a user.
    Remove {
        name: String,
        #[command(flatten)]
        place: Place,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (settings, run): (_, fn(config::Settings, Command) -> anyhow::Result<()>) = match &cli.command {
        Command::Serve { listen, no_auth, place } => {
            let o = config::Overrides {
                listen: listen.clone(),
                data_dir: place.data_dir.clone(),
                auth: no_auth.then_some(false),
            };
            (config::load(place.config.as_deref(), o), run_serve)
        }
        Command::User(u) => {
            let place = match u {
                UserCommand::Add { place, .. }
                | UserCommand::List { place }
                | UserCommand::Passwd { place, .. }
                | UserCommand::Remove { place, .. } => place,
            };
            let o = config::Overrides { data_dir: place.data_dir.clone(), ..Default::default() };
            (config::load(place.config.as_deref(), o), run_user)
        }
    };
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(settings, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")
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

/// The stores and services on a data directory.
struct Opened {
    meta: Arc<SqliteMeta>,
    accounts: Accounts,
}

fn open(settings: &config::Settings) -> anyhow::Result<Opened> {
    let dir = &settings.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"")
        .and_then(|_| std::fs::remove_file(&probe))
        .with_context(|| format!("the data directory {} is not writable", dir.display()))?;
    let default_visibility = match settings.default_visibility {
        config::DefaultVisibility::Public => Visibility::Public,
        config::DefaultVisibility::Private => Visibility::Private,
    };
    let meta = SqliteMeta::open_with(&dir.join("meta.db"), default_visibility)
        .with_context(|| format!("cannot open the metadata database in {}", dir.display()))?;
    let keys = signing_key(dir)?;
    let accounts = Accounts::new(
        Arc::new(meta.clone()),
        keys,
        AccessConfig {
            enabled: settings.auth,
            anonymous_pull: settings.anonymous_pull,
            registration_open: settings.registration == config::Registration::Open,
            service: settings.service.clone(),
            token_ttl: settings.token_ttl,
            refresh_token_ttl: settings.refresh_token_ttl,
        },
    );
    Ok(Opened { meta: Arc::new(meta), accounts })
}

/// Loads the token signing key, generating it on first start (mode 0600).
fn signing_key(dir: &Path) -> anyhow::Result<TokenKeys> {
    let path = dir.join("token-signing-key.der");
    let der = match std::fs::read(&path) {
        Ok(der) => der,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let der = TokenKeys::generate_pkcs8()?;
            let tmp = dir.join(".token-signing-key.der.tmp");
            {
                use std::os::unix::fs::OpenOptionsExt;
                let mut f =
                    std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
                f.write_all(&der)?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            der
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    TokenKeys::from_pkcs8(&der).with_context(|| format!("{} is not a valid signing key", path.display()))
}

/// The account the command line acts as: it has the data directory, so it has every right.
fn command_line() -> Subject {
    Subject::Account { id: 0, name: "(command line)".into(), admin: true, robot: false, scope: None }
}

fn read_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).context("cannot read the password from standard input")?;
    let pw = s.strip_suffix('\n').unwrap_or(&s);
    let pw = pw.strip_suffix('\r').unwrap_or(pw);
    Ok(pw.to_owned())
}

fn run_user(settings: config::Settings, command: Command) -> anyhow::Result<()> {
    let Command::User(cmd) = command else { unreachable!("run_user takes user commands") };
    let rt = runtime()?;
    let opened = open(&settings)?;
    rt.block_on(async {
        let accounts = &opened.accounts;
        match cmd {
            UserCommand::Add { name, admin, email, .. } => {
                let pw = read_password()?;
                accounts.create_user(None, &name, &pw, email, admin).await?;
                println!("created {}{name}", if admin { "administrator " } else { "" });
            }
            UserCommand::List { .. } => {
                for a in opened.meta.list_accounts(None).await? {
                    let kind = match a.kind {
                        AccountKind::Org => continue,
                        AccountKind::Robot => "robot",
                        AccountKind::User if a.admin => "admin",
                        AccountKind::User => "user",
                    };
                    println!("{}\t{kind}", a.name);
                }
            }
            UserCommand::Passwd { name, .. } => {
                let pw = read_password()?;
                accounts.update_user(&command_line(), &name, Some(&pw), None, None).await?;
                println!("password of {name} changed");
            }
            UserCommand::Remove { name, .. } => {
                accounts.delete_user(None, &name).await?;
                println!("removed {name}");
            }
        }
        Ok(())
    })
}

fn run_serve(settings: config::Settings, _: Command) -> anyhow::Result<()> {
    init_logging(settings.log_format);
    let rt = runtime()?;
    let r = rt.block_on(serve(settings));
    if let Err(e) = &r {
        tracing::error!("{e:#}");
    }
    r
}

async fn serve(settings: config::Settings) -> anyhow::Result<()> {
    let dir = settings.data_dir.clone();
    let opened = open(&settings)?;
    let blobs = berth_storage::FsBlobStore::open(&dir)
        .with_context(|| format!("cannot open the blob store in {}", dir.display()))?;
    let registry =
        Registry::new(Arc::new(blobs), opened.meta.clone(), RegistryConfig { upload_ttl: settings.upload_ttl });
    match registry.sweep_uploads(true).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "removed expired or orphaned uploads"),
        Err(e) => tracing::warn!("sweeping uploads failed: {e}"),
    }
    let generated_admin_password = first_admin(&opened).await?;

    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    // Signal handlers go in before the address is announced: a signal sent as soon as the line is
    // read must already mean a clean shutdown.
    let shutdown = shutdown_signal()?;
    {
        let mut out = std::io::stdout().lock();
        if let Some(pw) = generated_admin_password {
            writeln!(out, "admin password: {pw}")?;
        }
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    if settings.auth {
        tracing::info!(%addr, data_dir = %dir.display(), "berth is serving");
    } else {
        tracing::warn!(
            %addr,
            "ACCESS CONTROL IS OFF (--no-auth): anyone who can reach this server may push, pull and delete"
        );
    }

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

    let index = Index::new(opened.meta.clone(), opened.meta.clone(), opened.accounts.clone());
    // Pull counts are noted in memory and written every second.
    let pull_writer = {
        let index = index.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(e) = index.flush_pulls().await {
                    tracing::warn!("recording pulls failed: {e}");
                }
            }
        })
    };
    let (deliverer_stop, deliverer_stopped) = tokio::sync::watch::channel(false);
    let deliverer = {
        let d = Deliverer::new(
            opened.meta.clone(),
            DeliveryConfig {
                backoff: settings.webhook_backoff,
                max_attempts: settings.webhook_max_attempts,
                timeout: settings.webhook_timeout,
                ..DeliveryConfig::default()
            },
        )
        .map_err(|e| anyhow::anyhow!("cannot start webhook delivery: {e}"))?;
        tokio::spawn(d.run(deliverer_stopped))
    };
    let app = berth_http::router(registry, opened.accounts.clone(), index.clone(), settings.external_url.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(
        axum::serve(
            berth_http::sendfile::Listener::new(listener),
            app.into_make_service_with_connect_info::<berth_http::sendfile::Peer>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop_rx.await;
        })
        .into_future(),
    );
    tokio::select! {
        r = &mut server => {
            sweeper.abort();
            pull_writer.abort();
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
    pull_writer.abort();
    if let Err(e) = index.flush_pulls().await {
        tracing::warn!("recording pulls failed: {e}");
    }
    // Pending deliveries stay queued; an attempt under way gets a moment to be recorded.
    let _ = deliverer_stop.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), deliverer).await;
    Ok(())
}

/// On an empty data directory, creates the `admin` account; returns its password if generated.
async fn first_admin(opened: &Opened) -> anyhow::Result<Option<String>> {
    if opened.meta.count_accounts().await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match std::env::var("BERTH_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (berth_auth::secret::new_password(), true),
    };
    opened
        .accounts
        .create_user(None, "admin", &password, None, true)
        .await
        .context("cannot create the admin account")?;
    tracing::info!("created the administrator account admin");
    Ok(generated.then_some(password))
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
