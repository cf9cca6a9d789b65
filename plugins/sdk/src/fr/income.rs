//! Monthly income bands: only bands are ever stored, never amounts.
//! `<300` is below 300 €, `300-599` is 300 € up to but excluding 600 €, …,
//! `1200+`; a negative amount (a negative *reste à vivre*) is `<300`.

use super::parse_cents;
use super::{ParseError, Parsed, is_missing};
use crate::model::IncomeBand;

/// The band of a monthly amount in cents.
pub fn income_band(cents: i64) -> IncomeBand {
    match cents {
        i64::MIN..30_000 => IncomeBand::Below300,
        30_000..60_000 => IncomeBand::From300to599,
        60_000..90_000 => IncomeBand::From600to899,
        90_000..120_000 => IncomeBand::From900to1199,
        _ => IncomeBand::From1200,
    }
}

/// A band label (`<300`, `300-599`, `300 à 599 €`, `1200+`, `>= 1200`) or an
/// amount (`845,50 €`, `-120`) turned into its band.
pub fn parse_income_band(s: &str) -> Result<Parsed<IncomeBand>, ParseError> {
    if is_missing(s) {
        return Ok(Parsed::Missing);
    }
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '€')
        .collect::<String>()
        .to_lowercase()
        .replace('–', "-")
        .replace("à", "-")
        .replace("eur", "");
    let band = match compact.as_str() {
        "<300" | "0-299" | "0-300" => Some(IncomeBand::Below300),
        "300-599" | "300-600" => Some(IncomeBand::From300to599),
        "600-899" | "600-900" => Some(IncomeBand::From600to899),
        "900-1199" | "900-1200" => Some(IncomeBand::From900to1199),
        "1200+" | "+1200" | ">1200" | ">=1200" | "≥1200" | "1200etplus" => {
            Some(IncomeBand::From1200)
        }
        _ => None,
    };
    if let Some(b) = band {
        return Ok(Parsed::Value(b));
    }
    match parse_cents(s) {
        Ok(p) => Ok(p.map(income_band)),
        Err(_) => Err(ParseError::new("neither an income band nor an amount")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_of_amounts() {
        assert_eq!(income_band(-12_000), IncomeBand::Below300);
        assert_eq!(income_band(0), IncomeBand::Below300);
        assert_eq!(income_band(29_999), IncomeBand::Below300);
        assert_eq!(income_band(30_000), IncomeBand::From300to599);
        assert_eq!(income_band(59_999), IncomeBand::From300to599);
        assert_eq!(income_band(60_000), IncomeBand::From600to899);
        assert_eq!(income_band(90_000), IncomeBand::From900to1199);
        assert_eq!(income_band(119_999), IncomeBand::From900to1199);
        assert_eq!(income_band(120_000), IncomeBand::From1200);
    }

    #[test]
    fn labels_and_amounts() {
        let band = |s: &str| parse_income_band(s).unwrap().value().unwrap();
        assert_eq!(band("<300"), IncomeBand::Below300);
        assert_eq!(band("< 300 €"), IncomeBand::Below300);
        assert_eq!(band("300-599"), IncomeBand::From300to599);
        assert_eq!(band("300 à 599 €"), IncomeBand::From300to599);
        assert_eq!(band("600-899"), IncomeBand::From600to899);
        assert_eq!(band("900-1199"), IncomeBand::From900to1199);
        assert_eq!(band("1200+"), IncomeBand::From1200);
        assert_eq!(band(">= 1200"), IncomeBand::From1200);
        assert_eq!(band("845,50 €"), IncomeBand::From600to899);
        assert_eq!(band("599,99"), IncomeBand::From300to599);
        assert_eq!(band("1 250"), IncomeBand::From1200);
        assert_eq!(band("-120"), IncomeBand::Below300);
        assert_eq!(parse_income_band("NC"), Ok(Parsed::Missing));
        assert_eq!(parse_income_band("-"), Ok(Parsed::Missing));
        assert!(parse_income_band("beaucoup").is_err());
        assert!(parse_income_band("300-500").is_err());
    }
}
