//! The read loop of a CSV file connector, written once: the inbox's files one
//! after the other in arrival order, each opened with [`CsvReader`] (encoding
//! and separator sniffed), resumed at the byte offset its checkpoint saved,
//! its blank, repeated-header and `TOTAL` lines skipped, at most `batch_rows`
//! rows per batch. A connector gives only its mapping: the header → its
//! columns, a row → its items, or the one [`Refusal`] of the row.
//!
//! ```ignore
//! use vivres_sdk::csv_inbox::{self, Refusal};
//!
//! fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Batch, ConnectorError> {
//!     let files = inbox::files()?;            // filtered to the stream's own names
//!     csv_inbox::read(state, &files, 2_000,
//!         |file, header| Columns::find(header).map_err(|e| Refusal::new(RejectReason::MalformedFile, "file", e)),
//!         |columns, row, items| {
//!             items.push(mapping::parcel(columns, row)?);   // `?` on a Refusal
//!             Ok(())
//!         })
//! }
//! ```
//!
//! What the loop sets, so that every connector does it alike:
//! - every item and reject carries `origin` = the file name and `line` = the
//!   physical line its row starts on (contract 0.2); a refused row's reject
//!   carries the row as `raw` (the host only hashes it);
//! - a file whose header cannot be read or lacks a required column is one
//!   `malformed-file` reject at the header's line (line 1 if there is none);
//! - a row gives its items or its refusal, never part of them: the items a
//!   mapping pushed before refusing are dropped;
//! - the first batch of a file replaces its origin (a corrected file re-sent
//!   under the same name replaces the earlier version's records); the state
//!   is [`crate::inbox::FileCheckpoint`] with the byte offset to resume at.

use crate::csv::{CsvReader, Header, Record};
use crate::inbox::{self, FileProgress, InboxFile};
use crate::model::{Batch, ConnectorError, Item, Reject, RejectReason};

/// Why a row (or a file's header) is refused: the reason, the field (a column
/// name), a detail that never repeats the value, and the record's key when it
/// has one that the hub may hash (never a person's identifier alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: RejectReason,
    pub field: String,
    pub detail: String,
    pub key: Option<String>,
}

impl Refusal {
    pub fn new(reason: RejectReason, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Refusal {
            reason,
            field: field.into(),
            detail: detail.into(),
            key: None,
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The reject this refusal stands for, at `line`.
    pub fn into_reject(self, line: u64) -> Reject {
        let r = Reject::new(self.reason, self.field, self.detail).with_line(line);
        match self.key {
            Some(k) => r.with_key(k),
            None => r,
        }
    }
}

impl<F: Into<String>, D: Into<String>> From<(RejectReason, F, D)> for Refusal {
    fn from((reason, field, detail): (RejectReason, F, D)) -> Self {
        Refusal::new(reason, field, detail)
    }
}

/// One `read` of a CSV file connector over `files` (already the stream's own
/// files, in inbox order): the next rows after the checkpoint `state`, at most
/// `batch_rows` of them (blank, header and `TOTAL` lines are not rows), from
/// one file. `columns(file, header)` finds the file's columns (a refusal makes
/// the file one `malformed-file` reject); `row(columns, record, items)` pushes
/// the row's items or returns its refusal.
pub fn read<C>(
    state: Option<&str>,
    files: &[InboxFile],
    batch_rows: usize,
    columns: impl FnOnce(&InboxFile, &Header) -> Result<C, Refusal>,
    mut row: impl FnMut(&C, &Record, &mut Vec<Item>) -> Result<(), Refusal>,
) -> Result<Batch, ConnectorError> {
    let batch_rows = batch_rows.max(1);
    inbox::read_next_at(state, files, |file, after, at, batch| {
        let finished = |line| {
            let progress = FileProgress {
                last_line: line,
                finished: true,
            };
            Ok((progress, None))
        };
        let mut csv = match CsvReader::open_at(&file.path, at) {
            Ok(c) => c,
            Err(e) => {
                batch.rejects.push(
                    Refusal::new(RejectReason::MalformedFile, "file", e.message()).into_reject(1),
                );
                return finished(1);
            }
        };
        let columns = match columns(file, csv.header()) {
            Ok(c) => c,
            Err(refusal) => {
                let line = csv.header().line;
                batch.rejects.push(refusal.into_reject(line));
                return finished(line);
            }
        };
        if at.is_none() {
            // A checkpoint written before byte offsets were saved: by line.
            csv.skip_through(after)?;
        }
        let separator = csv.separator();
        let mut rows = 0;
        let mut last_line = after;
        while let Some(r) = csv.next_row()? {
            last_line = r.line;
            rows += 1;
            let start = batch.items.len();
            match row(&columns, &r, &mut batch.items) {
                Ok(()) => {
                    for item in &mut batch.items[start..] {
                        if item.line.is_none() {
                            item.line = Some(r.line);
                        }
                    }
                }
                Err(refusal) => {
                    batch.items.truncate(start);
                    batch
                        .rejects
                        .push(refusal.into_reject(r.line).with_raw(r.raw(separator)));
                }
            }
            if rows >= batch_rows {
                let progress = FileProgress {
                    last_line,
                    finished: false,
                };
                return Ok((progress, Some(csv.resume_point())));
            }
        }
        finished(last_line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Entity, Site, SiteKind};
    use crate::testing::TempInbox;

    fn site(name: &str) -> Entity {
        Entity::Site(Site {
            kind: SiteKind::Other,
            name: Some(name.into()),
            location: None,
            group: None,
            short_circuit: None,
            siret: None,
        })
    }

    /// The columns of a file: its name's middle and the `Id` column.
    fn columns(file: &InboxFile, h: &Header) -> Result<(String, usize), Refusal> {
        let id = h
            .require("Id")
            .map_err(|e| Refusal::new(RejectReason::MalformedFile, "Id", e.message()))?;
        Ok((file.name.clone(), id))
    }

    /// Ids become sites; `x` is refused; `two` gives two items then is refused.
    fn row(c: &(String, usize), r: &Record, items: &mut Vec<Item>) -> Result<(), Refusal> {
        let id = r.get(c.1);
        if id == "two" {
            items.push(Item::new("two-1", site("two")));
            items.push(Item::new("two-2", site("two")));
        }
        if id == "x" || id == "two" {
            return Err(Refusal::new(RejectReason::UnknownLabel, "Id", "not wanted").with_key(id));
        }
        items.push(Item::new(id, site(&c.0)));
        Ok(())
    }

    #[test]
    fn files_in_order_lines_origins_refusals_and_resume() {
        let mut inbox = TempInbox::new("csv-inbox");
        inbox.add(
            "a.csv",
            "Id;Nom\r\na1;x\r\n\r\nx;y\r\nId;Nom\r\na2;z\r\ntwo;w\r\nTOTAL;3\r\n".as_bytes(),
        );
        inbox.add("b.csv", b"Nom\nq\n");
        inbox.add("c.csv", b"");
        inbox.add("d.csv", b"\n\nId,Nom\nd1,\"a\nb\"\nd2,c\n");
        let files = inbox.files();
        let run = crate::testing::assert_resumes(|state| read(state, &files, 2, columns, row));
        let items: Vec<(&str, Option<&str>, Option<u64>)> = run
            .items
            .iter()
            .map(|i| (i.key.as_str(), i.origin.as_deref(), i.line))
            .collect();
        assert_eq!(
            items,
            [
                ("a1", Some("a.csv"), Some(2)),
                ("a2", Some("a.csv"), Some(6)),
                ("d1", Some("d.csv"), Some(4)),
                ("d2", Some("d.csv"), Some(6)),
            ]
        );
        type Seen<'a> = (
            RejectReason,
            &'a str,
            Option<&'a str>,
            Option<u64>,
            Option<&'a str>,
        );
        let rejects: Vec<Seen> = run
            .rejects
            .iter()
            .map(|r| {
                (
                    r.reason,
                    r.field.as_str(),
                    r.origin.as_deref(),
                    r.line,
                    r.key.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rejects,
            [
                (
                    RejectReason::UnknownLabel,
                    "Id",
                    Some("a.csv"),
                    Some(4),
                    Some("x")
                ),
                (
                    RejectReason::UnknownLabel,
                    "Id",
                    Some("a.csv"),
                    Some(7),
                    Some("two")
                ),
                (
                    RejectReason::MalformedFile,
                    "Id",
                    Some("b.csv"),
                    Some(1),
                    None
                ),
                (
                    RejectReason::MalformedFile,
                    "file",
                    Some("c.csv"),
                    Some(1),
                    None
                ),
            ]
        );
        assert_eq!(run.rejects[0].raw, b"x;y".to_vec());
        assert_eq!(run.replace_origins, ["a.csv", "b.csv", "c.csv", "d.csv"]);
    }
}
