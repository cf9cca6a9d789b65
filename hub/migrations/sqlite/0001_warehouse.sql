-- Vivres warehouse, SQLite. The same tables as migrations/postgres (a test
-- compares both with warehouse/schema.rs); types follow SQLite's affinities:
-- BOOLEAN columns hold 0/1, DATE 'YYYY-MM-DD', TIMESTAMP RFC 3339 text,
-- BLOB keys 16 bytes.
--
-- Facts carry compact provenance: `stream_id` (a small integer naming the
-- source and stream in `streams`), `key` (16 bytes: the keyed hash of the
-- partner's key), `origin_id` (the export file, in `origins`), `run_id`,
-- `territory`, `network` and `row_hash`. The connector and its version are
-- the run's (`runs`).
--
-- Why this layout is fast: fact tables keep their rowid, so rows append in
-- arrival order and only the narrow (stream_id, key) index takes the random
-- keys; at about 26 bytes an entry (against 71 with text source, stream and
-- hex key) a page holds nearly three times more keys, so a commit dirties
-- fewer pages. The sync engine writes each transaction's new rows sorted by
-- key (the index's pages are visited once, in order) and merges queued
-- batches into transactions of tens of thousands of records.
-- `origin_id` is indexed so that removing the rows of a re-sent file costs the
-- size of that file, not of the table.

CREATE TABLE territories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL
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
    population BIGINT
);

CREATE TABLE communes (
    insee TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    departement TEXT,
    parent_insee TEXT,
    epci_siren TEXT,
    postcodes TEXT NOT NULL,
    population BIGINT
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

-- One row per (source, stream): facts name it by this small integer.
CREATE TABLE streams (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (source, name)
);

-- The export files rows came from. A re-sent file gets a new row; the
-- earlier one is `replaced` until the stream's pass ends and the rows the new
-- version no longer holds are removed.
CREATE TABLE origins (
    id INTEGER PRIMARY KEY,
    stream_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    replaced BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX origins_current ON origins(stream_id, name) WHERE NOT replaced;
CREATE INDEX origins_replaced ON origins(stream_id) WHERE replaced;

CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    full_refresh BOOLEAN NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    heartbeat_at TIMESTAMP NOT NULL,
    owner_pid BIGINT,
    owner_host TEXT,
    connector TEXT,
    connector_version TEXT,
    batches BIGINT NOT NULL DEFAULT 0,
    read BIGINT NOT NULL DEFAULT 0,
    inserted BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    quarantined BIGINT NOT NULL DEFAULT 0,
    removed BIGINT NOT NULL DEFAULT 0,
    http_requests BIGINT NOT NULL DEFAULT 0,
    http_retries BIGINT NOT NULL DEFAULT 0,
    http_denied BIGINT NOT NULL DEFAULT 0,
    http_failures BIGINT NOT NULL DEFAULT 0,
    http_waited_ms BIGINT NOT NULL DEFAULT 0,
    error_kind TEXT,
    error TEXT
);
-- At most one run per source at a time.
CREATE UNIQUE INDEX runs_one_running ON runs(source) WHERE status = 'running';
CREATE INDEX runs_by_source ON runs(source, id);

-- Each run's figures per stream, written as the run commits.
CREATE TABLE run_streams (
    run_id BIGINT NOT NULL,
    stream TEXT NOT NULL,
    batches BIGINT NOT NULL,
    read BIGINT NOT NULL,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    removed BIGINT NOT NULL,
    read_ms BIGINT NOT NULL,
    normalise_ms BIGINT NOT NULL,
    commit_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, stream)
);

-- Partner HTTP responses of a run by status (0: no response: connect error, timeout).
CREATE TABLE run_http (
    run_id BIGINT NOT NULL,
    status BIGINT NOT NULL,
    responses BIGINT NOT NULL,
    PRIMARY KEY (run_id, status)
);

CREATE TABLE run_logs (
    run_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE checkpoints (
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    state TEXT,
    run_id BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, stream)
);

CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    run_id BIGINT NOT NULL,
    key BLOB,
    origin TEXT,
    line BIGINT,
    reason TEXT NOT NULL,
    field TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Closed when a later replay run re-read its record.
    replayed_by BIGINT
);
CREATE INDEX quarantine_by_source ON quarantine(source, run_id);

-- Bearer tokens of the admin API. Only the SHA-256 of a token is stored.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'coordinator', 'evaluator')),
    -- Territory ids a coordinator acts on, comma-separated (empty otherwise).
    territories TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
-- A name designates one live token; a revoked name may be given again.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens(name) WHERE revoked_at IS NULL;

CREATE TABLE households (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    person TEXT NOT NULL,
    size BIGINT, adults BIGINT, children BIGINT, composition TEXT,
    residence_postcode TEXT, residence_insee TEXT, residence_epci TEXT, residence_in_territory BOOLEAN,
    income_band TEXT, reste_a_vivre_band TEXT,
    rights_from DATE, rights_to DATE, monthly_cap_cents BIGINT,
    programme TEXT, solidarity BOOLEAN, price_paid_cents BIGINT, reference_price_cents BIGINT,
    prescriber TEXT, enrolment_start DATE, enrolment_end DATE, enrolment_site TEXT
);

CREATE TABLE sites (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    kind TEXT NOT NULL, name TEXT,
    location_postcode TEXT, location_insee TEXT, location_epci TEXT, location_in_territory BOOLEAN,
    site_group TEXT, short_circuit BOOLEAN, siret TEXT
);

CREATE TABLE products (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    label TEXT NOT NULL, category TEXT, dfc_type TEXT NOT NULL, unit TEXT,
    organic BOOLEAN, producer TEXT, ean TEXT
);

CREATE TABLE distributions (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    household TEXT, household_key BLOB, site TEXT, date DATE, week TEXT,
    kind TEXT NOT NULL, label TEXT, status TEXT, amount_cents BIGINT,
    quantity_kg DOUBLE PRECISION, contents TEXT, ordinal BIGINT NOT NULL
);

CREATE TABLE order_lines (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    household TEXT, site TEXT, channel TEXT NOT NULL, date DATE, time TEXT, month TEXT,
    product TEXT NOT NULL, dfc_type TEXT NOT NULL, quantity DOUBLE PRECISION NOT NULL, unit TEXT,
    unit_price_paid_cents BIGINT, unit_reference_price_cents BIGINT,
    price_paid_cents BIGINT, reference_price_cents BIGINT,
    discount_percent DOUBLE PRECISION, food_bank_donation BOOLEAN NOT NULL
);

CREATE TABLE supplies (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    site TEXT, producer TEXT NOT NULL,
    producer_postcode TEXT, producer_insee TEXT, producer_epci TEXT, producer_in_territory BOOLEAN,
    distance_km DOUBLE PRECISION, organic BOOLEAN, product TEXT, month TEXT
);

CREATE TABLE diagnostics (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    farm TEXT NOT NULL, method TEXT NOT NULL, method_version TEXT NOT NULL, survey_year TEXT NOT NULL,
    area_ha DOUBLE PRECISION, workers DOUBLE PRECISION, farm_type TEXT, departement TEXT
);

-- A diagnostic's scores: (stream_id, key) is the diagnostic's.
CREATE TABLE diagnostic_scores (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL,
    level TEXT NOT NULL, code TEXT NOT NULL, value DOUBLE PRECISION, max DOUBLE PRECISION,
    PRIMARY KEY (stream_id, key, level, code)
);

CREATE TABLE participation (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    household TEXT, site TEXT, date DATE, kind TEXT NOT NULL, role TEXT,
    hours DOUBLE PRECISION, attendees BIGINT
);

CREATE TABLE pathways (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    worker TEXT NOT NULL, site TEXT, entry_date DATE NOT NULL, exit_date DATE,
    weekly_hours DOUBLE PRECISION, exit_label TEXT, exit_category TEXT, training_hours DOUBLE PRECISION
);

CREATE TABLE survey_responses (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL, territory TEXT NOT NULL, network TEXT NOT NULL,
    run_id BIGINT NOT NULL, origin_id BIGINT, row_hash BIGINT NOT NULL,
    household TEXT, respondent_network TEXT, site TEXT, wave TEXT NOT NULL, submitted_at TIMESTAMP NOT NULL,
    residence_postcode TEXT, residence_insee TEXT, residence_epci TEXT, residence_in_territory BOOLEAN,
    instrument TEXT NOT NULL, raw_score BIGINT
);

-- A survey response's answers: (stream_id, key) is the response's.
CREATE TABLE survey_answers (
    stream_id BIGINT NOT NULL, key BLOB NOT NULL,
    item TEXT NOT NULL, answer TEXT NOT NULL,
    PRIMARY KEY (stream_id, key, item)
);
CREATE UNIQUE INDEX households_key ON households(stream_id, key);
CREATE INDEX households_origin ON households(origin_id) WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX sites_key ON sites(stream_id, key);
CREATE INDEX sites_origin ON sites(origin_id) WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX products_key ON products(stream_id, key);
CREATE INDEX products_origin ON products(origin_id) WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX distributions_key ON distributions(stream_id, key);
CREATE INDEX distributions_origin ON distributions(origin_id) WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX order_lines_key ON order_lines(stream_id, key);
CREATE INDEX order_lines_origin ON order_lines(origin_id) WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX supplies_key ON supplies(stream_id, key);
CREATE INDEX supplies_origin ON supplies(origin_id) WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX diagnostics_key ON diagnostics(stream_id, key);
CREATE INDEX diagnostics_origin ON diagnostics(origin_id) WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX participation_key ON participation(stream_id, key);
CREATE INDEX participation_origin ON participation(origin_id) WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX pathways_key ON pathways(stream_id, key);
CREATE INDEX pathways_origin ON pathways(origin_id) WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX survey_responses_key ON survey_responses(stream_id, key);
CREATE INDEX survey_responses_origin ON survey_responses(origin_id) WHERE origin_id IS NOT NULL;
