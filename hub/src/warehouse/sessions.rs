// The web console's sessions and one-time sign-in links (only hashes are
// stored): portable statements, compiled once per backend (included by
// `sqlite.rs` and `postgres.rs`).

use super::Pool;
use crate::warehouse::{WarehouseError, now};

fn unix_now() -> i64 {
    now().unix_timestamp()
}

/// Stores a session; expired ones are removed on the way.
pub async fn create(
    pool: &Pool,
    id_sha256: &str,
    token_sha256: &str,
    expires_at: i64,
) -> Result<(), WarehouseError> {
    sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
        .bind(unix_now())
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO console_sessions (id_sha256, token_sha256, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id_sha256)
    .bind(token_sha256)
    .bind(now())
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The live token behind a live session: (name, role, territories).
pub async fn principal(
    pool: &Pool,
    id_sha256: &str,
) -> Result<Option<(String, String, String)>, WarehouseError> {
    Ok(sqlx::query_as(
        "SELECT t.name, t.role, t.territories FROM console_sessions s \
         JOIN api_tokens t ON t.token_sha256 = s.token_sha256 \
         WHERE s.id_sha256 = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL",
    )
    .bind(id_sha256)
    .bind(unix_now())
    .fetch_optional(pool)
    .await?)
}

pub async fn end(pool: &Pool, id_sha256: &str) -> Result<bool, WarehouseError> {
    let done = sqlx::query("DELETE FROM console_sessions WHERE id_sha256 = $1")
        .bind(id_sha256)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(done > 0)
}

pub async fn create_link(
    pool: &Pool,
    code_sha256: &str,
    token_sha256: &str,
    expires_at: i64,
) -> Result<(), WarehouseError> {
    sqlx::query(
        "INSERT INTO console_links (code_sha256, token_sha256, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(code_sha256)
    .bind(token_sha256)
    .bind(now())
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks an unused, unexpired link used and returns its token's hash: one
/// statement, so two clicks cannot both sign in.
pub async fn redeem_link(
    pool: &Pool,
    code_sha256: &str,
) -> Result<Option<String>, WarehouseError> {
    Ok(sqlx::query_scalar(
        "UPDATE console_links SET used_at = $1 \
         WHERE code_sha256 = $2 AND used_at IS NULL AND expires_at > $3 RETURNING token_sha256",
    )
    .bind(now())
    .bind(code_sha256)
    .bind(unix_now())
    .fetch_optional(pool)
    .await?)
}
