//! Pseudonyms and redaction.
//!
//! Person identifiers and partner keys are replaced by a keyed HMAC-SHA256 of
//! the deployment key, truncated to 128 bits, before anything is stored or
//! logged. Inputs are length-prefixed so that no two different tuples hash to
//! the same message (`("ab","c")` ≠ `("a","bc")`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;
use crate::model::PersonId;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error(
        "no pseudonymisation key: set `privacy.pseudonym_key` in the config or the VIVRES_PSEUDONYM_KEY environment variable (at least 32 characters, e.g. `openssl rand -hex 32`)"
    )]
    MissingKey,
    #[error("the pseudonymisation key is too short: {0} characters, at least 32 are needed")]
    ShortKey(usize),
}

/// Turns raw identifiers into pseudonyms. Cheap to clone.
#[derive(Clone)]
pub struct Pseudonymiser {
    // The keyed state, computed once; each pseudonym clones it.
    mac: HmacSha256,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser(***)")
    }
}

impl Pseudonymiser {
    pub fn new(key: &Secret) -> Result<Self, PrivacyError> {
        let len = key.expose().chars().count();
        if len < 32 {
            return Err(PrivacyError::ShortKey(len));
        }
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = HmacSha256::new_from_slice(key.expose().as_bytes())
            .map_err(|_| PrivacyError::ShortKey(len))?;
        Ok(Pseudonymiser { mac })
    }

    /// A fresh random key, hex-encoded (what `vivres demo` writes to its data dir).
    pub fn generate_key() -> Secret {
        let bytes: [u8; 32] = rand::random();
        Secret::new(hex::encode(bytes))
    }

    fn digest(&self, parts: &[&str]) -> [u8; 16] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        let out = mac.finalize().into_bytes();
        let mut first = [0u8; 16];
        first.copy_from_slice(&out[..16]);
        first
    }

    /// Pseudonym = HMAC(key, network, scope, local id).
    pub fn person(&self, network: &str, person: &PersonId) -> String {
        hex::encode(self.digest(&["person", network, &person.scope, person.local_id.trim()]))
    }

    /// Partner keys are hashed too: natural keys often embed a person's
    /// identifier (a Secours Catholique dossier number).
    pub fn record_key(&self, source: &str, key: &str) -> String {
        hex::encode(self.record_key_bytes(source, key))
    }

    /// The same pseudonym as 16 bytes: how the warehouse stores keys.
    pub fn record_key_bytes(&self, source: &str, key: &str) -> [u8; 16] {
        self.digest(&["record", source, key])
    }
}

/// Replaces known secret values in text bound for a log or a report.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.expose().to_string())
            // A one- or two-character secret would blank out ordinary text.
            .filter(|s| s.len() >= 3)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Secret {
        Secret::new("0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_scoped() {
        let p = Pseudonymiser::new(&key()).unwrap();
        let id = |scope: &str, local: &str| PersonId {
            scope: scope.into(),
            local_id: local.into(),
        };
        let a = p.person("secours-catholique", &id("equipe-lyon-3", "42"));
        assert_eq!(
            a,
            p.person("secours-catholique", &id("equipe-lyon-3", "42"))
        );
        assert_eq!(a.len(), 32);
        assert!(!a.contains("42"));
        // Same number, another team: another person.
        assert_ne!(
            a,
            p.person("secours-catholique", &id("equipe-lyon-7", "42"))
        );
        assert_ne!(a, p.person("ugess", &id("equipe-lyon-3", "42")));
        // Length prefixes keep tuples apart.
        assert_ne!(p.person("n", &id("ab", "c")), p.person("n", &id("a", "bc")));
        let other = Pseudonymiser::new(&Secret::new("another key, long enough for us!!")).unwrap();
        assert_ne!(
            a,
            other.person("secours-catholique", &id("equipe-lyon-3", "42"))
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(matches!(
            Pseudonymiser::new(&Secret::new("short")),
            Err(PrivacyError::ShortKey(5))
        ));
        let generated = Pseudonymiser::generate_key();
        assert_eq!(generated.expose().len(), 64);
        assert!(Pseudonymiser::new(&generated).is_ok());
    }

    #[test]
    fn redactor_masks_every_secret() {
        let s1 = Secret::new("token-lyon");
        let s2 = Secret::new("token-lyon-extra");
        let r = Redactor::new([&s1, &s2]);
        assert_eq!(
            r.redact("auth token-lyon-extra then token-lyon"),
            "auth *** then ***"
        );
        assert_eq!(r.redact("nothing here"), "nothing here");
    }
}
