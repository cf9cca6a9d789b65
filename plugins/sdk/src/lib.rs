//! Vivres guest SDK: everything a connector plugin needs, without the bindings.
//!
//! ```ignore
//! use vivres_sdk::{Connector, ConnectorError, model::*};
//!
//! struct MyConnector;
//! impl Connector for MyConnector {
//!     type Config = MyConfig; // serde::Deserialize
//!     fn spec() -> ConnectorSpec { /* name, version, config schema, streams */ }
//!     fn read(config: &MyConfig, stream: &str, state: Option<&str>) -> Result<Batch, ConnectorError> { /* one batch */ }
//! }
//! vivres_sdk::export_connector!(MyConnector);
//! ```
//!
//! The pure helpers (`fr`, `http` URL building and status mapping, `state`) work
//! on any target, so connectors unit-test their parsing natively with `cargo test`.

/// Generated from the frozen contract (`vivres:connector@0.2.0`). Connectors never name it: use [`model`]
/// and the functions of this crate. It is public only for `export_connector!`.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.2.0",
        world: "connector-plugin",
        pub_export_macro: true,
        default_bindings_module: "vivres_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

mod connector;
pub mod csv;
pub mod csv_inbox;
pub mod dfc;
pub mod fr;
mod host;
pub mod http;
pub mod inbox;
pub mod log;
pub mod model;
pub mod sites;
pub mod state;
/// Native test helpers for connector crates (a temporary inbox, a batch driver, the resume check).
pub mod testing;
#[cfg(feature = "xlsx")]
pub mod xlsx;

pub use connector::Connector;
pub use host::{inbox_dir, now, secret};
pub use model::{ConnectorError, Unavailable};
/// The JSON crate the SDK uses, so that a connector needs no other
/// dependency than this SDK and serde (`vivres_sdk::serde_json::Value`).
pub use serde_json;

/// Everything a connector names, in one `use vivres_sdk::prelude::*;`:
/// the trait, the model, HTTP, the inbox and CSV readers, checkpoints and logging.
pub mod prelude {
    pub use crate::csv::{CsvError, CsvReader, Header, Record, ResumePoint};
    pub use crate::http::{self, HttpError, Request, Response};
    pub use crate::inbox::{self, FileCheckpoint, FileProgress, InboxFile};
    pub use crate::model::*;
    pub use crate::{Connector, fr, inbox_dir, log, now, secret, state};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::connector::Glue;
}

/// Exports a [`Connector`] implementation as the plugin's `connector` interface.
/// Call it once, at the root of the connector crate.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[doc(hidden)]
        type __VivresConnectorGlue = $crate::__private::Glue<$connector>;
        $crate::bindings::export!(__VivresConnectorGlue with_types_in $crate::bindings);
    };
}
