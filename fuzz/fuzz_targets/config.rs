//! The hub's configuration loader on arbitrary text: TOML parsed, the
//! `VIVRES_SECTION__KEY` overrides and `${NAME}` expansion applied, the
//! result deserialised and validated (`Config::load_with`, the very function
//! `vivres` runs at start). A config or an error naming its field, never a
//! panic. The loader's module is compiled in from the hub's source: the hub
//! itself (wasmtime, sqlx…) is not needed to read a file.
//!
//! The input's leading `#env NAME=VALUE` lines (TOML comments, so the text
//! parses the same) are the environment it is loaded with.
#![no_main]

#[allow(dead_code)]
#[path = "../../hub/src/config.rs"]
mod config;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The file each input is written to: the loader reads a path.
fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("vivres-fuzz-config-{}.toml", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut vars = BTreeMap::new();
    vars.insert("SIMULATOR".to_string(), "127.0.0.1:9".to_string());
    for line in text.lines() {
        let Some(pair) = line.strip_prefix("#env ") else {
            break;
        };
        if let Some((name, value)) = pair.split_once('=') {
            vars.insert(name.to_string(), value.to_string());
        }
    }
    if std::fs::write(file(), data).is_err() {
        return;
    }
    let Ok(config) = config::Config::load_with(file(), &vars) else {
        return;
    };
    // What the hub derives from a loaded config at once.
    let _ = config.database_url();
    let _ = config.cache_dir();
    for source in &config.sources {
        let _ = config.run_limits(source);
        let _ = source.config_json();
        let _ = source.plugin_path(&config.hub.plugins_dir);
        let _ = source.inbox_dir(&config.hub.data_dir);
        let _ = config.territory(&source.territory);
    }
});
