//! The source's inbox of export files, and the standard checkpoint of a file
//! connector.
//!
//! The hub stores each file added to a source's inbox (`vivres inbox add`) as
//! `<inbox>/<seq:08>-<sha256 hex>/<original file name>`: content-addressed (the
//! same content is never added twice), `seq` is the arrival order. The inbox is
//! mounted read-only at the path [`crate::inbox_dir`] returns (`/inbox`).
//!
//! Loose files directly in the inbox (a volunteer trying a connector with
//! `vivres connector read --inbox dir`) are listed too, after the stored ones,
//! sorted by name, with `id` = `name`, `seq` = `u64::MAX` and an empty `sha256`.
//!
//! A file connector reads one file at a time, in `seq` order, a batch of at most
//! [`BATCH_ROWS`] rows per `read`, with [`read_next`] and the [`FileCheckpoint`]
//! state `{"done": ["<id>", …], "current": {"id": "<id>", "line": <last line>} | null}`.
//! Every item and reject carries `origin = Some(<file name>)`, and the first batch
//! of a file carries `replace_origins = [<file name>]`: a corrected file re-sent
//! under the same name replaces the records of the earlier version.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::csv::ResumePoint;
use crate::model::{Batch, ConnectorError};

/// Rows (items + rejects) a file connector should return per batch, about.
pub const BATCH_ROWS: usize = 2_000;

/// One file of the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxFile {
    /// Unique: the directory name `<seq:08>-<sha256>` (or the name of a loose file).
    pub id: String,
    /// Arrival order (`u64::MAX` for a loose file).
    pub seq: u64,
    /// SHA-256 of the content, hex (empty for a loose file).
    pub sha256: String,
    /// The logical export name: the original file name (`accueils_lyon-3_2024.csv`).
    pub name: String,
    /// Where to open it.
    pub path: PathBuf,
}

impl InboxFile {
    /// The part of the name between `prefix` and `suffix`, compared
    /// case-insensitively (`accueils_` … `.csv` gives `lyon-3_2024`), if it has them.
    pub fn name_between(&self, prefix: &str, suffix: &str) -> Option<&str> {
        name_between(&self.name, prefix, suffix)
    }
}

/// The part of `name` between `prefix` and `suffix` (ASCII case-insensitive),
/// if `name` starts and ends with them and something is left between.
pub fn name_between<'a>(name: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    if name.len() <= prefix.len() + suffix.len() || !name.is_char_boundary(prefix.len()) {
        return None;
    }
    let end = name.len() - suffix.len();
    if !name.is_char_boundary(end) {
        return None;
    }
    let (head, tail) = (&name[..prefix.len()], &name[end..]);
    if head.eq_ignore_ascii_case(prefix) && tail.eq_ignore_ascii_case(suffix) {
        Some(&name[prefix.len()..end])
    } else {
        None
    }
}

/// The inbox directory this source was granted; `bad-config` without one.
pub fn dir() -> Result<PathBuf, ConnectorError> {
    crate::inbox_dir()
        .map(PathBuf::from)
        .ok_or_else(|| ConnectorError::bad_config("this connector needs an inbox"))
}

/// The files of the source's inbox, stored ones by `seq`, then loose ones by name.
pub fn files() -> Result<Vec<InboxFile>, ConnectorError> {
    files_in(&dir()?)
}

fn parse_entry_dir(name: &str) -> Option<(u64, String)> {
    let (seq, sha) = name.split_once('-')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((seq.parse().ok()?, sha.to_ascii_lowercase()))
}

fn io_error(what: &str, e: std::io::Error) -> ConnectorError {
    ConnectorError::bad_data(format!("inbox: cannot list {what}: {e}"))
}

/// [`files`] of any directory (native tests, tools).
pub fn files_in(dir: &Path) -> Result<Vec<InboxFile>, ConnectorError> {
    let mut stored = Vec::new();
    let mut loose = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error("the inbox", e))? {
        let entry = entry.map_err(|e| io_error("the inbox", e))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|e| io_error("an inbox entry", e))?;
        if meta.is_file() {
            loose.push(InboxFile {
                id: file_name.clone(),
                seq: u64::MAX,
                sha256: String::new(),
                name: file_name,
                path,
            });
            continue;
        }
        let Some((seq, sha256)) = parse_entry_dir(&file_name) else {
            continue;
        };
        let mut inside: Vec<(String, PathBuf)> = Vec::new();
        for f in std::fs::read_dir(&path).map_err(|e| io_error("an inbox entry", e))? {
            let f = f.map_err(|e| io_error("an inbox entry", e))?;
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !f.path().is_file() {
                continue;
            }
            inside.push((name, f.path()));
        }
        inside.sort();
        let several = inside.len() > 1;
        for (name, path) in inside {
            stored.push(InboxFile {
                id: if several {
                    format!("{file_name}/{name}")
                } else {
                    file_name.clone()
                },
                seq,
                sha256: sha256.clone(),
                name,
                path,
            });
        }
    }
    stored.sort_by(|a, b| (a.seq, &a.id).cmp(&(b.seq, &b.id)));
    loose.sort_by(|a, b| a.name.cmp(&b.name));
    stored.extend(loose);
    Ok(stored)
}

/// Where a file connector is: the files finished, and the line reached in the
/// file being read. `{"done": [...], "current": {"id": ..., "line": ...} | null}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    #[serde(default)]
    pub done: Vec<String>,
    #[serde(default)]
    pub current: Option<FilePosition>,
}

/// The file being read and the last physical line already emitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    pub id: String,
    pub line: u64,
    /// Where a CSV reader resumes without re-reading (see [`read_next_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<ResumePoint>,
}

impl FileCheckpoint {
    pub fn is_done(&self, id: &str) -> bool {
        self.done.iter().any(|d| d == id)
    }

    /// The file to read now and the last line already emitted in it (0: start
    /// it, a first batch that must replace its origin): the current file if it
    /// is still listed, else the first file not done, in the order given.
    pub fn next<'a>(&self, files: &'a [InboxFile]) -> Option<(&'a InboxFile, u64)> {
        self.next_at(files).map(|(f, line, _)| (f, line))
    }

    /// As [`FileCheckpoint::next`], with the byte position to resume at, if known.
    pub fn next_at<'a>(
        &self,
        files: &'a [InboxFile],
    ) -> Option<(&'a InboxFile, u64, Option<ResumePoint>)> {
        if let Some(cur) = &self.current
            && let Some(f) = files.iter().find(|f| f.id == cur.id)
            && !self.is_done(&f.id)
        {
            return Some((f, cur.line, cur.at));
        }
        files
            .iter()
            .find(|f| !self.is_done(&f.id))
            .map(|f| (f, 0, None))
    }

    /// Lines up to `line` of file `id` are emitted.
    pub fn advance(&mut self, id: &str, line: u64) {
        self.current = Some(FilePosition {
            id: id.to_string(),
            line,
            at: None,
        });
    }

    /// File `id` is finished.
    pub fn finish(&mut self, id: &str) {
        if !self.is_done(id) {
            self.done.push(id.to_string());
        }
        if self.current.as_ref().is_some_and(|c| c.id == id) {
            self.current = None;
        }
    }

    /// Files not finished yet.
    pub fn remaining(&self, files: &[InboxFile]) -> usize {
        files.iter().filter(|f| !self.is_done(&f.id)).count()
    }
}

/// What the per-file callback of [`read_next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileProgress {
    /// The last physical line emitted (items and rejects up to it are in the batch).
    pub last_line: u64,
    /// The end of the file was reached.
    pub finished: bool,
}

/// One `read` of a file connector: picks the next file of `files` (already
/// filtered to the stream's own file names) from the checkpoint `state`, calls
/// `process(file, after_line, batch)` which must append the rows after physical
/// line `after_line` (0: from the start), stopping after about [`BATCH_ROWS`]
/// rows, then sets every row's `origin` to the file name (unless already set),
/// `replace_origins` on a file's first batch, the checkpoint and `more`.
/// A batch never spans two files.
pub fn read_next(
    state: Option<&str>,
    files: &[InboxFile],
    process: impl FnOnce(&InboxFile, u64, &mut Batch) -> Result<FileProgress, ConnectorError>,
) -> Result<Batch, ConnectorError> {
    read_next_at(state, files, |file, after, _, batch| {
        process(file, after, batch).map(|p| (p, None))
    })
}

/// As [`read_next`], for a streaming CSV connector that resumes by byte offset
/// (no re-reading of what is done, whatever the file's size): `process` also
/// gets the [`ResumePoint`] saved by the previous batch of the file (open the
/// file with [`crate::csv::CsvReader::open_at`]) and returns the new one
/// ([`crate::csv::CsvReader::resume_point`] after its last row).
pub fn read_next_at(
    state: Option<&str>,
    files: &[InboxFile],
    process: impl FnOnce(
        &InboxFile,
        u64,
        Option<ResumePoint>,
        &mut Batch,
    ) -> Result<(FileProgress, Option<ResumePoint>), ConnectorError>,
) -> Result<Batch, ConnectorError> {
    let mut checkpoint: FileCheckpoint = crate::state::load(state)?;
    let mut batch = Batch::new();
    let Some((file, after, at)) = checkpoint.next_at(files) else {
        batch.state = Some(crate::state::save(&checkpoint)?);
        return Ok(batch);
    };
    let (progress, resume) = process(file, after, at, &mut batch)?;
    for item in &mut batch.items {
        if item.origin.is_none() {
            item.origin = Some(file.name.clone());
        }
    }
    for reject in &mut batch.rejects {
        if reject.origin.is_none() {
            reject.origin = Some(file.name.clone());
        }
    }
    if after == 0 {
        batch.replace_origins.push(file.name.clone());
    }
    if progress.finished {
        checkpoint.finish(&file.id);
    } else {
        checkpoint.advance(&file.id, progress.last_line.max(after));
        if let Some(c) = &mut checkpoint.current {
            c.at = resume;
        }
    }
    batch.more = checkpoint.remaining(files) > 0;
    batch.state = Some(crate::state::save(&checkpoint)?);
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Entity, Item, Site, SiteKind};

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("vivres-sdk-inbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn put(dir: &Path, entry: &str, name: &str, body: &str) {
        let d = if entry.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(entry)
        };
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), body).unwrap();
    }

    #[test]
    fn lists_by_seq_then_loose_files() {
        let d = tmp("list");
        put(&d, &format!("00000002-{SHA_B}"), "accueils_a_2024.csv", "b");
        put(&d, &format!("00000001-{SHA_A}"), "accueils_a_2024.csv", "a");
        put(&d, "", "zz.csv", "z");
        put(&d, "", "loose.csv", "l");
        put(&d, "not-an-entry", "x.csv", "x");
        let files = files_in(&d).unwrap();
        let ids: Vec<&str> = files.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                format!("00000001-{SHA_A}").as_str(),
                format!("00000002-{SHA_B}").as_str(),
                "loose.csv",
                "zz.csv"
            ]
        );
        assert_eq!(files[0].seq, 1);
        assert_eq!(files[0].sha256, SHA_A);
        assert_eq!(files[0].name, "accueils_a_2024.csv");
        assert_eq!(std::fs::read_to_string(&files[1].path).unwrap(), "b");
        assert_eq!(files[2].seq, u64::MAX);
        assert_eq!(files[0].name_between("ACCUEILS_", ".csv"), Some("a_2024"));
        assert_eq!(files[2].name_between("accueils_", ".csv"), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn no_inbox_outside_the_host_is_bad_config() {
        assert!(matches!(files(), Err(ConnectorError::BadConfig(m)) if m.contains("inbox")));
    }

    fn file(id: &str) -> InboxFile {
        InboxFile {
            id: id.into(),
            seq: 0,
            sha256: String::new(),
            name: format!("{id}.csv"),
            path: PathBuf::from(id),
        }
    }

    #[test]
    fn checkpoint_picks_resumes_and_finishes() {
        let files = vec![file("a"), file("b")];
        let mut c = FileCheckpoint::default();
        assert_eq!(
            c.next(&files).map(|(f, l)| (f.id.as_str(), l)),
            Some(("a", 0))
        );
        c.advance("a", 120);
        assert_eq!(
            c.next(&files).map(|(f, l)| (f.id.as_str(), l)),
            Some(("a", 120))
        );
        c.finish("a");
        assert_eq!(c.current, None);
        assert_eq!(
            c.next(&files).map(|(f, l)| (f.id.as_str(), l)),
            Some(("b", 0))
        );
        c.finish("b");
        assert_eq!(c.next(&files), None);
        assert_eq!(c.remaining(&files), 0);
        let json = crate::state::save(&c).unwrap();
        assert_eq!(json, r#"{"done":["a","b"],"current":null}"#);
    }

    fn site() -> Entity {
        Entity::Site(Site {
            kind: SiteKind::Other,
            name: None,
            location: None,
            group: None,
            short_circuit: None,
            siret: None,
        })
    }

    #[test]
    fn read_next_sets_origins_replace_and_more() {
        let files = vec![file("a"), file("b")];
        // First batch of a: replaces its origin, not finished.
        let b = read_next(None, &files, |f, after, batch| {
            assert_eq!((f.id.as_str(), after), ("a", 0));
            batch.items.push(Item::new("k1", site()));
            Ok(FileProgress {
                last_line: 10,
                finished: false,
            })
        })
        .unwrap();
        assert_eq!(b.replace_origins, ["a.csv"]);
        assert_eq!(b.items[0].origin.as_deref(), Some("a.csv"));
        assert!(b.more);
        // Resumes after line 10, no replace.
        let b = read_next(b.state.as_deref(), &files, |f, after, _| {
            assert_eq!((f.id.as_str(), after), ("a", 10));
            Ok(FileProgress {
                last_line: 20,
                finished: true,
            })
        })
        .unwrap();
        assert!(b.replace_origins.is_empty());
        assert!(b.more);
        let b = read_next(b.state.as_deref(), &files, |f, after, _| {
            assert_eq!((f.id.as_str(), after), ("b", 0));
            Ok(FileProgress {
                last_line: 3,
                finished: true,
            })
        })
        .unwrap();
        assert!(!b.more);
        // Nothing left: an empty batch, the callback is not called.
        let b = read_next(b.state.as_deref(), &files, |_, _, _| unreachable!()).unwrap();
        assert!(!b.more && b.items.is_empty());
        // A new file arrives later: read on the next sync.
        let more = vec![file("a"), file("b"), file("c")];
        let b = read_next(b.state.as_deref(), &more, |f, _, _| {
            assert_eq!(f.id, "c");
            Ok(FileProgress {
                last_line: 1,
                finished: true,
            })
        })
        .unwrap();
        assert_eq!(b.replace_origins, ["c.csv"]);
    }
}
