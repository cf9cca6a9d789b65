//! A refused line in plain words: what is wrong and what to correct in the
//! partner's file. Built from the quarantine entry's reason, column, file and
//! line only: the refused value itself was never kept.

use maud::{Markup, html};

use super::layout::Lang;
use crate::warehouse::QuarantineEntry;

/// The reason, as a coordinator reads it.
pub fn reason(lang: Lang, code: &str) -> &'static str {
    match code {
        "invalid_date" => lang.t("date invalide", "invalid date"),
        "invalid_amount" => lang.t("montant illisible", "unreadable amount"),
        "invalid_quantity" => lang.t("quantité invalide", "invalid quantity"),
        "unknown_postcode" => lang.t("code postal inconnu", "unknown postcode"),
        "unresolved_location" => lang.t(
            "commune introuvable ou ambiguë",
            "commune not found or ambiguous",
        ),
        "missing_required" => lang.t("valeur obligatoire absente", "required value missing"),
        "unknown_label" => lang.t("valeur non reconnue", "value not recognised"),
        "inconsistent_dates" => lang.t("dates incohérentes", "inconsistent dates"),
        "malformed_file" => lang.t("fichier illisible", "unreadable file"),
        _ => lang.t("ligne refusée", "line refused"),
    }
}

/// What to do about it, naming the column, the line and the file.
pub fn advice(lang: Lang, q: &QuarantineEntry) -> String {
    let column = &q.field;
    let mut place = match (lang, q.line, q.origin.as_deref()) {
        (Lang::Fr, Some(l), Some(f)) => format!("de la ligne {l} du fichier {f}"),
        (Lang::Fr, Some(l), None) => format!("de la ligne {l}"),
        (Lang::Fr, None, _) => "de cet enregistrement".to_string(),
        (Lang::En, Some(l), Some(f)) => format!("of line {l} of {f}"),
        (Lang::En, Some(l), None) => format!("of line {l}"),
        (Lang::En, None, _) => "of this record".to_string(),
    };
    if let Some(cell) = &q.cell {
        place.push_str(&match lang {
            Lang::Fr => format!(" (cellule {cell})"),
            Lang::En => format!(" (cell {cell})"),
        });
    }
    match (lang, q.reason.as_str()) {
        (Lang::Fr, "invalid_date") => format!(
            "corriger la date (colonne « {column} ») {place} : une date qui existe, par exemple 29/02/2024"
        ),
        (Lang::Fr, "invalid_amount") => format!(
            "corriger le montant (colonne « {column} ») {place} : un nombre en euros, par exemple 15,00"
        ),
        (Lang::Fr, "invalid_quantity") => {
            format!("corriger la quantité (colonne « {column} ») {place} : un nombre positif")
        }
        (Lang::Fr, "unknown_postcode") => format!(
            "corriger le code postal (colonne « {column} ») {place} : cinq chiffres d'une commune existante"
        ),
        (Lang::Fr, "unresolved_location") => format!(
            "préciser la commune (colonne « {column} ») {place} : code postal et nom de la commune"
        ),
        (Lang::Fr, "missing_required") => {
            format!("remplir la colonne « {column} » {place}")
        }
        (Lang::Fr, "unknown_label") => format!(
            "remplacer la valeur de la colonne « {column} » {place} par une des valeurs prévues"
        ),
        (Lang::Fr, "inconsistent_dates") => format!(
            "vérifier les dates (colonne « {column} ») {place} : la fin ne peut précéder le début"
        ),
        (Lang::Fr, "malformed_file") => format!(
            "exporter à nouveau le fichier depuis le logiciel du partenaire, sans le retoucher, puis le déposer ({place})"
        ),
        (Lang::Fr, _) => format!("vérifier la colonne « {column} » {place}"),
        (Lang::En, "invalid_date") => {
            format!("correct the date (column “{column}”) {place}: a real date, e.g. 29/02/2024")
        }
        (Lang::En, "invalid_amount") => {
            format!("correct the amount (column “{column}”) {place}: a number of euros, e.g. 15,00")
        }
        (Lang::En, "invalid_quantity") => {
            format!("correct the quantity (column “{column}”) {place}: a positive number")
        }
        (Lang::En, "unknown_postcode") => format!(
            "correct the postcode (column “{column}”) {place}: five digits of an existing commune"
        ),
        (Lang::En, "unresolved_location") => {
            format!("name the commune (column “{column}”) {place}: postcode and commune name")
        }
        (Lang::En, "missing_required") => format!("fill in column “{column}” {place}"),
        (Lang::En, "unknown_label") => {
            format!(
                "replace the value of column “{column}” {place} with one of the expected values"
            )
        }
        (Lang::En, "inconsistent_dates") => {
            format!("check the dates (column “{column}”) {place}: the end cannot precede the start")
        }
        (Lang::En, "malformed_file") => format!(
            "export the file again from the partner's software, untouched, then upload it ({place})"
        ),
        (Lang::En, _) => format!("check column “{column}” {place}"),
    }
}

/// The table of a run's refused lines.
pub fn table(lang: Lang, entries: &[QuarantineEntry], truncated: bool) -> Markup {
    html! {
        @if entries.is_empty() {
            p { (lang.t("Aucune ligne refusée.", "No line refused.")) }
        } @else {
            div.scroll {
                table #refusals {
                    caption { (lang.t("Lignes refusées", "Refused lines")) " (" (lang.num(entries.len() as u64)) @if truncated { "+" } ")" }
                    thead { tr {
                        th scope="col" { (lang.t("Fichier", "File")) }
                        th scope="col" { (lang.t("Ligne", "Line")) }
                        th scope="col" { (lang.t("Colonne", "Column")) }
                        th scope="col" { (lang.t("Motif", "Reason")) }
                        th scope="col" { (lang.t("À corriger", "To correct")) }
                    } }
                    tbody {
                        @for q in entries {
                            tr {
                                td { (q.origin.as_deref().unwrap_or("—")) }
                                td.n { @if let Some(l) = q.line { (l) } @else { "—" } }
                                td { code { (q.field) } }
                                td { (reason(lang, &q.reason)) }
                                td { (advice(lang, q)) }
                            }
                        }
                    }
                }
            }
            @if truncated {
                p.hint { (lang.t(
                    "Seules les premières lignes sont affichées ; la liste complète est dans l'API (/api/v1/quarantine).",
                    "Only the first lines are shown; the full list is in the API (/api/v1/quarantine).",
                )) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_postcode_says_what_to_correct() {
        let q = QuarantineEntry {
            id: 1,
            source: "s".into(),
            stream: "aids".into(),
            run_id: 1,
            origin: Some("accueils_lyon-3_2024.csv".into()),
            line: Some(17),
            cell: None,
            reason: "unknown_postcode".into(),
            field: "CP".into(),
            detail: "not a postcode".into(),
            payload_hash: String::new(),
        };
        assert_eq!(reason(Lang::Fr, &q.reason), "code postal inconnu");
        assert_eq!(
            advice(Lang::Fr, &q),
            "corriger le code postal (colonne « CP ») de la ligne 17 du fichier accueils_lyon-3_2024.csv : cinq chiffres d'une commune existante"
        );
    }
}
