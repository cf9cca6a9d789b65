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
//!   failed run too).

use std::hint::black_box;
use std::io::Write as _;

use serde::Deserialize;
use vivres_sdk::http::Request;
use vivres_sdk::model::{
    Batch, ConnectorError, ConnectorSpec, Entity, EntityKind, Item, Participation, StreamInfo,
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
            config_schema: r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,"required":["mode"],"properties":{"mode":{"enum":["ok","spin","alloc","http","sleep","huge-string","huge-string-kept","leak","flood"]},"url":{"type":"string"},"seconds":{"type":"integer"},"bytes":{"type":"integer"},"secret":{"type":"string"},"offset":{"type":"integer"},"lines":{"type":"integer"},"urls":{"type":"array","items":{"type":"string"}}}}"#.into(),
            streams: vec![StreamInfo::new(
                "events",
                EntityKind::Participation,
                &["id"],
                None,
                "Nothing: this guest only misbehaves",
            )],
        }
    }

    fn read(config: &Config, _stream: &str, _state: Option<&str>) -> Result<Batch, ConnectorError> {
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
                batch.items.push(Item::new(
                    "huge-1",
                    Entity::Participation(Participation {
                        household: None,
                        site: None,
                        date: None,
                        kind,
                        role: None,
                        hours: None,
                        attendees: None,
                    }),
                ));
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
        }
    }
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
