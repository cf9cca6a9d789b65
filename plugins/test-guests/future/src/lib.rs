//! A connector built against `vivres:connector@0.9.0`, a contract version
//! no hub released (`wit/` here is 0.2.0 renamed): a plugin written for a
//! newer hub. Otherwise well-formed, it would run; the hub must refuse it
//! by its version, before running any of its code.
//!
//! Config `{}`; one stream `events` with one batch of nothing. It imports
//! the host interface of its own version (it logs and asks the time), so
//! both its imports and its exports carry the unknown version.

wit_bindgen::generate!({
    path: "wit",
    world: "connector-plugin",
});

use exports::vivres::connector::connector::Guest;
use vivres::connector::host;
use vivres::connector::types::*;

struct Future;

impl Guest for Future {
    fn spec() -> ConnectorSpec {
        host::log(host::LogLevel::Info, "future guest: spec");
        ConnectorSpec {
            name: "future-guest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A connector built against contract 0.9.0".into(),
            config_schema: r#"{"type": "object"}"#.into(),
            streams: vec![StreamInfo {
                name: "events".into(),
                entity: EntityKind::Participation,
                primary_key: vec!["id".into()],
                cursor_field: None,
                description: "Nothing".into(),
            }],
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
        _stream: String,
        _state: Option<String>,
    ) -> Result<Batch, ConnectorError> {
        host::log(
            host::LogLevel::Warn,
            &format!("future guest ran its read (clock {})", host::now()),
        );
        Ok(Batch {
            items: Vec::new(),
            rejects: Vec::new(),
            state: None,
            replace_origins: Vec::new(),
            more: false,
        })
    }
}

export!(Future);
