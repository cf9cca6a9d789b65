// Exports: one streamed SELECT over a fact table (or a fact's child table)
// joined to `streams` for the source, filtered by territory, network and
// period. Rows go out in pages through a bounded channel, so memory does not
// grow with the table. Portable statements, compiled once per backend
// (included by `sqlite.rs` and `postgres.rs`).

use futures::TryStreamExt as _;
use sqlx::{QueryBuilder, Row as _};
use time::OffsetDateTime;

use super::{DB, Pool};
use crate::warehouse::schema::{Role, Type};
use crate::warehouse::{ExportQuery, Value, WarehouseError, export_columns};

/// Rows per page sent to the formatter.
const PAGE: usize = 2048;

/// Streams the rows `q` selects into `tx`, a page at a time, in the columns
/// of [`export_columns`]. Returns how many rows were sent; stops early (without
/// error) when the receiver is gone.
pub async fn stream(
    pool: &Pool,
    q: &ExportQuery,
    tx: &tokio::sync::mpsc::Sender<Vec<Vec<Value>>>,
) -> Result<u64, WarehouseError> {
    let table = q.table;
    // `p` is the row that carries territory, network and period: the fact
    // itself, or a child's parent.
    let parent = match (table.role, table.parent) {
        (Role::Child, Some(name)) => crate::warehouse::schema::named(name),
        _ => None,
    };
    let columns = export_columns(table);
    let p = if parent.is_some() { "p" } else { "f" };
    let mut sql: QueryBuilder<DB> = QueryBuilder::new(format!(
        "SELECT s.source, s.name, f.key, {p}.territory, {p}.network, {p}.run_id"
    ));
    for c in table.columns.iter().filter(|c| !c.provenance) {
        sql.push(format!(", f.{}", c.name));
    }
    sql.push(format!(" FROM {} f JOIN streams s ON s.id = f.stream_id", table.name));
    if let Some(parent) = parent {
        sql.push(format!(
            " JOIN {} p ON p.stream_id = f.stream_id AND p.key = f.key",
            parent.name
        ));
    }
    sql.push(" WHERE 1 = 1");
    for (column, values) in [("territory", &q.territories), ("network", &q.networks)] {
        if values.is_empty() {
            continue;
        }
        sql.push(format!(" AND {p}.{column} IN ("));
        let mut sep = sql.separated(", ");
        for v in values {
            sep.push_bind(v.clone());
        }
        sep.push_unseparated(")");
    }
    let period = parent.map_or(table.period, |p| p.period);
    if let Some(col) = period {
        let ty = parent
            .unwrap_or(table)
            .column(col)
            .map_or(Type::Date, |c| c.ty);
        for (bound, op) in [(q.from, ">="), (q.to.and_then(|d| d.next_day()), "<")] {
            let Some(day) = bound else { continue };
            sql.push(format!(" AND {p}.{col} {op} "));
            if ty == Type::Timestamp {
                sql.push_bind(OffsetDateTime::new_utc(day, time::Time::MIDNIGHT));
            } else {
                sql.push_bind(day);
            }
        }
    }
    sql.push(" ORDER BY f.stream_id, f.key");
    let mut rows = sql.build().fetch(pool);
    let mut page = Vec::with_capacity(PAGE);
    let mut sent = 0u64;
    while let Some(row) = rows.try_next().await? {
        let mut out = Vec::with_capacity(columns.len());
        for (i, (_, ty)) in columns.iter().enumerate() {
            out.push(decode(&row, i, *ty)?);
        }
        page.push(out);
        if page.len() == PAGE {
            sent += page.len() as u64;
            if tx.send(std::mem::replace(&mut page, Vec::with_capacity(PAGE))).await.is_err() {
                return Ok(sent);
            }
        }
    }
    if !page.is_empty() {
        sent += page.len() as u64;
        let _ = tx.send(page).await;
    }
    Ok(sent)
}

fn decode(row: &<DB as sqlx::Database>::Row, i: usize, ty: Type) -> Result<Value, sqlx::Error> {
    Ok(match ty {
        Type::Text => Value::opt_text(row.try_get::<Option<String>, _>(i)?),
        Type::Int => Value::opt_int(row.try_get::<Option<i64>, _>(i)?),
        Type::Real => row
            .try_get::<Option<f64>, _>(i)?
            .map_or(Value::Null, Value::Real),
        Type::Bool => Value::opt_bool(row.try_get::<Option<bool>, _>(i)?),
        Type::Date => row
            .try_get::<Option<time::Date>, _>(i)?
            .map_or(Value::Null, Value::Date),
        Type::Timestamp => row
            .try_get::<Option<OffsetDateTime>, _>(i)?
            .map_or(Value::Null, Value::Timestamp),
        Type::Bytes => match row.try_get::<Option<Vec<u8>>, _>(i)? {
            Some(b) if b.len() == 16 => {
                let mut k = [0u8; 16];
                k.copy_from_slice(&b);
                Value::Key(k)
            }
            Some(b) => Value::Text(hex::encode(b)),
            None => Value::Null,
        },
    })
}
