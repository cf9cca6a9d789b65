//! `vivres connector test`: the offline acceptance suite of a connector, the
//! guarantees the hub relies on, checked on its fixtures without a hub, a
//! warehouse or a live partner (as Airbyte's connector acceptance tests do):
//!
//! - `spec`: name, version, description, a configuration schema that is a JSON
//!   object schema, streams with unique names and a primary key; the
//!   configuration has the fields the schema requires;
//! - `check`: accepts the configuration, and refuses (`bad-config`, not a
//!   panic) one without each field the schema requires;
//! - `discover`: offers streams of the spec, as the spec declares them;
//! - `full read`: every stream read to its end, each batch moving the state;
//! - `second read`: a read from the saved state returns nothing new;
//! - `resume`: a read from each intermediate checkpoint ends with the same records;
//! - `boundary duplicates`: no record twice in one read (a page boundary
//!   repeating the record at the cursor);
//! - `records`: each record is of its stream's entity, has a key, and passes
//!   the hub's own validation (dates, quantities, required fields);
//! - `personal values`: no household identifier of the records and no value of
//!   the fixtures' `planted.txt` in a log line, a reject, an error or a state;
//! - `fixtures`: every HTTP request of the run was recorded.
//!
//! Fixtures (`--fixtures DIR`): `DIR/http.json`, HTTP exchanges recorded with
//! `--record` (through the plugin host's one HTTP door, secrets redacted) and
//! replayed offline; `DIR/inbox/`, sample files mounted as the inbox;
//! `DIR/planted.txt`, values that must never leak, one a line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::Secret;
use crate::model::{Batch, ConnectorError, Item, RejectReason, StreamInfo};
use crate::plugin_host::{
    Exchange, Grants, HostError, HostSettings, Instance, LogLine, Plugin, PluginHost, Tape,
};
use crate::sync::normalise;

/// Batches one read may take before the suite calls it endless.
const MAX_BATCHES: usize = 10_000;
/// Intermediate checkpoints resumed from, at most (evenly spread).
const MAX_RESUMES: usize = 12;
/// Examples named in a failure, at most.
const EXAMPLES: usize = 3;

/// What to test, and with what.
#[derive(Debug, Clone)]
pub struct Options {
    pub plugin: PathBuf,
    /// The connector configuration, JSON text.
    pub config: String,
    pub fixtures: Option<PathBuf>,
    /// Record the HTTP exchanges into `<fixtures>/http.json` (live partner).
    pub record: bool,
    pub allowed_hosts: Vec<String>,
    /// The inbox; default `<fixtures>/inbox` when there is one.
    pub inbox: Option<PathBuf>,
    pub secrets: BTreeMap<String, String>,
    pub request_budget: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// Not applicable (no stream read, no HTTP…).
    Skip,
}

/// One check's result: its name, and for a failure what is wrong and what to fix.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Records and rejects of the full read, per stream.
    pub counts: BTreeMap<String, (usize, usize)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Fail)
    }

    pub fn failed(&self, name: &str) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| c.name == name && c.outcome == Outcome::Fail)
    }

    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Outcome::Pass, detail);
    }

    fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Outcome::Fail, detail);
    }

    fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Outcome::Skip, detail);
    }

    fn push(&mut self, name: &'static str, outcome: Outcome, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome,
            detail: detail.into(),
        });
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in &self.checks {
            let tag = match c.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "SKIP",
            };
            writeln!(f, "{tag} {}: {}", c.name, c.detail)?;
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .count();
        if failed == 0 {
            write!(f, "all checks passed")
        } else {
            write!(f, "{failed} check(s) failed")
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptanceError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("--record needs --fixtures DIR (where http.json is written)")]
    RecordWithoutFixtures,
    #[error("{0}")]
    Fixtures(String),
}

/// Log lines and what the suite was doing when each came.
#[derive(Default)]
struct Capture {
    doing: String,
    lines: Vec<(String, String)>,
}

struct Suite {
    host: PluginHost,
    plugin: Plugin,
    options: Options,
    grants: Grants,
    capture: Arc<Mutex<Capture>>,
    tape: Option<Tape>,
    /// Text the plugin handed back besides its records (what it is: a
    /// state, a reject, an error; when; the text): searched for personal values.
    said: Vec<(&'static str, String, String)>,
}

/// Runs the suite. `settings` are the hub's plugin host settings (limits,
/// cache); the suite adds the fixtures' HTTP tape.
pub async fn run(mut settings: HostSettings, options: Options) -> Result<Report, AcceptanceError> {
    let fixtures = options.fixtures.clone();
    let http_file = fixtures.as_ref().map(|d| d.join("http.json"));
    let tape = match (&http_file, options.record) {
        (None, true) => return Err(AcceptanceError::RecordWithoutFixtures),
        (Some(_), true) => Some(Tape::recording()),
        (Some(file), false) if file.is_file() => Some(Tape::replaying(load_exchanges(file)?)),
        _ => None,
    };
    settings.http.tape = tape.clone();
    let host = PluginHost::new(settings)?;
    let plugin = host.load(&options.plugin).await?;

    let capture = Arc::new(Mutex::new(Capture::default()));
    let sink_capture = capture.clone();
    let log = Arc::new(move |line: LogLine| {
        if let Ok(mut c) = sink_capture.lock() {
            let doing = c.doing.clone();
            c.lines.push((doing, line.message));
        }
    });
    let mut allowed_hosts = options.allowed_hosts.clone();
    if let Some(t) = tape.as_ref().filter(|_| !options.record) {
        allowed_hosts.extend(t.hosts());
    }
    let inbox = options.inbox.clone().or_else(|| {
        fixtures
            .as_ref()
            .map(|d| d.join("inbox"))
            .filter(|d| d.is_dir())
    });
    let grants = Grants {
        allowed_hosts,
        inbox,
        secrets: options.secrets.clone(),
        request_budget: options.request_budget,
        ..Grants::none("acceptance", log)
    };
    let mut suite = Suite {
        host,
        plugin,
        options,
        grants,
        capture,
        tape,
        said: Vec::new(),
    };
    let mut report = Report::default();
    suite.run(&mut report).await?;

    if let (Some(tape), Some(file), true) = (&suite.tape, &http_file, suite.options.record) {
        let exchanges = tape.exchanges();
        let text = serde_json::to_string_pretty(&exchanges)
            .map_err(|e| AcceptanceError::Fixtures(format!("cannot write http.json: {e}")))?;
        std::fs::write(file, text + "\n").map_err(|e| {
            AcceptanceError::Fixtures(format!("cannot write {}: {e}", file.display()))
        })?;
        report.pass(
            "fixtures",
            format!(
                "{} HTTP exchanges recorded into {} (secrets redacted)",
                exchanges.len(),
                file.display()
            ),
        );
    }
    Ok(report)
}

fn load_exchanges(file: &Path) -> Result<Vec<Exchange>, AcceptanceError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| AcceptanceError::Fixtures(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        AcceptanceError::Fixtures(format!(
            "{}: not a list of recorded exchanges ({e}); record it again with --record",
            file.display()
        ))
    })
}

/// The records of one full read of a stream, batch by batch.
struct Read {
    batches: Vec<Batch>,
    /// The state after each batch (the last one carried, as the hub keeps it).
    states: Vec<Option<String>>,
}

impl Suite {
    async fn instance(&self) -> Result<Instance, HostError> {
        self.host
            .instantiate(&self.plugin, self.grants.clone())
            .await
    }

    fn doing(&self, what: impl Into<String>) {
        if let Ok(mut c) = self.capture.lock() {
            c.doing = what.into();
        }
    }

    async fn run(&mut self, report: &mut Report) -> Result<(), AcceptanceError> {
        // spec
        self.doing("spec");
        let spec = match self.instance().await?.spec().await {
            Ok(spec) => spec,
            Err(e) => {
                report.fail(
                    "spec",
                    format!("spec() failed: {e}; spec() must return without I/O"),
                );
                return Ok(());
            }
        };
        let config: serde_json::Value = match serde_json::from_str(&self.options.config) {
            Ok(v) => v,
            Err(e) => {
                report.fail("spec", format!("the configuration file is not JSON: {e}"));
                return Ok(());
            }
        };
        let problems = spec_problems(
            &spec.name,
            &spec.version,
            &spec.description,
            &spec.config_schema,
            &spec.streams,
            &config,
        );
        if problems.is_empty() {
            report.pass(
                "spec",
                format!(
                    "{} {} (contract {}), {} stream(s)",
                    spec.name,
                    spec.version,
                    spec.wit_version,
                    spec.streams.len()
                ),
            );
        } else {
            report.fail("spec", problems.join("; "));
        }

        // check
        self.doing("check");
        match self.instance().await?.check(&self.options.config).await {
            Ok(Ok(())) => report.pass("check", "accepts the configuration"),
            Ok(Err(e)) => {
                self.said.push(("error", "check".into(), e.to_string()));
                report.fail(
                    "check",
                    format!(
                        "refuses the configuration: {e}; fix the configuration file, or check()"
                    ),
                );
            }
            Err(e) => report.fail(
                "check",
                format!("check() trapped: {e}; never unwrap the configuration"),
            ),
        }
        self.check_refusals(report, &spec.config_schema, &config)
            .await?;

        // discover
        self.doing("discover");
        let streams = match self.instance().await?.discover(&self.options.config).await {
            Ok(Ok(streams)) => {
                let problems = discover_problems(&streams, &spec.streams);
                if problems.is_empty() {
                    report.pass(
                        "discover",
                        format!("{} stream(s), as the spec declares them", streams.len()),
                    );
                    streams
                } else {
                    report.fail("discover", problems.join("; "));
                    return Ok(());
                }
            }
            Ok(Err(e)) => {
                self.said.push(("error", "discover".into(), e.to_string()));
                report.fail("discover", format!("discover() failed: {e}"));
                return Ok(());
            }
            Err(e) => {
                report.fail("discover", format!("discover() trapped: {e}"));
                return Ok(());
            }
        };

        // reads, stream by stream
        let mut personal: BTreeSet<String> = BTreeSet::new();
        let mut full_failures = Vec::new();
        let mut second = Vec::new();
        let mut resume = Vec::new();
        let mut duplicates = Vec::new();
        let mut records = Vec::new();
        let mut quarantined_by_hub = 0usize;
        let mut reads = 0usize;
        for stream in &streams {
            let read = match self.read_all(&stream.name, None, "full read").await? {
                Ok(read) => read,
                Err(failure) => {
                    full_failures.push(format!("stream `{}`: {failure}", stream.name));
                    continue;
                }
            };
            reads += 1;
            let items: usize = read.batches.iter().map(|b| b.items.len()).sum();
            let rejects: usize = read.batches.iter().map(|b| b.rejects.len()).sum();
            for b in &read.batches {
                for item in &b.items {
                    collect_person_ids(item, &mut personal);
                }
            }
            let (problems, by_hub) = record_problems(stream, &read);
            records.extend(problems);
            quarantined_by_hub += by_hub;
            duplicates.extend(duplicate_problems(&stream.name, &read));
            let final_records = merge(&read.batches);

            // second read from the saved state
            let last_state = read.states.last().cloned().flatten();
            match self
                .read_all(&stream.name, last_state.clone(), "second read")
                .await?
            {
                Ok(again) => {
                    let new = difference(&final_records, &again.batches);
                    if !new.is_empty() {
                        second.push(format!(
                            "stream `{}`: the read from the saved state returned {} record(s) the full read did not end with ({}); the checkpoint must cover everything the batches returned",
                            stream.name,
                            new.len(),
                            examples(&new)
                        ));
                    }
                }
                Err(failure) => second.push(format!("stream `{}`: {failure}", stream.name)),
            }

            // resume from intermediate checkpoints
            let n = read.batches.len();
            for i in spread(n.saturating_sub(1), MAX_RESUMES) {
                let what = format!("resume after batch {}", i + 1);
                match self
                    .read_all(&stream.name, read.states[i].clone(), &what)
                    .await?
                {
                    Ok(rest) => {
                        let mut batches: Vec<Batch> = read.batches[..=i].to_vec();
                        batches.extend(rest.batches);
                        let resumed = merge(&batches);
                        let (missing, differ, extra) = compare(&final_records, &resumed);
                        if !(missing.is_empty() && differ.is_empty() && extra.is_empty()) {
                            resume.push(format!(
                                "stream `{}`, resuming from the state of batch {}: {} record(s) missing ({}), {} different ({}), {} extra ({}); the state must say exactly where the next batch starts",
                                stream.name,
                                i + 1,
                                missing.len(),
                                examples(&missing),
                                differ.len(),
                                examples(&differ),
                                extra.len(),
                                examples(&extra)
                            ));
                            break;
                        }
                    }
                    Err(failure) => {
                        resume.push(format!("stream `{}`, {what}: {failure}", stream.name));
                        break;
                    }
                }
            }
            report_counts(report, &stream.name, items, rejects);
        }

        if full_failures.is_empty() {
            let total: usize = report.counts.values().map(|(i, _)| i).sum();
            let rejected: usize = report.counts.values().map(|(_, r)| r).sum();
            report.pass(
                "full read",
                format!("{reads} stream(s) read to the end: {total} records, {rejected} rejects"),
            );
        } else {
            report.fail("full read", full_failures.join("; "));
        }
        let verdict = |report: &mut Report, name: &'static str, failures: Vec<String>, ok: &str| {
            if reads == 0 {
                report.skip(name, "no stream was read");
            } else if failures.is_empty() {
                report.pass(name, ok.to_string());
            } else {
                report.fail(name, failures.join("; "));
            }
        };
        verdict(
            report,
            "second read",
            second,
            "nothing new from the saved state",
        );
        verdict(
            report,
            "resume",
            resume,
            "every intermediate checkpoint tried ends with the same records",
        );
        verdict(
            report,
            "boundary duplicates",
            duplicates,
            "no record returned twice in one read",
        );
        let ok = if quarantined_by_hub > 0 {
            format!(
                "of their entity, keyed, valid; {quarantined_by_hub} residence(s) or label(s) the hub would quarantine (its reference data's call, not the connector's)"
            )
        } else {
            "of their entity, keyed, valid".to_string()
        };
        verdict(report, "records", records, &ok);

        // personal values
        let planted = self.planted()?;
        let leaks = self.leaks(&personal, &planted);
        if leaks.is_empty() {
            report.pass(
                "personal values",
                format!(
                    "none of {} household identifier(s) and {} planted value(s) in logs, rejects, errors or states",
                    personal.len(),
                    planted.len()
                ),
            );
        } else {
            report.fail("personal values", leaks.join("; "));
        }

        // fixtures
        if let Some(tape) = &self.tape
            && !self.options.record
        {
            let missed = tape.missed();
            if missed.is_empty() {
                report.pass(
                    "fixtures",
                    format!(
                        "every HTTP request answered from {} recorded exchange(s), offline",
                        tape.exchanges().len()
                    ),
                );
            } else {
                let mut distinct = missed.clone();
                distinct.sort();
                distinct.dedup();
                report.fail(
                    "fixtures",
                    format!(
                        "{} request(s) not recorded ({}): record the fixtures again with --record (against the simulator or the partner)",
                        missed.len(),
                        distinct.into_iter().take(EXAMPLES).collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    /// `check` must refuse, as `bad-config`, a configuration without each
    /// field the schema requires.
    async fn check_refusals(
        &mut self,
        report: &mut Report,
        schema: &serde_json::Value,
        config: &serde_json::Value,
    ) -> Result<(), AcceptanceError> {
        let required: Vec<String> = schema
            .get("required")
            .and_then(|r| r.as_array())
            .map(|r| {
                r.iter()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let Some(object) = config.as_object().filter(|_| !required.is_empty()) else {
            report.skip(
                "check refuses",
                "the schema requires no field: nothing to take away",
            );
            return Ok(());
        };
        let mut failures = Vec::new();
        for field in &required {
            let mut broken = object.clone();
            if broken.remove(field).is_none() {
                continue;
            }
            let text = serde_json::Value::Object(broken).to_string();
            self.doing(format!("check without `{field}`"));
            match self.instance().await?.check(&text).await {
                Ok(Err(ConnectorError::BadConfig(message))) => {
                    self.said.push(("error", format!("check without `{field}`"), message));
                }
                Ok(Err(other)) => failures.push(format!(
                    "without `{field}` check() says {other}; a configuration error is bad-config"
                )),
                Ok(Ok(())) => failures.push(format!(
                    "check() accepts a configuration without `{field}`, which the schema requires: check every field"
                )),
                Err(e) => failures.push(format!(
                    "without `{field}` check() trapped ({e}): parse the configuration, never unwrap it"
                )),
            }
        }
        if failures.is_empty() {
            report.pass(
                "check refuses",
                format!(
                    "bad-config without each of {} required field(s)",
                    required.len()
                ),
            );
        } else {
            report.fail("check refuses", failures.join("; "));
        }
        Ok(())
    }

    /// Reads `stream` from `state` to its end in one instance (one run),
    /// stopping at a state that does not move.
    async fn read_all(
        &mut self,
        stream: &str,
        mut state: Option<String>,
        what: &str,
    ) -> Result<Result<Read, String>, AcceptanceError> {
        let mut instance = self.instance().await?;
        let mut read = Read {
            batches: Vec::new(),
            states: Vec::new(),
        };
        loop {
            let n = read.batches.len() + 1;
            if n > MAX_BATCHES {
                return Ok(Err(format!(
                    "{what} did not end after {MAX_BATCHES} batches: set `more` to false when nothing remains"
                )));
            }
            self.doing(format!("{what} of `{stream}`, batch {n}"));
            let batch = match instance
                .read(&self.options.config, stream, state.as_deref())
                .await
            {
                Ok(Ok(batch)) => batch,
                Ok(Err(e)) => {
                    self.said.push((
                        "error",
                        format!("{what} of `{stream}`, batch {n}"),
                        e.to_string(),
                    ));
                    return Ok(Err(format!("{what}, batch {n} failed: {e}")));
                }
                Err(e) => return Ok(Err(format!("{what}, batch {n} trapped: {e}"))),
            };
            for r in &batch.rejects {
                self.said.push((
                    "reject",
                    format!("{what} of `{stream}`, batch {n}"),
                    format!("{} {}", r.field, r.detail),
                ));
            }
            if let Some(s) = &batch.state {
                self.said.push((
                    "state",
                    format!("{what} of `{stream}`, batch {n}"),
                    s.clone(),
                ));
            }
            let next = batch.state.clone().or_else(|| state.clone());
            let more = batch.more;
            if more && next == state {
                return Ok(Err(format!(
                    "{what}, batch {n} says more remain but returns the state it was given: the hub would call read() forever; move the state past what the batch returned"
                )));
            }
            state = next;
            read.batches.push(batch);
            read.states.push(state.clone());
            if !more {
                return Ok(Ok(read));
            }
        }
    }

    fn planted(&self) -> Result<Vec<String>, AcceptanceError> {
        let Some(file) = self
            .options
            .fixtures
            .as_ref()
            .map(|d| d.join("planted.txt"))
        else {
            return Ok(Vec::new());
        };
        if !file.is_file() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&file).map_err(|e| {
            AcceptanceError::Fixtures(format!("cannot read {}: {e}", file.display()))
        })?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect())
    }

    fn leaks(&self, personal: &BTreeSet<String>, planted: &[String]) -> Vec<String> {
        let logs = self
            .capture
            .lock()
            .map(|c| c.lines.clone())
            .unwrap_or_default();
        // (what leaked, where) → (times, the first place)
        let mut found: BTreeMap<(&str, &str), (usize, String)> = BTreeMap::new();
        let texts = logs
            .iter()
            .map(|(doing, line)| ("log line", doing, line))
            .chain(
                self.said
                    .iter()
                    .map(|(what, place, text)| (*what, place, text)),
            );
        for (what, place, text) in texts {
            let hit = planted
                .iter()
                .map(|v| (v, "a value of planted.txt"))
                .chain(
                    personal
                        .iter()
                        .map(|v| (v, "a household identifier of the records")),
                )
                .find(|(v, _)| contains_word(text, v));
            if let Some((_, kind)) = hit {
                found
                    .entry((kind, what))
                    .or_insert_with(|| (0, place.clone()))
                    .0 += 1;
            }
        }
        found
            .into_iter()
            .map(|((kind, what), (n, first))| {
                let fix = match what {
                    "log line" => "log counts and keys, never values read from the partner",
                    "reject" => "a reject's field and detail say what is wrong, never the value",
                    "state" => {
                        "keep positions and instants in the state, never a person's identifier"
                    }
                    _ => "an error names the field, never its value",
                };
                format!("{kind} in {n} {what}(s), first in {first}: {fix}")
            })
            .collect()
    }
}

fn report_counts(report: &mut Report, stream: &str, items: usize, rejects: usize) {
    report.counts.insert(stream.to_string(), (items, rejects));
}

/// Up to `max` indexes of `0..n`, evenly spread, always the first and last.
fn spread(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut picked: Vec<usize> = (0..max).map(|k| k * (n - 1) / (max - 1)).collect();
    picked.dedup();
    picked
}

/// `value` in `text`, not as a part of a longer word or number.
fn contains_word(text: &str, value: &str) -> bool {
    if value.is_empty() {
        return false;
    }
    let is_word = |c: char| c.is_alphanumeric();
    text.match_indices(value).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + value.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

fn collect_person_ids(item: &Item, into: &mut BTreeSet<String>) {
    use crate::model::Entity;
    let mut add = |p: &crate::model::PersonId| {
        let id = p.local_id.trim();
        // Short numbers would match counts in any log line.
        if id.chars().count() >= 5
            || (id.chars().count() >= 3 && id.chars().any(|c| !c.is_ascii_digit()))
        {
            into.insert(id.to_string());
        }
    };
    match &item.entity {
        Entity::Household(h) => add(&h.person),
        Entity::Distribution(d) => d.household.iter().for_each(&mut add),
        Entity::OrderLine(o) => o.household.iter().for_each(&mut add),
        Entity::Participation(p) => p.household.iter().for_each(&mut add),
        Entity::Pathway(p) => add(&p.worker),
        Entity::SurveyResponse(s) => s.household.iter().for_each(&mut add),
        Entity::Site(_) | Entity::Product(_) | Entity::Supply(_) | Entity::Diagnostic(_) => {}
    }
}

/// How a record is named in a message: where it was read, else its key.
fn label(item: &Item) -> String {
    match (&item.origin, item.line) {
        (Some(origin), Some(line)) => format!("{origin} line {line}"),
        _ => format!("key `{}`", item.key),
    }
}

fn examples(labels: &[String]) -> String {
    let mut shown: Vec<&str> = labels.iter().take(EXAMPLES).map(String::as_str).collect();
    if labels.len() > EXAMPLES {
        shown.push("…");
    }
    shown.join(", ")
}

/// The records the hub would hold after these batches: upserts by key, and
/// an origin listed in `replace_origins` replacing what was stored from it.
fn merge(batches: &[Batch]) -> BTreeMap<String, Item> {
    let mut records: BTreeMap<String, Item> = BTreeMap::new();
    for b in batches {
        for origin in &b.replace_origins {
            records.retain(|_, item| item.origin.as_deref() != Some(origin.as_str()));
        }
        for item in &b.items {
            records.insert(item.key.clone(), item.clone());
        }
    }
    records
}

/// Records of `batches` that are not, or not the same, in `records`.
fn difference(records: &BTreeMap<String, Item>, batches: &[Batch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| &b.items)
        .filter(|item| {
            records
                .get(&item.key)
                .is_none_or(|known| known.entity != item.entity)
        })
        .map(label)
        .collect()
}

/// `(missing, different, extra)` of `got` against `want`.
fn compare(
    want: &BTreeMap<String, Item>,
    got: &BTreeMap<String, Item>,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut missing = Vec::new();
    let mut differ = Vec::new();
    for (key, item) in want {
        match got.get(key) {
            None => missing.push(label(item)),
            Some(other) if other.entity != item.entity => differ.push(label(item)),
            Some(_) => {}
        }
    }
    let extra = got
        .iter()
        .filter(|(key, _)| !want.contains_key(*key))
        .map(|(_, item)| label(item))
        .collect();
    (missing, differ, extra)
}

/// A record returned twice within one read: the same key from the same place
/// (the same file and line; for a record read from no file, the same key).
/// The same key on two lines of the partner's files is the partner's data (an
/// upsert), not a page boundary.
fn duplicate_problems(stream: &str, read: &Read) -> Vec<String> {
    type Place<'a> = (&'a str, Option<&'a str>, Option<u64>);
    let mut seen: BTreeMap<Place<'_>, usize> = BTreeMap::new();
    let mut twice = Vec::new();
    for (n, b) in read.batches.iter().enumerate() {
        // A batch replacing an origin starts that file again: what was read
        // of it before is forgotten, as the hub does.
        for origin in &b.replace_origins {
            seen.retain(|(_, o, _), _| *o != Some(origin.as_str()));
        }
        for item in &b.items {
            let at = (item.key.as_str(), item.origin.as_deref(), item.line);
            if let Some(first) = seen.insert(at, n + 1) {
                twice.push(format!("{} (batches {first} and {})", label(item), n + 1));
            }
        }
    }
    if twice.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "stream `{stream}`: {} record(s) returned twice in one read ({}): a page repeats the record at its boundary (an inclusive cursor); start the next page after the last record returned",
        twice.len(),
        examples(&twice)
    )]
}

/// Records not of their stream's entity, without a key, or that the hub's
/// validation refuses for a fault of the connector; and how many the hub
/// would quarantine for its reference data (a postcode it does not know).
fn record_problems(stream: &StreamInfo, read: &Read) -> (Vec<String>, usize) {
    let mut wrong_kind = Vec::new();
    let mut no_key = Vec::new();
    let mut invalid = Vec::new();
    let mut bad_rejects = Vec::new();
    let mut by_hub = 0;
    let key = Secret::new("acceptance-suite-pseudonym-key-0123456789");
    let pseudonymiser = crate::privacy::Pseudonymiser::new(&key).ok();
    let gazetteer = crate::geo::gazetteer().ok();
    let context = match (&pseudonymiser, gazetteer) {
        (Some(p), Some(g)) => Some(normalise::Context {
            source: "acceptance",
            network: "acceptance",
            territory_epcis: &[],
            site_territories: &[],
            pseudonymiser: p,
            gazetteer: g,
        }),
        _ => None,
    };
    for b in &read.batches {
        for item in &b.items {
            if item.entity.kind() != stream.entity {
                wrong_kind.push(format!("{} is a {:?}", label(item), item.entity.kind()));
            }
            if item.key.trim().is_empty() {
                no_key.push(label(item));
            }
            if let Some(context) = &context
                && let Err(refusal) = context.normalise(item.clone())
            {
                match refusal.reason {
                    RejectReason::UnknownPostcode
                    | RejectReason::UnresolvedLocation
                    | RejectReason::UnknownLabel => by_hub += 1,
                    reason => invalid.push(format!(
                        "{}: {} `{}` ({})",
                        label(item),
                        reason.as_str(),
                        refusal.field,
                        refusal.detail
                    )),
                }
            }
        }
        for r in &b.rejects {
            if r.field.trim().is_empty() || r.detail.trim().is_empty() {
                bad_rejects.push(match (&r.origin, r.line) {
                    (Some(o), Some(l)) => format!("{o} line {l}"),
                    _ => r.key.clone().unwrap_or_else(|| "a reject".into()),
                });
            }
        }
    }
    let mut problems = Vec::new();
    let name = &stream.name;
    if !wrong_kind.is_empty() {
        problems.push(format!(
            "stream `{name}` declares {:?} records but {} are not ({}): return the stream's entity",
            stream.entity,
            wrong_kind.len(),
            examples(&wrong_kind)
        ));
    }
    if !no_key.is_empty() {
        problems.push(format!(
            "stream `{name}`: {} record(s) without a key ({}): every item needs the partner's key",
            no_key.len(),
            examples(&no_key)
        ));
    }
    if !invalid.is_empty() {
        problems.push(format!(
            "stream `{name}`: {} record(s) the hub refuses ({}): reject such a row yourself (a Reject with its reason) or fix the mapping",
            invalid.len(),
            examples(&invalid)
        ));
    }
    if !bad_rejects.is_empty() {
        problems.push(format!(
            "stream `{name}`: {} reject(s) without a field or a detail ({}): say which field and what is wrong, without the value",
            bad_rejects.len(),
            examples(&bad_rejects)
        ));
    }
    (problems, by_hub)
}

fn spec_problems(
    name: &str,
    version: &str,
    description: &str,
    schema: &serde_json::Value,
    streams: &[StreamInfo],
    config: &serde_json::Value,
) -> Vec<String> {
    let mut problems = Vec::new();
    if !crate::scaffold::valid_name(name) {
        problems.push(format!(
            "name `{name}`: lowercase letters, digits and dashes (`food-parcels`), as sources name it"
        ));
    }
    let parts: Vec<&str> = version
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        problems.push(format!(
            "version `{version}`: use semantic versioning, `0.1.0`"
        ));
    }
    if description.trim().is_empty() {
        problems.push("description: say in one line what the connector reads".into());
    }
    if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
        problems.push("config_schema: a JSON Schema with \"type\": \"object\"".into());
    }
    if let Some(required) = schema.get("required").and_then(|r| r.as_array()) {
        for field in required.iter().filter_map(|f| f.as_str()) {
            if config.get(field).is_none() {
                problems.push(format!(
                    "the configuration file has no `{field}`, which the schema requires"
                ));
            }
        }
    }
    if schema.get("additionalProperties") == Some(&serde_json::Value::Bool(false))
        && let (Some(props), Some(object)) = (
            schema.get("properties").and_then(|p| p.as_object()),
            config.as_object(),
        )
    {
        for field in object.keys().filter(|k| !props.contains_key(*k)) {
            problems.push(format!(
                "the configuration file has `{field}`, which the schema does not allow"
            ));
        }
    }
    if streams.is_empty() {
        problems.push("streams: declare at least one".into());
    }
    let mut names = BTreeSet::new();
    for s in streams {
        if !names.insert(s.name.as_str()) {
            problems.push(format!("stream `{}` declared twice", s.name));
        }
        if s.name.trim().is_empty() {
            problems.push("a stream without a name".into());
        }
        if s.primary_key.is_empty() {
            problems.push(format!(
                "stream `{}`: no primary key; name the partner's fields that make the item key",
                s.name
            ));
        }
        if s.description.trim().is_empty() {
            problems.push(format!("stream `{}`: no description", s.name));
        }
    }
    problems
}

fn discover_problems(found: &[StreamInfo], declared: &[StreamInfo]) -> Vec<String> {
    let mut problems = Vec::new();
    if found.is_empty() {
        problems.push("discover() offers no stream for this configuration".into());
    }
    for s in found {
        match declared.iter().find(|d| d.name == s.name) {
            None => problems.push(format!(
                "stream `{}` is not in the spec: declare it in spec()",
                s.name
            )),
            Some(d) if d != s => problems.push(format!(
                "stream `{}` differs from the spec (entity, primary key, cursor or description): discover what spec() declares",
                s.name
            )),
            Some(_) => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_not_parts() {
        assert!(contains_word("household D-20417 read", "D-20417"));
        assert!(!contains_word("household D-204170 read", "D-20417"));
        assert!(contains_word("Planchard", "Planchard"));
        assert!(!contains_word("Planchardes", "Planchard"));
        assert!(!contains_word("anything", ""));
    }

    #[test]
    fn spread_keeps_first_and_last() {
        assert_eq!(spread(3, 12), vec![0, 1, 2]);
        let s = spread(100, 12);
        assert_eq!(s.len(), 12);
        assert_eq!((s[0], s[11]), (0, 99));
    }
}
