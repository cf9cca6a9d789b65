//! Into the run's log. The host redacts secrets, but never log a personal value
//! (names, member numbers, addresses, free-text comments): log counts and keys.

use crate::bindings::vivres::connector::host::LogLevel;
use crate::host;

pub fn trace(message: impl AsRef<str>) {
    host::log(LogLevel::Trace, message.as_ref());
}

pub fn debug(message: impl AsRef<str>) {
    host::log(LogLevel::Debug, message.as_ref());
}

pub fn info(message: impl AsRef<str>) {
    host::log(LogLevel::Info, message.as_ref());
}

pub fn warn(message: impl AsRef<str>) {
    host::log(LogLevel::Warn, message.as_ref());
}

pub fn error(message: impl AsRef<str>) {
    host::log(LogLevel::Error, message.as_ref());
}
