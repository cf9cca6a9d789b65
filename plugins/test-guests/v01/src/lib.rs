//! A connector built against the frozen contract `vivres:connector@0.1.0`,
//! with its own bindings (the SDK follows the latest contract): the hub must
//! keep running it, through its adapter from 0.1 types to the latest.
//!
//! Config `{}`. Streams:
//! - `households`: three households of team `t1` from file `menages.csv`:
//!   `D1` living in 69003, `D2` in 99999 (the hub refuses it `unknown_postcode`:
//!   a 0.1 item has no line, so neither has its entry), and a reject of line 4;
//! - `aids`: one food voucher of 15 € for `D1` on 2024-03-15.
//!
//! `read` logs one line through the 0.1 `host` interface and asks the time.

wit_bindgen::generate!({
    path: "../../../wit/since_v0.1.0",
    world: "connector-plugin",
});

use exports::vivres::connector::connector::Guest;
use vivres::connector::host;
use vivres::connector::types::*;

const ORIGIN: &str = "menages.csv";

struct V01;

fn stream(name: &str, entity: EntityKind, description: &str) -> StreamInfo {
    StreamInfo {
        name: name.into(),
        entity,
        primary_key: vec!["dossier".into()],
        cursor_field: None,
        description: description.into(),
    }
}

fn household(dossier: &str, postcode: &str) -> Item {
    Item {
        key: format!("t1|{dossier}"),
        origin: Some(ORIGIN.into()),
        entity: Entity::Household(Household {
            person: PersonId {
                scope: "t1".into(),
                local_id: dossier.into(),
            },
            size: Some(2),
            adults: Some(1),
            children: Some(1),
            composition: Some(Composition::SingleParent),
            residence: Some(Location {
                postcode: Some(postcode.into()),
                commune: None,
                insee: None,
            }),
            income: Some(IncomeBand::From600to899),
            reste_a_vivre: None,
            rights_from: None,
            rights_to: None,
            monthly_cap: None,
            enrolment: None,
        }),
    }
}

impl Guest for V01 {
    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            name: "v01-guest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A connector built against contract 0.1.0".into(),
            config_schema: r#"{"type": "object"}"#.into(),
            streams: vec![
                stream("households", EntityKind::Household, "Households"),
                stream("aids", EntityKind::Distribution, "Aids"),
            ],
        }
    }

    fn check(_config: String) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn discover(_config: String) -> Result<Vec<StreamInfo>, ConnectorError> {
        Ok(Self::spec().streams)
    }

    fn read(
        _config: String,
        stream: String,
        _state: Option<String>,
    ) -> Result<Batch, ConnectorError> {
        let now = host::now();
        host::log(
            host::LogLevel::Info,
            &format!("v01 guest reading {stream} (clock {})", now > 0),
        );
        let mut batch = Batch {
            items: Vec::new(),
            rejects: Vec::new(),
            state: Some("{}".into()),
            replace_origins: vec![ORIGIN.into()],
            more: false,
        };
        match stream.as_str() {
            "households" => {
                batch.items.push(household("D1", "69003"));
                batch.items.push(household("D2", "99999"));
                batch.rejects.push(Reject {
                    key: None,
                    origin: Some(ORIGIN.into()),
                    line: Some(4),
                    reason: RejectReason::MissingRequired,
                    field: "dossier".into(),
                    detail: "no dossier number".into(),
                    raw: b"line 4".to_vec(),
                });
            }
            "aids" => batch.items.push(Item {
                key: "t1|D1|2024-03-15|food-voucher".into(),
                origin: Some(ORIGIN.into()),
                entity: Entity::Distribution(Distribution {
                    household: Some(PersonId {
                        scope: "t1".into(),
                        local_id: "D1".into(),
                    }),
                    household_key: Some("t1|D1".into()),
                    site: Some("t1".into()),
                    date: Some(Date {
                        year: 2024,
                        month: 3,
                        day: 15,
                    }),
                    week: None,
                    kind: AidKind::FoodVoucher,
                    label: None,
                    status: Some(DistributionStatus::Given),
                    amount: Some(1500),
                    quantity_kg: None,
                    contents: None,
                    ordinal: 1,
                }),
            }),
            other => {
                return Err(ConnectorError::BadConfig(format!(
                    "unknown stream `{other}`"
                )));
            }
        }
        Ok(batch)
    }
}

export!(V01);
