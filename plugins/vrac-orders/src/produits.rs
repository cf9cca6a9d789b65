//! Sheet `Produits`: `Produit;Catégorie;Unité;Bio (O/N);Producteur;Commune producteur;Km`.

use std::collections::BTreeMap;

use vivres_sdk::dfc;
use vivres_sdk::fr::{self, Parsed};
use vivres_sdk::model::{Entity, Item, Location, Product, Reject, RejectReason, Supply};

use crate::grid::{Grid, GridRow, Val, fold, is_total};
use crate::names::WorkbookName;

pub const PRODUCT: &str = "Produit";
pub const ORGANIC: &str = "Bio (O/N)";
pub const PRODUCER: &str = "Producteur";
pub const KM: &str = "Km";

/// A product's selling unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Unit {
    /// A unit the SDK normalises (`kg`, `l`, `piece`, `bunch`, `pot`, …), and
    /// how many of it one priced unit holds (`500 g` is 0.5 kg).
    Known { unit: String, per: f64 },
    /// Any other unit, kept as written.
    Other(String),
}

pub fn unit(text: &str) -> Option<Unit> {
    let t = text.trim();
    if fr::is_missing(t) {
        return None;
    }
    let starts_with_digit = t.chars().next().is_some_and(|c| c.is_ascii_digit());
    let candidate = if starts_with_digit {
        t.to_string()
    } else {
        format!("1 {t}")
    };
    match fr::parse_quantity(&candidate) {
        Ok(Parsed::Value(fr::Quantity {
            value,
            unit: Some(u),
        })) if value > 0.0 => Some(Unit::Known {
            unit: u,
            per: value,
        }),
        _ => Some(Unit::Other(t.to_string())),
    }
}

impl Unit {
    pub fn label(&self) -> &str {
        match self {
            Unit::Known { unit, .. } => unit,
            Unit::Other(t) => t,
        }
    }
}

#[derive(Debug, Clone)]
struct Columns {
    product: usize,
    category: Option<usize>,
    unit: Option<usize>,
    organic: Option<usize>,
    producer: Option<usize>,
    commune: Option<usize>,
    km: Option<usize>,
}

fn columns(grid: &mut Grid) -> Result<Columns, String> {
    let header = loop {
        match grid.next_row()? {
            None => return Err("sheet Produits is empty: no header row".into()),
            Some(r) if r.is_blank() => continue,
            Some(r) => break r,
        }
    };
    let names: Vec<String> = header.cells.iter().map(|c| fold(&c.text())).collect();
    let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
    Ok(Columns {
        product: find(&["produit", "produits", "article"])
            .ok_or_else(|| format!("sheet Produits: no `{PRODUCT}` column"))?,
        category: find(&["categorie"]),
        unit: find(&["unite"]),
        organic: find(&["bioon", "bio"]),
        producer: find(&["producteur", "producteurs"]),
        commune: find(&["communeproducteur", "commune"]),
        km: find(&["km", "distancekm", "distance"]),
    })
}

/// One row of the sheet, read.
pub struct ProductRow<'a> {
    pub row: &'a GridRow,
    cols: &'a Columns,
}

fn text_at(row: &GridRow, col: Option<usize>) -> Option<String> {
    let col = col?;
    let v = row.get(col);
    if v.is_missing() {
        return None;
    }
    Some(fr::repair_mojibake(&v.text()).into_owned())
}

fn reject(row: &GridRow, reason: RejectReason, field: &str, detail: &str) -> Reject {
    Reject::new(reason, field, detail)
        .with_line(row.line)
        .with_raw(row.raw())
}

impl ProductRow<'_> {
    /// The row's number in its sheet.
    pub fn line(&self) -> u64 {
        self.row.line
    }

    pub fn label(&self) -> Option<String> {
        text_at(self.row, Some(self.cols.product))
    }

    pub fn unit(&self) -> Option<Unit> {
        text_at(self.row, self.cols.unit).and_then(|t| unit(&t))
    }

    fn organic(&self) -> Result<Option<bool>, Reject> {
        let Some(t) = text_at(self.row, self.cols.organic) else {
            return Ok(None);
        };
        match fold(&t).as_str() {
            "o" | "oui" | "y" | "yes" | "1" | "vrai" | "true" | "x" | "bio" => Ok(Some(true)),
            "n" | "non" | "no" | "0" | "faux" | "false" => Ok(Some(false)),
            _ => Err(reject(
                self.row,
                RejectReason::UnknownLabel,
                ORGANIC,
                "expected O or N",
            )),
        }
    }

    fn km(&self) -> Result<Option<f64>, Reject> {
        let Some(col) = self.cols.km else {
            return Ok(None);
        };
        let bad = |d| reject(self.row, RejectReason::InvalidQuantity, KM, d);
        let km = match self.row.get(col) {
            Val::Number(n) if n.is_finite() => Some(*n),
            Val::Text(s) => {
                match fr::parse_decimal(s.trim().trim_end_matches("km").trim_end_matches("Km")) {
                    Ok(Parsed::Value(v)) => Some(v),
                    Ok(Parsed::Missing) => None,
                    Err(_) => return Err(bad("not a distance")),
                }
            }
            Val::Empty => None,
            _ => return Err(bad("not a distance")),
        };
        if km.is_some_and(|k| k < 0.0) {
            return Err(bad("negative distance"));
        }
        Ok(km)
    }

    /// Stream `products`, key `<group>|<label>`.
    pub fn product(&self, name: &WorkbookName) -> Result<Item, Reject> {
        let Some(label) = self.label() else {
            return Err(reject(
                self.row,
                RejectReason::MissingRequired,
                PRODUCT,
                "no product label",
            ));
        };
        let p = Product {
            dfc_type: dfc::classify(&label).to_string(),
            category: text_at(self.row, self.cols.category),
            unit: self.unit().map(|u| u.label().to_string()),
            organic: self.organic()?,
            producer: text_at(self.row, self.cols.producer),
            ean: None,
            label: label.clone(),
        };
        Ok(Item::new(
            format!("{}|{}", name.group, label),
            Entity::Product(p),
        ))
    }

    /// Stream `supplies`, key `<group>|<yyyy-mm>|<label>`.
    pub fn supply(&self, name: &WorkbookName) -> Result<Item, Reject> {
        let Some(label) = self.label() else {
            return Err(reject(
                self.row,
                RejectReason::MissingRequired,
                PRODUCT,
                "no product label",
            ));
        };
        let Some(producer) = text_at(self.row, self.cols.producer) else {
            return Err(reject(
                self.row,
                RejectReason::MissingRequired,
                PRODUCER,
                "no producer",
            ));
        };
        let s = Supply {
            site: Some(name.group.clone()),
            producer,
            producer_location: text_at(self.row, self.cols.commune)
                .map(|c| Location::new(None, Some(c))),
            distance_km: self.km()?,
            organic: self.organic()?,
            product: Some(label.clone()),
            month: Some(name.month.clone()),
        };
        Ok(Item::new(
            format!("{}|{}|{}", name.group, name.month, label),
            Entity::Supply(s),
        ))
    }
}

/// Walks the product rows after physical line `after` (as `commande::walk`).
pub fn walk(
    grid: &mut Grid,
    after: u64,
    mut each: impl FnMut(&ProductRow<'_>) -> bool,
) -> Result<(u64, bool), String> {
    let cols = columns(grid)?;
    let mut last = after;
    while let Some(row) = grid.next_row()? {
        if row.is_blank() || is_total(&row) || row.line <= after {
            continue;
        }
        if fold(&row.get(cols.product).text()) == "produit" {
            continue; // the header repeated
        }
        last = row.line;
        if !each(&ProductRow {
            row: &row,
            cols: &cols,
        }) {
            return Ok((last, false));
        }
    }
    Ok((last, true))
}

/// Product label (folded) → selling unit, for the order lines.
pub fn units(grid: &mut Grid) -> BTreeMap<String, Unit> {
    let mut map = BTreeMap::new();
    let _ = walk(grid, 0, |p| {
        if let (Some(label), Some(u)) = (p.label(), p.unit()) {
            map.insert(fold(&label), u);
        }
        true
    });
    map
}
