//! Vivres: the data-integration hub of Territoires à VivreS.
//!
//! Data flows one way: cli, api and scheduler → sync → plugin_host and warehouse.

pub mod acceptance;
pub mod api;
pub mod app;
pub mod auth;
#[cfg(feature = "demo")]
pub mod bench;
pub mod cli;
pub mod config;
pub mod console;
#[cfg(feature = "demo")]
pub mod demo;
pub mod export;
pub mod geo;
pub mod inbox;
pub mod indicators;
pub mod model;
pub mod plugin_host;
pub mod privacy;
pub mod report;
pub mod scaffold;
pub mod scheduler;
pub mod serve;
pub mod sync;
pub mod warehouse;

pub use app::Hub;
