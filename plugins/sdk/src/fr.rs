//! Helpers for French partner data: decimal commas, dates, postcodes,
//! encodings, income bands. Pure Rust, tested natively.
//!
//! Parsers return `Ok(Parsed::Value(_))`, `Ok(Parsed::Missing)` for an empty
//! cell or a missing marker (`NC`, `?`, `-`), and `Err(ParseError)` for a value
//! that is there but unreadable: the record then goes to quarantine, it is never
//! guessed. A [`ParseError`]'s message never repeats the value (it may be personal),
//! so it can go into a reject's `detail` as is.

mod date;
#[cfg(feature = "geo")]
pub mod geo;
mod income;
mod number;
mod postcode;
mod quantity;
mod text;

pub use date::{
    IsoWeek, date, days_from_civil, days_in_month, excel_serial_date, format_rfc3339_utc,
    parse_date, parse_iso_week, parse_rfc3339, weekday_from_monday,
};
#[cfg(feature = "geo")]
pub use geo::{ResidenceRefusal, check_residence};
pub use income::{income_band, parse_income_band};
pub use number::{parse_cents, parse_decimal, parse_integer};
pub use postcode::{clean_postcode, residence};
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

/// Is this cell empty or one of the partners' missing markers
/// (`NC`, `N/C`, `?`, `-`, `–`, `—`), once trimmed?
pub fn is_missing(s: &str) -> bool {
    let t = s.trim();
    t.is_empty()
        || t.eq_ignore_ascii_case("nc")
        || t.eq_ignore_ascii_case("n/c")
        || matches!(t, "?" | "-" | "–" | "—")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_markers() {
        for s in ["", "  ", "NC", "nc", "N/C", "?", "-", " - ", "\u{a0}", "—"] {
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
