//! The `Connector` trait and the glue that exports it through the bindings.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::bindings::exports::vivres::connector::connector::Guest;
use crate::model::{Batch, ConnectorError, ConnectorSpec, StreamInfo};

/// A connector: what a partner's tool offers and how to read it.
///
/// Every method is called in a fresh call from the host: keep nothing between
/// calls (the checkpoint travels in the batch's `state`).
pub trait Connector {
    /// The source's configuration, parsed from the JSON the coordinator wrote.
    /// A configuration that does not parse is reported as `bad-config` with
    /// serde's message (which names the field) before any method runs.
    type Config: DeserializeOwned;

    /// Name, version, description, JSON Schema of the configuration, streams.
    fn spec() -> ConnectorSpec;

    /// Can the partner be reached with this configuration? Default: yes.
    fn check(config: &Self::Config) -> Result<(), ConnectorError> {
        let _ = config;
        Ok(())
    }

    /// The streams this configuration offers. Default: those of [`Connector::spec`].
    fn discover(config: &Self::Config) -> Result<Vec<StreamInfo>, ConnectorError> {
        let _ = config;
        Ok(Self::spec().streams)
    }

    /// Pulls one batch of `stream`, starting from the checkpoint `state` the
    /// previous batch returned (`None` on a first sync). The host calls again
    /// while `batch.more` is true.
    fn read(
        config: &Self::Config,
        stream: &str,
        state: Option<&str>,
    ) -> Result<Batch, ConnectorError>;
}

/// Parses a connector configuration as `Connector::check`/`discover`/`read` get it.
pub fn parse_config<T: DeserializeOwned>(config: &str) -> Result<T, ConnectorError> {
    serde_json::from_str(config)
        .map_err(|e| ConnectorError::BadConfig(format!("configuration: {e}")))
}

/// Adapts a [`Connector`] to the generated `Guest` trait.
#[doc(hidden)]
pub struct Glue<C>(PhantomData<C>);

impl<C: Connector + 'static> Guest for Glue<C> {
    fn spec() -> ConnectorSpec {
        C::spec()
    }

    fn check(config: String) -> Result<(), ConnectorError> {
        C::check(&parse_config::<C::Config>(&config)?)
    }

    fn discover(config: String) -> Result<Vec<StreamInfo>, ConnectorError> {
        C::discover(&parse_config::<C::Config>(&config)?)
    }

    fn read(
        config: String,
        stream: String,
        state: Option<String>,
    ) -> Result<Batch, ConnectorError> {
        C::read(
            &parse_config::<C::Config>(&config)?,
            &stream,
            state.as_deref(),
        )
    }
}
