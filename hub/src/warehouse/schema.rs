//! The one description of the warehouse's tables: names, columns, types.
//! A test checks the migrated schema of each backend against it, so a
//! migration that adds a column this file does not describe fails the suite.

use crate::model::EntityKind;

/// A column's type, as each backend spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Text,
    /// 64-bit integer (counts, cents, ids).
    Int,
    Real,
    Bool,
    /// A calendar date (`YYYY-MM-DD` text on SQLite).
    Date,
    /// An instant (RFC 3339 text on SQLite, TIMESTAMPTZ on PostgreSQL).
    Timestamp,
    /// Bytes: the 16-byte keyed hashes of partner keys.
    Bytes,
}

impl Type {
    /// The type name the backend's catalogue reports (SQLite's declared type;
    /// PostgreSQL's `information_schema.columns.data_type`).
    pub fn declared(self, postgres: bool) -> &'static str {
        match (self, postgres) {
            (Type::Text, _) => "text",
            (Type::Int, false) => "bigint",
            (Type::Int, true) => "bigint",
            (Type::Real, _) => "double precision",
            (Type::Bool, _) => "boolean",
            (Type::Date, _) => "date",
            (Type::Timestamp, false) => "timestamp",
            (Type::Timestamp, true) => "timestamp with time zone",
            (Type::Bytes, false) => "blob",
            (Type::Bytes, true) => "bytea",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: Type,
    pub nullable: bool,
}

const fn req(name: &'static str, ty: Type) -> Column {
    Column {
        name,
        ty,
        nullable: false,
    }
}

const fn opt(name: &'static str, ty: Type) -> Column {
    Column {
        name,
        ty,
        nullable: true,
    }
}

/// What a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The hub's own bookkeeping and reference data.
    Hub,
    /// Unified facts: provenance columns, then the entity's.
    Fact,
    /// Rows belonging to a fact row, named by its (stream_id, key).
    Child,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub kind: Option<EntityKind>,
    pub role: Role,
    /// For facts, the entity's columns only (provenance comes first).
    pub columns: &'static [Column],
}

impl Table {
    /// Every column in migration order (facts: provenance first).
    pub fn all_columns(&self) -> impl Iterator<Item = &'static Column> + '_ {
        let prov: &'static [Column] = if self.role == Role::Fact {
            PROVENANCE
        } else {
            &[]
        };
        prov.iter().chain(self.columns.iter())
    }
}

/// Provenance columns every fact row starts with.
pub const PROVENANCE: &[Column] = &[
    req("stream_id", Type::Int),
    req("key", Type::Bytes),
    req("territory", Type::Text),
    req("network", Type::Text),
    req("run_id", Type::Int),
    opt("origin_id", Type::Int),
    req("row_hash", Type::Int),
];

const TERRITORIES: &[Column] = &[
    req("id", Type::Text),
    req("name", Type::Text),
    req("active", Type::Bool),
];

const TERRITORY_EPCIS: &[Column] = &[req("territory", Type::Text), req("epci_siren", Type::Text)];

const EPCIS: &[Column] = &[
    req("siren", Type::Text),
    req("name", Type::Text),
    req("kind", Type::Text),
    opt("population", Type::Int),
];

const COMMUNES: &[Column] = &[
    req("insee", Type::Text),
    req("name", Type::Text),
    req("kind", Type::Text),
    opt("departement", Type::Text),
    opt("parent_insee", Type::Text),
    opt("epci_siren", Type::Text),
    req("postcodes", Type::Text),
    opt("population", Type::Int),
];

const NETWORKS: &[Column] = &[req("id", Type::Text), req("name", Type::Text)];

const SOURCES: &[Column] = &[
    req("id", Type::Text),
    req("connector", Type::Text),
    req("network", Type::Text),
    req("territory", Type::Text),
];

const STREAMS: &[Column] = &[
    req("id", Type::Int),
    req("source", Type::Text),
    req("name", Type::Text),
];

const ORIGINS: &[Column] = &[
    req("id", Type::Int),
    req("stream_id", Type::Int),
    req("name", Type::Text),
    req("replaced", Type::Bool),
    req("created_at", Type::Timestamp),
];

const RUNS: &[Column] = &[
    req("id", Type::Int),
    req("source", Type::Text),
    req("status", Type::Text),
    req("full_refresh", Type::Bool),
    req("started_at", Type::Timestamp),
    opt("ended_at", Type::Timestamp),
    req("heartbeat_at", Type::Timestamp),
    opt("owner_pid", Type::Int),
    opt("owner_host", Type::Text),
    opt("connector", Type::Text),
    opt("connector_version", Type::Text),
    req("batches", Type::Int),
    req("read", Type::Int),
    req("inserted", Type::Int),
    req("updated", Type::Int),
    req("unchanged", Type::Int),
    req("quarantined", Type::Int),
    req("removed", Type::Int),
    req("http_requests", Type::Int),
    req("http_retries", Type::Int),
    req("http_denied", Type::Int),
    req("http_failures", Type::Int),
    req("http_waited_ms", Type::Int),
    opt("error_kind", Type::Text),
    opt("error", Type::Text),
];

const RUN_STREAMS: &[Column] = &[
    req("run_id", Type::Int),
    req("stream", Type::Text),
    req("batches", Type::Int),
    req("read", Type::Int),
    req("inserted", Type::Int),
    req("updated", Type::Int),
    req("unchanged", Type::Int),
    req("quarantined", Type::Int),
    req("removed", Type::Int),
    req("read_ms", Type::Int),
    req("normalise_ms", Type::Int),
    req("commit_ms", Type::Int),
];

const RUN_HTTP: &[Column] = &[
    req("run_id", Type::Int),
    req("status", Type::Int),
    req("responses", Type::Int),
];

const RUN_LOGS: &[Column] = &[
    req("run_id", Type::Int),
    req("seq", Type::Int),
    req("at", Type::Timestamp),
    req("level", Type::Text),
    req("message", Type::Text),
];

const CHECKPOINTS: &[Column] = &[
    req("source", Type::Text),
    req("stream", Type::Text),
    opt("state", Type::Text),
    req("run_id", Type::Int),
    req("updated_at", Type::Timestamp),
];

const QUARANTINE: &[Column] = &[
    req("id", Type::Int),
    req("source", Type::Text),
    req("stream", Type::Text),
    req("run_id", Type::Int),
    opt("key", Type::Bytes),
    opt("origin", Type::Text),
    opt("line", Type::Int),
    req("reason", Type::Text),
    req("field", Type::Text),
    req("detail", Type::Text),
    req("payload_hash", Type::Text),
    req("created_at", Type::Timestamp),
    opt("replayed_by", Type::Int),
];

const API_TOKENS: &[Column] = &[
    req("id", Type::Int),
    req("name", Type::Text),
    req("role", Type::Text),
    req("territories", Type::Text),
    req("token_sha256", Type::Text),
    req("created_at", Type::Timestamp),
    opt("revoked_at", Type::Timestamp),
];

const HOUSEHOLDS: &[Column] = &[
    req("person", Type::Text),
    opt("size", Type::Int),
    opt("adults", Type::Int),
    opt("children", Type::Int),
    opt("composition", Type::Text),
    opt("residence_postcode", Type::Text),
    opt("residence_insee", Type::Text),
    opt("residence_epci", Type::Text),
    opt("residence_in_territory", Type::Bool),
    opt("income_band", Type::Text),
    opt("reste_a_vivre_band", Type::Text),
    opt("rights_from", Type::Date),
    opt("rights_to", Type::Date),
    opt("monthly_cap_cents", Type::Int),
    opt("programme", Type::Text),
    opt("solidarity", Type::Bool),
    opt("price_paid_cents", Type::Int),
    opt("reference_price_cents", Type::Int),
    opt("prescriber", Type::Text),
    opt("enrolment_start", Type::Date),
    opt("enrolment_end", Type::Date),
    opt("enrolment_site", Type::Text),
];

const SITES: &[Column] = &[
    req("kind", Type::Text),
    opt("name", Type::Text),
    opt("location_postcode", Type::Text),
    opt("location_insee", Type::Text),
    opt("location_epci", Type::Text),
    opt("location_in_territory", Type::Bool),
    opt("site_group", Type::Text),
    opt("short_circuit", Type::Bool),
    opt("siret", Type::Text),
];

const PRODUCTS: &[Column] = &[
    req("label", Type::Text),
    opt("category", Type::Text),
    req("dfc_type", Type::Text),
    opt("unit", Type::Text),
    opt("organic", Type::Bool),
    opt("producer", Type::Text),
    opt("ean", Type::Text),
];

const DISTRIBUTIONS: &[Column] = &[
    opt("household", Type::Text),
    opt("household_key", Type::Bytes),
    opt("site", Type::Text),
    opt("date", Type::Date),
    opt("week", Type::Text),
    req("kind", Type::Text),
    opt("label", Type::Text),
    opt("status", Type::Text),
    opt("amount_cents", Type::Int),
    opt("quantity_kg", Type::Real),
    opt("contents", Type::Text),
    req("ordinal", Type::Int),
];

const ORDER_LINES: &[Column] = &[
    opt("household", Type::Text),
    opt("site", Type::Text),
    req("channel", Type::Text),
    opt("date", Type::Date),
    opt("time", Type::Text),
    opt("month", Type::Text),
    req("product", Type::Text),
    req("dfc_type", Type::Text),
    req("quantity", Type::Real),
    opt("unit", Type::Text),
    opt("unit_price_paid_cents", Type::Int),
    opt("unit_reference_price_cents", Type::Int),
    opt("price_paid_cents", Type::Int),
    opt("reference_price_cents", Type::Int),
    opt("discount_percent", Type::Real),
    req("food_bank_donation", Type::Bool),
];

const SUPPLIES: &[Column] = &[
    opt("site", Type::Text),
    req("producer", Type::Text),
    opt("producer_postcode", Type::Text),
    opt("producer_insee", Type::Text),
    opt("producer_epci", Type::Text),
    opt("producer_in_territory", Type::Bool),
    opt("distance_km", Type::Real),
    opt("organic", Type::Bool),
    opt("product", Type::Text),
    opt("month", Type::Text),
];

const DIAGNOSTICS: &[Column] = &[
    req("farm", Type::Text),
    req("method", Type::Text),
    req("method_version", Type::Text),
    req("survey_year", Type::Text),
    opt("area_ha", Type::Real),
    opt("workers", Type::Real),
    opt("farm_type", Type::Text),
    opt("departement", Type::Text),
];

const DIAGNOSTIC_SCORES: &[Column] = &[
    req("stream_id", Type::Int),
    req("key", Type::Bytes),
    req("level", Type::Text),
    req("code", Type::Text),
    opt("value", Type::Real),
    opt("max", Type::Real),
];

const PARTICIPATION: &[Column] = &[
    opt("household", Type::Text),
    opt("site", Type::Text),
    opt("date", Type::Date),
    req("kind", Type::Text),
    opt("role", Type::Text),
    opt("hours", Type::Real),
    opt("attendees", Type::Int),
];

const PATHWAYS: &[Column] = &[
    req("worker", Type::Text),
    opt("site", Type::Text),
    req("entry_date", Type::Date),
    opt("exit_date", Type::Date),
    opt("weekly_hours", Type::Real),
    opt("exit_label", Type::Text),
    opt("exit_category", Type::Text),
    opt("training_hours", Type::Real),
];

const SURVEY_RESPONSES: &[Column] = &[
    opt("household", Type::Text),
    opt("respondent_network", Type::Text),
    opt("site", Type::Text),
    req("wave", Type::Text),
    req("submitted_at", Type::Timestamp),
    opt("residence_postcode", Type::Text),
    opt("residence_insee", Type::Text),
    opt("residence_epci", Type::Text),
    opt("residence_in_territory", Type::Bool),
    req("instrument", Type::Text),
    opt("raw_score", Type::Int),
];

const SURVEY_ANSWERS: &[Column] = &[
    req("stream_id", Type::Int),
    req("key", Type::Bytes),
    req("item", Type::Text),
    req("answer", Type::Text),
];

/// Every table of the warehouse, in migration order.
pub const TABLES: &[Table] = &[
    Table {
        name: "territories",
        kind: None,
        role: Role::Hub,
        columns: TERRITORIES,
    },
    Table {
        name: "territory_epcis",
        kind: None,
        role: Role::Hub,
        columns: TERRITORY_EPCIS,
    },
    Table {
        name: "epcis",
        kind: None,
        role: Role::Hub,
        columns: EPCIS,
    },
    Table {
        name: "communes",
        kind: None,
        role: Role::Hub,
        columns: COMMUNES,
    },
    Table {
        name: "networks",
        kind: None,
        role: Role::Hub,
        columns: NETWORKS,
    },
    Table {
        name: "sources",
        kind: None,
        role: Role::Hub,
        columns: SOURCES,
    },
    Table {
        name: "streams",
        kind: None,
        role: Role::Hub,
        columns: STREAMS,
    },
    Table {
        name: "origins",
        kind: None,
        role: Role::Hub,
        columns: ORIGINS,
    },
    Table {
        name: "runs",
        kind: None,
        role: Role::Hub,
        columns: RUNS,
    },
    Table {
        name: "run_streams",
        kind: None,
        role: Role::Hub,
        columns: RUN_STREAMS,
    },
    Table {
        name: "run_http",
        kind: None,
        role: Role::Hub,
        columns: RUN_HTTP,
    },
    Table {
        name: "run_logs",
        kind: None,
        role: Role::Hub,
        columns: RUN_LOGS,
    },
    Table {
        name: "checkpoints",
        kind: None,
        role: Role::Hub,
        columns: CHECKPOINTS,
    },
    Table {
        name: "quarantine",
        kind: None,
        role: Role::Hub,
        columns: QUARANTINE,
    },
    Table {
        name: "api_tokens",
        kind: None,
        role: Role::Hub,
        columns: API_TOKENS,
    },
    Table {
        name: "households",
        kind: Some(EntityKind::Household),
        role: Role::Fact,
        columns: HOUSEHOLDS,
    },
    Table {
        name: "sites",
        kind: Some(EntityKind::Site),
        role: Role::Fact,
        columns: SITES,
    },
    Table {
        name: "products",
        kind: Some(EntityKind::Product),
        role: Role::Fact,
        columns: PRODUCTS,
    },
    Table {
        name: "distributions",
        kind: Some(EntityKind::Distribution),
        role: Role::Fact,
        columns: DISTRIBUTIONS,
    },
    Table {
        name: "order_lines",
        kind: Some(EntityKind::OrderLine),
        role: Role::Fact,
        columns: ORDER_LINES,
    },
    Table {
        name: "supplies",
        kind: Some(EntityKind::Supply),
        role: Role::Fact,
        columns: SUPPLIES,
    },
    Table {
        name: "diagnostics",
        kind: Some(EntityKind::Diagnostic),
        role: Role::Fact,
        columns: DIAGNOSTICS,
    },
    Table {
        name: "diagnostic_scores",
        kind: None,
        role: Role::Child,
        columns: DIAGNOSTIC_SCORES,
    },
    Table {
        name: "participation",
        kind: Some(EntityKind::Participation),
        role: Role::Fact,
        columns: PARTICIPATION,
    },
    Table {
        name: "pathways",
        kind: Some(EntityKind::Pathway),
        role: Role::Fact,
        columns: PATHWAYS,
    },
    Table {
        name: "survey_responses",
        kind: Some(EntityKind::SurveyResponse),
        role: Role::Fact,
        columns: SURVEY_RESPONSES,
    },
    Table {
        name: "survey_answers",
        kind: None,
        role: Role::Child,
        columns: SURVEY_ANSWERS,
    },
];

/// The fact table of an entity.
pub fn table(kind: EntityKind) -> &'static Table {
    TABLES
        .iter()
        .find(|t| t.kind == Some(kind))
        .unwrap_or_else(|| unreachable!("every entity kind has a fact table"))
}

/// A table by name.
pub fn named(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_one_fact_table() {
        for kind in EntityKind::ALL {
            assert_eq!(
                TABLES.iter().filter(|t| t.kind == Some(kind)).count(),
                1,
                "{kind:?}"
            );
            assert_eq!(table(kind).role, Role::Fact);
        }
    }
}
