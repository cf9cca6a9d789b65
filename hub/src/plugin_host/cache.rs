//! On-disk cache of compiled components: compiling takes ~300 ms, loading a
//! compiled one ~1 ms, so a hub restart or a second source on the same
//! plugin compiles nothing.
//!
//! A compiled component is native code that wasmtime maps executable
//! without checking it: whoever can write a file the hub loads from here
//! runs code in the hub, outside the sandbox. So the cache is trusted only
//! as far as it is proven: the directory must be the hub user's own, mode
//! 0700 (the hub refuses to start otherwise), and each artifact carries an
//! HMAC-SHA256 of its name and bytes under a key kept in the directory
//! (mode 0600). An artifact that fails the check is never deserialised: the
//! plugin is compiled again and the artifact rewritten.
//!
//! Artifacts are named by the wasm's SHA-256. A Python component is ~20 MB:
//! reading and hashing it on every load would cost more than the rest of a
//! cold start, so the hash of each plugin file is remembered in the cache
//! (`<id>.sha256`, authenticated like an artifact) under the file's identity:
//! absolute path, size, modification time and inode. Replacing or editing the
//! file changes its identity, and the file is read and hashed again.

use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::HostError;

type HmacSha256 = Hmac<Sha256>;

/// The wasmtime pinned in `hub/Cargo.toml`; part of the file name so an
/// upgrade never even tries an old file (the engine hash below catches
/// the rest).
const WASMTIME_VERSION: &str = "48.0.8";

/// The HMAC key's file, inside the cache directory.
pub const KEY_FILE: &str = "cache.key";
const KEY_BYTES: usize = 32;
const TAG_BYTES: usize = 32;

/// The hub's compile cache: a private directory and its key.
pub struct Cache {
    dir: PathBuf,
    key: [u8; KEY_BYTES],
}

impl std::fmt::Debug for Cache {
    // The key never appears, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Opens the cache directory, creating it (0700) and its key (0600) if
    /// needed; refuses a directory or key another user could write.
    pub fn open(dir: &Path) -> Result<Cache, HostError> {
        let euid = effective_uid();
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| HostError::Io {
                context: format!("cannot create data dir {}", parent.display()),
                source,
            })?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(HostError::Io {
                    context: format!("cannot create plugin cache {}", dir.display()),
                    source,
                });
            }
        }
        let meta = std::fs::symlink_metadata(dir).map_err(|source| HostError::Io {
            context: format!("cannot inspect plugin cache {}", dir.display()),
            source,
        })?;
        check_private(dir, &meta, true, euid)?;
        let key = load_or_create_key(&dir.join(KEY_FILE), euid)?;
        Ok(Cache {
            dir: dir.to_path_buf(),
            key,
        })
    }

    /// Loads the plugin at `wasm_path`: its component, whether it came from
    /// the cache, and the SHA-256 of the wasm file.
    pub fn load_file(
        &self,
        engine: &Engine,
        wasm_path: &Path,
    ) -> Result<(Component, bool, String), HostError> {
        let read_error = |source| HostError::Io {
            context: format!("cannot read plugin {}", super::file_name(wasm_path)),
            source,
        };
        let meta = std::fs::metadata(wasm_path).map_err(read_error)?;
        let identity = identity_name(wasm_path, &meta);
        if let Some(sha256) = self.remembered(&identity)
            && let Some(component) = self.load_cached(engine, &sha256)
        {
            return Ok((component, true, sha256));
        }
        let wasm = std::fs::read(wasm_path).map_err(read_error)?;
        let sha256 = hex::encode(Sha256::digest(&wasm));
        // Remembering only saves the next load a hash: a failure is no error.
        if let Err(e) = self.write_authenticated(&identity, sha256.as_bytes()) {
            tracing::warn!(file = %identity, "cannot remember a plugin's hash: {e}");
        }
        let (component, from_cache) = self.load_or_compile(engine, &sha256, &wasm, wasm_path)?;
        Ok((component, from_cache, sha256))
    }

    /// The hash remembered for a plugin file's identity, if authentic.
    fn remembered(&self, identity: &str) -> Option<String> {
        let file = std::fs::read(self.dir.join(identity)).ok()?;
        let sha = std::str::from_utf8(self.authenticate(identity, &file)?).ok()?;
        (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha.to_string())
    }

    /// Returns the component and whether it came from the cache.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm_sha256: &str,
        wasm: &[u8],
        wasm_path: &Path,
    ) -> Result<(Component, bool), HostError> {
        if let Some(component) = self.load_cached(engine, wasm_sha256) {
            return Ok((component, true));
        }
        let name = file_name(engine, wasm_sha256);
        let cached = self.dir.join(&name);
        let component = Component::from_binary(engine, wasm).map_err(|e| HostError::Compile {
            path: wasm_path.to_path_buf(),
            reason: format!("{e:#}"),
        })?;
        // A cache that cannot be written only costs the next start a compile.
        if let Err(e) = self.store(&component, &name) {
            tracing::warn!(path = %cached.display(), "cannot cache compiled plugin: {e}");
        }
        Ok((component, false))
    }

    /// The compiled component of this wasm, if the cache holds an authentic one.
    fn load_cached(&self, engine: &Engine, wasm_sha256: &str) -> Option<Component> {
        let name = file_name(engine, wasm_sha256);
        let cached = self.dir.join(&name);
        match std::fs::read(&cached) {
            Ok(file) => match self.authenticate(&name, &file) {
                Some(artifact) => {
                    // SAFETY: `deserialize` runs the bytes as native code.
                    // They are the ones this hub wrote for this name: the HMAC
                    // under the hub's private key matched, and they were read
                    // into memory before the check, so nobody can swap them
                    // in between. Bytes that still fail wasmtime's own header
                    // checks are recompiled.
                    match unsafe { Component::deserialize(engine, artifact) } {
                        Ok(component) => return Some(component),
                        Err(e) => tracing::warn!(
                            path = %cached.display(),
                            "ignoring unusable compiled plugin in cache: {e:#}"
                        ),
                    }
                }
                None => tracing::warn!(
                    path = %cached.display(),
                    "compiled plugin in cache failed authentication (not written by this hub, or altered); compiling again"
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %cached.display(), "cannot read compiled plugin: {e}"),
        }
        None
    }

    fn mac(&self, name: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .expect("HMAC-SHA256 takes a key of any length");
        // The name binds the artifact to its wasm and engine: an authentic
        // artifact of another plugin renamed to this one's name fails too.
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac
    }

    /// The artifact inside a cache file (`tag ‖ artifact`), if its tag is
    /// this hub's for this name.
    fn authenticate<'a>(&self, name: &str, file: &'a [u8]) -> Option<&'a [u8]> {
        if file.len() < TAG_BYTES {
            return None;
        }
        let (tag, artifact) = file.split_at(TAG_BYTES);
        let mut mac = self.mac(name);
        mac.update(artifact);
        // Constant-time comparison.
        mac.verify_slice(tag).ok().map(|()| artifact)
    }

    fn store(&self, component: &Component, name: &str) -> std::io::Result<()> {
        let artifact = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        self.write_authenticated(name, &artifact)
    }

    /// Writes `tag ‖ artifact` under `name`, private (0600).
    fn write_authenticated(&self, name: &str, artifact: &[u8]) -> std::io::Result<()> {
        let mut mac = self.mac(name);
        mac.update(artifact);
        let tag = mac.finalize().into_bytes();
        // Unique temporary name, then rename: two hubs compiling the same
        // plugin at once never see each other's half-written file.
        let path = self.dir.join(name);
        let tmp = path.with_extension(format!(
            "tmp-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&tag)?;
            file.write_all(artifact)?;
            std::fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// `<id>.sha256`: a plugin file's identity (absolute path, size, modification
/// time, inode), hashed.
fn identity_name(wasm_path: &Path, meta: &std::fs::Metadata) -> String {
    let absolute = std::path::absolute(wasm_path).unwrap_or_else(|_| wasm_path.to_path_buf());
    let mut hasher = Sha256::new();
    hasher.update(absolute.as_os_str().as_encoded_bytes());
    hasher.update(
        format!(
            "\0{}\0{}.{}\0{}",
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino()
        )
        .as_bytes(),
    );
    format!("{}.sha256", hex::encode(&hasher.finalize()[..16]))
}

/// `<sha256 of the wasm>-wasmtime<version>-<engine hash>.cwasm`
fn file_name(engine: &Engine, wasm_sha256: &str) -> String {
    format!(
        "{wasm_sha256}-wasmtime{WASMTIME_VERSION}-{}.cwasm",
        engine_hash(engine)
    )
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

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuses a cache directory (or key file) that is a symbolic link, is
/// owned by another user, or that group or others can access.
fn check_private(
    path: &Path,
    meta: &std::fs::Metadata,
    dir: bool,
    euid: u32,
) -> Result<(), HostError> {
    let refuse = |reason: String| HostError::Cache {
        path: path.to_path_buf(),
        reason,
    };
    let what = if dir { "a directory" } else { "a regular file" };
    if meta.file_type().is_symlink() {
        return Err(refuse(format!(
            "it is a symbolic link; it must be {what} of its own"
        )));
    }
    if (dir && !meta.is_dir()) || (!dir && !meta.is_file()) {
        return Err(refuse(format!("it is not {what}")));
    }
    if meta.uid() != euid {
        return Err(refuse(format!(
            "it is owned by uid {}, not by the hub's user (uid {euid}); remove it (the hub recreates it) or `chown` it to the hub's user",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    let wanted = if dir { 0o700 } else { 0o600 };
    if mode & 0o077 != 0 {
        return Err(refuse(format!(
            "its mode is {mode:04o}: group and others must have no access; run `chmod {wanted:o} {}`",
            path.display()
        )));
    }
    Ok(())
}

fn load_or_create_key(path: &Path, euid: u32) -> Result<[u8; KEY_BYTES], HostError> {
    let io = |context: String| move |source| HostError::Io { context, source };
    if !path.exists() && std::fs::symlink_metadata(path).is_err() {
        // Written under a temporary name, then linked into place: a
        // concurrent start never reads half a key, and the first one wins.
        let tmp = path.with_extension(format!(
            "tmp-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let key: [u8; KEY_BYTES] = rand::random();
        let created = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&key)?;
            file.sync_all()?;
            match std::fs::hard_link(&tmp, path) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
                _ => Ok(()),
            }
        })();
        let _ = std::fs::remove_file(&tmp);
        created.map_err(io(format!("cannot create cache key {}", path.display())))?;
    }
    let meta = std::fs::symlink_metadata(path)
        .map_err(io(format!("cannot inspect cache key {}", path.display())))?;
    check_private(path, &meta, false, euid)?;
    let bytes =
        std::fs::read(path).map_err(io(format!("cannot read cache key {}", path.display())))?;
    bytes.try_into().map_err(|_| HostError::Cache {
        path: path.to_path_buf(),
        reason: format!(
            "it is not a cache key ({KEY_BYTES} bytes); delete it and the hub makes a new one (the cache is then rebuilt)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn creates_a_private_directory_and_key() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("cache");
        let cache = Cache::open(&dir).unwrap();
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        let key = std::fs::metadata(dir.join(KEY_FILE)).unwrap();
        assert_eq!(key.mode() & 0o777, 0o600);
        assert_eq!(key.len(), KEY_BYTES as u64);
        // Opened again: the same key.
        let again = Cache::open(&dir).unwrap();
        assert_eq!(cache.key, again.key);
    }

    #[test]
    fn refuses_an_open_directory_or_key() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        Cache::open(&dir).unwrap();
        set_mode(&dir, 0o777);
        let err = Cache::open(&dir).unwrap_err().to_string();
        assert!(
            err.contains("mode is 0777") && err.contains("chmod 700"),
            "{err}"
        );
        set_mode(&dir, 0o700);
        set_mode(&dir.join(KEY_FILE), 0o644);
        let err = Cache::open(&dir).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn refuses_a_symlink_and_another_owner() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("elsewhere");
        std::fs::create_dir(&real).unwrap();
        set_mode(&real, 0o700);
        let link = root.path().join("cache");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = Cache::open(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");

        let meta = std::fs::symlink_metadata(&real).unwrap();
        let err = check_private(&real, &meta, true, meta.uid() + 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not by the hub's user"), "{err}");
    }

    #[test]
    fn a_tag_binds_name_and_bytes() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(&root.path().join("cache")).unwrap();
        let mut mac = cache.mac("a.cwasm");
        mac.update(b"artifact");
        let mut file = mac.finalize().into_bytes().to_vec();
        file.extend_from_slice(b"artifact");
        assert_eq!(cache.authenticate("a.cwasm", &file), Some(&b"artifact"[..]));
        assert_eq!(cache.authenticate("b.cwasm", &file), None);
        let last = file.len() - 1;
        file[last] ^= 1;
        assert_eq!(cache.authenticate("a.cwasm", &file), None);
        assert_eq!(cache.authenticate("a.cwasm", b"short"), None);
        let other = Cache::open(&tempfile::tempdir().unwrap().path().join("c")).unwrap();
        file[last] ^= 1;
        assert_eq!(other.authenticate("a.cwasm", &file), None);
    }
}
