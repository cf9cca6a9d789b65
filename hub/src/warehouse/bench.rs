// The physical ceiling `vivres bench` compares the sync with: the same rows
// appended, through the backend's own bulk path (multi-row INSERTs on
// SQLite, COPY on PostgreSQL), into a table with no index. Portable
// statements, compiled once per backend (included by `sqlite.rs` and
// `postgres.rs`).

use sqlx::Row as _;

use super::Pool;
use crate::model::EntityKind;
use crate::warehouse::schema::{self, Role, Table, Type};
use crate::warehouse::{Provenance, Row, Value, WarehouseError};

/// Copies every row of `kind`'s table into an unindexed twin; returns the
/// rows copied and the seconds spent appending (reading them back is not
/// counted).
pub async fn ceiling(pool: &Pool, kind: EntityKind) -> Result<(u64, f64), WarehouseError> {
    let source = schema::table(kind);
    let name: &'static str = Box::leak(format!("ceiling_{}", source.name).into_boxed_str());
    let twin: &'static Table = Box::leak(Box::new(Table {
        name,
        role: Role::Fact,
        ..*source
    }));
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
        .execute(pool)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {name} AS SELECT * FROM {} WHERE 1 = 0",
        source.name
    )))
    .execute(pool)
    .await?;
    let columns: Vec<&str> = source.all_columns().map(|c| c.name).collect();
    let mut last: Vec<u8> = Vec::new();
    let mut copied = 0u64;
    let mut secs = 0.0;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {} WHERE key > $1 ORDER BY key LIMIT 10000",
            columns.join(","),
            source.name
        )))
        .bind(&last[..])
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        // Rows of one stream (the bench's), as the sync handed them over.
        let mut typed: Vec<(Row, Option<i64>)> = Vec::with_capacity(rows.len());
        let mut prov = Provenance {
            source: String::new(),
            stream: String::new(),
            territory: String::new(),
            network: String::new(),
            run_id: 0,
        };
        let mut stream_id = 0;
        for r in &rows {
            let key: Vec<u8> = r.try_get("key")?;
            let mut k = [0u8; 16];
            if key.len() == 16 {
                k.copy_from_slice(&key);
            }
            stream_id = r.try_get("stream_id")?;
            prov.territory = r.try_get("territory")?;
            prov.network = r.try_get("network")?;
            prov.run_id = r.try_get("run_id")?;
            let mut values = Vec::with_capacity(source.columns.len());
            for c in source.columns {
                let v = match c.ty {
                    Type::Text => r.try_get::<Option<String>, _>(c.name)?.map(Value::Text),
                    Type::Int => r.try_get::<Option<i64>, _>(c.name)?.map(Value::Int),
                    Type::Real => r.try_get::<Option<f64>, _>(c.name)?.map(Value::Real),
                    Type::Bool => r.try_get::<Option<bool>, _>(c.name)?.map(Value::Bool),
                    Type::Date => r.try_get::<Option<time::Date>, _>(c.name)?.map(Value::Date),
                    Type::Timestamp => r
                        .try_get::<Option<time::OffsetDateTime>, _>(c.name)?
                        .map(Value::Timestamp),
                    Type::Bytes => r.try_get::<Option<Vec<u8>>, _>(c.name)?.map(|b| {
                        let mut k = [0u8; 16];
                        if b.len() == 16 {
                            k.copy_from_slice(&b);
                        }
                        Value::Key(k)
                    }),
                };
                values.push((c.name, v.unwrap_or(Value::Null)));
            }
            typed.push((
                Row {
                    kind,
                    key: k,
                    origin: None,
                    values,
                    children: Vec::new(),
                    hash: r.try_get("row_hash")?,
                },
                r.try_get("origin_id")?,
            ));
        }
        last = key_of(&typed);
        let refs: Vec<(&Row, Option<i64>)> = typed.iter().map(|(r, o)| (r, *o)).collect();
        let started = std::time::Instant::now();
        let mut tx = super::begin_write(pool).await?;
        super::insert_new(&mut tx, twin, &prov, stream_id, &refs).await?;
        tx.commit().await?;
        secs += started.elapsed().as_secs_f64();
        copied += refs.len() as u64;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
        .execute(pool)
        .await?;
    Ok((copied, secs))
}

fn key_of(rows: &[(Row, Option<i64>)]) -> Vec<u8> {
    rows.last().map(|(r, _)| r.key.to_vec()).unwrap_or_default()
}

/// `(key, row_hash)` of every row of the fact table `table`, in key order:
/// what the crash campaign compares between a crashed and a clean sync.
pub async fn fingerprint(pool: &Pool, table: &Table) -> Result<Vec<(Vec<u8>, i64)>, WarehouseError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT key, row_hash FROM {} ORDER BY stream_id, key",
        table.name
    )))
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push((r.try_get("key")?, r.try_get("row_hash")?));
    }
    Ok(out)
}

/// The open quarantine entries of `source` as
/// `(stream, key, reason, field, payload_hash)`, sorted: a record refused
/// twice for the same content shows as two equal tuples.
pub async fn quarantine_fingerprint(
    pool: &Pool,
    source: &str,
) -> Result<Vec<(String, Option<Vec<u8>>, String, String, String)>, WarehouseError> {
    let rows = sqlx::query(
        "SELECT stream, key, reason, field, payload_hash FROM quarantine \
         WHERE source = $1 AND closed_at IS NULL \
         ORDER BY stream, key, reason, field, payload_hash",
    )
    .bind(source)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push((
            r.try_get("stream")?,
            r.try_get("key")?,
            r.try_get("reason")?,
            r.try_get("field")?,
            r.try_get("payload_hash")?,
        ));
    }
    Ok(out)
}
