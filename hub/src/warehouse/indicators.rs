// Indicator queries: the definitions' SELECTs (written by coordinators and
// evaluators, not by the hub), run in one read-only session (one snapshot for
// every query) with a time limit on each. How a session is made read-only and
// how a query is stopped differ per backend (`ReadOnly` in `sqlite.rs` and
// `postgres.rs`); reading the rows is portable, compiled once per backend
// (included by both).

use std::time::Duration;

use sqlx::Row as _;

use super::{Pool, ReadOnly};
use crate::warehouse::{QueryCell, WarehouseError};

/// Runs each query in turn in one read-only session; each must return the
/// columns `territory`, `period`, `value`, `n` and, with `breakdown`, a
/// `breakdown` column. Stops at the first query that fails or runs longer
/// than `limit`.
pub async fn run(
    pool: &Pool,
    queries: &[(String, bool)],
    limit: Duration,
) -> Result<Vec<Vec<QueryCell>>, WarehouseError> {
    let mut session = ReadOnly::begin(pool).await?;
    let mut out = Vec::with_capacity(queries.len());
    for (sql, breakdown) in queries {
        let rows = match session.fetch_all(sql, limit).await {
            Ok(rows) => rows,
            Err(e) => {
                session.end().await;
                return Err(e);
            }
        };
        let mut cells = Vec::with_capacity(rows.len());
        for row in &rows {
            match cell(row, *breakdown) {
                Ok(c) => cells.push(c),
                Err(e) => {
                    session.end().await;
                    return Err(e.into());
                }
            }
        }
        out.push(cells);
    }
    session.end().await;
    Ok(out)
}

fn cell(row: &<super::DB as sqlx::Database>::Row, breakdown: bool) -> Result<QueryCell, sqlx::Error> {
    // A whole number where a fraction was expected (SQLite's `sum` of
    // integers, a count) is still a number.
    let value = match row.try_get::<Option<f64>, _>("value") {
        Ok(v) => v,
        Err(e) => match row.try_get::<Option<i64>, _>("value") {
            Ok(v) => v.map(|v| v as f64),
            Err(_) => return Err(e),
        },
    };
    let n = match row.try_get::<Option<i64>, _>("n") {
        Ok(n) => n,
        Err(e) => match row.try_get::<Option<i32>, _>("n") {
            Ok(n) => n.map(i64::from),
            Err(_) => return Err(e),
        },
    };
    Ok(QueryCell {
        territory: row.try_get::<Option<String>, _>("territory")?.unwrap_or_default(),
        period: row.try_get::<Option<String>, _>("period")?.unwrap_or_default(),
        breakdown: if breakdown {
            row.try_get::<Option<String>, _>("breakdown")?
        } else {
            None
        },
        value,
        n: n.unwrap_or(0),
    })
}
