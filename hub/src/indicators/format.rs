//! Published cells as a terminal table, CSV for French spreadsheets (`;`,
//! UTF-8 with BOM, decimal point) or JSON. A suppressed cell shows neither
//! value nor `n`.

use super::Published;

/// How `vivres indicators` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

pub fn render(cells: &[Published], format: Format) -> String {
    match format {
        Format::Table => table(cells),
        Format::Csv => csv(cells),
        Format::Json => serde_json::to_string_pretty(cells).unwrap_or_default() + "\n",
    }
}

/// A value with as many decimals as it deserves: counts as integers,
/// shares and amounts with one or two.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn value_text(c: &Published) -> String {
    if c.suppressed {
        "suppressed".to_string()
    } else {
        c.value.map(number).unwrap_or_else(|| "-".to_string())
    }
}

fn breakdown_text(c: &Published) -> String {
    match (&c.breakdown_by, &c.breakdown) {
        (Some(_), Some(b)) => b.clone(),
        (Some(_), None) => "(all)".to_string(),
        (None, _) => String::new(),
    }
}

fn table(cells: &[Published]) -> String {
    let header = [
        "indicator",
        "territory",
        "period",
        "breakdown",
        "value",
        "unit",
        "n",
    ];
    let rows: Vec<[String; 7]> = cells
        .iter()
        .map(|c| {
            [
                c.indicator.clone(),
                c.territory.clone(),
                c.period.to_string(),
                breakdown_text(c),
                value_text(c),
                c.unit.clone(),
                c.n.map(|n| n.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Numbers right-aligned, words left-aligned.
            if i == 4 || i == 6 {
                l.push_str(&" ".repeat(pad));
                l.push_str(cell);
            } else {
                l.push_str(cell);
                l.push_str(&" ".repeat(pad));
            }
            l.push_str("  ");
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header.map(String::from));
    for row in &rows {
        line(row);
    }
    if cells.is_empty() {
        out.push_str("(no cell: no data for these territories and periods)\n");
    }
    out
}

fn csv(cells: &[Published]) -> String {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    let _ = w.write_record([
        "indicator",
        "label_fr",
        "territory",
        "period",
        "breakdown_by",
        "breakdown",
        "value",
        "unit",
        "n",
        "suppressed",
    ]);
    for c in cells {
        let _ = w.write_record([
            c.indicator.as_str(),
            c.label_fr.as_str(),
            c.territory.as_str(),
            &c.period.to_string(),
            c.breakdown_by.as_deref().unwrap_or(""),
            c.breakdown.as_deref().unwrap_or(""),
            &c.value.map(|v| v.to_string()).unwrap_or_default(),
            c.unit.as_str(),
            &c.n.map(|n| n.to_string()).unwrap_or_default(),
            if c.suppressed { "true" } else { "false" },
        ]);
    }
    let body = w.into_inner().unwrap_or_default();
    format!("\u{feff}{}", String::from_utf8_lossy(&body))
}
