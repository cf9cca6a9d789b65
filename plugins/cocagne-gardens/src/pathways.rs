//! Work-integration (IAE) pathways, from the state's IAE extranet export
//! `parcours_iae_<jardin>_<yyyy>.csv` in the source's inbox (partners §1):
//! `Matricule;Nom;Date entrée;Date sortie;Heures hebdo;Motif de sortie;Heures de formation`,
//! Windows-1252, `;`.
//!
//! - `Nom` is never read (its column is not even looked up);
//! - `Matricule` becomes `PersonId { scope: garden, local_id }`;
//! - key `<garden>/<matricule>/<entry yyyy-mm-dd>` (the hub stores only its keyed
//!   hash); a later line or file with the same key is an update;
//! - `Motif de sortie` is mapped to its IAE exit category, labels compared
//!   case-, accent- and space-insensitively after repairing mojibake; any other
//!   label is rejected `unknown-label`; the canonical label is stored;
//! - empty `Date sortie`: still in the pathway; an exit before the entry is
//!   rejected `inconsistent-dates`.
//!
//! Rejects carry the file, the line and the field, never a key (it would hold
//! the matricule).

use vivres_sdk::csv::{Header, Record};
use vivres_sdk::csv_inbox::{self, Refusal};
use vivres_sdk::fr::{self, Parsed};
use vivres_sdk::inbox::{self, InboxFile};
use vivres_sdk::model::{
    Batch, ConnectorError, Date, Entity, ExitCategory, Item, Pathway, PersonId, RejectReason,
};

/// Rows per batch.
pub const ROWS_PER_BATCH: usize = 2_000;

pub const MATRICULE: &str = "Matricule";
pub const ENTRY: &str = "Date entrée";
pub const EXIT: &str = "Date sortie";
pub const WEEKLY_HOURS: &str = "Heures hebdo";
pub const EXIT_REASON: &str = "Motif de sortie";
pub const TRAINING_HOURS: &str = "Heures de formation";

/// The IAE exit labels and their categories (partners §1).
pub const EXIT_LABELS: [(&str, ExitCategory); 17] = [
    ("Embauche en CDI non aidé", ExitCategory::Durable),
    ("Embauche en CDD de 6 mois ou plus", ExitCategory::Durable),
    ("Mission d'intérim de 6 mois ou plus", ExitCategory::Durable),
    (
        "Intégration dans la fonction publique",
        ExitCategory::Durable,
    ),
    ("Création ou reprise d'entreprise", ExitCategory::Durable),
    (
        "Embauche en CDD de moins de 6 mois",
        ExitCategory::Transition,
    ),
    (
        "Mission d'intérim de moins de 6 mois",
        ExitCategory::Transition,
    ),
    (
        "Contrat aidé chez un employeur de droit commun",
        ExitCategory::Transition,
    ),
    ("Entrée en formation qualifiante", ExitCategory::Positive),
    (
        "Embauche dans une autre structure de l'IAE",
        ExitCategory::Positive,
    ),
    ("Demandeur d'emploi", ExitCategory::Other),
    ("Inactif", ExitCategory::Other),
    ("Sans nouvelles", ExitCategory::Other),
    ("Décès", ExitCategory::Neutralised),
    ("Déménagement", ExitCategory::Neutralised),
    ("Maladie de longue durée", ExitCategory::Neutralised),
    ("Départ à la retraite", ExitCategory::Neutralised),
];

fn fold(s: &str) -> String {
    fr::fold_label(s)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The canonical label and category of an exit label, if it is one of the list.
pub fn exit_category(label: &str) -> Option<(&'static str, ExitCategory)> {
    let folded = fold(label);
    EXIT_LABELS
        .iter()
        .find(|(l, _)| fold(l) == folded)
        .map(|(l, c)| (*l, *c))
}

/// `parcours_iae_<jardin>_<yyyy>.csv`.
pub fn is_pathway_file(name: &str) -> bool {
    inbox::name_between(name, "parcours_iae_", ".csv").is_some()
}

/// Column positions of one export.
pub struct Columns {
    matricule: usize,
    entry: usize,
    exit: Option<usize>,
    weekly_hours: Option<usize>,
    exit_reason: Option<usize>,
    training_hours: Option<usize>,
}

impl Columns {
    pub fn find(header: &Header) -> Result<Columns, String> {
        Ok(Columns {
            matricule: header.require(MATRICULE).map_err(|e| e.to_string())?,
            entry: header
                .index_any(&[ENTRY, "Date d'entrée"])
                .ok_or_else(|| format!("no column `{ENTRY}` in the header"))?,
            exit: header.index_any(&[EXIT, "Date de sortie"]),
            weekly_hours: header.index_any(&[WEEKLY_HOURS, "Heures hebdomadaires"]),
            exit_reason: header.index(EXIT_REASON),
            training_hours: header.index(TRAINING_HOURS),
        })
    }
}

fn hours(s: &str, field: &str) -> Result<Option<f64>, (RejectReason, String, String)> {
    match fr::parse_decimal(s) {
        Ok(Parsed::Missing) => Ok(None),
        Ok(Parsed::Value(h)) if h >= 0.0 && h.is_finite() => Ok(Some(h)),
        Ok(Parsed::Value(_)) => Err((
            RejectReason::InvalidQuantity,
            field.to_string(),
            "negative hours".into(),
        )),
        Err(e) => Err((
            RejectReason::InvalidQuantity,
            field.to_string(),
            e.message().to_string(),
        )),
    }
}

fn days(d: &Date) -> i64 {
    fr::days_from_civil(d.year, d.month, d.day)
}

/// One line → a pathway, or (reason, field, detail).
pub fn pathway(
    garden: &str,
    cols: &Columns,
    row: &Record,
) -> Result<Item, (RejectReason, String, String)> {
    let err = |reason, field: &str, detail: &str| (reason, field.to_string(), detail.to_string());
    let matricule = row.get(cols.matricule);
    if fr::is_missing(matricule) {
        return Err(err(
            RejectReason::MissingRequired,
            MATRICULE,
            "empty matricule",
        ));
    }
    let entry = match fr::parse_date(row.get(cols.entry)) {
        Ok(Parsed::Value(d)) => d,
        Ok(Parsed::Missing) => {
            return Err(err(
                RejectReason::MissingRequired,
                ENTRY,
                "empty entry date",
            ));
        }
        Err(e) => return Err(err(RejectReason::InvalidDate, ENTRY, e.message())),
    };
    let exit = fr::parse_date(row.get_opt(cols.exit))
        .map_err(|e| err(RejectReason::InvalidDate, EXIT, e.message()))?
        .value();
    if let Some(exit) = &exit
        && days(exit) < days(&entry)
    {
        return Err(err(
            RejectReason::InconsistentDates,
            EXIT,
            "exit before entry",
        ));
    }
    let weekly_hours = hours(row.get_opt(cols.weekly_hours), WEEKLY_HOURS)?;
    let training_hours = hours(row.get_opt(cols.training_hours), TRAINING_HOURS)?;
    let reason = row.get_opt(cols.exit_reason);
    let (exit_label, exit_category) = if fr::is_missing(reason) {
        (None, None)
    } else {
        let (label, category) = exit_category(reason).ok_or_else(|| {
            err(
                RejectReason::UnknownLabel,
                EXIT_REASON,
                "not an IAE exit label",
            )
        })?;
        (Some(label.to_string()), Some(category))
    };
    let key = format!(
        "{garden}/{matricule}/{:04}-{:02}-{:02}",
        entry.year, entry.month, entry.day
    );
    let p = Pathway {
        worker: PersonId::new(garden, matricule),
        site: Some(garden.to_string()),
        entry,
        exit,
        weekly_hours,
        exit_label,
        exit_category,
        training_hours,
    };
    Ok(Item::new(key, Entity::Pathway(p)))
}

/// One `read` of the `pathways` stream: the next export of the inbox, from
/// its checkpointed line, [`ROWS_PER_BATCH`] rows at most.
pub fn read(garden: &str, state: Option<&str>) -> Result<Batch, ConnectorError> {
    let files: Vec<InboxFile> = inbox::files()?
        .into_iter()
        .filter(|f| is_pathway_file(&f.name))
        .collect();
    read_files(garden, state, &files)
}

pub fn read_files(
    garden: &str,
    state: Option<&str>,
    files: &[InboxFile],
) -> Result<Batch, ConnectorError> {
    csv_inbox::read(
        state,
        files,
        ROWS_PER_BATCH,
        |_, header| {
            Columns::find(header).map_err(|e| Refusal::new(RejectReason::MalformedFile, "file", e))
        },
        |columns, row, items| {
            items.push(pathway(garden, columns, row)?);
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vivres-iae-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn inbox_file(dir: &Path, seq: u64, name: &str, body: &[u8]) -> InboxFile {
        let id = format!("{seq:08}-{}", "b".repeat(64));
        let d = dir.join(&id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), body).unwrap();
        InboxFile {
            id,
            seq,
            sha256: "b".repeat(64),
            name: name.into(),
            path: d.join(name),
        }
    }

    /// Windows-1252 bytes of a Latin-1 string (the test text has no € nor œ).
    fn cp1252(s: &str) -> Vec<u8> {
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
            .collect()
    }

    #[test]
    fn labels_fold_and_map() {
        assert_eq!(
            exit_category("embauche en cdi  NON AIDE"),
            Some(("Embauche en CDI non aidé", ExitCategory::Durable))
        );
        assert_eq!(
            exit_category("DÃ©cÃ¨s").map(|x| x.1),
            Some(ExitCategory::Neutralised)
        );
        assert_eq!(
            exit_category("Mission d’intérim de moins de 6 mois").map(|x| x.1),
            Some(ExitCategory::Transition)
        );
        assert_eq!(
            exit_category("Entrée en formationqualifiante").map(|x| x.1),
            Some(ExitCategory::Positive)
        );
        assert_eq!(exit_category("Parti en vacances"), None);
        assert!(is_pathway_file("parcours_iae_jardin-lyon_2024.csv"));
        assert!(!is_pathway_file("fermes.csv"));
    }

    #[test]
    fn an_export_with_its_quirks() {
        let dir = tmp("quirks");
        let text = "Matricule;Nom;Date entrée;Date sortie;Heures hebdo;Motif de sortie;Heures de formation\r\n\
            M001;Dupont Jean;15/01/2024;30/06/2024;26;Embauche en CDI non aidé;40,5\r\n\
            \r\n\
            M002;Martin Léa;2024-02-01;;20,5;;\r\n\
            ;;;;;;\r\n\
            Matricule;Nom;Date entrée;Date sortie;Heures hebdo;Motif de sortie;Heures de formation\r\n\
            M003;Durand;45292;01/03/24;26;  DEMENAGEMENT ;0\r\n\
            M004;X;01/03/2024;01/02/2024;26;Inactif;\r\n\
            M005;Y;31/02/2024;;26;;\r\n\
            M006;Z;01/03/2024;15/04/2024;26;Parti en vacances;\r\n\
            ;W;01/03/2024;;26;;\r\n\
            M001;Dupont Jean;15/01/2024;30/06/2024;26;Embauche en CDI non aidé;41\r\n";
        let f = inbox_file(&dir, 1, "parcours_iae_jardin-lyon_2024.csv", &cp1252(text));
        let b = read_files("jardin-lyon", None, std::slice::from_ref(&f)).unwrap();
        assert_eq!(b.replace_origins, ["parcours_iae_jardin-lyon_2024.csv"]);
        assert!(!b.more);
        let keys: Vec<&str> = b.items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "jardin-lyon/M001/2024-01-15",
                "jardin-lyon/M002/2024-02-01",
                "jardin-lyon/M003/2024-01-01",
                "jardin-lyon/M001/2024-01-15",
            ]
        );
        let p = |i: usize| match &b.items[i].entity {
            Entity::Pathway(p) => p.clone(),
            _ => panic!(),
        };
        let p0 = p(0);
        assert_eq!(p0.worker, PersonId::new("jardin-lyon", "M001"));
        assert_eq!(p0.site.as_deref(), Some("jardin-lyon"));
        assert_eq!(p0.exit, Some(Date::ymd(2024, 6, 30)));
        assert_eq!(p0.weekly_hours, Some(26.0));
        assert_eq!(p0.exit_label.as_deref(), Some("Embauche en CDI non aidé"));
        assert_eq!(p0.exit_category, Some(ExitCategory::Durable));
        assert_eq!(p0.training_hours, Some(40.5));
        let p1 = p(1);
        assert_eq!(
            (p1.exit, p1.exit_category, p1.weekly_hours),
            (None, None, Some(20.5))
        );
        let p2 = p(2);
        assert_eq!(p2.exit, Some(Date::ymd(2024, 3, 1)));
        assert_eq!(p2.exit_label.as_deref(), Some("Déménagement"));
        assert_eq!(p2.exit_category, Some(ExitCategory::Neutralised));
        assert_eq!(p(3).training_hours, Some(41.0));
        let rejects: Vec<(RejectReason, &str, Option<u64>)> = b
            .rejects
            .iter()
            .map(|r| (r.reason, r.field.as_str(), r.line))
            .collect();
        assert_eq!(
            rejects,
            [
                (RejectReason::InconsistentDates, "Date sortie", Some(8)),
                (RejectReason::InvalidDate, "Date entrée", Some(9)),
                (RejectReason::UnknownLabel, "Motif de sortie", Some(10)),
                (RejectReason::MissingRequired, "Matricule", Some(11)),
            ]
        );
        assert!(
            b.rejects.iter().all(|r| r.key.is_none()
                && r.origin.as_deref() == Some("parcours_iae_jardin-lyon_2024.csv"))
        );
        // No name reaches a record or a reject.
        let all = format!(
            "{:?}{:?}",
            b.items,
            b.rejects
                .iter()
                .map(|r| (&r.field, &r.detail))
                .collect::<Vec<_>>()
        );
        assert!(!all.contains("Dupont") && !all.contains("Martin"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn batches_resume_at_their_line_and_a_resent_file_replaces() {
        let mut text = String::from(
            "Matricule;Nom;Date entrée;Date sortie;Heures hebdo;Motif de sortie;Heures de formation\n",
        );
        for i in 0..(ROWS_PER_BATCH + 10) {
            text.push_str(&format!("M{i};N;01/03/2024;;26;;\n"));
        }
        let mut inbox = vivres_sdk::testing::TempInbox::new("iae-batches");
        inbox.add("parcours_iae_g_2024.csv", text.as_bytes()).add(
            "parcours_iae_g_2024.csv",
            b"Matricule;Nom;Date entr\xe9e\nM1;N;01/03/2024\nM2;N;31/02/2024\n",
        );
        let files = inbox.files();
        // Every checkpoint resumes to the same records (SDK harness).
        let run = vivres_sdk::testing::assert_resumes(|state| read_files("g", state, &files));
        assert_eq!(run.totals[0], (ROWS_PER_BATCH, 0, 1));
        assert_eq!(run.items.len(), ROWS_PER_BATCH + 10 + 1);
        assert_eq!(
            run.items[ROWS_PER_BATCH].key,
            format!("g/M{}/2024-03-01", ROWS_PER_BATCH)
        );
        assert_eq!(
            run.items[ROWS_PER_BATCH].line,
            Some(ROWS_PER_BATCH as u64 + 2)
        );
        assert_eq!(run.replace_origins, ["parcours_iae_g_2024.csv"; 2]);
        let r = &run.rejects[0];
        assert_eq!(
            (r.reason, r.field.as_str(), r.line),
            (RejectReason::InvalidDate, ENTRY, Some(3))
        );
    }

    #[test]
    fn an_export_without_matricule_column_is_malformed() {
        let dir = tmp("malformed");
        let f = inbox_file(&dir, 1, "parcours_iae_g_2024.csv", b"Nom;Date\nX;Y\n");
        let b = read_files("g", None, &[f]).unwrap();
        assert_eq!(b.rejects.len(), 1);
        assert_eq!(b.rejects[0].reason, RejectReason::MalformedFile);
        assert_eq!(b.rejects[0].field, "file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
