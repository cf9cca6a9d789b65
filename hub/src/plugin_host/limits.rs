//! CPU and memory limits of a plugin.
//!
//! CPU: the engine's epoch is bumped every [`TICK`] by a background thread;
//! each store's deadline is one tick ahead, and at each tick
//! [`on_epoch_deadline`] compares the guest's own time in the current call
//! (wall time minus time spent in host functions) with its budget. Host
//! waits such as an HTTP `Retry-After` therefore never count against the
//! guest, while a guest spinning in a loop is interrupted within a tick of
//! its deadline. Each tick also yields to the async executor, so a spinning
//! guest cannot starve the other tasks or the wall-clock timeout.

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
    deadline: Duration,
}

impl Default for CallClock {
    fn default() -> Self {
        CallClock {
            started: Instant::now(),
            host_time: Duration::ZERO,
            deadline: Duration::from_secs(30),
        }
    }
}

impl CallClock {
    pub fn start_call(&mut self, deadline: Duration) {
        self.started = Instant::now();
        self.host_time = Duration::ZERO;
        self.deadline = deadline;
    }

    pub fn add_host_time(&mut self, spent: Duration) {
        self.host_time += spent;
    }

    pub fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.host_time)
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
        clock.add_host_time(Duration::from_millis(60));
        assert!(!clock.exhausted());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(show_duration(Duration::from_secs(30)), "30 s");
        assert_eq!(show_duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1.5 s");
    }
}
