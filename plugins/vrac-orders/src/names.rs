//! The workbooks' file names: `commande_<groupement>_<yyyy-mm>.xlsx`, or its CSV
//! export `commande_<groupement>_<yyyy-mm>_Commande.csv` and `…_Produits.csv`.

use vivres_sdk::inbox::{InboxFile, name_between};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The workbook: both sheets.
    Xlsx,
    /// The CSV export of sheet `Commande`.
    CsvCommande,
    /// The CSV export of sheet `Produits`.
    CsvProduits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkbookName {
    pub group: String,
    /// `yyyy-mm`.
    pub month: String,
    pub form: Form,
}

impl WorkbookName {
    /// The other file of a CSV pair (`…_Produits.csv` for `…_Commande.csv`).
    pub fn companion(&self, form: Form) -> String {
        let stem = format!("commande_{}_{}", self.group, self.month);
        match form {
            Form::Xlsx => format!("{stem}.xlsx"),
            Form::CsvCommande => format!("{stem}_Commande.csv"),
            Form::CsvProduits => format!("{stem}_Produits.csv"),
        }
    }
}

/// Reads a file name; `Err` says what is wrong with it (never a value: file
/// names are not personal).
pub fn parse(name: &str) -> Result<WorkbookName, String> {
    let (stem, form) = if let Some(s) = name_between(name, "commande_", "_Commande.csv") {
        (s, Form::CsvCommande)
    } else if let Some(s) = name_between(name, "commande_", "_Produits.csv") {
        (s, Form::CsvProduits)
    } else if let Some(s) = name_between(name, "commande_", ".xlsx") {
        (s, Form::Xlsx)
    } else {
        return Err(
            "not a VRAC order workbook: expected commande_<groupement>_<yyyy-mm>.xlsx or its CSV export …_Commande.csv / …_Produits.csv"
                .into(),
        );
    };
    let Some((group, month)) = stem.rsplit_once('_') else {
        return Err("file name: no _<yyyy-mm> after the group".into());
    };
    let group = group.trim();
    if group.is_empty() {
        return Err("file name: no group".into());
    }
    if !valid_month(month) {
        return Err("file name: the month is not yyyy-mm".into());
    }
    Ok(WorkbookName {
        group: group.to_string(),
        month: month.to_string(),
        form,
    })
}

fn valid_month(m: &str) -> bool {
    let b = m.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
        && matches!(m[5..].parse::<u8>(), Ok(1..=12))
}

/// Which files a stream reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wants {
    /// Sheet `Commande`: workbooks and `…_Commande.csv`; other files too when
    /// `strays` (to quarantine them once, as `malformed_file`).
    Commande { strays: bool },
    /// Sheet `Produits`: workbooks and `…_Produits.csv`.
    Produits,
}

pub fn select(files: &[InboxFile], wants: Wants) -> Vec<InboxFile> {
    files
        .iter()
        .filter(|f| match (parse(&f.name), wants) {
            (Ok(n), Wants::Commande { .. }) => n.form != Form::CsvProduits,
            (Ok(n), Wants::Produits) => n.form != Form::CsvCommande,
            (Err(_), Wants::Commande { strays }) => strays,
            (Err(_), Wants::Produits) => false,
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = parse("commande_croix-rousse_2024-03.xlsx").unwrap();
        assert_eq!(
            (n.group.as_str(), n.month.as_str(), n.form),
            ("croix-rousse", "2024-03", Form::Xlsx)
        );
        let n = parse("commande_les_minimes_2024-11_Commande.csv").unwrap();
        assert_eq!(
            (n.group.as_str(), n.month.as_str(), n.form),
            ("les_minimes", "2024-11", Form::CsvCommande)
        );
        assert_eq!(
            n.companion(Form::CsvProduits),
            "commande_les_minimes_2024-11_Produits.csv"
        );
        assert_eq!(
            parse("COMMANDE_x_2024-01_produits.csv").unwrap().form,
            Form::CsvProduits
        );
        for bad in [
            "commande_x_2024-13.xlsx",
            "commande__2024-01.xlsx",
            "commande_2024-01.xlsx",
            "notes.txt",
            "commande_x_2024-01.xls",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
