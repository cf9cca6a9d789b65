//! VRAC group orders (partners §2), read by the `vrac-orders` connector:
//! monthly order workbooks `commande_<groupement>_<yyyy-mm>.xlsx` (sheets
//! `Commande`, wide, and `Produits`) and one CSV export of such a workbook
//! (`…_Commande.csv` + `…_Produits.csv`, UTF-8, `,`).
//!
//! Files, in this order: `commande_croix-rousse_2024-03.xlsx`,
//! `commande_croix-rousse_2024-04.xlsx` (the same members, another month),
//! `commande_guillotiere_2024-03.xlsx`, the CSV pair of
//! `commande_pentes_2024-03`, and a corrected re-send of the first workbook
//! under the same name (in `resend/`): its invalid quantity fixed, one
//! quantity changed, one member row gone (its lines must disappear).
//!
//! Quirks: French text with accents, member numbers typed as numbers (they come
//! back as floats) or as text, prices as text with a decimal comma (`2,35`,
//! `2,35 €`) or as numbers, a reference price that is a formula without a
//! cached value (unknown), quantities as numbers, `1/2`, `500g`, `2 x 1kg`,
//! `1,5`, cells that mean nothing ordered (empty, `-`, `0`), a `TOTAL` row of
//! formulas, postcodes `69 008` and `1000` (for `01000`), postcodes shared by
//! communes of several EPCIs (all outside the territory: stored outside;
//! inside and outside: unknown), a member row
//! repeated later with other quantities (the later wins), Km with a decimal
//! comma, `Bio` as `O`/`N`/`oui`/`non`, a product without a producer.
//! Invalid rows: a member row without a member number (each of its lines
//! `missing_required`, field `N° adhérent`), an unreadable quantity and a
//! negative one (`invalid_quantity`, field = the product column), a member
//! with postcode `99999` (each line `unknown_postcode`, field `CP`).
//!
//! Streams and tables: `order_lines` → `order_lines`, `members` →
//! `households`, `products` → `products`, `supplies` → `supplies`.
//! Keys: line `<group>|<yyyy-mm>|<member>|<product>`, member `<group>|<member>`,
//! product `<group>|<product>`, supply `<group>|<yyyy-mm>|<product>`.
//!
//! Counting: `rows_total` counts the data rows of every file read (member rows
//! of `Commande`, product rows of `Produits`; header, price and TOTAL rows
//! excluded), the first version of the re-sent workbook too; `quarantined`
//! counts the quarantine entries of reading every stream over all files in
//! order (the first version's too): one per line, reason and field, so a member
//! row without number (one reject per ordered product in `order_lines` and one
//! in `members`) is one entry; `stored` is the
//! distinct keys left at the end in each table; `rows` describe one outcome per
//! order line, member, product and supply of the final versions (several per
//! physical row).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_xlsxwriter::{Formula, Workbook};
use serde_json::{Value, json};

use super::{ExpectedRow, FileSet, Outcome, sum_by_reason};
use crate::Territory;
use crate::places;

/// A product of the catalogue.
struct Prod {
    label: &'static str,
    category: &'static str,
    unit: &'static str,
    /// The unit the connector reports, and whether quantities with a weight
    /// (`500g`, `1/2`, `2 x 1kg`) fit it.
    unit_norm: &'static str,
    weight: bool,
    producer: &'static str,
    commune: &'static str,
    km: (&'static str, f64),
    paid: i64,
    reference: i64,
    organic: bool,
    /// The SDK classifier's DFC type, where the SDK's own tests pin it.
    dfc: Option<&'static str>,
}

const CATALOGUE: &[Prod] = &[
    Prod {
        label: "Carottes",
        category: "Légumes",
        unit: "kg",
        unit_norm: "kg",
        weight: true,
        producer: "Ferme du Pilat",
        commune: "Pélussin",
        km: ("45", 45.0),
        paid: 235,
        reference: 310,
        organic: true,
        dfc: Some("carrot"),
    },
    Prod {
        label: "Poireaux",
        category: "Légumes",
        unit: "kg",
        unit_norm: "kg",
        weight: true,
        producer: "Ferme du Pilat",
        commune: "Pélussin",
        km: ("45", 45.0),
        paid: 280,
        reference: 390,
        organic: true,
        dfc: Some("leek"),
    },
    Prod {
        label: "Pommes",
        category: "Fruits",
        unit: "kg",
        unit_norm: "kg",
        weight: true,
        producer: "Vergers de Mornant",
        commune: "Mornant",
        km: ("22,5", 22.5),
        paid: 210,
        reference: 295,
        organic: false,
        dfc: Some("apple"),
    },
    Prod {
        label: "Lentilles vertes",
        category: "Épicerie sèche",
        unit: "kg",
        unit_norm: "kg",
        weight: true,
        producer: "Ferme de Brindas",
        commune: "Brindas",
        km: ("18", 18.0),
        paid: 390,
        reference: 520,
        organic: true,
        dfc: Some("dried-vegetable"),
    },
    Prod {
        label: "Pain de campagne",
        category: "Boulangerie",
        unit: "pièce",
        unit_norm: "piece",
        weight: false,
        producer: "Fournil de Vaugneray",
        commune: "Vaugneray",
        km: ("15,2", 15.2),
        paid: 350,
        reference: 420,
        organic: true,
        dfc: Some("bakery"),
    },
    Prod {
        label: "Œufs plein air",
        category: "Crèmerie",
        unit: "boîte de 6",
        unit_norm: "boîte de 6",
        weight: false,
        producer: "Ferme de Condrieu",
        commune: "Condrieu",
        km: ("40", 40.0),
        paid: 290,
        reference: 365,
        organic: false,
        dfc: Some("egg"),
    },
    Prod {
        label: "Jus de pomme",
        category: "Boissons",
        unit: "L",
        unit_norm: "l",
        weight: false,
        producer: "Vergers de Mornant",
        commune: "Mornant",
        km: ("22,5", 22.5),
        paid: 320,
        reference: 415,
        organic: false,
        dfc: Some("drink"),
    },
    Prod {
        label: "Fromage de chèvre",
        category: "Crèmerie",
        unit: "pièce",
        unit_norm: "piece",
        weight: false,
        producer: "Chèvrerie de Givors",
        commune: "Givors",
        km: ("25", 25.0),
        paid: 275,
        reference: 380,
        organic: true,
        dfc: Some("dairy-product"),
    },
    Prod {
        label: "Miel de châtaignier",
        category: "Épicerie sucrée",
        unit: "pot",
        unit_norm: "pot",
        weight: false,
        producer: "Rucher du Pilat",
        commune: "Pélussin",
        km: ("47", 47.0),
        paid: 650,
        reference: 890,
        organic: false,
        dfc: None,
    },
    // Bought from a wholesaler: no producer, so no supply (quarantined).
    Prod {
        label: "Savon de Marseille",
        category: "Droguerie",
        unit: "pièce",
        unit_norm: "piece",
        weight: false,
        producer: "",
        commune: "",
        km: ("", 0.0),
        paid: 180,
        reference: 260,
        organic: false,
        dfc: Some("inedible"),
    },
];

const FIRST_NAMES: [&str; 10] = [
    "Amélie",
    "Éloïse",
    "Zoé",
    "Léon",
    "Noël",
    "Maëlle",
    "Jérôme",
    "Inès",
    "Loïc",
    "Béatrice",
];
const SURNAMES: [&str; 10] = [
    "Lefèvre", "Benali", "Nguyen", "Moreau", "Da Silva", "Traoré", "Garçon", "Rousseau",
    "Kowalski", "Château",
];
const PAYMENTS: [&str; 4] = ["Espèces", "Chèque", "Virement", "Carte bancaire"];

/// A cell as written.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Empty,
    Text(String),
    Num(f64),
    /// A formula saved without its cached value.
    Formula(String),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn col_name(col: usize) -> String {
    let mut n = col + 1;
    let mut s = String::new();
    while n > 0 {
        let r = (n - 1) % 26;
        s.insert(0, (b'A' + r as u8) as char);
        n = (n - 1) / 26;
    }
    s
}

fn euros(cents: i64) -> String {
    format!("{},{:02}", cents / 100, cents % 100)
}

/// `priced` (a multiple of 0.5) units at `cents`, rounded half up.
fn times(halves: i64, cents: i64) -> i64 {
    (halves * cents + 1) / 2
}

/// What a quantity cell holds, and what it means.
#[derive(Clone, Debug)]
struct Qty {
    cell: Cell,
    /// Half-units ordered (`1/2` is 1); `None`: nothing ordered.
    halves: Option<i64>,
    /// The quantity cell is invalid: its reason.
    bad: Option<&'static str>,
}

/// A member of a group.
#[derive(Clone, Debug)]
struct Member {
    number: Option<Cell>,
    /// The number as the connector reads it (`1042` for `Num(1042.0)`).
    id: String,
    name: String,
    phone: String,
    cp_cell: Cell,
    /// The postcode the hub stores, or `None` for `99999`.
    postcode: Option<String>,
    /// `residence_in_territory` as the hub stores it (`None`: null, unknown).
    in_territory: Option<bool>,
}

#[derive(Clone, Debug)]
struct MemberRow {
    member: Member,
    quantities: Vec<Qty>,
    payment: &'static str,
}

#[derive(Clone, Debug)]
struct Book {
    group: &'static str,
    month: &'static str,
    products: Vec<usize>,
    /// Price cells: (paid, reference); `None` reference: a formula without value.
    paid_cells: Vec<Cell>,
    reference_cells: Vec<Option<Cell>>,
    rows: Vec<MemberRow>,
}

struct Gen {
    rng: ChaCha8Rng,
    next_number: u32,
    raw_person_values: Vec<String>,
    territory: Territory,
}

impl Gen {
    fn member(&mut self, numeric: bool) -> Member {
        self.next_number += 1 + self.rng.random_range(0..5);
        let n = self.next_number;
        let (number, id) = if numeric {
            (Cell::Num(f64::from(n)), n.to_string())
        } else {
            let id = format!("VR-{n}");
            (text(&id), id)
        };
        let name = format!(
            "{} {}",
            FIRST_NAMES[self.rng.random_range(0..FIRST_NAMES.len())],
            SURNAMES[self.rng.random_range(0..SURNAMES.len())]
        );
        let phone = format!(
            "06 {:02} {:02} {:02} {:02}",
            self.rng.random_range(10..100),
            self.rng.random_range(10..100),
            self.rng.random_range(10..100),
            self.rng.random_range(10..100)
        );
        self.raw_person_values.push(id.clone());
        self.raw_person_values.push(name.clone());
        self.raw_person_values.push(phone.clone());
        let places = places::inside(self.territory);
        let (cp, _) = places[self.rng.random_range(0..places.len())];
        let (all_outside, straddling) = places::shared_postcodes(self.territory);
        let roll = self.rng.random_range(0..10);
        let (cp_cell, postcode, in_territory) = match roll {
            // The lost leading zero.
            0 => (Cell::Num(1000.0), places::LOST_ZERO.0, Some(false)),
            1 => (
                text(format!("{} {}", &cp[..2], &cp[2..])),
                cp,
                places::inside_alone(cp),
            ),
            // Communes of several EPCIs, none in the territory: outside.
            2 => (text(all_outside), all_outside, Some(false)),
            // Communes inside and outside: unknown.
            3 => (text(straddling), straddling, None),
            _ => (text(cp), cp, places::inside_alone(cp)),
        };
        Member {
            number: Some(number),
            id,
            name,
            phone,
            cp_cell,
            postcode: Some(postcode.to_string()),
            in_territory,
        }
    }

    fn qty(&mut self, p: &Prod) -> Qty {
        let roll = self.rng.random_range(0..20);
        let (cell, halves) = match roll {
            0..=6 => (Cell::Empty, None),
            7 => (text("-"), None),
            8 => (Cell::Num(0.0), None),
            9 => (text("0"), None),
            10 if p.weight => (text("1/2"), Some(1)),
            11 if p.weight => (text("500g"), Some(1)),
            12 if p.weight => (text("2 x 1kg"), Some(4)),
            13 if p.weight => (text("1,5"), Some(3)),
            _ => {
                let n = self.rng.random_range(1..4);
                (Cell::Num(n as f64), Some(2 * n))
            }
        };
        Qty {
            cell,
            halves,
            bad: None,
        }
    }

    fn row(&mut self, member: Member, products: &[usize]) -> MemberRow {
        let quantities = products.iter().map(|&p| self.qty(&CATALOGUE[p])).collect();
        MemberRow {
            member,
            quantities,
            payment: PAYMENTS[self.rng.random_range(0..PAYMENTS.len())],
        }
    }

    /// A row that orders at least two products.
    fn ordering_row(&mut self, member: Member, products: &[usize]) -> MemberRow {
        let mut r = self.row(member, products);
        for i in 0..2.min(products.len()) {
            if r.quantities[i].halves.is_none() {
                r.quantities[i] = Qty {
                    cell: Cell::Num(1.0),
                    halves: Some(2),
                    bad: None,
                };
            }
        }
        r
    }

    fn book(
        &mut self,
        group: &'static str,
        month: &'static str,
        members: &[Member],
        n_products: usize,
        quirks: bool,
    ) -> Book {
        let mut products = vec![0usize];
        while products.len() < n_products.min(CATALOGUE.len()) {
            let p = self.rng.random_range(1..CATALOGUE.len());
            if !products.contains(&p) {
                products.push(p);
            }
        }
        if quirks && !products.contains(&9) {
            products.push(9); // the product without a producer
        }
        let paid_cells = products
            .iter()
            .enumerate()
            .map(|(i, &p)| match i % 3 {
                0 => text(euros(CATALOGUE[p].paid)),
                1 => Cell::Num(CATALOGUE[p].paid as f64 / 100.0),
                _ => text(format!("{} €", euros(CATALOGUE[p].paid))),
            })
            .collect();
        let reference_cells = products
            .iter()
            .enumerate()
            .map(|(i, &p)| match i % 4 {
                0 | 2 => Some(text(euros(CATALOGUE[p].reference))),
                1 => Some(Cell::Num(CATALOGUE[p].reference as f64 / 100.0)),
                // A formula saved without its cached value: an unknown price.
                _ if !quirks => None,
                _ => Some(text(euros(CATALOGUE[p].reference))),
            })
            .collect();
        let mut rows: Vec<MemberRow> = members
            .iter()
            .map(|m| self.row(m.clone(), &products))
            .collect();
        if quirks {
            // No member number: its lines and itself quarantined `missing_required` (one entry).
            let mut m = self.member(false);
            m.number = None;
            m.id = String::new();
            let r = self.ordering_row(m, &products);
            rows.insert(1, r);
            // Postcode 99999: its lines and itself quarantined `unknown_postcode` (one entry).
            let mut m = self.member(true);
            m.cp_cell = text("99999");
            m.postcode = None;
            let r = self.ordering_row(m, &products);
            rows.insert(3, r);
            // An unreadable quantity and a negative one, beside good lines.
            let i = 4.min(rows.len() - 1);
            rows[i].quantities[0] = Qty {
                cell: text("beaucoup"),
                halves: None,
                bad: Some("invalid_quantity"),
            };
            let i = 5.min(rows.len() - 1);
            rows[i].quantities[1] = Qty {
                cell: if self.rng.random_bool(0.5) {
                    Cell::Num(-1.0)
                } else {
                    text("-2")
                },
                halves: None,
                bad: Some("invalid_quantity"),
            };
            // A member row repeated later with other quantities: the later wins.
            let mut again = rows[0].clone();
            for q in &mut again.quantities {
                if let Some(h) = q.halves {
                    *q = Qty {
                        cell: Cell::Num((h / 2 + 1) as f64),
                        halves: Some(2 * (h / 2 + 1)),
                        bad: None,
                    };
                }
            }
            rows.push(again);
        }
        Book {
            group,
            month,
            products,
            paid_cells,
            reference_cells,
            rows,
        }
    }
}

impl Book {
    fn stem(&self) -> String {
        format!("commande_{}_{}", self.group, self.month)
    }

    /// The `Commande` sheet, row 1 first.
    fn commande(&self) -> Vec<Vec<Cell>> {
        let mut out = Vec::new();
        let mut header = vec![
            text("N° adhérent"),
            text("Nom"),
            text("Téléphone"),
            text("CP"),
        ];
        header.extend(self.products.iter().map(|&p| text(CATALOGUE[p].label)));
        header.extend([text("Total payé"), text("Mode de paiement")]);
        out.push(header);
        let mut paid = vec![text("Prix adhérent"), Cell::Empty, Cell::Empty, Cell::Empty];
        paid.extend(self.paid_cells.iter().cloned());
        out.push(paid);
        let mut reference = vec![
            text("Prix de référence"),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
        ];
        for (i, c) in self.reference_cells.iter().enumerate() {
            reference.push(match c {
                Some(c) => c.clone(),
                None => Cell::Formula(format!("{}2*1.3", col_name(4 + i))),
            });
        }
        out.push(reference);
        for r in &self.rows {
            let m = &r.member;
            let mut row = vec![
                m.number.clone().unwrap_or(Cell::Empty),
                text(&m.name),
                text(&m.phone),
                m.cp_cell.clone(),
            ];
            let mut total = 0;
            for (q, &p) in r.quantities.iter().zip(&self.products) {
                row.push(q.cell.clone());
                total += q.halves.map_or(0, |h| times(h, CATALOGUE[p].paid));
            }
            row.push(Cell::Num(total as f64 / 100.0));
            row.push(text(r.payment));
            out.push(row);
        }
        let last = out.len();
        let mut total = vec![text("TOTAL"), Cell::Empty, Cell::Empty, Cell::Empty];
        for i in 0..self.products.len() {
            let c = col_name(4 + i);
            total.push(Cell::Formula(format!("SUM({c}4:{c}{last})")));
        }
        out.push(total);
        out
    }

    fn produits(&self) -> Vec<Vec<Cell>> {
        let mut out = vec![
            [
                "Produit",
                "Catégorie",
                "Unité",
                "Bio (O/N)",
                "Producteur",
                "Commune producteur",
                "Km",
            ]
            .iter()
            .map(|s| text(*s))
            .collect::<Vec<_>>(),
        ];
        for (i, &p) in self.products.iter().enumerate() {
            let p = &CATALOGUE[p];
            let bio = match (p.organic, i % 2) {
                (true, 0) => "O",
                (true, _) => "oui",
                (false, 0) => "N",
                (false, _) => "non",
            };
            let km = if p.km.0.is_empty() {
                Cell::Empty
            } else if p.km.0.contains(',') {
                text(p.km.0)
            } else {
                Cell::Num(p.km.1)
            };
            out.push(vec![
                text(p.label),
                text(p.category),
                text(p.unit),
                text(bio),
                text(p.producer),
                text(p.commune),
                km,
            ]);
        }
        out
    }
}

fn write_xlsx(path: &Path, sheets: &[(&str, Vec<Vec<Cell>>)]) -> anyhow::Result<()> {
    let mut book = Workbook::new();
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name)?;
        sheet.set_formula_result_default("");
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                match cell {
                    Cell::Empty => {}
                    Cell::Text(s) if s.is_empty() => {}
                    Cell::Text(s) => {
                        sheet.write_string(r, c, s)?;
                    }
                    Cell::Num(n) => {
                        sheet.write_number(r, c, *n)?;
                    }
                    Cell::Formula(f) => {
                        sheet.write_formula(r, c, Formula::new(format!("={f}")))?;
                    }
                }
            }
        }
    }
    book.save(path)?;
    Ok(())
}

/// The CSV export of a sheet: UTF-8, `,`, CRLF, numbers with a decimal comma,
/// formulas empty.
fn write_csv(path: &Path, rows: &[Vec<Cell>]) -> anyhow::Result<()> {
    let mut out = String::new();
    for row in rows {
        let fields: Vec<String> = row
            .iter()
            .map(|c| {
                let s = match c {
                    Cell::Empty | Cell::Formula(_) => String::new(),
                    Cell::Text(s) => s.clone(),
                    Cell::Num(n) if n.fract() == 0.0 => format!("{}", *n as i64),
                    Cell::Num(n) => format!("{n}").replace('.', ","),
                };
                if s.contains([',', '"']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s
                }
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    std::fs::write(path, out)?;
    Ok(())
}

/// One expected record: (table, key, values) or a quarantine (reason, field).
enum Fate {
    Stored {
        table: &'static str,
        key: String,
        values: BTreeMap<String, Value>,
    },
    Bad {
        reason: &'static str,
        field: String,
    },
}

/// Every record the connector makes of a file, with its physical line.
/// `commande`: the `order_lines` and `members` streams; `produits`: the
/// `products` and `supplies` streams.
fn fates(book: &Book, commande: bool, produits: bool) -> Vec<(u64, Fate)> {
    let mut out = Vec::new();
    if commande {
        for (i, r) in book.rows.iter().enumerate() {
            let line = 4 + i as u64;
            let m = &r.member;
            for (j, (q, &p)) in r.quantities.iter().zip(&book.products).enumerate() {
                let prod = &CATALOGUE[p];
                if q.halves.is_none() && q.bad.is_none() {
                    continue;
                }
                let fate = if m.number.is_none() {
                    Fate::Bad {
                        reason: "missing_required",
                        field: "N° adhérent".into(),
                    }
                } else if m.postcode.is_none() {
                    Fate::Bad {
                        reason: "unknown_postcode",
                        field: "CP".into(),
                    }
                } else if let Some(reason) = q.bad {
                    Fate::Bad {
                        reason,
                        field: prod.label.into(),
                    }
                } else {
                    let halves = q.halves.unwrap_or(0);
                    let reference = book.reference_cells[j].as_ref().map(|_| prod.reference);
                    let mut values = BTreeMap::new();
                    values.insert("site".into(), json!(book.group));
                    values.insert("month".into(), json!(book.month));
                    values.insert("product".into(), json!(prod.label));
                    values.insert("quantity".into(), json!(halves as f64 / 2.0));
                    values.insert("unit".into(), json!(prod.unit_norm));
                    values.insert("unit_price_paid_cents".into(), json!(prod.paid));
                    values.insert("price_paid_cents".into(), json!(times(halves, prod.paid)));
                    values.insert("unit_reference_price_cents".into(), json!(reference));
                    values.insert(
                        "reference_price_cents".into(),
                        json!(reference.map(|c| times(halves, c))),
                    );
                    if let Some(d) = prod.dfc {
                        values.insert("dfc_type".into(), json!(d));
                    }
                    Fate::Stored {
                        table: "order_lines",
                        key: format!("{}|{}|{}|{}", book.group, book.month, m.id, prod.label),
                        values,
                    }
                };
                out.push((line, fate));
            }
            let fate = if m.number.is_none() {
                Fate::Bad {
                    reason: "missing_required",
                    field: "N° adhérent".into(),
                }
            } else if let Some(pc) = &m.postcode {
                Fate::Stored {
                    table: "households",
                    key: format!("{}|{}", book.group, m.id),
                    values: BTreeMap::from([
                        ("residence_postcode".into(), json!(pc)),
                        ("residence_in_territory".into(), json!(m.in_territory)),
                    ]),
                }
            } else {
                Fate::Bad {
                    reason: "unknown_postcode",
                    field: "CP".into(),
                }
            };
            out.push((line, fate));
        }
    }
    if produits {
        for (i, &p) in book.products.iter().enumerate() {
            let line = 2 + i as u64;
            let prod = &CATALOGUE[p];
            let mut values = BTreeMap::from([
                ("label".into(), json!(prod.label)),
                ("category".into(), json!(prod.category)),
                ("unit".into(), json!(prod.unit_norm)),
                ("organic".into(), json!(prod.organic)),
                (
                    "producer".into(),
                    if prod.producer.is_empty() {
                        Value::Null
                    } else {
                        json!(prod.producer)
                    },
                ),
            ]);
            if let Some(d) = prod.dfc {
                values.insert("dfc_type".into(), json!(d));
            }
            out.push((
                line,
                Fate::Stored {
                    table: "products",
                    key: format!("{}|{}", book.group, prod.label),
                    values,
                },
            ));
            let fate = if prod.producer.is_empty() {
                Fate::Bad {
                    reason: "missing_required",
                    field: "Producteur".into(),
                }
            } else {
                Fate::Stored {
                    table: "supplies",
                    key: format!("{}|{}|{}", book.group, book.month, prod.label),
                    values: BTreeMap::from([
                        ("site".into(), json!(book.group)),
                        ("producer".into(), json!(prod.producer)),
                        ("distance_km".into(), json!(prod.km.1)),
                        ("organic".into(), json!(prod.organic)),
                        ("product".into(), json!(prod.label)),
                        ("month".into(), json!(book.month)),
                    ]),
                }
            };
            out.push((line, fate));
        }
    }
    out
}

pub fn write(out: &Path, seed: u64, size: usize) -> anyhow::Result<FileSet> {
    write_in(out, seed, size, Territory::Lyon)
}

/// The same workbooks for members living in `territory`'s communes (the
/// row-level expectations describe Lyon's).
pub fn write_in(
    out: &Path,
    seed: u64,
    size: usize,
    territory: Territory,
) -> anyhow::Result<FileSet> {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0B7A_C0DE),
        next_number: 2_400_000 + (seed % 1000) as u32 * 1000,
        raw_person_values: Vec::new(),
        territory,
    };
    let per_book = (size / 4).max(8);
    let croix: Vec<Member> = (0..per_book).map(|i| g.member(i % 2 == 0)).collect();
    let guillotiere: Vec<Member> = (0..per_book).map(|i| g.member(i % 3 == 0)).collect();
    let pentes: Vec<Member> = (0..per_book).map(|_| g.member(false)).collect();

    let w1 = g.book("croix-rousse", "2024-03", &croix, 7, true);
    // April: most of March's members again, and a reference price left as a
    // formula without its value.
    let april: Vec<Member> = croix.iter().skip(1).cloned().collect();
    let w2 = g.book("croix-rousse", "2024-04", &april, 6, false);
    let w3 = g.book("guillotiere", "2024-03", &guillotiere, 8, false);
    let csv = g.book("pentes", "2024-03", &pentes, 6, true);

    // The corrected re-send of w1: the unreadable quantity fixed, a quantity
    // changed, a member row gone (a row of another member takes its place
    // only in that it is removed: the rows after it move up).
    let mut w1b = w1.clone();
    for r in &mut w1b.rows {
        for q in &mut r.quantities {
            if q.cell == text("beaucoup") {
                *q = Qty {
                    cell: Cell::Num(2.0),
                    halves: Some(4),
                    bad: None,
                };
            }
        }
    }
    if let Some(q) = w1b.rows[2]
        .quantities
        .iter_mut()
        .find(|q| q.halves.is_some())
    {
        *q = Qty {
            cell: Cell::Num(3.0),
            halves: Some(6),
            bad: None,
        };
    }
    let removed = w1b.rows.len() - 3;
    w1b.rows.remove(removed);

    std::fs::create_dir_all(out.join("resend"))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for b in [&w1, &w2, &w3] {
        let p = out.join(format!("{}.xlsx", b.stem()));
        write_xlsx(
            &p,
            &[("Commande", b.commande()), ("Produits", b.produits())],
        )?;
        files.push(p);
    }
    // The products file first: the order lines take their units from it.
    let pc = out.join(format!("{}_Commande.csv", csv.stem()));
    let pp = out.join(format!("{}_Produits.csv", csv.stem()));
    write_csv(&pc, &csv.commande())?;
    write_csv(&pp, &csv.produits())?;
    files.push(pp);
    files.push(pc);
    let pr = out.join("resend").join(format!("{}.xlsx", w1b.stem()));
    write_xlsx(
        &pr,
        &[("Commande", w1b.commande()), ("Produits", w1b.produits())],
    )?;
    files.push(pr);

    let mut set = FileSet {
        connector: "vrac-orders".into(),
        files,
        ..FileSet::default()
    };
    // (logical file name, book, Commande read, Produits read), in arrival order.
    let xlsx = |b: &Book| format!("{}.xlsx", b.stem());
    let read: Vec<(String, &Book, bool, bool)> = vec![
        (xlsx(&w1), &w1, true, true),
        (xlsx(&w2), &w2, true, true),
        (xlsx(&w3), &w3, true, true),
        (format!("{}_Produits.csv", csv.stem()), &csv, false, true),
        (format!("{}_Commande.csv", csv.stem()), &csv, true, false),
        (xlsx(&w1b), &w1b, true, true),
    ];
    // Open entries: those of each file's latest version.
    let mut by_file: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (name, b, c, p) in &read {
        let quarantined = by_file.entry(name.as_str()).or_default();
        quarantined.clear();
        if *c {
            set.rows_total += b.rows.len();
        }
        if *p {
            set.rows_total += b.products.len();
        }
        // One entry per line, reason and field: a member row without number
        // or with an unknown postcode is one entry, however many lines it orders.
        let mut refusals = std::collections::BTreeSet::new();
        for (line, fate) in fates(b, *c, *p) {
            if let Fate::Bad { reason, field } = fate
                && refusals.insert((line, reason, field))
            {
                *quarantined.entry(reason.to_string()).or_default() += 1;
            }
        }
    }
    set.quarantined = sum_by_reason(by_file.into_values());
    // The final versions: the re-send replaces the first workbook.
    let finals = &read[1..];
    let mut final_values: BTreeMap<(&str, String), BTreeMap<String, Value>> = BTreeMap::new();
    for (_, b, c, p) in finals {
        for (_, fate) in fates(b, *c, *p) {
            if let Fate::Stored { table, key, values } = fate {
                final_values.insert((table, key), values);
            }
        }
    }
    for table in ["order_lines", "households", "products", "supplies"] {
        let n = final_values.keys().filter(|(t, _)| *t == table).count();
        set.stored.insert(table.into(), n);
    }
    for (name, b, c, p) in finals {
        for (line, fate) in fates(b, *c, *p) {
            let outcome = match fate {
                Fate::Stored { table, key, .. } => Outcome::Stored {
                    table: table.into(),
                    values: final_values
                        .get(&(table, key.clone()))
                        .cloned()
                        .unwrap_or_default(),
                    key,
                },
                Fate::Bad { reason, field } => Outcome::Quarantined {
                    reason: reason.into(),
                    field,
                },
            };
            set.rows.push(ExpectedRow {
                file: name.clone(),
                line,
                outcome,
            });
        }
    }
    g.raw_person_values.sort();
    g.raw_person_values.dedup();
    set.raw_person_values = g.raw_person_values;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vivres-vrac-sim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn deterministic_and_consistent() {
        let (a, b) = (tmp("a"), tmp("b"));
        let sa = write(&a, 7, 40).unwrap();
        let sb = write(&b, 7, 40).unwrap();
        assert_eq!(
            serde_json::to_value(&sa.stored).unwrap(),
            serde_json::to_value(&sb.stored).unwrap()
        );
        assert_eq!(sa.quarantined, sb.quarantined);
        assert_eq!(sa.raw_person_values, sb.raw_person_values);
        for (fa, fb) in sa.files.iter().zip(&sb.files) {
            if fa.extension().is_some_and(|e| e == "csv") {
                assert_eq!(std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
            }
        }
        assert_eq!(sa.files.len(), 6);
        for r in ["missing_required", "invalid_quantity", "unknown_postcode"] {
            assert!(sa.quarantined.get(r).copied().unwrap_or(0) > 0, "{r}");
        }
        for t in ["order_lines", "households", "products", "supplies"] {
            assert!(sa.stored[t] > 0, "{t}");
        }
        assert!(sa.raw_person_values.iter().any(|v| v.starts_with("06 ")));
        let csv = std::fs::read_to_string(&sa.files[4]).unwrap();
        assert!(csv.starts_with("N° adhérent,Nom,Téléphone,CP,"));
        assert!(csv.contains("Prix de référence"));
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&b).unwrap();
    }

    #[test]
    fn sizes_scale() {
        let d = tmp("big");
        let s = write(&d, 3, 2000).unwrap();
        assert!(s.rows_total > 2000, "{}", s.rows_total);
        assert!(s.stored["order_lines"] > 2000);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
