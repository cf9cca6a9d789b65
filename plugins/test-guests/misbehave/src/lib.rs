//! A connector that misbehaves on purpose, for the hub's sandbox tests.
//!
//! Config `{"mode": "ok" | "spin" | "alloc" | "http", "url": "..."}`; `read`:
//! - `ok`: one valid empty batch, `more = false`;
//! - `spin`: a busy loop that never ends (the host's fuel or epoch limit must stop it);
//! - `alloc`: allocates and touches 2 GiB in 64 MiB steps (the memory limit must stop it);
//! - `http`: one GET to `url` through the host; the host's error comes back as
//!   the `ConnectorError` of the SDK's mapping (`denied` → `bad-config` holding
//!   the host's message).

use std::hint::black_box;

use serde::Deserialize;
use vivres_sdk::http::Request;
use vivres_sdk::model::{Batch, ConnectorError, ConnectorSpec, EntityKind, StreamInfo};
use vivres_sdk::{Connector, log};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Mode {
    Ok,
    Spin,
    Alloc,
    Http,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    mode: Mode,
    #[serde(default)]
    url: Option<String>,
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
            config_schema: r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,"required":["mode"],"properties":{"mode":{"enum":["ok","spin","alloc","http"]},"url":{"type":"string"}}}"#.into(),
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
        }
    }
}

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
