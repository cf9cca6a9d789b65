//! Streaming CSV reading of partners' exports: the encoding (UTF-8 with BOM,
//! UTF-8, else Windows-1252) and the separator (`;`, `,` or tab, counted in the
//! header line outside quotes) are sniffed from the first 64 KiB; CRLF or LF,
//! quoted fields with separators or line breaks inside, trailing separators,
//! ragged rows. Memory does not grow with the file: one record at a time.
//!
//! ```ignore
//! let mut csv = vivres_sdk::csv::CsvReader::open(&file.path)?;
//! let date = csv.header().require("Date passage")?;   // CsvError names the column
//! csv.skip_through(after_line)?;                      // resume after a checkpoint
//! while let Some(row) = csv.next_row()? {             // blank, header-repeat, TOTAL skipped
//!     let d = fr::parse_date(row.get(date));
//!     // row.line: 1-based physical line where the record starts
//! }
//! ```

use std::fmt;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use crate::fr::{TextEncoding, fold_label, repair_mojibake};
use crate::model::ConnectorError;

/// Bytes looked at to sniff the encoding and the separator.
const SNIFF_BYTES: usize = 64 * 1024;
/// The CSV parser's buffer.
const BUFFER_BYTES: usize = 512 * 1024;

/// Why a CSV file could not be read. The message names columns, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    message: String,
}

impl CsvError {
    pub fn new(message: impl Into<String>) -> Self {
        CsvError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CsvError {}

impl From<CsvError> for ConnectorError {
    fn from(e: CsvError) -> Self {
        ConnectorError::bad_data(e.message)
    }
}

/// One record: its 1-based physical line (where it starts) and its fields,
/// decoded (and mojibake repaired), untrimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub fields: Vec<String>,
}

impl Record {
    /// Field `i` trimmed (also of U+00A0), `""` if the row is shorter.
    pub fn get(&self, i: usize) -> &str {
        self.fields
            .get(i)
            .map(|f| f.trim_matches(|c: char| c.is_whitespace()))
            .unwrap_or("")
    }

    /// Field at an optional column (`""` when the column is absent).
    pub fn get_opt(&self, i: Option<usize>) -> &str {
        i.map_or("", |i| self.get(i))
    }

    /// The record as text, fields joined by `separator`: for a reject's `raw`
    /// (the host only hashes it).
    pub fn raw(&self, separator: u8) -> Vec<u8> {
        let sep = char::from(separator).to_string();
        self.fields.join(&sep).into_bytes()
    }
}

/// Could `s` hold mojibake (UTF-8 read as Windows-1252)? Only if a character
/// standing for a UTF-8 lead byte (U+00C2–U+00F4) is followed by one standing
/// for a continuation byte (0x80–0xBF: U+0080–U+00BF or a Windows-1252 sign).
/// A cheap test before [`repair_mojibake`] (most fields are plain).
fn might_be_mojibake(s: &str) -> bool {
    if s.is_ascii() {
        return false;
    }
    let mut lead = false;
    for c in s.chars() {
        if lead
            && (matches!(u32::from(c), 0x80..=0xBF)
                || (u32::from(c) > 0xFF && !c.is_alphanumeric())
                || matches!(c, 'Š' | 'Œ' | 'Ž' | 'š' | 'œ' | 'ž' | 'Ÿ' | 'ƒ'))
        {
            return true;
        }
        lead = matches!(u32::from(c), 0xC2..=0xF4);
    }
    false
}

/// Empty, or only separators and spaces: skipped, not counted.
pub fn is_blank(record: &Record) -> bool {
    record.fields.iter().all(|f| f.trim().is_empty())
}

/// A copy of the header line inside the file (an export concatenated from
/// several): every non-empty header column matches the record's field.
pub fn is_header_repeat(record: &Record, header: &Header) -> bool {
    // Cheap test first: the first named column's first letter or digit.
    if let Some((i, name)) = header
        .normalised
        .iter()
        .enumerate()
        .find(|(_, n)| !n.is_empty())
    {
        let first = record.get(i).chars().find(|c| c.is_alphanumeric());
        let wanted = name.chars().next();
        if let (Some(a), Some(b)) = (first, wanted)
            && a.is_ascii()
            && a.to_ascii_lowercase() != b
        {
            return false;
        }
    }
    let mut compared = 0;
    for (i, name) in header.normalised.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if normalise_header(record.get(i)) != *name {
            return false;
        }
        compared += 1;
    }
    compared > 0
}

/// A totals line: its first non-empty field is `TOTAL` (any case, also
/// `Total :`, `TOTAL GÉNÉRAL`, `Totaux`).
pub fn is_total_line(record: &Record) -> bool {
    let Some(first) = record
        .fields
        .iter()
        .map(|f| f.trim())
        .find(|f| !f.is_empty())
    else {
        return false;
    };
    if !first.starts_with(['t', 'T']) {
        return false;
    }
    let f = fold_label(first);
    let f = f.trim_end_matches([':', ' ']);
    f == "total" || f == "totaux" || f.starts_with("total ") || f.starts_with("total:")
}

/// A header name folded for lookup: mojibake repaired, case, accents, spaces and
/// punctuation ignored. `N° dossier`, `N°dossier`, `NÂ° dossier` → `ndossier`.
pub fn normalise_header(s: &str) -> String {
    fold_label(s)
        .chars()
        .filter(|c| c.is_alphanumeric() && !matches!(c, '°' | 'º' | 'ª'))
        .collect()
}

/// The header line: column names as written and their normalised forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub line: u64,
    pub names: Vec<String>,
    normalised: Vec<String>,
}

impl Header {
    pub fn new(line: u64, names: Vec<String>) -> Self {
        let normalised = names.iter().map(|n| normalise_header(n)).collect();
        Header {
            line,
            names,
            normalised,
        }
    }

    /// The column called `name` (normalised comparison), if there is one.
    pub fn index(&self, name: &str) -> Option<usize> {
        let wanted = normalise_header(name);
        self.normalised.iter().position(|n| *n == wanted)
    }

    /// The first of several possible names found.
    pub fn index_any(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.index(n))
    }

    /// The column called `name`, or an error naming it.
    pub fn require(&self, name: &str) -> Result<usize, CsvError> {
        self.index(name)
            .ok_or_else(|| CsvError::new(format!("no column `{name}` in the header")))
    }
}

fn read_prefix(r: &mut dyn Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    let mut filled = 0;
    while filled < n {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// The encoding of an export from its first bytes: a BOM, else UTF-8 if the
/// bytes are valid UTF-8 (a character cut at the end of the sample is fine),
/// else Windows-1252.
pub fn sniff_encoding(prefix: &[u8]) -> TextEncoding {
    if prefix.starts_with(b"\xEF\xBB\xBF") {
        return TextEncoding::Utf8Bom;
    }
    match std::str::from_utf8(prefix) {
        Ok(_) => TextEncoding::Utf8,
        Err(e) if e.error_len().is_none() => TextEncoding::Utf8,
        Err(_) => TextEncoding::Windows1252,
    }
}

/// The separator of an export: the most frequent of `;`, `,` and tab in its
/// first non-blank line, outside quotes (`;` on a tie or when there is none).
pub fn sniff_separator(prefix: &[u8]) -> u8 {
    let mut counts = [0usize; 3]; // ; , \t
    let mut in_quotes = false;
    let mut seen_content = false;
    for &b in prefix {
        match b {
            b'"' => {
                in_quotes = !in_quotes;
                seen_content = true;
            }
            b'\n' | b'\r' if !in_quotes => {
                if seen_content {
                    break;
                }
                counts = [0; 3];
            }
            b';' if !in_quotes => counts[0] += 1,
            b',' if !in_quotes => counts[1] += 1,
            b'\t' if !in_quotes => counts[2] += 1,
            b' ' => {}
            _ => seen_content = true,
        }
    }
    if counts[1] > counts[0] && counts[1] >= counts[2] {
        b','
    } else if counts[2] > counts[0] && counts[2] > counts[1] {
        b'\t'
    } else {
        b';'
    }
}

/// Turns CRLF into space + LF and lone CR into LF (lengths unchanged, so byte
/// offsets are the file's) and ends the input with a line end, streaming, so
/// that a record's physical line can be computed from the parser's position
/// after it (see [`CsvReader::current_line`]).
struct LfReader<R> {
    inner: R,
    buf: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    pending_cr: bool,
    /// Last byte handed out, to end the input with a line end.
    last: Option<u8>,
}

impl<R: Read> LfReader<R> {
    fn new(inner: R) -> Self {
        LfReader {
            inner,
            buf: vec![0; 64 * 1024],
            out: Vec::with_capacity(64 * 1024 + 1),
            pos: 0,
            pending_cr: false,
            last: None,
        }
    }

    /// Refills `out`; false at the end of the input.
    fn refill(&mut self) -> std::io::Result<bool> {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() {
            let n = self.inner.read(&mut self.buf)?;
            if n == 0 {
                if self.pending_cr || self.last.is_some_and(|b| b != b'\n') {
                    self.pending_cr = false;
                    self.last = Some(b'\n');
                    self.out.push(b'\n');
                    return Ok(true);
                }
                return Ok(false);
            }
            for &b in &self.buf[..n] {
                if self.pending_cr {
                    self.pending_cr = false;
                    // CRLF → space LF (the space is trimmed away), lone CR → LF:
                    // byte offsets stay those of the file.
                    self.out.push(if b == b'\n' { b' ' } else { b'\n' });
                }
                if b == b'\r' {
                    self.pending_cr = true;
                } else {
                    self.out.push(b);
                }
            }
        }
        Ok(true)
    }
}

impl<R: Read> Read for LfReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.out.len() && !self.refill()? {
            return Ok(0);
        }
        let n = out.len().min(self.out.len() - self.pos);
        out[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        self.last = out[..n].last().copied().or(self.last);
        Ok(n)
    }
}

/// Where to resume reading a file without re-reading it: the byte offset just
/// after the last record read, and the physical line number there. Store it
/// in a checkpoint (see [`crate::inbox::read_next_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumePoint {
    pub offset: u64,
    pub line: u64,
}

/// A streaming reader of one CSV export.
pub struct CsvReader {
    reader: ::csv::Reader<Box<dyn Read>>,
    encoding: TextEncoding,
    separator: u8,
    header: Header,
    record: ::csv::ByteRecord,
    /// A record read ahead by [`CsvReader::skip_through`].
    pending: bool,
    /// Where the parser started: absolute byte offset and physical line.
    base: ResumePoint,
}

impl fmt::Debug for CsvReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvReader")
            .field("encoding", &self.encoding)
            .field("separator", &char::from(self.separator))
            .field("header", &self.header)
            .finish()
    }
}

impl CsvReader {
    /// Opens a file and reads its header (the first non-blank record). A file
    /// without any record is an error (for a `malformed_file` reject).
    pub fn open(path: &Path) -> Result<CsvReader, CsvError> {
        let file = File::open(path).map_err(|e| CsvError::new(format!("cannot open: {e}")))?;
        Self::from_reader(file)
    }

    /// Opens a file and resumes at `at` (from [`CsvReader::resume_point`] of an
    /// earlier reader of the same file) without re-reading what is before it;
    /// `None` is [`CsvReader::open`]. The header is read from the start.
    pub fn open_at(path: &Path, at: Option<ResumePoint>) -> Result<CsvReader, CsvError> {
        let mut me = Self::open(path)?;
        let Some(at) = at else { return Ok(me) };
        let start = me.base.offset.max(at.offset);
        let mut file = File::open(path).map_err(|e| CsvError::new(format!("cannot open: {e}")))?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start))
            .map_err(|e| CsvError::new(format!("cannot seek: {e}")))?;
        me.reader = Self::parser(me.separator, Box::new(LfReader::new(file)));
        me.base = ResumePoint {
            offset: start,
            line: at.line,
        };
        me.pending = false;
        Ok(me)
    }

    fn parser(separator: u8, source: Box<dyn Read>) -> ::csv::Reader<Box<dyn Read>> {
        ::csv::ReaderBuilder::new()
            .delimiter(separator)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(BUFFER_BYTES)
            .from_reader(source)
    }

    /// Where reading would resume after the last record returned (call it
    /// after `next_row`/`next_record`, not right after `skip_through`).
    pub fn resume_point(&self) -> ResumePoint {
        let p = self.reader.position();
        ResumePoint {
            offset: self.base.offset + p.byte(),
            line: self.base.line + p.line() - 1,
        }
    }

    /// As [`CsvReader::open`], from any reader (tests: `Cursor<Vec<u8>>`).
    pub fn from_reader(mut r: impl Read + 'static) -> Result<CsvReader, CsvError> {
        let prefix = read_prefix(&mut r, SNIFF_BYTES)
            .map_err(|e| CsvError::new(format!("cannot read: {e}")))?;
        let encoding = sniff_encoding(&prefix);
        let skip = if encoding == TextEncoding::Utf8Bom {
            3
        } else {
            0
        };
        let prefix = prefix[skip..].to_vec();
        let separator = sniff_separator(&prefix);
        let source: Box<dyn Read> = Box::new(LfReader::new(Cursor::new(prefix).chain(r)));
        let mut me = CsvReader {
            reader: Self::parser(separator, source),
            encoding,
            separator,
            header: Header::new(0, Vec::new()),
            record: ::csv::ByteRecord::new(),
            pending: false,
            base: ResumePoint {
                offset: skip as u64,
                line: 1,
            },
        };
        loop {
            match me.next_record()? {
                None => return Err(CsvError::new("no header line: the file is empty")),
                Some(r) if is_blank(&r) => continue,
                Some(r) => {
                    me.header = Header::new(r.line, r.fields);
                    break;
                }
            }
        }
        Ok(me)
    }

    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    pub fn separator(&self) -> u8 {
        self.separator
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    fn decode(&self, bytes: &[u8]) -> String {
        let text = match self.encoding {
            TextEncoding::Windows1252 => encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
                .into_owned(),
            // A stray Windows-1252 byte past the sniffed prefix: that field is.
            _ => match std::str::from_utf8(bytes) {
                Ok(s) => s.to_string(),
                Err(_) => encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(bytes)
                    .0
                    .into_owned(),
            },
        };
        if !might_be_mojibake(&text) {
            return text;
        }
        match repair_mojibake(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(r) => r,
        }
    }

    fn read_raw(&mut self) -> Result<bool, CsvError> {
        if self.pending {
            self.pending = false;
            return Ok(true);
        }
        self.reader
            .read_byte_record(&mut self.record)
            .map_err(|e| CsvError::new(format!("unreadable CSV: {e}")))
    }

    /// The physical line where the record just read starts. The parser's own
    /// record position counts from before the blank lines it skips, but its
    /// position after the record is exact: every record ends with a LF (see
    /// [`LfReader`]), and line breaks inside quoted fields are LFs.
    fn current_line(&self) -> u64 {
        let after = self.base.line + self.reader.position().line() - 1;
        let inside: usize = self
            .record
            .iter()
            .map(|f| f.iter().filter(|&&b| b == b'\n').count())
            .sum();
        after.saturating_sub(1 + inside as u64).max(1)
    }

    /// The next record, whatever it is (blank, a repeated header, a total).
    pub fn next_record(&mut self) -> Result<Option<Record>, CsvError> {
        if !self.read_raw()? {
            return Ok(None);
        }
        let mut fields: Vec<String> = self.record.iter().map(|f| self.decode(f)).collect();
        // The space standing for the CR of a CRLF line end (see `LfReader`).
        if let Some(last) = fields.last_mut()
            && last.ends_with(' ')
        {
            last.truncate(last.trim_end_matches(' ').len());
        }
        Ok(Some(Record {
            line: self.current_line(),
            fields,
        }))
    }

    /// The next data row: blank lines, repeated header lines and TOTAL lines
    /// are skipped (they are not rows).
    pub fn next_row(&mut self) -> Result<Option<Record>, CsvError> {
        while let Some(r) = self.next_record()? {
            if is_blank(&r) || is_header_repeat(&r, &self.header) || is_total_line(&r) {
                continue;
            }
            return Ok(Some(r));
        }
        Ok(None)
    }

    /// Skips every record starting at or before physical line `line` (resume
    /// after a checkpoint; 0 skips nothing).
    pub fn skip_through(&mut self, line: u64) -> Result<(), CsvError> {
        while self.read_raw()? {
            if self.current_line() > line {
                self.pending = true;
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> CsvReader {
        CsvReader::from_reader(Cursor::new(bytes.to_vec())).unwrap()
    }

    fn rows(r: &mut CsvReader) -> Vec<(u64, Vec<String>)> {
        let mut out = Vec::new();
        while let Some(rec) = r.next_row().unwrap() {
            out.push((rec.line, rec.fields));
        }
        out
    }

    #[test]
    fn windows_1252_semicolon_crlf() {
        let bytes = b"Date passage;N\xB0 dossier;Type aide;Montant\r\n\
            15/03/2024;A-1;Ch\xE8que alimentaire;15,00 \x80\r\n\
            ;;;\r\n\
            \r\n\
            Date passage;N\xB0 dossier;Type aide;Montant\r\n\
            16/03/2024;\"A;2\";Colis;\r\n\
            TOTAL;;;15\r\n";
        let mut r = reader(bytes);
        assert_eq!(r.encoding(), TextEncoding::Windows1252);
        assert_eq!(r.separator(), b';');
        assert_eq!(r.header().index("n° dossier"), Some(1));
        assert_eq!(r.header().index("N°dossier"), Some(1));
        assert_eq!(r.header().index("NÂ° dossier"), Some(1));
        assert_eq!(r.header().index("montant"), Some(3));
        assert!(r.header().require("Commentaire").is_err());
        let got = rows(&mut r);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 2);
        assert_eq!(got[0].1[2], "Chèque alimentaire");
        assert_eq!(got[0].1[3], "15,00 €");
        assert_eq!(got[1].0, 6);
        assert_eq!(got[1].1[1], "A;2");
    }

    #[test]
    fn utf8_bom_comma_lf_trailing_separators_and_mojibake() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(
            "Article,Qté,PU public,\n\"Pommes, golden\",\"1,5\",2,\nDÃ©cÃ¨s,1,0,\n".as_bytes(),
        );
        let mut r = reader(&bytes);
        assert_eq!(r.encoding(), TextEncoding::Utf8Bom);
        assert_eq!(r.separator(), b',');
        assert_eq!(r.header().index("QTE"), Some(1));
        assert_eq!(r.header().index("Article"), Some(0));
        let got = rows(&mut r);
        assert_eq!(
            got[0],
            (
                2,
                vec!["Pommes, golden".into(), "1,5".into(), "2".into(), "".into()]
            )
        );
        assert_eq!(got[1].1[0], "Décès");
    }

    #[test]
    fn separator_counted_outside_quotes() {
        assert_eq!(sniff_separator(b"\"a;b;c\",x,y\n"), b',');
        assert_eq!(sniff_separator(b"a;b,c;d\n"), b';');
        assert_eq!(sniff_separator(b"\n\na\tb\tc\n"), b'\t');
        assert_eq!(sniff_separator(b"one\n"), b';');
    }

    #[test]
    fn encoding_sniffing() {
        assert_eq!(sniff_encoding("é".as_bytes()), TextEncoding::Utf8);
        assert_eq!(sniff_encoding(&"é".as_bytes()[..1]), TextEncoding::Utf8); // cut
        assert_eq!(sniff_encoding(b"\xE9t\xE9"), TextEncoding::Windows1252);
        assert_eq!(sniff_encoding(b"\xEF\xBB\xBFx"), TextEncoding::Utf8Bom);
    }

    #[test]
    fn resume_after_a_line_with_multiline_fields() {
        let bytes = b"a;b\n1;\"x\ny\"\n2;z\n3;w\n";
        let mut r = reader(bytes);
        r.skip_through(2).unwrap();
        let got = rows(&mut r);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [4, 5]);
        let mut r = reader(bytes);
        r.skip_through(0).unwrap();
        assert_eq!(rows(&mut r).len(), 3);
        let mut r = reader(bytes);
        r.skip_through(99).unwrap();
        assert!(rows(&mut r).is_empty());
    }

    #[test]
    fn helpers() {
        let rec = |f: &[&str]| Record {
            line: 1,
            fields: f.iter().map(|s| s.to_string()).collect(),
        };
        assert!(is_blank(&rec(&["", " ", ""])));
        assert!(is_blank(&rec(&[])));
        assert!(!is_blank(&rec(&["", "x"])));
        assert!(is_total_line(&rec(&["", "TOTAL", "3"])));
        assert!(is_total_line(&rec(&["Total :", "3"])));
        assert!(is_total_line(&rec(&["total général"])));
        assert!(!is_total_line(&rec(&["Totalement", "3"])));
        assert!(!is_total_line(&rec(&["15/03/2024", "TOTAL"])));
        assert!(might_be_mojibake("DÃ©cÃ¨s"));
        assert!(might_be_mojibake("15 â‚¬"));
        assert!(!might_be_mojibake("Décès à Noël 15 €"));
        assert!(!might_be_mojibake("ASCII"));
        let h = Header::new(1, vec!["N° dossier".into(), "Equipe".into(), "".into()]);
        assert!(is_header_repeat(&rec(&["N°dossier", "ÉQUIPE", ""]), &h));
        assert!(!is_header_repeat(&rec(&["12", "Equipe"]), &h));
        assert_eq!(rec(&["a", " b "]).get(1), "b");
        assert_eq!(rec(&["a"]).get(5), "");
        assert_eq!(rec(&["a", "b"]).raw(b';'), b"a;b");
        assert_eq!(normalise_header("Reste à vivre"), "resteavivre");
        assert_eq!(normalise_header("Remise %"), "remise");
    }

    #[test]
    fn line_numbers_are_physical_with_any_line_end() {
        for bytes in [
            &b"a;b\r\n1;2\r\n\r\n3;\"x\r\ny\"\r\n4;5"[..],
            &b"a;b\n1;2\n\n3;\"x\ny\"\n4;5\n"[..],
            &b"a;b\r1;2\r\r3;\"x\ry\"\r4;5\r"[..],
        ] {
            let mut r = reader(bytes);
            assert_eq!(r.header().line, 1);
            let got = rows(&mut r);
            assert_eq!(
                got.iter().map(|g| g.0).collect::<Vec<_>>(),
                [2, 4, 6],
                "{bytes:?}"
            );
            assert_eq!(got[1].1[1].replace(" \n", "\n"), "x\ny");
        }
    }

    #[test]
    fn resumes_at_a_byte_offset() {
        let dir = std::env::temp_dir().join(format!("vivres-csv-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, body) in [
            &b"\xEF\xBB\xBFa;b\r\n1;x\r\n\r\n2;\"y\r\nz\"\r\n3;w\r\n4;v"[..],
            &b"a;b\n1;x\n\n2;\"y\nz\"\n3;w\n4;v\n"[..],
        ]
        .iter()
        .enumerate()
        {
            let path = dir.join(format!("f{i}.csv"));
            std::fs::write(&path, body).unwrap();
            let mut all = Vec::new();
            let mut at = None;
            loop {
                let mut r = CsvReader::open_at(&path, at).unwrap();
                assert_eq!(r.header().index("b"), Some(1));
                match r.next_row().unwrap() {
                    Some(rec) => {
                        all.push((rec.line, rec.get(1).replace(" \n", "\n")));
                        at = Some(r.resume_point());
                    }
                    None => break,
                }
            }
            assert_eq!(
                all,
                [
                    (2, "x".into()),
                    (4, "y\nz".into()),
                    (6, "w".into()),
                    (7, "v".into())
                ],
                "{i}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lf_reader() {
        let mut out = String::new();
        LfReader::new(Cursor::new(b"a\r\nb\rc\r\r\nd\r".to_vec()))
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a \nb\nc\n \nd\n");
        let mut out = String::new();
        LfReader::new(Cursor::new(b"a\nb".to_vec()))
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a\nb\n");
    }

    #[test]
    fn empty_file_has_no_header() {
        assert!(CsvReader::from_reader(Cursor::new(Vec::new())).is_err());
        assert!(CsvReader::from_reader(Cursor::new(b"\r\n;;;\r\n".to_vec())).is_err());
    }

    #[test]
    fn large_file_streams_past_the_sniffed_prefix() {
        let mut bytes = b"n;label\n".to_vec();
        for i in 0..20_000 {
            bytes.extend_from_slice(format!("{i};caf").as_bytes());
            bytes.extend_from_slice(b"\xE9 cr\xE8me\n");
        }
        let mut r = CsvReader::from_reader(Cursor::new(bytes)).unwrap();
        assert_eq!(r.encoding(), TextEncoding::Windows1252);
        let mut n = 0;
        while let Some(rec) = r.next_row().unwrap() {
            assert_eq!(rec.get(1), "café crème");
            n += 1;
        }
        assert_eq!(n, 20_000);
    }
}
