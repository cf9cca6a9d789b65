//! A whole file with the quirks, read through both streams like the host does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn cp1252(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '€' => 0x80,
            c => u8::try_from(u32::from(c)).expect("latin-1 test text"),
        })
        .collect()
}

fn inbox(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vivres-sc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn add(dir: &Path, seq: u64, name: &str, bytes: &[u8]) {
    let sha = format!("{seq:x}{}", &SHA[format!("{seq:x}").len()..]);
    let d = dir.join(format!("{seq:08}-{sha}"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), bytes).unwrap();
}

const HEADER: &str = "Date passage;N° dossier;Equipe;Composition;Nb adultes;Nb enfants;CP;Commune;Ressources mensuelles;Reste à vivre;Type aide;Montant;Commentaire";

/// What the host would hold: key → (origin, entity), and every reject.
#[derive(Default)]
struct Store {
    rows: BTreeMap<String, (String, Entity)>,
    rejects: Vec<Reject>,
    read: usize,
}

fn sync(dir: &Path, stream: &str, store: &mut Store, state: &mut Option<String>) {
    let config = Config {
        batch_rows: Some(3),
        ..Config::default()
    };
    let files = own_files(inbox::files_in(dir).unwrap());
    for _ in 0..1000 {
        let b = read_files(&config, &files, stream, state.as_deref()).unwrap();
        for o in &b.replace_origins {
            store.rows.retain(|_, (origin, _)| origin != o);
        }
        store.read += b.items.len() + b.rejects.len();
        for i in b.items {
            store.rows.insert(i.key, (i.origin.unwrap(), i.entity));
        }
        store.rejects.extend(b.rejects);
        *state = b.state;
        if !b.more {
            return;
        }
    }
    panic!("never finished");
}

fn file_v1() -> Vec<u8> {
    let lines = [
        HEADER,
        "15/03/2024;D-100;Lyon 3;Famille monoparentale;1;2;69 008;Lyon;845,50 €;-120;Chèque alimentaire;15,00 €;Mme X, dit que ça va",
        "16/03/24;D-101;Lyon 3;Couple avec enfants;2;3;1000;;1\u{a0}234,50;300;2 x chèque 15€;30;",
        ";;;;;;;;;;;;",
        "",
        "2024-03-17;D-102;Lyon 3;Personne seule;1;0;Villeurbanne;;NC;?;Colis;;\"note; avec point-virgule\"",
        HEADER,
        "45366;D-103;Lyon 3;Autre;1;0;69100;Villeurbanne;;;Vestiaire;-;",
        "31/02/2024;D-104;Lyon 3;Personne seule;1;0;69003;Lyon;;;Repas;5;",
        "18/03/2024;;Lyon 3;Personne seule;1;0;69003;Lyon;;;Repas;5;",
        "18/03/2024;D-105;Lyon 3;Personne seule;1;0;99999;;;;Repas;5;",
        "18/03/2024;D-106;Lyon 3;Personne seule;1;0;;Valence;;;Repas;douze;",
        "18/03/2024;D-107;Lyon 3;Personne seule;1;0;;Saint-Denis;;;Repas;5;",
        "18/03/2024;D-108;Lyon 3;Personne seule;1;0;;Nulle-Part-sur-Mer;;;Repas;5;",
        "18/03/2024;D-109;Lyon 3;Colocation;2;0;69003;Lyon;;;Repas;5;",
        "15/03/2024;D-100;Lyon 3;Famille monoparentale;1;2;69 008;Lyon;845,50 €;-120;Chèque alimentaire;15,00 €;Mme X, dit que ça va",
        "TOTAL;;;;;;;;;;;60;",
        ";;;;",
    ];
    cp1252(&(lines.join("\r\n") + "\r\n"))
}

#[test]
fn a_file_with_the_quirks_reads_whole() {
    let dir = inbox("quirks");
    add(&dir, 1, "accueils_lyon-3_2024.csv", &file_v1());
    add(&dir, 2, "notes.txt", b"ignored");

    let mut aids = Store::default();
    sync(&dir, AIDS, &mut aids, &mut None);
    // 12 data rows (blank, header and TOTAL lines are not rows).
    let reasons = |store: &Store| -> Vec<(RejectReason, String, u64)> {
        store
            .rejects
            .iter()
            .map(|r| (r.reason, r.field.clone(), r.line.unwrap()))
            .collect()
    };
    let refused: Vec<(RejectReason, String, u64)> = [
        (RejectReason::InvalidDate, "Date passage", 9),
        (RejectReason::MissingRequired, "N° dossier", 10),
        (RejectReason::UnknownPostcode, "CP", 11),
        (RejectReason::InvalidAmount, "Montant", 12),
        // A commune name alone borne by communes of several départements, or by none.
        (RejectReason::UnresolvedLocation, "Commune", 13),
        (RejectReason::UnresolvedLocation, "Commune", 14),
        (RejectReason::UnknownLabel, "Composition", 15),
    ]
    .into_iter()
    .map(|(r, f, l)| (r, f.to_string(), l))
    .collect();
    assert_eq!(reasons(&aids), refused);
    // 12 rows: 6 aids (D-101 is two, D-100 comes twice) + 7 rejects; 5 keys.
    assert_eq!(aids.read, 6 + 7);
    assert_eq!(aids.rows.len(), 5);
    for r in &aids.rejects {
        assert!(!r.detail.contains("D-1"), "{r:?}");
        assert_eq!(r.origin.as_deref(), Some("accueils_lyon-3_2024.csv"));
    }
    let get = |k: &str| match &aids.rows.get(k).unwrap().1 {
        Entity::Distribution(d) => d.clone(),
        _ => unreachable!(),
    };
    let d = get("Lyon 3|D-100|2024-03-15|food-voucher|1500|1");
    assert_eq!(d.household, Some(PersonId::new("Lyon 3", "D-100")));
    assert_eq!(d.kind, AidKind::FoodVoucher);
    assert_eq!(d.label, None);
    assert_eq!(d.amount, Some(1500));
    for ordinal in [1, 2] {
        let d = get(&format!(
            "Lyon 3|D-101|2024-03-16|food-voucher|1500|{ordinal}"
        ));
        assert_eq!((d.amount, d.ordinal), (Some(1500), ordinal));
    }
    assert_eq!(get("Lyon 3|D-102|2024-03-17|parcel|?|1").amount, None);
    let d = get("Lyon 3|D-103|2024-03-15|vestiaire|?|1");
    assert_eq!(
        (d.kind, d.label.as_deref()),
        (AidKind::Other, Some("Vestiaire"))
    );

    // A row is refused or taken as a whole: the households stream refuses the
    // same rows, with the same reasons and fields.
    let mut hh = Store::default();
    sync(&dir, HOUSEHOLDS, &mut hh, &mut None);
    assert_eq!(reasons(&hh), refused);
    assert_eq!(hh.read, 12);
    assert_eq!(hh.rows.len(), 4);
    let h = match &hh.rows.get("Lyon 3|D-101").unwrap().1 {
        Entity::Household(h) => h.clone(),
        _ => unreachable!(),
    };
    assert_eq!(
        h.residence.as_ref().unwrap().postcode.as_deref(),
        Some("01000")
    );
    assert_eq!((h.adults, h.children, h.size), (Some(2), Some(3), Some(5)));
    assert_eq!(h.composition, Some(Composition::CoupleWithChildren));
    assert_eq!(h.income, Some(IncomeBand::From1200));
    assert_eq!(h.reste_a_vivre, Some(IncomeBand::From300to599));
    let h = match &hh.rows.get("Lyon 3|D-100").unwrap().1 {
        Entity::Household(h) => h.clone(),
        _ => unreachable!(),
    };
    assert_eq!(h.reste_a_vivre, Some(IncomeBand::Below300));
    assert_eq!(h.income, Some(IncomeBand::From600to899));
    assert_eq!(h.composition, Some(Composition::SingleParent));
    let h = match &hh.rows.get("Lyon 3|D-102").unwrap().1 {
        Entity::Household(h) => h.clone(),
        _ => unreachable!(),
    };
    let l = h.residence.unwrap();
    assert_eq!(
        (l.postcode, l.commune.as_deref()),
        (None, Some("Villeurbanne"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn euro_and_accents_survive_windows_1252() {
    let dir = inbox("euro");
    add(
        &dir,
        1,
        "accueils_marseille-nord_2024.csv",
        &cp1252(&format!(
            "{HEADER}\r\n15/03/2024;7;Marseille Nord;;;;13001;Marseille;;;Aide à l'énergie 20 €;;\r\n"
        )),
    );
    let mut aids = Store::default();
    sync(&dir, AIDS, &mut aids, &mut None);
    let (_, e) = aids.rows.values().next().unwrap();
    let Entity::Distribution(d) = e else {
        unreachable!()
    };
    assert_eq!(d.label.as_deref(), Some("Aide à l'énergie 20 €"));
    assert_eq!(d.amount, Some(2000));
    assert_eq!(d.site.as_deref(), Some("Marseille Nord"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrected_resend_replaces_and_later_files_are_read_next_time() {
    let dir = inbox("resend");
    let name = "accueils_lyon-3_2024.csv";
    add(&dir, 1, name, &file_v1());
    let mut aids = Store::default();
    let mut state = None;
    sync(&dir, AIDS, &mut aids, &mut state);
    assert_eq!(aids.rows.len(), 5);
    // v2: the invalid date fixed, the Vestiaire row removed.
    let v2 = cp1252(
        &[
            HEADER,
            "15/03/2024;D-100;Lyon 3;Famille monoparentale;1;2;69 008;Lyon;845,50 €;-120;Chèque alimentaire;15,00 €;",
            "16/03/24;D-101;Lyon 3;Couple avec enfants;2;3;1000;;1 234,50;300;2 x chèque 15€;30;",
            "2024-03-17;D-102;Lyon 3;Personne seule;1;0;Villeurbanne;;NC;?;Colis;;",
            "29/02/2024;D-104;Lyon 3;Personne seule;1;0;69003;Lyon;;;Repas;5;",
        ]
        .join("\r\n"),
    );
    add(&dir, 2, name, &v2);
    // Same content again: the hub does not add it; a re-run reads nothing.
    sync(&dir, AIDS, &mut aids, &mut state);
    assert_eq!(aids.rows.len(), 5);
    assert!(aids.rows.contains_key("Lyon 3|D-104|2024-02-29|meal|500|1"));
    assert!(!aids.rows.keys().any(|k| k.contains("D-103")));
    let before = aids.read;
    sync(&dir, AIDS, &mut aids, &mut state);
    assert_eq!(aids.read, before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_names_and_malformed_files() {
    assert_eq!(file_team("accueils_lyon-3_2024.csv"), Some("lyon-3"));
    assert_eq!(
        file_team("ACCUEILS_saint_denis_2023.CSV"),
        Some("saint_denis")
    );
    assert_eq!(file_team("accueils_2024.csv"), None);
    assert_eq!(file_team("ventes_x_2024-03.csv"), None);
    let dir = inbox("malformed");
    add(&dir, 1, "accueils_a_2024.csv", b"");
    add(&dir, 2, "accueils_b_2024.csv", b"Date;Dossier\r\n1;2\r\n");
    let mut aids = Store::default();
    sync(&dir, AIDS, &mut aids, &mut None);
    assert_eq!(aids.rejects.len(), 2);
    assert!(
        aids.rejects
            .iter()
            .all(|r| r.reason == RejectReason::MalformedFile)
    );
    assert_eq!(aids.rejects[1].field, "Date passage");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        read_files(&Config::default(), &[], "nope", None),
        Err(ConnectorError::BadConfig(_))
    ));
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

const STREAMS: [(&str, &str); 2] = [(AIDS, "distributions"), (HOUSEHOLDS, "households")];

fn own_files_for(_stream: &str, all: Vec<InboxFile>) -> Vec<InboxFile> {
    own_files(all)
}

/// `VIVRES_BENCH_DIR=<dir with accueils files> cargo test --release -p secours-catholique-aid bench_dir -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_dir() {
    let Ok(dir) = std::env::var("VIVRES_BENCH_DIR") else {
        return;
    };
    let files = own_files(inbox::files_in(Path::new(&dir)).unwrap());
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(&f.path).unwrap().len())
        .sum();
    let start = std::time::Instant::now();
    let (mut state, mut n) = (None, 0);
    loop {
        let b = read_files(&Config::default(), &files, AIDS, state.as_deref()).unwrap();
        n += b.items.len() + b.rejects.len();
        state = b.state;
        if !b.more {
            break;
        }
    }
    let s = start.elapsed().as_secs_f64();
    eprintln!(
        "{n} records, {:.1} MB in {s:.2} s: {:.0} MB/s",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / s
    );
}

/// Both streams through the SDK's harness: every checkpoint of a run over a
/// file with the quirks, a re-sent version and a malformed file resumes to
/// the same records; the two streams refuse the same lines alike.
#[test]
fn every_checkpoint_resumes_to_the_same_records() {
    let mut inbox = vivres_sdk::testing::TempInbox::new("sc-resume");
    inbox
        .add("accueils_lyon-3_2024.csv", &file_v1())
        .add("accueils_lyon-3_2025.csv", b"Nom;CP\nX;69001\n")
        .add("notes.txt", b"ignored")
        .add("accueils_lyon-3_2024.csv", &file_v1());
    let files = own_files(inbox.files());
    let config = Config {
        batch_rows: Some(4),
        ..Config::default()
    };
    let read = |stream| {
        vivres_sdk::testing::assert_resumes(|state| read_files(&config, &files, stream, state))
    };
    let (aids, households) = (read(AIDS), read(HOUSEHOLDS));
    assert_eq!(aids.items.len(), 2 * 6);
    assert_eq!(households.items.len(), 2 * 5);
    let lines = |run: &vivres_sdk::testing::Run| -> Vec<(Option<u64>, RejectReason, String)> {
        run.rejects
            .iter()
            .map(|r| (r.line, r.reason, r.field.clone()))
            .collect()
    };
    assert_eq!(lines(&aids), lines(&households));
    assert_eq!(aids.rejects.len(), 2 * 7 + 1);
    let malformed = &aids.rejects[7];
    assert_eq!(
        (malformed.reason, malformed.field.as_str(), malformed.line),
        (RejectReason::MalformedFile, "Date passage", Some(1))
    );
    assert!(
        aids.items
            .iter()
            .chain(&households.items)
            .all(|i| i.line.is_some() && i.origin.is_some())
    );
    assert_eq!(
        aids.replace_origins,
        [
            "accueils_lyon-3_2024.csv",
            "accueils_lyon-3_2025.csv",
            "accueils_lyon-3_2024.csv"
        ]
    );
}

/// The teams' communes come from the settings, as a `sites` stream that the
/// source offers only when they are given.
#[test]
fn teams_have_their_commune_from_the_settings() {
    let config: Config = serde_json::from_str(
        r#"{"sites": [{"id": "Lyon 3", "insee": "69383", "name": "Équipe Lyon 3"}]}"#,
    )
    .unwrap();
    let b = read_files(&config, &[], vivres_sdk::sites::STREAM, None).unwrap();
    assert!(!b.more);
    assert_eq!(b.items.len(), 1);
    assert_eq!(b.items[0].key, "Lyon 3");
    let Entity::Site(s) = &b.items[0].entity else {
        panic!("{:?}", b.items[0])
    };
    assert_eq!(s.kind, SiteKind::AidTeam);
    assert_eq!(
        s.location.as_ref().and_then(|l| l.insee.as_deref()),
        Some("69383")
    );
    let spaced: Config =
        serde_json::from_str(r#"{"sites": [{"id": "Lyon 3", "insee": "69003 "}]}"#).unwrap();
    assert!(read_files(&spaced, &[], "sites", None).is_ok());
    let bad: Config =
        serde_json::from_str(r#"{"sites": [{"id": "Lyon 3", "insee": "6900"}]}"#).unwrap();
    assert!(matches!(
        read_files(&bad, &[], "sites", None),
        Err(ConnectorError::BadConfig(m)) if m.starts_with("sites[0].insee")
    ));
    assert!(
        serde_json::from_str::<Config>(
            r#"{"sites": [{"id": "a", "insee": "69383", "cp": "69003"}]}"#
        )
        .is_err()
    );
    let streams = |c: &Config| -> Vec<String> {
        SecoursCatholiqueAid::discover(c)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(streams(&Config::default()), [AIDS, HOUSEHOLDS]);
    assert_eq!(streams(&config), [AIDS, HOUSEHOLDS, "sites"]);
}
