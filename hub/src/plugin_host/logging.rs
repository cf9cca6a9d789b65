//! The run's log as a plugin writes it: `host.log` lines and the guest's
//! stdout (debug) and stderr (warn), redacted, cut to length and capped in
//! number, into the [`LogSink`] the caller gave. The hub's own lines about
//! the plugin (a denied host, a spent budget, the HTTP summary) have a cap
//! of their own, so a plugin flooding its log cannot silence them.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use time::OffsetDateTime;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::secrets::Redactor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One line of a run's log; secrets already replaced by `***`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: OffsetDateTime,
    pub level: LogLevel,
    pub message: String,
}

pub type LogSink = Arc<dyn Fn(LogLine) + Send + Sync>;

/// Bytes of stderr kept for a trap report.
const STDERR_TAIL_BYTES: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdio {
    Stdout,
    Stderr,
}

/// How much a run's log may hold.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Longest line; longer ones are cut.
    pub line_bytes: usize,
    /// Lines the plugin may write.
    pub plugin_lines: usize,
    /// Lines the hub may write about the plugin.
    pub hub_lines: usize,
}

pub struct Logger {
    sink: LogSink,
    redactor: Redactor,
    caps: Caps,
    state: Mutex<LoggerState>,
}

#[derive(Default)]
struct LoggerState {
    lines: usize,
    truncated: bool,
    hub_lines: usize,
    hub_truncated: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stderr_tail: VecDeque<u8>,
}

impl Logger {
    pub fn new(sink: LogSink, redactor: Redactor, caps: Caps) -> Self {
        Logger {
            sink,
            redactor,
            caps,
            state: Mutex::new(LoggerState::default()),
        }
    }

    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// A line from the plugin: counted against the per-run cap.
    pub fn emit(&self, level: LogLevel, message: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        self.emit_locked(&mut state, level, message);
    }

    /// A line from the hub about the plugin: counted apart from the
    /// plugin's own, so it is written after the plugin's cap too.
    pub fn hub(&self, level: LogLevel, message: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.hub_truncated {
            return;
        }
        if state.hub_lines >= self.caps.hub_lines {
            state.hub_truncated = true;
            self.send(
                LogLevel::Warn,
                format!(
                    "log truncated: the hub wrote more than {} lines about this plugin",
                    self.caps.hub_lines
                ),
            );
            return;
        }
        state.hub_lines += 1;
        self.send(level, self.cut(message));
    }

    fn emit_locked(&self, state: &mut LoggerState, level: LogLevel, message: &str) {
        if state.truncated {
            return;
        }
        if state.lines >= self.caps.plugin_lines {
            state.truncated = true;
            self.send(
                LogLevel::Warn,
                format!(
                    "log truncated: the plugin wrote more than {} lines",
                    self.caps.plugin_lines
                ),
            );
            return;
        }
        state.lines += 1;
        self.send(level, self.cut(message));
    }

    /// Redacted, then cut to length: redacting first means no cut can leave
    /// half a secret.
    fn cut(&self, message: &str) -> String {
        let mut message = self.redactor.redact(message);
        if message.len() > self.caps.line_bytes {
            let mut end = self.caps.line_bytes;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str(" …[cut]");
        }
        message
    }

    fn send(&self, level: LogLevel, message: String) {
        (self.sink)(LogLine {
            at: OffsetDateTime::now_utc(),
            level,
            message,
        });
    }

    /// Guest stdout/stderr bytes: whole lines go to the sink at once.
    fn write_stdio(&self, which: Stdio, bytes: &[u8]) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if which == Stdio::Stderr {
            state.stderr_tail.extend(bytes.iter().copied());
            let excess = state.stderr_tail.len().saturating_sub(STDERR_TAIL_BYTES);
            state.stderr_tail.drain(..excess);
        }
        let mut pending = std::mem::take(match which {
            Stdio::Stdout => &mut state.stdout,
            Stdio::Stderr => &mut state.stderr,
        });
        pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(pos) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&pending[start..start + pos]).into_owned();
            self.emit_locked(&mut state, stdio_level(which), &line);
            start += pos + 1;
        }
        pending.drain(..start);
        // A newline-less flood is cut into lines rather than held forever.
        // The cut never falls inside a secret, and the bytes a secret could
        // still be completing stay pending: redaction sees every secret whole.
        if pending.len() > self.caps.line_bytes {
            let cut = self.redactor.safe_cut(&pending);
            if cut > 0 {
                let line = String::from_utf8_lossy(&pending[..cut]).into_owned();
                self.emit_locked(&mut state, stdio_level(which), &line);
                pending.drain(..cut);
            }
        }
        match which {
            Stdio::Stdout => state.stdout = pending,
            Stdio::Stderr => state.stderr = pending,
        }
    }

    /// Sends partial stdout/stderr lines, at the end of each call; a tail
    /// that could be the start of a secret waits for the next call (or
    /// [`Logger::finish`]), so a secret written across two calls is redacted too.
    pub fn flush_stdio(&self) {
        self.flush(false);
    }

    /// Sends everything still pending: the instance is done.
    pub fn finish(&self) {
        self.flush(true);
    }

    fn flush(&self, all: bool) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        for which in [Stdio::Stdout, Stdio::Stderr] {
            let mut pending = std::mem::take(match which {
                Stdio::Stdout => &mut state.stdout,
                Stdio::Stderr => &mut state.stderr,
            });
            let cut = if all {
                pending.len()
            } else {
                self.redactor.safe_cut(&pending)
            };
            if cut > 0 {
                let line = String::from_utf8_lossy(&pending[..cut]).into_owned();
                self.emit_locked(&mut state, stdio_level(which), &line);
                pending.drain(..cut);
            }
            match which {
                Stdio::Stdout => state.stdout = pending,
                Stdio::Stderr => state.stderr = pending,
            }
        }
    }

    /// The last bytes the guest wrote to stderr (a panic message), redacted.
    pub fn stderr_tail(&self) -> String {
        let Ok(state) = self.state.lock() else {
            return String::new();
        };
        let bytes: Vec<u8> = state.stderr_tail.iter().copied().collect();
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        // A tail that was cut starts mid-line, maybe mid-secret: drop that
        // partial first line.
        if bytes.len() >= STDERR_TAIL_BYTES
            && let Some(pos) = text.find('\n')
        {
            text.drain(..=pos);
        }
        self.redactor.redact(text.trim_end())
    }
}

fn stdio_level(which: Stdio) -> LogLevel {
    match which {
        Stdio::Stdout => LogLevel::Debug,
        Stdio::Stderr => LogLevel::Warn,
    }
}

/// The guest's stdout or stderr, forwarded to the run's log.
#[derive(Clone)]
pub struct StdioPipe {
    logger: Arc<Logger>,
    which: Stdio,
}

impl StdioPipe {
    pub fn new(logger: Arc<Logger>, which: Stdio) -> Self {
        StdioPipe { logger, which }
    }
}

impl IsTerminal for StdioPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdioPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for StdioPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // Never an error: a plugin that logs too much is cut, not failed.
        self.logger.write_stdio(self.which, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(max_bytes: usize, max_lines: usize) -> (Logger, Arc<Mutex<Vec<LogLine>>>) {
        capture_with(max_bytes, max_lines, "s3cr3t")
    }

    fn capture_with(
        max_bytes: usize,
        max_lines: usize,
        secret: &str,
    ) -> (Logger, Arc<Mutex<Vec<LogLine>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink_lines = lines.clone();
        let sink: LogSink = Arc::new(move |line| sink_lines.lock().unwrap().push(line));
        let secret = secret.to_string();
        let caps = Caps {
            line_bytes: max_bytes,
            plugin_lines: max_lines,
            hub_lines: 3,
        };
        let logger = Logger::new(sink, Redactor::new([&secret]), caps);
        (logger, lines)
    }

    #[test]
    fn a_secret_split_across_stdio_pieces_is_still_redacted() {
        // As a Rust guest writes a long line without newline: 4 KiB writes,
        // flushed as pieces once more than a line is pending.
        let secret = "tok-9f8e7d6c5b4a39281706";
        let (logger, lines) = capture_with(4096, 100, secret);
        for offset in [8190, 8192 - secret.len() / 2, 4096 * 3 - 1, 5000] {
            let mut out = "a".repeat(offset).into_bytes();
            out.extend_from_slice(secret.as_bytes());
            out.extend(std::iter::repeat_n(b'b', 9000));
            for chunk in out.chunks(4096) {
                logger.write_stdio(Stdio::Stdout, chunk);
            }
            logger.flush_stdio();
        }
        let lines = lines.lock().unwrap();
        assert!(lines.len() >= 4, "{}", lines.len());
        for line in lines.iter() {
            // No piece of the secret longer than a third of it.
            for window in secret.as_bytes().windows(secret.len() / 3) {
                let window = std::str::from_utf8(window).unwrap();
                assert!(
                    !line.message.contains(window),
                    "{window} in {}",
                    line.message
                );
            }
        }
    }

    #[test]
    fn a_secret_written_across_two_calls_is_redacted() {
        let (logger, lines) = capture(4096, 100);
        logger.write_stdio(Stdio::Stdout, b"token is s3c");
        logger.flush_stdio(); // end of a call
        logger.write_stdio(Stdio::Stdout, b"r3t, done");
        logger.flush_stdio();
        logger.write_stdio(Stdio::Stderr, b"tail s3");
        logger.finish(); // end of the instance
        let lines = lines.lock().unwrap();
        let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["token is ", "***, done", "tail s3"]);
    }

    #[test]
    fn hub_lines_survive_the_plugin_cap_and_have_their_own() {
        let (logger, lines) = capture(100, 2);
        for i in 0..5 {
            logger.emit(LogLevel::Info, &format!("flood {i}"));
        }
        for i in 0..5 {
            logger.hub(LogLevel::Warn, &format!("denied s3cr3t {i}"));
        }
        let lines = lines.lock().unwrap();
        let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "flood 0",
                "flood 1",
                "log truncated: the plugin wrote more than 2 lines",
                "denied *** 0",
                "denied *** 1",
                "denied *** 2",
                "log truncated: the hub wrote more than 3 lines about this plugin",
            ]
        );
    }

    #[test]
    fn redacts_cuts_and_caps() {
        let (logger, lines) = capture(10, 2);
        logger.emit(LogLevel::Info, "key=s3cr3t");
        logger.emit(LogLevel::Info, "ééééééééééé");
        logger.emit(LogLevel::Info, "third");
        logger.emit(LogLevel::Info, "fourth");
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].message, "key=***");
        assert_eq!(lines[1].message, "ééééé …[cut]");
        assert!(lines[2].message.starts_with("log truncated"));
    }

    #[test]
    fn stdio_goes_out_by_line() {
        let (logger, lines) = capture(4096, 100);
        logger.write_stdio(Stdio::Stdout, b"hello ");
        logger.write_stdio(Stdio::Stdout, b"world\nnext");
        logger.write_stdio(Stdio::Stderr, b"panicked at s3cr3t\n");
        assert_eq!(lines.lock().unwrap().len(), 2);
        logger.flush_stdio();
        let lines = lines.lock().unwrap();
        assert_eq!(lines[0].message, "hello world");
        assert_eq!(lines[0].level, LogLevel::Debug);
        assert_eq!(lines[1].message, "panicked at ***");
        assert_eq!(lines[1].level, LogLevel::Warn);
        assert_eq!(lines[2].message, "next");
        assert_eq!(logger.stderr_tail(), "panicked at ***");
    }
}
