//! Household composition labels: the partners' words (accents, case and
//! spacing aside) into the warehouse's five labels. A label outside the list
//! is an error (the row goes to quarantine), never guessed.

use crate::{ParseError, Parsed, fold_label, is_missing};

/// The warehouse's labels, as the contract's `composition` enum names them.
pub const LABELS: [&str; 5] = [
    "single",
    "couple-without-children",
    "couple-with-children",
    "single-parent",
    "other",
];

/// `Personne seule` → `single`, `Couple avec enfants` → `couple-with-children`,
/// `Famille monoparentale` → `single-parent`, `Autre` → `other`.
pub fn parse_composition(s: &str) -> Result<Parsed<&'static str>, ParseError> {
    if is_missing(s) {
        return Ok(Parsed::Missing);
    }
    Ok(Parsed::Value(match fold_label(s).as_str() {
        "personne seule" | "seul" | "seule" | "isole" | "isolee" => "single",
        "couple sans enfant" | "couple sans enfants" => "couple-without-children",
        "couple avec enfant" | "couple avec enfants" => "couple-with-children",
        "famille monoparentale" | "monoparentale" | "parent isole" => "single-parent",
        "autre" => "other",
        _ => return Err(ParseError::new("composition outside the list")),
    }))
}
