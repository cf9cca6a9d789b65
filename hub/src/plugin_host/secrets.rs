//! Secrets granted to a source, and their redaction from everything a
//! plugin can make the hub write down.

use std::collections::BTreeMap;

/// The source's secrets, by name; a plugin gets only these.
pub struct Secrets {
    values: BTreeMap<String, String>,
}

impl Secrets {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Secrets { values }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }
}

/// Replaces every secret value by `***`.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    needles: Vec<String>,
}

impl Redactor {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a String>) -> Self {
        let mut needles: Vec<String> = values
            .into_iter()
            .filter(|v| !v.is_empty())
            .cloned()
            .collect();
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Redactor { needles }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_secret_longest_first() {
        let values = ["tok".to_string(), "tok-123".to_string(), String::new()];
        let r = Redactor::new(values.iter());
        assert_eq!(
            r.redact("Bearer tok-123 and tok again"),
            "Bearer *** and *** again"
        );
        assert_eq!(r.redact("nothing here"), "nothing here");
    }

    #[test]
    fn only_granted_secrets() {
        let s = Secrets::new(BTreeMap::from([("api_key".into(), "k".into())]));
        assert_eq!(s.get("api_key").as_deref(), Some("k"));
        assert_eq!(s.get("HOME"), None);
    }
}
