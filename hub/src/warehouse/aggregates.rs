// The period pre-aggregates `household_periods` and `product_periods`
// (migration 0008): what indicators read instead of a million fact rows.
// They are kept exact in the transaction that writes the facts: the sync's
// commit adds the new rows, moves the updated ones (their stored values are
// read back and subtracted first), and the removal of a re-sent file's rows
// subtracts them. Each fact counts once in its month, its quarter and its
// year. Portable statements, compiled once per backend (included by
// `sqlite.rs` and `postgres.rs`); the migration fills the tables with the
// same rules in SQL, and a test compares the two after inserts, updates and
// removals on both backends.

use std::collections::BTreeMap;

use sqlx::{QueryBuilder, Row as _};

use super::{DB, Tx};
use crate::model::EntityKind;
use crate::warehouse::{Provenance, Row, Value, WarehouseError, pow2_chunks};

/// (granularity, territory, period, network, household, household_key,
/// entity, channel).
type HouseholdKey = (
    &'static str,
    String,
    String,
    String,
    String,
    Vec<u8>,
    &'static str,
    String,
);
/// facts, active, collected, weight_g, priced, paid_cents, reference_cents,
/// amounts, amount_cents.
type HouseholdSums = [i64; 9];
/// (granularity, territory, period, network, channel, dfc_type).
type ProductKey = (&'static str, String, String, String, String, String);
/// lines, weighed, weight_g.
type ProductSums = [i64; 3];

/// The changes a batch makes to the pre-aggregates, in key order (rows are
/// locked in that order: two transactions never wait on each other in a
/// cycle).
#[derive(Default)]
pub(crate) struct Deltas {
    households: BTreeMap<HouseholdKey, HouseholdSums>,
    products: BTreeMap<ProductKey, ProductSums>,
    removed: bool,
}

/// The columns a fact's contribution depends on, as the table stores them.
const DISTRIBUTION_COLUMNS: &[&str] = &[
    "territory",
    "network",
    "household",
    "household_key",
    "date",
    "kind",
    "status",
    "amount_cents",
    "quantity_kg",
];
const ORDER_LINE_COLUMNS: &[&str] = &[
    "territory",
    "network",
    "household",
    "date",
    "month",
    "channel",
    "price_paid_cents",
    "reference_price_cents",
    "dfc_type",
    "quantity",
    "unit",
];

fn columns_of(kind: EntityKind) -> Option<&'static [&'static str]> {
    match kind {
        EntityKind::Distribution => Some(DISTRIBUTION_COLUMNS),
        EntityKind::OrderLine => Some(ORDER_LINE_COLUMNS),
        _ => None,
    }
}

/// Whether a fact of this kind feeds the pre-aggregates.
pub(crate) fn feeds(kind: EntityKind) -> bool {
    columns_of(kind).is_some()
}

/// A month from a `YYYY-MM…` text (what `order_lines.month` holds), as the
/// migration reads it.
fn month_of_text(s: &str) -> Option<(i32, u8)> {
    let b = s.as_bytes();
    if b.len() < 7 || b[4] != b'-' || !b[..4].iter().chain(&b[5..7]).all(u8::is_ascii_digit) {
        return None;
    }
    let year = s[..4].parse().ok()?;
    let month: u8 = s[5..7].parse().ok()?;
    (1..=12).contains(&month).then_some((year, month))
}

/// Grams, rounded half away from zero as the migration's SQL does.
fn grams(kg_times: f64, sign_of: f64) -> i64 {
    (kg_times + if sign_of < 0.0 { -0.5 } else { 0.5 }).trunc() as i64
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn real(v: &Value) -> Option<f64> {
    match v {
        Value::Real(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

fn periods(year: i32, month: u8) -> [(&'static str, String); 3] {
    [
        ("month", format!("{year:04}-{month:02}")),
        ("quarter", format!("{year:04}-Q{}", month.div_ceil(3))),
        ("year", format!("{year:04}")),
    ]
}

impl Deltas {
    /// Adds (`sign` 1) or subtracts (`sign` -1) one fact, read by `get`.
    fn add<'v>(&mut self, kind: EntityKind, get: impl Fn(&str) -> &'v Value, sign: i64) {
        let territory = text(get("territory")).unwrap_or_default().to_string();
        let network = text(get("network")).unwrap_or_default().to_string();
        let household = text(get("household")).unwrap_or_default().to_string();
        match kind {
            EntityKind::Distribution => {
                let Value::Date(date) = get("date") else {
                    return;
                };
                let key = match get("household_key") {
                    Value::Key(k) => k.to_vec(),
                    _ => Vec::new(),
                };
                let status = text(get("status"));
                let active = matches!(status, None | Some("collected" | "given"));
                let collected = matches!(status, None | Some("collected"));
                let weight = match real(get("quantity_kg")) {
                    Some(kg) if collected => grams(kg * 1000.0, kg),
                    _ => 0,
                };
                let amount = int(get("amount_cents"));
                let sums = [
                    1,
                    active as i64,
                    collected as i64,
                    weight,
                    0,
                    0,
                    0,
                    amount.is_some() as i64,
                    amount.unwrap_or(0),
                ];
                let channel = text(get("kind")).unwrap_or_default().to_string();
                for (g, period) in periods(date.year(), date.month() as u8) {
                    let k = (
                        g,
                        territory.clone(),
                        period,
                        network.clone(),
                        household.clone(),
                        key.clone(),
                        "distribution",
                        channel.clone(),
                    );
                    let e = self.households.entry(k).or_default();
                    for (a, b) in e.iter_mut().zip(sums) {
                        *a += sign * b;
                    }
                }
            }
            EntityKind::OrderLine => {
                let month = match get("date") {
                    Value::Date(d) => Some((d.year(), d.month() as u8)),
                    _ => text(get("month")).and_then(month_of_text),
                };
                let Some((year, month)) = month else {
                    return;
                };
                let paid = int(get("price_paid_cents"));
                let reference = int(get("reference_price_cents"));
                let priced = paid.zip(reference);
                let sums = [
                    1,
                    1,
                    0,
                    0,
                    priced.is_some() as i64,
                    priced.map_or(0, |p| p.0),
                    priced.map_or(0, |p| p.1),
                    0,
                    0,
                ];
                let channel = text(get("channel")).unwrap_or_default().to_string();
                // Only lines naming a household count products (as the
                // indicators did).
                let product = (!household.is_empty()).then(|| {
                    let unit = text(get("unit")).map(str::to_lowercase);
                    let q = real(get("quantity")).unwrap_or(0.0);
                    let weight = match unit.as_deref() {
                        Some("kg") => grams(q * 1000.0, q),
                        Some("g") => grams(q, q),
                        _ => 0,
                    };
                    let weighed = matches!(unit.as_deref(), Some("kg" | "g")) as i64;
                    (
                        text(get("dfc_type")).unwrap_or_default().to_string(),
                        [1, weighed, weight],
                    )
                });
                for (g, period) in periods(year, month) {
                    let k = (
                        g,
                        territory.clone(),
                        period.clone(),
                        network.clone(),
                        household.clone(),
                        Vec::new(),
                        "order_line",
                        channel.clone(),
                    );
                    let e = self.households.entry(k).or_default();
                    for (a, b) in e.iter_mut().zip(sums) {
                        *a += sign * b;
                    }
                    if let Some((dfc, p)) = &product {
                        let k = (
                            g,
                            territory.clone(),
                            period,
                            network.clone(),
                            channel.clone(),
                            dfc.clone(),
                        );
                        let e = self.products.entry(k).or_default();
                        for (a, b) in e.iter_mut().zip(p) {
                            *a += sign * b;
                        }
                    }
                }
            }
            _ => {}
        }
        if sign < 0 {
            self.removed = true;
        }
    }

    /// Adds rows about to be written for the first time (or again, after
    /// their stored version was subtracted).
    pub(crate) fn add_rows(&mut self, prov: &Provenance, rows: &[(&Row, Option<i64>)]) {
        let territory = Value::Text(prov.territory.clone());
        let network = Value::Text(prov.network.clone());
        for (row, _) in rows {
            self.add(
                row.kind,
                |c| match c {
                    "territory" => &territory,
                    "network" => &network,
                    _ => row.get(c),
                },
                1,
            );
        }
    }

    /// Subtracts stored rows (read by [`stored`]).
    fn subtract(&mut self, kind: EntityKind, rows: &[Vec<(&'static str, Value)>]) {
        for row in rows {
            self.add(
                kind,
                |c| {
                    row.iter()
                        .find(|(n, _)| *n == c)
                        .map_or(&Value::Null, |(_, v)| v)
                },
                -1,
            );
        }
    }

    /// Writes the changes: one multi-row upsert per table (chunked), then the
    /// rows whose facts are all gone are deleted.
    pub(crate) async fn apply(self, tx: &mut Tx) -> Result<(), WarehouseError> {
        let households: Vec<_> = self
            .households
            .into_iter()
            .filter(|(_, s)| s.iter().any(|v| *v != 0))
            .collect();
        for chunk in pow2_chunks(&households, 1_000) {
            let mut q: QueryBuilder<DB> = QueryBuilder::new(
                "INSERT INTO household_periods (granularity, territory, period, network, household, \
                 household_key, entity, channel, facts, active, collected, weight_g, priced, paid_cents, \
                 reference_cents, amounts, amount_cents) ",
            );
            q.push_values(chunk, |mut b, (k, s)| {
                b.push_bind(k.0)
                    .push_bind(k.1.as_str())
                    .push_bind(k.2.as_str())
                    .push_bind(k.3.as_str())
                    .push_bind(k.4.as_str())
                    .push_bind(k.5.as_slice())
                    .push_bind(k.6)
                    .push_bind(k.7.as_str());
                for v in s {
                    b.push_bind(*v);
                }
            });
            q.push(
                " ON CONFLICT (granularity, territory, period, network, household, household_key, entity, channel) \
                 DO UPDATE SET facts = household_periods.facts + excluded.facts, \
                 active = household_periods.active + excluded.active, \
                 collected = household_periods.collected + excluded.collected, \
                 weight_g = household_periods.weight_g + excluded.weight_g, \
                 priced = household_periods.priced + excluded.priced, \
                 paid_cents = household_periods.paid_cents + excluded.paid_cents, \
                 reference_cents = household_periods.reference_cents + excluded.reference_cents, \
                 amounts = household_periods.amounts + excluded.amounts, \
                 amount_cents = household_periods.amount_cents + excluded.amount_cents",
            );
            q.build().execute(&mut **tx).await?;
        }
        let products: Vec<_> = self
            .products
            .into_iter()
            .filter(|(_, s)| s.iter().any(|v| *v != 0))
            .collect();
        for chunk in pow2_chunks(&products, 1_000) {
            let mut q: QueryBuilder<DB> = QueryBuilder::new(
                "INSERT INTO product_periods (granularity, territory, period, network, channel, dfc_type, \
                 lines, weighed, weight_g) ",
            );
            q.push_values(chunk, |mut b, (k, s)| {
                b.push_bind(k.0)
                    .push_bind(k.1.as_str())
                    .push_bind(k.2.as_str())
                    .push_bind(k.3.as_str())
                    .push_bind(k.4.as_str())
                    .push_bind(k.5.as_str());
                for v in s {
                    b.push_bind(*v);
                }
            });
            q.push(
                " ON CONFLICT (granularity, territory, period, network, channel, dfc_type) \
                 DO UPDATE SET lines = product_periods.lines + excluded.lines, \
                 weighed = product_periods.weighed + excluded.weighed, \
                 weight_g = product_periods.weight_g + excluded.weight_g",
            );
            q.build().execute(&mut **tx).await?;
        }
        if self.removed {
            sqlx::query("DELETE FROM household_periods WHERE facts = 0")
                .execute(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM product_periods WHERE lines = 0")
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// What the table holds of the rows named by `filter` (`key IN …` of one
/// stream, or `origin_id IN …`), as column values.
async fn stored(
    tx: &mut Tx,
    kind: EntityKind,
    filter: impl FnOnce(&mut QueryBuilder<DB>),
) -> Result<Vec<Vec<(&'static str, Value)>>, WarehouseError> {
    let Some(columns) = columns_of(kind) else {
        return Ok(Vec::new());
    };
    let table = crate::warehouse::schema::table(kind);
    let mut q: QueryBuilder<DB> = QueryBuilder::new(format!(
        "SELECT {} FROM {} WHERE ",
        columns.join(", "),
        table.name
    ));
    filter(&mut q);
    let rows = q.build().fetch_all(&mut **tx).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut values = Vec::with_capacity(columns.len());
        for c in columns {
            let v = match *c {
                "date" => r
                    .try_get::<Option<time::Date>, _>(*c)?
                    .map_or(Value::Null, Value::Date),
                "household_key" => match r.try_get::<Option<Vec<u8>>, _>(*c)? {
                    Some(k) if k.len() == 16 => {
                        let mut key = [0u8; 16];
                        key.copy_from_slice(&k);
                        Value::Key(key)
                    }
                    _ => Value::Null,
                },
                "amount_cents" | "price_paid_cents" | "reference_price_cents" => r
                    .try_get::<Option<i64>, _>(*c)?
                    .map_or(Value::Null, Value::Int),
                "quantity_kg" | "quantity" => r
                    .try_get::<Option<f64>, _>(*c)?
                    .map_or(Value::Null, Value::Real),
                _ => Value::opt_text(r.try_get::<Option<String>, _>(*c)?),
            };
            values.push((*c, v));
        }
        out.push(values);
    }
    Ok(out)
}

/// Subtracts the stored version of rows about to be overwritten (`keys` of
/// one stream, sorted).
pub(crate) async fn subtract_stored(
    tx: &mut Tx,
    deltas: &mut Deltas,
    kind: EntityKind,
    stream_id: i64,
    keys: &[[u8; 16]],
) -> Result<(), WarehouseError> {
    if !feeds(kind) {
        return Ok(());
    }
    for chunk in pow2_chunks(keys, 512) {
        let rows = stored(tx, kind, |q| {
            q.push("stream_id = ");
            q.push_bind(stream_id);
            q.push(" AND key IN (");
            let mut list = q.separated(", ");
            for k in chunk {
                list.push_bind(k.to_vec());
            }
            list.push_unseparated(")");
        })
        .await?;
        deltas.subtract(kind, &rows);
    }
    Ok(())
}

/// Subtracts the rows of the export files `origins` (about to be removed).
pub(crate) async fn subtract_origins(
    tx: &mut Tx,
    origins: &[i64],
) -> Result<(), WarehouseError> {
    let mut deltas = Deltas::default();
    for kind in [EntityKind::Distribution, EntityKind::OrderLine] {
        let rows = stored(tx, kind, |q| {
            q.push("origin_id IN (");
            let mut list = q.separated(", ");
            for id in origins {
                list.push_bind(*id);
            }
            list.push_unseparated(")");
        })
        .await?;
        deltas.subtract(kind, &rows);
    }
    deltas.apply(tx).await
}

/// The pre-aggregates' side of writing a batch's rows of one kind: `new`
/// rows are added; rows of `changed` whose values differ from the stored
/// ones (`updated`) are subtracted as stored, then added as written. Called
/// before the rows are written.
pub(crate) async fn on_upsert(
    tx: &mut Tx,
    prov: &Provenance,
    stream_id: i64,
    kind: EntityKind,
    new: &[(&Row, Option<i64>)],
    changed: &[(&Row, Option<i64>)],
    updated: impl Fn(&Row) -> bool,
) -> Result<(), WarehouseError> {
    if !feeds(kind) {
        return Ok(());
    }
    let changed: Vec<(&Row, Option<i64>)> = changed
        .iter()
        .filter(|(r, _)| updated(r))
        .copied()
        .collect();
    let mut deltas = Deltas::default();
    let keys: Vec<[u8; 16]> = changed.iter().map(|(r, _)| r.key).collect();
    subtract_stored(tx, &mut deltas, kind, stream_id, &keys).await?;
    deltas.add_rows(prov, new);
    deltas.add_rows(prov, &changed);
    deltas.apply(tx).await
}
