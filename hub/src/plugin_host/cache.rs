//! On-disk cache of compiled components: compiling takes ~300 ms, loading a
//! compiled one ~1 ms, so a hub restart or a second source on the same
//! plugin compiles nothing.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::HostError;

/// The wasmtime pinned in `hub/Cargo.toml`; part of the file name so an
/// upgrade never even tries an old file (the engine hash below catches
/// the rest).
const WASMTIME_VERSION: &str = "48.0.8";

/// `<cache_dir>/<sha256 of the wasm>-wasmtime<version>-<engine hash>.cwasm`
pub fn cache_path(engine: &Engine, cache_dir: &Path, wasm_sha256: &str) -> PathBuf {
    cache_dir.join(format!(
        "{wasm_sha256}-wasmtime{WASMTIME_VERSION}-{}.cwasm",
        engine_hash(engine)
    ))
}

/// Identifies the engine's compilation settings (target, tunables, version):
/// a file compiled under other settings gets another name.
fn engine_hash(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        // Unused: the digest is read from the inner state.
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Returns the component and whether it came from the cache.
pub fn load_or_compile(
    engine: &Engine,
    cache_dir: &Path,
    wasm_sha256: &str,
    wasm: &[u8],
    wasm_path: &Path,
) -> Result<(Component, bool), HostError> {
    let cached = cache_path(engine, cache_dir, wasm_sha256);
    if cached.is_file() {
        // SAFETY: `deserialize_file` trusts the file to be a component this
        // wasmtime compiled. It is: only `store` below writes into the cache
        // dir, under a name keyed by the wasm's hash and this engine's
        // settings, via a rename so no half-written file is ever seen. A
        // file that still fails wasmtime's own header checks is recompiled.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(component) => return Ok((component, true)),
            Err(e) => tracing::warn!(
                path = %cached.display(),
                "ignoring unusable compiled plugin in cache: {e:#}"
            ),
        }
    }
    let component = Component::from_binary(engine, wasm).map_err(|e| HostError::Compile {
        path: wasm_path.to_path_buf(),
        reason: format!("{e:#}"),
    })?;
    // A cache that cannot be written only costs the next start a compile.
    if let Err(e) = store(&component, &cached) {
        tracing::warn!(path = %cached.display(), "cannot cache compiled plugin: {e}");
    }
    Ok((component, false))
}

fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    // Unique temporary name, then rename: two hubs compiling the same
    // plugin at once never see each other's half-written file.
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
