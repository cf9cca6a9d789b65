//! Reading XLSX workbooks from the inbox (cargo feature `xlsx`, calamine, pure
//! Rust: builds for `wasm32-wasip2`).
//!
//! ```ignore
//! let mut book = vivres_sdk::xlsx::open(&file.path)?;
//! for row in book.rows("Commande")? {
//!     // row.number is the 1-based row number as the spreadsheet shows it
//!     match row.get(0) { Cell::Text(s) => …, Cell::Number(n) => …, Cell::Empty => …, _ => … }
//! }
//! ```
//!
//! What a spreadsheet gives, as [`Cell`]s:
//! - whole numbers come back as floats (`3` is `Number(3.0)`): use
//!   [`Cell::to_text`] for an identifier typed as a number (`1042`);
//! - a date cell is `Date(serial)`, the Excel serial (`45292.0` is 2024-01-01):
//!   [`crate::fr::excel_serial_date`] turns its whole part into a date;
//! - a formula cell written without its cached value comes back `Empty`: treat
//!   it as missing, never as 0;
//! - an error cell (`#DIV/0!`) is `Error`, a value that is there but unreadable.
//!
//! Error messages never repeat a cell's value.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;

use calamine::{Data, Reader, Xlsx};

/// One cell's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    /// Any number (integers too).
    Number(f64),
    /// A date or time cell: the Excel serial number (days since 1899-12-30).
    Date(f64),
    Bool(bool),
    /// An error value such as `#DIV/0!` or `#REF!`.
    Error(String),
}

impl Cell {
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text, as a CSV export of it would read: `Number(1042.0)` is
    /// `1042`, `Number(2.5)` is `2.5`, `Empty` is `""`, `Bool` is `true`/`false`,
    /// an error cell its code (`#DIV/0!`).
    pub fn to_text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Number(n) | Cell::Date(n) => number_text(*n),
            Cell::Bool(b) => b.to_string(),
            Cell::Error(e) => e.clone(),
        }
    }

    /// The number of a numeric or date cell; `None` for every other cell.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Cell::Number(n) | Cell::Date(n) => Some(*n),
            _ => None,
        }
    }
}

fn number_text(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

const EMPTY: Cell = Cell::Empty;

/// One row of a sheet. `cells[0]` is column A.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based row number, as the spreadsheet shows it.
    pub number: u64,
    pub cells: Vec<Cell>,
}

impl Row {
    /// The cell in 0-based column `col` (A is 0); `Empty` beyond the row's end.
    pub fn get(&self, col: usize) -> &Cell {
        self.cells.get(col).unwrap_or(&EMPTY)
    }

    /// True when every cell is empty or blank text.
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(Cell::is_empty)
    }
}

/// A workbook that cannot be read (not an XLSX file, a missing sheet, a
/// corrupt archive). The message never holds a cell value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlsxError {
    message: String,
}

impl XlsxError {
    fn new(message: impl Into<String>) -> Self {
        XlsxError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for XlsxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for XlsxError {}

/// An open workbook.
pub struct Workbook<R> {
    inner: Xlsx<R>,
}

/// Opens the workbook at `path` (a file of the inbox).
pub fn open(path: impl AsRef<Path>) -> Result<Workbook<BufReader<File>>, XlsxError> {
    let file = File::open(path.as_ref())
        .map_err(|e| XlsxError::new(format!("cannot open the workbook: {}", e.kind())))?;
    from_reader(BufReader::with_capacity(64 * 1024, file))
}

/// A workbook held in memory (tests, small attachments).
pub fn from_bytes(bytes: Vec<u8>) -> Result<Workbook<Cursor<Vec<u8>>>, XlsxError> {
    from_reader(Cursor::new(bytes))
}

fn from_reader<R: Read + Seek>(reader: R) -> Result<Workbook<R>, XlsxError> {
    let inner = Xlsx::new(reader).map_err(|e| XlsxError::new(describe(&e)))?;
    Ok(Workbook { inner })
}

/// calamine's errors name parts of the archive and XML, not cell values; we
/// keep only their kind to be safe.
fn describe(e: &calamine::XlsxError) -> String {
    use calamine::XlsxError as E;
    match e {
        E::Io(_) => "cannot read the workbook".into(),
        E::Zip(_) => "not an XLSX workbook (not a valid zip archive)".into(),
        E::Password => "the workbook is password-protected".into(),
        E::FileNotFound(part) => format!("not an XLSX workbook: no part {part}"),
        E::WorksheetNotFound(_) => "no such sheet".into(),
        _ => "not a readable XLSX workbook".into(),
    }
}

impl<R: Read + Seek> Workbook<R> {
    /// The sheets' names, in the workbook's order.
    pub fn sheet_names(&self) -> Vec<String> {
        self.inner.sheet_names()
    }

    /// The name of the sheet called `name`, compared case- and
    /// space-insensitively (`commande ` finds `Commande`).
    pub fn find_sheet(&self, name: &str) -> Option<String> {
        let want = name.trim().to_lowercase();
        self.sheet_names()
            .into_iter()
            .find(|s| s.trim().to_lowercase() == want)
    }

    /// Every row of sheet `name` (exact name: see [`Workbook::find_sheet`]) from
    /// row 1 to its last used row, with 1-based row numbers; cells start at
    /// column A. Rows left entirely empty are returned too (`is_blank`).
    pub fn rows(&mut self, name: &str) -> Result<Vec<Row>, XlsxError> {
        let range = self.inner.worksheet_range(name).map_err(|e| match e {
            calamine::XlsxError::WorksheetNotFound(_) => XlsxError::new("no such sheet"),
            other => XlsxError::new(format!("sheet unreadable: {}", describe(&other))),
        })?;
        let Some((row0, col0)) = range.start() else {
            return Ok(Vec::new());
        };
        let mut rows = Vec::with_capacity(range.height() + row0 as usize);
        for number in 1..=u64::from(row0) {
            rows.push(Row {
                number,
                cells: Vec::new(),
            });
        }
        for (i, source) in range.rows().enumerate() {
            let mut cells = Vec::with_capacity(col0 as usize + source.len());
            cells.resize(col0 as usize, Cell::Empty);
            cells.extend(source.iter().map(cell));
            while cells.last().is_some_and(|c| *c == Cell::Empty) {
                cells.pop();
            }
            rows.push(Row {
                number: u64::from(row0) + i as u64 + 1,
                cells,
            });
        }
        Ok(rows)
    }
}

fn cell(d: &Data) -> Cell {
    match d {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) => Cell::Date(dt.as_f64()),
        // ISO dates and durations (rare in XLSX) stay text for the date parsers.
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(e) => Cell::Error(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_text_keeps_identifiers_whole() {
        assert_eq!(Cell::Number(1042.0).to_text(), "1042");
        assert_eq!(Cell::Number(2.5).to_text(), "2.5");
        assert_eq!(Cell::Date(45292.0).to_text(), "45292");
        assert_eq!(Cell::Empty.to_text(), "");
        assert!(Cell::Text("  ".into()).is_empty());
        assert_eq!(Cell::Number(3.0).as_number(), Some(3.0));
        assert_eq!(Cell::Text("3".into()).as_number(), None);
    }

    #[test]
    fn garbage_is_an_error_without_value() {
        let e = from_bytes(b"N\xc2\xb0 adherent;secret".to_vec())
            .err()
            .expect("not a workbook");
        assert!(!e.message().contains("secret"));
    }

    #[test]
    fn row_get_beyond_the_end_is_empty() {
        let r = Row {
            number: 4,
            cells: vec![Cell::Text("a".into())],
        };
        assert_eq!(r.get(5), &Cell::Empty);
        assert!(!r.is_blank());
    }
}
