// The quarantine: portable statements, compiled once per backend (included
// by `sqlite.rs` and `postgres.rs`).

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row as _};

use super::{DB, Pool, Tx};
use crate::model::Reject;
use crate::warehouse::{
    ClosedReason, EntryStatus, Provenance, QuarantineEntry, QuarantineRow, WarehouseError, key_bytes,
    pow2_chunks, reject_identity, rfc3339, row_identity,
};

/// Files a batch's rejects.
///
/// A file's rows: one entry per refused line, reason and field (and cell):
/// a row whose several records share its fault (a VRAC member's order lines
/// and its residence), or that several streams of the run read (a Secours
/// Catholique row's aids and household), is refused once. The line refused
/// again (its file re-sent, or read again) keeps its entry: it is reopened
/// if it had closed, and no longer stale ([`mark_stale`]). Another stream's
/// entry of the same line in the run stands for it whichever version it
/// came from, since every stream reads every version.
///
/// Other rejects (a partner's records, by key): a record refused again
/// replaces its entry ([`reject_identity`]), so a source re-reading the same
/// bad records keeps one entry each, not one per run or per batch.
pub async fn upsert(
    tx: &mut Tx,
    prov: &Provenance,
    at: time::OffsetDateTime,
    rejects: &[Reject],
) -> Result<(), WarehouseError> {
    let (by_line, rest): (Vec<&Reject>, Vec<&Reject>) = rejects
        .iter()
        .partition(|r| r.origin.is_some() && r.line.is_some());
    let mut seen = std::collections::HashSet::new();
    for r in by_line {
        if !seen.insert((&r.origin, r.line, &r.cell, r.reason, &r.field)) {
            continue;
        }
        let identity = row_identity(r);
        sqlx::query(
            "INSERT INTO quarantine (source, stream, run_id, key, origin, line, cell, reason, field, detail, \
             payload_hash, created_at, identity, partner_key) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
             WHERE NOT EXISTS (SELECT 1 FROM quarantine WHERE run_id = $3 AND origin = $5 AND line = $6 \
             AND source = $1 AND stream <> $2 AND reason = $8 AND field = $9 AND cell IS NOT DISTINCT FROM $7) \
             ON CONFLICT (source, stream, identity) DO UPDATE SET run_id = excluded.run_id, key = excluded.key, \
             detail = excluded.detail, payload_hash = excluded.payload_hash, created_at = excluded.created_at, \
             partner_key = excluded.partner_key, replayed_by = NULL, closed_at = NULL, closed_reason = NULL, \
             closed_by = NULL, stale = FALSE",
        )
        .bind(prov.source.as_str())
        .bind(prov.stream.as_str())
        .bind(prov.run_id)
        .bind(r.key.as_deref().map(|k| key_bytes(k).to_vec()))
        .bind(r.origin.as_deref())
        .bind(r.line.map(|l| l as i64))
        .bind(r.cell.as_deref())
        .bind(r.reason.as_str())
        .bind(r.field.as_str())
        .bind(r.detail.as_str())
        .bind(hex::encode(r.payload_hash))
        .bind(at)
        .bind(identity)
        .bind(r.partner_key.as_deref())
        .execute(&mut **tx)
        .await?;
    }
    // One statement may not touch a row twice (PostgreSQL refuses it): the
    // last reject of an identity wins.
    let mut latest: HashMap<String, usize> = HashMap::with_capacity(rest.len());
    for (i, r) in rest.iter().enumerate() {
        latest.insert(reject_identity(r), i);
    }
    let mut kept: Vec<(String, &Reject)> = latest
        .into_iter()
        .map(|(identity, i)| (identity, rest[i]))
        .collect();
    kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for chunk in pow2_chunks(&kept, 256) {
        let mut q: QueryBuilder<DB> = QueryBuilder::new(
            "INSERT INTO quarantine (source, stream, run_id, key, origin, line, cell, reason, field, detail, \
             payload_hash, created_at, identity, partner_key) ",
        );
        q.push_values(chunk, |mut b, (identity, r)| {
            b.push_bind(prov.source.as_str())
                .push_bind(prov.stream.as_str())
                .push_bind(prov.run_id)
                .push_bind(r.key.as_deref().map(|k| key_bytes(k).to_vec()))
                .push_bind(r.origin.as_deref())
                .push_bind(r.line.map(|l| l as i64))
                .push_bind(r.cell.as_deref())
                .push_bind(r.reason.as_str())
                .push_bind(r.field.as_str())
                .push_bind(r.detail.as_str())
                .push_bind(hex::encode(r.payload_hash))
                .push_bind(at)
                .push_bind(identity.as_str())
                .push_bind(r.partner_key.as_deref());
        });
        q.push(
            " ON CONFLICT (source, stream, identity) DO UPDATE SET run_id = excluded.run_id, \
             reason = excluded.reason, field = excluded.field, detail = excluded.detail, \
             payload_hash = excluded.payload_hash, created_at = excluded.created_at, \
             partner_key = excluded.partner_key, replayed_by = NULL, closed_at = NULL, closed_reason = NULL, \
             closed_by = NULL, stale = FALSE",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Entries of a source or a run, by status, oldest first.
pub async fn list(
    pool: &Pool,
    source: Option<&str>,
    run: Option<i64>,
    status: EntryStatus,
    limit: i64,
) -> Result<Vec<QuarantineRow>, WarehouseError> {
    let mut q: QueryBuilder<DB> = QueryBuilder::new(
        "SELECT id, source, stream, run_id, origin, line, cell, reason, field, detail, payload_hash, \
         partner_key, closed_at, closed_reason, closed_by FROM quarantine WHERE 1 = 1",
    );
    if let Some(source) = source {
        q.push(" AND source = ").push_bind(source);
    }
    if let Some(run) = run {
        q.push(" AND run_id = ").push_bind(run);
    }
    match status {
        EntryStatus::Open => q.push(" AND closed_at IS NULL"),
        EntryStatus::Closed => q.push(" AND closed_at IS NOT NULL"),
        EntryStatus::All => &mut q,
    };
    q.push(" ORDER BY id LIMIT ").push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(QuarantineRow {
                entry: QuarantineEntry {
                    id: r.try_get("id")?,
                    source: r.try_get("source")?,
                    stream: r.try_get("stream")?,
                    run_id: r.try_get("run_id")?,
                    origin: r.try_get("origin")?,
                    line: r.try_get("line")?,
                    cell: r.try_get("cell")?,
                    reason: r.try_get("reason")?,
                    field: r.try_get("field")?,
                    detail: r.try_get("detail")?,
                    payload_hash: r.try_get("payload_hash")?,
                },
                partner_key: r.try_get("partner_key")?,
                closed_at: r
                    .try_get::<Option<time::OffsetDateTime>, _>("closed_at")?
                    .map(rfc3339),
                closed_reason: r.try_get("closed_reason")?,
                closed_by: r.try_get("closed_by")?,
            })
        })
        .collect()
}

/// Closes (`replayed`) a source's open entries that the replay `run_id` did
/// not refuse again (those it refused again now carry its id).
pub async fn mark_replayed(pool: &Pool, source: &str, run_id: i64) -> Result<u64, WarehouseError> {
    Ok(sqlx::query(
        "UPDATE quarantine SET replayed_by = $1, closed_by = $1, closed_at = $3, closed_reason = $4, \
         stale = FALSE WHERE source = $2 AND run_id < $1 AND closed_at IS NULL",
    )
    .bind(run_id)
    .bind(source)
    .bind(crate::warehouse::now())
    .bind(ClosedReason::Replayed.as_str())
    .execute(pool)
    .await?
    .rows_affected())
}

/// A file of a stream starts being read again (re-sent, or a full re-read):
/// its open entries are stale until its new version refuses their record
/// again ([`upsert`] clears the mark); those still stale when the stream ends
/// close ([`close_stale`]).
pub async fn mark_stale(
    tx: &mut Tx,
    source: &str,
    stream: &str,
    origins: &[String],
) -> Result<(), WarehouseError> {
    for origin in origins {
        sqlx::query(
            "UPDATE quarantine SET stale = TRUE WHERE source = $1 AND stream = $2 AND origin = $3 \
             AND closed_at IS NULL",
        )
        .bind(source)
        .bind(stream)
        .bind(origin.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Closes the entries of a stream whose file was read again without
/// refusing their record: the latest version of their file holds the record
/// corrected, or no longer holds it.
pub async fn close_stale(
    pool: &Pool,
    source: &str,
    stream: &str,
    run_id: i64,
    reason: ClosedReason,
) -> Result<u64, WarehouseError> {
    Ok(sqlx::query(
        "UPDATE quarantine SET stale = FALSE, closed_at = $1, closed_reason = $2, closed_by = $3 \
         WHERE source = $4 AND stream = $5 AND stale AND closed_at IS NULL",
    )
    .bind(crate::warehouse::now())
    .bind(reason.as_str())
    .bind(run_id)
    .bind(source)
    .bind(stream)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Closes (`accepted`) the open entries of records of the stream that were
/// stored since: the partner corrected them. `keys`: the records stored.
/// A file's line keeps its entry: another line may hold the same record
/// (a household on each of its aids' rows); its file's next version says.
pub async fn close_accepted(
    tx: &mut Tx,
    prov: &Provenance,
    at: time::OffsetDateTime,
    keys: &[[u8; 16]],
) -> Result<u64, WarehouseError> {
    if keys.is_empty() {
        return Ok(0);
    }
    // Cheap when nothing of the stream is open: one indexed lookup.
    let open: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM quarantine WHERE source = $1 AND stream = $2 AND closed_at IS NULL \
         AND key IS NOT NULL AND line IS NULL LIMIT 1",
    )
    .bind(prov.source.as_str())
    .bind(prov.stream.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    if open.is_none() {
        return Ok(0);
    }
    let mut closed = 0;
    for chunk in keys.chunks(500) {
        let mut q: QueryBuilder<DB> = QueryBuilder::new("UPDATE quarantine SET closed_at = ");
        q.push_bind(at)
            .push(", closed_reason = ")
            .push_bind(ClosedReason::Accepted.as_str())
            .push(", closed_by = ")
            .push_bind(prov.run_id)
            .push(", stale = FALSE WHERE source = ")
            .push_bind(prov.source.as_str())
            .push(" AND stream = ")
            .push_bind(prov.stream.as_str())
            .push(" AND closed_at IS NULL AND line IS NULL AND key IN (");
        let mut list = q.separated(", ");
        for k in chunk {
            list.push_bind(k.to_vec());
        }
        list.push_unseparated(")");
        closed += q.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(closed)
}
