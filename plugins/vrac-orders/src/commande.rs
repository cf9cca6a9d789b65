//! Sheet `Commande` (wide): row 1 the headers `N° adhérent`, `Nom`, `Téléphone`,
//! `CP`, one column per product, `Total payé`, `Mode de paiement`; rows labelled
//! `Prix adhérent` and `Prix de référence` in column A; one row per member; a
//! `TOTAL` row.
//!
//! `Nom` and `Téléphone` are never read: only the columns located below are.

use std::collections::BTreeMap;

use vivres_sdk::dfc;
use vivres_sdk::fr::{self, Parsed};
use vivres_sdk::model::{
    Channel, Entity, Household, Item, OrderLine, PersonId, Reject, RejectReason,
};

use crate::grid::{Grid, GridRow, Val, fold, is_total};
use crate::names::WorkbookName;
use crate::produits::Unit;

pub const MEMBER: &str = "N° adhérent";
pub const CP: &str = "CP";
pub const PRICE_PAID: &str = "Prix adhérent";
pub const PRICE_REFERENCE: &str = "Prix de référence";

/// Identity columns (products come after the last of them).
const IDENTITY: &[&str] = &[
    "nadherent",
    "numeroadherent",
    "nom",
    "prenom",
    "telephone",
    "tel",
    "email",
    "mail",
    "cp",
    "codepostal",
];
/// Columns after the products.
const TRAILING: &[&str] = &["totalpaye", "total", "modedepaiement", "paiement"];

#[derive(Debug, Clone)]
pub struct Layout {
    pub member: usize,
    pub cp: Option<usize>,
    /// (column, product label as written).
    pub products: Vec<(usize, String)>,
}

/// A price row's cell: missing (unknown price) or unreadable.
#[derive(Debug, Clone, PartialEq)]
pub enum Price {
    Cents(i64),
    Missing,
    Unreadable(&'static str),
}

fn price(v: &Val) -> Price {
    match v {
        Val::Number(n) if *n < 0.0 => Price::Unreadable("negative price"),
        Val::Number(n) if n.is_finite() => Price::Cents((n * 100.0).round() as i64),
        Val::Text(s) => match fr::parse_cents(s) {
            Ok(Parsed::Value(c)) if c < 0 => Price::Unreadable("negative price"),
            Ok(Parsed::Value(c)) => Price::Cents(c),
            Ok(Parsed::Missing) => Price::Missing,
            Err(_) => Price::Unreadable("not an amount"),
        },
        Val::Empty => Price::Missing,
        _ => Price::Unreadable("not an amount"),
    }
}

/// Where the sheet is: its layout and price rows, read from the top.
pub struct Sheet {
    pub layout: Layout,
    paid: BTreeMap<usize, Price>,
    reference: BTreeMap<usize, Price>,
}

/// What a row of the sheet is.
pub enum RowKind {
    Skip,
    Member(GridRow),
}

/// Reads the header (the first non-blank row). `Err`: the file is malformed.
pub fn layout(grid: &mut Grid) -> Result<Layout, String> {
    let header = loop {
        match grid.next_row()? {
            None => return Err("sheet Commande is empty: no header row".into()),
            Some(r) if r.is_blank() => continue,
            Some(r) => break r,
        }
    };
    let names: Vec<String> = header.cells.iter().map(|c| fold(&c.text())).collect();
    let member = names
        .iter()
        .position(|n| n == "nadherent" || n == "numeroadherent")
        .ok_or_else(|| format!("sheet Commande: no `{MEMBER}` column in the first row"))?;
    let cp = names.iter().position(|n| n == "cp" || n == "codepostal");
    let first_product = names
        .iter()
        .rposition(|n| IDENTITY.contains(&n.as_str()))
        .map_or(0, |i| i + 1);
    let mut products = Vec::new();
    for (col, n) in names.iter().enumerate().skip(first_product) {
        if TRAILING.contains(&n.as_str()) {
            break;
        }
        if n.is_empty() {
            continue;
        }
        let label = header.get(col).text();
        products.push((col, label));
    }
    if products.is_empty() {
        return Err(
            "sheet Commande: no product column between the member columns and `Total payé`".into(),
        );
    }
    Ok(Layout {
        member,
        cp,
        products,
    })
}

impl Sheet {
    pub fn new(layout: Layout) -> Self {
        Sheet {
            layout,
            paid: BTreeMap::new(),
            reference: BTreeMap::new(),
        }
    }

    /// Classifies a row after the header; price rows are taken in.
    pub fn take(&mut self, row: GridRow) -> RowKind {
        if row.is_blank() || is_total(&row) {
            return RowKind::Skip;
        }
        let a = fold(&row.get(0).text());
        let target = if a.starts_with("prixadherent") {
            Some(&mut self.paid)
        } else if a.starts_with("prixdereference") || a.starts_with("prixreference") {
            Some(&mut self.reference)
        } else {
            None
        };
        if let Some(target) = target {
            for (col, _) in &self.layout.products {
                target.insert(*col, price(row.get(*col)));
            }
            return RowKind::Skip;
        }
        let m = fold(&row.get(self.layout.member).text());
        if m == "nadherent" || m == "numeroadherent" {
            return RowKind::Skip; // the header repeated
        }
        RowKind::Member(row)
    }

    fn price(&self, which: &BTreeMap<usize, Price>, col: usize) -> Price {
        which.get(&col).cloned().unwrap_or(Price::Missing)
    }
}

/// The member of a row, or `None` when the cell is empty.
fn member(sheet: &Sheet, row: &GridRow) -> Option<String> {
    let v = row.get(sheet.layout.member);
    if v.is_missing() {
        return None;
    }
    Some(v.text())
}

/// The residence check shared by lines and member records, with the hub's own
/// gazetteer rules ([`fr::check_residence`]): `Err((reason, detail))` when the
/// hub would refuse the member's residence (`99999`, a city borne by several
/// communes), so that the member's lines are refused with it.
fn residence(
    sheet: &Sheet,
    row: &GridRow,
) -> Result<Option<vivres_sdk::model::Location>, (RejectReason, String)> {
    let Some(col) = sheet.layout.cp else {
        return Ok(None);
    };
    let text = row.get(col).text();
    let loc = fr::residence(Some(&text), None)
        .map_err(|e| (RejectReason::UnknownPostcode, e.message().to_string()))?;
    if let Some(loc) = &loc {
        fr::check_residence(loc).map_err(|e| (e.reason, e.detail.to_string()))?;
    }
    Ok(loc)
}

/// A cell of sheet `Commande` as a spreadsheet names it (`Commande!F12`).
pub fn cell(row: &GridRow, col: usize) -> String {
    let mut letters = Vec::new();
    let mut n = col + 1;
    while n > 0 {
        letters.push(b'A' + ((n - 1) % 26) as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    format!("Commande!{}{}", String::from_utf8_lossy(&letters), row.line)
}

/// A refusal of a line's row (its member, its residence) or, with `col`, of
/// one of its product cells (the raw bytes differ per cell either way).
fn reject(
    row: &GridRow,
    reason: RejectReason,
    field: &str,
    detail: &str,
    col: Option<usize>,
) -> Reject {
    let mut raw = row.raw();
    if let Some(col) = col {
        raw.extend_from_slice(format!("#{col}").as_bytes());
    }
    Reject::new(reason, field, detail)
        .with_line(row.line)
        .with_raw(raw)
}

/// The member record of a row (stream `members`).
pub fn member_record(name: &WorkbookName, sheet: &Sheet, row: &GridRow) -> Result<Item, Reject> {
    let Some(m) = member(sheet, row) else {
        return Err(reject(
            row,
            RejectReason::MissingRequired,
            MEMBER,
            "no member number",
            None,
        ));
    };
    let residence =
        residence(sheet, row).map_err(|(reason, d)| reject(row, reason, CP, &d, None))?;
    let mut h = Household::new(PersonId::new(&name.group, &m));
    h.residence = residence;
    Ok(Item::new(
        format!("{}|{}", name.group, m),
        Entity::Household(h),
    ))
}

/// A product cell that means "nothing ordered": empty, `-`, `0`.
fn nothing_ordered(v: &Val) -> bool {
    match v {
        Val::Empty => true,
        Val::Number(n) => *n == 0.0,
        Val::Text(s) => {
            let t = s.trim();
            t.is_empty()
                || matches!(t, "-" | "–" | "—")
                || matches!(fr::parse_decimal(t), Ok(Parsed::Value(n)) if n == 0.0)
        }
        _ => false,
    }
}

fn quantity(v: &Val) -> Result<fr::Quantity, (RejectReason, &'static str)> {
    let q = match v {
        Val::Number(n) if n.is_finite() => fr::Quantity {
            value: *n,
            unit: None,
        },
        Val::Text(s) => match fr::parse_quantity(s) {
            Ok(Parsed::Value(q)) => q,
            Ok(Parsed::Missing) => {
                return Err((RejectReason::MissingRequired, "quantity unknown (NC, ?)"));
            }
            Err(_) => return Err((RejectReason::InvalidQuantity, "not a quantity")),
        },
        Val::Date(_) => {
            return Err((
                RejectReason::InvalidQuantity,
                "a date cell, not a quantity (a fraction typed in Excel?)",
            ));
        }
        _ => return Err((RejectReason::InvalidQuantity, "not a quantity")),
    };
    if !q.value.is_finite() {
        return Err((RejectReason::InvalidQuantity, "not a quantity"));
    }
    if q.value < 0.0 {
        return Err((RejectReason::InvalidQuantity, "negative quantity"));
    }
    Ok(q)
}

/// `n` priced units at `cents` each, rounded to the cent (half up).
pub fn times(n: f64, cents: i64) -> i64 {
    let exact = ((n * cents as f64) * 1e6).round() / 1e6;
    exact.round() as i64
}

/// The order lines of a member row (stream `order_lines`): one item or reject
/// per product cell that is not empty, `-` or `0`.
pub fn order_lines(
    name: &WorkbookName,
    sheet: &Sheet,
    units: &BTreeMap<String, Unit>,
    row: &GridRow,
    out: &mut Vec<Result<Item, Reject>>,
) {
    let member = member(sheet, row);
    let residence = residence(sheet, row);
    for (col, label) in &sheet.layout.products {
        let cell = row.get(*col);
        if nothing_ordered(cell) {
            continue;
        }
        let Some(member) = &member else {
            out.push(Err(reject(
                row,
                RejectReason::MissingRequired,
                MEMBER,
                "no member number",
                Some(*col),
            )));
            continue;
        };
        let residence = match &residence {
            Ok(r) => r,
            Err((reason, d)) => {
                out.push(Err(reject(row, *reason, CP, d, Some(*col))));
                continue;
            }
        };
        let member = Member {
            id: member,
            residence,
        };
        out.push(line(name, sheet, units, row, *col, label, &member));
    }
}

/// Who a row's lines are for: the member and the residence its `CP` gives
/// (carried by each line, so that the hub refuses them with the member's).
struct Member<'a> {
    id: &'a str,
    residence: &'a Option<vivres_sdk::model::Location>,
}

fn line(
    name: &WorkbookName,
    sheet: &Sheet,
    units: &BTreeMap<String, Unit>,
    row: &GridRow,
    col: usize,
    label: &str,
    member: &Member,
) -> Result<Item, Reject> {
    let q = quantity(row.get(col)).map_err(|(reason, d)| {
        reject(row, reason, label, d, Some(col)).with_cell(cell(row, col))
    })?;
    let paid = sheet.price(&sheet.paid, col);
    let reference = sheet.price(&sheet.reference, col);
    for (p, field) in [(&paid, PRICE_PAID), (&reference, PRICE_REFERENCE)] {
        if let Price::Unreadable(d) = p {
            return Err(
                reject(row, RejectReason::InvalidAmount, field, d, Some(col))
                    .with_cell(cell(row, col)),
            );
        }
    }
    let unit = units.get(&fold(label));
    // How many priced units the cell holds, and the line's quantity and unit.
    let (priced, quantity, unit) = match (&q.unit, unit) {
        (None, Some(Unit::Known { unit, per })) => {
            (Some(q.value), round9(q.value * per), Some(unit.clone()))
        }
        (None, Some(Unit::Other(text))) => (Some(q.value), q.value, Some(text.clone())),
        (None, None) => (Some(q.value), q.value, None),
        (Some(u), Some(Unit::Known { unit, per })) if u == unit => {
            (Some(round9(q.value / per)), q.value, Some(u.clone()))
        }
        (Some(_), Some(Unit::Known { .. })) => {
            return Err(reject(
                row,
                RejectReason::InvalidQuantity,
                label,
                "the quantity's unit is not the product's unit",
                Some(col),
            )
            .with_cell(cell(row, col)));
        }
        // A weight for a product sold in a unit we cannot convert: the
        // quantity is known, its price is not.
        (Some(u), _) => (None, q.value, Some(u.clone())),
    };
    let cents = |p: &Price| match p {
        Price::Cents(c) => Some(*c),
        _ => None,
    };
    let (unit_paid, unit_reference) = (cents(&paid), cents(&reference));
    let o = OrderLine {
        household: Some(PersonId::new(&name.group, member.id)),
        site: Some(name.group.clone()),
        channel: Channel::BuyingGroup,
        date: None,
        time: None,
        month: Some(name.month.clone()),
        product: label.to_string(),
        dfc_type: dfc::classify(label).to_string(),
        quantity,
        unit,
        unit_price_paid: unit_paid,
        unit_reference_price: unit_reference,
        price_paid: priced.zip(unit_paid).map(|(n, c)| times(n, c)),
        reference_price: priced.zip(unit_reference).map(|(n, c)| times(n, c)),
        discount_percent: None,
        food_bank_donation: false,
        residence: member.residence.clone(),
    };
    Ok(
        Item::new(line_key(name, member.id, label), Entity::OrderLine(o))
            .with_line(row.line)
            .with_cell(cell(row, col)),
    )
}

/// The natural key of a line: (group, month, member, product).
pub fn line_key(name: &WorkbookName, member: &str, label: &str) -> String {
    format!("{}|{}|{}|{}", name.group, name.month, member, label)
}

fn round9(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

/// Reads the rows of sheet `Commande` after physical line `after`, handing
/// each member row to `each` until it returns `false`. Returns the last line
/// handed over and whether the sheet's end was reached.
pub fn walk(
    grid: &mut Grid,
    after: u64,
    mut each: impl FnMut(&Sheet, GridRow) -> bool,
) -> Result<(u64, bool), String> {
    let layout = layout(grid)?;
    let mut sheet = Sheet::new(layout);
    let mut last = after;
    while let Some(row) = grid.next_row()? {
        let line = row.line;
        match sheet.take(row) {
            RowKind::Skip => {}
            RowKind::Member(row) => {
                if line <= after {
                    continue;
                }
                last = line;
                if !each(&sheet, row) {
                    return Ok((last, false));
                }
            }
        }
    }
    Ok((last, true))
}
