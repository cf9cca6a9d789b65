//! Whole files with the quirks, read like the host does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

fn inbox(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vivres-ugess-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn add(dir: &Path, seq: u64, name: &str, bytes: &[u8]) {
    let d = dir.join(format!("{seq:08}-{:064x}", seq));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), bytes).unwrap();
}

#[derive(Default)]
struct Store {
    rows: BTreeMap<String, Entity>,
    rejects: Vec<Reject>,
    read: usize,
}

fn sync(dir: &Path, stream: &str) -> Store {
    let mut store = Store::default();
    let config = Config {
        batch_rows: Some(2),
        ..Config::default()
    };
    let files = own_files(stream, inbox::files_in(dir).unwrap());
    let mut state = None;
    loop {
        let b = read_files(&config, &files, stream, state.as_deref()).unwrap();
        store.read += b.items.len() + b.rejects.len();
        for i in b.items {
            store.rows.insert(i.key, i.entity);
        }
        store.rejects.extend(b.rejects);
        state = b.state;
        if !b.more {
            return store;
        }
    }
}

const SALES_HEADER: &str =
    "Date;Heure;N° carte;Article;EAN;Catégorie;Qté;Unité;PU public;PU payé;Remise %;Total";

#[test]
fn till_lines() {
    let dir = inbox("sales");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        [
            SALES_HEADER,
            "05/03/2024;10:15;C-1;Carottes;3270000000001;Légumes;1,5;kg;2,00 €;0,60 €;70;0,90 €;",
            "05/03/2024;10:15:00;C-1;Lait demi-écrémé;;Crèmerie;-1;L;1,10;0,33;70;-0,33;",
            "05/03/2024;10:16;C-1;Conserves de pois;;Épicerie;2;pce;Don BA;0;;0;",
            "2024-03-06;11h00;C-2;Pâtes;;Épicerie;1;;0;0;;0;",
            "31/02/2024;11:00;C-2;Riz;;Épicerie;1;;1,50;0,45;70;0,45;",
            "06/03/2024;11:00;C-2;Riz;;Épicerie;1;;1,50;??;70;0,45;",
            "06/03/2024;11:00;;Riz;;Épicerie;1;;1,50;0,45;70;0,45;",
            "TOTAL;;;;;;;;;;;1,02;",
        ]
        .join("\n")
        .as_bytes(),
    );
    add(&dir, 1, "ventes_bron_2024-03.csv", &bytes);
    add(
        &dir,
        2,
        "beneficiaires_bron.csv",
        b"N\xB0 carte;Composition\r\n",
    );
    let s = sync(&dir, SALES);
    assert_eq!(s.read, 7);
    assert_eq!(s.rows.len(), 5);
    let reasons: Vec<_> = s
        .rejects
        .iter()
        .map(|r| (r.reason, r.field.as_str(), r.line))
        .collect();
    assert_eq!(
        reasons,
        [
            (RejectReason::InvalidDate, "Date", Some(6)),
            (RejectReason::MissingRequired, "N° carte", Some(8)),
        ]
    );
    let line = |k: &str| match s.rows.get(k) {
        Some(Entity::OrderLine(o)) => o.clone(),
        other => panic!("{k}: {other:?} in {:?}", s.rows.keys()),
    };
    let o = line("bron|2024-03-05|10:15:00|C-1|Carottes|1.5");
    assert_eq!(o.household, Some(PersonId::new("bron", "C-1")));
    assert_eq!(
        (o.dfc_type.as_str(), o.unit.as_deref()),
        ("carrot", Some("kg"))
    );
    assert_eq!(
        (o.reference_price, o.price_paid, o.unit_price_paid),
        (Some(300), Some(90), Some(60))
    );
    assert_eq!(o.channel, Channel::Grocery);
    assert!(!o.food_bank_donation);
    let o = line("bron|2024-03-05|10:15:00|C-1|Lait demi-écrémé|-1");
    assert_eq!(
        (o.quantity, o.reference_price, o.price_paid),
        (-1.0, Some(-110), Some(-33))
    );
    assert_eq!(o.unit.as_deref(), Some("l"));
    let o = line("bron|2024-03-05|10:16:00|C-1|Conserves de pois|2");
    assert!(o.food_bank_donation);
    assert_eq!(
        (o.reference_price, o.unit.as_deref()),
        (Some(0), Some("piece"))
    );
    assert!(line("bron|2024-03-06|11:00:00|C-2|Pâtes|1").food_bank_donation);
    let o = line("bron|2024-03-06|11:00:00|C-2|Riz|1");
    assert_eq!((o.unit_price_paid, o.price_paid), (None, Some(45)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn card_register() {
    let dir = inbox("cards");
    let text = "N\u{b0} carte;Composition;CP;Droits du;Droits au;Plafond mensuel\r\n\
        C-1;Famille monoparentale;1000;01/01/2024;31/12/2024;80,00 \u{20ac}\r\n\
        C-2;3;69 008;45292;;\r\n\
        C-3;Personne seule;99999;01/01/2024;30/06/2024;50\r\n\
        C-4;Personne seule;69008;01/07/2024;30/06/2024;50\r\n\
        C-5;Personne seule;690;01/01/2024;30/06/2024;50\r\n\
        ;;;;;\r\n";
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| if c == '€' { 0x80 } else { c as u32 as u8 })
        .collect();
    add(&dir, 1, "beneficiaires_bron.csv", &bytes);
    let s = sync(&dir, CARDS);
    assert_eq!(s.read, 5);
    assert_eq!(s.rows.len(), 3);
    let reasons: Vec<_> = s
        .rejects
        .iter()
        .map(|r| (r.reason, r.field.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (RejectReason::InconsistentDates, "Droits au"),
            (RejectReason::UnknownPostcode, "CP")
        ]
    );
    let Some(Entity::Household(h)) = s.rows.get("bron|C-1") else {
        panic!()
    };
    assert_eq!(
        h.residence.as_ref().unwrap().postcode.as_deref(),
        Some("01000")
    );
    assert_eq!(h.monthly_cap, Some(8000));
    assert_eq!(h.composition, Some(Composition::SingleParent));
    assert_eq!(h.rights_to, Some(Date::ymd(2024, 12, 31)));
    let Some(Entity::Household(h)) = s.rows.get("bron|C-2") else {
        panic!()
    };
    assert_eq!(
        (h.size, h.rights_from),
        (Some(3), Some(Date::ymd(2024, 1, 1)))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_names() {
    assert_eq!(sales_grocery("ventes_bron_2024-03.csv"), Some("bron"));
    assert_eq!(
        sales_grocery("ventes_la_paillade_2024-03.csv"),
        Some("la_paillade")
    );
    assert_eq!(sales_grocery("ventes_bron_2024.csv"), None);
    assert_eq!(cards_grocery("beneficiaires_bron.csv"), Some("bron"));
    assert_eq!(cards_grocery("ventes_bron_2024-03.csv"), None);
}

/// `VIVRES_SIM_CHECK=<dir>/<net>.json cargo test -p <crate> sim_check -- --ignored`:
/// reads a partner-sim FileSet's files as the host would (inbox in order,
/// re-sends replacing their origin) and checks its connector-side expectations.
#[test]
#[ignore]
fn sim_check() {
    let Ok(json) = std::env::var("VIVRES_SIM_CHECK") else {
        return;
    };
    let set: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("vivres-simcheck-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (i, f) in set["files"].as_array().unwrap().iter().enumerate() {
        let p = std::path::PathBuf::from(f.as_str().unwrap());
        let d = dir.join(format!("{:08}-{:064x}", i + 1, i + 1));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
    }
    let mut keys: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> =
        Default::default();
    let mut rejects: Vec<(String, u64, String, String)> = Vec::new();
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    let mut read = 0;
    for (stream, table) in STREAMS {
        let files = own_files_for(stream, inbox::files_in(&dir).unwrap());
        let mut state: Option<String> = None;
        let t = keys.entry(table.to_string()).or_default();
        loop {
            let b = read_files(
                &Config {
                    batch_rows: Some(7),
                    ..Config::default()
                },
                &files,
                stream,
                state.as_deref(),
            )
            .unwrap();
            for o in &b.replace_origins {
                t.retain(|_, origin| origin != o);
            }
            read += b.items.len() + b.rejects.len();
            for i in b.items {
                t.insert(i.key, i.origin.unwrap());
            }
            for r in b.rejects {
                let reason = format!("{:?}", r.reason).replace("RejectReason::", "");
                *reasons.entry(reason.clone()).or_default() += 1;
                rejects.push((r.origin.unwrap(), r.line.unwrap(), reason, r.field));
            }
            state = b.state;
            if !b.more {
                break;
            }
        }
    }
    eprintln!(
        "read {read}, stored {:?}, rejects {reasons:?}",
        keys.iter().map(|(t, k)| (t, k.len())).collect::<Vec<_>>()
    );
    eprintln!(
        "expected stored {} quarantined {}",
        set["stored"], set["quarantined"]
    );
    let mut bad = 0;
    for row in set["rows"].as_array().unwrap() {
        let file = row["file"].as_str().unwrap();
        let line = row["line"].as_u64().unwrap();
        match row["outcome"]["outcome"].as_str().unwrap() {
            "stored" => {
                let table = row["outcome"]["table"].as_str().unwrap();
                let key = row["outcome"]["key"].as_str().unwrap();
                if !keys.get(table).is_some_and(|t| t.contains_key(key)) {
                    bad += 1;
                    eprintln!("MISSING {file}:{line} {table} {key}");
                }
            }
            _ => {
                let field = row["outcome"]["field"].as_str().unwrap();
                if field.starts_with("residence.") {
                    continue; // the hub's
                }
                let reason = row["outcome"]["reason"].as_str().unwrap().replace('_', "");
                if !rejects.iter().any(|(f, l, r, fd)| {
                    f == file && *l == line && r.to_lowercase() == reason && fd == field
                }) {
                    bad += 1;
                    eprintln!(
                        "NOT REJECTED {file}:{line} {reason} {field}; got {:?}",
                        rejects
                            .iter()
                            .filter(|(f, l, ..)| f == file && *l == line)
                            .collect::<Vec<_>>()
                    );
                }
            }
        }
    }
    assert_eq!(bad, 0);
}

const STREAMS: [(&str, &str); 2] = [(SALES, "order_lines"), (CARDS, "households")];

fn own_files_for(stream: &str, all: Vec<InboxFile>) -> Vec<InboxFile> {
    own_files(stream, all)
}
