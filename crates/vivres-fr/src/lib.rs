//! French partner data, one set of rules for the hub (`hub/src/geo.rs`) and the
//! connectors' SDK (`vivres_sdk::fr`), written down in `plugins/FRENCH-DATA.md`
//! and followed by the Python SDK; `cases.json` is the table of cases all three
//! run. `std` only, so that it builds natively and for `wasm32-wasip2`.
//!
//! Parsers return `Ok(Parsed::Value(_))`, `Ok(Parsed::Missing)` for an empty
//! cell or a missing marker ([`is_missing`]), and `Err(ParseError)` for a value
//! that is there but unreadable: the record then goes to quarantine, it is
//! never guessed. A [`ParseError`]'s message never repeats the value (it may be
//! personal), so it can go into a reject's `detail` as is.

pub mod composition;
pub mod names;
pub mod number;
pub mod postcode;
pub mod quantity;
pub mod text;

pub use composition::parse_composition;
pub use names::{given_text, name_key};
pub use number::{parse_cents, parse_decimal, parse_integer};
pub use postcode::{CleanPostcode, Code5, clean_postcode, parse_postcode};
pub use quantity::{Quantity, parse_quantity};
pub use text::{TextEncoding, decode_text, fold_label, repair_mojibake};

use std::fmt;

/// A cell's value, or the partner's way of saying there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<T> {
    Value(T),
    Missing,
}

impl<T> Parsed<T> {
    /// `Some(value)`, or `None` when missing.
    pub fn value(self) -> Option<T> {
        match self {
            Parsed::Value(v) => Some(v),
            Parsed::Missing => None,
        }
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, Parsed::Missing)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        match self {
            Parsed::Value(v) => Parsed::Value(f(v)),
            Parsed::Missing => Parsed::Missing,
        }
    }
}

/// Why a value could not be read. The message never contains the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    message: String,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// Is this cell empty or one of the partners' missing markers, once trimmed:
/// `NC`, `N/C`, `N.C.`, `NR` (any case), `?`, `-`, `–`, `—`?
pub fn is_missing(s: &str) -> bool {
    let t = s.trim();
    t.is_empty()
        || ["nc", "n/c", "n.c.", "nr"]
            .iter()
            .any(|m| t.eq_ignore_ascii_case(m))
        || matches!(t, "?" | "-" | "–" | "—")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_markers() {
        for s in [
            "", "  ", "NC", "nc", "N/C", "N.C.", "NR", "?", "-", " - ", "\u{a0}", "—",
        ] {
            assert!(is_missing(s), "{s:?}");
        }
        for s in ["0", "x", "-1", "N"] {
            assert!(!is_missing(s), "{s:?}");
        }
    }

    #[test]
    fn parsed_helpers() {
        assert_eq!(Parsed::Value(3).value(), Some(3));
        assert_eq!(Parsed::<u8>::Missing.value(), None);
        assert!(Parsed::<u8>::Missing.is_missing());
        assert_eq!(Parsed::Value(2).map(|v| v * 2), Parsed::Value(4));
    }
}
