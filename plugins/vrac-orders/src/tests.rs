//! Native tests: a workbook and its CSV export in a temporary inbox.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Formula, Workbook};
use vivres_sdk::inbox;
use vivres_sdk::model::{Channel, Entity, Household, OrderLine, Product, RejectReason, Supply};

use super::*;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vrac-orders-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Cells of the order sheet: `#n` is a number, `=…` a formula without a cached value.
const COMMANDE: &[&[&str]] = &[
    &[
        "N° adhérent",
        "Nom",
        "Téléphone",
        "CP",
        "Carottes",
        "Poireaux",
        "Pommes",
        "Pain de campagne",
        "Total payé",
        "Mode de paiement",
    ],
    &[
        "Prix adhérent",
        "",
        "",
        "",
        "2,35",
        "#1.8",
        "2,00 €",
        "#3",
        "",
        "",
    ],
    &[
        "Prix de référence",
        "",
        "",
        "",
        "3,10",
        "#2.5",
        "#2.9",
        "=E3*2",
        "",
        "",
    ],
    &[
        "#1042",
        "Dupont Amélie",
        "06 01 02 03 04",
        "69008",
        "500g",
        "#2",
        "1/2",
        "-",
        "#5",
        "Espèces",
    ],
    &[
        "A-17", "Éloïse", "", "69 008", "2 x 1kg", "#0", "", "#1", "", "Chèque",
    ],
    &["", "Martin", "", "69001", "#1", "#1", "", "", "", ""],
    &["#1043", "Zoé", "", "99999", "#1", "", "", "", "", ""],
    &[
        "#1044", "Léon", "", "1000", "beaucoup", "#-2", "", "", "", "",
    ],
    &[
        "#1042",
        "Dupont Amélie",
        "06 01 02 03 04",
        "69008",
        "#1",
        "",
        "",
        "",
        "",
        "",
    ],
    &["TOTAL", "", "", "", "=SUM(E4:E9)", "", "", "", "", ""],
];

const PRODUITS: &[&[&str]] = &[
    &[
        "Produit",
        "Catégorie",
        "Unité",
        "Bio (O/N)",
        "Producteur",
        "Commune producteur",
        "Km",
    ],
    &[
        "Carottes",
        "Légumes",
        "kg",
        "O",
        "Ferme du Pilat",
        "Pélussin",
        "#45",
    ],
    &[
        "Poireaux",
        "Légumes",
        "kg",
        "N",
        "Ferme du Pilat",
        "Pélussin",
        "45",
    ],
    &[
        "Pommes",
        "Fruits",
        "kg",
        "oui",
        "Vergers Martin",
        "Pélussin",
        "12,5",
    ],
    &["Pain de campagne", "Boulangerie", "pièce", "N", "", "", ""],
    &[
        "Miel",
        "Épicerie",
        "pot",
        "peut-être",
        "Rucher",
        "Mornant",
        "-3",
    ],
];

fn write_xlsx(path: &Path) {
    let mut book = Workbook::new();
    for (name, rows) in [("Commande", COMMANDE), ("Produits", PRODUITS)] {
        let sheet = book.add_worksheet();
        sheet.set_name(name).unwrap();
        sheet.set_formula_result_default("");
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                if let Some(n) = cell.strip_prefix('#') {
                    sheet.write_number(r, c, n.parse::<f64>().unwrap()).unwrap();
                } else if cell.starts_with('=') {
                    sheet.write_formula(r, c, Formula::new(*cell)).unwrap();
                } else if !cell.is_empty() {
                    sheet.write_string(r, c, *cell).unwrap();
                }
            }
        }
    }
    book.save(path).unwrap();
}

fn write_csv(path: &Path, rows: &[&[&str]]) {
    let text: String = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| {
                    let c = c.strip_prefix('#').unwrap_or(c);
                    let c = if c.starts_with('=') { "" } else { c };
                    if c.contains(',') {
                        format!("\"{c}\"")
                    } else {
                        c.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

fn read_all(dir: &Path, stream: Stream, batch_rows: usize) -> (Vec<Item>, Vec<Reject>, usize) {
    let files = inbox::files_in(dir).unwrap();
    let config = Config {
        batch_rows,
        sites: Vec::new(),
    };
    let (mut items, mut rejects, mut batches) = (Vec::new(), Vec::new(), 0);
    let mut state: Option<String> = None;
    loop {
        let b = read_files(&config, stream, &files, state.as_deref()).unwrap();
        batches += 1;
        items.extend(b.items);
        rejects.extend(b.rejects);
        state = b.state;
        if !b.more {
            break;
        }
        assert!(batches < 1000);
    }
    (items, rejects, batches)
}

fn line(items: &[Item], key: &str) -> OrderLine {
    let all: Vec<&Item> = items.iter().filter(|i| i.key == key).collect();
    match &all.last().unwrap_or_else(|| panic!("no {key}")).entity {
        Entity::OrderLine(o) => o.clone(),
        other => panic!("{other:?}"),
    }
}

fn check_order_lines(items: &[Item], rejects: &[Reject], origin: &str) {
    let reasons: Vec<(RejectReason, &str, Option<u64>)> = rejects
        .iter()
        .map(|r| (r.reason, r.field.as_str(), r.line))
        .collect();
    assert_eq!(
        reasons,
        [
            (RejectReason::MissingRequired, "N° adhérent", Some(6)),
            (RejectReason::MissingRequired, "N° adhérent", Some(6)),
            (RejectReason::UnknownPostcode, "CP", Some(7)),
            (RejectReason::InvalidQuantity, "Carottes", Some(8)),
            (RejectReason::InvalidQuantity, "Poireaux", Some(8)),
        ]
    );
    assert_eq!(items.len(), 6, "{items:#?}");
    let c = line(items, "g1|2024-03|1042|Carottes");
    assert_eq!((c.quantity, c.unit.as_deref()), (1.0, Some("kg"))); // the later row wins
    let first = match &items[0].entity {
        Entity::OrderLine(o) => o.clone(),
        _ => unreachable!(),
    };
    assert_eq!((first.quantity, first.unit.as_deref()), (0.5, Some("kg")));
    assert_eq!(
        (first.unit_price_paid, first.unit_reference_price),
        (Some(235), Some(310))
    );
    assert_eq!(
        (first.price_paid, first.reference_price),
        (Some(118), Some(155))
    );
    assert_eq!(first.dfc_type, "carrot");
    assert_eq!(first.month.as_deref(), Some("2024-03"));
    assert_eq!(first.site.as_deref(), Some("g1"));
    assert_eq!(first.channel, Channel::BuyingGroup);
    assert_eq!(first.household.as_ref().unwrap().scope, "g1");
    assert_eq!(first.household.as_ref().unwrap().local_id, "1042");
    let p = line(items, "g1|2024-03|1042|Poireaux");
    assert_eq!(
        (p.quantity, p.price_paid, p.reference_price),
        (2.0, Some(360), Some(500))
    );
    assert_eq!(p.dfc_type, "leek");
    let a = line(items, "g1|2024-03|1042|Pommes");
    assert_eq!(
        (a.quantity, a.price_paid, a.reference_price),
        (0.5, Some(100), Some(145))
    );
    let c = line(items, "g1|2024-03|A-17|Carottes");
    assert_eq!(
        (c.quantity, c.price_paid, c.reference_price),
        (2.0, Some(470), Some(620))
    );
    let b = line(items, "g1|2024-03|A-17|Pain de campagne");
    assert_eq!((b.quantity, b.unit.as_deref()), (1.0, Some("piece")));
    // A formula without a cached value is a missing price (CSV: empty cell).
    assert_eq!(
        (b.price_paid, b.unit_reference_price, b.reference_price),
        (Some(300), None, None)
    );
    assert_eq!(b.dfc_type, "bakery");
    assert!(items.iter().all(|i| i.origin.as_deref() == Some(origin)));
    assert!(
        rejects
            .iter()
            .all(|r| r.origin.as_deref() == Some(origin) && r.key.is_none())
    );
    // No name nor phone number anywhere; member numbers only in PersonIds and keys.
    let dump = format!("{items:?}{rejects:?}");
    for v in ["Dupont", "Éloïse", "06 01", "Martin", "Zoé", "Léon"] {
        assert!(!dump.contains(v), "{v}");
    }
    for r in rejects {
        assert!(!r.detail.contains("1043") && !r.detail.contains("beaucoup"));
    }
}

#[test]
fn xlsx_order_lines() {
    let d = tmp("xlsx-lines");
    write_xlsx(&d.join("commande_g1_2024-03.xlsx"));
    let (items, rejects, _) = read_all(&d, Stream::OrderLines, 2000);
    check_order_lines(&items, &rejects, "commande_g1_2024-03.xlsx");
    // Small batches: the same records, a batch ends after a whole member row.
    let (items2, rejects2, batches) = read_all(&d, Stream::OrderLines, 1);
    assert!(batches >= 5, "{batches}");
    assert_eq!(items2, items);
    assert_eq!(rejects2.len(), rejects.len());
}

#[test]
fn csv_order_lines_use_the_produits_file() {
    let d = tmp("csv-lines");
    write_csv(&d.join("commande_g1_2024-03_Commande.csv"), COMMANDE);
    write_csv(&d.join("commande_g1_2024-03_Produits.csv"), PRODUITS);
    let (items, rejects, _) = read_all(&d, Stream::OrderLines, 2000);
    check_order_lines(&items, &rejects, "commande_g1_2024-03_Commande.csv");
}

#[test]
fn members_products_supplies() {
    let d = tmp("others");
    write_xlsx(&d.join("commande_g1_2024-03.xlsx"));
    let (items, rejects, _) = read_all(&d, Stream::Members, 2000);
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["g1|1042", "g1|A-17", "g1|1044", "g1|1042"]);
    let h: Vec<Household> = items
        .iter()
        .filter_map(|i| match &i.entity {
            Entity::Household(h) => Some(h.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        h[1].residence.as_ref().unwrap().postcode.as_deref(),
        Some("69008")
    );
    assert_eq!(
        h[2].residence.as_ref().unwrap().postcode.as_deref(),
        Some("01000")
    );
    assert_eq!(
        (h[2].person.scope.as_str(), h[2].person.local_id.as_str()),
        ("g1", "1044")
    );
    let reasons: Vec<_> = rejects
        .iter()
        .map(|r| (r.reason, r.field.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (RejectReason::MissingRequired, "N° adhérent"),
            (RejectReason::UnknownPostcode, "CP")
        ]
    );

    let (items, rejects, _) = read_all(&d, Stream::Products, 2000);
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "g1|Carottes",
            "g1|Poireaux",
            "g1|Pommes",
            "g1|Pain de campagne"
        ]
    );
    let p: Vec<Product> = items
        .iter()
        .filter_map(|i| match &i.entity {
            Entity::Product(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(p[0].dfc_type, "carrot");
    assert_eq!(p[0].category.as_deref(), Some("Légumes"));
    assert_eq!(
        (p[0].unit.as_deref(), p[0].organic),
        (Some("kg"), Some(true))
    );
    assert_eq!(p[0].producer.as_deref(), Some("Ferme du Pilat"));
    assert_eq!(
        (p[3].unit.as_deref(), p[3].organic, p[3].producer.as_deref()),
        (Some("piece"), Some(false), None)
    );
    let reasons: Vec<_> = rejects
        .iter()
        .map(|r| (r.reason, r.field.as_str(), r.line))
        .collect();
    assert_eq!(
        reasons,
        [(RejectReason::UnknownLabel, "Bio (O/N)", Some(6))]
    );

    let (items, rejects, _) = read_all(&d, Stream::Supplies, 2000);
    let s: Vec<Supply> = items
        .iter()
        .filter_map(|i| match &i.entity {
            Entity::Supply(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(items[0].key, "g1|2024-03|Carottes");
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].site.as_deref(), Some("g1"));
    assert_eq!(s[0].producer, "Ferme du Pilat");
    assert_eq!(
        s[0].producer_location.as_ref().unwrap().commune.as_deref(),
        Some("Pélussin")
    );
    assert_eq!(
        (s[0].distance_km, s[1].distance_km, s[2].distance_km),
        (Some(45.0), Some(45.0), Some(12.5))
    );
    assert_eq!(
        (s[0].month.as_deref(), s[2].product.as_deref()),
        (Some("2024-03"), Some("Pommes"))
    );
    let reasons: Vec<_> = rejects
        .iter()
        .map(|r| (r.reason, r.field.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (RejectReason::MissingRequired, "Producteur"),
            (RejectReason::InvalidQuantity, "Km")
        ]
    );
}

#[test]
fn resend_replaces_and_strays_are_quarantined_once() {
    let d = tmp("resend");
    write_xlsx(&d.join("commande_g1_2024-03.xlsx"));
    std::fs::write(d.join("notes.txt"), "x").unwrap();
    std::fs::write(d.join("commande_g2_2024-04.xlsx"), "not a zip").unwrap();
    let files = inbox::files_in(&d).unwrap();
    let config = Config {
        batch_rows: 2000,
        sites: Vec::new(),
    };
    let b = read_files(&config, Stream::OrderLines, &files, None).unwrap();
    assert_eq!(b.replace_origins, ["commande_g1_2024-03.xlsx"]);
    assert!(b.more);
    let b = read_files(&config, Stream::OrderLines, &files, b.state.as_deref()).unwrap();
    assert_eq!(b.rejects.len(), 1);
    assert_eq!(b.rejects[0].reason, RejectReason::MalformedFile);
    assert_eq!(
        b.rejects[0].origin.as_deref(),
        Some("commande_g2_2024-04.xlsx")
    );
    let b = read_files(&config, Stream::OrderLines, &files, b.state.as_deref()).unwrap();
    assert_eq!(b.rejects[0].reason, RejectReason::MalformedFile);
    assert!(!b.more);
    // Other streams ignore files that are not workbooks.
    let (_, rejects, _) = read_all(&d, Stream::Products, 2000);
    assert_eq!(
        rejects
            .iter()
            .filter(|r| r.reason == RejectReason::MalformedFile)
            .count(),
        1
    );
}

#[test]
fn config_and_spec() {
    let c: Config = serde_json::from_str("{}").unwrap();
    assert_eq!(c.batch_rows, inbox::BATCH_ROWS);
    assert!(serde_json::from_str::<Config>(r#"{"batch_rows": 0}"#).is_err());
    assert!(serde_json::from_str::<Config>(r#"{"group": "x"}"#).is_err());
    let spec = VracOrders::spec();
    let names: Vec<&str> = spec.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["order_lines", "members", "products", "supplies", "sites"]
    );
    let _: serde_json::Value = serde_json::from_str(&spec.config_schema).unwrap();
    assert!(Stream::from_name("nope").is_err());
}

#[test]
fn units_and_rounding() {
    assert_eq!(
        produits::unit("kg"),
        Some(produits::Unit::Known {
            unit: "kg".into(),
            per: 1.0
        })
    );
    assert_eq!(
        produits::unit("500 g"),
        Some(produits::Unit::Known {
            unit: "kg".into(),
            per: 0.5
        })
    );
    assert_eq!(
        produits::unit("cagette"),
        Some(produits::Unit::Other("cagette".into()))
    );
    assert_eq!(produits::unit(""), None);
    assert_eq!(commande::times(0.5, 235), 118);
    assert_eq!(commande::times(1.0 / 3.0, 300), 100);
    assert_eq!(commande::times(1.5, 199), 299);
}

#[test]
fn groups_get_their_commune_from_the_sites_setting() {
    let config: Config = serde_json::from_value(serde_json::json!({
        "sites": [{"id": "croix-rousse", "insee": "69384", "name": "VRAC Croix-Rousse"}]
    }))
    .unwrap();
    let streams = VracOrders::discover(&config).unwrap();
    assert!(streams.iter().any(|s| s.name == "sites"));
    let batch = VracOrders::read(&config, "sites", None).unwrap();
    assert!(!batch.more);
    assert_eq!(batch.items.len(), 1);
    assert_eq!(batch.items[0].key, "croix-rousse");
    match &batch.items[0].entity {
        Entity::Site(site) => {
            assert_eq!(site.kind, SiteKind::BuyingGroup);
            let insee = site.location.as_ref().and_then(|l| l.insee.as_deref());
            assert_eq!(insee, Some("69384"));
        }
        _ => panic!("not a site"),
    }

    // Without the setting the stream is not offered; a code of the wrong shape is refused.
    let bare: Config = serde_json::from_value(serde_json::json!({})).unwrap();
    assert!(VracOrders::discover(&bare).unwrap().iter().all(|s| s.name != "sites"));
    let wrong: Config = serde_json::from_value(serde_json::json!({
        "sites": [{"id": "croix-rousse", "insee": "6938"}]
    }))
    .unwrap();
    assert!(VracOrders::check(&wrong).is_err());
    let unknown = serde_json::from_value::<Config>(serde_json::json!({"site": []}));
    assert!(unknown.unwrap_err().to_string().contains("expected batch_rows, sites"));
}
