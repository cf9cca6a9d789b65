//! Signing in to the console: sessions, one-time sign-in links, CSRF tokens
//! and cookies.
//!
//! A session is 256 random bits in an HttpOnly, SameSite=Strict cookie
//! (Secure when the request came over TLS), valid [`SESSION_SECONDS`]; the
//! warehouse keeps only its SHA-256 and the hash of the API token it signed
//! in with, so the token's role and territories (read on every request)
//! decide what the console shows, and revoking the token ends its sessions at
//! once. The CSRF token of a form is a hash of the cookie's secret: the
//! server recomputes it, nothing more is stored. Before signing in, a
//! short-lived pre-session cookie plays the same part for the sign-in forms.

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

use crate::auth::{self, AuthError, Principal, hash_token};
use crate::warehouse::{Warehouse, WarehouseError};

pub const SESSION_COOKIE: &str = "vivres_session";
pub const PRE_COOKIE: &str = "vivres_pre";
pub const LANG_COOKIE: &str = "vivres_lang";
/// A session lasts a working day, then the token must be given again.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// A one-time sign-in link works once, within a day.
pub const LINK_SECONDS: i64 = 24 * 3600;
const PRE_SECONDS: i64 = 3600;

fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Whether a cookie value can be one of ours (64 hex digits): anything else
/// is ignored without a database look-up.
fn well_formed(secret: &str) -> bool {
    secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Signs in with an API token (checked exactly as the API checks a bearer
/// token): the new session's secret, for the cookie, and who it is.
pub async fn sign_in(
    warehouse: &Warehouse,
    token: &str,
) -> Result<Option<(String, Principal)>, AuthError> {
    let Some(principal) = auth::authenticate(warehouse, token.trim()).await? else {
        return Ok(None);
    };
    let secret = new_secret();
    warehouse
        .create_session(
            &hash_token(&secret),
            &hash_token(token.trim()),
            unix_now() + SESSION_SECONDS,
        )
        .await?;
    Ok(Some((secret, principal)))
}

/// Who a session cookie stands for, if the session and its token are live.
pub async fn principal(
    warehouse: &Warehouse,
    secret: &str,
) -> Result<Option<Principal>, WarehouseError> {
    if !well_formed(secret) {
        return Ok(None);
    }
    Ok(warehouse
        .session_token(&hash_token(secret))
        .await?
        .map(|(name, role, territories)| Principal {
            name,
            role: auth::role_of(&role, &territories),
        }))
}

pub async fn sign_out(warehouse: &Warehouse, secret: &str) -> Result<(), WarehouseError> {
    if well_formed(secret) {
        warehouse.end_session(&hash_token(secret)).await?;
    }
    Ok(())
}

/// A one-time sign-in link's code for a live token (`vivres token create
/// --link`, the admin's token page): it signs in once, within [`LINK_SECONDS`].
pub async fn create_link(warehouse: &Warehouse, token: &str) -> Result<String, WarehouseError> {
    let code = new_secret();
    warehouse
        .create_sign_in_link(
            &hash_token(&code),
            &hash_token(token),
            unix_now() + LINK_SECONDS,
        )
        .await?;
    Ok(code)
}

/// Uses up a sign-in link: a new session, if the link was unused, unexpired
/// and its token still live.
pub async fn redeem_link(
    warehouse: &Warehouse,
    code: &str,
) -> Result<Option<(String, Principal)>, WarehouseError> {
    if !well_formed(code) {
        return Ok(None);
    }
    let Some(token_sha256) = warehouse.redeem_sign_in_link(&hash_token(code)).await? else {
        return Ok(None);
    };
    if warehouse.live_token(&token_sha256).await?.is_none() {
        return Ok(None);
    }
    let secret = new_secret();
    warehouse
        .create_session(
            &hash_token(&secret),
            &token_sha256,
            unix_now() + SESSION_SECONDS,
        )
        .await?;
    Ok(principal(warehouse, &secret).await?.map(|p| (secret, p)))
}

/// The CSRF token of forms shown to the holder of this cookie secret.
pub fn csrf_token(secret: &str) -> String {
    hex::encode(Sha256::digest(format!("vivres-csrf:{secret}").as_bytes()))
}

/// The CSRF token a state-changing request must carry: that of the session
/// cookie when there is one, else that of the pre-session cookie.
pub fn expected_csrf(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
        .filter(|s| well_formed(s))
        .or_else(|| cookie(headers, PRE_COOKIE).filter(|s| well_formed(s)))
        .map(csrf_token)
}

/// Compares in time independent of where the strings differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie the request carries.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the request reached the hub over TLS: `vivres serve` speaks plain
/// HTTP, so TLS ends at a reverse proxy, which says so in `X-Forwarded-Proto`
/// or `Forwarded` (a forged header only makes the browser refuse its own
/// cookie over plain HTTP).
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, whole site, `max_age`
/// seconds (0 removes it), Secure over TLS.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("vivres_invalid=; Max-Age=0"))
}

pub fn session_cookie(secret: &str, secure: bool) -> HeaderValue {
    set_cookie(SESSION_COOKIE, secret, SESSION_SECONDS, secure)
}

/// The pre-session secret of a request, or a new one to set.
pub fn pre_session(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, PRE_COOKIE).filter(|s| well_formed(s)) {
        Some(s) => (s.to_string(), None),
        None => {
            let s = new_secret();
            let c = set_cookie(PRE_COOKIE, &s, PRE_SECONDS, over_tls(headers));
            (s, Some(c))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_csrf_tokens() {
        let mut h = HeaderMap::new();
        let secret = "a".repeat(64);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {SESSION_COOKIE}={secret}; y=2")).unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some(secret.as_str()));
        assert_eq!(expected_csrf(&h), Some(csrf_token(&secret)));
        assert!(same_token(&csrf_token(&secret), &csrf_token(&secret)));
        assert!(!same_token(
            &csrf_token(&secret),
            &csrf_token(&"b".repeat(64))
        ));
        let c = session_cookie(&secret, true);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(
            !session_cookie(&secret, false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
        // Not one of ours: no token expected.
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("vivres_session=../../x"),
        );
        assert_eq!(expected_csrf(&h), None);
    }

    #[tokio::test]
    async fn sessions_follow_their_token_and_links_work_once() {
        let db = crate::warehouse::testing::TestDb::new().await;
        let w = &db.warehouse;
        let role = auth::role_from("coordinator", &["lyon".into()], &["lyon"]).unwrap();
        let token = auth::create(w, "camille", &role).await.unwrap();
        assert!(sign_in(w, "vvr_nope").await.unwrap().is_none());
        let (secret, p) = sign_in(w, &token).await.unwrap().unwrap();
        assert_eq!(p.role, role);
        assert_eq!(principal(w, &secret).await.unwrap(), Some(p.clone()));
        // Only hashes are stored.
        let stored = w
            .inspect("SELECT id_sha256, token_sha256 FROM console_sessions")
            .await
            .unwrap();
        assert_eq!(
            stored,
            vec![vec![Some(hash_token(&secret)), Some(hash_token(&token))]]
        );
        let code = create_link(w, &token).await.unwrap();
        let (other, q) = redeem_link(w, &code).await.unwrap().unwrap();
        assert_eq!(q, p);
        assert!(
            redeem_link(w, &code).await.unwrap().is_none(),
            "a link works once"
        );
        sign_out(w, &secret).await.unwrap();
        assert!(principal(w, &secret).await.unwrap().is_none());
        // Revoking the token ends its sessions.
        auth::revoke(w, "camille").await.unwrap();
        assert!(principal(w, &other).await.unwrap().is_none());
        let code = create_link(w, &token).await.unwrap();
        assert!(redeem_link(w, &code).await.unwrap().is_none());
    }
}
