//! The hub's shared state: configuration, warehouse, plugin host, pseudonymiser.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{Config, resolve_secret};
use crate::geo::Gazetteer;
use crate::plugin_host::{HostSettings, PluginHost};
use crate::privacy::Pseudonymiser;
use crate::warehouse::Warehouse;

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
    /// Opens the warehouse (migrating it), seeds reference data and starts the
    /// plugin host. Refuses to start without a pseudonymisation key.
    pub async fn start(config: Config, vars: BTreeMap<String, String>) -> Result<Hub, StartError> {
        let key = config
            .privacy
            .pseudonym_key
            .as_ref()
            .and_then(|r| resolve_secret(r, &vars))
            .or_else(|| {
                vars.get("VIVRES_PSEUDONYM_KEY")
                    .filter(|v| !v.is_empty())
                    .map(|v| crate::config::Secret::new(v.clone()))
            })
            .ok_or(crate::privacy::PrivacyError::MissingKey)?;
        let pseudonymiser = Pseudonymiser::new(&key)?;
        let gazetteer = crate::geo::gazetteer().map_err(|e| StartError::Geo(e.to_string()))?;
        let warehouse = Warehouse::open(&config.database_url()).await?;
        warehouse.seed_reference(&config, gazetteer).await?;
        let host = PluginHost::new(host_settings(&config))?;
        Ok(Hub {
            config,
            vars,
            warehouse,
            host,
            pseudonymiser,
            gazetteer,
        })
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
