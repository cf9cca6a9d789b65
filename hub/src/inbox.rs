//! A source's inbox: the export files a coordinator hands to Vivres.
//!
//! Each file is stored content-addressed as `<inbox>/<seq:08>-<sha256>/<name>`:
//! the same content added twice is stored once, `seq` keeps the arrival order
//! (a corrected file re-sent under the same name comes after the first), and
//! the plugin sees the inbox read-only at `/inbox`.
//!
//! Adding a file claims its place under the inbox's lock (`<inbox>/.lock`,
//! an advisory `flock`): whoever holds it sees every earlier arrival, so the
//! same content sent twice at once is stored once and two arrivals never
//! share a `seq`, whether they come through the API or the command line.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("`{0}` is not a usable file name")]
    BadName(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InboxError + '_ {
    move |source| InboxError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InboxFile {
    pub id: String,
    pub seq: u64,
    pub sha256: String,
    pub name: String,
    pub size: u64,
    /// When it was stored, RFC 3339 (UTC).
    pub received: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Added {
    pub file: InboxFile,
    /// The same content was already in the inbox: nothing was stored.
    pub duplicate: bool,
}

/// Lists the inbox in arrival order.
pub fn list(inbox: &Path) -> Result<Vec<InboxFile>, InboxError> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(inbox) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(io(inbox)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(inbox))?;
        let id = entry.file_name().to_string_lossy().into_owned();
        let Some((seq, sha256)) = id.split_once('-') else {
            continue;
        };
        let (Ok(seq), true) = (seq.parse::<u64>(), sha256.len() == 64) else {
            continue;
        };
        let dir = entry.path();
        for inner in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let inner = inner.map_err(io(&dir))?;
            let meta = inner.metadata().map_err(io(&dir))?;
            if meta.is_file() {
                files.push(InboxFile {
                    id: id.clone(),
                    seq,
                    sha256: sha256.to_string(),
                    name: inner.file_name().to_string_lossy().into_owned(),
                    size: meta.len(),
                    received: received(&meta),
                });
            }
        }
    }
    files.sort_by_key(|f| f.seq);
    Ok(files)
}

/// Adds a file from disk.
pub fn add_file(inbox: &Path, file: &Path) -> Result<Added, InboxError> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| InboxError::BadName(file.display().to_string()))?
        .to_string();
    let mut reader = std::fs::File::open(file).map_err(io(file))?;
    add_reader(inbox, &name, &mut reader)
}

/// Adds a file from any reader (the admin API's upload uses this too). The
/// content is hashed while it streams into a temporary file, then moved in.
pub fn add_reader(inbox: &Path, name: &str, reader: &mut dyn Read) -> Result<Added, InboxError> {
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name.len() > 255
    {
        return Err(InboxError::BadName(name.to_string()));
    }
    std::fs::create_dir_all(inbox).map_err(io(inbox))?;
    let tmp_path = inbox.join(format!(
        ".incoming-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    {
        let mut tmp = std::fs::File::create(&tmp_path).map_err(io(&tmp_path))?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(io(&tmp_path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io(&tmp_path))?;
            size += n as u64;
        }
        tmp.sync_all().map_err(io(&tmp_path))?;
    }
    let sha256 = hex::encode(hasher.finalize());
    let claimed = claim(inbox, &tmp_path, name, &sha256, size);
    // Moved in, or not needed.
    let _ = std::fs::remove_file(&tmp_path);
    claimed
}

/// Under the inbox's lock: the file already there with this content, or a
/// new `seq` and the file moved in under it.
fn claim(
    inbox: &Path,
    tmp_path: &Path,
    name: &str,
    sha256: &str,
    size: u64,
) -> Result<Added, InboxError> {
    let lock_path = inbox.join(".lock");
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    let existing = list(inbox)?;
    if let Some(file) = existing.iter().find(|f| f.sha256 == sha256) {
        return Ok(Added {
            file: file.clone(),
            duplicate: true,
        });
    }
    let seq = existing.iter().map(|f| f.seq).max().unwrap_or(0) + 1;
    let id = format!("{seq:08}-{sha256}");
    let dir = inbox.join(&id);
    std::fs::create_dir(&dir).map_err(io(&dir))?;
    let target: PathBuf = dir.join(name);
    std::fs::rename(tmp_path, &target).map_err(io(&target))?;
    let meta = std::fs::metadata(&target).map_err(io(&target))?;
    Ok(Added {
        file: InboxFile {
            id,
            seq,
            sha256: sha256.to_string(),
            name: name.to_string(),
            size,
            received: received(&meta),
        },
        duplicate: false,
    })
    // The lock is released when `lock` is dropped.
}

/// A stored file's arrival: its modification time (it is written once).
fn received(meta: &std::fs::Metadata) -> String {
    meta.modified()
        .ok()
        .map(time::OffsetDateTime::from)
        .and_then(|t| {
            t.replace_nanosecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_twice_is_stored_once_and_order_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        let src = dir.path().join("accueils_lyon3_2024.csv");
        std::fs::write(&src, "Date passage;N° dossier\n").unwrap();
        let a = add_file(&inbox, &src).unwrap();
        assert!(!a.duplicate);
        let b = add_file(&inbox, &src).unwrap();
        assert!(b.duplicate);
        assert_eq!(a.file, b.file);
        // A corrected file under the same name is a new arrival.
        std::fs::write(&src, "Date passage;N° dossier\n01/02/2024;1\n").unwrap();
        let c = add_file(&inbox, &src).unwrap();
        assert!(!c.duplicate);
        assert_eq!(c.file.seq, 2);
        let files = list(&inbox).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].name, "accueils_lyon3_2024.csv");
        assert_eq!(files[1].name, files[0].name);
        assert!(files[0].seq < files[1].seq);
        // No temporary file is left behind (the lock file stays).
        let left: Vec<_> = std::fs::read_dir(&inbox)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".lock")
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn the_same_content_sent_at_once_is_stored_once() {
        // The race is a matter of timing: many rounds make it show.
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let inbox = dir.path().join("inbox");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(10));
            let added: Vec<Added> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..10)
                    .map(|i| {
                        let (inbox, barrier) = (&inbox, barrier.clone());
                        s.spawn(move || {
                            barrier.wait();
                            // Five times one content, five distinct ones.
                            let content = if i % 2 == 0 {
                                "same".to_string()
                            } else {
                                format!("other {i}")
                            };
                            add_reader(inbox, "a.csv", &mut content.as_bytes()).unwrap()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let new = added.iter().filter(|a| !a.duplicate).count();
            assert_eq!(new, 6, "round {round}: {added:?}");
            let files = list(&inbox).unwrap();
            let mut seqs: Vec<u64> = files.iter().map(|f| f.seq).collect();
            seqs.dedup();
            assert_eq!(
                seqs,
                (1..=6).collect::<Vec<_>>(),
                "round {round}: one seq each"
            );
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", "../x.csv", ".hidden", "a/b.csv"] {
            assert!(matches!(
                add_reader(dir.path(), name, &mut &b"x"[..]),
                Err(InboxError::BadName(_))
            ));
        }
    }
}
