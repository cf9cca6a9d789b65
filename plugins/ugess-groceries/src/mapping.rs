//! Rows of the UGESS till exports and card registers (partners §5).
//!
//! `N° carte` goes only into a `PersonId` scoped to the grocery (and into
//! record keys, which the hub hashes).

use vivres_sdk::csv::{CsvError, Header, Record};
use vivres_sdk::dfc;
use vivres_sdk::fr::{self, Parsed, Quantity};
use vivres_sdk::model::*;

pub const DATE: &str = "Date";
pub const TIME: &str = "Heure";
pub const CARD: &str = "N° carte";
pub const ARTICLE: &str = "Article";
pub const QUANTITY: &str = "Qté";
pub const UNIT: &str = "Unité";
pub const PUBLIC_PRICE: &str = "PU public";
pub const PAID_PRICE: &str = "PU payé";
pub const DISCOUNT: &str = "Remise %";
pub const TOTAL: &str = "Total";
pub const COMPOSITION: &str = "Composition";
pub const POSTCODE: &str = "CP";
pub const RIGHTS_FROM: &str = "Droits du";
pub const RIGHTS_TO: &str = "Droits au";
pub const CAP: &str = "Plafond mensuel";

/// A refused row: reason, field (a column name), detail without the value.
pub type Refusal = (RejectReason, &'static str, String);

fn refuse(reason: RejectReason, field: &'static str, detail: impl Into<String>) -> Refusal {
    (reason, field, detail.into())
}

fn req(h: &Header, name: &str) -> Result<usize, (String, CsvError)> {
    h.require(name).map_err(|e| (name.to_string(), e))
}

/// Columns of a `ventes_…` file.
#[derive(Debug, Clone, Copy)]
pub struct SaleColumns {
    date: usize,
    time: Option<usize>,
    card: usize,
    article: usize,
    quantity: usize,
    unit: Option<usize>,
    public_price: Option<usize>,
    paid_price: Option<usize>,
    discount: Option<usize>,
    total: Option<usize>,
}

impl SaleColumns {
    pub fn find(h: &Header) -> Result<SaleColumns, (String, CsvError)> {
        Ok(SaleColumns {
            date: req(h, DATE)?,
            card: req(h, CARD)?,
            article: req(h, ARTICLE)?,
            quantity: req(h, QUANTITY)?,
            time: h.index(TIME),
            unit: h.index(UNIT),
            public_price: h.index(PUBLIC_PRICE),
            paid_price: h.index(PAID_PRICE),
            discount: h.index(DISCOUNT),
            total: h.index(TOTAL),
        })
    }
}

/// Columns of a `beneficiaires_…` file.
#[derive(Debug, Clone, Copy)]
pub struct CardColumns {
    card: usize,
    composition: Option<usize>,
    postcode: Option<usize>,
    rights_from: Option<usize>,
    rights_to: Option<usize>,
    cap: Option<usize>,
}

impl CardColumns {
    pub fn find(h: &Header) -> Result<CardColumns, (String, CsvError)> {
        Ok(CardColumns {
            card: req(h, CARD)?,
            composition: h.index(COMPOSITION),
            postcode: h.index_any(&[POSTCODE, "Code postal"]),
            rights_from: h.index(RIGHTS_FROM),
            rights_to: h.index(RIGHTS_TO),
            cap: h.index(CAP),
        })
    }
}

fn card(r: &Record, i: usize) -> Result<&str, Refusal> {
    let c = r.get(i);
    if fr::is_missing(c) {
        return Err(refuse(
            RejectReason::MissingRequired,
            CARD,
            "no card number",
        ));
    }
    Ok(c)
}

/// `HH:MM:SS` from `14:05`, `14:05:09`, `9:05`, `14h05`.
pub fn parse_time(s: &str) -> Result<Option<String>, Refusal> {
    if fr::is_missing(s) {
        return Ok(None);
    }
    let bad = || refuse(RejectReason::InvalidDate, TIME, "not a time (HH:MM[:SS])");
    let t = s.trim().to_lowercase().replace('h', ":");
    let t = t.strip_suffix(':').unwrap_or(&t);
    let parts: Vec<&str> = t.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let mut v = [0u32; 3];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        v[i] = p.parse().map_err(|_| bad())?;
    }
    if v[0] > 23 || v[1] > 59 || v[2] > 59 {
        return Err(bad());
    }
    Ok(Some(format!("{:02}:{:02}:{:02}", v[0], v[1], v[2])))
}

/// `Qté × price` in cents, rounded half away from zero.
fn times(q: f64, cents: i64) -> i64 {
    (q * cents as f64).round() as i64
}

/// A quantity as it goes into keys: `2`, `1.5`, `-1`.
fn quantity_key(q: f64) -> String {
    let r = (q * 1e6).round() / 1e6;
    if r == 0.0 { "0".into() } else { format!("{r}") }
}

/// One till line → an order line (channel grocery). Key:
/// `grocery|yyyy-mm-dd|HH:MM:SS (or ?)|card|article|quantity`.
pub fn sale(c: &SaleColumns, r: &Record, grocery: &str) -> Result<Item, Refusal> {
    let card = card(r, c.card)?;
    let date = match fr::parse_date(r.get(c.date)) {
        Ok(Parsed::Value(d)) => d,
        Ok(Parsed::Missing) => return Err(refuse(RejectReason::MissingRequired, DATE, "no date")),
        Err(e) => return Err(refuse(RejectReason::InvalidDate, DATE, e.message())),
    };
    let time = parse_time(r.get_opt(c.time))?;
    let article = fr::repair_mojibake(r.get(c.article)).into_owned();
    if fr::is_missing(&article) {
        return Err(refuse(RejectReason::MissingRequired, ARTICLE, "no article"));
    }
    let q = match fr::parse_quantity(r.get(c.quantity)) {
        Ok(Parsed::Value(q)) => q,
        Ok(Parsed::Missing) => {
            return Err(refuse(
                RejectReason::MissingRequired,
                QUANTITY,
                "no quantity",
            ));
        }
        Err(e) => return Err(refuse(RejectReason::InvalidQuantity, QUANTITY, e.message())),
    };
    let unit = q.unit.clone().or_else(|| {
        let u = r.get_opt(c.unit);
        if fr::is_missing(u) {
            return None;
        }
        match fr::parse_quantity(&format!("1 {u}")) {
            Ok(Parsed::Value(Quantity { unit: Some(n), .. })) => Some(n),
            _ => Some(u.to_string()),
        }
    });
    // `PU public`: `Don BA` or 0 is a food-bank donation.
    let public = r.get_opt(c.public_price);
    let folded = fr::fold_label(public);
    let (donation, unit_reference) = if folded.starts_with("don") {
        (true, Some(0))
    } else {
        match fr::parse_cents(public) {
            Ok(Parsed::Value(v)) if v < 0 => {
                return Err(refuse(
                    RejectReason::InvalidAmount,
                    PUBLIC_PRICE,
                    "negative price",
                ));
            }
            Ok(Parsed::Value(0)) => (true, Some(0)),
            Ok(p) => (false, p.value()),
            Err(e) => {
                return Err(refuse(
                    RejectReason::InvalidAmount,
                    PUBLIC_PRICE,
                    e.message(),
                ));
            }
        }
    };
    // `PU payé` is secondary: unreadable beside a good `Total`, it is unknown.
    let paid_unit = fr::parse_cents(r.get_opt(c.paid_price));
    let total = match fr::parse_cents(r.get_opt(c.total)) {
        Ok(p) => p.value(),
        Err(e) => return Err(refuse(RejectReason::InvalidAmount, TOTAL, e.message())),
    };
    let unit_price_paid = match (&paid_unit, total) {
        (Ok(p), _) => p.value(),
        (Err(_), Some(_)) => None,
        (Err(e), None) => return Err(refuse(RejectReason::InvalidAmount, PAID_PRICE, e.message())),
    };
    let price_paid = total.or_else(|| unit_price_paid.map(|u| times(q.value, u)));
    let discount = fr::parse_decimal(r.get_opt(c.discount).trim_end_matches('%'))
        .ok()
        .and_then(Parsed::value);
    let line = OrderLine {
        household: Some(PersonId::new(grocery, card)),
        site: Some(grocery.to_string()),
        channel: Channel::Grocery,
        date: Some(date),
        time: time.clone(),
        month: None,
        product: article.clone(),
        dfc_type: dfc::classify(&article).to_string(),
        quantity: q.value,
        unit,
        unit_price_paid,
        unit_reference_price: unit_reference,
        price_paid,
        reference_price: unit_reference.map(|u| if donation { 0 } else { times(q.value, u) }),
        discount_percent: discount,
        food_bank_donation: donation,
        residence: None,
    };
    let key = format!(
        "{grocery}|{:04}-{:02}-{:02}|{}|{card}|{article}|{}",
        date.year,
        date.month,
        date.day,
        time.as_deref().unwrap_or("?"),
        quantity_key(q.value)
    );
    Ok(Item::new(key, Entity::OrderLine(line)))
}

fn composition(s: &str) -> Result<(Option<Composition>, Option<u32>), Refusal> {
    if fr::is_missing(s) {
        return Ok((None, None));
    }
    if let Ok(Parsed::Value(n)) = fr::parse_integer(
        s.trim()
            .trim_end_matches("personnes")
            .trim_end_matches("personne"),
    ) {
        return u32::try_from(n)
            .ok()
            .filter(|n| (1..=30).contains(n))
            .map(|n| (None, Some(n)))
            .ok_or_else(|| {
                refuse(
                    RejectReason::InvalidQuantity,
                    COMPOSITION,
                    "household size out of range",
                )
            });
    }
    let composition = fr::parse_composition(s)
        .map_err(|e| refuse(RejectReason::UnknownLabel, COMPOSITION, e.message()))?;
    Ok((composition.value(), None))
}

fn opt_date(s: &str, field: &'static str) -> Result<Option<Date>, Refusal> {
    fr::parse_date(s)
        .map(Parsed::value)
        .map_err(|e| refuse(RejectReason::InvalidDate, field, e.message()))
}

/// One card of the register → a household keyed `grocery|card`.
pub fn card_holder(c: &CardColumns, r: &Record, grocery: &str) -> Result<Item, Refusal> {
    let card = card(r, c.card)?;
    let mut h = Household::new(PersonId::new(grocery, card));
    (h.composition, h.size) = composition(r.get_opt(c.composition))?;
    h.residence = fr::residence(Some(r.get_opt(c.postcode)), None)
        .map_err(|e| refuse(RejectReason::UnknownPostcode, POSTCODE, e.message()))?;
    h.rights_from = opt_date(r.get_opt(c.rights_from), RIGHTS_FROM)?;
    h.rights_to = opt_date(r.get_opt(c.rights_to), RIGHTS_TO)?;
    if let (Some(a), Some(b)) = (h.rights_from, h.rights_to)
        && (b.year, b.month, b.day) < (a.year, a.month, a.day)
    {
        return Err(refuse(
            RejectReason::InconsistentDates,
            RIGHTS_TO,
            "rights end before they start",
        ));
    }
    h.monthly_cap = match fr::parse_cents(r.get_opt(c.cap)) {
        Ok(Parsed::Value(v)) if v < 0 => {
            return Err(refuse(RejectReason::InvalidAmount, CAP, "negative cap"));
        }
        Ok(p) => p.value(),
        Err(e) => return Err(refuse(RejectReason::InvalidAmount, CAP, e.message())),
    };
    h.enrolment = Some(Enrolment {
        site: Some(grocery.to_string()),
        start: h.rights_from,
        end: h.rights_to,
        ..Enrolment::new("grocery")
    });
    Ok(Item::new(format!("{grocery}|{card}"), Entity::Household(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time("14:05"), Ok(Some("14:05:00".into())));
        assert_eq!(parse_time("9:05:07"), Ok(Some("09:05:07".into())));
        assert_eq!(parse_time("14h05"), Ok(Some("14:05:00".into())));
        assert_eq!(parse_time(""), Ok(None));
        for s in ["25:00", "14", "14:5x", "14:60"] {
            assert!(parse_time(s).is_err(), "{s}");
        }
    }

    #[test]
    fn quantity_keys() {
        assert_eq!(quantity_key(2.0), "2");
        assert_eq!(quantity_key(1.5), "1.5");
        assert_eq!(quantity_key(-1.0), "-1");
        assert_eq!(quantity_key(0.1 + 0.2), "0.3");
    }

    #[test]
    fn compositions() {
        assert_eq!(
            composition("Couple avec enfants"),
            Ok((Some(Composition::CoupleWithChildren), None))
        );
        assert_eq!(composition("3"), Ok((None, Some(3))));
        assert_eq!(composition("NC"), Ok((None, None)));
        assert_eq!(
            composition("Tribu").unwrap_err().0,
            RejectReason::UnknownLabel
        );
    }
}
