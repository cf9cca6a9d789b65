-- Runaway runs (issue 9): a run can be cancelled, a source paused after
-- repeated failures, and a reject re-read replaces its entry instead of
-- piling up.

-- `cancelled` joins the statuses, and a cancel asked from another process
-- (`vivres run cancel`, another node's API) is seen by the run's own.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted', 'cancelled'));
ALTER TABLE runs ADD COLUMN cancel_requested_at TIMESTAMPTZ;

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
    paused_at TIMESTAMPTZ NOT NULL,
    run_id BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    reason TEXT NOT NULL,
    resumed_at TIMESTAMPTZ,
    resumed_by TEXT
);
