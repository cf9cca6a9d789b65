-- Vivres warehouse, SQLite. Reference tables, the unified facts with their
-- provenance, and the hub's own bookkeeping (runs, checkpoints, quarantine).
-- Every fact row carries: source, stream, key (a keyed hash of the partner's
-- key), territory, network, run_id, extracted_at, connector, connector_version,
-- origin (the export file it came from), row_hash (to detect unchanged rows).
-- Fact tables keep their rowid: rows append in arrival order and only the
-- narrow (source, stream, key) index takes the random keys (much faster than
-- WITHOUT ROWID tables, whose whole rows would be placed by random key).

CREATE TABLE territories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    active INTEGER NOT NULL
);

CREATE TABLE territory_epcis (
    territory TEXT NOT NULL REFERENCES territories(id),
    epci_siren TEXT NOT NULL,
    PRIMARY KEY (territory, epci_siren)
);

CREATE TABLE epcis (
    siren TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    population INTEGER
);

CREATE TABLE communes (
    insee TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    departement TEXT,
    parent_insee TEXT,
    epci_siren TEXT,
    postcodes TEXT NOT NULL,
    population INTEGER
);

CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    network TEXT NOT NULL,
    territory TEXT NOT NULL
);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    full_refresh INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    heartbeat_at TEXT NOT NULL,
    owner_pid INTEGER,
    owner_host TEXT,
    connector TEXT,
    connector_version TEXT,
    batches INTEGER NOT NULL DEFAULT 0,
    read INTEGER NOT NULL DEFAULT 0,
    inserted INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    error_kind TEXT,
    error TEXT
);
-- At most one run per source at a time.
CREATE UNIQUE INDEX runs_one_running ON runs(source) WHERE status = 'running';
CREATE INDEX runs_by_source ON runs(source, id);

CREATE TABLE run_logs (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE checkpoints (
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    state TEXT,
    run_id INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, stream)
);

CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    key TEXT,
    origin TEXT,
    line INTEGER,
    reason TEXT NOT NULL,
    field TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX quarantine_by_source ON quarantine(source, run_id);

CREATE TABLE households (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    person TEXT NOT NULL,
    size INTEGER, adults INTEGER, children INTEGER, composition TEXT,
    residence_postcode TEXT, residence_insee TEXT, residence_epci TEXT, residence_in_territory INTEGER,
    income_band TEXT, reste_a_vivre_band TEXT,
    rights_from TEXT, rights_to TEXT, monthly_cap_cents INTEGER,
    programme TEXT, solidarity INTEGER, price_paid_cents INTEGER, reference_price_cents INTEGER,
    prescriber TEXT, enrolment_start TEXT, enrolment_end TEXT, enrolment_site TEXT,
    PRIMARY KEY (source, stream, key)
);

CREATE TABLE sites (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    kind TEXT NOT NULL, name TEXT,
    location_postcode TEXT, location_insee TEXT, location_epci TEXT, location_in_territory INTEGER,
    site_group TEXT, short_circuit INTEGER, siret TEXT,
    PRIMARY KEY (source, stream, key)
);

CREATE TABLE products (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    label TEXT NOT NULL, category TEXT, dfc_type TEXT NOT NULL, unit TEXT,
    organic INTEGER, producer TEXT, ean TEXT,
    PRIMARY KEY (source, stream, key)
);

CREATE TABLE distributions (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    household TEXT, household_key TEXT, site TEXT, date TEXT, week TEXT,
    kind TEXT NOT NULL, label TEXT, status TEXT, amount_cents INTEGER,
    quantity_kg REAL, contents TEXT, ordinal INTEGER NOT NULL,
    PRIMARY KEY (source, stream, key)
);

CREATE TABLE order_lines (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    household TEXT, site TEXT, channel TEXT NOT NULL, date TEXT, time TEXT, month TEXT,
    product TEXT NOT NULL, dfc_type TEXT NOT NULL, quantity REAL NOT NULL, unit TEXT,
    unit_price_paid_cents INTEGER, unit_reference_price_cents INTEGER,
    price_paid_cents INTEGER, reference_price_cents INTEGER,
    discount_percent REAL, food_bank_donation INTEGER NOT NULL,
    PRIMARY KEY (source, stream, key)
);

CREATE TABLE supplies (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    site TEXT, producer TEXT NOT NULL,
    producer_postcode TEXT, producer_insee TEXT, producer_epci TEXT, producer_in_territory INTEGER,
    distance_km REAL, organic INTEGER, product TEXT, month TEXT,
    PRIMARY KEY (source, stream, key)
);

CREATE TABLE diagnostics (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    farm TEXT NOT NULL, method TEXT NOT NULL, method_version TEXT NOT NULL, survey_year TEXT NOT NULL,
    area_ha REAL, workers REAL, farm_type TEXT, departement TEXT,
    scores TEXT NOT NULL,
    PRIMARY KEY (source, stream, key)
);

CREATE TABLE participation (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    household TEXT, site TEXT, date TEXT, kind TEXT NOT NULL, role TEXT,
    hours REAL, attendees INTEGER,
    PRIMARY KEY (source, stream, key)
);

CREATE TABLE pathways (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    worker TEXT NOT NULL, site TEXT, entry_date TEXT NOT NULL, exit_date TEXT,
    weekly_hours REAL, exit_label TEXT, exit_category TEXT, training_hours REAL,
    PRIMARY KEY (source, stream, key)
);

CREATE TABLE survey_responses (
    source TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    territory TEXT NOT NULL, network TEXT NOT NULL, run_id INTEGER NOT NULL,
    extracted_at TEXT NOT NULL, connector TEXT NOT NULL, connector_version TEXT NOT NULL,
    origin TEXT, row_hash INTEGER NOT NULL,
    household TEXT, respondent_network TEXT, site TEXT, wave TEXT NOT NULL, submitted_at TEXT NOT NULL,
    residence_postcode TEXT, residence_insee TEXT, residence_epci TEXT, residence_in_territory INTEGER,
    instrument TEXT NOT NULL, answers TEXT NOT NULL, raw_score INTEGER,
    PRIMARY KEY (source, stream, key)
);
