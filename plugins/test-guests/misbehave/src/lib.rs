//! A connector that misbehaves on purpose, for the hub's sandbox tests.
//!
//! Config `{"mode": "...", ...}`; `read`:
//! - `ok`: one valid empty batch, `more = false`;
//! - `spin`: a busy loop that never ends (the host's fuel or epoch limit must stop it);
//! - `alloc`: allocates and touches 2 GiB in 64 MiB steps (the memory limit must stop it);
//! - `http`: one GET to `url` through the host; the host's error comes back as
//!   the `ConnectorError` of the SDK's mapping (`denied` → `bad-config` holding
//!   the host's message);
//! - `sleep`: sleeps `seconds` (default an hour) in a WASI sleep, then returns
//!   an empty batch (shutdown must not wait for it; waiting is not CPU);
//! - `huge-string`: returns one record whose `kind` is `bytes` long (default
//!   120 MB); `huge-string-kept` builds the same string but returns nothing,
//!   so the memory of both can be compared;
//! - `leak`: writes the secret `secret` to stdout without newline, `offset`
//!   bytes into a long line (where the host cuts it into pieces), and logs it
//!   verbatim;
//! - `flood`: logs `lines` lines, then GETs each of `urls` ignoring errors,
//!   and fails with `bad-data` "flood over" (the hub's lines must survive a
//!   failed run too);
//! - `forever`: one new record per batch, the state counting up, `more = true`
//!   for ever (the run's deadline and caps must stop it);
//! - `stuck`: no record, the same state `stuck` and `more = true` for ever
//!   (the hub must see that the state does not advance);
//! - `rejects`: `count` rejects a batch (default 10,000), the same keys every
//!   batch, the state counting up, `more = true` until `batches`
//!   batches were sent (default: for ever);
//! - `leak-state`: one batch whose state and reject (key, origin, field,
//!   detail) carry the secret `secret` and a raw key, the detail `bytes` long.
//! - `recurse`: recurses without end; in small frames (the engine's own
//!   stack overflows), or with `bytes` set in frames of 8 KiB of locals (the
//!   guest's shadow stack, in its linear memory, overflows);
//! - `big-batch`: one batch of `count` items (default 10,001);
//! - `trap`: `batches` batches of one record each (default 2), the state
//!   counting up, then a batch that builds `count` records (default 100),
//!   logs and panics before returning them (a wasm trap);
//! - `files`: tries to read each of `paths` and to create `write` (if set),
//!   logs what it got for each (its first bytes, or the error), and fails
//!   with `bad-data` "files: N read, M refused";
//! - `env`: logs the environment variables and arguments it sees, then
//!   fails with `bad-data` "environment: N variables, M arguments";
//! - `socket`: tries to resolve `url`'s host and to open a TCP connection to
//!   its address (a name's port on 127.0.0.1): plugins have no sockets;
//!   fails with `bad-data` "socket: …" saying what each attempt got.

use std::hint::black_box;
use std::io::Write as _;

use serde::Deserialize;
use vivres_sdk::http::Request;
use vivres_sdk::model::{
    Batch, ConnectorError, ConnectorSpec, Entity, EntityKind, Item, Participation, Reject,
    RejectReason, StreamInfo,
};
use vivres_sdk::{Connector, log};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum Mode {
    Ok,
    Spin,
    Alloc,
    Http,
    Sleep,
    HugeString,
    HugeStringKept,
    Leak,
    Flood,
    Forever,
    Stuck,
    Rejects,
    LeakState,
    Recurse,
    BigBatch,
    Trap,
    Files,
    Env,
    Socket,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    mode: Mode,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    seconds: Option<u64>,
    #[serde(default)]
    bytes: Option<usize>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    lines: Option<u32>,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    batches: Option<u64>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    write: Option<String>,
}

const STEP: usize = 64 << 20;
const TOTAL: usize = 2 << 30;
const PAGE: usize = 4096;

struct Misbehave;

impl Connector for Misbehave {
    type Config = Config;

    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            name: "misbehave".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test guest that spins, over-allocates or calls a host it was not granted".into(),
            config_schema: r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,"required":["mode"],"properties":{"mode":{"enum":["ok","spin","alloc","http","sleep","huge-string","huge-string-kept","leak","flood","forever","stuck","rejects","leak-state","recurse","big-batch","trap","files","env","socket"]},"url":{"type":"string"},"seconds":{"type":"integer"},"bytes":{"type":"integer"},"secret":{"type":"string"},"offset":{"type":"integer"},"lines":{"type":"integer"},"urls":{"type":"array","items":{"type":"string"}},"count":{"type":"integer"},"batches":{"type":"integer"},"paths":{"type":"array","items":{"type":"string"}},"write":{"type":"string"}}}"#.into(),
            streams: vec![StreamInfo::new(
                "events",
                EntityKind::Participation,
                &["id"],
                None,
                "Nothing: this guest only misbehaves",
            )],
        }
    }

    fn read(config: &Config, _stream: &str, state: Option<&str>) -> Result<Batch, ConnectorError> {
        // The batch number this read is, from the state the hub handed back.
        let n: u64 = state.and_then(|s| s.parse().ok()).unwrap_or(0);
        match config.mode {
            Mode::Ok => Ok(Batch::new()),
            Mode::Spin => spin(),
            Mode::Alloc => {
                let touched = alloc();
                log::info(format!("allocated {touched} bytes"));
                Ok(Batch::new())
            }
            Mode::Http => {
                let url = config
                    .url
                    .as_deref()
                    .ok_or_else(|| ConnectorError::bad_config("url: required in mode http"))?;
                let response = Request::get(url).send()?;
                log::info(format!(
                    "HTTP {} ({} bytes)",
                    response.status,
                    response.body.len()
                ));
                Ok(Batch::new())
            }
            Mode::Sleep => {
                let seconds = config.seconds.unwrap_or(3600);
                log::info(format!("sleeping {seconds} s"));
                std::thread::sleep(std::time::Duration::from_secs(seconds));
                Ok(Batch::new())
            }
            Mode::HugeString => {
                let kind = "x".repeat(config.bytes.unwrap_or(HUGE));
                let mut batch = Batch::new();
                batch.items.push(Item::new("huge-1", participation(kind)));
                Ok(batch)
            }
            Mode::HugeStringKept => {
                let kind = "x".repeat(config.bytes.unwrap_or(HUGE));
                log::info(format!("built {} bytes", black_box(&kind).len()));
                Ok(Batch::new())
            }
            Mode::Leak => {
                let name = config
                    .secret
                    .as_deref()
                    .ok_or_else(|| ConnectorError::bad_config("secret: required in mode leak"))?;
                let secret = vivres_sdk::secret(name)
                    .ok_or_else(|| ConnectorError::bad_config("secret: not granted"))?;
                log::info(format!("the secret is {secret}"));
                let mut line = "a".repeat(config.offset.unwrap_or(8190)).into_bytes();
                line.extend_from_slice(secret.as_bytes());
                line.extend(std::iter::repeat_n(b'b', 9000));
                // No newline: the host cuts the line into pieces.
                let mut out = std::io::stdout();
                out.write_all(&line)
                    .map_err(|e| ConnectorError::bad_data(e.to_string()))?;
                out.flush()
                    .map_err(|e| ConnectorError::bad_data(e.to_string()))?;
                Ok(Batch::new())
            }
            Mode::Flood => {
                for i in 0..config.lines.unwrap_or(20_000) {
                    log::info(format!("flood line {i}"));
                }
                for url in &config.urls {
                    if let Err(e) = Request::get(url).send() {
                        log::warn(format!("ignored: {e:?}"));
                    }
                }
                Err(ConnectorError::bad_data("flood over"))
            }
            Mode::Forever => {
                let mut batch = Batch::new();
                batch
                    .items
                    .push(Item::new(format!("forever-{n}"), participation("x".into())));
                batch.state = Some((n + 1).to_string());
                batch.more = true;
                Ok(batch)
            }
            Mode::Stuck => {
                let mut batch = Batch::new();
                batch.state = Some("stuck".into());
                batch.more = true;
                Ok(batch)
            }
            Mode::Rejects => {
                let mut batch = Batch::new();
                for i in 0..config.count.unwrap_or(10_000) {
                    batch.rejects.push(
                        Reject::new(RejectReason::InvalidDate, "date", "not a date")
                            .with_key(format!("r-{i}"))
                            .with_raw(format!("r-{i};never")),
                    );
                }
                batch.state = Some((n + 1).to_string());
                batch.more = config.batches.is_none_or(|b| n + 1 < b);
                Ok(batch)
            }
            Mode::LeakState => {
                let name = config.secret.as_deref().ok_or_else(|| {
                    ConnectorError::bad_config("secret: required in mode leak-state")
                })?;
                let secret = vivres_sdk::secret(name)
                    .ok_or_else(|| ConnectorError::bad_config("secret: not granted"))?;
                let mut detail = format!("value {secret} is wrong for Jeanne Martin ");
                detail.push_str(&"d".repeat(config.bytes.unwrap_or(10_000)));
                let mut batch = Batch::new();
                batch.rejects.push(
                    Reject::new(RejectReason::InvalidDate, format!("date-{secret}"), detail)
                        .with_key("jeanne.martin@example.org")
                        .with_origin(format!("export-{secret}.csv"))
                        .with_line(7),
                );
                batch.state = Some(format!("cursor={secret}"));
                Ok(batch)
            }
            Mode::Recurse => {
                let depth = match config.bytes.unwrap_or(0) {
                    0 => recurse(0),
                    _ => recurse_framed(0),
                };
                log::info(format!("recursion returned at depth {depth}"));
                Ok(Batch::new())
            }
            Mode::BigBatch => {
                let mut batch = Batch::new();
                for i in 0..config.count.unwrap_or(10_001) {
                    batch
                        .items
                        .push(Item::new(format!("big-{i}"), participation("x".into())));
                }
                Ok(batch)
            }
            Mode::Trap => {
                let mut batch = Batch::new();
                if n < config.batches.unwrap_or(2) {
                    batch
                        .items
                        .push(Item::new(format!("trap-{n}"), participation("x".into())));
                    batch.state = Some((n + 1).to_string());
                    batch.more = true;
                    return Ok(batch);
                }
                for i in 0..config.count.unwrap_or(100) {
                    batch.items.push(Item::new(
                        format!("trap-{n}-{i}"),
                        participation("x".into()),
                    ));
                }
                batch.state = Some((n + 1).to_string());
                log::info(format!(
                    "batch {n}: {} records built, trapping",
                    batch.items.len()
                ));
                black_box(&batch);
                panic!("hostile trap in batch {n}");
            }
            Mode::Files => files(config),
            Mode::Env => {
                let vars: Vec<(String, String)> = std::env::vars().collect();
                let args: Vec<String> = std::env::args().collect();
                for (name, value) in &vars {
                    log::info(format!("variable {name} ({} bytes)", value.len()));
                }
                for arg in &args {
                    log::info(format!("argument {arg}"));
                }
                Err(ConnectorError::bad_data(format!(
                    "environment: {} variables, {} arguments",
                    vars.len(),
                    args.len()
                )))
            }
            Mode::Socket => {
                let url = config
                    .url
                    .as_deref()
                    .ok_or_else(|| ConnectorError::bad_config("url: required in mode socket"))?;
                Err(ConnectorError::bad_data(format!("socket: {}", socket(url))))
            }
        }
    }
}

/// Reads each of `config.paths`, and creates `config.write`.
fn files(config: &Config) -> Result<Batch, ConnectorError> {
    let (mut read, mut refused) = (0, 0);
    for path in &config.paths {
        match std::fs::read(path) {
            Ok(bytes) => {
                read += 1;
                let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned();
                log::info(format!("read `{path}`: {} bytes: {head}", bytes.len()));
            }
            Err(e) => {
                refused += 1;
                log::info(format!("read `{path}`: refused: {e}"));
            }
        }
    }
    if let Some(path) = &config.write {
        match std::fs::write(path, b"written by a plugin") {
            Ok(()) => {
                read += 1;
                log::info(format!("write `{path}`: written"));
            }
            Err(e) => {
                refused += 1;
                log::info(format!("write `{path}`: refused: {e}"));
            }
        }
    }
    Err(ConnectorError::bad_data(format!(
        "files: {read} read, {refused} refused"
    )))
}

/// A name lookup of `url`'s host, then a TCP connection to its address (a
/// name's port on 127.0.0.1).
fn socket(url: &str) -> String {
    use std::net::{SocketAddr, ToSocketAddrs as _};
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("");
    let lookup = match authority.to_socket_addrs() {
        Ok(addrs) => format!("lookup gave {} addresses", addrs.count()),
        Err(e) => format!("lookup refused ({e})"),
    };
    let addr = authority.parse::<SocketAddr>().ok().or_else(|| {
        let port = authority.rsplit_once(':')?.1.parse().ok()?;
        Some(SocketAddr::from(([127, 0, 0, 1], port)))
    });
    let connect = match addr.map(std::net::TcpStream::connect) {
        Some(Ok(_)) => "connected".to_string(),
        Some(Err(e)) => format!("connect refused ({e})"),
        None => "no address to connect to".to_string(),
    };
    format!("{lookup}, {connect}")
}

/// Recursion the optimiser cannot turn into a loop: one engine stack frame
/// per level.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    black_box(recurse(black_box(depth + 1))) + 1
}

/// The same with 8 KiB of locals a frame, on the guest's shadow stack.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse_framed(depth: u64) -> u64 {
    let mut frame = [0u8; 8192];
    frame[(depth as usize) % 8192] = 1;
    black_box(&mut frame);
    black_box(recurse_framed(black_box(depth + 1))) + u64::from(frame[0])
}

fn participation(kind: String) -> Entity {
    Entity::Participation(Participation {
        household: None,
        site: None,
        date: None,
        kind,
        role: None,
        hours: None,
        attendees: None,
    })
}

/// 120 MB: under wasmtime's default copy limit (128 MiB), far over the hub's.
const HUGE: usize = 120_000_000;

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn alloc() -> usize {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut total = 0;
    while total < TOTAL {
        let mut block = vec![0u8; STEP];
        for i in (0..STEP).step_by(PAGE) {
            block[i] = 1;
        }
        total += black_box(&block).len();
        blocks.push(block);
    }
    black_box(&blocks);
    total
}

vivres_sdk::export_connector!(Misbehave);
