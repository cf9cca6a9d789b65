//! Exports of the unified tables for evaluators: CSV for French spreadsheets
//! (`;`, UTF-8 with a BOM, ISO dates, optional decimal comma), JSON Lines and
//! Parquet (logical types: DATE, TIMESTAMP, DOUBLE, dictionary-encoded
//! strings, BOOLEAN). The warehouse streams pages of rows
//! ([`Warehouse::export`]); [`Writer`] formats each page as it comes, so
//! memory stays that of a page (a row group for Parquet) whatever the size.
//!
//! Every export carries its metadata ([`Metadata`]: filters, time, hub and
//! dictionary versions): Parquet key-value metadata, a JSON sidecar beside a
//! CSV or JSON Lines file (`FILE.meta.json`), the `Vivres-Export-Metadata`
//! header over HTTP. Rows carry pseudonyms only: the warehouse holds nothing else.

pub mod dfc;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type as SchemaType;
use serde::Serialize;

use crate::warehouse::schema::{self, Type};
use crate::warehouse::{ExportQuery, Value, Warehouse, WarehouseError, export_columns};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "`{0}` is not an exportable table; one of: {list}",
        list = exportable_names().join(", ")
    )]
    UnknownEntity(String),
    #[error("unknown format `{0}` (csv, jsonl or parquet)")]
    UnknownFormat(String),
    #[error("`{0}` has no date to filter on: drop --from/--to")]
    NoPeriod(String),
    #[error("`{field}`: `{value}` is not a date (YYYY-MM-DD)")]
    BadDate { field: &'static str, value: String },
    #[error("--from {from} is after --to {to}")]
    EmptyPeriod { from: time::Date, to: time::Date },
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("cannot write {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, ExportError> {
        match s {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            "parquet" => Ok(Format::Parquet),
            other => Err(ExportError::UnknownFormat(other.to_string())),
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/jsonl",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }
}

/// The tables `export` serves.
pub fn exportable_names() -> Vec<&'static str> {
    schema::TABLES
        .iter()
        .filter(|t| schema::exportable(t))
        .map(|t| t.name)
        .collect()
}

/// What an export was asked for, as the user gave it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Filters {
    pub territories: Vec<String>,
    pub networks: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

fn parse_date(field: &'static str, s: &str) -> Result<time::Date, ExportError> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).map_err(|_| {
        ExportError::BadDate {
            field,
            value: s.to_string(),
        }
    })
}

/// The warehouse query of an export of `entity` with these filters.
pub fn query(entity: &str, filters: &Filters) -> Result<ExportQuery, ExportError> {
    let table = schema::named(entity)
        .filter(|t| schema::exportable(t))
        .ok_or_else(|| ExportError::UnknownEntity(entity.to_string()))?;
    let from = filters
        .from
        .as_deref()
        .map(|s| parse_date("from", s))
        .transpose()?;
    let to = filters
        .to
        .as_deref()
        .map(|s| parse_date("to", s))
        .transpose()?;
    let period = table
        .parent
        .and_then(schema::named)
        .map_or(table.period, |p| p.period);
    if (from.is_some() || to.is_some()) && period.is_none() {
        return Err(ExportError::NoPeriod(entity.to_string()));
    }
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ExportError::EmptyPeriod { from, to });
    }
    Ok(ExportQuery {
        table,
        territories: filters.territories.clone(),
        networks: filters.networks.clone(),
        from,
        to,
    })
}

/// What travels with every export.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub entity: String,
    pub format: Format,
    pub filters: Filters,
    pub decimal_comma: bool,
    /// When the export started (RFC 3339, UTC).
    pub exported_at: String,
    pub hub_version: String,
    /// The data dictionary's version (`vivres schema`).
    pub dictionary_version: String,
    /// The columns and their dictionary types.
    pub columns: Vec<MetaColumn>,
    /// Rows written (known at the end: in the sidecar and Parquet footer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetaColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

impl Metadata {
    pub fn new(q: &ExportQuery, format: Format, filters: &Filters, decimal_comma: bool) -> Self {
        Metadata {
            entity: q.table.name.to_string(),
            format,
            filters: filters.clone(),
            decimal_comma,
            exported_at: crate::warehouse::now_rfc3339(),
            hub_version: env!("CARGO_PKG_VERSION").to_string(),
            dictionary_version: schema::version(),
            columns: export_columns(q.table)
                .into_iter()
                .map(|(name, ty)| MetaColumn {
                    name: name.to_string(),
                    ty: ty.name().to_string(),
                })
                .collect(),
            rows: None,
        }
    }
}

/// A Parquet row group ends at this many rows or when its buffered values
/// reach [`ROW_GROUP_BYTES`] (estimated): what the writer holds in memory,
/// twice over with the encoder's own pages.
const ROW_GROUP_ROWS: usize = 64 * 1024;
const ROW_GROUP_BYTES: usize = 12 << 20;

/// Formats pages of rows into `W`.
pub struct Writer<W: Write + Send> {
    inner: Inner<W>,
    columns: Vec<(&'static str, Type)>,
    decimal_comma: bool,
    rows: u64,
}

enum Inner<W: Write + Send> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(W),
    Parquet(Box<ParquetSink<W>>),
}

impl<W: Write + Send> Writer<W> {
    /// Starts an export (CSV: the BOM and the header line).
    pub fn new(
        mut out: W,
        format: Format,
        meta: &Metadata,
        q: &ExportQuery,
    ) -> Result<Self, ExportError> {
        let columns = export_columns(q.table);
        let inner = match format {
            Format::Csv => {
                // Excel reads UTF-8 only with a BOM.
                out.write_all("\u{feff}".as_bytes())?;
                let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(out);
                w.write_record(columns.iter().map(|(n, _)| *n))?;
                Inner::Csv(Box::new(w))
            }
            Format::Jsonl => Inner::Jsonl(out),
            Format::Parquet => Inner::Parquet(Box::new(ParquetSink::new(out, &columns, meta)?)),
        };
        Ok(Writer {
            inner,
            columns,
            decimal_comma: meta.decimal_comma,
            rows: 0,
        })
    }

    /// Writes a page of rows (in the columns of [`export_columns`]).
    pub fn write_page(&mut self, page: &[Vec<Value>]) -> Result<(), ExportError> {
        match &mut self.inner {
            Inner::Csv(w) => {
                let mut cells: Vec<String> = Vec::with_capacity(self.columns.len());
                for row in page {
                    cells.clear();
                    cells.extend(row.iter().map(|v| text(v, self.decimal_comma)));
                    w.write_record(&cells)?;
                }
            }
            Inner::Jsonl(w) => {
                let mut line = Vec::with_capacity(1024);
                for row in page {
                    line.clear();
                    line.push(b'{');
                    for (i, ((name, _), v)) in self.columns.iter().zip(row).enumerate() {
                        if i > 0 {
                            line.push(b',');
                        }
                        serde_json::to_writer(&mut line, name).map_err(std::io::Error::from)?;
                        line.push(b':');
                        serde_json::to_writer(&mut line, &json(v)).map_err(std::io::Error::from)?;
                    }
                    line.extend_from_slice(b"}\n");
                    w.write_all(&line)?;
                }
            }
            Inner::Parquet(p) => {
                for row in page {
                    p.push(row)?;
                }
            }
        }
        self.rows += page.len() as u64;
        Ok(())
    }

    /// Ends the export (Parquet: the last row group and the footer, with the
    /// metadata and the row count) and returns the output and the row count.
    pub fn finish(self, meta: &Metadata) -> Result<(W, u64), ExportError> {
        let out = match self.inner {
            Inner::Csv(w) => w.into_inner().map_err(|e| e.into_error())?,
            Inner::Jsonl(mut w) => {
                w.flush()?;
                w
            }
            Inner::Parquet(p) => p.finish(meta, self.rows)?,
        };
        Ok((out, self.rows))
    }

    /// Pushes what the CSV writer buffered into the output.
    pub fn flush(&mut self) -> Result<(), ExportError> {
        match &mut self.inner {
            Inner::Csv(w) => w.flush()?,
            Inner::Jsonl(w) => w.flush()?,
            Inner::Parquet(_) => {}
        }
        Ok(())
    }
}

/// A cell as CSV text: ISO dates, RFC 3339 instants, `true`/`false`, keys in
/// hex, decimals with a comma when asked.
fn text(v: &Value, decimal_comma: bool) -> String {
    match v {
        Value::Null => String::new(),
        Value::Int(i) => i.to_string(),
        Value::Real(r) if !r.is_finite() => String::new(),
        Value::Real(r) => {
            let s = r.to_string();
            if decimal_comma {
                s.replace('.', ",")
            } else {
                s
            }
        }
        Value::Text(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Date(d) => iso_date(*d),
        Value::Timestamp(t) => crate::warehouse::rfc3339(*t),
        Value::Key(k) => hex::encode(k),
    }
}

fn iso_date(d: time::Date) -> String {
    d.format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

fn json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Int(i) => J::from(*i),
        Value::Real(r) => serde_json::Number::from_f64(*r).map_or(J::Null, J::Number),
        Value::Text(s) => J::String(s.clone()),
        Value::Bool(b) => J::Bool(*b),
        Value::Date(_) | Value::Timestamp(_) | Value::Key(_) => J::String(text(v, false)),
    }
}

/// One column's values of the row group being built.
enum ColumnBuf {
    Text(Vec<ByteArray>),
    Int(Vec<i64>),
    Real(Vec<f64>),
    Bool(Vec<bool>),
    Date(Vec<i32>),
    Micros(Vec<i64>),
}

struct ParquetSink<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    bufs: Vec<ColumnBuf>,
    /// Definition levels per column: 1 present, 0 null.
    defs: Vec<Vec<i16>>,
    buffered: usize,
    /// Estimated heap bytes of `bufs` and `defs`.
    bytes: usize,
}

const UNIX_EPOCH_DAY: i32 = 2_440_588;

impl<W: Write + Send> ParquetSink<W> {
    fn new(out: W, columns: &[(&'static str, Type)], meta: &Metadata) -> Result<Self, ExportError> {
        let mut fields = Vec::with_capacity(columns.len());
        let mut bufs = Vec::with_capacity(columns.len());
        for (name, ty) in columns {
            let (physical, logical, buf) = match ty {
                Type::Text | Type::Bytes => (
                    Physical::BYTE_ARRAY,
                    Some(LogicalType::String),
                    ColumnBuf::Text(Vec::new()),
                ),
                Type::Int => (Physical::INT64, None, ColumnBuf::Int(Vec::new())),
                Type::Real => (Physical::DOUBLE, None, ColumnBuf::Real(Vec::new())),
                Type::Bool => (Physical::BOOLEAN, None, ColumnBuf::Bool(Vec::new())),
                Type::Date => (
                    Physical::INT32,
                    Some(LogicalType::Date),
                    ColumnBuf::Date(Vec::new()),
                ),
                Type::Timestamp => (
                    Physical::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                    ColumnBuf::Micros(Vec::new()),
                ),
            };
            let field = SchemaType::primitive_type_builder(name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()?;
            fields.push(Arc::new(field));
            bufs.push(buf);
        }
        let schema = SchemaType::group_type_builder("schema")
            .with_fields(fields)
            .build()?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(true)
            .set_created_by(format!("vivres {}", meta.hub_version))
            .build();
        let writer = SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props))?;
        let defs = vec![Vec::new(); columns.len()];
        Ok(ParquetSink {
            writer,
            bufs,
            defs,
            buffered: 0,
            bytes: 0,
        })
    }

    fn push(&mut self, row: &[Value]) -> Result<(), ExportError> {
        for ((buf, defs), v) in self.bufs.iter_mut().zip(&mut self.defs).zip(row) {
            let present = match (buf, v) {
                (_, Value::Null) => false,
                (ColumnBuf::Text(b), Value::Text(s)) => {
                    self.bytes += s.len() + 48;
                    b.push(ByteArray::from(s.as_bytes().to_vec()));
                    true
                }
                (ColumnBuf::Text(b), Value::Key(k)) => {
                    self.bytes += 80;
                    b.push(ByteArray::from(hex::encode(k).into_bytes()));
                    true
                }
                (ColumnBuf::Int(b), Value::Int(i)) => {
                    b.push(*i);
                    true
                }
                (ColumnBuf::Real(b), Value::Real(r)) => {
                    b.push(*r);
                    true
                }
                (ColumnBuf::Real(b), Value::Int(i)) => {
                    b.push(*i as f64);
                    true
                }
                (ColumnBuf::Bool(b), Value::Bool(x)) => {
                    b.push(*x);
                    true
                }
                (ColumnBuf::Date(b), Value::Date(d)) => {
                    b.push(d.to_julian_day() - UNIX_EPOCH_DAY);
                    true
                }
                (ColumnBuf::Micros(b), Value::Timestamp(t)) => {
                    b.push((t.unix_timestamp_nanos() / 1_000) as i64);
                    true
                }
                // A value of another type than the dictionary says: written
                // as null rather than as a wrong type (the warehouse's
                // decoding follows the dictionary, so this does not happen).
                _ => false,
            };
            defs.push(i16::from(present));
            self.bytes += 10;
        }
        self.buffered += 1;
        if self.buffered >= ROW_GROUP_ROWS || self.bytes >= ROW_GROUP_BYTES {
            self.flush_group()?;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), ExportError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let mut group = self.writer.next_row_group()?;
        for (buf, defs) in self.bufs.iter_mut().zip(&mut self.defs) {
            let Some(mut column) = group.next_column()? else {
                break;
            };
            let defs_now = Some(defs.as_slice());
            match buf {
                ColumnBuf::Text(b) => {
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(b, defs_now, None)?;
                    b.clear();
                }
                ColumnBuf::Int(b) | ColumnBuf::Micros(b) => {
                    column.typed::<Int64Type>().write_batch(b, defs_now, None)?;
                    b.clear();
                }
                ColumnBuf::Real(b) => {
                    column
                        .typed::<DoubleType>()
                        .write_batch(b, defs_now, None)?;
                    b.clear();
                }
                ColumnBuf::Bool(b) => {
                    column.typed::<BoolType>().write_batch(b, defs_now, None)?;
                    b.clear();
                }
                ColumnBuf::Date(b) => {
                    column.typed::<Int32Type>().write_batch(b, defs_now, None)?;
                    b.clear();
                }
            }
            defs.clear();
            column.close()?;
        }
        group.close()?;
        self.buffered = 0;
        self.bytes = 0;
        Ok(())
    }

    fn finish(mut self, meta: &Metadata, rows: u64) -> Result<W, ExportError> {
        self.flush_group()?;
        let mut meta = meta.clone();
        meta.rows = Some(rows);
        let json = serde_json::to_string(&meta).map_err(std::io::Error::from)?;
        self.writer
            .append_key_value_metadata(KeyValue::new("vivres".to_string(), json));
        for (k, v) in [
            ("vivres.entity", meta.entity.clone()),
            ("vivres.exported_at", meta.exported_at.clone()),
            ("vivres.hub_version", meta.hub_version.clone()),
            ("vivres.dictionary_version", meta.dictionary_version.clone()),
        ] {
            self.writer
                .append_key_value_metadata(KeyValue::new(k.to_string(), v));
        }
        Ok(self.writer.into_inner()?)
    }
}

/// The sidecar of a CSV or JSON Lines file: `FILE.meta.json`.
pub fn sidecar_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".meta.json");
    PathBuf::from(name)
}

/// Runs an export into a file (and its sidecar): the `vivres export` job.
/// Returns the metadata written, with the row count.
pub async fn to_file(
    warehouse: &Warehouse,
    entity: &str,
    format: Format,
    filters: &Filters,
    decimal_comma: bool,
    out: &Path,
) -> Result<Metadata, ExportError> {
    let q = query(entity, filters)?;
    let mut meta = Metadata::new(&q, format, filters, decimal_comma);
    let file_err = |source| ExportError::File {
        path: out.display().to_string(),
        source,
    };
    let file = std::fs::File::create(out).map_err(file_err)?;
    let mut writer = Writer::new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        format,
        &meta,
        &q,
    )?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Vec<Value>>>(4);
    let producer = {
        let warehouse = warehouse.clone();
        let q = q.clone();
        tokio::spawn(async move { warehouse.export(&q, &tx).await })
    };
    while let Some(page) = rx.recv().await {
        writer.write_page(&page)?;
    }
    producer
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    let (buf, rows) = writer.finish(&meta)?;
    let file = buf.into_inner().map_err(|e| file_err(e.into_error()))?;
    file.sync_all().map_err(file_err)?;
    meta.rows = Some(rows);
    if format != Format::Parquet {
        let side = sidecar_path(out);
        let text = serde_json::to_string_pretty(&meta).map_err(std::io::Error::from)?;
        std::fs::write(&side, text + "\n").map_err(|source| ExportError::File {
            path: side.display().to_string(),
            source,
        })?;
    }
    Ok(meta)
}

/// An output shared with whoever drains it: a streamed response takes the
/// bytes written after each page.
#[derive(Clone, Default)]
pub struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    /// The bytes written since the last call.
    pub fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("export buffer poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs an export as a stream of byte chunks (the `/data/{entity}`
/// response): a chunk per page (per row group for Parquet), at most a few
/// chunks ahead of the client. An error ends the stream with that error,
/// which aborts the response rather than sending a truncated file as whole.
pub fn to_stream(
    warehouse: Warehouse,
    q: ExportQuery,
    format: Format,
    meta: Metadata,
) -> tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>> {
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        let result = stream_into(&warehouse, &q, format, &meta, &out_tx).await;
        if let Err(e) = result {
            tracing::warn!(entity = %meta.entity, error = %e, "export stream failed");
            let _ = out_tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    out_rx
}

async fn stream_into(
    warehouse: &Warehouse,
    q: &ExportQuery,
    format: Format,
    meta: &Metadata,
    out: &tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) -> Result<(), ExportError> {
    let buf = SharedBuf::default();
    let mut writer = Writer::new(buf.clone(), format, meta, q)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Vec<Value>>>(2);
    let producer = {
        let warehouse = warehouse.clone();
        let q = q.clone();
        tokio::spawn(async move { warehouse.export(&q, &tx).await })
    };
    while let Some(page) = rx.recv().await {
        writer.write_page(&page)?;
        writer.flush()?;
        let chunk = buf.take();
        if !chunk.is_empty() && out.send(Ok(chunk)).await.is_err() {
            // The client went away: stop reading the warehouse.
            producer.abort();
            return Ok(());
        }
    }
    producer
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    writer.finish(meta)?;
    let chunk = buf.take();
    if !chunk.is_empty() {
        let _ = out.send(Ok(chunk)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
