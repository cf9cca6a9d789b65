// API tokens (only their SHA-256 is stored): portable statements, compiled
// once per backend (included by `sqlite.rs` and `postgres.rs`).

use sqlx::Row as _;
use time::OffsetDateTime;

use super::Pool;
use crate::warehouse::{TokenRow, WarehouseError, now, rfc3339};

pub async fn create(
    pool: &Pool,
    name: &str,
    role: &str,
    territories: &str,
    token_sha256: &str,
) -> Result<(), WarehouseError> {
    let done = sqlx::query(
        "INSERT INTO api_tokens (name, role, territories, token_sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(name)
    .bind(role)
    .bind(territories)
    .bind(token_sha256)
    .bind(now())
    .execute(pool)
    .await
    .map_err(WarehouseError::from);
    match done {
        Ok(_) => Ok(()),
        Err(e) if e.is_unique_violation() => Err(WarehouseError::NameTaken(name.to_string())),
        Err(e) => Err(e),
    }
}

pub async fn list(pool: &Pool) -> Result<Vec<TokenRow>, WarehouseError> {
    let rows = sqlx::query(
        "SELECT name, role, territories, created_at, revoked_at FROM api_tokens ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TokenRow {
                name: r.try_get("name")?,
                role: r.try_get("role")?,
                territories: r.try_get("territories")?,
                created_at: rfc3339(r.try_get("created_at")?),
                revoked_at: r
                    .try_get::<Option<OffsetDateTime>, _>("revoked_at")?
                    .map(rfc3339),
            })
        })
        .collect()
}

pub async fn revoke(pool: &Pool, name: &str) -> Result<bool, WarehouseError> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
    )
    .bind(now())
    .bind(name)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(done > 0)
}

pub async fn live(
    pool: &Pool,
    token_sha256: &str,
) -> Result<Option<(String, String, String)>, WarehouseError> {
    Ok(sqlx::query_as(
        "SELECT name, role, territories FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(token_sha256)
    .fetch_optional(pool)
    .await?)
}
