//! The source's configuration, checked field by field so that every error
//! names its field.

use serde::Deserialize;
use serde_json::Value;

pub const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Cocagne garden (basket-management API v2)",
  "type": "object",
  "additionalProperties": false,
  "required": ["base_url", "token_secret", "garden"],
  "x-vivres-non-personal-keys": ["subscriptions", "deliveries"],
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://", "description": "The garden's tool, without /api/v2: https://paniers.example.org/jardin-de-lyon"},
    "token_secret": {"type": "string", "minLength": 1, "description": "Name of the source's secret holding the API token (sent as a Bearer token)"},
    "garden": {"type": "string", "minLength": 1, "description": "The garden's id: member numbers are local to it, and deliveries take place there"},
    "page_size": {"type": "integer", "minimum": 1, "maximum": 500, "default": 500, "description": "Items per request (one batch)"},
    "garden_insee": {"type": "string", "pattern": "^[0-9][0-9AB][0-9]{3}$", "description": "INSEE code of the garden's commune: the garden becomes a site of the `sites` stream, with its commune and EPCI"}
  }
}"#;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Value")]
pub struct Config {
    pub base_url: String,
    pub token_secret: String,
    pub garden: String,
    pub page_size: u32,
    /// The INSEE code of the garden's commune, if given (stream `sites`).
    pub garden_insee: Option<String>,
}

const FIELDS: [&str; 5] = [
    "base_url",
    "token_secret",
    "garden",
    "page_size",
    "garden_insee",
];

fn required_text(map: &serde_json::Map<String, Value>, field: &str) -> Result<String, String> {
    match map.get(field) {
        None | Some(Value::Null) => Err(format!("{field}: required")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("{field}: must not be empty")),
        Some(Value::String(s)) => Ok(s.trim().to_string()),
        Some(_) => Err(format!("{field}: must be a string")),
    }
}

impl TryFrom<Value> for Config {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("the configuration must be a JSON object".into());
        };
        if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "{unknown}: unknown field (expected one of {})",
                FIELDS.join(", ")
            ));
        }
        let base_url = required_text(&map, "base_url")?;
        let lower = base_url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err("base_url: must start with http:// or https://".into());
        }
        if base_url.contains(['?', '#']) {
            return Err("base_url: must not hold a query or a fragment".into());
        }
        if lower.trim_end_matches('/').ends_with("/api/v2") {
            return Err("base_url: give the garden's address without /api/v2".into());
        }
        let token_secret = required_text(&map, "token_secret")?;
        let garden = required_text(&map, "garden")?;
        let page_size = match map.get("page_size") {
            None | Some(Value::Null) => 500,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=500) => n as u32,
                _ => return Err("page_size: must be a whole number from 1 to 500".into()),
            },
        };
        let garden_insee = match map.get("garden_insee") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if vivres_sdk::sites::is_insee(s.trim()) => {
                Some(s.trim().to_string())
            }
            Some(_) => {
                return Err("garden_insee: not an INSEE commune code (5 characters such as 69383 or 2A004; a postcode is not one)".into());
            }
        };
        Ok(Config {
            base_url,
            token_secret,
            garden,
            page_size,
            garden_insee,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Config, String> {
        serde_json::from_str::<Config>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_config() {
        let c = parse(
            r#"{"base_url": "http://127.0.0.1:8080/g1", "token_secret": "tok", "garden": " g1 "}"#,
        )
        .unwrap();
        assert_eq!(c.page_size, 500);
        assert_eq!(c.garden, "g1");
        let c = parse(r#"{"base_url": "https://x/g1/", "token_secret": "tok", "garden": "g1", "page_size": 1}"#).unwrap();
        assert_eq!(c.page_size, 1);
        assert_eq!(c.garden_insee, None);
        let c = parse(r#"{"base_url": "https://x/g1/", "token_secret": "tok", "garden": "g1", "garden_insee": "69383"}"#).unwrap();
        assert_eq!(c.garden_insee.as_deref(), Some("69383"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"token_secret": "t", "garden": "g"}"#,
                "base_url: required",
            ),
            (
                r#"{"base_url": "ftp://x", "token_secret": "t", "garden": "g"}"#,
                "base_url: must start",
            ),
            (
                r#"{"base_url": "http://x/g/api/v2", "token_secret": "t", "garden": "g"}"#,
                "base_url: give",
            ),
            (
                r#"{"base_url": "http://x", "token_secret": "", "garden": "g"}"#,
                "token_secret: must not be empty",
            ),
            (
                r#"{"base_url": "http://x", "token_secret": "t"}"#,
                "garden: required",
            ),
            (
                r#"{"base_url": "http://x", "token_secret": "t", "garden": 3}"#,
                "garden: must be a string",
            ),
            (
                r#"{"base_url": "http://x", "token_secret": "t", "garden": "g", "page_size": 501}"#,
                "page_size:",
            ),
            (
                r#"{"base_url": "http://x", "token_secret": "t", "garden": "g", "page_size": 0}"#,
                "page_size:",
            ),
            (
                r#"{"base_url": "http://x", "token_secret": "t", "garden": "g", "page_size": "5"}"#,
                "page_size:",
            ),
            (
                r#"{"base_url": "http://x", "token_secret": "t", "garden": "g", "token": "x"}"#,
                "token: unknown field",
            ),
            (
                r#"{"base_url": "http://x", "token_secret": "t", "garden": "g", "garden_insee": "69 003"}"#,
                "garden_insee: not an INSEE",
            ),
            (r#"[1]"#, "JSON object"),
        ];
        for (json, expected) in cases {
            let e = parse(json).unwrap_err();
            assert!(e.contains(expected), "{json}: {e}");
        }
    }
}
