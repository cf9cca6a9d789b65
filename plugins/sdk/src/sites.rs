//! Sites whose commune the source's settings give: a team, a grocery, a
//! group or a garden has no address in its partner's exports, so the
//! coordinator writes its INSEE code in the source's configuration,
//! `"sites": [{"id": "lyon-3", "insee": "69383"}]`, and the connector offers a
//! `sites` stream of them. The hub resolves the INSEE code as any location
//! (its commune, its EPCI, whether it lies in the source's territory) and
//! quarantines an unknown one (`unresolved-location`, field `location.insee`).
//!
//! The `id` is the site as the connector's records name it (`Distribution.site`,
//! `OrderLine.site`, …), so that a record joins its site.

use serde::Deserialize;

use crate::model::{
    Batch, ConnectorError, Entity, EntityKind, Item, Location, Site, SiteKind, StreamInfo,
};

/// The stream's name.
pub const STREAM: &str = "sites";

/// The JSON Schema of the `sites` setting, for a connector's config schema.
pub const SCHEMA: &str = r#"{"type": "array", "description": "Sites with their commune: the id as the records name the site, its INSEE commune code, optionally its name", "items": {"type": "object", "additionalProperties": false, "required": ["id", "insee"], "properties": {"id": {"type": "string", "minLength": 1}, "insee": {"type": "string", "pattern": "^[0-9][0-9AB][0-9]{3}$"}, "name": {"type": "string"}}}}"#;

/// One site of the setting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSetting {
    /// The site as the records name it.
    pub id: String,
    /// Its commune's INSEE code (`69383`, `2A004`): not a postcode.
    pub insee: String,
    /// Its name (an organisation's, never a person's).
    #[serde(default)]
    pub name: Option<String>,
}

/// Checks the setting named `field`: ids present and unique, INSEE codes of
/// the right shape (whether the commune exists is the hub's to say).
pub fn check(sites: &[SiteSetting], field: &str) -> Result<(), ConnectorError> {
    for (i, s) in sites.iter().enumerate() {
        if s.id.trim().is_empty() {
            return Err(ConnectorError::bad_config(format!(
                "{field}[{i}].id: must not be empty"
            )));
        }
        if sites[..i].iter().any(|o| o.id.trim() == s.id.trim()) {
            return Err(ConnectorError::bad_config(format!(
                "{field}[{i}].id: `{}` is given twice",
                s.id.trim()
            )));
        }
        if !is_insee(s.insee.trim()) {
            return Err(ConnectorError::bad_config(format!(
                "{field}[{i}].insee: not an INSEE commune code (5 characters such as 69383 or 2A004; a postcode is not one)"
            )));
        }
    }
    Ok(())
}

/// `69383`, `2A004`, `2B033`, `97411`.
pub fn is_insee(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[0].is_ascii_digit()
        && (b[1].is_ascii_digit() || (b[0] == b'2' && matches!(b[1], b'A' | b'B')))
        && b[2..].iter().all(u8::is_ascii_digit)
}

/// The `sites` stream's description, for a connector's spec.
pub fn stream_info(what: &str) -> StreamInfo {
    StreamInfo::new(
        STREAM,
        EntityKind::Site,
        &["id"],
        None,
        format!(
            "The {what} given in the source's `sites` setting, with their INSEE commune (the hub adds the EPCI and whether it lies in the territory)"
        ),
    )
}

/// The one batch of the `sites` stream: a site of `kind` per setting, keyed by its id.
pub fn read(sites: &[SiteSetting], kind: SiteKind) -> Batch {
    let mut batch = Batch::new();
    batch.items = sites
        .iter()
        .map(|s| {
            let site = Site {
                kind,
                name: s
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string),
                location: Some(Location {
                    postcode: None,
                    commune: None,
                    insee: Some(s.insee.trim().to_string()),
                }),
                group: None,
                short_circuit: None,
                siret: None,
            };
            Item::new(s.id.trim(), Entity::Site(site))
        })
        .collect();
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(id: &str, insee: &str) -> SiteSetting {
        SiteSetting {
            id: id.into(),
            insee: insee.into(),
            name: None,
        }
    }

    #[test]
    fn checks_name_the_field() {
        assert!(check(&[site("a", "69383"), site("b", "2A004")], "sites").is_ok());
        let e = |sites: &[SiteSetting]| match check(sites, "sites") {
            Err(ConnectorError::BadConfig(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(e(&[site(" ", "69383")]).starts_with("sites[0].id:"));
        assert!(e(&[site("a", "69383"), site("a ", "69001")]).starts_with("sites[1].id:"));
        for bad in ["6938", "69 383", "2C004", "A9383", "693830"] {
            assert!(e(&[site("a", bad)]).starts_with("sites[0].insee:"), "{bad}");
        }
    }

    #[test]
    fn one_site_per_setting() {
        let mut named = site(" lyon-3 ", " 69383 ");
        named.name = Some("Équipe Lyon 3".into());
        let b = read(&[named, site("villeurbanne", "69266")], SiteKind::AidTeam);
        assert!(!b.more);
        assert_eq!(b.items.len(), 2);
        assert_eq!(b.items[0].key, "lyon-3");
        let Entity::Site(s) = &b.items[0].entity else {
            panic!()
        };
        assert_eq!(s.kind, SiteKind::AidTeam);
        assert_eq!(s.name.as_deref(), Some("Équipe Lyon 3"));
        assert_eq!(
            s.location.as_ref().and_then(|l| l.insee.as_deref()),
            Some("69383")
        );
        let Entity::Site(s) = &b.items[1].entity else {
            panic!()
        };
        assert_eq!(s.name, None);
    }
}
