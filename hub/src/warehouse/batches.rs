// Batches, checkpoints and re-sent files: portable statements, compiled once
// per backend (included by `sqlite.rs` and `postgres.rs`).

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row as _};

use super::{DB, Pool, Tx};
use crate::model::EntityKind;
use crate::warehouse::schema::{self, Type};
use crate::warehouse::{
    BatchWrite, Checkpoint, Counts, LogRecord, Provenance, Row, Value, WarehouseError, now,
    pow2_chunks, rfc3339,
};

type Separated<'b> = sqlx::query_builder::Separated<'b, DB, &'static str>;

pub async fn checkpoint(
    pool: &Pool,
    source: &str,
    stream: &str,
) -> Result<Option<String>, WarehouseError> {
    let state: Option<Option<String>> =
        sqlx::query_scalar("SELECT state FROM checkpoints WHERE source = $1 AND stream = $2")
            .bind(source)
            .bind(stream)
            .fetch_optional(pool)
            .await?;
    Ok(state.flatten())
}

pub async fn checkpoints(pool: &Pool, source: &str) -> Result<Vec<Checkpoint>, WarehouseError> {
    let rows = sqlx::query(
        "SELECT stream, state, run_id, updated_at FROM checkpoints WHERE source = $1 ORDER BY stream",
    )
    .bind(source)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Checkpoint {
                stream: r.try_get("stream")?,
                state: r.try_get("state")?,
                run_id: r.try_get("run_id")?,
                updated_at: rfc3339(r.try_get("updated_at")?),
            })
        })
        .collect()
}

pub async fn delete_checkpoint(
    pool: &Pool,
    source: &str,
    stream: &str,
) -> Result<bool, WarehouseError> {
    let done = sqlx::query("DELETE FROM checkpoints WHERE source = $1 AND stream = $2")
        .bind(source)
        .bind(stream)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(done > 0)
}

/// The small integer facts name a source's stream by, created on first use.
pub(crate) async fn stream_id_in(
    tx: &mut Tx,
    source: &str,
    stream: &str,
) -> Result<i64, WarehouseError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM streams WHERE source = $1 AND name = $2")
            .bind(source)
            .bind(stream)
            .fetch_optional(&mut **tx)
            .await?;
    if let Some(id) = found {
        return Ok(id);
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO streams (source, name) VALUES ($1, $2) RETURNING id",
    )
    .bind(source)
    .bind(stream)
    .fetch_one(&mut **tx)
    .await?)
}

/// The id of the current version of an export file, created on first use.
async fn origin_id(tx: &mut Tx, stream_id: i64, name: &str) -> Result<i64, WarehouseError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM origins WHERE stream_id = $1 AND name = $2 AND NOT replaced",
    )
    .bind(stream_id)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = found {
        return Ok(id);
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO origins (stream_id, name, replaced, created_at) VALUES ($1, $2, FALSE, $3) RETURNING id",
    )
    .bind(stream_id)
    .bind(name)
    .bind(now())
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn commit_batch(
    pool: &Pool,
    prov: &Provenance,
    batch: BatchWrite,
) -> Result<Counts, WarehouseError> {
    let mut tx = super::begin_write(pool).await?;
    let stream_id = stream_id_in(&mut tx, &prov.source, &prov.stream).await?;
    let mut counts = Counts {
        read: batch.read,
        quarantined: batch.rejects.len() as u64,
        ..Counts::default()
    };
    // A re-sent file replaces its earlier version: the earlier version's rows
    // keep their (now replaced) origin; those the new version emits again are
    // taken back (and count as unchanged when equal), the rest are removed
    // when the stream ends (`finish_stream`).
    super::quarantine::mark_stale(&mut tx, &prov.source, &prov.stream, &batch.replace_origins)
        .await?;
    for origin in &batch.replace_origins {
        sqlx::query(
            "UPDATE origins SET replaced = TRUE WHERE stream_id = $1 AND name = $2 AND NOT replaced",
        )
        .bind(stream_id)
        .bind(origin)
        .execute(&mut *tx)
        .await?;
    }
    let mut origins: HashMap<String, i64> = HashMap::new();
    for row in &batch.rows {
        if let Some(name) = &row.origin
            && !origins.contains_key(name)
        {
            let id = origin_id(&mut tx, stream_id, name).await?;
            origins.insert(name.clone(), id);
        }
    }
    let at = now();
    // Records stored now close their entries still open (the partner
    // corrected them); a record refused again below reopens its own.
    let stored: Vec<[u8; 16]> = batch.rows.iter().map(|r| r.key).collect();
    super::quarantine::close_accepted(&mut tx, prov, at, &stored).await?;
    let mut by_kind: Vec<(EntityKind, Vec<Row>)> = Vec::new();
    for row in batch.rows {
        match by_kind.iter_mut().find(|(k, _)| *k == row.kind) {
            Some((_, rows)) => rows.push(row),
            None => by_kind.push((row.kind, vec![row])),
        }
    }
    for (kind, rows) in by_kind {
        let c = upsert_rows(&mut tx, prov, stream_id, kind, rows, &origins).await?;
        counts.inserted += c.inserted;
        counts.updated += c.updated;
        counts.unchanged += c.unchanged;
    }
    super::quarantine::upsert(&mut tx, prov, at, &batch.rejects).await?;
    if let Some(state) = &batch.state {
        sqlx::query(
            "INSERT INTO checkpoints (source, stream, state, run_id, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (source, stream) DO UPDATE SET state = excluded.state, run_id = excluded.run_id, \
             updated_at = excluded.updated_at",
        )
        .bind(&prov.source)
        .bind(&prov.stream)
        .bind(state)
        .bind(prov.run_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    insert_logs(&mut tx, prov.run_id, &batch.logs).await?;
    let held = sqlx::query(
        "UPDATE runs SET batches = batches + $1, read = read + $2, inserted = inserted + $3, \
         updated = updated + $4, unchanged = unchanged + $5, quarantined = quarantined + $6, \
         heartbeat_at = $7, committed_at = $7 WHERE id = $8 AND node_id = $9",
    )
    .bind(batch.batches.max(1) as i64)
    .bind(counts.read as i64)
    .bind(counts.inserted as i64)
    .bind(counts.updated as i64)
    .bind(counts.unchanged as i64)
    .bind(counts.quarantined as i64)
    .bind(at)
    .bind(prov.run_id)
    .bind(crate::warehouse::node_id())
    .execute(&mut *tx)
    .await?;
    // The fence: a run another node took over (this one's lease went stale)
    // commits nothing more from here.
    if held.rows_affected() != 1 {
        return Err(WarehouseError::LeaseLost(prov.run_id));
    }
    tx.commit().await?;
    Ok(counts)
}

/// What the warehouse holds of a key: its row hash and origin.
type Existing = HashMap<[u8; 16], (i64, Option<i64>)>;

async fn upsert_rows(
    tx: &mut Tx,
    prov: &Provenance,
    stream_id: i64,
    kind: EntityKind,
    rows: Vec<Row>,
    origins: &HashMap<String, i64>,
) -> Result<Counts, WarehouseError> {
    let table = schema::table(kind);
    let mut counts = Counts::default();
    // Within a batch the later record of a key wins; the earlier one counts as
    // updated (or unchanged when identical) so that read = stored + quarantined.
    let mut latest: HashMap<[u8; 16], usize> = HashMap::with_capacity(rows.len());
    let mut superseded = vec![false; rows.len()];
    for (i, row) in rows.iter().enumerate() {
        if let Some(prev) = latest.insert(row.key, i) {
            superseded[prev] = true;
            if rows[prev].hash == row.hash {
                counts.unchanged += 1;
            } else {
                counts.updated += 1;
            }
        }
    }
    let mut keys: Vec<[u8; 16]> = latest.keys().copied().collect();
    keys.sort_unstable();
    let mut existing: Existing = HashMap::with_capacity(rows.len());
    for (key, hash, origin) in super::existing_keys(tx, table, stream_id, &keys).await? {
        let mut k = [0u8; 16];
        if key.len() == 16 {
            k.copy_from_slice(&key);
        }
        existing.insert(k, (hash, origin));
    }
    let mut new: Vec<(&Row, Option<i64>)> = Vec::new();
    let mut changed: Vec<(&Row, Option<i64>)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if superseded[i] {
            continue;
        }
        let origin = row.origin.as_ref().and_then(|o| origins.get(o).copied());
        match existing.get(&row.key) {
            None => {
                counts.inserted += 1;
                new.push((row, origin));
            }
            Some((h, o)) if *h == row.hash => {
                counts.unchanged += 1;
                // Same values, but taken back from a replaced file (or moved to
                // another file): only the origin is rewritten.
                if *o != origin {
                    changed.push((row, origin));
                }
            }
            Some(_) => {
                counts.updated += 1;
                changed.push((row, origin));
            }
        }
    }
    // In key order, the unique index's pages are visited once each.
    new.sort_unstable_by_key(|(r, _)| r.key);
    changed.sort_unstable_by_key(|(r, _)| r.key);
    super::aggregates::on_upsert(tx, prov, stream_id, kind, &new, &changed, |r| {
        existing.get(&r.key).is_some_and(|(h, _)| *h != r.hash)
    })
    .await?;
    super::insert_new(tx, table, prov, stream_id, &new).await?;
    insert_rows(tx, table, prov, stream_id, &changed, true).await?;
    write_children(tx, stream_id, &new, false).await?;
    write_children(tx, stream_id, &changed, true).await?;
    Ok(counts)
}

/// Multi-row INSERTs of fact rows; `upsert` updates the rows whose key is
/// already stored.
pub(crate) async fn insert_rows(
    tx: &mut Tx,
    table: &'static schema::Table,
    prov: &Provenance,
    stream_id: i64,
    rows: &[(&Row, Option<i64>)],
    upsert: bool,
) -> Result<(), WarehouseError> {
    if rows.is_empty() {
        return Ok(());
    }
    let columns: Vec<&str> = table.all_columns().map(|c| c.name).collect();
    let per_stmt = (super::MAX_BINDS / columns.len()).clamp(1, 1_000);
    let head = format!("INSERT INTO {} ({}) ", table.name, columns.join(","));
    let tail = if upsert {
        let set: Vec<String> = columns
            .iter()
            .filter(|c| !matches!(**c, "stream_id" | "key"))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(" ON CONFLICT (stream_id, key) DO UPDATE SET {}", set.join(","))
    } else {
        String::new()
    };
    for chunk in pow2_chunks(rows, per_stmt) {
        let mut q: QueryBuilder<DB> = QueryBuilder::new(&head);
        q.push_values(chunk, |mut b, (row, origin)| {
            b.push_bind(stream_id)
                .push_bind(&row.key[..])
                .push_bind(row.territory(prov))
                .push_bind(prov.network.as_str())
                .push_bind(prov.run_id)
                .push_bind(*origin)
                .push_bind(row.hash);
            for (i, c) in table.columns.iter().enumerate() {
                bind_value(&mut b, row.column(i, c.name), c.ty);
            }
        });
        q.push(&tail);
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Replaces the child rows (scores, answers) of the rows written.
async fn write_children(
    tx: &mut Tx,
    stream_id: i64,
    rows: &[(&Row, Option<i64>)],
    replace: bool,
) -> Result<(), WarehouseError> {
    let mut by_table: HashMap<&'static str, Vec<(&[u8; 16], &crate::warehouse::Child)>> =
        HashMap::new();
    for (row, _) in rows {
        if replace && let Some(child) = child_table(row.kind) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {child} WHERE stream_id = $1 AND key = $2"
            )))
            .bind(stream_id)
            .bind(&row.key[..])
            .execute(&mut **tx)
            .await?;
        }
        for c in &row.children {
            by_table.entry(c.table).or_default().push((&row.key, c));
        }
    }
    for (name, children) in by_table {
        let Some(table) = schema::named(name) else {
            continue;
        };
        let columns: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        let per_stmt = (super::MAX_BINDS / columns.len()).clamp(1, 1_000);
        // A child repeated within its parent keeps its last value.
        let (key_columns, set) = match name {
            "survey_answers" => ("stream_id, key, item", "answer = excluded.answer"),
            _ => (
                "stream_id, key, level, code",
                "value = excluded.value, max = excluded.max",
            ),
        };
        for chunk in pow2_chunks(&children, per_stmt) {
            let mut q: QueryBuilder<DB> =
                QueryBuilder::new(format!("INSERT INTO {} ({}) ", name, columns.join(",")));
            q.push_values(chunk, |mut b, (key, child)| {
                b.push_bind(stream_id).push_bind(&key[..]);
                for c in table.columns.iter().skip(2) {
                    let v = child
                        .values
                        .iter()
                        .find(|(n, _)| *n == c.name)
                        .map(|(_, v)| v)
                        .unwrap_or(&Value::Null);
                    bind_value(&mut b, v, c.ty);
                }
            });
            q.push(format!(" ON CONFLICT ({key_columns}) DO UPDATE SET {set}"));
            q.build().execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// The child table of an entity, if it has one.
fn child_table(kind: EntityKind) -> Option<&'static str> {
    schema::child_of(kind).map(|t| t.name)
}

/// Binds a value as its column's type (a NULL too: PostgreSQL checks it).
pub(crate) fn bind_value(b: &mut Separated<'_>, v: &Value, ty: Type) {
    match v {
        Value::Null => match ty {
            Type::Text => b.push_bind(None::<&str>),
            Type::Int => b.push_bind(None::<i64>),
            Type::Real => b.push_bind(None::<f64>),
            Type::Bool => b.push_bind(None::<bool>),
            Type::Date => b.push_bind(None::<time::Date>),
            Type::Timestamp => b.push_bind(None::<time::OffsetDateTime>),
            Type::Bytes => b.push_bind(None::<&[u8]>),
        },
        Value::Int(i) => match ty {
            Type::Real => b.push_bind(*i as f64),
            _ => b.push_bind(*i),
        },
        Value::Real(f) => b.push_bind(*f),
        Value::Text(s) => b.push_bind(s.as_str()),
        Value::Bool(x) => b.push_bind(*x),
        Value::Date(d) => b.push_bind(*d),
        Value::Timestamp(t) => b.push_bind(*t),
        Value::Key(k) => b.push_bind(&k[..]),
    };
}

pub(crate) async fn insert_logs(
    tx: &mut Tx,
    run_id: i64,
    logs: &[LogRecord],
) -> Result<(), WarehouseError> {
    if logs.is_empty() {
        return Ok(());
    }
    let next: i64 =
        sqlx::query_scalar("SELECT coalesce(max(seq), 0) + 1 FROM run_logs WHERE run_id = $1")
            .bind(run_id)
            .fetch_one(&mut **tx)
            .await?;
    let at_of = |l: &LogRecord| {
        time::OffsetDateTime::parse(&l.at, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| now())
    };
    for (chunk_start, chunk) in logs.chunks(512).enumerate() {
        let mut q: QueryBuilder<DB> =
            QueryBuilder::new("INSERT INTO run_logs (run_id, seq, at, level, message) ");
        q.push_values(chunk.iter().enumerate(), |mut b, (i, l)| {
            b.push_bind(run_id)
                .push_bind(next + (chunk_start * 512 + i) as i64)
                .push_bind(at_of(l))
                .push_bind(l.level.as_str())
                .push_bind(l.message.as_str());
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

pub async fn finish_stream(pool: &Pool, source: &str, stream: &str) -> Result<u64, WarehouseError> {
    // Cheap when nothing was re-sent: one indexed lookup, no write lock.
    let replaced: Vec<i64> = sqlx::query_scalar(
        "SELECT o.id FROM origins o JOIN streams s ON s.id = o.stream_id \
         WHERE s.source = $1 AND s.name = $2 AND o.replaced",
    )
    .bind(source)
    .bind(stream)
    .fetch_all(pool)
    .await?;
    if replaced.is_empty() {
        return Ok(0);
    }
    let mut tx = super::begin_write(pool).await?;
    super::aggregates::subtract_origins(&mut tx, &replaced).await?;
    let mut removed = 0;
    for kind in EntityKind::ALL {
        let table = schema::table(kind);
        if let Some(child) = child_table(kind) {
            let mut q: QueryBuilder<DB> = QueryBuilder::new(format!(
                "DELETE FROM {child} WHERE (stream_id, key) IN (SELECT stream_id, key FROM {} WHERE origin_id IN (",
                table.name
            ));
            let mut list = q.separated(", ");
            for id in &replaced {
                list.push_bind(*id);
            }
            list.push_unseparated("))");
            q.build().execute(&mut *tx).await?;
        }
        let mut q: QueryBuilder<DB> =
            QueryBuilder::new(format!("DELETE FROM {} WHERE origin_id IN (", table.name));
        let mut list = q.separated(", ");
        for id in &replaced {
            list.push_bind(*id);
        }
        list.push_unseparated(")");
        removed += q.build().execute(&mut *tx).await?.rows_affected();
    }
    let mut q: QueryBuilder<DB> = QueryBuilder::new("DELETE FROM origins WHERE id IN (");
    let mut list = q.separated(", ");
    for id in &replaced {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
    q.build().execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(removed)
}
