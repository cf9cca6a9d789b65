//! On-disk cache of compiled components: compiling takes ~300 ms (5-25 s for
//! a ~20 MB Python component), loading a compiled one ~1 ms, so a hub restart
//! or a second source on the same plugin compiles nothing.
//!
//! Compiled files are keyed by the wasm's SHA-256. Reading and hashing a
//! 20 MB component would cost more than loading its compiled form, so the
//! hash of each plugin file is remembered beside (`files/`), under the file's
//! identity: path, size, modification time and inode. Replacing or editing
//! the file changes that identity, and the file is read and hashed again.

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

/// Where the hash of the plugin file with this identity is remembered.
fn identity_path(cache_dir: &Path, wasm_path: &Path, meta: &std::fs::Metadata) -> PathBuf {
    let absolute = std::path::absolute(wasm_path).unwrap_or_else(|_| wasm_path.to_path_buf());
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    let mut hasher = Sha256::new();
    hasher.update(absolute.to_string_lossy().as_bytes());
    hasher.update(format!("\0{}\0{mtime}\0{inode}", meta.len()).as_bytes());
    cache_dir
        .join("files")
        .join(format!("{}.sha256", hex::encode(&hasher.finalize()[..16])))
}

/// The plugin file's SHA-256 as remembered, if it is a well-formed one.
fn remembered(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let sha = text.trim();
    (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha.to_string())
}

/// Reads the plugin, and returns its component, whether it came from the
/// cache, and the SHA-256 of the wasm file.
pub fn load_or_compile(
    engine: &Engine,
    cache_dir: &Path,
    wasm_path: &Path,
) -> Result<(Component, bool, String), HostError> {
    let read_error = |source| HostError::Io {
        context: format!("cannot read plugin {}", wasm_path.display()),
        source,
    };
    let meta = std::fs::metadata(wasm_path).map_err(read_error)?;
    let identity = identity_path(cache_dir, wasm_path, &meta);
    if let Some(sha256) = remembered(&identity)
        && let Some(component) = deserialize(engine, cache_dir, &sha256)
    {
        return Ok((component, true, sha256));
    }
    let wasm = std::fs::read(wasm_path).map_err(read_error)?;
    let sha256 = hex::encode(Sha256::digest(&wasm));
    // Remembering is an optimisation: failing only costs the next load a hash.
    if let Err(e) = write_atomically(&identity, sha256.as_bytes()) {
        tracing::warn!(path = %identity.display(), "cannot remember plugin hash: {e}");
    }
    if let Some(component) = deserialize(engine, cache_dir, &sha256) {
        return Ok((component, true, sha256));
    }
    let component = compile(engine, cache_dir, &sha256, &wasm, wasm_path)?;
    Ok((component, false, sha256))
}

fn deserialize(engine: &Engine, cache_dir: &Path, wasm_sha256: &str) -> Option<Component> {
    let cached = cache_path(engine, cache_dir, wasm_sha256);
    if cached.is_file() {
        // SAFETY: `deserialize_file` trusts the file to be a component this
        // wasmtime compiled. It is: only `store` below writes into the cache
        // dir, under a name keyed by the wasm's hash and this engine's
        // settings, via a rename so no half-written file is ever seen. A
        // file that still fails wasmtime's own header checks is recompiled.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(component) => return Some(component),
            Err(e) => tracing::warn!(
                path = %cached.display(),
                "ignoring unusable compiled plugin in cache: {e:#}"
            ),
        }
    }
    None
}

fn compile(
    engine: &Engine,
    cache_dir: &Path,
    wasm_sha256: &str,
    wasm: &[u8],
    wasm_path: &Path,
) -> Result<Component, HostError> {
    let cached = cache_path(engine, cache_dir, wasm_sha256);
    let component = Component::from_binary(engine, wasm).map_err(|e| HostError::Compile {
        path: wasm_path.to_path_buf(),
        reason: format!("{e:#}"),
    })?;
    // A cache that cannot be written only costs the next start a compile.
    if let Err(e) = store(&component, &cached) {
        tracing::warn!(path = %cached.display(), "cannot cache compiled plugin: {e}");
    }
    Ok(component)
}

fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    write_atomically(path, &bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Unique temporary name, then rename: two hubs compiling the same
    // plugin at once never see each other's half-written file.
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
