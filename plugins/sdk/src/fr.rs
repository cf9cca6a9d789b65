//! Helpers for French partner data: decimal commas, dates, postcodes,
//! encodings, income bands. Pure Rust, tested natively. Numbers, postcodes,
//! encodings and mojibake, labels and missing markers are the `vivres-fr`
//! crate's, which the hub uses too (rules in `plugins/FRENCH-DATA.md`); dates,
//! income bands and residences, which build the contract's types, are here.
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
mod postcode;

pub use date::{
    IsoWeek, date, days_from_civil, days_in_month, excel_serial_date, format_rfc3339_utc,
    parse_date, parse_iso_week, parse_rfc3339, weekday_from_monday,
};
#[cfg(feature = "geo")]
pub use geo::{ResidenceRefusal, check_residence};
pub use income::{income_band, parse_income_band};
pub use postcode::residence;
// The rules the hub applies too, from their one home (`crates/vivres-fr`).
pub use vivres_fr::parse_postcode as clean_postcode;
pub use vivres_fr::{
    ParseError, Parsed, Quantity, TextEncoding, decode_text, fold_label, is_missing, parse_cents,
    parse_decimal, parse_integer, parse_quantity, repair_mojibake,
};

use crate::model::Composition;

/// A household's composition from the partner's label, by the shared rule
/// (`vivres_fr::parse_composition`): `Personne seule`, `Couple avec enfants`,
/// `Famille monoparentale`, … A label outside the list is an error.
pub fn parse_composition(s: &str) -> Result<Parsed<Composition>, ParseError> {
    Ok(vivres_fr::parse_composition(s)?.map(|label| match label {
        "single" => Composition::Single,
        "couple-without-children" => Composition::CoupleWithoutChildren,
        "couple-with-children" => Composition::CoupleWithChildren,
        "single-parent" => Composition::SingleParent,
        _ => Composition::Other,
    }))
}
