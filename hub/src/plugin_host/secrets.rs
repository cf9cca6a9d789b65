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

    /// Where a stream of bytes can be cut so that no secret is split: short
    /// of a tail that could be the start of a secret still being written (the
    /// caller keeps it for the next piece), and past any secret the cut would
    /// otherwise fall inside.
    pub fn safe_cut(&self, bytes: &[u8]) -> usize {
        // The longest tail that is a proper prefix of a secret. Any secret
        // starting before the cut then ends within `bytes`.
        let held = self
            .needles
            .iter()
            .filter_map(|needle| {
                let needle = needle.as_bytes();
                (1..needle.len().min(bytes.len() + 1))
                    .rev()
                    .find(|&k| bytes.ends_with(&needle[..k]))
            })
            .max()
            .unwrap_or(0);
        let mut cut = bytes.len() - held;
        loop {
            let straddling = self.needles.iter().find_map(|needle| {
                let needle = needle.as_bytes();
                let from = cut.saturating_sub(needle.len() - 1);
                (from..cut)
                    .find(|&start| bytes[start..].starts_with(needle))
                    .map(|start| start + needle.len())
                    .filter(|&end| end > cut)
            });
            match straddling {
                Some(end) => cut = end,
                None => return cut,
            }
        }
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
    fn a_safe_cut_never_splits_a_secret() {
        let values = ["abcd".to_string(), "xy".to_string()];
        let r = Redactor::new(values.iter());
        // Nothing that could start a secret: all of it.
        assert_eq!(r.safe_cut(b"0123456789"), 10);
        assert_eq!(r.safe_cut(b"012345abcd"), 10);
        assert_eq!(r.safe_cut(b"0123456xy9"), 10);
        // The start of a secret is kept back.
        assert_eq!(r.safe_cut(b"0123abc"), 4);
        assert_eq!(r.safe_cut(b"0123ab"), 4);
        assert_eq!(r.safe_cut(b"0123x"), 4);
        assert_eq!(r.safe_cut(b"ab"), 0);
        assert_eq!(r.safe_cut(b"abcdab"), 4);
        // A whole secret the held tail starts inside goes out whole.
        let values = ["abcd".to_string(), "bcdz".to_string()];
        let r = Redactor::new(values.iter());
        assert_eq!(r.safe_cut(b"xxabcd"), 6);
        assert_eq!(Redactor::default().safe_cut(b"0123"), 4);
    }

    #[test]
    fn only_granted_secrets() {
        let s = Secrets::new(BTreeMap::from([("api_key".into(), "k".into())]));
        assert_eq!(s.get("api_key").as_deref(), Some("k"));
        assert_eq!(s.get("HOME"), None);
    }
}
