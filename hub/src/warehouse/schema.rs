//! The fact tables' columns, in the order the sync engine produces values.
//! A unit test checks them against the migrated schema.

use crate::model::EntityKind;

pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

/// Provenance columns every fact row starts with.
pub const PROVENANCE: &[&str] = &[
    "source",
    "stream",
    "key",
    "territory",
    "network",
    "run_id",
    "extracted_at",
    "connector",
    "connector_version",
    "origin",
    "row_hash",
];

const HOUSEHOLDS: Table = Table {
    name: "households",
    columns: &[
        "person",
        "size",
        "adults",
        "children",
        "composition",
        "residence_postcode",
        "residence_insee",
        "residence_epci",
        "residence_in_territory",
        "income_band",
        "reste_a_vivre_band",
        "rights_from",
        "rights_to",
        "monthly_cap_cents",
        "programme",
        "solidarity",
        "price_paid_cents",
        "reference_price_cents",
        "prescriber",
        "enrolment_start",
        "enrolment_end",
        "enrolment_site",
    ],
};

const SITES: Table = Table {
    name: "sites",
    columns: &[
        "kind",
        "name",
        "location_postcode",
        "location_insee",
        "location_epci",
        "location_in_territory",
        "site_group",
        "short_circuit",
        "siret",
    ],
};

const PRODUCTS: Table = Table {
    name: "products",
    columns: &[
        "label", "category", "dfc_type", "unit", "organic", "producer", "ean",
    ],
};

const DISTRIBUTIONS: Table = Table {
    name: "distributions",
    columns: &[
        "household",
        "household_key",
        "site",
        "date",
        "week",
        "kind",
        "label",
        "status",
        "amount_cents",
        "quantity_kg",
        "contents",
        "ordinal",
    ],
};

const ORDER_LINES: Table = Table {
    name: "order_lines",
    columns: &[
        "household",
        "site",
        "channel",
        "date",
        "time",
        "month",
        "product",
        "dfc_type",
        "quantity",
        "unit",
        "unit_price_paid_cents",
        "unit_reference_price_cents",
        "price_paid_cents",
        "reference_price_cents",
        "discount_percent",
        "food_bank_donation",
    ],
};

const SUPPLIES: Table = Table {
    name: "supplies",
    columns: &[
        "site",
        "producer",
        "producer_postcode",
        "producer_insee",
        "producer_epci",
        "producer_in_territory",
        "distance_km",
        "organic",
        "product",
        "month",
    ],
};

const DIAGNOSTICS: Table = Table {
    name: "diagnostics",
    columns: &[
        "farm",
        "method",
        "method_version",
        "survey_year",
        "area_ha",
        "workers",
        "farm_type",
        "departement",
        "scores",
    ],
};

const PARTICIPATION: Table = Table {
    name: "participation",
    columns: &[
        "household",
        "site",
        "date",
        "kind",
        "role",
        "hours",
        "attendees",
    ],
};

const PATHWAYS: Table = Table {
    name: "pathways",
    columns: &[
        "worker",
        "site",
        "entry_date",
        "exit_date",
        "weekly_hours",
        "exit_label",
        "exit_category",
        "training_hours",
    ],
};

const SURVEY_RESPONSES: Table = Table {
    name: "survey_responses",
    columns: &[
        "household",
        "respondent_network",
        "site",
        "wave",
        "submitted_at",
        "residence_postcode",
        "residence_insee",
        "residence_epci",
        "residence_in_territory",
        "instrument",
        "answers",
        "raw_score",
    ],
};

pub fn table(kind: EntityKind) -> &'static Table {
    match kind {
        EntityKind::Household => &HOUSEHOLDS,
        EntityKind::Site => &SITES,
        EntityKind::Product => &PRODUCTS,
        EntityKind::Distribution => &DISTRIBUTIONS,
        EntityKind::OrderLine => &ORDER_LINES,
        EntityKind::Supply => &SUPPLIES,
        EntityKind::Diagnostic => &DIAGNOSTICS,
        EntityKind::Participation => &PARTICIPATION,
        EntityKind::Pathway => &PATHWAYS,
        EntityKind::SurveyResponse => &SURVEY_RESPONSES,
    }
}
