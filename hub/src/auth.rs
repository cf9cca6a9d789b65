//! Bearer tokens of the admin API and the roles they carry.
//!
//! A token is 256 random bits shown once at creation (`vvr_` + 64 hex digits);
//! the warehouse keeps only its SHA-256. Roles: `admin` (everything),
//! `coordinator` (the sources of its territories only), `evaluator`
//! (read-only data and indicators; never sources, run logs or quarantine).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::warehouse::{Warehouse, WarehouseError};

/// Prefix of every token, so that a leaked one is recognisable in a scan.
pub const TOKEN_PREFIX: &str = "vvr_";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("a live token is already named `{0}` (revoke it first)")]
    NameTaken(String),
    #[error("`{0}` is not a token name (letters, digits, `-`, `_`, `.`, `@`; at most 64)")]
    BadName(String),
    #[error("a coordinator token needs at least one --territory")]
    NoTerritory,
    #[error("unknown territory `{0}`")]
    UnknownTerritory(String),
    #[error("only coordinator tokens are scoped to territories")]
    TerritoryNotAllowed,
    #[error("no live token named `{0}`")]
    NoSuchToken(String),
    #[error("unknown role `{0}` (admin, coordinator or evaluator)")]
    BadRole(String),
}

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Role {
    Admin,
    Coordinator { territories: Vec<String> },
    Evaluator,
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator { .. } => "coordinator",
            Role::Evaluator => "evaluator",
        }
    }
}

/// Who is calling: the token's name (what logs show) and its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub name: String,
    #[serde(flatten)]
    pub role: Role,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this principal may see and act on sources of `territory`.
    pub fn can_act_on(&self, territory: &str) -> bool {
        match &self.role {
            Role::Admin => true,
            Role::Coordinator { territories } => territories.iter().any(|t| t == territory),
            Role::Evaluator => false,
        }
    }
}

/// A token as `vivres token list` shows it (never the token).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub name: String,
    #[serde(flatten)]
    pub role: Role,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// SHA-256 of a token, hex: what the warehouse stores and looks up.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// Parses a role name and its territories, checking them against `known`.
pub fn role_from(name: &str, territories: &[String], known: &[&str]) -> Result<Role, AuthError> {
    match name {
        "admin" | "evaluator" if !territories.is_empty() => Err(AuthError::TerritoryNotAllowed),
        "admin" => Ok(Role::Admin),
        "evaluator" => Ok(Role::Evaluator),
        "coordinator" => {
            if territories.is_empty() {
                return Err(AuthError::NoTerritory);
            }
            if let Some(t) = territories.iter().find(|t| !known.contains(&t.as_str())) {
                return Err(AuthError::UnknownTerritory(t.clone()));
            }
            let mut territories = territories.to_vec();
            territories.sort();
            territories.dedup();
            Ok(Role::Coordinator { territories })
        }
        other => Err(AuthError::BadRole(other.to_string())),
    }
}

/// The role a token row carries (the console's sessions read the same rows).
pub(crate) fn role_of(name: &str, territories: &str) -> Role {
    match name {
        "admin" => Role::Admin,
        "coordinator" => Role::Coordinator {
            territories: territories
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        },
        // Anything else gets the least power.
        _ => Role::Evaluator,
    }
}

/// Creates a token and returns it: the only time it is ever visible.
pub async fn create(warehouse: &Warehouse, name: &str, role: &Role) -> Result<String, AuthError> {
    if !valid_name(name) {
        return Err(AuthError::BadName(name.to_string()));
    }
    let token = new_token();
    let territories = match role {
        Role::Coordinator { territories } => territories.join(","),
        _ => String::new(),
    };
    match warehouse
        .create_token(name, role.name(), &territories, &hash_token(&token))
        .await
    {
        Ok(()) => Ok(token),
        Err(WarehouseError::NameTaken(_)) => Err(AuthError::NameTaken(name.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Every token, live and revoked, oldest first.
pub async fn list(warehouse: &Warehouse) -> Result<Vec<TokenInfo>, AuthError> {
    Ok(warehouse
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| TokenInfo {
            role: role_of(&t.role, &t.territories),
            name: t.name,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        })
        .collect())
}

/// Revokes the live token of that name: it stops working at once.
pub async fn revoke(warehouse: &Warehouse, name: &str) -> Result<(), AuthError> {
    if !warehouse.revoke_token(name).await? {
        return Err(AuthError::NoSuchToken(name.to_string()));
    }
    Ok(())
}

/// The token of an `Authorization` header value: `Bearer <token>`, the
/// scheme in any case (RFC 9110 §11.1), spaces around the token ignored.
/// `None` for another scheme or no token.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The principal a presented token stands for, if it is live.
pub async fn authenticate(
    warehouse: &Warehouse,
    token: &str,
) -> Result<Option<Principal>, AuthError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some((name, role, territories)) = warehouse.live_token(&hash_token(token)).await? else {
        return Ok(None);
    };
    Ok(Some(Principal {
        name,
        role: role_of(&role, &territories),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for header in [
            "Bearer vvr_x",
            "bearer vvr_x",
            "BEARER  vvr_x ",
            " BeArEr\tvvr_x",
        ] {
            assert_eq!(bearer_token(header), Some("vvr_x"), "{header:?}");
        }
        for header in [
            "Basic dXNlcjpwdw==",
            "Bearer",
            "Bearer   ",
            "vvr_x",
            "Bearervvr_x",
        ] {
            assert_eq!(bearer_token(header), None, "{header:?}");
        }
    }

    #[tokio::test]
    async fn tokens_are_stored_hashed_and_revocable() {
        let db = crate::warehouse::testing::TestDb::new().await;
        let w = &db.warehouse;
        let role = role_from("coordinator", &["lyon".into()], &["lyon"]).unwrap();
        let token = create(w, "alice", &role).await.unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 64);
        let stored = w
            .inspect("SELECT token_sha256 FROM api_tokens")
            .await
            .unwrap();
        assert_eq!(stored, vec![vec![Some(hash_token(&token))]]);
        let p = authenticate(w, &token).await.unwrap().unwrap();
        assert_eq!(p.name, "alice");
        assert!(p.can_act_on("lyon") && !p.can_act_on("toulouse"));
        assert!(matches!(
            create(w, "alice", &Role::Admin).await,
            Err(AuthError::NameTaken(_))
        ));
        revoke(w, "alice").await.unwrap();
        assert!(authenticate(w, &token).await.unwrap().is_none());
        // The name is free again once revoked.
        create(w, "alice", &Role::Evaluator).await.unwrap();
        assert_eq!(list(w).await.unwrap().len(), 2);
        assert!(matches!(
            role_from("coordinator", &[], &["lyon"]),
            Err(AuthError::NoTerritory)
        ));
        assert!(matches!(
            role_from("coordinator", &["nice".into()], &["lyon"]),
            Err(AuthError::UnknownTerritory(_))
        ));
    }
}
