-- Runaway runs (issue 9): a run can be cancelled, a source paused after
-- repeated failures, and a reject re-read replaces its entry instead of
-- piling up.

-- `cancelled` joins the statuses, and a cancel asked from another process
-- (`vivres run cancel`, another node's API) is seen by the run's own.
-- SQLite cannot alter a CHECK: the table is rebuilt, ids kept.
CREATE TABLE runs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted', 'cancelled')),
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
    error TEXT,
    cancel_requested_at TIMESTAMP
);
INSERT INTO runs_new (id, source, status, full_refresh, started_at, ended_at, heartbeat_at, owner_pid,
    owner_host, connector, connector_version, batches, read, inserted, updated, unchanged, quarantined,
    removed, http_requests, http_retries, http_denied, http_failures, http_waited_ms, error_kind, error)
SELECT id, source, status, full_refresh, started_at, ended_at, heartbeat_at, owner_pid,
    owner_host, connector, connector_version, batches, read, inserted, updated, unchanged, quarantined,
    removed, http_requests, http_retries, http_denied, http_failures, http_waited_ms, error_kind, error
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE UNIQUE INDEX runs_one_running ON runs(source) WHERE status = 'running';
CREATE INDEX runs_by_source ON runs(source, id);

-- What a reject is about, hashed (its record: key pseudonym, or file, line
-- and content; its reason and field): a record refused again replaces its
-- entry. Earlier entries keep one of their own.
ALTER TABLE quarantine ADD COLUMN identity TEXT NOT NULL DEFAULT '';
UPDATE quarantine SET identity = 'entry-' || id;
CREATE UNIQUE INDEX quarantine_identity ON quarantine(source, stream, identity);

-- Sources paused after repeated failures; a row stays once resumed (its
-- run marks where failures are counted from again).
CREATE TABLE source_pauses (
    source TEXT PRIMARY KEY,
    paused_at TIMESTAMP NOT NULL,
    run_id BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    reason TEXT NOT NULL,
    resumed_at TIMESTAMP,
    resumed_by TEXT
);
