// The quarantine: portable statements, compiled once per backend (included
// by `sqlite.rs` and `postgres.rs`).

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row as _};

use super::{DB, Pool, Tx};
use crate::model::Reject;
use crate::warehouse::{
    Provenance, QuarantineEntry, WarehouseError, key_bytes, pow2_chunks, reject_identity,
};

/// Files a batch's rejects. A record refused again (same key, file and
/// line) replaces its entry, so a source re-reading the same bad records
/// keeps one entry each, not one per run or per batch.
pub async fn upsert(
    tx: &mut Tx,
    prov: &Provenance,
    at: time::OffsetDateTime,
    rejects: &[Reject],
) -> Result<(), WarehouseError> {
    // One statement may not touch a row twice (PostgreSQL refuses it): the
    // last reject of an identity wins.
    let mut latest: HashMap<String, usize> = HashMap::with_capacity(rejects.len());
    for (i, r) in rejects.iter().enumerate() {
        latest.insert(reject_identity(r), i);
    }
    let mut kept: Vec<(String, &Reject)> = latest
        .into_iter()
        .map(|(identity, i)| (identity, &rejects[i]))
        .collect();
    kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for chunk in pow2_chunks(&kept, 256) {
        let mut q: QueryBuilder<DB> = QueryBuilder::new(
            "INSERT INTO quarantine (source, stream, run_id, key, origin, line, reason, field, detail, \
             payload_hash, created_at, identity) ",
        );
        q.push_values(chunk, |mut b, (identity, r)| {
            b.push_bind(prov.source.as_str())
                .push_bind(prov.stream.as_str())
                .push_bind(prov.run_id)
                .push_bind(r.key.as_deref().map(|k| key_bytes(k).to_vec()))
                .push_bind(r.origin.as_deref())
                .push_bind(r.line.map(|l| l as i64))
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
        "SELECT id, source, stream, run_id, origin, line, reason, field, detail, payload_hash \
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
