//! The hub's shared state: configuration, warehouse, plugin host, pseudonymiser.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{Config, resolve_secret};
use crate::geo::Gazetteer;
use crate::plugin_host::{HostSettings, PluginHost};
use crate::privacy::Pseudonymiser;
use crate::warehouse::{MigrationReport, Warehouse};

pub struct Hub {
    pub config: Config,
    /// Variables secrets and `${NAME}` resolve from (the environment, or the demo's).
    pub vars: BTreeMap<String, String>,
    pub warehouse: Warehouse,
    pub host: PluginHost,
    pub pseudonymiser: Pseudonymiser,
    pub gazetteer: &'static Gazetteer,
}

/// Everything that can stop the hub from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Privacy(#[from] crate::privacy::PrivacyError),
    #[error(transparent)]
    Warehouse(#[from] crate::warehouse::WarehouseError),
    #[error("plugin host: {0}")]
    Host(#[from] crate::plugin_host::HostError),
    #[error("reference data: {0}")]
    Geo(String),
}

impl Hub {
    /// A hub on a warehouse it migrates first (`vivres demo`, the bench and
    /// the tests: a warehouse of their own). See [`Hub::open`].
    pub async fn start(config: Config, vars: BTreeMap<String, String>) -> Result<Hub, StartError> {
        Ok(Hub::migrate(config, vars).await?.0)
    }

    /// `vivres migrate`: migrates the warehouse under the migration lock,
    /// then starts the hub on it.
    pub async fn migrate(
        config: Config,
        vars: BTreeMap<String, String>,
    ) -> Result<(Hub, MigrationReport), StartError> {
        Hub::start_with(
            config,
            vars,
            |url| async move { Warehouse::migrate(&url).await },
        )
        .await
    }

    /// Every operator command but `vivres migrate`: the warehouse's schema
    /// must already be this binary's (else the error says what to run).
    pub async fn open(config: Config, vars: BTreeMap<String, String>) -> Result<Hub, StartError> {
        let open = |url: String| async move { Ok((Warehouse::open(&url).await?, ())) };
        Ok(Hub::start_with(config, vars, open).await?.0)
    }

    /// Checks the pseudonymisation key (refusing to start without one),
    /// opens the warehouse with `open`, seeds reference data (idempotent,
    /// safe from several nodes at once) and starts the plugin host.
    async fn start_with<F, Fut, T>(
        config: Config,
        vars: BTreeMap<String, String>,
        open: F,
    ) -> Result<(Hub, T), StartError>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<(Warehouse, T), crate::warehouse::WarehouseError>>,
    {
        let named = match config.privacy.pseudonym_key.as_ref() {
            None => None,
            Some(r) => match resolve_secret(r, &vars) {
                Ok(key) => Some(key),
                // An unset variable falls back to VIVRES_PSEUDONYM_KEY, as before.
                Err(crate::config::SecretError::EnvUnset(_)) => None,
                // A named file that cannot be read must not go unnoticed.
                Err(e) => {
                    return Err(crate::config::ConfigError::Invalid {
                        file: "configuration".into(),
                        field: "privacy.pseudonym_key".into(),
                        reason: e.to_string(),
                    }
                    .into());
                }
            },
        };
        let key = named
            .or_else(|| {
                vars.get("VIVRES_PSEUDONYM_KEY")
                    .filter(|v| !v.is_empty())
                    .map(|v| crate::config::Secret::new(v.clone()))
            })
            .ok_or(crate::privacy::PrivacyError::MissingKey)?;
        let pseudonymiser = Pseudonymiser::new(&key)?;
        let gazetteer = crate::geo::gazetteer().map_err(|e| StartError::Geo(e.to_string()))?;
        let (warehouse, opened) = open(config.database_url()).await?;
        warehouse.seed_reference(&config, gazetteer).await?;
        let host = PluginHost::new(host_settings(&config))?;
        let hub = Hub {
            config,
            vars,
            warehouse,
            host,
            pseudonymiser,
            gazetteer,
        };
        Ok((hub, opened))
    }
}

pub fn host_settings(config: &Config) -> HostSettings {
    let limits = &config.limits;
    let mut s = HostSettings::new(config.cache_dir());
    s.memory_limit_bytes = limits.plugin_memory_mib as usize * 1024 * 1024;
    s.call_cpu_deadline = Duration::from_secs(u64::from(limits.plugin_call_seconds));
    s.call_wall_timeout = Duration::from_secs(u64::from(limits.plugin_call_wall_seconds));
    s.max_batch_items = limits.max_batch_items as usize;
    s.max_call_bytes = (limits.max_call_mib as usize).saturating_mul(1024 * 1024);
    s.max_record_bytes = (limits.max_record_kib as usize).saturating_mul(1024);
    s.max_string_bytes = (limits.max_string_kib as usize).saturating_mul(1024);
    s.http.timeout = Duration::from_secs(u64::from(limits.http_timeout_seconds));
    s.http.max_retries = limits.http_max_retries;
    s
}
