//! Settings: defaults, then an optional TOML file, then `BERTH_*` environment variables, then flags.

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of `berth serve`. Each key may be set in the TOML file or as `BERTH_<KEY>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// Where blobs, uploads and the metadata database live.
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    /// How long in-flight requests may run on after SIGTERM/SIGINT.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// An upload session idle for longer is removed with its data.
    #[serde(with = "humantime_serde")]
    pub upload_ttl: Duration,
    /// How often expired upload sessions are looked for.
    #[serde(with = "humantime_serde")]
    pub upload_sweep_interval: Duration,
    /// Accounts and access control; false is the open mode (anyone may do anything).
    pub auth: bool,
    /// Anonymous callers may pull public repositories.
    pub anonymous_pull: bool,
    /// `open`: anyone may create an account; `closed`: only administrators.
    pub registration: Registration,
    /// Visibility of a new repository whose namespace sets none.
    pub default_visibility: DefaultVisibility,
    /// The base URL clients reach berth at (the token realm); unset: each request's Host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// The token service (audience).
    pub service: String,
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// The wait after a failed webhook delivery attempt; it doubles after each further one.
    #[serde(with = "humantime_serde")]
    pub webhook_backoff: Duration,
    /// Attempts before a webhook delivery is given up.
    pub webhook_max_attempts: u32,
    /// How long one webhook delivery attempt may take.
    #[serde(with = "humantime_serde")]
    pub webhook_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultVisibility {
    Public,
    Private,
}

/// The keys, as the environment spells them after `BERTH_`.
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "log_format",
    "shutdown_timeout",
    "upload_ttl",
    "upload_sweep_interval",
    "auth",
    "anonymous_pull",
    "registration",
    "default_visibility",
    "external_url",
    "service",
    "token_ttl",
    "refresh_token_ttl",
    "webhook_backoff",
    "webhook_max_attempts",
    "webhook_timeout",
];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:5000".into(),
            data_dir: PathBuf::from("./berth-data"),
            log_format: LogFormat::Text,
            shutdown_timeout: Duration::from_secs(30),
            upload_ttl: Duration::from_secs(24 * 3600),
            upload_sweep_interval: Duration::from_secs(600),
            auth: true,
            anonymous_pull: true,
            registration: Registration::Closed,
            default_visibility: DefaultVisibility::Private,
            external_url: None,
            service: "berth".into(),
            token_ttl: Duration::from_secs(300),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            webhook_backoff: Duration::from_secs(10),
            webhook_max_attempts: 8,
            webhook_timeout: Duration::from_secs(10),
        }
    }
}

/// Flags that override every other source.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<bool>,
}

pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Settings> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = file {
        anyhow::ensure!(path.is_file(), "config file {} does not exist", path.display());
        fig = fig.merge(Toml::file_exact(path));
    }
    let settings: Settings = fig
        .merge(Env::prefixed("BERTH_").only(KEYS))
        .merge(Serialized::defaults(overrides))
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
        .context("cannot load settings")?;
    anyhow::ensure!(!settings.upload_sweep_interval.is_zero(), "upload_sweep_interval must be more than 0");
    anyhow::ensure!(!settings.token_ttl.is_zero(), "token_ttl must be more than 0");
    anyhow::ensure!(!settings.service.is_empty(), "service must not be empty");
    anyhow::ensure!(!settings.webhook_backoff.is_zero(), "webhook_backoff must be more than 0");
    anyhow::ensure!(settings.webhook_max_attempts >= 1, "webhook_max_attempts must be at least 1");
    anyhow::ensure!(!settings.webhook_timeout.is_zero(), "webhook_timeout must be more than 0");
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn layering_and_unknown_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("berth.toml", "listen = \"127.0.0.1:7000\"\nupload_ttl = \"2h\"\n")?;
            jail.set_env("BERTH_UPLOAD_TTL", "90s");
            jail.set_env("BERTH_UNRELATED", "ignored");
            let s = load(Some(Path::new("berth.toml")), Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "127.0.0.1:7000");
            assert_eq!(s.upload_ttl, Duration::from_secs(90));
            let s = load(
                Some(Path::new("berth.toml")),
                Overrides { listen: Some("127.0.0.1:0".into()), ..Overrides::default() },
            )
            .map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "127.0.0.1:0");
            jail.create_file("bad.toml", "lisen = \"x\"\n")?;
            let err = load(Some(Path::new("bad.toml")), Overrides::default()).unwrap_err();
            assert!(format!("{err:#}").contains("lisen"), "{err:#}");
            jail.create_file("badval.toml", "shutdown_timeout = \"soon\"\n")?;
            assert!(load(Some(Path::new("badval.toml")), Overrides::default()).is_err());
            Ok(())
        });
    }
}
