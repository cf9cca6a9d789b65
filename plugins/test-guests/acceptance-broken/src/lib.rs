//! A connector that is correct with `{"fault": "none"}` and breaks one promise
//! of the contract with each other fault, so that the acceptance suite
//! (`vivres connector test`) is seen failing with the right message:
//!
//! - `stuck-state`: after its first page, returns the state it was given with `more`;
//! - `boundary-duplicate`: an inclusive cursor, the last record of a page is the
//!   first of the next;
//! - `invalid-record`: one record dated 31 February;
//! - `leaky-log`: logs the household identifier of each record.
//!
//! It reads ten aid records from memory, three a batch, with `{"after": n}` as its state.

use serde::{Deserialize, Serialize};
use vivres_sdk::prelude::*;

const PAGE: usize = 3;
const TOTAL: usize = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    fault: String,
}

const FAULTS: [&str; 5] = [
    "none",
    "stuck-state",
    "boundary-duplicate",
    "invalid-record",
    "leaky-log",
];

#[derive(Serialize, Deserialize, Default)]
struct Checkpoint {
    after: usize,
}

fn record(n: usize, fault: &str) -> Item {
    let mut d = Distribution::new(AidKind::Parcel);
    d.household = Some(PersonId::new("equipe-test", format!("M-{}", 1000 + n)));
    d.site = Some("equipe-test".into());
    d.date = Some(if fault == "invalid-record" && n == 4 {
        Date::ymd(2024, 2, 31)
    } else {
        Date::ymd(2024, 3, 1 + n as u8)
    });
    d.amount = Some(500 + n as i64);
    Item::new(format!("A-{n:03}"), d)
}

struct Broken;

impl Connector for Broken {
    type Config = Config;

    fn spec() -> ConnectorSpec {
        ConnectorSpec::new(
            "acceptance-broken",
            "0.1.0",
            "Ten aid records from memory, with a fault chosen by the configuration",
            r#"{"type": "object", "required": ["fault"], "properties": {"fault": {"enum": ["none", "stuck-state", "boundary-duplicate", "invalid-record", "leaky-log"]}}, "additionalProperties": false}"#,
            vec![StreamInfo::new("aid", EntityKind::Distribution, &["id"], Some("id"), "Aid records")],
        )
    }

    fn check(config: &Config) -> Result<(), ConnectorError> {
        if FAULTS.contains(&config.fault.as_str()) {
            Ok(())
        } else {
            Err(ConnectorError::bad_config(format!("fault: one of {}", FAULTS.join(", "))))
        }
    }

    fn read(config: &Config, _stream: &str, state: Option<&str>) -> Result<Batch, ConnectorError> {
        Self::check(config)?;
        let fault = config.fault.as_str();
        let checkpoint: Checkpoint = state::load(state)?;
        let start = checkpoint.after;
        let end = (start + PAGE).min(TOTAL);
        let mut batch = Batch::new();
        for n in start..end {
            let item = record(n, fault);
            if fault == "leaky-log"
                && let Entity::Distribution(d) = &item.entity
                && let Some(p) = &d.household
            {
                log::info(format!("read the aid of household {}", p.local_id));
            }
            batch.items.push(item);
        }
        let next = match fault {
            "stuck-state" if state.is_some() => start,
            // The inclusive cursor: the next page starts at the last record of this one.
            "boundary-duplicate" if end < TOTAL => end - 1,
            _ => end,
        };
        batch.state = Some(state::save(&Checkpoint { after: next })?);
        batch.more = end < TOTAL;
        log::info(format!("{} records", batch.items.len()));
        Ok(batch)
    }
}

vivres_sdk::export_connector!(Broken);
