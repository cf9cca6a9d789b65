//! One row of `accueils_<equipe>_<yyyy>.csv` (partners §3) → aids and a household.
//!
//! A row is refused or taken as a whole: [`row`] reads every cell both streams
//! use and gives the row's aids and household, or the one refusal that both
//! streams report (the same reason and field, in the same order of checks).
//! The residence is judged with the hub's own gazetteer rules
//! ([`fr::check_residence`]), so a row whose residence the hub would refuse
//! (an unknown postcode, a commune name alone borne by several communes) is
//! refused here, its aids with it.
//!
//! `Commentaire` is never looked at. `N° dossier` goes only into a `PersonId`
//! scoped to the team (and into record keys, which the hub hashes).

use vivres_sdk::csv::{CsvError, Header, Record};
use vivres_sdk::fr::{self, Parsed};
use vivres_sdk::model::*;

pub const DATE: &str = "Date passage";
pub const DOSSIER: &str = "N° dossier";
pub const TEAM: &str = "Equipe";
pub const COMPOSITION: &str = "Composition";
pub const ADULTS: &str = "Nb adultes";
pub const CHILDREN: &str = "Nb enfants";
pub const POSTCODE: &str = "CP";
pub const COMMUNE: &str = "Commune";
pub const INCOME: &str = "Ressources mensuelles";
pub const RESTE: &str = "Reste à vivre";
pub const AID_TYPE: &str = "Type aide";
pub const AMOUNT: &str = "Montant";

/// Column positions (`None`: the column is absent, every value missing).
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    date: usize,
    dossier: usize,
    team: Option<usize>,
    composition: Option<usize>,
    adults: Option<usize>,
    children: Option<usize>,
    postcode: Option<usize>,
    commune: Option<usize>,
    income: Option<usize>,
    reste: Option<usize>,
    aid_type: usize,
    amount: Option<usize>,
}

impl Columns {
    /// `Date passage`, `N° dossier` and `Type aide` are required; a file
    /// without them is malformed.
    pub fn find(h: &Header) -> Result<Columns, (String, CsvError)> {
        let req = |name: &str| h.require(name).map_err(|e| (name.to_string(), e));
        Ok(Columns {
            date: req(DATE)?,
            dossier: req(DOSSIER)?,
            aid_type: req(AID_TYPE)?,
            team: h.index(TEAM),
            composition: h.index(COMPOSITION),
            adults: h.index(ADULTS),
            children: h.index(CHILDREN),
            postcode: h.index_any(&[POSTCODE, "Code postal"]),
            commune: h.index_any(&[COMMUNE, "Ville"]),
            income: h.index_any(&[INCOME, "Ressources"]),
            reste: h.index(RESTE),
            amount: h.index(AMOUNT),
        })
    }
}

/// A refused row: reason, field (a column name), detail without the value.
pub type Refusal = (RejectReason, &'static str, String);

fn refuse(reason: RejectReason, field: &'static str, detail: impl Into<String>) -> Refusal {
    (reason, field, detail.into())
}

/// The row's team: its `Equipe` cell, else the team of the file name.
fn team<'a>(c: &Columns, r: &'a Record, file_team: &'a str) -> &'a str {
    let t = r.get_opt(c.team);
    if fr::is_missing(t) { file_team } else { t }
}

fn dossier<'a>(c: &Columns, r: &'a Record) -> Result<&'a str, Refusal> {
    let d = r.get(c.dossier);
    if fr::is_missing(d) {
        return Err(refuse(
            RejectReason::MissingRequired,
            DOSSIER,
            "no dossier number",
        ));
    }
    Ok(d)
}

/// The key of a household record: `team|dossier`.
pub fn household_key(team: &str, dossier: &str) -> String {
    format!("{team}|{dossier}")
}

/// A `Type aide` cell read: how many aids, of which kind, the label when it
/// says more than the kind, and the unit amount written in it (`chèque 15€`).
#[derive(Debug, Clone, PartialEq)]
pub struct AidType {
    pub count: u32,
    pub kind: AidKind,
    /// The kind's id in keys: `food-voucher`, …, or the folded label for `other`.
    pub key: String,
    pub label: Option<String>,
    pub unit_amount: Option<i64>,
}

fn kind_of(folded: &str) -> (AidKind, &'static str) {
    let has = |w: &str| {
        folded
            .split(|c: char| !c.is_alphanumeric())
            .any(|x| x == w || x.strip_suffix('s') == Some(w))
    };
    if has("cheque") || folded.contains("bon alimentaire") || folded.contains("bon d'achat") {
        (AidKind::FoodVoucher, "food-voucher")
    } else if has("carte") {
        (AidKind::PrepaidCard, "prepaid-card")
    } else if has("colis") {
        (AidKind::Parcel, "parcel")
    } else if has("repas") {
        (AidKind::Meal, "meal")
    } else if has("orientation") {
        (AidKind::Referral, "referral")
    } else {
        (AidKind::Other, "other")
    }
}

/// `Chèque alimentaire`, `Carte prépayée`, `Colis`, `Repas`, `Orientation`,
/// or free text such as `2 x chèque 15€` (two food vouchers of 15 €).
pub fn parse_aid_type(s: &str) -> Result<AidType, Refusal> {
    let text = fr::repair_mojibake(s.trim()).into_owned();
    if fr::is_missing(&text) {
        return Err(refuse(
            RejectReason::MissingRequired,
            AID_TYPE,
            "no aid type",
        ));
    }
    // The partners' own labels, as written (the common case, no folding).
    let exact = match text.as_str() {
        "Chèque alimentaire" => Some((AidKind::FoodVoucher, "food-voucher")),
        "Carte prépayée" => Some((AidKind::PrepaidCard, "prepaid-card")),
        "Colis" => Some((AidKind::Parcel, "parcel")),
        "Repas" => Some((AidKind::Meal, "meal")),
        "Orientation" => Some((AidKind::Referral, "referral")),
        _ => None,
    };
    if let Some((kind, id)) = exact {
        return Ok(AidType {
            count: 1,
            kind,
            key: id.to_string(),
            label: None,
            unit_amount: None,
        });
    }
    // `N x …`
    let mut count = 1;
    let mut rest = text.as_str();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        let after = rest[digits..].trim_start();
        if let Some(r) = after.strip_prefix(['x', 'X', '×', '*']).filter(|r| {
            r.starts_with(char::is_whitespace) || r.chars().next().is_some_and(char::is_alphabetic)
        }) {
            count = rest[..digits]
                .parse::<u32>()
                .map_err(|_| refuse(RejectReason::InvalidQuantity, AID_TYPE, "count too large"))?;
            if count == 0 || count > 100 {
                return Err(refuse(
                    RejectReason::InvalidQuantity,
                    AID_TYPE,
                    "count of aids out of range",
                ));
            }
            rest = r.trim();
        }
    }
    // A trailing amount: `15€`, `15,50 €`, `de 15 euros`.
    let mut unit_amount = None;
    let mut label = rest.trim();
    let money = label.ends_with('€') || {
        let tail = label.get(label.len().saturating_sub(5)..).unwrap_or("");
        let tail = tail.to_ascii_lowercase();
        tail.ends_with("euros") || tail.ends_with("eur")
    };
    if money {
        let without = label
            .trim_end_matches('€')
            .trim_end_matches("euros")
            .trim_end_matches("EUROS")
            .trim_end_matches("eur")
            .trim_end_matches("EUR")
            .trim_end();
        let start = without
            .char_indices()
            .rev()
            .take_while(|&(_, c)| {
                c.is_ascii_digit() || matches!(c, ',' | '.' | ' ' | '\u{a0}' | '\u{202f}')
            })
            .last()
            .map(|(i, _)| i);
        if let Some(i) = start {
            match fr::parse_cents(&without[i..]) {
                Ok(Parsed::Value(v)) if v >= 0 => {
                    unit_amount = Some(v);
                    label = without[..i].trim_end();
                    label = label.strip_suffix(" de").unwrap_or(label).trim_end();
                }
                _ => {
                    return Err(refuse(
                        RejectReason::InvalidAmount,
                        AID_TYPE,
                        "unreadable amount in the aid type",
                    ));
                }
            }
        }
    }
    let folded = fr::fold_label(label);
    let (kind, id) = kind_of(&folded);
    let exact = matches!(
        folded.as_str(),
        "cheque alimentaire" | "carte prepayee" | "colis" | "repas" | "orientation"
    ) && count == 1
        && unit_amount.is_none();
    Ok(AidType {
        count,
        kind,
        key: if kind == AidKind::Other {
            folded.clone()
        } else {
            id.to_string()
        },
        label: if exact { None } else { Some(text.clone()) },
        unit_amount,
    })
}

/// The unit amount of each aid of the row, from `Montant` and the type.
/// `Montant` is the total for `N x …` (or empty); a missing amount is unknown.
pub fn unit_amount(t: &AidType, montant: &str) -> Result<Option<i64>, Refusal> {
    let m = match fr::parse_cents(montant) {
        Ok(Parsed::Value(v)) if v < 0 => {
            return Err(refuse(
                RejectReason::InvalidAmount,
                AMOUNT,
                "negative amount",
            ));
        }
        Ok(p) => p.value(),
        Err(e) => return Err(refuse(RejectReason::InvalidAmount, AMOUNT, e.message())),
    };
    let n = i64::from(t.count);
    Ok(match (t.unit_amount, m) {
        (u, None) => u,
        (None, Some(total)) if n == 1 => Some(total),
        (None, Some(total)) => {
            if total % n != 0 {
                return Err(refuse(
                    RejectReason::InvalidAmount,
                    AMOUNT,
                    "total not divisible by the count of aids",
                ));
            }
            Some(total / n)
        }
        (Some(u), Some(total)) => {
            if total == u * n || total == u {
                Some(u)
            } else {
                return Err(refuse(
                    RejectReason::InvalidAmount,
                    AMOUNT,
                    "amount does not match the aid type",
                ));
            }
        }
    })
}

/// The row's residence, as the hub will resolve it: refused here when the hub
/// would refuse it (`unknown_postcode`, `unresolved_location`), so that the
/// row's aids go with it.
fn residence(c: &Columns, r: &Record) -> Result<Option<Location>, Refusal> {
    let pc = r.get_opt(c.postcode);
    let commune = r.get_opt(c.commune);
    let loc = fr::residence(Some(pc), Some(commune))
        .map_err(|e| refuse(RejectReason::UnknownPostcode, POSTCODE, e.message()))?;
    if let Some(loc) = &loc {
        fr::check_residence(loc).map_err(|e| {
            let column = if e.field == "postcode" {
                POSTCODE
            } else {
                COMMUNE
            };
            refuse(e.reason, column, e.detail)
        })?;
    }
    Ok(loc)
}

fn date(c: &Columns, r: &Record) -> Result<Date, Refusal> {
    match fr::parse_date(r.get(c.date)) {
        Ok(Parsed::Value(d)) => Ok(d),
        Ok(Parsed::Missing) => Err(refuse(RejectReason::MissingRequired, DATE, "no date")),
        Err(e) => Err(refuse(RejectReason::InvalidDate, DATE, e.message())),
    }
}

/// What one row gives: its aids (stream `aids`) and its household (stream
/// `households`).
#[derive(Debug)]
pub struct Row {
    pub aids: Vec<Item>,
    pub household: Item,
}

/// The aids and household of a row, or the refusal of the whole row. Checks in
/// order: dossier, date, aid type, amount, residence, composition, adults,
/// children, income, reste à vivre.
pub fn row(c: &Columns, r: &Record, file_team: &str) -> Result<Row, Refusal> {
    let team = team(c, r, file_team);
    let dossier = dossier(c, r)?;
    let date = date(c, r)?;
    let t = parse_aid_type(r.get(c.aid_type))?;
    let amount = unit_amount(&t, r.get_opt(c.amount))?;
    let residence = residence(c, r)?;
    let household = household(c, r, team, dossier, residence.clone())?;
    Ok(Row {
        aids: aids(team, dossier, date, &t, amount, &residence),
        household,
    })
}

/// The aid items of a row (one per aid: `2 x …` gives ordinals 1 and 2).
/// Key: `team|dossier|yyyy-mm-dd|aid type|unit amount in cents or ?|ordinal`.
/// Each aid carries its household's residence: the hub refuses the row's aids
/// with its household.
fn aids(
    team: &str,
    dossier: &str,
    date: Date,
    t: &AidType,
    amount: Option<i64>,
    residence: &Option<Location>,
) -> Vec<Item> {
    let amount_key = amount.map_or_else(|| "?".to_string(), |a| a.to_string());
    (1..=t.count)
        .map(|ordinal| {
            let mut d = Distribution::new(t.kind);
            d.household = Some(PersonId::new(team, dossier));
            d.household_key = Some(household_key(team, dossier));
            d.site = Some(team.to_string());
            d.date = Some(date);
            d.label = t.label.clone();
            d.status = Some(DistributionStatus::Given);
            d.amount = amount;
            d.ordinal = ordinal;
            d.residence = residence.clone();
            let key = format!(
                "{team}|{dossier}|{:04}-{:02}-{:02}|{}|{amount_key}|{ordinal}",
                date.year, date.month, date.day, t.key
            );
            Item::new(key, Entity::Distribution(d))
        })
        .collect()
}

fn composition(s: &str) -> Result<Option<Composition>, Refusal> {
    fr::parse_composition(s)
        .map(Parsed::value)
        .map_err(|e| refuse(RejectReason::UnknownLabel, COMPOSITION, e.message()))
}

fn count(s: &str, field: &'static str) -> Result<Option<u32>, Refusal> {
    match fr::parse_integer(s) {
        Ok(Parsed::Missing) => Ok(None),
        Ok(Parsed::Value(v)) => u32::try_from(v)
            .ok()
            .filter(|&v| v <= 50)
            .map(Some)
            .ok_or_else(|| refuse(RejectReason::InvalidQuantity, field, "count out of range")),
        Err(e) => Err(refuse(RejectReason::InvalidQuantity, field, e.message())),
    }
}

fn band(s: &str, field: &'static str) -> Result<Option<IncomeBand>, Refusal> {
    fr::parse_income_band(s)
        .map(Parsed::value)
        .map_err(|e| refuse(RejectReason::InvalidAmount, field, e.message()))
}

/// The household of a row, keyed `team|dossier`: composition, adults,
/// children, residence, income and reste à vivre as bands only.
fn household(
    c: &Columns,
    r: &Record,
    team: &str,
    dossier: &str,
    residence: Option<Location>,
) -> Result<Item, Refusal> {
    let mut h = Household::new(PersonId::new(team, dossier));
    h.composition = composition(r.get_opt(c.composition))?;
    h.adults = count(r.get_opt(c.adults), ADULTS)?;
    h.children = count(r.get_opt(c.children), CHILDREN)?;
    h.size = match (h.adults, h.children) {
        (Some(a), Some(ch)) => Some(a + ch),
        _ => None,
    };
    h.residence = residence;
    h.income = band(r.get_opt(c.income), INCOME)?;
    h.reste_a_vivre = band(r.get_opt(c.reste), RESTE)?;
    Ok(Item::new(
        household_key(team, dossier),
        Entity::Household(h),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> AidType {
        parse_aid_type(s).unwrap()
    }

    #[test]
    fn aid_types() {
        let a = t("Chèque alimentaire");
        assert_eq!(
            (a.count, a.kind, a.label.clone(), a.unit_amount),
            (1, AidKind::FoodVoucher, None, None)
        );
        assert_eq!(t("Carte prépayée").kind, AidKind::PrepaidCard);
        assert_eq!(t("CARTE PREPAYEE").label, None);
        assert_eq!(t("Colis").kind, AidKind::Parcel);
        assert_eq!(t("Repas").kind, AidKind::Meal);
        assert_eq!(t("Orientation").kind, AidKind::Referral);
        let a = t("2 x chèque 15€");
        assert_eq!(
            (a.count, a.kind, a.unit_amount),
            (2, AidKind::FoodVoucher, Some(1500))
        );
        assert_eq!(a.label.as_deref(), Some("2 x chèque 15€"));
        assert_eq!(a.key, "food-voucher");
        let a = t("3x chèques de 10,50 €");
        assert_eq!((a.count, a.unit_amount), (3, Some(1050)));
        let a = t("Vestiaire");
        assert_eq!(
            (a.kind, a.key.as_str(), a.label.as_deref()),
            (AidKind::Other, "vestiaire", Some("Vestiaire"))
        );
        assert_eq!(t("ChÃ¨que alimentaire").kind, AidKind::FoodVoucher);
        assert!(parse_aid_type("").is_err());
        assert_eq!(
            parse_aid_type("0 x colis").unwrap_err().0,
            RejectReason::InvalidQuantity
        );
    }

    #[test]
    fn amounts() {
        let two = t("2 x chèque 15€");
        assert_eq!(unit_amount(&two, ""), Ok(Some(1500)));
        assert_eq!(unit_amount(&two, "30"), Ok(Some(1500)));
        assert_eq!(unit_amount(&two, "30,00 €"), Ok(Some(1500)));
        assert_eq!(
            unit_amount(&two, "25").unwrap_err().0,
            RejectReason::InvalidAmount
        );
        let one = t("Chèque alimentaire");
        assert_eq!(unit_amount(&one, "15,50"), Ok(Some(1550)));
        assert_eq!(unit_amount(&one, "1\u{202f}234,50"), Ok(Some(123_450)));
        assert_eq!(unit_amount(&one, ""), Ok(None));
        assert_eq!(unit_amount(&one, "NC"), Ok(None));
        assert_eq!(
            unit_amount(&one, "douze").unwrap_err().0,
            RejectReason::InvalidAmount
        );
        assert_eq!(
            unit_amount(&one, "-5").unwrap_err().0,
            RejectReason::InvalidAmount
        );
        let colis = t("2 x colis");
        assert_eq!(unit_amount(&colis, "20"), Ok(Some(1000)));
    }
}
