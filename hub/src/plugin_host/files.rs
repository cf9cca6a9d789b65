//! The sandbox's WASI context: the source's inbox read-only at `/inbox` and
//! nothing else of the disk; no environment, no arguments, no stdin, no
//! sockets; stdout and stderr into the run's log. Clocks and randomness are
//! harmless and left on.

use std::path::Path;
use std::sync::Arc;

use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::HostError;
use super::logging::{Logger, Stdio, StdioPipe};

pub const INBOX_GUEST_PATH: &str = "/inbox";

pub fn wasi_ctx(inbox: Option<&Path>, logger: &Arc<Logger>) -> Result<WasiCtx, HostError> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(StdioPipe::new(logger.clone(), Stdio::Stdout))
        .stderr(StdioPipe::new(logger.clone(), Stdio::Stderr))
        // Plugins reach the network only through `host.http-send`, where
        // the source's allowlist is enforced.
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if let Some(dir) = inbox {
        // Must come before the preopen: it is captured per directory. Reads
        // on the calling thread are 3-4x faster than via spawn_blocking.
        builder.allow_blocking_current_thread(true);
        builder
            .preopened_dir(dir, INBOX_GUEST_PATH, FsPerms::ReadOnly)
            .map_err(|e| HostError::Io {
                // The directory's name, not its path: a run's error reaches
                // coordinators.
                context: format!("cannot open the inbox `{}`", super::file_name(dir)),
                source: std::io::Error::other(format!("{e:#}")),
            })?;
    }
    Ok(builder.build())
}
