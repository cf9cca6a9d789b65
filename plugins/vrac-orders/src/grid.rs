//! A sheet as rows of cells, whether it comes from an XLSX workbook (typed
//! cells) or from its CSV export (text cells, streamed).

use std::path::Path;

use vivres_sdk::csv::CsvReader;
use vivres_sdk::xlsx::{self, Cell};

/// One cell. CSV cells are all `Text`.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Empty,
    Text(String),
    Number(f64),
    /// An Excel date cell (its serial): never a quantity nor a price.
    Date(f64),
    /// An error cell (`#DIV/0!`).
    Error,
}

impl Val {
    pub fn text(&self) -> String {
        match self {
            Val::Empty | Val::Error => String::new(),
            Val::Text(s) => s.trim().to_string(),
            Val::Number(n) | Val::Date(n) => Cell::Number(*n).to_text(),
        }
    }

    /// Empty, blank, or one of the partners' missing markers.
    pub fn is_missing(&self) -> bool {
        match self {
            Val::Empty => true,
            Val::Text(s) => vivres_sdk::fr::is_missing(s),
            _ => false,
        }
    }
}

impl From<&Cell> for Val {
    fn from(c: &Cell) -> Self {
        match c {
            Cell::Empty => Val::Empty,
            Cell::Text(s) => Val::Text(s.clone()),
            Cell::Number(n) => Val::Number(*n),
            Cell::Date(n) => Val::Date(*n),
            Cell::Bool(b) => Val::Text(b.to_string()),
            Cell::Error(_) => Val::Error,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GridRow {
    /// 1-based physical line (CSV) or row (XLSX).
    pub line: u64,
    pub cells: Vec<Val>,
}

const EMPTY: Val = Val::Empty;

impl GridRow {
    pub fn get(&self, col: usize) -> &Val {
        self.cells.get(col).unwrap_or(&EMPTY)
    }

    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(|c| match c {
            Val::Empty => true,
            Val::Text(s) => s.trim().is_empty(),
            _ => false,
        })
    }

    /// The row's text for a reject's `raw` (the host only hashes it).
    pub fn raw(&self) -> Vec<u8> {
        self.cells
            .iter()
            .map(Val::text)
            .collect::<Vec<_>>()
            .join(",")
            .into_bytes()
    }
}

/// The rows of one sheet, first row first.
pub enum Grid {
    Rows(std::vec::IntoIter<GridRow>),
    Csv {
        reader: Box<CsvReader>,
        header: Option<GridRow>,
    },
}

impl Grid {
    pub fn from_rows(rows: Vec<GridRow>) -> Self {
        Grid::Rows(rows.into_iter())
    }

    /// Sheet `sheet` (case-insensitive name) of the workbook at `path`.
    pub fn xlsx(path: &Path, sheet: &str) -> Result<Self, String> {
        let mut book = xlsx::open(path).map_err(|e| e.message().to_string())?;
        let name = book
            .find_sheet(sheet)
            .ok_or_else(|| format!("the workbook has no sheet `{sheet}`"))?;
        let rows = book.rows(&name).map_err(|e| e.message().to_string())?;
        Ok(Grid::from_rows(
            rows.iter()
                .map(|r| GridRow {
                    line: r.number,
                    cells: r.cells.iter().map(Val::from).collect(),
                })
                .collect(),
        ))
    }

    /// A CSV export of a sheet (encoding and separator sniffed).
    pub fn csv(path: &Path) -> Result<Self, String> {
        let reader = CsvReader::open(path).map_err(|e| e.message().to_string())?;
        let h = reader.header();
        let header = GridRow {
            line: h.line,
            cells: h.names.iter().map(|n| Val::Text(n.clone())).collect(),
        };
        Ok(Grid::Csv {
            reader: Box::new(reader),
            header: Some(header),
        })
    }

    /// The next row (blank ones too), or `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<GridRow>, String> {
        match self {
            Grid::Rows(rows) => Ok(rows.next()),
            Grid::Csv { reader, header } => {
                if let Some(h) = header.take() {
                    return Ok(Some(h));
                }
                Ok(reader
                    .next_record()
                    .map_err(|e| e.message().to_string())?
                    .map(|r| GridRow {
                        line: r.line,
                        cells: r.fields.into_iter().map(Val::Text).collect(),
                    }))
            }
        }
    }
}

/// A row label folded for comparison (`Prix adhérent`, `TOTAL :`).
pub fn fold(s: &str) -> String {
    vivres_sdk::csv::normalise_header(s)
}

/// A `TOTAL` row: its first non-empty cell says so.
pub fn is_total(row: &GridRow) -> bool {
    row.cells
        .iter()
        .map(Val::text)
        .find(|t| !t.is_empty())
        .is_some_and(|t| {
            let f = fold(&t);
            f == "total" || f == "totaux" || f.starts_with("total")
        })
}
