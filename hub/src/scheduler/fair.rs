//! Fair shares of the worker slots. At most one run per source already (the
//! warehouse refuses a second); on top of that, when every slot is taken
//! and a job of another source is due, the run that has held its slot the
//! longest past `limits.run_fair_share_seconds` gives it up: it stops between
//! two batches, ends `interrupted` (`yielded`) and is queued again, behind
//! the jobs that waited. A few long or looping sources cannot starve the rest.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Queue;

struct Slot {
    id: u64,
    source: String,
    since: Instant,
    yield_slot: CancellationToken,
}

/// The syncs holding a worker slot now.
#[derive(Default)]
pub(crate) struct Slots {
    held: Mutex<Vec<Slot>>,
    next: AtomicU64,
}

/// A slot taken by a sync; given back when dropped.
pub(crate) struct Held<'a> {
    slots: &'a Slots,
    id: u64,
    /// Cancelled when the sync must give its slot up.
    pub yield_slot: CancellationToken,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Ok(mut held) = self.slots.held.lock() {
            held.retain(|s| s.id != self.id);
        }
    }
}

impl Slots {
    pub(crate) fn take(&self, source: &str) -> Held<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let yield_slot = CancellationToken::new();
        if let Ok(mut held) = self.held.lock() {
            held.push(Slot {
                id,
                source: source.to_string(),
                since: Instant::now(),
                yield_slot: yield_slot.clone(),
            });
        }
        Held {
            slots: self,
            id,
            yield_slot,
        }
    }

    /// When all `capacity` slots are taken: the sources holding one, and
    /// the oldest slot held past `share` (not already asked to yield).
    fn full_and_over(&self, capacity: usize, share: Duration) -> Option<(Vec<String>, Slot)> {
        let held = self.held.lock().ok()?;
        if held.len() < capacity {
            return None;
        }
        let over = held
            .iter()
            .filter(|s| s.since.elapsed() >= share && !s.yield_slot.is_cancelled())
            .min_by_key(|s| s.since)?;
        Some((
            held.iter().map(|s| s.source.clone()).collect(),
            Slot {
                id: over.id,
                source: over.source.clone(),
                since: over.since,
                yield_slot: over.yield_slot.clone(),
            },
        ))
    }
}

/// Every `every`, asks the oldest run past its share to give its slot up
/// when all slots are taken and a job of another source is due.
pub(crate) async fn keep_fair(
    slots: &Slots,
    queue: &Queue,
    sources: &[String],
    capacity: usize,
    share: Duration,
    every: Duration,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let Some((running, over)) = slots.full_and_over(capacity, share) else {
            continue;
        };
        let now = chrono::Utc::now().timestamp();
        let mut waiting = None;
        for source in sources.iter().filter(|s| !running.contains(s)) {
            if let Ok(Some(due)) = queue.next_due(source).await
                && due <= now
            {
                waiting = Some(source);
                break;
            }
        }
        if let Some(waiting) = waiting {
            tracing::info!(
                source = %over.source,
                held_secs = over.since.elapsed().as_secs(),
                waiting = %waiting,
                "every worker slot is taken and a source waits: the oldest run gives its slot up"
            );
            over.yield_slot.cancel();
        }
    }
}
