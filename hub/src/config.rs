//! The hub's configuration: `config/vivres.toml`.
//!
//! Unknown fields are refused, `${NAME}` in a string value expands from the
//! environment (or from the demo's variables), and `VIVRES_SECTION__KEY`
//! environment variables override top-level settings. Every error names the
//! file, the field and the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A secret value: never printed, never serialised in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// Where a secret comes from: `{ env = "NAME" }`, `{ file = "/run/secrets/NAME" }`
/// (a container secret, a systemd credential; one trailing newline is
/// ignored) or `{ value = "..." }` (demos and tests only).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
    Value(Secret),
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("its environment variable `{0}` is not set")]
    EnvUnset(String),
    #[error("cannot read its file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("its file {0} is empty")]
    EmptyFile(String),
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub hub: HubSettings,
    #[serde(default)]
    pub privacy: PrivacySettings,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub territories: Vec<Territory>,
    #[serde(default)]
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubSettings {
    /// Warehouse, plugin cache and inboxes live here.
    pub data_dir: PathBuf,
    /// `sqlite://path` (default: `<data_dir>/vivres.sqlite`).
    pub database_url: Option<String>,
    /// Where connector plugins (`<connector>.wasm`) are found.
    pub plugins_dir: PathBuf,
    /// Where indicator definitions (`<id>.toml`) are found; read at each
    /// request, so a changed definition counts without a restart.
    pub indicators_dir: PathBuf,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings {
            data_dir: PathBuf::from(".vivres"),
            database_url: None,
            plugins_dir: PathBuf::from("plugins/target/wasm32-wasip2/release"),
            indicators_dir: PathBuf::from("config/indicators"),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// The deployment's pseudonymisation key (at least 32 bytes of entropy).
    pub pseudonym_key: Option<SecretRef>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Memory a plugin may grow to.
    pub plugin_memory_mib: u32,
    /// Guest execution time allowed per call (host waits excluded).
    pub plugin_call_seconds: u32,
    /// Wall-clock time allowed per call, waits (HTTP, sleeps) included.
    pub plugin_call_wall_seconds: u32,
    /// On SIGTERM, how long running syncs get to mark their runs
    /// interrupted before the process exits anyway.
    pub shutdown_grace_seconds: u32,
    /// How long a node's lease on a running run lasts without a heartbeat
    /// (renewed every third of it) before another node takes the run over.
    pub lease_seconds: u32,
    /// Most items plus rejects one batch may carry.
    pub max_batch_items: u32,
    /// Data the hub copies out of a plugin in one call (a batch, a log
    /// line, a request body); refused before it is copied.
    pub max_call_mib: u32,
    /// One item or reject: its strings' bytes plus 8 per other value.
    pub max_record_kib: u32,
    /// One string field of an item or reject.
    pub max_string_kib: u32,
    /// Most HTTP requests (attempts) one run of a source may send.
    pub http_request_budget: u32,
    /// Timeout of one HTTP attempt.
    pub http_timeout_seconds: u32,
    /// Retries of a 429/5xx/connection failure before giving up.
    pub http_max_retries: u32,
    /// Records the sync engine merges into one transaction when batches
    /// queue up: larger transactions write each touched index page once for
    /// more rows (faster), and hold more rows in memory (about 1 KiB each).
    pub commit_records: u32,
    /// Wall-clock time a run may take, all streams together (a source may
    /// set this and the four next in `[sources.limits]`).
    pub run_deadline_seconds: u32,
    /// Batches one run may read.
    pub max_run_batches: u32,
    /// Records (items and rejects) one run may read.
    pub max_run_records: u32,
    /// Rejects one run may quarantine.
    pub max_run_quarantine: u32,
    /// Batches in a row with `more = true`, the same state and no new record
    /// (none, or the previous batch's again):
    /// the connector is not advancing.
    pub max_idle_batches: u32,
    /// Failed runs in a row after which a source is paused (its scheduled
    /// runs skipped) until a coordinator resumes it; 0 never pauses.
    pub pause_after_failures: u32,
    /// When every scheduler slot is taken and another source waits, a run
    /// older than this gives its slot up (between two batches) and is queued
    /// again behind it: a few long or looping sources cannot starve the rest.
    pub run_fair_share_seconds: u32,
    /// Runs of a source interrupted in a row (a shutdown) without
    /// committing a batch: the last of them fails instead of resuming again.
    pub max_interrupted_runs: u32,
}

/// What one run of a source may take before the hub stops it (`[limits]`,
/// or the source's own `[sources.limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    pub run_deadline_seconds: u32,
    pub max_run_batches: u32,
    pub max_run_records: u32,
    pub max_run_quarantine: u32,
    pub max_idle_batches: u32,
}

impl Limits {
    /// The run limits of `[limits]`.
    pub fn run(&self) -> RunLimits {
        RunLimits {
            run_deadline_seconds: self.run_deadline_seconds,
            max_run_batches: self.max_run_batches,
            max_run_records: self.max_run_records,
            max_run_quarantine: self.max_run_quarantine,
            max_idle_batches: self.max_idle_batches,
        }
    }
}

/// A source's own run limits (`[sources.limits]`): each key it sets
/// replaces the `[limits]` one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceLimits {
    pub run_deadline_seconds: Option<u32>,
    pub max_run_batches: Option<u32>,
    pub max_run_records: Option<u32>,
    pub max_run_quarantine: Option<u32>,
    pub max_idle_batches: Option<u32>,
}

impl SourceLimits {
    /// `base` with this source's keys in its place.
    pub fn over(&self, base: RunLimits) -> RunLimits {
        RunLimits {
            run_deadline_seconds: self
                .run_deadline_seconds
                .unwrap_or(base.run_deadline_seconds),
            max_run_batches: self.max_run_batches.unwrap_or(base.max_run_batches),
            max_run_records: self.max_run_records.unwrap_or(base.max_run_records),
            max_run_quarantine: self.max_run_quarantine.unwrap_or(base.max_run_quarantine),
            max_idle_batches: self.max_idle_batches.unwrap_or(base.max_idle_batches),
        }
    }

    /// The keys this source sets, with their values.
    fn set(&self) -> impl Iterator<Item = (&'static str, u32)> {
        [
            ("run_deadline_seconds", self.run_deadline_seconds),
            ("max_run_batches", self.max_run_batches),
            ("max_run_records", self.max_run_records),
            ("max_run_quarantine", self.max_run_quarantine),
            ("max_idle_batches", self.max_idle_batches),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
    }

    /// Each run limit with its value, as `(key, value)`.
    fn values(l: &RunLimits) -> [(&'static str, u32); 5] {
        [
            ("run_deadline_seconds", l.run_deadline_seconds),
            ("max_run_batches", l.max_run_batches),
            ("max_run_records", l.max_run_records),
            ("max_run_quarantine", l.max_run_quarantine),
            ("max_idle_batches", l.max_idle_batches),
        ]
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            plugin_memory_mib: 256,
            plugin_call_seconds: 30,
            plugin_call_wall_seconds: 600,
            shutdown_grace_seconds: 10,
            lease_seconds: 60,
            max_batch_items: 10_000,
            max_call_mib: 64,
            max_record_kib: 1024,
            max_string_kib: 256,
            http_request_budget: 100_000,
            http_timeout_seconds: 30,
            http_max_retries: 5,
            commit_records: 32_000,
            run_deadline_seconds: 6 * 3600,
            max_run_batches: 100_000,
            max_run_records: 10_000_000,
            max_run_quarantine: 100_000,
            max_idle_batches: 10,
            run_fair_share_seconds: 900,
            pause_after_failures: 5,
            max_interrupted_runs: 3,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Territory {
    pub id: String,
    pub name: String,
    /// SIREN numbers of the EPCIs making up the territory.
    pub epci: Vec<String>,
    /// Territories of the first wave are active; later ones are listed ahead.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub id: String,
    /// Connector name; the plugin is `<plugins_dir>/<connector with - as _>.wasm`
    /// unless `plugin` names a file.
    pub connector: String,
    #[serde(default)]
    pub plugin: Option<PathBuf>,
    pub network: Network,
    pub territory: String,
    /// Other territories the source's sites may lie in (a CIVAM group whose
    /// farms span several): a site whose own commune lies in one of them is
    /// filed under it; every other record belongs to `territory`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub site_territories: Vec<String>,
    /// Cron expression (sec min hour day month weekday), used by `vivres serve`.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Hosts the plugin may call: `host`, `*.domain`, `host:port`, `127.0.0.1:8080`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Read-only directory of export files (default `<data_dir>/inbox/<id>` when
    /// `inbox = true`).
    #[serde(default)]
    pub inbox: Option<InboxSetting>,
    /// Streams to sync (default: all the connector offers).
    #[serde(default)]
    pub streams: Option<Vec<String>>,
    /// The connector's own configuration, handed to it as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// Secrets the connector may ask for by name.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretRef>,
    /// This source's own run limits, in place of `[limits]`'s.
    #[serde(default)]
    pub limits: SourceLimits,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum InboxSetting {
    Default(bool),
    Path(PathBuf),
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    Cocagne,
    SecoursCatholique,
    Vrac,
    Ugess,
    Civam,
    /// Evaluation surveys, run by the coalition itself.
    Coalition,
}

impl Network {
    pub const ALL: [Network; 6] = [
        Network::Cocagne,
        Network::SecoursCatholique,
        Network::Vrac,
        Network::Ugess,
        Network::Civam,
        Network::Coalition,
    ];

    /// The network of an id as written in config and data (`secours-catholique`).
    pub fn parse(id: &str) -> Option<Network> {
        Network::ALL.into_iter().find(|n| n.as_str() == id)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Cocagne => "cocagne",
            Network::SecoursCatholique => "secours-catholique",
            Network::Vrac => "vrac",
            Network::Ugess => "ugess",
            Network::Civam => "civam",
            Network::Coalition => "coalition",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Network::Cocagne => "Réseau Cocagne",
            Network::SecoursCatholique => "Secours Catholique",
            Network::Vrac => "VRAC",
            Network::Ugess => "UGESS",
            Network::Civam => "Réseau CIVAM",
            Network::Coalition => "Territoires à VivreS",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: field `{field}`: {reason}")]
    Invalid {
        file: String,
        field: String,
        reason: String,
    },
}

impl Config {
    /// Reads, expands and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        Self::load_with(path, &vars)
    }

    /// As [`Config::load`], with `${NAME}` and `VIVRES_…` taken from `vars`.
    pub fn load_with(path: &Path, vars: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let config = Self::parse(&file, &text, vars)?;
        // Relative paths are relative to the directory the hub runs in, as the
        // example config and the README assume; nothing to rewrite here.
        config.validate(&file)?;
        Ok(config)
    }

    pub fn parse(
        file: &str,
        text: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        apply_env_overrides(&mut table, vars);
        let mut value = toml::Value::Table(table);
        expand(&mut value, "", vars).map_err(|(field, reason)| ConfigError::Invalid {
            file: file.to_string(),
            field,
            reason,
        })?;
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let reason = e.into_inner().message().to_string();
            ConfigError::Invalid {
                file: file.to_string(),
                // serde_path_to_error writes `sources[0].network`, or `.` for the root,
                // where an unknown field's name is in the message.
                field: if path == "." {
                    field_of(&reason).unwrap_or(path)
                } else {
                    path
                },
                reason,
            }
        })
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let invalid = |field: String, reason: String| ConfigError::Invalid {
            file: file.to_string(),
            field,
            reason,
        };
        let mut territories = BTreeSet::new();
        for (i, t) in self.territories.iter().enumerate() {
            if !is_id(&t.id) {
                return Err(invalid(
                    format!("territories[{i}].id"),
                    format!("`{}` is not an id (lowercase letters, digits, `-`)", t.id),
                ));
            }
            if !territories.insert(t.id.as_str()) {
                return Err(invalid(
                    format!("territories[{i}].id"),
                    format!("territory `{}` is defined twice", t.id),
                ));
            }
            for (j, siren) in t.epci.iter().enumerate() {
                if siren.len() != 9 || !siren.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(
                        format!("territories[{i}].epci[{j}]"),
                        format!("`{siren}` is not a 9-digit SIREN"),
                    ));
                }
            }
        }
        let mut sources = BTreeSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            if !is_id(&s.id) {
                return Err(invalid(
                    format!("sources[{i}].id"),
                    format!("`{}` is not an id (lowercase letters, digits, `-`)", s.id),
                ));
            }
            if !sources.insert(s.id.as_str()) {
                return Err(invalid(
                    format!("sources[{i}].id"),
                    format!("source `{}` is defined twice", s.id),
                ));
            }
            if !territories.contains(s.territory.as_str()) {
                return Err(invalid(
                    format!("sources[{i}].territory"),
                    format!(
                        "unknown territory `{}` (known: {})",
                        s.territory,
                        territories.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            for (j, t) in s.site_territories.iter().enumerate() {
                if !territories.contains(t.as_str()) || *t == s.territory {
                    return Err(invalid(
                        format!("sources[{i}].site_territories[{j}]"),
                        format!(
                            "`{t}` is not another territory (known: {})",
                            territories.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            for (j, host) in s.allowed_hosts.iter().enumerate() {
                if host.is_empty() || host.contains('/') || host.contains(' ') {
                    return Err(invalid(
                        format!("sources[{i}].allowed_hosts[{j}]"),
                        format!("`{host}` is not a host, `*.domain` or `host:port`"),
                    ));
                }
            }
            // The keys the source sets (`[limits]` is checked on its own).
            for (key, value) in s.limits.set() {
                if value == 0 {
                    return Err(invalid(
                        format!("sources[{i}].limits.{key}"),
                        "must be at least 1".into(),
                    ));
                }
            }
            if let Some(schedule) = &s.schedule {
                let fields = schedule.split_whitespace().count();
                if !(5..=7).contains(&fields) {
                    return Err(invalid(
                        format!("sources[{i}].schedule"),
                        format!(
                            "`{schedule}` is not a cron expression (sec min hour day month weekday)"
                        ),
                    ));
                }
            }
        }
        self.validate_limits(file)
    }

    /// The `[limits]` part of [`Config::validate`].
    pub fn validate_limits(&self, file: &str) -> Result<(), ConfigError> {
        let invalid = |field: String, reason: String| ConfigError::Invalid {
            file: file.to_string(),
            field,
            reason,
        };
        let l = &self.limits;
        if l.plugin_memory_mib < 16 {
            return Err(invalid(
                "limits.plugin_memory_mib".into(),
                "must be at least 16".into(),
            ));
        }
        for (field, value) in [
            ("max_batch_items", l.max_batch_items),
            ("commit_records", l.commit_records),
            ("plugin_call_seconds", l.plugin_call_seconds),
            ("plugin_call_wall_seconds", l.plugin_call_wall_seconds),
            ("max_call_mib", l.max_call_mib),
            ("max_record_kib", l.max_record_kib),
            ("max_string_kib", l.max_string_kib),
            ("max_interrupted_runs", l.max_interrupted_runs),
            ("run_fair_share_seconds", l.run_fair_share_seconds),
        ]
        .into_iter()
        .chain(SourceLimits::values(&l.run()))
        {
            if value == 0 {
                return Err(invalid(
                    format!("limits.{field}"),
                    "must be at least 1".into(),
                ));
            }
        }
        if l.lease_seconds < 2 {
            return Err(invalid(
                "limits.lease_seconds".into(),
                "must be at least 2 (a node renews its leases every third of it)".into(),
            ));
        }
        if l.max_string_kib > l.max_record_kib {
            return Err(invalid(
                "limits.max_string_kib".into(),
                format!(
                    "{} is more than limits.max_record_kib ({}): a string is part of a record",
                    l.max_string_kib, l.max_record_kib
                ),
            ));
        }
        if u64::from(l.max_record_kib) > u64::from(l.max_call_mib) * 1024 {
            return Err(invalid(
                "limits.max_record_kib".into(),
                format!(
                    "{} KiB is more than limits.max_call_mib ({} MiB): a record comes in one call",
                    l.max_record_kib, l.max_call_mib
                ),
            ));
        }
        Ok(())
    }

    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// The run limits of a source: `[limits]`, with its own in their place.
    pub fn run_limits(&self, source: &Source) -> RunLimits {
        source.limits.over(self.limits.run())
    }

    pub fn territory(&self, id: &str) -> Option<&Territory> {
        self.territories.iter().find(|t| t.id == id)
    }

    /// The territories besides its own that a source's sites may be filed
    /// under (`site_territories`), in the order given.
    pub fn site_territories(&self, source: &Source) -> Vec<&Territory> {
        source
            .site_territories
            .iter()
            .filter_map(|id| self.territory(id))
            .collect()
    }

    pub fn database_url(&self) -> String {
        match &self.hub.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.hub.data_dir.join("vivres.sqlite").display()
            ),
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.hub.data_dir.join("cache")
    }
}

impl Source {
    pub fn plugin_path(&self, plugins_dir: &Path) -> PathBuf {
        match &self.plugin {
            Some(p) => p.clone(),
            None => plugins_dir.join(format!("{}.wasm", self.connector.replace('-', "_"))),
        }
    }

    pub fn inbox_dir(&self, data_dir: &Path) -> Option<PathBuf> {
        match &self.inbox {
            None | Some(InboxSetting::Default(false)) => None,
            Some(InboxSetting::Default(true)) => Some(data_dir.join("inbox").join(&self.id)),
            Some(InboxSetting::Path(p)) => Some(p.clone()),
        }
    }

    /// The connector configuration as the JSON the plugin receives.
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".to_string())
    }

    /// Resolves the secrets; a missing environment variable names the field.
    pub fn resolve_secrets(&self) -> Result<BTreeMap<String, Secret>, ConfigError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        self.resolve_secrets_with(&vars)
    }

    pub fn resolve_secrets_with(
        &self,
        vars: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, Secret>, ConfigError> {
        self.secrets
            .iter()
            .map(|(name, r)| {
                resolve_secret(r, vars)
                    .map(|s| (name.clone(), s))
                    .map_err(|e| ConfigError::Invalid {
                        file: "configuration".into(),
                        field: format!("sources.{}.secrets.{name}", self.id),
                        reason: e.to_string(),
                    })
            })
            .collect()
    }
}

pub fn resolve_secret(
    r: &SecretRef,
    vars: &BTreeMap<String, String>,
) -> Result<Secret, SecretError> {
    match r {
        SecretRef::Value(s) => Ok(s.clone()),
        SecretRef::Env(name) => vars
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .map(Secret)
            .ok_or_else(|| SecretError::EnvUnset(name.clone())),
        SecretRef::File(path) => {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
                path: shown.clone(),
                source,
            })?;
            // `echo secret > file` and editors add a newline that is no part of the secret.
            let text = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            if text.is_empty() {
                return Err(SecretError::EmptyFile(shown));
            }
            Ok(Secret(text.to_string()))
        }
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `VIVRES_HUB__DATA_DIR=/srv/vivres` sets `hub.data_dir`.
fn apply_env_overrides(table: &mut toml::Table, vars: &BTreeMap<String, String>) {
    for (name, value) in vars {
        let Some(path) = name.strip_prefix("VIVRES_") else {
            continue;
        };
        let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
            continue;
        }
        let section = table
            .entry(parts[0].clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section) = section {
            let parsed = value
                .parse::<i64>()
                .map(toml::Value::Integer)
                .or_else(|_| value.parse::<bool>().map(toml::Value::Boolean))
                .unwrap_or_else(|_| toml::Value::String(value.clone()));
            section.insert(parts[1].clone(), parsed);
        }
    }
}

/// Expands `${NAME}` in every string; an unset name is an error naming the field.
fn expand(
    value: &mut toml::Value,
    path: &str,
    vars: &BTreeMap<String, String>,
) -> Result<(), (String, String)> {
    match value {
        toml::Value::String(s) if s.contains("${") => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else {
                    return Err((path.to_string(), "unclosed `${`".to_string()));
                };
                let name = &after[..end];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err((
                            path.to_string(),
                            format!("`${{{name}}}` is used but `{name}` is not set"),
                        ));
                    }
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                expand(v, &p, vars)?;
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter_mut().enumerate() {
                expand(v, &format!("{path}[{i}]"), vars)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// toml's messages name the offending key in backquotes: "unknown field `x`",
/// "missing field `y`".
fn field_of(message: &str) -> Option<String> {
    let start = message.find('`')?;
    let end = message[start + 1..].find('`')?;
    Some(message[start + 1..start + 1 + end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret file: one trailing newline is not part of it; a missing or
    /// empty file is named.
    #[test]
    fn secrets_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pseudonym_key");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        let vars = BTreeMap::new();
        let key = resolve_secret(&SecretRef::File(path.clone()), &vars).unwrap();
        assert_eq!(key.expose(), "0123456789abcdef0123456789abcdef");
        std::fs::write(&path, "").unwrap();
        let empty = resolve_secret(&SecretRef::File(path.clone()), &vars).unwrap_err();
        assert!(empty.to_string().contains("is empty"), "{empty}");
        let missing = dir.path().join("nope");
        let err = resolve_secret(&SecretRef::File(missing), &vars).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let parsed: SecretRef = toml::from_str::<BTreeMap<String, SecretRef>>(
            "k = { file = \"/run/secrets/pseudonym_key\" }",
        )
        .unwrap()
        .remove("k")
        .unwrap();
        assert_eq!(
            parsed,
            SecretRef::File(PathBuf::from("/run/secrets/pseudonym_key"))
        );
    }

    /// deploy/vivres.production.toml loads, covers the four territories,
    /// and takes every secret from the environment or a file.
    #[test]
    fn the_production_example_keeps_no_secret() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/vivres.production.toml");
        let mut vars = BTreeMap::new();
        vars.insert("VIVRES_DB_PASSWORD".to_string(), "pw".to_string());
        let c = Config::load_with(&path, &vars).unwrap();
        let ids: Vec<&str> = c.territories.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["lyon", "toulouse", "montpellier", "aix-marseille"]);
        assert!(matches!(c.privacy.pseudonym_key, Some(SecretRef::File(_))));
        for s in &c.sources {
            for (name, r) in &s.secrets {
                assert!(
                    !matches!(r, SecretRef::Value(_)),
                    "{}: secret {name} written in the file",
                    s.id
                );
            }
        }
        for t in &ids {
            assert!(c.sources.iter().any(|s| s.territory == *t), "{t}");
        }
        // The password comes from the environment, not the file.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("${VIVRES_DB_PASSWORD}"));
        assert!(!text.contains("value ="));
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut vars = BTreeMap::new();
        vars.insert("SIMULATOR".to_string(), "127.0.0.1:9".to_string());
        let c = Config::parse("test.toml", text, &vars)?;
        c.validate("test.toml")?;
        Ok(c)
    }

    const GOOD: &str = r#"
[[territories]]
id = "lyon"
name = "Métropole de Lyon"
epci = ["200046977"]

[[sources]]
id = "cocagne-lyon"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
allowed_hosts = ["${SIMULATOR}"]
[sources.config]
base_url = "http://${SIMULATOR}/lyon"
[sources.secrets]
token = { value = "s3cret" }
"#;

    /// A source's `[sources.limits]` replaces the `[limits]` keys it sets,
    /// and only those; a zero is refused naming the source's key.
    #[test]
    fn a_source_overrides_its_run_limits() {
        let text = format!(
            "[limits]\nmax_run_batches = 7\nrun_deadline_seconds = 60\n{GOOD}[sources.limits]\nmax_run_records = 20000000\n"
        );
        let c = parse(&text).unwrap();
        let l = c.run_limits(&c.sources[0]);
        assert_eq!(
            (l.max_run_batches, l.run_deadline_seconds, l.max_run_records),
            (7, 60, 20_000_000)
        );
        assert_eq!(l.max_run_quarantine, Limits::default().max_run_quarantine);
        let err = parse(&format!("{GOOD}[sources.limits]\nmax_idle_batches = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0].limits.max_idle_batches"), "{err}");
        let err = parse(&format!("{GOOD}[sources.limits]\nmax_batches = 3\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_batches"), "{err}");
        let err = parse(&format!("[limits]\nrun_deadline_seconds = 0\n{GOOD}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("limits.run_deadline_seconds"), "{err}");
    }

    #[test]
    fn example_config_parses() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/vivres.toml"
        ))
        .unwrap();
        let mut vars = BTreeMap::new();
        vars.insert("SIMULATOR".to_string(), "127.0.0.1:9".to_string());
        let c = Config::parse("config/vivres.toml", &text, &vars).unwrap();
        c.validate("config/vivres.toml").unwrap();
        assert!(c.territories.len() >= 4);
        assert!(c.sources.len() >= 4);
    }

    /// Every example of `config/README.md` is a valid source (beside the
    /// territory it names), and every connector has its complete example.
    #[test]
    fn readme_examples_parse() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/README.md"))
                .unwrap();
        let header = "[[territories]]\nid = \"lyon\"\nname = \"Lyon\"\nepci = [\"200046977\"]\n\
            [[territories]]\nid = \"toulouse\"\nname = \"Toulouse\"\nepci = [\"243100518\"]\n";
        let mut connectors = std::collections::BTreeSet::new();
        for block in readme.split("```toml\n").skip(1) {
            let example = block.split("```").next().unwrap_or_default();
            if !example.contains("[[sources]]") {
                continue;
            }
            let text = format!("{header}{example}");
            let c = Config::parse("README.md", &text, &BTreeMap::new())
                .unwrap_or_else(|e| panic!("{e}\n{example}"));
            c.validate("README.md")
                .unwrap_or_else(|e| panic!("{e}\n{example}"));
            connectors.extend(c.sources.iter().map(|s| s.connector.clone()));
        }
        let plugins = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../plugins/Cargo.toml"
        ))
        .unwrap();
        for connector in [
            "cocagne-gardens",
            "secours-catholique-aid",
            "vrac-orders",
            "ugess-groceries",
            "civam-diagnostics",
        ] {
            assert!(plugins.contains(connector), "{connector}: not a plugin");
            assert!(connectors.contains(connector), "{connector}: no example");
        }
    }

    #[test]
    fn good_config_expands_and_masks_secrets() {
        let c = parse(GOOD).unwrap();
        let s = &c.sources[0];
        assert_eq!(s.allowed_hosts, vec!["127.0.0.1:9"]);
        assert_eq!(s.config_json(), r#"{"base_url":"http://127.0.0.1:9/lyon"}"#);
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("s3cret"));
    }

    #[test]
    fn unknown_field_names_file_and_field() {
        let bad = GOOD.replace("allowed_hosts", "alowed_hosts");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(
            err.starts_with("test.toml: field `sources[0].alowed_hosts`"),
            "{err}"
        );
        assert!(err.contains("unknown field"), "{err}");
    }

    /// `site_territories` names other known territories.
    #[test]
    fn site_territories_are_other_known_territories() {
        let toulouse =
            "[[territories]]\nid = \"toulouse\"\nname = \"Toulouse\"\nepci = [\"243100518\"]\n";
        let with = |value: &str| {
            format!(
                "{toulouse}{}",
                GOOD.replace(
                    "territory = \"lyon\"",
                    &format!("territory = \"lyon\"\nsite_territories = {value}")
                )
            )
        };
        let c = parse(&with(r#"["toulouse"]"#)).unwrap();
        let ids: Vec<&str> = c
            .site_territories(&c.sources[0])
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(ids, ["toulouse"]);
        for bad in [r#"["toulose"]"#, r#"["lyon"]"#] {
            let err = parse(&with(bad)).unwrap_err().to_string();
            assert!(
                err.contains("field `sources[0].site_territories[0]`"),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_territory_is_named() {
        let bad = GOOD.replace("territory = \"lyon\"", "territory = \"lyom\"");
        let err = parse(&bad).unwrap_err().to_string();
        assert_eq!(
            err,
            "test.toml: field `sources[0].territory`: unknown territory `lyom` (known: lyon)"
        );
    }

    #[test]
    fn wrong_type_is_reported() {
        let bad = GOOD.replace("epci = [\"200046977\"]", "epci = [\"2000\"]");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("territories[0].epci[0]"), "{err}");
        let bad = GOOD.replace("network = \"cocagne\"", "network = \"kokagne\"");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(
            err.contains("test.toml") && err.contains("kokagne"),
            "{err}"
        );
    }

    #[test]
    fn unset_variable_names_the_field() {
        let err = Config::parse("t.toml", GOOD, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0].allowed_hosts[0]"), "{err}");
        assert!(err.contains("SIMULATOR"), "{err}");
    }

    #[test]
    fn env_overrides_top_level_settings() {
        let mut vars = BTreeMap::new();
        vars.insert("SIMULATOR".to_string(), "x:1".to_string());
        vars.insert("VIVRES_HUB__DATA_DIR".to_string(), "/srv/v".to_string());
        vars.insert(
            "VIVRES_LIMITS__PLUGIN_MEMORY_MIB".to_string(),
            "64".to_string(),
        );
        let c = Config::parse("t.toml", GOOD, &vars).unwrap();
        assert_eq!(c.hub.data_dir, PathBuf::from("/srv/v"));
        assert_eq!(c.limits.plugin_memory_mib, 64);
    }

    #[test]
    fn size_limits_must_nest() {
        let limits = |body: &str| {
            parse(&format!("[limits]\n{body}\n{GOOD}"))
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(limits("max_string_kib = 64\nmax_record_kib = 128"), None);
        let err = limits("max_string_kib = 256\nmax_record_kib = 128").unwrap();
        assert!(err.contains("limits.max_string_kib"), "{err}");
        let err = limits("max_record_kib = 4096\nmax_call_mib = 2").unwrap();
        assert!(err.contains("limits.max_record_kib"), "{err}");
        let err = limits("plugin_call_wall_seconds = 0").unwrap();
        assert!(err.contains("limits.plugin_call_wall_seconds"), "{err}");
    }
}
