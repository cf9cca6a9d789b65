//! Native test helpers for connector crates: a temporary inbox laid out as the
//! hub lays it out, a driver that runs a connector's `read` batch after batch
//! as the host does, and the check that resuming from every checkpoint gives
//! the same records.
//!
//! ```ignore
//! use vivres_sdk::testing::{TempInbox, assert_resumes};
//!
//! #[test]
//! fn reads_and_resumes() {
//!     let mut inbox = TempInbox::new("my-connector");
//!     inbox.add("accueils_lyon_2024.csv", b"Date;Dossier\n15/03/2024;A-1\n");
//!     let files = inbox.files();
//!     let run = assert_resumes(|state| read_files(&config, &files, "aids", state));
//!     assert_eq!(run.items.len(), 1);
//! }
//! ```
//!
//! Connectors read their inbox with [`crate::inbox::files`], which only the
//! hub serves: give the read function of the connector the files of a
//! [`TempInbox`] (`read_files(config, &files, stream, state)`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::inbox::{self, InboxFile};
use crate::model::{Batch, ConnectorError, Item, Reject};

/// Batches a run may take before the driver calls the connector stuck.
const MAX_BATCHES: usize = 100_000;

/// A temporary inbox directory, removed when dropped: each [`TempInbox::add`]
/// stores a file as the hub does, `<seq:08>-<64 hex>/<name>`, in arrival order.
#[derive(Debug)]
pub struct TempInbox {
    dir: PathBuf,
    seq: u64,
}

impl TempInbox {
    /// A fresh, empty inbox (`name` only makes the directory recognisable).
    pub fn new(name: &str) -> TempInbox {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vivres-test-inbox-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempInbox { dir, seq: 0 }
    }

    /// Adds a file, after those already added (a re-sent name is a new version).
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> &mut TempInbox {
        self.seq += 1;
        // Content-addressed in the hub; any 64 hex digits do for the reader.
        let entry = self.dir.join(format!("{:08}-{:064x}", self.seq, self.seq));
        std::fs::create_dir_all(&entry)
            .and_then(|()| std::fs::write(entry.join(name), bytes))
            .unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
        self
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The files as the connector lists them (arrival order).
    pub fn files(&self) -> Vec<InboxFile> {
        inbox::files_in(&self.dir).unwrap_or_else(|e| panic!("cannot list the inbox: {e:?}"))
    }
}

impl Drop for TempInbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a run of one stream returned, batch after batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    pub items: Vec<Item>,
    pub rejects: Vec<Reject>,
    pub replace_origins: Vec<String>,
    /// The state after each batch, in order (the last one is the run's).
    pub states: Vec<Option<String>>,
    /// How many items, rejects and replaced origins the batches up to each
    /// one returned, in order.
    pub totals: Vec<(usize, usize, usize)>,
}

impl Run {
    /// The state the run ended with.
    pub fn state(&self) -> Option<&str> {
        self.states.last().and_then(|s| s.as_deref())
    }

    /// Batches the run took.
    pub fn batches(&self) -> usize {
        self.states.len()
    }
}

/// Runs `read` from `state` until it says there is no more, as the host does,
/// collecting what each batch returned. Panics on an error or a run that does
/// not end.
pub fn read_all(
    mut read: impl FnMut(Option<&str>) -> Result<Batch, ConnectorError>,
    state: Option<&str>,
) -> Run {
    let mut run = Run::default();
    let mut state = state.map(str::to_string);
    for _ in 0..MAX_BATCHES {
        let batch = read(state.as_deref()).unwrap_or_else(|e| panic!("read failed: {e:?}"));
        run.items.extend(batch.items);
        run.rejects.extend(batch.rejects);
        run.replace_origins.extend(batch.replace_origins);
        run.totals.push((
            run.items.len(),
            run.rejects.len(),
            run.replace_origins.len(),
        ));
        run.states.push(batch.state.clone());
        state = batch.state;
        if !batch.more {
            return run;
        }
    }
    panic!("the connector returned more = true {MAX_BATCHES} times: it does not advance");
}

/// Reads the whole stream from the start, then again from each intermediate
/// checkpoint, and asserts that each resumed run returns exactly what the
/// full run returned after that checkpoint (nothing lost, nothing repeated,
/// the same origins replaced, the same final state), and that a read from
/// the final state returns nothing. Gives the full run.
pub fn assert_resumes(mut read: impl FnMut(Option<&str>) -> Result<Batch, ConnectorError>) -> Run {
    let full = read_all(&mut read, None);
    for (i, state) in full.states.iter().enumerate().take(full.batches() - 1) {
        let (items, rejects, replaced) = full.totals[i];
        let rest = read_all(&mut read, state.as_deref());
        let after = i + 1;
        assert_eq!(
            rest.items,
            full.items[items..],
            "resuming after batch {after} (state {state:?}) gives other items"
        );
        assert_eq!(
            rest.rejects,
            full.rejects[rejects..],
            "resuming after batch {after} (state {state:?}) gives other rejects"
        );
        assert_eq!(
            rest.replace_origins,
            full.replace_origins[replaced..],
            "resuming after batch {after} (state {state:?}) replaces other origins"
        );
        assert_eq!(
            rest.state(),
            full.state(),
            "resuming after batch {after} ends at another state"
        );
    }
    let again = read_all(&mut read, full.state());
    assert!(
        again.items.is_empty() && again.rejects.is_empty() && again.replace_origins.is_empty(),
        "a read from the final state returned {} items and {} rejects",
        again.items.len(),
        again.rejects.len()
    );
    full
}
