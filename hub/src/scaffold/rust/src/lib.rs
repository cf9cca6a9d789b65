//! {{name}}: a Vivres connector.
//!
//! It reads the partner's CSV exports that a coordinator adds to the source's
//! inbox (`parcels*.csv`, `;` or `,`, UTF-8 or Windows-1252): one food parcel
//! per row, `ref;date;household;postcode;amount;name`. The `name` column is a
//! person's name: it is never read. Change the mapping in `parcel()` to your
//! partner's format, and the spec's stream to your entity.
//!
//! Config: `{"team": "<the team issuing household numbers>", "batch_rows": 500}`.

use serde::Deserialize;
use vivres_sdk::prelude::*;

const STREAM: &str = "parcels";

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["team"],
  "properties": {
    "team": {"type": "string", "minLength": 1, "description": "The aid team that issues the household numbers"},
    "batch_rows": {"type": "integer", "minimum": 1, "maximum": 5000, "description": "Rows per batch (default 500)"}
  },
  "additionalProperties": false
}"#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    team: String,
    #[serde(default)]
    batch_rows: Option<usize>,
}

impl Config {
    fn valid(&self) -> Result<usize, ConnectorError> {
        if self.team.trim().is_empty() {
            return Err(ConnectorError::bad_config("team: must not be empty"));
        }
        match self.batch_rows {
            None => Ok(500),
            Some(n) if (1..=5000).contains(&n) => Ok(n),
            Some(_) => Err(ConnectorError::bad_config("batch_rows: must be from 1 to 5000")),
        }
    }
}

struct {{type}};

impl Connector for {{type}} {
    type Config = Config;

    fn spec() -> ConnectorSpec {
        ConnectorSpec::new(
            "{{name}}",
            env!("CARGO_PKG_VERSION"),
            "Food parcels from the partner's CSV exports (parcels*.csv in the source's inbox)",
            SCHEMA,
            vec![StreamInfo::new(
                STREAM,
                EntityKind::Distribution,
                &["ref"],
                None,
                "Food parcels given, one per row",
            )],
        )
    }

    fn check(config: &Config) -> Result<(), ConnectorError> {
        config.valid()?;
        inbox::files().map(|_| ())
    }

    fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Batch, ConnectorError> {
        let batch_rows = config.valid()?;
        if stream != STREAM {
            return Err(ConnectorError::bad_config(format!(
                "unknown stream `{stream}`: {STREAM}"
            )));
        }
        let files: Vec<InboxFile> = inbox::files()?
            .into_iter()
            .filter(|f| f.name_between("parcels", ".csv").is_some())
            .collect();
        // The SDK picks the file and the position to resume at from the
        // checkpoint, and writes the next checkpoint after this batch.
        let batch = inbox::read_next_at(state, &files, |file, after, at, batch| {
            read_rows(&config.team, file, after, at, batch_rows, batch)
        })?;
        // Counts only: never a value read from the file.
        log::info(format!(
            "{STREAM}: {} parcels, {} rejected",
            batch.items.len(),
            batch.rejects.len()
        ));
        Ok(batch)
    }
}

/// Up to `batch_rows` rows of `file` after line `after`.
fn read_rows(
    team: &str,
    file: &InboxFile,
    after: u64,
    at: Option<ResumePoint>,
    batch_rows: usize,
    batch: &mut Batch,
) -> Result<(FileProgress, Option<ResumePoint>), ConnectorError> {
    let done = |line| Ok((FileProgress { last_line: line, finished: true }, None));
    let mut csv = match CsvReader::open_at(&file.path, at) {
        Ok(csv) => csv,
        Err(e) => {
            batch.rejects.push(Reject::new(RejectReason::MalformedFile, "file", e.message()).with_line(1));
            return done(1);
        }
    };
    let columns = Columns::find(csv.header());
    let columns = match columns {
        Ok(c) => c,
        Err(e) => {
            let line = csv.header().line;
            batch.rejects.push(Reject::new(RejectReason::MalformedFile, "header", e.message()).with_line(line));
            return done(line);
        }
    };
    if at.is_none() {
        csv.skip_through(after)?;
    }
    let separator = csv.separator();
    let (mut rows, mut last_line) = (0, after);
    while let Some(row) = csv.next_row()? {
        last_line = row.line;
        rows += 1;
        match parcel(team, &columns, &row) {
            Ok(item) => batch.items.push(item.with_line(row.line)),
            Err(reject) => batch.rejects.push(reject.with_line(row.line).with_raw(row.raw(separator))),
        }
        if rows >= batch_rows {
            let progress = FileProgress { last_line, finished: false };
            return Ok((progress, Some(csv.resume_point())));
        }
    }
    done(last_line)
}

/// Where the columns are (`name` is not even looked for: it is personal).
struct Columns {
    reference: usize,
    date: usize,
    household: usize,
    postcode: usize,
    amount: usize,
}

impl Columns {
    fn find(header: &Header) -> Result<Columns, CsvError> {
        Ok(Columns {
            reference: header.require("ref")?,
            date: header.require("date")?,
            household: header.require("household")?,
            postcode: header.require("postcode")?,
            amount: header.require("amount")?,
        })
    }
}

/// One row as a distribution, or the reject that says why not (never with the value).
pub fn parcel(team: &str, c: &Columns, row: &Record) -> Result<Item, Reject> {
    let key = row.get(c.reference).trim();
    if key.is_empty() {
        return Err(Reject::new(RejectReason::MissingRequired, "ref", "missing"));
    }
    let reject = |reason, field: &str, detail: &str| Reject::new(reason, field, detail).with_key(key);
    let household = row.get(c.household).trim();
    if fr::is_missing(household) {
        return Err(reject(RejectReason::MissingRequired, "household", "missing"));
    }
    let date = fr::parse_date(row.get(c.date)).map_err(|e| reject(RejectReason::InvalidDate, "date", e.message()))?;
    let amount =
        fr::parse_cents(row.get(c.amount)).map_err(|e| reject(RejectReason::InvalidAmount, "amount", e.message()))?;
    let residence = match fr::residence(Some(row.get(c.postcode)), None) {
        Ok(r) => r,
        Err(e) => return Err(reject(RejectReason::UnknownPostcode, "postcode", e.message())),
    };

    let mut d = Distribution::new(AidKind::Parcel);
    d.household = Some(PersonId::new(team, household));
    d.site = Some(team.to_string());
    d.date = date.value();
    d.amount = amount.value(); // an empty amount is unknown, not a reject
    d.residence = residence;
    Ok(Item::new(key, d))
}

vivres_sdk::export_connector!({{type}});

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> (Columns, Record) {
        let header = Header::new(1, ["ref", "date", "household", "postcode", "amount"].map(String::from).to_vec());
        let columns = Columns::find(&header).unwrap();
        let record = Record { line: 2, fields: cells.iter().map(|c| c.to_string()).collect() };
        (columns, record)
    }

    #[test]
    fn a_row_becomes_a_parcel() {
        let (c, r) = row(&["P-1", "04/03/2024", "D-1", "69003", "12,50"]);
        let item = parcel("team", &c, &r).unwrap();
        let Entity::Distribution(d) = item.entity else { panic!("not a distribution") };
        assert_eq!(d.amount, Some(1250));
        assert_eq!(d.date, Some(Date::ymd(2024, 3, 4)));
    }

    #[test]
    fn an_impossible_date_is_rejected_without_its_value() {
        let (c, r) = row(&["P-2", "31/02/2024", "D-1", "69003", ""]);
        let reject = parcel("team", &c, &r).unwrap_err();
        assert_eq!(reject.reason, RejectReason::InvalidDate);
        assert!(!reject.detail.contains("31/02"));
    }
}
