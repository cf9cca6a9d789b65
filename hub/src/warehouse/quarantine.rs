// The quarantine: portable statements, compiled once per backend (included
// by `sqlite.rs` and `postgres.rs`).

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row as _};

use super::{DB, Pool, Tx};
use crate::model::Reject;
use crate::warehouse::{
    Provenance, QuarantineEntry, WarehouseError, key_bytes, pow2_chunks, reject_identity,
};

/// Files a batch's rejects.
///
/// A file's rows: one entry per refused record, except that the records of
/// one line of a file refused for the same reason and field (and cell) are
/// one entry: a row whose several records share its fault (a VRAC member's
/// order lines and its residence), or that several streams of the run read
/// (a Secours Catholique row's aids and household), is refused once. One
/// write holds one version of a file (a re-sent file starts a write of its
/// own); another stream's entry of the same line in the run stands for it
/// whichever version it came from, since every stream reads every version.
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
        // Entries of a file's rows are never replaced: an identity of their own.
        let identity = format!("row-{:032x}", rand::random::<u128>());
        sqlx::query(
            "INSERT INTO quarantine (source, stream, run_id, key, origin, line, cell, reason, field, detail, \
             payload_hash, created_at, identity) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
             WHERE NOT EXISTS (SELECT 1 FROM quarantine WHERE run_id = $3 AND origin = $5 AND line = $6 \
             AND source = $1 AND stream <> $2 AND reason = $8 AND field = $9 AND cell IS NOT DISTINCT FROM $7)",
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
             payload_hash, created_at, identity) ",
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
                .push_bind(identity.as_str());
        });
        q.push(
            " ON CONFLICT (source, stream, identity) DO UPDATE SET run_id = excluded.run_id, \
             reason = excluded.reason, field = excluded.field, detail = excluded.detail, \
             payload_hash = excluded.payload_hash, created_at = excluded.created_at, replayed_by = NULL",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Entries of a source or a run; without a run, only the open ones.
pub async fn list(
    pool: &Pool,
    source: Option<&str>,
    run: Option<i64>,
    limit: i64,
) -> Result<Vec<QuarantineEntry>, WarehouseError> {
    let mut q: QueryBuilder<DB> = QueryBuilder::new(
        "SELECT id, source, stream, run_id, origin, line, cell, reason, field, detail, payload_hash \
         FROM quarantine WHERE 1 = 1",
    );
    if let Some(source) = source {
        q.push(" AND source = ").push_bind(source);
    }
    match run {
        Some(run) => {
            q.push(" AND run_id = ").push_bind(run);
        }
        None => {
            q.push(" AND replayed_by IS NULL");
        }
    }
    q.push(" ORDER BY id LIMIT ").push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(QuarantineEntry {
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
            })
        })
        .collect()
}

pub async fn mark_replayed(pool: &Pool, source: &str, run_id: i64) -> Result<u64, WarehouseError> {
    Ok(sqlx::query(
        "UPDATE quarantine SET replayed_by = $1 WHERE source = $2 AND run_id < $1 AND replayed_by IS NULL",
    )
    .bind(run_id)
    .bind(source)
    .execute(pool)
    .await?
    .rows_affected())
}
