//! Cocagne gardens: basket subscriptions and deliveries from a garden's
//! basket-management tool (HTTP JSON API v2, partners §1).
//!
//! Streams, both incremental on `updated_at`, one API page per batch:
//! - `subscriptions` → households with their basket enrolment;
//! - `deliveries` → basket distributions, pointing at their subscription.
//!
//! And from the source's inbox (files, no API):
//! - `pathways` → work-integration (IAE) pathways from the extranet's
//!   `parcours_iae_<jardin>_<yyyy>.csv` exports (see [`pathways`]).
//!
//! And, when `garden_insee` gives the garden's commune:
//! - `sites` → the garden as a site (the hub adds its EPCI).
//!
//! `member_name` is never read (it is not even deserialised), nor is `Nom`.

mod config;
mod mapping;
pub mod pathways;
mod sync;

use vivres_sdk::model::{Batch, ConnectorError, ConnectorSpec, EntityKind, SiteKind, StreamInfo};
use vivres_sdk::sites::{self, SiteSetting};
use vivres_sdk::{Connector, log, state};

pub use config::Config;
use sync::{Page, State, Stream};

struct CocagneGardens;

impl Connector for CocagneGardens {
    type Config = Config;

    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            name: "cocagne-gardens".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Réseau Cocagne gardens: basket subscriptions and deliveries from the garden's basket-management API (v2)".into(),
            config_schema: config::SCHEMA.into(),
            streams: vec![
                StreamInfo::new(
                    "subscriptions",
                    EntityKind::Household,
                    &["id"],
                    Some("updated_at"),
                    "Basket subscriptions: the household (member number pseudonymised by the hub), its size and residence, and its enrolment (formula, solidarity basket, price paid and full price, prescriber, dates, drop point)",
                ),
                StreamInfo::new(
                    "deliveries",
                    EntityKind::Distribution,
                    &["id"],
                    Some("updated_at"),
                    "Weekly basket deliveries: subscription, ISO week (dated its Monday), status, weight and contents",
                ),
                StreamInfo::new(
                    "pathways",
                    EntityKind::Pathway,
                    &["garden", "Matricule", "Date entrée"],
                    None,
                    "Work-integration (IAE) pathways from the extranet's parcours_iae_<jardin>_<yyyy>.csv files in the source's inbox: worker (matricule pseudonymised by the hub), entry and exit dates, weekly and training hours, exit label and category",
                ),
                sites::stream_info("garden (`garden`, its commune from `garden_insee`)"),
            ],
        }
    }

    /// The API streams always; `pathways` only when the source has an inbox
    /// (the IAE files come from there), so an API-only source syncs cleanly;
    /// `sites` only when `garden_insee` gives the garden's commune.
    fn discover(config: &Config) -> Result<Vec<StreamInfo>, ConnectorError> {
        let has_inbox = vivres_sdk::inbox_dir().is_some();
        Ok(Self::spec()
            .streams
            .into_iter()
            .filter(|s| s.name != "pathways" || has_inbox)
            .filter(|s| s.name != sites::STREAM || config.garden_insee.is_some())
            .collect())
    }

    fn check(config: &Config) -> Result<(), ConnectorError> {
        let token = token(config)?;
        let request =
            sync::page_request(config, Stream::Subscriptions, &State::default(), &token, 1);
        let _: Page = request.send()?.json()?;
        Ok(())
    }

    fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Batch, ConnectorError> {
        if stream == sites::STREAM {
            return Ok(sites::read(&garden_site(config)?, SiteKind::Garden));
        }
        if stream == "pathways" {
            let batch = pathways::read(&config.garden, state)?;
            log::info(format!(
                "pathways: {} items, {} rejected, more: {}",
                batch.items.len(),
                batch.rejects.len(),
                batch.more
            ));
            return Ok(batch);
        }
        let stream = Stream::from_name(stream)?;
        let state: State = state::load(state)?;
        let token = token(config)?;
        let request = sync::page_request(config, stream, &state, &token, config.page_size);
        let page: Page = request.send()?.json()?;
        let batch = sync::next_batch(&config.garden, stream, &state, page)?;
        log::info(format!(
            "{}: {} items, {} rejected, more: {}",
            stream.name(),
            batch.items.len(),
            batch.rejects.len(),
            batch.more
        ));
        Ok(batch)
    }
}

/// The garden as a site with its commune (`garden_insee`).
fn garden_site(config: &Config) -> Result<Vec<SiteSetting>, ConnectorError> {
    let insee = config.garden_insee.clone().ok_or_else(|| {
        ConnectorError::bad_config("garden_insee: required by the `sites` stream")
    })?;
    Ok(vec![SiteSetting {
        id: config.garden.clone(),
        insee,
        name: None,
    }])
}

fn token(config: &Config) -> Result<String, ConnectorError> {
    vivres_sdk::secret(&config.token_secret).ok_or_else(|| {
        ConnectorError::bad_config(format!(
            "token_secret: the source has no secret named `{}`",
            config.token_secret
        ))
    })
}

vivres_sdk::export_connector!(CocagneGardens);

#[cfg(test)]
mod tests {
    use super::*;
    use vivres_sdk::http::Request;

    fn request_for_tests(config: &Config, stream: Stream, state: &State) -> Request {
        sync::page_request(config, stream, state, "t0k", config.page_size)
    }

    #[test]
    fn spec_lists_the_streams_and_a_valid_schema() {
        let spec = CocagneGardens::spec();
        let names: Vec<&str> = spec.streams.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["subscriptions", "deliveries", "pathways", "sites"]);
        assert!(
            spec.streams[..2]
                .iter()
                .all(|s| s.cursor_field.as_deref() == Some("updated_at"))
        );
        assert_eq!(spec.streams[2].cursor_field, None);
        let schema: serde_json::Value = serde_json::from_str(&spec.config_schema).unwrap();
        assert_eq!(
            schema["required"],
            serde_json::json!(["base_url", "token_secret", "garden"])
        );
    }

    #[test]
    fn first_request_has_no_cursor_nor_since() {
        let config: Config = serde_json::from_str(
            r#"{"base_url": "http://127.0.0.1:4000/jardin-lyon/", "token_secret": "cocagne_token", "garden": "jardin-lyon", "page_size": 100}"#,
        )
        .unwrap();
        let r = request_for_tests(&config, Stream::Deliveries, &State::default());
        assert_eq!(
            r.url,
            "http://127.0.0.1:4000/jardin-lyon/api/v2/deliveries?limit=100"
        );
        assert!(
            r.headers
                .contains(&("Authorization".into(), "Bearer t0k".into()))
        );
        let state = State {
            updated_since: Some("2024-03-18T09:00:00+01:00".into()),
            cursor: Some("c/2==".into()),
            max_seen: None,
        };
        let r = request_for_tests(&config, Stream::Subscriptions, &state);
        assert_eq!(
            r.url,
            "http://127.0.0.1:4000/jardin-lyon/api/v2/subscriptions?updated_since=2024-03-18T09%3A00%3A00%2B01%3A00&cursor=c%2F2%3D%3D&limit=100"
        );
    }
}
