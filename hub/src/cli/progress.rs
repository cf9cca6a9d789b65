//! Progress of long commands: a bar on a terminal (indicatif), a plain line
//! every few seconds when stderr is not a terminal, nothing with `--json`.
//!
//! Nothing is threaded through the work itself: a sync is followed from its
//! run's row (the counters each committed batch updates, as the console's
//! run page reads them), an export from the size of the file it writes.
//! Work done item by item in the command's own loop (`inbox add` of many
//! files) counts with a [`Counter`].

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::warehouse::{RunStatus, Warehouse};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines,
    Quiet,
}

impl Mode {
    pub fn of(json: bool) -> Mode {
        if json {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }

    fn every(self) -> Duration {
        match self {
            Mode::Bar => Duration::from_millis(200),
            _ => Duration::from_secs(5),
        }
    }
}

/// Shows progress until dropped (or [`Progress::finish`]).
pub struct Progress {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Shows what `line` says, every [`Mode::every`], until finished.
fn follow<F, Fut>(mode: Mode, label: String, mut line: F) -> Progress
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Option<String>> + Send,
{
    let stop = CancellationToken::new();
    let task = (mode != Mode::Quiet).then(|| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let bar = (mode == Mode::Bar).then(|| {
                let bar = ProgressBar::new_spinner();
                if let Ok(style) =
                    ProgressStyle::with_template("{spinner} {prefix} {elapsed} {msg}")
                {
                    bar.set_style(style);
                }
                bar.set_prefix(label.clone());
                bar
            });
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(mode.every()) => {}
                }
                let Some(text) = line().await else { continue };
                match &bar {
                    Some(b) => {
                        b.set_message(text);
                        b.tick();
                    }
                    None => eprintln!("{label}: {text}"),
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        })
    });
    Progress { stop, task }
}

/// Follows the run of `source` that is about to start: records read,
/// stored and refused so far, and the rate.
pub fn follow_sync(warehouse: Warehouse, source: String, mode: Mode) -> Progress {
    let started = Instant::now();
    let sources = [source.clone()];
    follow(mode, source, move || {
        let warehouse = warehouse.clone();
        let sources = sources.clone();
        async move {
            let run = warehouse
                .runs_page(Some(&sources), Some(RunStatus::Running), None, 1)
                .await
                .ok()?
                .into_iter()
                .next()?;
            let c = run.counts;
            let secs = started.elapsed().as_secs_f64().max(0.001);
            Some(format!(
                "run {}: {} read, {} stored, {} refused ({:.0} records/s)",
                run.id,
                c.read,
                c.inserted + c.updated + c.unchanged,
                c.quarantined,
                c.read as f64 / secs
            ))
        }
    })
}

/// Follows an export into `out`: bytes written so far.
pub fn follow_file(out: PathBuf, mode: Mode) -> Progress {
    follow(mode, "export".to_string(), move || {
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        let text = format!("{} written to {}", HumanBytes(size), out.display());
        async move { Some(text) }
    })
}

/// Items done out of a known total, counted by the loop doing them: a bar
/// on a terminal, a line every few seconds and at the end otherwise.
pub struct Counter {
    mode: Mode,
    label: &'static str,
    total: u64,
    done: std::cell::Cell<u64>,
    last_line: std::cell::Cell<Instant>,
    bar: Option<ProgressBar>,
}

impl Counter {
    pub fn new(label: &'static str, total: u64, mode: Mode) -> Counter {
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed} {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label);
            bar
        });
        Counter {
            mode,
            label,
            total,
            done: std::cell::Cell::new(0),
            last_line: std::cell::Cell::new(Instant::now()),
            bar,
        }
    }

    /// One more item done (`what`: its name).
    pub fn inc(&self, what: &str) {
        let done = self.done.get() + 1;
        self.done.set(done);
        match (&self.bar, self.mode) {
            (Some(b), _) => {
                b.set_message(what.to_string());
                b.inc(1);
            }
            (None, Mode::Lines) if self.last_line.get().elapsed() >= self.mode.every() => {
                self.last_line.set(Instant::now());
                eprintln!("{}: {done}/{} ({what})", self.label, self.total);
            }
            _ => {}
        }
    }

    /// Prints a line of the command's output (stdout) without breaking the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    pub fn finish(self) {
        match (&self.bar, self.mode) {
            (Some(b), _) => b.finish_and_clear(),
            (None, Mode::Lines) => {
                eprintln!("{}: {}/{} done", self.label, self.done.get(), self.total)
            }
            _ => {}
        }
    }
}

#[cfg_attr(not(feature = "demo"), allow(dead_code))]
/// Follows a step of a long command whose progress is not counted (the
/// bench's raw ceiling): a spinner with the time spent.
pub fn follow_step(label: &str, mode: Mode) -> Progress {
    let started = Instant::now();
    follow(mode, label.to_string(), move || {
        let text = format!("{:.0} s", started.elapsed().as_secs_f64());
        async move { Some(text) }
    })
}
