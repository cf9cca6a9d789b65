//! CPU and memory limits of a plugin.
//!
//! CPU: the engine's epoch is bumped every [`TICK`] by a background thread;
//! each store's deadline is one tick ahead, and at each tick
//! [`on_epoch_deadline`] compares the guest's own time in the current call
//! (wall time minus time spent in host functions, as the store's call hook
//! records it) with its budget. Host waits such as an HTTP `Retry-After` or
//! a WASI sleep therefore never count against the guest (the wall-clock
//! timeout bounds those), while a guest spinning in a loop is interrupted
//! within a tick of its deadline. Each tick also yields to the async
//! executor, so a spinning guest cannot starve the other tasks, the
//! wall-clock timeout or a cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::{Engine, StoreContextMut, UpdateDeadline};

use super::state::HostState;

pub const TICK: Duration = Duration::from_millis(10);

/// The background thread that advances the engine's epoch.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("vivres-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Guest time of the current call.
#[derive(Debug)]
pub struct CallClock {
    started: Instant,
    host_time: Duration,
    /// Set while the guest is inside a host function.
    in_host_since: Option<Instant>,
    /// Host calls nest: a host function returning a list calls the guest's
    /// allocator, whose epoch check is itself a host call. Only the
    /// outermost one is timed.
    depth: u32,
    deadline: Duration,
}

impl Default for CallClock {
    fn default() -> Self {
        CallClock {
            started: Instant::now(),
            host_time: Duration::ZERO,
            in_host_since: None,
            depth: 0,
            deadline: Duration::from_secs(30),
        }
    }
}

impl CallClock {
    pub fn start_call(&mut self, deadline: Duration) {
        self.started = Instant::now();
        self.host_time = Duration::ZERO;
        self.in_host_since = None;
        self.depth = 0;
        self.deadline = deadline;
    }

    /// The guest calls a host function (or a libcall): waiting starts.
    pub fn enter_host(&mut self) {
        if self.depth == 0 {
            self.in_host_since = Some(Instant::now());
        }
        self.depth += 1;
    }

    /// Back in guest code: the time in the host is taken off guest time.
    pub fn leave_host(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        if self.depth == 0
            && let Some(since) = self.in_host_since.take()
        {
            self.host_time += since.elapsed();
        }
    }

    pub fn guest_time(&self) -> Duration {
        let in_host = self.in_host_since.map_or(Duration::ZERO, |s| s.elapsed());
        self.started
            .elapsed()
            .saturating_sub(self.host_time + in_host)
    }

    pub fn exhausted(&self) -> bool {
        self.guest_time() >= self.deadline
    }
}

/// The store's epoch callback: interrupt (a `Trap::Interrupt`) once the
/// guest's time is spent, otherwise yield and check again next tick.
pub fn on_epoch_deadline(
    store: StoreContextMut<'_, HostState>,
) -> wasmtime::Result<UpdateDeadline> {
    if store.data().clock.exhausted() {
        Ok(UpdateDeadline::Interrupt)
    } else {
        Ok(UpdateDeadline::Yield(1))
    }
}

/// Caps linear memory (and tables), and remembers that the cap was hit so
/// the trap can be reported as what it is.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit_bytes: usize,
    exceeded: bool,
}

/// Table elements a plugin may have; generous for any guest language.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl MemoryLimiter {
    pub fn new(limit_bytes: usize) -> Self {
        MemoryLimiter {
            limit_bytes,
            exceeded: false,
        }
    }

    pub fn exceeded(&self) -> bool {
        self.exceeded
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            // A trap, not a failed grow: most guests abort on a failed
            // allocation anyway, and a trap says why.
            self.exceeded = true;
            wasmtime::bail!(
                "plugin tried to grow memory to {desired} bytes, past its limit of {} bytes",
                self.limit_bytes
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// `30 s`, `1.5 s`, `250 ms`: for messages.
pub fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_time_is_not_guest_time() {
        let mut clock = CallClock::default();
        clock.start_call(Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        assert!(clock.exhausted());

        clock.start_call(Duration::from_millis(50));
        clock.enter_host();
        std::thread::sleep(Duration::from_millis(60));
        assert!(!clock.exhausted(), "still in the host");
        // A nested host call (an epoch check in the guest's allocator while
        // a host function returns) does not end the outer one.
        clock.enter_host();
        clock.leave_host();
        assert!(!clock.exhausted(), "still in the outer host call");
        clock.leave_host();
        assert!(!clock.exhausted(), "back from the host");
        std::thread::sleep(Duration::from_millis(60));
        assert!(clock.exhausted());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(show_duration(Duration::from_secs(30)), "30 s");
        assert_eq!(show_duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1.5 s");
    }
}
